"""Memory of a TPE suggester holding n finished trials, for both engines (the controller keeps one per sweep).

Builds the history first (its own size is printed apart), then one suggester of the engine as the
controller builds it (the bounded model, its defaults), replays the history into it as a restarted
controller does, and times a few suggestions. Each engine runs in a fresh process, so peak RSS is
its own.

    python benchmarks/suggester_memory.py [--trials 100000] [--engines hyperopt,optuna]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.suggestion_latency import history, sweepctl_suggester  # noqa: E402
from sweepctl.spec import TpeEngine  # noqa: E402


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(engine: TpeEngine, trials: int, suggestions: int = 3) -> str:
    observations = history(trials)
    with_history = peak_mib()
    suggester = sweepctl_suggester(engine, None)
    began = time.process_time()
    suggester.observe(observations)
    replay = time.process_time() - began
    suggester.suggest(trials + 1)  # the first builds the model's documents; the latency benchmark times the steady state
    began = time.process_time()
    for i in range(suggestions):
        suggester.suggest(trials + 2 + i)
    each = (time.process_time() - began) / suggestions
    return (
        f"| {engine.value} | {trials:,} | {peak_mib():.0f} MiB | {with_history:.0f} MiB | "
        f"{replay:.1f} s | {each * 1000:.0f} ms |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=100_000)
    parser.add_argument("--engines", default="hyperopt,optuna")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # run one engine in this process
    args = parser.parse_args()
    if args.one:
        print(measure(TpeEngine(args.one), args.trials))
        return
    print("| engine | finished trials | peak RSS | of which the history (before the suggester) | replay (CPU) | suggestion (CPU) |")
    print("|---|---|---|---|---|---|")
    for engine in args.engines.split(","):
        argv = [sys.executable, __file__, "--one", engine, "--trials", str(args.trials)]
        out = subprocess.run(argv, capture_output=True, text=True, check=True)
        print(out.stdout.strip())


if __name__ == "__main__":
    main()
