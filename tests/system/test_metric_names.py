"""Metric names as W&B users write them (`ndcg@10`, `Valid_mAP@0.50`, `val/loss`, `mAP@0.5:0.95`), end to end with real workers.

Before, each of these validated as a sweep's metric, but no trial could report it: every
trial failed with "reported no value". Here a program trial and a function trial report
them, and every reader shows them as recorded: the trial records, `best --metric`, the
csv export and the exporter's scrape.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest

from sweepctl.embedded import free_port
from sweepctl.records import Trial, TrialState
from sweepctl.store import Store
from tests.support.exporter import scrape
from tests.support.processes import Processes, wait_for
from tests.system.helpers import submit, wait_until_done, write_sweep

pytestmark = pytest.mark.system

# Reports both ways: a hand-printed name=value line (`@`, `.` and `/` need nothing special) and
# sweepctl.report with a mapping, whose `mAP@0.5:0.95` only the JSON form carries. Then it
# waits for the test's go-ahead (a file in the sweep folder, its cwd) so the exporter can be
# read while it runs; it never waits longer than a minute.
PROGRAM = '''
import time
from pathlib import Path

import sweepctl

x = float(sweepctl.params()["x"])
for step in (1, 2, 3):
    print(f"step={step} ndcg@10={x * step!r} val/loss={1 / (x + step)!r}", flush=True)
    sweepctl.report({"Valid_mAP@0.50": x + step, "mAP@0.5:0.95": x / step}, step=step)
deadline = time.monotonic() + 60
while not Path("go-ahead").exists() and time.monotonic() < deadline:
    time.sleep(0.05)
'''

PROGRAM_SWEEP = """
method: random
metric: {name: Valid_mAP@0.50, goal: maximize}
program: names_program.py
parameters:
  x: {min: 0.1, max: 0.9}
run_cap: 3
seed: 5
"""

# A function trial reports along the way and returns the rest, `step` included.
FUNCTION = '''
import sweepctl


def train(params):
    x = params["x"]
    sweepctl.report({"val/loss": 10 + x, "ndcg@10": x}, step=1)
    return {"step": 2, "val/loss": x * x, "Valid_mAP@0.50": 1 - x, "ndcg@10": 2 * x}
'''

FUNCTION_SWEEP = """
method: random
metric: {name: val/loss, goal: minimize}
function: names_function:train
parameters:
  x: {min: 0.1, max: 0.9}
run_cap: 3
seed: 6
"""

NAMES = ("ndcg@10", "Valid_mAP@0.50", "val/loss")


def trial_records(procs: Processes, sweep_id: str) -> list[dict[str, Any]]:
    return list(json.loads(procs.run("trials", sweep_id, "--format", "json", "--history", check=True).stdout))


def best_number(procs: Processes, sweep_id: str, *args: str) -> int:
    return int(json.loads(procs.run("best", sweep_id, *args, "--format", "json", check=True).stdout)["number"])


def exported(procs: Processes, sweep_id: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(procs.run("export", sweep_id, "--format", "csv", check=True).stdout)))


def assert_csv_holds(rows: list[dict[str, str]], trials: list[Trial], names: tuple[str, ...]) -> None:
    """Each name is a csv column holding every trial's last value, exactly."""
    assert len(rows) == len(trials)
    for row, trial in zip(rows, trials):
        assert int(row["number"]) == trial.number
        for name in names:
            assert float(row[name]) == trial.last_metrics[name], (trial.number, name)


def last_metric_series(port: int, sweep_id: str) -> list[tuple[dict[str, str], float]]:
    try:
        series = scrape(port)
    except OSError:  # the exporter is still starting
        return []
    return [(labels, value) for labels, value in series.get("sweepctl_trial_last_metric", []) if labels["sweep"] == sweep_id]


def test_a_program_reports_wandb_style_names_and_every_reader_shows_them(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a sweep optimizing `Valid_mAP@0.50`, whose program reports it and three other W&B-style names
    (tmp_path / "names_program.py").write_text(PROGRAM)
    sweep_id = submit(procs, write_sweep(tmp_path, PROGRAM_SWEEP))
    port = free_port()
    procs.start("exporter", "--port", str(port))
    procs.start("controller")
    procs.start("worker", "--gpus", "none")

    # When its first trial has reported and waits, the exporter shows its last value under the metric's name
    running = wait_for(lambda: [s for s in last_metric_series(port, sweep_id) if s[1] > 3], 60, "the running trial's last Valid_mAP@0.50")
    [(labels, value)] = running  # type: ignore[misc]
    first = store.get_trial(sweep_id, int(labels["trial"]))
    assert labels["metric"] == "Valid_mAP@0.50" and value == first.params["x"] + 3
    (tmp_path / "go-ahead").write_text("")
    wait_until_done(store, sweep_id, timeout=120)

    # Then every trial completed with the last Valid_mAP@0.50 as its objective, and nothing was rejected
    trials = store.get_trials(sweep_id)
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 3
    for t in trials:
        x = t.params["x"]
        assert t.objective == x + 3
        assert t.last_metrics == {"ndcg@10": x * 3, "val/loss": 1 / (x + 3), "Valid_mAP@0.50": x + 3, "mAP@0.5:0.95": x / 3}
        assert t.rejected_reports == {} and t.reports == 6
        history = store.metric_history(sweep_id, t.number)
        assert [(p.step, sorted(p.values)) for p in history] == [
            (step, names) for step in (1, 2, 3) for names in (["ndcg@10", "val/loss"], ["Valid_mAP@0.50", "mAP@0.5:0.95"])
        ]
    # And `trials --format json` holds the names and histories as recorded
    records = trial_records(procs, sweep_id)
    assert [r["last_metrics"] for r in records] == [t.last_metrics for t in trials]
    assert records[0]["history"][1]["values"] == {"Valid_mAP@0.50": trials[0].params["x"] + 1, "mAP@0.5:0.95": trials[0].params["x"]}
    # And `best` picks by the objective, `best --metric` by any of the names
    by_x = sorted(trials, key=lambda t: t.params["x"])
    assert best_number(procs, sweep_id) == by_x[-1].number
    assert best_number(procs, sweep_id, "--metric", "ndcg@10", "--goal", "minimize") == by_x[0].number
    assert best_number(procs, sweep_id, "--metric", "mAP@0.5:0.95", "--goal", "maximize") == by_x[-1].number
    # And the csv export has a column per name with each trial's value
    assert_csv_holds(exported(procs, sweep_id), trials, (*NAMES, "mAP@0.5:0.95"))


def test_a_function_trial_returns_wandb_style_names_and_they_are_recorded(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a sweep optimizing `val/loss`, whose function reports once and then returns three W&B-style names and a step
    (tmp_path / "names_function.py").write_text(FUNCTION)
    sweep_id = submit(procs, write_sweep(tmp_path, FUNCTION_SWEEP))
    procs.start("controller")
    procs.start("worker", "--gpus", "none")

    # When it runs
    wait_until_done(store, sweep_id, timeout=120)

    # Then each trial completed with its returned val/loss as objective, and both reports in its history
    trials = store.get_trials(sweep_id)
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 3
    for t in trials:
        x = t.params["x"]
        assert t.objective == x * x
        assert t.last_metrics == {"val/loss": x * x, "Valid_mAP@0.50": 1 - x, "ndcg@10": 2 * x}
        assert [(p.step, p.values) for p in store.metric_history(sweep_id, t.number)] == [
            (1, {"val/loss": 10 + x, "ndcg@10": x}),
            (2, {"val/loss": x * x, "Valid_mAP@0.50": 1 - x, "ndcg@10": 2 * x}),
        ]
    # And the CLI's readers show them: trials, best by objective and by another name, the csv export
    assert [r["last_metrics"] for r in trial_records(procs, sweep_id)] == [t.last_metrics for t in trials]
    by_x = sorted(trials, key=lambda t: t.params["x"])
    assert best_number(procs, sweep_id) == by_x[0].number
    assert best_number(procs, sweep_id, "--metric", "Valid_mAP@0.50", "--goal", "minimize") == by_x[-1].number
    assert_csv_holds(exported(procs, sweep_id), trials, NAMES)
    assert math.isclose(float(exported(procs, sweep_id)[0]["objective"]), trials[0].params["x"] ** 2)
