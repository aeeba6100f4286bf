"""A 2-D quadratic the TPE engines are tested on, and a sequential sweep over it."""

from __future__ import annotations

from controller.suggester import Observation, Suggester
from sweepctl.space import Distribution, FlatAssignment, Parameter, SearchSpace

PLANE = SearchSpace(
    (
        Parameter(("x",), Distribution.UNIFORM, min=-5.0, max=5.0),
        Parameter(("y",), Distribution.UNIFORM, min=-5.0, max=5.0),
    )
)


def quadratic(params: FlatAssignment) -> float:
    return float((params["x"] - 1.5) ** 2 + (params["y"] + 2.0) ** 2)


def best_after(suggester: Suggester, trials: int) -> float:
    """Run a sequential sweep, observing each trial before the next is suggested."""
    best = float("inf")
    for number in range(1, trials + 1):
        params = suggester.suggest(number)
        assert params is not None
        loss = quadratic(params)
        best = min(best, loss)
        suggester.observe([Observation(number, params, loss)])
    return best
