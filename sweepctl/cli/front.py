"""`best` for a sweep with several objectives: its Pareto front, one row (or record) per trial on it.

The front is `sweepctl.analysis.pareto`'s, the one the report draws. The table shows each
front trial's number, its value of each objective, its parameters one column each and its
duration, best first by the first objective; json and yaml give a list of the trials'
whole records, each with an `objectives` mapping (name -> value). What the front is
made of (how many trials, of how many that competed) goes to stderr.
"""

from __future__ import annotations

from typing import Any

import click

from sweepctl.analysis.pareto import ParetoFront, pareto_front
from sweepctl.analysis.table import Column, ColumnSource, ColumnType, Table, flat_parameters
from sweepctl.cli.listing import render
from sweepctl.cli.output import emit, trial_record
from sweepctl.space import SearchSpace
from sweepctl.spec import SweepSpec
from sweepctl.store import Store

_FIXED = ("number", "duration")


def front_records(front: ParetoFront) -> list[dict[str, Any]]:
    """Each front trial's whole record (as `trials` prints it), with its value of each objective by name."""
    records = []
    for index, trial in enumerate(front.trials):
        record = trial_record(trial)
        record["objectives"] = front.named_values(index)
        records.append(record)
    return records


def front_table(front: ParetoFront, space: SearchSpace | None) -> Table:
    """One row per front trial: number, each objective, each parameter (dotted names), duration."""
    flats = [flat_parameters(t.params, space) for t in front.trials]
    names = [m.name for m in front.objectives]
    parameters: dict[str, None] = {}
    for flat in flats:
        parameters.update(dict.fromkeys(flat))
    columns = [Column("number", ColumnSource.FIELD, "number", ColumnType.INTEGER)]
    columns += [Column(n if n not in _FIXED else f"metric:{n}", ColumnSource.METRIC, n, ColumnType.REAL) for n in names]
    taken = {*_FIXED, *names}
    columns += [Column(p if p not in taken else f"param:{p}", ColumnSource.PARAMETER, p, ColumnType.VALUE) for p in parameters]
    columns.append(Column("duration", ColumnSource.FIELD, "duration", ColumnType.DURATION))
    rows = tuple(
        (trial.number, *values, *(flat.get(p) for p in parameters), trial.duration)
        for trial, values, flat in zip(front.trials, front.values, flats)
    )
    return Table(tuple(columns), rows)


def print_front(store: Store, sweep_id: str, spec: SweepSpec, fmt: str) -> None:
    """Print the sweep's Pareto front in `fmt`; on stderr, what it is made of (or that no trial competed)."""
    front = pareto_front(store.get_trials(sweep_id), spec.objectives)
    goals = ", ".join(f"{m.name} ({m.goal.value})" for m in spec.objectives)
    if not front.trials:
        click.echo(f"sweep {sweep_id}: no completed trial with a finite value of every objective: {goals}", err=True)
        return
    click.echo(f"sweep {sweep_id}: Pareto front of {len(front.trials)} trials (of {front.candidates} completed) on {goals}", err=True)
    if fmt == "table":
        click.echo(render(front_table(front, spec.space)))
    else:
        emit(front_records(front), fmt)
