"""The stdout report protocol (`name=value` lines) and the `sweepctl.report()` API that writes it."""

from __future__ import annotations

import json
import math

import pytest

from sweepctl.errors import SweepError
from sweepctl.protocol import Report, classify_line, format_report
from sweepctl.report import PARAMS_ENV, SEED_ENV, params, report, seed


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


@pytest.mark.parametrize("name", ["2fast", "has space", "a=b", "loss!", ""])
def test_unusable_metric_names_raise_and_print_nothing(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a metric name the protocol cannot carry / When reported / Then SweepError names it and stdout stays empty
    with pytest.raises(SweepError, match="metric name"):
        report(**{name: 1.0})
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
