"""Turning records into what the CLI prints: tables for people, JSON/YAML for programs."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import click
import yaml

from sweepctl import codec
from sweepctl.records import Sweep, Trial, TrialState
from sweepctl.spec import SweepSpec

FORMATS = ("table", "json", "yaml")


def trial_record(trial: Trial) -> dict[str, Any]:
    """A trial as plain JSON-safe data (the same fields the store keeps)."""
    data = {k: codec.loads(v) for k, v in codec.encode_trial(trial).items()}
    data["duration"] = trial.duration
    return data


def sweep_record(sweep: Sweep, spec: SweepSpec, counts: Mapping[TrialState, int], best: Trial | None) -> dict[str, Any]:
    """A sweep as plain data: what its file says (parsed: `bayes` shows as the tpe it runs) and how it stands."""
    metric = spec.metric
    return {
        "id": sweep.id,
        "name": spec.name,
        "state": sweep.state.value,
        "reason": sweep.reason,
        "method": spec.method.value,
        "metric": None if metric is None else {"name": metric.name, "goal": metric.goal.value, "target": metric.target},
        **objectives_field(spec),
        "seed": sweep.seed,
        "run_cap": spec.run_cap,  # the file's, or the one `extend` gave it
        "created_at": sweep.created_at,
        "ended_at": sweep.ended_at,
        "source": sweep.source,
        "cloned_from": sweep.cloned_from,  # the sweep `clone` made it from (and warm-started it from)
        "trials": {state.value: n for state, n in counts.items() if n},
        "best": None if best is None else best_summary(best),
    }


def objectives_field(spec: SweepSpec) -> dict[str, Any]:
    """`{"objectives": [{name, goal}, ...]}` for a sweep with several (its `metric` is the first); nothing for one."""
    if not spec.is_multi_objective:
        return {}
    return {"objectives": [{"name": m.name, "goal": m.goal.value} for m in spec.objectives]}


def best_summary(best: Trial) -> dict[str, Any]:
    """The best trial as a sweep's record shows it; a k-fold trial's with its folds' standard deviation and values."""
    summary: dict[str, Any] = {"number": best.number, "objective": best.objective, "params": best.params}
    if best.folds:
        summary.update(objective_std=best.objective_std, fold_objectives=list(best.fold_objectives))
    return summary


def format_number(value: float) -> str:
    """A number for people: integers whole, floats to 4 significant digits (full precision is in json/yaml)."""
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


def cell_text(value: Any) -> str:
    """One table cell on one line: control characters (a newline in a sweep's name) are shown escaped."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return format_number(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], str(value))


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    return layout(columns, [[cell_text(row.get(c)) for c in columns] for row in rows])


def layout(columns: Sequence[str], cells: Sequence[Sequence[str]]) -> str:
    """Aligned columns under upper-case headers, two spaces apart."""
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines)


def key_values(record: Mapping[str, Any]) -> str:
    width = max((len(k) for k in record), default=0)
    return "\n".join(f"{k.ljust(width)}  {cell_text(v)}" for k, v in record.items())


def emit(data: Any, fmt: str, *, columns: Sequence[str] | None = None) -> None:
    """Print `data` (a record or a list of records) to stdout in `fmt`."""
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=False))
    elif fmt == "yaml":
        click.echo(yaml.safe_dump(data, sort_keys=False).rstrip())
    elif isinstance(data, list):
        click.echo(table(data, columns or (list(data[0]) if data else [])))
    else:
        click.echo(key_values(data))


def format_option(f: Any) -> Any:
    return click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True, help="Output format.")(f)
