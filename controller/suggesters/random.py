"""Random search: independent draws from every parameter's prior (`controller.suggesters.sampling`)."""

from __future__ import annotations

from collections.abc import Sequence

from controller.suggester import Suggester, trial_rng
from controller.suggesters.sampling import sample_parameter
from sweepctl.space import FlatAssignment


class RandomSuggester(Suggester):
    """Independent draws from every parameter's prior; observations are ignored."""

    def _suggest(self, number: int, pending: Sequence[FlatAssignment] = (), retry: int = 0) -> FlatAssignment:
        rng = trial_rng(self.seed, number, retry)
        return {p.name: sample_parameter(p, rng) for p in self.space.parameters}
