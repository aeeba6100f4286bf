"""The CLI as a user meets it: invalid files rejected with field paths, submit --wait, output formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sweepctl.settings import RedisSettings
from sweepctl.store import Store, keys
from tests.support.processes import Processes, child_env
from tests.system.helpers import write_sweep

pytestmark = pytest.mark.system

VALID = """
method: random
metric: {name: loss}
program: trial_program.py
parameters:
  x: {min: 0.0, max: 1.0}
run_cap: 3
"""

INVALID = {
    "unknown distribution": (
        VALID.replace("x: {min: 0.0, max: 1.0}", "x: {distribution: unifrom, min: 0, max: 1}"),
        "parameters.x.distribution",
    ),
    "min greater than max": (VALID.replace("x: {min: 0.0, max: 1.0}", "x: {min: 5.0, max: 1.0}"), "parameters.x.max"),
    "empty values": (VALID.replace("x: {min: 0.0, max: 1.0}", "x: {values: []}"), "parameters.x.values"),
    "missing metric name": (VALID.replace("metric: {name: loss}", "metric: {goal: minimize}"), "metric.name"),
    "bad yaml": (VALID.replace("x: {min: 0.0, max: 1.0}", "x: {min: 0.0, max: 1.0"), "<yaml>"),
    "macro in a value": (VALID.replace("x: {min: 0.0, max: 1.0}", "x: {values: [a, '${program}']}"), "parameters.x.values[1]"),
    "absurd values list": (
        VALID.replace("x: {min: 0.0, max: 1.0}", "x: {values: [" + ", ".join(["1"] * 10_001) + "]}"),
        "parameters.x.values",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_sweep_files_are_rejected_by_validate_and_submit_with_the_field_path(
    case: str, tmp_path: Path, procs: Processes, store: Store
) -> None:
    # Given an invalid sweep file
    text, field = INVALID[case]
    path = write_sweep(tmp_path, text, name="bad.yaml")

    # When it is validated and submitted
    validated = procs.run("validate", str(path))
    submitted = procs.run("submit", str(path))

    # Then both refuse it, naming the file and the field, and nothing reaches Redis or the queue
    for done in (validated, submitted):
        assert done.returncode == 2, done.stdout + done.stderr
        assert str(path) in done.stderr and field in done.stderr, done.stderr
        assert done.stdout == ""
    assert store.sweep_ids() == []
    assert store.redis.llen("sweepctl") == 0 and store.redis.exists(keys.SWEEPS) == 0


def test_validate_summarises_a_valid_file(tmp_path: Path, procs: Processes) -> None:
    path = write_sweep(tmp_path, VALID)
    done = procs.run("validate", str(path), "--format", "json", check=True)
    summary = json.loads(done.stdout)
    assert summary["valid"] is True and summary["parameters"] == ["x"] and summary["method"] == "random"


def test_submit_wait_follows_the_sweep_and_prints_the_best_trial(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a controller and a worker
    procs.start("controller")
    procs.start("worker", "--gpus", "none")
    path = write_sweep(tmp_path, VALID)

    # When a sweep is submitted with --wait
    done = procs.run("submit", str(path), "--wait", "--format", "yaml", timeout=60, check=True)

    # Then stdout has the sweep id, then the best trial; progress went to stderr
    sweep_id, rest = done.stdout.split("\n", 1)
    best = yaml.safe_load(rest)
    assert best["sweep_id"] == sweep_id and best["state"] == "completed"
    assert best["objective"] == min(t.objective for t in store.get_trials(sweep_id))
    assert f"sweep {sweep_id} finished: run_cap=3 reached" in done.stderr

    # And status speaks table, json and yaml
    table = procs.run("status", check=True).stdout.splitlines()
    assert table[0].split()[:3] == ["ID", "NAME", "STATE"] and table[1].split()[0] == sweep_id
    assert json.loads(procs.run("status", sweep_id, "--format", "json", check=True).stdout)["trials"] == {"completed": 3}
    assert yaml.safe_load(procs.run("trials", sweep_id, "--format", "yaml", check=True).stdout)[0]["number"] == 1


def test_commands_without_any_redis_say_how_to_get_one(tmp_path: Path, procs: Processes) -> None:
    done = procs.run("status", env={"SWEEPCTL_REDIS_URL": ""})
    assert done.returncode == 2 and "no Redis given" in done.stderr and "sweepctl run" in done.stderr


def test_a_wrong_password_is_a_clear_error_without_the_password(tmp_path: Path, procs: Processes, redis_settings: RedisSettings) -> None:
    wrong = redis_settings.url.replace("test-secret", "not-the-password")
    done = procs.run("status", "--redis", wrong)
    assert done.returncode == 2 and "refused the credentials" in done.stderr
    assert "not-the-password" not in done.stderr + done.stdout


def test_a_sweep_ends_when_its_target_is_reached(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a maximize sweep whose target the first trials already reach (objective = -(x-1)^2 >= -100)
    path = write_sweep(
        tmp_path,
        """
        method: random
        metric: {name: loss, goal: maximize, target: -100}
        program: trial_program.py
        parameters:
          x: {min: 0.0, max: 1.0}
        run_cap: 50
        parallelism: 1
        """,
    )
    procs.start("controller")
    procs.start("worker", "--gpus", "none")
    # When it runs
    done = procs.run("submit", str(path), "--wait", "--format", "json", timeout=60, check=True)
    sweep_id = done.stdout.split("\n", 1)[0]
    # Then it finished for the target after one trial, not at its run_cap
    sweep = store.get_sweep(sweep_id)
    assert sweep.reason == "target loss=-100 reached" and store.trial_count(sweep_id) == 1


PRELOADED = """
import sys


def trial(params):
    # 1 when the worker's launcher had imported the library before forking this trial
    return 1.0 if "preloaded_lib" in sys.modules else 0.0
"""


def test_worker_preload_imports_a_library_before_any_trial_is_forked(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a library on the workers' path and a function whose loss says whether it was already imported
    libs = tmp_path / "libs"
    libs.mkdir()
    (libs / "preloaded_lib.py").write_text("VALUE = 1\n")
    (tmp_path / "check.py").write_text(PRELOADED)
    path = write_sweep(
        tmp_path, 'method: random\nmetric: {name: loss}\nfunction: "check:trial"\nparameters:\n  x: {min: 0.0, max: 1.0}\nrun_cap: 3\n'
    )
    pythonpath = {"PYTHONPATH": f"{libs}:{procs.env['PYTHONPATH']}"}
    # When a worker started with --preload runs the sweep
    procs.start("controller")
    procs.start("worker", "--gpus", "none", "--preload", "preloaded_lib", env=pythonpath)
    sweep_id = procs.run("submit", str(path), "--wait", "--format", "json", timeout=60, check=True).stdout.split("\n", 1)[0]
    # Then every trial found the library imported
    assert [(t.state.value, t.objective) for t in store.get_trials(sweep_id)] == [("completed", 1.0)] * 3


# Each malformed Redis URL form (issue 12, item 17), with a password that must not be printed.
MALFORMED_URLS = {
    "port out of range": ("redis://:s3cret@localhost:99999/0", "bad port"),
    "port not a number": ("redis://:s3cret@localhost:abc/0", "bad port"),
    "unclosed IPv6 bracket": ("redis://:s3cret@[::1/0", "bad IPv6 address"),
    "not IPv6 in brackets": ("redis://:s3cret@[zz]:6379", "bad IPv6 address"),
    "unix with nothing": ("unix://", "has no socket path"),
    "db not a number": ("redis://:s3cret@localhost/abc", "bad db number"),
    "negative db": ("redis://:s3cret@localhost/-1", "bad db number"),
    "db with extra path": ("redis://:s3cret@localhost/0/extra", "not a db number"),
    "unknown query option": ("redis://:s3cret@localhost/0?foo=1", "unknown option 'foo'"),
    "unencoded slash in the password": ("redis://:s3/cret@localhost/0", "percent-encode"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_URLS))
def test_a_malformed_redis_url_is_one_error_line_and_exit_2(case: str, tmp_path: Path) -> None:
    # Given a malformed Redis URL, as a flag and as the environment variable
    url, problem = MALFORMED_URLS[case]
    procs = Processes(child_env(), cwd=tmp_path)
    for done in (procs.run("status", "--redis", url, timeout=30), procs.run("status", timeout=30, env={"SWEEPCTL_REDIS_URL": url})):
        # Then the command prints one error line naming the problem, without the password or a traceback
        assert done.returncode == 2, done
        assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("error: Redis URL "), done.stderr
        assert problem in done.stderr and "s3cret" not in done.stderr + done.stdout and done.stdout == ""


@pytest.mark.parametrize(("command", "option"), [("run", "--workers"), ("worker", "--concurrency")])
def test_zero_worker_processes_are_refused_naming_the_option_given(command: str, option: str, tmp_path: Path, procs: Processes) -> None:
    # Given a valid sweep file / When a command is asked for no worker processes at all
    args = [str(write_sweep(tmp_path, VALID))] if command == "run" else []
    done = procs.run(command, *args, option, "0")
    # Then it refuses, naming the option the user typed (not another one), and starts nothing
    assert done.returncode == 2, done.stderr
    assert option in done.stderr and "0" in done.stderr and "Traceback" not in done.stderr
    if command == "run":
        assert "--concurrency" not in done.stderr
