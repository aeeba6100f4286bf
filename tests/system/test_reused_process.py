"""`reuse_process: true`: a slot's function trials run one after another in one executor process.

Real processes, no Redis, as in test_launcher: what carries over between trials (the
process, imported modules) and what must not (another trial's environment, folder,
output, child processes), and that a trial which is stopped or crashes takes the
executor with it while the next trial gets a fresh one. Then a whole sweep through a
real worker. (Trials that raise, return NaN or hang: test_trial_failures, both modes.)
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from sweepctl.records import SweepState, TrialState
from sweepctl.store import Store
from tests.support.processes import Processes, pids_in_group, wait_for
from tests.system.daemon_trials import (
    end_and_kill_leftovers,
    kill_if_alive,
    start_leaving_a_daemon,
)
from tests.system.helpers import submit, wait_until_done, write_sweep
from workers.linux import live_processes
from workers.trial_process import LauncherClient, TrialProcess

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parents[2]

OBJECTIVES = """
import json, os, subprocess, sys, threading, time

from sweepctl.report import params, report

IMPORTS = int(os.environ.get("IMPORTS", "0")) + 1
os.environ["IMPORTS"] = str(IMPORTS)  # a module-level side effect: survives only if the module does
CALLS = []


def describe(p):
    CALLS.append(p["x"])
    os.environ["LEFT_BY_TRIAL"] = str(p["x"])  # must not leak into the next trial
    print(json.dumps({"pid": os.getpid(), "pgid": os.getpgid(0), "cwd": os.getcwd(), "mark": os.environ.get("MARK"),
                      "leaked": os.environ.get("LEFT_BY_TRIAL_BEFORE"), "calls": CALLS, "imports": IMPORTS,
                      "path_entries": sys.path.count(os.getcwd())}))
    os.environ["LEFT_BY_TRIAL_BEFORE"] = os.environ["LEFT_BY_TRIAL"]
    return p["x"] * 2


def act(p):
    # one function (a sweep has one), whose trials end in different ways
    print(json.dumps({"pid": os.getpid()}), flush=True)
    if p["do"] == "raise":
        raise ValueError("objective exploded")
    if p["do"] == "exit":
        raise SystemExit(3)
    if p["do"] == "hard_exit":
        os._exit(5)
    if p["do"] == "spawn":
        spawn()
    if p["do"] == "exit_later":  # the process dies after the trial ended, between trials
        threading.Thread(target=lambda: (time.sleep(0.2), os._exit(7)), daemon=True).start()
    if p["do"] == "hang":
        print("ready", flush=True)
        time.sleep(60)
    return 1.0


def spawn():
    # a child and a grandchild left running, and a non-daemon thread the trial did not join
    subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)",
        ]
    )
    threading.Thread(target=time.sleep, args=(0.3,)).start()

"""


def start(launcher: LauncherClient, folder: Path, function: str, params: dict[str, object] | None = None, **extra: str) -> TrialProcess:
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), "SWEEPCTL_PARAMS": json.dumps(params or {"x": 3}), **extra}
    return TrialProcess(
        launcher, [], env=env, cwd=str(folder), on_stdout_line=lambda line: None, function=function, metric="loss", reuse=True
    )


def run(launcher: LauncherClient, folder: Path, function: str, params: dict[str, object] | None = None, **extra: str) -> TrialProcess:
    process = start(launcher, folder, function, params, **extra)
    process.wait(30)
    process.kill_leftovers()
    process.finish_output()
    return process


def alive(pid: int) -> bool:
    return any(p == pid for p, _, _ in live_processes())


def test_trials_share_one_process_and_its_imports_but_not_their_environment_or_folder(
    launcher: LauncherClient, folder: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # When three trials of the same function run with reuse
    trials = [run(launcher, folder, "objectives:describe", {"x": x}, MARK=f"m{x}") for x in (1, 2, 3)]

    # Then they ran in one process, leader of its group, which imported the module once and kept its state
    infos = [json.loads(t.stdout.text().splitlines()[0]) for t in trials]
    assert [t.returncode for t in trials] == [0, 0, 0], [t.stderr.text() for t in trials]
    assert {i["pid"] for i in infos} == {i["pgid"] for i in infos} == {trials[0].pid}
    assert [i["calls"] for i in infos] == [[1], [1, 2], [1, 2, 3]]
    assert [i["imports"] for i in infos] == [1, 1, 1]
    # each saw its own variables, none a previous trial set, and the sweep folder on sys.path once
    assert [i["mark"] for i in infos] == ["m1", "m2", "m3"]
    assert [i["leaked"] for i in infos] == [None, None, None]
    assert [i["path_entries"] for i in infos] == [1, 1, 1]
    # and each trial's output is its own
    assert [t.stdout.text().splitlines()[1] for t in trials] == ["loss=2.0", "loss=4.0", "loss=6.0"]
    assert alive(trials[0].pid)

    # A trial of the same function from another folder gets a fresh process
    other = tmp_path_factory.mktemp("other")
    (other / "objectives.py").write_text(OBJECTIVES)
    moved = run(launcher, other, "objectives:describe", {"x": 9})
    assert moved.returncode == 0
    assert json.loads(moved.stdout.text().splitlines()[0])["calls"] == [9]
    assert moved.pid != trials[0].pid
    wait_for(lambda: not alive(trials[0].pid), 5, "the retired executor to be gone")


@pytest.mark.parametrize(
    ("do", "code", "stderr", "survives"),
    [
        ("raise", 1, "ValueError: objective exploded", True),
        ("exit", 3, "", True),
        ("hard_exit", 5, "", False),
    ],
)
def test_a_trial_ends_as_an_interpreter_would_and_the_next_one_runs(
    launcher: LauncherClient, folder: Path, do: str, code: int, stderr: str, survives: bool
) -> None:
    first = run(launcher, folder, "objectives:act", {"do": "return"})
    process = run(launcher, folder, "objectives:act", {"do": do})
    assert process.returncode == code
    assert stderr in process.stderr.text()
    after = run(launcher, folder, "objectives:act", {"do": "return"})
    assert after.returncode == 0 and after.stdout.text().splitlines()[1] == "loss=1.0"
    # an exception or SystemExit leaves the executor running; os._exit ends it and the next trial gets a new one
    assert process.pid == first.pid
    assert (after.pid == first.pid) is survives


def test_an_executor_that_dies_between_trials_is_replaced_for_the_next_one(launcher: LauncherClient, folder: Path) -> None:
    first = run(launcher, folder, "objectives:act", {"do": "exit_later"})
    assert first.returncode == 0
    wait_for(lambda: not alive(first.pid), 5, "the executor to die after its trial")
    after = run(launcher, folder, "objectives:act", {"do": "return"})
    assert after.returncode == 0 and after.stdout.text().splitlines()[1] == "loss=1.0"
    assert after.pid != first.pid


def test_a_function_that_is_not_there_fails_its_trial_only(launcher: LauncherClient, folder: Path) -> None:
    missing = run(launcher, folder, "objectives:missing")
    assert missing.returncode == 1
    assert "'objectives:missing' is not a callable" in missing.stderr.text()
    assert run(launcher, folder, "objectives:describe").returncode == 0


def test_processes_a_trial_leaves_behind_are_killed_and_the_executor_stays(launcher: LauncherClient, folder: Path) -> None:
    began = time.monotonic()
    trial = run(launcher, folder, "objectives:act", {"do": "spawn"})
    assert trial.returncode == 0, trial.stderr.text()
    # the trial's thread was joined before the trial counted as ended, as at interpreter exit
    assert time.monotonic() - began >= 0.3
    # nothing but the executor is left in its group, and nothing was re-parented to the launcher
    wait_for(lambda: pids_in_group(trial.pid) == [trial.pid], 5, "the trial's child and grandchild to be killed")
    launcher_pid = launcher._process.pid if launcher._process else -1
    wait_for(lambda: [p for p, parent, _ in live_processes() if parent == launcher_pid] == [trial.pid], 5, "no adopted leftovers")
    assert run(launcher, folder, "objectives:act", {"do": "return"}).pid == trial.pid


@pytest.mark.parametrize(("how", "code", "survives"), [("exit", 0, True), ("fail", 3, True), ("hang", -signal.SIGTERM, False)])
def test_a_daemon_a_reused_trial_double_forked_is_killed_when_the_trial_ends(
    launcher: LauncherClient, folder: Path, how: str, code: int, survives: bool
) -> None:
    # Given a reused trial that left a daemon in a session of its own, orphaned, with a child of its own
    base = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO)}
    trial, left = start_leaving_a_daemon(launcher, folder, base, "function", how, reuse=True)
    try:
        # When the trial ends (returns, fails, or hangs and is stopped) and the runner kills its leftovers
        assert end_and_kill_leftovers(trial, how) == code
        # Then the daemon and its child are gone, and the executor lives on unless the trial was stopped
        wait_for(lambda: not any(alive(pid) for pid in left), 5, "the daemon and its child to be killed")
        assert alive(trial.pid) is survives
    finally:
        kill_if_alive(left)


def test_a_stopped_trial_takes_the_executor_down_and_the_next_trial_gets_a_fresh_one(launcher: LauncherClient, folder: Path) -> None:
    first = run(launcher, folder, "objectives:act", {"do": "return"})
    hanging = start(launcher, folder, "objectives:act", {"do": "hang"})
    assert hanging.pid == first.pid
    wait_for(lambda: "ready" in hanging.stdout.text(), 10, "the trial to start")
    began = time.monotonic()
    assert hanging.stop(grace=5.0) == -signal.SIGTERM
    assert time.monotonic() - began < 2.5  # the SIGTERM did it, well before the 5 s grace (room for a loaded box)
    wait_for(lambda: not alive(first.pid), 5, "the executor to be gone")
    after = run(launcher, folder, "objectives:act", {"do": "return"})
    assert after.returncode == 0 and after.pid != first.pid


def test_a_sweep_with_reuse_process_runs_every_trial_in_one_process_per_slot(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a function sweep with reuse_process and a worker with two slots
    sweep_file = write_sweep(
        tmp_path,
        """
        method: random
        metric: {name: loss}
        function: objectives:quadratic_and_pid
        reuse_process: true
        parameters:
          x: {min: -2.0, max: 2.0}
        run_cap: 12
        seed: 3
        """,
    )
    sweep_id = submit(procs, sweep_file)
    procs.start("controller")
    procs.start("worker", "--gpus", "none", "--concurrency", "2")
    # When it runs
    wait_until_done(store, sweep_id, timeout=90)
    # Then every trial completed with its own value, computed in one of two processes (one per slot)
    assert store.get_sweep(sweep_id).state is SweepState.FINISHED
    trials = store.get_trials(sweep_id)
    assert len(trials) == 12
    for t in trials:
        assert t.state is TrialState.COMPLETED, (t.number, t.error)
        assert t.objective == pytest.approx((t.params["x"] - 1.0) ** 2 + 4.0)
    pids = {t.last_metrics["pid"] for t in trials}
    assert 1 <= len(pids) <= 2
