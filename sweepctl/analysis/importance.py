"""Parameter importance: which hyperparameters the objective's variance comes from, and how sure we are.

Two measures per parameter, side by side:

- importance: the share of the metric's variance explained by the parameter's main effect
  (first-order Sobol' index, Var(E[y | x]) / Var(y)), read from the trials themselves (a
  given-data estimator): the metric's mean in bins of the parameter (one per value, or
  sqrt(trials) equal-count bins up to MAX_BINS), the variance of those means less their own
  sampling noise (so a parameter with no effect reads about 0). A forest's partial dependence
  was tried first and measured biased low on oscillating effects (Ishigami's x2: 0.29 against
  0.44 at 1,000 trials), as Optuna's fANOVA is (analysis notes).
- correlation: Spearman rank correlation of the parameter with the metric as recorded, with a
  Fisher-z interval (Bonett-Wright standard error). Categorical values are ranked in the order
  the sweep file lists them (numbers by value), so for unordered categories it only tells a
  direction along that order.

Confidence: the importance interval is a bootstrap over trials (RESAMPLES resamples, centred
on the full data's share, 2.5-97.5 percentiles, clipped to [0, 1]). How far the parameters
explain the metric at all is r2: the out-of-bag R² of a scikit-learn ExtraTrees surrogate over
all parameters (interactions included). Everything is seeded: the same trials and seed give the
same report.

Which trials count: finished trials with a finite value of the metric. Parameters are the
space's leaves (nested ones by dotted name) that vary; constants are left out. Numbers on a log
scale are taken as logarithms; categorical values are codes; a value a trial lacks (a parameter
added to the space later, or a conditional one) is missing, not guessed: the trees route it
on its own, and the main effect counts "missing" as one more bin.

A report is `trustworthy` when at least TRUST_MIN_TRIALS trials count and r2 >= TRUST_MIN_R2;
fewer than MIN_TRIALS trials (or a metric that never changes) raise InsufficientTrialsError.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sweepctl.errors import SweepError
from sweepctl.records import Trial, TrialState
from sweepctl.space import Distribution, Parameter, SearchSpace
from sweepctl.spec import Goal, MetricSpec

MIN_TRIALS = 10  # below this no surrogate is fitted at all
TRUST_MIN_TRIALS = 50  # Determined's hp-importance asks for 50 too
TRUST_MIN_R2 = 0.5  # a surrogate explaining less than half the variance out of sample is not trusted
TREES = 64
MAX_FIT_ROWS = 2000  # each tree is fitted on a bootstrap sample of at most this many trials
RESAMPLES = 200  # bootstrap resamples of the trials behind each interval
MAX_BINS = 32  # a parameter's main effect is read over at most this many bins of its values (sqrt(trials) when fewer)
_Array = NDArray[np.float64]


class InsufficientTrialsError(SweepError):
    """Raised when too few finished trials report the metric (or it never changes) to estimate importance."""


@dataclass(frozen=True)
class ParameterImportance:
    """One parameter's importance (variance share of its main effect) and rank correlation, each with a 95% interval."""

    name: str
    importance: float
    importance_ci: tuple[float, float]
    correlation: float
    correlation_ci: tuple[float, float]


@dataclass(frozen=True)
class ImportanceReport:
    """Importance of every varying parameter for one metric, sorted by importance (largest first)."""

    metric: str
    trials: int
    r2: float
    trustworthy: bool
    parameters: tuple[ParameterImportance, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "trials": self.trials,
            "r2": self.r2,
            "trustworthy": self.trustworthy,
            "parameters": [
                {
                    "name": p.name,
                    "importance": p.importance,
                    "importance_ci": list(p.importance_ci),
                    "correlation": p.correlation,
                    "correlation_ci": list(p.correlation_ci),
                }
                for p in self.parameters
            ],
        }


def parameter_importance(
    trials: Sequence[Trial],
    space: SearchSpace,
    metric: str,
    goal: Goal,
    *,
    seed: int = 0,
    objective_metric: str | None = None,
    objectives: Collection[str] = (),
) -> ImportanceReport:
    """The importance report of `metric` over `trials` (see the module docstring for what counts and how).

    Pass the sweep's metric name as `objective_metric`: when `metric` is it, a trial's value is its
    objective (completed trials only); otherwise the metric's last reported value (any finished
    trial). A sweep with several objectives passes their names as `objectives`: each is read from
    completed trials only, as the first is. Neither measure depends on `goal`: variance shares are
    symmetric, and correlations are with the metric as recorded (a reader uses `goal` to tell which
    sign is better).
    """
    del goal  # see the docstring: the numbers do not depend on the direction
    objective, completed_only = metric == objective_metric, metric in objectives
    counted = [
        (t, value) for t in trials if (value := metric_value(t, metric, objective=objective, completed_only=completed_only)) is not None
    ]
    y = np.array([v for _, v in counted], dtype=float)
    if len(counted) < MIN_TRIALS:
        raise InsufficientTrialsError(
            f"importance of {metric!r} needs at least {MIN_TRIALS} finished trials reporting it, got {len(counted)}"
        )
    if float(np.ptp(y)) == 0.0:
        raise InsufficientTrialsError(f"importance of {metric!r}: it has the same value in all {len(counted)} trials, nothing to explain")
    varying = [p for p in space.parameters if p.distribution is not Distribution.CONSTANT]
    encoded = [encode_column(p, [t.params for t, _ in counted]) for p in varying]
    columns = [(p, c) for p, c in zip(varying, encoded) if _varies(c)]
    rng = np.random.default_rng(seed)
    x = np.column_stack([c for _, c in columns]) if columns else np.zeros((len(y), 1))
    shares, r2 = _shares(x, y, rng)
    parameters = [
        ParameterImportance(p.name, *_share_summary(shares, i), *spearman_interval(c, y)) for i, (p, c) in enumerate(columns)
    ]
    parameters.sort(key=lambda p: (-p.importance, p.name))
    trustworthy = len(counted) >= TRUST_MIN_TRIALS and r2 >= TRUST_MIN_R2
    return ImportanceReport(metric=metric, trials=len(counted), r2=r2, trustworthy=trustworthy, parameters=tuple(parameters))


def importance_by_objective(
    trials: Sequence[Trial], space: SearchSpace, objectives: Sequence[MetricSpec], *, seed: int = 0
) -> list[tuple[str, ImportanceReport | InsufficientTrialsError]]:
    """Each objective of a sweep with several, in order: its report, or why it has none (too few trials, a constant)."""
    names = [m.name for m in objectives]
    found: list[tuple[str, ImportanceReport | InsufficientTrialsError]] = []
    for m in objectives:
        try:
            report = parameter_importance(trials, space, m.name, m.goal, seed=seed, objective_metric=names[0], objectives=names)
            found.append((m.name, report))
        except InsufficientTrialsError as exc:
            found.append((m.name, exc))
    return found


def metric_value(trial: Trial, metric: str, *, objective: bool, completed_only: bool = False) -> float | None:
    """The trial's finite final value of `metric` (its `objective` if asked), or None: unfinished (or, `completed_only`,
    not completed), not reported, NaN or infinite."""
    if not trial.state.is_finished or (completed_only and trial.state is not TrialState.COMPLETED):
        return None
    value = trial.objective if objective else trial.last_metrics.get(metric)
    if value is None or isinstance(value, bool):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def encode_column(parameter: Parameter, params: Sequence[Any]) -> _Array:
    """One parameter's values as numbers: logs for log scales, codes for categories, NaN where missing."""
    raw = [_lookup(p, parameter.path) for p in params]
    if parameter.distribution is Distribution.CATEGORICAL:
        return _category_codes(parameter, raw)
    out = np.full(len(raw), np.nan)
    for i, value in enumerate(raw):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            if not parameter.distribution.is_log:
                out[i] = float(value)
            elif value > 0:
                out[i] = math.log(value)
    return out


_MISSING = object()


def _lookup(params: Any, path: tuple[str, ...]) -> Any:
    node = params
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _category_codes(parameter: Parameter, raw: Sequence[Any]) -> _Array:
    """Codes by the file's order, or by value when every value is a number; unknown values are missing."""
    values = list(parameter.values)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        values.sort()
    codes = {json.dumps(v, sort_keys=True): float(i) for i, v in enumerate(values)}
    return np.array([np.nan if v is _MISSING else codes.get(json.dumps(v, sort_keys=True), np.nan) for v in raw])


def _varies(column: _Array) -> bool:
    present = column[~np.isnan(column)]
    return bool(present.size) and (float(np.ptp(present)) > 0 or present.size < column.size)


def _shares(x: _Array, y: _Array, rng: np.random.Generator) -> tuple[_Array, float]:
    """Main-effect shares of every column: RESAMPLES bootstrap rows, then the full data's; and the out-of-bag R²."""
    n = len(y)
    # Imported here: scikit-learn takes about a second to import, which every `sweepctl` command would pay.
    from sklearn.ensemble import ExtraTreesRegressor

    model = ExtraTreesRegressor(
        n_estimators=TREES,
        bootstrap=True,
        oob_score=True,
        max_samples=min(n, MAX_FIT_ROWS),
        min_samples_leaf=2,
        max_features=1.0,
        random_state=int(rng.integers(2**31)),
        n_jobs=1,
    )
    model.fit(x, y)
    r2 = float(model.oob_score_)
    bins = [_bins(x[:, j], n) for j in range(x.shape[1])]
    variance = float(np.var(y))
    rows = [rng.integers(0, n, size=n) for _ in range(RESAMPLES)] + [np.arange(n)]
    shares = np.array([[_main_effect(y[r], b[r], int(b.max()) + 1) / variance for b in bins] for r in rows])
    return shares, r2


def _bins(column: _Array, n: int) -> NDArray[np.int64]:
    """Each trial's bin of the parameter: one per value when few, else equal-count quantile bins; missing is a bin of its own."""
    count = min(MAX_BINS, max(2, int(math.sqrt(n))))
    missing = np.isnan(column)
    present = column[~missing]
    unique = np.unique(present)
    if unique.size <= count:
        codes = np.searchsorted(unique, np.where(missing, unique[0], column))
    else:
        edges = np.quantile(present, np.arange(1, count) / count)
        codes = np.searchsorted(edges, np.where(missing, present[0], column), side="right")
    return np.where(missing, int(codes.max()) + 1, codes).astype(np.int64)


def _main_effect(values: _Array, bins: NDArray[np.int64], count: int) -> float:
    """Var(E[y | bin]): the variance of the bin means, each bin weighted by its share of the rows, less the part
    that is only the bin means' own sampling noise (sum of within-bin variances over n), so no effect reads ~0."""
    sizes = np.bincount(bins, minlength=count).astype(float)
    sums = np.bincount(bins, weights=values, minlength=count)
    squares = np.bincount(bins, weights=values * values, minlength=count)
    filled = sizes > 0
    means = sums[filled] / sizes[filled]
    weights = sizes[filled] / sizes.sum()
    between = float(np.dot(weights, (means - float(np.dot(weights, means))) ** 2))
    several = sizes > 1
    within = (squares[several] - sums[several] ** 2 / sizes[several]) / (sizes[several] - 1)
    return between - float(within.sum()) / sizes.sum()


def _share_summary(shares: _Array, j: int) -> tuple[float, tuple[float, float]]:
    """A parameter's share (the last row: all trials) and its 95% bias-centred percentile interval over the resamples, within [0, 1]."""
    point = float(shares[-1, j])
    resampled = shares[:-1, j]
    # resamples repeat trials, which hides within-bin noise and lifts every share: centre them on the full data's share
    low, high = np.percentile(resampled - (resampled.mean() - point), [2.5, 97.5])
    point = float(np.clip(point, 0.0, 1.0))
    return point, (float(np.clip(low, 0.0, 1.0)), float(np.clip(high, 0.0, 1.0)))


def spearman_interval(column: _Array, y: _Array) -> tuple[float, tuple[float, float]]:
    """Spearman's rho of the parameter (where present) with the metric, and a 95% Fisher-z interval."""
    present = ~np.isnan(column)
    n = int(present.sum())
    if n < 4 or np.ptp(column[present]) == 0:
        return 0.0, (-1.0, 1.0)
    rho = float(np.corrcoef(_ranks(column[present]), _ranks(y[present]))[0, 1])
    if not math.isfinite(rho):
        return 0.0, (-1.0, 1.0)
    z = math.atanh(max(-0.999999, min(0.999999, rho)))
    half = 1.959964 * math.sqrt((1 + rho * rho / 2) / (n - 3))
    return rho, (math.tanh(z - half), math.tanh(z + half))


def _ranks(values: _Array) -> _Array:
    """Average ranks (ties share their mean rank), as Spearman's rho needs."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(values.size)
    ranks[order] = np.arange(values.size, dtype=float)
    unique, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return np.asarray(sums[inverse] / counts[inverse], dtype=float)
