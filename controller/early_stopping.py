"""Early termination: which running trials to stop, as a pure function of every trial's learning curve.

The controller calls `judge_curves` whenever intermediate metrics arrive,
with the rule its sweep file's `early_terminate` block was parsed into
(`sweepctl.early_terminate`: `Hyperband` or `MedianStop`, with the bands). Nothing here reads a clock, Redis or Celery: the inputs are
the curves (`TrialHistory`) and which bands each trial has already passed,
the output is what to stop and which bands were passed now.

Hyperband (`type: hyperband`, W&B's keys)
    Bands are steps at which trials are compared:

    * `min_iter` given: `int(min_iter * eta**k)` for k = 0, 1, 2, ..., the
      power taken by multiplying k times as W&B does (W&B's controller takes
      k < 100; we go on up to the largest reported step, but never past
      MAX_BANDS bands, the lowest ones).
      sweepctl additions: `s` with `min_iter` keeps only k < s (W&B ignores
      `s` there) and `max_iter` with `min_iter` drops bands above it.
    * `max_iter` and `s` given (without `min_iter`): `int(max_iter / eta**k)`
      for k = 1..s, stopping at the first below 1, sorted ascending: W&B's
      rule, e.g. max_iter=27, eta=3, s=3 gives 1, 3, 9.
    * `eta` defaults to 3 and is at least MIN_ETA (1.1; W&B takes any eta > 1);
      duplicate bands (eta < 2 truncates) count once, and cost little: a run
      of repeats is skipped with logarithms, not stepped through.

    A trial has *reached* band B when it reported at a step >= B; its *value
    at B* is its best value at steps <= B (`strict: false`, the default) or
    the last value reported at a step <= B (`strict: true`). A trial that
    reached B but reported nothing at or before B has no value there and is
    neither a peer nor judged at B. The peers at B are all trials, finished or
    running, with a value at B, the judged one included. With n peers the best
    k = floor(n / eta) survive: a running trial is stopped when its value is
    strictly worse (for the metric's goal) than the k-th best; ties survive.
    Nothing is decided at B while n < ceil(eta): too little evidence, and no
    trial could survive a cut of k = 0. Each trial is judged at most once per
    band: a band it passed (listed in `judged`) is never re-judged, even when
    later peers would have cut it; a band with too few peers stays open and is
    judged on a later call. A trial that skipped bands since the last call is
    judged at each open band in ascending order and stopped at the first it
    fails.

    Where W&B's own controller differs (wandb/sweeps `hyperband_stop_runs`):
    it counts logged values rather than steps (band B is the (B+1)-th value),
    re-judges every running run at the highest band it reached on every call,
    compares the run's best value over its whole history with the
    `sorted(values)[int(n / eta)]` cut (keeping one more trial than here),
    needs no minimum of peers and ignores `strict` (its schema says default
    true; our default false matches what its code does, comparing the best
    value so far); given `min_iter` together
    with `max_iter` and `s`, it uses `max_iter` and `s` alone.

    ASHA: a block with `min_iter` only is asynchronous successive halving
    (Li et al. 2018) with minimum resource `min_iter`, reduction factor `eta`,
    one bracket and no maximum resource. Each rung (band) keeps the best
    1/eta of the trials that reached it, decided as trials arrive rather
    than in synchronized rounds, and a trial stopped at a rung is never
    resumed (ASHA's "not promoted").

Median stopping (`type: median`, a sweepctl extension: `min_iter`, `min_trials`)
    A running trial whose latest step S is >= `min_iter` is judged at S: it is
    stopped when its best value at steps <= S is strictly worse than the median
    of the other trials' values at S (the last value each reported at a step
    <= S, among trials, finished or running, that reached S), provided at least
    `min_trials` (default 5) other trials have a value there. Steps play the
    role of bands: a step in `judged` is not judged again, and only the latest
    step is judged (steps passed between two calls are not judged afterwards).

NaN values count as the worst possible value (+inf when minimizing, -inf when
maximizing; that is how they show in a `StopDecision`). Steps must increase
within a history (ValueError otherwise). The cost of one call is one pass over
all points to flatten them, then O(n log n) numpy work per band (hyperband) or
per distinct latest step of the trials judged (median).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import chain

import numpy as np

from sweepctl.spec import Goal, Hyperband, MedianStop, StoppingRule


@dataclass(frozen=True)
class TrialHistory:
    """One trial's learning curve: `(step, value)` pairs with increasing steps."""

    number: int
    running: bool
    points: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class StopDecision:
    """Stop trial `number`: at `band` (a step) its `value` was worse than `threshold` (metric units)."""

    number: int
    band: int
    value: float
    threshold: float
    reason: str


@dataclass(frozen=True)
class Judgement:
    """The outcome of one call: trials to stop, and the bands each trial passed in this call."""

    stops: tuple[StopDecision, ...] = ()
    passed: Mapping[int, frozenset[int]] = field(default_factory=dict)

    def judged_after(self, judged: Mapping[int, frozenset[int]]) -> dict[int, frozenset[int]]:
        """`judged` with this call's passed bands added: what to pass to the next call."""
        merged = dict(judged)
        for number, bands in self.passed.items():
            merged[number] = merged.get(number, frozenset()) | bands
        return merged


def judge_curves(
    policy: StoppingRule,
    histories: Mapping[int, TrialHistory],
    judged: Mapping[int, frozenset[int]],
) -> Judgement:
    """Apply `policy` to every running trial in `histories`.

    `judged` maps a trial number to the bands (hyperband) or steps (median) it
    already passed; they are not judged again. Only running trials are stopped;
    finished ones are peers only. Stops are ordered by trial number.
    """
    curves = _Curves.build(histories, policy.goal)
    if isinstance(policy, Hyperband):
        return _judge_hyperband(policy, curves, judged)
    return _judge_median(policy, curves, judged)


@dataclass(frozen=True)
class _Curves:
    """Every history flattened into numpy arrays once per call, trial i's points at [start[i], end[i])."""

    numbers: np.ndarray
    running: np.ndarray
    start: np.ndarray
    end: np.ndarray
    last_step: np.ndarray  # min step - 1 for a trial with no points: it reached nothing
    keys: np.ndarray  # i * span + (step - base): one ascending array, so one searchsorted finds every trial's point
    span: int
    base: int
    loss: np.ndarray  # lower is better, NaN as +inf, plus one +inf pad for reduceat's past-the-end index

    @classmethod
    def build(cls, histories: Mapping[int, TrialHistory], goal: Goal) -> _Curves:
        ordered = [histories[number] for number in sorted(histories)]
        count = len(ordered)
        lengths = np.fromiter((len(h.points) for h in ordered), np.int64, count=count)
        end = np.cumsum(lengths)
        start = end - lengths
        total = int(end[-1]) if count else 0
        flat = np.fromiter(
            chain.from_iterable(chain.from_iterable(h.points for h in ordered)), np.float64, count=2 * total
        ).reshape(total, 2)
        steps = flat[:, 0].astype(np.int64)
        base = int(steps.min()) if total else 0
        span = (int(steps.max()) - base + 1) if total else 1
        owner = np.repeat(np.arange(count, dtype=np.int64), lengths)
        keys = owner * span + (steps - base)
        _check_increasing(ordered, owner, keys)
        loss = np.empty(total + 1)
        loss[:total] = flat[:, 1] if goal is Goal.MINIMIZE else -flat[:, 1]
        loss[:total][np.isnan(loss[:total])] = np.inf
        loss[total] = np.inf
        nonempty = lengths > 0
        last_step = np.full(count, base - 1, dtype=np.int64)
        last_step[nonempty] = steps[end[nonempty] - 1]
        return cls(
            numbers=np.fromiter((h.number for h in ordered), np.int64, count=count),
            running=np.fromiter((h.running for h in ordered), bool, count=count),
            start=start,
            end=end,
            last_step=last_step,
            keys=keys,
            span=span,
            base=base,
            loss=loss,
        )

    @property
    def total(self) -> int:
        return len(self.loss) - 1

    def index_at(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Per trial: the index of its last point at a step <= `step`, and whether it has a value there."""
        query = np.arange(len(self.start), dtype=np.int64) * self.span + (step - self.base)
        index = np.searchsorted(self.keys, query, side="right") - 1
        has = (index >= self.start) & (self.last_step >= step)
        return np.where(has, index, self.total), has

    def loss_at(self, step: int, strict: bool) -> tuple[np.ndarray, np.ndarray]:
        """Per trial: its value at `step` (last, or best when not strict) and whether it has one."""
        index, has = self.index_at(step)
        if strict:
            return self.loss[index], has
        return self.best_until(index, has), has

    def best_until(self, index: np.ndarray, has: np.ndarray) -> np.ndarray:
        """Per trial: the best loss over its points up to `index` inclusive (+inf where not `has`)."""
        bounds = np.empty(2 * len(index), dtype=np.int64)
        bounds[0::2] = np.where(has, self.start, self.total)
        bounds[1::2] = np.where(has, index + 1, self.total)
        return np.minimum.reduceat(self.loss, bounds)[0::2]


def _check_increasing(ordered: list[TrialHistory], owner: np.ndarray, keys: np.ndarray) -> None:
    same_trial = owner[1:] == owner[:-1]
    bad = np.flatnonzero(same_trial & (keys[1:] <= keys[:-1]))
    if len(bad):
        number = ordered[int(owner[bad[0]])].number
        raise ValueError(f"trial {number}: steps must increase, got {ordered[int(owner[bad[0]])].points!r:.200}")


def _judge_hyperband(policy: Hyperband, curves: _Curves, judged: Mapping[int, frozenset[int]]) -> Judgement:
    if curves.total == 0 or not curves.running.any():
        return Judgement()
    stopped: dict[int, StopDecision] = {}
    passed: dict[int, set[int]] = {}
    for band in policy.bands(up_to=int(curves.last_step.max())):
        loss, has = curves.loss_at(band, policy.strict)
        peers = int(has.sum())
        if peers < policy.min_peers:
            continue
        keep = policy.keep(peers)
        threshold = float(np.partition(loss[has], keep - 1)[keep - 1])
        for i in np.flatnonzero(has & curves.running):
            number = int(curves.numbers[i])
            if number in stopped or band in judged.get(number, ()):
                continue
            if loss[i] > threshold:
                value, cut = policy.goal.loss(float(loss[i])), policy.goal.loss(threshold)
                reason = (
                    f"hyperband: {value:.6g} at step {band} is worse than {cut:.6g}, the cut for the best "
                    f"{keep} of {peers} trials there (eta={policy.eta:g}, strict={str(policy.strict).lower()})"
                )
                stopped[number] = StopDecision(number, band, value, cut, reason)
            else:
                passed.setdefault(number, set()).add(band)
    return _judgement(stopped, passed)


def _judge_median(policy: MedianStop, curves: _Curves, judged: Mapping[int, frozenset[int]]) -> Judgement:
    due = [
        i
        for i in np.flatnonzero(curves.running & (curves.last_step >= policy.min_iter))
        if int(curves.last_step[i]) not in judged.get(int(curves.numbers[i]), ())
    ]
    if not due:
        return Judgement()
    due_index = np.asarray(due, dtype=np.int64)
    own_best = curves.best_until(curves.end - 1, curves.end > curves.start)
    stopped: dict[int, StopDecision] = {}
    passed: dict[int, set[int]] = {}
    for found in np.unique(curves.last_step[due_index]):
        step = int(found)
        members = due_index[curves.last_step[due_index] == step]
        index, has = curves.index_at(step)
        ranked = np.sort(curves.loss[index[has]])
        others = len(ranked) - 1  # every member has its own last point at `step`, so it is among them
        if others < policy.min_trials:
            continue
        medians = _median_without(ranked, curves.loss[index[members]])
        for i, median in zip(members, medians):
            number = int(curves.numbers[i])
            if own_best[i] > median:
                value, cut = policy.goal.loss(float(own_best[i])), policy.goal.loss(float(median))
                reason = (
                    f"median rule: best {value:.6g} up to step {step} is worse than {cut:.6g}, "
                    f"the median of {others} other trials there"
                )
                stopped[number] = StopDecision(number, step, value, cut, reason)
            else:
                passed.setdefault(number, set()).add(step)
    return _judgement(stopped, passed)


def _median_without(ranked: np.ndarray, own: np.ndarray) -> np.ndarray:
    """For each value in `own` (each present in sorted `ranked`): the median of `ranked` minus one copy of it."""
    remaining = len(ranked) - 1
    removed = np.searchsorted(ranked, own, side="left")

    def after_removal(position: int) -> np.ndarray:
        # Element `position` of `ranked` once `removed` is taken out: later ones move up by one.
        shifted = np.where(position < removed, position, position + 1)
        return ranked[np.minimum(shifted, len(ranked) - 1)]

    return (after_removal((remaining - 1) // 2) + after_removal(remaining // 2)) / 2


def _judgement(stopped: dict[int, StopDecision], passed: dict[int, set[int]]) -> Judgement:
    return Judgement(
        stops=tuple(stopped[number] for number in sorted(stopped)),
        passed={number: frozenset(bands) for number, bands in sorted(passed.items())},
    )
