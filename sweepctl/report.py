"""The tiny API a training script calls: `sweepctl.report(step=..., loss=...)`.

Names that are no Python keyword argument (`ndcg@10`, `val/loss`, `Valid_mAP@0.50`,
`val loss`) go in a mapping, alone or with keywords:
`sweepctl.report({"ndcg@10": 0.5, "val/loss": 0.3}, step=3, acc=0.9)`.

It needs no Redis credentials: it writes one report line to stdout (flushed), in the
form of `sweepctl.protocol` that carries its names exactly (`format_report`): `step=3
loss=0.25` when every name is a common one, else `sweepctl-report {"step":3,"metrics":
{"ndcg@10":0.5}}`. The worker running the trial parses and stores it; outside a sweep the
line is simply printed, so scripts run the same by hand. What a worker would reject (a
name past the protocol's rules, a value that is no number, a fractional step, more than
100 metrics or a line over 4096 characters) raises SweepError and prints nothing.

A trial that runs in the process of `sweepctl.agent` (a function, not a
process of its own) has its reports handed to that agent directly: the agent
installs a sink (`reporting_to`), which gets each report instead of stdout,
checked the same way, and which raises `TrialStopped` from `report()` once the
trial must stop.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from sweepctl.errors import SweepError
from sweepctl.protocol import format_report, metric_name_problem, report_problem

PARAMS_ENV = "SWEEPCTL_PARAMS"
SEED_ENV = "SWEEPCTL_TRIAL_SEED"
FOLD_ENV = "SWEEPCTL_FOLD"  # the fold a task of a k-fold trial runs: 0 .. SWEEPCTL_FOLDS - 1
FOLDS_ENV = "SWEEPCTL_FOLDS"


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


def report(metrics: Mapping[str, float] | None = None, /, *, step: int | None = None, **values: float) -> None:
    """Report metric values of the running trial (a mapping of any names, keywords, or both) and optionally the step.

    In a trial function run by `sweepctl.agent`, raises TrialStopped once the trial must stop.
    """
    if metrics is not None and not isinstance(metrics, Mapping):
        raise SweepError(f"report() takes metrics as a mapping or keywords (the step as step=N), got {metrics!r}")
    given = dict(metrics or {})
    twice = sorted(given.keys() & values.keys())
    if twice:
        raise SweepError(f"metric {twice[0]!r} given twice, in the mapping and as a keyword")
    given.update(values)
    if not given:
        raise SweepError("report() needs at least one metric, e.g. report(step=1, loss=0.3) or report({'ndcg@10': 0.5})")
    clean = {_name(name): _number(name, value) for name, value in given.items()}
    whole = _step(step)
    rejected = report_problem(whole, clean)
    if rejected is not None:
        raise SweepError(f"report(): {rejected.detail}")
    sink = _sink
    if sink is not None:
        sink(whole, clean)
        return
    sys.stdout.write(format_report(whole, clean) + "\n")
    sys.stdout.flush()


def _name(name: Any) -> str:
    problem = metric_name_problem(name)
    if problem is not None:
        raise SweepError(f"metric name {name!r} is not usable: {problem}")
    return str(name)


def _number(name: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise SweepError(f"metric {name!r} must be a number, got {value!r}") from exc


def _step(step: Any) -> int | None:
    """The step as an integer: an int (numpy's too) or anything float() reads as an integral number (2.0, a 0-d tensor)."""
    if step is None:
        return None
    if isinstance(step, numbers.Integral) and not isinstance(step, bool):
        return int(step)
    try:
        number = math.nan if isinstance(step, (str, bytes, bool)) else float(step)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number != int(number):
        raise SweepError(f"step must be an integer, got {step!r}")
    return int(number)


def params() -> dict[str, Any]:
    """The running trial's parameters (nested, as in the sweep file); {} outside a sweep."""
    raw = os.environ.get(PARAMS_ENV)
    return {} if not raw else dict(json.loads(raw))


def seed() -> int | None:
    """The running trial's seed (derived from the sweep seed and trial number), if any."""
    raw = os.environ.get(SEED_ENV)
    return None if raw is None else int(raw)


def fold() -> int | None:
    """The fold this task of a k-fold trial runs (`cross_validation`): 0 .. folds() - 1; None outside one.

    Every fold of a trial has its parameters and its seed: split the data the same way in each
    (`KFold(n_splits=sweepctl.folds(), shuffle=True, random_state=sweepctl.seed())`) and hold out fold `fold()`.
    """
    raw = os.environ.get(FOLD_ENV)
    return None if raw is None else int(raw)


def folds() -> int | None:
    """How many folds the running trial has (`cross_validation: {folds: k}`); None outside a k-fold trial."""
    raw = os.environ.get(FOLDS_ENV)
    return None if raw is None else int(raw)
