"""The constant liar (Ginsbourger et al.): the loss a TPE engine tells for a trial still running.

Both TPE engines tell pending trials as finished with one made-up loss taken
from the losses seen so far, so that concurrent suggestions spread out instead
of crowding the same optimum. Which loss is each engine's `lie` option.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

TOLD_LIES = ("worst", "mean", "best")  # lies told as a loss; an engine may know others


def check_lie(lie: str, lies: tuple[str, ...]) -> None:
    """Refuse a lie the engine cannot tell (the sweep file was validated; this guards direct use)."""
    if lie not in lies:
        raise ValueError(f"lie must be one of {lies}, got {lie!r}")


def lie_value(lie: str, losses: Iterable[float]) -> float | None:
    """The loss told for pending trials: the worst, mean or best finite loss seen; None before any."""
    seen = [x for x in losses if math.isfinite(x)]
    if not seen:
        return None
    if lie == "worst":
        return max(seen)
    if lie == "best":
        return min(seen)
    return sum(seen) / len(seen)
