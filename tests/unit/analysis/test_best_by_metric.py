"""Best by which metric (sweepctl.analysis.best): the completed trial with the best final value of any reported metric."""

from __future__ import annotations

import math

from sweepctl.analysis.best import best_by_metric, recorded_metrics
from sweepctl.records import Trial, TrialState
from sweepctl.spec import Goal


def trial(number: int, state: TrialState = TrialState.COMPLETED, **metrics: float) -> Trial:
    return Trial(sweep_id="s", number=number, state=state, params={}, seed=number, last_metrics=metrics)


# Loss and accuracy disagree: trial 2 has the lowest loss, trial 3 the highest accuracy.
TRIALS = [
    trial(1, loss=0.40, accuracy=0.70),
    trial(2, loss=0.10, accuracy=0.80),
    trial(3, loss=0.30, accuracy=0.95),
    trial(4, TrialState.STOPPED, loss=0.01, accuracy=0.99),  # stopped early: not a finished result
    trial(5, loss=math.nan, accuracy=math.inf),  # non-finite values do not compete
    trial(6, loss=0.10),  # ties trial 2 on loss; reported no accuracy
]


def test_each_metric_and_goal_picks_its_own_best_completed_trial() -> None:
    assert best_by_metric(TRIALS, "loss", Goal.MINIMIZE) == TRIALS[1]
    assert best_by_metric(TRIALS, "accuracy", Goal.MAXIMIZE) == TRIALS[2]
    assert best_by_metric(TRIALS, "loss", Goal.MAXIMIZE) == TRIALS[0]
    assert best_by_metric(TRIALS, "accuracy", Goal.MINIMIZE) == TRIALS[0]


def test_ties_go_to_the_lowest_trial_number_whatever_the_order_given() -> None:
    assert best_by_metric(list(reversed(TRIALS)), "loss", Goal.MINIMIZE) == TRIALS[1]


def test_no_completed_trial_with_a_finite_value_is_no_answer() -> None:
    assert best_by_metric(TRIALS, "auc", Goal.MAXIMIZE) is None
    assert best_by_metric([trial(1, TrialState.FAILED, loss=0.1), trial(2, loss=math.nan)], "loss", Goal.MINIMIZE) is None


def test_recorded_metrics_lists_every_name_once_sorted() -> None:
    assert recorded_metrics(TRIALS) == ["accuracy", "loss"]
    assert recorded_metrics([]) == []
