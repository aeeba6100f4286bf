"""Trial creation: suggest parameters, refuse duplicates, record and send new trials; warm start.

Functions of the store and one sweep's context. Creating is bounded per call
(MAX_CREATE_SECONDS) so that one sweep with a huge parallelism cannot starve
the others; the loop bounds the count (MAX_CREATE_PER_STEP) and calls again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

from controller.context import SweepContext, new_suggester, observation
from controller.scheduling import learns_from_results, trial_seed
from controller.sending import publish_all
from controller.suggester import Observation
from sweepctl.celery_app import Celery
from sweepctl.records import Trial, TrialState
from sweepctl.space import FlatAssignment
from sweepctl.spec import SweepSpec
from sweepctl.store import Outcome, Store
from sweepctl.telemetry import record_suggestions
from sweepctl.warm_trials import learnable, read_warm_start

log = logging.getLogger(__name__)

STATS_SECONDS = 1.0  # how often suggestion latencies are written
MODEL_RETRIES = 10  # re-draws from the sweep's own engine before falling back to random draws
MAX_CREATE_SECONDS = 0.5  # one sweep's share of a controller pass spent creating trials
MAX_DUPLICATE_RETRIES = 100
BATCH_SIZE = 16  # trials suggested together when many workers free up at once (deadline checked between batches)
WARM_NUMBER_BASE = 10**11  # observation numbers for warm-start trials: never a real trial number


def warm_observations(store: Store, spec: SweepSpec) -> list[Observation]:
    """The trials of the earlier sweeps named in warm_start, as if they were this sweep's: exactly the ones
    `sweepctl.warm_trials` takes (learnable, inside this space, of a sweep with the same metric)."""
    found: list[Observation] = []
    for source in read_warm_start(store, spec):
        if source.ignored is not None:
            log.warning("warm_start: sweep %s: %s; ignored", source.sweep_id, source.ignored.value)
            continue
        for trial in source.taken:
            found.append(observation(trial, spec, number=WARM_NUMBER_BASE + len(found)))
        log.info(
            "warm_start: %d trial(s) of sweep %s taken, %d outside the space, %d not learned from",
            len(source.taken),
            source.sweep_id,
            len(source.outside),
            len(source.not_learned),
        )
    return found


def observe_finished(store: Store, ctx: SweepContext, numbers: Sequence[int]) -> None:
    """Learn from trials that finished since the last step (`numbers`, read from ctx.finished_seen on).

    A trial `retry` ran again is in the finished list once per attempt that finished, and is read as
    it stands now: queued or running again, it is pending, not finished; finished again after the
    suggester learnt its earlier result, the suggester starts afresh (`relearn`): one result per trial.
    """
    if not numbers:
        return
    ctx.finished_seen += len(numbers)
    numbers = list(dict.fromkeys(numbers))
    for number in numbers:
        ctx.pending.pop(number, None)
    if ctx.curves is not None:
        ctx.just_finished.extend(numbers)
    if not learns_from_results(ctx.spec):
        return  # random and grid: nothing to read back
    trials = store.get_trials(ctx.sweep.id, numbers)
    for trial in trials:
        if not trial.state.is_finished:
            ctx.pending[trial.number] = ctx.spec.space.flatten(trial.params)
    if any(trial.state.is_finished and ctx.suggester.has_observed(trial.number) for trial in trials):
        relearn(store, ctx)
    else:
        ctx.suggester.observe(_observations(trials, ctx.spec))


def forget_retried(store: Store, ctx: SweepContext, numbers: Sequence[int]) -> None:
    """Trials `retry` queued again are pending now: a suggester that learnt their earlier results starts afresh."""
    if learns_from_results(ctx.spec) and any(ctx.suggester.has_observed(n) for n in numbers):
        relearn(store, ctx)


def relearn(store: Store, ctx: SweepContext) -> None:
    """A new suggester for the sweep, told its warm start and each trial finished so far once, as it stands now.

    What a restarted controller builds, so suggestions stay the same either way: engines take each
    trial once, so one whose result `retry` replaced needs a suggester that never saw the old one.
    Only trials up to ctx.finished_seen are told; later ones come with the next step, as usual.
    """
    ctx.suggester = new_suggester(ctx.sweep, ctx.spec)
    ctx.suggester.observe(warm_observations(store, ctx.spec))
    seen = list(dict.fromkeys(store.finished_numbers(ctx.sweep.id)[: ctx.finished_seen]))
    ctx.suggester.observe(_observations(store.get_trials(ctx.sweep.id, seen), ctx.spec))


def _observations(trials: Sequence[Trial], spec: SweepSpec) -> list[Observation]:
    """What the suggester learns of trials (`learnable` ones: a lost worker or a cancel says nothing about the parameters)."""
    return [observation(t, spec) for t in trials if learnable(t)]


def create_trials(store: Store, app: Celery, ctx: SweepContext, first_number: int, count: int) -> int:
    """Create and send up to `count` trials numbered from `first_number`; how many were sent.

    Parameters are suggested BATCH_SIZE at a time (`Suggester.suggest_batch`: the engine builds
    its model once per batch, not once per trial). Stops early when the space is exhausted or
    after MAX_CREATE_SECONDS, checked between batches (the rest next pass).
    The trials created are sent together at the end, in one round trip (`publish_all`).
    """
    created: list[Trial] = []
    sent: list[Trial] = []
    deadline = time.monotonic() + MAX_CREATE_SECONDS
    end = first_number + count
    try:
        number, stopped = first_number, False
        while number < end and not stopped:
            if created and time.monotonic() > deadline:
                break  # the rest next pass, after the other sweeps had their turn
            numbers = list(range(number, min(end, number + BATCH_SIZE)))
            drawn = _suggest_batch(ctx, numbers)
            for n in numbers:
                trial = create_one(store, ctx, n, drawn)
                if trial is None:
                    stopped = True  # the space is exhausted, or the store refused (the sweep ended meanwhile)
                    break
                ctx.pending[n] = ctx.spec.space.flatten(trial.params)
                created.append(trial)
            number = numbers[-1] + 1
    finally:
        # The batch's messages in one round trip and its bookkeeping in another: a trial without sent_at is
        # only re-sent by a controller that restarts, and the worker refuses a duplicate.
        sent = publish_all(app, ctx, created)
        store.mark_sent(ctx.sweep.id, [t.number for t in sent], time.time())
        if time.monotonic() >= ctx.stats_due:
            write_stats(store, ctx)
    return len(sent)


def _suggest_batch(ctx: SweepContext, numbers: list[int]) -> dict[int, FlatAssignment | None]:
    """The engine's first draws for `numbers` past the warm_start points, in one batch when there are several
    (their time shared out among them in the sweep's latencies); the others are drawn by `create_one`."""
    drawn = [n for n in numbers if n > len(ctx.spec.warm_points)]
    if len(drawn) < 2:
        return {}
    began = time.perf_counter()
    flats = ctx.suggester.suggest_batch(drawn, list(ctx.pending.values()))
    each = (time.perf_counter() - began) / len(drawn)
    ctx.suggest_seconds.extend([each] * len(drawn))
    return dict(zip(drawn, flats))


def write_stats(store: Store, ctx: SweepContext) -> None:
    """Suggestion latencies into the sweep's histogram: at most once a second (the exporter
    is scraped every 15 s), not a round trip per trial; and when the sweep is let go."""
    record_suggestions(store, ctx.sweep.id, ctx.suggest_seconds)
    ctx.suggest_seconds.clear()
    ctx.stats_due = time.monotonic() + STATS_SECONDS


def create_one(
    store: Store, ctx: SweepContext, number: int, drawn: Mapping[int, FlatAssignment | None] | None = None
) -> Trial | None:
    """Suggest and record trial `number`, re-drawing while the suggestion duplicates a
    parameter set already tried or pending; None when nothing new is left to suggest.
    `drawn` holds the engine's first draws made in a batch (`create_trials`), by number."""
    sid = ctx.sweep.id
    pending = list(ctx.pending.values())
    for retry in range(MAX_DUPLICATE_RETRIES + 1):
        if retry == 0 and drawn is not None and number in drawn:
            flat = drawn[number]
        else:
            flat = _suggest(ctx, number, pending, retry)
        if flat is None:
            ctx.exhausted = True
            return None
        trial = Trial(
            sweep_id=sid,
            number=number,
            state=TrialState.QUEUED,
            params=ctx.spec.space.assemble(flat),
            seed=trial_seed(ctx.sweep.seed, number),
            created_at=time.time(),
            folds=ctx.spec.folds,  # a k-fold trial: created with its fold records, sent as one message per fold
        )
        outcome = store.create_trial(trial)
        if outcome is Outcome.OK:
            return trial
        if outcome is not Outcome.DUPLICATE:
            log.info("trial %s/%s not created: %s", sid, number, outcome.value)
            return None
    # A finite space with (almost) every point taken: treat it as exhausted.
    log.warning(
        "sweep %s: %d draws for trial %d all repeated earlier trials; the space looks exhausted", sid, MAX_DUPLICATE_RETRIES + 1, number
    )
    ctx.exhausted = True
    return None


def _suggest(ctx: SweepContext, number: int, pending: list[FlatAssignment], retry: int) -> FlatAssignment | None:
    """Draw `retry` for trial `number` (its time added to the sweep's latencies): a warm_start point first,
    then the sweep's engine, and random draws for an engine stuck on points already taken."""
    began = time.perf_counter()
    if retry == 0 and number <= len(ctx.spec.warm_points):
        flat: FlatAssignment | None = ctx.spec.space.flatten(ctx.spec.warm_points[number - 1])
    else:
        suggester = ctx.suggester if retry < MODEL_RETRIES else ctx.fallback
        flat = suggester.suggest(number, pending, retry)
    ctx.suggest_seconds.append(time.perf_counter() - began)
    return flat
