"""Lists for people (sweepctl.cli.listing): 4 significant digits, durations in words, --sort/--limit/--columns."""

from __future__ import annotations

import json
import math
import time

import pytest

from sweepctl.analysis.table import trial_table
from sweepctl.cli.listing import Listing, emit_listing, format_duration, readable_sweep, render, sweep_table
from sweepctl.cli.output import format_number
from sweepctl.errors import ConfigError
from sweepctl.records import Trial, TrialState


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0123, "12ms"),
        (0.85, "850ms"),
        (1.0, "1.0s"),
        (12.34, "12.3s"),
        (59.96, "1m 00s"),
        (83.2, "1m 23s"),
        (7500, "2h 05m"),
        (273600, "3d 04h"),
    ],
)
def test_durations_read_as_words(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.000123456, "0.0001235"), (123456.0, "1.235e+05"), (0.1 + 0.2, "0.3"), (3, "3"), (2.0, "2"), (math.nan, "nan"), (-math.inf, "-inf")],
)
def test_numbers_show_4_significant_digits_and_integers_whole(value: float, text: str) -> None:
    assert format_number(value) == text


def trial(number: int, lr: float, objective: float | None, started: float = 1000.0) -> Trial:
    return Trial(
        sweep_id="s",
        number=number,
        state=TrialState.COMPLETED if objective is not None else TrialState.FAILED,
        params={"optimizer": {"lr": lr}},
        seed=1,
        objective=objective,
        started_at=started,
        ended_at=started + 83.0,
        last_metrics={} if objective is None else {"loss": objective},
    )


TRIALS = [trial(1, 0.123456789, 0.5), trial(2, 1e-5, None), trial(3, 12345.678, 0.25)]


def test_a_table_renders_each_column_by_its_type() -> None:
    table = trial_table(TRIALS).select(["number", "optimizer.lr", "objective", "duration", "started_at", "error"])
    assert render(table).splitlines() == [
        "NUMBER  OPTIMIZER.LR  OBJECTIVE  DURATION  STARTED_AT           ERROR",
        f"1       0.1235        0.5        1m 23s    {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(1000.0))}  -",
        f"2       1e-05         -          1m 23s    {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(1000.0))}  -",
        f"3       1.235e+04     0.25       1m 23s    {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(1000.0))}  -",
    ]


def test_sort_and_limit_order_the_table_and_the_json_records_alike(capsys: pytest.CaptureFixture[str]) -> None:
    # Given the trials' table and their records
    table = trial_table(TRIALS)
    records = [{"number": t.number, "objective": t.objective} for t in TRIALS]
    listing = Listing.of("-objective", 2, None)
    # When listed as a table and as json, best objective (highest) first, two rows
    emit_listing(table, records, "table", listing, default=["number", "objective"])
    emit_listing(table, records, "json", listing, default=["number", "objective"])
    printed = capsys.readouterr().out
    # Then both hold trials 1 then 3; json keeps whole records at full precision
    lines = printed.splitlines()
    assert lines[:3] == ["NUMBER  OBJECTIVE", "1       0.5", "3       0.25"]
    assert json.loads("\n".join(lines[3:])) == [{"number": 1, "objective": 0.5}, {"number": 3, "objective": 0.25}]


def test_columns_pick_table_columns_and_are_refused_for_json() -> None:
    table = trial_table(TRIALS)
    with pytest.raises(ConfigError, match="--columns picks table columns; --format json"):
        emit_listing(table, [{}] * 3, "json", Listing.of(None, None, "number"), default=[])
    with pytest.raises(ConfigError, match="--columns: expected column names"):
        Listing.of(None, None, " , ")


def test_the_sweep_list_has_one_column_per_parameter_of_each_best_trial() -> None:
    # Given two sweeps with different parameters, one without a completed trial
    records = [
        {"id": "a", "name": "", "state": "finished", "method": "tpe", "trials": {"completed": 3, "failed": 1}, "reason": "done",
         "best": {"number": 2, "objective": 0.123456, "params": {"opt": {"lr": 0.001234567}}}},
        {"id": "b", "name": "n", "state": "running", "method": "random", "trials": {}, "reason": "", "best": None},
    ]  # fmt: skip
    # When listed
    table = sweep_table(records, [None, None])
    # Then the best trial's parameters have columns of their own, numbers to 4 digits, trial counts on one line
    assert render(table).splitlines() == [
        "ID  NAME  STATE     METHOD  TRIALS                BEST_TRIAL  BEST    OPT.LR    REASON",
        "a         finished  tpe     completed=3 failed=1  2           0.1235  0.001235  done",
        "b   n     running   random  -                     -           -       -",
    ]


def test_one_sweep_reads_with_times_of_day_and_the_best_parameters_one_per_line() -> None:
    record = {"id": "a", "created_at": 1000.0, "trials": {"completed": 1}, "best": {"number": 1, "objective": 0.5, "params": {"x": 0.25}}}
    assert readable_sweep(record, None) == {
        "id": "a",
        "created_at": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1000.0)),
        "trials": "completed=1",
        "best": "trial 1: 0.5",
        "best.x": 0.25,
    }
