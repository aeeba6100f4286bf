"""Pausing and resuming in the store (a real redis-server): which states allow it, what a paused sweep's
queued trials do when a worker asks for them, and what the controller sends again once it resumes."""

from __future__ import annotations

import time

import pytest

from controller.context import build_context
from controller.recovery import held_back, lost_messages
from sweepctl import lifecycle
from sweepctl.errors import SweepStateError
from sweepctl.records import Sweep, SweepState, Trial, TrialState
from sweepctl.spec import Goal
from sweepctl.store import Outcome, Store, keys

pytestmark = pytest.mark.system

SID = "paused01"
RAW = {"metric": {"name": "loss"}, "parameters": {"x": {"min": 0, "max": 1}}, "program": "train.py"}


def a_sweep(store: Store, state: SweepState = SweepState.RUNNING) -> None:
    store.create_sweep(Sweep(id=SID, raw_spec=RAW, state=state, seed=7, created_at=time.time(), source="sweep.yaml", workdir="/work"))


def queued(store: Store, *numbers: int) -> None:
    for n in numbers:
        trial = Trial(sweep_id=SID, number=n, state=TrialState.QUEUED, params={"x": n / 10}, seed=n, created_at=time.time())
        assert store.create_trial(trial) is Outcome.OK


def claim(store: Store, number: int, attempt: int = 1) -> Outcome:
    return store.claim_trial(SID, number, attempt, worker="w1")


# --- which states allow it -------------------------------------------------------------------------


def test_pause_and_resume_move_a_running_sweep_and_back_with_reasons(store: Store) -> None:
    # Given a running sweep
    a_sweep(store)
    # When paused / Then it is PAUSED, says why, and pausing again changes nothing
    assert lifecycle.pause_sweep(store, SID) is True
    sweep = store.get_sweep(SID)
    assert sweep.state is SweepState.PAUSED and sweep.reason == "paused by request" and sweep.ended_at is None
    assert lifecycle.pause_sweep(store, SID) is False
    # And it is still live: a controller keeps looking after it
    assert store.live_sweep_ids() == [SID]
    # When resumed / Then it runs again, and resuming again changes nothing
    assert lifecycle.resume_sweep(store, SID) is True
    assert store.get_sweep(SID).state is SweepState.RUNNING and store.get_sweep(SID).reason == "resumed by request"
    assert lifecycle.resume_sweep(store, SID) is False


@pytest.mark.parametrize("state", [s for s in SweepState if s not in (SweepState.RUNNING, SweepState.PAUSED)])
def test_only_a_running_sweep_can_be_paused_and_only_a_paused_one_resumed(store: Store, state: SweepState) -> None:
    # Given a sweep that is stopping or over
    a_sweep(store, state)
    before = store.redis.hgetall(keys.sweep_key(SID))
    # When paused or resumed / Then a SweepError names its state and what was needed, and nothing changed
    with pytest.raises(SweepStateError, match=f"sweep {SID} is {state.value}: only a running sweep can be paused"):
        lifecycle.pause_sweep(store, SID)
    with pytest.raises(SweepStateError, match=f"sweep {SID} is {state.value}: only a paused sweep can be resumed"):
        lifecycle.resume_sweep(store, SID)
    assert store.redis.hgetall(keys.sweep_key(SID)) == before


def test_move_sweep_says_which_state_refused_the_move(store: Store) -> None:
    a_sweep(store, SweepState.STOPPING)
    assert store.move_sweep(SID, SweepState.PAUSED, [SweepState.RUNNING]) is SweepState.STOPPING
    assert store.move_sweep(SID, SweepState.STOPPED, [SweepState.STOPPING]) is None
    assert store.sweep_state(SID) is SweepState.STOPPED


def test_a_paused_sweep_can_be_cancelled(store: Store) -> None:
    # Given a paused sweep with a queued trial
    a_sweep(store)
    queued(store, 1)
    lifecycle.pause_sweep(store, SID)
    # When cancelled / Then it is CANCELLED and its queued trial with it
    assert lifecycle.cancel_sweep(store, SID) is True
    assert store.sweep_state(SID) is SweepState.CANCELLED
    assert store.get_trial(SID, 1).state is TrialState.CANCELLED


def test_stopping_a_paused_sweep_drops_its_queued_trials_and_lets_running_ones_finish(store: Store) -> None:
    # Given a sweep with trial 1 running and trials 2, 3 queued, then paused
    a_sweep(store)
    queued(store, 1, 2, 3)
    assert claim(store, 1) is Outcome.OK
    lifecycle.pause_sweep(store, SID)
    # When stopped
    assert lifecycle.stop_sweep(store, SID) is True
    # Then it is STOPPING; the queued trials, which the pause held back, never start
    assert store.sweep_state(SID) is SweepState.STOPPING
    trials = {t.number: t for t in store.get_trials(SID)}
    assert {n: t.state for n, t in trials.items()} == {1: TrialState.RUNNING, 2: TrialState.CANCELLED, 3: TrialState.CANCELLED}
    assert trials[2].error == "the sweep was stopped while paused"
    # And the running trial is still its worker's to finish
    assert store.finish_trial(SID, 1, 1, TrialState.COMPLETED, 0.5) is Outcome.OK
    assert store.active_numbers(SID) == []


def test_stopping_a_running_sweep_still_lets_its_queued_trials_run(store: Store) -> None:
    a_sweep(store)
    queued(store, 1)
    assert lifecycle.stop_sweep(store, SID) is True
    assert claim(store, 1) is Outcome.OK


# --- queued trials of a paused sweep ---------------------------------------------------------------------


def test_a_worker_asking_for_a_paused_sweeps_trial_leaves_it_queued_and_held(store: Store) -> None:
    # Given a paused sweep with trials 1 and 2 queued (their messages on their way to workers)
    a_sweep(store)
    queued(store, 1, 2)
    lifecycle.pause_sweep(store, SID)
    counts = store.counts(SID)
    # When a worker claims trial 2
    assert claim(store, 2) is Outcome.PAUSED
    # Then it did not start: still queued, no lease, counts unchanged; it is recorded as held
    trial = store.get_trial(SID, 2)
    assert trial.state is TrialState.QUEUED and trial.started_at is None and trial.worker is None
    assert store.redis.zcard(keys.LEASES) == 0
    assert store.counts(SID) == counts
    assert store.held_numbers(SID) == {2}
    assert store.sweep_progress(SID, Goal.MINIMIZE, 15.0).held == 1
    # And a stale attempt is still refused by the fence first, without being held
    assert claim(store, 1, attempt=2) is Outcome.STALE
    assert store.held_numbers(SID) == {2}


def test_once_resumed_the_held_trial_is_taken_once_and_then_claimed(store: Store) -> None:
    # Given a held trial 2 of a paused sweep, and trial 3 that was cancelled while held
    a_sweep(store)
    queued(store, 1, 2, 3)
    lifecycle.pause_sweep(store, SID)
    assert claim(store, 2) is Outcome.PAUSED and claim(store, 3) is Outcome.PAUSED
    assert store.finish_trial(SID, 3, 1, TrialState.CANCELLED) is Outcome.OK
    ctx = build_context(store, SID)
    # While paused, the lost-message check does not send the held trials again (their message was spent on purpose)
    assert [t.number for t in lost_messages(store, ctx, time.time() + 3600, 1.0)] == [1]
    # When resumed / Then the controller gets the held trial still queued, once, and the held set is empty
    lifecycle.resume_sweep(store, SID)
    assert [t.number for t in held_back(store, ctx)] == [2]
    assert held_back(store, ctx) == [] and store.held_numbers(SID) == set()
    # And a worker now runs it
    assert claim(store, 2) is Outcome.OK


def test_retiring_a_sweep_forgets_its_held_trials(store: Store) -> None:
    a_sweep(store)
    queued(store, 1)
    lifecycle.pause_sweep(store, SID)
    assert claim(store, 1) is Outcome.PAUSED
    lifecycle.cancel_sweep(store, SID)
    store.retire_sweep(SID)
    assert not store.redis.exists(keys.held_key(SID))
    assert store.live_sweep_ids() == []


# --- what the exporter publishes ----------------------------------------------------------------------


def test_a_sweep_paused_for_days_is_still_exported_as_paused_with_its_budget_left(store: Store) -> None:
    from metrics.families import snapshot_families
    from sweepctl.telemetry import read_snapshot

    # Given a sweep with run_cap 10 and 2 trials, created three days ago and paused since
    now = time.time()
    store.create_sweep(Sweep(id=SID, raw_spec={**RAW, "run_cap": 10}, state=SweepState.RUNNING, seed=7, created_at=now - 3 * 86400))
    queued(store, 1, 2)
    lifecycle.pause_sweep(store, SID)
    # When the exporter reads it (ended sweeps are kept one day)
    samples = {
        (sample.name, sample.labels.get("state")): sample.value
        for family in snapshot_families(read_snapshot(store, keep_finished=86400, now=now))
        for sample in family.samples
        if sample.labels.get("sweep") == SID
    }
    # Then it is published as a paused sweep, with its budget still ahead of it (not over, not aged out)
    assert samples[("sweepctl_sweep_info", "paused")] == 1.0
    assert samples[("sweepctl_sweep_budget_remaining_trials", None)] == 8.0
    assert samples[("sweepctl_sweep_queue_depth", None)] == 2.0
