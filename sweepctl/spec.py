"""The parsed, validated form of a sweep file (see `sweepctl.sweepfile` for parsing)."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any, TypeAlias

from sweepctl.errors import NoMetricError
from sweepctl.space import Distribution, SearchSpace


class Method(str, Enum):
    """How new parameter sets are chosen. `bayes` in a sweep file means TPE.

    The value is the name sweepctl shows everywhere (`sweepctl status`, the exporter's
    `sweepctl_sweep_info`); `by_name` is the one place a sweep file's name becomes one.
    """

    TPE = "tpe"
    RANDOM = "random"
    GRID = "grid"

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every name a sweep file may give, W&B's included."""
        return tuple(_METHOD_NAMES)

    @classmethod
    def by_name(cls, name: str) -> Method:
        """The method a sweep file's `method: name` means (KeyError for a name not in `names()`)."""
        return _METHOD_NAMES[name]


# W&B's `bayes` is a Gaussian process there; here it runs TPE, sweepctl's one model-based method.
_METHOD_NAMES = {"tpe": Method.TPE, "bayes": Method.TPE, "random": Method.RANDOM, "grid": Method.GRID}


class TpeEngine(str, Enum):
    """The library behind method tpe, chosen with `tpe: {engine: ...}`; hyperopt is the default.

    hyperopt is a dependency of sweepctl; optuna is the optional extra `sweepctl[optuna]`.
    """

    HYPEROPT = "hyperopt"
    OPTUNA = "optuna"

    def supports(self, distribution: Distribution) -> bool:
        """Whether the engine can model `distribution` (Optuna has no normal distributions)."""
        return self is TpeEngine.HYPEROPT or not distribution.is_normal

    def is_installed(self) -> bool:
        """Whether the engine's library can be imported here, checked without importing it."""
        try:
            return importlib.util.find_spec(self.value) is not None
        except ValueError:  # a module whose entry in sys.modules is None (blocked) has no spec
            return False


@dataclass(frozen=True)
class TpeOptions(Mapping[str, object]):
    """A sweep file's `tpe` block, validated (`sweepctl._tpe_options`): the options given, None where not.

    What is not given is left to the engine: `engine` None is hyperopt
    (`chosen_engine`), the other options fall to each engine's own defaults
    (`controller.suggesters.tpe`, `controller.suggesters.optuna_tpe`).
    `local_search` is the share of suggestions drawn around the best trial (0: off; None:
    the engine's default, which for hyperopt is on over numeric spaces).
    It is also a read-only mapping of the options given, by name (what `SweepSpec.tpe`
    was before it became a record); an empty one is therefore falsy.
    """

    engine: TpeEngine | None = None
    constant_liar: bool | None = None
    lie: str | None = None
    n_startup_jobs: int | None = None
    local_search: float | None = None
    model_trials: int | None = None  # observations the model is fitted on at most; 0: all (`controller.suggesters.bounded`)

    @property
    def chosen_engine(self) -> TpeEngine:
        """The engine that runs the sweep: the one named (by member or by name), else hyperopt."""
        return TpeEngine.HYPEROPT if self.engine is None else TpeEngine(self.engine)

    def _given(self) -> dict[str, object]:
        return {f.name: value for f in fields(self) if (value := getattr(self, f.name)) is not None}

    def __getitem__(self, name: str) -> object:
        return self._given()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._given())

    def __len__(self) -> int:
        return len(self._given())


class Goal(str, Enum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"

    def loss(self, objective: float) -> float:
        """The value to minimize: TPE and ranking always minimize."""
        return objective if self is Goal.MINIMIZE else -objective

    def reached(self, objective: float, target: float) -> bool:
        """Whether `objective` meets `target` for this goal."""
        return objective <= target if self is Goal.MINIMIZE else objective >= target


@dataclass(frozen=True)
class MetricSpec:
    name: str
    goal: Goal = Goal.MINIMIZE
    target: float | None = None


# The most objectives one sweep may have. The Pareto front grows fast with their number (with 5 or more,
# most trials are on it and it tells little); the report draws a scatter matrix of every pair, and
# Optuna's multi-objective TPE breaks ties by hypervolume, whose cost grows steeply with each objective.
MAX_OBJECTIVES = 4


# Hyperband: eta is the share of trials stopped at each band (1 - 1/eta). W&B
# allows any eta > 1, but below 1.1 bands crowd onto every step and fewer than
# one trial in ten is ever cut. With eta >= 1.1 and min_iter >= 1, steps up to
# 2**63 hold 443 bands; MAX_BANDS caps the list (and `s`) above that.
MIN_ETA = 1.1
MAX_BANDS = 500
# run_cap, max_failures and min_trials: beyond any sweep, and small enough to stay exact
# as a float (the exporter reports the remaining budget as one).
MAX_TRIALS = 1_000_000_000
DEFAULT_ETA = 3.0
DEFAULT_MIN_TRIALS = 5
# n / eta in floats can land a hair under an integer (11 / 1.1); never lose a survivor to rounding.
_KEEP_SLACK = 1e-9
# Steps of k taken one by one before the rest up to the next band is taken at once; with eta >= MIN_ETA
# the next band is never more than 8 steps away, so validated sweeps always step W&B's way.
_STEPS_PER_BAND = 64


class StoppingType(str, Enum):
    """The `type` of an `early_terminate` block."""

    HYPERBAND = "hyperband"
    MEDIAN = "median"


@dataclass(frozen=True)
class Hyperband:
    """W&B hyperband early termination (`controller.early_stopping` documents the exact rule)."""

    min_iter: int | None = None
    max_iter: int | None = None
    eta: float = DEFAULT_ETA
    s: int | None = None
    strict: bool = False
    goal: Goal = Goal.MINIMIZE

    @property
    def min_peers(self) -> int:
        """How many trials must have a value at a band before anyone is judged there."""
        return math.ceil(self.eta)

    def keep(self, peers: int) -> int:
        """How many of `peers` trials with a value at a band survive it: floor(peers / eta)."""
        return math.floor(peers / self.eta + _KEEP_SLACK)

    def bands(self, up_to: int) -> tuple[int, ...]:
        """The bands <= `up_to`, ascending and distinct: at most MAX_BANDS, the lowest."""
        found: set[int] = set()
        if self.min_iter is None and self.max_iter is not None and self.s is not None:
            band = float(self.max_iter)
            for _ in range(min(self.s, MAX_BANDS)):
                band /= self.eta
                if band < 1:
                    break
                found.add(int(band))
        elif self.min_iter is not None:
            ceiling = up_to if self.max_iter is None else min(up_to, self.max_iter)
            found.update(self._rising_bands(self.min_iter, ceiling))
        return tuple(sorted(b for b in found if b <= up_to))[:MAX_BANDS]

    def _rising_bands(self, min_iter: int, ceiling: int) -> list[int]:
        """int(band) <= ceiling for band = min_iter, then times eta (k < s): each distinct one once.

        Multiplying step by step is W&B's rule, float rounding included (125 * 1.2**3
        is 216 this way, 215 from a power). An eta just above 1 repeats each band
        for very many steps: where the next distinct band is more than
        _STEPS_PER_BAND steps away, the steps are taken at once, counted from
        logarithms; so the cost is a few steps per distinct band, MAX_BANDS at most.
        """
        found: list[int] = []
        log_eta = math.log1p(self.eta - 1)  # exact for eta near 1, where log(eta) loses digits
        band, k = float(min_iter), 0
        last_k = math.inf if self.s is None else self.s - 1
        while k <= last_k and int(band) <= ceiling and len(found) < MAX_BANDS:
            if not found or int(band) > found[-1]:
                found.append(int(band))
            # One step short of the next integer, so that float error can never skip a band.
            skip = math.ceil(math.log((int(band) + 1) / band) / log_eta) - 1
            if skip > _STEPS_PER_BAND:
                band, k = band * self.eta**skip, k + skip
            else:
                band, k = band * self.eta, k + 1
        return found


@dataclass(frozen=True)
class MedianStop:
    """Median stopping rule, a sweepctl extension (`controller.early_stopping` documents it)."""

    min_iter: int = 1
    min_trials: int = DEFAULT_MIN_TRIALS
    goal: Goal = Goal.MINIMIZE


# What an `early_terminate` block says, parsed once by `sweepctl.early_terminate`; the controller judges with it.
StoppingRule: TypeAlias = Hyperband | MedianStop


# k-fold trials (`cross_validation: {folds: k}`): each fold is a Celery task, a record and a lease of its own, so
# k is bounded like leave-one-out is not meant here; 2 is the fewest that is cross-validation at all.
MIN_FOLDS = 2
MAX_FOLDS = 100


@dataclass(frozen=True)
class CrossValidation:
    """A sweep file's `cross_validation` block: every trial runs as `folds` fold tasks, in parallel on any workers.

    Each fold is told its index (0 .. folds-1: `${fold}`, SWEEPCTL_FOLD, `sweepctl.fold()`); the
    trial's objective is the mean of its folds' (`sweepctl.kfold` has the rule).
    """

    folds: int


DEFAULT_COMMAND: tuple[str, ...] = ("${env}", "${interpreter}", "${program}", "${args}")
DEFAULT_QUEUE = "sweepctl"
DEFAULT_MAX_RETRIES = 3


@dataclass(frozen=True)
class SweepSpec:
    """Everything a sweep file says, validated.

    At most one of `program` and `function` is set; with neither, `command`
    runs as written when it does not use ${program}, and otherwise the sweep is
    for `sweepctl.agent(sweep_id, function=...)` (`runs_in_caller`). `command` is the argv
    template (W&B macros expanded per trial by `sweepctl.command`). `raw` is the
    mapping the spec was parsed from; it is what the store keeps, so a restarted
    controller re-parses the very same sweep. `metric` is None for a grid or
    random sweep without one (as W&B allows): its trials have no objective, so
    there is no best trial, no importance and no early termination.
    A sweep with several objectives (`metric` as a list, or W&B's `metrics`) has
    the first as `metric` and the others, in the file's order, as
    `other_objectives`: what shows one metric (status, the exporter, the history
    figure) shows the first; what ranks trials uses every one (`objectives`).
    `notes` are `(field path, message)` pairs the parser found worth saying
    about an accepted file (a W&B server key ignored, a deprecated spelling).
    """

    metric: MetricSpec | None
    space: SearchSpace
    method: Method = Method.TPE
    name: str | None = None
    description: str | None = None
    program: str | None = None
    function: str | None = None
    reuse_process: bool = False  # function trials of a slot run in one long-lived process (workers.launcher)
    command: tuple[str, ...] = DEFAULT_COMMAND
    run_cap: int | None = None
    parallelism: int | None = None  # None: per live worker, 1 (TPE) or up to 3 (random, grid): controller.scheduling
    max_failures: int | None = None
    max_retries: int = DEFAULT_MAX_RETRIES  # re-queues of a trial whose worker was lost
    trial_timeout: float | None = None
    seed: int | None = None
    queue: str = DEFAULT_QUEUE
    data: tuple[str, ...] = ()
    stopping: StoppingRule | None = None  # the early_terminate block, parsed
    warm_points: tuple[dict[str, Any], ...] = ()  # given parameter sets (nested) run first, as trials 1..k
    warm_sweeps: tuple[str, ...] = ()  # earlier sweeps on the same space whose finished trials the engine learns from
    tpe: TpeOptions = field(default_factory=TpeOptions)  # the tpe block; read by method tpe only
    cross_validation: CrossValidation | None = None  # k-fold trials: each trial is `folds` fold tasks
    other_objectives: tuple[MetricSpec, ...] = ()  # the objectives after `metric`, in a sweep with several
    notes: tuple[tuple[str, str], ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def early_terminate(self) -> Mapping[str, Any] | None:
        """The `early_terminate` block as written (for showing it); `stopping` is what it means."""
        block = self.raw.get("early_terminate")
        return block if isinstance(block, Mapping) else None

    @property
    def goal(self) -> Goal:
        """The metric's goal, for ranking trials; minimize when there is no metric (then no trial has an objective to rank)."""
        return Goal.MINIMIZE if self.metric is None else self.metric.goal

    @property
    def objectives(self) -> tuple[MetricSpec, ...]:
        """Every objective, the first (`metric`) first; empty for a sweep without a metric."""
        return () if self.metric is None else (self.metric, *self.other_objectives)

    @property
    def is_multi_objective(self) -> bool:
        """Whether the sweep has several objectives: its result is a Pareto front, not one best trial."""
        return bool(self.other_objectives)

    def objective_metric(self) -> MetricSpec:
        """The metric, for what needs one (best trial, importance, ranking); NoMetricError when the sweep has none."""
        if self.metric is None:
            raise NoMetricError(self.name)
        return self.metric

    @property
    def runs_in_caller(self) -> bool:
        """No program, no function and no command of its own: trials run only in a process that calls
        `sweepctl.agent(sweep_id, function=...)` (a command without ${program} runs as written)."""
        return self.program is None and self.function is None and "${program}" in self.command

    @property
    def folds(self) -> int | None:
        """How many folds each trial runs as (`cross_validation`); None for trials of one task each."""
        return None if self.cross_validation is None else self.cross_validation.folds

    @property
    def budget(self) -> float:
        """How many trials the sweep may create (inf when uncapped)."""
        return math.inf if self.run_cap is None else self.run_cap
