"""The parsed, validated form of a sweep file (see `sweepctl.sweepfile` for parsing)."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any

from sweepctl.space import Distribution, SearchSpace


class Method(str, Enum):
    """How new parameter sets are chosen. `bayes` in a sweep file means TPE."""

    TPE = "tpe"
    RANDOM = "random"
    GRID = "grid"


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
    `local_search` is the share of suggestions drawn around the best trial (None: off).
    It is also a read-only mapping of the options given, by name (what `SweepSpec.tpe`
    was before it became a record); an empty one is therefore falsy.
    """

    engine: TpeEngine | None = None
    constant_liar: bool | None = None
    lie: str | None = None
    n_startup_jobs: int | None = None
    local_search: float | None = None

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


DEFAULT_COMMAND: tuple[str, ...] = ("${env}", "${interpreter}", "${program}", "${args}")
DEFAULT_QUEUE = "sweepctl"
DEFAULT_MAX_RETRIES = 3


@dataclass(frozen=True)
class SweepSpec:
    """Everything a sweep file says, validated.

    Exactly one of `program` and `function` is set. `command` is the argv
    template (W&B macros expanded per trial by `sweepctl.command`). `raw` is the
    mapping the spec was parsed from; it is what the store keeps, so a restarted
    controller re-parses the very same sweep.
    """

    metric: MetricSpec
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
    early_terminate: Mapping[str, Any] | None = None
    warm_points: tuple[dict[str, Any], ...] = ()  # given parameter sets (nested) run first, as trials 1..k
    warm_sweeps: tuple[str, ...] = ()  # earlier sweeps on the same space whose finished trials the engine learns from
    tpe: TpeOptions = field(default_factory=TpeOptions)  # the tpe block; read by method tpe only
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def budget(self) -> float:
        """How many trials the sweep may create (inf when uncapped)."""
        return math.inf if self.run_cap is None else self.run_cap
