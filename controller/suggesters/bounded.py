"""Which finished trials a TPE engine fits its model on: all of them up to a bound, then the best plus a sample.

TPE's cost per suggestion is linear in the trials it models (hyperopt builds a Parzen
mixture over every trial; Optuna too), so with full history a sweep of 100,000
finished trials pays ~1.4 s a suggestion. Past `bound` observations a model is fitted
on about `bound` of them instead, never more than `bound + epoch - 1` (`epoch` = bound // 10;
with more objectives than bound / 50, their best can make more):

- the best `GOOD_KEPT` trials (per objective with several), exactly. Both engines'
  "good" group, the trials TPE proposes around, is at most that many by default:
  hyperopt takes the best min(ceil(0.25 sqrt(n)), 25) (`ap_split_trials`, gamma_cap =
  `DEFAULT_LF`), Optuna the best min(ceil(0.1 n), 25) (`default_gamma`). The engines
  pass their library a gamma worked out for the full count n, so the good group is the
  very one full history gives (up to ties in loss);
- a uniform sample of the rest: the trials whose `sample_rank` (a hash of the sweep's seed
  and the trial number) is below `sample_threshold(n, sampled)`, a share of them that makes
  at most `sampled` (= bound - GOOD_KEPT per objective) on average, and at most `sampled`
  of them (the lowest ranks) where chance puts more under it. The "bad" group's density is
  a mixture over its trials, so a uniform sample of them estimates it without bias; the
  engines' forgetting weights (older trials weigh less) still apply, by trial-number order.

The model changes little as trials arrive, so that the Optuna engine can add to the study
it keeps instead of building it again (copying ~1,000 trials: ~150 ms). Trials come in
roughly in number order, and as they do the members only gain the newest trial, except:
- where the sampled share drops, `SAMPLE_STEPS` times per doubling of n (a threshold, not a
  fixed-size "bottom-k" sample, whose every new member would push an old one out);
- once every `epoch` trial numbers. "The best" is kept as: the `GOOD_KEPT` best of the trials
  numbered up to the last multiple of `epoch` (`settled`), plus every later trial that was
  among the `GOOD_KEPT` best of those numbered up to it when it came. That holds the current
  best (each of them is one or the other) and only grows within an epoch; the trials it
  holds beyond the current best (fewer than `epoch`; a few where the loss does not improve
  steadily) fall back to the "bad" group, as full history has them.
A trial arriving after a member numbered above it changes the study's order, so the Optuna
engine rebuilds it then too (with parallel workers: a trial that enters the best late).

With several objectives (Optuna only) Optuna's good group is 10% of the trials it is
given, uncapped: full history's cannot be kept whole, so the sample keeps each
objective's `GOOD_KEPT` best and Optuna takes 10% of the model.

The members are a function of the set of observations (losses and numbers) and the
seed alone, never of the order they came in, so a restarted controller that replays
the finished trials fits the same model: the suggester contract holds. Up to `bound`
observations every trial is modelled, exactly as before the bound existed.

Adding an observation costs O(log n) comparisons and an O(n) memmove (`bisect.insort`
into Python lists; microseconds at 100,000); choosing the members costs O(bound).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

from sweepctl._tpe_options import MIN_MODEL_TRIALS

DEFAULT_MODEL_TRIALS = 1000  # observations a TPE model is fitted on at most (`tpe: {model_trials: ...}`); README there
GOOD_KEPT = 25  # the most trials either engine's good group holds by default (see the module docstring)

SAMPLE_STEPS = 4  # times per doubling of the observations the sampled share drops (by 2^(1/4), ~16%)

_MASK = 2**64 - 1


def sample_rank(seed: int, number: int) -> int:
    """A 64-bit hash of (seed, number) (splitmix64's finalizer): trials with the smallest ranks are sampled."""
    x = (seed * 0x9E3779B97F4A7C15 + number * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def sample_threshold(n: int, size: int) -> int:
    """The `sample_rank` below which a trial is sampled, out of `n`, to sample `size` of them or fewer on average.

    The share sampled is 2^(-j/SAMPLE_STEPS) for the smallest whole j that brings n times it
    down to `size`: it only drops as n grows, and only at `SAMPLE_STEPS` points per doubling
    of n, so a trial once sampled stays sampled until then (the module docstring says why).
    """
    if n <= size:
        return 2**64
    steps = math.ceil(SAMPLE_STEPS * math.log2(n / size))
    return int(2.0 ** (64 - steps / SAMPLE_STEPS))


def sort_key(loss: float) -> float:
    """A loss as the model ranks it: NaN (a failed trial) as +inf, ranked after every success."""
    return math.inf if math.isnan(loss) else loss


class ModelSample:
    """The numbers of the observations a model is fitted on (`members`), kept up to date as trials are added.

    `losses` per trial are what the engine ranks (one per objective; a failed trial's are
    +inf). `bound` None models every trial (full history, the behaviour before the bound).
    """

    def __init__(self, seed: int, bound: int | None, objectives: int = 1) -> None:
        if bound is not None and bound < MIN_MODEL_TRIALS:
            raise ValueError(f"model_trials must be at least {MIN_MODEL_TRIALS} (or None: every trial), got {bound}")
        self.seed = seed
        self.bound = bound
        self._by_loss: list[list[tuple[float, int]]] = [[] for _ in range(objectives)]  # per objective, sorted
        self._by_rank: list[tuple[int, int]] = []  # (sample_rank, number), sorted
        self._keys: dict[int, tuple[float, ...]] = {}  # number -> sort_key of each loss
        self._last = 0  # the highest number added
        self._members: tuple[int, ...] | None = ()  # cached; None: to be chosen again
        self._whole: frozenset[int] = frozenset()  # of the members, those kept whatever their hash (the best)

    def __len__(self) -> int:
        return len(self._by_rank)

    @property
    def binds(self) -> bool:
        """Whether there are more observations than the model takes."""
        return self.bound is not None and len(self._by_rank) > self.bound

    @property
    def epoch(self) -> int:
        """How many trial numbers the kept best are settled over (`bound` // 10; see the module docstring)."""
        return max(1, (self.bound or 0) // 10)

    @property
    def sampled(self) -> int:
        """The most trials the hashed sample holds: the bound less the best kept."""
        bound = self.bound or 0
        return max(bound - GOOD_KEPT * len(self._by_loss), bound // 2)

    def add(self, trials: Sequence[tuple[int, Sequence[float]]]) -> None:
        """Take in (number, losses) of trials not added before."""
        if not trials:
            return
        self._members = None
        for number, losses in trials:
            self._keys[number] = tuple(sort_key(losses[i]) for i in range(len(self._by_loss)))
            self._last = max(self._last, number)
        if len(trials) > 64:  # a replay: sorting once beats inserting one by one
            for i, by_loss in enumerate(self._by_loss):
                by_loss.extend((sort_key(losses[i]), number) for number, losses in trials)
                by_loss.sort()
            self._by_rank.extend((sample_rank(self.seed, number), number) for number, _ in trials)
            self._by_rank.sort()
            return
        for number, losses in trials:
            for i, by_loss in enumerate(self._by_loss):
                bisect.insort(by_loss, (sort_key(losses[i]), number))
            bisect.insort(self._by_rank, (sample_rank(self.seed, number), number))

    def best(self, up_to: int | None = None) -> tuple[int, ...]:
        """The numbers of the `GOOD_KEPT` best trials of each objective (ties broken by number) numbered `up_to` at most."""
        found: dict[int, None] = {}
        for by_loss in self._by_loss:
            taken = 0
            for _, number in by_loss:
                if taken == GOOD_KEPT:
                    break
                if up_to is None or number <= up_to:
                    found[number] = None
                    taken += 1
        return tuple(found)

    def members(self) -> tuple[int, ...]:
        """The numbers the model is fitted on, ascending: every one while the bound does not bind."""
        if self._members is None:
            self._members = self._choose()
        return self._members

    def whole(self) -> frozenset[int]:
        """The members kept for their loss, not sampled: each stands for itself alone, where a sampled one stands
        for the share of the rest it was drawn from. Empty while the bound does not bind."""
        self.members()
        return self._whole

    def _choose(self) -> tuple[int, ...]:
        self._whole = frozenset()
        if self.bound is None or len(self._by_rank) <= self.bound:
            return tuple(sorted(number for _, number in self._by_rank))
        settled = self._last - self._last % self.epoch  # numbers up to here: their best are fixed
        kept = set(self.best(settled))
        kept.update(self._records_after(settled))
        self._whole = frozenset(kept)
        cut = bisect.bisect_left(self._by_rank, (sample_threshold(len(self._by_rank), self.sampled), -1))
        kept.update(number for _, number in self._by_rank[: min(cut, self.sampled)])
        return tuple(sorted(kept))

    def _records_after(self, settled: int) -> set[int]:
        """Trials numbered above `settled` that were among the `GOOD_KEPT` best of the trials numbered up to them."""
        records: set[int] = set()
        later = [number for number in range(settled + 1, self._last + 1) if number in self._keys]
        for i, by_loss in enumerate(self._by_loss):
            top = [(loss, number) for loss, number in by_loss[: GOOD_KEPT + len(later)] if number <= settled][:GOOD_KEPT]
            for number in later:
                key = (self._keys[number][i], number)
                if len(top) < GOOD_KEPT or key < top[-1]:
                    records.add(number)
                    bisect.insort(top, key)
                    del top[GOOD_KEPT:]
        return records


def good_count_hyperopt(n: int, gamma: float = 0.25, cap: int = GOOD_KEPT) -> int:
    """How many trials hyperopt's TPE puts in its good group out of `n` (`ap_split_trials`)."""
    return min(int(math.ceil(gamma * math.sqrt(n))), cap)


def hyperopt_gamma_for(n_full: int, n_model: int, gamma: float = 0.25) -> float:
    """The gamma that makes hyperopt split `n_model` trials into the good group it would take of `n_full`.

    hyperopt's good group is ceil(gamma * sqrt(n)) trials; half a trial below the wanted
    count keeps the ceiling on it despite rounding.
    """
    wanted = good_count_hyperopt(n_full, gamma)
    return (wanted - 0.5) / math.sqrt(n_model)


@dataclass(frozen=True)
class GoodCount:
    """Optuna's `gamma` (trials -> size of the good group), fixed to the size full history gives."""

    count: int

    def __call__(self, n: int) -> int:
        return min(self.count, n)


def good_count_optuna(n: int) -> int:
    """How many trials Optuna's TPESampler puts in its good group out of `n` (`default_gamma`, one objective)."""
    return min(math.ceil(0.1 * n), GOOD_KEPT)
