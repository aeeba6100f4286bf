"""Recovery under faults: the soak scenario of the fault suite, measured instead of only checked.

A 100-trial sweep on three worker processes with 2 s leases; ten times, the worker process
running a random trial is SIGKILLed mid-trial, and halfway Redis restarts (the scenario is
tests/faults/soak.py, the same one tests/faults/test_worker_faults.py asserts on). Prints how
long it took, how soon each killed trial ran again, and what was lost or recorded twice
(both must be 0), and writes them as JSON.

    python -m benchmarks.soak [--output benchmarks/results/soak.json]   (from the project root: it imports the scenario from tests/)
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from sweepctl.embedded import EmbeddedRedis
from sweepctl.records import TrialState
from sweepctl.settings import RedisSettings
from sweepctl.store import Store
from tests.faults.soak import SOAK_TRIALS, SOAK_WORKERS, SoakRun, restartable, run_soak
from tests.support.processes import Processes, child_env
from tests.system.helpers import read_run_log


def figures(store: Store, soak: SoakRun) -> dict[str, Any]:
    """The run's figures, read back from the store while its Redis is still up."""
    trials = store.get_trials(soak.sweep_id)
    finished = store.finished_numbers(soak.sweep_id)
    ends = Counter(r["number"] for r in read_run_log(soak.run_log, "end"))
    recovery = sorted(
        started - at
        for at, _, number in soak.kills
        if (started := store.get_trial(soak.sweep_id, number).started_at) is not None
    )
    return {
        "trials": SOAK_TRIALS,
        "workers": SOAK_WORKERS,
        "worker_kills": len(soak.kills),
        "missed_draws": soak.missed,
        "redis_restarts": 1,
        "seconds": round(soak.elapsed, 1),
        "lost": sum(1 for t in trials if t.state is TrialState.LOST),
        "duplicated_results": len(finished) - len(set(finished)),
        "runs": len(read_run_log(soak.run_log)),
        "completed_runs_beyond_one_per_trial": sum(ends.values()) - SOAK_TRIALS,
        "recovery_seconds_median": round(recovery[len(recovery) // 2], 2) if recovery else None,
        "recovery_seconds_max": round(recovery[-1], 2) if recovery else None,
        "rejections": store.rejections(soak.sweep_id),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/soak.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sweepctl-soak-") as folder:
        workdir = Path(folder)
        server = EmbeddedRedis(data_dir=workdir / "redis", password="soak-secret").start()
        procs = Processes(child_env({"SWEEPCTL_REDIS_URL": server.url}), cwd=workdir)
        try:
            store = Store.connect(RedisSettings.from_url(server.url))
            with restartable(server) as redis:
                result = figures(store, run_soak(workdir, procs, store, redis))
        finally:
            procs.close()
            server.kill()
    print(json.dumps(result, indent=2))
    args.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
