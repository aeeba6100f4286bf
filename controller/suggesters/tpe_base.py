"""What the two TPE engines share: their options, the liar check, and the trials they skip.

`controller.suggesters.tpe` (hyperopt) and `controller.suggesters.optuna_tpe`
(Optuna) differ in how they model the space and ask their library; both take the
same options (`n_startup_jobs`, `constant_liar`, `lie`, `model_trials`), each with defaults of
its own, and both skip observations that no longer fit the space. Both fit their model on
at most `model_trials` observations (`controller.suggesters.bounded`), and both draw a
batch of suggestions (`suggest_batch`) with the model chosen once for the batch. This module
imports neither library, so the factory can name it without importing them.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from controller.suggester import Draws, Suggester
from controller.suggesters.bounded import DEFAULT_MODEL_TRIALS, ModelSample
from controller.suggesters.liar import LossStats, check_lie
from sweepctl.space import FlatAssignment, SearchSpace


class BaseTpeSuggester(Suggester):
    """A TPE engine: random draws for the first `n_startup_jobs` trials, then TPE models good and bad regions.

    An option passed as None takes the engine's default (the class's `DEFAULT_*`),
    so the sweep file's `tpe` block can leave any option out. `lie` must be one of
    the engine's `LIES` (ValueError otherwise); with `constant_liar` False pending
    trials are not told to the model at all. `model_trials` bounds the observations the
    model is fitted on (None: `DEFAULT_MODEL_TRIALS`; 0: every one, as before the bound):
    past it, the best trials and a deterministic sample of the rest (`ModelSample`).
    """

    DEFAULT_N_STARTUP_JOBS: ClassVar[int]
    DEFAULT_CONSTANT_LIAR: ClassVar[bool] = True
    # The share of local draws (`controller.suggesters.local`) the factory wraps the engine in
    # when the sweep file leaves `local_search` out and the space is numeric (`is_numeric_space`).
    DEFAULT_LOCAL_SEARCH: ClassVar[float] = 0.0
    DEFAULT_LIE: ClassVar[str]
    LIES: ClassVar[tuple[str, ...]]  # the lies this engine can tell

    def __init__(
        self,
        space: SearchSpace,
        seed: int | None,
        *,
        n_startup_jobs: int | None = None,
        constant_liar: bool | None = None,
        lie: str | None = None,
        model_trials: int | None = None,
        objectives: int = 1,
    ) -> None:
        super().__init__(space, seed)
        bound = DEFAULT_MODEL_TRIALS if model_trials is None else model_trials
        self.model_trials: int | None = None if bound == 0 else bound
        # Which fitting observations the model takes; ranked by the losses the engine tells its library.
        self._sample = ModelSample(self.seed, self.model_trials, objectives)
        self._loss_stats = [LossStats() for _ in range(objectives)]  # what the liar tells, per objective
        self.lie = self.DEFAULT_LIE if lie is None else lie
        check_lie(self.lie, self.LIES)
        self.n_startup_jobs = self.DEFAULT_N_STARTUP_JOBS if n_startup_jobs is None else n_startup_jobs
        self.constant_liar = self.DEFAULT_CONSTANT_LIAR if constant_liar is None else constant_liar
        self._skipped: list[int] = []
        self._model_space()

    @abstractmethod
    def _model_space(self) -> None:
        """Build the engine's model of `self.space`; called once, at the end of `__init__`.

        Raises `SpecError` when the engine cannot model the space.
        """

    def _take(self, new: Sequence[tuple[int, Sequence[float]]]) -> None:
        """Add fitting observations (number, losses told) to the model sample and the liar's statistics."""
        self._sample.add(new)
        for _, losses in new:
            for stats, loss in zip(self._loss_stats, losses):
                stats.add(loss)

    def _lie_losses(self) -> list[float] | None:
        """The loss per objective told for pending trials ("worst", "mean", "best"); None before any finite one."""
        lie = [stats.lie(self.lie) for stats in self._loss_stats]
        return None if any(x is None for x in lie) else [float(x) for x in lie if x is not None]

    @abstractmethod
    def _draws(self, pending: list[FlatAssignment]) -> Draws:
        """The engine's draws for a batch, or for one suggestion (`_suggest`)."""

    def _suggest(self, number: int, pending: Sequence[FlatAssignment] = (), retry: int = 0) -> FlatAssignment | None:
        draws = self._draws(list(pending))
        try:
            return draws.draw(number, retry)
        finally:
            draws.close()

    @property
    def skipped(self) -> tuple[int, ...]:
        """Numbers of observed trials left out because their params do not fit the space."""
        return tuple(sorted(self._skipped))

    def _skip(self, number: int) -> None:
        """Leave observed trial `number` out of the model: its parameters do not fit the space."""
        # Logged under the engine's module, as each engine did before the two shared this.
        logging.getLogger(type(self).__module__).warning("trial %d: parameters do not fit the search space; TPE ignores it", number)
        self._skipped.append(number)
