"""The Redis store: the only package that talks to Redis.

Keys and the string formats stored in them are built and parsed in `keys.py`;
atomic transitions are the Lua scripts of `lua/` (`scripts.py` loads them by name);
Redis' errors become ours (`failures.py`): every public method of Store raises
StoreUnavailable when Redis cannot take a command just now (unreachable, frozen,
loading, or out of memory), StoreForbidden for a command the ACL refuses, and
StoreError for any other error Redis answers.

Thread safety: a Store wraps one redis-py client, whose connection pool is
thread safe; a Store may be shared between threads of one process.
"""

from __future__ import annotations

from sweepctl.settings import RedisSettings
from sweepctl.store.connection import checked_client
from sweepctl.store.failures import is_out_of_memory, translates_errors
from sweepctl.store.keys import METRICS_MAX, controller_id, worker_id
from sweepctl.store.liveness import Liveness
from sweepctl.store.metric_writes import MetricWrites
from sweepctl.store.outcomes import (
    ALIVE_SECONDS,
    DEFAULT_LEASE_SECONDS,
    MAX_POINT_BYTES,
    WRITE_CHUNK_BYTES,
    WRITE_CHUNK_POINTS,
    ExtendOutcome,
    Outcome,
    Requeue,
    Retried,
    StoreTrouble,
    SweepProgress,
    new_sweep_id,
    params_hash,
    valid_point,
)
from sweepctl.store.removal import DROP_BATCH, WRITE_BATCH, SweepRemoval
from sweepctl.store.sweeps import SpecSummary, SweepRecords
from sweepctl.store.telemetry import (
    FULL_HEADROOM_BYTES,
    FiguresWanted,
    RedisMemory,
    SweepCounters,
    SweepFigures,
    TelemetryOverview,
    TelemetryRecords,
)
from sweepctl.store.trials import TrialRecords

__all__ = [
    "ALIVE_SECONDS",
    "DEFAULT_LEASE_SECONDS",
    "DROP_BATCH",
    "FULL_HEADROOM_BYTES",
    "MAX_POINT_BYTES",
    "METRICS_MAX",
    "WRITE_CHUNK_BYTES",
    "WRITE_BATCH",
    "WRITE_CHUNK_POINTS",
    "ExtendOutcome",
    "FiguresWanted",
    "Outcome",
    "RedisMemory",
    "Requeue",
    "Retried",
    "SpecSummary",
    "Store",
    "StoreTrouble",
    "SweepCounters",
    "SweepFigures",
    "SweepProgress",
    "TelemetryOverview",
    "controller_id",
    "is_out_of_memory",
    "new_sweep_id",
    "params_hash",
    "valid_point",
    "worker_id",
]


@translates_errors
class Store(SweepRecords, TrialRecords, MetricWrites, Liveness, TelemetryRecords, SweepRemoval):
    """Sweeps, trials, metric histories, heartbeats and telemetry in Redis, and their removal (see the parts' modules).

    `redis` is the raw client, for tests and tools that look at Redis itself: it raises Redis' own errors.
    """

    @classmethod
    def connect(cls, settings: RedisSettings) -> Store:
        """A store for `settings`, checked with a PING so a bad URL or password fails here, clearly (StoreError).

        Results wait for the replicas the URL asks for (`RedisSettings`, `ReplicaWait`)."""
        return cls(checked_client(settings), settings.parsed.replica_wait)
