"""`retry` on a real Redis, without workers: the atomic re-queue (earlier attempt kept, counts and ranking moved, the old
attempt fenced off, each trial once), the sweep moves, and a controller that sends the retried trials once and whose
suggester learns one result per trial, the same as a restarted controller's."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.loop import Controller
from controller.scheduling import SweepMoment, plan
from metrics.families import sweep_families
from sweepctl import lifecycle
from sweepctl.celery_app import make_celery
from sweepctl.errors import SweepStateError
from sweepctl.records import MetricPoint, SweepState, Trial, TrialState
from sweepctl.retry import DEFAULT_STATES, SWEEP_MOVES
from sweepctl.settings import RedisSettings
from sweepctl.spec import Goal
from sweepctl.store import Outcome, Requeue, Retried, Store
from sweepctl.telemetry import read_snapshot
from tests.system.helpers import write_sweep

pytestmark = pytest.mark.system

SWEEP = """
method: bayes
metric: {name: loss, goal: minimize}
program: trial_program.py
parameters:
  x: {values: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]}
parallelism: 1
run_cap: 4
seed: 3
"""
# Past the float precision cjson would keep (14 digits): the earlier attempt's values must come back exact.
PRECISE = 0.12345678901234567


def record(store: Store, sweep_id: str, number: int, state: TrialState, objective: float | None = None, **fields: object) -> None:
    """Trial `number` (x = number) created, claimed by worker w1 and ended in `state`, as a worker would."""
    trial = Trial(sweep_id=sweep_id, number=number, state=TrialState.QUEUED, params={"x": number}, seed=number, created_at=1.0)
    assert store.create_trial(trial) is Outcome.OK
    assert store.claim_trial(sweep_id, number, 1, worker="h/0/1", host="h") is Outcome.OK
    if state is TrialState.LOST:  # the reaper's move with max_retries 0
        assert store.requeue_trial(sweep_id, number, max_lost=0, reason="lease_expired", attempt=1) is Requeue.LOST
        return
    points = [MetricPoint(time=2.0, step=0, values={"loss": PRECISE})]
    assert store.finish_trial(sweep_id, number, 1, state, objective, points=points, **fields) is Outcome.OK


def exported_trials_finished(store: Store, sweep_id: str) -> float:
    """What the exporter publishes as the sweep's sweepctl_sweep_trials_finished counter."""
    family = next(f for f in sweep_families(read_snapshot(store, keep_finished=1e12)) if f.name == "sweepctl_sweep_trials_finished")
    return next(s.value for s in family.samples if s.labels["sweep"] == sweep_id)


def test_a_retry_queues_each_failure_once_keeps_its_earlier_attempt_and_fences_the_old_one(tmp_path: Path, store: Store) -> None:
    # Given a finished sweep whose trial 1 completed, 2 failed (exit 4, with a metric history), 3 was lost
    sweep, _ = lifecycle.submit_sweep(store, write_sweep(tmp_path, SWEEP))
    sid = sweep.id
    record(store, sid, 1, TrialState.COMPLETED, 0.5, last_metrics={"loss": 0.5})
    record(store, sid, 2, TrialState.FAILED, error="exited with status 4", exit_code=4, last_metrics={"loss": PRECISE}, ended_at=3.0)
    record(store, sid, 3, TrialState.LOST)
    assert exported_trials_finished(store, sid) == 3
    assert store.transition_sweep(sid, SweepState.FINISHED, [SweepState.RUNNING], reason="run_cap=3 reached", ended_at=4.0)
    assert store.retire_sweep(sid)

    # When its failures are retried
    done = lifecycle.retry_trials(store, sid, DEFAULT_STATES)

    # Then trials 2 and 3 are queued again as attempt 2, and the sweep runs again, live, for a controller to send them
    assert [(t.number, t.previous_state, t.attempt) for t in done.retried] == [(2, TrialState.FAILED, 2), (3, TrialState.LOST, 2)]
    assert done.reopened and done.state is SweepState.RUNNING and sid in store.live_sweep_ids()
    again = store.get_sweep(sid)
    assert (again.reason, again.ended_at) == ("retrying 2 trial(s)", None)
    assert store.retried_numbers(sid) == {2, 3} and store.active_numbers(sid) == [2, 3]
    # And each counts once, in its new state: one completed, two queued; the ranking holds the completed one only
    counts = store.counts(sid)
    assert {s: n for s, n in counts.items() if n} == {TrialState.COMPLETED: 1, TrialState.QUEUED: 2}
    assert store.best_trial(sid, Goal.MINIMIZE).number == 1
    # And the exporter's counter of finished trials does not go back (Prometheus would read a drop as a reset)
    assert exported_trials_finished(store, sid) == 3
    # And trial 2 starts clean, its earlier attempt kept whole (its floats exact), its history under attempt 1
    failed = store.get_trial(sid, 2)
    assert (failed.state, failed.attempt, failed.error, failed.exit_code, failed.worker) == (TrialState.QUEUED, 2, None, None, None)
    assert failed.last_metrics == {}
    [earlier] = failed.retried
    assert (earlier.attempt, earlier.state, earlier.exit_code, earlier.worker) == (1, TrialState.FAILED, 4, "h/0/1")
    assert earlier.error == "exited with status 4"
    assert earlier.last_metrics == {"loss": PRECISE} and earlier.record["ended_at"] == 3.0 and earlier.retried_at > 0
    assert store.metric_history(sid, 2) == []
    assert [p.values["loss"] for p in store.metric_history(sid, 2, attempt=1)] == [PRECISE]
    # And the lost trial's loss moved with its attempt: the new one has its whole max_retries again
    lost = store.get_trial(sid, 3)
    assert lost.lost == () and lost.retried[0].state is TrialState.LOST
    assert [(a.attempt, a.worker) for a in lost.retried[0].lost] == [(1, "h/0/1")] and len(lost.lost_history) == 1

    # When the old attempt writes late, or the same attempt is retried again
    # Then it is refused: the attempt fence holds; the trial is retried once
    assert store.finish_trial(sid, 2, 1, TrialState.COMPLETED, 0.1) is Outcome.STALE
    assert store.record_progress(sid, 2, 1, [MetricPoint(time=5.0, step=1, values={"loss": 0.1})]) is Outcome.STALE
    assert store.retry_trial(sid, 2, 1, DEFAULT_STATES, SWEEP_MOVES, "again") is Retried.STALE
    assert store.retry_trial(sid, 2, 2, DEFAULT_STATES, SWEEP_MOVES, "again") is Retried.NOT_ASKED  # queued, not failed
    assert lifecycle.retry_trials(store, sid, DEFAULT_STATES).retried == ()
    assert store.get_trial(sid, 2).attempt == 2 and store.metric_history(sid, 2) == []
    # And the new attempt runs as any: claimed, and its result recorded and ranked
    assert store.claim_trial(sid, 2, 2, worker="h/0/2") is Outcome.OK
    assert store.finish_trial(sid, 2, 2, TrialState.COMPLETED, 0.1) is Outcome.OK
    assert store.best_trial(sid, Goal.MINIMIZE).number == 2 and store.counts(sid)[TrialState.COMPLETED] == 2
    assert exported_trials_finished(store, sid) == 4


def test_which_sweeps_take_a_retry_and_the_state_each_takes(tmp_path: Path, store: Store) -> None:
    # Given a failed trial in sweeps that ended in every way, and in a paused one
    path = write_sweep(tmp_path, SWEEP)
    states = (SweepState.STOPPED, SweepState.FAILED, SweepState.PAUSED, SweepState.CANCELLED)
    sweeps = {state: lifecycle.submit_sweep(store, path)[0].id for state in states}
    for state, sid in sweeps.items():
        record(store, sid, 1, TrialState.FAILED, error="boom")
        assert store.transition_sweep(sid, state, [SweepState.RUNNING], reason=f"was {state.value}")
    # When each is retried / Then a stopped one runs its retried trial and stops again; a failed one runs again
    assert lifecycle.retry_trials(store, sweeps[SweepState.STOPPED], DEFAULT_STATES).state is SweepState.STOPPING
    assert lifecycle.retry_trials(store, sweeps[SweepState.FAILED], DEFAULT_STATES).state is SweepState.RUNNING
    # And a paused one stays paused, its trial queued for when it resumes
    paused = lifecycle.retry_trials(store, sweeps[SweepState.PAUSED], DEFAULT_STATES)
    assert (paused.state, paused.reopened, [t.number for t in paused.retried]) == (SweepState.PAUSED, False, [1])
    # And a cancelled one is refused, naming its state, its trial untouched
    with pytest.raises(SweepStateError, match="is cancelled: its search was given up"):
        lifecycle.retry_trials(store, sweeps[SweepState.CANCELLED], DEFAULT_STATES)
    assert store.get_trial(sweeps[SweepState.CANCELLED], 1).state is TrialState.FAILED


def test_a_controller_sends_a_retried_trial_once_and_its_suggester_learns_one_result_per_trial(
    tmp_path: Path, store: Store, redis_settings: RedisSettings
) -> None:
    # Given a running TPE sweep whose trials 1 and 3 completed and 2 failed, under a controller that learnt them
    sweep, spec = lifecycle.submit_sweep(store, write_sweep(tmp_path, SWEEP))
    sid = sweep.id
    record(store, sid, 1, TrialState.COMPLETED, 1.0)
    record(store, sid, 2, TrialState.FAILED, error="boom")
    record(store, sid, 3, TrialState.COMPLETED, 0.5)
    app = make_celery(redis_settings)
    controller = Controller(store, app)
    controller.step(sid)  # learns 1..3 and creates trial 4, its last (run_cap 4)
    ctx = controller._contexts[sid]
    assert ctx.suggester.has_observed(2) and store.trial_count(sid) == 4
    messages = store.waiting_messages(spec.queue)

    # When trial 2 is retried while the sweep runs, and the controller steps twice
    assert [t.number for t in lifecycle.retry_trials(store, sid, DEFAULT_STATES).retried] == [2]
    controller.step(sid)
    controller.step(sid)

    # Then it sent attempt 2 once, counts it pending, and its suggester no longer holds the failure
    assert store.waiting_messages(spec.queue) == messages + 1 and store.get_trial(sid, 2).sent_at is not None
    assert 2 in ctx.pending and not ctx.suggester.has_observed(2) and store.retried_numbers(sid) == set()
    assert store.trial_count(sid) == 4  # a retry adds no trial

    # When attempt 2 completes with the sweep's best loss
    assert store.claim_trial(sid, 2, 2, worker="h/0/2") is Outcome.OK
    assert store.finish_trial(sid, 2, 2, TrialState.COMPLETED, 0.1) is Outcome.OK
    controller.step(sid)
    # Then the suggester learnt trial 2 once, with its new result
    losses = {o.number: o.loss for o in ctx.suggester.observations}
    assert losses == {1: 1.0, 2: 0.1, 3: 0.5}
    # And a restarted controller, reading the finished list with trial 2 in it twice, learns the very same,
    # and so suggests the very same parameters
    fresh = Controller(store, app)
    fresh.step(sid)
    again = fresh._contexts[sid]
    assert {o.number: o.loss for o in again.suggester.observations} == losses
    assert again.suggester.suggest(5) == ctx.suggester.suggest(5)


def test_a_trial_retried_while_the_controller_judged_the_sweep_done_reopens_it(
    tmp_path: Path, store: Store, redis_settings: RedisSettings
) -> None:
    # Given a running sweep of run_cap 2 whose trial 1 completed and 2 failed, and a controller that judged it done
    sweep, spec = lifecycle.submit_sweep(store, write_sweep(tmp_path, SWEEP.replace("run_cap: 4", "run_cap: 2")))
    sid = sweep.id
    record(store, sid, 1, TrialState.COMPLETED, 1.0)
    record(store, sid, 2, TrialState.FAILED, error="boom")
    controller = Controller(store, make_celery(redis_settings))
    ctx = controller._context(sid)
    moment = SweepMoment(state=SweepState.RUNNING, created=2, active=0, trial_failures=1, best_objective=1.0)
    decision = plan(ctx.spec, moment)
    assert decision.end is SweepState.FINISHED
    # When trial 2 is retried before the controller acts on that judgement (the sweep still runs: kept running)
    assert lifecycle.retry_trials(store, sid, DEFAULT_STATES).reopened is False
    controller._apply(ctx, decision, moment)
    # Then the end it wrote with a trial queued is undone: the sweep runs again, and the next step sends the trial
    again = store.get_sweep(sid)
    assert (again.state, again.reason, again.ended_at) == (SweepState.RUNNING, "retrying 1 trial(s)", None)
    controller.step(sid)
    assert store.get_trial(sid, 2).sent_at is not None and store.waiting_messages(spec.queue) == 1
