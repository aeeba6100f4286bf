"""The stdout report protocol (`name=value` lines, `sweepctl-report {...}` JSON lines) and `sweepctl.report()`, which writes it."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from sweepctl import codec
from sweepctl.errors import SweepError
from sweepctl.protocol import (
    MAX_METRIC_NAME_CHARS,
    MAX_REPORT_CHARS,
    RejectedReport,
    Rejection,
    Report,
    classify_line,
    format_report,
)
from sweepctl.records import MetricPoint
from sweepctl.report import PARAMS_ENV, SEED_ENV, params, report, seed
from sweepctl.store.outcomes import MAX_POINT_BYTES, valid_point


def parse_report(line: str) -> Report | None:
    """The report a stdout line carries, or None when the line is ordinary output or rejected."""
    found = classify_line(line)
    return found if isinstance(found, Report) else None


# --- format_report / parse_report round trip ----------------------------------


@pytest.mark.parametrize(
    ("step", "values"),
    [
        (3, {"loss": 0.25, "acc": 0.9}),
        (None, {"loss": 0.25}),
        (0, {"val/loss": 1e-300, "train.loss": 0.1 + 0.2, "lr-x_2": -7.0}),
        (10**12, {"big": 1.7976931348623157e308}),
    ],
)
def test_a_formatted_report_parses_back_to_the_same_values(step: int | None, values: dict[str, float]) -> None:
    # Given a step and values / When formatted and parsed again
    line = format_report(step, values)
    # Then the very same step and bit-identical floats come back
    assert parse_report(line) == Report(step=step, values=values)


def test_non_finite_values_round_trip() -> None:
    # Given NaN and infinities / When formatted and parsed
    parsed = parse_report(format_report(1, {"a": math.nan, "b": math.inf, "c": -math.inf}))
    # Then they are still NaN and infinities
    assert parsed is not None
    assert math.isnan(parsed.values["a"])
    assert parsed.values["b"] == math.inf
    assert parsed.values["c"] == -math.inf


# --- which lines are reports ------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("step=3 loss=0.25 acc=0.9", Report(3, {"loss": 0.25, "acc": 0.9})),
        ("loss=0.25,acc=0.9", Report(None, {"loss": 0.25, "acc": 0.9})),
        ("  loss=1e-3\t acc=2 \n", Report(None, {"loss": 0.001, "acc": 2.0})),
        ("step=2.0 loss=1", Report(2, {"loss": 1.0})),
        ("val/loss=0.5 train.acc=0.1", Report(None, {"val/loss": 0.5, "train.acc": 0.1})),
        ("loss=inf", Report(None, {"loss": math.inf})),
        ("loss=-inf", Report(None, {"loss": -math.inf})),
    ],
)
def test_lines_of_name_equals_number_tokens_are_reports(line: str, expected: Report) -> None:
    # Given a line made only of name=number tokens / When parsed / Then it is a report
    assert parse_report(line) == expected


def test_nan_is_accepted_as_a_value() -> None:
    # Given a report of NaN / When parsed / Then it is a report carrying NaN (not ordinary output)
    parsed = parse_report("step=4 loss=nan")
    assert parsed is not None and parsed.step == 4 and math.isnan(parsed.values["loss"])


@pytest.mark.parametrize(
    "line",
    [
        "",
        "   ",
        "epoch 3: loss=0.2",
        "loss = 0.2",
        "loss=abc",
        "loss=0.2 done",
        "3loss=1",
        "loss=0.2=3",
        "Loading model... 10%",
        "step=3",  # a step with nothing measured is not a report
        "=0.5",
    ],
)
def test_everything_else_is_ordinary_output(line: str) -> None:
    # Given a log line / When parsed / Then it is not a report
    assert parse_report(line) is None


@pytest.mark.parametrize("step", ["1.5", "nan", "inf", "-inf", "x"])
def test_step_must_be_an_integer(step: str) -> None:
    # Given a line whose step is not an integer / When parsed / Then the whole line is ordinary output
    assert parse_report(f"step={step} loss=1") is None


INF = math.inf


# --- names W&B allows ----------------------------------------------------------------

AWKWARD_NAMES = [
    "ndcg@10",
    "Valid_mAP@0.50",
    "val/loss",
    "mAP@0.5:0.95",
    "metrics/mAP50-95(B)",
    "val loss",
    " padded ",
    "a=b",
    "x,y",
    "step",
    "sweepctl-report",
    '"quoted" \\ back\\slash',
    "<b>bold</b> & co",
    "名前/損失",
    "🚀 top-1",
    "x" * MAX_METRIC_NAME_CHARS,
]


@pytest.mark.parametrize("name", AWKWARD_NAMES)
def test_any_usable_name_round_trips_exactly(name: str) -> None:
    # Given a metric whose name W&B allows / When formatted as a report line and read back
    line = format_report(7, {name: 0.1 + 0.2, "plain": -1.5})
    # Then the very name and the bit-identical value come back, on one ASCII line
    assert parse_report(line) == Report(step=7, values={name: 0.1 + 0.2, "plain": -1.5})
    assert line.isascii() and "\n" not in line


def test_common_names_keep_the_name_equals_value_form() -> None:
    # Given the names W&B users report most (an @, a dot, a slash) / When formatted
    line = format_report(3, {"ndcg@10": 0.5, "Valid_mAP@0.50": 0.75, "val/loss": 0.25})
    # Then the line is the Katib form any tool can read
    assert line == "step=3 ndcg@10=0.5 Valid_mAP@0.50=0.75 val/loss=0.25"
    assert parse_report(line) == Report(3, {"ndcg@10": 0.5, "Valid_mAP@0.50": 0.75, "val/loss": 0.25})


def test_other_names_use_the_json_form() -> None:
    line = format_report(3, {"val loss": 0.25, "acc": math.inf})
    assert line == 'sweepctl-report {"step":3,"metrics":{"val loss":0.25,"acc":"inf"}}'


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            'sweepctl-report {"step": 3, "metrics": {"mAP@0.5:0.95": 0.41, "val loss": 1}}',
            Report(3, {"mAP@0.5:0.95": 0.41, "val loss": 1.0}),
        ),
        ('  sweepctl-report\t{"metrics": {"a": 1e-3}}  ', Report(None, {"a": 0.001})),
        ('sweepctl-report {"step": 2.0, "metrics": {"step": 5}}', Report(2, {"step": 5.0})),
        ('sweepctl-report {"step": null, "metrics": {"a": -2}}', Report(None, {"a": -2.0})),
        ('sweepctl-report {"metrics": {"b": "inf", "c": "-inf", "d": -Infinity}}', Report(None, {"b": INF, "c": -INF, "d": -INF})),
        ('sweepctl-report {"metrics": {"\\u540d\\u524d": 1, "名": 2}}', Report(None, {"名前": 1.0, "名": 2.0})),
        ('sweepctl-report {"metrics": {"a": 1e999}}', Report(None, {"a": math.inf})),
    ],
)
def test_json_lines_from_any_language_are_reports(line: str, expected: Report) -> None:
    # Given a JSON report as another language's encoder writes it (spacing, escapes, integers) / Then it is read exactly
    assert classify_line(line) == expected


def test_nan_in_the_json_form() -> None:
    for written in ('"nan"', "NaN"):
        parsed = parse_report(f'sweepctl-report {{"metrics": {{"loss": {written}}}}}')
        assert parsed is not None and math.isnan(parsed.values["loss"])


def test_common_names_are_reports_in_the_name_equals_value_form() -> None:
    assert classify_line("step=4 ndcg@10=0.5 Valid_mAP@0.50=0.7,val/loss=0.3") == Report(
        4, {"ndcg@10": 0.5, "Valid_mAP@0.50": 0.7, "val/loss": 0.3}
    )


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("sweepctl-report", Rejection.MALFORMED),
        ("sweepctl-report loss=0.5", Rejection.MALFORMED),
        ("sweepctl-report [1, 2]", Rejection.MALFORMED),
        ('sweepctl-report {"metrics": {}}', Rejection.MALFORMED),
        ('sweepctl-report {"metric": {"a": 1}}', Rejection.MALFORMED),
        ('sweepctl-report {"metrics": [["a", 1]]}', Rejection.MALFORMED),
        ('sweepctl-report {"metrics": {"a": 1}, "extra": 1}', Rejection.MALFORMED),
        ('sweepctl-report {"metrics": {"a": 1}} and more', Rejection.MALFORMED),
        ('sweepctl-report {"metrics": {"a": 1}', Rejection.MALFORMED),
        ("sweepctl-report " + "[" * 4000, Rejection.MALFORMED),  # nested past Python's recursion limit
        ('sweepctl-report {"metrics": {"a": "0.5"}}', Rejection.NON_NUMERIC),
        ('sweepctl-report {"metrics": {"a": true}}', Rejection.NON_NUMERIC),
        ('sweepctl-report {"metrics": {"a": null}}', Rejection.NON_NUMERIC),
        ('sweepctl-report {"metrics": {"a": {"b": 1}}}', Rejection.NON_NUMERIC),
        ('sweepctl-report {"metrics": {"a": 1' + "0" * 400 + "}}", Rejection.NON_NUMERIC),  # past the largest float
        ('sweepctl-report {"step": 1.5, "metrics": {"a": 1}}', Rejection.BAD_STEP),
        ('sweepctl-report {"step": "3", "metrics": {"a": 1}}', Rejection.BAD_STEP),
        ('sweepctl-report {"step": true, "metrics": {"a": 1}}', Rejection.BAD_STEP),
        ('sweepctl-report {"step": NaN, "metrics": {"a": 1}}', Rejection.BAD_STEP),
        ('sweepctl-report {"metrics": {"a\\nb": 1}}', Rejection.BAD_NAME),
        ('sweepctl-report {"metrics": {"\\ud800": 1}}', Rejection.BAD_NAME),
        ('sweepctl-report {"metrics": {"": 1}}', Rejection.BAD_NAME),
        ('sweepctl-report {"metrics": {"%s": 1}}' % ("x" * (MAX_METRIC_NAME_CHARS + 1)), Rejection.BAD_NAME),
        ("x" * (MAX_METRIC_NAME_CHARS + 1) + "=1", Rejection.BAD_NAME),
        ("sweepctl-report " + json.dumps({"metrics": {f"m{i}": 1 for i in range(101)}}), Rejection.OVERSIZED),
        ("sweepctl-report " + json.dumps({"metrics": {"a": 1, "pad": "x" * MAX_REPORT_CHARS}}), Rejection.OVERSIZED),
        # under MAX_REPORT_CHARS as printed, over it escaped as the store writes names (6 ASCII characters each)
        ("sweepctl-report " + json.dumps({"metrics": {"é" * 250 + str(i): 1 for i in range(12)}}, ensure_ascii=False), Rejection.OVERSIZED),
    ],
)
def test_hostile_json_lines_are_rejected_with_their_reason(line: str, reason: Rejection) -> None:
    # Given a line that starts as a JSON report but breaks a rule / When classified
    found = classify_line(line)
    # Then it is a rejected report, counted by that reason, never ordinary output or a report
    assert isinstance(found, RejectedReport) and found.reason is reason, found
    assert len(line) <= MAX_REPORT_CHARS or reason is Rejection.OVERSIZED


@pytest.mark.parametrize(
    "line",
    [
        "sweepctl-reporter started",
        "see sweepctl-report {\"metrics\": {\"a\": 1}} in the docs",
        "INFO:root:loss=0.2",
        "mAP@0.5:0.95=0.4",
        "val loss=0.25",
        '{"metrics": {"a": 1}}',
    ],
)
def test_ordinary_output_near_the_forms_stays_ordinary(line: str) -> None:
    assert classify_line(line) is None


def test_every_accepted_report_fits_one_metric_point_of_the_store() -> None:
    # Given the largest reports each form accepts: 100 tiny values whose stored form is long, a huge step,
    # and names that the store's JSON escapes to 6 or 12 characters each
    lines = [
        "step=1e308 " + " ".join(f"{'n' * 30}{i:02}=1" for i in range(100)),
        format_report(10**300, {"é" * 50 + str(i): -1.2345678901234567e-300 for i in range(10)}),
        format_report(None, {"🚀" * 30 + str(i): -1.2345678901234567e-300 for i in range(10)}),
        format_report(None, {f"m{i:02}": -1.2345678901234567e-300 for i in range(100)}),
    ]
    for line in lines:
        found = classify_line(line)
        assert isinstance(found, Report) and len(line) <= MAX_REPORT_CHARS, (found, len(line))
        # When stored / Then the point is within the store's limit for one point, so the write is never refused
        encoded = codec.encode_point(MetricPoint(time=1.7e9, step=found.step, values=found.values))
        assert valid_point(MetricPoint(time=1.7e9, step=found.step, values=found.values))
        assert len(encoded) <= MAX_POINT_BYTES, len(encoded)


# --- report() --------------------------------------------------------------------


def test_report_writes_one_parsable_line_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a training script / When it reports a step and two metrics
    report(step=3, loss=0.25, acc=0.9)
    # Then stdout holds exactly one line that parses back to them
    out = capsys.readouterr().out
    assert out.endswith("\n") and out.count("\n") == 1
    assert parse_report(out) == Report(3, {"loss": 0.25, "acc": 0.9})


def test_report_without_step_and_with_nan(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a diverged run / When it reports NaN without a step
    report(loss=float("nan"))
    # Then the line is still a report, with no step and NaN
    parsed = parse_report(capsys.readouterr().out)
    assert parsed is not None and parsed.step is None and math.isnan(parsed.values["loss"])


def test_an_integral_float_step_is_written_as_an_integer(capsys: pytest.CaptureFixture[str]) -> None:
    report(step=2.0, loss=1)  # type: ignore[arg-type]
    assert capsys.readouterr().out == "step=2 loss=1.0\n"


UNUSABLE_NAMES = ["", "   ", "a\nb", "tab\there", "nul\x00", "del\x7f", "c1\x85", "line\u2028sep", "lone\ud800", "x" * 257]


@pytest.mark.parametrize("name", UNUSABLE_NAMES)
def test_unusable_metric_names_raise_and_print_nothing(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a metric name no worker could store (empty, a control character, a lone surrogate, too long)
    # When reported, as a keyword or in a mapping / Then SweepError names it and stdout stays empty
    with pytest.raises(SweepError, match="metric name"):
        report(**{name: 1.0})
    with pytest.raises(SweepError, match="metric name"):
        report({name: 1.0}, step=1)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("value", ["abc", None, [1.0], object()])
def test_non_numeric_values_raise(value: object, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SweepError, match="'loss' must be a number"):
        report(loss=value)  # type: ignore[arg-type]
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("step", [1.5, float("nan"), float("inf")])
def test_non_integer_steps_raise(step: float, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SweepError, match="step must be an integer"):
        report(step=step, loss=1.0)  # type: ignore[arg-type]
    assert capsys.readouterr().out == ""


def test_report_needs_at_least_one_metric(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SweepError, match="at least one metric"):
        report(step=1)
    assert capsys.readouterr().out == ""
    with pytest.raises(SweepError, match="at least one metric"):
        report({}, step=1)
    assert capsys.readouterr().out == ""


def test_report_takes_any_names_in_a_mapping_beside_keywords(capsys: pytest.CaptureFixture[str]) -> None:
    # Given names no keyword argument can spell, one only the JSON form carries, and a keyword
    report({"ndcg@10": 0.5, "val/loss": 0.25, "mAP@0.5:0.95": 0.4}, step=3, acc=0.9)
    # Then one ASCII line carries all of them, exactly
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.isascii()
    assert parse_report(out) == Report(3, {"ndcg@10": 0.5, "val/loss": 0.25, "mAP@0.5:0.95": 0.4, "acc": 0.9})


def test_report_of_common_names_writes_the_name_equals_value_form(capsys: pytest.CaptureFixture[str]) -> None:
    report({"ndcg@10": 0.5, "Valid_mAP@0.50": 1, "val/loss": 0.25}, step=2)
    assert capsys.readouterr().out == "step=2 ndcg@10=0.5 Valid_mAP@0.50=1.0 val/loss=0.25\n"


def test_report_takes_numpy_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    numpy = pytest.importorskip("numpy")
    report({"val/loss": numpy.float32(0.5)}, step=numpy.int64(4))
    assert parse_report(capsys.readouterr().out) == Report(4, {"val/loss": 0.5})


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: report(3, loss=1.0), "mapping or keywords"),  # type: ignore[arg-type]  # the step given positionally
        (lambda: report({"loss": 1.0}, loss=2.0), "'loss' given twice"),
        (lambda: report({f"m{i}": 1.0 for i in range(101)}), "at most 100 metrics"),
        (lambda: report({f"{i:03}" + "x" * 250: 1.0 for i in range(20)}), "at most 4096 characters"),
        (lambda: report({"ndcg@10": "high"}), "'ndcg@10' must be a number"),  # type: ignore[dict-item]
        (lambda: report({"a": 1.0}, step=True), "step must be an integer"),
        (lambda: report({"a": 1.0}, step="3"), "step must be an integer"),  # type: ignore[arg-type]
    ],
)
def test_report_refuses_what_a_worker_would_reject_and_prints_nothing(call: Any, message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SweepError, match=message):
        call()
    assert capsys.readouterr().out == ""


# --- params() and seed() ------------------------------------------------------------


def test_params_reads_the_trial_parameters_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a worker that put nested parameters in the environment
    given = {"lr": 0.01, "optimizer": {"name": "adam", "beta": 0.9}, "layers": [64, 32]}
    monkeypatch.setenv(PARAMS_ENV, json.dumps(given))
    # When the script asks / Then it gets them back as they were
    assert params() == given


@pytest.mark.parametrize("raw", [None, ""])
def test_params_outside_a_sweep_is_empty(raw: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    if raw is None:
        monkeypatch.delenv(PARAMS_ENV, raising=False)
    else:
        monkeypatch.setenv(PARAMS_ENV, raw)
    assert params() == {}


def test_seed_reads_the_trial_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SEED_ENV, "1234567")
    assert seed() == 1234567


def test_seed_outside_a_sweep_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SEED_ENV, raising=False)
    assert seed() is None


def test_params_and_seed_read_the_environment_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given values that change after import / Then each call sees the current environment
    monkeypatch.setenv(SEED_ENV, "1")
    monkeypatch.setenv(PARAMS_ENV, '{"x": 1}')
    first = (seed(), params())
    monkeypatch.setenv(SEED_ENV, "2")
    monkeypatch.setenv(PARAMS_ENV, '{"x": 2}')
    assert first == (1, {"x": 1})
    assert (seed(), params()) == (2, {"x": 2})
