"""The controller loop: keep every live sweep supplied with trials, reap lost ones, end sweeps when done.

All state lives in Redis. A controller that is killed and restarted rebuilds
each sweep's suggester from the finished trials, re-sends trials it had
recorded but not yet handed to Celery, and carries on with the next trial
number: nothing finished is run again (a duplicate message is refused by the
worker's fenced claim). Each sweep is owned by one controller at a time
through a lease in Redis, so a second controller stands by and takes over
sweeps whose owner stopped renewing. The owner also reaps its sweeps' trials
whose worker lease expired: re-queued as the next attempt, or LOST after
max_retries. Redis outages are waited out with backoff.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import redis
from celery import Celery
from kombu.exceptions import OperationalError

from controller.curves import Curves, stop_early
from controller.early_stopping import StoppingPolicy, parse_policy
from controller.scheduling import Snapshot, learns_from_results, plan, trial_seed
from controller.suggester import Observation, Suggester
from controller.suggester_factory import make_suggester
from sweepctl.celery_app import RUN_TRIAL_TASK
from sweepctl.errors import StoreError, StoreUnavailable, UnknownSweepError
from sweepctl.lifecycle import cancel_queued_trials
from sweepctl.records import Sweep, SweepState, Trial, TrialState
from sweepctl.space import FlatAssignment
from sweepctl.spec import Method, SweepSpec
from sweepctl.store import (
    DEFAULT_LEASE_SECONDS,
    Outcome,
    Requeue,
    Store,
    StoreTrouble,
)
from sweepctl.sweepfile import parse_sweep
from sweepctl.telemetry import WORKER_UP_SECONDS, record_suggestions

log = logging.getLogger(__name__)

# What Celery's publishing raises when its Redis cannot take a message now (the store raises StoreUnavailable).
_BROKER_UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, redis.exceptions.OutOfMemoryError)  # type: ignore[attr-defined]

WAIT_SECONDS = 1.0
HEARTBEAT_SECONDS = 5.0
OWNER_LEASE_SECONDS = 15.0
MAX_BACKOFF_SECONDS = 5.0
STATS_SECONDS = 1.0  # how often suggestion latencies are written
REAP_SECONDS = 0.5  # how often expired worker leases are looked for (recovery waits this much longer at most)
# A queued trial sent this long ago while its queue is empty lost its Celery message; it is sent again.
LOST_MESSAGE_SECONDS = 30.0
MODEL_RETRIES = 10  # re-draws from the sweep's own engine before falling back to random draws
# One sweep's share of a controller pass: at most this many trials created, or this long spent
# creating them, before the other sweeps get their turn (a huge parallelism cannot starve them).
MAX_CREATE_PER_STEP = 256
MAX_CREATE_SECONDS = 0.5
MAX_DUPLICATE_RETRIES = 100
WARM_NUMBER_BASE = 10**11  # observation numbers for warm-start trials: never a real trial number


@dataclass
class SweepContext:
    """What a controller keeps in memory for one sweep; all of it can be rebuilt from the store."""

    sweep: Sweep
    spec: SweepSpec
    suggester: Suggester
    fallback: Suggester  # random draws when the engine keeps repeating parameter sets already taken
    finished_seen: int = 0  # position in the sweep's finished list already observed
    exhausted: bool = False
    unsent: dict[int, Trial] = field(default_factory=dict)  # recorded, but the broker was down
    pending: dict[int, FlatAssignment] = field(default_factory=dict)  # queued or running: TPE's constant liar
    policy: StoppingPolicy | None = None  # early_terminate
    curves: Curves | None = None
    just_finished: list[int] = field(default_factory=list)  # finished since the last early-stopping pass
    suggest_seconds: list[float] = field(default_factory=list)  # latencies not yet written to the sweep's stats
    stats_due: float = 0.0  # monotonic time when suggest_seconds are next written



def observed_loss(trial: Trial, spec: SweepSpec) -> float | None:
    """What the suggester learns from a finished trial: its objective, or for a trial stopped
    early the last value it reported (it was stopped for being worse than its peers there)."""
    goal, metric = spec.metric.goal, spec.metric.name
    if trial.state is TrialState.COMPLETED and trial.objective is not None:
        return goal.loss(trial.objective)
    if trial.state is TrialState.STOPPED and metric in trial.last_metrics:
        value = trial.last_metrics[metric]
        return goal.loss(value) if math.isfinite(value) else None
    return None


class Controller:
    """Creates trials with the sweep's suggester and sends them to Celery workers."""

    def __init__(
        self,
        store: Store,
        celery_app: Celery,
        *,
        owner_lease: float = OWNER_LEASE_SECONDS,
        lost_message_seconds: float = LOST_MESSAGE_SECONDS,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        self.store = store
        self.celery = celery_app
        self.owner_lease = owner_lease
        self.lost_message_seconds = lost_message_seconds
        self.lease_seconds = lease_seconds  # the workers' trial lease: see _pass on reaping after an outage
        self.store_trouble: StoreTrouble | None = None  # why Redis is not taking our writes now, for `run` to show
        self._recovered = False  # Redis failed us since the last pass: the next one starts the leases' grace
        self._reap_after = 0.0  # monotonic time before which no lease is reaped
        self._next_lost_check = 0.0
        self.id = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self._contexts: dict[str, SweepContext] = {}
        self._owned_at: dict[str, float] = {}  # sweep -> when our ownership lease was last renewed (monotonic)
        self._next_reap = 0.0

    # ---- one sweep ---------------------------------------------------------
    def _context(self, sweep_id: str) -> SweepContext:
        ctx = self._contexts.get(sweep_id)
        if ctx is None:
            sweep = self.store.get_sweep(sweep_id)
            spec = parse_sweep(sweep.raw_spec, source=sweep.source or sweep_id)
            policy = parse_policy(spec.early_terminate, spec.metric.goal)
            ctx = SweepContext(
                sweep,
                spec,
                make_suggester(spec.method, spec.space, sweep.seed, spec.tpe),
                make_suggester(Method.RANDOM, spec.space, sweep.seed),
                policy=policy,
                curves=Curves(spec.metric.name) if policy is not None else None,
            )
            self._contexts[sweep_id] = ctx
            ctx.suggester.observe(self._warm_observations(spec))
            self._resend_unsent(ctx)
        return ctx

    def _warm_observations(self, spec: SweepSpec) -> list[Observation]:
        """Finished trials of the earlier sweeps named in warm_start, as if they were this sweep's.

        Only sweeps with the same metric count; trials whose parameters do not
        fit this space are left out (TPE would skip them anyway).
        """
        found: list[Observation] = []
        for earlier_id in spec.warm_sweeps:
            try:
                earlier = self.store.get_sweep(earlier_id)
            except UnknownSweepError:
                log.warning("warm_start: no sweep %r; ignored", earlier_id)
                continue
            if earlier.raw_spec.get("metric", {}).get("name") != spec.metric.name:
                log.warning("warm_start: sweep %s optimizes another metric; ignored", earlier_id)
                continue
            for trial in self.store.get_trials(earlier_id, self.store.finished_numbers(earlier_id)):
                try:
                    params = spec.space.flatten(trial.params)
                except (KeyError, TypeError):
                    continue
                found.append(Observation(number=WARM_NUMBER_BASE + len(found), params=params, loss=observed_loss(trial, spec)))
        return found

    def _resend_unsent(self, ctx: SweepContext) -> None:
        """Trials recorded by an earlier controller that died before handing them to Celery."""
        sid = ctx.sweep.id
        for trial in self.store.get_trials(sid, self.store.active_numbers(sid)):
            ctx.pending[trial.number] = ctx.spec.space.flatten(trial.params)
            if trial.state is TrialState.QUEUED and trial.sent_at is None:
                log.info("re-sending trial %s/%s", sid, trial.number)
                self._send(ctx, trial)

    def _observe_finished(self, ctx: SweepContext, numbers: Sequence[int]) -> None:
        """Learn from trials that finished since the last step (`numbers`, read from ctx.finished_seen on)."""
        sid = ctx.sweep.id
        if not numbers:
            return
        ctx.finished_seen += len(numbers)
        for number in numbers:
            ctx.pending.pop(number, None)
        if ctx.curves is not None:
            ctx.just_finished.extend(numbers)
        if not learns_from_results(ctx.spec):
            return  # random and grid: nothing to read back
        space = ctx.spec.space
        observations = [
            Observation(number=t.number, params=space.flatten(t.params), loss=observed_loss(t, ctx.spec))
            for t in self.store.get_trials(sid, numbers)
            # A lost worker or a cancel says nothing about the parameters: TPE never sees them.
            if t.state is not TrialState.CANCELLED and not t.state.is_infrastructure_failure
        ]
        ctx.suggester.observe(observations)

    def _send(self, ctx: SweepContext, trial: Trial) -> None:
        """Hand a trial attempt to Celery and record that it was sent; if the broker is unreachable, try again next pass."""
        if self._publish(ctx, trial):
            self.store.mark_sent(trial.sweep_id, [trial.number], time.time())

    def _publish(self, ctx: SweepContext, trial: Trial) -> bool:
        try:
            self.celery.send_task(
                RUN_TRIAL_TASK,
                args=[trial.sweep_id, trial.number, trial.attempt],
                queue=ctx.spec.queue,
                task_id=f"{trial.sweep_id}.{trial.number}.{trial.attempt}",
            )
        except (OperationalError, *_BROKER_UNAVAILABLE) as exc:
            log.warning("could not send trial %s/%s: %s; will retry", trial.sweep_id, trial.number, exc)
            ctx.unsent[trial.number] = trial
            return False
        ctx.unsent.pop(trial.number, None)
        return True

    def _create_trials(self, ctx: SweepContext, first_number: int, count: int) -> int:
        sent: list[int] = []
        deadline = time.monotonic() + MAX_CREATE_SECONDS
        try:
            for number in range(first_number, first_number + count):
                if sent and time.monotonic() > deadline:
                    break  # the rest next pass, after the other sweeps had their turn
                trial = self._create_one(ctx, number)
                if trial is None:
                    break
                ctx.pending[number] = ctx.spec.space.flatten(trial.params)
                if self._publish(ctx, trial):
                    sent.append(number)
        finally:
            # Bookkeeping for the whole batch in one round trip: a trial without sent_at is
            # only re-sent by a controller that restarts, and the worker refuses a duplicate.
            self.store.mark_sent(ctx.sweep.id, sent, time.time())
            if time.monotonic() >= ctx.stats_due:
                self._write_stats(ctx)
        return len(sent)

    def _write_stats(self, ctx: SweepContext) -> None:
        """Suggestion latencies into the sweep's histogram: at most once a second (the exporter
        is scraped every 15 s), not a round trip per trial; and when the sweep is let go."""
        record_suggestions(self.store, ctx.sweep.id, ctx.suggest_seconds)
        ctx.suggest_seconds.clear()
        ctx.stats_due = time.monotonic() + STATS_SECONDS

    def _create_one(self, ctx: SweepContext, number: int) -> Trial | None:
        """Suggest and record trial `number`, re-drawing while the suggestion duplicates a
        parameter set already tried or pending; None when nothing new is left to suggest."""
        sid = ctx.sweep.id
        pending = list(ctx.pending.values())
        for retry in range(MAX_DUPLICATE_RETRIES + 1):
            began = time.perf_counter()
            if retry == 0 and number <= len(ctx.spec.warm_points):
                flat: FlatAssignment | None = ctx.spec.space.flatten(ctx.spec.warm_points[number - 1])  # warm_start points first
            else:
                # The sweep's engine first; one stuck on points already taken gets random draws instead.
                suggester = ctx.suggester if retry < MODEL_RETRIES else ctx.fallback
                flat = suggester.suggest(number, pending, retry)
            ctx.suggest_seconds.append(time.perf_counter() - began)
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
            )
            outcome = self.store.create_trial(trial)
            if outcome is Outcome.OK:
                return trial
            if outcome is not Outcome.DUPLICATE:
                log.info("trial %s/%s not created: %s", sid, number, outcome.value)
                return None
        # A finite space with (almost) every point taken: treat it as exhausted.
        log.warning("sweep %s: %d draws for trial %d all repeated earlier trials; the space looks exhausted", sid, MAX_DUPLICATE_RETRIES + 1, number)
        ctx.exhausted = True
        return None

    def reap(self, owned: Collection[str]) -> int:
        """Take back running trials of owned sweeps whose worker lease expired; returns how many."""
        reaped = 0
        for sweep_id, number in self.store.expired_leases():
            if sweep_id not in owned:
                continue
            ctx = self._context(sweep_id)
            result = self.store.requeue_trial(sweep_id, number, max_lost=ctx.spec.max_retries, reason="lease_expired")
            if result is Requeue.REQUEUED:
                trial = self.store.get_trial(sweep_id, number)
                log.warning("trial %s/%s: worker lost, re-queued as attempt %s", sweep_id, number, trial.attempt)
                self._send(ctx, trial)
            elif result is Requeue.LOST:
                log.warning("trial %s/%s: worker lost too often, recorded lost", sweep_id, number)
            reaped += result in (Requeue.REQUEUED, Requeue.LOST)
        return reaped

    def resend_lost(self, owned: Collection[str]) -> int:
        """Send again the queued trials whose Celery message is gone; returns how many.

        A message can vanish without its trial being claimed: Redis killed within
        its AOF fsync second, or a worker that took the message and lost the broker
        before its claim (the message then sits in kombu's unacked set until the
        visibility timeout, 12 h); or never be sent, when Redis died between applying
        the trial's creation and replying. Such a trial stays queued while its queue
        is empty, which a waiting message never is. Sending the same attempt again is
        harmless: the worker's claim lets one delivery of an attempt run.
        """
        resent = 0
        now = time.time()
        for sweep_id in owned:
            ctx = self._contexts.get(sweep_id)
            if ctx is None:
                continue
            active = self.store.active_numbers(sweep_id)
            if not active or self.store.waiting_messages(ctx.spec.queue) > 0:
                continue
            for trial in self.store.get_trials(sweep_id, active):
                # Never sent at all counts too: Redis can apply a create and lose the reply,
                # so this controller never learnt the trial exists.
                since = trial.sent_at if trial.sent_at is not None else trial.created_at
                if trial.state is TrialState.QUEUED and trial.number not in ctx.unsent and now - since > self.lost_message_seconds:
                    log.warning("trial %s/%s: queued %.0f s with no message waiting; sending it", sweep_id, trial.number, now - since)
                    ctx.pending[trial.number] = ctx.spec.space.flatten(trial.params)
                    self._send(ctx, trial)
                    resent += 1
        return resent

    def step(self, sweep_id: str) -> bool:
        """Bring one sweep up to date; True when something changed and another step may do more."""
        ctx = self._context(sweep_id)
        for trial in list(ctx.unsent.values()):
            self._send(ctx, trial)
        # One round trip for what this step reads. A trial finishing between the pipeline's
        # reads is in the counts but not yet in `finished`: the liar keeps it as pending
        # until the next step, whose event its end already sent.
        progress = self.store.sweep_progress(sweep_id, ctx.spec.metric.goal, WORKER_UP_SECONDS, ctx.finished_seen)
        self._observe_finished(ctx, progress.finished)
        if ctx.policy is not None and ctx.curves is not None:
            stopped = stop_early(self.store, sweep_id, ctx.policy, ctx.curves, set(ctx.pending), ctx.just_finished)
            ctx.just_finished = []
            if stopped:
                log.info("sweep %s: stopping trials %s early", sweep_id, stopped)
        active = progress.active
        if progress.state is SweepState.CANCELLED and cancel_queued_trials(self.store, sweep_id):
            active = len(self.store.active_numbers(sweep_id))
        if progress.state.is_terminal:
            if active == 0:
                self._write_stats(ctx)
                self.store.retire_sweep(sweep_id)
                self._contexts.pop(sweep_id, None)
                self._release(sweep_id)
            return False
        snap = Snapshot(
            state=progress.state,
            created=progress.created,
            active=active,
            trial_failures=sum(n for s, n in progress.counts.items() if s.is_trial_failure),
            best_objective=progress.best_objective,
            exhausted=ctx.exhausted,
            live_workers=progress.live_workers,
        )
        decision = plan(ctx.spec, snap)
        if decision.create:
            created = self._create_trials(ctx, snap.created + 1, min(decision.create, MAX_CREATE_PER_STEP))
            # All that was planned went out: nothing changes until a trial ends, and its
            # event wakes the controller. A pass now would only re-read the same state.
            return ctx.exhausted or 0 < created < decision.create
        if decision.end is not None:
            ended = self.store.transition_sweep(
                sweep_id, decision.end, [SweepState.RUNNING, SweepState.STOPPING], reason=decision.reason, ended_at=time.time()
            )
            if ended:
                log.info("sweep %s %s: %s", sweep_id, decision.end.value, decision.reason)
            return ended
        return False

    # ---- all sweeps ----------------------------------------------------------
    def run(
        self,
        stop: threading.Event,
        *,
        only: Collection[str] | None = None,
        until_idle: bool = False,
        on_pass: Callable[[], None] | None = None,
    ) -> None:
        """Serve live sweeps (or just `only`) until `stop` is set, or none is left when `until_idle`."""
        next_beat = 0.0
        backoff = 0.0
        try:
            while not stop.is_set():
                try:
                    if time.monotonic() >= next_beat:
                        self.store.heartbeat_controller(self.id)
                        next_beat = time.monotonic() + HEARTBEAT_SECONDS
                    live = [s for s in self.store.live_sweep_ids() if only is None or s in only]
                    if until_idle and not live:
                        return
                    busy = self._pass(live)
                    if on_pass is not None:
                        on_pass()
                    if not busy:
                        self.store.wait_for_event(WAIT_SECONDS)
                    backoff = 0.0
                    self.store_trouble = None
                except (StoreUnavailable, OperationalError) as exc:
                    backoff = min(MAX_BACKOFF_SECONDS, max(0.1, backoff * 2))
                    self._store_failed(exc)
                    stop.wait(backoff)
        finally:
            for sweep_id in list(self._contexts):
                self._release(sweep_id)
            try:
                self.store.remove_controller(self.id)
            except (StoreUnavailable, StoreError):
                pass

    def _store_failed(self, exc: BaseException) -> None:
        """Redis did not take a read or write: say so (once per episode, loudly when it is full)."""
        trouble = StoreTrouble.of(exc)
        if self.store_trouble is not trouble:
            if trouble is StoreTrouble.OUT_OF_MEMORY:
                log.error("Redis is out of memory (maxmemory) and refuses writes: no trial is created or reaped until memory is freed")
            else:
                log.warning("Redis unavailable (%s); retrying with backoff", exc)
        self.store_trouble = trouble
        self._recovered = True

    def _pass(self, live: list[str]) -> bool:
        """One round over the live sweeps: own what is free, reap, step what we own."""
        owned = []
        now = time.monotonic()
        for sweep_id in live:
            renewed = self._owned_at.get(sweep_id)
            # Renewed a third into the lease: a stall longer than the lease is always
            # noticed here (the renewal fails) before we act on the sweep again.
            if renewed is not None and now - renewed < self.owner_lease / 3:
                owned.append(sweep_id)
            elif self.store.own_sweep(sweep_id, self.id, self.owner_lease):
                self._owned_at[sweep_id] = now
                owned.append(sweep_id)
            else:
                self._owned_at.pop(sweep_id, None)
                # Another controller took it (we stalled past our lease): forget our copy.
                self._contexts.pop(sweep_id, None)
        busy = False
        if self._recovered:
            # While Redis was down, frozen or full, workers could not renew their leases either:
            # their trials run on. Give every lease one more full period before calling it lost.
            self._recovered = False
            self._reap_after = now + self.lease_seconds
        if now >= self._next_reap and now >= self._reap_after:
            self._next_reap = now + REAP_SECONDS
            busy = self.reap(owned) > 0
        if now >= self._next_lost_check:
            self._next_lost_check = now + self.lost_message_seconds / 2
            busy = self.resend_lost(owned) > 0 or busy
        for sweep_id in owned:
            try:
                busy = self.step(sweep_id) or busy
            except StoreUnavailable:
                raise  # the run loop waits it out
            except Exception:
                # One broken sweep must not starve the others; it is retried next pass.
                log.exception("controller step failed for sweep %s", sweep_id)
        return busy

    def _release(self, sweep_id: str) -> None:
        self._owned_at.pop(sweep_id, None)
        ctx = self._contexts.get(sweep_id)
        try:
            if ctx is not None and ctx.suggest_seconds:
                self._write_stats(ctx)
            self.store.disown_sweep(sweep_id, self.id)
        except (StoreUnavailable, StoreError):
            pass
