"""The `warm_start` block of a sweep file (a sweepctl extension): given points and earlier sweeps."""

from __future__ import annotations

import copy
from typing import Any

from sweepctl import _validate as v
from sweepctl._parameters import check_set_size
from sweepctl.space import Distribution, Parameter, SearchSpace


def parse_warm_start(
    problems: v.Problems, raw: Any, parameters: tuple[Parameter, ...] | None
) -> tuple[tuple[dict[str, Any], ...], tuple[str, ...]]:
    """`warm_start: {points: [{param: value, ...}], sweeps: [sweep id, ...]}` (sweepctl extension).

    Points are nested like the sweep's parameters and must give every varying
    parameter (constants may be left out); they become the first trials.
    """
    if raw is v.MISSING:
        return (), ()
    if not isinstance(raw, dict):
        problems.add("warm_start", f"expected a mapping with points and/or sweeps, got {v.describe(raw)}")
        return (), ()
    v.check_keys(problems, "warm_start", raw, ("points", "sweeps"))
    points_raw, sweeps_raw = raw.get("points", []), raw.get("sweeps", [])
    points: list[dict[str, Any]] = []
    if not isinstance(points_raw, list):
        problems.add("warm_start.points", f"expected a list of parameter mappings, got {v.describe(points_raw)}")
    else:
        space = SearchSpace(parameters or ())
        for i, point in enumerate(points_raw):
            path = v.item("warm_start.points", i)
            if not isinstance(point, dict):
                problems.add(path, f"expected a mapping of parameter values, got {v.describe(point)}")
                continue
            try:
                flat = space.flatten(_with_constants(point, parameters or ()))
            except (KeyError, TypeError) as exc:
                problems.add(path, f"missing a value for parameter {exc}")
                continue
            before = len(problems)
            for name, value in flat.items():
                if (why := v.json_problem(value)) is not None:
                    problems.add(f"{path}.{name}", why)
            if len(problems) == before:
                check_set_size(problems, path, [(p.path, v.encoded_size(flat[p.name])) for p in space.parameters])
            points.append(space.assemble(flat))
    sweeps: list[str] = []
    if not isinstance(sweeps_raw, list):
        problems.add("warm_start.sweeps", f"expected a list of sweep ids, got {v.describe(sweeps_raw)}")
    else:
        sweeps = [s for i, e in enumerate(sweeps_raw) if (s := v.string(problems, v.item("warm_start.sweeps", i), e)) is not None]
    return tuple(points), tuple(sweeps)


def _with_constants(point: dict[str, Any], parameters: tuple[Parameter, ...]) -> dict[str, Any]:
    """The point with constant parameters filled in where it leaves them out."""
    filled = copy.deepcopy(point)
    for p in parameters:
        if p.distribution is Distribution.CONSTANT:
            node = filled
            for part in p.path[:-1]:
                node = node.setdefault(part, {})
            node.setdefault(p.path[-1], p.value)
    return filled
