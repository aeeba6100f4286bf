"""Workers killed, frozen, or cut off from Redis: every trial is recorded exactly once, none lost.

Each fault is injected for real: SIGKILL/SIGSTOP to real Celery worker processes,
a TCP proxy frozen between one worker and a real redis-server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from sweepctl.embedded import EmbeddedRedis
from sweepctl.records import SweepState, TrialState
from sweepctl.store import Store
from tests.faults.soak import SOAK_TRIALS, restartable, run_soak, sweep_text
from tests.faults.support import FAST, no_orphans, running_trials, send, worker_pid
from tests.support.processes import Processes, wait_for
from tests.system.helpers import read_run_log, submit, wait_until_done, write_sweep

pytestmark = pytest.mark.system


def test_worker_sigkill_ten_times_and_a_redis_restart_in_a_hundred_trial_sweep_lose_and_duplicate_nothing(
    tmp_path: Path, procs: Processes, store: Store, redis_server: EmbeddedRedis
) -> None:
    # Given a 100-trial sweep on three worker processes with 2 s leases (the soak test)
    # When, ten times, the worker process running a trial is SIGKILLed mid-trial, and Redis once
    with restartable(redis_server) as server:
        soak = run_soak(tmp_path, procs, store, server)
        sweep_id, run_log, kills = soak.sweep_id, soak.run_log, soak.kills

        # Then exactly run_cap results were recorded: none lost, none twice
        sweep = store.get_sweep(sweep_id)
        trials = store.get_trials(sweep_id)
        finished = store.finished_numbers(sweep_id)
        assert sweep.state is SweepState.FINISHED, sweep.reason
        assert [t.number for t in trials] == list(range(1, SOAK_TRIALS + 1))
        assert Counter(t.state for t in trials) == {TrialState.COMPLETED: SOAK_TRIALS}, [
            (t.number, t.state, t.error, t.lost_attempts) for t in trials if t.state is not TrialState.COMPLETED
        ] + [kills]
        assert sorted(finished) == list(range(1, SOAK_TRIALS + 1))  # each recorded once
        # each killed trial was re-run as a later attempt, elsewhere or on the restarted worker
        for index, (at, worker, number) in enumerate(kills):
            trial = store.get_trial(sweep_id, number)
            assert trial.attempt >= 2 and any(a["worker"] == worker for a in trial.lost_attempts), (
                f"kill {index + 1} at {at:.3f} of {worker} running trial {number}: attempt {trial.attempt}, "
                f"started {trial.started_at}, ended {trial.ended_at}, worker {trial.worker}, lost {trial.lost_attempts}"
            )
        ends = Counter(r["number"] for r in read_run_log(run_log, "end"))
        assert set(ends) == set(range(1, SOAK_TRIALS + 1))
        # And no trial process outlived its worker
        groups = [r["pgid"] for r in read_run_log(run_log)]
        wait_for(lambda: no_orphans(groups, tmp_path), 10, "no orphan trial processes")
        assert sum(1 for t in trials if t.state is TrialState.LOST) == 0 and len(finished) - len(set(finished)) == 0


def test_frozen_worker_loses_its_trial_and_its_late_result_is_rejected(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given one 3-second trial running on worker A (its 2 s lease lapses before it ends), with worker B idle
    run_log = tmp_path / "runs.jsonl"
    env = {**FAST, "RUN_LOG": str(run_log)}
    sweep_id = submit(procs, write_sweep(tmp_path, sweep_text(1, sleep=3, parallelism=1)))
    procs.start("controller", env=env)
    procs.start("worker", "--gpus", "none", env=env)
    first = wait_for(lambda: running_trials(store, sweep_id), 30, "the trial to run")[0]
    # Claimed is not yet started: frozen in between, A would start attempt 1 only after thawing
    wait_for(lambda: read_run_log(run_log), 30, "attempt 1's program to start")
    frozen = worker_pid(first.worker)
    procs.start("worker", "--gpus", "none", env=env)

    # When worker A is frozen (SIGSTOP) past its lease, and thawed after the trial ran elsewhere
    send(frozen, signal.SIGSTOP)
    try:
        wait_for(lambda: store.get_trial(sweep_id, 1).attempt == 2, 20, "the reaper to re-queue the trial")
        wait_until_done(store, sweep_id, timeout=30)
    finally:
        send(frozen, signal.SIGCONT)

    # Then attempt 2 on worker B is the one result; A's late writes are refused and counted
    wait_for(lambda: store.rejections(sweep_id).get("stale", 0) >= 1, 30, "worker A's late result to be refused")
    trial = store.get_trial(sweep_id, 1)
    assert trial.state is TrialState.COMPLETED and trial.attempt == 2 and trial.worker != first.worker
    assert [a["worker"] for a in trial.lost_attempts] == [first.worker]
    assert store.finished_numbers(sweep_id) == [1]
    assert sorted(r["attempt"] for r in read_run_log(run_log)) == [1, 2]


def test_a_trial_longer_than_the_visibility_timeout_runs_exactly_once(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given Redis re-delivering unacked messages after 2 s, and a 7-second trial
    run_log = tmp_path / "runs.jsonl"
    env = {"SWEEPCTL_VISIBILITY_TIMEOUT": "2", "RUN_LOG": str(run_log)}
    sweep_id = submit(procs, write_sweep(tmp_path, sweep_text(1, sleep=7, parallelism=1)))
    procs.start("controller", env=env)
    procs.start("worker", "--gpus", "none", "--concurrency", "2", env=env, log=tmp_path / "workers.log")

    # When it runs while the broker hands its message out again
    wait_until_done(store, sweep_id, timeout=60)

    # Then the program ran once and the redelivered message was refused by the claim
    assert len(read_run_log(run_log)) == 1
    trial = store.get_trial(sweep_id, 1)
    assert trial.state is TrialState.COMPLETED and trial.attempt == 1
    assert store.rejections(sweep_id).get("not_queued", 0) >= 1, "the message was never re-delivered: test proves nothing"


def test_partitioned_worker_loses_its_trial_and_its_writes_are_rejected_after_healing(
    tmp_path: Path, procs: Processes, store: Store, redis_server
) -> None:  # type: ignore[no-untyped-def]
    # Given worker A reaching Redis only through a proxy, running a 4-second trial (longer than its 2 s lease)
    proxy = subprocess.Popen(
        [sys.executable, "-m", "tests.support.tcp_proxy", "127.0.0.1", str(redis_server.port)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        start_new_session=True,
    )
    try:
        assert proxy.stdout is not None
        proxy_port = int(proxy.stdout.readline())
        via_proxy = redis_server.url.replace(f":{redis_server.port}/", f":{proxy_port}/")
        run_log = tmp_path / "runs.jsonl"
        env = {**FAST, "RUN_LOG": str(run_log)}
        sweep_id = submit(procs, write_sweep(tmp_path, sweep_text(1, sleep=4, parallelism=1)))
        procs.start("controller", env=env)
        procs.start("worker", "--gpus", "none", env={**env, "SWEEPCTL_REDIS_URL": via_proxy})
        first = wait_for(lambda: running_trials(store, sweep_id), 30, "the trial to run on worker A")[0]
        procs.start("worker", "--gpus", "none", env=env)

        # When the proxy is frozen (a partition) past the lease, and healed after the trial ran elsewhere
        os.kill(proxy.pid, signal.SIGSTOP)
        try:
            wait_for(lambda: store.get_trial(sweep_id, 1).attempt == 2, 20, "the reaper to re-queue the trial")
            wait_until_done(store, sweep_id, timeout=40)
        finally:
            os.kill(proxy.pid, signal.SIGCONT)

        # Then worker B's attempt 2 is the result, and A's writes after healing were refused
        wait_for(lambda: sum(store.rejections(sweep_id).values()) >= 1, 40, "worker A's stale writes to be refused")
        trial = store.get_trial(sweep_id, 1)
        assert trial.state is TrialState.COMPLETED and trial.attempt == 2 and trial.worker != first.worker
        assert store.finished_numbers(sweep_id) == [1]
    finally:
        proxy.kill()
        proxy.wait(5)
