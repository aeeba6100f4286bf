"""Optuna's TPESampler as the Optuna engine (`optuna_tpe`) asks it: told the search space, and with a bounded model
(`controller.suggesters.bounded`) its good group sized and its "bad" group shaped as full history's, and taken
exactly near each proposal from every finished trial's point (`near_points`).

The shaping reaches into Optuna's private `samplers._tpe` (its Parzen estimator, its kernels and `_truncnorm`), as
the good group's size does (`_gamma`): tests/unit/controller/test_bounded_model.py holds the estimator to full
history's density and the kernels to Optuna's own `log_pdf`, so an Optuna that changes them fails there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers._tpe import _truncnorm
from optuna.samplers._tpe.parzen_estimator import EPS, _ParzenEstimator, _ParzenEstimatorParameters
from optuna.samplers._tpe.probability_distributions import _BatchedCategoricalDistributions, _MixtureOfProductDistribution
from optuna.trial import FrozenTrial, TrialState

from controller.suggesters.bounded import GoodCount
from controller.suggesters.near_points import Axis, NearPoints

NUMBER_ATTR = "sweepctl_number"  # the user attribute that holds an observed trial's number in the sweep
# How far from a proposal, in the narrowest kernels' widths, the "bad" trials are taken exactly rather than by the
# sample: a kernel weighs e^-8 (0.03%) of its peak there.
REACH = 4.0
MOST_NEAR = 256  # per proposal: where more trials crowd within the reach, the nearest this many


def known_space(distributions: dict[str, BaseDistribution]) -> dict[str, BaseDistribution]:
    """The joint search space as Optuna's IntersectionSearchSpace gives it: sorted by name, without one-value
    distributions."""
    return {name: d for name, d in sorted(distributions.items()) if not d.single()}


def near_points(space: dict[str, BaseDistribution]) -> NearPoints:
    """An index of the points of trials over `space` (`known_space`'s order), its numerical axes in Optuna's kernel
    space (`_ParzenEstimator._calculate_numerical_distributions`)."""
    axes, columns = [], []
    for column, d in enumerate(space.values()):
        if isinstance(d, CategoricalDistribution):
            continue
        assert isinstance(d, (FloatDistribution, IntDistribution))
        low, high = (d.low - d.step / 2, d.high + d.step / 2) if d.step is not None else (d.low, d.high)
        axes.append(Axis(float(np.log(low)), float(np.log(high)), log=True) if d.log else Axis(float(low), float(high)))
        columns.append(column)
    return NearPoints(axes, columns, len(space))


class KnownSpaceSampler(optuna.samplers.TPESampler):
    """Optuna's TPESampler, told the search space instead of inferring it.

    Every COMPLETE trial in our studies carries exactly the modelled distributions,
    so the intersection Optuna computes over all trials is known in advance. A
    sampler made for one suggestion has no cache of it: inferring it cost O(n)
    distribution comparisons, ~40% of a suggestion at 5k trials.
    """

    def __init__(
        self,
        distributions: dict[str, BaseDistribution],
        good: int | None = None,
        represented: int | None = None,
        whole: frozenset[int] = frozenset(),
        points: NearPoints | None = None,
        **options: Any,
    ) -> None:
        """`good` and `represented` with a bounded model: the good group's size, and how many finished trials the model
        stands for (its "bad" group is then weighted and shaped as that many, `SampledGroupEstimator`); `whole`: the
        numbers (`NUMBER_ATTR`) of the trials kept for their loss, which stand for themselves alone; `points`: every
        finished trial's (`near_points`), from which the group's density near a proposal is taken exactly."""
        super().__init__(**options)
        self._known = known_space(distributions)
        self._good, self._represented, self._whole, self._points = good, represented, whole, points
        if good is not None:
            # The good group's size (`bounded`). Optuna 4.9 deprecated the `gamma` argument (to go in 6.0)
            # but its TPE still reads `_gamma`, None meaning its default.
            self._gamma = GoodCount(good)

    def _build_parzen_estimator(
        self, study: optuna.Study, search_space: dict[str, BaseDistribution], trials: list[FrozenTrial], handle_below: bool
    ) -> _ParzenEstimator:
        if handle_below or self._good is None or self._represented is None:
            return super()._build_parzen_estimator(study, search_space, trials, handle_below)
        full = self._represented - self._good  # finished trials in full history's "bad" group
        finished = [t.state != TrialState.RUNNING for t in trials]
        stands_for = self._stands_for(trials, finished, full)
        if stands_for is None:
            return super()._build_parzen_estimator(study, search_space, trials, handle_below)
        return SampledGroupEstimator(
            self._get_internal_repr(trials, search_space, study),
            search_space,
            self._parzen_estimator_parameters,
            stands_for=stands_for,
            share=sum(finished) / full,
            numbers=[t.user_attrs.get(NUMBER_ATTR) for t in trials],
            near=self._near(trials) if list(search_space) == list(self._known) else None,
        )

    def _near(self, trials: list[FrozenTrial]) -> Near | None:
        """What the "bad" group (`trials`) is taken from near a proposal: the kept trials not among them are the good group."""
        if self._points is None:
            return None
        bad = {t.user_attrs.get(NUMBER_ATTR) for t in trials if t.state is TrialState.COMPLETE}
        return Near(self._points, self._whole, self._whole - bad)

    def _stands_for(self, trials: list[FrozenTrial], finished: list[bool], full: int) -> list[float] | None:
        """How many of full history's "bad" group (`full` finished trials) each of `trials` stands for, or None
        where they are that group whole: a sampled finished trial, its share of the rest; any other, itself.
        Weighting each by the inverse of its chance to be modelled keeps the group's density unbiased (Horvitz-
        Thompson): the trials kept for their loss, near the best, and the lies told for pending trials (`lie`
        other than "running") would otherwise weigh as a sample's."""
        sampled = [f and self._sampled(t.user_attrs.get(NUMBER_ATTR)) for f, t in zip(finished, trials, strict=True)]
        drawn = sum(sampled)
        drawn_from = full - (sum(finished) - drawn)  # full history's finished trials less those kept for themselves
        if drawn == 0 or drawn >= drawn_from:
            return None
        return [drawn_from / drawn if s else 1.0 for s in sampled]

    def _sampled(self, number: int | None) -> bool:
        """Whether an observed trial (a told lie has no number) is in the model by the sample's draw."""
        return number is not None and number not in self._whole

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        # Independent TPE (several objectives) samples each parameter on its own: no joint space.
        return dict(self._known) if self._is_multivariate(study) else {}


@dataclass(frozen=True)
class Near:
    """What the "bad" group's density near a proposal is taken from exactly: every finished trial's point, less
    those kept in the model for their loss (`whole`, there as themselves); `good`: of those, the good group's."""

    points: NearPoints
    whole: frozenset[int]
    good: frozenset[int] = frozenset()

    def places(self, numbers: np.ndarray) -> np.ndarray:
        """Where trials `numbers` stand among full history's "bad" group by number (0: the oldest): the trials
        numbered below each, less the good group's."""
        good = np.sort(np.fromiter(self.good, dtype=np.int64, count=len(self.good)))
        return self.points.ranks(numbers) - np.searchsorted(good, numbers)


class SampledGroupEstimator(_ParzenEstimator):
    """The "bad" group's density from a sample of its trials, shaped as full history's.

    Trial i stands for `stands_for[i]` trials of the whole group (`KnownSpaceSampler._stands_for`): its
    weight is that much larger, so the prior weighs as little as beside the whole group; and the kernels,
    as wide as the gaps to their neighbours in Optuna, are narrowed by the model's `share` of the group, as
    the gaps are among the whole group's points (down to the floor Optuna's clip sets for that many).

    With `near`, the density at each point asked (`log_pdf`: TPE's candidates) is full history's exactly from the
    trials near it (within `REACH` of the narrowest kernels' width, the nearest `MOST_NEAR` where more crowd
    there), each with the weight and width it has in full history, plus the sample's estimate from the rest: a
    sampled trial among those found stands for none there. Which trials are near depends on the point alone and
    the sample on trial numbers alone, so the estimate of the rest stays unbiased. A sample of a few percent
    leaves holes between its points where trials crowd, near the best, and TPE proposed into them, next to
    trials full history knows were tried (benchmarks/results/suggestion_bounded.md). The trials that stand for
    themselves in the model (kept, pending, lies) are as wide as among every trial, not as a sample's gaps say.
    """

    def __init__(
        self,
        observations: dict[str, np.ndarray],
        search_space: dict[str, BaseDistribution],
        parameters: _ParzenEstimatorParameters,
        *,
        stands_for: Sequence[float],
        share: float,
        numbers: Sequence[int | None] = (),
        near: Near | None = None,
    ) -> None:
        self._kernels = round(sum(stands_for))  # full history's count
        self._share = share
        self._parameters = parameters
        self._near = near
        # Each trial's number in the sweep, -1 for none (pending, lies) or none given.
        self._numbers = np.array([-1 if n is None else n for n in numbers] or [-1] * len(stands_for), dtype=np.int64)
        self._alone = np.asarray(stands_for, dtype=float) == 1.0  # kept, pending, lies: each stands for itself
        self._full_ramp: np.ndarray | None = None
        weights = parameters.weights(len(stands_for)) * np.asarray(stands_for, dtype=float)
        kept = self._alone & (self._numbers >= 0)
        if near is not None and kept.any():
            # A kept trial weighs as in full history, by its place there, not by its place in the sample's order.
            weights[kept] = self._ramp()[near.places(self._numbers[kept])]
        self._total = float(weights.sum()) + parameters.prior_weight  # what Optuna divides the weights by
        super().__init__(observations, search_space, parameters, predetermined_weights=weights)

    def _floor(self, span: float) -> float:
        """The narrowest kernel Optuna's clip allows among full history's group, on an axis `span` wide (without
        its clip, Optuna's own least width)."""
        return span / min(100.0, 1.0 + self._kernels + 1) if self._parameters.consider_magic_clip else EPS

    def _ramp(self) -> np.ndarray:
        """Full history's forgetting weights over its "bad" group, the oldest first (the last for every place
        beyond: pending trials come after every finished one); worked out once."""
        if self._full_ramp is None:
            ramp = np.asarray(self._parameters.weights(self._kernels), dtype=float)
            self._full_ramp = np.append(ramp, np.full(len(self._numbers) + 1, ramp[-1] if len(ramp) else 1.0))
        return self._full_ramp

    def _calculate_distributions(
        self, observations: np.ndarray, param_name: str, search_space: BaseDistribution, parameters: _ParzenEstimatorParameters
    ) -> Any:
        batched: Any = super()._calculate_distributions(observations, param_name, search_space, parameters)
        if isinstance(search_space, CategoricalDistribution):
            return batched
        sigmas = np.array(batched.sigma, dtype=float)
        span = sigmas[-1]  # the prior's kernel: the whole range, in the space the kernels live in
        sigmas[:-1] = np.maximum(sigmas[:-1] * self._share, self._floor(span))
        axis = self._axis(param_name)
        if axis is not None and self._alone.any():
            # A trial that stands for itself is as wide as among every trial, not as a sample's neighbours make it.
            gaps = self._near.points.axis_gaps(axis, observations[self._alone], parameters.consider_endpoints)  # type: ignore[union-attr]
            sigmas[:-1][self._alone] = np.clip(gaps, self._floor(span), span)
        return batched._replace(sigma=sigmas)

    def _axis(self, param_name: str) -> int | None:
        """`param_name`'s axis among the points `near` holds, or None without them."""
        if self._near is None:
            return None
        return self._near.points.columns.index(list(self._search_space).index(param_name))

    def log_pdf(self, samples_dict: dict[str, np.ndarray]) -> np.ndarray:
        sampled = super().log_pdf(samples_dict)
        if self._near is None or not self._parameters.consider_magic_clip:  # no clip: kernels reach no set width
            return sampled
        x = self._transform(samples_dict)
        points = self._near.points
        found = points.near(x, REACH * self._floor(1.0), MOST_NEAR)
        asked = np.repeat(np.arange(len(found)), [len(f) for f in found])  # (point asked, trial found) pairs
        trials = np.concatenate(found)
        kept = np.fromiter(self._near.whole, dtype=np.int64, count=len(self._near.whole))
        free = ~np.isin(points.numbers[trials], kept)  # kept trials are in the model as themselves
        asked, trials = asked[free], trials[free]
        if not len(asked):
            return sampled
        taken, at = np.unique(trials, return_inverse=True)
        exact = _pairs_log_pdf(self._exact(taken), x, asked, at, len(x))
        # The sample less its trials found near each point: few (a sample's share of those found), so taken away
        # by subtraction. Where they were nearly all of it, rounding leaves next to nothing, which the exact term
        # (the same trials, each for itself) outweighs.
        numbers = points.numbers[taken][at]
        order = np.argsort(self._numbers)
        slot = np.minimum(np.searchsorted(self._numbers, numbers, sorter=order), len(order) - 1)
        drawn = self._numbers[order[slot]] == numbers
        less = _pairs_log_pdf(self._mixture_distribution, x, asked[drawn], order[slot[drawn]], len(x)) - sampled
        with np.errstate(divide="ignore", invalid="ignore"):
            rest = np.where(less < -1e-12, sampled + np.log1p(-np.exp(np.minimum(less, -1e-12))), -np.inf)
        return np.logaddexp(rest, exact)

    def _exact(self, found: np.ndarray) -> _MixtureOfProductDistribution:
        """Full history's kernels of the points `found` (every trial's, less those kept for their loss), weighted
        in the sample's units: each with its forgetting weight at its place by number among the group, each as wide
        as its gaps to every trial's point."""
        near, parameters = self._near, self._parameters
        assert near is not None
        points = near.points
        weights = self._ramp()[near.places(points.numbers[found])] / self._total
        raw = points.raw[found]
        gaps = points.gaps(raw, parameters.consider_endpoints)
        axis_of = {column: i for i, column in enumerate(points.columns)}
        distributions: list[Any] = []
        for column, d in enumerate(self._search_space.values()):
            if isinstance(d, CategoricalDistribution):
                distributions.append(self._categorical(raw[:, column].astype(int), len(d.choices)))
                continue
            assert isinstance(d, (FloatDistribution, IntDistribution))
            batched: Any = _ParzenEstimator._calculate_numerical_distributions(self, raw[:, column], d, parameters)
            span = float(batched.sigma[-1])
            sigmas = np.clip(gaps[:, axis_of[column]], self._floor(span), span)
            distributions.append(batched._replace(mu=batched.mu[:-1], sigma=sigmas))  # no prior
        return _MixtureOfProductDistribution(weights, distributions)

    def _categorical(self, observed: np.ndarray, choices: int) -> _BatchedCategoricalDistributions:
        """Optuna's categorical kernels for `observed`, smoothed by the prior as among full history's group."""
        rows = np.full((len(observed), choices), self._parameters.prior_weight / (self._kernels + 1))
        rows[np.arange(len(observed)), observed] += 1.0
        return _BatchedCategoricalDistributions(rows / rows.sum(axis=1, keepdims=True))


def _pairs_log_pdf(mixture: _MixtureOfProductDistribution, x: np.ndarray, rows: np.ndarray, kernels: np.ndarray, n: int) -> np.ndarray:
    """For each of the `n` points `x`, the log of the sum of its pairs' weighted kernel densities: pair i is kernel
    `kernels[i]` of `mixture` at point `rows[i]` (-inf for a point in no pair). What Optuna's `log_pdf` computes
    over every kernel at every point, over the given pairs alone: the kernels near each point differ."""
    logs = np.log(mixture.weights[kernels])
    for i, d in enumerate(mixture.distributions):
        at = x[rows, i]
        if isinstance(d, _BatchedCategoricalDistributions):
            logs += np.log(d.weights[kernels, at.astype(np.int64)])
            continue
        mu, sigma = d.mu[kernels], d.sigma[kernels]
        low, high = (d.adapted_low - mu) / sigma, (d.adapted_high - mu) / sigma
        if d.step == 0.0:
            logs += _truncnorm.logpdf(np.log(at) if d.is_log else at, low, high, loc=mu, scale=sigma)
            continue
        left, right = at - d.step / 2, at + d.step / 2
        if d.is_log:
            left, right = np.log(left), np.log(right)
        logs += _truncnorm._log_gauss_mass((left - mu) / sigma, (right - mu) / sigma) - _truncnorm._log_gauss_mass(low, high)
    out = np.full(n, -np.inf)
    if len(rows):
        top = np.full(n, -np.inf)
        np.maximum.at(top, rows, logs)
        safe = np.where(np.isfinite(top), top, 0.0)
        total = np.zeros(n)
        np.add.at(total, rows, np.exp(logs - safe[rows]))
        with np.errstate(divide="ignore"):
            out = np.log(total) + safe
    return out
