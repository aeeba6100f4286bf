"""The suggester interface: the engine that decides which parameters a trial gets.

A suggester is pure: no Redis, no Celery, no clock. The controller feeds it the
trials that finished (`observe`) and asks it for the parameters of the next
trial number (`suggest`). Implementations live in `controller.suggesters`;
`controller.suggester_factory.make_suggester` picks one for a sweep. This module
imports no engine, so every engine can import it without closing a circle.

Determinism contract: `suggest(number)` depends only on the seed, `number` and
the set of observations made so far (not on the order they were observed in, nor
on earlier `suggest` calls). A controller that restarts, builds a new suggester
with the same seed and replays the finished trials therefore gets the very same
suggestions. Every random draw comes from `trial_rng(seed, number)`.

Suggesters are not thread safe; the controller owns one per sweep.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sweepctl.space import FlatAssignment, SearchSpace


@dataclass(frozen=True)
class Observation:
    """A finished trial as a suggester sees it.

    `params` is keyed by `Parameter.name` with the values the program received.
    `loss` is the value to minimize (the goal already applied); None means the
    trial failed or reported no objective. In a sweep with several objectives,
    `losses` holds one loss per objective (each goal applied; None: failed) and
    `loss` is the first: only an engine that models several objectives reads them.
    """

    number: int
    params: FlatAssignment
    loss: float | None
    losses: tuple[float, ...] | None = None

    @property
    def failed(self) -> bool:
        """Whether the trial gave no usable loss (None or NaN)."""
        return self.loss is None or math.isnan(self.loss)


def trial_rng(seed: int, number: int, retry: int = 0) -> np.random.Generator:
    """The one source of randomness for trial `number` of a sweep seeded `seed`.

    `retry` > 0 gives another, equally reproducible stream for the same trial
    (used when a suggestion duplicated a parameter set already tried or pending).
    numpy's SeedSequence takes only non-negative entropy, so a negative seed is
    mapped to its two's-complement value; non-negative seeds are used as given.
    """
    entropy = seed if seed >= 0 else seed % 2**64
    return np.random.default_rng([entropy, number] if retry == 0 else [entropy, number, retry])


class Draws:
    """One batch's draws: each `draw` sees `pending` and every parameter set `add`ed since as running.

    This default asks the suggester's `_suggest` per draw; an engine's own keeps what it
    built for the batch (its model, the liar's trials) and only adds to it.
    """

    def __init__(self, suggester: Suggester, pending: list[FlatAssignment]) -> None:
        self.suggester = suggester
        self.running = pending

    def draw(self, number: int, retry: int = 0) -> FlatAssignment | None:
        """What `suggest(number, running, retry)` returns."""
        return self.suggester._suggest(number, self.running, retry)

    def add(self, flat: FlatAssignment) -> None:
        """Count `flat` as running for the draws that follow."""
        self.running.append(flat)

    def close(self) -> None:
        """The batch is over: undo what it put into the suggester's own state (nothing, by default)."""


class Suggester(ABC):
    """Chooses parameters for trial numbers, learning from finished trials.

    Contract for every implementation:
    - `suggest(number)` returns a value for every parameter of the space
      (constants included), coerced to what the program receives, or None
      when the space is exhausted (only grid search ever is);
    - it is deterministic in (seed, number, observations so far);
    - `observe` is incremental: each call passes only trials not passed before.
      A trial number seen again is ignored, so replaying is harmless. A trial
      that `retry` ran again has a new result: the controller then builds a new
      suggester from the trials as they stand (as a restarted controller does).
    """

    def __init__(self, space: SearchSpace, seed: int | None) -> None:
        self.space = space
        # Callers always pass a seed in practice; None still has to be reproducible.
        self.seed = 0 if seed is None else seed
        self._observations: dict[int, Observation] = {}

    @property
    def observations(self) -> tuple[Observation, ...]:
        """Every trial observed so far, by trial number."""
        return tuple(self._observations[n] for n in sorted(self._observations))

    def has_observed(self, number: int) -> bool:
        """Whether trial `number` was observed (a later result of it would be ignored: see `observe`)."""
        return number in self._observations

    def observe(self, observations: Sequence[Observation]) -> None:
        """Remember finished trials; trial numbers already observed are ignored."""
        new: list[Observation] = []
        for obs in observations:
            if obs.number not in self._observations:
                self._observations[obs.number] = obs
                new.append(obs)
        if new:
            self._learn(new)

    def suggest(self, number: int, pending: Sequence[FlatAssignment] = (), retry: int = 0) -> FlatAssignment | None:
        """Parameters for trial `number` (1-based), or None when the space is exhausted.

        `pending` are the parameters of trials queued or running now: engines
        that model results (TPE) account for them so concurrent suggestions
        spread out. `retry` > 0 asks for another draw for the same trial, after
        the last one duplicated a parameter set already tried or pending.
        """
        if number < 1:
            raise ValueError(f"trial numbers start at 1, got {number}")
        return self._suggest(number, pending, retry)

    def suggest_batch(self, numbers: Sequence[int], pending: Sequence[FlatAssignment] = ()) -> list[FlatAssignment | None]:
        """Parameters for several trial `numbers` at once (when many workers free up together).

        Contract: the suggestion for `numbers[i]` is exactly `suggest(numbers[i], pending')` where
        `pending'` is `pending` followed by the batch's suggestions before it (those not None): each
        draw sees the earlier ones as running, as when the trials are suggested one at a time while
        they are created. So a batch depends only on the seed, the numbers in their order, `pending`
        and the set of observations. Engines that fit a model (TPE) override `_suggest_batch` to
        build it once for the batch; this default draws one at a time.
        """
        for number in numbers:
            if number < 1:
                raise ValueError(f"trial numbers start at 1, got {number}")
        draws = self._draws(list(pending))
        drawn: list[FlatAssignment | None] = []
        try:
            for number in numbers:
                flat = draws.draw(number)
                drawn.append(flat)
                if flat is not None:
                    draws.add(flat)
        finally:
            draws.close()
        return drawn

    def _draws(self, pending: list[FlatAssignment]) -> Draws:
        """The draws of one batch, `pending` running. Engines that fit a model return their own,
        which builds it once; this default asks `_suggest` each time."""
        return Draws(self, pending)

    def _learn(self, new: Sequence[Observation]) -> None:
        """Hook: take in newly observed trials. Suggesters that ignore history keep the default."""

    @abstractmethod
    def _suggest(self, number: int, pending: Sequence[FlatAssignment], retry: int) -> FlatAssignment | None:
        """Implementation of `suggest`; `number` is already checked to be >= 1."""
