"""Handing trial attempts to Celery from the controller, remembering those the broker did not take.

A k-fold trial is sent as one message per fold; a fold's record (`Trial.fold` set) as its own message.
Below the decisions (recovery and creation both send); above only `context`.
"""

from __future__ import annotations

import logging
import time

from controller.context import SweepContext
from sweepctl.celery_app import Attempt, Celery, send_attempt, send_attempts
from sweepctl.errors import StoreUnavailable
from sweepctl.records import Trial
from sweepctl.store import Store

log = logging.getLogger(__name__)


def messages(trial: Trial) -> list[int | None]:
    """The folds whose messages sending `trial` takes: every fold of a k-fold trial not yet claimed (a trial's record,
    QUEUED: each fold is at attempt 1, as `trial.attempt`), the one fold of a fold's record, or None for a trial of one task."""
    if trial.fold is not None:
        return [trial.fold]
    return list(range(trial.folds)) if trial.folds else [None]


def publish(app: Celery, ctx: SweepContext, trial: Trial) -> bool:
    """Send the trial's attempt (each fold's, for a k-fold trial); False (and the trial kept in `ctx.unsent` for the
    next pass, when a fold sent already is sent again: the claim runs one) when the broker is down."""
    key = (trial.number, trial.fold)
    try:
        for fold in messages(trial):
            send_attempt(app, trial.sweep_id, trial.number, trial.attempt, ctx.spec.queue, fold)
    except StoreUnavailable as exc:
        log.warning("could not send trial %s/%s: %s; will retry", trial.sweep_id, trial.number, exc.__cause__ or exc)
        ctx.unsent[key] = trial
        return False
    ctx.unsent.pop(key, None)
    return True


def publish_all(app: Celery, ctx: SweepContext, trials: list[Trial]) -> list[Trial]:
    """Send the trials' attempts (each fold's, for a k-fold trial) in one round trip to Redis, as `publish` sends one:
    the trials sent, all of them, or none when the broker is down (then kept in `ctx.unsent` for the next pass).

    One round trip for a batch, not one per trial: a controller creating for a thousand workers spent a third of
    its time waiting for each message's LPUSH to come back (benchmarks/scale.py)."""
    attempts = [Attempt(t.sweep_id, t.number, t.attempt, ctx.spec.queue, fold) for t in trials for fold in messages(t)]
    try:
        send_attempts(app, attempts)
    except StoreUnavailable as exc:
        log.warning("could not send %d trial(s) of sweep %s: %s; will retry", len(trials), ctx.sweep.id, exc.__cause__ or exc)
        for trial in trials:
            ctx.unsent[(trial.number, trial.fold)] = trial
        return []
    for trial in trials:
        ctx.unsent.pop((trial.number, trial.fold), None)
    return trials


def send(store: Store, app: Celery, ctx: SweepContext, trial: Trial) -> None:
    """Hand a trial attempt to Celery and record that it was sent; if the broker is unreachable, try again next pass."""
    if not publish(app, ctx, trial):
        return
    if trial.fold is None:
        store.mark_sent(trial.sweep_id, [trial.number], time.time())
    else:
        store.update_trial(trial.sweep_id, trial.number, fold=trial.fold, sent_at=time.time())
