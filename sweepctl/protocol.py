"""How a trial reports metrics: lines on its stdout, from any language, in one of two forms.

The `name=value` form (the Katib stdout convention). A line is a report when every
whitespace- or comma-separated token is `name=number`, e.g.

    step=3 loss=0.25 ndcg@10=0.9 val/acc=0.8

Its names are the common ones (METRIC_NAME): a letter or `_`, then letters, digits and
`_ . / - @`. Anything else (logs, progress bars, `epoch 3: loss=0.2`, `INFO:root:loss=0.2`)
is ordinary output.

The JSON form carries any metric name exactly (spaces, `:`, `=`, `,`, non-ASCII...): the
word `sweepctl-report`, whitespace, then one JSON object with `metrics` (name -> number)
and optionally `step`, on one line:

    sweepctl-report {"step": 3, "metrics": {"mAP@0.5:0.95": 0.41, "val loss": 0.25}}

Values are JSON numbers or the strings "nan", "inf", "-inf" (strict JSON has no NaN;
Python's `NaN`/`Infinity` tokens are read too). Only a line that starts with the word
`sweepctl-report` followed by whitespace (or nothing) is read as this form.

In both forms `step`, when present, must be an integer (an integral float is taken) and
is the x-axis of the history; in the JSON form a metric may also be named `step`.
Numbers are Python floats: `nan`, `inf` and `-inf` are accepted and recorded.

Metric names: any name `wandb.log` takes that can be stored and shown safely, the same
rule as `metric.name` in a sweep file (`metric_name_problem`): 1 to MAX_METRIC_NAME_CHARS
characters, not only whitespace, with no control character (U+0000-U+001F,
U+007F-U+009F), line or paragraph separator (U+2028, U+2029) or lone surrogate.

A line shaped like a report that cannot be one is a rejected report, counted by its
`Rejection` and never recorded: a value that is no number, a step that is no integer, an
unusable metric name, a JSON form that is not `{"step": ..., "metrics": {...}}` with at
least one metric, more than MAX_METRICS_PER_REPORT metrics, or more than MAX_REPORT_CHARS
characters (a JSON report also as `format_report` writes it: ASCII, other characters
escaped), so that every report a worker accepts fits one metric point of the store.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

METRIC_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_./@-]*")  # the names the name=value form carries
_TOKEN = re.compile(rf"({METRIC_NAME.pattern})=([^\s,=]+)")
_SEPARATORS = re.compile(r"[\s,]+")
STEP = "step"
JSON_PREFIX = "sweepctl-report"
_JSON_KEYS = frozenset({STEP, "metrics"})
MAX_REPORT_CHARS = 4096
MAX_METRICS_PER_REPORT = 100
MAX_METRIC_NAME_CHARS = 256
# What a metric name may not hold: C0 and C1 controls (newlines and tabs break lines, tables and
# terminals), the Unicode line and paragraph separators (str.splitlines breaks lines there) and lone
# surrogates (no UTF-8 spelling: Redis could not store them).
_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


class Rejection(str, Enum):
    """Why a report-shaped line (or a report built by other means) is not a report; counted in `rejected_reports`."""

    OVERSIZED = "oversized_report"
    NON_NUMERIC = "non_numeric_metric"
    BAD_STEP = "bad_step"
    BAD_NAME = "bad_metric_name"
    MALFORMED = "malformed_report"


@dataclass(frozen=True)
class Report:
    step: int | None
    values: dict[str, float]


@dataclass(frozen=True)
class RejectedReport:
    """A line shaped like a report that is not a valid one; `reason` names the rule it broke, `detail` says how."""

    reason: Rejection
    detail: str = ""


def metric_name_problem(name: object) -> str | None:
    """What makes `name` unusable as a metric name (see the module docstring), or None when it is usable."""
    if not isinstance(name, str):
        return f"expected a string, got {type(name).__name__}"
    if not name.strip():
        return "expected a name, got an empty one"
    if len(name) > MAX_METRIC_NAME_CHARS:
        return f"expected at most {MAX_METRIC_NAME_CHARS} characters, got {len(name)}"
    found = _FORBIDDEN.search(name)
    if found is not None:
        return (
            f"must not contain U+{ord(found.group()):04X} at position {found.start()}"
            " (no control characters, line separators or lone surrogates)"
        )
    return None


def report_problem(step: int | None, values: Mapping[str, float]) -> RejectedReport | None:
    """Why `step` and `values` cannot make one report, or None when they can.

    Whatever passes is taken by a worker and fits one metric point of the store: what a
    reader of another source (W&B's run files) checks before it hands a report on.
    """
    if not values:
        return RejectedReport(Rejection.MALFORMED, "a report needs at least one metric")
    if len(values) > MAX_METRICS_PER_REPORT:
        return RejectedReport(Rejection.OVERSIZED, f"at most {MAX_METRICS_PER_REPORT} metrics per report, got {len(values)}")
    for name, value in values.items():
        problem = metric_name_problem(name)
        if problem is not None:
            return RejectedReport(Rejection.BAD_NAME, f"metric name {name!r}: {problem}")
        if not isinstance(value, float):
            return RejectedReport(Rejection.NON_NUMERIC, f"metric {name!r} must be a float, got {value!r}")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
        return RejectedReport(Rejection.BAD_STEP, f"step must be an integer, got {step!r}")
    size = len(format_report(step, values))
    if size > MAX_REPORT_CHARS:
        return RejectedReport(Rejection.OVERSIZED, f"a report line has at most {MAX_REPORT_CHARS} characters, this one {size}")
    return None


def classify_line(line: str) -> Report | RejectedReport | None:
    """A report, a rejected report, or None when the line is ordinary output."""
    text = line.strip()
    if text.startswith(JSON_PREFIX) and (len(text) == len(JSON_PREFIX) or text[len(JSON_PREFIX)].isspace()):
        return _json_report(line, text[len(JSON_PREFIX) :])
    return _token_report(line, text)


def _token_report(line: str, text: str) -> Report | RejectedReport | None:
    """The name=value form (see the module docstring)."""
    tokens = [t for t in _SEPARATORS.split(text) if t]
    matches = [_TOKEN.fullmatch(t) for t in tokens]
    if not tokens or any(m is None for m in matches):
        return None
    if len(line) > MAX_REPORT_CHARS or len(tokens) > MAX_METRICS_PER_REPORT + 1:
        return RejectedReport(Rejection.OVERSIZED)
    values: dict[str, float] = {}
    step: int | None = None
    for match in matches:
        assert match is not None
        name, number_text = match.groups()
        try:
            number = float(number_text)
        except ValueError:
            return RejectedReport(Rejection.NON_NUMERIC)
        if name == STEP:
            if not math.isfinite(number) or number != int(number):
                return RejectedReport(Rejection.BAD_STEP)
            step = int(number)
        elif len(name) > MAX_METRIC_NAME_CHARS:
            return RejectedReport(Rejection.BAD_NAME)
        else:
            values[name] = number
    if not values:
        return None
    return Report(step=step, values=values)


def _json_report(line: str, payload: str) -> Report | RejectedReport:
    """The JSON form (see the module docstring); `payload` is what follows the prefix."""
    if len(line) > MAX_REPORT_CHARS:
        return RejectedReport(Rejection.OVERSIZED)
    try:
        doc = json.loads(payload)
    except (ValueError, RecursionError):  # RecursionError: thousands of nested brackets
        return RejectedReport(Rejection.MALFORMED, "not one JSON object")
    if not isinstance(doc, dict) or not doc.keys() <= _JSON_KEYS or not isinstance(doc.get("metrics"), dict):
        return RejectedReport(Rejection.MALFORMED, 'expected {"step": N, "metrics": {name: number}}')
    step = doc.get(STEP)
    if step is not None:
        step = _integer(step)
        if step is None:
            return RejectedReport(Rejection.BAD_STEP)
    values: dict[str, float] = {}
    for name, raw in doc["metrics"].items():
        number = _number(raw)
        if number is None:
            return RejectedReport(Rejection.NON_NUMERIC, f"metric {name!r}")
        values[name] = number
    return report_problem(step, values) or Report(step=step, values=values)


def _integer(raw: Any) -> int | None:
    """A JSON step as an integer (2.0 is 2), or None when it is no integer."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, float) and math.isfinite(raw) and raw == int(raw):
        return int(raw)
    return None


def _number(raw: Any) -> float | None:
    """A JSON metric value as a float: a number, or a string spelling NaN or an infinity."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        try:
            return float(raw)
        except OverflowError:  # an integer past the largest float
            return None
    if isinstance(raw, str) and raw.strip().lower() in ("nan", "inf", "-inf", "+inf", "infinity", "-infinity", "+infinity"):
        return float(raw)
    return None


def format_report(step: int | None, values: Mapping[str, float]) -> str:
    """The stdout line for a report; `classify_line(format_report(...))` gives it back.

    The name=value form when every name is one it carries (and none is `step`), else the
    JSON form, ASCII-only so that it reads back the same whatever the stream's encoding.
    """
    if all(name != STEP and METRIC_NAME.fullmatch(name) for name in values):
        tokens = [] if step is None else [f"{STEP}={int(step)}"]
        tokens += [f"{name}={float(value)!r}" for name, value in values.items()]
        return " ".join(tokens)
    doc: dict[str, Any] = {} if step is None else {STEP: int(step)}
    doc["metrics"] = {name: _json_value(float(value)) for name, value in values.items()}
    return f"{JSON_PREFIX} {json.dumps(doc, separators=(',', ':'), allow_nan=False)}"


def _json_value(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)
