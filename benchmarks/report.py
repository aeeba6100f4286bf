"""The report for a sweep of 10,000 trials: written in under 15 s and under 20 MB.

Fills a private redis-server through Store methods (sweep, trials created, claimed, finished with 20-point
learning curves; some stopped early, some failed) across 16 workers, then times `sweepctl report`'s path:
reading the sweep from the store and rendering the page, and writes it to a file.

    python benchmarks/report.py [--trials 10000] [--parameters 8] [--output /tmp/report-10k.html]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from sweepctl.cli.report import write_atomically
from sweepctl.embedded import EmbeddedRedis
from sweepctl.pages.load import sweep_view
from sweepctl.pages.sweep_page import render_sweep_page
from sweepctl.records import CodeVersion, GpuRef, MetricPoint, Sweep, SweepState, Trial, TrialState
from sweepctl.settings import RedisSettings
from sweepctl.store import Store

LIMIT_SECONDS, LIMIT_MIB = 15.0, 20.0


def fill(store: Store, trials: int, parameters: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    names = [f"p{i}" for i in range(parameters)]
    spec = {"name": "bench", "method": "random", "metric": {"name": "loss", "goal": "minimize"}, "run_cap": trials,
            "program": "train.py", "parameters": {**{n: {"min": 0.0, "max": 1.0} for n in names}, "opt": {"values": ["adam", "sgd"]}}}
    now = time.time()
    sweep = Sweep(id="bench", raw_spec=spec, state=SweepState.RUNNING, seed=seed, created_at=now - trials * 2)
    store.create_sweep(sweep)
    for n in range(1, trials + 1):
        params = {**{k: rng.random() for k in names}, "opt": rng.choice(["adam", "sgd"])}
        loss = sum((params[k] - 0.3) ** 2 for k in names) + (0.1 if params["opt"] == "sgd" else 0.0)
        start = sweep.created_at + n * 2 + rng.random()
        trial = Trial(sweep_id="bench", number=n, state=TrialState.QUEUED, params=params, seed=n, created_at=start - 1)
        store.create_trial(trial)
        worker = f"host{n % 4}/gpu{n % 4}/{n % 16}"
        store.claim_trial("bench", n, 1, lease_seconds=600, worker=worker)
        fate = rng.random()
        steps = 5 if fate < 0.2 else 20
        points = [MetricPoint(start + s, s, {"loss": loss + 1 / s}) for s in range(1, steps + 1)]
        common = {"started_at": start, "ended_at": start + 1.5 + rng.random(), "worker": worker, "host": f"host{n % 4}",
                  "gpu": GpuRef(n % 4, f"GPU-{n % 4}", "NVIDIA H100"), "argv": ["python", "train.py", f"--p0={params['p0']}"],
                  "code": CodeVersion("/src", "abc123", False), "data": {"train.csv": "sha256:feed"}, "last_metrics": {"loss": loss}}
        if fate < 0.2:
            store.finish_trial("bench", n, 1, TrialState.STOPPED, None, points=points, error="stopped early at step 5", **common)
        elif fate < 0.23:
            store.finish_trial("bench", n, 1, TrialState.FAILED, None, points=points[:2], error="CUDA out of memory", **common)
        else:
            store.finish_trial("bench", n, 1, TrialState.COMPLETED, loss, points=points, **common)
    return sweep.id


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--parameters", type=int, default=8)
    parser.add_argument("--output", default=str(Path(tempfile.gettempdir()) / "sweepctl-report-bench.html"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(data_dir=Path(tmp)) as server:
        store = Store.connect(RedisSettings.from_url(server.url))
        store.redis.config_set("appendonly", "no")  # filling, not durability, is measured here
        began = time.perf_counter()
        sweep_id = fill(store, args.trials, args.parameters)
        filled = time.perf_counter() - began
        began = time.perf_counter()
        view = sweep_view(store, sweep_id, time.time())
        read = time.perf_counter() - began
        page = render_sweep_page(view)
        write_atomically(Path(args.output), page)
        total = time.perf_counter() - began
    mib = Path(args.output).stat().st_size / 2**20
    figures = {"trials": args.trials, "parameters": args.parameters + 1, "fill_seconds": round(filled, 1), "read_seconds": round(read, 2),
               "report_seconds": round(total, 2), "report_mib": round(mib, 2), "output": args.output}
    print(json.dumps(figures))
    verdict = "within" if total < LIMIT_SECONDS and mib < LIMIT_MIB else "OVER"
    print(f"report of {args.trials} trials: {total:.2f} s, {mib:.2f} MiB ({verdict} the {LIMIT_SECONDS:.0f} s / {LIMIT_MIB:.0f} MB bar)")


if __name__ == "__main__":
    main()
