"""A worker SIGKILLed in the middle of a fold of a k-fold trial: that fold alone runs again, the trial completes once.

The fault is injected for real: SIGSTOP then SIGKILL to the Celery worker process running the fold.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from sweepctl.kfold import mean_and_std
from sweepctl.records import SweepState, Trial, TrialState
from sweepctl.store import Store
from tests.faults.support import FAST, send, worker_pid
from tests.support.processes import Processes, wait_for
from tests.system.helpers import read_run_log, submit, wait_until_done, write_sweep

pytestmark = pytest.mark.system

FOLDS = 5
SWEEP = """
method: random
metric: {name: loss}
parameters:
  x: {min: 0.0, max: 2.0}
  sleep: {value: 4}
program: fold_program.py
command: ["${env}", "${interpreter}", "${program}", "--fold", "${fold}", "${args}"]
cross_validation: {folds: 5}
run_cap: 1
seed: 21
"""


def running_folds(store: Store, sweep_id: str) -> list[Trial]:
    return [f for f in store.get_folds(sweep_id, [store.get_trial(sweep_id, 1)])[1] if f.state is TrialState.RUNNING and f.worker]


def kill_mid_fold(store: Store, sweep_id: str, fold: Trial) -> bool:
    """SIGKILL the worker process running `fold` if, once frozen, it still runs that attempt (else thaw it)."""
    pid = worker_pid(fold.worker or "")
    if not send(pid, signal.SIGSTOP):
        return False
    hit = False
    try:
        time.sleep(0.05)
        now = store.get_trial(sweep_id, 1, fold=fold.fold)
        hit = now.state is TrialState.RUNNING and now.worker == fold.worker and now.attempt == fold.attempt
    finally:  # never leave a worker frozen
        send(pid, signal.SIGKILL if hit else signal.SIGCONT)
    return hit


def test_a_worker_killed_mid_fold_re_runs_only_that_fold(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a 5-fold trial on three worker processes (2 s leases), its first three folds running, 4 s each
    run_log = tmp_path / "runs.jsonl"
    env = {**FAST, "RUN_LOG": str(run_log)}
    procs.start("worker", "--gpus", "none", "--concurrency", "3", env=env, log=tmp_path / "workers.log")
    sweep_id = submit(procs, write_sweep(tmp_path, SWEEP))
    wait_for(lambda: len(store.workers()) == 3, 60, "three workers to heartbeat")
    procs.start("controller", env=env)
    wait_for(lambda: len(read_run_log(run_log)) >= 3, 60, "three folds' programs to start")

    # When the worker process running one of them is SIGKILLed mid-fold
    started = {r["fold"] for r in read_run_log(run_log)}
    victim = next(f for f in running_folds(store, sweep_id) if f.fold in started)
    assert kill_mid_fold(store, sweep_id, victim), "the fold ended before the kill: the test proves nothing"
    wait_until_done(store, sweep_id, timeout=90)

    # Then the trial completed once, its objective the mean of its 5 folds
    trial = store.get_trial(sweep_id, 1)
    folds = store.get_folds(sweep_id, [trial])[1]
    assert store.get_sweep(sweep_id).state is SweepState.FINISHED and store.finished_numbers(sweep_id) == [1]
    assert trial.state is TrialState.COMPLETED and trial.attempt == 1, (trial.state, trial.error)
    assert [f.state for f in folds] == [TrialState.COMPLETED] * FOLDS
    assert (trial.objective, trial.objective_std) == mean_and_std([f.objective for f in folds if f.objective is not None])
    # And only the killed fold ran again: a second attempt, its first taken from the killed worker; the others once
    attempts = {f.fold: f.attempt for f in folds}
    assert attempts == {f: 2 if f == victim.fold else 1 for f in range(FOLDS)}
    assert [(a.attempt, a.worker, a.reason) for a in folds[victim.fold or 0].lost] == [(1, victim.worker, "lease_expired")]
    assert all(not f.lost_attempts for f in folds if f.fold != victim.fold)
    starts = Counter((r["fold"], r["attempt"]) for r in read_run_log(run_log))
    ends = Counter(r["fold"] for r in read_run_log(run_log, "end"))
    assert starts == Counter({(f, 1): 1 for f in range(FOLDS)} | {(victim.fold, 2): 1})
    assert ends == Counter(range(FOLDS))  # the killed attempt's program died with its worker: it never ended
