"""Cost of one suggestion against the number of finished trials: sweepctl's TPE vs hyperopt's fmin vs Optuna.

For each size n, every engine first gets n finished random trials of a 6-D
uniform space (loaded, not run), then the next `--next` trials are timed one
by one (suggest + learn the result). sweepctl's engines are timed with 8 trials
pending (the constant liar on), as under 8 workers, each twice: with the bounded
model they have by default (`tpe: {model_trials}` 1000: past it TPE is fitted on
the best trials and a sample of the rest, `controller.suggesters.bounded`) and on
full history (`model_trials: 0`, the behaviour before the bound). Side by side in
one run; prints ms per trial and the ratio to fmin.

Full-history columns (sweepctl's, fmin's, Optuna's) grow linearly in n: they are
measured up to `--full-max` / `--peer-max` finished trials and shown as "not run"
beyond (loading 100k trials into fmin alone takes minutes). Then, at `--batch-sizes`,
100 suggestions at once (`suggest_batch`, as the controller asks when many workers
free up) against 100 one at a time, and the cost of replaying the history into a new
suggester (what a restarted controller does).

    python benchmarks/suggestion_latency.py [--sizes 100,1000,5000,10000,50000,100000] [--next 10]
        [--peer-max 10000] [--full-max 100000] [--batch-sizes 1000,10000,100000] [--output PATH]
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Run as a script, the repository is not on sys.path, and an installed sweepctl (an editable install of another
# checkout) would be what gets measured: put this checkout first.
_REPO = str(Path(__file__).resolve().parent.parent)
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from controller.suggester import Observation, Suggester
from controller.suggester_factory import make_suggester
from sweepctl.spec import Method, TpeEngine, TpeOptions
from sweepctl.sweepfile import parse_sweep

DIMS = 6
PENDING = 8
BATCH = 100
LARGE = 10_000  # from here on full-history columns take `LARGE_STEPS` steps: each costs seconds
LARGE_STEPS = 3
DEFAULT_OUTPUT = Path(__file__).parent / "results" / "suggestion_latency.md"
# What is timed: wall time (perf_counter), or with --clock cpu this process's CPU time, which other
# processes on a loaded machine inflate far less (they take turns on the cores, not our instructions).
CLOCK = time.perf_counter
# With --crowded SHARE, that share of the history crowds near the optimum (within ~0.02 on each axis), as a TPE
# run leaves it: the Optuna engine then takes more of its "bad" trials near a proposal exactly (`near_points`).
CROWDED = 0.0


def objective(x: dict[str, float]) -> float:
    return sum((x[f"x{i}"] - 0.3) ** 2 for i in range(DIMS))


def random_points(n: int, seed: int = 0) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    return [{f"x{i}": float(v) for i, v in enumerate(rng.random(DIMS))} for _ in range(n)]


def history(n: int) -> list[Observation]:
    points = random_points(n)
    rng = np.random.default_rng(2)
    for p in points:
        if rng.random() < CROWDED:
            p.update({name: float(np.clip(rng.normal(0.3, 0.02), 0.0, 1.0)) for name in p})
    return [Observation(i + 1, p, objective(p)) for i, p in enumerate(points)]


def sweepctl_suggester(engine: TpeEngine, model_trials: int | None) -> Suggester:
    """sweepctl's TPE `engine` as the controller builds it; `model_trials` None is the default bound, 0 full history."""
    spec = parse_sweep(
        {"metric": {"name": "loss"}, "function": "m:f", "parameters": {f"x{i}": {"min": 0.0, "max": 1.0} for i in range(DIMS)}}
    )
    # local_search 0: every suggestion a TPE one (the hyperopt engine's default makes 3 in 4 of them
    # local draws on this numeric space, which cost next to nothing and would hide TPE's cost).
    return make_suggester(Method.TPE, spec.space, 0, TpeOptions(engine=engine, local_search=0.0, model_trials=model_trials))


@dataclass(frozen=True)
class Timed:
    per_suggestion: float  # seconds per suggest + observe
    replay: float  # seconds to observe the n finished trials in one call, as a restarted controller does


def time_sweepctl(n: int, steps: int, engine: TpeEngine, model_trials: int | None) -> Timed | None:
    """sweepctl's engine: replay n finished trials, then `steps` suggestions with 8 pending (None: not installed)."""
    if not engine.is_installed():
        return None
    s = sweepctl_suggester(engine, model_trials)
    began = CLOCK()
    s.observe(history(n))
    replay = CLOCK() - began
    pending = random_points(PENDING, seed=1)
    s.suggest(n + PENDING + 1, pending)  # the first suggestion builds what later ones reuse; not timed
    began = CLOCK()
    for k in range(steps):
        number = n + PENDING + 2 + k
        p = s.suggest(number, pending)
        assert p is not None
        s.observe([Observation(number, p, objective(p))])
    return Timed((CLOCK() - began) / steps, replay)


def time_batch(n: int, engine: TpeEngine) -> tuple[float, float] | None:
    """Seconds per suggestion for BATCH suggestions at once (`suggest_batch`) and one at a time, n finished."""
    if not engine.is_installed():
        return None
    s = sweepctl_suggester(engine, None)
    s.observe(history(n))
    pending = random_points(PENDING, seed=1)
    numbers = list(range(n + PENDING + 1, n + PENDING + 1 + BATCH))
    s.suggest(numbers[0], pending)  # warm up as in time_sweepctl
    began = CLOCK()
    batch = s.suggest_batch(numbers, pending)
    batched = (CLOCK() - began) / BATCH
    running = list(pending)
    began = CLOCK()
    one_by_one = []
    for number in numbers:
        p = s.suggest(number, running)
        assert p is not None
        one_by_one.append(p)
        running.append(p)
    single = (CLOCK() - began) / BATCH
    assert batch == one_by_one, "a batch must suggest what one at a time does (Suggester.suggest_batch)"
    return batched, single


def time_fmin(n: int, steps: int) -> float:
    from hyperopt import Trials, fmin, hp, rand, tpe

    space = {f"x{i}": hp.uniform(f"x{i}", 0.0, 1.0) for i in range(DIMS)}
    trials = Trials()
    # Load n finished random trials through fmin's own random search (cheap), then time TPE's next steps.
    fmin(objective, space, algo=rand.suggest, max_evals=n, trials=trials, rstate=np.random.default_rng(0), show_progressbar=False)
    began = CLOCK()
    fmin(objective, space, algo=tpe.suggest, max_evals=n + steps, trials=trials, rstate=np.random.default_rng(1), show_progressbar=False)
    return (CLOCK() - began) / steps


def time_optuna(n: int, steps: int) -> float | None:
    try:
        import optuna
    except ImportError:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists: dict[str, optuna.distributions.BaseDistribution] = {
        f"x{i}": optuna.distributions.FloatDistribution(0.0, 1.0) for i in range(DIMS)
    }
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0, constant_liar=True))
    study.add_trials([optuna.trial.create_trial(params=p, distributions=dists, value=objective(p)) for p in random_points(n)])
    began = CLOCK()
    for _ in range(steps):
        trial = study.ask(dists)
        study.tell(trial, objective(trial.params))
    return (CLOCK() - began) / steps


def _ms(seconds: float | None) -> str:
    return "not run" if seconds is None else f"{seconds * 1000:.1f} ms"


def _ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None else f"x{a / b:.2f}"


def _if(ok: bool, measure: Callable[[], float | None]) -> float | None:
    return measure() if ok else None


def latency_lines(args: argparse.Namespace, emit: Callable[[str], None]) -> None:
    emit(
        "| finished trials | sweepctl hyperopt, bounded (default) | sweepctl hyperopt, full history | hyperopt fmin"
        " | bounded / fmin | sweepctl Optuna engine, bounded | sweepctl Optuna engine, full history | Optuna TPE"
        " | Optuna bounded / Optuna TPE |"
    )
    emit("|---|---|---|---|---|---|---|---|---|")
    replays: list[tuple[int, Timed | None, Timed | None]] = []
    for n in args.sizes:
        steps = args.next
        full_steps = args.next if n < LARGE else min(args.next, LARGE_STEPS)
        hyperopt = time_sweepctl(n, steps, TpeEngine.HYPEROPT, None)
        hyperopt_full = time_sweepctl(n, full_steps, TpeEngine.HYPEROPT, 0) if n <= args.full_max else None
        fmin_cost = _if(n <= args.peer_max, lambda: time_fmin(n, full_steps))
        optuna_ours = time_sweepctl(n, steps, TpeEngine.OPTUNA, None)
        optuna_full = time_sweepctl(n, full_steps, TpeEngine.OPTUNA, 0) if n <= args.full_max else None
        optuna_cost = _if(n <= args.peer_max, lambda: time_optuna(n, full_steps))
        replays.append((n, hyperopt, optuna_ours))
        ours = None if hyperopt is None else hyperopt.per_suggestion
        ours_optuna = None if optuna_ours is None else optuna_ours.per_suggestion
        emit(
            f"| {n:,} | {_ms(ours)} | {_ms(None if hyperopt_full is None else hyperopt_full.per_suggestion)}"
            f" | {_ms(fmin_cost)} | {_ratio(ours, fmin_cost)} | {_ms(ours_optuna)}"
            f" | {_ms(None if optuna_full is None else optuna_full.per_suggestion)} | {_ms(optuna_cost)}"
            f" | {_ratio(ours_optuna, optuna_cost)} |"
        )
    emit("")
    emit(
        "Replaying the history into a new suggester (one `observe` call, as a restarted controller or a"
        " `relearn` does), bounded engines:"
    )
    emit("")
    emit("| finished trials | hyperopt engine | Optuna engine |")
    emit("|---|---|---|")
    for n, hyperopt, optuna_ours in replays:
        emit(
            f"| {n:,} | {'—' if hyperopt is None else f'{hyperopt.replay:.2f} s'}"
            f" | {'—' if optuna_ours is None else f'{optuna_ours.replay:.2f} s'} |"
        )
    emit("")
    emit(
        f"{BATCH} suggestions at once (`suggest_batch`, {PENDING} pending, bounded engines) against {BATCH} one at a"
        " time, each seeing the earlier ones as pending (identical suggestions, checked): ms per suggestion."
    )
    emit("")
    emit("| finished trials | hyperopt batch | hyperopt one at a time | Optuna batch | Optuna one at a time |")
    emit("|---|---|---|---|---|")
    for n in args.batch_sizes:
        h, o = time_batch(n, TpeEngine.HYPEROPT), time_batch(n, TpeEngine.OPTUNA)
        emit(
            f"| {n:,} | {_ms(None if h is None else h[0])} | {_ms(None if h is None else h[1])}"
            f" | {_ms(None if o is None else o[0])} | {_ms(None if o is None else o[1])} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,1000,5000,10000,50000,100000")
    parser.add_argument("--next", type=int, default=10, help="suggestions timed per size (3 for full-history columns from 10k)")
    parser.add_argument("--peer-max", type=int, default=10_000, help="largest size fmin and Optuna's own TPE are measured at")
    parser.add_argument("--full-max", type=int, default=100_000, help="largest size sweepctl's full-history columns are measured at")
    parser.add_argument("--batch-sizes", default="1000,10000,100000")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="time wall clock, or this process's CPU time")
    parser.add_argument("--crowded", type=float, default=0.0, help="share of the history drawn near the optimum (default 0: uniform)")
    args = parser.parse_args()
    global CLOCK, CROWDED
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    CROWDED = args.crowded
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.batch_sizes = [int(s) for s in args.batch_sizes.split(",") if s]
    logging.getLogger("hyperopt").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    lines: list[str] = []

    def emit(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    run_began = time.perf_counter()
    load_before = os.getloadavg()
    emit("# suggestion_latency.py: cost of a suggestion against the number of finished trials")
    emit("")
    emit(f"- Date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}")
    emit(f"- Machine: {platform.node() or '?'}, {os.cpu_count()} cores, Python {platform.python_version()}")
    emit(f"- Command: `{' '.join(['python', *sys.argv])}`")
    emit(
        f"- {DIMS}-D uniform space ({CROWDED:.0%} of the history crowding near the optimum),"
        f" {args.next} suggestions timed per size ({LARGE_STEPS} for full-history columns"
        f" from {LARGE:,}), {PENDING} pending for sweepctl's engines; fmin and Optuna's TPE measured up to"
        f" {args.peer_max:,} finished trials (\"not run\" beyond: loading and fitting 100k trials takes them minutes),"
        f" sweepctl's full history up to {args.full_max:,}"
    )
    emit(f"- Clock: {'CPU time of this process' if args.clock == 'cpu' else 'wall time'}")
    emit(f"- Load average before: {' / '.join(f'{x:.1f}' for x in load_before)}")
    emit("")
    latency_lines(args, emit)
    emit("")
    emit(
        f"Load average after: {' / '.join(f'{x:.1f}' for x in os.getloadavg())};"
        f" whole run {(time.perf_counter() - run_began) / 60:.1f} min (wall)."
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
