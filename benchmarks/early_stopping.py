"""Cost of one early-stopping pass against the number of trials: sweepctl's rules vs Optuna's pruners.

A pass decides, for every running trial, whether it stops, given every trial's
learning curve: what the controller does whenever intermediate metrics arrive
(`controller.early_stopping.judge_curves`). The histories are `--points` noisy
decaying points per trial, every other trial running (finished ones are peers).
Optuna's peer of a pass is `pruner.prune(study, trial)` for each running trial of
an in-memory study holding the same curves (finished trials COMPLETE with their
last value): MedianPruner against `median`, HyperbandPruner against `hyperband`.
Side by side in one run; prints CPU ms per pass and Optuna / sweepctl. Optuna's
pruners cost O(trials) per trial, so they are run up to `--peer-max` trials only.

    python benchmarks/early_stopping.py [--sizes 1000,10000,100000] [--points 100] [--peer-max 10000] [--output PATH]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import optuna  # noqa: E402
from optuna.trial import TrialState, create_trial  # noqa: E402

from controller.early_stopping import Hyperband, MedianStop, StoppingRule, TrialHistory, judge_curves  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "early_stopping.md"


@dataclass(frozen=True)
class Pair:
    """A sweepctl rule and the Optuna pruner it is compared with."""

    name: str
    ours: StoppingRule
    peer: Callable[[], optuna.pruners.BasePruner]


PAIRS = (
    Pair("hyperband", Hyperband(min_iter=1, eta=3), lambda: optuna.pruners.HyperbandPruner(min_resource=1, reduction_factor=3)),
    Pair("median", MedianStop(min_iter=5), lambda: optuna.pruners.MedianPruner(n_warmup_steps=5)),
)


@dataclass(frozen=True)
class Row:
    pair: str
    trials: int
    ours_ms: float
    stops: int
    peer_ms: float | None  # None: not run (over --peer-max)
    peer_stops: int | None


def histories(trials: int, points: int, seed: int = 0) -> dict[int, TrialHistory]:
    """Noisy decaying curves a / step + b, every other trial running, steps 1..points."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0.5, 5.0, trials), rng.uniform(0.0, 1.0, trials)
    steps = np.arange(1, points + 1)
    values = a[:, None] / steps + b[:, None] + rng.normal(0, 0.05, (trials, points))
    return {n: TrialHistory(n, n % 2 == 0, tuple(zip(steps.tolist(), values[n].tolist()))) for n in range(trials)}


def optuna_study(curves: dict[int, TrialHistory]) -> optuna.Study:
    study = optuna.create_study(direction="minimize")
    for history in curves.values():
        values = dict(history.points)
        if history.running:
            study.add_trial(create_trial(state=TrialState.RUNNING, intermediate_values=values))
        else:
            study.add_trial(create_trial(state=TrialState.COMPLETE, value=history.points[-1][1], intermediate_values=values))
    return study


def cpu_ms(run: Callable[[], int]) -> tuple[float, int]:
    began = time.process_time()
    result = run()
    return (time.process_time() - began) * 1000, result


def measure(pair: Pair, trials: int, points: int, peer_max: int) -> Row:
    curves = histories(trials, points)
    ours_ms, stops = cpu_ms(lambda: len(judge_curves(pair.ours, curves, {}).stops))
    if trials > peer_max:
        return Row(pair.name, trials, ours_ms, stops, None, None)
    study, pruner = optuna_study(curves), pair.peer()
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    peer_ms, peer_stops = cpu_ms(lambda: sum(pruner.prune(study, trial) for trial in running))
    return Row(pair.name, trials, ours_ms, stops, peer_ms, peer_stops)


def table(rows: list[Row]) -> str:
    lines = [
        "| rule | trials | sweepctl ms | stops | Optuna ms | Optuna prunes | Optuna / sweepctl |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        peer = ("not run", "", "") if r.peer_ms is None else (f"{r.peer_ms:,.0f}", f"{r.peer_stops:,}", f"x{r.peer_ms / r.ours_ms:,.0f}")
        lines.append(f"| {r.pair} | {r.trials:,} | {r.ours_ms:,.1f} | {r.stops:,} | {peer[0]} | {peer[1]} | {peer[2]} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="trial counts, comma-separated")
    parser.add_argument("--points", type=int, default=100, help="metric points per trial")
    parser.add_argument("--peer-max", type=int, default=10_000, help="largest trial count Optuna's pruners are run at")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        for pair in PAIRS:
            row = measure(pair, size, args.points, args.peer_max)
            rows.append(row)
            print(f"{row.pair} {row.trials:,} trials: sweepctl {row.ours_ms:,.1f} ms, Optuna {row.peer_ms or 0:,.0f} ms", flush=True)
    text = "\n".join(
        [
            "# One early-stopping pass: sweepctl vs Optuna's pruners",
            "",
            f"- Date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; load before the run: {os.getloadavg()[0]:.1f}",
            f"- Machine: {platform.machine()}, {os.cpu_count()} cores; Python {platform.python_version()}, optuna {optuna.__version__}, "
            f"numpy {np.__version__}",
            f"- Command: `python benchmarks/early_stopping.py --sizes {args.sizes} --points {args.points} --peer-max {args.peer_max}`",
            f"- {args.points} points per trial, every other trial running; CPU time of one pass deciding every running trial.",
            "",
            table(rows),
            "",
        ]
    )
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
