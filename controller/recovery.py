"""Recovery decisions: attempts whose worker was lost, trials whose Celery message was, trials a pause held back,
and trials `retry` queued again.

Each function reads the store for one sweep (or the lease set) and returns what
to send again, or takes one trial back (one fenced write); the loop sends and
decides when to look. A k-fold trial's folds are recovered one by one, as trials
are: a lost fold's worker re-runs that fold alone, a fold's lost message sends that
fold again (what is returned to send is then the fold's record, `Trial.fold` set).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, replace

from controller.context import SweepContext
from sweepctl.records import LossReason, Trial, TrialState
from sweepctl.store import Requeue, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TakenBack:
    """What taking back one expired attempt did; `resend` is the new attempt to send, if it was re-queued."""

    result: Requeue
    resend: Trial | None = None

    @property
    def reaped(self) -> bool:
        """Whether the trial (or fold) left its lost worker (re-queued, recorded LOST, or a stopping trial's fold ended)."""
        return self.result in (Requeue.REQUEUED, Requeue.LOST, Requeue.STOPPED)


def expired_leases(store: Store, owned: Collection[str]) -> list[tuple[str, int, int | None]]:
    """(sweep id, number, fold or None) of running trials and folds of `owned` sweeps whose worker lease expired."""
    return [lease for lease in store.expired_leases() if lease[0] in owned]


def take_back(store: Store, ctx: SweepContext, number: int, fold: int | None = None) -> TakenBack:
    """Re-queue trial `number` (its fold `fold` alone, of a k-fold trial) as its next attempt, or record it LOST after
    the sweep's max_retries (a fold LOST ends its trial)."""
    sweep_id = ctx.sweep.id
    what = f"trial {sweep_id}/{number}" + ("" if fold is None else f" fold {fold}")
    result = store.requeue_trial(sweep_id, number, max_lost=ctx.spec.max_retries, reason=LossReason.LEASE_EXPIRED.value, fold=fold)
    if result is Requeue.REQUEUED:
        trial = store.get_trial(sweep_id, number, fold=fold)
        log.warning("%s: worker lost, re-queued as attempt %s", what, trial.attempt)
        return TakenBack(result, trial)
    if result is Requeue.LOST:
        log.warning("%s: worker lost too often, recorded lost", what)
    return TakenBack(result)


def lost_messages(store: Store, ctx: SweepContext, now: float, lost_after: float) -> list[Trial]:
    """The sweep's queued trials whose Celery message is gone: send them again.

    A message can vanish without its trial being claimed: Redis killed within
    its AOF fsync second, or a worker that took the message and lost the broker
    before its claim (the message then sits in kombu's unacked set until the
    visibility timeout, 12 h); or never be sent, when Redis died between applying
    the trial's creation and replying. Such a trial stays queued while its queue
    is empty, which a waiting message never is. Sending the same attempt again is
    harmless: the worker's claim lets one delivery of an attempt run.
    """
    sweep_id = ctx.sweep.id
    active = store.active_numbers(sweep_id)
    if not active or store.waiting_messages(ctx.spec.queue) > 0:
        return []
    # A trial held back by a pause has no message on purpose: `held_back` sends it on resume;
    # one `retry` queued again has none yet: `retried` sends it (once the sweep may start it).
    waiting = set(active) - store.held_numbers(sweep_id) - store.retried_numbers(sweep_id)
    lost = []
    for trial in queued(store, store.get_trials(sweep_id, sorted(waiting))):
        # Never sent at all counts too: Redis can apply a create and lose the reply,
        # so this controller never learnt the trial exists.
        since = trial.sent_at or trial.created_at
        if (trial.number, trial.fold) not in ctx.unsent and now - since > lost_after:
            what = f"trial {sweep_id}/{trial.number}" + ("" if trial.fold is None else f" fold {trial.fold}")
            log.warning("%s: queued %.0f s with no message waiting; sending it", what, now - since)
            ctx.pending[trial.number] = ctx.spec.space.flatten(trial.params)
            lost.append(trial)
    return lost


def queued(store: Store, trials: list[Trial]) -> list[Trial]:
    """What of `trials` waits for a message: the QUEUED ones (a QUEUED k-fold trial: every fold, a message each) and
    the QUEUED folds of a RUNNING k-fold trial, as their fold records (one not sent alone since was sent with its trial:
    the trial's `sent_at` is its own)."""
    running = [t for t in trials if t.folds and t.state is TrialState.RUNNING]
    folds = store.get_folds(trials[0].sweep_id, running) if running else {}
    found: list[Trial] = []
    for trial in trials:
        if trial.state is TrialState.QUEUED:
            found.append(trial)
        for fold in folds.get(trial.number, ()):
            if fold.state is TrialState.QUEUED:
                found.append(replace(fold, sent_at=fold.sent_at or trial.sent_at))
    return found


def never_sent(store: Store, ctx: SweepContext) -> list[Trial]:
    """Trials recorded by an earlier controller that died before handing them to Celery.

    Also records every active trial as pending in `ctx`, for the suggester's constant liar.
    """
    sweep_id = ctx.sweep.id
    unsent = []
    for trial in store.get_trials(sweep_id, store.active_numbers(sweep_id)):
        ctx.pending[trial.number] = ctx.spec.space.flatten(trial.params)
        if trial.state is TrialState.QUEUED and trial.sent_at is None:
            log.info("re-sending trial %s/%s", sweep_id, trial.number)
            unsent.append(trial)
    return unsent


def held_back(store: Store, ctx: SweepContext) -> list[Trial]:
    """Queued trials a worker held back while the sweep was paused: send them again, now that it may start them.

    The held numbers are taken from the store before sending: a trial held again meanwhile (the
    sweep paused anew) is taken next time, and one lost with a controller that died before sending
    is still queued with no message, which `lost_messages` finds.
    """
    sweep_id = ctx.sweep.id
    held = store.get_trials(sweep_id, store.take_held(sweep_id))
    trials = queued(store, held) if held else []
    if trials:
        log.info("sweep %s runs again: sending %d trial(s) held back by the pause", sweep_id, len(trials))
    return trials


@dataclass(frozen=True)
class RetriedTrials:
    """Trials `retry` queued again, as the controller took them up: all of them, and those to send now."""

    numbers: tuple[int, ...] = ()
    send: tuple[Trial, ...] = ()


def retried(store: Store, ctx: SweepContext) -> RetriedTrials:
    """Take up the trials `retry` queued again as a new attempt: each becomes pending and its old curve is
    dropped (the new attempt's history starts empty); those not sent yet are to send (a restarted
    controller's `never_sent` may have sent them first).

    The numbers are taken from the store before sending, as `held_back` does: one queued again by a later
    retry is taken next time, and one lost with a controller that died before sending is still queued
    and unsent, which the next controller's `never_sent` finds.
    """
    sweep_id = ctx.sweep.id
    trials = [t for t in store.get_trials(sweep_id, store.take_retried(sweep_id)) if not t.state.is_finished]
    for trial in trials:
        ctx.pending[trial.number] = ctx.spec.space.flatten(trial.params)
        if ctx.curves is not None:
            ctx.curves.forget(trial.number)
    if trials:
        log.info("sweep %s: trials %s run again (retry)", sweep_id, [t.number for t in trials])
    unsent = tuple(t for t in trials if t.state is TrialState.QUEUED and t.sent_at is None)
    return RetriedTrials(tuple(t.number for t in trials), unsent)
