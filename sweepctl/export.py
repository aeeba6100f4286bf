"""Trial tables out of sweepctl: csv, json and parquet files, and a pandas DataFrame (`trials_dataframe`).

Every format holds the same rows and columns as `sweepctl.analysis.table.trial_table`, at
full precision. csv and json need nothing beyond the base install; parquet and the
DataFrame need the `export` extra (pandas, pyarrow), imported only when used.
"""

from __future__ import annotations

import csv
import json
import math
from enum import Enum
from pathlib import Path
from typing import IO, Any

from sweepctl.analysis.table import Cell, Column, ColumnType, Table, trial_table
from sweepctl.codec import encode_number
from sweepctl.errors import MissingExtraError, SpecError
from sweepctl.records import Sweep
from sweepctl.space import SearchSpace
from sweepctl.store import Store

EXTRA_HINT = "pip install 'sweepctl[export]'"


class ExportFormat(str, Enum):
    """The file formats `sweepctl export` writes."""

    CSV = "csv"
    JSON = "json"
    PARQUET = "parquet"

    @property
    def is_binary(self) -> bool:
        return self is ExportFormat.PARQUET


def space_of(store: Store, sweep: Sweep) -> SearchSpace | None:
    """The sweep's search space, or None when its file no longer parses (parameters are then read as recorded)."""
    try:
        return store.spec_of(sweep).space
    except SpecError:
        return None


def load_trial_table(store: Store, sweep_id: str) -> Table:
    """The trial table of a sweep in the store, one row per trial in number order."""
    sweep = store.get_sweep(sweep_id)
    return trial_table(store.get_trials(sweep_id), space_of(store, sweep))


def _json_cell(cell: Cell) -> Cell:
    """Strict JSON: NaN and infinities as the strings "nan", "inf", "-inf", as `trials --format json` writes them."""
    return encode_number(cell) if isinstance(cell, float) else cell


def json_rows(table: Table) -> list[dict[str, Cell]]:
    """One object per row, column name -> value, in column order (as the json export and an archive's rows hold them)."""
    return [{name: _json_cell(cell) for name, cell in zip(table.names, row)} for row in table.rows]


def write_json(table: Table, stream: IO[str]) -> None:
    """A JSON array with one object per row, column name -> value, in column order."""
    json.dump(json_rows(table), stream, indent=1, allow_nan=False)
    stream.write("\n")


def _csv_cell(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float):
        return repr(cell)  # the shortest text that reads back as the same float; nan, inf, -inf as pandas reads them
    if isinstance(cell, (dict, list)):
        return json.dumps(cell, separators=(",", ":"))
    return str(cell)


def write_csv(table: Table, stream: IO[str]) -> None:
    """A header row of column names, then one row per trial; empty cells are missing values."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(table.names)
    writer.writerows([_csv_cell(cell) for cell in row] for row in table.rows)


def _pandas(feature: str, *, arrow: bool = False) -> Any:
    """The pandas module, or a MissingExtraError naming the extra (and pyarrow too when `arrow`)."""
    try:
        import pandas

        if arrow:
            import pyarrow  # noqa: F401  # pandas' parquet engine
    except ImportError as exc:
        needed = "pandas and pyarrow" if arrow else "pandas"
        raise MissingExtraError(f"{feature} needs {needed}, from the `export` extra: {EXTRA_HINT} ({exc})") from exc
    return pandas


def _series(pandas: Any, column: Column, values: list[Cell]) -> Any:
    if column.type is ColumnType.INTEGER:
        return pandas.Series(values, dtype="Int64", name=column.name)
    if column.type.is_numeric:
        return pandas.Series([math.nan if v is None else v for v in values], dtype="float64", name=column.name)
    if column.type is ColumnType.BOOLEAN:
        return pandas.Series(values, dtype="boolean", name=column.name)
    if column.type is ColumnType.TEXT:
        return pandas.Series(values, dtype=object, name=column.name)
    return pandas.Series(values, name=column.name)  # parameters: the dtype their values call for


def to_dataframe(table: Table) -> Any:
    """The table as a pandas DataFrame: one row per trial, integers nullable (Int64), missing numbers NaN."""
    pandas = _pandas("a DataFrame of trials")
    series = [_series(pandas, column, [row[i] for row in table.rows]) for i, column in enumerate(table.columns)]
    return pandas.concat(series, axis=1) if series else pandas.DataFrame()


def _as_text(value: Cell) -> Cell:
    return value if value is None or isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def write_parquet(table: Table, destination: str | Path | IO[bytes]) -> None:
    """A parquet file of the DataFrame; a parameter column mixing value types (or holding lists) is stored as JSON text."""
    _pandas("parquet export", arrow=True)
    frame = to_dataframe(table)
    for column in table.columns:
        series = frame[column.name]
        if column.type is ColumnType.VALUE and series.dtype == object:
            kinds = {type(v) for v in series if v is not None}
            if len(kinds) > 1 or not kinds <= {str, bool}:
                frame[column.name] = series.map(_as_text, na_action="ignore")
    frame.to_parquet(destination, index=False)


def trials_dataframe(sweep_id: str, redis_url: str | None = None, *, state_dir: str | None = None) -> Any:
    """The trials of a sweep as a pandas DataFrame, the columns of `sweepctl export` (as Optuna's `study.trials_dataframe()`).

    `redis_url` (else SWEEPCTL_REDIS_URL, else the embedded store of the current folder or
    `state_dir`) names the store. Needs the `export` extra: pandas (and pyarrow for parquet).
    """
    from sweepctl.local_store import local_store_dir, serve_local_store
    from sweepctl.settings import RedisSettings

    _pandas("trials_dataframe()")
    settings = RedisSettings.from_env(redis_url)
    if settings is not None:
        return to_dataframe(load_trial_table(Store.connect(settings), sweep_id))
    with serve_local_store(local_store_dir(state_dir), command="trials_dataframe", long_running=False, create=False) as local:
        return to_dataframe(load_trial_table(Store.connect(RedisSettings.from_url(local.url)), sweep_id))
