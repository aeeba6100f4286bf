"""Whether a value a trial received belongs to a parameter, and a parameter set to a search space: pure.

One answer for everything that reads old trials against a space that may have changed since they
ran: the warm start (which earlier trials a sweep learns from, `sweepctl.warm_trials`), `clone`'s
count of them, and the TPE engines' own check of each observation (`controller.suggesters`).

"Inside" is exact, give or take float noise (values travel through JSON, and the ones we suggested
were clamped): a number within the parameter's range of received values (`value_range`: exponents
turned into values for the legacy log distributions, int and q ranges ending on an allowed value),
an integer for int_uniform, a multiple of q for the q_ distributions, positive for the log ones,
the one value of a fixed parameter (a constant, one categorical value, min == max, sigma 0), one of
a categorical's values. A parameter set is inside a space when it has a value for every parameter
and none for a parameter the space lacks (a removed parameter: the trial ran with a value the new
sweep never gives).
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import Enum

from sweepctl.space import JSON, Distribution, Parameter, SearchSpace

# Relative slack when checking an observed number against the bounds: values
# we suggested were clamped, but may have travelled through JSON and back.
RANGE_SLACK = 1e-9
# How far from a whole number value / q may be and still be a multiple of q (0.3 / 0.1 is 2.9999999999999996).
MULTIPLE_SLACK = 1e-6
_EXPONENT_BOUNDS = frozenset({Distribution.LOG_UNIFORM, Distribution.Q_LOG_UNIFORM})
_BETA_RANGE = (0.0, 1.0)


class Misfit(str, Enum):
    """Why a value, or a parameter set, is outside a space."""

    NO_VALUE = "no value for it (a parameter added since)"
    NOT_IN_SPACE = "a parameter the space does not have (removed since)"
    NOT_A_NUMBER = "not a finite number"
    NOT_POSITIVE = "not positive (a log distribution)"
    OUT_OF_RANGE = "outside its range"
    NOT_AN_INTEGER = "not an integer"
    NOT_A_MULTIPLE = "not a multiple of its q"
    NOT_ITS_VALUE = "not one of its values"


@dataclass(frozen=True)
class Outside:
    """The first parameter (dotted name) that puts a parameter set outside a space, and why."""

    parameter: str
    why: Misfit

    def __str__(self) -> str:
        return f"{self.parameter}: {self.why.value}"


def json_key(value: JSON) -> str:
    """Equality key for categorical values: tuples equal lists, dict key order is ignored."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)


def is_number(value: object) -> bool:
    """Whether `value` is an int or float; bools are not numbers here."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Choices:
    """Finds which of a categorical parameter's `values` an observed value is."""

    def __init__(self, p: Parameter) -> None:
        self.p = p
        self._index_of: dict[str, int] = {}
        for i, value in enumerate(p.values):
            self._index_of.setdefault(json_key(value), i)

    def index(self, value: JSON) -> int | None:
        """The index of `value` among the values (the first when listed twice), or None."""
        found = self._index_of.get(json_key(value))
        if found is None and is_number(value):
            # 1 and 1.0 differ as JSON text but are the same choice.
            found = next((i for i, v in enumerate(self.p.values) if is_number(v) and v == value), None)
        return found


def value_range(p: Parameter) -> tuple[float, float] | None:
    """The closed range of values the program may receive, or None when unbounded.

    For int and quantized parameters the range ends on the extreme allowed
    integers / q-multiples. None too when no multiple lies within the bounds:
    then values are left as rounding made them (W&B does the same).
    """
    d = p.distribution
    if d.is_beta:
        lo, hi = _BETA_RANGE
    elif not d.is_bounded:
        return None
    else:
        lo, hi = _written_range(p)
    if d is Distribution.INT_UNIFORM:
        lo, hi = math.ceil(lo), math.floor(hi)
    elif d.is_quantized:
        lo, hi = math.ceil(lo / p.q - 1e-9) * p.q, math.floor(hi / p.q + 1e-9) * p.q
        lo, hi = p.coerce(lo), p.coerce(hi)
    return (lo, hi) if lo <= hi else None


def _written_range(p: Parameter) -> tuple[float, float]:
    """A bounded parameter's range of values, taken as written where possible: exp(log(0.1)) is 0.10000000000000002."""
    assert p.min is not None and p.max is not None, f"{p.name}: bounded without min/max"
    if p.distribution is Distribution.INV_LOG_UNIFORM:
        return math.exp(-p.max), math.exp(-p.min)
    if p.distribution in _EXPONENT_BOUNDS:
        return math.exp(p.min), math.exp(p.max)
    return p.min, p.max


def number_in_range(p: Parameter, value: JSON) -> float | None:
    """`value` as a float clamped into the parameter's range, or None when it does not fit.

    Fits: a finite number (positive for log distributions) within `value_range`,
    give or take float noise; the range is not checked when it is None.
    """
    return None if _number_misfit(p, value) is not None else _clamped(p, float(value))


def value_misfit(p: Parameter, value: JSON) -> Misfit | None:
    """Why `value` is not one the program could receive for `p` from this space; None when it is."""
    d = p.distribution
    if d is Distribution.CONSTANT:
        return None if same_value(value, p.value) else Misfit.NOT_ITS_VALUE
    if d is Distribution.CATEGORICAL:
        return None if Choices(p).index(value) is not None else Misfit.NOT_ITS_VALUE
    if (why := _number_misfit(p, value)) is not None:
        return why
    if d is Distribution.INT_UNIFORM and not float(value).is_integer():
        return Misfit.NOT_AN_INTEGER
    if d.is_quantized and not _is_multiple(value, p.q):
        return Misfit.NOT_A_MULTIPLE
    if d.is_normal and p.sigma == 0 and not _close(value, _normal_centre(p)):
        return Misfit.NOT_ITS_VALUE  # a normal with sigma 0 is always its mu
    return None


def space_misfit(space: SearchSpace, params: Mapping[str, JSON]) -> Outside | None:
    """The first reason the nested parameter set `params` is outside `space` (in file order, a parameter
    the space lacks last); None when every parameter has a value inside it and there is no other."""
    leaves = {p.path: p for p in space.parameters}
    for p in space.parameters:
        found, value = _lookup(params, p.path)
        if not found:
            return Outside(p.name, Misfit.NO_VALUE)
        if (why := value_misfit(p, value)) is not None:
            return Outside(p.name, why)
    groups = {p.path[:i] for p in space.parameters for i in range(1, len(p.path))}
    extra = _first_extra(params, (), leaves.keys(), groups)
    return None if extra is None else Outside(".".join(extra), Misfit.NOT_IN_SPACE)


def same_value(a: JSON, b: JSON) -> bool:
    """Whether two received values are the same value (1 and 1.0 are; True and 1 are not)."""
    return json_key(a) == json_key(b) or (is_number(a) and is_number(b) and a == b)


def _number_misfit(p: Parameter, value: JSON) -> Misfit | None:
    if not is_number(value) or not math.isfinite(value):
        return Misfit.NOT_A_NUMBER
    if p.distribution.is_log and value <= 0:
        return Misfit.NOT_POSITIVE
    bounds = value_range(p)
    if bounds is None:
        return None
    lo, hi = bounds
    slack = RANGE_SLACK * max(1.0, abs(lo), abs(hi))
    return None if lo - slack <= value <= hi + slack else Misfit.OUT_OF_RANGE


def _clamped(p: Parameter, value: float) -> float:
    bounds = value_range(p)
    return value if bounds is None else float(min(max(value, bounds[0]), bounds[1]))


def _is_multiple(value: float, q: float) -> bool:
    k = value / q
    return abs(k - round(k)) <= MULTIPLE_SLACK


def _normal_centre(p: Parameter) -> float:
    """The one value a normal-family parameter with sigma 0 gives: its mu (exp(mu) for the log ones), q-rounded."""
    centre = math.exp(p.mu) if p.distribution.is_log else p.mu
    return float(p.coerce(centre))


def _close(value: float, expected: float) -> bool:
    return abs(value - expected) <= RANGE_SLACK * max(1.0, abs(expected))


def _lookup(params: Mapping[str, JSON], path: tuple[str, ...]) -> tuple[bool, JSON]:
    node: JSON = params
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _first_extra(
    node: Mapping[str, JSON], prefix: tuple[str, ...], leaves: Collection[tuple[str, ...]], groups: set[tuple[str, ...]]
) -> tuple[str, ...] | None:
    """The path of the first key under `node` that is neither a parameter nor a group of the space."""
    for key, value in node.items():
        path = (*prefix, key)
        if path in leaves:
            continue
        if path in groups and isinstance(value, Mapping):
            if (extra := _first_extra(value, path, leaves, groups)) is not None:
                return extra
            continue
        return path
    return None
