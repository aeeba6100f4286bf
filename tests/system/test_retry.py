"""`sweepctl retry SWEEP` (real Redis, controller and workers): a finished sweep's failed and lost trials run again,
exactly those and once each, sent by the controller started after the one that ran the sweep died; counts and best are
right afterwards; retrying nothing says so; and the embedded store works the same."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from pathlib import Path

import pytest

from sweepctl.records import SweepState, TrialState
from sweepctl.store import Store
from tests.support.processes import Processes, child_env, kill_group, wait_for
from tests.system.helpers import read_run_log, submit, wait_until_done, write_sweep

pytestmark = pytest.mark.system

# flaky_program.py: cases 1 and 3 complete (loss 0.5, 0.3); 2 and 5 fail (exit 4) and 4 hangs until the folder has
# fixed.flag, then complete (loss 0.1, 0.4, 0.2). max_retries 0: the hanging trial's killed worker makes it LOST.
SWEEP = """
method: grid
metric: {name: loss, goal: minimize}
program: flaky_program.py
parameters:
  case: {values: [1, 2, 3, 4, 5]}
max_retries: 0
parallelism: 2
"""
# Short leases: a killed worker's trial is taken back in seconds, a killed controller's sweep freed as fast.
FAST = {"SWEEPCTL_LEASE_SECONDS": "2", "SWEEPCTL_KILL_GRACE": "1", "SWEEPCTL_OWNER_LEASE_SECONDS": "2"}


def by_case(store: Store, sweep_id: str) -> dict[int, int]:
    """Trial number of each case."""
    return {t.params["case"]: t.number for t in store.get_trials(sweep_id)}


def kill_worker_of(store: Store, sweep_id: str, number: int, run_log: Path) -> None:
    """SIGKILL the worker process running trial `number` once its program started (its supervisor starts another)."""
    wait_for(lambda: any(r["number"] == number for r in read_run_log(run_log)), 60, f"trial {number}'s program to start")
    worker = store.get_trial(sweep_id, number).worker
    assert worker is not None
    os.kill(int(worker.rsplit("/", 1)[1]), signal.SIGKILL)


def test_retry_reruns_exactly_the_failed_and_lost_trials_once_each_and_counts_and_best_are_right(
    tmp_path: Path, procs: Processes, store: Store
) -> None:
    # Given a grid of 5 trials that ran to its end: 2 completed, 2 failed, and 1 lost (its worker SIGKILLed under it)
    sweep_id = submit(procs, write_sweep(tmp_path, SWEEP))
    run_log = tmp_path / "runs.jsonl"
    controller = procs.start("controller", env=FAST)
    procs.start("worker", "--gpus", "none", "--concurrency", "2", env={**FAST, "RUN_LOG": str(run_log)})
    wait_for(lambda: len(by_case(store, sweep_id)) >= 4, 60, "the hanging trial to be created")
    cases = by_case(store, sweep_id)
    kill_worker_of(store, sweep_id, cases[4], run_log)
    wait_until_done(store, sweep_id, timeout=90)
    cases = by_case(store, sweep_id)
    states = {case: store.get_trial(sweep_id, n).state for case, n in cases.items()}
    assert states == {1: TrialState.COMPLETED, 2: TrialState.FAILED, 3: TrialState.COMPLETED, 4: TrialState.LOST, 5: TrialState.FAILED}
    assert store.get_sweep(sweep_id).state is SweepState.FINISHED
    assert store.best_trial(sweep_id, store.get_spec(sweep_id).goal).number == cases[3]
    # And its controller then dies outright
    kill_group(controller.pid, signal.SIGKILL)
    controller.wait(10)

    # When the cause is fixed and its failures are retried, with no controller running
    (tmp_path / "fixed.flag").touch()
    done = procs.run("retry", sweep_id, "--format", "json", check=True)

    # Then it prints the trials queued again: the failed and the lost ones, each as its attempt 2
    shown = json.loads(done.stdout)
    retried = {cases[2]: "failed", cases[4]: "lost", cases[5]: "failed"}
    assert [(r["number"], r["previous_state"], r["attempt"]) for r in shown] == [(n, retried[n], 2) for n in sorted(retried)]
    assert "running again (running) for 3 retried trial(s)" in done.stderr
    # And the next controller sends them, and the sweep finishes again once they ran
    procs.start("controller", env=FAST)
    wait_until_done(store, sweep_id, timeout=90)
    assert store.get_sweep(sweep_id).state is SweepState.FINISHED

    # Then exactly those 3 ran again, once each, as attempt 2; the 2 completed ones did not run again
    starts = Counter((r["number"], r["attempt"]) for r in read_run_log(run_log))
    assert starts == Counter({(n, 1): 1 for n in cases.values()} | {(n, 2): 1 for n in retried})
    # And each trial counts once, in its new state, and the best is the retried trial with loss 0.1
    status = json.loads(procs.run("status", sweep_id, "--format", "json", check=True).stdout)
    assert status["trials"] == {"completed": 5} and status["best"]["number"] == cases[2] and status["best"]["objective"] == 0.1
    best = json.loads(procs.run("best", sweep_id, "--format", "json", check=True).stdout)
    assert (best["number"], best["objective"], best["params"]) == (cases[2], 0.1, {"case": 2})
    # And each retried trial's earlier attempt stays in its history, with its own metric points
    trials = {t["number"]: t for t in json.loads(procs.run("trials", sweep_id, "--history", "--format", "json", check=True).stdout)}
    failed = trials[cases[2]]
    [earlier] = failed["retried_attempts"]
    assert (failed["attempt"], earlier["attempt"], earlier["state"], earlier["exit_code"]) == (2, 1, "failed", 4)
    assert [p["values"]["loss"] for p in earlier["history"]] == [9.0] and [p["values"]["loss"] for p in failed["history"]] == [9.0, 0.1]
    assert trials[cases[4]]["retried_attempts"][0]["state"] == "lost" and trials[cases[4]]["lost_attempts"] == []
    assert trials[cases[1]]["retried_attempts"] == [] and trials[cases[1]]["attempt"] == 1

    # When it is retried again / Then nothing is, and it says so (an empty list for programs), the sweep left as it is
    again = procs.run("retry", sweep_id, "--format", "json", check=True)
    assert json.loads(again.stdout) == [] and "no trial is failed or timed_out or nan or killed or lost: nothing to retry" in again.stderr
    assert store.sweep_state(sweep_id) is SweepState.FINISHED and sweep_id not in store.live_sweep_ids()
    # And completed trials are refused, naming the state and what re-runs one instead
    refused = procs.run("retry", sweep_id, "--state", "failed,completed")
    assert refused.returncode == 2 and "--state completed: not retried" in refused.stderr and "sweepctl reproduce" in refused.stderr


def test_retry_on_the_embedded_store_then_the_agent_runs_the_retried_trial(tmp_path: Path) -> None:
    # Given a folder's embedded store where an agent ran a sweep of 2 trials to its end, one of them failed
    local = Processes(child_env(), cwd=tmp_path)
    try:
        state = ["--state-dir", str(tmp_path / "state")]
        created = local.run("sweep", str(write_sweep(tmp_path, SWEEP.replace("[1, 2, 3, 4, 5]", "[1, 2]"))), *state, timeout=60)
        assert created.returncode == 0, created.stderr
        sweep_id = created.stdout.strip()
        assert local.run("agent", sweep_id, *state, timeout=120).returncode == 0
        # When the cause is fixed, its failure retried, and an agent started again
        (tmp_path / "fixed.flag").touch()
        done = local.run("retry", sweep_id, "--format", "yaml", *state, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "previous_state: failed" in done.stdout and "attempt: 2" in done.stdout
        assert local.run("agent", sweep_id, *state, timeout=120).returncode == 0
        # Then both trials completed, the retried one as its attempt 2, and the sweep finished again
        shown = json.loads(local.run("trials", sweep_id, "--format", "json", *state, timeout=60).stdout)
        assert sorted((t["params"]["case"], t["state"], t["attempt"]) for t in shown) == [(1, "completed", 1), (2, "completed", 2)]
        status = json.loads(local.run("status", sweep_id, "--format", "json", *state, timeout=60).stdout)
        assert (status["state"], status["trials"], status["best"]["objective"]) == ("finished", {"completed": 2}, 0.1)
    finally:
        local.close()
