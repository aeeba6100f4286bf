"""Per-distribution sampling and clamping, shared by the suggesters.

Neutral ground beside the interface (`controller.suggester`), as optuna's
`_transform.py` is for its samplers: every engine imports it, it imports no
engine. Random search draws with it, TPE engines draw their start-up and fixed
values with it and clamp what their library returns, local search moves within
its bounds.

Sampling follows the W&B sweep semantics: `log_uniform` and `q_log_uniform`
bounds are natural-log exponents, the `*_values` variants take the values
themselves, `log_normal` is exp(normal(mu, sigma)), quantized distributions
round the draw to a multiple of q.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from sweepctl.space import JSON, Distribution, Parameter

_EXPONENT_BOUNDS = frozenset({Distribution.LOG_UNIFORM, Distribution.Q_LOG_UNIFORM})


def log_space_bounds(p: Parameter) -> tuple[float, float]:
    """The (low, high) a bounded parameter is uniform over: log-space for log distributions."""
    assert p.min is not None and p.max is not None, f"{p.name}: bounded without min/max"
    if p.distribution in _EXPONENT_BOUNDS or not p.distribution.is_log:
        return p.min, p.max
    return math.log(p.min), math.log(p.max)


def value_range(p: Parameter) -> tuple[float, float] | None:
    """The closed range of values the program may receive, or None when unbounded.

    For int and quantized parameters the range ends on the extreme allowed
    integers / q-multiples. None too when no multiple lies within the bounds:
    then values are left as rounding made them (W&B does the same).
    """
    d = p.distribution
    if not d.is_bounded:
        return None
    assert p.min is not None and p.max is not None, f"{p.name}: bounded without min/max"
    # Taken as written where possible: exp(log(0.1)) is 0.10000000000000002.
    lo, hi = (math.exp(p.min), math.exp(p.max)) if d in _EXPONENT_BOUNDS else (p.min, p.max)
    if d is Distribution.INT_UNIFORM:
        lo, hi = math.ceil(lo), math.floor(hi)
    elif d.is_quantized:
        lo, hi = math.ceil(lo / p.q - 1e-9) * p.q, math.floor(hi / p.q + 1e-9) * p.q
        lo, hi = p.coerce(lo), p.coerce(hi)
    return (lo, hi) if lo <= hi else None


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
    if d.is_bounded:
        raw = rng.uniform(*log_space_bounds(p))
    else:
        raw = rng.normal(p.mu, p.sigma)
    return received_value(p, math.exp(raw) if d.is_log else raw)
