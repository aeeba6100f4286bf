"""Optuna's TPESampler as the Optuna engine (`optuna_tpe`) asks it: told the search space, and with a bounded model
(`controller.suggesters.bounded`) its good group sized and its "bad" group shaped as full history's.

The shaping reaches into Optuna's private `samplers._tpe` (its Parzen estimator), as the good group's size does
(`_gamma`): tests/unit/controller/test_bounded_model.py holds the estimator to full history's density, so an Optuna
that changes them fails there.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator, _ParzenEstimatorParameters
from optuna.trial import FrozenTrial, TrialState

from controller.suggesters.bounded import GoodCount

NUMBER_ATTR = "sweepctl_number"  # the user attribute that holds an observed trial's number in the sweep


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
        **options: Any,
    ) -> None:
        """`good` and `represented` with a bounded model: the good group's size, and how many finished trials the model
        stands for (its "bad" group is then weighted and shaped as that many, `SampledGroupEstimator`); `whole`: the
        numbers (`NUMBER_ATTR`) of the trials kept for their loss, which stand for themselves alone."""
        super().__init__(**options)
        # As IntersectionSearchSpace gives it: sorted by name, without one-value distributions.
        self._known = {name: d for name, d in sorted(distributions.items()) if not d.single()}
        self._good, self._represented, self._whole = good, represented, whole
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
        )

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


class SampledGroupEstimator(_ParzenEstimator):
    """The "bad" group's density from a sample of its trials, shaped as full history's.

    Trial i stands for `stands_for[i]` trials of the whole group (`KnownSpaceSampler._stands_for`): its
    weight is that much larger, so the prior weighs as little as beside the whole group; and the kernels,
    as wide as the gaps to their neighbours in Optuna, are narrowed by the model's `share` of the group, as
    the gaps are among the whole group's points (down to the floor Optuna's clip sets for that many).
    """

    def __init__(
        self,
        observations: dict[str, np.ndarray],
        search_space: dict[str, BaseDistribution],
        parameters: _ParzenEstimatorParameters,
        *,
        stands_for: Sequence[float],
        share: float,
    ) -> None:
        self._kernels = round(sum(stands_for))  # full history's count
        self._share = share
        weights = parameters.weights(len(stands_for)) * np.asarray(stands_for, dtype=float)
        super().__init__(observations, search_space, parameters, predetermined_weights=weights)

    def _calculate_numerical_distributions(
        self, observations: np.ndarray, search_space: FloatDistribution | IntDistribution, parameters: _ParzenEstimatorParameters
    ) -> Any:
        batched: Any = super()._calculate_numerical_distributions(observations, search_space, parameters)
        sigmas = np.array(batched.sigma, dtype=float)
        span = sigmas[-1]  # the prior's kernel: the whole range, in the space the kernels live in
        floor = span / min(100.0, 1.0 + self._kernels + 1) if parameters.consider_magic_clip else 0.0
        sigmas[:-1] = np.maximum(sigmas[:-1] * self._share, floor)
        return batched._replace(sigma=sigmas)
