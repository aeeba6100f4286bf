"""Early termination of k-fold trials: the median rule on fold means, as a pure function of the sweep's results.

With `cross_validation`, `early_terminate: {type: median, min_iter: m, min_trials: n}` judges a
running k-fold trial by the folds it has completed (`sweepctl.kfold`), not by learning curves:

    A running trial with c completed folds, m <= c < k (a fold is left to stop), is stopped when the
    mean of its c completed folds' objectives is strictly worse (for the metric's goal) than the
    median of the objectives (fold means) of the sweep's COMPLETED trials, provided there are at
    least n of them. Each trial is judged once per count of completed folds: a count it passed (in
    `judged`) is not judged again, and a count judged with fewer than n completed trials stays open
    (it is judged on a later call, when more trials completed).

Stopping the trial ends its queued folds unrun and stops its running ones; it is recorded STOPPED,
and the suggester learns the mean of its completed folds (`controller.context.observed_loss`).
Completed folds' objectives are finite (a NaN fold fails its trial), so no NaN rule is needed.
Nothing here reads a clock, Redis or Celery; `controller.fold_means` reads the store and applies it.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from controller.early_stopping import StopDecision
from sweepctl.spec import MedianStop


@dataclass(frozen=True)
class FoldProgress:
    """A running k-fold trial: the objectives of the folds it completed so far (in fold order), of `folds` in all."""

    number: int
    completed: tuple[float, ...]
    folds: int


@dataclass(frozen=True)
class FoldJudgement:
    """The trials to stop, and the completed-fold counts each judged trial passed now (to add to `judged`)."""

    stops: tuple[StopDecision, ...] = ()
    passed: Mapping[int, int] = field(default_factory=dict)

    def judged_after(self, judged: Mapping[int, int]) -> dict[int, int]:
        """`judged` with this call's passed counts: what to pass to the next call."""
        return {**judged, **self.passed}


def judge_fold_means(
    rule: MedianStop, completed_means: Sequence[float], running: Sequence[FoldProgress], judged: Mapping[int, int]
) -> FoldJudgement:
    """Apply the median rule on fold means to every trial of `running` (see the module's docstring).

    `completed_means` are the objectives of the sweep's completed trials; `judged` maps a trial to the
    count of completed folds it was last judged at. Stops are ordered by trial number.
    """
    due = [t for t in running if rule.min_iter <= len(t.completed) < t.folds and len(t.completed) > judged.get(t.number, 0)]
    if not due or len(completed_means) < rule.min_trials:
        return FoldJudgement()
    median = statistics.median(completed_means)
    stops: list[StopDecision] = []
    passed: dict[int, int] = {}
    for trial in sorted(due, key=lambda t: t.number):
        count = len(trial.completed)
        mean = sum(trial.completed) / count
        if rule.goal.loss(mean) > rule.goal.loss(median):
            reason = (
                f"median rule on fold means: the mean {mean:.6g} of its {count} completed folds of {trial.folds} is worse "
                f"than {median:.6g}, the median of {len(completed_means)} completed trials"
            )
            stops.append(StopDecision(trial.number, count, mean, median, reason))
        else:
            passed[trial.number] = count
    return FoldJudgement(tuple(stops), passed)
