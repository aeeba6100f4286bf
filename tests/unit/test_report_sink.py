"""`sweepctl.report()` in a trial function run by `sweepctl.agent`: reports go to the agent's sink, not stdout."""

from __future__ import annotations

import pytest

from sweepctl import SweepError, TrialStopped
from sweepctl.report import report, reporting_to


def test_within_a_sink_reports_reach_it_checked_and_nothing_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a sink installed, as the in-process agent does for one trial
    got: list[tuple[int | None, dict[str, float]]] = []
    with reporting_to(lambda step, values: got.append((step, values))):
        # When the function reports, with a step and without, numbers of any kind
        report(step=3, loss=1, acc=0.5)
        report(loss=0.25)
        # Then a bad report is refused as it would be on stdout, before the sink sees it
        with pytest.raises(SweepError, match="must be a number"):
            report(loss="low")  # type: ignore[arg-type]
    # Then the sink got each report as floats, and stdout nothing
    assert got == [(3, {"loss": 1.0, "acc": 0.5}), (None, {"loss": 0.25})]
    assert capsys.readouterr().out == ""
    # And after the block, reports are stdout lines again
    report(loss=0.5)
    assert capsys.readouterr().out == "loss=0.5\n"


def test_a_stop_raised_by_the_sink_reaches_the_function_past_except_exception() -> None:
    # Given a sink that says the trial must stop
    def stopping(step: int | None, values: dict[str, float]) -> None:
        raise TrialStopped("trial 2 stopped early")

    caught = []
    with reporting_to(stopping), pytest.raises(TrialStopped, match="stopped early"):
        # When a training loop that swallows every Exception reports
        try:
            report(loss=1.0)
        except Exception as exc:  # noqa: BLE001  # what careless training code does
            caught.append(exc)
    # Then TrialStopped went past it: it is no Exception, as KeyboardInterrupt is none
    assert caught == []


def test_one_sink_at_a_time() -> None:
    with reporting_to(lambda step, values: None), pytest.raises(SweepError, match="one sweepctl.agent runs at a time"):
        with reporting_to(lambda step, values: None):
            pass
