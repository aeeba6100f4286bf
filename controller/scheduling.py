"""Scheduling decisions as pure functions of a sweep snapshot: how many trials to create, when to end."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from sweepctl.records import SweepState
from sweepctl.spec import Method, SweepSpec


@dataclass(frozen=True)
class SweepMoment:
    """What the controller knows of a sweep at one moment."""

    state: SweepState
    created: int  # trials created so far (all states)
    active: int  # queued or running
    trial_failures: int  # trials whose parameters failed (TrialState.is_trial_failure)
    best_objective: float | None
    exhausted: bool = False  # the suggester has nothing left (grid done)
    live_workers: int = 1  # worker processes heartbeating now: the default parallelism


@dataclass(frozen=True)
class Plan:
    """Create `create` trials now; when `end` is set, move the sweep to it (`reason` says why)."""

    create: int = 0
    end: SweepState | None = None
    reason: str = ""


def plan(spec: SweepSpec, snap: SweepMoment) -> Plan:
    """The next step for a sweep.

    A sweep that must end (stop, budget, target, failures, exhausted space)
    creates no more trials and takes its final state once nothing is active, so
    running trials are never cut off by bookkeeping. A paused sweep creates
    nothing and never ends by itself: it waits for resume, stop or cancel (its
    budget, target and failures are judged again once it runs).
    """
    if snap.state is SweepState.STOPPING:
        return Plan(end=SweepState.STOPPED, reason="stopped by request") if snap.active == 0 else Plan()
    if not snap.state.accepts_trials:
        return Plan()
    ending = _why_ending(spec, snap)
    if ending is not None:
        state, reason = ending
        return Plan(end=state, reason=reason) if snap.active == 0 else Plan()
    room = parallelism(spec, snap) - snap.active
    left = spec.budget - snap.created
    create = int(max(0, min(room, left)))
    if create < min(refill_batch(spec, snap), left):
        return Plan()  # not a whole batch of room yet: the queue still holds work
    return Plan(create=create)


def parallelism(spec: SweepSpec, snap: SweepMoment) -> int:
    """How many trials may be queued or running at once.

    Without `parallelism` in the sweep file, every live worker gets one trial,
    as with W&B agents: a model-based method (TPE) suggests each trial as late
    as it can, knowing as many results as possible. Random and grid search
    learn nothing from results, so each worker also gets its next one or two
    trials queued behind the running one: a worker that finishes takes the next
    from the broker at once instead of waiting for the controller. No worker can
    hoard them: with late acks and a prefetch of one, a busy worker reserves no
    second message; queued trials go to whichever worker frees first.

    `parallelism` counts trials, also for a k-fold sweep (each trial k fold tasks): the controller
    creates, budgets and suggests whole trials, so `parallelism: P` keeps up to P*k fold tasks queued
    or running. Without it, a k-fold sweep gets as many trials as make one fold task per live worker
    (rounded up: ceil(workers / k), three times that for random and grid), so that folds fill the workers.
    """
    if spec.parallelism is not None:
        return spec.parallelism
    workers = max(1, snap.live_workers)
    tasks = workers if learns_from_results(spec) else 3 * workers
    return math.ceil(tasks / (spec.folds or 1))


def refill_batch(spec: SweepSpec, snap: SweepMoment) -> int:
    """The fewest trials worth creating in one pass.

    Random and grid (default parallelism) refill a worker's worth at a time, so
    the controller's per-pass reads are paid once per batch, not per trial: the
    queue then holds between one and two trials per worker (a k-fold sweep: a
    worker's worth of fold tasks, ceil(workers / k) trials). Otherwise every
    free place is filled at once.
    """
    if spec.parallelism is not None or learns_from_results(spec):
        return 1
    return max(1, math.ceil(snap.live_workers / (spec.folds or 1)))


def learns_from_results(spec: SweepSpec) -> bool:
    """Whether the sweep's method models finished trials (so each suggestion should come late)."""
    return spec.method in _MODEL_BASED


_MODEL_BASED = frozenset({Method.TPE})


def _why_ending(spec: SweepSpec, snap: SweepMoment) -> tuple[SweepState, str] | None:
    if spec.max_failures is not None and snap.trial_failures > spec.max_failures:
        return SweepState.FAILED, f"{snap.trial_failures} trials failed (max_failures={spec.max_failures})"
    metric = spec.metric
    target = None if metric is None else metric.target
    if metric is not None and target is not None and snap.best_objective is not None and metric.goal.reached(snap.best_objective, target):
        return SweepState.FINISHED, f"target {metric.name}={target:g} reached"
    if snap.created >= spec.budget:
        return SweepState.FINISHED, f"run_cap={spec.run_cap} reached"
    if snap.exhausted:
        return SweepState.FINISHED, "search space exhausted"
    return None


def trial_seed(sweep_seed: int, number: int) -> int:
    """The seed a trial's program gets: stable for (sweep seed, trial number), spread over 31 bits."""
    digest = hashlib.sha256(f"{sweep_seed}:{number}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
