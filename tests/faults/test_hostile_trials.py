"""Trials and sweeps that abuse their worker or their controller: each is bounded, blamed right, and nothing hangs."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import yaml

from controller.loop import Controller
from sweepctl import lifecycle
from sweepctl.celery_app import make_celery
from sweepctl.records import Sweep, SweepState, Trial, TrialState
from sweepctl.settings import RedisSettings
from sweepctl.store import Store
from sweepctl.sweepfile import parse_sweep
from tests.support.processes import Processes, wait_for
from tests.system.helpers import submit, wait_until_done, write_sweep
from workers.trial import TrialRunner, WorkerIdentity

pytestmark = pytest.mark.system


def test_a_program_that_crashes_itself_fails_and_max_failures_stops_the_sweep(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a program that aborts itself (SIGABRT) on every trial, and max_failures: 2 out of a budget of 20
    (tmp_path / "crash.py").write_text("import os\nprint('loss=1', flush=True)\nos.abort()\n")
    sweep_id = submit(
        procs,
        write_sweep(
            tmp_path,
            "method: random\nmetric: {name: loss}\nprogram: crash.py\nparameters:\n  x: {min: 0.0, max: 1.0}\n"
            "run_cap: 20\nmax_failures: 2\nparallelism: 1\n",
        ),
    )
    procs.start("controller")
    procs.start("worker", "--gpus", "none")

    # When it runs
    wait_until_done(store, sweep_id, timeout=90)

    # Then each crash is the trial's own failure, named, and the sweep fails after max_failures, not after its budget
    sweep = store.get_sweep(sweep_id)
    trials = store.get_trials(sweep_id)
    assert sweep.state is SweepState.FAILED and "max_failures=2" in sweep.reason
    assert len(trials) == 3
    assert all(t.state is TrialState.FAILED and t.error == "crashed: killed by SIGABRT" for t in trials), [
        (t.state, t.error) for t in trials
    ]


def test_data_that_cannot_be_hashed_is_named_and_neither_delays_nor_outlives_the_trial(
    tmp_path: Path, procs: Processes, store: Store
) -> None:
    # Given declared data no one can hash whole: a /proc file that never ends, a FIFO no one writes, and the whole file system
    os.mkfifo(tmp_path / "pipe")
    sweep_id = submit(
        procs,
        write_sweep(
            tmp_path,
            """
            method: random
            metric: {name: loss}
            program: trial_program.py
            parameters:
              x: {min: 0.0, max: 1.0}
              sleep: {value: 0.3}
            data: [/proc/self/pagemap, pipe, /]
            run_cap: 2
            """,
        ),
    )
    procs.start("controller")
    procs.start("worker", "--gpus", "none", env={"SWEEPCTL_DATA_HASH_SECONDS": "3"})

    # When it runs
    wait_until_done(store, sweep_id, timeout=60)

    # Then the trials completed, each within its own time plus the hashing budget, and say what was not hashed and why
    for trial in store.get_trials(sweep_id):
        assert trial.state is TrialState.COMPLETED, trial.error
        assert trial.duration is not None and trial.duration < 10, trial.duration
        assert trial.data["/proc/self/pagemap"] == "not hashed: a file whose size is unknown (in /proc or /sys?)"
        assert trial.data["pipe"] == "not hashed: not a regular file or folder"
        assert trial.data["/"].startswith("not hashed: "), trial.data["/"]


def test_a_sweep_with_a_huge_parallelism_leaves_the_other_sweeps_their_turn(
    redis_settings: RedisSettings, store: Store, tmp_path: Path
) -> None:
    # Given a sweep that asks for 10,000 trials at once, submitted before a modest one
    greedy = write_sweep(
        tmp_path,
        "method: random\nmetric: {name: loss}\nprogram: p.py\nparameters:\n  x: {min: 0.0, max: 1.0}\nparallelism: 10000\n",
        name="greedy.yaml",
    )
    modest = write_sweep(
        tmp_path,
        "method: random\nmetric: {name: loss}\nprogram: p.py\nparameters:\n  x: {min: 0.0, max: 1.0}\nparallelism: 2\n",
        name="modest.yaml",
    )
    greedy_sweep, _ = lifecycle.submit_sweep(store, greedy)
    time.sleep(0.01)
    modest_sweep, _ = lifecycle.submit_sweep(store, modest)

    # When one controller serves both (no workers: trials stay queued)
    stop = threading.Event()
    controller = Controller(store, make_celery(redis_settings))
    thread = threading.Thread(target=controller.run, args=(stop,), daemon=True)
    thread.start()
    try:
        # Then the modest sweep gets its trials within seconds, long before the greedy one is filled
        wait_for(lambda: store.trial_count(modest_sweep.id) == 2, 10, "the modest sweep's trials")
        assert store.trial_count(greedy_sweep.id) < 10_000
    finally:
        stop.set()
        thread.join(30)


def test_a_trial_too_large_to_start_fails_as_the_parameters_fault_not_lost(
    tmp_path: Path, redis_settings: RedisSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a trial whose start request is over the launcher's limit (lowered here to 4 KiB: a valid sweep
    # file cannot reach the real 256 KiB, but a sweep stored by an older sweepctl could)
    monkeypatch.setattr("workers.trial_process.MAX_START_REQUEST", 4096)
    (tmp_path / "p.py").write_text("print('loss=1')\n")
    store = Store.connect(redis_settings)
    spec = parse_sweep(yaml.safe_load("method: random\nmetric: {name: loss}\nprogram: p.py\nparameters:\n  x: {value: 1}\n"))
    store.create_sweep(
        Sweep(id="big", raw_spec=dict(spec.raw), state=SweepState.RUNNING, seed=1, created_at=time.time(), workdir=str(tmp_path))
    )
    store.create_trial(Trial(sweep_id="big", number=1, state=TrialState.QUEUED, params={"x": "y" * 5000}, seed=1))
    runner = TrialRunner(store, WorkerIdentity(worker_id="host/cpu0/1", host="host", slot="cpu0"))

    # When a worker runs it
    try:
        state = runner.run("big", 1, 1)
    finally:
        runner.launcher.close()

    # Then it failed at once, saying why, on its first attempt: not left running until its lease lapsed and lost
    trial = store.get_trial("big", 1)
    assert state is TrialState.FAILED and trial.state is TrialState.FAILED and trial.attempt == 1
    assert "too large" in (trial.error or ""), trial.error
