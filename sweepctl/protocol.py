"""How a trial reports metrics: plain `name=value` lines on stdout, from any language.

A line is a report when every whitespace- or comma-separated token is
`name=number` (the Katib stdout convention), e.g. `step=3 loss=0.25 acc=0.9`.
`step`, when present, must be an integer and is the x-axis of the history.
Anything else (logs, progress bars, `epoch 3: loss=0.2`) is ordinary output.
Numbers are Python floats: `nan`, `inf` and `-inf` are accepted and recorded.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

METRIC_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")
_TOKEN = re.compile(rf"({METRIC_NAME.pattern})=([^\s,=]+)")
_SEPARATORS = re.compile(r"[\s,]+")
STEP = "step"


@dataclass(frozen=True)
class Report:
    step: int | None
    values: dict[str, float]


def parse_report(line: str) -> Report | None:
    """The report a stdout line carries, or None when the line is ordinary output."""
    tokens = [t for t in _SEPARATORS.split(line.strip()) if t]
    if not tokens:
        return None
    values: dict[str, float] = {}
    step: int | None = None
    for token in tokens:
        match = _TOKEN.fullmatch(token)
        if match is None:
            return None
        name, text = match.groups()
        try:
            number = float(text)
        except ValueError:
            return None
        if name == STEP:
            if not math.isfinite(number) or number != int(number):
                return None
            step = int(number)
        else:
            values[name] = number
    if not values:
        return None
    return Report(step=step, values=values)


def format_report(step: int | None, values: dict[str, float]) -> str:
    """The stdout line for a report; `parse_report(format_report(...))` gives it back."""
    tokens = [] if step is None else [f"{STEP}={int(step)}"]
    tokens += [f"{name}={float(value)!r}" for name, value in values.items()]
    return " ".join(tokens)
