"""The telemetry side of the store: GPU samples and suggestion latencies in, the exporter's readings out.

The exporter's reading of a scrape takes three pipelined round trips
(`telemetry_overview`, `telemetry_details`, `sweep_figures`, in that order): its
cost grows with sweeps, GPUs and running trials, never with finished trials.
`redis_memory` is one INFO call (the ACL user needs `+info`, see deploy/redis/redis.conf).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sweepctl import codec
from sweepctl.buckets import SUGGESTION_BUCKETS, bucket_index
from sweepctl.records import GpuSample, Sweep, TrialState
from sweepctl.spec import Goal
from sweepctl.store import keys
from sweepctl.store.base import StoreBase

# Free memory under `maxmemory` below which Redis refuses writes (see RedisMemory.full);
# the SweepctlRedisOutOfMemory alert in deploy/prometheus/rules/sweepctl.yml uses the same number.
FULL_HEADROOM_BYTES = 64 * 1024


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


@dataclass(frozen=True)
class TelemetryOverview:
    """The first round trip of a scrape: what exists, and who beat when."""

    sweep_ids: tuple[str, ...]
    live_sweeps: int
    gpus: tuple[tuple[str, str], ...]  # (host, uuid) of GPUs with a fresh sample
    worker_beats: tuple[tuple[str, str, float], ...]  # (host, slot, last beat) of each worker id seen
    host_trials: dict[tuple[str, str], int]  # (host, final state) -> trials
    controllers_alive: int


@dataclass(frozen=True)
class SweepCounters:
    """One sweep's record and counters, as the second round trip reads them."""

    sweep: Sweep
    counts: dict[TrialState, int]
    stats: dict[str, float]
    active: tuple[int, ...]  # queued or running, ascending
    created: int
    finished: int = 0  # final states recorded, ever: a trial `retry` ran again once per attempt that ended


@dataclass(frozen=True)
class FiguresWanted:
    """What the third round trip reads of a sweep: its best objective and its running trials' last metric."""

    sweep_id: str
    goal: Goal
    metric: str
    active: tuple[int, ...]


@dataclass(frozen=True)
class SweepFigures:
    best: float | None
    running: tuple[tuple[int, float | None], ...]  # (trial number, last value of the sweep's metric)


class TelemetryRecords(StoreBase):
    """GPU samples, suggestion latencies, Redis' memory, and the exporter's three reads."""

    def redis_memory(self) -> RedisMemory:
        """Redis' memory use and limit, in one INFO call (StoreForbidden when the ACL user lacks `+info`)."""
        info = self.redis.info("memory")
        reported, not_counted = int(info["used_memory"]), int(info.get("mem_not_counted_for_evict", 0))
        return RedisMemory(used_bytes=max(0, reported - not_counted), max_bytes=int(info.get("maxmemory", 0)))

    def publish_gpu_sample(self, sample: GpuSample, ttl: float) -> None:
        """The latest sample of a GPU, visible for `ttl` seconds unless renewed."""
        key = keys.gpu_key(sample.host, sample.uuid)
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(key, json.dumps(dataclasses.asdict(sample)), px=int(ttl * 1000))
        pipe.zadd(keys.GPUS, {keys.gpu_member(sample.host, sample.uuid): time.time() + ttl})
        pipe.zremrangebyscore(keys.GPUS, "-inf", time.time() - ttl)
        pipe.execute()

    def record_suggestions(self, sweep_id: str, latencies: Sequence[float]) -> None:
        """Count suggestions' latencies into the sweep's histogram, in one round trip (nothing once the sweep is deleted)."""
        if not latencies:
            return
        increments: list[str] = []
        for bucket, count in Counter(bucket_index(s, SUGGESTION_BUCKETS) for s in latencies).items():
            increments += [f"suggest_b{bucket}", str(count)]
        increments += ["suggest_count", str(len(latencies)), "suggest_sum", repr(float(sum(latencies)))]
        self._scripts.add_to_counters(sweep=keys.sweep_key(sweep_id), counters=keys.stats_key(sweep_id), rest=increments)

    def telemetry_overview(self, now: float, workers_since: float, controllers_since: float) -> TelemetryOverview:
        """Sweeps, fresh GPUs, workers seen since `workers_since`, per-host trials, controllers alive since `controllers_since`."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.zrange(keys.SWEEPS, 0, -1)
        pipe.scard(keys.LIVE_SWEEPS)
        pipe.zrangebyscore(keys.GPUS, now, "+inf")
        pipe.zrangebyscore(keys.WORKERS, workers_since, "+inf", withscores=True)
        pipe.hgetall(keys.HOST_TRIALS)
        pipe.zcount(keys.CONTROLLERS, controllers_since, "+inf")
        sweep_ids, live, gpu_members, beats, host_trials, controllers = pipe.execute()
        return TelemetryOverview(
            sweep_ids=tuple(sweep_ids),
            live_sweeps=int(live),
            gpus=tuple(keys.parse_gpu_member(m) for m in gpu_members),
            worker_beats=tuple((*keys.parse_worker_id(w), float(beat)) for w, beat in beats),
            host_trials={keys.parse_host_trials_field(k): int(v) for k, v in host_trials.items()},
            controllers_alive=int(controllers),
        )

    def telemetry_details(self, overview: TelemetryOverview) -> tuple[tuple[GpuSample, ...], list[SweepCounters]]:
        """The overview's GPU samples and each sweep's record and counters (sweeps gone meanwhile left out)."""
        pipe = self.redis.pipeline(transaction=False)
        for host, uuid in overview.gpus:
            pipe.get(keys.gpu_key(host, uuid))
        for sid in overview.sweep_ids:
            pipe.hgetall(keys.sweep_key(sid))
            pipe.hgetall(keys.counts_key(sid))
            pipe.hgetall(keys.stats_key(sid))
            pipe.smembers(keys.active_key(sid))
            pipe.zcard(keys.trials_key(sid))
            pipe.llen(keys.finished_key(sid))
        results = pipe.execute()
        gpus = tuple(GpuSample(**json.loads(raw)) for raw in results[: len(overview.gpus)] if raw)
        rest = results[len(overview.gpus) :]
        sweeps = []
        for i in range(len(overview.sweep_ids)):
            raw_sweep, counts, stats, active, created, finished = rest[6 * i : 6 * i + 6]
            if raw_sweep:
                sweeps.append(
                    SweepCounters(
                        sweep=codec.decode_sweep(raw_sweep),
                        counts={s: int(counts.get(s.value, 0)) for s in TrialState},
                        stats={k: float(v) for k, v in stats.items()},
                        active=tuple(sorted(int(n) for n in active)),
                        created=int(created),
                        finished=int(finished),
                    )
                )
        return gpus, sweeps

    def sweep_figures(self, wanted: Sequence[FiguresWanted]) -> list[SweepFigures]:
        """Each sweep's best objective and the last value of its metric in its running trials, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for w in wanted:
            pipe.zrange(keys.objective_key(w.sweep_id), 0, 0, withscores=True, desc=w.goal is Goal.MAXIMIZE)
            for n in w.active:
                pipe.hmget(keys.trial_key(w.sweep_id, n), ["state", "last_metrics"])
        found = iter(pipe.execute())
        figures = []
        for w in wanted:
            best = next(found)
            running = []
            for n in w.active:
                state, last = next(found)
                if state and json.loads(state) == TrialState.RUNNING.value:
                    values = codec.decode_values(json.loads(last)) if last else {}
                    running.append((n, values.get(w.metric)))
            figures.append(SweepFigures(best=float(best[0][1]) if best else None, running=tuple(running)))
        return figures
