"""Pausing a sweep (real Redis, controller and workers): no trial is created or started while it is paused,
not even by a controller restarted meanwhile; running trials finish; resumed, it runs to exactly its run_cap.
And the W&B habits: `sweepctl sweep FILE` prints a usable id, `sweep --pause|--resume|--stop|--cancel ID` work."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from sweepctl import lifecycle
from sweepctl.records import SweepState, TrialState
from sweepctl.store import Store, keys
from tests.support.processes import Processes, kill_group, wait_for
from tests.system.helpers import read_run_log, wait_until_done, write_sweep

pytestmark = pytest.mark.system

RUN_CAP = 10
SWEEP = f"""
method: random
metric: {{name: loss}}
program: trial_program.py
parameters:
  x: {{min: 0.0, max: 2.0}}
  sleep: {{value: 0.5}}
run_cap: {RUN_CAP}
parallelism: 3
seed: 3
"""
# A killed controller's sweeps are free for another after this long (the default is 15 s), and the owner
# renews its lease every second; and no lost-message recovery, so that held trials can only run again
# because resuming sends them.
CONTROLLER_ENV = {"SWEEPCTL_OWNER_LEASE_SECONDS": "3", "SWEEPCTL_LOST_MESSAGE_SECONDS": "3600"}


def sweep_from_file(procs: Processes, path: Path) -> str:
    """`sweepctl sweep FILE`: stdout is the sweep id alone, as `wandb sweep` prints it."""
    done = procs.run("sweep", str(path), check=True)
    assert done.stdout.count("\n") == 1, done.stdout
    assert f"created sweep {done.stdout.strip()}" in done.stderr
    return done.stdout.strip()


def controller_passes(store: Store, sweep_id: str, count: int = 2, timeout: float = 30) -> None:
    """Wait until the sweep's owner has renewed its lease `count` more times. A controller renews it at the top
    of a pass, before it steps the sweep, once a third of the lease has gone by (every second with CONTROLLER_ENV,
    every 5 s by default): so two renewals mean a whole step over the sweep ran in between. A renewal shows as
    the lease's remaining time going up; one missed between two reads only makes this wait longer."""
    key = keys.owner_key(sweep_id)
    last, renewals = store.redis.pttl(key), 0
    deadline = time.monotonic() + timeout
    while renewals < count:
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {count} renewals of {sweep_id}'s owner lease"
        time.sleep(0.02)
        now = store.redis.pttl(key)
        renewals += now > last
        last = now


def owner(store: Store, sweep_id: str) -> str | None:
    return store.redis.get(keys.owner_key(sweep_id))


def state_shown(procs: Processes, sweep_id: str) -> str:
    return str(json.loads(procs.run("status", sweep_id, "--format", "json", check=True).stdout)["state"])


def test_a_paused_sweep_starts_nothing_across_a_controller_restart_and_resumed_runs_to_its_run_cap(
    tmp_path: Path, procs: Processes, store: Store
) -> None:
    # Given a sweep of 10 half-second trials, 3 at a time, on one worker running one at a time
    # (so two wait queued, and a trial that starts leaves one queued until the next is created)
    sweep_id = sweep_from_file(procs, write_sweep(tmp_path, SWEEP))
    run_log = tmp_path / "runs.jsonl"
    first = procs.start("controller", env=CONTROLLER_ENV)
    procs.start("worker", "--gpus", "none", "--concurrency", "1", env={"RUN_LOG": str(run_log)})
    wait_for(lambda: len(store.finished_numbers(sweep_id)) >= 2, 60, "two finished trials")

    # When it is paused
    done = procs.run("pause", sweep_id, check=True)
    assert "paused" in done.stderr
    created = store.trial_count(sweep_id)
    running_at_pause = [t.number for t in store.get_trials(sweep_id) if t.state is TrialState.RUNNING]

    # Then the running trial finishes, and the queued ones are held back instead of starting
    wait_for(lambda: store.counts(sweep_id)[TrialState.RUNNING] == 0, 30, "the running trial to finish")
    assert all(store.get_trial(sweep_id, n).state is TrialState.COMPLETED for n in running_at_pause)
    wait_for(lambda: store.held_numbers(sweep_id) == set(store.active_numbers(sweep_id)), 30, "every queued trial held")
    assert store.active_numbers(sweep_id), "queued trials were there to hold back"
    started = len(read_run_log(run_log))
    controller = owner(store, sweep_id)
    assert controller is not None
    controller_passes(store, sweep_id)
    assert store.trial_count(sweep_id) == created and len(read_run_log(run_log)) == started
    assert state_shown(procs, sweep_id) == "paused"

    # When the controller is killed outright and another one takes the sweep over
    kill_group(first.pid, signal.SIGKILL)
    first.wait(10)
    procs.start("controller", env=CONTROLLER_ENV)
    wait_for(lambda: owner(store, sweep_id) not in (None, controller), 30, "the new controller to own the sweep")
    controller_passes(store, sweep_id)

    # Then the sweep is still paused, and still nothing was created or started
    assert store.sweep_state(sweep_id) is SweepState.PAUSED
    assert store.trial_count(sweep_id) == created and len(read_run_log(run_log)) == started

    # When it is resumed (W&B's flag form)
    done = procs.run("sweep", "--resume", sweep_id, check=True)
    assert "running again" in done.stderr
    wait_until_done(store, sweep_id, timeout=120)

    # Then it ran to exactly its run_cap: every trial once, the held one included, and none twice
    sweep = store.get_sweep(sweep_id)
    assert sweep.state is SweepState.FINISHED and sweep.reason == f"run_cap={RUN_CAP} reached"
    trials = store.get_trials(sweep_id)
    assert [t.number for t in trials] == list(range(1, RUN_CAP + 1))
    assert all(t.state is TrialState.COMPLETED and t.attempt == 1 for t in trials)
    assert Counter(r["number"] for r in read_run_log(run_log)) == Counter(range(1, RUN_CAP + 1))


def test_sweep_flag_forms_change_the_state_like_the_commands(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given two sweeps, the first created with `sweepctl sweep FILE` (no controller: only states change here)
    path = write_sweep(tmp_path, SWEEP)
    first, second = sweep_from_file(procs, path), lifecycle.submit_sweep(store, path)[0].id
    assert first != second and set(store.sweep_ids()) == {first, second}

    # When paused and resumed with the flags / Then they move as pause and resume do
    assert "paused" in procs.run("sweep", "--pause", first, check=True).stderr
    assert store.sweep_state(first) is SweepState.PAUSED
    assert "already paused" in procs.run("sweep", "--pause", first, check=True).stderr
    procs.run("sweep", "--resume", first, check=True)
    assert store.sweep_state(first) is SweepState.RUNNING

    # And a paused sweep stops or cancels with the flags
    assert lifecycle.pause_sweep(store, first) and lifecycle.pause_sweep(store, second)
    assert "stopping" in procs.run("sweep", "--stop", first, check=True).stderr
    assert store.sweep_state(first) is SweepState.STOPPING
    assert "cancelled" in procs.run("sweep", "--cancel", second, check=True).stderr
    assert store.sweep_state(second) is SweepState.CANCELLED

    # And what does not apply says so, exits 2, and changes nothing
    refusals = {
        ("resume", first): f"error: sweep {first} is stopping: only a paused sweep can be resumed",
        ("pause", second): f"error: sweep {second} is cancelled: only a running sweep can be paused",
        ("sweep", "--resume", second): f"error: sweep {second} is cancelled: only a paused sweep can be resumed",
        ("sweep", "--pause", "--stop", first): "error: --pause and --stop: give only one of --pause, --resume, --stop and --cancel",
        ("sweep", first): f"error: {first} is a sweep id, not a file: give --pause, --resume, --stop or --cancel with it",
        ("pause", "nope"): "error: no sweep 'nope' in this store",
    }
    for args, message in refusals.items():
        done = procs.run(*args)
        assert (done.returncode, done.stderr.strip(), done.stdout) == (2, message, ""), args
    assert (store.sweep_state(first), store.sweep_state(second)) == (SweepState.STOPPING, SweepState.CANCELLED)


def test_sweepctl_run_waits_through_a_pause_and_says_so(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given `sweepctl run FILE` (its own controller and worker, on the test's Redis) under way, with 4 one-second
    # trials (still under way when the pause comes, after the first)
    log = tmp_path / "run.log"
    sweep_file = write_sweep(tmp_path, SWEEP.replace(f"run_cap: {RUN_CAP}", "run_cap: 4").replace("value: 0.5", "value: 1.0"))
    run = procs.start("run", str(sweep_file), "--workers", "1", log=log)
    wait_for(lambda: store.sweep_ids(), 30, "the run's sweep")
    (sweep_id,) = store.sweep_ids()
    wait_for(lambda: store.finished_numbers(sweep_id), 60, "a finished trial")

    # When someone pauses its sweep, and its controller has gone round a few times since
    procs.run("pause", sweep_id, check=True)
    wait_for(lambda: store.counts(sweep_id)[TrialState.RUNNING] == 0, 30, "the running trial to finish")
    controller_passes(store, sweep_id)

    # Then the run keeps waiting, and its progress says the sweep is paused and how to go on
    assert run.poll() is None
    wait_for(lambda: f"sweep {sweep_id} paused (sweepctl resume {sweep_id})" in log.read_text(), 10, "the run to say paused")

    # When resumed / Then the run finishes the sweep's 4 trials and exits 0
    procs.run("resume", sweep_id, check=True)
    try:
        assert run.wait(120) == 0, log.read_text()
    except subprocess.TimeoutExpired:
        pytest.fail(f"the run did not end after resume:\n{log.read_text()}")
    assert store.get_sweep(sweep_id).state is SweepState.FINISHED and store.trial_count(sweep_id) == 4
