"""The trial table: one row per trial, one column per recorded field, parameter and final metric value.

The one flat view of a sweep's trials that `trials`, `export` and `trials_dataframe()`
all show, so the CLI, the files and the DataFrame hold the same values. Column order
is stable: the fixed fields (`FIELD_COLUMNS`; for k-fold trials `FOLD_COLUMNS` right
after the objective, the mean of the folds'), then the parameters in the search
space's order (nested ones as `optimizer.lr`), then the final metric values sorted
by name. A parameter or metric whose name is taken by an earlier column is shown
as `param:NAME` or `metric:NAME`. Cells hold full-precision values; formatting
(4 significant digits, `1m 23s`) is the renderer's job.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sweepctl.errors import ConfigError
from sweepctl.records import Trial
from sweepctl.space import SearchSpace

Cell = Any  # None, bool, int, float, str, or a JSON list/dict (a categorical parameter may take any JSON value)


class ColumnSource(str, Enum):
    """Where a column's values come from."""

    FIELD = "field"  # a field of the trial record
    PARAMETER = "parameter"  # one leaf of the trial's parameters
    METRIC = "metric"  # the last reported value of one metric


class ColumnType(str, Enum):
    """What a column's values are, so renderers and DataFrames can treat them alike."""

    INTEGER = "integer"
    REAL = "real"
    TEXT = "text"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"  # seconds since the epoch (float)
    DURATION = "duration"  # seconds (float)
    VALUE = "value"  # any JSON value (parameters)
    SERIES = "series"  # a list of numbers or None (a k-fold trial's per-fold objectives)

    @property
    def is_numeric(self) -> bool:
        return self in (ColumnType.INTEGER, ColumnType.REAL, ColumnType.TIMESTAMP, ColumnType.DURATION)


@dataclass(frozen=True)
class Column:
    """One column: its display name, where its values come from (`key`: parameter or metric name) and their type."""

    name: str
    source: ColumnSource
    key: str
    type: ColumnType


@dataclass(frozen=True)
class FieldColumn:
    """A fixed column read from the trial record."""

    name: str
    type: ColumnType
    read: Callable[[Trial], Cell]


# The fixed columns, in display order. A new trial field is one entry here.
FIELD_COLUMNS: tuple[FieldColumn, ...] = (
    FieldColumn("number", ColumnType.INTEGER, lambda t: t.number),
    FieldColumn("state", ColumnType.TEXT, lambda t: t.state.value),
    FieldColumn("objective", ColumnType.REAL, lambda t: t.objective),
    FieldColumn("attempt", ColumnType.INTEGER, lambda t: t.attempt),
    FieldColumn("seed", ColumnType.INTEGER, lambda t: t.seed),
    FieldColumn("created_at", ColumnType.TIMESTAMP, lambda t: t.created_at),
    FieldColumn("started_at", ColumnType.TIMESTAMP, lambda t: t.started_at),
    FieldColumn("ended_at", ColumnType.TIMESTAMP, lambda t: t.ended_at),
    FieldColumn("duration", ColumnType.DURATION, lambda t: t.duration),
    FieldColumn("host", ColumnType.TEXT, lambda t: t.host),
    FieldColumn("worker", ColumnType.TEXT, lambda t: t.worker),
    FieldColumn("gpu_index", ColumnType.INTEGER, lambda t: None if t.gpu is None else t.gpu.index),
    FieldColumn("gpu_name", ColumnType.TEXT, lambda t: None if t.gpu is None else t.gpu.name),
    # What the trial made of its GPU (Trial.gpu_usage): `gpu_use` is the short label, flagged `idle GPU`.
    FieldColumn("gpu_use", ColumnType.TEXT, lambda t: None if t.gpu_usage is None else t.gpu_usage.label),
    FieldColumn("gpu_util_mean", ColumnType.REAL, lambda t: None if t.gpu_usage is None else t.gpu_usage.mean_util_percent),
    FieldColumn("gpu_util_max", ColumnType.REAL, lambda t: None if t.gpu_usage is None else t.gpu_usage.max_util_percent),
    FieldColumn("gpu_memory_peak", ColumnType.INTEGER, lambda t: None if t.gpu_usage is None else t.gpu_usage.peak_memory_bytes),
    FieldColumn("gpu_energy_joules", ColumnType.REAL, lambda t: None if t.gpu_usage is None else t.gpu_usage.energy_joules),
    FieldColumn("gpu_idle", ColumnType.BOOLEAN, lambda t: None if t.gpu_usage is None else t.gpu_usage.mostly_idle),
    FieldColumn("exit_code", ColumnType.INTEGER, lambda t: t.exit_code),
    FieldColumn("error", ColumnType.TEXT, lambda t: t.error),
)

# The columns of k-fold trials (cross_validation), after `objective` (their folds' mean), in tables that have one.
FOLD_COLUMNS: tuple[FieldColumn, ...] = (
    FieldColumn("objective_std", ColumnType.REAL, lambda t: t.objective_std),
    FieldColumn("folds", ColumnType.SERIES, lambda t: list(t.fold_objectives) if t.folds else None),
)

_MISSING = object()


@dataclass(frozen=True)
class Table:
    """Named, typed columns and rows of cells (one tuple per row, in column order)."""

    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def index(self, name: str, *, option: str = "--columns") -> int:
        """The position of column `name`; a ConfigError naming the option and the columns there are otherwise."""
        for i, column in enumerate(self.columns):
            if column.name == name:
                return i
        raise ConfigError(f"{option}: no column {name!r}; the columns are: {', '.join(self.names)}")

    def column(self, name: str) -> list[Cell]:
        """The cells of column `name`, one per row."""
        i = self.index(name)
        return [row[i] for row in self.rows]

    def records(self) -> list[dict[str, Cell]]:
        """The rows as dicts, column name -> cell, in column order."""
        names = self.names
        return [dict(zip(names, row)) for row in self.rows]

    def select(self, names: Sequence[str]) -> Table:
        """Only the columns `names`, in that order."""
        picked = [self.index(n) for n in names]
        return Table(tuple(self.columns[i] for i in picked), tuple(tuple(row[i] for i in picked) for row in self.rows))

    def take(self, order: Sequence[int]) -> Table:
        """The rows at positions `order`, in that order (see `sort_order`)."""
        return Table(self.columns, tuple(self.rows[i] for i in order))


def sort_order(table: Table, sort: str, limit: int | None = None) -> list[int]:
    """Row positions ordered by the column `sort` (`-name` for descending), the first `limit` of them.

    Empty cells come last either way; numbers order numerically, before text;
    ties keep the table's order (the trial number).
    """
    descending = sort.startswith("-") and sort not in table.names  # a metric may be named `-x`: `--sort=--x` sorts it descending
    position = table.index(sort[1:] if descending else sort, option="--sort")
    present = [i for i, row in enumerate(table.rows) if not _empty(row[position])]
    missing = [i for i, row in enumerate(table.rows) if _empty(row[position])]
    # Python's sort stays stable with reverse=True: equal cells keep the table's order either way.
    present.sort(key=lambda i: _sort_key(table.rows[i][position]), reverse=descending)
    order = present + missing
    return order if limit is None else order[:limit]


def _empty(cell: Cell) -> bool:
    return cell is None or (isinstance(cell, float) and math.isnan(cell))


def _sort_key(cell: Cell) -> tuple[int, Any]:
    if isinstance(cell, (int, float)):  # bools too: False < True
        return (0, float(cell))
    if isinstance(cell, str):
        return (1, cell)
    return (2, repr(cell))


def flat_parameters(params: Mapping[str, Any], space: SearchSpace | None) -> dict[str, Cell]:
    """A trial's parameters as dotted name -> value: the space's leaves in its order, then any others.

    Without a space (or for values it does not name, such as a warm-start's extra keys),
    nested dicts are walked to their leaves.
    """
    flat: dict[str, Cell] = {}
    if space is not None:
        for parameter in space.parameters:
            value = _lookup(params, parameter.path)
            if value is not _MISSING:
                flat[parameter.name] = value
    for name, value in _leaves(params, ()):
        if name not in flat and not any(name.startswith(f"{known}.") for known in flat):
            flat[name] = value
    return flat


def _lookup(params: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = params
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def _leaves(node: Mapping[str, Any], prefix: tuple[str, ...]) -> Iterable[tuple[str, Cell]]:
    for key, value in node.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, path)
        else:
            yield ".".join(path), value


def trial_table(trials: Sequence[Trial], space: SearchSpace | None = None) -> Table:
    """The table of `trials` (in the order given); every parameter of `space` has a column, in its order, even before any trial."""
    params = [flat_parameters(t.params, space) for t in trials]
    parameter_names = _ordered_union([space.names if space is not None else (), *(p.keys() for p in params)])
    metric_names = sorted(set().union(*(t.last_metrics.keys() for t in trials)))
    fields = field_columns(trials)
    taken = {f.name for f in fields}
    columns = [Column(f.name, ColumnSource.FIELD, f.name, f.type) for f in fields]
    for name in parameter_names:
        columns.append(Column(_free(name, "param", taken), ColumnSource.PARAMETER, name, ColumnType.VALUE))
    for name in metric_names:
        columns.append(Column(_free(name, "metric", taken), ColumnSource.METRIC, name, ColumnType.REAL))
    rows = []
    for trial, flat in zip(trials, params):
        fixed = [f.read(trial) for f in fields]
        rows.append((*fixed, *(flat.get(n) for n in parameter_names), *(trial.last_metrics.get(n) for n in metric_names)))
    return Table(tuple(columns), tuple(rows))


def field_columns(trials: Sequence[Trial]) -> tuple[FieldColumn, ...]:
    """The fixed columns of a table of `trials`: FIELD_COLUMNS, with FOLD_COLUMNS after `objective` when any is a k-fold trial."""
    if not any(t.folds for t in trials):
        return FIELD_COLUMNS
    at = [f.name for f in FIELD_COLUMNS].index("objective") + 1
    return (*FIELD_COLUMNS[:at], *FOLD_COLUMNS, *FIELD_COLUMNS[at:])


def _ordered_union(groups: Iterable[Iterable[str]]) -> list[str]:
    seen: dict[str, None] = {}
    for group in groups:
        seen.update(dict.fromkeys(group))
    return list(seen)


def _free(name: str, prefix: str, taken: set[str]) -> str:
    """`name`, or `prefix:name` (`prefix:prefix:name`, ...) when an earlier column already has it; recorded as taken.

    Metric names may hold any character, `:` too: a metric `metric:state` and a metric `state`
    must still get two columns.
    """
    chosen = name
    while chosen in taken:
        chosen = f"{prefix}:{chosen}"
    taken.add(chosen)
    return chosen
