"""Trials out of sweepctl, as a user reads them: export files, the DataFrame, the trials table and `best --metric`."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import pandas
import pytest

import sweepctl
from sweepctl.records import TrialState
from sweepctl.settings import RedisSettings
from sweepctl.store import Store
from tests.support.processes import Processes
from tests.system.helpers import submit, wait_until_done, write_sweep

pytestmark = pytest.mark.system

# Two metrics that disagree: loss is lowest near lr = 0.3, accuracy highest at the largest lr.
# A small lr fails with an error text that csv has to quote (a comma, quotes, a newline).
OBJECTIVE = '''
def train(params):
    lr = params["optimizer"]["lr"]
    if lr < 0.2:
        raise ValueError('lr too small, "diverged"\\nsee the log')
    return {"loss": (lr - 0.3) ** 2 + params["layers"] / 1000, "accuracy": lr}
'''

SWEEP = """
method: random
metric: {name: loss, goal: minimize}
function: two_metrics:train
parameters:
  optimizer:
    parameters:
      lr: {min: 0.0, max: 1.0}
      name: {values: [adam, sgd]}
  layers: {values: [1, 2, 3]}
run_cap: 12
max_failures: 100
seed: 11
"""

FIXED = ("number", "state", "objective", "attempt", "seed", "created_at", "started_at", "ended_at", "duration", "host", "worker")


def run_sweep(tmp_path: Path, procs: Processes, store: Store) -> str:
    """A finished sweep of 12 trials of `OBJECTIVE`, some of them failed."""
    (tmp_path / "two_metrics.py").write_text(OBJECTIVE)
    sweep_id = submit(procs, write_sweep(tmp_path, SWEEP))
    procs.start("controller")
    procs.start("worker", "--gpus", "none", "--concurrency", "2")
    wait_until_done(store, sweep_id, timeout=120)
    states = {t.state for t in store.get_trials(sweep_id)}
    assert states == {TrialState.COMPLETED, TrialState.FAILED}, states
    return sweep_id


def expected_rows(procs: Processes, sweep_id: str) -> list[dict[str, Any]]:
    """What `trials --format json` says of each trial, flattened to export columns."""
    records = json.loads(procs.run("trials", sweep_id, "--format", "json", check=True).stdout)
    rows = []
    for record in records:
        row = {name: record[name] for name in FIXED}
        row["exit_code"], row["error"] = record["exit_code"], record["error"]
        row["optimizer.lr"] = record["params"]["optimizer"]["lr"]
        row["optimizer.name"] = record["params"]["optimizer"]["name"]
        row["layers"] = record["params"]["layers"]
        for metric in ("accuracy", "loss"):
            row[metric] = record["last_metrics"].get(metric)
        rows.append(row)
    return rows


def same(read: Any, recorded: Any) -> bool:
    """A value read back from a file equals the recorded one (a missing value reads back as None or NaN)."""
    if recorded is None:
        return read is None or read is pandas.NA or read == "" or (isinstance(read, float) and math.isnan(read))
    if isinstance(recorded, float) or isinstance(read, float):
        return float(read) == float(recorded)
    return str(read) == str(recorded)


def assert_round_trip(read: list[dict[str, Any]], expected: list[dict[str, Any]], fmt: str) -> None:
    assert len(read) == len(expected) == 12, fmt
    for got, want in zip(read, expected):
        for column, value in want.items():
            assert same(got[column], value), f"{fmt}: trial {want['number']} column {column}: read {got[column]!r}, recorded {value!r}"


def test_export_in_every_format_reads_back_as_the_trials_recorded(
    tmp_path: Path, procs: Processes, store: Store, redis_settings: RedisSettings
) -> None:
    # Given a finished sweep with nested and categorical parameters, two metrics and failed trials
    sweep_id = run_sweep(tmp_path, procs, store)
    expected = expected_rows(procs, sweep_id)

    # When it is exported as csv, json and parquet
    for fmt in ("csv", "json", "parquet"):
        procs.run("export", sweep_id, "--format", fmt, "-o", str(tmp_path / f"trials.{fmt}"), check=True)

    # Then each file, read back with the usual reader, holds the same trials and values as `trials --format json`
    with open(tmp_path / "trials.csv", newline="") as f:
        assert_round_trip(list(csv.DictReader(f)), expected, "csv")
    assert_round_trip(json.loads((tmp_path / "trials.json").read_text()), expected, "json")
    parquet = pandas.read_parquet(tmp_path / "trials.parquet")
    assert_round_trip(parquet.to_dict("records"), expected, "parquet")
    # And the columns are in a stable order: fixed fields, parameters in the file's order, metrics sorted
    names = list(parquet.columns)
    assert names[: len(FIXED)] == list(FIXED)
    assert names[-5:] == ["optimizer.lr", "optimizer.name", "layers", "accuracy", "loss"]
    # And csv on stdout is the same file
    assert procs.run("export", sweep_id, check=True).stdout == (tmp_path / "trials.csv").read_text()

    # And the Python API gives the same rows as a DataFrame, numbers at full precision
    frame = sweepctl.trials_dataframe(sweep_id, redis_settings.url)
    assert list(frame.columns) == names
    assert_round_trip(frame.to_dict("records"), expected, "DataFrame")
    assert str(frame["number"].dtype) == "Int64" and str(frame["optimizer.lr"].dtype) == "float64"


def test_best_by_another_metric_and_goal_picks_that_metrics_best_trial(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a finished sweep whose two metrics disagree on the best trial
    sweep_id = run_sweep(tmp_path, procs, store)
    completed = [t for t in store.get_trials(sweep_id) if t.state is TrialState.COMPLETED]
    by_loss = min(completed, key=lambda t: t.last_metrics["loss"])
    by_accuracy = max(completed, key=lambda t: t.last_metrics["accuracy"])
    worst_loss = max(completed, key=lambda t: t.last_metrics["loss"])
    assert by_loss.number != by_accuracy.number

    def best(*flags: str) -> dict[str, Any]:
        return json.loads(procs.run("best", sweep_id, *flags, "--format", "json", check=True).stdout)

    # When the best trial is asked for by the sweep's metric, by accuracy (maximize) and by loss maximized
    # Then each answer is that metric's best completed trial
    assert best()["number"] == by_loss.number
    assert best("--metric", "accuracy", "--goal", "maximize")["number"] == by_accuracy.number
    assert best("--metric", "loss", "--goal", "maximize")["number"] == worst_loss.number
    # And the table names the metric it ranked by, with its value
    table = procs.run("best", sweep_id, "--metric", "accuracy", "--goal", "maximize", check=True).stdout
    fields = dict(line.split(None, 1) for line in table.splitlines())
    assert fields["number"] == str(by_accuracy.number) and fields["accuracy"] == f"{by_accuracy.last_metrics['accuracy']:.4g}"
    assert fields["params.optimizer.lr"] == f"{by_accuracy.params['optimizer']['lr']:.4g}"
    # And a metric nobody reported, or another metric without a goal, is a clear error naming the option
    unknown = procs.run("best", sweep_id, "--metric", "auc", "--goal", "maximize")
    assert unknown.returncode == 2 and "--metric" in unknown.stderr and "'auc'" in unknown.stderr and "accuracy, loss" in unknown.stderr
    no_goal = procs.run("best", sweep_id, "--metric", "accuracy")
    assert no_goal.returncode == 2 and "--goal" in no_goal.stderr


def test_the_trials_table_has_a_column_per_parameter_with_4_significant_digits(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a finished sweep with nested parameters
    sweep_id = run_sweep(tmp_path, procs, store)
    trials = {t.number: t for t in store.get_trials(sweep_id)}

    # When its trials are listed as a table, best loss first, five of them
    lines = procs.run("trials", sweep_id, "--sort", "objective", "--limit", "5", check=True).stdout.splitlines()

    # Then there is one column per parameter, nested ones as optimizer.lr
    header = lines[0].split()
    assert header == ["NUMBER", "STATE", "OBJECTIVE", "OPTIMIZER.LR", "OPTIMIZER.NAME", "LAYERS", "DURATION", "WORKER", "ERROR"]
    # And five rows, the lowest objectives in order, numbers to 4 significant digits
    rows = [line.split() for line in lines[1:]]
    ranked = sorted((t for t in trials.values() if t.objective is not None), key=lambda t: t.objective or 0.0)[:5]
    assert [int(r[0]) for r in rows] == [t.number for t in ranked]
    for row, trial in zip(rows, ranked):
        lr = trial.params["optimizer"]["lr"]
        assert row[2] == f"{trial.objective:.4g}" and row[3] == f"{lr:.4g}"
        assert row[4] == trial.params["optimizer"]["name"] and row[5] == str(trial.params["layers"])
        assert row[6].endswith("s")  # a duration like 0.8s or 850ms, not a float of seconds

    # And any column may be chosen, sorted descending; json keeps full precision and its shape
    chosen = procs.run("trials", sweep_id, "--columns", "number,accuracy", "--sort", "-accuracy", "--limit", "1", check=True).stdout
    top = max((t for t in trials.values() if "accuracy" in t.last_metrics), key=lambda t: t.last_metrics["accuracy"])
    assert chosen.splitlines() == ["NUMBER  ACCURACY", f"{top.number:<6}  {top.last_metrics['accuracy']:.4g}"]
    records = json.loads(procs.run("trials", sweep_id, "--format", "json", "--sort", "-accuracy", "--limit", "1", check=True).stdout)
    assert [(r["number"], r["last_metrics"]["accuracy"]) for r in records] == [(top.number, top.last_metrics["accuracy"])]
    # And an unknown column is an error naming the option and the columns there are
    wrong = procs.run("trials", sweep_id, "--columns", "number,lr")
    assert wrong.returncode == 2 and "--columns" in wrong.stderr and "'lr'" in wrong.stderr and "optimizer.lr" in wrong.stderr
