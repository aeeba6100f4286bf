"""Exporter scrape cost with many sweeps, many finished trials and many GPUs.

Fills a private redis-server with S sweeps x T finished trials each (trial
hashes, objective zsets, finished lists, counts and stats, as the store writes
them) and G GPU samples, then times full scrapes through the real collector
(`registry_for(...)` + prometheus_client's text exposition) and counts series.
Runs the sizes side by side in one process and prints the ratios: the series
count must not grow with finished trials, and scrape time should barely move.

    python benchmarks/exporter_scrape.py [--sweeps 100] [--trials 1000,10000] [--gpus 64] [--scrapes 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from prometheus_client import generate_latest

from metrics.exporter import registry_for
from sweepctl import codec
from sweepctl.embedded import EmbeddedRedis
from sweepctl.records import GpuSample, Sweep, SweepState, TrialState
from sweepctl.settings import RedisSettings
from sweepctl.store import Store, keys
from sweepctl.telemetry import publish_gpu_sample


def fill(store: Store, sweeps: int, trials: int, gpus: int) -> None:
    r = store.redis
    r.flushall()
    now = time.time()
    for s in range(sweeps):
        sid = f"s{s:04d}"
        sweep = Sweep(
            id=sid,
            raw_spec={"name": f"sweep-{s}", "method": "tpe", "metric": {"name": "loss", "goal": "minimize"}, "run_cap": trials + 10,
                      "parameters": {"lr": {"min": 0.0, "max": 1.0}}, "program": "train.py"},
            state=SweepState.RUNNING,
            seed=s,
            created_at=now - 3600,
        )
        store.create_sweep(sweep)
        pipe = r.pipeline(transaction=False)
        for n in range(1, trials + 1):
            loss = ((n * 7919) % 1000) / 1000
            pipe.hset(keys.trial_key(sid, n), mapping=codec.encode_fields(
                {"sweep_id": sid, "number": n, "state": TrialState.COMPLETED, "params": {"lr": loss}, "seed": n, "attempt": 1,
                 "objective": loss, "started_at": now - 60, "ended_at": now - 30, "host": f"host{n % 8}"}))
            if n % 2000 == 0:
                pipe.execute()
        pipe.zadd(keys.trials_key(sid), {str(n): n for n in range(1, trials + 1)})
        pipe.zadd(keys.objective_key(sid), {str(n): ((n * 7919) % 1000) / 1000 for n in range(1, trials + 1)})
        pipe.rpush(keys.finished_key(sid), *range(1, trials + 1))
        pipe.hset(keys.counts_key(sid), mapping={"completed": trials})
        pipe.hset(keys.stats_key(sid), mapping={"duration_b4": trials, "duration_count": trials, "duration_sum": 30.0 * trials,
                                                "last_finish": now, "gpu_seconds": 30.0 * trials})
        pipe.execute()
    for g in range(gpus):
        host = f"host{g // 8}"
        publish_gpu_sample(
            store,
            GpuSample(
                host=host,
                index=g % 8,
                uuid=f"GPU-{g:08d}",
                name="NVIDIA H100 80GB HBM3",
                pci_bus_id=f"00000000:{g % 8:02X}:00.0",
                time=now,
                util_percent=90.0,
                fb_used_mib=1000.0,
                fb_free_mib=80000.0,
                temp_c=60.0,
                sweep=f"s{g % sweeps:04d}",
                trial=1,
                worker=f"{host}/gpu{g % 8}/1",
            ),
            ttl=3600,
        )
    for h in range(gpus // 8 or 1):
        for slot in range(8):
            store.heartbeat_worker(f"host{h}/gpu{slot}/{100 + slot}", {"host": f"host{h}"})


def measure(store: Store, scrapes: int) -> tuple[float, float, int, int]:
    registry = registry_for(store, keep_finished_seconds=86400)
    times, body = [], b""
    for _ in range(scrapes):
        began = time.perf_counter()
        body = generate_latest(registry)
        times.append(time.perf_counter() - began)
    series = sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
    return statistics.median(times), max(times), series, len(body)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sweeps", type=int, default=100)
    parser.add_argument("--trials", default="1000,10000", help="finished trials per sweep, comma-separated sizes")
    parser.add_argument("--gpus", type=int, default=64)
    parser.add_argument("--scrapes", type=int, default=20)
    args = parser.parse_args()
    sizes = [int(t) for t in args.trials.split(",")]
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(data_dir=Path(tmp)) as server:
        store = Store.connect(RedisSettings.from_url(server.url))
        store.redis.config_set("appendonly", "no")  # filling, not durability, is measured here
        rows = []
        for trials in sizes:
            began = time.perf_counter()
            fill(store, args.sweeps, trials, args.gpus)
            filled = time.perf_counter() - began
            median, worst, series, size = measure(store, args.scrapes)
            memory = store.redis.info("memory")["used_memory"]
            rows.append({"sweeps": args.sweeps, "finished_trials_per_sweep": trials, "gpus": args.gpus, "fill_seconds": round(filled, 1),
                         "redis_mib": round(memory / 2**20), "scrape_median_ms": round(median * 1000, 1),
                         "scrape_max_ms": round(worst * 1000, 1), "series": series, "bytes": size})
            print(json.dumps(rows[-1]), flush=True)
        base = rows[0]
        for row in rows[1:]:
            print(
                f"{row['finished_trials_per_sweep']} vs {base['finished_trials_per_sweep']} trials/sweep: "
                f"series x{row['series'] / base['series']:.2f}, scrape time x{row['scrape_median_ms'] / base['scrape_median_ms']:.2f}"
            )


if __name__ == "__main__":
    main()
