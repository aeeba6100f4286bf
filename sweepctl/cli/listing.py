"""Lists for people: typed tables with --sort, --limit and --columns, readable numbers and durations.

`trials` and `status` print a `Table` (sweepctl.analysis.table) here. Sorting and
limiting apply in every format; json and yaml still print whole records at full
precision, so `--columns` (which picks table columns) is for the table format only.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import click

from sweepctl import kfold
from sweepctl.analysis.table import Cell, Column, ColumnSource, ColumnType, Table, flat_parameters, sort_order
from sweepctl.cli.output import cell_text, emit, format_number, layout
from sweepctl.errors import ConfigError
from sweepctl.space import SearchSpace


def format_duration(seconds: float) -> str:
    """A duration for people: `850ms`, `12.3s`, `1m 23s`, `2h 05m`, `3d 04h`."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if round(seconds, 1) < 60:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h {whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d {whole % 86400 // 3600:02d}h"


def format_timestamp(seconds: float) -> str:
    """A time of day for people, in local time, to the second."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def display(cell: Cell, kind: ColumnType) -> str:
    """One cell as its column's type reads best on one line ('-' when empty)."""
    if cell is None or isinstance(cell, bool):
        return cell_text(cell)
    if kind is ColumnType.DURATION and isinstance(cell, (int, float)):
        return format_duration(float(cell))
    if kind is ColumnType.TIMESTAMP and isinstance(cell, (int, float)):
        return format_timestamp(float(cell))
    if kind is ColumnType.SERIES and isinstance(cell, list):
        return " ".join(cell_text(value) for value in cell)
    if isinstance(cell, (int, float)):
        return format_number(cell)
    return cell_text(cell)


def render(table: Table) -> str:
    """The table as aligned text: one line per row under upper-case column names."""
    kinds = [c.type for c in table.columns]
    return layout(table.names, [[display(cell, kind) for cell, kind in zip(row, kinds)] for row in table.rows])


@dataclass(frozen=True)
class Listing:
    """How the user asked to list: sorted by a column (`-name`: descending), how many rows, which table columns."""

    sort: str | None = None
    limit: int | None = None
    columns: tuple[str, ...] = ()

    @classmethod
    def of(cls, sort: str | None, limit: int | None, columns: str | None) -> Listing:
        names = tuple(n.strip() for n in (columns or "").split(",") if n.strip())
        if columns is not None and not names:
            raise ConfigError("--columns: expected column names separated by commas, e.g. --columns number,objective,lr")
        return cls(sort=sort or None, limit=limit, columns=names)

    @property
    def given(self) -> bool:
        return self.sort is not None or self.limit is not None or bool(self.columns)


def listing_options(f: Any) -> Any:
    """--sort, --limit and --columns (the command builds a `Listing` of them)."""

    f = click.option("--columns", default=None, metavar="A,B,C", help="Table columns to show, comma-separated (table format only).")(f)
    f = click.option("--limit", type=click.IntRange(min=0), default=None, metavar="N", help="Show at most N rows (after sorting).")(f)
    return click.option(
        "--sort", default=None, metavar="COLUMN", help="Order rows by COLUMN; a leading - sorts descending (--sort -objective)."
    )(f)


def emit_listing(table: Table, records: Sequence[Mapping[str, Any]], fmt: str, listing: Listing, default: Sequence[str]) -> None:
    """Print `records` (json/yaml, whole) or `table` (rows in step with them), sorted, limited and with the chosen columns.

    `default` names the table columns shown without --columns (those the table lacks are skipped).
    """
    if fmt != "table" and listing.columns:
        raise ConfigError(f"--columns picks table columns; --format {fmt} prints whole records (`sweepctl export` writes flat rows)")
    chosen = listing.columns or tuple(name for name in default if name in table.names)
    shown = table.select(chosen)  # unknown columns fail before anything is printed
    if listing.sort is not None:
        order = sort_order(table, listing.sort, listing.limit)
    else:
        order = list(range(len(table.rows)))[: listing.limit]
    if fmt != "table":
        emit([dict(records[i]) for i in order], fmt)
    else:
        click.echo(render(shown.take(order)))


SWEEP_FIELDS: tuple[tuple[str, ColumnType], ...] = (
    ("id", ColumnType.TEXT),
    ("name", ColumnType.TEXT),
    ("state", ColumnType.TEXT),
    ("method", ColumnType.TEXT),
    ("trials", ColumnType.TEXT),
    ("best_trial", ColumnType.INTEGER),
    ("best", ColumnType.REAL),
)


def trial_counts(counts: Mapping[str, int]) -> str:
    """Trials by state on one line: `completed=3 failed=1`."""
    return " ".join(f"{state}={n}" for state, n in counts.items()) or "-"


def sweep_table(records: Sequence[Mapping[str, Any]], spaces: Sequence[SearchSpace | None]) -> Table:
    """One row per sweep record (`output.sweep_record`): its best trial's parameters one column each, then the reason."""
    flats = [flat_parameters((r["best"] or {}).get("params") or {}, space) for r, space in zip(records, spaces)]
    names: dict[str, None] = {}
    for flat in flats:
        names.update(dict.fromkeys(flat))
    taken = {name for name, _ in SWEEP_FIELDS} | {"reason"}
    columns = [Column(name, ColumnSource.FIELD, name, kind) for name, kind in SWEEP_FIELDS]
    columns += [Column(n if n not in taken else f"param:{n}", ColumnSource.PARAMETER, n, ColumnType.VALUE) for n in names]
    columns.append(Column("reason", ColumnSource.FIELD, "reason", ColumnType.TEXT))
    rows = []
    for record, flat in zip(records, flats):
        best = record["best"] or {}
        fixed = (record["id"], record["name"], record["state"], record["method"], trial_counts(record["trials"]))
        rows.append((*fixed, best.get("number"), best.get("objective"), *(flat.get(n) for n in names), record["reason"]))
    return Table(tuple(columns), tuple(rows))


def readable_sweep(record: Mapping[str, Any], space: SearchSpace | None) -> dict[str, Any]:
    """One sweep's record for the key/value table: times of day, trial counts on one line, the best trial's parameters one line each."""
    readable: dict[str, Any] = {}
    for key, value in record.items():
        if key == "trials":
            readable[key] = trial_counts(value)
        elif key in ("created_at", "ended_at") and value is not None:
            readable[key] = format_timestamp(value)
        elif key == "objectives":
            readable[key] = ", ".join(f"{o['name']} ({o['goal']})" for o in value)
        elif key == "best" and value is not None:
            readable[key] = f"trial {value['number']}: " + (
                kfold.describe(value["objective"], value["objective_std"], value["fold_objectives"])
                if "fold_objectives" in value
                else format_number(value["objective"])
            )
            readable.update({f"best.{name}": v for name, v in flat_parameters(value["params"], space).items()})
        else:
            readable[key] = value
    return readable


def readable_trial(record: Mapping[str, Any], fields: Sequence[str], space: SearchSpace | None) -> dict[str, Any]:
    """A trial record's `fields` for the key/value table: parameters one line each (`params.optimizer.lr`), the duration in words."""
    readable: dict[str, Any] = {}
    for key in fields:
        value = record[key]
        if key == "params":
            readable.update({f"params.{name}": v for name, v in flat_parameters(value, space).items()})
        elif key == "fold_objectives":
            readable["folds"] = " ".join(cell_text(v) for v in value)
        elif key == "duration" and value is not None:
            readable[key] = format_duration(value)
        else:
            readable[key] = value
    return readable
