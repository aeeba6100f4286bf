"""Python-function objectives for system tests."""

from __future__ import annotations

import math
import os
import time


def quadratic(params: dict) -> float:
    return (params["x"] - 1.0) ** 2 + (params.get("y", 0.0) + 2.0) ** 2


def quadratic_and_pid(params: dict) -> dict[str, float]:
    """The quadratic, and which process computed it (to see trials share a reused process)."""
    return {"loss": quadratic(params), "pid": os.getpid()}


def by_mode(params: dict) -> float:
    mode = params["mode"]
    if mode == "raise":
        raise ValueError(f"bad parameter combination {params}")
    if mode == "nan":
        return math.nan
    if mode == "hang":
        time.sleep(120)
    return 1.0


def accuracy_and_latency(params: dict) -> dict[str, float]:
    """Two objectives at odds: a wider model (x) is more accurate and slower; dropout (y) only costs accuracy."""
    x, y = params["x"], params["y"]
    return {"accuracy": x - 0.3 * y**2, "latency_ms": 5.0 + 20.0 * x**2}
