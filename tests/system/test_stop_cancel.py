"""Stopping a sweep stops new trials; cancelling also kills running trials, process groups and all."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sweepctl.records import SweepState, TrialState
from sweepctl.store import Store
from tests.support.processes import Processes, pids_in_group, wait_for
from tests.system.helpers import read_run_log, submit, wait_until_done, write_sweep

pytestmark = pytest.mark.system


def _running(store: Store, sweep_id: str, n: int) -> bool:
    return store.counts(sweep_id)[TrialState.RUNNING] >= n


def test_stop_lets_running_trials_finish_and_creates_no_more(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a long sweep with two 2-second trials running
    sweep_file = write_sweep(
        tmp_path,
        """
        method: random
        metric: {name: loss}
        program: trial_program.py
        parameters:
          x: {min: 0.0, max: 1.0}
          sleep: {value: 2}
        run_cap: 100
        parallelism: 2
        """,
    )
    sweep_id = submit(procs, sweep_file)
    procs.start("controller")
    procs.start("worker", "--gpus", "none", "--concurrency", "2")
    wait_for(lambda: _running(store, sweep_id, 2), 30, "two running trials")

    # When the sweep is stopped
    done = procs.run("stop", sweep_id, check=True)
    assert "stopping" in done.stderr
    created_at_stop = store.trial_count(sweep_id)

    # Then the running trials complete, nothing new is created, and the sweep ends STOPPED
    wait_until_done(store, sweep_id, timeout=30)
    assert store.get_sweep(sweep_id).state is SweepState.STOPPED
    assert store.trial_count(sweep_id) == created_at_stop
    trials = store.get_trials(sweep_id)
    assert all(t.state is TrialState.COMPLETED for t in trials)
    time.sleep(1.5)  # a controller that kept creating would show it by now
    assert store.trial_count(sweep_id) == created_at_stop


def test_cancel_kills_running_trials_and_their_children(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given trials that spawn a grandchild and then hang
    sweep_file = write_sweep(
        tmp_path,
        """
        method: random
        metric: {name: loss}
        program: trial_program.py
        parameters:
          x: {min: 0.0, max: 1.0}
          mode: {value: spawn}
        run_cap: 10
        parallelism: 3
        """,
    )
    run_log = tmp_path / "runs.jsonl"
    sweep_id = submit(procs, sweep_file)
    procs.start("controller")
    procs.start("worker", "--gpus", "none", "--concurrency", "2", env={"RUN_LOG": str(run_log)})
    wait_for(lambda: _running(store, sweep_id, 2) and len(read_run_log(run_log)) >= 2, 30, "two running trials")
    groups = [r["pgid"] for r in read_run_log(run_log)]
    assert all(r["pgid"] == r["pid"] for r in read_run_log(run_log))  # each program leads its own group
    wait_for(lambda: all(len(pids_in_group(g)) >= 2 for g in groups), 10, "program and grandchild in each group")

    # When the sweep is cancelled
    started = time.monotonic()
    procs.run("cancel", sweep_id, check=True)

    # Then every trial process group is gone within the kill grace, and trials are CANCELLED
    wait_for(lambda: all(not pids_in_group(g) for g in groups), 10, "trial process groups to die")
    wait_until_done(store, sweep_id, timeout=15)
    assert time.monotonic() - started < 10
    trials = store.get_trials(sweep_id)
    assert store.get_sweep(sweep_id).state is SweepState.CANCELLED
    assert {t.state for t in trials} == {TrialState.CANCELLED}
    assert len(trials) == 3  # the queued third one was dropped, nothing new created
    assert len(read_run_log(run_log)) == 2
