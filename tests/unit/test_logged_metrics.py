"""Rows a trial logs with `wandb.log` take the report lines' path: the same checks, limits, counts; its W&B summary is its objective."""

from __future__ import annotations

from sweepctl import codec
from sweepctl.protocol import MAX_METRICS_PER_REPORT
from sweepctl.records import TrialState
from sweepctl.store.outcomes import MAX_POINT_BYTES, valid_point
from sweepctl.sweepfile import parse_sweep
from workers.metric_buffer import MAX_METRIC_NAMES, MetricBuffer
from workers.outcome import judge_exit

MULTI = {"method": "random", "function": "m:f", "parameters": {"x": {"values": [1, 2]}}}


def test_a_logged_row_is_a_point_of_the_trials_history() -> None:
    buffer = MetricBuffer("val/loss")
    # When two rows are logged
    buffer.add_logged(0, {"val/loss": 0.9, "val_acc": 0.1})
    buffer.add_logged(1, {"val/loss": 0.5})
    # Then they wait to be written as points, numbered, with their steps
    first, points = buffer.drain()
    assert first == 0
    assert [(p.step, p.values) for p in points] == [(0, {"val/loss": 0.9, "val_acc": 0.1}), (1, {"val/loss": 0.5})]
    assert buffer.summary()["last_metrics"] == {"val/loss": 0.5, "val_acc": 0.1}
    assert buffer.summary()["last_step"] == 1
    assert buffer.objective_value == 0.5


def test_the_w_and_b_summary_decides_the_objective_and_shows_in_last_metrics() -> None:
    buffer = MetricBuffer("val_acc")
    buffer.add_logged(0, {"val_acc": 0.4})
    # When the script sets run.summary["val_acc"] and the summary also holds a value never logged as a row
    buffer.set_final({"val_acc": 42.0, "best.x": 1.5})
    # Then the summary's value is the objective, as W&B's sweep would take it
    assert buffer.objective_value == 42.0
    assert judge_exit(0, metric="val_acc", last_value=buffer.objective_value).objective == 42.0
    assert buffer.summary()["last_metrics"] == {"val_acc": 42.0, "best.x": 1.5}
    # And the history keeps what was logged
    assert [p.values for p in buffer.drain()[1]] == [{"val_acc": 0.4}]


def test_without_a_summary_entry_for_the_metric_the_last_report_stands() -> None:
    buffer = MetricBuffer("loss")
    buffer.feed("step=1 loss=0.3")
    buffer.set_final({"other": 1.0})
    assert buffer.objective_value == 0.3
    assert judge_exit(0, metric="loss", last_value=MetricBuffer("loss").objective_value).state is TrialState.FAILED


def test_names_the_protocol_refuses_are_left_out_and_counted_once_per_row() -> None:
    buffer = MetricBuffer("loss")
    buffer.add_logged(3, {"loss": 0.2, "val loss": 0.3, "bad\nname": 1.0, "": 2.0})
    _, points = buffer.drain()
    assert [p.values for p in points] == [{"loss": 0.2, "val loss": 0.3}]
    assert buffer.summary()["rejected_reports"] == {"bad_metric_name": 1}
    buffer.set_final({"loss": 0.1, "bad\tname": 5.0})
    assert buffer.summary()["last_metrics"] == {"loss": 0.1, "val loss": 0.3}


def test_a_wide_row_is_cut_into_points_the_store_takes() -> None:
    # Given a row of 250 values with long names
    buffer = MetricBuffer("m0")
    row = {f"layer_{i:03d}/" + "w" * 60: float(i) for i in range(250)}
    buffer.add_logged(7, row)
    # When drained / Then every value is there, in points of one step that each pass the store's own check
    _, points = buffer.drain()
    assert len(points) > 250 // MAX_METRICS_PER_REPORT
    assert {k: v for p in points for k, v in p.values.items()} == row
    assert all(p.step == 7 and valid_point(p) and len(codec.encode_point(p)) <= MAX_POINT_BYTES for p in points)
    assert buffer.summary()["reports"] == len(points)


def test_a_name_over_the_name_limit_is_rejected_and_the_rest_kept() -> None:
    buffer = MetricBuffer("loss")
    buffer.add_logged(1, {"loss": 0.5, "n" * 5000: 1.0})
    assert [p.values for p in buffer.drain()[1]] == [{"loss": 0.5}]
    assert buffer.summary()["rejected_reports"] == {"bad_metric_name": 1}


def test_logged_rows_share_the_limit_on_metric_names_with_report_lines() -> None:
    buffer = MetricBuffer("loss")
    for i in range(MAX_METRIC_NAMES // 100):
        buffer.add_logged(i, {f"m{i}_{j}": 1.0 for j in range(100)})
    buffer.feed("step=99 another=1")
    buffer.add_logged(100, {"one_more": 1.0})
    assert buffer.summary()["rejected_reports"] == {"too_many_metric_names": 2}


def test_with_several_objectives_each_ends_with_its_summary_value_else_its_last_report_and_is_always_recorded() -> None:
    spec = parse_sweep({**MULTI, "metric": [{"name": "accuracy", "goal": "maximize"}, {"name": "latency"}]})
    # Given a trial of a sweep with objectives accuracy and latency, which reported both
    reported = MetricBuffer.for_sweep(spec)
    assert (reported.metric, reported.others) == ("accuracy", ("latency",))
    reported.feed("step=1 accuracy=0.8")
    assert reported.other_values == {"latency": None}  # not reported yet
    reported.feed("step=2 accuracy=0.9 latency=31")
    # Then its last reports are what it is judged by
    assert (reported.objective_value, reported.other_values) == (0.9, {"latency": 31.0})
    # Given one whose metric names filled up before its W&B summary gave latency
    summarized = MetricBuffer.for_sweep(spec)
    summarized.feed("step=1 accuracy=0.9")
    for i in range(MAX_METRIC_NAMES - 1):
        summarized.add_logged(3, {f"m{i}": 1.0})
    assert len(summarized.summary()["last_metrics"]) == MAX_METRIC_NAMES
    summarized.set_final({"latency": 30.0, "not_an_objective": 1.0})
    # Then the summary's latency is judged and recorded all the same (another name past the limit is not)
    assert summarized.other_values == {"latency": 30.0}
    assert summarized.summary()["last_metrics"]["latency"] == 30.0
    assert "not_an_objective" not in summarized.summary()["last_metrics"]
    verdict = judge_exit(0, metric="accuracy", last_value=summarized.objective_value, others=summarized.other_values)
    assert verdict.state is TrialState.COMPLETED and verdict.objective == 0.9
