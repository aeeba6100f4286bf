"""Submitting, cloning, pausing, resuming, extending, retrying, stopping and cancelling sweeps: what the CLI does to the store."""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sweepctl import cloning, extension, retry
from sweepctl._documents import read_document
from sweepctl.errors import ConfigError, SweepStateError, UnknownSweepError
from sweepctl.records import Sweep, SweepState, TrialState
from sweepctl.spec import SweepSpec
from sweepctl.spec_edit import Edit
from sweepctl.store import Outcome, Retried, Store, new_sweep_id
from sweepctl.sweepfile import load_sweep_config, load_sweep_file
from sweepctl.warm_trials import WarmSource, read_warm_start

# The states a sweep can still be ended from (cancelled, or failed when its run died).
LIVE_STATES = (SweepState.RUNNING, SweepState.PAUSED, SweepState.STOPPING)
AGENT_QUEUE_PREFIX = "sweepctl.agent."


def submit_sweep(store: Store, path: str | os.PathLike[str], *, on_workers_of: str | None = None) -> tuple[Sweep, SweepSpec]:
    """Validate the sweep file and record it as RUNNING; raises SpecError before touching the store.

    A sweep without `seed` gets a random one, recorded, so every sweep can be replayed.
    `on_workers_of` names a command that runs the sweep's trials on workers (`run`):
    a file without program or function is then refused too (ConfigError).
    """
    spec = load_sweep_file(path)
    if on_workers_of is not None:
        refuse_caller_sweep(str(path), spec, on_workers_of)
    return record_sweep(store, spec, source=str(path), workdir=str(Path(path).resolve().parent))


def record_sweep(store: Store, spec: SweepSpec, *, source: str, workdir: str, cloned_from: str | None = None) -> tuple[Sweep, SweepSpec]:
    """Record a validated sweep as RUNNING under a new id (`cloned_from`: the sweep it is a clone of); the spec as recorded.

    A sweep that runs in the caller (no program, no function) and names no queue gets
    one of its own, `sweepctl.agent.<id>`, recorded with it: only `sweepctl.agent`
    reads it, so no ordinary worker takes its trials by accident.
    """
    sweep_id = new_sweep_id()
    if spec.runs_in_caller and "queue" not in spec.raw:
        queue = agent_queue(sweep_id)
        spec = replace(spec, queue=queue, raw={**spec.raw, "queue": queue})
    sweep = Sweep(
        id=sweep_id,
        raw_spec=dict(spec.raw),
        state=SweepState.RUNNING,
        seed=spec.seed if spec.seed is not None else secrets.randbelow(2**31),
        created_at=time.time(),
        source=source,
        workdir=workdir,
        cloned_from=cloned_from,
    )
    store.create_sweep(sweep)
    return sweep, spec


@dataclass(frozen=True)
class Clone:
    """What `clone_sweep` made, or on a dry run would make: the new sweep (None on a dry run), its spec, the
    fields that differ from the old sweep's as it stands, and what each sweep it warm-starts from gives it now."""

    sweep: Sweep | None
    spec: SweepSpec
    cloned_from: str
    changes: tuple[cloning.Change, ...]
    warm: tuple[WarmSource, ...]


def clone_sweep(
    store: Store, sweep_id: str, *, file: str | os.PathLike[str] | None = None, edits: tuple[Edit, ...] = (), dry_run: bool = False
) -> Clone:
    """A new sweep from an old one (`sweepctl.cloning`): its file as it stands, or `file`, edited by `edits` and
    warm-started from it; checked as a submitted file is (SpecError naming `file`, or `clone of ID`, the field and
    what was expected) and recorded RUNNING unless `dry_run`. UnknownSweepError when the old sweep is not in the
    store (a deleted one: restore its archive first); SpecError when its own file no longer parses; ConfigError
    for an edit whose path leads nowhere.
    """
    try:
        old = store.get_sweep(sweep_id)
    except UnknownSweepError as exc:
        raise UnknownSweepError(f"{exc}: nothing to clone (a deleted sweep can be cloned once its archive is restored)") from exc
    stands = cloning.as_it_stands(store.spec_of(old).raw, old.run_cap, agent_queue(old.id))
    file_doc = None if file is None else read_document(os.fspath(file))
    document = cloning.clone_document(stands, old.id, file_doc, edits)
    spec = load_sweep_config(document, source=f"clone of {old.id}" if file is None else os.fspath(file))
    changed = cloning.changes(stands, spec.raw)
    warm = read_warm_start(store, spec)
    if dry_run:
        return Clone(None, spec, old.id, changed, warm)
    source, workdir = (old.source, old.workdir) if file is None else (os.fspath(file), str(Path(file).resolve().parent))
    sweep, spec = record_sweep(store, spec, source=source, workdir=workdir, cloned_from=old.id)
    return Clone(sweep, spec, old.id, changed, warm)


def refuse_caller_sweep(name: str, spec: SweepSpec, command: str) -> None:
    """ConfigError for a sweep without program or function (`name`: its file or id): workers have nothing to run."""
    if spec.runs_in_caller:
        raise ConfigError(
            f"{name} has no program and no function: nothing for `sweepctl {command}` to run on workers; "
            "its trials run in Python, as calls of a function: sweepctl.agent(sweep_id, function=train)"
        )


def agent_queue(sweep_id: str) -> str:
    """The Celery queue of a sweep whose trials run in the caller of `sweepctl.agent`."""
    return f"{AGENT_QUEUE_PREFIX}{sweep_id}"


def stop_sweep(store: Store, sweep_id: str) -> bool:
    """No new trials; running ones finish. False when the sweep had already ended.

    A paused sweep's queued trials, held back by the pause, are dropped (CANCELLED): a stopped
    sweep starts nothing new. A running sweep's queued trials were already on their way: they run.
    """
    if store.transition_sweep(sweep_id, SweepState.STOPPING, [SweepState.PAUSED], reason="stopped by request"):
        cancel_queued_trials(store, sweep_id, "the sweep was stopped while paused")
        return True
    return store.transition_sweep(sweep_id, SweepState.STOPPING, [SweepState.RUNNING], reason="stopped by request")


def cancel_sweep(store: Store, sweep_id: str) -> bool:
    """No new trials, queued ones dropped now, running ones killed by their workers."""
    changed = store.transition_sweep(
        sweep_id, SweepState.CANCELLED, LIVE_STATES, reason="cancelled by request", ended_at=time.time()
    )
    cancel_queued_trials(store, sweep_id)
    return changed


def pause_sweep(store: Store, sweep_id: str) -> bool:
    """RUNNING -> PAUSED: no new trials and no queued trial starts until resumed; running ones finish.

    The pause is in the store, so every controller and worker honours it, across restarts.
    False when the sweep was already paused; SweepStateError from any other state.
    """
    found = store.move_sweep(sweep_id, SweepState.PAUSED, [SweepState.RUNNING], reason="paused by request")
    if found is None or found is SweepState.PAUSED:
        return found is None
    raise SweepStateError(f"sweep {sweep_id} is {found.value}: only a running sweep can be paused")


def resume_sweep(store: Store, sweep_id: str) -> bool:
    """PAUSED -> RUNNING: trials are created again up to the sweep's budget, held ones sent again.

    False when the sweep was already running; SweepStateError from any other state (an ended sweep stays ended).
    """
    found = store.move_sweep(sweep_id, SweepState.RUNNING, [SweepState.PAUSED], reason="resumed by request")
    if found is None or found is SweepState.RUNNING:
        return found is None
    raise SweepStateError(f"sweep {sweep_id} is {found.value}: only a paused sweep can be resumed")


def cancel_queued_trials(store: Store, sweep_id: str, error: str = "the sweep was cancelled") -> int:
    """Finish every still-queued trial, and every queued fold of a k-fold trial, as CANCELLED (fenced: one a worker just
    claimed is left to it); how many. A k-fold trial ends with its last fold, CANCELLED unless a fold failed first."""
    return _end_active(store, sweep_id, error, running_too=False)


def abandon_sweep(store: Store, sweep_id: str, reason: str) -> int:
    """End a sweep whose run died with its workers: FAILED for `reason`, every trial (and fold) still queued or
    running CANCELLED with it (no worker is left to finish them), and no controller asked to serve it."""
    store.transition_sweep(sweep_id, SweepState.FAILED, LIVE_STATES, reason=reason, ended_at=time.time())
    ended = _end_active(store, sweep_id, reason, running_too=True)
    store.retire_sweep(sweep_id)
    return ended


def _end_active(store: Store, sweep_id: str, error: str, *, running_too: bool) -> int:
    """Finish the sweep's queued (and with `running_too`, running) trials and k-fold trials' folds CANCELLED, each
    fenced by its attempt; how many of them ended here."""
    ended = 0
    active = store.get_trials(sweep_id, store.active_numbers(sweep_id))
    records = [t for t in active if not t.folds] + [f for folds in store.get_folds(sweep_id, active).values() for f in folds]
    for record in records:
        if record.state is TrialState.QUEUED or (running_too and record.state is TrialState.RUNNING):
            outcome = store.finish_trial(
                sweep_id, record.number, record.attempt, TrialState.CANCELLED, fold=record.fold, error=error, ended_at=time.time()
            )
            ended += outcome is Outcome.OK
    return ended


@dataclass(frozen=True)
class Extension:
    """What `extend_sweep` did: the sweep's run_cap before and now, its state now, whether it re-opened."""

    sweep_id: str
    previous_run_cap: int | None
    run_cap: int
    created: int
    state: SweepState
    reopened: bool


def extend_sweep(store: Store, sweep_id: str, run_cap: int) -> Extension:
    """Give the sweep a new run_cap (above its trials so far); an ended sweep that can go on runs again.

    The run_cap is written on the sweep record in the store (its file stays as submitted), so every
    controller, restarted or not, plans with it. Which states are extended or re-opened, and why the
    others are refused, is in `sweepctl.extension`. SweepStateError for a refused state, ConfigError
    for a run_cap not above the trials already created, UnknownSweepError for an unknown sweep.
    """
    sweep = store.get_sweep(sweep_id)
    spec = store.spec_of(sweep)
    if sweep.restored_at is not None:
        raise SweepStateError(extension.restored_refusal(sweep_id))
    if sweep.state in extension.REOPEN_STATES and _target_reached(store, sweep_id, spec):
        raise SweepStateError(f"sweep {sweep_id} is {sweep.state.value}: its metric target is reached, so it would finish again at once")
    outcome = store.extend_sweep(sweep_id, run_cap, extension.KEEP_STATES, extension.REOPEN_STATES, extension.extended_reason(run_cap))
    if outcome.refused_state is not None:
        raise SweepStateError(extension.state_refusal(sweep_id, outcome.refused_state))
    if outcome.refused_created is not None:
        raise ConfigError(extension.run_cap_refusal(sweep_id, run_cap, outcome.refused_created) or "")
    # Both as the script left them: a controller taking the sweep up may create trials (or end it) at once.
    state = SweepState.RUNNING if outcome.reopened else sweep.state
    return Extension(sweep_id, spec.run_cap, run_cap, outcome.created, state, outcome.reopened)


def _target_reached(store: Store, sweep_id: str, spec: SweepSpec) -> bool:
    metric = spec.metric
    if metric is None or metric.target is None:
        return False
    best = store.best_objective(sweep_id, metric.goal)
    return best is not None and metric.goal.reached(best, metric.target)


@dataclass(frozen=True)
class RetriedTrial:
    """One trial `retry_trials` queued again: its number, the state its earlier attempt ended in, its new attempt."""

    number: int
    previous_state: TrialState
    attempt: int
    params: dict[str, Any]


@dataclass(frozen=True)
class Retry:
    """What `retry_trials` did: the trials queued again (none when no trial was in the states asked), the sweep's state now."""

    sweep_id: str
    states: tuple[TrialState, ...]
    retried: tuple[RetriedTrial, ...]
    state: SweepState
    reopened: bool


def retry_trials(store: Store, sweep_id: str, states: tuple[TrialState, ...]) -> Retry:
    """Run the sweep's trials in `states` again, each once, as new attempts with the same parameters.

    Each trial is re-queued atomically with its sweep's move (`sweepctl.retry` says which states are
    retried and what becomes of the sweep: an ended one runs again). A trial that changed since it was
    read (retried by another command meanwhile) is left as it is. SweepStateError for a sweep whose
    state takes no retry, UnknownSweepError for an unknown sweep.
    """
    sweep = store.get_sweep(sweep_id)
    if sweep.restored_at is not None:
        raise SweepStateError(retry.restored_refusal(sweep_id))
    if sweep.state not in retry.SWEEP_MOVES:
        raise SweepStateError(retry.sweep_refusal(sweep_id, sweep.state))
    picked = retry.chosen(store.get_trials(sweep_id), states)
    if any(trial.folds for trial in picked):
        # A k-fold trial's folds are records of their own, each with its attempt and lease: retry does not
        # re-queue them yet, and a trial record queued over finished folds would never run.
        raise SweepStateError(
            f"sweep {sweep_id} runs k-fold trials (cross_validation): retry cannot run them again yet; "
            f"`sweepctl clone {sweep_id}` starts a new sweep warm-started from this one"
        )
    reason = retry.reopened_reason(len(picked))
    done: list[RetriedTrial] = []
    reopened = False
    for trial in picked:
        outcome = store.retry_trial(sweep_id, trial.number, trial.attempt, states, retry.SWEEP_MOVES, reason)
        if outcome is Retried.SWEEP_REFUSED:
            break  # cancelled meanwhile: the ones queued so far are the cancel's to drop
        if outcome in (Retried.REQUEUED, Retried.REOPENED):
            done.append(RetriedTrial(trial.number, trial.state, trial.attempt + 1, trial.params))
            reopened = reopened or outcome is Retried.REOPENED
    return Retry(sweep_id, states, tuple(done), store.sweep_state(sweep_id), reopened)
