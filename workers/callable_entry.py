"""Runs a `function: "module:callable"` trial, in the process the launcher forked for it.

The callable gets the trial's nested parameters as one dict. It may report
along the way with `sweepctl.report(...)` and may return a number (the value
of METRIC), a mapping of metric values, or None (what it reported stands).
An exception prints its traceback and exits 1: the trial is recorded FAILED.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from typing import Any

from sweepctl.report import params, report


def load_callable(target: str) -> Any:
    module_name, _, attr = target.partition(":")
    # The sweep's folder is the trial's cwd: its modules must import as they would there.
    sys.path.insert(0, os.getcwd())
    module = importlib.import_module(module_name)
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise SystemExit(f"sweepctl: {target!r} is not a callable")
    return fn


def run_callable(target: str, metric: str) -> int:
    """Call the trial's function with its parameters and report what it returned; the exit code."""
    result = load_callable(target)(params())
    if result is None:
        return 0
    values: dict[str, Any] = (
        {str(k): float(v) for k, v in result.items()} if isinstance(result, Mapping) else {metric: float(result)}
    )
    if "step" in values:
        values["step"] = int(values["step"])
    report(**values)
    return 0
