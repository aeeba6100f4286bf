"""The Pareto front of a sweep with several objectives: the completed trials no other trial dominates.

Trial a dominates trial b when a is at least as good as b on every objective (each by
its own goal) and better on one. The front is every completed trial with a finite
value of each objective that no such trial dominates; trials with equal values do not
dominate each other, so both stay. `best`, the report and `importance` all read the
front from here, so they show the same trials.

The values are the trial's record: the first objective is its `objective` (what the
worker judged it by, as for one metric), the others its final values in `last_metrics`
(the worker fails a trial that did not report each one finite).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sweepctl.records import Trial, TrialState
from sweepctl.spec import MetricSpec

Losses = tuple[float, ...]  # one value per objective, each to minimize (the goal applied)


def objective_values(trial: Trial, objectives: Sequence[MetricSpec]) -> tuple[float, ...] | None:
    """The trial's value of each objective, in order; None unless it completed with every one finite."""
    if trial.state is not TrialState.COMPLETED or not objectives:
        return None
    values: list[float] = []
    for index, metric in enumerate(objectives):
        value = trial.objective if index == 0 else trial.last_metrics.get(metric.name)
        if value is None or isinstance(value, bool) or not math.isfinite(value):
            return None
        values.append(float(value))
    return tuple(values)


def losses(values: Sequence[float], objectives: Sequence[MetricSpec]) -> Losses:
    """`values` as losses: each objective's goal applied, so that lower is better on every one."""
    return tuple(metric.goal.loss(value) for value, metric in zip(values, objectives))


def dominates(a: Losses, b: Losses) -> bool:
    """Whether losses `a` are no worse than `b` on every objective and better on at least one."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def non_dominated(points: Sequence[Losses]) -> list[int]:
    """The indices of the points no other point dominates, in lexicographic order of the points (index on ties).

    Sorted lexicographically, a point can only be dominated by one before it, and if
    by any, then by one already on the front (dominance is transitive): each point is
    compared with the front so far, O(n log n + n * front size).
    """
    order = sorted(range(len(points)), key=lambda i: (points[i], i))
    front: list[int] = []
    for i in order:
        if not any(dominates(points[j], points[i]) for j in front):
            front.append(i)
    return front


@dataclass(frozen=True)
class ParetoFront:
    """The front of a sweep's trials: its trials, best first by the first objective, and their values.

    `values[i]` holds `trials[i]`'s value of each objective (in the objectives' order, as
    recorded, not as losses); `candidates` counts the trials that competed (completed,
    every objective finite).
    """

    objectives: tuple[MetricSpec, ...]
    trials: tuple[Trial, ...]
    values: tuple[tuple[float, ...], ...]
    candidates: int

    @property
    def numbers(self) -> tuple[int, ...]:
        return tuple(t.number for t in self.trials)

    def named_values(self, index: int) -> dict[str, float]:
        """Trial `index`'s value of each objective, by name."""
        return {metric.name: value for metric, value in zip(self.objectives, self.values[index])}


def pareto_front(trials: Iterable[Trial], objectives: Sequence[MetricSpec]) -> ParetoFront:
    """The Pareto front of `trials` for `objectives` (see the module docstring); empty when no trial competes."""
    ordered = sorted(trials, key=lambda t: t.number)  # equal values: the lower number first
    competing = [(t, values) for t in ordered if (values := objective_values(t, objectives)) is not None]
    points = [losses(values, objectives) for _, values in competing]
    on_front = non_dominated(points)  # lexicographic order of the losses: best first by the first objective
    return ParetoFront(
        objectives=tuple(objectives),
        trials=tuple(competing[i][0] for i in on_front),
        values=tuple(competing[i][1] for i in on_front),
        candidates=len(competing),
    )
