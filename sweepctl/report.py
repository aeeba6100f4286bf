"""The tiny API a training script calls: `sweepctl.report(step=..., loss=...)`.

It needs no Redis credentials: it writes one report line to stdout (flushed),
which the worker running the trial parses and stores. Outside a sweep the line
is simply printed, so scripts run the same by hand.
"""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

from sweepctl.errors import SweepError
from sweepctl.protocol import METRIC_NAME, STEP, format_report

PARAMS_ENV = "SWEEPCTL_PARAMS"
SEED_ENV = "SWEEPCTL_TRIAL_SEED"


def report(step: int | None = None, **values: float) -> None:
    """Report metric values (and optionally the step) of the running trial."""
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
