"""Grid search: every combination of the discrete parameters' values, once each."""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

from controller.suggester import Suggester
from sweepctl.errors import SpecError
from sweepctl.space import JSON, FlatAssignment, SearchSpace


class GridSuggester(Suggester):
    """The cartesian product of `Parameter.grid_values()`, walked in a fixed order.

    Parameters are in file order and the last one varies fastest (like
    `itertools.product`); trial `number` gets point `number - 1` and every
    number past `size` gets None. The seed and observations play no part.

    Raises `SpecError` when a parameter is continuous (has no grid values).
    """

    def __init__(self, space: SearchSpace, seed: int | None) -> None:
        super().__init__(space, seed)
        axes: list[tuple[JSON, ...]] = []
        continuous: list[tuple[str, str]] = []
        for p in space.parameters:
            values = p.grid_values()
            if values is None:
                continuous.append(
                    (
                        f"parameters.{p.name}",
                        (
                            f"grid search needs discrete values, got continuous distribution "
                            f"{p.distribution.value!r}; use constant, categorical, int_uniform "
                            f"or q_uniform"
                        ),
                    )
                )
            else:
                axes.append(values)
        if continuous:
            raise SpecError("method: grid", continuous)
        self._axes = tuple(axes)

    @property
    def size(self) -> int:
        """How many points the grid has (0 when some parameter has no values)."""
        return math.prod(len(axis) for axis in self._axes)

    def _suggest(self, number: int, pending: Sequence[FlatAssignment] = (), retry: int = 0) -> FlatAssignment | None:
        index = number - 1
        if index >= self.size:
            return None
        # Mixed-radix digits of the index, last axis least significant: no need
        # to materialise a grid that may have millions of points.
        chosen: list[JSON] = []
        for axis in reversed(self._axes):
            index, digit = divmod(index, len(axis))
            chosen.append(axis[digit])
        chosen.reverse()
        return {
            p.name: copy.deepcopy(value)
            for p, value in zip(self.space.parameters, chosen, strict=True)
        }
