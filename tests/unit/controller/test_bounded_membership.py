"""Which trials a bounded TPE model holds (`ModelSample.members`), as trials keep arriving.

Pure: synthetic (number, losses) pairs. The membership must be a function of the set of
trials (any arrival order), hold the current best of each objective, stay within
`bound + epoch - 1`, and, as trials arrive in number order, only gain trials numbered above
the ones it holds except where the settled numbers (`epoch`) or the sampled share change:
that is what lets the Optuna engine append to its study instead of rebuilding it.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Sequence

import numpy as np
import pytest

from controller.suggester import Observation
from controller.suggesters.bounded import GOOD_KEPT, ModelSample, sample_rank, sample_threshold
from controller.suggesters.optuna_tpe import OptunaTpeSuggester
from sweepctl.space import Distribution, Parameter, SearchSpace

BOUND = 100
Trial = tuple[int, tuple[float, ...]]


def random_losses(n: int, objectives: int = 1, seed: int = 0) -> list[Trial]:
    """n trials with random losses; every 13th failed (infinite loss)."""
    rng = np.random.default_rng(seed)
    return [
        (number, (math.inf,) * objectives if number % 13 == 0 else tuple(float(x) for x in rng.random(objectives)))
        for number in range(1, n + 1)
    ]


def improving_losses(n: int) -> list[Trial]:
    """n trials each better than every earlier one: every trial is among the best when it arrives."""
    return [(number, (1.0 / number,)) for number in range(1, n + 1)]


def state(sample: ModelSample) -> tuple[int, int]:
    """What may make the members shrink: the settled numbers (`epoch`) and the sampled share."""
    return sample._last // sample.epoch, sample_threshold(len(sample), sample.sampled)


def capped(sample: ModelSample) -> bool:
    """Whether more trials fall under the sampled share than the sample holds (it keeps the lowest ranks)."""
    return bisect.bisect_left(sample._by_rank, (sample_threshold(len(sample), sample.sampled), -1)) > sample.sampled


def current_best(trials: Sequence[Trial], objective: int) -> set[int]:
    return {number for number, _ in sorted(trials, key=lambda t: (t[1][objective], t[0]))[:GOOD_KEPT]}


@pytest.mark.parametrize("history", ["random", "improving"])
def test_in_number_order_the_members_only_grow_between_epochs_and_share_changes(history: str) -> None:
    # Given trials arriving one at a time in number order
    trials = random_losses(1200) if history == "random" else improving_losses(1200)
    sample = ModelSample(5, BOUND)
    before, shrinks, changes, capping = sample.members(), 0, 0, 0
    for trial in trials:
        was = state(sample)
        sample.add([trial])
        now = sample.members()
        # Then the earlier members stay, first and in order (a study holding them is appended to)...
        if now[: len(before)] != before:
            if state(sample) != was:
                changes += 1  # ...but where the epoch or the share changes,
            elif capped(sample):
                capping += 1  # or a trial sampled pushes out the highest rank sampled (the bound holds),
            else:
                shrinks += 1  # and nowhere else
        before = now
    assert shrinks == 0
    # And the other changes are rare: one per `epoch` numbers, a few per doubling of the trials, and
    # the capped steps (the sample's spread around its mean at this small bound: far rarer at 1000)
    assert changes <= 1200 // sample.epoch + 4 * math.ceil(math.log2(1200 / sample.sampled)) + 1
    assert capping < 0.05 * len(trials)


def test_the_members_are_a_function_of_the_set_whatever_the_order() -> None:
    # Given trials arriving roughly in number order, as parallel workers finish them (windows of 8 shuffled)
    trials = random_losses(700, seed=2)
    arriving = []
    shuffle = random.Random(3)
    for start in range(0, len(trials), 8):
        window = trials[start : start + 8]
        shuffle.shuffle(window)
        arriving.extend(window)
    live = ModelSample(1, BOUND)
    for i, trial in enumerate(arriving, start=1):
        live.add([trial])
        live.members()
        if i % 50 == 0 or i == len(arriving):
            # Then at any point they are those of the same set replayed at once, in another order
            replayed = ModelSample(1, BOUND)
            replayed.add(sorted(arriving[:i], key=lambda t: -t[0]))
            assert live.members() == replayed.members()


@pytest.mark.parametrize(("history", "objectives"), [("random", 1), ("improving", 1), ("random", 2)])
def test_the_members_hold_the_current_best_and_stay_bounded(history: str, objectives: int) -> None:
    # Given trials arriving in number order, random or each one better than all before it
    trials = random_losses(600, objectives) if history == "random" else improving_losses(600)
    sample = ModelSample(0, BOUND, objectives)
    limit = BOUND + sample.epoch - 1
    for n, trial in enumerate(trials, start=1):
        sample.add([trial])
        members = set(sample.members())
        # Then every objective's GOOD_KEPT best of all the trials so far is modelled
        for i in range(objectives):
            assert current_best(trials[:n], i) <= members
        # And the model never holds more than bound + epoch - 1, nor (once binding) fewer than half the bound
        assert len(members) <= limit
        assert len(members) == n if n <= BOUND else len(members) >= BOUND // 2


def test_each_member_was_among_the_best_when_it_came_or_is_sampled() -> None:
    trials = random_losses(1500, seed=4)
    sample = ModelSample(9, BOUND)
    sample.add(trials)
    threshold = sample_threshold(len(trials), sample.sampled)
    sampled = [number for number, _ in trials if sample_rank(9, number) < threshold]
    assert len(sampled) <= sample.sampled  # the cap does not bind here: every trial under the threshold is in
    best_then, ranked = set(), []  # trials among the GOOD_KEPT best of those numbered up to them
    for number, losses in trials:
        bisect.insort(ranked, (losses[0], number))
        if ranked.index((losses[0], number)) < GOOD_KEPT:
            best_then.add(number)
    assert set(sampled) <= set(sample.members()) <= set(sampled) | best_then
    # And the trials kept for having been best are few: the sample is most of the model
    assert len(set(sample.members()) - set(sampled)) < GOOD_KEPT + sample.epoch


def test_the_sampled_share_only_drops_and_holds_the_size_on_average() -> None:
    shares = [sample_threshold(n, 975) / 2**64 for n in range(900, 120_000, 97)]
    assert all(a >= b for a, b in zip(shares, shares[1:]))
    assert all(n * share <= 975 for n, share in zip(range(900, 120_000, 97), shares))
    assert all(n * share > 975 / 2 ** (1 / 4) - 1 for n, share in zip(range(900, 120_000, 97), shares) if n > 975)


SPACE = SearchSpace(
    (
        Parameter(("x",), Distribution.UNIFORM, min=0.0, max=1.0),
        Parameter(("y",), Distribution.UNIFORM, min=-2.0, max=2.0),
    )
)


def observation(number: int, params: dict[str, float]) -> Observation:
    return Observation(number, dict(params), (params["x"] - 0.3) ** 2 + (params["y"] - 0.5) ** 2)


def test_the_optuna_engine_appends_to_its_study_within_an_epoch() -> None:
    rng = np.random.default_rng(0)
    seen = [observation(n, {"x": float(rng.random()), "y": float(rng.uniform(-2, 2))}) for n in range(1, 311)]
    # Given 310 finished trials (bound 100: epoch 10, the sampled share steady up to 356 trials)
    tpe = OptunaTpeSuggester(SPACE, 7, model_trials=BOUND)
    tpe.observe(seen)
    tpe.suggest(311, [])
    study = tpe._study
    # When nine more are suggested and observed one at a time, each TPE's (so among the best)
    for number in range(311, 320):
        flat = tpe.suggest(number, [{"x": 0.5, "y": 0.0}])
        assert flat is not None
        obs = observation(number, {"x": float(flat["x"]), "y": float(flat["y"])})  # type: ignore[arg-type]
        seen.append(obs)
        tpe.observe([obs])
    # Then the study was grown, never rebuilt, and holds the model's trials in number order
    tpe.suggest(320, [])
    assert tpe._study is study
    complete = [t for t in study.trials if t.state.is_finished() and t.values is not None]
    assert [t.values[0] for t in complete] == [tpe._fitting[n].values[0] for n in tpe._sample.members()]  # type: ignore[index]
    # And a restarted controller replaying the same trials in another order suggests the same
    replayed = OptunaTpeSuggester(SPACE, 7, model_trials=BOUND)
    replayed.observe(list(reversed(seen)))
    assert [replayed.suggest(n, []) for n in (320, 321)] == [tpe.suggest(n, []) for n in (320, 321)]
