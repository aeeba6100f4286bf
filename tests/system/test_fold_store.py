"""K-fold trials in the store, against a real redis-server: per-fold claims, leases and fences, and the trial's atomic end.

The Lua derivation of a trial's end (sweepctl/store/lua/folds.lua) is held equal here to the Python rule
(`sweepctl.kfold.conclude`), on the same fold results.
"""

from __future__ import annotations

import time

import pytest

from controller.recovery import queued
from sweepctl import lifecycle
from sweepctl.errors import SweepStateError
from sweepctl.kfold import FoldEnd, conclude, mean_metrics
from sweepctl.records import LossReason, StopRequest, Sweep, SweepState, Trial, TrialState
from sweepctl.store import Outcome, Requeue, Store, keys

pytestmark = pytest.mark.system

SID = "fold0001"
FOLDS = 4
C = TrialState.COMPLETED


def k_fold_trial(store: Store, number: int = 1, folds: int = FOLDS) -> None:
    if not store.redis.exists(keys.sweep_key(SID)):
        raw = {"metric": {"name": "loss"}, "parameters": {"x": {"min": 0, "max": 1}}, "program": "t.py"}
        raw["cross_validation"] = {"folds": folds}
        store.create_sweep(Sweep(id=SID, raw_spec=raw, state=SweepState.RUNNING, seed=7, created_at=time.time()))
    trial = Trial(sweep_id=SID, number=number, state=TrialState.QUEUED, params={"x": number / 10}, seed=99, folds=folds)
    assert store.create_trial(trial) is Outcome.OK


def claim(store: Store, fold: int, attempt: int = 1, number: int = 1, lease: float = 60.0) -> Outcome:
    return store.claim_trial(SID, number, attempt, fold=fold, lease_seconds=lease, worker=f"host/cpu{fold}/1", host="host")


def finish(store: Store, fold: int, state: TrialState, objective: float | None = None, attempt: int = 1, **fields: object) -> Outcome:
    return store.finish_trial(SID, 1, attempt, state, objective, fold=fold, ended_at=time.time(), **fields)


def folds_of(store: Store, number: int = 1) -> list[Trial]:
    return store.get_folds(SID, [store.get_trial(SID, number)])[number]


def test_a_k_fold_trial_is_created_with_its_folds_and_runs_once_a_fold_is_claimed(store: Store) -> None:
    # Given a new 4-fold trial
    k_fold_trial(store)
    # Then it has four fold records of its own parameters and seed, each QUEUED as attempt 1
    folds = folds_of(store)
    assert [(f.fold, f.state, f.attempt, f.params, f.seed, f.folds) for f in folds] == [
        (i, TrialState.QUEUED, 1, {"x": 0.1}, 99, FOLDS) for i in range(FOLDS)
    ]
    assert store.counts(SID)[TrialState.QUEUED] == 1
    # When two folds are claimed by two workers / Then the trial runs (counted once), each fold holds its own lease
    assert claim(store, 0) is Outcome.OK and claim(store, 2) is Outcome.OK
    assert store.get_trial(SID, 1).state is TrialState.RUNNING
    assert (store.counts(SID)[TrialState.QUEUED], store.counts(SID)[TrialState.RUNNING]) == (0, 1)
    assert [(f.state, f.worker) for f in folds_of(store)] == [
        (TrialState.RUNNING, "host/cpu0/1"), (TrialState.QUEUED, None), (TrialState.RUNNING, "host/cpu2/1"), (TrialState.QUEUED, None)
    ]
    assert sorted(store.redis.zrange(keys.LEASES, 0, -1)) == [f"{SID}:1.0", f"{SID}:1.2"]
    # And a fold is claimed once: a second delivery of its attempt, or a stale attempt, is refused
    assert claim(store, 0) is Outcome.NOT_QUEUED and claim(store, 1, attempt=2) is Outcome.STALE


def test_fences_are_per_fold(store: Store) -> None:
    # Given folds 0 and 1 running
    k_fold_trial(store)
    claim(store, 0), claim(store, 1)
    # Then renewing, reporting and finishing are fenced by each fold's own attempt and worker
    assert store.renew_lease(SID, 1, 1, "host/cpu0/1", 60, fold=0) is Outcome.OK
    assert store.renew_lease(SID, 1, 1, "host/cpu1/1", 60, fold=0) is Outcome.NOT_RUNNING  # fold 0 is not that worker's
    assert store.renew_lease(SID, 1, 2, "host/cpu0/1", 60, fold=0) is Outcome.STALE
    assert finish(store, 1, C, 0.5, attempt=2) is Outcome.STALE
    assert finish(store, 2, C, 0.5) is Outcome.OK  # a queued fold may end (a cancel), a second end may not
    assert finish(store, 2, C, 0.5) is Outcome.ALREADY_FINISHED
    assert store.get_trial(SID, 1, fold=1).state is TrialState.RUNNING and store.get_trial(SID, 1).state is TrialState.RUNNING


CASES = {
    "all completed": [(C, 0.1), (C, 0.2), (C, 0.7), (C, 1 / 3)],
    "no metric": [(C, None)] * FOLDS,
    "one failed, others then stopped": [(C, 0.1), (TrialState.FAILED, None), (TrialState.STOPPED, None), (TrialState.STOPPED, None)],
    "nan": [(TrialState.NAN, None), (TrialState.STOPPED, None), (TrialState.STOPPED, None), (TrialState.STOPPED, None)],
    "overflowing mean": [(C, 1e308), (C, 1e308), (C, 1e308), (C, 1e308)],
}


@pytest.mark.parametrize("case", CASES)
def test_the_store_concludes_a_trial_as_the_python_rule_does(store: Store, case: str) -> None:
    # Given a 4-fold trial whose folds end one after another as the case says
    k_fold_trial(store)
    ends = CASES[case]
    metrics = [{"loss": 0.5 + i, "acc": 0.25 * i} for i in range(FOLDS)]
    for f, (state, objective) in enumerate(ends):
        if state is not TrialState.STOPPED or store.get_trial(SID, 1, fold=f).state is TrialState.QUEUED:
            claim(store, f)
            finish(store, f, state, objective, error=f"{state.value} {f}", last_metrics=metrics[f])
    # When the last fold ended / Then the trial's record is what sweepctl.kfold.conclude says, to the last bit
    folds = folds_of(store)
    first_failure = next((f.fold for f in folds if f.state in (TrialState.FAILED, TrialState.NAN)), None)
    expected = conclude([FoldEnd(f.state, f.objective, f.error) for f in folds], failed_fold=first_failure, stop_reason=None)
    trial = store.get_trial(SID, 1)
    assert expected is not None
    assert (trial.state, trial.objective, trial.objective_std, trial.fold_objectives, trial.error) == (
        expected.state, expected.objective, expected.objective_std, expected.fold_objectives, expected.error
    )
    assert trial.last_metrics == mean_metrics([f.last_metrics for f in folds])
    # And it was counted and listed as finished once, its objective ranked only when it completed with one
    assert store.finished_numbers(SID) == [1] and store.active_numbers(SID) == []
    assert store.counts(SID)[expected.state] == 1 and store.counts(SID)[TrialState.RUNNING] == 0
    assert store.completed_objectives(SID) == ([] if expected.objective is None else [expected.objective])


def test_a_failing_fold_stops_the_others_and_fails_the_trial(store: Store) -> None:
    # Given folds 0 and 1 running, 2 and 3 queued
    k_fold_trial(store)
    claim(store, 0), claim(store, 1)
    # When fold 1 fails
    assert finish(store, 1, TrialState.FAILED, error="exited with status 3") is Outcome.OK
    # Then the queued folds end unrun, and fold 0's worker is asked to stop (it reads the trial's request)
    folds = folds_of(store)
    assert [f.state for f in folds] == [TrialState.RUNNING, TrialState.FAILED, TrialState.STOPPED, TrialState.STOPPED]
    assert folds[2].error == "not run: fold 1 of the trial ended failed"
    _, request = store.trial_control(SID, 1)
    assert request is not None and request.reason == "fold 1 of the trial ended failed" and request.value is None
    assert claim(store, 2) is Outcome.NOT_QUEUED  # its message, taken later, runs nothing
    assert store.get_trial(SID, 1).state is TrialState.RUNNING  # until its last fold ended
    # When fold 0 stops / Then the trial fails for its parameters, naming the fold, and counts as one failure
    assert finish(store, 0, TrialState.STOPPED, error="stopped early: fold 1 of the trial ended failed") is Outcome.OK
    trial = store.get_trial(SID, 1)
    assert (trial.state, trial.error) == (TrialState.FAILED, "fold 1: exited with status 3")
    assert store.counts(SID)[TrialState.FAILED] == 1 and store.finished_numbers(SID) == [1]
    # And retry refuses it, saying why and what to do instead, and queues nothing
    with pytest.raises(SweepStateError, match=r"k-fold trials \(cross_validation\): retry cannot run them again yet.*sweepctl clone"):
        lifecycle.retry_trials(store, SID, (TrialState.FAILED,))
    assert store.get_trial(SID, 1).state is TrialState.FAILED and store.retried_numbers(SID) == set()


def test_a_lost_fold_is_requeued_alone_and_lost_too_often_ends_the_trial(store: Store) -> None:
    # Given two running folds, fold 1's lease already expired
    k_fold_trial(store)
    claim(store, 0), claim(store, 1, lease=0.01)
    time.sleep(0.05)
    assert store.expired_leases() == [(SID, 1, 1)]
    # When the reaper takes fold 1 back / Then it alone is queued again as attempt 2; the trial and fold 0 run on
    assert store.requeue_trial(SID, 1, max_lost=1, reason=LossReason.LEASE_EXPIRED.value, fold=1) is Requeue.REQUEUED
    folds = folds_of(store)
    assert [(f.state, f.attempt) for f in folds[:2]] == [(TrialState.RUNNING, 1), (TrialState.QUEUED, 2)]
    assert folds[1].lost[0].worker == "host/cpu1/1" and folds[1].infrastructure_failures == 1
    assert store.get_trial(SID, 1).state is TrialState.RUNNING and store.counts(SID)[TrialState.RUNNING] == 1
    assert store.requeue_trial(SID, 1, max_lost=1, reason="lease_expired", fold=0) is Requeue.NOT_EXPIRED
    # When attempt 2 is lost too, past max_retries=1 / Then the fold is LOST, which ends the trial (a machine's fault)
    claim(store, 1, attempt=2, lease=0.01)
    time.sleep(0.05)
    assert store.requeue_trial(SID, 1, max_lost=1, reason="lease_expired", fold=1) is Requeue.LOST
    assert [f.state for f in folds_of(store)] == [TrialState.RUNNING, TrialState.LOST, TrialState.STOPPED, TrialState.STOPPED]
    finish(store, 0, TrialState.STOPPED)
    trial = store.get_trial(SID, 1)
    assert trial.state is TrialState.LOST and trial.error == "fold 1: worker lost on 2 attempts (max_retries=1)"


def test_early_termination_stops_a_trial_and_a_fold_taken_back_meanwhile_is_not_run_again(store: Store) -> None:
    # Given fold 0 completed, folds 1 and 2 running, fold 3 queued
    k_fold_trial(store)
    for f in (0, 1, 2):
        claim(store, f)
    finish(store, 0, C, 0.9)
    assert store.get_trial(SID, 1).fold_objectives == (0.9, None, None, None)  # what the controller judges
    # When the controller stops it early
    request = StopRequest(band=1, value=0.9, threshold=0.3, reason="median rule on fold means: worse", at=time.time())
    assert store.stop_folds(SID, 1, request) is Outcome.OK
    assert store.stop_folds(SID, 1, request) is Outcome.NOT_RUNNING  # once
    # Then fold 3 ends unrun, and fold 2 handed back by its worker meanwhile ends too, rather than running again
    assert store.get_trial(SID, 1, fold=3).state is TrialState.STOPPED
    assert store.requeue_trial(SID, 1, max_lost=3, reason="handed_back", attempt=1, fold=2) is Requeue.STOPPED
    # And once fold 1 stopped, the trial is STOPPED with the completed fold's value kept
    finish(store, 1, TrialState.STOPPED, error="stopped early: median rule on fold means: worse")
    trial = store.get_trial(SID, 1)
    assert (trial.state, trial.error, trial.fold_objectives) == (
        TrialState.STOPPED, "stopped early: median rule on fold means: worse", (0.9, None, None, None)
    )


def test_cancelling_ends_queued_folds_and_the_trial_with_its_last_running_one(store: Store) -> None:
    # Given trial 1 with one fold running, trial 2 not started
    k_fold_trial(store, 1)
    k_fold_trial(store, 2)
    claim(store, 0)
    # When the sweep is cancelled / Then every queued fold ends CANCELLED, trial 2 with them
    assert lifecycle.cancel_sweep(store, SID)
    assert store.get_trial(SID, 2).state is TrialState.CANCELLED and store.active_numbers(SID) == [1]
    # And trial 1 once its running fold's worker ended it
    finish(store, 0, TrialState.CANCELLED, error="the sweep was cancelled")
    assert store.get_trial(SID, 1).state is TrialState.CANCELLED and store.active_numbers(SID) == []
    assert store.counts(SID)[TrialState.CANCELLED] == 2


def test_a_fold_delivered_while_paused_is_held_and_only_the_trials_queued_folds_are_sent_again(store: Store) -> None:
    # Given a running 4-fold trial (fold 0 running) whose sweep is paused
    k_fold_trial(store)
    claim(store, 0)
    assert lifecycle.pause_sweep(store, SID)
    # When a worker takes fold 1's message / Then it stays queued and its trial is held for the resume
    assert claim(store, 1) is Outcome.PAUSED
    assert store.get_trial(SID, 1, fold=1).state is TrialState.QUEUED and store.held_numbers(SID) == {1}
    # And on resume the controller sends again its queued folds, each as its own message, not the running one
    assert lifecycle.resume_sweep(store, SID)
    held = store.get_trials(SID, store.take_held(SID))
    assert [(t.number, t.fold, t.attempt) for t in queued(store, held)] == [(1, 1, 1), (1, 2, 1), (1, 3, 1)]
    assert claim(store, 1) is Outcome.OK
