"""The tiny API a training script calls: `sweepctl.report(step=..., loss=...)`.

It needs no Redis credentials: it writes one report line to stdout (flushed),
which the worker running the trial parses and stores. Outside a sweep the line
is simply printed, so scripts run the same by hand.

A trial that runs in the process of `sweepctl.agent` (a function, not a
process of its own) has its reports handed to that agent directly: the agent
installs a sink (`reporting_to`), which gets each report instead of stdout,
checked the same way, and which raises `TrialStopped` from `report()` once the
trial must stop.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sweepctl.errors import SweepError
from sweepctl.protocol import METRIC_NAME, STEP, format_report

PARAMS_ENV = "SWEEPCTL_PARAMS"
SEED_ENV = "SWEEPCTL_TRIAL_SEED"


# Where a trial's reports go in the agent's own process: (step, values) -> None, or raises TrialStopped.
ReportSink = Callable[[int | None, dict[str, float]], None]
_sink: ReportSink | None = None


class TrialStopped(BaseException):  # noqa: N818  # not an error: like KeyboardInterrupt, a request to stop
    """Raised by `report()` in a trial function run by `sweepctl.agent` once the trial must stop.

    Early termination, a cancelled sweep or a trial_timeout cannot kill the
    process the function runs in (it is the caller's), so the next report stops
    it instead; the agent records the trial as stopped (cancelled, timed out) and
    goes on. A BaseException, as KeyboardInterrupt is, so that a training loop's
    `except Exception:` does not swallow it; every later report raises it again.
    """


@contextmanager
def reporting_to(sink: ReportSink) -> Iterator[None]:
    """Within the block, `report()` hands its checked reports to `sink` instead of printing them (one sink at a time)."""
    global _sink
    if _sink is not None:
        raise SweepError("another trial of this process is reporting already: one sweepctl.agent runs at a time in a process")
    _sink = sink
    try:
        yield
    finally:
        _sink = None


def report(step: int | None = None, **values: float) -> None:
    """Report metric values (and optionally the step) of the running trial.

    In a trial function run by `sweepctl.agent`, raises TrialStopped once the trial must stop.
    """
    if not values:
        raise SweepError("report() needs at least one metric, e.g. report(step=1, loss=0.3)")
    clean: dict[str, float] = {}
    for name, value in values.items():
        if METRIC_NAME.fullmatch(name) is None or name == STEP:
            raise SweepError(f"metric name {name!r} is not usable: letters, digits, _ . / - only")
        try:
            clean[name] = float(value)
        except (TypeError, ValueError) as exc:
            raise SweepError(f"metric {name!r} must be a number, got {value!r}") from exc
    if step is not None and (not math.isfinite(float(step)) or int(step) != step):
        raise SweepError(f"step must be an integer, got {step!r}")
    sink = _sink
    if sink is not None:
        sink(None if step is None else int(step), clean)
        return
    sys.stdout.write(format_report(step, clean) + "\n")
    sys.stdout.flush()


def params() -> dict[str, Any]:
    """The running trial's parameters (nested, as in the sweep file); {} outside a sweep."""
    raw = os.environ.get(PARAMS_ENV)
    return {} if not raw else dict(json.loads(raw))


def seed() -> int | None:
    """The running trial's seed (derived from the sweep seed and trial number), if any."""
    raw = os.environ.get(SEED_ENV)
    return None if raw is None else int(raw)
