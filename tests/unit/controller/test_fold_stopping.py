"""Early termination of k-fold trials: the median rule on fold means (controller.fold_stopping), on known numbers."""

from __future__ import annotations

import pytest

from controller.fold_stopping import FoldProgress, judge_fold_means
from sweepctl.spec import Goal, MedianStop

RULE = MedianStop(min_iter=2, min_trials=3, goal=Goal.MINIMIZE)
COMPLETED = [0.2, 0.4, 0.3]  # the objectives (fold means) of three completed trials: median 0.3


def test_a_trial_whose_completed_folds_mean_is_worse_than_the_median_is_stopped() -> None:
    # Given trial 7 with two of five folds completed, mean 0.35 > the median 0.3 of completed trials
    judgement = judge_fold_means(RULE, COMPLETED, [FoldProgress(7, (0.3, 0.4), 5)], {})
    # Then it is stopped, with its mean, the median and the count of folds it was judged at
    (stop,) = judgement.stops
    assert (stop.number, stop.band, stop.value, stop.threshold) == (7, 2, pytest.approx(0.35), 0.3)
    assert stop.reason == (
        "median rule on fold means: the mean 0.35 of its 2 completed folds of 5 is worse than 0.3, the median of 3 completed trials"
    )
    assert judgement.passed == {}


def test_a_trial_as_good_as_the_median_passes_and_is_not_judged_again_at_that_count() -> None:
    # Given a trial whose mean equals the median (ties survive) and one better
    running = [FoldProgress(1, (0.3, 0.3), 5), FoldProgress(2, (0.1, 0.2), 5)]
    judgement = judge_fold_means(RULE, COMPLETED, running, {})
    assert judgement.stops == () and judgement.passed == {1: 2, 2: 2}
    # When judged again with the same counts, but a much better median / Then neither is judged: that count is passed
    judged = judgement.judged_after({})
    assert judge_fold_means(RULE, [0.0, 0.0, 0.0], running, judged).stops == ()
    # But a third completed fold is judged anew
    assert [s.number for s in judge_fold_means(RULE, [0.0, 0.0, 0.0], [FoldProgress(1, (0.3, 0.3, 0.3), 5)], judged).stops] == [1]


def test_nothing_is_judged_before_min_iter_folds_or_with_no_fold_left_to_stop() -> None:
    running = [FoldProgress(1, (9.0,), 5), FoldProgress(2, (9.0,) * 5, 5)]
    assert judge_fold_means(RULE, COMPLETED, running, {}).stops == ()


def test_too_few_completed_trials_leave_the_count_open_for_later() -> None:
    # Given two completed trials where the rule wants three / Then no judgement, and nothing recorded as passed
    running = [FoldProgress(1, (9.0, 9.0), 5)]
    first = judge_fold_means(RULE, [0.1, 0.2], running, {})
    assert first.stops == () and first.passed == {}
    # When a third trial completes / Then the same count is judged
    assert [s.number for s in judge_fold_means(RULE, [0.1, 0.2, 0.3], running, first.judged_after({})).stops] == [1]


def test_maximizing_stops_the_lower_mean() -> None:
    rule = MedianStop(min_iter=1, min_trials=1, goal=Goal.MAXIMIZE)
    running = [FoldProgress(3, (0.7,), 4), FoldProgress(4, (0.95,), 4)]
    stops = judge_fold_means(rule, [0.8, 0.9], running, {}).stops
    assert [(s.number, s.value, s.threshold) for s in stops] == [(3, 0.7, pytest.approx(0.85))]
