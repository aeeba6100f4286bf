"""How a sweep stands, from its trial records: counts, best-so-far, GPU-hours, worker busy and idle time, failures.

Pure functions of records; the report, and any table or live view that shows the same figures, call these.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sweepctl.records import Trial, TrialState
from sweepctl.spec import Goal

UNKNOWN = "unknown"  # the worker or host of a trial that never started on one


def flat_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested parameters as dotted names ({"opt": {"lr": 1}} -> {"opt.lr": 1}); a conditional one absent stays absent."""
    flat: dict[str, Any] = {}
    for name, value in params.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping) and value:
            flat.update(flat_params(value, f"{key}."))
        else:
            flat[key] = value
    return flat


def completed(trials: Iterable[Trial]) -> list[Trial]:
    """Trials with a recorded objective, in number order."""
    return sorted((t for t in trials if t.state is TrialState.COMPLETED and t.objective is not None), key=lambda t: t.number)


def ranked(trials: Iterable[Trial], goal: Goal) -> list[Trial]:
    """Completed trials, best first (lowest number wins ties)."""
    sign = -1.0 if goal is Goal.MAXIMIZE else 1.0
    return sorted(completed(trials), key=lambda t: (sign * float(t.objective or 0.0), t.number))


def best_so_far(values: Sequence[float], goal: Goal) -> list[float]:
    """The best value among the first i+1 values, for every i (monotone in the goal's direction)."""
    best: list[float] = []
    for value in values:
        if not best:
            best.append(value)
        else:
            best.append(max(best[-1], value) if goal is Goal.MAXIMIZE else min(best[-1], value))
    return best


def gpus_of(trial: Trial) -> int:
    """GPUs a trial held: the one it was pinned to, or none (a CPU slot)."""
    return 1 if trial.gpu is not None else 0


@dataclass(frozen=True)
class SweepOverview:
    """The summary of a sweep's trials: counts by state, the best trial, budget use and compute spent."""

    trials: int
    by_state: dict[str, int]
    best: Trial | None
    run_cap: int | None
    trial_hours: float  # wall time of every finished run, summed
    gpu_hours: float  # trial durations times the GPUs each held

    @property
    def failures(self) -> int:
        return sum(n for state, n in self.by_state.items() if is_failure_state(TrialState(state)))


def overview(trials: Sequence[Trial], goal: Goal, run_cap: int | None) -> SweepOverview:
    """The overview of `trials` (all of a sweep's) for a metric with `goal`."""
    counts = Counter(t.state.value for t in trials)
    best = ranked(trials, goal)
    seconds = [(t.duration or 0.0, gpus_of(t)) for t in trials if t.duration is not None]
    return SweepOverview(
        trials=len(trials),
        by_state={state.value: counts[state.value] for state in TrialState if counts[state.value]},
        best=best[0] if best else None,
        run_cap=run_cap,
        trial_hours=sum(s for s, _ in seconds) / 3600,
        gpu_hours=sum(s * g for s, g in seconds) / 3600,
    )


def worker_of(trial: Trial) -> str:
    """The slot a trial ran on: its worker, else its host."""
    return trial.worker or trial.host or UNKNOWN


@dataclass(frozen=True)
class WorkerUsage:
    """One worker slot's time between its first trial's start and its last trial's end: busy and idle."""

    worker: str
    trials: int
    busy_seconds: float
    idle_seconds: float  # gaps between one trial's end and the next one's start on this slot
    longest_gap: float

    @property
    def busy_share(self) -> float:
        span = self.busy_seconds + self.idle_seconds
        return self.busy_seconds / span if span > 0 else 1.0


def worker_usage(trials: Iterable[Trial]) -> list[WorkerUsage]:
    """Busy and idle time per worker slot, for trials that started and ended; sorted by worker."""
    runs: dict[str, list[tuple[float, float]]] = {}
    for t in trials:
        if t.started_at is not None and t.ended_at is not None:
            runs.setdefault(worker_of(t), []).append((t.started_at, t.ended_at))
    usage = []
    for worker, spans in sorted(runs.items()):
        spans.sort()
        busy = idle = longest = 0.0
        reach = spans[0][0]  # the latest end so far: overlapping runs (a re-used slot name) are not counted twice
        for start, end in spans:
            gap = max(0.0, start - reach)
            idle, longest = idle + gap, max(longest, gap)
            busy += max(0.0, end - max(start, reach))
            reach = max(reach, end)
        usage.append(WorkerUsage(worker, len(spans), busy, idle, longest))
    return usage


def is_failure_state(state: TrialState) -> bool:
    """Whether a final state is a failure, the parameters' or the infrastructure's."""
    return state.is_trial_failure or state.is_infrastructure_failure


@dataclass(frozen=True)
class FailureCounts:
    """Failed trials counted by reason (their final state), by host and reason, and their commonest errors."""

    by_reason: dict[str, int]
    by_host: dict[str, dict[str, int]]  # host -> reason -> count
    errors: list[tuple[str, int]]  # first line of the error, most frequent first
    lost_attempts: dict[str, int]  # worker -> attempts taken back from it (before a retry too)


def failure_counts(trials: Iterable[Trial], top_errors: int = 10) -> FailureCounts:
    """Where and why trials failed: failures by parameters and by infrastructure alike."""
    by_reason: Counter[str] = Counter()
    by_host: dict[str, Counter[str]] = {}
    errors: Counter[str] = Counter()
    lost: Counter[str] = Counter()
    for t in trials:
        for attempt in t.lost_history:
            if attempt.is_loss:
                lost[attempt.worker or UNKNOWN] += 1
        if not is_failure_state(t.state):
            continue
        by_reason[t.state.value] += 1
        by_host.setdefault(t.host or UNKNOWN, Counter())[t.state.value] += 1
        lines = (t.error or "").strip().splitlines()
        errors[lines[0][:200] if lines else t.state.value] += 1
    return FailureCounts(
        by_reason=dict(by_reason.most_common()),
        by_host={host: dict(c.most_common()) for host, c in sorted(by_host.items())},
        errors=errors.most_common(top_errors),
        lost_attempts=dict(lost.most_common()),
    )
