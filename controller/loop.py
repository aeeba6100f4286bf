"""The controller loop: keep every live sweep supplied with trials, and end sweeps when they are done.

All state lives in Redis. A controller that is killed and restarted rebuilds
each sweep's suggester from the finished trials, re-sends trials it had
recorded but not yet handed to Celery, and carries on with the next trial
number: nothing finished is run again (a duplicate message is refused by the
worker's fenced claim).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from celery import Celery

from controller.scheduling import Plan, Snapshot, plan, trial_seed
from controller.suggester import Observation, Suggester, make_suggester
from sweepctl.celery_app import RUN_TRIAL_TASK
from sweepctl.lifecycle import cancel_queued_trials
from sweepctl.records import Sweep, SweepState, Trial, TrialState
from sweepctl.spec import SweepSpec
from sweepctl.store import Outcome, Store
from sweepctl.sweepfile import parse_sweep

log = logging.getLogger(__name__)

WAIT_SECONDS = 1.0
HEARTBEAT_SECONDS = 5.0
LIVE_WORKER_SECONDS = 15.0  # three missed worker heartbeats


@dataclass
class SweepContext:
    """What a controller keeps in memory for one sweep; all of it can be rebuilt from the store."""

    sweep: Sweep
    spec: SweepSpec
    suggester: Suggester
    finished_seen: int = 0  # position in the sweep's finished list already observed
    exhausted: bool = False
    last_plan: Plan = field(default_factory=Plan)


class Controller:
    """Creates trials with the sweep's suggester and sends them to Celery workers."""

    def __init__(self, store: Store, celery_app: Celery) -> None:
        self.store = store
        self.celery = celery_app
        self.id = f"{socket.gethostname()}/{os.getpid()}"
        self._contexts: dict[str, SweepContext] = {}

    # ---- one sweep ---------------------------------------------------------
    def _context(self, sweep_id: str) -> SweepContext:
        ctx = self._contexts.get(sweep_id)
        if ctx is None:
            sweep = self.store.get_sweep(sweep_id)
            spec = parse_sweep(sweep.raw_spec, source=sweep.source or sweep_id)
            ctx = SweepContext(sweep, spec, make_suggester(spec.method, spec.space, sweep.seed))
            self._contexts[sweep_id] = ctx
            self._resend_unsent(ctx)
        return ctx

    def _resend_unsent(self, ctx: SweepContext) -> None:
        """Trials recorded by an earlier controller that died before handing them to Celery."""
        sid = ctx.sweep.id
        for trial in self.store.get_trials(sid, self.store.active_numbers(sid)):
            if trial.state is TrialState.QUEUED and trial.sent_at is None:
                log.info("re-sending trial %s/%s", sid, trial.number)
                self._send(ctx, trial)

    def _observe_finished(self, ctx: SweepContext) -> None:
        sid = ctx.sweep.id
        numbers = self.store.finished_numbers(sid, ctx.finished_seen)
        if not numbers:
            return
        ctx.finished_seen += len(numbers)
        goal, space = ctx.spec.metric.goal, ctx.spec.space
        observations = [
            Observation(
                number=t.number,
                params=space.flatten(t.params),
                loss=goal.loss(t.objective) if t.state is TrialState.COMPLETED and t.objective is not None else None,
            )
            for t in self.store.get_trials(sid, numbers)
            if t.state is not TrialState.CANCELLED
        ]
        ctx.suggester.observe(observations)

    def _send(self, ctx: SweepContext, trial: Trial) -> None:
        self.celery.send_task(
            RUN_TRIAL_TASK,
            args=[trial.sweep_id, trial.number, trial.attempt],
            queue=ctx.spec.queue,
            task_id=f"{trial.sweep_id}.{trial.number}.{trial.attempt}",
        )
        self.store.update_trial(trial.sweep_id, trial.number, sent_at=time.time())

    def _create_trials(self, ctx: SweepContext, first_number: int, count: int) -> int:
        sid, created = ctx.sweep.id, 0
        for number in range(first_number, first_number + count):
            flat = ctx.suggester.suggest(number)
            if flat is None:
                ctx.exhausted = True
                break
            trial = Trial(
                sweep_id=sid,
                number=number,
                state=TrialState.QUEUED,
                params=ctx.spec.space.assemble(flat),
                seed=trial_seed(ctx.sweep.seed, number),
                created_at=time.time(),
            )
            outcome = self.store.create_trial(trial)
            if outcome is not Outcome.OK:
                log.info("trial %s/%s not created: %s", sid, number, outcome.value)
                break
            self._send(ctx, trial)
            created += 1
        return created

    def step(self, sweep_id: str) -> bool:
        """Bring one sweep up to date; True when something changed and another step may do more."""
        ctx = self._context(sweep_id)
        self._observe_finished(ctx)
        state = self.store.sweep_state(sweep_id)
        if state is SweepState.CANCELLED:
            cancel_queued_trials(self.store, sweep_id)
        active = len(self.store.active_numbers(sweep_id))
        if state.is_terminal:
            if active == 0:
                self.store.retire_sweep(sweep_id)
                self._contexts.pop(sweep_id, None)
            return False
        counts = self.store.counts(sweep_id)
        snap = Snapshot(
            state=state,
            created=self.store.trial_count(sweep_id),
            active=active,
            trial_failures=sum(n for s, n in counts.items() if s.is_trial_failure),
            best_objective=self.store.best_objective(sweep_id, ctx.spec.metric.goal),
            exhausted=ctx.exhausted,
            live_workers=len(self.store.workers(max_age=LIVE_WORKER_SECONDS)),
        )
        decision = plan(ctx.spec, snap)
        ctx.last_plan = decision
        if decision.create:
            created = self._create_trials(ctx, snap.created + 1, decision.create)
            return created > 0 or ctx.exhausted
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
        try:
            while not stop.is_set():
                if time.monotonic() >= next_beat:
                    self.store.heartbeat_controller(self.id)
                    next_beat = time.monotonic() + HEARTBEAT_SECONDS
                live = [s for s in self.store.live_sweep_ids() if only is None or s in only]
                if until_idle and not live:
                    return
                busy = False
                for sweep_id in live:
                    try:
                        busy = self.step(sweep_id) or busy
                    except Exception:
                        # One broken sweep must not starve the others; it is retried next pass.
                        log.exception("controller step failed for sweep %s", sweep_id)
                if on_pass is not None:
                    on_pass()
                if not busy:
                    self.store.wait_for_event(WAIT_SECONDS)
        finally:
            self.store.remove_controller(self.id)
