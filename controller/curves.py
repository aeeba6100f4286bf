"""Learning curves for early termination, kept up to date incrementally from the store.

Only new metric points are read each pass (per-trial offsets into the Redis
history lists), for trials still queued or running and, once, for trials that
just finished; the early-stopping rules then judge the curves (pure).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from controller.early_stopping import TrialHistory, judge_curves
from sweepctl.records import MetricPoint, StopRequest
from sweepctl.spec import StoppingRule
from sweepctl.store import Outcome, Store


@dataclass
class Curves:
    """The sweep metric's (step, value) points per trial, and which bands each trial passed."""

    metric: str
    points: dict[int, list[tuple[int, float]]] = field(default_factory=dict)
    offsets: dict[int, int] = field(default_factory=dict)
    judged: dict[int, frozenset[int]] = field(default_factory=dict)

    def add(self, number: int, new: list[MetricPoint]) -> bool:
        """Append a trial's new points; steps that do not increase are dropped (the rules need order)."""
        self.offsets[number] = self.offsets.get(number, 0) + len(new)
        curve = self.points.setdefault(number, [])
        grew = False
        for point in new:
            if self.metric not in point.values:
                continue
            step = point.step if point.step is not None else (curve[-1][0] + 1 if curve else 1)
            if curve and step <= curve[-1][0]:
                continue
            value = point.values[self.metric]
            curve.append((step, value if not math.isnan(value) else math.nan))
            grew = True
        return grew

    def forget(self, number: int) -> None:
        """Drop a trial's curve: `retry` runs it again, and its new attempt's points start a new history from 0."""
        self.points.pop(number, None)
        self.offsets.pop(number, None)
        self.judged.pop(number, None)

    def histories(self, running: set[int]) -> dict[int, TrialHistory]:
        return {n: TrialHistory(number=n, running=n in running, points=tuple(pts)) for n, pts in self.points.items() if pts}


def stop_early(store: Store, sweep_id: str, policy: StoppingRule, curves: Curves, running: set[int], finished: list[int]) -> list[int]:
    """Read new points, judge the curves, and ask the workers of losing trials to stop; returns their numbers."""
    offsets = {n: curves.offsets.get(n, 0) for n in (*running, *finished)}
    grew = False
    for number, new in store.metric_points_since(sweep_id, offsets).items():
        grew = curves.add(number, new) or grew
    if not grew:
        return []
    judgement = judge_curves(policy, curves.histories(running), curves.judged)
    curves.judged = judgement.judged_after(curves.judged)
    stopped = []
    for decision in judgement.stops:
        attempt = store.trial_field(sweep_id, decision.number, "attempt")
        request = StopRequest(
            band=decision.band, value=decision.value, threshold=decision.threshold, reason=decision.reason, at=time.time()
        )
        if attempt is not None and store.request_stop(sweep_id, decision.number, int(attempt), request) is Outcome.OK:
            stopped.append(decision.number)
    return stopped
