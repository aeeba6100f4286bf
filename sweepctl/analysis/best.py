"""The best trial by any recorded metric: "best by accuracy, or by AUC?"."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from sweepctl.records import Trial, TrialState
from sweepctl.spec import Goal


def best_by_metric(trials: Iterable[Trial], metric: str, goal: Goal) -> Trial | None:
    """The completed trial whose final value of `metric` is best for `goal` (lowest number wins ties).

    Trials that never reported `metric`, or whose final value is NaN or infinite, do not compete;
    None when no completed trial is left.
    """
    candidates = [t for t in trials if t.state is TrialState.COMPLETED and math.isfinite(t.last_metrics.get(metric, math.nan))]
    if not candidates:
        return None
    return min(candidates, key=lambda t: (goal.loss(t.last_metrics[metric]), t.number))


def recorded_metrics(trials: Sequence[Trial]) -> list[str]:
    """Every metric name any of `trials` reported, sorted."""
    return sorted(set().union(*(t.last_metrics.keys() for t in trials)))
