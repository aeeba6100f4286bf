"""Whether a value a finished trial received still belongs to its parameter.

Engines that learn from observations check each one before telling it to their
model: the sweep file may have changed since the trial ran (a warm start, an
edited space), and values travel through JSON. These helpers answer for one
parameter; what to do with a misfit (skip it, warn) is the engine's business.
"""

from __future__ import annotations

import json
import math

from controller.suggesters.sampling import value_range
from sweepctl.space import JSON, Parameter

# Relative slack when checking an observed number against the bounds: values
# we suggested were clamped, but may have travelled through JSON and back.
RANGE_SLACK = 1e-9


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


def number_in_range(p: Parameter, value: JSON) -> float | None:
    """`value` as a float clamped into the parameter's range, or None when it does not fit.

    Fits: a finite number (positive for log distributions) within `value_range`,
    give or take float noise; the range is not checked when it is None.
    """
    if not is_number(value) or not math.isfinite(value):
        return None
    if p.distribution.is_log and value <= 0:
        return None
    bounds = value_range(p)
    if bounds is None:
        return float(value)
    lo, hi = bounds
    slack = RANGE_SLACK * max(1.0, abs(lo), abs(hi))
    if not lo - slack <= value <= hi + slack:
        return None
    return float(min(max(value, lo), hi))

