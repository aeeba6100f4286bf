"""W&B sweep files run unchanged; the argv each trial received is recorded and correct; no shell."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest
import yaml

from sweepctl.local_store import local_store_dir
from sweepctl.records import SweepState, TrialState
from sweepctl.store import Store
from tests.conftest import EXAMPLES
from tests.support.processes import Processes
from tests.support.wandb_agent_argv import wandb_argv
from tests.system.helpers import read_run_log, submit, wait_until_done, write_sweep

pytestmark = pytest.mark.system


def test_wandb_file_with_macros_and_nested_parameters_records_the_argv_each_trial_received(
    tmp_path: Path, procs: Processes, store: Store
) -> None:
    # Given a W&B sweep file: program, command macros, a variable of the worker's, an unquoted number, nested parameters,
    # log_uniform_values, hyperband block; and a worker whose environment sets one of the two variables the command reads
    sweep_file = write_sweep(
        tmp_path,
        """
        program: trial_program.py
        method: bayes
        metric:
          name: loss
          goal: minimize
        parameters:
          x:
            distribution: log_uniform_values
            min: 0.001
            max: 10
          optimizer:
            parameters:
              name:
                values: [sgd, adam]
              lr:
                distribution: uniform
                min: 0.01
                max: 0.1
          mode:
            value: ok
        early_terminate:
          type: hyperband
          min_iter: 3
        command:
          - ${env}
          - ${interpreter}
          - ${program}
          - --data=${envvar:SWEEPCTL_TEST_DATA_DIR}/train
          - ${envvar:SWEEPCTL_TEST_UNSET_VAR}
          - 2018
          - ${args}
          - ${args_no_equals}
          - ${args_json}
        run_cap: 8
        """,
    )
    run_log = tmp_path / "runs.jsonl"
    worker_env = {"SWEEPCTL_TEST_DATA_DIR": "/data/set one"}
    sweep_id = submit(procs, sweep_file)
    procs.start("controller", env={"RUN_LOG": str(run_log)})
    procs.start("worker", "--gpus", "none", "--concurrency", "2", env={"RUN_LOG": str(run_log), **worker_env})

    # When it runs
    wait_until_done(store, sweep_id, timeout=90)

    # Then every trial completed, and the argv each program received is the one W&B's agent builds for its parameters
    assert store.get_sweep(sweep_id).state is SweepState.FINISHED
    received = {r["number"]: r["argv"] for r in read_run_log(run_log)}
    command = yaml.safe_load(sweep_file.read_text())["command"]
    trials = store.get_trials(sweep_id)
    assert len(trials) == 8
    for t in trials:
        assert t.state is TrialState.COMPLETED, t.error
        assert Path(t.argv[1]).name.startswith("python")  # ${interpreter}: the worker's Python, where W&B writes "python"
        expected = wandb_argv(
            command, program="trial_program.py", params=t.params, environ=worker_env, interpreter=t.argv[1], args_json_file="-"
        )
        assert list(t.argv) == expected
        assert list(t.argv[2:]) == received[t.number]  # sys.argv = argv without env and interpreter
        # and it reads as a W&B program expects: the worker's variable, the unset one's name, one flag per top-level key
        assert t.argv[3:6] == ("--data=/data/set one/train", "SWEEPCTL_TEST_UNSET_VAR", "2018")
        flags = dict(a[2:].split("=", 1) for a in t.argv[6:9])
        assert set(flags) == {"x", "optimizer", "mode"}
        assert float(flags["x"]) == t.params["x"] and 0.001 <= t.params["x"] <= 10
        assert ast.literal_eval(flags["optimizer"]) == t.params["optimizer"] and t.params["optimizer"]["name"] in ("sgd", "adam")
        assert json.loads(t.argv[-1]) == t.params


def test_shipped_wandb_example_runs_unchanged(tmp_path: Path, procs: Processes) -> None:
    # Given the W&B example exactly as shipped, and `sweepctl run` on the embedded default
    for name in ("wandb-sweep.yaml", "train.py"):
        shutil.copy(EXAMPLES / name, tmp_path / name)
    # When it runs with two local workers (no Redis URL: the private embedded Redis)
    done = procs.run("run", "wandb-sweep.yaml", "--workers", "2", "--format", "json", timeout=120, env={"SWEEPCTL_REDIS_URL": ""})
    # Then it prints the best of its 20 trials, each with the W&B argument style
    assert done.returncode == 0, done.stderr
    best = json.loads(done.stdout)
    assert best["state"] == "completed" and best["objective"] > 0
    assert best["argv"][0] == "/usr/bin/env" and best["argv"][2] == "train.py"
    assert f"--optimizer={best['params']['optimizer']}" in best["argv"]  # a group is one flag, as W&B's agent passes it
    assert "finished: run_cap=20 reached" in done.stderr
    # and its results persist in the folder's store, kept out of the folder the trials run in
    store_dir = local_store_dir(cwd=tmp_path)
    assert (store_dir / "appendonly.aof").exists() or (store_dir / "appendonlydir").exists()
    assert not (tmp_path / ".sweepctl").exists()


def test_parameter_values_reach_the_program_as_single_literal_arguments(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given categorical values that a shell would execute
    marker = tmp_path / "pwned"
    payloads = [f"; touch {marker}", f"$(touch {marker})", f"`touch {marker}`", "$HOME", "a b  c", "--mode=hang", "' OR 1=1 --"]
    sweep_file = write_sweep(
        tmp_path,
        f"""
        method: grid
        metric: {{name: loss}}
        program: trial_program.py
        parameters:
          payload: {{values: {json.dumps(payloads)}}}
        """,
    )
    run_log = tmp_path / "runs.jsonl"
    sweep_id = submit(procs, sweep_file)
    procs.start("controller")
    procs.start("worker", "--gpus", "none", env={"RUN_LOG": str(run_log)})

    # When the grid runs
    wait_until_done(store, sweep_id, timeout=60)

    # Then each value arrived as exactly one argv element, and nothing was executed
    received = sorted((r["argv"] for r in read_run_log(run_log)), key=lambda a: payloads.index(a[1].split("=", 1)[1]))
    assert received == [["trial_program.py", f"--payload={p}"] for p in payloads]
    assert not marker.exists()
    assert all(t.state is TrialState.COMPLETED for t in store.get_trials(sweep_id))


def test_a_wandb_random_sweep_without_a_metric_runs_every_distribution_and_says_it_has_no_best(
    tmp_path: Path, procs: Processes, store: Store
) -> None:
    # Given a W&B random sweep without a metric (W&B needs none for it), with W&B's newer distributions,
    # a dotted (Hydra-style) name and a W&B server key
    sweep_file = write_sweep(
        tmp_path,
        """
        program: trial_program.py
        method: random
        controller: {type: local}
        run_cap: 6
        parameters:
          x: {distribution: beta, a: 2, b: 5}
          model.wd: {distribution: inv_log_uniform_values, min: 0.0001, max: 0.1}
          keep: {distribution: q_beta, a: 3, b: 3, q: 0.25}
          init: {distribution: normal, mu: 0.5, sigma: 0}
        """,
    )
    validated = procs.run("validate", str(sweep_file), check=True)
    assert "note: " in validated.stderr and "controller: accepted and ignored" in validated.stderr
    sweep_id = submit(procs, sweep_file)
    procs.start("controller")
    procs.start("worker", "--gpus", "none", "--concurrency", "2")

    # When it runs
    wait_until_done(store, sweep_id, timeout=90)

    # Then every trial completed with no objective, its values drawn as W&B defines them
    assert store.get_sweep(sweep_id).state is SweepState.FINISHED
    trials = store.get_trials(sweep_id)
    assert len(trials) == 6
    for t in trials:
        assert t.state is TrialState.COMPLETED and t.objective is None, t.error
        assert 0 <= t.params["x"] <= 1 and 0.0001 <= t.params["model.wd"] <= 0.1
        assert t.params["keep"] in (0, 0.25, 0.5, 0.75, 1) and t.params["init"] == 0.5
        assert f"--model.wd={t.params['model.wd']!r}" in t.argv
    # and what needs a metric says the sweep has none, instead of failing
    best = procs.run("best", sweep_id)
    assert best.returncode == 0 and "has no metric" in best.stderr
    importance = procs.run("importance", sweep_id)
    assert importance.returncode == 2 and "has no metric" in importance.stderr
    assert procs.run("status", sweep_id, "--format", "json", check=True).stdout
