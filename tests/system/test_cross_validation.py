"""K-fold trials end to end: `cross_validation: {folds: 5}` on real workers, a controller restarted, the CLI; and in Python.

One sweep serves several assertions (the suite is slow): 3 trials of 5 folds on 3 worker processes,
with the controller SIGKILLed mid-sweep and another taking over.
"""

from __future__ import annotations

import csv
import io
import json
import signal
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from sweepctl.cli import cli
from sweepctl.errors import RerunError
from sweepctl.kfold import mean_and_std
from sweepctl.records import SweepState, TrialState
from sweepctl.settings import RedisSettings
from sweepctl.store import Store
from tests.support.processes import Processes, kill_group, wait_for
from tests.system.helpers import read_run_log, submit, wait_until_done, write_sweep
from tests.system.test_python_api import local_store, run_script

pytestmark = pytest.mark.system

FOLDS = 5
SWEEP = """
method: bayes
metric: {name: loss}
parameters:
  x: {min: 0.0, max: 2.0}
  sleep: {value: 0.3}
program: fold_program.py
command: ["${env}", "${interpreter}", "${program}", "--fold", "${fold}", "${args}"]
cross_validation: {folds: 5}
run_cap: 3
seed: 5
"""
# The controller's ownership lease, short: a controller that replaces a killed one takes over within seconds.
FAST = {"SWEEPCTL_OWNER_LEASE_SECONDS": "2", "SWEEPCTL_LEASE_SECONDS": "4"}


def test_a_five_fold_sweep_on_three_workers_averages_folds_run_across_workers(
    tmp_path: Path, procs: Processes, store: Store, redis_settings: RedisSettings
) -> None:
    # Given three worker processes, all up, and a 5-fold sweep of 3 trials (TPE) whose program checks that
    # --fold ${fold}, SWEEPCTL_FOLD and sweepctl.fold() agree
    run_log = tmp_path / "runs.jsonl"
    env = {**FAST, "RUN_LOG": str(run_log)}
    procs.start("worker", "--gpus", "none", "--concurrency", "3", env=env, log=tmp_path / "workers.log")
    sweep_id = submit(procs, write_sweep(tmp_path, SWEEP))
    wait_for(lambda: len(store.workers()) == 3, 60, "three workers to heartbeat")
    first = procs.start("controller", env=env)
    # When the controller is SIGKILLed once the first trial ended, and another takes over
    wait_for(lambda: store.finished_numbers(sweep_id), 60, "the first trial to end")
    kill_group(first.pid, signal.SIGKILL)
    procs.start("controller", env=env)
    wait_until_done(store, sweep_id, timeout=90)

    # Then every trial completed with 5 fold results, each fold run once, on more than one worker
    assert store.get_sweep(sweep_id).state is SweepState.FINISHED
    trials = store.get_trials(sweep_id)
    folds = store.get_folds(sweep_id, trials)
    assert [t.number for t in trials] == [1, 2, 3] and {t.state for t in trials} == {TrialState.COMPLETED}
    for trial in trials:
        records = folds[trial.number]
        assert [(f.fold, f.state, f.attempt) for f in records] == [(i, TrialState.COMPLETED, 1) for i in range(FOLDS)]
        assert len({f.worker for f in records}) > 1, [f.worker for f in records]
        # And its objective is the mean of its folds', with their standard deviation and each fold's value recorded
        values = [f.objective for f in records]
        assert all(v is not None for v in values)
        assert (trial.objective, trial.objective_std) == mean_and_std([v for v in values if v is not None])
        assert trial.fold_objectives == tuple(values)
        assert values == pytest.approx([(trial.params["x"] - 1) ** 2 + f / 10 for f in range(FOLDS)])
    starts = Counter((r["number"], r["fold"]) for r in read_run_log(run_log))
    ends = Counter((r["number"], r["fold"]) for r in read_run_log(run_log, "end"))
    assert starts == ends == Counter({(n, f): 1 for n in (1, 2, 3) for f in range(FOLDS)})
    # And the suggester was told each trial once: each is in the finished list once
    assert sorted(store.finished_numbers(sweep_id)) == [1, 2, 3]
    assert_shown(redis_settings, sweep_id, store)


def assert_shown(redis: RedisSettings, sweep_id: str, store: Store) -> None:
    """trials, best, status and export show each k-fold trial's objective ± std and its folds' values (the CLI run here)."""

    def run(*args: str) -> str:
        done = CliRunner().invoke(cli, list(args), env={"SWEEPCTL_REDIS_URL": redis.url}, catch_exceptions=False)
        assert done.exit_code == 0, done.output
        return done.stdout

    trial = store.get_trial(sweep_id, 1)
    records = json.loads(run("trials", sweep_id, "--format", "json", "--history"))
    assert records[0]["fold_objectives"] == list(trial.fold_objectives) and records[0]["objective_std"] == trial.objective_std
    folds = records[0]["fold_records"]  # each fold's own record and metric history
    assert [(f["fold"], f["objective"]) for f in folds] == list(enumerate(trial.fold_objectives))
    assert all(f["worker"] and [p["step"] for p in f["history"]] == [0, 1, 2, None] for f in folds)
    assert run("trials", sweep_id).splitlines()[0].split()[:5] == ["NUMBER", "STATE", "OBJECTIVE", "OBJECTIVE_STD", "FOLDS"]
    best = store.best_trial(sweep_id, store.get_spec(sweep_id).goal)
    assert best is not None and best.objective_std is not None
    shown = run("best", sweep_id)
    assert f"{best.objective_std:.4g}" in shown and f"{best.fold_objectives[4]:.4g}" in shown
    assert f"trial {best.number}: {best.objective:.4g} ± {best.objective_std:.4g} (folds " in run("status", sweep_id)
    exported = list(csv.DictReader(io.StringIO(run("export", sweep_id, "--format", "csv"))))
    assert json.loads(exported[0]["folds"]) == list(trial.fold_objectives)
    assert float(exported[0]["objective_std"]) == trial.objective_std
    # And reproduce re-runs one fold of it (each fold ran a command of its own), told to say which
    again = json.loads(run("reproduce", sweep_id, "1", "--fold", "2", "--format", "json"))
    assert again["argv"][3:5] == ["--fold", "2"] and again["rerun"]["objective"] == trial.fold_objectives[2]
    with pytest.raises(RerunError, match="ran as 5 folds: give one, --fold 0 to 4"):
        run("reproduce", sweep_id, "1")


def test_folds_in_the_python_api_on_the_embedded_store_and_a_hopeless_trial_stopped_early(tmp_path: Path) -> None:
    # Given a notebook: 3 grid trials of 3 folds each, called in the process, each fold told by sweepctl.fold();
    # the median rule on fold means stops a trial whose first fold is worse than the completed trials' median
    _, out = run_script(
        tmp_path,
        """
        config = {
            "method": "grid",
            "metric": {"name": "loss"},
            "parameters": {"lr": {"values": [0.1, 0.9, 0.05]}},
            "cross_validation": {"folds": 3},
            "early_terminate": {"type": "median", "min_iter": 1, "min_trials": 1},
        }

        def train():
            fold, params = sweepctl.fold(), sweepctl.params()
            seen.append({"number": int(os.environ["SWEEPCTL_TRIAL_NUMBER"]), "fold": fold, "folds": sweepctl.folds()})
            time.sleep(0.5)  # time for the controller to stop a hopeless trial before its next fold reports
            sweepctl.report(loss=params["lr"] + fold / 100)

        sweep_id = sweepctl.sweep(config, state_dir=STATE)
        sweepctl.agent(sweep_id, function=train, state_dir=STATE)
        done(sweep_id=sweep_id)
        """,
    )
    sweep_id = out["sweep_id"]
    with local_store(tmp_path) as store:
        trials = {t.number: t for t in store.get_trials(sweep_id)}
        # Then trials 1 and 3 completed with their folds' mean; each fold was called once, told its fold
        assert [trials[n].state for n in (1, 2, 3)] == [TrialState.COMPLETED, TrialState.STOPPED, TrialState.COMPLETED]
        assert trials[1].objective == pytest.approx(0.1 + 0.01) and trials[3].objective == pytest.approx(0.05 + 0.01)
        calls = [(c["number"], c["fold"]) for c in out["seen"]]
        assert sorted(calls) == sorted(set(calls)) and {(1, f) for f in range(3)} | {(3, f) for f in range(3)} <= set(calls)
        assert {c["folds"] for c in out["seen"]} == {3}
        # And trial 2 (lr 0.9) was stopped after its first fold: worse than the median of completed trials
        stopped = trials[2]
        assert stopped.fold_objectives[0] == pytest.approx(0.9) and "median rule on fold means" in (stopped.error or "")
        assert [f.state for f in store.get_folds(sweep_id, [stopped])[2]][0] is TrialState.COMPLETED
