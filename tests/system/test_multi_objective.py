"""A sweep with two objectives (real Redis, controller and worker): Optuna's multi-objective TPE runs it, `best` returns
its Pareto front (no trial on it dominates another), and `report` draws the front, checked in a real headless
Chromium. On a folder's embedded store, an in-process agent's trials are judged on
both objectives and `best` returns the front too."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sweepctl.analysis.pareto import dominates
from sweepctl.records import SweepState, TrialState
from sweepctl.store import Store
from tests.support.browser import open_page
from tests.support.processes import Processes, child_env
from tests.system.helpers import submit, wait_until_done, write_sweep

pytestmark = pytest.mark.system

SWEEP = """
method: bayes
tpe: {engine: optuna, n_startup_jobs: 4}
metric:
  - {name: accuracy, goal: maximize}
  - {name: latency_ms, goal: minimize}
function: objectives:accuracy_and_latency
reuse_process: true
parameters:
  x: {min: 0.0, max: 1.0}
  y: {min: 0.0, max: 1.0}
run_cap: 8
parallelism: 2
seed: 11
"""
# What the report drew of the front: its trace's names, the trial numbers on the front, the points and the line drawn.
PROBE = """() => {
  const div = document.getElementById('plot-pareto-0');
  const traces = [...div.querySelectorAll('.scatterlayer .trace')];
  const line = traces[1].querySelector('path.js-line');
  return {
    names: div.data.map(t => t.name),
    front: div.data[1].customdata.map(c => c[0]),
    front_points: traces[1].querySelectorAll('path.point').length,
    other_points: traces[0].querySelectorAll('path.point').length,
    line: line ? line.getAttribute('d') : '',
  };
}"""


def losses(record: dict) -> tuple[float, float]:
    """A front record's objectives as losses (accuracy is maximized)."""
    return -record["objectives"]["accuracy"], record["objectives"]["latency_ms"]


def test_a_two_objective_sweep_returns_a_pareto_front_that_best_prints_and_report_draws(
    tmp_path: Path, procs: Processes, store: Store
) -> None:
    # Given a Bayesian sweep on Optuna's TPE with two objectives at odds, run by a real controller and worker
    sweep_id = submit(procs, write_sweep(tmp_path, SWEEP))
    procs.start("controller")
    procs.start("worker", "--gpus", "none", "--concurrency", "2")
    wait_until_done(store, sweep_id, timeout=120)
    assert store.get_sweep(sweep_id).state is SweepState.FINISHED
    trials = store.get_trials(sweep_id)
    # Then every trial recorded both objectives, the first as its objective
    assert len(trials) == 8
    for t in trials:
        assert t.state is TrialState.COMPLETED, (t.number, t.error)
        assert t.objective == t.last_metrics["accuracy"] and "latency_ms" in t.last_metrics

    # When `best --format json` is asked
    front = json.loads(procs.run("best", sweep_id, "--format", "json", check=True).stdout)
    # Then it is a list of trials, no one of which dominates another, and every trial off it is dominated by one on it
    assert isinstance(front, list) and front
    on_front = {r["number"] for r in front}
    assert not any(dominates(losses(a), losses(b)) for a in front for b in front)
    for t in trials:
        if t.number not in on_front:
            point = (-t.last_metrics["accuracy"], t.last_metrics["latency_ms"])
            assert any(dominates(losses(r), point) for r in front), t.number
    # And the table has one row per front trial, with each objective as a column
    table = procs.run("best", sweep_id, check=True)
    header, *rows = table.stdout.splitlines()
    assert header.split()[:3] == ["NUMBER", "ACCURACY", "LATENCY_MS"] and len(rows) == len(front)
    assert f"Pareto front of {len(front)} trials (of 8 completed)" in table.stderr

    # When its report is written and opened in headless Chromium with every network request blocked
    out = tmp_path / "report.html"
    procs.run("report", sweep_id, "-o", str(out), check=True, timeout=120)
    check = open_page(out.as_uri(), tmp_path / "report.png", probe=PROBE)
    # Then it opens cleanly and draws the front: its trials as points, joined by a line, beside the other trials
    assert check.problems() == []
    drawn = check.probed
    assert drawn["names"] == ["other trials", "Pareto front"]
    assert drawn["front"] == [r["number"] for r in front]
    assert drawn["front_points"] == len(front) and drawn["other_points"] == 8 - len(front)
    assert len(front) == 1 or drawn["line"].startswith("M")
    assert "Pareto front" in check.text and "accuracy (maximize), latency_ms (minimize)" in check.text


NOTEBOOK = """
import sys
import sweepctl

STATE = sys.argv[1]
config = {
    "method": "random",
    "metric": [{"name": "accuracy", "goal": "maximize"}, {"name": "latency_ms"}],
    "parameters": {"x": {"values": [0.1, 0.5, 0.9]}},
    "seed": 5,
}
calls = []

def train():
    x = sweepctl.params()["x"]
    calls.append(x)
    if len(calls) == 2:
        sweepctl.report(accuracy=x)  # no latency: the trial fails, naming it
    else:
        sweepctl.report(accuracy=x, latency_ms=10 * x)

sweep_id = sweepctl.sweep(config, state_dir=STATE)
sweepctl.agent(sweep_id, function=train, count=3, state_dir=STATE)
print(sweep_id)
"""


def test_on_the_embedded_store_an_in_process_agent_judges_both_objectives_and_best_returns_the_front(tmp_path: Path) -> None:
    # Given a notebook's sweep with two objectives, run by sweepctl.agent in its own process on a folder's store,
    # whose second call reports no latency
    script = tmp_path / "notebook.py"
    script.write_text(NOTEBOOK)
    local = Processes(child_env(), cwd=tmp_path)
    try:
        ran = subprocess.run(
            [sys.executable, str(script), str(tmp_path / "state")],
            cwd=tmp_path,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr
        sweep_id = ran.stdout.strip().splitlines()[-1]
        state = ["--state-dir", str(tmp_path / "state")]
        # Then the trial without latency failed naming it, and the others completed with both objectives
        shown = json.loads(local.run("trials", sweep_id, "--format", "json", *state, check=True).stdout)
        ended = {t["number"]: t for t in shown if t["state"] != "queued"}
        assert sorted(t["state"] for t in ended.values()) == ["completed", "completed", "failed"]
        (failed,) = [t for t in ended.values() if t["state"] == "failed"]
        assert failed["error"] == "returned without reporting a value for metric 'latency_ms'"
        # And best returns the front of the completed ones (accuracy costs latency here: both), read from the embedded store
        front = json.loads(local.run("best", sweep_id, "--format", "json", *state, check=True).stdout)
        completed = [t for t in ended.values() if t["state"] == "completed"]
        assert {r["number"] for r in front} == {t["number"] for t in completed}
        for record in front:
            x = record["params"]["x"]
            assert record["objectives"] == {"accuracy": x, "latency_ms": pytest.approx(10 * x)}
    finally:
        local.close()
