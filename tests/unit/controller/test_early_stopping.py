"""Early-termination rules: learning-curve families where the trials to stop are known by construction."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pytest
from jsonschema import Draft202012Validator

from controller.early_stopping import (
    Judgement,
    StopDecision,
    TrialHistory,
    judge_curves,
)
from sweepctl.early_terminate import parse_policy
from sweepctl.errors import SpecError
from sweepctl.spec import Goal, Hyperband, MedianStop, StoppingRule
from sweepctl.sweepfile import MAX_BANDS, MIN_ETA, parse_sweep, schema_path


def trials_to_stop(policy: StoppingRule, histories: Mapping[int, TrialHistory], judged: Mapping[int, frozenset[int]]) -> list[StopDecision]:
    """The running trials to stop now, by trial number (`judge_curves` also says which bands were passed)."""
    return list(judge_curves(policy, histories, judged).stops)


NAN = float("nan")
ASHA = Hyperband(min_iter=1, eta=3)  # bands 1, 3, 9, 27, ...

# loss_i(step) = a_i / step + b_i. At step 1 the order is 2 < 1 < 0 < 3..8; at step 3 it is 0 < 1 < 2 < 3..8:
#   i   a  b     step 1   step 3
#   0   6  0       6.0      2.0
#   1   3  2       5.0      3.0
#   2   0  4.5     4.5      4.5
#   i   i  5+i   5+2i     5+4i/3   (i = 3..8: 11..21 and 9..15.7, always the worst six)
CURVES = {0: (6.0, 0.0), 1: (3.0, 2.0), 2: (0.0, 4.5), **{i: (float(i), 5.0 + i) for i in range(3, 9)}}


def loss_curve(number: int, steps: Iterable[int], running: bool = True, flip: bool = False) -> TrialHistory:
    """Trial `number` of CURVES over `steps`; `flip` reports 100 - loss (an accuracy to maximize)."""
    a, b = CURVES[number]
    points = tuple((s, (100 - (a / s + b)) if flip else a / s + b) for s in steps)
    return TrialHistory(number, running, points)


def history(number: int, values: Sequence[float], running: bool = True, first_step: int = 1) -> TrialHistory:
    """Values reported at consecutive steps from `first_step`."""
    return TrialHistory(number, running, tuple((first_step + i, v) for i, v in enumerate(values)))


def by_number(*histories: TrialHistory) -> dict[int, TrialHistory]:
    return {h.number: h for h in histories}


def stopped(judgement: Judgement) -> dict[int, int]:
    """Stopped trial -> the band it was stopped at."""
    return {d.number: d.band for d in judgement.stops}


# Hyperband: bands, cuts, peers ---------------------------------------------------------------


def test_asha_story_nine_trials_three_survive_band_one_then_one_survives_band_three() -> None:
    # Given nine running trials that each reported step 1
    trials = by_number(*(loss_curve(i, [1]) for i in range(9)))
    # When band 1 is judged (9 peers, eta 3: the best floor(9/3) = 3 survive)
    first = judge_curves(ASHA, trials, {})
    # Then exactly the six worst are stopped there, and the three best pass band 1
    assert stopped(first) == {i: 1 for i in range(3, 9)}
    assert first.passed == {0: frozenset({1}), 1: frozenset({1}), 2: frozenset({1})}
    assert all(d.threshold == 6.0 for d in first.stops)  # the third best at step 1 (trial 0)

    # Given the six were stopped and the survivors went on to step 3
    judged = first.judged_after({})
    trials = by_number(
        *(loss_curve(i, [1], running=False) for i in range(3, 9)), *(loss_curve(i, [1, 2, 3]) for i in range(3))
    )
    # When the controller judges again
    second = judge_curves(ASHA, trials, judged)
    # Then band 1 is not judged again, and at band 3 (3 peers: 1 survives) the two worst stop
    assert stopped(second) == {1: 3, 2: 3}
    assert second.passed == {0: frozenset({3})}
    assert second.judged_after(judged)[0] == frozenset({1, 3})

    # Given the last survivor reached step 9, alone
    trials[0] = loss_curve(0, range(1, 10))
    trials[1], trials[2] = loss_curve(1, [1, 2, 3], running=False), loss_curve(2, [1, 2, 3], running=False)
    # Then one peer is too little evidence: nothing is stopped and band 9 stays open
    third = judge_curves(ASHA, trials, second.judged_after(judged))
    assert third.stops == () and third.passed == {}


def test_maximize_stops_the_same_trials_and_reports_metric_units() -> None:
    # Given the same curves as accuracies (100 - loss) to maximize
    policy = Hyperband(min_iter=1, eta=3, goal=Goal.MAXIMIZE)
    trials = by_number(*(loss_curve(i, [1], flip=True) for i in range(9)))
    # When band 1 is judged
    decisions = trials_to_stop(policy, trials, {})
    # Then the six lowest accuracies stop, with the third-best accuracy as the cut
    assert [d.number for d in decisions] == [3, 4, 5, 6, 7, 8]
    assert {d.threshold for d in decisions} == {94.0}
    assert decisions[0].value == 100 - 11.0
    assert "worse than 94" in decisions[0].reason


def test_finished_trials_are_peers_but_are_never_stopped() -> None:
    # Given nine trials with full curves, only the worst two still running
    trials = by_number(*(loss_curve(i, range(1, 10), running=i >= 7) for i in range(9)))
    # When judged
    result = judge_curves(ASHA, trials, {})
    # Then only running trials are stopped, at band 1 where the finished ones rank them
    assert stopped(result) == {7: 1, 8: 1}
    assert result.passed == {}


def test_a_trial_skipping_bands_is_stopped_at_the_first_band_it_fails() -> None:
    # Given nine finished curves up to step 9, and a new running trial first seen at step 9:
    # good at step 1 (0.5, best of all), bad from step 3 on (worse than everyone at step 3)
    trials = by_number(*(loss_curve(i, range(1, 10), running=False) for i in range(9)))
    trials[9] = TrialHistory(9, True, ((1, 0.5), (2, 30.0), (3, 30.0), (9, 30.0)))
    # When judged with strict (the value at the band, not the best so far)
    result = judge_curves(Hyperband(min_iter=1, eta=3, strict=True), trials, {})
    # Then it passes band 1 and stops at band 3, its first failing band
    assert stopped(result) == {9: 3}
    assert result.passed == {9: frozenset({1})}


def test_strict_compares_the_value_at_the_band_and_non_strict_the_best_so_far() -> None:
    # Given three trials at band 3 (3 peers, eta 3: one survives); A was best early, then got worse
    trials = by_number(
        history(0, [1.0, 5.0, 5.0]),  # A: best 1.0, at step 3 5.0
        history(1, [3.0, 3.0, 3.0]),  # B
        history(2, [4.0, 4.0, 4.0]),  # C
    )
    lenient = Hyperband(min_iter=3, eta=3, strict=False)
    strict = Hyperband(min_iter=3, eta=3, strict=True)
    # Then non-strict keeps A (best 1.0) and stops B and C; strict keeps B (3.0 at step 3) and stops A and C
    assert stopped(judge_curves(lenient, trials, {})) == {1: 3, 2: 3}
    assert stopped(judge_curves(strict, trials, {})) == {0: 3, 2: 3}


def test_a_trial_that_has_not_reached_the_band_is_neither_judged_nor_a_peer() -> None:
    # Given three trials at step 3 and a much worse one still at step 2
    trials = by_number(history(0, [1, 1, 1]), history(1, [2, 2, 2]), history(2, [3, 3, 3]), history(3, [9, 9]))
    # When band 3 is judged
    result = judge_curves(Hyperband(min_iter=3, eta=3), trials, {})
    # Then the laggard is left alone, and the cut is over three peers (the best one survives)
    assert stopped(result) == {1: 3, 2: 3}
    assert "best 1 of 3 trials" in result.stops[0].reason


def test_a_trial_with_no_point_at_or_before_the_band_has_no_value_there() -> None:
    # Given three trials reporting from step 1, and one whose first report is at step 5
    trials = by_number(history(0, [1] * 5), history(1, [2] * 5), history(2, [3] * 5), history(3, [9], first_step=5))
    # When band 3 is judged
    result = judge_curves(Hyperband(min_iter=3, eta=3), trials, {})
    # Then the late reporter is not judged at band 3 (it has no value there)
    assert stopped(result) == {1: 3, 2: 3}


def test_nan_counts_as_the_worst_value() -> None:
    # Given four trials at band 1 with eta 2 (the best two survive), one reporting NaN
    trials = by_number(history(0, [NAN]), history(1, [1.0]), history(2, [2.0]), history(3, [3.0]))
    # When judged
    result = judge_curves(Hyperband(min_iter=1, eta=2), trials, {})
    # Then NaN ranks below 3.0 and is stopped with it; it shows as the worst infinity
    assert stopped(result) == {0: 1, 3: 1}
    assert result.stops[0].value == math.inf
    # And when maximizing, NaN is still the worst (shown as -inf)
    flipped = judge_curves(Hyperband(min_iter=1, eta=2, goal=Goal.MAXIMIZE), trials, {})
    assert stopped(flipped) == {0: 1, 1: 1}
    assert flipped.stops[0].value == -math.inf


def test_too_few_peers_stop_nothing_and_leave_the_band_open() -> None:
    # Given two trials at band 1 and eta 3 (ceil(3) = 3 peers needed)
    trials = by_number(history(0, [1.0]), history(1, [5.0]))
    # Then nobody is judged, so band 1 is not recorded as passed
    first = judge_curves(ASHA, trials, {})
    assert first.stops == () and first.passed == {}
    # When a third trial arrives, the earlier ones are judged at band 1 after all
    trials[2] = history(2, [3.0])
    assert stopped(judge_curves(ASHA, trials, first.judged_after({}))) == {1: 1, 2: 1}


def test_a_band_passed_once_is_not_judged_again() -> None:
    # Given trial 0 passed band 1 when it was judged against few peers
    trials = by_number(history(0, [5.0, 5.0]), history(1, [1.0]), history(2, [2.0]), history(3, [3.0]))
    # When better peers make it the worst at band 1
    result = judge_curves(ASHA, trials, {0: frozenset({1})})
    # Then it is not stopped at band 1 again (peers 1..3 are judged: trial 3 loses)
    assert 0 not in stopped(result)
    assert stopped(result) == {2: 1, 3: 1}


def test_steps_must_increase() -> None:
    with pytest.raises(ValueError, match="trial 4: steps must increase"):
        judge_curves(ASHA, {4: TrialHistory(4, True, ((1, 1.0), (1, 2.0)))}, {})


def test_no_histories_or_no_points_stop_nothing() -> None:
    assert judge_curves(ASHA, {}, {}) == Judgement()
    assert judge_curves(MedianStop(min_iter=1), {1: TrialHistory(1, True)}, {}) == Judgement()


def naive_hyperband(
    policy: Hyperband, histories: dict[int, TrialHistory], judged: dict[int, frozenset[int]]
) -> dict[int, int]:
    """The documented rule written plainly, one trial and one band at a time: the oracle for `judge`."""

    def loss(v: float) -> float:
        return math.inf if math.isnan(v) else policy.goal.loss(v)

    def value_at(h: TrialHistory, band: int) -> float | None:
        before = [loss(v) for step, v in h.points if step <= band]
        if not h.points or h.points[-1][0] < band or not before:
            return None
        return before[-1] if policy.strict else min(before)

    top = max((h.points[-1][0] for h in histories.values() if h.points), default=0)
    result: dict[int, int] = {}
    for band in policy.bands(up_to=top):
        values = {n: x for n, h in histories.items() if (x := value_at(h, band)) is not None}
        if len(values) < math.ceil(policy.eta):
            continue
        cut = sorted(values.values())[math.floor(len(values) / policy.eta + 1e-9) - 1]
        for n, x in values.items():
            if histories[n].running and n not in result and band not in judged.get(n, ()) and x > cut:
                result[n] = band
    return result


@pytest.mark.parametrize("seed", range(20))
def test_hyperband_agrees_with_a_plain_reading_of_the_rule(seed: int) -> None:
    # Given irregular steps, gaps, late starts, NaNs, ties, finished trials and earlier judgements
    rng = np.random.default_rng(seed)
    histories: dict[int, TrialHistory] = {}
    judged: dict[int, frozenset[int]] = {}
    for n in range(int(rng.integers(0, 40))):
        steps = np.sort(rng.choice(np.arange(0, 60), size=int(rng.integers(0, 12)), replace=False))
        values = rng.choice([1.0, 2.0, 3.0, NAN, *rng.normal(0, 1, 6)], size=len(steps))
        histories[n] = TrialHistory(n, bool(rng.integers(0, 2)), tuple(zip(steps.tolist(), values.tolist())))
        if rng.integers(0, 4) == 0:
            judged[n] = frozenset({1, 2, 4})
    eta = float(rng.choice([2, 2.5, 3]))
    goal = Goal(rng.choice(["minimize", "maximize"]))
    policy = Hyperband(min_iter=int(rng.integers(1, 4)), eta=eta, strict=bool(seed % 2), goal=goal)
    # Then the vectorized decision equals the oracle's
    assert stopped(judge_curves(policy, histories, judged)) == naive_hyperband(policy, histories, judged)


# Median rule ------------------------------------------------------------------------------------


def median_peers(values: Sequence[float], step: int = 10) -> list[TrialHistory]:
    """Finished trials numbered 100.. whose value at `step` is `values[i]` (flat curves)."""
    return [history(100 + i, [v] * step, running=False) for i, v in enumerate(values)]


def test_median_stops_a_trial_whose_best_is_worse_than_the_others_median() -> None:
    # Given five finished trials at step 10 with values 1..5
    peers = median_peers([1.0, 2.0, 3.0, 4.0, 5.0])
    worse, better = history(0, [3.5] * 10), history(1, [2.5] * 10)
    # When both running trials are judged at their step 10
    result = judge_curves(MedianStop(min_iter=5, min_trials=5), by_number(*peers, worse, better), {})
    # Then only the one above the median stops; the other passes step 10
    # (each is judged against the five finished trials plus the other running one)
    assert [(d.number, d.band, d.value) for d in result.stops] == [(0, 10, 3.5)]
    assert result.stops[0].threshold == 2.75  # median of 1, 2, 2.5, 3, 4, 5
    assert result.passed == {1: frozenset({10})}


def test_median_compares_the_best_so_far_and_leaves_the_trial_itself_out() -> None:
    # Given a trial that was good early (2.0) and is bad now (9.0), and others at step 10
    peers = median_peers([1.0, 1.5, 1.8, 8.0, 9.5])  # median 1.8; with the trial's 9.0 it would be 4.9
    trial = TrialHistory(0, True, ((1, 2.0), (10, 9.0)))
    # Then its best (2.0) is worse than the others' median (1.8): stopped
    (decision,) = trials_to_stop(MedianStop(min_iter=1), by_number(*peers, trial), {})
    assert (decision.value, decision.threshold) == (2.0, 1.8)


def test_median_uses_each_others_last_value_at_or_before_the_step() -> None:
    # Given others that report at even steps only, and a trial at step 5
    others = [TrialHistory(100 + i, False, tuple((s, float(i if s <= 4 else 50)) for s in (2, 4, 6))) for i in range(5)]
    trial = history(0, [2.5] * 5)
    # Then the others' values at step 5 are those of step 4 (0..4, median 2): 2.5 is worse
    (decision,) = trials_to_stop(MedianStop(min_iter=1), by_number(*others, trial), {})
    assert (decision.band, decision.threshold) == (5, 2.0)


def test_median_waits_for_min_iter_and_min_trials_and_judges_a_step_once() -> None:
    trials = by_number(*median_peers([1.0, 2.0, 3.0, 4.0]), history(0, [9.0] * 10))
    # Given four other trials: too few for min_trials 5
    assert judge_curves(MedianStop(min_iter=1, min_trials=5), trials, {}) == Judgement()
    # Given enough others, but the trial is still before min_iter
    assert judge_curves(MedianStop(min_iter=11, min_trials=4), trials, {}) == Judgement()
    # Given its step 10 was already judged
    assert judge_curves(MedianStop(min_iter=1, min_trials=4), trials, {0: frozenset({10})}) == Judgement()
    # Otherwise it is stopped at step 10
    assert stopped(judge_curves(MedianStop(min_iter=1, min_trials=4), trials, {})) == {0: 10}


def test_median_maximize_and_nan() -> None:
    # Given accuracies to maximize: others 1..5 at step 10 (median 3)
    peers = median_peers([1.0, 2.0, 3.0, 4.0, 5.0])
    low, high, broken = history(0, [2.5] * 10), history(1, [3.5] * 10), history(2, [NAN] * 10)
    policy = MedianStop(min_iter=1, goal=Goal.MAXIMIZE)
    # Then the lower accuracy and the NaN trial stop, the higher one continues
    result = judge_curves(policy, by_number(*peers, low, high, broken), {})
    assert stopped(result) == {0: 10, 2: 10}
    assert result.passed == {1: frozenset({10})}


# Parsing the sweep file's block ------------------------------------------------------------------


def test_parse_policy_reads_wandb_hyperband_blocks() -> None:
    assert parse_policy(None, Goal.MINIMIZE) is None
    # min_iter only: eta defaults to 3, non-strict, bands grow without end (ASHA)
    asha = parse_policy({"type": "hyperband", "min_iter": 3}, Goal.MAXIMIZE)
    assert asha == Hyperband(min_iter=3, eta=3.0, strict=False, goal=Goal.MAXIMIZE)
    assert isinstance(asha, Hyperband) and asha.bands(up_to=100) == (3, 9, 27, 81)
    # max_iter and s: max_iter / eta**k for k = 1..s, ascending (W&B)
    down = parse_policy({"type": "hyperband", "max_iter": 27, "s": 3, "strict": True}, Goal.MINIMIZE)
    assert isinstance(down, Hyperband) and down.bands(up_to=1000) == (1, 3, 9) and down.strict
    # W&B's own docstring example: max_iter 5, eta 2, s 2 -> 2.5 and 1.25 truncated
    assert Hyperband(max_iter=5, eta=2, s=2).bands(up_to=10) == (1, 2)
    # s runs out below 1: max_iter 8, eta 3, s 5 -> 2 only
    assert Hyperband(max_iter=8, eta=3, s=5).bands(up_to=10) == (2,)


def test_hyperband_band_extensions() -> None:
    # min_iter with s: the first s bands; with max_iter: none above it; eta < 2 duplicates collapse
    assert Hyperband(min_iter=2, eta=2, s=3).bands(up_to=1000) == (2, 4, 8)
    assert Hyperband(min_iter=2, eta=2, max_iter=20).bands(up_to=1000) == (2, 4, 8, 16)
    assert Hyperband(min_iter=1, eta=1.5).bands(up_to=8) == (1, 2, 3, 5, 7)
    assert Hyperband(min_iter=1, eta=1.5).min_peers == 2
    assert Hyperband(eta=1.1).keep(11) == 10  # 11 / 1.1 is 9.999... in floats


def plain_bands(min_iter: int, eta: float, up_to: int, s: int | None = None, max_iter: int | None = None) -> list[int]:
    """The documented rule stepped through k = 0, 1, 2, ... (W&B's way): the oracle for `Hyperband.bands`."""
    ceiling = up_to if max_iter is None else min(up_to, max_iter)
    found, band, k = set(), float(min_iter), 0
    while int(band) <= ceiling and (s is None or k < s):
        found.add(int(band))
        band, k = band * eta, k + 1
    return sorted(found)


@pytest.mark.parametrize("eta", [MIN_ETA, 1.2, 1.25, 1.5, 2, 2.5, 3, 4.7])
@pytest.mark.parametrize("min_iter", [1, 2, 3, 7, 125, 1000])
def test_bands_found_from_logarithms_are_the_bands_of_the_rule(eta: float, min_iter: int) -> None:
    # Given eta < 2, where several k give the same band (the cheap stepping must not change which bands)
    for up_to in (1, 10, 999, 10**6, 2**53):
        # Then the bands are exactly those of stepping through every k, with and without s and max_iter
        assert list(Hyperband(min_iter=min_iter, eta=eta).bands(up_to)) == plain_bands(min_iter, eta, up_to)
        assert list(Hyperband(min_iter=min_iter, eta=eta, s=5).bands(up_to)) == plain_bands(min_iter, eta, up_to, s=5)
        capped = Hyperband(min_iter=min_iter, eta=eta, max_iter=5000).bands(up_to)
        assert list(capped) == plain_bands(min_iter, eta, up_to, max_iter=5000)


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    "policy",
    [Hyperband(min_iter=1, eta=1.0000000001), Hyperband(max_iter=10**15, s=10**18, eta=1.0000000001)],
    ids=["min_iter", "max_iter-and-s"],
)
def test_an_eta_barely_above_one_costs_at_most_max_bands_steps(policy: Hyperband) -> None:
    # Given the eta = 1.0000000001, whose bands repeat for ~10**10 values of k each
    # (the controller multiplied by eta once per k, forever), built here without validation
    began = time.process_time()
    bands = policy.bands(up_to=2**62)
    spent = time.process_time() - began
    print(f"\n{len(bands)} bands in {spent * 1000:.1f} ms of CPU")
    # Then at most MAX_BANDS bands come back, distinct and ascending, at once (measured: about 1 ms)
    assert 0 < len(bands) <= MAX_BANDS
    assert list(bands) == sorted(set(bands))
    assert spent < 2.0


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ({"type": "hyperband", "min_iter": 1, "eta": 1.0000000001}, "early_terminate.eta"),
        ({"type": "hyperband", "min_iter": 1, "eta": 1.05}, "early_terminate.eta"),
        ({"type": "hyperband", "max_iter": 81, "s": MAX_BANDS + 1}, "early_terminate.s"),
        ({"type": "hyperband", "min_iter": 2**53 + 1}, "early_terminate.min_iter"),
    ],
)
def test_sweep_files_schema_and_parse_policy_refuse_meaningless_hyperband_blocks(
    block: dict[str, object], field: str
) -> None:
    # Given a hyperband block the issue found to spin the controller, or one past the band limits
    # Then the parser names the field, the editor schema refuses it, and so does parse_policy where it checks
    with pytest.raises(SpecError) as caught:
        parse_sweep(sweep_with(block))
    assert [path for path, _ in caught.value.problems] == [field]
    validator = Draft202012Validator(json.loads(schema_path().read_text(encoding="utf-8")))
    assert list(validator.iter_errors(sweep_with(block)))
    if field == "early_terminate.eta":
        with pytest.raises(SpecError):
            parse_policy(block, Goal.MINIMIZE)


def test_the_smallest_eta_is_accepted() -> None:
    block = {"type": "hyperband", "min_iter": 1, "eta": MIN_ETA}
    spec = parse_sweep(sweep_with(block))
    assert parse_policy(spec.early_terminate, spec.metric.goal) == Hyperband(min_iter=1, eta=MIN_ETA)


def test_parse_policy_reads_the_median_extension() -> None:
    assert parse_policy({"type": "median", "min_iter": 4}, Goal.MINIMIZE) == MedianStop(min_iter=4, min_trials=5)
    assert parse_policy({"type": "median", "min_iter": 4, "min_trials": 2}, Goal.MAXIMIZE) == MedianStop(
        4, 2, Goal.MAXIMIZE
    )


@pytest.mark.parametrize(
    "block",
    [{"type": "asha", "min_iter": 1}, {"type": "hyperband"}, {"type": "hyperband", "max_iter": 9}, {"type": "median"}],
)
def test_parse_policy_refuses_what_validation_refuses(block: dict[str, object]) -> None:
    with pytest.raises(SpecError):
        parse_policy(block, Goal.MINIMIZE)


def sweep_with(block: dict[str, object]) -> dict[str, object]:
    return {"program": "t.py", "metric": {"name": "loss"}, "parameters": {"a": {"value": 1}}, "early_terminate": block}


GOOD_BLOCKS = [
    {"type": "median", "min_iter": 3},
    {"type": "median", "min_iter": 1, "min_trials": 1},
    {"type": "hyperband", "max_iter": 27, "s": 2, "eta": 3, "strict": True},
]
BAD_BLOCKS = [
    ({"type": "median"}, "early_terminate.min_iter"),
    ({"type": "median", "min_iter": 0}, "early_terminate.min_iter"),
    ({"type": "median", "min_iter": 2, "min_trials": 0}, "early_terminate.min_trials"),
    ({"type": "median", "min_iter": 2, "eta": 3}, "early_terminate.eta"),
    ({"type": "hyperband", "min_iter": 2, "min_trials": 3}, "early_terminate.min_trials"),
]


@pytest.mark.parametrize("block", GOOD_BLOCKS)
def test_sweep_files_and_schema_accept_the_median_extension(block: dict[str, object]) -> None:
    # Given a valid block / Then parser, editor schema and parse_policy all accept it
    spec = parse_sweep(sweep_with(block))
    validator = Draft202012Validator(json.loads(schema_path().read_text(encoding="utf-8")))
    assert [e.message for e in validator.iter_errors(sweep_with(block))] == []
    assert parse_policy(spec.early_terminate, spec.metric.goal) is not None


@pytest.mark.parametrize(("block", "field"), BAD_BLOCKS)
def test_sweep_files_and_schema_refuse_bad_median_blocks(block: dict[str, object], field: str) -> None:
    # Given a block with one mistake / Then the parser names that field alone, and the schema refuses it too
    with pytest.raises(SpecError) as caught:
        parse_sweep(sweep_with(block))
    assert [path for path, _ in caught.value.problems] == [field]
    validator = Draft202012Validator(json.loads(schema_path().read_text(encoding="utf-8")))
    assert list(validator.iter_errors(sweep_with(block)))


# Scale --------------------------------------------------------------------------------------------


def random_histories(trials: int, points: int, seed: int = 0) -> dict[int, TrialHistory]:
    """Noisy decaying curves, every other trial running, steps 1..points."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0.5, 5.0, trials), rng.uniform(0.0, 1.0, trials)
    steps = np.arange(1, points + 1)
    values = a[:, None] / steps + b[:, None] + rng.normal(0, 0.05, (trials, points))
    return {
        n: TrialHistory(n, n % 2 == 0, tuple(zip(steps.tolist(), values[n].tolist()))) for n in range(trials)
    }


@pytest.mark.parametrize(
    "policy",
    [Hyperband(min_iter=1, eta=3), Hyperband(min_iter=1, eta=3, strict=True), MedianStop(min_iter=5)],
    ids=["hyperband", "hyperband-strict", "median"],
)
def test_ten_thousand_trials_of_a_hundred_points_stop_only_running_trials(policy: Hyperband | MedianStop) -> None:
    # Given 10k histories of 100 points, half of them running (what a pass costs is benchmarks/early_stopping.py's)
    histories = random_histories(10_000, 100)
    # When one decision is made
    result = judge_curves(policy, histories, {})
    # Then it stops some, and only running trials
    assert result.stops and all(histories[d.number].running for d in result.stops)
