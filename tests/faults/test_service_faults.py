"""Redis and controllers dying mid-sweep: acknowledged results survive, the sweep finishes, once each."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from sweepctl.embedded import EmbeddedRedis
from sweepctl.records import SweepState, TrialState
from sweepctl.store import Store, keys
from tests.faults.support import AOF_HOLDBACK_SECONDS, FAST
from tests.support.processes import Processes, kill_group, wait_for
from tests.system.helpers import read_run_log, submit, wait_until_done, write_sweep

pytestmark = pytest.mark.system

SWEEP = """
method: random
metric: {name: loss}
program: trial_program.py
parameters:
  x: {min: -2.0, max: 2.0}
  sleep: {value: 0.3}
run_cap: 40
parallelism: 3
seed: 17
"""


def test_redis_sigkill_and_restart_keeps_acknowledged_results_and_the_sweep_finishes(
    tmp_path: Path, procs: Processes, store: Store, redis_server: EmbeddedRedis
) -> None:
    # Given a sweep under way on an AOF-everysec Redis
    run_log = tmp_path / "runs.jsonl"
    env = {**FAST, "RUN_LOG": str(run_log)}
    sweep_id = submit(procs, write_sweep(tmp_path, SWEEP))
    procs.start("controller", env=env, log=tmp_path / "controller.log")
    procs.start("worker", "--gpus", "none", "--concurrency", "3", env=env, log=tmp_path / "workers.log")
    wait_for(lambda: len(store.finished_numbers(sweep_id)) >= 10, 60, "10 finished trials")

    # When Redis is SIGKILLed (results read back from it count as acknowledged) and restarted
    acknowledged = {t.number: t.objective for t in store.get_trials(sweep_id) if t.state is TrialState.COMPLETED}
    redis_server.kill()
    restarted = EmbeddedRedis(data_dir=redis_server.data_dir, password=redis_server.password, port=redis_server.port).start()
    try:
        # Then everyone reconnects, the sweep finishes, and what was acknowledged is still there
        wait_until_done(store, sweep_id, timeout=120)
        trials = store.get_trials(sweep_id)
        by_number = {t.number: t for t in trials}
        for number, objective in acknowledged.items():
            assert by_number[number].state is TrialState.COMPLETED and by_number[number].objective == objective
        assert store.get_sweep(sweep_id).state is SweepState.FINISHED
        assert [t.number for t in trials] == list(range(1, 41))
        assert all(t.state is TrialState.COMPLETED for t in trials)
        finished = store.finished_numbers(sweep_id)
        assert sorted(finished) == list(range(1, 41))  # no result recorded twice
        assert store.redis.zcard(keys.LEASES) == 0
    finally:
        restarted.kill()


def test_second_controller_takes_over_a_sweep_when_the_owner_is_killed(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given two controllers, one owning the sweep
    run_log = tmp_path / "runs.jsonl"
    env = {**FAST, "RUN_LOG": str(run_log)}
    sweep_id = submit(procs, write_sweep(tmp_path, SWEEP))
    controllers = [procs.start("controller", env=env) for _ in range(2)]
    procs.start("worker", "--gpus", "none", "--concurrency", "3", env=env)
    wait_for(lambda: len(store.finished_numbers(sweep_id)) >= 8, 60, "8 finished trials")
    owner = store.redis.get(keys.owner_key(sweep_id))
    owner_proc = next(c for c in controllers if f"/{c.pid}/" in owner)
    standby = next(c for c in controllers if c is not owner_proc)

    # When the owner is SIGKILLed
    kill_group(owner_proc.pid, signal.SIGKILL)
    owner_proc.wait(10)

    # Then the standby takes the sweep over and finishes it, each trial once
    wait_for(lambda: f"/{standby.pid}/" in (store.redis.get(keys.owner_key(sweep_id)) or ""), 20, "the standby to own the sweep")
    wait_until_done(store, sweep_id, timeout=120)
    trials = store.get_trials(sweep_id)
    assert store.get_sweep(sweep_id).state is SweepState.FINISHED
    assert [t.number for t in trials] == list(range(1, 41)) and all(t.state is TrialState.COMPLETED for t in trials)
    assert Counter(r["number"] for r in read_run_log(run_log, "end")) == Counter(range(1, 41))


def test_a_trial_keeps_running_through_a_redis_outage_and_its_metrics_arrive_afterwards(
    tmp_path: Path, procs: Processes, store: Store, redis_server: EmbeddedRedis
) -> None:
    # Given a 9-second trial reporting every 3 s (default 30 s lease)
    run_log = tmp_path / "runs.jsonl"
    env = {"RUN_LOG": str(run_log)}
    sweep_id = submit(procs, write_sweep(tmp_path, SWEEP.replace("0.3", "9").replace("run_cap: 40", "run_cap: 1")))
    procs.start("controller", env=env)
    procs.start("worker", "--gpus", "none", env=env)
    wait_for(lambda: read_run_log(run_log), 30, "the trial to start")
    time.sleep(AOF_HOLDBACK_SECONDS)  # its claim is in the AOF: the crash below cannot undo it

    # When Redis is down for 4 s in the middle of it
    redis_server.kill()
    time.sleep(4)
    restarted = EmbeddedRedis(data_dir=redis_server.data_dir, password=redis_server.password, port=redis_server.port).start()
    try:
        # Then the same attempt finishes, with every report it made during the outage
        wait_until_done(store, sweep_id, timeout=60)
        trial = store.get_trial(sweep_id, 1)
        assert trial.state is TrialState.COMPLETED and trial.attempt == 1 and trial.dropped_points == 0
        history = store.metric_history(sweep_id, 1)
        assert [p.step for p in history if p.step is not None] == [0, 1, 2]
        assert history[-1].values["loss"] == trial.objective
        assert len(read_run_log(run_log)) == 1
    finally:
        restarted.kill()
