"""Local search around the best trial, interleaved with a TPE engine's suggestions (`tpe: {local_search: share}`).

TPE keeps proposing points all over the regions it likes; with many workers and a
budget of a few hundred trials it rarely refines the best point it found. Once
`LOCAL_SEARCH_AFTER` trials have finished, a `share` of the trial numbers (spread
evenly: with 0.5 every second one) get a local draw instead of a TPE suggestion:
the best trial's values, each numeric parameter moved by a normal step whose size
is the spread of that parameter among the `TOP` best trials (in the unit interval
of its range, log-scaled where the distribution is), halved for every
`FAILURES_PER_HALVING_PER_DIMENSION` x dimensions local draws that finished
without beating the best (a new best starts the count again). As the best trials
gather and the draws around them fail, the steps shrink. The TPE engine is told
every result, local draws included. Categorical and constant parameters keep the
best trial's values: exploring them is TPE's part.

The hyperopt engine's default on numeric spaces (`is_numeric_space`) is a share of
0.75 (`controller.suggesters.tpe.DEFAULT_LOCAL_SEARCH`); `local_search: 0` turns it off.

Measured in benchmarks/parallel_quality.py at 8 concurrent workers (README there),
with the Optuna engine and share 0.5, against Optuna's TPE with its constant liar,
96 fresh seeds: ahead on all three problems at 100 and 200 trials (pooled 1.11 of
Optuna's score). Without the shrinking on failures (the spread alone) it was level
or behind on Branin at 100 trials in some seed sets (0.81 vs 0.87 on seeds 800-895);
starting later, ramping the share up, or a smaller fixed step did not do better.

Deterministic as the suggester contract asks: a draw depends on the seed, the
number, the retry and the set of observations (through the best trials).
"""

from __future__ import annotations

import bisect
import copy
import math
from collections.abc import Sequence

import numpy as np

from controller.suggester import Draws, Observation, Suggester, trial_rng
from controller.suggesters.sampling import log_space_bounds, received_value
from sweepctl.space import Distribution, FlatAssignment, Parameter, SearchSpace
from sweepctl.space_fit import number_in_range

LOCAL_SEARCH_AFTER = 50  # finished trials (with a loss) before the first local draw
TOP = 10  # best trials whose spread sets the step size
# Each local draw that finished without beating the best halves the step over this many
# draws per numeric dimension: 4 in 2-D, 12 in 6-D (a (1+1)-ES's failure rule, roughly).
FAILURES_PER_HALVING_PER_DIMENSION = 2.0
# Step size bounds in the unit interval of a parameter's range: never frozen, never a random jump.
MIN_STEP, MAX_STEP = 0.001, 0.2


def is_local_number(number: int, share: float) -> bool:
    """Whether trial `number` gets a local draw: `share` of the numbers, spread evenly (0.5: the even ones)."""
    return math.floor(number * share) > math.floor((number - 1) * share)


class _Axis:
    """A numeric parameter's unit coordinate: 0..1 over its (log-)range (a beta's is [0, 1]), or its (log-)value when unbounded."""

    def __init__(self, p: Parameter) -> None:
        self.p = p
        self.log = p.distribution.is_log
        self.bounds = (0.0, 1.0) if p.distribution.is_beta else log_space_bounds(p) if p.distribution.is_bounded else None
        # An unbounded (normal) parameter: steps are measured in units of four sigmas.
        self.scale = 4.0 * p.sigma if self.bounds is None else self.bounds[1] - self.bounds[0]

    def to_unit(self, value: float) -> float:
        t = math.log(value) if self.log else value
        low = 0.0 if self.bounds is None else self.bounds[0]
        return (t - low) / self.scale if self.scale > 0 else 0.0

    def from_unit(self, u: float) -> float:
        if self.bounds is not None:
            u = min(max(u, 0.0), 1.0)
        low = 0.0 if self.bounds is None else self.bounds[0]
        t = low + u * self.scale
        return math.exp(t) if self.log else t


def _is_numeric(p: Parameter) -> bool:
    d = p.distribution
    return d.is_bounded or d.is_normal or d.is_beta


def _is_continuous(p: Parameter) -> bool:
    d = p.distribution
    return _is_numeric(p) and not p.is_fixed and not d.is_quantized and d is not Distribution.INT_UNIFORM


def is_numeric_space(space: SearchSpace) -> bool:
    """Whether local search is on by default for `space` (`DEFAULT_LOCAL_SEARCH` of the engine):
    no categorical parameter varies, and a continuous one does.

    That is the kind of space it was measured on (benchmarks/parallel_quality.py). With
    categoricals a local draw keeps the best trial's values, leaving their exploration to
    TPE's share alone; with only integers and quantized values a small step lands on the
    best trial again, a duplicate the controller has to re-draw. Both stay opt-in.
    """
    varying = [p for p in space.parameters if not p.is_fixed]
    return all(_is_numeric(p) for p in varying) and any(_is_continuous(p) for p in varying)


class LocalSearch(Suggester):
    """Wraps a TPE suggester: a `share` of the suggestions are local draws around the best trial."""

    def __init__(self, inner: Suggester, share: float, *, after: int = LOCAL_SEARCH_AFTER) -> None:
        super().__init__(inner.space, inner.seed)
        if not 0.0 < share < 1.0:
            raise ValueError(f"local_search share must be in (0, 1), got {share}")
        self.inner = inner
        self.share = share
        self.after = after
        self._axes = {p.name: _Axis(p) for p in inner.space.parameters if _is_numeric(p) and not p.is_fixed}
        self._scored: list[tuple[float, int]] = []  # (loss, number) of observations with a usable loss, sorted
        # The numbers in _scored that were local draws (`_shrink`), sorted: counted past the best by bisection,
        # so neither learning nor a suggestion walks every observation.
        self._local_scored: list[int] = []

    def _learn(self, new: Sequence[Observation]) -> None:
        self.inner.observe(new)
        for obs in new:
            if obs.failed or obs.loss is None:
                continue
            bisect.insort(self._scored, (obs.loss, obs.number))
            if obs.number > self.after and is_local_number(obs.number, self.share):
                bisect.insort(self._local_scored, obs.number)

    def _draws(self, pending: list[FlatAssignment]) -> Draws:
        return _LocalDraws(self, self.inner._draws(pending))

    def _suggest(self, number: int, pending: Sequence[FlatAssignment], retry: int) -> FlatAssignment | None:
        local = self._local_draw(number, retry)
        return local if local is not None else self.inner.suggest(number, pending, retry)

    def _local_draw(self, number: int, retry: int) -> FlatAssignment | None:
        """The local draw for `number`, or None when it is the engine's to draw."""
        # A space with nothing numeric has no neighbourhood: a local draw would be the best trial again.
        if self._axes and len(self._scored) >= self.after and is_local_number(number, self.share):
            return self._local(number, retry)
        return None

    def _shrink(self) -> float:
        """How much the steps have shrunk since the best trial: by half per
        FAILURES_PER_HALVING_PER_DIMENSION x dimensions local draws finished after it.

        Which numbers were local draws is known from the numbers alone: the local ones
        past `after` (a trial numbered `after` or less was suggested before `after`
        trials could have finished). A new best starts the count again.
        """
        best_number = self._scored[0][1]
        failures = len(self._local_scored) - bisect.bisect_right(self._local_scored, best_number)
        return float(0.5 ** (failures / (FAILURES_PER_HALVING_PER_DIMENSION * len(self._axes))))

    def _local(self, number: int, retry: int) -> FlatAssignment | None:
        """The best trial's parameters with each numeric one moved by a step; None if the best no longer fits."""
        top = [self._observations[n].params for _, n in self._scored[:TOP]]
        best = top[0]
        shrink = self._shrink()
        rng = trial_rng(self.seed, number, retry)
        drawn: FlatAssignment = {}
        for p in self.space.parameters:
            axis = self._axes.get(p.name)
            if axis is None:
                if p.name not in best:
                    return None
                drawn[p.name] = copy.deepcopy(best[p.name])
                continue
            units = [axis.to_unit(v) for v in (number_in_range(p, params.get(p.name)) for params in top) if v is not None]
            if len(units) != len(top):
                return None  # the best trials ran in another space (an edited sweep): leave it to TPE
            step = min(max(float(np.std(units)) * shrink, MIN_STEP), MAX_STEP)
            drawn[p.name] = received_value(p, axis.from_unit(units[0] + step * float(rng.standard_normal())))
        return drawn


class _LocalDraws(Draws):
    """A batch: local draws where `is_local_number` says, the engine's own batch draws elsewhere.

    Local draws depend on the observations only; every draw of the batch, local or not, is
    added to the engine's draws as running, as `suggest` one at a time would have it.
    """

    def __init__(self, search: LocalSearch, inner: Draws) -> None:
        super().__init__(search, inner.running)
        self.search = search
        self.inner = inner

    def draw(self, number: int, retry: int = 0) -> FlatAssignment | None:
        local = self.search._local_draw(number, retry)
        return local if local is not None else self.inner.draw(number, retry)

    def add(self, flat: FlatAssignment) -> None:
        self.inner.add(flat)  # the same list as self.running: added once

    def close(self) -> None:
        self.inner.close()
