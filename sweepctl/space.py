"""The search space: leaf parameters with their distributions, and nested assignments.

A sweep file may nest `parameters` (W&B style); the space keeps a flat tuple of
leaf `Parameter`s, each with its `path` in the nesting. Suggesters work on flat
assignments keyed by `Parameter.name` (the dotted path); programs receive the
nested form built by `SearchSpace.assemble`.

A name may itself hold dots, as W&B allows (`model.lr`, Hydra and Lightning
style): it stays ONE key of the parameter set, one element of `path`, as W&B's
agent passes it (`--model.lr=...`). Only `parameters:` groups nest. The parser
refuses a file where a dotted name and a group spell the same dotted path
(`model.lr` beside `model: {parameters: {lr: ...}}`), so `name` stays unique.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

JSON = Any  # a JSON-compatible value: None, bool, int, float, str, list, dict
FlatAssignment = dict[str, JSON]


class Distribution(str, Enum):
    """The W&B sweep distributions (every one of W&B's schema), with W&B's meaning.

    Sampling (`controller.suggesters.sampling`) follows W&B's `sweeps` package:
    `log_uniform`, `q_log_uniform` and `inv_log_uniform` take natural-log
    exponents as min/max, the `*_values` variants the values themselves;
    `inv_log_uniform` is exp(-u) for u uniform over [min, max], so its values
    lie in [exp(-max), exp(-min)], and `inv_log_uniform_values` is 1/X for X
    log-uniform over [1/max, 1/min]: both are log-uniform over their values
    (the inverse of a log-uniform variable is one). `beta` is Beta(a, b) over
    [0, 1]; the q_ variants round the draw to a multiple of q.
    """

    CONSTANT = "constant"
    CATEGORICAL = "categorical"
    UNIFORM = "uniform"
    INT_UNIFORM = "int_uniform"
    Q_UNIFORM = "q_uniform"
    LOG_UNIFORM = "log_uniform"  # bounds are natural-log exponents (W&B legacy)
    LOG_UNIFORM_VALUES = "log_uniform_values"  # bounds are the values themselves
    Q_LOG_UNIFORM = "q_log_uniform"
    Q_LOG_UNIFORM_VALUES = "q_log_uniform_values"
    NORMAL = "normal"
    Q_NORMAL = "q_normal"
    LOG_NORMAL = "log_normal"
    Q_LOG_NORMAL = "q_log_normal"
    INV_LOG_UNIFORM = "inv_log_uniform"  # bounds are natural-log exponents of 1/value (W&B legacy)
    INV_LOG_UNIFORM_VALUES = "inv_log_uniform_values"  # bounds are the values themselves
    BETA = "beta"
    Q_BETA = "q_beta"

    @property
    def is_bounded(self) -> bool:
        """Whether the distribution takes `min` and `max`."""
        return self in _BOUNDED

    @property
    def is_quantized(self) -> bool:
        """Whether the distribution takes `q` (values are multiples of q)."""
        return self in _QUANTIZED

    @property
    def is_log(self) -> bool:
        """Whether the distribution is uniform or normal in log space."""
        return self in _LOG

    @property
    def is_normal(self) -> bool:
        """Whether the distribution takes `mu` and `sigma`."""
        return self in _NORMAL

    @property
    def is_beta(self) -> bool:
        """Whether the distribution takes `a` and `b` (values in [0, 1])."""
        return self in (Distribution.BETA, Distribution.Q_BETA)


_BOUNDED = frozenset(
    {
        Distribution.UNIFORM,
        Distribution.INT_UNIFORM,
        Distribution.Q_UNIFORM,
        Distribution.LOG_UNIFORM,
        Distribution.LOG_UNIFORM_VALUES,
        Distribution.Q_LOG_UNIFORM,
        Distribution.Q_LOG_UNIFORM_VALUES,
        Distribution.INV_LOG_UNIFORM,
        Distribution.INV_LOG_UNIFORM_VALUES,
    }
)
_QUANTIZED = frozenset(
    {
        Distribution.Q_UNIFORM,
        Distribution.Q_LOG_UNIFORM,
        Distribution.Q_LOG_UNIFORM_VALUES,
        Distribution.Q_NORMAL,
        Distribution.Q_LOG_NORMAL,
        Distribution.Q_BETA,
    }
)
_LOG = frozenset(
    {
        Distribution.LOG_UNIFORM,
        Distribution.LOG_UNIFORM_VALUES,
        Distribution.Q_LOG_UNIFORM,
        Distribution.Q_LOG_UNIFORM_VALUES,
        Distribution.LOG_NORMAL,
        Distribution.Q_LOG_NORMAL,
        Distribution.INV_LOG_UNIFORM,
        Distribution.INV_LOG_UNIFORM_VALUES,
    }
)
_NORMAL = frozenset(
    {Distribution.NORMAL, Distribution.Q_NORMAL, Distribution.LOG_NORMAL, Distribution.Q_LOG_NORMAL}
)


@dataclass(frozen=True)
class Parameter:
    """One leaf hyperparameter.

    Fields not used by `distribution` keep their defaults. `min`/`max` are as
    written in the sweep file (for LOG_UNIFORM, Q_LOG_UNIFORM and
    INV_LOG_UNIFORM they are exponents); `q` is 1.0 when a quantized
    distribution does not give one; `a` and `b` shape the beta ones.
    """

    path: tuple[str, ...]
    distribution: Distribution
    value: JSON = None
    values: tuple[JSON, ...] = ()
    probabilities: tuple[float, ...] | None = None
    min: float | None = None
    max: float | None = None
    q: float = 1.0
    mu: float = 0.0
    sigma: float = 1.0
    a: float = 1.0
    b: float = 1.0

    @property
    def name(self) -> str:
        """The dotted path, unique within a space (the parser sees to it): the key of flat assignments."""
        return ".".join(self.path)

    @property
    def is_fixed(self) -> bool:
        """Whether the parameter can take one value only: a constant, one value, min == max, or sigma 0.

        A normal with sigma 0 is its mu (W&B allows it); TPE engines and local
        search leave such parameters out of what they model.
        """
        d = self.distribution
        if d is Distribution.CONSTANT:
            return True
        if d is Distribution.CATEGORICAL:
            return len(self.values) == 1
        if d.is_normal:
            return self.sigma == 0
        return d.is_bounded and self.min == self.max

    def grid_values(self) -> tuple[JSON, ...] | None:
        """Every value a grid search visits, or None when the parameter is continuous."""
        d = self.distribution
        if d is Distribution.CONSTANT:
            return (self.value,)
        if d is Distribution.CATEGORICAL:
            return self.values
        if d is Distribution.INT_UNIFORM:
            assert self.min is not None and self.max is not None
            return tuple(range(int(self.min), int(self.max) + 1))
        if d is Distribution.Q_UNIFORM:
            assert self.min is not None and self.max is not None
            lo, hi = math.ceil(self.min / self.q), math.floor(self.max / self.q)
            return tuple(_clean_float(k * self.q) for k in range(lo, hi + 1))
        return None

    def coerce(self, raw: float) -> JSON:
        """Turn an engine's numeric draw into the value a program receives."""
        if self.distribution is Distribution.INT_UNIFORM:
            return round(raw)  # an int for Python and numpy floats alike
        if self.distribution.is_quantized:
            return _clean_float(round(raw / self.q) * self.q)
        return float(raw)


def _clean_float(x: float) -> float | int:
    """Drop float noise from q-multiples (0.30000000000000004 -> 0.3); ints stay ints."""
    rounded = round(x, 12)
    return int(rounded) if float(rounded).is_integer() and abs(rounded) < 2**53 else rounded


@dataclass(frozen=True)
class SearchSpace:
    """The leaf parameters of a sweep, in file order."""

    parameters: tuple[Parameter, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    def assemble(self, flat: Mapping[str, JSON]) -> dict[str, JSON]:
        """Nest a flat assignment by parameter path: {"opt.lr": 1} -> {"opt": {"lr": 1}}."""
        nested: dict[str, JSON] = {}
        for p in self.parameters:
            node = nested
            for part in p.path[:-1]:
                node = node.setdefault(part, {})
            node[p.path[-1]] = flat[p.name]
        return nested

    def flatten(self, nested: Mapping[str, JSON]) -> FlatAssignment:
        """Inverse of `assemble`."""
        flat: FlatAssignment = {}
        for p in self.parameters:
            node: Any = nested
            for part in p.path:
                node = node[part]
            flat[p.name] = node
        return flat
