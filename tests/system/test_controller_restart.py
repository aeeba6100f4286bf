"""A controller killed with SIGKILL and restarted continues the same sweep; seeded sweeps repeat."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import pytest

from sweepctl.records import SweepState, Trial, TrialState
from sweepctl.store import Outcome, Store, keys
from tests.support.processes import Processes, kill_group, wait_for
from tests.system.helpers import read_run_log, submit, wait_until_done, write_sweep

pytestmark = pytest.mark.system

SWEEP = """
method: tpe
metric: {name: loss}
program: trial_program.py
parameters:
  x: {min: -2.0, max: 3.0}
  sleep: {value: 0.15}
run_cap: 30
parallelism: 2
seed: 5
"""


def test_controller_sigkill_and_restart_finishes_the_sweep_without_rerunning(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a sweep under way
    sweep_file = write_sweep(tmp_path, SWEEP)
    run_log = tmp_path / "runs.jsonl"
    sweep_id = submit(procs, sweep_file)
    first = procs.start("controller")
    procs.start("worker", "--gpus", "none", "--concurrency", "2", env={"RUN_LOG": str(run_log)})
    wait_for(lambda: len(store.finished_numbers(sweep_id)) >= 8, 60, "8 finished trials")

    # When the controller is killed outright, mid-sweep, and a new one started
    kill_group(first.pid, signal.SIGKILL)
    first.wait(10)
    finished_before = set(store.finished_numbers(sweep_id))
    assert store.get_sweep(sweep_id).state is SweepState.RUNNING
    procs.start("controller")
    wait_until_done(store, sweep_id, timeout=90)

    # Then the sweep reached its run_cap exactly, each trial ran once, finished ones were not redone
    assert store.get_sweep(sweep_id).state is SweepState.FINISHED
    trials = store.get_trials(sweep_id)
    assert [t.number for t in trials] == list(range(1, 31))
    assert all(t.state is TrialState.COMPLETED and t.attempt == 1 for t in trials)
    runs = Counter(r["number"] for r in read_run_log(run_log))
    assert runs == Counter(range(1, 31))
    assert finished_before < set(store.finished_numbers(sweep_id))


def test_same_seed_gives_the_same_sequence_of_parameters(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given the same seeded TPE sweep submitted twice (one trial at a time, deterministic objective,
    # past hyperopt's 20 random start-up trials so TPE's own choices are compared too)
    sweep_file = write_sweep(tmp_path, SWEEP.replace("parallelism: 2", "parallelism: 1").replace("0.15", "0"))
    procs.start("controller")
    procs.start("worker", "--gpus", "none")
    sequences = []
    for _ in range(2):
        sweep_id = submit(procs, sweep_file)
        wait_until_done(store, sweep_id, timeout=90)
        trials = store.get_trials(sweep_id)
        assert len(trials) == 30
        sequences.append([(t.params, t.seed) for t in trials])
    # Then both sweeps suggested the same parameters and trial seeds, in the same order
    assert sequences[0] == sequences[1]
    assert len({p["x"] for p, _ in sequences[0]}) == 30


def record_trial_one(tmp_path: Path, procs: Processes, store: Store) -> str:
    """A 3-trial sweep with trial 1 recorded as a controller records it, before any controller runs."""
    sweep_id = submit(procs, write_sweep(tmp_path, SWEEP.replace("run_cap: 30", "run_cap: 3")))
    created = store.get_sweep(sweep_id).created_at
    one = Trial(sweep_id=sweep_id, number=1, state=TrialState.QUEUED, params={"x": 0.25, "sleep": 0}, seed=1, created_at=created)
    assert store.create_trial(one) is Outcome.OK
    return sweep_id


def test_trial_recorded_but_never_sent_by_a_dead_controller_is_sent_by_the_next(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a controller that died between recording trial 1 and handing it to Celery
    sweep_id = record_trial_one(tmp_path, procs, store)
    run_log = tmp_path / "runs.jsonl"

    # When a new controller and a worker start
    procs.start("controller")
    procs.start("worker", "--gpus", "none", env={"RUN_LOG": str(run_log)})
    wait_until_done(store, sweep_id, timeout=60)

    # Then the orphan ran once with its recorded parameters, and the budget counted it
    first = store.get_trial(sweep_id, 1)
    assert first.state is TrialState.COMPLETED and first.params == {"x": 0.25, "sleep": 0}
    assert Counter(r["number"] for r in read_run_log(run_log)) == Counter([1, 2, 3])


def test_a_queued_trial_whose_message_was_lost_is_sent_again_and_runs_once(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given trial 1 recorded as sent, but its Celery message gone (a Redis crash inside its
    # AOF second, or a worker that took it and lost the broker before claiming it)
    sweep_id = record_trial_one(tmp_path, procs, store)
    store.mark_sent(sweep_id, [1], store.get_sweep(sweep_id).created_at)
    run_log = tmp_path / "runs.jsonl"

    # When a controller that treats 1 s without a waiting message as lost, and a worker, start
    procs.start("controller", env={"SWEEPCTL_LOST_MESSAGE_SECONDS": "1"})
    procs.start("worker", "--gpus", "none", env={"RUN_LOG": str(run_log)})
    wait_until_done(store, sweep_id, timeout=60)

    # Then trial 1 was sent again and ran exactly once, with its recorded parameters
    first = store.get_trial(sweep_id, 1)
    assert first.state is TrialState.COMPLETED and first.params == {"x": 0.25, "sleep": 0} and first.attempt == 1
    assert Counter(r["number"] for r in read_run_log(run_log)) == Counter([1, 2, 3])


def test_trials_whose_messages_vanish_under_a_running_controller_are_sent_again(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a running controller (1 s without a waiting message counts as lost) that has queued two trials
    sweep_id = submit(procs, write_sweep(tmp_path, SWEEP.replace("run_cap: 30", "run_cap: 4")))
    procs.start("controller", env={"SWEEPCTL_LOST_MESSAGE_SECONDS": "1"})
    wait_for(lambda: len(store.active_numbers(sweep_id)) == 2, 30, "two queued trials")
    # When both messages vanish, and trial 2 looks never sent (Redis applied its creation, lost the reply)
    store.redis.delete(keys.celery_queue_key("sweepctl"))
    store.redis.hdel(keys.trial_key(sweep_id, 2), "sent_at")
    run_log = tmp_path / "runs.jsonl"
    procs.start("worker", "--gpus", "none", env={"RUN_LOG": str(run_log)})
    wait_until_done(store, sweep_id, timeout=60)
    # Then every trial ran, exactly once
    assert Counter(r["number"] for r in read_run_log(run_log)) == Counter([1, 2, 3, 4])
