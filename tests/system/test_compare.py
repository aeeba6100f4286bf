"""`sweepctl compare` on two real sweeps of one objective (random and tpe), run by a controller and a worker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sweepctl.store import Store
from tests.support.browser import open_page
from tests.support.processes import Processes
from tests.system.helpers import write_sweep

pytestmark = pytest.mark.system

# x matters through a bowl, y a little; every trial with y above 0.9 fails, so failure rates differ from zero
BOWL = """
def trial(params):
    x, y = params["x"], params["y"]
    if y > 0.9:
        raise ValueError("y too large")
    return {"loss": 10 * (x - 0.5) ** 2 + 0.5 * y}
"""

SWEEP = """
name: {name}
method: {method}
metric: {{name: loss}}
function: "bowl:trial"
parameters:
  x: {{min: 0.0, max: 1.0}}
  y: {{min: 0.0, max: 1.0}}
run_cap: 30
max_failures: 30
parallelism: 2
seed: 3
"""


def run_sweep(procs: Processes, folder: Path, method: str) -> str:
    path = write_sweep(folder, SWEEP.format(name=f"bowl-{method}", method=method), name=f"{method}.yaml")
    return procs.run("submit", str(path), "--wait", "--format", "json", timeout=180, check=True).stdout.split("\n", 1)[0]


def test_compare_two_real_sweeps_in_json_table_and_report(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a random and a tpe sweep of the same bowl, both finished
    (tmp_path / "bowl.py").write_text(BOWL)
    procs.start("controller")
    procs.start("worker", "--gpus", "none", "--concurrency", "2")
    ids = [run_sweep(procs, tmp_path, "random"), run_sweep(procs, tmp_path, "tpe")]

    # When they are compared as JSON
    data = json.loads(procs.run("compare", *ids, "--format", "json", check=True).stdout)

    # Then each column's best and counts are what `best` and `trials` say of that sweep
    assert [s["id"] for s in data["sweeps"]] == ids and data["warnings"] == []
    for column, sweep_id in zip(data["sweeps"], ids):
        best = json.loads(procs.run("best", sweep_id, "--format", "json", check=True).stdout)
        trials = json.loads(procs.run("trials", sweep_id, "--format", "json", check=True).stdout)
        assert column["best"] == {"number": best["number"], "objective": best["objective"]}
        assert column["trials"] == len(trials) == 30
        assert column["completed"] == sum(t["state"] == "completed" for t in trials)
        failed = sum(t["state"] == "failed" for t in trials)
        assert column["failed"] == failed and column["failure_rate"] == failed / 30
        ended = sorted(trials, key=lambda t: (t["ended_at"], t["number"]))
        first = next(i for i, t in enumerate(ended, 1) if t["objective"] == best["objective"])
        assert column["trials_to_best"] == first
        assert column["importance"]["parameters"][0]["name"] == "x"
        assert {r["name"] for r in column["top"]["ranges"]} == {"x", "y"} and column["top"]["trials"] >= 1
    assert {s["method"] for s in data["sweeps"]} == {"random", "tpe"}

    # And the table has one column per sweep, naming both, with the rows a reader needs
    table = procs.run("compare", *ids, check=True).stdout.splitlines()
    assert table[0].split() == ["sweep", *ids]
    assert table[1].split() == ["name", "bowl-random", "bowl-tpe"]
    labels = [line.split("  ")[0].strip() for line in table]
    for label in ("method", "metric", "trials", "completed", "failed", "best", "trials to best", "importance", "top 10% x"):
        assert label in labels, label

    # And --report writes a page that opens offline with no error and both plots drawn
    out = tmp_path / "compare.html"
    procs.run("compare", *ids, "--report", str(out), check=True)
    check = open_page(out.as_uri(), tmp_path / "compare.png")
    assert check.problems() == []
    assert check.plots == 2 and not check.unrendered_plots
    assert "bowl-random (random)" in check.text and "trials to best" in check.text

    # And one unknown id, or a single id, is one clear error naming it
    unknown = procs.run("compare", ids[0], "nosuchsweep")
    assert unknown.returncode == 2 and "nosuchsweep" in unknown.stderr
    single = procs.run("compare", ids[0])
    assert single.returncode == 2 and "at least two sweep ids, got 1" in single.stderr
