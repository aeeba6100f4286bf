"""What the exporter publishes, read from the store: GPU samples in, one snapshot per scrape out.

Writes come from workers (GPU samples, with a TTL so a dead worker's GPUs
disappear) and the controller (suggestion latencies). The exporter only reads,
in three pipelined round trips per scrape (see `sweepctl.store.telemetry`): its
cost grows with sweeps, GPUs and running trials, never with finished trials.
`read_memory` tells how close Redis is to its `maxmemory`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from sweepctl.records import GpuSample, Sweep, TrialState
from sweepctl.store import (
    FULL_HEADROOM_BYTES,
    FiguresWanted,
    RedisMemory,
    SpecSummary,
    Store,
    SweepCounters,
    SweepFigures,
    TelemetryOverview,
)

__all__ = ["FULL_HEADROOM_BYTES", "RedisMemory", "SweepTelemetry", "TelemetrySnapshot", "WorkerBeat", "read_memory", "read_snapshot"]

WORKER_UP_SECONDS = 15.0  # three missed heartbeats
FORGET_WORKERS_AFTER = 3600.0  # a dead worker slot stops being reported after this long


@dataclass(frozen=True)
class SweepTelemetry:
    sweep: Sweep
    summary: SpecSummary  # what the sweep's file names: metric, goal, method, budget
    counts: dict[TrialState, int]
    stats: dict[str, float]
    best: float | None
    running: tuple[tuple[int, float | None], ...]  # (trial number, last value of the sweep's metric)
    created: int
    finished: int = 0  # final states recorded, ever (a counter: a retried trial does not take its earlier end back)


@dataclass(frozen=True)
class WorkerBeat:
    host: str
    slot: str
    age: float


@dataclass(frozen=True)
class TelemetrySnapshot:
    """Everything one scrape publishes."""

    time: float
    sweeps: tuple[SweepTelemetry, ...]
    live_sweeps: int
    gpus: tuple[GpuSample, ...]
    workers: tuple[WorkerBeat, ...]
    host_trials: dict[tuple[str, str], int]
    controllers_alive: int


def read_memory(store: Store) -> RedisMemory:
    """Redis' memory use and limit, in one INFO call (raises the store's errors as the other readers do;
    StoreForbidden when the ACL user lacks `+info`)."""
    return store.redis_memory()


def publish_gpu_sample(store: Store, sample: GpuSample, ttl: float) -> None:
    """The latest sample of a GPU, visible for `ttl` seconds unless renewed."""
    store.publish_gpu_sample(sample, ttl)


def record_suggestions(store: Store, sweep_id: str, latencies: Sequence[float]) -> None:
    """Count suggestions' latencies into the sweep's histogram, in one round trip."""
    store.record_suggestions(sweep_id, latencies)


def read_snapshot(store: Store, keep_finished: float, now: float | None = None) -> TelemetrySnapshot:
    """What the exporter publishes: live sweeps and those ended within `keep_finished` seconds."""
    now = time.time() if now is None else now
    overview = store.telemetry_overview(now, now - FORGET_WORKERS_AFTER, now - WORKER_UP_SECONDS)
    gpus, counters = store.telemetry_details(overview)
    kept = [c for c in counters if published(c, now, keep_finished)]
    return TelemetrySnapshot(
        time=now,
        sweeps=_with_figures(store, kept),
        live_sweeps=overview.live_sweeps,
        gpus=gpus,
        workers=worker_beats(overview, now),
        host_trials=overview.host_trials,
        controllers_alive=overview.controllers_alive,
    )


def published(counters: SweepCounters, now: float, keep_finished: float) -> bool:
    """Whether a sweep is still published: finished sweeps age out of the exporter after `keep_finished` seconds."""
    sweep = counters.sweep
    return not (sweep.state.is_terminal and not counters.active and (sweep.ended_at or sweep.created_at) < now - keep_finished)


def _with_figures(store: Store, kept: Sequence[SweepCounters]) -> tuple[SweepTelemetry, ...]:
    """The kept sweeps with their best objectives and running trials' last metric (one more round trip)."""
    summaries = [store.spec_summary(c.sweep) for c in kept]
    wanted = [FiguresWanted(c.sweep.id, s.goal, s.metric, c.active) for c, s in zip(kept, summaries)]
    return tuple(_telemetry(c, s, f) for c, s, f in zip(kept, summaries, store.sweep_figures(wanted)))


def _telemetry(counters: SweepCounters, summary: SpecSummary, figures: SweepFigures) -> SweepTelemetry:
    return SweepTelemetry(
        sweep=counters.sweep,
        summary=summary,
        counts=counters.counts,
        stats=counters.stats,
        best=figures.best,
        running=figures.running,
        created=counters.created,
        finished=counters.finished,
    )


def worker_beats(overview: TelemetryOverview, now: float) -> tuple[WorkerBeat, ...]:
    """One beat per worker slot (host, slot): the latest of its processes', as an age, sorted by slot."""
    latest: dict[tuple[str, str], float] = {}
    for host, slot, beat in overview.worker_beats:
        latest[(host, slot)] = max(latest.get((host, slot), 0.0), beat)
    return tuple(WorkerBeat(host, slot, max(0.0, now - beat)) for (host, slot), beat in sorted(latest.items()))
