"""A sweep submitted to Redis, run by a separately started controller and two worker processes."""

from __future__ import annotations

import json
import math
import socket
from pathlib import Path

import pytest

from sweepctl.records import SweepState, TrialState
from sweepctl.store import Store
from sweepctl.telemetry import read_snapshot
from tests.support.processes import Processes, wait_for
from tests.system.helpers import read_run_log, submit, wait_until_done, write_sweep

pytestmark = pytest.mark.system


def test_thirty_trials_through_controller_and_two_workers(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a program sweep of 30 trials and two workers on separate processes
    sweep_file = write_sweep(
        tmp_path,
        """
        method: tpe
        metric: {name: loss, goal: minimize}
        program: trial_program.py
        parameters:
          x: {distribution: uniform, min: -3, max: 3}
          sleep: {value: 0.05}
        run_cap: 30
        parallelism: 4
        seed: 11
        """,
    )
    run_log = tmp_path / "runs.jsonl"
    env = {"RUN_LOG": str(run_log)}
    sweep_id = submit(procs, sweep_file)
    procs.start("worker", "--gpus", "none", log=tmp_path / "worker-a.log", env=env)
    procs.start("worker", "--gpus", "none", log=tmp_path / "worker-b.log", env=env)
    # (both up before any trial exists, or the first one up could run all 30 short trials)
    wait_for(lambda: len(store.workers()) == 2, 30, "both workers to register")
    procs.start("controller", log=tmp_path / "controller.log", env=env)

    # When the sweep runs to its run_cap
    wait_until_done(store, sweep_id, timeout=120)

    # Then it finished with exactly 30 completed trials, each run once
    sweep = store.get_sweep(sweep_id)
    assert sweep.state is SweepState.FINISHED, sweep.reason
    trials = store.get_trials(sweep_id)
    assert [t.number for t in trials] == list(range(1, 31))
    assert sorted(r["number"] for r in read_run_log(run_log)) == list(range(1, 31))
    workers = set()
    for t in trials:
        assert t.state is TrialState.COMPLETED, (t.number, t.error)
        assert set(t.params) == {"x", "sleep"} and -3 <= t.params["x"] <= 3
        assert t.objective == pytest.approx((t.params["x"] - 1) ** 2)
        assert t.started_at is not None and t.ended_at is not None and t.created_at <= t.started_at <= t.ended_at
        assert t.host == socket.gethostname() and t.worker
        assert t.exit_code == 0 and t.argv[2].endswith("trial_program.py")
        history = store.metric_history(sweep_id, t.number)
        assert [p.step for p in history[:3]] == [0, 1, 2]
        assert history[-1].values["loss"] == t.objective
        workers.add(t.worker)
    # both worker processes took trials
    assert len(workers) == 2

    # And `best` and `trials --format json` agree with what was recorded
    best = json.loads(procs.run("best", sweep_id, "--format", "json", check=True).stdout)
    expected = min(trials, key=lambda t: (t.objective, t.number))
    assert best["number"] == expected.number and best["objective"] == expected.objective
    listed = json.loads(procs.run("trials", sweep_id, "--format", "json", check=True).stdout)
    assert [r["number"] for r in listed] == list(range(1, 31))
    for row, t in zip(listed, trials):
        assert row["params"] == t.params and row["state"] == "completed" and row["objective"] == t.objective
        assert row["worker"] == t.worker and row["argv"] == list(t.argv)
    assert min(r["objective"] for r in listed) == best["objective"]
    status = json.loads(procs.run("status", sweep_id, "--format", "json", check=True).stdout)
    assert status["state"] == "finished" and status["trials"] == {"completed": 30}
    assert math.isclose(status["best"]["objective"], best["objective"])

    # And the suggestion latency histogram counts each of the 30 suggestions (written at most once
    # a second while the sweep runs, and the rest when it ends)
    stats = next(s.stats for s in read_snapshot(store, keep_finished=3600).sweeps if s.sweep.id == sweep_id)
    assert stats["suggest_count"] == 30 and stats["suggest_sum"] > 0
