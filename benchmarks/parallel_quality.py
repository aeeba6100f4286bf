"""Search quality under parallelism: sweepctl TPE (hyperopt engine with and without the constant
liar; Optuna engine with each way of accounting for pending trials), Optuna's own TPESampler (with
and without its constant liar) and random search, at 1, 4 and 8 concurrent workers, on
closed-form problems (Branin, Hartmann6, Rosenbrock-10D).

Workers are simulated, deterministically and without sleeping (benchmarks/_simulate.py): every
trial takes a duration drawn from U(10, 100) ms of simulated time (one stream per seed, indexed by
trial number, so every engine and worker count sees the same durations). While fewer than W trials
run, the engine is asked for the next one; otherwise the trial that finishes first (ties by number)
is told to the engine. sweepctl engines get the running trials as `pending=`; Optuna keeps
them in its study as RUNNING trials (ask/tell, not told yet), which is what its
`constant_liar` looks at.

Score of a run at budget N = share of the random-to-optimum gap closed:
    (median best of random at N - best of the run at N) / (median best of random at N - optimum)
1 = optimum found, 0 = as good as the typical random search, < 0 worse. The random median
comes from `--baseline-seeds` independent runs of sweepctl's RandomSuggester (seeds from
10000 on). A run goes to the largest budget once; the best at a smaller budget N is the best
of trials 1..N, which is exactly what a run stopped at N would have tried (suggestion k
depends only on what happened before trial k started).

    python benchmarks/parallel_quality.py [--seeds 48] [--first-seed 0] [--budgets 100,200] [--workers 1,8]
        [--problems branin,hartmann6,rosenbrock10] [--engines sweepctl-tpe-liar,...|peers] [--processes 2]

`--bounded` compares each TPE engine with its defaults fitted on a bounded sample of the finished
trials (`tpe: {model_trials: N}`, N = `--model-trials`, 100 unless given: small enough to bind at
budgets 200 and 1000, which the default bound of 1000 does not) against the same engine on full
history (`model_trials: 0`), and writes results/suggestion_bounded.md:

    python benchmarks/parallel_quality.py --bounded --budgets 200,1000 --seeds 12

Without flags it runs the before/after pair of the hyperopt engine's default (issue 16 item 7):
stock hyperopt TPE (`tpe: {local_search: 0}`) against what a sweep file without `tpe:` gets,
sequential and at 8 workers, and reports them side by side with ratios; `--engines peers
--workers 1,4,8` runs every engine of the earlier reports against Optuna's TPE.
Progress goes to stderr; the markdown report to stdout and to --output.
"""

from __future__ import annotations

import os

# One BLAS thread per process: the pool already keeps every core busy.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import dataclasses
import datetime
import json
import logging
import multiprocessing
import platform
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

# Run as a script (`python benchmarks/NAME.py`), the repository is not on sys.path: put it first, so
# `benchmarks` imports and the checkout's own code is what gets measured.
_REPO = str(Path(__file__).resolve().parent.parent)
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from benchmarks._simulate import DURATION_MS, Engine, Run, StudyAsks, SuggesterAsks, box_names, box_space, run_trials
from controller.suggester import Observation
from controller.suggester_factory import make_suggester
from controller.suggesters.bounded import DEFAULT_MODEL_TRIALS, GOOD_KEPT
from controller.suggesters.random import RandomSuggester
from sweepctl.space import FlatAssignment, SearchSpace
from sweepctl.spec import Method, TpeEngine, TpeOptions

BASELINE_SEED_BASE = 10_000
DEFAULT_OUTPUT = Path(__file__).parent / "results" / "parallel_quality_default.md"
PASS_RATIO = 0.95
BOUNDED_OUTPUT = Path(__file__).parent / "results" / "suggestion_bounded.md"
# The bound of the "-bounded" engines (`--model-trials`); set before the pool forks its workers.
BOUNDED_MODEL_TRIALS = 100


# ---------------------------------------------------------------- problems


def branin(x: np.ndarray) -> float:
    x1, x2 = x
    b, c, t = 5.1 / (4 * np.pi**2), 5 / np.pi, 1 / (8 * np.pi)
    return float((x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * np.cos(x1) + 10)


_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)


def hartmann6(x: np.ndarray) -> float:
    return float(-np.sum(_H6_ALPHA * np.exp(-np.sum(_H6_A * (x - _H6_P) ** 2, axis=1))))


def rosenbrock(x: np.ndarray) -> float:
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


@dataclass(frozen=True)
class Problem:
    name: str
    bounds: tuple[tuple[float, float], ...]
    optimum: float
    function: Callable[[np.ndarray], float]

    @property
    def names(self) -> tuple[str, ...]:
        return box_names(self.bounds)

    def space(self) -> SearchSpace:
        return box_space(self.bounds, metric={"name": "loss"})

    def evaluate(self, params: FlatAssignment) -> float:
        return self.function(np.array([float(params[n]) for n in self.names]))  # type: ignore[arg-type]


PROBLEMS = {
    p.name: p
    for p in (
        Problem("branin", ((-5.0, 10.0), (0.0, 15.0)), 0.397887, branin),
        Problem("hartmann6", ((0.0, 1.0),) * 6, -3.32237, hartmann6),
        # The classic (De Jong) domain; the optimum is at (1, ..., 1).
        Problem("rosenbrock10", ((-2.048, 2.048),) * 10, 0.0, rosenbrock),
    )
}


# ---------------------------------------------------------------- engines


class SweepctlEngine(SuggesterAsks):
    """A sweepctl suggester driven the way the controller drives it."""

    def tell(self, number: int, params: FlatAssignment, value: float) -> None:
        self.suggester.observe([Observation(number, params, value)])


class OptunaEngine(StudyAsks):
    """Optuna's TPESampler through ask/tell; running trials stay RUNNING in the study."""

    def __init__(self, problem: Problem, seed: int, constant_liar: bool) -> None:
        import optuna

        sampler = optuna.samplers.TPESampler(seed=seed, constant_liar=constant_liar)
        super().__init__(optuna.create_study(direction="minimize", sampler=sampler), dict(zip(problem.names, problem.bounds)))

    def tell(self, number: int, params: FlatAssignment, value: float) -> None:
        self.study.tell(self.trials.pop(number), value)


def sweepctl_optuna(options: TpeOptions | None = None) -> Callable[[Problem, int], Engine[float]]:
    """sweepctl's Optuna-backed TPE engine, built as the controller builds it from a `tpe:` block."""
    tpe = dataclasses.replace(TpeOptions() if options is None else options, engine=TpeEngine.OPTUNA)
    return lambda p, seed: SweepctlEngine(make_suggester(Method.TPE, p.space(), seed, tpe))


def sweepctl_bounded(engine: TpeEngine, bounded: bool) -> Callable[[Problem, int], Engine[float]]:
    """An engine with its defaults, fitted on at most BOUNDED_MODEL_TRIALS trials (`bounded`) or on every one."""

    def build(p: Problem, seed: int) -> Engine[float]:
        tpe = TpeOptions(engine=engine, model_trials=BOUNDED_MODEL_TRIALS if bounded else 0)
        return SweepctlEngine(make_suggester(Method.TPE, p.space(), seed, tpe))

    return build


def sweepctl_hyperopt(options: TpeOptions) -> Callable[[Problem, int], Engine[float]]:
    """sweepctl's hyperopt engine, built as the controller builds it from a `tpe:` block."""
    tpe = dataclasses.replace(options, engine=TpeEngine.HYPEROPT)
    return lambda p, seed: SweepctlEngine(make_suggester(Method.TPE, p.space(), seed, tpe))


ENGINES: dict[str, Callable[[Problem, int], Engine[float]]] = {
    # Stock hyperopt TPE, `tpe: {local_search: 0}` (with and without its liar): the default before issue 16 item 7.
    "sweepctl-tpe-liar": sweepctl_hyperopt(TpeOptions(local_search=0.0)),
    "sweepctl-tpe": sweepctl_hyperopt(TpeOptions(constant_liar=False, local_search=0.0)),
    # What a sweep file without a `tpe:` block gets: the hyperopt engine with every default.
    "sweepctl-tpe-default": sweepctl_hyperopt(TpeOptions()),
    # tpe: {engine: optuna} with its defaults (lie: running), and the other ways of accounting for pending trials.
    "sweepctl-optuna": sweepctl_optuna(),
    "sweepctl-optuna-ignore": sweepctl_optuna(TpeOptions(constant_liar=False)),
    "sweepctl-optuna-worst": sweepctl_optuna(TpeOptions(constant_liar=True, lie="worst")),
    "sweepctl-optuna-mean": sweepctl_optuna(TpeOptions(constant_liar=True, lie="mean")),
    "sweepctl-optuna-best": sweepctl_optuna(TpeOptions(constant_liar=True, lie="best")),
    # tpe: {local_search: 0.5}: every second suggestion a local draw around the best trial (after 50 trials).
    "sweepctl-optuna-local": sweepctl_optuna(TpeOptions(local_search=0.5)),
    "sweepctl-tpe-local": sweepctl_hyperopt(TpeOptions(local_search=0.5)),
    # Candidates for the hyperopt engine's default (issue 16 item 7).
    "sweepctl-tpe-local25": sweepctl_hyperopt(TpeOptions(local_search=0.25)),
    "sweepctl-tpe-local75": sweepctl_hyperopt(TpeOptions(local_search=0.75)),
    "sweepctl-tpe-local-startup10": sweepctl_hyperopt(TpeOptions(local_search=0.5, n_startup_jobs=10)),
    "sweepctl-tpe-local-mean": sweepctl_hyperopt(TpeOptions(local_search=0.5, lie="mean")),
    "sweepctl-tpe-local-best": sweepctl_hyperopt(TpeOptions(local_search=0.5, lie="best")),
    # Each engine with its defaults on a bounded sample of the finished trials, and on every one (`--bounded`).
    "sweepctl-tpe-bounded": sweepctl_bounded(TpeEngine.HYPEROPT, bounded=True),
    "sweepctl-tpe-full": sweepctl_bounded(TpeEngine.HYPEROPT, bounded=False),
    "sweepctl-optuna-bounded": sweepctl_bounded(TpeEngine.OPTUNA, bounded=True),
    "sweepctl-optuna-full": sweepctl_bounded(TpeEngine.OPTUNA, bounded=False),
    "optuna-tpe-liar": lambda p, seed: OptunaEngine(p, seed, constant_liar=True),
    "optuna-tpe": lambda p, seed: OptunaEngine(p, seed, constant_liar=False),
    "random": lambda p, seed: SweepctlEngine(RandomSuggester(p.space(), seed)),
}
BOUNDED_ENGINES = ("sweepctl-tpe-bounded", "sweepctl-tpe-full", "sweepctl-optuna-bounded", "sweepctl-optuna-full")
SWEEPCTL_TPE = tuple(e for e in ENGINES if e.startswith("sweepctl-"))
SWEEPCTL_OPTUNA = "sweepctl-optuna"  # the Optuna engine as `tpe: {engine: optuna}` gives it
STOCK, DEFAULT = "sweepctl-tpe-liar", "sweepctl-tpe-default"  # the before/after pair of the default run
# Each of sweepctl's engines with and without its liar, the Optuna engine with local search (the best
# found), Optuna's TPE with and without its own liar, and random (`--engines peers`).
PEER_ENGINES = (
    "sweepctl-tpe-liar", "sweepctl-tpe", SWEEPCTL_OPTUNA, "sweepctl-optuna-ignore", "sweepctl-optuna-local",
    "optuna-tpe-liar", "optuna-tpe", "random",
)
# (bounded, full history) pairs of `--bounded`.
BOUNDED_PAIRS = (("sweepctl-tpe-bounded", "sweepctl-tpe-full"), ("sweepctl-optuna-bounded", "sweepctl-optuna-full"))
ENGINE_GROUPS = {"peers": PEER_ENGINES, "bounded": tuple(e for pair in BOUNDED_PAIRS for e in pair)}


# ---------------------------------------------------------------- simulation


@dataclass(frozen=True)
class RunResult:
    run: Run
    values: tuple[float, ...]  # objective of trial 1..budget, by trial number
    seconds: float  # CPU wall time of the whole run (engine + objective)


def simulate(run: Run) -> RunResult:
    """Run `run.budget` trials with `run.workers` asynchronous simulated workers."""
    began = time.perf_counter()
    problem = PROBLEMS[run.problem]
    engine = ENGINES[run.engine](problem, run.seed)
    values = run_trials(engine, problem.evaluate, budget=run.budget, workers=run.workers, seed=run.seed)
    return RunResult(run, tuple(values), time.perf_counter() - began)


def _quiet_worker(model_trials: int = BOUNDED_MODEL_TRIALS) -> None:
    global BOUNDED_MODEL_TRIALS
    BOUNDED_MODEL_TRIALS = model_trials  # whatever the start method, the workers bound as the parent was told
    logging.getLogger().setLevel(logging.WARNING)
    for name in ("hyperopt", "controller"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.simplefilter("ignore")
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
    except ImportError:
        pass


def run_all(runs: Sequence[Run], processes: int) -> list[RunResult]:
    """Every run through a process pool, slowest kinds first; progress to stderr."""
    cost = {"rosenbrock10": 3, "hartmann6": 2, "branin": 1}
    ordered = sorted(runs, key=lambda r: (r.engine == "random", -cost[r.problem] * r.budget, r.engine, r.workers, r.seed))
    results: list[RunResult] = []
    began = time.perf_counter()
    with multiprocessing.Pool(processes, initializer=_quiet_worker, initargs=(BOUNDED_MODEL_TRIALS,)) as pool:
        for i, result in enumerate(pool.imap_unordered(simulate, ordered, chunksize=1), 1):
            results.append(result)
            elapsed = time.perf_counter() - began
            r = result.run
            if r.seed >= BASELINE_SEED_BASE and i % 50 and i != len(ordered):
                continue  # baseline random runs are many and quick: report them in batches
            print(
                f"[{i}/{len(ordered)}] {r.problem} {r.engine} w={r.workers} seed={r.seed}: {result.seconds:.1f} s"
                f" (elapsed {elapsed / 60:.1f} min)",
                file=sys.stderr,
                flush=True,
            )
    return results


# ---------------------------------------------------------------- scoring and report


Key = tuple[str, str, int, int]  # (problem, engine, workers, budget)
Cells = Sequence[tuple[str, int]]  # (problem, budget) pairs pooled into one ratio


@dataclass(frozen=True)
class Scores:
    """Every run reduced to scores, the random baselines behind them, and timings."""

    baseline: dict[tuple[str, int], float]  # median best of random search, by (problem, budget)
    best: dict[Key, np.ndarray]  # best value found, one per seed
    score: dict[Key, np.ndarray]  # share of the random-to-optimum gap closed, one per seed
    ms_per_trial: dict[str, float]  # engine -> mean wall ms per simulated trial

    @classmethod
    def of(cls, results: Sequence[RunResult], budgets: Sequence[int], seeds: Sequence[int]) -> Scores:
        baseline_runs: dict[str, list[RunResult]] = {}
        by_cell: dict[tuple[str, str, int], dict[int, RunResult]] = {}
        seconds: dict[str, list[float]] = {}
        for res in results:
            r = res.run
            if r.seed >= BASELINE_SEED_BASE:
                baseline_runs.setdefault(r.problem, []).append(res)
            else:
                by_cell.setdefault((r.problem, r.engine, r.workers), {})[r.seed] = res
                seconds.setdefault(r.engine, []).append(res.seconds / r.budget)
        baseline = {
            (problem, b): float(np.median([min(res.values[:b]) for res in runs]))
            for problem, runs in baseline_runs.items()
            for b in budgets
        }
        best, score = {}, {}
        for (problem, engine, w), per_seed in by_cell.items():
            for b in budgets:
                found = np.array([min(per_seed[s].values[:b]) for s in seeds])
                gap = baseline[problem, b] - PROBLEMS[problem].optimum
                best[problem, engine, w, b] = found
                score[problem, engine, w, b] = (baseline[problem, b] - found) / gap
        ms = {engine: 1000 * float(np.mean(s)) for engine, s in seconds.items()}
        return cls(baseline, best, score, ms)

    def pooled(self, keys: Sequence[Key], seeds: np.ndarray | None = None) -> float:
        """Mean over `keys` of each cell's median score (one cell: its median), on the seeds picked."""
        return float(np.mean([np.median(self.score[k] if seeds is None else self.score[k][seeds]) for k in keys]))

    def bootstrap_ratio(
        self, num: Sequence[Key], den: Sequence[Key], rng: np.random.Generator, rounds: int = 2000
    ) -> tuple[float, float]:
        """90% interval of pooled(num) / pooled(den), resampling seeds (paired: seed i is run i everywhere)."""
        n = len(self.score[num[0]])
        ratios = []
        for _ in range(rounds):
            seeds = rng.integers(n, size=n)
            d = self.pooled(den, seeds)
            if d > 0:
                ratios.append(self.pooled(num, seeds) / d)
        if not ratios:
            return float("nan"), float("nan")
        lo, hi = np.percentile(ratios, [5, 95])
        return float(lo), float(hi)

    def ratio(self, cells: Cells, num: tuple[str, int], den: tuple[str, int], rng: np.random.Generator) -> tuple[str, float | None]:
        """pooled score of engine@workers `num` over `den` on `cells`, as text and value (None: undefined)."""
        found = self.ratio_interval(cells, num, den, rng)
        if isinstance(found, str):
            return found, None
        value, lo, hi = found
        return f"{value:.3f} [{lo:.2f}–{hi:.2f}]", value

    def ratio_interval(
        self, cells: Cells, num: tuple[str, int], den: tuple[str, int], rng: np.random.Generator
    ) -> tuple[float, float, float] | str:
        """(ratio, 90% low, 90% high) of `num` over `den` on `cells`, or why there is none."""
        num_keys = [(p, num[0], num[1], b) for p, b in cells]
        den_keys = [(p, den[0], den[1], b) for p, b in cells]
        if any(k not in self.score for k in num_keys + den_keys):
            return "n/a (not run)"
        d = self.pooled(den_keys)
        if d <= 0:
            return f"n/a (denominator {d:.2f})"
        lo, hi = self.bootstrap_ratio(num_keys, den_keys, rng)
        return self.pooled(num_keys) / d, lo, hi

    def best_sweepctl(self, cells: Cells, workers: int) -> str:
        """The sweepctl TPE engine with the higher pooled score at `workers` on `cells`."""
        present = [e for e in SWEEPCTL_TPE if all((p, e, workers, b) in self.score for p, b in cells)]
        if not present:
            return SWEEPCTL_TPE[0]
        return max(present, key=lambda e: self.pooled([(p, e, workers, b) for p, b in cells]))


def header_lines(args: argparse.Namespace, wall: float | None) -> list[str]:
    ran = f"wall time {wall / 60:.1f} min" if wall is not None else f"reported from the runs in {args.from_runs}"
    return [
        "# parallel_quality.py: search quality under parallelism",
        "",
        f"- Date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        (
            f"- Machine: {platform.node() or '?'}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores,"
            f" {platform.system()} {platform.release()}; pool of {args.processes} processes"
        ),
        (
            f"- Versions: Python {platform.python_version()}, hyperopt {version('hyperopt')}, optuna {_optuna_version()},"
            f" numpy {version('numpy')}, scipy {version('scipy')}"
        ),
        f"- Command: `{' '.join(['python', *sys.argv])}`",
        (
            f"- Seeds: {args.seeds} per cell ({args.first_seed}..{args.first_seed + args.seeds - 1});"
            f" random baseline: {args.baseline_seeds} seeds;"
            f" trial durations U{DURATION_MS} ms, simulated; {ran}"
        ),
        (
            "- Engines: sweepctl-tpe = stock hyperopt `tpe.suggest` (`tpe: {local_search: 0}`), n_startup_jobs=20,"
            " lie = worst loss seen; sweepctl-tpe-default = the hyperopt engine with every default (on these numeric"
            " spaces local_search 0.75 since issue 16 item 7); sweepctl-tpe-local = local_search 0.5, -local25/-local75"
            " = 0.25/0.75, -local-startup10/-mean/-best = 0.5 with n_startup_jobs 10 / lie mean / lie best;"
            " sweepctl-optuna = `tpe: {engine: optuna}` with its defaults (Optuna's multivariate TPESampler via"
            " ask/tell, n_startup_jobs=10, pending trials left RUNNING for its constant liar),"
            " -ignore = constant_liar false, -worst/-mean/-best = told COMPLETE with that lie;"
            " optuna-tpe = Optuna TPESampler with its defaults (multivariate TPE for one objective in Optuna 5,"
            " n_startup_trials=10), `constant_liar` True/False; random = sweepctl RandomSuggester."
        ),
        "",
    ]


def score_lines(args: argparse.Namespace, scores: Scores) -> list[str]:
    workers, top = args.workers, max(args.workers)

    def cell(key: Key) -> str:
        if key not in scores.score:
            return "—"
        q1, med, q3 = np.percentile(scores.score[key], [25, 50, 75])
        return f"{med:.2f} ({q1:.2f}–{q3:.2f})"

    def median_best(key: Key) -> str:
        return f"{float(np.median(scores.best[key])):.4g}" if key in scores.best else "—"

    lines = [
        (
            "Score = share of the random-to-optimum gap closed (1 = optimum, 0 = median random search):"
            " median over seeds, interquartile range in brackets."
        ),
        "",
        "| problem | budget | engine | " + " | ".join(f"{w} worker{'s' if w > 1 else ''}" for w in workers) + " |",
        "|---|---|---|" + "---|" * len(workers),
    ]
    for problem in args.problems:
        for b in args.budgets:
            for engine in args.engines:
                cells = " | ".join(cell((problem, engine, w, b)) for w in workers)
                lines.append(f"| {problem} | {b} | {engine} | {cells} |")
    lines += [
        "",
        f"Median best value found at {top} workers (optimum and random-search median for scale):",
        "",
        "| problem | budget | optimum | random median | " + " | ".join(args.engines) + " |",
        "|---|---|---|---|" + "---|" * len(args.engines),
    ]
    for problem in args.problems:
        for b in args.budgets:
            row = " | ".join(median_best((problem, e, top, b)) for e in args.engines)
            lines.append(f"| {problem} | {b} | {PROBLEMS[problem].optimum:.6g} | {scores.baseline[problem, b]:.4g} | {row} |")
    return lines


def versus_stock_lines(args: argparse.Namespace, scores: Scores) -> list[str]:
    """Each variant of the hyperopt engine against stock hyperopt TPE, cell by cell and pooled.

    With the default engines this is the before/after table of the default (issue 16 item 7).
    """
    variants = [(e, STOCK) for e in args.engines if e.startswith("sweepctl-tpe") and e != STOCK and e not in BOUNDED_ENGINES]
    intro = (
        f"Against stock hyperopt TPE (`{STOCK}`, `tpe: {{local_search: 0}}`; `{DEFAULT}` is what a sweep file"
        " without `tpe:` gets): median score with its interquartile range, and the ratio of median scores"
        ' engine / stock with its 90% bootstrap interval over seeds (paired). "all" rows pool the problems and'
        " budgets (mean of the cells' median scores). Verdict: better = interval above 1, level = interval"
        " holds 1, WORSE = interval below 1."
    )
    return versus_lines(args, scores, variants, intro, ("stock", "engine / stock"))


def bounded_lines(args: argparse.Namespace, scores: Scores) -> list[str]:
    """Each engine on a bounded sample of the finished trials against the same engine on every one."""
    pairs = [pair for pair in BOUNDED_PAIRS if all(e in args.engines for e in pair)]
    intro = (
        f"Bounded model (`tpe: {{model_trials: {BOUNDED_MODEL_TRIALS}}}`: past {BOUNDED_MODEL_TRIALS} finished trials"
        f" TPE is fitted on the best {GOOD_KEPT} (and some that were best when they came) and a hash sample of the rest,"
        f" about {BOUNDED_MODEL_TRIALS} in all) against"
        " full history (`model_trials: 0`), each engine with its other defaults. The bound here is far below the"
        f" default ({DEFAULT_MODEL_TRIALS}) so that it binds at every budget run. Median score with its"
        " interquartile range, and the ratio of median scores bounded / full with its 90% bootstrap interval over"
        ' seeds (paired: the same seed is the same trial durations and the same first draws). "all" rows pool the'
        " problems and budgets. Verdict: better = interval above 1, level = interval holds 1, WORSE = interval below 1."
    )
    return versus_lines(args, scores, pairs, intro, ("full", "bounded / full"))


def a_a_lines(args: argparse.Namespace, scores: Scores) -> list[str]:
    """Each full-history engine against itself, the first half of the seeds against the second: how often the
    verdict calls a difference where there is none, at half the seeds."""
    half = args.seeds // 2
    score = dict(scores.score)
    pairs = []
    for _, reference in BOUNDED_PAIRS:
        if reference not in args.engines:
            continue
        first, second = f"{reference} (seeds 1st half)", f"{reference} (2nd half)"
        for (problem, engine, w, b), per_seed in scores.score.items():
            if engine == reference:
                score[problem, first, w, b], score[problem, second, w, b] = per_seed[:half], per_seed[half : 2 * half]
        pairs.append((first, second))
    intro = (
        f"A/A check (`--a-a`): full history against itself, seeds {args.first_seed}..{args.first_seed + half - 1}"
        f" against the next {half}, judged as above. Both halves are the same engine, so every verdict but"
        " level is a false alarm: the rate at which the verdict finds a difference in noise alone at"
        f" {half} seeds."
    )
    return versus_lines(args, dataclasses.replace(scores, score=score), pairs, intro, ("2nd half", "1st / 2nd"))


def versus_lines(
    args: argparse.Namespace, scores: Scores, pairs: Sequence[tuple[str, str]], intro: str, headings: tuple[str, str]
) -> list[str]:
    """Each (engine, reference) pair of `pairs`, cell by cell and pooled, with bootstrap intervals."""
    rng = np.random.default_rng(0)
    lines = [
        "",
        intro,
        "",
        f"| engine | problem | budget | workers | {headings[0]} | engine | {headings[1]} | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def cell(key: Key) -> str:
        q1, med, q3 = np.percentile(scores.score[key], [25, 50, 75])
        return f"{med:.2f} ({q1:.2f}–{q3:.2f})"

    pooled = [(p, b) for p in args.problems for b in args.budgets]
    rows = [(p, str(b), [(p, b)]) for p in args.problems for b in args.budgets] + [("all", ",".join(map(str, args.budgets)), pooled)]
    for engine, reference in pairs:
        for label, budget_label, cells in rows:
            for w in args.workers:
                found = scores.ratio_interval(cells, (engine, w), (reference, w), rng)
                if isinstance(found, str):
                    ratio, verdict = found, "n/a"
                else:
                    value, lo, hi = found
                    ratio = f"{value:.3f} [{lo:.2f}–{hi:.2f}]"
                    verdict = "better" if lo > 1 else "level" if hi >= 1 else "WORSE"
                if len(cells) == 1:
                    ref, score = cell((*cells[0][:1], reference, w, cells[0][1])), cell((*cells[0][:1], engine, w, cells[0][1]))
                else:
                    ref, score = (f"{scores.pooled([(p, e, w, b) for p, b in cells]):.2f}" for e in (reference, engine))
                lines.append(f"| {engine} | {label} | {budget_label} | {w} | {ref} | {score} | {ratio} | {verdict} |")
    return lines


def ratio_lines(args: argparse.Namespace, scores: Scores) -> list[str]:
    rng = np.random.default_rng(0)
    hi, lo = max(args.workers), min(args.workers)
    lines = [
        "",
        (
            "Ratios of median scores, 90% bootstrap interval over seeds in brackets; the last row pools every"
            " problem and budget (mean of the cells' median scores). Pass: sweepctl TPE with the liar keeps"
            f" ≥ {PASS_RATIO} of its sequential score at {hi} workers. \"best sweepctl\" is whichever"
            f" sweepctl TPE engine run scored higher at {hi} workers in that row (a pick among several is"
            " flattered by noise: the next columns show the Optuna engine with its defaults, as a sweep file"
            " with `tpe: {engine: optuna}` gets it)."
        ),
        "",
        (
            f"| problem | budget | sweepctl liar {hi}/{lo} | pass | sweepctl no liar {hi}/{lo} | optuna liar {hi}/{lo}"
            f" | optuna no liar {hi}/{lo} | best sweepctl @{hi} / optuna liar @{hi} | sweepctl / optuna @{lo}"
            f" | sweepctl-optuna @{hi} / optuna liar @{hi} | sweepctl-optuna / optuna liar @{lo} |"
        ),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    rows = [(problem, str(b), [(problem, b)]) for problem in args.problems for b in args.budgets]
    rows.append(("all", ",".join(map(str, args.budgets)), [(p, b) for p in args.problems for b in args.budgets]))
    for label, budget_label, cells in rows:
        liar_text, liar_value = scores.ratio(cells, ("sweepctl-tpe-liar", hi), ("sweepctl-tpe-liar", lo), rng)
        verdict = "n/a" if liar_value is None else ("PASS" if liar_value >= PASS_RATIO else "FAIL")
        best = scores.best_sweepctl(cells, hi)
        versus_optuna, versus_value = scores.ratio(cells, (best, hi), ("optuna-tpe-liar", hi), rng)
        columns = [
            liar_text,
            verdict,
            scores.ratio(cells, ("sweepctl-tpe", hi), ("sweepctl-tpe", lo), rng)[0],
            scores.ratio(cells, ("optuna-tpe-liar", hi), ("optuna-tpe-liar", lo), rng)[0],
            scores.ratio(cells, ("optuna-tpe", hi), ("optuna-tpe", lo), rng)[0],
            versus_optuna + (f" ({best})" if versus_value is not None else ""),
            scores.ratio(cells, ("sweepctl-tpe-liar", lo), ("optuna-tpe-liar", lo), rng)[0],
            scores.ratio(cells, (SWEEPCTL_OPTUNA, hi), ("optuna-tpe-liar", hi), rng)[0],
            scores.ratio(cells, (SWEEPCTL_OPTUNA, lo), ("optuna-tpe-liar", lo), rng)[0],
        ]
        lines.append(f"| {label} | {budget_label} | " + " | ".join(columns) + " |")
    return lines


def timing_lines(args: argparse.Namespace, scores: Scores) -> list[str]:
    lines = ["", "Mean wall time per simulated trial (engine + objective, one process):", ""]
    lines += ["| engine | ms/trial |", "|---|---|"]
    lines += [f"| {e} | {scores.ms_per_trial[e]:.1f} |" for e in args.engines if e in scores.ms_per_trial]
    return lines


def report(args: argparse.Namespace, results: Sequence[RunResult], wall: float | None) -> str:
    """The markdown report: header, score tables, hyperopt variants against stock when stock ran,
    ratios against the peers when Optuna's TPE with its liar ran, timings."""
    scores = Scores.of(results, args.budgets, range(args.first_seed, args.first_seed + args.seeds))
    lines = header_lines(args, wall) + score_lines(args, scores)
    if STOCK in args.engines:
        lines += versus_stock_lines(args, scores)
    if any(e in args.engines for e in BOUNDED_ENGINES):
        lines += bounded_lines(args, scores)
    if args.a_a:
        lines += a_a_lines(args, scores)
    if "optuna-tpe-liar" in args.engines:
        lines += ratio_lines(args, scores)
    return "\n".join(lines + timing_lines(args, scores)) + "\n"


def _optuna_version() -> str:
    try:
        return version("optuna")
    except PackageNotFoundError:
        return "not installed"


def _int_list(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def _name_list(choices: Sequence[str], groups: Mapping[str, Sequence[str]] | None = None) -> Callable[[str], list[str]]:
    """Parse a comma-separated list of `choices`; a name in `groups` stands for its members."""
    groups = groups or {}

    def parse(text: str) -> list[str]:
        names = [n for x in text.split(",") if x for n in groups.get(x, (x,))]
        unknown = [n for n in names if n not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {unknown}; choose from {','.join([*choices, *groups])}")
        return list(dict.fromkeys(names))

    return parse


def main(argv: Sequence[str] | None = None) -> None:
    global BOUNDED_MODEL_TRIALS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=48)
    parser.add_argument(
        "--first-seed", type=int, default=0, help="seeds are first-seed, first-seed + 1, ... (fresh seeds confirm a choice)"
    )
    parser.add_argument("--budgets", type=_int_list, help="budgets scored (default 100,200; with --bounded 200,1000)")
    parser.add_argument("--workers", type=_int_list, default=[1, 8])
    parser.add_argument("--problems", type=_name_list(list(PROBLEMS)), default=list(PROBLEMS))
    parser.add_argument(
        "--engines",
        type=_name_list(list(ENGINES), ENGINE_GROUPS),
        help=(
            "engines to run (default: the before/after pair; with --bounded, group bounded); peers = every peer engine"
            " of the earlier reports"
        ),
    )
    parser.add_argument("--baseline-seeds", type=int, default=200, help="random-search runs behind the score's baseline")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument(
        "--bounded",
        action="store_true",
        help="compare each TPE engine on a bounded sample of the finished trials against full history (budgets 200,1000 unless given)",
    )
    parser.add_argument("--model-trials", type=int, default=BOUNDED_MODEL_TRIALS, help="the bound of the -bounded engines")
    parser.add_argument(
        "--a-a", action="store_true", help="also judge each full-history engine against itself on the other half of the seeds"
    )
    parser.add_argument("--output", type=Path)
    parser.add_argument("--runs-json", type=Path, help="also write every run's values here, for analyses the report lacks")
    parser.add_argument(
        "--reuse-runs",
        type=Path,
        help="take the runs of the --reuse-engines from an earlier --runs-json instead of running them again "
        "(e.g. full history, unchanged, beside a bounded engine being changed)",
    )
    parser.add_argument("--reuse-engines", type=lambda s: s.split(","), default=["random"], help="comma-separated [default: random]")
    parser.add_argument(
        "--from-runs", type=Path, help="report the runs an earlier --runs-json wrote instead of running them (give that run's flags)"
    )
    args = parser.parse_args(argv)
    if args.bounded:
        BOUNDED_MODEL_TRIALS = args.model_trials  # read by the pool's forked workers
    if args.engines is None:
        args.engines = list(ENGINE_GROUPS["bounded"]) if args.bounded else [STOCK, DEFAULT]
    if args.budgets is None:
        args.budgets = [200, 1000] if args.bounded else [100, 200]
    args.output = args.output or (BOUNDED_OUTPUT if args.bounded else DEFAULT_OUTPUT)
    args.budgets, args.workers = sorted(args.budgets), sorted(args.workers)
    if not 0 <= args.first_seed <= BASELINE_SEED_BASE - args.seeds:
        parser.error(f"seeds must lie in 0..{BASELINE_SEED_BASE - 1}: the random baseline uses those from {BASELINE_SEED_BASE}")
    top = max(args.budgets)
    runs = [
        Run(problem, engine, w, seed, top)
        for problem in args.problems
        for engine in args.engines
        for w in args.workers
        for seed in range(args.first_seed, args.first_seed + args.seeds)
    ]
    runs += [
        Run(problem, "random", 1, BASELINE_SEED_BASE + i, top) for problem in args.problems for i in range(args.baseline_seeds)
    ]
    began = time.perf_counter()
    if args.from_runs is not None:
        results = _read_runs(args.from_runs, runs, parser)
    elif args.reuse_runs is not None:
        reused = [r for r in runs if r.engine in args.reuse_engines]
        fresh = run_all([r for r in runs if r.engine not in args.reuse_engines], args.processes)
        by_run = {r.run: r for r in [*_read_runs(args.reuse_runs, reused, parser), *fresh]}
        results = [by_run[r] for r in runs]
    else:
        results = run_all(runs, args.processes)
    wall = time.perf_counter() - began
    markdown = report(args, results, None if args.from_runs else wall)
    print(markdown)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(markdown)
    if args.runs_json is not None:
        args.runs_json.write_text(json.dumps([{**dataclasses.asdict(r.run), "values": r.values, "seconds": r.seconds} for r in results]))
    print(f"wrote {args.output} ({wall / 60:.1f} min)", file=sys.stderr)


def _read_runs(path: Path, runs: Sequence[Run], parser: argparse.ArgumentParser) -> list[RunResult]:
    """The results of `runs` from a --runs-json file; an error if the file lacks any (other flags than its run's)."""
    stored = {}
    for raw in json.loads(path.read_text()):
        values, seconds = raw.pop("values"), raw.pop("seconds")
        stored[Run(**raw)] = RunResult(Run(**raw), tuple(values), seconds)
    missing = [r for r in runs if r not in stored]
    if missing:
        parser.error(f"{path} lacks {len(missing)} of the {len(runs)} runs these flags ask for, e.g. {missing[0]}")
    return [stored[r] for r in runs]


if __name__ == "__main__":
    main()
