"""The `parameters` section of a sweep file: W&B parameter specs to `Parameter`s.

A spec is a mapping; its distribution is named by `distribution` or, as W&B
does, inferred: `value` is constant, `values` categorical, `min`/`max`
int_uniform when both are integers and uniform otherwise, and `parameters`
opens a nested group whose leaves get the group names in their `path`.
Names are W&B's: any non-empty string, dots included (`model.lr` is one name,
one key of the parameter set, as W&B passes `--model.lr=...`).

Where W&B's schema allows a value its own sampler cannot use, the parser is
stricter and says why: a beta's `a` and `b` must be > 0 (W&B allows 0, where
scipy's Beta is undefined and every draw is NaN). The exponent-bound
distributions W&B's schema check now refuses at the top level as deprecated
(log_uniform, q_log_uniform, inv_log_uniform) are kept, with a note.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sweepctl import _validate as v
from sweepctl.space import Distribution, Parameter

MAX_PARAMETERS = 1000
MAX_VALUES = 10_000
MAX_GRID_POINTS = 1_000_000
# Names in a leaf's path: W&B files nest two or three; the bound keeps every
# recursive walk over a parameter set (programs, workers, Celery) shallow.
MAX_PARAMETER_DEPTH = 10
# The largest parameter set a trial can get, as JSON: it travels whole in
# SWEEPCTL_PARAMS and in ${args_json} (one argv element, at most 128 KiB on
# Linux), next to ${args}, in one launcher message of at most 1 MiB.
MAX_SET_BYTES = 64 * 1024
# The longest JSON spelling of a float (-2.2250738585072014e-308): numeric draws are never longer.
_NUMBER_BYTES = 24

_DISTRIBUTIONS = tuple(d.value for d in Distribution)
# W&B's older spelling of a categorical with probabilities.
_ALIASES = {"categorical_w_probabilities": Distribution.CATEGORICAL}
_GRID_READY = frozenset(
    {Distribution.CONSTANT, Distribution.CATEGORICAL, Distribution.INT_UNIFORM, Distribution.Q_UNIFORM}
)
_POSITIVE_BOUNDS = frozenset(
    {Distribution.LOG_UNIFORM_VALUES, Distribution.Q_LOG_UNIFORM_VALUES, Distribution.INV_LOG_UNIFORM_VALUES}
)
# W&B's schema check refuses these at the top level ("deprecated"): their min/max are natural-log exponents.
_EXPONENT_BOUNDS = {
    Distribution.LOG_UNIFORM: Distribution.LOG_UNIFORM_VALUES,
    Distribution.Q_LOG_UNIFORM: Distribution.Q_LOG_UNIFORM_VALUES,
    Distribution.INV_LOG_UNIFORM: Distribution.INV_LOG_UNIFORM_VALUES,
}


def parse_parameters(problems: v.Problems, raw: Any, *, grid: bool) -> tuple[Parameter, ...] | None:
    """The leaf parameters of the `parameters` section, in file order, or None when invalid.

    With `grid`, every leaf must have finitely many values and the grid must
    stay below MAX_GRID_POINTS.
    """
    leaves: list[Parameter] = []
    before = len(problems)
    _group(problems, "parameters", raw, (), leaves)
    if len(leaves) > MAX_PARAMETERS:
        problems.add("parameters", f"expected at most {MAX_PARAMETERS} parameters, got {len(leaves)}")
    elif grid:
        _check_grid(problems, leaves)
    _check_names_unique(problems, leaves)
    if len(problems) == before:
        check_set_size(problems, "parameters", [(p.path, _largest_value_bytes(p)) for p in leaves])
    return tuple(leaves) if len(problems) == before else None


def check_set_size(problems: v.Problems, path: str, leaves: list[tuple[tuple[str, ...], int]]) -> None:
    """Report a parameter set over MAX_SET_BYTES; `leaves` are (parameter path, value bytes as JSON)."""
    sizes = [(_leaf_bytes(names, size), names) for names, size in leaves]
    total = sum(size for size, _ in sizes)
    if total > MAX_SET_BYTES:
        largest, names = max(sizes)
        problems.add(
            path,
            f"expected a parameter set of at most {MAX_SET_BYTES:,} bytes as JSON ({MAX_SET_BYTES // 1024} KiB), got up to {total:,}"
            f" (the largest part: {'.'.join(names)}, {largest:,} bytes)",
        )


def largest_set_bytes(leaves: tuple[Parameter, ...]) -> int:
    """The most bytes a parameter set of these leaves can take as JSON (see `_leaf_bytes`)."""
    return sum(_leaf_bytes(p.path, _largest_value_bytes(p)) for p in leaves)


def _leaf_bytes(names: tuple[str, ...], value_bytes: int) -> int:
    """A leaf's value plus each name in its path as a JSON key with its punctuation (`"name": {`, `}, `).

    Never less than the leaf takes in SWEEPCTL_PARAMS, `${args_json}` or `--a.b=value`.
    """
    return sum(v.encoded_size(name) + 6 for name in names) + value_bytes


def _check_names_unique(problems: v.Problems, leaves: list[Parameter]) -> None:
    """Report a leaf whose dotted name another leaf already has (`a.b` beside `a: {parameters: {b: ...}}`)."""
    seen: dict[str, Parameter] = {}
    for leaf in leaves:
        first = seen.setdefault(leaf.name, leaf)
        if first is not leaf:
            problems.add(
                field_path(leaf.path),
                f"names the same parameter {leaf.name!r} as {field_path(first.path)}; sweepctl's tables, exports, "
                "importance and warm_start name a parameter by its dotted path, so rename one of them",
            )


def field_path(parameter_path: tuple[str, ...]) -> str:
    """Where a leaf is written in the file: ("opt", "lr") -> parameters.opt.parameters.lr."""
    return "parameters." + ".parameters.".join(parameter_path)


def _group(problems: v.Problems, path: str, raw: Any, prefix: tuple[str, ...], leaves: list[Parameter]) -> None:
    group = v.mapping(problems, path, raw, "a mapping of parameter names to parameter specs")
    if group is None:
        return
    if len(prefix) >= MAX_PARAMETER_DEPTH:
        problems.add(path, f"expected parameter groups nested at most {MAX_PARAMETER_DEPTH} levels deep")
        return
    if not group:
        problems.add(path, "must not be empty")
    for name, spec in group.items():
        if not isinstance(name, str) or not name.strip():
            problems.add(v.child(path, name), f"expected a parameter name (a non-empty string), got {v.describe(name)}")
        else:
            _parameter(problems, v.child(path, name), spec, (*prefix, name), leaves)


def _parameter(
    problems: v.Problems, path: str, spec: Any, param_path: tuple[str, ...], leaves: list[Parameter]
) -> None:
    if not isinstance(spec, Mapping):
        problems.add(
            path,
            "expected a parameter spec (a mapping with value, values, min and max, distribution "
            f"or parameters), got {v.describe(spec)}",
        )
        return
    if "parameters" in spec:
        v.check_keys(problems, path, spec, ("parameters",))
        _group(problems, v.child(path, "parameters"), spec["parameters"], param_path, leaves)
        return
    distribution = _distribution(problems, path, spec)
    if distribution is None:
        return
    v.check_keys(problems, path, spec, _allowed_keys(distribution))
    before = len(problems)
    fields = _FIELDS[_kind(distribution)](problems, path, spec, distribution)
    if distribution in _EXPONENT_BOUNDS:
        problems.note(
            v.child(path, "distribution"),
            f"{distribution.value}: min and max are natural-log exponents, as W&B's earlier versions read them; "
            f"W&B's schema check now refuses it at the top level as deprecated (use {_EXPONENT_BOUNDS[distribution].value} "
            "to give the values themselves); sweepctl keeps it",
        )
    if len(problems) == before:
        leaves.append(Parameter(path=param_path, distribution=distribution, **fields))


def _distribution(problems: v.Problems, path: str, spec: Mapping[str, Any]) -> Distribution | None:
    named = spec.get("distribution", v.MISSING)
    if named is not v.MISSING:
        if isinstance(named, str) and named in _ALIASES:
            if "probabilities" not in spec:
                problems.add(v.child(path, "probabilities"), f"required by distribution {named}")
            return _ALIASES[named]
        name = v.choice(problems, v.child(path, "distribution"), named, _DISTRIBUTIONS, "distribution")
        return None if name is None else Distribution(name)
    if "value" in spec:
        return Distribution.CONSTANT
    if "values" in spec:
        return Distribution.CATEGORICAL
    if "min" in spec or "max" in spec:
        both_ints = v.is_int(spec.get("min")) and v.is_int(spec.get("max"))
        return Distribution.INT_UNIFORM if both_ints else Distribution.UNIFORM
    problems.add(
        path,
        "cannot tell the distribution: expected value, values, min and max, parameters or distribution, "
        f"got keys: {', '.join(map(str, spec)) or 'none'}",
    )
    return None


def _kind(distribution: Distribution) -> str:
    if distribution is Distribution.CONSTANT:
        return "constant"
    if distribution is Distribution.CATEGORICAL:
        return "categorical"
    if distribution.is_beta:
        return "beta"
    return "bounded" if distribution.is_bounded else "normal"


def _allowed_keys(distribution: Distribution) -> tuple[str, ...]:
    keys = {
        "constant": ("distribution", "value"),
        "categorical": ("distribution", "values", "probabilities"),
        "bounded": ("distribution", "min", "max"),
        "normal": ("distribution", "mu", "sigma"),
        "beta": ("distribution", "a", "b"),
    }[_kind(distribution)]
    return (*keys, "q") if distribution.is_quantized else keys


def _constant(problems: v.Problems, path: str, spec: Mapping[str, Any], _: Distribution) -> dict[str, Any]:
    value = spec.get("value", v.MISSING)
    if value is v.MISSING:
        problems.add(v.child(path, "value"), "required")
    elif (why := v.json_problem(value)) is not None:
        problems.add(v.child(path, "value"), why)
    return {"value": value}


def _categorical(problems: v.Problems, path: str, spec: Mapping[str, Any], _: Distribution) -> dict[str, Any]:
    values_path = v.child(path, "values")
    values = spec.get("values", v.MISSING)
    if values is v.MISSING:
        problems.add(values_path, "required")
        return {}
    if not isinstance(values, list):
        problems.add(values_path, f"expected a list of values, got {v.describe(values)}")
        return {}
    if not values:
        problems.add(values_path, "must not be empty")
    elif len(values) > MAX_VALUES:
        problems.add(values_path, f"expected at most {MAX_VALUES} values, got {len(values)}")
    for index, value in enumerate(values):
        if (why := v.json_problem(value)) is not None:
            problems.add(v.item(values_path, index), why)
    probabilities = None
    if "probabilities" in spec:
        probabilities = _probabilities(problems, v.child(path, "probabilities"), spec["probabilities"], len(values))
    return {"values": tuple(values), "probabilities": probabilities}


def _probabilities(problems: v.Problems, path: str, raw: Any, count: int) -> tuple[float, ...] | None:
    if not isinstance(raw, list):
        problems.add(path, f"expected a list of numbers, one per value, got {v.describe(raw)}")
        return None
    if len(raw) != count:
        problems.add(path, f"expected {count} probabilities (one per value), got {len(raw)}")
        return None
    checked = [v.number(problems, v.item(path, i), p, ge=0) for i, p in enumerate(raw)]
    if any(p is None for p in checked):
        return None
    total = math.fsum(p for p in checked if p is not None)
    if abs(total - 1.0) > 1e-6:
        problems.add(path, f"expected probabilities summing to 1, got a sum of {total:g}")
        return None
    return tuple(float(p) for p in checked if p is not None)


def _bounded(problems: v.Problems, path: str, spec: Mapping[str, Any], distribution: Distribution) -> dict[str, Any]:
    bounds: list[float | None] = []
    for key in ("min", "max"):
        raw, key_path = spec.get(key, v.MISSING), v.child(path, key)
        if distribution is Distribution.INT_UNIFORM:
            bounds.append(v.integer(problems, key_path, raw))
        else:
            bounds.append(v.number(problems, key_path, raw, gt=0 if distribution in _POSITIVE_BOUNDS else None))
    low, high = bounds
    if low is not None and high is not None and low > high:
        problems.add(v.child(path, "max"), f"expected min <= max, got min={low!r} max={high!r}")
    return {"min": low, "max": high, **_quantum(problems, path, spec, distribution)}


def _normal(problems: v.Problems, path: str, spec: Mapping[str, Any], distribution: Distribution) -> dict[str, Any]:
    mu = v.number(problems, v.child(path, "mu"), spec.get("mu", 0.0))
    # sigma 0, which W&B allows, is a parameter that is always mu (exp(mu) for the log ones).
    sigma = v.number(problems, v.child(path, "sigma"), spec.get("sigma", 1.0), ge=0)
    fields = {"mu": float(mu) if mu is not None else 0.0, "sigma": float(sigma) if sigma is not None else 1.0}
    return {**fields, **_quantum(problems, path, spec, distribution)}


def _beta(problems: v.Problems, path: str, spec: Mapping[str, Any], distribution: Distribution) -> dict[str, Any]:
    shape: dict[str, float] = {}
    for key in ("a", "b"):
        raw = spec.get(key, 1.0)
        if v.is_number(raw) and raw == 0:
            problems.add(
                v.child(path, key),
                "expected a finite number > 0, got 0 (W&B's schema allows 0, but Beta(a, b) needs a > 0 and b > 0: "
                "W&B's sampler draws NaN for every trial)",
            )
            continue
        checked = v.number(problems, v.child(path, key), raw, gt=0)
        shape[key] = float(checked) if checked is not None else 1.0
    return {**shape, **_quantum(problems, path, spec, distribution)}


def _quantum(problems: v.Problems, path: str, spec: Mapping[str, Any], distribution: Distribution) -> dict[str, Any]:
    if not distribution.is_quantized:
        return {}
    q = v.number(problems, v.child(path, "q"), spec.get("q", 1.0), gt=0)
    return {"q": float(q) if q is not None else 1.0}


_FIELDS = {"constant": _constant, "categorical": _categorical, "bounded": _bounded, "normal": _normal, "beta": _beta}


def _largest_value_bytes(leaf: Parameter) -> int:
    """The longest value `leaf` can take, as JSON."""
    if leaf.distribution is Distribution.CONSTANT:
        return v.encoded_size(leaf.value)
    if leaf.distribution is Distribution.CATEGORICAL:
        return max(v.encoded_size(value) for value in leaf.values)
    if leaf.distribution is Distribution.INT_UNIFORM:
        assert leaf.min is not None and leaf.max is not None
        return max(len(str(int(leaf.min))), len(str(int(leaf.max))), _NUMBER_BYTES)
    return _NUMBER_BYTES


def _check_grid(problems: v.Problems, leaves: list[Parameter]) -> None:
    points: float = 1
    for leaf in leaves:
        size = _grid_size(leaf)
        if size is None:
            problems.add(
                field_path(leaf.path),
                f"method grid needs values, int_uniform or q_uniform; got {leaf.distribution.value}",
            )
        elif size == 0:
            problems.add(field_path(leaf.path), f"no multiple of q={leaf.q:g} lies between min and max")
        else:
            points *= size
    if points > MAX_GRID_POINTS:
        problems.add("parameters", f"expected a grid of at most {MAX_GRID_POINTS:,} points, got {points:,}")


def _grid_size(leaf: Parameter) -> int | float | None:
    """len(leaf.grid_values()) without building it: an int_uniform may span billions."""
    if leaf.distribution not in _GRID_READY:
        return None
    if leaf.distribution is Distribution.INT_UNIFORM:
        assert leaf.min is not None and leaf.max is not None
        return int(leaf.max) - int(leaf.min) + 1
    if leaf.distribution is Distribution.Q_UNIFORM:
        assert leaf.min is not None and leaf.max is not None
        low, high = leaf.min / leaf.q, leaf.max / leaf.q
        if not (math.isfinite(low) and math.isfinite(high)):
            return math.inf
        return max(0, math.floor(high) - math.ceil(low) + 1)
    return len(leaf.grid_values() or ())
