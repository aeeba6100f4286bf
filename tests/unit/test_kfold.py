"""How a k-fold trial's folds add up to its result (sweepctl.kfold): mean, standard deviation, the trial's final state.

The store derives the same with Lua when the last fold ends; tests/system/test_fold_store.py holds the two equal.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from sweepctl.kfold import NOT_FINITE, Conclusion, FoldEnd, conclude, describe, mean_and_std, mean_metrics, partial_mean
from sweepctl.records import TrialState

C, F, S, X = TrialState.COMPLETED, TrialState.FAILED, TrialState.STOPPED, TrialState.CANCELLED


def completed(*values: float) -> list[FoldEnd]:
    return [FoldEnd(C, v) for v in values]


def test_the_mean_and_population_std_are_numpys_and_scikit_learns() -> None:
    # Given fold objectives / Then the mean and the std (ddof=0: numpy's std(), sklearn's std_test_score)
    values = [0.81, 0.79, 0.84, 0.8, 0.77]
    mean, std = mean_and_std(values)
    assert mean == pytest.approx(np.mean(values), abs=1e-15) and std == pytest.approx(np.std(values), abs=1e-15)
    assert mean_and_std([2.0, 2.0]) == (2.0, 0.0)


def test_all_folds_completed_make_a_completed_trial_with_their_mean() -> None:
    # Given five completed folds / When the last ended / Then the trial completed with their mean, std and each value
    found = conclude(completed(0.1, 0.2, 0.3, 0.4, 0.5), failed_fold=None, stop_reason=None)
    mean, std = mean_and_std([0.1, 0.2, 0.3, 0.4, 0.5])
    assert found == Conclusion(C, mean, std, (0.1, 0.2, 0.3, 0.4, 0.5), None)


def test_nothing_is_concluded_while_a_fold_is_queued_or_running() -> None:
    folds = [*completed(0.1, 0.2), FoldEnd(TrialState.RUNNING), FoldEnd(TrialState.QUEUED)]
    assert conclude(folds, failed_fold=None, stop_reason=None) is None


def test_a_sweep_without_a_metric_completes_without_an_objective() -> None:
    assert conclude([FoldEnd(C), FoldEnd(C)], failed_fold=None, stop_reason=None) == Conclusion(C, None, None, (None, None), None)


@pytest.mark.parametrize("state", [TrialState.FAILED, TrialState.NAN, TrialState.TIMED_OUT, TrialState.KILLED, TrialState.LOST])
def test_the_first_fold_to_fail_gives_the_trial_its_state_and_error(state: TrialState) -> None:
    # Given fold 2 failed first (the others were stopped, or completed before)
    folds = [FoldEnd(C, 0.1), FoldEnd(S, error="stopped early: fold 2 failed"), FoldEnd(state, error="exited with status 3"), FoldEnd(F)]
    # Then the trial ends as fold 2 did: its parameters' fault, or a machine's (KILLED, LOST), as a one-task trial would
    found = conclude(folds, failed_fold=2, stop_reason="fold 2 of the trial ended failed")
    assert found == Conclusion(state, None, None, (0.1, None, None, None), "fold 2: exited with status 3")


def test_a_failed_fold_without_an_error_is_named_by_its_state() -> None:
    found = conclude([FoldEnd(TrialState.LOST), FoldEnd(C, 1.0)], failed_fold=0, stop_reason=None)
    assert found is not None and found.error == "fold 0: lost"


def test_a_trial_stopped_early_keeps_its_completed_folds_values() -> None:
    # Given a trial stopped by the median rule after two completed folds; its queued folds never ran
    folds = [FoldEnd(C, 0.9), FoldEnd(C, 0.8), FoldEnd(S, error="stopped early: ..."), FoldEnd(S, error="not run: ...")]
    found = conclude(folds, failed_fold=None, stop_reason="median rule on fold means: ...")
    assert found == Conclusion(S, None, None, (0.9, 0.8, None, None), "stopped early: median rule on fold means: ...")
    assert partial_mean(found.fold_objectives) == pytest.approx(0.85)


def test_a_cancelled_sweeps_trial_is_cancelled() -> None:
    folds = [FoldEnd(C, 0.9), FoldEnd(X, error="the sweep was cancelled"), FoldEnd(S)]
    assert conclude(folds, failed_fold=None, stop_reason=None) == Conclusion(X, None, None, (0.9, None, None), "the sweep was cancelled")


def test_a_mean_that_overflows_is_nan_not_an_infinite_objective() -> None:
    # Given finite fold objectives whose sum overflows / Then the trial is NAN, with the reason
    found = conclude(completed(1e308, 1e308), failed_fold=None, stop_reason=None)
    assert found == Conclusion(TrialState.NAN, None, None, (1e308, 1e308), NOT_FINITE)


def test_partial_means_and_metric_means_skip_what_is_missing() -> None:
    assert partial_mean((None, None)) is None and partial_mean((1.0, None, 2.0)) == 1.5
    # Each name's finite last values, averaged over the folds that have one
    means = mean_metrics([{"loss": 1.0, "acc": 0.5}, {"loss": 3.0, "acc": math.nan}, {"loss": 2.0, "bad": math.inf}])
    assert means == {"acc": 0.5, "loss": 2.0}


def test_a_result_reads_as_mean_plus_minus_std_with_each_fold() -> None:
    assert describe(0.51234, 0.02131, (0.49, 0.53, None)) == "0.5123 ± 0.02131 (folds 0.49 0.53 -)"
    assert describe(None, None, (0.49, None)) == "- (folds 0.49 -)"
    assert describe(0.5, None, ()) == "0.5"
