"""W&B training scripts run unchanged: parameters in `wandb.config`, `wandb.log` rows as history, `run.summary` as objective.

Real workers run tests/system/programs/wandb_train.py, a script that knows nothing
of sweepctl, with the real `wandb` package, offline: no W&B server, account or
network. What it logged is read back from W&B's own run files while it runs, so
hyperband stops its losing trials on `wandb.log`ged values.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sweepctl.records import SweepState, TrialState
from sweepctl.store import Store
from tests.support.processes import Processes, wait_for
from tests.system.helpers import submit, wait_until_done, write_sweep

pytest.importorskip("wandb")
pytestmark = pytest.mark.system

EPOCHS = 5


def loss(lr: float, width: int, step: int) -> float:
    return 10 * lr + width / 100 + 1 / (step + 1)


def acc(lr: float, step: int) -> float:
    return 1 - lr - abs(step - 2) / 10


def start_workers(procs: Processes, store: Store, slots: int) -> None:
    procs.start("worker", "--gpus", "none", "--concurrency", str(slots))
    wait_for(lambda: len(store.workers()) >= slots, 60, f"{slots} worker slots")


def test_a_wandb_script_runs_unchanged_its_history_and_objective_recorded(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a W&B sweep of a plain W&B script, with a nested parameter group, its metric set by the script's run.summary
    start_workers(procs, store, 2)
    sweep_id = submit(
        procs,
        write_sweep(
            tmp_path,
            f"""
            method: grid
            metric: {{name: val_acc, goal: maximize}}
            program: wandb_train.py
            parameters:
              lr: {{values: [0.1, 0.2]}}
              model:
                parameters:
                  width: {{value: 8}}
              epochs: {{value: {EPOCHS}}}
              pause: {{value: 0.05}}
            """,
        ),
    )
    procs.start("controller")

    # When the sweep runs
    wait_until_done(store, sweep_id, timeout=120)

    # Then each trial completed with what its script logged, step by step, as its metric history
    assert store.get_sweep(sweep_id).state is SweepState.FINISHED
    trials = store.get_trials(sweep_id)
    assert sorted(t.params["lr"] for t in trials) == [0.1, 0.2]
    for trial in trials:
        lr = trial.params["lr"]
        assert trial.state is TrialState.COMPLETED, (trial.error, trial.stderr_tail)
        history = store.metric_history(sweep_id, trial.number)
        assert [p.step for p in history] == list(range(EPOCHS))
        for point in history:
            # wandb.config delivered lr and the nested model.width; the histogram is no metric
            assert point.values == pytest.approx({"val/loss": loss(lr, 8, point.step), "val_acc": acc(lr, point.step)})
        # And the objective is W&B's summary value the script set (its best accuracy), not the last logged one
        assert trial.objective == pytest.approx(acc(lr, 2))
        assert trial.last_metrics["val_acc"] == pytest.approx(acc(lr, 2))
        assert trial.last_metrics["val/loss"] == pytest.approx(loss(lr, 8, EPOCHS - 1))
        assert trial.rejected_reports == {}
        # And the run stays in W&B's offline format in the sweep's folder, for `wandb sync` if wanted
        runs = list(tmp_path.glob(f"wandb/sweep-{sweep_id}/{sweep_id}-{trial.number}-1/wandb/offline-run-*/run-*.wandb"))
        assert len(runs) == 1

    # And `sweepctl reproduce` gives the script its parameters again and judges it by its W&B summary, as the worker did
    trial = trials[0]
    again = tmp_path / "again"
    done = procs.run("reproduce", sweep_id, str(trial.number), "--folder", str(again), "--format", "json")
    assert done.returncode == 0, done.stderr
    rerun = json.loads(done.stdout)["rerun"]
    assert rerun["state"] == "completed" and rerun["objective"] == pytest.approx(trial.objective)
    assert rerun["last_metrics"] == pytest.approx(trial.last_metrics)
    assert list(again.glob(f"wandb/sweep-{sweep_id}/{sweep_id}-{trial.number}-1-rerun/wandb/offline-run-*"))


def test_reused_function_trials_each_get_their_own_wandb_run(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given the same script's train() as a function trial, the trials of one slot in one reused process
    start_workers(procs, store, 1)
    sweep_id = submit(
        procs,
        write_sweep(
            tmp_path,
            f"""
            method: grid
            metric: {{name: val/loss, goal: minimize}}
            function: wandb_train:train
            reuse_process: true
            parameters:
              lr: {{values: [0.1, 0.3]}}
              model:
                parameters:
                  width: {{values: [4]}}
              epochs: {{value: {EPOCHS}}}
              pause: {{value: 0.0}}
            """,
        ),
    )
    procs.start("controller")

    # When both run, one after the other in the one process
    wait_until_done(store, sweep_id, timeout=120)

    # Then the second trial's wandb.config was its own (W&B torn down between trials) and each history is its run's
    for trial in store.get_trials(sweep_id):
        lr = trial.params["lr"]
        assert trial.state is TrialState.COMPLETED, (trial.error, trial.stderr_tail)
        history = store.metric_history(sweep_id, trial.number)
        assert [p.values["val/loss"] for p in history] == pytest.approx([loss(lr, 4, s) for s in range(EPOCHS)])
        assert trial.objective == pytest.approx(loss(lr, 4, EPOCHS - 1))  # W&B's summary: the last logged value


def test_hyperband_stops_the_worst_trials_on_wandb_logged_values(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given four W&B trials at once whose val/loss curves are offset by 10 * lr, under hyperband (min_iter 2, eta 3),
    # each logging once every 0.3 s for 15 steps
    start_workers(procs, store, 4)
    sweep_id = submit(
        procs,
        write_sweep(
            tmp_path,
            """
            method: grid
            metric: {name: val/loss, goal: minimize}
            program: wandb_train.py
            parameters:
              lr: {values: [0.1, 0.2, 0.3, 0.4]}
              model:
                parameters:
                  width: {value: 0}
              epochs: {value: 15}
              pause: {value: 0.3}
            early_terminate: {type: hyperband, min_iter: 2, eta: 3}
            parallelism: 4
            """,
        ),
    )
    procs.start("controller")

    # When the sweep runs
    wait_until_done(store, sweep_id, timeout=120)

    # Then the best trial completed, the worst was stopped early on what it had logged with wandb.log
    trials = {t.params["lr"]: t for t in store.get_trials(sweep_id)}
    assert trials[0.1].state is TrialState.COMPLETED, (trials[0.1].error, trials[0.1].stderr_tail)
    assert trials[0.4].state is TrialState.STOPPED
    for trial in (t for t in trials.values() if t.state is TrialState.STOPPED):
        decision = trial.stop_requested
        assert decision is not None
        band, lr = int(decision["band"]), trial.params["lr"]
        assert decision["value"] == pytest.approx(loss(lr, 0, band))  # its logged curve at the band
        history = store.metric_history(sweep_id, trial.number)
        assert history and history[-1].step is not None and history[-1].step < 14  # stopped before its last step
        assert [p.values["val/loss"] for p in history] == pytest.approx([loss(lr, 0, p.step or 0) for p in history])
