"""Multi-objective search quality: the hypervolume sweepctl's Optuna engine reaches with several objectives
(`tpe: {engine: optuna}`, Optuna's multi-objective TPE) against Optuna's TPESampler used directly, at 1 and 8
concurrent workers, on standard two-objective problems (ZDT1, ZDT2, Fonseca-Fleming).

Workers are simulated as in benchmarks/parallel_quality.py (benchmarks/_simulate.py): every trial takes U(10, 100) ms of simulated time
(the same duration stream per seed as there); while fewer than W trials run the engine is asked for the next,
otherwise the trial that finishes first is told. sweepctl gets the running trials as `pending=` (as the
controller passes them); Optuna keeps them in its study as RUNNING trials (ask/tell), which its
`constant_liar` reads. "8 workers" is thus Optuna with up to 8 pending trials.

Score of a run at budget N: the hypervolume of trials 1..N (both objectives minimized) against a fixed
reference point, computed by Optuna's own `optuna._hypervolume.compute_hypervolume` (points outside the
reference box add nothing). Medians over seeds with interquartile ranges; the ratio is
median(sweepctl) / median(Optuna) at the same worker count, with a 90% bootstrap interval over seeds.
The analytic optimum (the hypervolume of the true front) is listed for scale.

    python benchmarks/multi_objective.py [--seeds 20] [--budgets 100,200] [--workers 1,8]
        [--problems zdt1,zdt2,fon] [--engines sweepctl-optuna,optuna-tpe,...] [--processes 1]

Progress goes to stderr; the markdown report to stdout and to --output.
"""

from __future__ import annotations

import os

# One BLAS thread per process, set before numpy is imported: the pool already keeps the cores busy.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import datetime
import logging
import math
import multiprocessing
import platform
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna._hypervolume import compute_hypervolume

# Run as a script (`python benchmarks/NAME.py`), the repository is not on sys.path: put it first, so
# `benchmarks` imports and the checkout's own code is what gets measured.
_REPO = str(Path(__file__).resolve().parent.parent)
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from benchmarks._simulate import DURATION_MS, Engine, Run, StudyAsks, SuggesterAsks, box_names, box_space, run_trials
from controller.suggester import Observation
from controller.suggester_factory import make_suggester
from controller.suggesters.random import RandomSuggester
from sweepctl.space import FlatAssignment, SearchSpace
from sweepctl.spec import Method, TpeEngine, TpeOptions

DEFAULT_OUTPUT = Path(__file__).parent / "results" / "multi_objective.md"
Losses = tuple[float, ...]

# ---------------------------------------------------------------- problems (Zitzler, Deb and Thiele 2000; Fonseca and Fleming 1995)


def zdt(x: np.ndarray, h: Callable[[float, float], float]) -> Losses:
    g = 1.0 + 9.0 * float(np.mean(x[1:]))
    return float(x[0]), g * h(float(x[0]), g)


def zdt1(x: np.ndarray) -> Losses:
    return zdt(x, lambda f1, g: 1.0 - math.sqrt(f1 / g))


def zdt2(x: np.ndarray) -> Losses:
    return zdt(x, lambda f1, g: 1.0 - (f1 / g) ** 2)


def fonseca_fleming(x: np.ndarray) -> Losses:
    shift = 1.0 / math.sqrt(len(x))
    return 1.0 - math.exp(-float(np.sum((x - shift) ** 2))), 1.0 - math.exp(-float(np.sum((x + shift) ** 2)))


@dataclass(frozen=True)
class Problem:
    name: str
    bounds: tuple[tuple[float, float], ...]
    reference: Losses  # the hypervolume's reference point
    optimum: float  # the hypervolume of the true Pareto front against `reference`
    function: Callable[[np.ndarray], Losses]

    @property
    def names(self) -> tuple[str, ...]:
        return box_names(self.bounds)

    def space(self) -> SearchSpace:
        return box_space(self.bounds, method="random", metric=[{"name": "f1"}, {"name": "f2"}])

    def evaluate(self, params: FlatAssignment) -> Losses:
        return self.function(np.array([float(params[n]) for n in self.names]))


def _fon_optimum(reference: float = 1.1, points: int = 200_001) -> float:
    """The hypervolume of Fonseca-Fleming's front (x_i = t for t in [-1/sqrt(n), 1/sqrt(n)]), n = 3."""
    t = np.linspace(-1 / math.sqrt(3), 1 / math.sqrt(3), points)
    front = np.column_stack([1 - np.exp(-3 * (t - 1 / math.sqrt(3)) ** 2), 1 - np.exp(-3 * (t + 1 / math.sqrt(3)) ** 2)])
    return compute_hypervolume(front, np.array([reference, reference]))


# ZDT: 10 variables in [0, 1] (the standard 30 would need far more trials than a sweep has), reference (11, 11)
# as BoTorch's test problems use, so that early trials count; the front's hypervolume is 121 - 1/3 (ZDT1) and
# 121 - 2/3 (ZDT2). Fonseca-Fleming: 3 variables in [-4, 4], reference (1.1, 1.1).
PROBLEMS = {
    p.name: p
    for p in (
        Problem("zdt1", ((0.0, 1.0),) * 10, (11.0, 11.0), 121.0 - 1.0 / 3.0, zdt1),
        Problem("zdt2", ((0.0, 1.0),) * 10, (11.0, 11.0), 121.0 - 2.0 / 3.0, zdt2),
        Problem("fon", ((-4.0, 4.0),) * 3, (1.1, 1.1), _fon_optimum(), fonseca_fleming),
    )
}

# ---------------------------------------------------------------- engines


class SweepctlEngine(SuggesterAsks):
    """A sweepctl suggester driven the way the controller drives it (a loss per objective, the first as `loss`)."""

    def tell(self, number: int, params: FlatAssignment, losses: Losses) -> None:
        self.suggester.observe([Observation(number, params, losses[0], losses)])


class OptunaEngine(StudyAsks):
    """Optuna's TPESampler through ask/tell on a two-objective study; running trials stay RUNNING in it."""

    def __init__(self, problem: Problem, seed: int, **sampler: Any) -> None:
        study = optuna.create_study(directions=["minimize"] * 2, sampler=optuna.samplers.TPESampler(seed=seed, **sampler))
        super().__init__(study, dict(zip(problem.names, problem.bounds)))

    def tell(self, number: int, params: FlatAssignment, losses: Losses) -> None:
        self.study.tell(self.trials.pop(number), list(losses))


def sweepctl_optuna(p: Problem, seed: int) -> Engine[Losses]:
    """`tpe: {engine: optuna}` with its defaults, built as the controller builds it for two objectives."""
    return SweepctlEngine(make_suggester(Method.TPE, p.space(), seed, TpeOptions(engine=TpeEngine.OPTUNA), objectives=2))


ENGINES: dict[str, Callable[[Problem, int], Engine[Losses]]] = {
    "sweepctl-optuna": sweepctl_optuna,
    # Optuna's defaults: for several objectives Optuna 5 samples each parameter on its own (independent TPE).
    "optuna-tpe": lambda p, seed: OptunaEngine(p, seed),
    "optuna-tpe-multivariate": lambda p, seed: OptunaEngine(p, seed, multivariate=True),
    "random": lambda p, seed: SweepctlEngine(RandomSuggester(p.space(), seed)),
}
SWEEPCTL, OPTUNA = "sweepctl-optuna", "optuna-tpe"

# ---------------------------------------------------------------- simulation


@dataclass(frozen=True)
class RunResult:
    run: Run
    losses: tuple[Losses, ...]  # trial 1..budget, by trial number
    seconds: float


def simulate(run: Run) -> RunResult:
    """Run `run.budget` trials with `run.workers` asynchronous simulated workers (as parallel_quality.simulate)."""
    began = time.perf_counter()
    problem = PROBLEMS[run.problem]
    engine = ENGINES[run.engine](problem, run.seed)
    losses = run_trials(engine, problem.evaluate, budget=run.budget, workers=run.workers, seed=run.seed)
    return RunResult(run, tuple(losses), time.perf_counter() - began)


def hypervolume(losses: Sequence[Losses], reference: Losses) -> float:
    """Optuna's hypervolume of `losses` against `reference`; points outside the reference box add nothing."""
    ref = np.array(reference)
    inside = np.array([x for x in losses if np.all(np.array(x) <= ref)]).reshape(-1, len(reference))
    return float(compute_hypervolume(inside, ref)) if len(inside) else 0.0


def _quiet_worker() -> None:
    logging.getLogger().setLevel(logging.WARNING)
    warnings.simplefilter("ignore")
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def run_all(runs: Sequence[Run], processes: int) -> list[RunResult]:
    results: list[RunResult] = []
    began = time.perf_counter()
    with multiprocessing.Pool(processes, initializer=_quiet_worker) as pool:
        for i, result in enumerate(pool.imap_unordered(simulate, runs, chunksize=1), 1):
            results.append(result)
            r = result.run
            elapsed = (time.perf_counter() - began) / 60
            done = f"{r.problem} {r.engine} w={r.workers} seed={r.seed}: {result.seconds:.1f} s"
            print(f"[{i}/{len(runs)}] {done} (elapsed {elapsed:.1f} min)", file=sys.stderr, flush=True)
    return results


# ---------------------------------------------------------------- report

Key = tuple[str, str, int, int]  # (problem, engine, workers, budget)


def scores(results: Sequence[RunResult], budgets: Sequence[int]) -> dict[Key, np.ndarray]:
    """Hypervolume at each budget, one per seed in seed order."""
    by_cell: dict[tuple[str, str, int], list[RunResult]] = {}
    for res in results:
        by_cell.setdefault((res.run.problem, res.run.engine, res.run.workers), []).append(res)
    found = {}
    for (problem, engine, workers), runs in by_cell.items():
        runs.sort(key=lambda r: r.run.seed)
        for b in budgets:
            found[problem, engine, workers, b] = np.array([hypervolume(r.losses[:b], PROBLEMS[problem].reference) for r in runs])
    return found


def median_iqr(values: np.ndarray) -> str:
    lo, mid, hi = np.percentile(values, [25, 50, 75])
    return f"{mid:.2f} ({lo:.2f}–{hi:.2f})"


def ratio_text(num: np.ndarray, den: np.ndarray, rng: np.random.Generator, rounds: int = 2000) -> str:
    """median(num) / median(den), with a 90% interval resampling seeds (paired)."""
    ratios = []
    for _ in range(rounds):
        pick = rng.integers(len(num), size=len(num))
        d = float(np.median(den[pick]))
        if d > 0:
            ratios.append(float(np.median(num[pick])) / d)
    value = float(np.median(num)) / float(np.median(den)) if float(np.median(den)) > 0 else math.nan
    lo, hi = np.percentile(ratios, [5, 95]) if ratios else (math.nan, math.nan)
    return f"{value:.3f} [{lo:.3f}–{hi:.3f}]"


def report(args: argparse.Namespace, results: Sequence[RunResult], wall: float) -> str:
    found = scores(results, args.budgets)
    rng = np.random.default_rng(0)
    engines = [e for e in args.engines if e not in (SWEEPCTL, OPTUNA)]
    lines = [
        "# multi_objective.py: hypervolume with two objectives, sweepctl's Optuna engine against Optuna",
        "",
        f"- Date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        f"- Machine: {platform.node() or '?'}, {platform.machine()}, {os.cpu_count()} cores; pool of {args.processes} processes",
        f"- Versions: Python {platform.python_version()}, optuna {version('optuna')}, numpy {version('numpy')}",
        f"- Command: `{' '.join(['python', *sys.argv])}` (nice -n 10)",
        f"- Seeds: {args.seeds} per cell (0..{args.seeds - 1}); trial durations U{DURATION_MS} ms, simulated;"
        f" wall time {wall / 60:.1f} min",
        "- Engines: sweepctl-optuna = `tpe: {engine: optuna}` with its defaults and two objectives; optuna-tpe = Optuna's"
        " TPESampler with its defaults on a two-objective study (constant_liar on); optuna-tpe-multivariate = the same with"
        " multivariate=True; random = sweepctl RandomSuggester.",
        "- Hypervolume: Optuna's `compute_hypervolume`, reference (11, 11) for ZDT (10 variables), (1.1, 1.1) for FON (3 variables).",
        "",
        "Median hypervolume over seeds (interquartile range); ratio = median sweepctl-optuna / median optuna-tpe at the same"
        " workers [90% bootstrap interval]. Higher is better.",
        "",
        "| problem (optimum) | budget | workers | sweepctl-optuna | optuna-tpe | ratio | " + " | ".join(engines) + " |",
        "|---|---|---|---|---|---|" + "---|" * len(engines),
    ]
    for problem in args.problems:
        for b in args.budgets:
            for w in args.workers:
                if (problem, SWEEPCTL, w, b) not in found or (problem, OPTUNA, w, b) not in found:
                    continue
                ours, theirs = found[problem, SWEEPCTL, w, b], found[problem, OPTUNA, w, b]
                rest = [median_iqr(found[problem, e, w, b]) if (problem, e, w, b) in found else "-" for e in engines]
                label = f"{problem} ({PROBLEMS[problem].optimum:.2f})"
                cells = [label, str(b), str(w), median_iqr(ours), median_iqr(theirs), ratio_text(ours, theirs, rng), *rest]
                lines.append("| " + " | ".join(cells) + " |")
    lines += gap_lines(args, found)
    seconds: dict[str, list[float]] = {}
    for res in results:
        seconds.setdefault(res.run.engine, []).append(1000 * res.seconds / res.run.budget)
    lines += ["", "| engine | ms per simulated trial (engine + objective) |", "|---|---|"]
    lines += [f"| {e} | {np.mean(s):.1f} |" for e, s in seconds.items()]
    return "\n".join(lines) + "\n"


def gap_lines(args: argparse.Namespace, found: dict[Key, np.ndarray]) -> list[str]:
    """The same runs as the share of the random-to-optimum gap closed: (HV - median random HV) / (optimum - median random HV).

    Most of ZDT's hypervolume against (11, 11) comes with any trial; this scale shows what the search itself adds.
    """
    if "random" not in args.engines:
        return []
    engines = [e for e in args.engines if e != "random"]
    lines = [
        "",
        "Share of the random-to-optimum hypervolume gap closed (median over seeds; 0 = median random search, 1 = the true front):",
        "",
        "| problem | budget | workers | " + " | ".join(engines) + " |",
        "|---|---|---|" + "---|" * len(engines),
    ]
    for problem in args.problems:
        for b in args.budgets:
            baseline = float(np.median(found[problem, "random", args.workers[0], b]))
            gap = PROBLEMS[problem].optimum - baseline
            for w in args.workers:
                cells = [f"{np.median((found[problem, e, w, b] - baseline) / gap):.3f}" for e in engines]
                lines.append(f"| {problem} | {b} | {w} | " + " | ".join(cells) + " |")
    return lines


def _list(kind: Callable[[str], Any], choices: Sequence[str] | None = None) -> Callable[[str], list[Any]]:
    def parse(text: str) -> list[Any]:
        items = [kind(x) for x in text.split(",") if x]
        if choices is not None and (unknown := [x for x in items if x not in choices]):
            raise argparse.ArgumentTypeError(f"unknown {unknown}; choose from {','.join(choices)}")
        return items

    return parse


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budgets", type=_list(int), default=[100, 200])
    parser.add_argument("--workers", type=_list(int), default=[1, 8])
    parser.add_argument("--problems", type=_list(str, list(PROBLEMS)), default=list(PROBLEMS))
    parser.add_argument("--engines", type=_list(str, list(ENGINES)), default=list(ENGINES))
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    args.budgets, args.workers = sorted(args.budgets), sorted(args.workers)
    top = max(args.budgets)
    runs = [
        Run(problem, engine, w, seed, top)
        for problem in args.problems
        for engine in args.engines
        for w in args.workers
        for seed in range(args.seeds)
    ]
    began = time.perf_counter()
    results = run_all(runs, args.processes)
    markdown = report(args, results, time.perf_counter() - began)
    print(markdown)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(markdown)


if __name__ == "__main__":
    main()
