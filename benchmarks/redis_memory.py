"""Redis memory a sweep takes and `sweepctl delete` returns, and how long a delete holds Redis.

Fills a private redis-server with one ended sweep of N trials with M metric points each, written as
workers write them (create, claim, one progress write of M points, finish), reads INFO memory
(`used_memory`) before (after a warm-up), after the fill and after the delete (once lazy freeing is done), and prints
bytes per trial and bytes returned. The delete is the product's (`sweepctl.removal.delete_sweep`:
batches of 200 trials, UNLINK), side by side with a peer: the same sweep removed by one DEL of all its
keys. A thread PINGs Redis throughout each; the longest PING is how long the delete held Redis from
every other client. The archive the delete writes first (.json.gz) is timed and sized, and restored.

    python benchmarks/redis_memory.py [--trials 1000,10000] [--points 100]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sweepctl import removal
from sweepctl.embedded import EmbeddedRedis
from sweepctl.records import MetricPoint, Sweep, SweepState, Trial, TrialState
from sweepctl.settings import RedisSettings
from sweepctl.store import Outcome, Store, keys

SPEC = {
    "method": "random",
    "metric": {"name": "loss", "goal": "minimize"},
    "program": "train.py",
    "parameters": {"lr": {"min": 1e-5, "max": 1e-1, "distribution": "log_uniform_values"}, "layers": {"values": [2, 4, 8]}},
}


@dataclass(frozen=True)
class Row:
    trials: int
    points: int
    added: int  # bytes of used_memory the sweep added
    returned: int  # bytes of used_memory the product's delete gave back
    delete_seconds: float
    delete_stall: float  # longest PING during the product's delete
    peer_seconds: float
    peer_stall: float  # longest PING during one DEL of every key
    archive_bytes: int
    archive_seconds: float
    restore_seconds: float


def fill(store: Store, sweep_id: str, trials: int, points: int) -> None:
    """An ended sweep of `trials` completed trials, each with `points` metric points, written as a worker writes them."""
    store.create_sweep(Sweep(id=sweep_id, raw_spec=SPEC, state=SweepState.RUNNING, seed=1, created_at=time.time()))
    for n in range(1, trials + 1):
        params = {"lr": 10 ** -(1 + (n * 7919 % 4000) / 1000), "layers": [2, 4, 8][n % 3]}
        trial = Trial(sweep_id=sweep_id, number=n, state=TrialState.QUEUED, params=params, seed=n, created_at=time.time())
        assert store.create_trial(trial) is Outcome.OK
        assert store.claim_trial(sweep_id, n, 1, worker="host/gpu0/1", host="host") is Outcome.OK
        history = [MetricPoint(time.time(), step, {"loss": 1.0 / (step + 1), "acc": step / points}) for step in range(points)]
        assert store.record_progress(sweep_id, n, 1, history, first_point=0, reports=points) is Outcome.OK
        objective = params["lr"] * params["layers"]
        assert store.finish_trial(sweep_id, n, 1, TrialState.COMPLETED, objective, last_metrics={"loss": 0.01}) is Outcome.OK
    store.transition_sweep(sweep_id, SweepState.FINISHED, [SweepState.RUNNING], reason="benchmark", ended_at=time.time())
    store.retire_sweep(sweep_id)


def settled_memory(store: Store) -> int:
    """used_memory once Redis has freed what UNLINK handed to its background thread."""
    deadline = time.monotonic() + 60
    while int(store.redis.info("memory").get("lazyfree_pending_objects", 0)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return store.redis_memory().used_bytes


def longest_ping(settings: RedisSettings, action: Callable[[], object]) -> tuple[float, float]:
    """(seconds `action` took, longest PING round trip of another client meanwhile)."""
    client = settings.client()
    stop = threading.Event()
    longest = [0.0]

    def ping() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            client.ping()
            longest[0] = max(longest[0], time.perf_counter() - started)
            time.sleep(0.0005)

    pinger = threading.Thread(target=ping)
    pinger.start()
    time.sleep(0.05)
    started = time.perf_counter()
    action()
    took = time.perf_counter() - started
    stop.set()
    pinger.join()
    return took, longest[0]


def one_del(store: Store, sweep_id: str, trials: int) -> None:
    """The peer: every key of the sweep in one DEL (freed synchronously, in one command)."""
    names = [*keys.sweep_keys(sweep_id).values()]
    names += [k for n in range(1, trials + 1) for k in (keys.trial_key(sweep_id, n), keys.metrics_key(sweep_id, n))]
    store.redis.delete(*names)


def measure(store: Store, settings: RedisSettings, folder: Path, trials: int, points: int) -> Row:
    # Warm up: Redis' first script calls allocate ~450 KB that stays (compiled scripts, Lua state), whatever the
    # sweep's size; a sweep of one trial written and deleted first keeps that out of the sweep's figures.
    store.redis.flushall()
    fill(store, "warm-up", 1, points)
    removal.delete_sweep(store, "warm-up")
    store.redis.flushall()
    base = settled_memory(store)
    fill(store, "bench", trials, points)
    full = settled_memory(store)
    path = folder / f"bench-{trials}.json.gz"
    started = time.perf_counter()
    removal.archive_sweep(store, "bench", path)
    archive_seconds = time.perf_counter() - started
    took, stall = longest_ping(settings, lambda: removal.delete_sweep(store, "bench"))
    after = settled_memory(store)
    started = time.perf_counter()
    removal.restore_sweep(store, path)
    restore_seconds = time.perf_counter() - started
    store.redis.flushall()
    settled_memory(store)
    fill(store, "peer", trials, points)
    peer_took, peer_stall = longest_ping(settings, lambda: one_del(store, "peer", trials))
    return Row(
        trials, points, full - base, full - after, took, stall, peer_took, peer_stall, path.stat().st_size, archive_seconds, restore_seconds
    )


def report(rows: list[Row]) -> None:
    print(
        "| trials | points/trial | Redis bytes added | bytes/trial | returned by delete | returned | delete s | longest PING, "
        "delete (batches) | longest PING, one DEL (peer) | stall ratio | archive .json.gz | archive / Redis | archive s | restore s |"
    )
    print("|---" * 14 + "|")
    for r in rows:
        print(
            f"| {r.trials:,} | {r.points} | {r.added:,} | {r.added // r.trials:,} | {r.returned:,} | {r.returned / r.added:.1%} "
            f"| {r.delete_seconds:.2f} | {r.delete_stall * 1000:.1f} ms | {r.peer_stall * 1000:.1f} ms "
            f"| {r.peer_stall / max(r.delete_stall, 1e-6):.1f}x | {r.archive_bytes:,} | {r.archive_bytes / r.added:.3f} "
            f"| {r.archive_seconds:.2f} | {r.restore_seconds:.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", default="1000,10000", help="sweep sizes, comma-separated")
    parser.add_argument("--points", type=int, default=100, help="metric points per trial")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(data_dir=Path(tmp) / "redis") as server:
        settings = RedisSettings.from_url(server.url)
        store = Store.connect(settings)
        for trials in (int(t) for t in args.trials.split(",")):
            rows.append(measure(store, settings, Path(tmp), trials, args.points))
    report(rows)


if __name__ == "__main__":
    main()
