"""The trial table (sweepctl.analysis.table): one row per trial, stable columns, full-precision cells, sorting."""

from __future__ import annotations

import math
from typing import Any

import pytest

from sweepctl.analysis.table import FIELD_COLUMNS, ColumnSource, ColumnType, sort_order, trial_table
from sweepctl.errors import ConfigError
from sweepctl.records import GpuRef, GpuUsage, Trial, TrialState
from sweepctl.sweepfile import parse_sweep

FIELDS = [f.name for f in FIELD_COLUMNS]

SPACE = parse_sweep(
    {
        "method": "random",
        "metric": {"name": "loss"},
        "program": "train.py",
        "parameters": {
            "optimizer": {"parameters": {"lr": {"min": 0.0, "max": 1.0}, "name": {"values": ["adam", "sgd"]}}},
            "layers": {"values": [1, 2]},
        },
    }
).space


def trial(number: int, params: dict[str, Any], metrics: dict[str, float] | None = None, **fields: Any) -> Trial:
    fields.setdefault("state", TrialState.COMPLETED)
    return Trial(sweep_id="s", number=number, params=params, seed=number, last_metrics=metrics or {}, **fields)


def test_columns_are_the_fields_then_the_parameters_in_the_space_order_then_the_metrics_sorted() -> None:
    # Given trials whose parameters are nested and stored in another order than the sweep file's, reporting two metrics
    trials = [
        trial(1, {"layers": 2, "optimizer": {"name": "sgd", "lr": 0.123456789}}, {"loss": 0.5, "accuracy": 0.75}),
        trial(2, {"layers": 1, "optimizer": {"name": "adam", "lr": 0.9}}, {"loss": math.nan}),
    ]
    # When their table is built
    table = trial_table(trials, SPACE)
    # Then the columns are stable: fields, parameters as the file lists them (nested as a.b), metrics by name
    assert list(table.names) == [*FIELDS, "optimizer.lr", "optimizer.name", "layers", "accuracy", "loss"]
    assert [c.source for c in table.columns[len(FIELDS) :]] == [ColumnSource.PARAMETER] * 3 + [ColumnSource.METRIC] * 2
    # And each cell holds the recorded value at full precision; a metric a trial never reported is empty
    first, second = table.records()
    assert (first["optimizer.lr"], first["optimizer.name"], first["layers"]) == (0.123456789, "sgd", 2)
    assert (first["accuracy"], first["loss"]) == (0.75, 0.5)
    assert second["accuracy"] is None and math.isnan(second["loss"])


def test_the_fixed_columns_hold_state_timings_gpu_and_outcome() -> None:
    # Given a failed trial that ran 83 seconds on GPU 1 (left mostly idle), on its second attempt
    failed = Trial(
        sweep_id="s",
        number=7,
        state=TrialState.FAILED,
        params={"layers": 1},
        seed=42,
        attempt=2,
        created_at=100.0,
        started_at=110.0,
        ended_at=193.0,
        host="node-a",
        worker="node-a/gpu1/9",
        gpu=GpuRef(index=1, uuid="GPU-1", name="NVIDIA H100"),
        gpu_usage=GpuUsage(samples=17, mean_util_percent=4.0, max_util_percent=9.0, peak_memory_bytes=2**30, energy_joules=5000.0),
        exit_code=3,
        error="exited with status 3",
    )
    # When its table is built
    (row,) = trial_table([failed], SPACE).records()
    # Then every fixed field is there, by name
    assert row == {
        "number": 7,
        "state": "failed",
        "objective": None,
        "attempt": 2,
        "seed": 42,
        "created_at": 100.0,
        "started_at": 110.0,
        "ended_at": 193.0,
        "duration": 83.0,
        "host": "node-a",
        "worker": "node-a/gpu1/9",
        "gpu_index": 1,
        "gpu_name": "NVIDIA H100",
        "gpu_use": "4% 1.0GiB idle GPU",
        "gpu_util_mean": 4.0,
        "gpu_util_max": 9.0,
        "gpu_memory_peak": 2**30,
        "gpu_energy_joules": 5000.0,
        "gpu_idle": True,
        "exit_code": 3,
        "error": "exited with status 3",
        "optimizer.lr": None,
        "optimizer.name": None,
        "layers": 1,
    }
    # And the timing columns say what they hold, for renderers
    types = {c.name: c.type for c in trial_table([failed], SPACE).columns}
    assert (types["started_at"], types["duration"], types["number"]) == (ColumnType.TIMESTAMP, ColumnType.DURATION, ColumnType.INTEGER)


def test_a_sweep_without_trials_already_has_its_parameter_columns() -> None:
    table = trial_table([], SPACE)
    assert list(table.names) == [*FIELDS, "optimizer.lr", "optimizer.name", "layers"] and table.rows == ()


def test_names_taken_by_an_earlier_column_are_prefixed_by_their_source() -> None:
    # Given a parameter called `state` and metrics called `duration` and `lr`, with a parameter `lr` too
    trials = [trial(1, {"state": "on", "lr": 0.1}, {"duration": 5.0, "lr": 0.2})]
    # When the table is built without a space (the nested dict is read as recorded)
    table = trial_table(trials)
    # Then no two columns share a name, and each keeps its value
    assert list(table.names)[len(FIELDS) :] == ["param:state", "lr", "metric:duration", "metric:lr"]
    row = table.records()[0]
    assert (row["param:state"], row["lr"], row["metric:duration"], row["metric:lr"]) == ("on", 0.1, 5.0, 0.2)


def test_without_a_space_nested_parameters_are_walked_and_a_dict_valued_parameter_of_the_space_stays_one_cell() -> None:
    space = parse_sweep(
        {"method": "grid", "metric": {"name": "loss"}, "program": "t.py", "parameters": {"arch": {"values": [{"depth": 2, "width": 8}]}}}
    ).space
    recorded = trial(1, {"arch": {"depth": 2, "width": 8}})
    assert trial_table([recorded], space).records()[0]["arch"] == {"depth": 2, "width": 8}
    walked = trial_table([recorded]).records()[0]
    assert (walked["arch.depth"], walked["arch.width"]) == (2, 8)


def test_sort_orders_by_any_column_with_empty_cells_last_and_ties_in_trial_order() -> None:
    # Given trials whose objectives tie, one missing and one NaN
    objectives = {1: 0.5, 2: None, 3: 0.1, 4: 0.5, 5: math.nan, 6: 0.9}
    table = trial_table([trial(n, {"layers": 1}, objective=o) for n, o in objectives.items()])
    numbers = [row[0] for row in table.rows]
    # When sorted ascending, descending, and limited
    # Then numbers order numerically, ties keep the trial order, empty cells come last either way
    assert [numbers[i] for i in sort_order(table, "objective")] == [3, 1, 4, 6, 2, 5]
    assert [numbers[i] for i in sort_order(table, "-objective")] == [6, 1, 4, 3, 2, 5]
    assert [numbers[i] for i in sort_order(table, "-objective", limit=2)] == [6, 1]


def test_sorting_a_column_mixing_numbers_and_text_puts_numbers_first() -> None:
    table = trial_table([trial(1, {"x": "b"}), trial(2, {"x": 3}), trial(3, {"x": "a"}), trial(4, {"x": 1.5})])
    assert [table.rows[i][0] for i in sort_order(table, "x")] == [4, 2, 3, 1]


@pytest.mark.parametrize(
    ("call", "option"), [(lambda t: sort_order(t, "-nope"), "--sort"), (lambda t: t.select(["number", "nope"]), "--columns")]
)
def test_an_unknown_column_is_an_error_naming_the_option_and_the_columns_there_are(call: Any, option: str) -> None:
    table = trial_table([trial(1, {"layers": 1})], SPACE)
    with pytest.raises(ConfigError) as raised:
        call(table)
    message = str(raised.value)
    assert message.startswith(f"{option}: no column 'nope'") and "optimizer.lr" in message and "number" in message


def test_select_and_take_keep_cells_with_their_columns() -> None:
    table = trial_table([trial(1, {"layers": 1}, objective=0.3), trial(2, {"layers": 2}, objective=0.1)], SPACE)
    picked = table.select(["layers", "number"]).take([1, 0])
    assert picked.names == ("layers", "number") and picked.rows == ((2, 2), (1, 1))
