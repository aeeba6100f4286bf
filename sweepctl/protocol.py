"""How a trial reports metrics: plain `name=value` lines on stdout, from any language.

A line is a report when every whitespace- or comma-separated token is
`name=number` (the Katib stdout convention), e.g. `step=3 loss=0.25 acc=0.9`.
`step`, when present, must be an integer and is the x-axis of the history.
Anything else (logs, progress bars, `epoch 3: loss=0.2`) is ordinary output.
Numbers are Python floats: `nan`, `inf` and `-inf` are accepted and recorded.
A line shaped like a report that cannot be one (a value that is no number, a
fractional step, more than MAX_METRICS_PER_REPORT metrics or MAX_REPORT_CHARS
characters) is a rejected report: counted, never recorded.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

METRIC_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
_TOKEN = re.compile(rf"({METRIC_NAME.pattern})=([^\s,=]+)")
_SEPARATORS = re.compile(r"[\s,]+")
STEP = "step"
MAX_REPORT_CHARS = 4096
MAX_METRICS_PER_REPORT = 100


@dataclass(frozen=True)
class Report:
    step: int | None
    values: dict[str, float]


@dataclass(frozen=True)
class RejectedReport:
    """A line shaped like a report that is not a valid one; `reason` names the rule it broke."""

    reason: str


def classify_line(line: str) -> Report | RejectedReport | None:
    """A report, a rejected report, or None when the line is ordinary output."""
    tokens = [t for t in _SEPARATORS.split(line.strip()) if t]
    matches = [_TOKEN.fullmatch(t) for t in tokens]
    if not tokens or any(m is None for m in matches):
        return None
    if len(line) > MAX_REPORT_CHARS or len(tokens) > MAX_METRICS_PER_REPORT + 1:
        return RejectedReport("oversized_report")
    values: dict[str, float] = {}
    step: int | None = None
    for match in matches:
        assert match is not None
        name, text = match.groups()
        try:
            number = float(text)
        except ValueError:
            return RejectedReport("non_numeric_metric")
        if name == STEP:
            if not math.isfinite(number) or number != int(number):
                return RejectedReport("bad_step")
            step = int(number)
        else:
            values[name] = number
    if not values:
        return None
    return Report(step=step, values=values)


def format_report(step: int | None, values: dict[str, float]) -> str:
    """The stdout line for a report; `classify_line(format_report(...))` gives it back."""
    tokens = [] if step is None else [f"{STEP}={int(step)}"]
    tokens += [f"{name}={float(value)!r}" for name, value in values.items()]
    return " ".join(tokens)
