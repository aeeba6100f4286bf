"""`sweepctl clone SWEEP` (real Redis, controller and workers): a clone with a narrowed range warm-starts from exactly
the old trials inside it, across a controller restart, and runs inside its new space; edits are refused as a file's
mistakes are; the embedded store works the same."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from controller.loop import Controller
from sweepctl.celery_app import make_celery
from sweepctl.records import SweepState, TrialState
from sweepctl.settings import RedisSettings
from sweepctl.store import Store
from tests.support.processes import Processes, child_env, kill_group
from tests.system.helpers import submit, wait_until_done, write_sweep

pytestmark = pytest.mark.system

# Random search over x in [0, 2]: with this seed its 8 trials fall on both sides of 1.
OLD = """
method: random
metric: {name: loss, goal: minimize}
program: trial_program.py
parameters:
  x: {min: 0.0, max: 2.0}
  sleep: {value: 0.1}
run_cap: 8
parallelism: 4
seed: 11
"""


def clone(procs: Processes, *args: str) -> dict:
    done = procs.run("clone", *args, "--format", "json", check=True)
    return dict(json.loads(done.stdout))


def test_a_clone_with_a_narrowed_range_warm_starts_from_exactly_the_old_trials_inside_it(
    tmp_path: Path, procs: Processes, store: Store, redis_settings: RedisSettings
) -> None:
    # Given an old random sweep over x in [0, 2] that ran its 8 trials on a controller and a worker
    old = submit(procs, write_sweep(tmp_path, OLD))
    first = procs.start("controller")
    procs.start("worker", "--gpus", "none", "--concurrency", "4")
    wait_until_done(store, old, timeout=120)
    trials = store.get_trials(old)
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 8
    inside = [t for t in trials if t.params["x"] <= 1.0]
    assert 0 < len(inside) < 8, "the seed should put trials on both sides of the new max"
    # And its controller is gone (the clone is taken up by the one started after it)
    kill_group(first.pid, signal.SIGKILL)
    first.wait(10)

    # When it is cloned with the range narrowed to [0, 1], as TPE, for 3 trials
    shown = clone(procs, old, "--set", "parameters.x.max=1.0", "--set", "method=bayes", "--set", "run_cap=3")

    # Then it names the new sweep and the old one, what changed, and exactly the old trials inside the new range
    new = shown["sweep_id"]
    assert shown["cloned_from"] == old and shown["dry_run"] is False and new != old
    assert {c["field"]: (c["change"], c["old"], c["new"]) for c in shown["changes"]} == {
        "method": ("changed", "random", "bayes"),
        "parameters.x.max": ("changed", 2.0, 1.0),
        "run_cap": ("changed", 8, 3),
        "warm_start": ("added", None, {"sweeps": [old]}),
    }
    assert shown["warm_trials"] == len(inside)
    assert shown["warm_start"] == [
        {
            "sweep": old,
            "trials": [t.number for t in inside],
            "outside": 8 - len(inside),
            "outside_by_parameter": {"x": 8 - len(inside)},
            "not_learned": 0,
            "ignored": None,
        }
    ]
    # And the clone records where it came from; the old sweep is left as it was
    assert store.get_sweep(new).cloned_from == old and store.get_sweep(old).state is SweepState.FINISHED
    status = json.loads(procs.run("status", new, "--format", "json", check=True).stdout)
    assert (status["cloned_from"], status["method"], status["run_cap"]) == (old, "tpe", 3)

    # And any controller that takes the clone up (two fresh ones: a restart, a standby) learns exactly those trials
    expected = sorted((t.params["x"], t.objective) for t in inside)
    for _ in range(2):
        learned = Controller(store, make_celery(redis_settings))._context(new).suggester.observations
        assert sorted((o.params["x"], o.loss) for o in learned) == expected

    # And a controller process started now runs the clone to its run_cap, every trial inside the new range
    log = tmp_path / "controller.log"
    procs.start("controller", "--verbose", log=log)
    wait_until_done(store, new, timeout=120)
    assert store.get_sweep(new).reason == "run_cap=3 reached"
    assert [t.state for t in store.get_trials(new)] == [TrialState.COMPLETED] * 3
    assert all(0.0 <= t.params["x"] <= 1.0 for t in store.get_trials(new))
    assert f"warm_start: {len(inside)} trial(s) of sweep {old} taken, {8 - len(inside)} outside the space" in log.read_text()


def test_clone_edits_are_refused_as_a_files_mistakes_are_and_nothing_is_recorded(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given an old sweep (no controller: only records change here) whose parameter name holds a dot, as W&B allows
    dotted = OLD.replace("  x: {", '  "model.x": {')
    old = submit(procs, write_sweep(tmp_path, dotted))
    count = len(store.sweep_ids())

    # When an edit names a field that is not there, or makes the file invalid, or the sweep is unknown
    # Then exit 2 naming the option or the field as a file's check would (every other refusal: tests/unit/test_spec_edit.py)
    refusals = {
        (old, "--set", "parameters.y.max=1"): "--set parameters.y.max=1: no key 'y' in parameters (its keys: \"model.x\", sleep)",
        (old, "--set", "parameters.model.x.max=abc"): f"clone of {old}: parameters.model.x.max: expected a finite number",
        ("nosuchsweep",): "no sweep 'nosuchsweep' in this store: nothing to clone",
    }
    for args, message in refusals.items():
        done = procs.run("clone", *args)
        assert done.returncode == 2 and message in done.stderr, done.stderr
    assert len(store.sweep_ids()) == count

    # When a dotted name is edited (found whole), on a dry run, in yaml / Then it shows the change and submits nothing
    dry = procs.run("clone", old, "--set", "parameters.model.x.max=0.5", "--dry-run", "--format", "yaml", check=True)
    assert 'field: parameters."model.x".max' in dry.stdout and "sweep_id: null" in dry.stdout and "dry_run: true" in dry.stdout
    assert "dry run: nothing submitted" in dry.stderr and len(store.sweep_ids()) == count

    # When a new file is given with a --set on it / Then the clone is that file, edited, warm-started from the old sweep
    new_file = write_sweep(tmp_path, dotted.replace("run_cap: 8", "run_cap: 4"), name="new.yaml")
    table = procs.run("clone", old, "--file", str(new_file), "--set", 'parameters."model.x".min=0.5', check=True).stdout
    new = next(line.split()[1] for line in table.splitlines() if line.startswith("sweep_id"))
    raw = store.get_sweep(new).raw_spec
    assert raw["run_cap"] == 4 and raw["parameters"]["model.x"] == {"min": 0.5, "max": 2.0} and raw["warm_start"] == {"sweeps": [old]}
    assert "change run_cap" in table and "8 -> 4" in table and f"warm_start {old}" in table
    assert store.get_sweep(new).source == str(new_file) and store.get_sweep(new).cloned_from == old


def test_clone_on_the_embedded_store(tmp_path: Path) -> None:
    # Given a folder's embedded store (no Redis given) where an agent ran a sweep of 3 trials
    local = Processes(child_env(), cwd=tmp_path)
    try:
        state = ["--state-dir", str(tmp_path / "state")]
        created = local.run("sweep", str(write_sweep(tmp_path, OLD.replace("run_cap: 8", "run_cap: 3"))), *state, timeout=60)
        assert created.returncode == 0, created.stderr
        old = created.stdout.strip()
        assert local.run("agent", old, *state, timeout=120).returncode == 0
        xs = {t["number"]: t["params"]["x"] for t in json.loads(local.run("trials", old, "--format", "json", *state).stdout)}
        # When it is cloned with a narrowed range
        done = local.run("clone", old, "--set", "parameters.x.max=1.0", "--format", "json", *state, timeout=60)
        # Then the clone is recorded there, warm-started from exactly the old trials inside the range
        assert done.returncode == 0, done.stderr
        shown = json.loads(done.stdout)
        assert shown["warm_start"][0]["trials"] == sorted(n for n, x in xs.items() if x <= 1.0)
        assert shown["cloned_from"] == old and shown["sweep_id"] not in (None, old)
    finally:
        local.close()
