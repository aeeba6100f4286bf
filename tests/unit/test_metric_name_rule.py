"""One rule for metric names, wherever a name is given: the sweep file, the store's points, the trial table and its files.

W&B accepts any string as `metric.name` and as a `wandb.log` key; sweepctl takes every one it
can store and show safely (`sweepctl.protocol.metric_name_problem`), the same everywhere.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from sweepctl.analysis.table import ColumnSource, sort_order, trial_table
from sweepctl.errors import SpecError
from sweepctl.export import write_csv, write_json
from sweepctl.protocol import MAX_METRIC_NAME_CHARS
from sweepctl.records import MetricPoint, Trial, TrialState
from sweepctl.store.outcomes import valid_point
from sweepctl.sweepfile import parse_sweep

USABLE = ["ndcg@10", "Valid_mAP@0.50", "val/loss", "mAP@0.5:0.95", "val loss", "a,b=c", "名前", "x" * MAX_METRIC_NAME_CHARS]
UNUSABLE = ["a\nb", "tab\there", "c1\x85", "para\u2029", "x" * (MAX_METRIC_NAME_CHARS + 1)]


def sweep_with_metric(name: Any) -> dict[str, Any]:
    return {"metric": {"name": name, "goal": "maximize"}, "parameters": {"lr": {"min": 0.001, "max": 0.1}}, "program": "train.py"}


@pytest.mark.parametrize("name", USABLE)
def test_a_sweep_file_may_optimize_any_usable_name(name: str) -> None:
    # Given a sweep file whose metric is a name W&B allows / When validated / Then it is the spec's metric, unchanged
    assert parse_sweep(sweep_with_metric(name)).metric.name == name


@pytest.mark.parametrize("name", UNUSABLE)
def test_a_metric_name_no_trial_could_report_is_refused_at_validate_time(name: str) -> None:
    # Given a metric name with a control character, a separator, or too long / When validated
    with pytest.raises(SpecError) as caught:
        parse_sweep(sweep_with_metric(name))
    # Then the problem is named at metric.name, with what is wrong
    [(path, message)] = caught.value.problems
    assert path == "metric.name"
    assert "characters" in message


@pytest.mark.parametrize("name", USABLE)
def test_the_store_takes_points_of_any_usable_name(name: str) -> None:
    assert valid_point(MetricPoint(time=1.0, step=3, values={name: 0.5}))


@pytest.mark.parametrize("name", [*UNUSABLE, "", 3])
def test_the_store_refuses_points_of_unusable_names(name: Any) -> None:
    assert not valid_point(MetricPoint(time=1.0, step=3, values={name: 0.5}))


def trial(number: int, metrics: dict[str, float]) -> Trial:
    return Trial(sweep_id="s", number=number, state=TrialState.COMPLETED, params={"lr": 0.01 * number}, seed=number, last_metrics=metrics)


def test_every_metric_gets_its_own_column_even_when_names_collide_with_fields_and_prefixes() -> None:
    # Given trials that reported `state` (a field's name), `metric:state` (what a clash is renamed to) and `lr` (a parameter)
    trials = [trial(1, {"state": 1.0, "metric:state": 2.0, "lr": 3.0, "ndcg@10": 4.0})]
    # When tabled
    table = trial_table(trials)
    # Then each metric has a column of its own, holding its own value
    metric_columns = {c.name: c.key for c in table.columns if c.source is ColumnSource.METRIC}
    assert len(set(table.names)) == len(table.names)
    assert sorted(metric_columns.values()) == ["lr", "metric:state", "ndcg@10", "state"]
    row = table.records()[0]
    by_source = {source: row[column] for column, source in metric_columns.items()}
    assert by_source == {"state": 1.0, "metric:state": 2.0, "lr": 3.0, "ndcg@10": 4.0}


def test_csv_and_json_exports_keep_awkward_names_as_headers() -> None:
    # Given trials reporting names with @ / . : , = quotes and spaces
    names = ["ndcg@10", "Valid_mAP@0.50", "val/loss", 'say "hi", ok', "a=b:c"]
    table = trial_table([trial(1, {n: float(i) for i, n in enumerate(names)}), trial(2, {"val/loss": 0.5})])
    # When written as csv and json and read back with the standard readers
    text, js = io.StringIO(), io.StringIO()
    write_csv(table, text)
    write_json(table, js)
    rows = list(csv.DictReader(io.StringIO(text.getvalue())))
    records = json.loads(js.getvalue())
    # Then every name is a header, exactly, holding its trial's value
    for i, name in enumerate(names):
        assert float(rows[0][name]) == records[0][name] == float(i)
    assert rows[1]["ndcg@10"] == "" and records[1]["val/loss"] == 0.5


def test_sort_by_a_metric_whose_name_starts_with_a_dash() -> None:
    # Given a metric named `-delta` / When sorted by it, and by `--delta` / Then ascending and descending
    table = trial_table([trial(1, {"-delta": 2.0}), trial(2, {"-delta": 1.0}), trial(3, {"-delta": 3.0})])
    assert sort_order(table, "-delta") == [1, 0, 2]
    assert sort_order(table, "--delta") == [2, 0, 1]
