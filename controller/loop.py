"""The controller loop: keep every live sweep supplied with trials, reap lost ones, end sweeps when done.

All state lives in Redis. A controller that is killed and restarted rebuilds
each sweep's suggester from the finished trials, re-sends trials it had
recorded but not yet handed to Celery, and carries on with the next trial
number: nothing finished is run again (a duplicate message is refused by the
worker's fenced claim). Each sweep is owned by one controller at a time
through a lease in Redis (`controller.ownership`), so a second controller
stands by and takes over sweeps whose owner stopped renewing. The owner also
reaps its sweeps' trials whose worker lease expired, and re-sends lost
messages (`controller.recovery`); trials are created by `controller.creation`.
Redis outages are waited out with backoff.

This module only orders the passes and applies what the decisions return;
the decisions import nothing from here.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Collection

from controller import creation, recovery
from controller.context import SweepContext, build_context, follow_run_cap
from controller.curves import stop_early
from controller.fold_means import stop_hopeless_folds
from controller.ownership import Ownership
from controller.scheduling import Plan, SweepMoment, plan
from controller.sending import send
from sweepctl import extension, retry
from sweepctl.celery_app import Celery
from sweepctl.errors import StoreError, StoreUnavailable
from sweepctl.lifecycle import cancel_queued_trials
from sweepctl.records import SweepState, Trial
from sweepctl.store import DEFAULT_LEASE_SECONDS, Store, StoreTrouble, controller_id
from sweepctl.telemetry import WORKER_UP_SECONDS

log = logging.getLogger(__name__)

WAIT_SECONDS = 1.0
HEARTBEAT_SECONDS = 5.0
OWNER_LEASE_SECONDS = 15.0
MAX_BACKOFF_SECONDS = 5.0
REAP_SECONDS = 0.5  # how often expired worker leases are looked for (recovery waits this much longer at most)
# A queued trial sent this long ago while its queue is empty lost its Celery message; it is sent again.
LOST_MESSAGE_SECONDS = 30.0
# One sweep's share of a controller pass: at most this many trials created (or
# creation.MAX_CREATE_SECONDS spent creating them) before the other sweeps get
# their turn (a huge parallelism cannot starve them).
MAX_CREATE_PER_STEP = 256


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
        self.id = controller_id(socket.gethostname(), os.getpid(), uuid.uuid4().hex[:8])
        self._contexts: dict[str, SweepContext] = {}
        self.ownership = Ownership(store, self.id, owner_lease)
        self._next_reap = 0.0

    # ---- one sweep ---------------------------------------------------------
    def _context(self, sweep_id: str) -> SweepContext:
        ctx = self._contexts.get(sweep_id)
        if ctx is None:
            ctx = self._contexts[sweep_id] = build_context(self.store, sweep_id)
            ctx.suggester.observe(creation.warm_observations(self.store, ctx.spec))
            for trial in recovery.never_sent(self.store, ctx):
                self._send(ctx, trial)
        return ctx

    def _send(self, ctx: SweepContext, trial: Trial) -> None:
        send(self.store, self.celery, ctx, trial)

    def reap(self, owned: Collection[str]) -> int:
        """Take back running trials of owned sweeps whose worker lease expired; returns how many."""
        reaped = 0
        for sweep_id, number, fold in recovery.expired_leases(self.store, owned):
            ctx = self._context(sweep_id)
            taken = recovery.take_back(self.store, ctx, number, fold)
            if taken.resend is not None:
                self._send(ctx, taken.resend)
            reaped += taken.reaped
        return reaped

    def resend_lost(self, owned: Collection[str]) -> int:
        """Send again the queued trials of owned sweeps whose Celery message is gone; returns how many."""
        resent = 0
        now = time.time()
        for sweep_id in owned:
            ctx = self._contexts.get(sweep_id)
            if ctx is None:
                continue
            for trial in recovery.lost_messages(self.store, ctx, now, self.lost_message_seconds):
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
        progress = self.store.sweep_progress(sweep_id, ctx.spec.goal, WORKER_UP_SECONDS, ctx.finished_seen)
        if progress.state is SweepState.DELETING:
            # `delete` is removing it: let it go, and write nothing more of it (no stats, no owner).
            self._contexts.pop(sweep_id, None)
            self._release(sweep_id)
            return False
        follow_run_cap(ctx, progress.run_cap)
        creation.observe_finished(self.store, ctx, progress.finished)
        self._stop_early(ctx)
        if progress.held and progress.state.starts_queued_trials:
            for trial in recovery.held_back(self.store, ctx):
                self._send(ctx, trial)
        if progress.retried and progress.state.starts_queued_trials:
            self._send_retried(ctx)
        active = progress.active
        if progress.state is SweepState.CANCELLED and cancel_queued_trials(self.store, sweep_id):
            active = len(self.store.active_numbers(sweep_id))
        if progress.state.is_terminal:
            if active == 0:
                creation.write_stats(self.store, ctx)
                # Not retired when `extend` re-opened it since the read above: it stays ours and live.
                if self.store.retire_sweep(sweep_id):
                    self._contexts.pop(sweep_id, None)
                    self._release(sweep_id)
                    return False
                return True
            return False
        moment = SweepMoment(
            state=progress.state,
            created=progress.created,
            active=active,
            trial_failures=sum(n for s, n in progress.counts.items() if s.is_trial_failure),
            best_objective=progress.best_objective,
            exhausted=ctx.exhausted,
            live_workers=progress.live_workers,
        )
        return self._apply(ctx, plan(ctx.spec, moment), moment)

    def _send_retried(self, ctx: SweepContext) -> None:
        """Send the trials `retry` queued again; a suggester that learnt their earlier results starts afresh."""
        taken = recovery.retried(self.store, ctx)
        creation.forget_retried(self.store, ctx, taken.numbers)
        for trial in taken.send:
            self._send(ctx, trial)

    def _stop_early(self, ctx: SweepContext) -> None:
        """The sweep's early_terminate: on learning curves, or for a k-fold sweep on fold means."""
        if ctx.policy is not None and ctx.curves is not None:
            stopped = stop_early(self.store, ctx.sweep.id, ctx.policy, ctx.curves, set(ctx.pending), ctx.just_finished)
            ctx.just_finished = []
            if stopped:
                log.info("sweep %s: stopping trials %s early", ctx.sweep.id, stopped)
        stop_hopeless_folds(self.store, ctx)

    def _apply(self, ctx: SweepContext, decision: Plan, moment: SweepMoment) -> bool:
        """Do what `plan` decided for the sweep; True when another step may do more."""
        if decision.create:
            created = creation.create_trials(self.store, self.celery, ctx, moment.created + 1, min(decision.create, MAX_CREATE_PER_STEP))
            # All that was planned went out: nothing changes until a trial ends, and its
            # event wakes the controller. A pass now would only re-read the same state.
            return ctx.exhausted or 0 < created < decision.create
        if decision.end is not None:
            sweep_id = ctx.sweep.id
            ended = self.store.transition_sweep(
                sweep_id, decision.end, [SweepState.RUNNING, SweepState.STOPPING], reason=decision.reason, ended_at=time.time()
            )
            if ended:
                log.info("sweep %s %s: %s", sweep_id, decision.end.value, decision.reason)
                if decision.end is SweepState.FINISHED:
                    self._reopen_if_extended(ctx, moment.created)
                self._reopen_if_retried(sweep_id, decision.end)
            return ended
        return False

    def _reopen_if_extended(self, ctx: SweepContext, created: int) -> None:
        """`extend` may have raised the run_cap of the running sweep between this step's read and its end:
        then the end judged an old budget, and the sweep runs again (atomically, as `extend` would re-open it)."""
        run_cap = self.store.get_sweep(ctx.sweep.id).run_cap
        if run_cap is not None and run_cap != ctx.spec.run_cap and run_cap > created:
            self.store.extend_sweep(ctx.sweep.id, run_cap, (), (SweepState.FINISHED,), extension.extended_reason(run_cap))
            log.info("sweep %s: running again, extended to run_cap=%d while it ended", ctx.sweep.id, run_cap)

    def _reopen_if_retried(self, sweep_id: str, end: SweepState) -> None:
        """`retry` may have queued trials of the running sweep again between this step's read and its end: then
        the end judged a sweep with nothing active, and it moves on as a retry moves an ended sweep, to run them."""
        waiting = len(self.store.retried_numbers(sweep_id))
        to = retry.SWEEP_MOVES.get(end)
        if not waiting or to is None:
            return
        if self.store.transition_sweep(sweep_id, to, [end], reason=retry.reopened_reason(waiting), ended_at=None):
            log.info("sweep %s: %s again, %d trial(s) retried while it ended", sweep_id, to.value, waiting)

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
                except StoreUnavailable as exc:
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
        now = time.monotonic()
        for sweep_id in self._contexts.keys() - set(live):
            # Out of the live set without this controller retiring it: deleted (`sweepctl delete`). Forget it.
            self._contexts.pop(sweep_id, None)
            self.ownership.forget(sweep_id)
        claim = self.ownership.claim(live, now)
        for sweep_id in claim.taken:
            # Another controller took it (we stalled past our lease): forget our copy.
            self._contexts.pop(sweep_id, None)
        owned = claim.owned
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
        self.ownership.forget(sweep_id)
        ctx = self._contexts.get(sweep_id)
        try:
            if ctx is not None and ctx.suggest_seconds:
                creation.write_stats(self.store, ctx)
            self.ownership.disown(sweep_id)
        except (StoreUnavailable, StoreError):
            pass
