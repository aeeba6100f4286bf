"""Which trials and points a figure draws, so that a sweep of 10,000 trials stays a page a browser opens quickly.

Deterministic: the same trials give the same sample (a report is reproducible, a live view does not flicker).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from sweepctl.records import Trial, TrialState

T = TypeVar("T")

POINTS_MAX = 2000  # trials per scatter (slices, parallel coordinates): the best half of them and an even spread of the rest
CURVES_MAX = 40  # learning curves drawn: the best trials' and the stopped ones'
CURVE_POINTS_MAX = 400  # points per learning curve


def evenly(items: Sequence[T], cap: int) -> list[T]:
    """At most `cap` items spread evenly over `items`, the first and the last kept, in their order."""
    if len(items) <= cap:
        return list(items)
    if cap <= 1:
        return list(items[-cap:]) if cap == 1 else []
    step = (len(items) - 1) / (cap - 1)
    return [items[round(i * step)] for i in range(cap)]


def best_and_spread(ranked: Sequence[Trial], cap: int = POINTS_MAX) -> list[Trial]:
    """From trials ranked best first: all when they fit, else the best cap/2 and an even spread of the others; by number."""
    if len(ranked) <= cap:
        chosen = list(ranked)
    else:
        top = cap // 2
        chosen = list(ranked[:top]) + evenly(sorted(ranked[top:], key=lambda t: t.number), cap - top)
    return sorted(chosen, key=lambda t: t.number)


def curve_trials(ranked: Sequence[Trial], trials: Sequence[Trial], cap: int = CURVES_MAX) -> list[Trial]:
    """The trials whose learning curves are drawn: the stopped ones (the latest, up to half the cap, more when
    fewer completed) and the best completed ones; by number."""
    stopped = sorted((t for t in trials if t.state is TrialState.STOPPED), key=lambda t: t.number)
    keep_stopped = max(cap // 2, cap - len(ranked))
    stopped = stopped[-keep_stopped:] if keep_stopped else []
    best = list(ranked[: cap - len(stopped)])
    return sorted(best + stopped, key=lambda t: t.number)
