"""The Pareto front (sweepctl.analysis.pareto): completed trials no other dominates, each objective by its own goal."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from sweepctl.analysis.pareto import dominates, non_dominated, objective_values, pareto_front
from sweepctl.records import Trial, TrialState
from sweepctl.spec import Goal, MetricSpec

ACC_LATENCY = (MetricSpec("accuracy", Goal.MAXIMIZE), MetricSpec("latency", Goal.MINIMIZE))


def trial(number: int, state: TrialState = TrialState.COMPLETED, objective: float | None = None, **metrics: float) -> Trial:
    """A trial whose objective (the first objective's value) is `objective`, or its `accuracy` when not given."""
    first = metrics.get("accuracy") if objective is None and state is TrialState.COMPLETED else objective
    return Trial(sweep_id="s", number=number, state=state, params={"n": number}, seed=number, objective=first, last_metrics=metrics)


def test_the_front_is_the_trade_off_between_accuracy_and_latency() -> None:
    # Given trials where more accuracy costs latency, and some that are beaten on both
    trials = [
        trial(1, accuracy=0.90, latency=30.0),
        trial(2, accuracy=0.80, latency=10.0),
        trial(3, accuracy=0.85, latency=40.0),  # beaten by 1: less accurate and slower
        trial(4, accuracy=0.95, latency=80.0),
        trial(5, accuracy=0.80, latency=12.0),  # beaten by 2: as accurate, slower
        trial(6, accuracy=0.70, latency=5.0),
    ]
    front = pareto_front(trials, ACC_LATENCY)
    # Then the front holds the non-dominated trials, best first by the first objective (accuracy, maximized)
    assert front.numbers == (4, 1, 2, 6)
    assert front.values == ((0.95, 80.0), (0.90, 30.0), (0.80, 10.0), (0.70, 5.0))
    assert front.named_values(1) == {"accuracy": 0.90, "latency": 30.0}
    assert front.candidates == 6


def test_goals_decide_which_way_is_better() -> None:
    trials = [trial(1, accuracy=0.9, latency=30.0), trial(2, accuracy=0.8, latency=10.0)]
    both_low = (MetricSpec("accuracy", Goal.MINIMIZE), MetricSpec("latency", Goal.MINIMIZE))
    both_high = (MetricSpec("accuracy", Goal.MAXIMIZE), MetricSpec("latency", Goal.MAXIMIZE))
    assert pareto_front(trials, both_low).numbers == (2,)
    assert pareto_front(trials, both_high).numbers == (1,)
    assert pareto_front(trials, ACC_LATENCY).numbers == (1, 2)


def test_equal_trials_do_not_dominate_each_other_and_both_stay_lower_number_first() -> None:
    trials = [trial(7, accuracy=0.9, latency=30.0), trial(3, accuracy=0.9, latency=30.0), trial(5, accuracy=0.9, latency=31.0)]
    assert pareto_front(trials, ACC_LATENCY).numbers == (3, 7)


def test_only_completed_trials_with_every_objective_finite_compete() -> None:
    trials = [
        trial(1, accuracy=0.5, latency=50.0),
        trial(2, TrialState.STOPPED, accuracy=0.99, latency=1.0),
        trial(3, TrialState.FAILED, accuracy=0.99, latency=1.0),
        trial(4, accuracy=0.99),  # no latency
        trial(5, accuracy=0.99, latency=math.nan),
        trial(6, objective=math.inf, accuracy=math.inf, latency=1.0),
    ]
    front = pareto_front(trials, ACC_LATENCY)
    assert front.numbers == (1,) and front.candidates == 1
    assert objective_values(trials[3], ACC_LATENCY) is None
    assert pareto_front([], ACC_LATENCY).trials == ()


def test_the_first_objective_is_the_trials_recorded_objective() -> None:
    # Given a trial judged by its W&B summary (its objective) after a last report of another value
    t = trial(1, objective=0.93, accuracy=0.91, latency=20.0)
    assert objective_values(t, ACC_LATENCY) == (0.93, 20.0)


def brute_force_front(points: list[tuple[float, ...]]) -> set[int]:
    return {i for i, p in enumerate(points) if not any(dominates(q, p) for j, q in enumerate(points) if j != i)}


@pytest.mark.parametrize(("objectives", "seed"), list(itertools.product((2, 3, 4), range(5))))
def test_the_front_is_what_comparing_every_pair_gives_and_no_point_on_it_dominates_another(objectives: int, seed: int) -> None:
    # Given random points, with ties (values rounded to a coarse grid)
    rng = np.random.default_rng(seed)
    points = [tuple(float(x) for x in row) for row in np.round(rng.random((200, objectives)) * 8) / 8]
    # When the front is found by the sorted sweep
    found = non_dominated(points)
    # Then it is exactly the brute-force front, and no point on it dominates another
    assert set(found) == brute_force_front(points)
    assert not any(dominates(points[i], points[j]) for i in found for j in found)
    assert found == sorted(found, key=lambda i: (points[i], i))


def test_dominance_is_strict_on_one_objective_at_least() -> None:
    assert dominates((1.0, 2.0), (1.0, 3.0))
    assert not dominates((1.0, 2.0), (1.0, 2.0))
    assert not dominates((0.0, 3.0), (1.0, 2.0))
