"""The constant liar (Ginsbourger et al.): the loss a TPE engine tells for a trial still running.

Both TPE engines tell pending trials as finished with one made-up loss taken
from the losses seen so far, so that concurrent suggestions spread out instead
of crowding the same optimum. Which loss is each engine's `lie` option.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from fractions import Fraction

TOLD_LIES = ("worst", "mean", "best")  # lies told as a loss; an engine may know others


def check_lie(lie: str, lies: tuple[str, ...]) -> None:
    """Refuse a lie the engine cannot tell (the sweep file was validated; this guards direct use)."""
    if lie not in lies:
        raise ValueError(f"lie must be one of {lies}, got {lie!r}")


class LossStats:
    """The worst, best and mean finite loss seen, kept as losses come in: `lie_value` without an O(n) pass.

    The sum is kept exactly (every finite double is a whole multiple of 2**-1074), so the
    mean is the correctly rounded mean of the set, whatever order the losses came in: the
    suggester contract asks suggestions not to depend on it.
    """

    _SCALE = 1074  # a finite double times 2**1074 is an integer

    def __init__(self) -> None:
        self.count = 0
        self.worst = -math.inf
        self.best = math.inf
        self._scaled_sum = 0

    def add(self, loss: float | None) -> None:
        """Count one loss; None, NaN and infinities are not losses a lie is told from."""
        if loss is None or not math.isfinite(loss):
            return
        self.count += 1
        self.worst = max(self.worst, loss)
        self.best = min(self.best, loss)
        numerator, denominator = loss.as_integer_ratio()
        self._scaled_sum += numerator * ((1 << self._SCALE) // denominator)

    def lie(self, lie: str) -> float | None:
        """The loss told for pending trials (as `lie_value` over the same losses); None before any."""
        if self.count == 0:
            return None
        if lie == "worst":
            return self.worst
        if lie == "best":
            return self.best
        return float(Fraction(self._scaled_sum, self.count << self._SCALE))


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
