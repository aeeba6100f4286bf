"""The index of finished trials' points (`controller.suggesters.near_points`): pure, numpy and scipy only.

What it finds must be what a scan of every point finds, whether the points sit in its k-d tree or among the few
added since, and whatever order they came in (a restarted controller replays them in one batch); the gaps it
gives must be the kernel widths Optuna computes from the same points.
"""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator

from controller.suggesters.near_points import MIN_SCAN, Axis, NearPoints
from controller.suggesters.optuna_sampler import near_points

AXES = (Axis(0.0, 1.0), Axis(-2.0, 2.0), Axis(float(np.log(1e-4)), float(np.log(1.0)), log=True))


def crowded(n: int, seed: int = 0) -> np.ndarray:
    """Raw points (the third axis log-uniform), half of them crowding one corner as a TPE run leaves them."""
    rng = np.random.default_rng(seed)
    unit = np.where(rng.random((n, 1)) < 0.5, rng.normal(0.3, 0.03, (n, 3)).clip(0, 1), rng.random((n, 3)))
    return np.column_stack([unit[:, 0], -2 + 4 * unit[:, 1], np.exp(np.log(1e-4) * (1 - unit[:, 2]))])


def scan(points: np.ndarray, asked: np.ndarray, reach: float, most: int) -> list[list[int]]:
    """What `near` must find for each point asked, by a scan of every point."""
    unit = np.column_stack([(a.kernel(points[:, i]) - a.low) / a.span for i, a in enumerate(AXES)])
    at = np.column_stack([(a.kernel(asked[:, i]) - a.low) / a.span for i, a in enumerate(AXES)])
    distance = np.abs(unit[np.newaxis] - at[:, np.newaxis]).max(axis=2)
    found = []
    for row in distance:
        within = row <= reach
        if within.sum() > most:
            within = row < np.sort(row)[most - 1]
        found.append(np.flatnonzero(within).tolist())
    return found


def index(points: np.ndarray, batches: int) -> NearPoints:
    near = NearPoints(AXES, (0, 1, 2), 3)
    for chunk in np.array_split(np.arange(len(points)), batches):
        near.add([int(i) + 1 for i in chunk], points[chunk])
    return near


@pytest.mark.parametrize("n", [300, MIN_SCAN * 5])
@pytest.mark.parametrize("batches", [1, 7, 200])
def test_the_points_found_are_a_scans_in_the_tree_and_among_those_added_since(n: int, batches: int) -> None:
    # Given points added in one batch (a replay), in a few, or in many small ones (trials arriving)
    points = crowded(n)
    near = index(points, batches)
    asked = crowded(24, seed=1)
    for reach, most in ((0.04, 64), (0.04, 5), (0.5, 10_000), (0.001, 64)):
        # Then near finds what a scan of every point finds, also where the nearest `most` end it before the reach
        assert [found.tolist() for found in near.near(asked, reach, most)] == scan(points, asked, reach, most)


@pytest.mark.parametrize("batches", [1, 1000])
def test_ties_with_the_last_nearest_go_together_whatever_the_order(batches: int) -> None:
    # Given trials on an integer axis, 100 at each of 0, 1, ..., 9 (1/64 of the span apart: exact in binary),
    # added at once (a replay) or one by one
    values = np.repeat(np.arange(0.0, 10.0), 100)[np.random.default_rng(0).permutation(1000)]
    near = NearPoints((Axis(0.0, 64.0),), (0,), 1)
    for chunk in np.array_split(np.arange(1000), batches):
        near.add([int(i) + 1 for i in chunk], values[chunk, np.newaxis])
    at_three = np.array([[3.0]])
    # Then where more than `most` lie within the reach (2, 3 and 4: 300), all those tied with the most-th
    # nearest go, never some of them (which ones the tree reaches first would depend on the order)
    assert len(near.near(at_three, 1.5 / 64, 250)[0]) == 100
    assert len(near.near(at_three, 1.5 / 64, 300)[0]) == 300
    assert len(near.near(at_three, 1.5 / 64, 50)[0]) == 0  # 100 at the point itself
    # And a trial exactly at the reach is found, in the tree as among the trials added since
    assert len(near.near(at_three, 1 / 64, 300)[0]) == 300


def test_the_gaps_are_optunas_kernel_widths_before_its_clip() -> None:
    # Given 1,000 points of a float, a log float and an integer parameter in Optuna's internal representation
    rng = np.random.default_rng(3)
    space = {"a": FloatDistribution(0, 1), "b": FloatDistribution(1e-4, 1, log=True), "c": IntDistribution(0, 10**6)}
    raw = np.column_stack([rng.random(1000), np.exp(rng.uniform(np.log(1e-4), 0, 1000)), rng.choice(10**6, 1000, replace=False)])
    points = near_points(space)
    points.add(list(range(1, 1001)), raw)
    # When Optuna builds its estimator on them without its clip
    parameters = optuna.samplers.TPESampler(multivariate=True)._parzen_estimator_parameters._replace(consider_magic_clip=False)
    estimator = _ParzenEstimator({name: raw[:, i] for i, name in enumerate(space)}, space, parameters)
    # Then each point's gaps are the widths of its kernels (where values do not repeat)
    widths = np.column_stack([d.sigma[:-1] for d in estimator._mixture_distribution.distributions])
    assert points.gaps(raw) == pytest.approx(widths, rel=1e-9)


def test_ranks_follow_trial_numbers_not_arrival() -> None:
    near = NearPoints(AXES[:1], (0,), 1)
    near.add([30, 10], np.array([[0.1], [0.2]]))
    near.add([20], np.array([[0.3]]))
    assert near.ranks(near.numbers).tolist() == [2, 0, 1]


def test_categorical_columns_are_kept_but_not_searched() -> None:
    space = {"k": optuna.distributions.CategoricalDistribution(("a", "b")), "x": FloatDistribution(0, 1)}
    points = near_points(space)
    points.add([1, 2], np.array([[0, 0.5], [1, 0.9]]))
    assert points.columns == (1,)
    assert points.near(np.array([[1, 0.5]]), 0.01, 64)[0].tolist() == [0]
    assert points.raw[:, 0].tolist() == [0, 1]
