"""Trials that raise, exit non-zero, report NaN or hang are recorded as such, and the sweep goes on."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweepctl.records import SweepState, TrialState
from sweepctl.spec import Goal
from sweepctl.store import Store
from tests.support.processes import Processes, pids_in_group
from tests.system.helpers import read_run_log, submit, wait_until_done, write_sweep

pytestmark = pytest.mark.system


def test_program_trials_fail_in_every_way_and_the_sweep_completes(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a grid where each trial misbehaves differently, with a 3 s trial_timeout
    sweep_file = write_sweep(
        tmp_path,
        """
        method: grid
        metric: {name: loss}
        program: trial_program.py
        parameters:
          mode: {values: [ok, exit, raise, nan, hang]}
          x: {values: [0.5, 2.0]}
        trial_timeout: 3
        parallelism: 2
        """,
    )
    run_log = tmp_path / "runs.jsonl"
    sweep_id = submit(procs, sweep_file)
    procs.start("controller")
    procs.start("worker", "--gpus", "none", "--concurrency", "2", env={"RUN_LOG": str(run_log)})

    # When the sweep runs
    wait_until_done(store, sweep_id, timeout=90)

    # Then each trial has the state and error its behaviour deserves, and the sweep finished
    sweep = store.get_sweep(sweep_id)
    assert sweep.state is SweepState.FINISHED, sweep.reason
    trials = store.get_trials(sweep_id)
    assert len(trials) == 10
    by_mode = {t.params["mode"]: t for t in trials if t.params["x"] == 0.5}
    assert by_mode["ok"].state is TrialState.COMPLETED
    exit_ = by_mode["exit"]
    assert exit_.state is TrialState.FAILED and exit_.exit_code == 3
    assert exit_.error == "exited with status 3: bad things happened"
    raise_ = by_mode["raise"]
    assert raise_.state is TrialState.FAILED and raise_.exit_code == 1
    assert "RuntimeError: boom" in raise_.error and "Traceback" in raise_.stderr_tail
    nan = by_mode["nan"]
    assert nan.state is TrialState.NAN and nan.objective is None and nan.error == "metric 'loss' is nan"
    hang = by_mode["hang"]
    assert hang.state is TrialState.TIMED_OUT and "trial_timeout (3s)" in hang.error
    assert 3 <= hang.duration < 3 + 5 + 2  # timeout, then at most the SIGTERM grace
    # the hung program is really gone
    hang_group = next(r["pgid"] for r in read_run_log(run_log) if r["number"] == hang.number)
    assert not pids_in_group(hang_group)
    # failures are counted apart from completions; only completions have objectives
    counts = store.counts(sweep_id)
    assert (counts[TrialState.COMPLETED], counts[TrialState.FAILED], counts[TrialState.NAN], counts[TrialState.TIMED_OUT]) == (2, 4, 2, 2)
    assert store.best_trial(sweep_id, Goal.MINIMIZE).params["mode"] == "ok"


@pytest.mark.parametrize("reuse", [False, True], ids=["fork-per-trial", "reuse_process"])
def test_function_trials_that_raise_return_nan_or_hang(tmp_path: Path, procs: Processes, store: Store, reuse: bool) -> None:
    # Given a Python-function objective with the same misbehaviours (its trials in a fork each, or in reused processes)
    sweep_file = write_sweep(
        tmp_path,
        f"""
        method: grid
        metric: {{name: loss}}
        function: objectives:by_mode
        reuse_process: {str(reuse).lower()}
        parameters:
          mode: {{values: [ok, raise, nan, hang, ok2]}}
        trial_timeout: 2
        parallelism: 2
        """,
    )
    sweep_id = submit(procs, sweep_file)
    procs.start("controller")
    procs.start("worker", "--gpus", "none", "--concurrency", "2")

    # When it runs
    wait_until_done(store, sweep_id, timeout=90)

    # Then
    states = {t.params["mode"]: t for t in store.get_trials(sweep_id)}
    assert states["ok"].state is TrialState.COMPLETED and states["ok"].objective == 1.0
    assert states["raise"].state is TrialState.FAILED and "ValueError: bad parameter combination" in states["raise"].error
    assert states["nan"].state is TrialState.NAN
    assert states["hang"].state is TrialState.TIMED_OUT
    assert states["ok2"].state is TrialState.COMPLETED and states["ok2"].objective == 1.0
    assert store.get_sweep(sweep_id).state is SweepState.FINISHED


def test_max_failures_fails_the_sweep_and_stops_creating_trials(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a sweep whose every trial fails, tolerating 2 failures
    sweep_file = write_sweep(
        tmp_path,
        """
        method: random
        metric: {name: loss}
        program: trial_program.py
        parameters:
          mode: {value: exit}
          x: {min: 0.0, max: 1.0}
        run_cap: 50
        max_failures: 2
        parallelism: 1
        """,
    )
    sweep_id = submit(procs, sweep_file)
    procs.start("controller")
    procs.start("worker", "--gpus", "none")
    # When it runs
    wait_until_done(store, sweep_id, timeout=60)
    # Then it failed after the third failure, not after 50 trials
    sweep = store.get_sweep(sweep_id)
    assert sweep.state is SweepState.FAILED and "3 trials failed (max_failures=2)" == sweep.reason
    assert store.trial_count(sweep_id) == 3
