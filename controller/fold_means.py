"""Early termination of k-fold trials against the store: read the running trials' completed folds, stop the hopeless.

The rule is `controller.fold_stopping` (pure); this reads what it needs (one round trip for the
sweep's queued and running trials, one for the completed trials' objectives, only when a trial has
completed enough folds to be judged) and stops what it decides (`Store.stop_folds`, one atomic step each).
"""

from __future__ import annotations

import logging
import time

from controller.context import SweepContext
from controller.fold_stopping import FoldProgress, judge_fold_means
from sweepctl.kfold import completed_values
from sweepctl.records import StopRequest, TrialState
from sweepctl.store import Outcome, Store

log = logging.getLogger(__name__)


def stop_hopeless_folds(store: Store, ctx: SweepContext) -> list[int]:
    """Stop the running k-fold trials whose completed folds' mean is worse than the median of completed trials; their numbers."""
    rule = ctx.fold_rule
    if rule is None or not ctx.pending:
        return []
    sweep_id = ctx.sweep.id
    running = [
        FoldProgress(t.number, completed_values(t.fold_objectives), t.folds)
        for t in store.get_trials(sweep_id, sorted(ctx.pending))
        if t.folds and t.state is TrialState.RUNNING and t.stop_requested is None
    ]
    if not any(len(p.completed) >= rule.min_iter and len(p.completed) > ctx.folds_judged.get(p.number, 0) for p in running):
        return []
    judgement = judge_fold_means(rule, store.completed_objectives(sweep_id), running, ctx.folds_judged)
    ctx.folds_judged = judgement.judged_after(ctx.folds_judged)
    stopped = []
    for decision in judgement.stops:
        request = StopRequest(
            band=decision.band, value=decision.value, threshold=decision.threshold, reason=decision.reason, at=time.time()
        )
        if store.stop_folds(sweep_id, decision.number, request) is Outcome.OK:
            stopped.append(decision.number)
    if stopped:
        log.info("sweep %s: stopping k-fold trials %s early (median rule on fold means)", sweep_id, stopped)
    return stopped
