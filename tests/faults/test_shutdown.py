"""Worker SIGTERM: a trial finishes within the grace or is handed back; no trial process survives."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from sweepctl.records import TrialState
from sweepctl.store import Store
from tests.faults.support import FAST, no_orphans, running_trials
from tests.support.processes import Processes, wait_for
from tests.system.helpers import read_run_log, submit, wait_until_done, write_sweep

pytestmark = pytest.mark.system


def one_trial(sleep: float) -> str:
    return f"""
    method: random
    metric: {{name: loss}}
    program: trial_program.py
    parameters:
      x: {{min: 0.0, max: 1.0}}
      sleep: {{value: {sleep}}}
    run_cap: 1
    """


def test_sigterm_hands_a_long_trial_back_after_the_grace(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a worker (1 s shutdown grace) running a 6-second trial
    run_log = tmp_path / "runs.jsonl"
    env = {**FAST, "RUN_LOG": str(run_log)}
    sweep_id = submit(procs, write_sweep(tmp_path, one_trial(6)))
    procs.start("controller", env=env)
    first = procs.start("worker", "--gpus", "none", "--grace", "1", env=env, log=tmp_path / "first.log")
    wait_for(lambda: running_trials(store, sweep_id), 30, "the trial to run")

    # When the worker is asked to shut down
    first.send_signal(signal.SIGTERM)

    # Then it hands the trial back and exits; the next worker runs it as attempt 2
    assert first.wait(20) == 0
    trial = store.get_trial(sweep_id, 1)
    assert trial.state is TrialState.QUEUED and trial.attempt == 2
    assert [a["reason"] for a in trial.lost_attempts] == ["handed_back"] and trial.infrastructure_failures == 0
    groups = [r["pgid"] for r in read_run_log(run_log)]
    assert no_orphans(groups, tmp_path)
    procs.start("worker", "--gpus", "none", env=env)
    wait_until_done(store, sweep_id, timeout=30)
    trial = store.get_trial(sweep_id, 1)
    assert trial.state is TrialState.COMPLETED and trial.attempt == 2


def test_sigterm_lets_a_trial_finish_within_the_grace(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a worker (30 s grace) running a 2-second trial
    run_log = tmp_path / "runs.jsonl"
    env = {**FAST, "RUN_LOG": str(run_log)}
    sweep_id = submit(procs, write_sweep(tmp_path, one_trial(2)))
    procs.start("controller", env=env)
    worker = procs.start("worker", "--gpus", "none", "--grace", "30", env=env)
    wait_for(lambda: running_trials(store, sweep_id), 30, "the trial to run")

    # When it is asked to shut down mid-trial
    worker.send_signal(signal.SIGTERM)

    # Then the trial completes on its first attempt and the worker exits
    assert worker.wait(30) == 0
    trial = store.get_trial(sweep_id, 1)
    assert trial.state is TrialState.COMPLETED and trial.attempt == 1
    assert len(read_run_log(run_log, "end")) == 1
