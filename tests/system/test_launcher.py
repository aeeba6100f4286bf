"""The slot's launcher forks every trial: function trials run in the fork, programs are exec'd from it.

Real processes, no Redis: what a trial sees (env, cwd, argv, fresh code, fresh random
state), how it ends (exit codes, exceptions, missing programs), and that nothing of
a trial outlives a stop, the launcher, or the runner that owns the launcher.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sweepctl.errors import TrialTooLargeError
from tests.support.processes import pids_in_group, process_alive, wait_for
from tests.system.daemon_trials import (
    end_and_kill_leftovers,
    kill_if_alive,
    start_leaving_a_daemon,
)
from workers.launch_protocol import MAX_START_REQUEST
from workers.linux import live_processes
from workers.trial_process import LauncherClient, TrialProcess

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parents[2]

OBJECTIVES = """
import json, os, random, sys

from sweepctl.report import params, report


def value(p):
    return p["x"] * 2


def describe(p):
    print(json.dumps({"cwd": os.getcwd(), "env": os.environ.get("MARK"), "argv": sys.argv,
                      "path0": sys.path[0], "random": random.random(), "pgid": os.getpgid(0), "pid": os.getpid()}))
    report(step=1, loss=0.5)
    return {"loss": 0.25, "acc": 1}


def boom(p):
    raise ValueError("objective exploded")


def env_length(p):
    return len(os.environ["LONG"])


def leave(p):
    raise SystemExit(p.get("code", "a message"))


def flood(p):
    for i in range(20000):
        print(f"step={i} loss={i}")
        print(f"warning {i}: " + "x" * 100, file=sys.stderr)
"""


def env(**extra: str) -> dict[str, str]:
    base = {"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), "SWEEPCTL_PARAMS": json.dumps({"x": 3})}
    return {**base, **extra}


def run(
    launcher: LauncherClient, folder: Path, *, function: str | None = None, argv: list[str] | None = None, **extra: str
) -> TrialProcess:
    lines: list[str] = []
    process = TrialProcess(
        launcher, argv or [], env=env(**extra), cwd=str(folder), on_stdout_line=lines.append, function=function, metric="loss"
    )
    process.wait(30)
    process.finish_output()
    return process


def test_a_function_trial_runs_in_a_fork_with_its_own_env_cwd_group_and_random_state(launcher: LauncherClient, folder: Path) -> None:
    # When the same function runs twice as two trials
    first = run(launcher, folder, function="objectives:describe", MARK="one")
    second = run(launcher, folder, function="objectives:describe", MARK="two")

    # Then each ran with its trial's environment and folder, as leader of its own process group,
    # reported along the way and what it returned, and drew different random numbers
    seen = []
    for process, mark in ((first, "one"), (second, "two")):
        assert process.returncode == 0, process.stderr.text()
        out = process.stdout.text().splitlines()
        info = json.loads(out[0])
        assert (info["cwd"], info["env"], info["path0"], info["argv"]) == (str(folder), mark, str(folder), ["objectives:describe"])
        assert info["pgid"] == info["pid"] == process.pid
        assert out[1:] == ["step=1 loss=0.5", "loss=0.25 acc=1.0"]
        seen.append(info["random"])
    assert seen[0] != seen[1]


def test_output_far_beyond_the_pipe_buffers_on_both_streams_is_read_whole(launcher: LauncherClient, folder: Path) -> None:
    # Given a trial writing 20,000 lines to stdout and 2 MB to stderr, interleaved (pipes hold 64 KB)
    lines: list[str] = []
    process = TrialProcess(
        launcher, [], env=env(), cwd=str(folder), on_stdout_line=lines.append, function="objectives:flood", metric="loss"
    )
    # When it runs to its end
    assert process.wait(60) == 0, process.stderr.text()
    process.finish_output()
    # Then every stdout line reached the parser in order, and both tails end with the last lines
    assert len(lines) == 20000 and lines[0] == "step=0 loss=0\n" and lines[-1] == "step=19999 loss=19999\n"
    assert process.stdout.text().endswith("step=19999 loss=19999\n")
    assert process.stderr.last_line() == "warning 19999: " + "x" * 100


def test_code_edited_between_trials_is_picked_up(launcher: LauncherClient, folder: Path) -> None:
    assert run(launcher, folder, function="objectives:value").stdout.text() == "loss=6.0\n"
    (folder / "objectives.py").write_text(OBJECTIVES.replace('p["x"] * 2', 'p["x"] * 10'))
    assert run(launcher, folder, function="objectives:value").stdout.text() == "loss=30.0\n"


HEAVY_LIB = """
import os
with open(os.environ["HEAVY_LOG"], "a") as log:
    log.write(f"{os.getpid()}\\n")
"""

USES_HEAVY = """
import json, sys


def trial(p):
    already = "heavy_lib" in sys.modules
    import heavy_lib
    print(json.dumps({"already": already}))
"""


def test_preloaded_libraries_are_imported_once_in_the_launcher_and_a_bad_name_is_only_a_warning(
    launcher: LauncherClient, folder: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # Given a library that logs each import, preloaded by the launcher along with a name that does not exist
    libs = folder / "libs"
    libs.mkdir()
    (libs / "heavy_lib.py").write_text(HEAVY_LIB)
    (folder / "uses_heavy.py").write_text(USES_HEAVY)
    log = folder / "imports.log"
    monkeypatch.setenv("HEAVY_LOG", str(log))
    monkeypatch.setenv("PYTHONPATH", f"{libs}{os.pathsep}{REPO}")
    monkeypatch.setenv("SWEEPCTL_PRELOAD", "heavy_lib, no_such_lib")
    # When three function trials import it
    trials = [run(launcher, folder, function="uses_heavy:trial", PYTHONPATH=f"{libs}{os.pathsep}{REPO}") for _ in range(3)]
    # Then each found it imported already, it was imported once, by the launcher, and the bad name was reported
    assert [t.returncode for t in trials] == [0, 0, 0], [t.stderr.text() for t in trials]
    assert [json.loads(t.stdout.text()) for t in trials] == [{"already": True}] * 3
    assert log.read_text().split() == [str(launcher._process.pid if launcher._process else None)]
    assert "preload 'no_such_lib' failed" in capfd.readouterr().err


@pytest.mark.parametrize(
    ("function", "params", "code", "stderr"),
    [
        ("objectives:boom", {}, 1, "ValueError: objective exploded"),
        ("objectives:leave", {}, 1, "a message"),
        ("objectives:leave", {"code": 3}, 3, ""),
        ("objectives:missing", {}, 1, "'objectives:missing' is not a callable"),
        ("no_such_module:f", {}, 1, "ModuleNotFoundError"),
    ],
)
def test_a_function_trial_ends_as_an_interpreter_would(
    launcher: LauncherClient, folder: Path, function: str, params: dict[str, int], code: int, stderr: str
) -> None:
    process = run(launcher, folder, function=function, SWEEPCTL_PARAMS=json.dumps(params))
    assert process.returncode == code
    assert stderr in process.stderr.text()
    # and the launcher is unharmed: the next trial runs
    assert run(launcher, folder, function="objectives:value").returncode == 0


def test_programs_are_exec_d_with_literal_arguments_and_a_missing_one_is_a_clear_127(launcher: LauncherClient, folder: Path) -> None:
    echo = run(launcher, folder, argv=[sys.executable, "-c", "import sys; print(sys.argv[1:])", "; touch x", "$(id)"])
    assert echo.returncode == 0 and echo.stdout.text() == "['; touch x', '$(id)']\n"
    assert not (folder / "x").exists()
    missing = run(launcher, folder, argv=["no-such-program-here", "--flag"])
    assert missing.returncode == 127
    assert "cannot start 'no-such-program-here'" in missing.stderr.text()


def test_a_trial_too_large_to_send_to_the_launcher_fails_clearly_and_the_launcher_carries_on(
    launcher: LauncherClient, folder: Path
) -> None:
    # Given a trial whose parameters take 1.2 MB (a sweep stored before such values were refused)
    huge = json.dumps({"x": "v" * 1_200_000})
    # When it is started, Then it is refused saying what is too large and by how much, as an error of the trial's own
    refusal = rf"parameters and environment are too large to start: 1,2\d\d,\d\d\d bytes .* limit of {MAX_START_REQUEST:,} bytes"
    with pytest.raises(TrialTooLargeError, match=refusal):
        TrialProcess(
            launcher, [], env=env(SWEEPCTL_PARAMS=huge), cwd=str(folder), on_stdout_line=lambda line: None, function="objectives:value"
        )
    # and the next trial runs on the same launcher
    assert run(launcher, folder, function="objectives:value").returncode == 0


@pytest.mark.parametrize("reuse", [False, True])
def test_a_start_request_over_what_an_unsized_channel_carries_but_within_the_limit_runs(
    launcher: LauncherClient, folder: Path, reuse: bool
) -> None:
    # Given a function trial with a 250,000-character variable: over the 212,960 bytes a SOCK_SEQPACKET
    # message may have on a stock kernel by default, under MAX_START_REQUEST
    assert MAX_START_REQUEST > 250_000 + 10_000
    long_env = env(LONG="v" * 250_000)
    process = TrialProcess(
        launcher,
        [],
        env=long_env,
        cwd=str(folder),
        on_stdout_line=lambda line: None,
        function="objectives:env_length",
        metric="loss",
        reuse=reuse,
    )
    # When it runs (handed on to the executor too, with reuse), Then it saw the whole variable
    assert process.wait(30) == 0, process.stderr.text()
    process.finish_output()
    assert process.stdout.text() == "loss=250000.0\n"


def test_a_program_argument_longer_than_exec_takes_fails_the_trial_with_argument_list_too_long(
    launcher: LauncherClient, folder: Path
) -> None:
    # Given an argument over Linux's 128 KiB per-string limit, though the start request is under the launcher's
    too_long = run(launcher, folder, argv=[sys.executable, "-c", "pass", "a" * 150_000])
    # Then exec refuses it and the trial fails saying why
    assert too_long.returncode == 127
    assert "Argument list too long" in too_long.stderr.last_line()


def _start(launcher: LauncherClient, folder: Path, script: str) -> TrialProcess:
    return TrialProcess(
        launcher, [sys.executable, "-c", textwrap.dedent(script)], env=env(), cwd=str(folder), on_stdout_line=lambda line: None
    )


SPAWNS_A_CHILD = """
    import signal, subprocess, sys, time
    if sys.argv[1:] != []:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    print("ready", flush=True)
    time.sleep(60)
"""


def test_stop_takes_the_whole_group_down_promptly_or_after_the_grace(launcher: LauncherClient, folder: Path) -> None:
    # Given a trial with a child of its own
    polite = _start(launcher, folder, SPAWNS_A_CHILD)
    wait_for(lambda: len(pids_in_group(polite.pid)) == 2, 10, "the trial and its child")
    began = time.monotonic()
    assert polite.stop(grace=5.0) == -signal.SIGTERM
    assert time.monotonic() - began < 2.5  # the SIGTERM did it, well before the 5 s grace (room for a loaded box)
    wait_for(lambda: not pids_in_group(polite.pid), 5, "the group to be gone")

    # And one that ignores SIGTERM: it gets the grace, then SIGKILL
    stubborn = TrialProcess(
        launcher,
        [sys.executable, "-c", textwrap.dedent(SPAWNS_A_CHILD), "ignore-term"],
        env=env(),
        cwd=str(folder),
        on_stdout_line=lambda line: None,
    )
    wait_for(lambda: len(pids_in_group(stubborn.pid)) == 2, 10, "the stubborn trial and its child")
    began = time.monotonic()
    assert stubborn.stop(grace=0.5) == -signal.SIGKILL
    assert 0.4 < time.monotonic() - began < 3.0
    wait_for(lambda: not pids_in_group(stubborn.pid), 5, "the stubborn group to be gone")


@pytest.mark.parametrize("kind", ["program", "function"])
@pytest.mark.parametrize(("how", "code"), [("exit", 0), ("fail", 3), ("hang", -signal.SIGTERM)])
def test_a_double_forked_daemon_and_its_child_are_killed_when_the_trial_ends_however_it_ends(
    launcher: LauncherClient, folder: Path, kind: str, how: str, code: int
) -> None:
    # Given a trial that left a daemon in a session of its own, orphaned, with a child of its own
    trial, left = start_leaving_a_daemon(launcher, folder, env(), kind, how)
    try:
        # When the trial ends (exits 0, fails, or hangs and is stopped) and the runner kills its leftovers
        assert end_and_kill_leftovers(trial, how) == code
        # Then the daemon is gone, and so is its child (handed to the launcher as the daemon died)
        wait_for(lambda: not any(process_alive(pid) for pid in left), 5, "the daemon and its child to be killed")
    finally:
        kill_if_alive(left)


def test_a_trial_dies_with_its_launcher_and_the_next_trial_gets_a_new_one(launcher: LauncherClient, folder: Path) -> None:
    trial = _start(launcher, folder, "import time; time.sleep(60)")
    launcher_pid = next(parent for p, parent, _ in live_processes() if p == trial.pid)
    os.kill(launcher_pid, signal.SIGKILL)
    assert trial.wait(10) == -signal.SIGKILL
    wait_for(lambda: all(p != trial.pid for p, _, _ in live_processes()), 5, "the trial to die with its launcher")
    assert run(launcher, folder, function="objectives:value").returncode == 0


def test_a_stop_whose_end_is_never_reported_gives_up_within_its_bound_and_the_next_trial_gets_a_new_launcher(
    launcher: LauncherClient, folder: Path
) -> None:
    # Given a running trial whose launcher hangs (stopped): its end can never be reported, as with a trial stuck in
    # the kernel after SIGKILL (a hung GPU driver or network file system)
    trial = _start(launcher, folder, "import time; time.sleep(60)")
    launcher_pid = next(parent for p, parent, _ in live_processes() if p == trial.pid)
    os.kill(launcher_pid, signal.SIGSTOP)
    try:
        # When the trial is stopped
        began = time.monotonic()
        code = trial.stop(grace=0.2, kill_wait=1.0)
        # Then the stop returns within its bound (grace + kill wait, then the launcher's own SIGKILL), not never
        assert time.monotonic() - began < 8.0
        assert code == -signal.SIGKILL
        wait_for(lambda: not process_alive(launcher_pid) and not process_alive(trial.pid), 5, "the launcher and trial gone")
    finally:
        kill_if_alive([launcher_pid])
    # And the slot carries on with a new launcher
    assert run(launcher, folder, function="objectives:value").returncode == 0


RUNNER = """
import sys, time
sys.path.insert(0, {repo!r})
from workers.launch_protocol import MAX_START_REQUEST
from workers.trial_process import LauncherClient, TrialProcess
launcher = LauncherClient(grace=1.0)
trial = TrialProcess(
    launcher, [sys.executable, "-c", {script!r}], env={{"PATH": "/usr/bin:/bin"}}, cwd={cwd!r}, on_stdout_line=lambda line: None
)
print(trial.pid, flush=True)
time.sleep(60)
"""


def test_when_the_runner_is_killed_the_launcher_takes_every_trial_process_down(folder: Path) -> None:
    # Given a runner process whose trial has a child, both ignoring SIGTERM
    script = textwrap.dedent(SPAWNS_A_CHILD).replace("if sys.argv[1:] != []:", "if True:")
    runner = subprocess.Popen(
        [sys.executable, "-c", RUNNER.format(repo=str(REPO), script=script, cwd=str(folder))], stdout=subprocess.PIPE, text=True
    )
    assert runner.stdout is not None
    pgid = int(runner.stdout.readline())
    wait_for(lambda: len(pids_in_group(pgid)) == 2, 10, "the trial and its child")

    # When the runner dies by SIGKILL, Then the launcher stops the group: SIGTERM, its grace, SIGKILL
    runner.kill()
    runner.wait()
    wait_for(lambda: not pids_in_group(pgid), 10, "the trial group to be gone")
