"""Sweeps side by side: best objective, trials it took to reach it, failure rate, importance ranking, top-10% ranges.

Pure: sweep records, parsed files and trials in, a frozen `Comparison` out; the CLI table, its JSON and the HTML
page all show what `compare_sweeps` returns.

Definitions (each sweep on its own metric and goal):

- best: the best objective of a completed trial (lowest number wins ties), as `sweepctl best` picks it.
- trials to best: finished trials (any final state: a failure costs budget too), in the order they ended (by end
  time, then number; a finished trial with no end time last), counted up to and including the first whose
  objective is within BEST_TOLERANCE of the best (|value - best| <= 1e-12 * max(1, |best|)).
- failure rate: failed trials (the parameters' failures: failed, nan, timed_out; and the infrastructure's: killed,
  lost) over finished trials; stopped and cancelled trials are not failures. None before any trial finished.
- importance: `parameter_importance` of the sweep's metric, seeded with the sweep's seed; None (with the reason)
  when too few trials report it.
- top 10%: the best ceil(10%) of completed trials (at least one); each varying parameter of the sweep file gives
  min..max over them when every value is a number, else the distinct values seen; trials lacking it are counted.

Sweeps optimising different metrics or goals are compared as they are, with a warning saying so.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sweepctl.analysis.importance import InsufficientTrialsError, parameter_importance
from sweepctl.analysis.overview import flat_params, is_failure_state, ranked
from sweepctl.errors import ConfigError, NoMetricError
from sweepctl.records import Sweep, Trial, TrialState
from sweepctl.space import Distribution, SearchSpace
from sweepctl.spec import Goal, SweepSpec

BEST_TOLERANCE = 1e-12
TOP_SHARE = 0.10


@dataclass(frozen=True)
class SweepTrials:
    """What a comparison reads of one sweep: its record, its parsed file and all its trials."""

    sweep: Sweep
    spec: SweepSpec
    trials: Sequence[Trial]


@dataclass(frozen=True)
class RankedParameter:
    """One parameter's place in a sweep's importance ranking: its variance share and the share's 95% interval."""

    name: str
    importance: float
    importance_ci: tuple[float, float]


@dataclass(frozen=True)
class ImportanceRanking:
    """A sweep's parameters by importance, largest first, with the surrogate's fit and whether it is to be trusted."""

    trials: int
    r2: float
    trustworthy: bool
    parameters: tuple[RankedParameter, ...]


@dataclass(frozen=True)
class ParameterRange:
    """Where one parameter lay in a sweep's top trials: `low`..`high` for numbers, else the distinct `values` seen."""

    name: str
    low: float | None = None
    high: float | None = None
    values: tuple[Any, ...] = ()
    absent: int = 0  # top trials without this parameter (a conditional one, or one added later)

    @property
    def numeric(self) -> bool:
        return self.low is not None


@dataclass(frozen=True)
class SweepComparison:
    """One sweep's column of a comparison (see the module docstring for each definition)."""

    sweep_id: str
    name: str | None
    method: str
    metric: str
    goal: Goal
    trials: int
    by_state: dict[str, int]
    finished: int
    failed: int
    failure_rate: float | None
    best: float | None
    best_trial: int | None
    trials_to_best: int | None
    importance: ImportanceRanking | None
    importance_note: str  # why importance is missing, else ""
    top_trials: int
    top_ranges: tuple[ParameterRange, ...]
    best_so_far: tuple[float | None, ...] = field(repr=False)  # after each finished trial, in end order (the figure's curve)

    @property
    def completed(self) -> int:
        return self.by_state.get(TrialState.COMPLETED.value, 0)


@dataclass(frozen=True)
class Comparison:
    """Two or more sweeps side by side, and the warnings about how far they are comparable."""

    sweeps: tuple[SweepComparison, ...]
    warnings: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """Plain data at full precision (the best-so-far curves are left to the page)."""
        return {"sweeps": [_sweep_json(s) for s in self.sweeps], "warnings": list(self.warnings)}


def compare_sweeps(sweeps: Sequence[SweepTrials]) -> Comparison:
    """The comparison of `sweeps`, in the order given; ConfigError for fewer than two or one given twice."""
    ids = [s.sweep.id for s in sweeps]
    if len(sweeps) < 2:
        raise ConfigError(f"compare needs at least two sweeps, got {len(sweeps)}" + (f": {ids[0]}" if ids else ""))
    twice = sorted(i for i, n in Counter(ids).items() if n > 1)
    if twice:
        raise ConfigError(f"compare: sweep {', '.join(twice)} given more than once")
    return Comparison(tuple(summarize(s) for s in sweeps), comparability_warnings(sweeps))


def summarize(data: SweepTrials) -> SweepComparison:
    """One sweep's figures for a comparison."""
    spec, trials = data.spec, data.trials
    goal = spec.goal
    finished = finish_order(trials)
    failed = sum(1 for t in finished if is_failure_state(t.state))
    best = ranked(trials, goal)
    best_value = None if not best else float(best[0].objective or 0.0)
    importance, note = importance_ranking(data)
    top = top_trials(best)
    return SweepComparison(
        sweep_id=data.sweep.id,
        name=spec.name,
        method=spec.method.value,
        metric="" if spec.metric is None else spec.metric.name,
        goal=goal,
        trials=len(trials),
        by_state=dict(sorted(Counter(t.state.value for t in trials).items())),
        finished=len(finished),
        failed=failed,
        failure_rate=failed / len(finished) if finished else None,
        best=best_value,
        best_trial=best[0].number if best else None,
        trials_to_best=trials_to_best(finished, best_value),
        importance=importance,
        importance_note=note,
        top_trials=len(top),
        top_ranges=top_ranges(top, spec.space),
        best_so_far=best_so_far_curve(finished, goal),
    )


def finish_order(trials: Sequence[Trial]) -> list[Trial]:
    """Finished trials in the order they ended (end time, then number; one with no end time after the rest)."""
    done = [t for t in trials if t.state.is_finished]
    return sorted(done, key=lambda t: (t.ended_at is None, t.ended_at or 0.0, t.number))


def reached(value: float, best: float) -> bool:
    """Whether `value` is the best, to BEST_TOLERANCE (relative past magnitude 1)."""
    return abs(value - best) <= BEST_TOLERANCE * max(1.0, abs(best))


def trials_to_best(finished: Sequence[Trial], best: float | None) -> int | None:
    """How many of `finished` (in end order) had ended when a trial first reached `best`; None without a best."""
    if best is None:
        return None
    for position, t in enumerate(finished, start=1):
        if t.state is TrialState.COMPLETED and t.objective is not None and reached(float(t.objective), best):
            return position
    return None


def best_so_far_curve(finished: Sequence[Trial], goal: Goal) -> tuple[float | None, ...]:
    """The best objective after each of `finished` (in end order); None until one completed."""
    curve: list[float | None] = []
    best: float | None = None
    for t in finished:
        if t.state is TrialState.COMPLETED and t.objective is not None:
            value = float(t.objective)
            best = value if best is None or goal.loss(value) < goal.loss(best) else best
        curve.append(best)
    return tuple(curve)


def importance_ranking(data: SweepTrials) -> tuple[ImportanceRanking | None, str]:
    """The sweep's importance ranking of its own metric, or None and why."""
    metric = data.spec.metric
    if metric is None:
        return None, str(NoMetricError(data.spec.name))
    try:
        report = parameter_importance(
            data.trials, data.spec.space, metric.name, metric.goal, seed=data.sweep.seed, objective_metric=metric.name
        )
    except InsufficientTrialsError as exc:
        return None, str(exc)
    parameters = tuple(RankedParameter(p.name, p.importance, p.importance_ci) for p in report.parameters)
    return ImportanceRanking(report.trials, report.r2, report.trustworthy, parameters), ""


def top_trials(ranked_trials: Sequence[Trial], share: float = TOP_SHARE) -> list[Trial]:
    """The best ceil(share) of completed trials ranked best first; at least one when any completed."""
    if not ranked_trials:
        return []
    return list(ranked_trials[: max(1, math.ceil(share * len(ranked_trials)))])


def top_ranges(top: Sequence[Trial], space: SearchSpace) -> tuple[ParameterRange, ...]:
    """Each varying parameter's range over `top`, in the sweep file's order; none when `top` is empty."""
    if not top:
        return ()
    flat = [flat_params(t.params) for t in top]
    ranges = []
    for parameter in space.parameters:
        if parameter.distribution is Distribution.CONSTANT:
            continue
        present = [p[parameter.name] for p in flat if parameter.name in p]
        ranges.append(parameter_range(parameter.name, present, absent=len(flat) - len(present)))
    return tuple(ranges)


def parameter_range(name: str, values: Sequence[Any], absent: int = 0) -> ParameterRange:
    """min..max when every value is a finite number, else the distinct values (sorted by their JSON)."""
    if values and all(_is_number(v) for v in values):
        return ParameterRange(name, low=float(min(values)), high=float(max(values)), absent=absent)
    distinct = {json.dumps(v, sort_keys=True): v for v in values}
    return ParameterRange(name, values=tuple(distinct[k] for k in sorted(distinct)), absent=absent)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def comparability_warnings(sweeps: Sequence[SweepTrials]) -> tuple[str, ...]:
    """Plain warnings when the sweeps optimise different metrics or goals, or search different parameters."""
    warnings = []
    metrics = {s.sweep.id: s.spec.metric for s in sweeps}
    if len({None if m is None else m.name for m in metrics.values()}) > 1:
        listed = ", ".join(f"{sid}: {'no metric' if m is None else m.name}" for sid, m in metrics.items())
        warnings.append(f"the sweeps optimise different metrics ({listed}): their bests are not comparable")
    goals = {sid: m.goal for sid, m in metrics.items() if m is not None}
    if len(set(goals.values())) > 1:
        listed = ", ".join(f"{sid}: {goal.value}" for sid, goal in goals.items())
        warnings.append(f"the sweeps have different goals ({listed}): a better best means opposite things")
    names = {s.sweep.id: {p.name for p in s.spec.space.parameters if p.distribution is not Distribution.CONSTANT} for s in sweeps}
    common = set.intersection(*names.values())
    if any(n != common for n in names.values()):
        only = "; ".join(f"only {sid}: {', '.join(sorted(n - common))}" for sid, n in names.items() if n - common)
        warnings.append(f"the sweeps search different parameters ({only}): importance rankings and ranges differ in scope")
    return tuple(warnings)


def _sweep_json(s: SweepComparison) -> dict[str, Any]:
    importance = None if s.importance is None else {
        "trials": s.importance.trials,
        "r2": s.importance.r2,
        "trustworthy": s.importance.trustworthy,
        "parameters": [
            {"name": p.name, "importance": p.importance, "importance_ci": list(p.importance_ci)} for p in s.importance.parameters
        ],
    }
    return {
        "id": s.sweep_id,
        "name": s.name,
        "method": s.method,
        "metric": {"name": s.metric, "goal": s.goal.value},
        "trials": s.trials,
        "by_state": s.by_state,
        "completed": s.completed,
        "finished": s.finished,
        "failed": s.failed,
        "failure_rate": s.failure_rate,
        "best": None if s.best_trial is None else {"number": s.best_trial, "objective": s.best},
        "trials_to_best": s.trials_to_best,
        "importance": importance,
        "importance_note": s.importance_note or None,
        "top": {"trials": s.top_trials, "ranges": [_range_json(r) for r in s.top_ranges]},
    }


def _range_json(r: ParameterRange) -> dict[str, Any]:
    bounds: dict[str, Any] = {"min": r.low, "max": r.high} if r.numeric else {"values": list(r.values)}
    return {"name": r.name, **bounds, "absent": r.absent}
