"""Submitting, pausing, resuming, stopping and cancelling sweeps: what the CLI does to the store."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from sweepctl.errors import SweepStateError
from sweepctl.records import Sweep, SweepState, TrialState
from sweepctl.spec import SweepSpec
from sweepctl.store import Outcome, Store, new_sweep_id
from sweepctl.sweepfile import load_sweep_file

# The states a sweep can still be ended from (cancelled, or failed when its run died).
LIVE_STATES = (SweepState.RUNNING, SweepState.PAUSED, SweepState.STOPPING)


def submit_sweep(store: Store, path: str | os.PathLike[str]) -> tuple[Sweep, SweepSpec]:
    """Validate the sweep file and record it as RUNNING; raises SpecError before touching the store.

    A sweep without `seed` gets a random one, recorded, so every sweep can be replayed.
    """
    spec = load_sweep_file(path)
    sweep = Sweep(
        id=new_sweep_id(),
        raw_spec=dict(spec.raw),
        state=SweepState.RUNNING,
        seed=spec.seed if spec.seed is not None else secrets.randbelow(2**31),
        created_at=time.time(),
        source=str(path),
        workdir=str(Path(path).resolve().parent),
    )
    store.create_sweep(sweep)
    return sweep, spec


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
    """Finish every still-queued trial as CANCELLED (fenced: one a worker just claimed is left to it)."""
    cancelled = 0
    for trial in store.get_trials(sweep_id, store.active_numbers(sweep_id)):
        if trial.state is TrialState.QUEUED:
            outcome = store.finish_trial(sweep_id, trial.number, trial.attempt, TrialState.CANCELLED, error=error, ended_at=time.time())
            cancelled += outcome is Outcome.OK
    return cancelled


def abandon_sweep(store: Store, sweep_id: str, reason: str) -> int:
    """End a sweep whose run died with its workers: FAILED for `reason`, every trial still queued or
    running CANCELLED with it (no worker is left to finish them), and no controller asked to serve it."""
    store.transition_sweep(sweep_id, SweepState.FAILED, LIVE_STATES, reason=reason, ended_at=time.time())
    ended = 0
    for trial in store.get_trials(sweep_id, store.active_numbers(sweep_id)):
        outcome = store.finish_trial(sweep_id, trial.number, trial.attempt, TrialState.CANCELLED, error=reason, ended_at=time.time())
        ended += outcome is Outcome.OK
    store.retire_sweep(sweep_id)
    return ended
