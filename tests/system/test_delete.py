"""`sweepctl delete`, `archive` and `restore` (real Redis, controllers and workers): a live sweep is refused, an ended
one leaves no key behind and comes back whole from its archive, readable by every command and never run again; a
forced delete stops running trials whose worker goes on; old sweeps are archived in bulk; the embedded store works."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sweepctl import archive_file, lifecycle
from sweepctl.export import json_rows, load_trial_table
from sweepctl.local_store import serve_local_store
from sweepctl.records import SweepState
from sweepctl.settings import RedisSettings
from sweepctl.store import Store, keys
from tests.support.processes import Processes, child_env, kill_group, wait_for
from tests.system.helpers import read_run_log, submit, wait_until_done, write_sweep
from tests.system.test_python_api import run_script

pytestmark = pytest.mark.system

SWEEP = """
method: bayes
metric: {name: loss, goal: minimize}
program: trial_program.py
parameters:
  x: {values: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]}
  sleep: {value: 0.3}
parallelism: 2
seed: 3
"""
CONTROLLER_ENV = {"SWEEPCTL_OWNER_LEASE_SECONDS": "3"}  # a killed controller's sweeps are free after 3 s


def keys_naming(store: Store, sweep_id: str) -> list[str]:
    """Every key whose name holds the sweep's id, and every global index that still lists it."""
    found = sorted(store.redis.scan_iter(match=f"*{sweep_id}*", count=1000))
    if store.redis.zscore(keys.SWEEPS, sweep_id) is not None:
        found.append("in SWEEPS")
    if store.redis.sismember(keys.LIVE_SWEEPS, sweep_id):
        found.append("in LIVE_SWEEPS")
    if any(m.startswith(f"{sweep_id}:") for m in store.redis.zrange(keys.LEASES, 0, -1)):
        found.append("in LEASES")
    if sweep_id in store.redis.lrange(keys.EVENTS, 0, -1):
        found.append("in EVENTS")
    return found


def as_json(procs: Processes, *args: str) -> object:
    return json.loads(procs.run(*args, "--format", "json", check=True).stdout)


def test_an_ended_sweep_deleted_with_its_archive_comes_back_whole_readable_by_every_command_and_never_runs_again(
    tmp_path: Path, procs: Processes, store: Store
) -> None:
    # Given a sweep of 4 short trials run to its end by a controller and a worker
    sweep_id = submit(procs, write_sweep(tmp_path, SWEEP.replace("{value: 0.3}", "{value: 0.1}") + "run_cap: 4\n"))
    controller = procs.start("controller", env=CONTROLLER_ENV)
    procs.start("worker", "--gpus", "none", "--concurrency", "2")
    wait_until_done(store, sweep_id, timeout=120)
    # And what `trials` shows of it, and its export rows
    shown = {"trials": as_json(procs, "trials", sweep_id, "--history"), "export": json_rows(load_trial_table(store, sweep_id))}
    # When it is deleted with an archive
    done = as_json(procs, "delete", sweep_id, "--archive", "kept/sweep.json.gz")
    # Then it says what it did, and no key of it is left in Redis, nor its id in any index
    assert isinstance(done, dict) and (done["sweep_id"], done["state"], done["trials"], done["forced"]) == (sweep_id, "finished", 4, False)
    assert done["archive"] == "kept/sweep.json.gz" and done["archive_bytes"] == (tmp_path / "kept/sweep.json.gz").stat().st_size
    assert keys_naming(store, sweep_id) == []

    # When the archive is restored (the controller still running)
    restored = as_json(procs, "restore", "kept/sweep.json.gz")
    assert isinstance(restored, dict) and (restored["sweep_id"], restored["state"], restored["trials"]) == (sweep_id, "finished", 4)
    # Then the commands read it as it was: trials with their metric histories, the export, status, the report
    # (importance, best and warm_start read the same records: tests/system/test_delete_store.py)
    assert as_json(procs, "trials", sweep_id, "--history") == shown["trials"]
    assert json.loads(procs.run("export", sweep_id, "--format", "json", check=True).stdout) == shown["export"]
    status = as_json(procs, "status", sweep_id)
    assert isinstance(status, dict) and (status["state"], status["trials"]) == ("finished", {"completed": 4})
    procs.run("report", sweep_id, "-o", "report.html", check=True)
    assert sweep_id in (tmp_path / "report.html").read_text()
    # And it is never run again: neither that controller nor the one that follows it takes it up
    kill_group(controller.pid, signal.SIGKILL)
    controller.wait(10)
    procs.start("controller", env=CONTROLLER_ENV)
    wait_for(lambda: len(store.controllers()) == 2, 30, "the new controller's first beat")  # the killed one's last beat counts too
    time.sleep(1.0)  # its first passes over the live sweeps
    assert sweep_id not in store.live_sweep_ids() and store.trial_count(sweep_id) == 4 and store.sweep_owner(sweep_id) is None
    assert store.sweep_state(sweep_id) is SweepState.FINISHED


def test_a_forced_delete_stops_running_trials_their_worker_fails_its_writes_cleanly_and_nothing_comes_back_after_a_failover(
    tmp_path: Path, procs: Processes, store: Store
) -> None:
    # Given a sweep whose 2 long trials run on one worker, under two controllers (one standing by)
    run_log = tmp_path / "runs.jsonl"
    sweep_id = submit(procs, write_sweep(tmp_path, SWEEP.replace("{value: 0.3}", "{value: 60}") + "run_cap: 2\n"))
    first = procs.start("controller", env=CONTROLLER_ENV)
    procs.start("controller", env=CONTROLLER_ENV)
    worker = procs.start("worker", "--gpus", "none", "--concurrency", "2", env={"RUN_LOG": str(run_log)})
    wait_for(lambda: len(read_run_log(run_log)) == 2, 60, "both trials running")
    pids = [r["pid"] for r in read_run_log(run_log)]

    # When it is deleted with --force, not waiting for its trials to end
    done = as_json(procs, "delete", sweep_id, "--force", "--wait", "0")
    # Then it was cancelled and deleted: no key of it is left
    assert isinstance(done, dict) and (done["state"], done["forced"], done["trials"]) == ("running", True, 2)
    assert keys_naming(store, sweep_id) == []
    # And its running trials are stopped, and their worker's late writes are refused without bringing a key back
    wait_for(lambda: not any(_alive(pid) for pid in pids), 30, "the trial processes stopped")
    time.sleep(1.0)
    assert keys_naming(store, sweep_id) == [] and worker.poll() is None

    # When the controller owning nothing of it dies and the other takes over, and another sweep is run
    kill_group(first.pid, signal.SIGKILL)
    first.wait(10)
    next_id = submit(procs, write_sweep(tmp_path, SWEEP + "run_cap: 1\n", "next.yaml"))
    # Then the same worker runs it to its end, and still nothing of the deleted sweep exists
    wait_until_done(store, next_id, timeout=60)
    assert [t.state.value for t in store.get_trials(next_id)] == ["completed"]
    assert keys_naming(store, sweep_id) == [] and worker.poll() is None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


def test_archive_older_than_archives_and_deletes_the_old_ended_sweeps_in_bulk(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given two sweeps that ended 40 and 35 days ago, one that ended today and one still running (no controller needed)
    path = write_sweep(tmp_path, SWEEP)
    old, older, recent, live = (lifecycle.submit_sweep(store, path)[0].id for _ in range(4))
    for sweep_id, days in ((old, 35), (older, 40), (recent, 0)):
        store.transition_sweep(sweep_id, SweepState.FINISHED, [SweepState.RUNNING], reason="done", ended_at=time.time() - days * 86400)
        store.retire_sweep(sweep_id)
    # When the running one is deleted / Then it is refused (exit 2, saying why and what to do), and nothing is gone
    refused = procs.run("delete", live)
    assert refused.returncode == 2 and f"sweep {live} is running: delete refuses a live sweep" in refused.stderr
    assert "--force" in refused.stderr and store.sweep_state(live) is SweepState.RUNNING
    # When asked for a dry run / Then the two old ones are listed, oldest first, and nothing is written or deleted
    listed = as_json(procs, "archive", "--older-than", "30d", "--to", "backups", "--dry-run")
    assert [(e["sweep_id"], e["deleted"]) for e in listed] == [(older, False), (old, False)]  # type: ignore[union-attr]
    assert not (tmp_path / "backups").exists() and len(store.sweep_ids()) == 4

    # When run with room for one sweep per run / Then the oldest goes, and it says one more is due
    first = procs.run("archive", "--older-than", "30d", "--to", "backups", "--max-sweeps", "1", "--format", "json", check=True)
    assert [e["sweep_id"] for e in json.loads(first.stdout) if e["deleted"]] == [older] and "1 more sweep(s) are due" in first.stderr
    # When run again / Then the other goes; the recent and the live sweeps stay, and each archive holds its sweep
    second = as_json(procs, "archive", "--older-than", "30d", "--to", "backups")
    assert [(e["sweep_id"], e["deleted"], e["error"]) for e in second] == [(old, True, None)]  # type: ignore[union-attr]
    assert sorted(store.sweep_ids()) == sorted([recent, live]) and keys_naming(store, old) == keys_naming(store, older) == []
    assert sorted(p.name for p in (tmp_path / "backups").iterdir()) == sorted([f"{old}.json.gz", f"{older}.json.gz"])
    assert [archive_file.read(tmp_path / "backups" / f"{s}.json.gz")["sweep"]["id"] for s in (old, older)] == [old, older]


def test_delete_archive_and_restore_work_on_the_embedded_store_and_remove_an_agents_own_queue(tmp_path: Path) -> None:
    # Given a folder's embedded store where a notebook ran 2 of a sweep's trials in its own process (its queue is its own)
    _, out = run_script(
        tmp_path,
        """
        config = {"method": "random", "metric": {"name": "loss", "goal": "minimize"}, "parameters": {"lr": {"min": 0.001, "max": 0.1}},
                  "parallelism": 3}

        def train():
            sweepctl.report(step=0, loss=sweepctl.params()["lr"])

        sweep_id = sweepctl.sweep(config, state_dir=STATE)
        sweepctl.agent(sweep_id, function=train, count=2, state_dir=STATE)
        done(sweep_id=sweep_id)
        """,
    )
    sweep_id = out["sweep_id"]
    local = Processes(child_env(), cwd=tmp_path)
    state = ("--state-dir", str(tmp_path / "state"))
    try:
        with _embedded(tmp_path) as store:
            queue = f"sweepctl.agent.{sweep_id}"
            assert {queue, f"_kombu.binding.{queue}"} <= set(keys_naming(store, sweep_id))  # its last trial's message waits
        # When it is deleted (it is still running: --force) with its archive, then restored
        done = local.run("delete", sweep_id, "--force", "--archive", "a.json", "--format", "yaml", *state, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "state: running" in done.stdout and "forced: true" in done.stdout
        with _embedded(tmp_path) as store:
            # Then nothing of it is left: not its keys, not its queue of waiting trials nor kombu's bindings of it
            assert keys_naming(store, sweep_id) == []
        shown = local.run("restore", "a.json", *state, timeout=60)
        assert shown.returncode == 0, shown.stderr
        assert "state" in shown.stdout and "cancelled" in shown.stdout
        # And the restored sweep reads back: its 2 completed trials, the others cancelled
        trials = json.loads(local.run("trials", sweep_id, "--format", "json", *state, timeout=60).stdout)
        assert sorted(t["state"] for t in trials).count("completed") == 2
        assert {t["state"] for t in trials} == {"completed", "cancelled"}
    finally:
        local.close()


@contextmanager
def _embedded(tmp_path: Path) -> Iterator[Store]:
    """The test folder's embedded store, served for the test."""
    with serve_local_store(tmp_path / "state", command="test", long_running=False, create=False) as local:
        yield Store.connect(RedisSettings.from_url(local.url))
