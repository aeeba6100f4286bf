"""`sweepctl importance` on a real sweep: a random sweep of a known objective, run by a controller and a worker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sweepctl.store import Store
from tests.support.processes import Processes
from tests.system.helpers import write_sweep

pytestmark = pytest.mark.system

# x matters through a bowl (about zero rank correlation), y linearly and little, z not at all; "width" is another metric
BOWL = """
def trial(params):
    x, y = params["x"], params["opt"]["y"]
    return {"loss": 10 * (x - 0.5) ** 2 + 0.5 * y, "width": y}
"""

SWEEP = """
method: random
metric: {name: loss}
function: "bowl:trial"
parameters:
  x: {min: 0.0, max: 1.0}
  opt:
    parameters:
      y: {min: 0.0, max: 1.0}
      z: {values: [a, b, c]}
run_cap: 60
parallelism: 2
seed: 11
"""


def test_importance_of_a_finished_sweep_in_json_and_table(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a finished random sweep of the bowl
    (tmp_path / "bowl.py").write_text(BOWL)
    path = write_sweep(tmp_path, SWEEP)
    procs.start("controller")
    procs.start("worker", "--gpus", "none", "--concurrency", "2")
    sweep_id = procs.run("submit", str(path), "--wait", "--format", "json", timeout=120, check=True).stdout.split("\n", 1)[0]
    assert sum(t.objective is not None for t in store.get_trials(sweep_id)) == 60

    # When importance is asked for as JSON
    report = json.loads(procs.run("importance", sweep_id, "--format", "json", check=True).stdout)

    # Then x ranks first, nested names are dotted, the shape holds, and it is the same on a second call (seeded)
    assert report["metric"] == "loss" and report["trials"] == 60
    assert [p["name"] for p in report["parameters"]][0] == "x"
    assert {p["name"] for p in report["parameters"]} == {"x", "opt.y", "opt.z"}
    z = next(p for p in report["parameters"] if p["name"] == "opt.z")
    assert z["importance_ci"][0] == 0.0
    assert json.loads(procs.run("importance", sweep_id, "--format", "json", check=True).stdout) == report

    # And another metric: width is y itself
    width = json.loads(procs.run("importance", sweep_id, "--metric", "width", "--format", "json", check=True).stdout)
    assert width["parameters"][0]["name"] == "opt.y" and width["parameters"][0]["correlation"] > 0.99

    # And the table has a row per parameter, the fit line, and no warning for a well-fitted 60-trial sweep
    lines = procs.run("importance", sweep_id, check=True).stdout.splitlines()
    assert lines[0].split()[:2] == ["PARAMETER", "IMPORTANCE"] and lines[1].split()[0] == "x"
    assert len(lines) == 5 and lines[4].startswith("metric loss: r2 ") and lines[4].endswith("60 trials")

    # And too few trials is one clear error
    done = procs.run("importance", sweep_id, "--metric", "nothing")
    assert done.returncode == 2 and "needs at least 10 finished trials" in done.stderr
