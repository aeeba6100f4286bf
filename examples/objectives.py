"""Objectives for the examples: plain Python functions of a parameter dict."""

from __future__ import annotations

import math


def branin(params: dict) -> float:
    """The Branin function (minimum 0.397887 at three points); x in [-5, 10], y in [0, 15]."""
    x, y = params["x"], params["y"]
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return a * (y - b * x**2 + c * x - r) ** 2 + s * (1 - t) * math.cos(x) + s
