"""Sweep and trial records: what the store keeps and every command reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class SweepState(str, Enum):
    """Lifecycle of a sweep.

    RUNNING: the controller keeps up to `parallelism` trials queued or running.
    PAUSED: no new trials and no queued trial starts (a worker holds it back until the
    sweep resumes); running ones finish. Lost attempts are still re-queued and early
    termination still judges running trials. It never ends by itself: `resume` makes it
    RUNNING again, `stop` or `cancel` end it.
    STOPPING: no new trials; running ones finish, then STOPPED.
    CANCELLED: no new trials; queued ones are dropped and running ones killed.
    FINISHED: budget, target or search space done. FAILED: too many trial failures.
    DELETING: `sweepctl delete` is removing its keys: nothing is created or started, its running
    trials are stopped (their late writes are refused), and it never changes again: the delete,
    run again after an interruption, goes on from where it stopped.
    """

    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    STOPPED = "stopped"
    CANCELLED = "cancelled"
    FINISHED = "finished"
    FAILED = "failed"
    DELETING = "deleting"

    @property
    def accepts_trials(self) -> bool:
        """Whether the controller may create new trials."""
        return self is SweepState.RUNNING

    @property
    def starts_queued_trials(self) -> bool:
        """Whether a queued trial may start: not while paused (held until resumed), not once cancelled."""
        return self in (SweepState.RUNNING, SweepState.STOPPING)

    @property
    def stops_running_trials(self) -> bool:
        """Whether a running trial is stopped at once: the sweep was cancelled, or is being deleted."""
        return self in (SweepState.CANCELLED, SweepState.DELETING)

    @property
    def is_terminal(self) -> bool:
        """Whether the state can no longer change (trials may still be draining)."""
        return self in (SweepState.STOPPED, SweepState.CANCELLED, SweepState.FINISHED, SweepState.FAILED, SweepState.DELETING)


class TrialState(str, Enum):
    """Lifecycle of a trial: QUEUED and RUNNING, then one final state.

    Final states split by whose fault they are: the parameters' (failed, nan,
    timed_out: counted for max_failures and shown to TPE as failures) or the
    infrastructure's (killed, lost: never shown to TPE, never count against
    the parameters).
    """

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"  # exited 0 with a finite objective
    FAILED = "failed"  # raised, exited non-zero, or reported no objective
    NAN = "nan"  # reported a NaN or infinite objective
    TIMED_OUT = "timed_out"  # ran past trial_timeout and was killed
    KILLED = "killed"  # SIGKILLed while the kernel's OOM killer struck (a crash or another signal is FAILED)
    LOST = "lost"  # its worker vanished (lease expired) on every attempt up to max_retries
    STOPPED = "stopped"  # stopped early by the sweep's early_terminate rule (its last value is in last_metrics)
    CANCELLED = "cancelled"  # the sweep was cancelled

    @property
    def is_finished(self) -> bool:
        return self not in (TrialState.QUEUED, TrialState.RUNNING)

    @property
    def is_trial_failure(self) -> bool:
        """Whether the parameters (not the sweep) made the trial fail: these count for max_failures."""
        return self in (TrialState.FAILED, TrialState.NAN, TrialState.TIMED_OUT)

    @property
    def is_infrastructure_failure(self) -> bool:
        """Whether a machine, not the parameters, made the trial fail (OOM kill, lost worker)."""
        return self in (TrialState.KILLED, TrialState.LOST)


@dataclass(frozen=True)
class GpuRef:
    """The GPU a trial ran on: physical NVML index and UUID (NVML ignores CUDA_VISIBLE_DEVICES)."""

    index: int
    uuid: str
    name: str = ""


@dataclass(frozen=True)
class CodeVersion:
    """Where the program's code came from: a git commit and whether the tree was dirty."""

    repo: str
    commit: str
    dirty: bool


IDLE_UTIL_PERCENT = 10.0  # a trial whose GPU was busier than this on average used it
IDLE_MIN_SAMPLES = 3  # fewer utilization readings than this are too few to call a GPU idle
GIB = 1024**3


@dataclass(frozen=True)
class GpuUsage:
    """What the GPU samples taken while a trial ran say about its GPU (`Trial.gpu_usage`).

    `samples` counts the samples (one as the trial starts, one as it ends, and one per
    telemetry interval between). Utilization is NVML's (the share of time a kernel ran);
    memory is the GPU's framebuffer in use (the whole GPU's: the trial's, its CUDA
    context's and any other process's); energy is the increase of NVML's energy counter
    from the first sample to the last, or where the GPU has no counter, its power
    readings integrated over time. A figure the samples could not give is None.
    """

    samples: int
    mean_util_percent: float | None = None
    max_util_percent: float | None = None
    peak_memory_bytes: int | None = None
    energy_joules: float | None = None

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> GpuUsage:
        """The record as stored (extra keys, such as the `mostly_idle` judgement written beside it, are ignored)."""
        return cls(**{name: entry[name] for name in cls.__dataclass_fields__ if name in entry})

    @property
    def mostly_idle(self) -> bool:
        """Whether the trial left its GPU mostly idle: mean utilization under IDLE_UTIL_PERCENT over IDLE_MIN_SAMPLES samples or more."""
        return self.samples >= IDLE_MIN_SAMPLES and self.mean_util_percent is not None and self.mean_util_percent < IDLE_UTIL_PERCENT

    @property
    def label(self) -> str:
        """A short table cell: mean utilization and peak memory, flagged when idle, e.g. `87% 12.3GiB` or `3% 0.5GiB idle GPU`."""
        util = "-" if self.mean_util_percent is None else f"{self.mean_util_percent:.0f}%"
        memory = "-" if self.peak_memory_bytes is None else f"{self.peak_memory_bytes / GIB:.1f}GiB"
        return f"{util} {memory}" + (" idle GPU" if self.mostly_idle else "")


@dataclass(frozen=True)
class MetricPoint:
    """One report from a trial: a step (may be None) and numeric values (NaN allowed)."""

    time: float
    step: int | None
    values: dict[str, float]


class LossReason(str, Enum):
    """Why an attempt was taken back from its worker (the `reason` of a `LostAttempt`)."""

    LEASE_EXPIRED = "lease_expired"  # the worker stopped renewing its lease: reaped by the controller
    HANDED_BACK = "handed_back"  # the worker shut down and returned the trial: not a loss


@dataclass(frozen=True)
class LostAttempt:
    """One earlier attempt of a trial that was taken back from its worker and queued again (or recorded LOST)."""

    attempt: int
    worker: str | None
    reason: str  # a LossReason value; kept as written so a reason this version does not know still reads
    at: float

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> LostAttempt:
        """The record of one entry of `Trial.lost_attempts` (as the requeue script writes it)."""
        return cls(
            attempt=int(entry["attempt"]), worker=entry.get("worker"), reason=str(entry.get("reason", "")), at=float(entry.get("at", 0.0))
        )

    @property
    def is_loss(self) -> bool:
        """Whether the attempt counts against `max_retries` (a hand-back on shutdown does not)."""
        return self.reason != LossReason.HANDED_BACK.value


@dataclass(frozen=True)
class RetriedAttempt:
    """One earlier attempt of a trial that ended and that `sweepctl retry` ran again: its result as it was.

    `record` is the entry as stored: the attempt's fields (`ATTEMPT_FIELDS`) as they were when it was
    retried, with `attempt` and `retried_at`; the properties read the ones most asked for. Its metric
    history stays readable under its attempt number (`Store.metric_history(..., attempt=...)`).
    """

    attempt: int
    state: TrialState
    retried_at: float
    record: Mapping[str, Any]

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> RetriedAttempt:
        """The record of one entry of `Trial.retried_attempts` (as the retry script writes it)."""
        return cls(
            attempt=int(entry["attempt"]), state=TrialState(entry["state"]), retried_at=float(entry.get("retried_at", 0.0)), record=entry
        )

    @property
    def objective(self) -> float | None:
        value = self.record.get("objective")
        return None if value is None else float(value)

    @property
    def error(self) -> str | None:
        return self.record.get("error")

    @property
    def exit_code(self) -> int | None:
        return self.record.get("exit_code")

    @property
    def worker(self) -> str | None:
        return self.record.get("worker")

    @property
    def last_metrics(self) -> dict[str, float]:
        """Its last value of each metric (non-finite ones stored as strings, read back as floats)."""
        return {name: float(value) for name, value in (self.record.get("last_metrics") or {}).items()}

    @property
    def lost(self) -> tuple[LostAttempt, ...]:
        """The attempts before it that were taken back from their workers (its `Trial.lost` then)."""
        return tuple(LostAttempt.of(entry) for entry in self.record.get("lost_attempts") or ())


@dataclass(frozen=True)
class StopRequest:
    """The early-termination decision a running attempt's worker acts on (`Store.request_stop`, `Store.stop_folds`).

    At `band` (a step; for a k-fold trial, the folds it had completed) the trial's `value` was
    worse than `threshold` (metric units); `reason` says so in words and becomes the trial's
    error; `at` is when it was decided. A k-fold trial stopped because one of its folds failed
    has no value and threshold (None): its folds stop because the trial has failed already.
    """

    band: int
    value: float | None
    threshold: float | None
    reason: str
    at: float


@dataclass(frozen=True)
class Trial:
    """Everything recorded about one trial: enough to reproduce it and to judge it."""

    sweep_id: str
    number: int
    state: TrialState
    params: dict[str, Any]
    seed: int
    attempt: int = 1
    created_at: float = 0.0
    sent_at: float | None = None  # when the controller handed it to Celery
    started_at: float | None = None
    ended_at: float | None = None
    objective: float | None = None
    worker: str | None = None
    host: str | None = None
    gpu: GpuRef | None = None
    argv: tuple[str, ...] = ()
    exit_code: int | None = None
    error: str | None = None
    stdout_tail: str = ""
    stderr_tail: str = ""
    code: CodeVersion | None = None
    data: dict[str, str] = field(default_factory=dict)
    last_metrics: dict[str, float] = field(default_factory=dict)
    last_step: int | None = None
    reports: int = 0
    dropped_points: int = 0  # metric points lost to a Redis outage longer than the buffer
    rejected_reports: dict[str, int] = field(default_factory=dict)  # report-shaped lines refused, by reason
    lease_expires: float | None = None  # Redis server time; renewed by the running worker
    stop_requested: dict[str, Any] | None = None  # the early-termination decision as stored (a StopRequest's fields)
    lost_attempts: tuple[dict[str, Any], ...] = ()  # earlier attempts taken back, as stored: see `lost`
    gpu_usage: GpuUsage | None = None  # the GPU samples taken while it ran, summed up (written with its result)
    retried_attempts: tuple[dict[str, Any], ...] = ()  # earlier attempts that ended and `retry` ran again, as stored: see `retried`
    # k-fold trials (cross_validation, `sweepctl.kfold`): a trial's record has `folds` (k), and once its folds ended
    # each fold's objective (None for a fold without one) and, when it completed, their mean's standard deviation.
    # Each fold has a record of its own, of this same shape, with `fold` its index (None on the trial's record).
    folds: int | None = None
    fold: int | None = None
    fold_objectives: tuple[float | None, ...] = ()
    objective_std: float | None = None

    @property
    def lost(self) -> tuple[LostAttempt, ...]:
        """The earlier attempts taken back from their workers since the trial was last retried, oldest first."""
        return tuple(LostAttempt.of(entry) for entry in self.lost_attempts)

    @property
    def retried(self) -> tuple[RetriedAttempt, ...]:
        """The earlier attempts that ended (failed, lost, ...) and that `sweepctl retry` ran again, oldest first."""
        return tuple(RetriedAttempt.of(entry) for entry in self.retried_attempts)

    @property
    def lost_history(self) -> tuple[LostAttempt, ...]:
        """Every attempt taken back from its worker, those before a retry included, oldest first."""
        return (*(lost for earlier in self.retried for lost in earlier.lost), *self.lost)

    @property
    def infrastructure_failures(self) -> int:
        """Attempts whose worker was lost (handing a trial back on shutdown is not a loss)."""
        return sum(1 for attempt in self.lost if attempt.is_loss)

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at


# The fields of a trial that belong to one attempt: what `retry` moves into `Trial.retried_attempts`
# (with the state) and sets back to their defaults before the trial runs again. The rest (number,
# params, seed, created_at) is the trial's own and stays.
ATTEMPT_FIELDS = (
    "objective", "sent_at", "started_at", "ended_at", "worker", "host", "gpu", "argv", "exit_code", "error",
    "stdout_tail", "stderr_tail", "code", "data", "last_metrics", "last_step", "reports", "dropped_points",
    "rejected_reports", "lease_expires", "stop_requested", "lost_attempts", "gpu_usage", "fold_objectives", "objective_std",
)  # fmt: skip


@dataclass(frozen=True)
class Sweep:
    """A submitted sweep: its spec as submitted plus its lifecycle."""

    id: str
    raw_spec: dict[str, Any]
    state: SweepState
    seed: int
    created_at: float
    source: str = ""
    workdir: str = ""
    reason: str = ""
    ended_at: float | None = None
    # Set by `extend`: the trial budget now, in place of the file's run_cap (the file as submitted is kept).
    run_cap: int | None = None
    # Set by `clone`: the sweep this one was cloned from (and warm-started from).
    cloned_from: str | None = None
    # Set by `restore`: when the sweep was loaded back from an archive (a record to read, never run again).
    restored_at: float | None = None


@dataclass(frozen=True)
class GpuSample:
    """One reading of one GPU by the worker pinned to it, with the trial running on it now.

    Readings NVML could not give (unsupported on this GPU, or an error mid-read) are None.
    """

    host: str
    index: int
    uuid: str
    name: str
    pci_bus_id: str
    time: float
    util_percent: float | None = None
    mem_copy_util_percent: float | None = None
    fb_used_mib: float | None = None
    fb_free_mib: float | None = None
    fb_total_mib: float | None = None
    temp_c: float | None = None
    power_w: float | None = None
    energy_mj: float | None = None
    sm_clock_mhz: float | None = None
    mem_clock_mhz: float | None = None
    xid: float | None = None
    sweep: str | None = None
    trial: int | None = None
    worker: str | None = None
