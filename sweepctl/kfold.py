"""K-fold trials (`cross_validation: {folds: k}`): how a trial's folds add up to its result (pure).

A trial of a k-fold sweep runs as k fold tasks, numbered 0 .. k-1, each with a record of
its own (state, attempt, worker, lease, objective, error, metric history) and its own
Celery message, claimed, leased and fenced per fold exactly as a trial of one task is.
All folds of a trial share its parameters and its seed: a program that shuffles its data
with the seed before splitting it gets the same k disjoint folds in every task.

The trial's record follows its folds: QUEUED until a fold is claimed, RUNNING until its
last fold ended, then one final state, derived once, atomically, by the store (the Lua
script that ended the last fold: `sweepctl/store/lua/folds.lua`). This module is the
same rule in Python: `conclude` is what the store writes, and a test holds the two equal.

- Every fold COMPLETED: the trial is COMPLETED, its objective the mean of the folds'
  objectives, with their standard deviation (population, ddof=0: numpy's `std()` and
  scikit-learn's `std_test_score`) and each fold's value recorded (`fold_objectives`).
  A sweep without a metric has no objectives: COMPLETED without one.
- A fold that ended FAILED, NAN, TIMED_OUT, KILLED or LOST (its worker lost on every
  attempt up to max_retries) ends the trial: its other folds are stopped at once (queued
  ones never start), and the trial takes the state of that first fold to fail, its error
  `fold F: <the fold's error>`. So a trial fails for its parameters (FAILED, NAN, TIMED_OUT:
  max_failures counts it, TPE sees a failure) or for a machine (KILLED, LOST: neither),
  as a trial of one task would.
- Stopped by early termination (the median rule on fold means, `controller.fold_stopping`):
  STOPPED, its completed folds' values kept. Cancelled with its sweep: CANCELLED.

A fold whose worker is lost is re-queued alone as its next attempt (an infrastructure
failure counted against max_retries per fold); the trial goes on. Mean and standard
deviation are summed in fold order, as the store sums them, so both give the same float.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sweepctl.records import TrialState

# A fold ending in one of these ends its trial (the others are stopped).
FAILING_STATES = frozenset({TrialState.FAILED, TrialState.NAN, TrialState.TIMED_OUT, TrialState.KILLED, TrialState.LOST})
NOT_FINITE = "the mean of the fold objectives is not finite"  # no quote: filled into the store's Lua too


@dataclass(frozen=True)
class FoldEnd:
    """How one fold ended: its final state, its objective (COMPLETED with a metric) and its error."""

    state: TrialState
    objective: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class Conclusion:
    """What a k-fold trial's record says once its last fold ended."""

    state: TrialState
    objective: float | None
    objective_std: float | None
    fold_objectives: tuple[float | None, ...]
    error: str | None


def mean_and_std(values: Sequence[float]) -> tuple[float, float]:
    """The mean and the population standard deviation of `values`, summed in order."""
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) * (v - mean) for v in values) / len(values))


def conclude(folds: Sequence[FoldEnd], *, failed_fold: int | None, stop_reason: str | None) -> Conclusion | None:
    """The trial's end from its folds' (`folds[i]` is fold i); None while a fold has not ended.

    `failed_fold` is the first fold that ended in a FAILING_STATES state, `stop_reason` the reason
    of the early-termination stop of the trial, if any (the store records both as they happen).
    """
    if any(not fold.state.is_finished for fold in folds):
        return None
    objectives = tuple(fold.objective for fold in folds)
    if failed_fold is not None:
        cause = folds[failed_fold]
        return Conclusion(cause.state, None, None, objectives, f"fold {failed_fold}: {cause.error or cause.state.value}")
    if all(fold.state is TrialState.COMPLETED for fold in folds):
        values = [value for value in objectives if value is not None]
        if len(values) < len(folds):
            return Conclusion(TrialState.COMPLETED, None, None, objectives, None)
        mean, std = mean_and_std(values)
        if not (math.isfinite(mean) and math.isfinite(std)):
            return Conclusion(TrialState.NAN, None, None, objectives, NOT_FINITE)
        return Conclusion(TrialState.COMPLETED, mean, std, objectives, None)
    cancelled = [fold for fold in folds if fold.state is TrialState.CANCELLED]
    if cancelled:
        return Conclusion(TrialState.CANCELLED, None, None, objectives, cancelled[0].error)
    return Conclusion(TrialState.STOPPED, None, None, objectives, f"stopped early: {stop_reason}" if stop_reason else None)


def completed_values(fold_objectives: Sequence[float | None]) -> tuple[float, ...]:
    """The objectives of the folds that completed so far, in fold order."""
    return tuple(value for value in fold_objectives if value is not None)


def partial_mean(fold_objectives: Sequence[float | None]) -> float | None:
    """The mean of the completed folds' objectives (what early termination judges); None before any completed."""
    values = completed_values(fold_objectives)
    return None if not values else sum(values) / len(values)


def mean_metrics(last_metrics: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """A k-fold trial's `last_metrics`: for each name, the mean of its folds' last finite values (in fold order)."""
    names = sorted({name for metrics in last_metrics for name in metrics})
    means: dict[str, float] = {}
    for name in names:
        values = [m[name] for m in last_metrics if name in m and math.isfinite(m[name])]
        if values:
            means[name] = sum(values) / len(values)
    return means


def describe(objective: float | None, std: float | None, fold_objectives: Sequence[float | None]) -> str:
    """A k-fold trial's result for people: `0.5123 ± 0.02131 (folds 0.49 0.51 0.52 - -)`."""
    folds = " ".join("-" if value is None else f"{value:.4g}" for value in fold_objectives)
    head = "-" if objective is None else f"{objective:.4g}" + ("" if std is None else f" ± {std:.4g}")
    return f"{head} (folds {folds})" if fold_objectives else head
