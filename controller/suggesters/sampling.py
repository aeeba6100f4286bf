"""Per-distribution sampling and clamping, shared by the suggesters.

Neutral ground beside the interface (`controller.suggester`), as optuna's
`_transform.py` is for its samplers: every engine imports it, it imports no
engine. Random search draws with it, TPE engines draw their start-up and fixed
values with it and clamp what their library returns, local search moves within
its bounds.

Sampling follows the W&B sweep semantics (wandb/sweeps `params.py`):
`log_uniform` and `q_log_uniform` bounds are natural-log exponents, the
`*_values` variants take the values themselves, `log_normal` is
exp(normal(mu, sigma)), quantized distributions round the draw to a multiple
of q. `inv_log_uniform` is exp(-u) for u uniform over [min, max]: uniform in
log space over [-max, -min]. `inv_log_uniform_values` is what W&B draws as
exp(-u) for u uniform over [-log(max), -log(min)]: uniform in log space over
[log(min), log(max)], the same law as `log_uniform_values` (1/X of a
log-uniform X is log-uniform). `beta` is Beta(a, b) over [0, 1]; the TPE
engines, which have no beta, model its quantile instead (`beta_value`,
`beta_quantile`). A normal with sigma 0 is always mu.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from sweepctl.space import JSON, Distribution, Parameter
from sweepctl.space_fit import value_range

_EXPONENT_BOUNDS = frozenset({Distribution.LOG_UNIFORM, Distribution.Q_LOG_UNIFORM})


def log_space_bounds(p: Parameter) -> tuple[float, float]:
    """The (low, high) a bounded parameter is uniform over: log-space for log distributions."""
    assert p.min is not None and p.max is not None, f"{p.name}: bounded without min/max"
    if p.distribution is Distribution.INV_LOG_UNIFORM:
        return -p.max, -p.min  # the value is exp(-u), u uniform over [min, max]
    if p.distribution in _EXPONENT_BOUNDS or not p.distribution.is_log:
        return p.min, p.max
    return math.log(p.min), math.log(p.max)


def beta_value(p: Parameter, quantile: float) -> JSON:
    """The value at `quantile` of a beta parameter's Beta(a, b), as the program receives it (q-rounded for q_beta).

    The TPE engines model a beta parameter by this quantile, uniform over [0, 1]
    (neither hyperopt nor Optuna has a beta): its prior is then exactly Beta(a, b).
    """
    from scipy import special  # only sweeps with a beta parameter under TPE pay for importing it

    return received_value(p, float(special.betaincinv(p.a, p.b, min(max(quantile, 0.0), 1.0))))


def beta_quantile(p: Parameter, value: float) -> float:
    """Where `value` lies in a beta parameter's Beta(a, b), in [0, 1]: the inverse of `beta_value` (for q_beta,
    the quantile of the rounded value itself)."""
    from scipy import special

    return float(special.betainc(p.a, p.b, min(max(value, 0.0), 1.0)))


def received_value(p: Parameter, raw: float) -> JSON:
    """Turn a numeric draw into the value the program receives, kept within `value_range`.

    Clamping matters at the edges: exp(log(max)) may exceed max by float noise,
    and rounding to q (or to an int) may step just outside the bounds.
    """
    value = p.coerce(float(raw))
    bounds = value_range(p)
    if bounds is not None:
        lo, hi = bounds
        if value < lo:
            value = lo
        elif value > hi:
            value = hi
    return value


def categorical_index(p: Parameter, rng: np.random.Generator) -> int:
    """Index into `p.values`, weighted by `p.probabilities` when given."""
    n = len(p.values)
    if p.probabilities is None:
        return int(rng.integers(n))
    weights = np.asarray(p.probabilities, dtype=float)
    # Normalised here so that probabilities summing to 1 +- float noise are accepted.
    return int(rng.choice(n, p=weights / weights.sum()))


def sample_parameter(p: Parameter, rng: np.random.Generator) -> JSON:
    """One draw of `p` from its prior, as the program receives it.

    Categorical and constant values are deep copies, so a caller mutating a
    suggestion cannot change the space.
    """
    d = p.distribution
    if d is Distribution.CONSTANT:
        return copy.deepcopy(p.value)
    if d is Distribution.CATEGORICAL:
        return copy.deepcopy(p.values[categorical_index(p, rng)])
    if d is Distribution.INT_UNIFORM:
        bounds = value_range(p)
        assert bounds is not None, f"{p.name}: int_uniform range holds no integer"
        return int(rng.integers(int(bounds[0]), int(bounds[1]) + 1))
    if d.is_beta:
        return received_value(p, float(rng.beta(p.a, p.b)))
    if d.is_bounded:
        raw = rng.uniform(*log_space_bounds(p))
    else:
        raw = rng.normal(p.mu, p.sigma)  # numpy's normal takes sigma 0: mu
    return received_value(p, math.exp(raw) if d.is_log else raw)
