"""The telemetry side of the Redis store: GPU samples in, and the exporter's snapshot out.

Writes come from workers (GPU samples, with a TTL so a dead worker's GPUs
disappear) and the controller (suggestion latencies). The exporter only reads,
in a fixed number of pipelined round trips per scrape: its cost grows with
sweeps, GPUs and running trials, never with finished trials. `read_memory`
tells how close Redis is to its `maxmemory` (one INFO call: the ACL user needs
`+info`, see deploy/redis/redis.conf).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sweepctl import codec, keys
from sweepctl.buckets import SUGGESTION_BUCKETS, bucket_index
from sweepctl.records import GpuSample, Sweep, TrialState
from sweepctl.store import Store

WORKER_UP_SECONDS = 15.0  # three missed heartbeats
FORGET_WORKERS_AFTER = 3600.0  # a dead worker slot stops being reported after this long
# Free memory under `maxmemory` below which Redis refuses writes (see RedisMemory.full);
# the SweepctlRedisOutOfMemory alert in deploy/prometheus/rules/sweepctl.yml uses the same number.
FULL_HEADROOM_BYTES = 64 * 1024


@dataclass(frozen=True)
class SweepTelemetry:
    sweep: Sweep
    counts: dict[TrialState, int]
    stats: dict[str, float]
    best: float | None
    running: tuple[tuple[int, float | None], ...]  # (trial number, last value of the sweep's metric)
    created: int


@dataclass(frozen=True)
class WorkerBeat:
    host: str
    slot: str
    age: float


@dataclass(frozen=True)
class Snapshot:
    """Everything one scrape publishes."""

    time: float
    sweeps: tuple[SweepTelemetry, ...]
    live_sweeps: int
    gpus: tuple[GpuSample, ...]
    workers: tuple[WorkerBeat, ...]
    host_trials: dict[tuple[str, str], int]
    controllers_alive: int


@dataclass(frozen=True)
class RedisMemory:
    """Redis' memory as its own `maxmemory` check counts it.

    `used_bytes` leaves out what Redis does not count against the limit (replica
    output buffers and the AOF buffer: INFO's `mem_not_counted_for_evict`), the way
    its OOM check does (evict.c, getMaxmemoryState). `max_bytes` is 0 when there is
    no limit.
    """

    used_bytes: int
    max_bytes: int

    @property
    def full(self) -> bool:
        """True while Redis refuses writes, as far as a reading between commands can tell.

        With `noeviction`, Redis refuses a command that may add data when its memory
        *while reading that command* is over the limit. That memory holds the writer's
        query buffer (16 KiB and more) and the command's arguments, which are freed
        again after it, so a Redis that refuses writes reads up to a few tens of KiB
        below its limit in between: anything within FULL_HEADROOM_BYTES counts as full.
        """
        return self.max_bytes > 0 and self.used_bytes > self.max_bytes - FULL_HEADROOM_BYTES

    @property
    def ratio(self) -> float:
        """Used memory as a share of the limit (about 1.0 when full); 0.0 without a limit."""
        return self.used_bytes / self.max_bytes if self.max_bytes > 0 else 0.0


def read_memory(store: Store) -> RedisMemory:
    """Redis' memory use and limit, in one INFO call (raises redis' errors as the other readers do;
    NoPermissionError when the ACL user lacks `+info`)."""
    info = store.redis.info("memory")
    reported, not_counted = int(info["used_memory"]), int(info.get("mem_not_counted_for_evict", 0))
    return RedisMemory(used_bytes=max(0, reported - not_counted), max_bytes=int(info.get("maxmemory", 0)))


def publish_gpu_sample(store: Store, sample: GpuSample, ttl: float) -> None:
    """The latest sample of a GPU, visible for `ttl` seconds unless renewed."""
    key = keys.gpu_key(sample.host, sample.uuid)
    pipe = store.redis.pipeline(transaction=False)
    pipe.set(key, json.dumps(dataclasses.asdict(sample)), px=int(ttl * 1000))
    pipe.zadd(keys.GPUS, {keys.gpu_member(sample.host, sample.uuid): time.time() + ttl})
    pipe.zremrangebyscore(keys.GPUS, "-inf", time.time() - ttl)
    pipe.execute()


def record_suggestions(store: Store, sweep_id: str, latencies: Sequence[float]) -> None:
    """Count suggestions' latencies into the sweep's histogram, in one round trip."""
    if not latencies:
        return
    stats = keys.stats_key(sweep_id)
    pipe = store.redis.pipeline(transaction=False)
    for bucket, count in Counter(bucket_index(s, SUGGESTION_BUCKETS) for s in latencies).items():
        pipe.hincrby(stats, f"suggest_b{bucket}", count)
    pipe.hincrby(stats, "suggest_count", len(latencies))
    pipe.hincrbyfloat(stats, "suggest_sum", sum(latencies))
    pipe.execute()


def read_snapshot(store: Store, keep_finished: float, now: float | None = None) -> Snapshot:
    """What the exporter publishes: live sweeps and those ended within `keep_finished` seconds."""
    r = store.redis
    now = time.time() if now is None else now
    pipe = r.pipeline(transaction=False)
    pipe.zrange(keys.SWEEPS, 0, -1)
    pipe.scard(keys.LIVE_SWEEPS)
    pipe.zrangebyscore(keys.GPUS, now, "+inf")
    pipe.zrangebyscore(keys.WORKERS, now - FORGET_WORKERS_AFTER, "+inf", withscores=True)
    pipe.hgetall(keys.HOST_TRIALS)
    pipe.zcount(keys.CONTROLLERS, now - WORKER_UP_SECONDS, "+inf")
    sweep_ids, live, gpu_members, beats, host_trials, controllers = pipe.execute()

    pipe = r.pipeline(transaction=False)
    for member in gpu_members:
        host, uuid = member.split("|", 1)
        pipe.get(keys.gpu_key(host, uuid))
    for sid in sweep_ids:
        pipe.hgetall(keys.sweep_key(sid))
        pipe.hgetall(keys.counts_key(sid))
        pipe.hgetall(keys.stats_key(sid))
        pipe.smembers(keys.active_key(sid))
        pipe.zcard(keys.trials_key(sid))
    results = pipe.execute()
    gpus = tuple(GpuSample(**json.loads(raw)) for raw in results[: len(gpu_members)] if raw)
    rest = results[len(gpu_members) :]

    kept: list[tuple[Sweep, dict[str, str], dict[str, str], list[int], int]] = []
    for i, sid in enumerate(sweep_ids):
        raw_sweep, counts, stats, active, created = rest[5 * i : 5 * i + 5]
        if not raw_sweep:
            continue
        sweep = codec.decode_sweep(raw_sweep)
        if sweep.state.is_terminal and not active and (sweep.ended_at or sweep.created_at) < now - keep_finished:
            continue  # finished sweeps age out of the exporter
        kept.append((sweep, counts, stats, sorted(int(n) for n in active), int(created)))

    # Second round trip: best objectives and the last metric of running trials.
    pipe = r.pipeline(transaction=False)
    for sweep, _, _, active, _ in kept:
        desc = sweep.raw_spec.get("metric", {}).get("goal", "minimize") == "maximize"
        pipe.zrange(keys.objective_key(sweep.id), 0, 0, withscores=True, desc=desc)
        for n in active:
            pipe.hmget(keys.trial_key(sweep.id, n), ["state", "last_metrics"])
    found = pipe.execute()
    sweeps, cursor = [], 0
    for sweep, counts, stats, active, created in kept:
        best = found[cursor]
        cursor += 1
        metric = sweep.raw_spec.get("metric", {}).get("name", "")
        running = []
        for n in active:
            state, last = found[cursor]
            cursor += 1
            if state and json.loads(state) == TrialState.RUNNING.value:
                values = codec.decode_values(json.loads(last)) if last else {}
                running.append((n, values.get(metric)))
        sweeps.append(
            SweepTelemetry(
                sweep=sweep,
                counts={s: int(counts.get(s.value, 0)) for s in TrialState},
                stats={k: float(v) for k, v in stats.items()},
                best=float(best[0][1]) if best else None,
                running=tuple(running),
                created=created,
            )
        )
    workers: dict[tuple[str, str], float] = {}
    for worker_id, beat in beats:
        host, slot = _host_slot(worker_id)
        workers[(host, slot)] = max(workers.get((host, slot), 0.0), float(beat))
    return Snapshot(
        time=now,
        sweeps=tuple(sweeps),
        live_sweeps=int(live),
        gpus=gpus,
        workers=tuple(WorkerBeat(host, slot, max(0.0, now - beat)) for (host, slot), beat in sorted(workers.items())),
        host_trials={tuple(k.split("\t", 1)): int(v) for k, v in host_trials.items()},  # type: ignore[misc]
        controllers_alive=int(controllers),
    )


def _host_slot(worker_id: str) -> tuple[str, str]:
    """Worker ids are host/slot/pid; the pid changes on restart, the slot does not."""
    parts = worker_id.split("/")
    return (parts[0], parts[1]) if len(parts) >= 2 else (worker_id, "")
