"""`sweepctl reproduce`: a recorded program trial runs again with its argv, parameters, seed and environment."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from sweepctl.records import TrialState
from sweepctl.store import Store
from tests.support.processes import Processes
from tests.system.helpers import read_run_log, submit, wait_until_done, write_sweep

pytestmark = pytest.mark.system

SWEEP = """
method: random
metric: {name: loss}
program: trial_program.py
parameters:
  x: {min: 0.0, max: 2.0}
data: [data/train.csv]
run_cap: 2
seed: 11
"""


def git(repo: Path, *args: str) -> str:
    who = ("-c", "user.name=t", "-c", "user.email=t@example.com")
    return subprocess.run(["git", "-C", str(repo), *who, *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def finished_sweep(tmp_path: Path, procs: Processes, store: Store) -> tuple[Path, str, Path]:
    """A committed project whose sweep ran to its end under a real controller and worker: (repo, sweep id, run log)."""
    repo = tmp_path / "project"
    repo.mkdir()
    sweep_file = write_sweep(repo, SWEEP)
    (repo / "data").mkdir()
    (repo / "data" / "train.csv").write_text("a,b\n1,2\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "v1")
    run_log = tmp_path / "runs.jsonl"
    procs.start("controller")
    procs.start("worker", "--gpus", "none", env={"RUN_LOG": str(run_log)})
    sweep_id = submit(procs, sweep_file)
    wait_until_done(store, sweep_id, timeout=60)
    return repo, sweep_id, run_log


def test_a_completed_trial_reruns_with_the_recorded_argv_params_and_seed(
    tmp_path: Path, procs: Processes, store: Store, finished_sweep: tuple[Path, str, Path]
) -> None:
    # Given a completed program trial of a finished sweep, on an unchanged clean tree
    repo, sweep_id, run_log = finished_sweep
    trial = store.get_trial(sweep_id, 1)
    assert trial.state is TrialState.COMPLETED
    original = next(r for r in read_run_log(run_log) if r["number"] == 1)
    folder = tmp_path / "again"

    # When it is reproduced into a folder of its own
    done = procs.run("reproduce", sweep_id, "1", "--folder", str(folder), "--format", "json", env={"RUN_LOG": str(run_log)})

    # Then it ran once more with the identical argv, parameters and seed, in the fresh folder
    assert done.returncode == 0, done.stderr
    rerun = [r for r in read_run_log(run_log) if r["number"] == 1][-1]
    assert rerun is not original and rerun["pid"] != original["pid"]
    assert rerun["argv"] == original["argv"] == list(trial.argv[2:])
    assert json.loads(rerun["params"]) == trial.params and int(rerun["seed"]) == trial.seed
    assert rerun["cwd"] == str(folder.resolve()) and original["cwd"] == str(repo)
    assert rerun["redis_url_visible"] is False
    # and its result is printed beside the recorded one: a deterministic program gives the same numbers
    report = json.loads(done.stdout)
    assert report["argv"] == list(trial.argv) and report["differences"] == []
    assert report["recorded"]["objective"] == trial.objective
    assert report["rerun"]["state"] == "completed" and report["rerun"]["objective"] == pytest.approx(trial.objective)
    assert report["rerun"]["last_metrics"] == pytest.approx(trial.last_metrics)
    # the trial's output was streamed (stderr), and nothing was written into the sweep's folder
    assert "step=2 loss=" in done.stderr
    assert not (repo / "runs.jsonl").exists() and sorted(p.name for p in folder.iterdir()) == ["data", "trial_program.py"]


def test_the_table_shows_recorded_and_rerun_values_side_by_side(
    procs: Processes, store: Store, finished_sweep: tuple[Path, str, Path]
) -> None:
    # Given a completed trial
    _, sweep_id, _ = finished_sweep
    trial = store.get_trial(sweep_id, 2)

    # When it is reproduced with the default table and a new temporary folder
    done = procs.run("reproduce", sweep_id, "2")

    # Then one row per value names the recorded and the re-run value (tables show 4 significant digits)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["WHAT", "RECORDED", "RERUN", "CHANGE"]
    objective = next(line.split() for line in lines if line.startswith("objective"))
    assert float(objective[1]) == pytest.approx(trial.objective, rel=5e-4) and float(objective[2]) == pytest.approx(
        trial.objective, rel=5e-4
    )
    assert any(line.startswith("state") and line.split()[1:3] == ["completed", "completed"] for line in lines)


def test_a_new_commit_and_changed_data_are_reported(procs: Processes, store: Store, finished_sweep: tuple[Path, str, Path]) -> None:
    # Given a finished sweep whose project got a new commit and whose data changed since
    repo, sweep_id, _ = finished_sweep
    recorded = store.get_trial(sweep_id, 1)
    assert recorded.code is not None
    (repo / "notes.txt").write_text("later work\n")
    git(repo, "add", "notes.txt")
    git(repo, "commit", "-qm", "v2")
    head = git(repo, "rev-parse", "HEAD")
    (repo / "data" / "train.csv").write_text("a,b\n3,4\n")

    # When a trial is reproduced
    done = procs.run("reproduce", sweep_id, "1", "--format", "json")

    # Then the changed commit, the now-dirty tree and the changed data are warned about, and the re-run still happens
    assert done.returncode == 0, done.stderr
    assert f"warning: code commit changed: the trial ran {recorded.code.commit}, the code is now at {head}" in done.stderr
    assert "warning: the work tree is dirty now" in done.stderr
    assert "warning: data 'data/train.csv' changed: recorded sha256:" in done.stderr
    drifts = sorted(d["drift"] for d in json.loads(done.stdout)["differences"])
    assert drifts == ["commit", "data", "dirty"]


def test_an_unknown_trial_is_a_clear_error(procs: Processes, finished_sweep: tuple[Path, str, Path]) -> None:
    # Given a finished sweep with two trials
    _, sweep_id, _ = finished_sweep

    # When trial 99 is asked for
    done = procs.run("reproduce", sweep_id, "99")

    # Then the error names the sweep and the number, and nothing ran
    assert done.returncode == 2
    assert f"error: sweep {sweep_id!r} has no trial 99" in done.stderr
    assert done.stdout == ""
