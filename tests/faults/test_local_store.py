"""The embedded default under careless use: two runs in one folder, a trial deleting its folder,
the store's redis-server killed, `sweepctl run` killed. Nothing recorded is lost; nothing lingers."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sweepctl.local_store import local_store_dir, serve_local_store
from sweepctl.records import SweepState, TrialState
from sweepctl.settings import RedisSettings
from sweepctl.store import Store
from tests.faults.support import processes_running
from tests.support.processes import (
    Processes,
    child_env,
    process_alive,
    sweepctl_argv,
    wait_for,
)
from tests.system.helpers import write_sweep

pytestmark = pytest.mark.system

SLOW = """
method: random
metric: {name: loss}
program: trial_program.py
parameters:
  x: {min: -2.0, max: 2.0}
  sleep: {value: 2}
run_cap: 3
seed: 3
"""
QUICK = SLOW.replace("sleep: {value: 2}", "sleep: {value: 0.2}")


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Processes]:
    """sweepctl processes with no Redis URL: they use the embedded store of tmp_path."""
    manager = Processes(child_env(), cwd=tmp_path)
    yield manager
    manager.close()


def test_a_second_run_in_the_same_folder_is_refused_while_the_first_runs_and_both_sweeps_are_kept(tmp_path: Path, local: Processes) -> None:
    # Given a `sweepctl run` under way in a folder
    first = local.start("run", str(write_sweep(tmp_path, SLOW)), "--workers", "1", log=tmp_path / "first.log")
    wait_for(lambda: "worker logs" in (tmp_path / "first.log").read_text(), 30, "the first run to start")

    # When a second run (of short trials) starts in the same folder
    second = local.run("run", str(write_sweep(tmp_path, QUICK, name="other.yaml")), "--workers", "1", timeout=60)

    # Then it is refused at once, naming the run that serves the store, and changes nothing
    assert second.returncode == 2, second.stdout + second.stderr
    assert f"is served by `sweepctl run` (pid {first.pid})" in second.stderr and "--state-dir" in second.stderr
    assert "Traceback" not in second.stderr
    # and meanwhile a short command shares the running store
    listed = local.run("status", "--format", "json", timeout=60)
    assert listed.returncode == 0 and '"state": "running"' in listed.stdout, listed.stderr
    # and the first run finishes untouched
    assert first.wait(90) == 0, (tmp_path / "first.log").read_text()[-2000:]

    # When the second run starts again now that the first is over, Then it runs, on the same store
    again = local.run("run", str(tmp_path / "other.yaml"), "--workers", "1", timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    with serve_local_store(local_store_dir(cwd=tmp_path), command="test", long_running=False, create=False) as served:
        store = Store.connect(RedisSettings.from_url(served.url))
        sweeps = [store.get_sweep(sid) for sid in store.sweep_ids()]
        assert all(len(store.get_trials(s.id)) == 3 for s in sweeps)
    assert [s.state for s in sweeps] == [SweepState.FINISHED, SweepState.FINISHED]


def test_two_runs_started_together_in_one_folder_never_share_one_store_folder(tmp_path: Path, local: Processes) -> None:
    # Given two sweep files in one folder / When two runs start at the same moment
    runs = [
        subprocess.Popen(
            sweepctl_argv("run", str(write_sweep(tmp_path, SLOW.replace("run_cap: 3", "run_cap: 1"), name=f"s{i}.yaml")), "--workers", "1"),
            cwd=tmp_path,
            env=local.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for i in range(2)
    ]
    results = [r.communicate(timeout=120) for r in runs]

    # Then exactly one ran; the other was refused by name and started no redis-server of its own
    codes = sorted(r.returncode for r in runs)
    assert codes == [0, 2], [err[-1500:] for _, err in results]
    refused = next(err for r, (_, err) in zip(runs, results) if r.returncode == 2)
    assert "is served by `sweepctl run`" in refused
    # and the finished sweep is in the store after it restarts from its AOF
    with serve_local_store(local_store_dir(cwd=tmp_path), command="test", long_running=False, create=False) as served:
        store = Store.connect(RedisSettings.from_url(served.url))
        store.redis.bgrewriteaof()
        wait_for(lambda: store.redis.info("persistence")["aof_rewrite_in_progress"] == 0, 30, "the AOF rewrite")
        [sweep_id] = store.sweep_ids()
    with serve_local_store(local_store_dir(cwd=tmp_path), command="test", long_running=False, create=False) as served:
        assert Store.connect(RedisSettings.from_url(served.url)).get_sweep(sweep_id).state is SweepState.FINISHED


DELETER = """
import os, shutil, sys, time
number = int(os.environ["SWEEPCTL_TRIAL_NUMBER"])
print(f"loss={number}", flush=True)
if number == 2:
    shutil.rmtree(os.getcwd())  # the trial deletes its working directory: the sweep's folder
time.sleep(0.2)
"""


def test_a_trial_deleting_its_folder_loses_no_result_and_the_workers_carry_on(tmp_path: Path) -> None:
    # Given a project folder whose second trial deletes the folder it runs in
    project = tmp_path / "project"
    project.mkdir()
    (project / "deleter.py").write_text(DELETER)
    sweep = write_sweep(
        project, "method: grid\nmetric: {name: loss}\nprogram: deleter.py\nparameters:\n  x: {values: [1, 2, 3, 4, 5]}\nparallelism: 1\n"
    )
    local = Processes(child_env(), cwd=project)
    try:
        # When the sweep runs on the embedded default
        done = subprocess.run(
            sweepctl_argv("run", str(sweep), "--workers", "2"),
            cwd=project,
            env=local.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        local.close()

    # Then the run ended normally, the folder is gone, and the store (kept elsewhere) holds every trial
    assert done.returncode == 0, done.stderr[-3000:]
    assert not project.exists()
    with serve_local_store(local_store_dir(cwd=project), command="test", long_running=False, create=False) as served:
        store = Store.connect(RedisSettings.from_url(served.url))
        [sweep_id] = store.sweep_ids()
        trials = store.get_trials(sweep_id)
        state = store.get_sweep(sweep_id).state
    assert state is SweepState.FINISHED
    assert [(t.number, t.state) for t in trials[:2]] == [(1, TrialState.COMPLETED), (2, TrialState.COMPLETED)]
    # the later trials failed at once, saying why, each once (not re-sent every 30 s)
    for t in trials[2:]:
        assert t.state is TrialState.FAILED and t.attempt == 1 and str(project) in (t.error or ""), t


def test_the_embedded_redis_killed_mid_run_ends_the_run_at_once_and_the_sweep_is_recorded_failed(tmp_path: Path, local: Processes) -> None:
    # Given a run under way on the embedded default
    log = tmp_path / "run.log"
    run = local.start("run", str(write_sweep(tmp_path, SLOW.replace("run_cap: 3", "run_cap: 20"))), "--workers", "2", log=log)
    wait_for(lambda: processes_running("trial_program.py --x=", tmp_path), 60, "a trial to start")
    server_pid = int(next(line for line in log.read_text().splitlines() if line.startswith("store:")).rsplit("pid ", 1)[1].rstrip(")"))

    # When its redis-server is SIGKILLed
    killed_at = time.monotonic()
    os.kill(server_pid, signal.SIGKILL)

    # Then the run says what happened and exits non-zero promptly, with no traceback
    assert run.wait(30) == 2, log.read_text()[-3000:]
    took = time.monotonic() - killed_at
    text = log.read_text()
    assert f"error: the run's embedded Redis (pid {server_pid}) was killed by SIGKILL" in text and "Traceback" not in text, text[-2000:]
    assert took < 20, took
    # and no trial of it runs on
    wait_for(lambda: not processes_running("trial_program.py --x=", tmp_path), 20, "the trials to end")
    # and the sweep is recorded failed, with the reason, not left running forever
    status = local.run("status", "--format", "json", timeout=60)
    assert status.returncode == 0, status.stderr
    assert '"state": "failed"' in status.stdout and "killed by SIGKILL" in status.stdout


def test_a_killed_run_takes_its_redis_server_and_workers_down(tmp_path: Path, local: Processes) -> None:
    # Given a run under way on the embedded default
    log = tmp_path / "run.log"
    run = local.start("run", str(write_sweep(tmp_path, SLOW.replace("run_cap: 3", "run_cap: 20"))), "--workers", "2", log=log)
    wait_for(lambda: processes_running("trial_program.py --x=", tmp_path), 60, "a trial to start")
    server_pid = int(next(line for line in log.read_text().splitlines() if line.startswith("store:")).rsplit("pid ", 1)[1].rstrip(")"))
    workers = processes_running("workers.process", tmp_path)

    # When `sweepctl run` itself is SIGKILLed (only it: not its process group)
    os.kill(run.pid, signal.SIGKILL)

    # Then its redis-server goes too, and so do its workers and their trials
    wait_for(lambda: not process_alive(server_pid), 15, "the redis-server to exit")
    wait_for(lambda: not any(process_alive(p) for p in workers), 60, "the workers to exit")
    wait_for(lambda: not processes_running("trial_program.py --x=", tmp_path), 30, "the trials to end")


def test_a_runs_worker_that_exits_is_started_again_and_the_sweep_finishes(tmp_path: Path, local: Processes) -> None:
    # Given a run under way with two workers
    log = tmp_path / "run.log"
    run = local.start(
        "run",
        str(write_sweep(tmp_path, SLOW.replace("run_cap: 3", "run_cap: 6").replace("sleep: {value: 2}", "sleep: {value: 1}"))),
        "--workers",
        "2",
        log=log,
    )
    wait_for(lambda: processes_running("trial_program.py --x=", tmp_path), 60, "a trial to start")
    [victim, *_] = processes_running("workers.process", tmp_path)

    # When one worker process dies (as Celery's does on a broker error it cannot recover from)
    os.kill(victim, signal.SIGKILL)

    # Then the run says so, starts it again, and the sweep finishes
    assert run.wait(120) == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert "exited with status -9; started again" in text and "finished: run_cap=6 reached" in text, text[-2000:]
