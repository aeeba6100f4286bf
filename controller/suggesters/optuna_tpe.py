"""TPE search through Optuna's TPESampler: with `optuna_sampler`, the only modules of sweepctl that import optuna.

Chosen in a sweep file with `tpe: {engine: optuna}` (the extra `sweepctl[optuna]`).
Optuna is driven through its ask/tell API on an in-memory study holding the
observed trials in trial-number order: TPE weighs older trials less, so their
order must follow the trial numbers, never the order results arrived in. Every
suggestion asks a new TPESampler (multivariate, as Optuna's defaults are for one
objective) seeded from `trial_rng(seed, number, retry)`, so a suggestion depends
only on the seed, the number and the set of observations.

Mapping to Optuna (parameters that cannot vary stay out and are added back):
  uniform -> FloatDistribution; log_uniform[_values] -> FloatDistribution(log=True)
  over the values (the exponents' exp for log_uniform); int_uniform ->
  IntDistribution; q_uniform -> IntDistribution over the multiples k of q in
  range (the program receives k * q); q_log_uniform[_values] -> the same with
  log=True; inv_log_uniform[_values] -> FloatDistribution(log=True) over their values
  (both are log-uniform there: `controller.suggesters.sampling`); beta, q_beta ->
  FloatDistribution(0, 1) over the Beta(a, b) quantile, mapped to the value by the
  inverse CDF (Optuna has no beta; the prior is exactly Beta(a, b));
  categorical -> CategoricalDistribution over value indices.
  The normal family has no Optuna counterpart; sweep-file validation refuses it
  for this engine (`TpeEngine.supports`). Optuna's prior over choices is
  uniform: categorical `probabilities` shape the start-up draws only. A
  quantized parameter with no multiple of q in range is drawn from its prior.

Past `model_trials` observations (default 1000) the study holds the best trials and a sample of the rest,
the good group sized as for full history (`controller.suggesters.bounded`, which says how with several
objectives); grown as trials arrive, rebuilt when the model loses one or gains one below its newest.
Its "bad" group is then a sample, weighted and shaped as the whole group would be
(`optuna_sampler.SampledGroupEstimator`: Optuna's multivariate kernels are as wide as the gaps between the
points, far wider among a sample), and near each of TPE's candidates taken exactly from every finished
trial's point (`near_points`, kept here as trials arrive), where a sample leaves holes that TPE proposed into.
benchmarks/results/suggestion_bounded.md: at 10x the bound, level with full history at 200 and 1,000 trials
(16 seeds, 12 of 12 cells); the near trials cost 3 ms a suggestion at 100,000 trials, 19 ms where half of
them crowd near the optimum (benchmarks/results/suggestion_latency.md).

Start-up: until `n_startup_jobs` observed trials (failed ones included) fit the
space, every parameter is drawn from its prior exactly as random search draws
it (W&B rounding, probabilities); Optuna's own random start-up is off.

Failed trials (loss None or NaN) are told as COMPLETE with an infinite loss,
not as FAIL, which Optuna's TPE ignores: ranked below every success, they keep
TPE away from regions where the program crashes, as the hyperopt engine does.
(Trials whose worker was lost are re-queued by the controller, not observed as
failures, so a failure seen here is the program's own.)
Observations that do not fit the space are skipped with a warning and listed in
`skipped`, as with the hyperopt engine.

Several objectives (`objectives` > 1): the study has one "minimize" direction per
objective and each trial is told its `losses` (each goal already applied), so
TPESampler runs Optuna's multi-objective TPE: its "good" group is the best trials
by non-domination rank, ties on the last rank broken by hypervolume contribution.
As Optuna's defaults are for several objectives, each parameter is then sampled on
its own (independent TPE, not multivariate): in benchmarks/multi_objective.py
(20 seeds; benchmarks/results/multi_objective.md) multivariate TPE scored lower on
ZDT1 and ZDT2 and higher on Fonseca-Fleming, so Optuna's own choice is kept.
A failed trial is told an infinite loss on every objective, dominated by every
success. Pending trials are accounted for as with one objective: "running" is
Optuna's own constant liar (running trials join the "bad" group, whatever the
number of objectives); "worst", "mean" and "best" are told per objective (the
worst loss seen on each, and so on).

Trials still running (`pending`) are accounted for by `lie`:
  "running" (the default): left RUNNING in the study for TPESampler's own
  `constant_liar`, which puts them in the "bad" group without a loss;
  "worst", "mean", "best": told as COMPLETE with that loss among those seen so
  far (the constant liar of Ginsbourger et al., as in the hyperopt engine).
With `constant_liar=False` they are ignored and parallel suggestions differ only
through their seeds. At 8 workers in benchmarks/parallel_quality.py "running" and ignoring
tied for best (80 seeds), "worst" and "mean" scored ~2% lower, "best" far lower (40 seeds).
"running" is the default: Optuna's own, and unlike ignoring it keeps concurrent suggestions
apart where TPE's draws would coincide (tests/unit/controller/test_optuna_tpe_suggester.py).
"""

from __future__ import annotations

import copy
import logging
import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import FrozenTrial, TrialState, create_trial

from controller.suggester import Draws, Observation, trial_rng
from controller.suggesters.bounded import good_count_optuna
from controller.suggesters.liar import TOLD_LIES
from controller.suggesters.optuna_sampler import NUMBER_ATTR, KnownSpaceSampler, known_space, near_points
from controller.suggesters.sampling import beta_quantile, beta_value, received_value, sample_parameter, value_range
from controller.suggesters.tpe_base import BaseTpeSuggester
from sweepctl.errors import SpecError
from sweepctl.space import JSON, Distribution, FlatAssignment, Parameter, SearchSpace
from sweepctl.space_fit import Choices, number_in_range
from sweepctl.spec import TpeEngine

DEFAULT_N_STARTUP_JOBS = 10  # Optuna's own n_startup_trials
DEFAULT_CONSTANT_LIAR = True
DEFAULT_LIE = "running"  # measured: see the module docstring
LIES = (*TOLD_LIES, "running")
_SEED_BOUND = 2**31 - 1
_STUDY_NAME = "sweepctl"
# How far an observed value / q may be from a whole number and still be a multiple of q.
_MULTIPLE_SLACK = 1e-6

OptunaValue = Any  # what Optuna's distributions hold: int, float, or a choice index


@dataclass(frozen=True)
class _Modelled:
    """A parameter TPE models: its Optuna distribution and the value translation both ways."""

    p: Parameter
    distribution: BaseDistribution
    choices: Choices | None = None

    def to_optuna(self, value: JSON) -> OptunaValue | None:
        """Optuna's value for a received `value`, or None when it does not fit the space."""
        if self.choices is not None:
            return self.choices.index(value)
        x = number_in_range(self.p, value)
        if x is None:
            return None
        if self.p.distribution.is_beta:
            return beta_quantile(self.p, x)
        if self.p.distribution is Distribution.INT_UNIFORM:
            return int(x) if x.is_integer() else None
        if self.p.distribution.is_quantized:
            k = x / self.p.q
            return round(k) if abs(k - round(k)) <= _MULTIPLE_SLACK else None
        return x

    def from_optuna(self, raw: OptunaValue) -> JSON:
        """The value the program receives for Optuna's `raw`."""
        if self.choices is not None:
            return copy.deepcopy(self.p.values[int(raw)])
        if self.p.distribution.is_beta:
            return beta_value(self.p, raw)
        if self.p.distribution.is_quantized:
            return received_value(self.p, raw * self.p.q)
        return received_value(self.p, raw)


def _modelled(p: Parameter) -> _Modelled | None:
    """How TPE models `p`, or None when it can take one value only or no multiple of q fits."""
    d = p.distribution
    if d is Distribution.CONSTANT:
        return None
    if d is Distribution.CATEGORICAL:
        if len(p.values) == 1:
            return None
        return _Modelled(p, CategoricalDistribution(tuple(range(len(p.values)))), Choices(p))
    if d.is_beta:
        return _Modelled(p, FloatDistribution(0.0, 1.0))  # the quantile (see the module docstring)
    bounds = value_range(p)
    if bounds is None or bounds[0] == bounds[1]:
        return None
    lo, hi = bounds
    if d is Distribution.INT_UNIFORM:
        return _Modelled(p, IntDistribution(int(lo), int(hi)))
    if d.is_quantized:
        return _Modelled(p, IntDistribution(round(lo / p.q), round(hi / p.q), log=d.is_log))
    return _Modelled(p, FloatDistribution(lo, hi, log=d.is_log))


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Silence Optuna's INFO lines (one per study created) and experimental warnings, here only."""
    optuna_logger = logging.getLogger("optuna")
    level = optuna_logger.level
    optuna_logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna_logger.setLevel(level)


def _new_study(trials: Sequence[FrozenTrial], objectives: int) -> optuna.Study:
    with _quiet_optuna():
        study = optuna.create_study(storage=optuna.storages.InMemoryStorage(), study_name=_STUDY_NAME, directions=["minimize"] * objectives)
    study.add_trials(trials)
    return study


class OptunaTpeSuggester(BaseTpeSuggester):
    """Tree-structured Parzen Estimator search (Optuna's `TPESampler`: multivariate for one objective, independent for several).

    The first `n_startup_jobs` observed trials (failed ones included) are
    followed by draws from the prior, after which TPE models good and bad regions
    (defaults: 10 start-up jobs, the liar on, lying "running").
    Cost per suggestion grows linearly with the observations modelled, at most `model_trials`.
    Raises `SpecError` for a space with a distribution Optuna cannot model.
    """

    DEFAULT_N_STARTUP_JOBS = DEFAULT_N_STARTUP_JOBS
    DEFAULT_CONSTANT_LIAR = DEFAULT_CONSTANT_LIAR
    DEFAULT_LIE = DEFAULT_LIE
    LIES = LIES

    def __init__(
        self,
        space: SearchSpace,
        seed: int | None,
        *,
        n_startup_jobs: int | None = None,
        constant_liar: bool | None = None,
        lie: str | None = None,
        model_trials: int | None = None,
        objectives: int = 1,
    ) -> None:
        if objectives < 1:
            raise ValueError(f"objectives must be 1 or more, got {objectives}")
        self.objectives = objectives  # how many losses each trial is told (the module docstring)
        super().__init__(
            space,
            seed,
            n_startup_jobs=n_startup_jobs,
            constant_liar=constant_liar,
            lie=lie,
            model_trials=model_trials,
            objectives=objectives,
        )

    def _model_space(self) -> None:
        unsupported = [
            (p.name, f"distribution {p.distribution.value} is not supported by tpe engine optuna")
            for p in self.space.parameters
            if not TpeEngine.OPTUNA.supports(p.distribution)
        ]
        if unsupported:
            raise SpecError("tpe engine optuna", unsupported)
        self._modelled = {p.name: m for p in self.space.parameters if (m := _modelled(p)) is not None}
        self._distributions = {name: m.distribution for name, m in self._modelled.items()}
        self._fitting: dict[int, FrozenTrial] = {}  # observed trials that fit the space, by number
        # The model's trials as a study (`_observed_study`), and which numbers they are.
        self._study: optuna.Study | None = None
        self._members: tuple[int, ...] = ()
        self._scratch = 0  # FAIL trials in the study, which every suggestion still scans
        # Every fitting trial's point, where a bound can bind: the "bad" group near a proposal is taken from it.
        self._space = known_space(self._distributions)
        self._points = near_points(self._space) if self.model_trials is not None and self.objectives == 1 else None

    def _learn(self, new: Sequence[Observation]) -> None:
        taken: list[tuple[int, Sequence[float]]] = []
        for obs in new:
            losses = self._told(obs)
            trial = self._frozen(obs.params, losses, obs.number)
            if trial is None:
                self._skip(obs.number)
                continue
            self._fitting[obs.number] = trial
            taken.append((obs.number, losses))
        self._take(taken)
        if self._points is not None and taken:
            rows = [[self._fitting[number].params[name] for name in self._space] for number, _ in taken]
            self._points.add([number for number, _ in taken], np.array(rows, dtype=float).reshape(len(taken), len(self._space)))

    def _told(self, obs: Observation) -> tuple[float, ...]:
        """The losses a finished trial is told with: its own, or infinite on every objective when it failed."""
        if self.objectives == 1:
            return (math.inf,) if obs.failed or obs.loss is None else (obs.loss,)
        return obs.losses if obs.losses is not None and len(obs.losses) == self.objectives else (math.inf,) * self.objectives

    def _frozen(self, params: FlatAssignment, losses: Sequence[float] | None, number: int | None = None) -> FrozenTrial | None:
        """`params` as an Optuna trial, COMPLETE with `losses` (RUNNING when None), carrying the sweep's trial
        `number` where it has one (`NUMBER_ATTR`); None when they do not fit."""
        values: dict[str, OptunaValue] = {}
        for name, m in self._modelled.items():
            if name not in params:
                return None
            value = m.to_optuna(params[name])
            if value is None:
                return None
            values[name] = value
        if losses is None:
            return create_trial(params=values, distributions=self._distributions, state=TrialState.RUNNING)
        attrs = {} if number is None else {NUMBER_ATTR: number}
        return create_trial(params=values, distributions=self._distributions, values=list(losses), user_attrs=attrs)

    def _observed_study(self) -> optuna.Study:
        """The model's trials in number order plus FAIL scratch trials: grown while they only gain
        later numbers, else rebuilt, as once the scratch trials TPE filters out outnumber them."""
        members = self._sample.members()
        if self._study is None or self._scratch > len(members) or members[: len(self._members)] != self._members:
            self._study = _new_study([self._fitting[n] for n in members], self.objectives)
            self._scratch = 0
        elif len(members) > len(self._members):
            self._study.add_trials([self._fitting[n] for n in members[len(self._members) :]])
        self._members = members
        return self._study

    def _sampler(self, optuna_seed: int, told_lies: int) -> optuna.samplers.TPESampler:
        """TPE for one draw; with the bound binding, its good group sized as for the full count (`bounded`)."""
        binding = self.objectives == 1 and self._sample.binds
        return KnownSpaceSampler(
            self._distributions,
            good=good_count_optuna(len(self._fitting) + told_lies) if binding else None,
            represented=len(self._fitting) + told_lies if binding else None,
            whole=self._sample.whole() if binding else frozenset(),
            points=self._points if binding else None,
            seed=optuna_seed,
            n_startup_trials=0,
            multivariate=self.objectives == 1,
            constant_liar=self.constant_liar and self.lie == "running",
        )

    def _draws(self, pending: list[FlatAssignment]) -> Draws:
        return _OptunaDraws(self, pending)


class _OptunaDraws(Draws):
    """Draws on one study, each added to the pending trials as it is made. "running": scratch RUNNING
    trials in the observed study, FAIL at `close`; a told lie: a study of its own with a COMPLETE trial
    per pending one (they cannot be taken back). Each draw sees what `suggest` would build for it."""

    def __init__(self, engine: OptunaTpeSuggester, pending: list[FlatAssignment]) -> None:
        super().__init__(engine, pending)
        self.engine = engine
        self.running_lie = engine.constant_liar and engine.lie == "running"
        self.lie = engine._lie_losses() if engine.constant_liar and not self.running_lie else None  # per objective
        self.unsaid: list[FlatAssignment] = list(pending)  # pending trials not yet in the study
        self.study: optuna.Study | None = None  # built at the first draw TPE makes
        self.lies = 0  # COMPLETE lies in the study
        self.scratch: list[int] = []  # study numbers of RUNNING scratch trials
        self.added = 0  # of them, added for the draw being made

    def add(self, flat: FlatAssignment) -> None:
        super().add(flat)
        self.unsaid.append(flat)

    def draw(self, number: int, retry: int = 0) -> FlatAssignment:
        engine, rng = self.engine, trial_rng(self.engine.seed, number, retry)
        optuna_seed = int(rng.integers(_SEED_BOUND))
        drawn: dict[str, JSON] = {}
        if engine._modelled and len(engine._fitting) >= engine.n_startup_jobs:
            raw = self._ask(optuna_seed)
            drawn = {name: m.from_optuna(raw[name]) for name, m in engine._modelled.items()}
        return {p.name: drawn[p.name] if p.name in drawn else sample_parameter(p, rng) for p in engine.space.parameters}

    def _study(self) -> optuna.Study:
        """The study this draw asks, the pending trials told as `lie` says."""
        engine = self.engine
        if self.lie is not None and (self.lies or self.unsaid):
            told = [t for t in (engine._frozen(params, self.lie) for params in self.unsaid) if t is not None]
            if self.study is None or self.study is engine._study:
                self.study = _new_study([engine._fitting[n] for n in engine._sample.members()] + told, engine.objectives)
            else:
                self.study.add_trials(told)
            self.lies += len(told)
        else:
            if self.study is None:
                self.study = engine._observed_study()
            if self.running_lie:
                scratch = [t for t in (engine._frozen(params, None) for params in self.unsaid) if t is not None]
                self.study.add_trials(scratch)
                self.added = len(scratch)
        self.unsaid = []
        return self.study

    def _ask(self, optuna_seed: int) -> dict[str, OptunaValue]:
        """TPE's draw for the modelled parameters."""
        study = self._study()
        with _quiet_optuna():
            study.sampler = self.engine._sampler(optuna_seed, self.lies)
            asked = study.ask(self.engine._distributions)
            # The asked trial ends FAIL, which TPE and the search space ignore.
            study.tell(asked.number, state=TrialState.FAIL)
        self.scratch.extend(range(asked.number - self.added, asked.number))  # added just before it
        self.added = 0
        if study is self.engine._study:
            self.engine._scratch += 1
        return asked.params

    def close(self) -> None:
        """Set the scratch trials FAIL: the observed study serves the next batch as if they had never been there."""
        if self.study is None or not self.scratch:
            return
        with _quiet_optuna():
            for number in self.scratch:
                self.study.tell(number, state=TrialState.FAIL)
        if self.study is self.engine._study:
            self.engine._scratch += len(self.scratch)
        self.scratch = []
