"""Simulated asynchronous workers, shared by the search-quality benchmarks (parallel_quality.py, multi_objective.py).

Deterministic and without sleeping: every trial takes a duration drawn from U(10, 100) ms of simulated time
(one stream per seed, indexed by trial number, so every engine and worker count sees the same durations).
While fewer than W trials run, the engine is asked for the next one; otherwise the trial that finishes first
(ties by number) is told to the engine. sweepctl engines get the running trials as `pending=`; Optuna keeps
them in its study as RUNNING trials (ask/tell, not told yet), which is what its `constant_liar` looks at.
The benchmarks differ only in what a trial's result is (one value, or a loss per objective).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

from controller.suggester import Suggester
from sweepctl.space import FlatAssignment, SearchSpace
from sweepctl.sweepfile import parse_sweep

DURATION_MS = (10.0, 100.0)
DURATION_STREAM = 7_000_001  # second SeedSequence word: durations never share a stream with suggestions

Result = TypeVar("Result")
Told = TypeVar("Told", contravariant=True)


def box_names(bounds: Sequence[tuple[float, float]]) -> tuple[str, ...]:
    """The parameter names of a closed-form problem on a box: x0, x1, ... (one per bound)."""
    return tuple(f"x{i}" for i in range(len(bounds)))


def box_space(bounds: Sequence[tuple[float, float]], **sweep: Any) -> SearchSpace:
    """The search space of a problem on a box (a uniform float per bound), parsed as a sweep file with `sweep`'s other keys."""
    parameters = {n: {"min": float(lo), "max": float(hi)} for n, (lo, hi) in zip(box_names(bounds), bounds)}
    return parse_sweep({**sweep, "function": "m:f", "parameters": parameters}).space


@dataclass(frozen=True)
class Run:
    """One simulated run: an engine on a problem (both named as the benchmark lists them) at `workers` workers."""

    problem: str
    engine: str
    workers: int
    seed: int
    budget: int


class Engine(Protocol[Told]):
    """What the simulation drives: asked for trial `number` while `pending` run, told its result when it ends."""

    def ask(self, number: int, pending: Sequence[FlatAssignment]) -> FlatAssignment: ...

    def tell(self, number: int, params: FlatAssignment, result: Told) -> None: ...


class SuggesterAsks:
    """Asks a sweepctl suggester the way the controller does (the running trials as `pending=`)."""

    def __init__(self, suggester: Suggester) -> None:
        self.suggester = suggester

    def ask(self, number: int, pending: Sequence[FlatAssignment]) -> FlatAssignment:
        params = self.suggester.suggest(number, pending=list(pending))
        assert params is not None
        return params


class StudyAsks:
    """Asks an Optuna study for a trial per number (ask/tell); running trials stay RUNNING in it until told."""

    def __init__(self, study: Any, bounds: dict[str, tuple[float, float]]) -> None:
        self.study = study
        self.bounds = bounds
        self.trials: dict[int, Any] = {}

    def ask(self, number: int, pending: Sequence[FlatAssignment]) -> FlatAssignment:
        trial = self.study.ask()
        self.trials[number] = trial
        return {name: trial.suggest_float(name, lo, hi) for name, (lo, hi) in self.bounds.items()}


def run_trials(
    engine: Engine[Result], evaluate: Callable[[FlatAssignment], Result], *, budget: int, workers: int, seed: int
) -> list[Result]:
    """Results of trials 1..`budget` (by trial number) with `workers` asynchronous simulated workers."""
    durations = np.random.default_rng([seed, DURATION_STREAM]).uniform(*DURATION_MS, size=budget)
    running: list[tuple[float, int]] = []  # heap of (simulated finish time, trial number)
    params_of: dict[int, FlatAssignment] = {}
    results: dict[int, Result] = {}
    now, next_number = 0.0, 1
    while next_number <= budget or running:
        while len(running) < workers and next_number <= budget:
            pending = [params_of[n] for n in sorted(n for _, n in running)]
            params_of[next_number] = engine.ask(next_number, pending)
            heapq.heappush(running, (now + durations[next_number - 1], next_number))
            next_number += 1
        now, number = heapq.heappop(running)
        results[number] = evaluate(params_of[number])
        engine.tell(number, params_of[number], results[number])
    return [results[n] for n in range(1, budget + 1)]
