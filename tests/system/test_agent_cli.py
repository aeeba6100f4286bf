"""`sweepctl agent SWEEP_ID [--count N]`: a submitted sweep's trials run on this machine, as `wandb agent` runs them."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from sweepctl.records import SweepState, TrialState
from sweepctl.store import Store
from tests.support.processes import Processes, child_env, pids_in_group, wait_for
from tests.system.helpers import read_run_log, submit, write_sweep

pytestmark = pytest.mark.system

SWEEP = """
method: random
metric: {name: loss, goal: minimize}
program: trial_program.py
parameters:
  x: {distribution: uniform, min: -3, max: 3}
  sleep: {value: 0.6}
seed: 5
"""


def test_agent_with_count_runs_exactly_that_many_trials_and_exits_0(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a sweep submitted first, with no run_cap: it would run for ever
    sweep_id = submit(procs, write_sweep(tmp_path, SWEEP))
    run_log = tmp_path / "runs.jsonl"
    # When an agent with two worker processes is asked for 3 trials
    done = procs.run("agent", sweep_id, "--count", "3", "--workers", "2", "--format", "json", timeout=120, env={"RUN_LOG": str(run_log)})
    # Then it exits 0 once they are done, printing the best of them
    assert done.returncode == 0, done.stderr
    assert "agent done: ran 3 trial(s)" in done.stderr
    best = json.loads(done.stdout)
    # And exactly 3 trial processes ever started, each once, and completed
    started = read_run_log(run_log)
    assert len(started) == 3 and len({r["number"] for r in started}) == 3
    trials = {t.number: t for t in store.get_trials(sweep_id)}
    ran = [trials[r["number"]] for r in started]
    assert all(t.state is TrialState.COMPLETED for t in ran)
    assert best["number"] in {t.number for t in ran}
    # And every other trial waits in the queue (a claimed one past the third went back unstarted), the sweep goes on
    others = [t for t in trials.values() if t.number not in {r["number"] for r in started}]
    assert all(t.state is TrialState.QUEUED for t in others)
    assert all(entry["reason"] == "handed_back" for t in others for entry in t.lost_attempts)
    assert store.get_sweep(sweep_id).state is SweepState.RUNNING
    # And it left no worker registered, no controller owning the sweep, and no count of its own behind
    assert store.workers() == {} and store.sweep_owner(sweep_id) is None
    assert list(store.redis.scan_iter("sweepctl:agent:*")) == []


def test_wandb_habits_on_a_fresh_folder_sweep_then_agent_on_the_embedded_store(tmp_path: Path) -> None:
    # Given a folder with a sweep file, no Redis given and no store yet: what `wandb sweep` + `wandb agent` users type
    local = Processes(child_env(), cwd=tmp_path)
    try:
        sweep_file = write_sweep(tmp_path, SWEEP + "run_cap: 3\nproject: demo\n")
        state = ["--state-dir", str(tmp_path / "state")]
        # When `sweepctl sweep FILE` creates the sweep, then `sweepctl agent ID --count 2` runs it
        created = local.run("sweep", str(sweep_file), *state, timeout=60)
        assert created.returncode == 0, created.stderr
        sweep_id = created.stdout.strip()
        assert "note: " in created.stderr and "project: " in created.stderr  # the W&B key it ignores, said as validate says it
        done = local.run("agent", sweep_id, "--count", "2", *state, timeout=120)
        # Then the id printed alone was the sweep's, the agent ran 2 trials and exited 0
        assert done.returncode == 0, done.stderr
        assert "agent done: ran 2 trial(s)" in done.stderr
        # And a second agent finishes the sweep from the same folder's store
        assert local.run("agent", sweep_id, *state, timeout=120).returncode == 0
        shown = local.run("trials", sweep_id, "--format", "json", *state, timeout=60)
        assert [t["state"] for t in json.loads(shown.stdout)] == ["completed"] * 3
    finally:
        local.close()


def test_agent_without_count_runs_until_the_sweep_is_over(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a sweep of 4 trials
    sweep_id = submit(procs, write_sweep(tmp_path, SWEEP + "run_cap: 4\n"))
    # When an agent is started for it
    done = procs.run("agent", sweep_id, timeout=120)
    # Then it exits 0 once the sweep is finished, its 4 trials completed
    assert done.returncode == 0, done.stderr
    assert store.get_sweep(sweep_id).state is SweepState.FINISHED
    assert [t.state for t in store.get_trials(sweep_id)] == [TrialState.COMPLETED] * 4


def test_ctrl_c_stops_the_agent_and_not_the_sweep(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given an agent running a sweep's long trials
    sweep_id = submit(procs, write_sweep(tmp_path, SWEEP.replace("sleep: {value: 0.6}", "sleep: {value: 60}")))
    agent = procs.start("agent", sweep_id, log=tmp_path / "agent.log")
    wait_for(lambda: store.counts(sweep_id)[TrialState.RUNNING] == 1, 60, "a trial to run")
    # When it gets SIGINT (Ctrl-C)
    agent.send_signal(signal.SIGINT)
    # Then it exits, leaving no process behind, and its running trial went back to the queue
    assert agent.wait(60) == 130, (tmp_path / "agent.log").read_text()
    assert pids_in_group(agent.pid) == []
    wait_for(lambda: store.counts(sweep_id)[TrialState.RUNNING] == 0, 10, "no trial running")
    assert any(entry["reason"] == "handed_back" for t in store.get_trials(sweep_id) for entry in t.lost_attempts)
    # And the sweep goes on, for the next agent
    assert store.get_sweep(sweep_id).state is SweepState.RUNNING


def test_agent_refuses_a_sweep_made_for_the_python_agent(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a sweep with no program and no function (its trials are calls of a Python function)
    (tmp_path / "noprogram.yaml").write_text("metric: {name: loss}\nparameters: {x: {min: 0.0, max: 1.0}}\n")
    sweep_id = submit(procs, tmp_path / "noprogram.yaml")
    # When `sweepctl agent` is asked to run it
    refused = procs.run("agent", sweep_id)
    # Then it refuses, saying where such trials run, and started nothing
    assert refused.returncode == 2
    assert f"sweep {sweep_id} has no program and no function" in refused.stderr
    assert "sweepctl.agent(sweep_id, function=train)" in refused.stderr
    assert store.trial_count(sweep_id) == 0 and store.workers() == {}


def test_the_store_counts_at_most_n_trials_of_an_agent_and_a_counted_one_again(store: Store) -> None:
    # Given an agent of 3 trials whose workers counted trials 1, 2 and 3
    assert [store.admit_trial("agent1", n, 3) for n in (1, 2, 3)] == [True, True, True]
    # Then a fourth is refused, while another attempt of a counted one is admitted again
    assert store.admit_trial("agent1", 4, 3) is False
    assert store.admit_trial("agent1", 2, 3) is True
    assert store.admitted_trials("agent1") == [1, 2, 3]
    # And another agent counts on its own; a forgotten count is gone
    assert store.admit_trial("agent2", 4, 1) is True
    store.forget_count("agent1")
    assert store.admitted_trials("agent1") == [] and store.admitted_trials("agent2") == [4]
