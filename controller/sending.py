"""Handing trial attempts to Celery from the controller, remembering those the broker did not take.

A k-fold trial is sent as one message per fold; a fold's record (`Trial.fold` set) as its own message.
Below the decisions (recovery and creation both send); above only `context`.
"""

from __future__ import annotations

import logging
import time

from controller.context import SweepContext
from sweepctl.celery_app import Celery, send_attempt
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


def send(store: Store, app: Celery, ctx: SweepContext, trial: Trial) -> None:
    """Hand a trial attempt to Celery and record that it was sent; if the broker is unreachable, try again next pass."""
    if not publish(app, ctx, trial):
        return
    if trial.fold is None:
        store.mark_sent(trial.sweep_id, [trial.number], time.time())
    else:
        store.update_trial(trial.sweep_id, trial.number, fold=trial.fold, sent_at=time.time())
