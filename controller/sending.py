"""Handing trial attempts to Celery from the controller, remembering those the broker did not take.

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


def publish(app: Celery, ctx: SweepContext, trial: Trial) -> bool:
    """Send the trial's attempt; False (and the trial kept in `ctx.unsent` for the next pass) when the broker is down."""
    try:
        send_attempt(app, trial.sweep_id, trial.number, trial.attempt, ctx.spec.queue)
    except StoreUnavailable as exc:
        log.warning("could not send trial %s/%s: %s; will retry", trial.sweep_id, trial.number, exc.__cause__ or exc)
        ctx.unsent[trial.number] = trial
        return False
    ctx.unsent.pop(trial.number, None)
    return True


def send(store: Store, app: Celery, ctx: SweepContext, trial: Trial) -> None:
    """Hand a trial attempt to Celery and record that it was sent; if the broker is unreachable, try again next pass."""
    if publish(app, ctx, trial):
        store.mark_sent(trial.sweep_id, [trial.number], time.time())
