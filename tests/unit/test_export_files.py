"""Trial tables as files (sweepctl.export): csv and json with the base install, parquet and DataFrames with the extra."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pandas
import pytest

from sweepctl.analysis.table import trial_table
from sweepctl.errors import MissingExtraError
from sweepctl.export import to_dataframe, write_csv, write_json, write_parquet
from sweepctl.records import Trial, TrialState

ROOT = Path(__file__).resolve().parents[2]

# Values that trip naive writers: an error with a comma, quotes and a newline; NaN and infinite metrics;
# a categorical parameter mixing a string, a number and a list; a missing objective.
TRIALS = [
    Trial(sweep_id="s", number=1, state=TrialState.COMPLETED, params={"lr": 0.1 + 0.2, "act": "relu"}, seed=7, objective=1 / 3,
          last_metrics={"loss": 1 / 3, "grad": math.inf}),
    Trial(sweep_id="s", number=2, state=TrialState.FAILED, params={"lr": 1e-300, "act": 3}, seed=8, exit_code=1,
          error='exited with status 1: ValueError: bad "lr", see\nthe log', last_metrics={"loss": math.nan}),
    Trial(sweep_id="s", number=3, state=TrialState.COMPLETED, params={"lr": 5.0, "act": [1, 2]}, seed=9, objective=2.5),
]  # fmt: skip
TABLE = trial_table(TRIALS)


def test_csv_holds_every_value_at_full_precision_and_quotes_what_it_must() -> None:
    stream = io.StringIO()
    write_csv(TABLE, stream)
    rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
    assert [r["number"] for r in rows] == ["1", "2", "3"]
    assert float(rows[0]["lr"]) == 0.1 + 0.2 and float(rows[0]["objective"]) == 1 / 3 and float(rows[1]["lr"]) == 1e-300
    assert rows[0]["grad"] == "inf" and rows[1]["loss"] == "nan" and rows[1]["objective"] == ""
    assert rows[1]["error"] == TRIALS[1].error
    assert [r["act"] for r in rows] == ["relu", "3", "[1,2]"]


def test_json_is_strict_with_non_finite_numbers_as_strings_as_trials_json_writes_them() -> None:
    stream = io.StringIO()
    write_json(TABLE, stream)
    rows = json.loads(stream.getvalue(), parse_constant=lambda name: pytest.fail(f"non-strict JSON constant {name}"))
    assert rows[0]["lr"] == 0.1 + 0.2 and rows[0]["grad"] == "inf" and rows[1]["loss"] == "nan"
    assert rows[1]["objective"] is None and rows[2]["act"] == [1, 2] and list(rows[0]) == list(TABLE.names)


def test_the_dataframe_has_typed_columns_and_parquet_keeps_them(tmp_path: Path) -> None:
    # Given the DataFrame of the table
    frame = to_dataframe(TABLE)
    assert list(frame.columns) == list(TABLE.names)
    assert str(frame["number"].dtype) == "Int64" and frame["exit_code"].isna().tolist() == [True, False, True]
    assert frame["lr"].tolist() == [0.1 + 0.2, 1e-300, 5.0] and math.isnan(frame["objective"][1])
    # When it is written as parquet and read back
    write_parquet(TABLE, tmp_path / "t.parquet")
    back = pandas.read_parquet(tmp_path / "t.parquet")
    # Then numbers are exact, and the parameter mixing types is kept as JSON text
    assert back["lr"].tolist() == [0.1 + 0.2, 1e-300, 5.0] and back["grad"][0] == math.inf
    assert back["act"].tolist() == ["relu", "3", "[1,2]"] and back["error"][1] == TRIALS[1].error


def test_without_pandas_parquet_and_the_dataframe_name_the_extra_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    with pytest.raises(MissingExtraError, match=r"parquet export needs pandas and pyarrow.*pip install 'sweepctl\[export\]'"):
        write_parquet(TABLE, tmp_path / "t.parquet")
    with pytest.raises(MissingExtraError, match=r"needs pandas, from the `export` extra"):
        to_dataframe(TABLE)
    assert not (tmp_path / "t.parquet").exists()


def test_importing_sweepctl_loads_neither_the_store_nor_pandas_until_trials_dataframe_is_used() -> None:
    probe = (
        "import sys, sweepctl\n"
        "assert not {'pandas', 'redis', 'sweepctl.store', 'sweepctl.export'} & set(sys.modules), sorted(sys.modules)\n"
        "from sweepctl import trials_dataframe\n"
        "assert trials_dataframe.__module__ == 'sweepctl.export' and 'trials_dataframe' in sweepctl.__all__\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
