"""Objectives for the examples: plain Python functions of a parameter dict."""

from __future__ import annotations

import math


def branin(params: dict) -> float:
    """The Branin function (minimum 0.397887 at three points); x in [-5, 10], y in [0, 15]."""
    x, y = params["x"], params["y"]
    a, b, c = 1.0, 5.1 / (4 * math.pi**2), 5 / math.pi
    r, s, t = 6.0, 10.0, 1 / (8 * math.pi)
    return a * (y - b * x**2 + c * x - r) ** 2 + s * (1 - t) * math.cos(x) + s


def synthetic_training(params: dict) -> float:
    """A stand-in for a training run's validation loss over five familiar hyperparameters.

    Smooth, with its best near lr=3e-3, momentum=0.9, dropout=0.2, batch 64,
    weight decay 1e-4 (loss 0.05), so TPE's advantage over random search shows
    within a few dozen trials.
    """
    lr = math.log10(params["lr"]) + 2.5
    momentum = (params["momentum"] - 0.9) * 4
    dropout = (params["dropout"] - 0.2) * 3
    batch = math.log2(params["batch_size"]) - 6
    decay = (math.log10(params["weight_decay"]) + 4) / 2
    return 0.05 + 0.1 * (lr**2 + momentum**2 + dropout**2 + 0.3 * batch**2 + decay**2) + 0.02 * math.sin(3 * lr)
