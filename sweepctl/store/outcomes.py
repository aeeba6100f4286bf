"""The store's plain answers and limits: what a fenced transition did, a sweep's progress, a parameter set's identity."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from sweepctl.protocol import MAX_METRICS_PER_REPORT, metric_name_problem
from sweepctl.records import MetricPoint, SweepState, TrialState
from sweepctl.settings import DEFAULT_LEASE_SECONDS as DEFAULT_LEASE_SECONDS  # the store's leases
from sweepctl.store.failures import is_out_of_memory

_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
# Workers and controllers beat every 5 s: one silent for three beats is not alive (`status`, `submit --wait`).
ALIVE_SECONDS = 15.0
# One metric point, encoded. Above what any report the protocol accepts encodes to, so that no
# accepted report is refused here: its names, escaped as the codec writes them, fit MAX_REPORT_CHARS
# (4 KiB); 100 values of at most 24 characters and a step of at most 309 digits add under 3 KiB.
MAX_POINT_BYTES = 16_384
# A write of metric points is split into atomic steps of at most this many points and bytes, so that
# no volume of reports makes one script call too large to run (Lua's unpack, argument buffers).
WRITE_CHUNK_POINTS = 1000
WRITE_CHUNK_BYTES = 1 << 20


class StoreTrouble(str, Enum):
    """Why Redis is not taking writes just now (what a StoreUnavailable says)."""

    UNAVAILABLE = "unavailable"  # unreachable, frozen past the socket timeout, or loading
    OUT_OF_MEMORY = "out of memory"  # at maxmemory under noeviction: reads work, writes are refused

    @classmethod
    def of(cls, exc: BaseException) -> StoreTrouble:
        return cls.OUT_OF_MEMORY if is_out_of_memory(exc) else cls.UNAVAILABLE


class Outcome(str, Enum):
    """What a fenced trial transition did. Anything but OK left the store unchanged."""

    OK = "ok"
    UNKNOWN = "unknown"  # no such trial
    STALE = "stale"  # the attempt is not the trial's current one
    NOT_QUEUED = "not_queued"  # claim of a trial already claimed or finished
    NOT_RUNNING = "not_running"  # progress or lease renewal for a trial that is not running (or not ours)
    CANCELLED = "cancelled"  # claim in a cancelled sweep
    PAUSED = "paused"  # claim in a paused sweep: the trial stays queued, held for the controller to send again on resume
    ALREADY_FINISHED = "already_finished"
    EXISTS = "exists"  # create of a number already taken
    DUPLICATE = "duplicate"  # create of a parameter set the sweep already has
    INVALID = "invalid"  # a metric payload that breaks the rules (names, numbers, size): nothing written
    SWEEP_NOT_RUNNING = "sweep_not_running"


class Requeue(str, Enum):
    """What taking a running trial back from its attempt did."""

    REQUEUED = "requeued"  # queued again as attempt+1: send it
    LOST = "lost"  # too many lost attempts: recorded LOST
    STOPPED = "stopped"  # a fold of a k-fold trial being stopped: ended STOPPED, not run again
    NOT_EXPIRED = "not_expired"  # the lease was renewed in the meantime
    NOT_RUNNING = "not_running"
    STALE = "stale"
    UNKNOWN = "unknown"


class Retried(str, Enum):
    """What running one finished trial again (`Store.retry_trial`) did. Anything but REQUEUED or REOPENED changed nothing."""

    REQUEUED = "requeued"  # queued again as attempt+1, its sweep's state kept
    REOPENED = "reopened"  # queued again, and its ended sweep runs again
    STALE = "stale"  # it is at another attempt now: retried (or re-queued) since it was read
    NOT_ASKED = "not_asked"  # its state is not one of those asked for (it changed since it was read)
    SWEEP_REFUSED = "sweep_refused"  # the sweep's state allows no retry (cancelled)
    UNKNOWN = "unknown"  # no such trial


@dataclass(frozen=True)
class SweepProgress:
    """What the controller needs to plan a sweep's next step, read in one round trip."""

    state: SweepState
    active: int  # queued or running
    created: int
    counts: dict[TrialState, int]
    best_objective: float | None
    live_workers: int  # worker processes that sent a heartbeat within the asked window
    finished: tuple[int, ...] = ()  # trials finished from the asked position of the finished list on, in order
    held: int = 0  # queued trials a worker held back while the sweep was paused (to send again)
    run_cap: int | None = None  # the run_cap `extend` gave the sweep (None: its file's stands)
    retried: int = 0  # trials `retry` queued again that the controller has not sent yet


@dataclass(frozen=True)
class ExtendOutcome:
    """What `Store.extend_sweep` did: set the run_cap (re-opening an ended sweep), or refused and why."""

    reopened: bool = False
    created: int = 0  # the trials it had when its run_cap changed (a controller taking it up may create more at once)
    refused_state: SweepState | None = None  # its state allows no extension
    refused_created: int | None = None  # it already has this many trials, not fewer than the run_cap asked


def params_hash(params: Mapping[str, Any]) -> str:
    """The canonical identity of a parameter set (key order does not matter)."""
    canonical = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def valid_point(point: MetricPoint) -> bool:
    """Metric names as the protocol allows, float values, an integer step or none."""
    return (
        isinstance(point.values, dict)
        and 0 < len(point.values) <= MAX_METRICS_PER_REPORT
        and all(metric_name_problem(k) is None for k in point.values)
        and all(isinstance(v, float) or (isinstance(v, int) and not isinstance(v, bool)) for v in point.values.values())
        and (point.step is None or (isinstance(point.step, int) and not isinstance(point.step, bool)))
    )


def new_sweep_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))
