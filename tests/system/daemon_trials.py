"""Trials that leave a double-forked daemon behind (programs/leaves_a_daemon.py), for the launcher tests."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.support.processes import process_alive, wait_for
from workers.trial_process import LauncherClient, TrialProcess

PROGRAM = Path(__file__).resolve().parent / "programs" / "leaves_a_daemon.py"


def start_leaving_a_daemon(
    launcher: LauncherClient, folder: Path, env: Mapping[str, str], kind: str, how: str, *, reuse: bool = False
) -> tuple[TrialProcess, list[int]]:
    """Start a trial (kind "program" or "function") that leaves a daemon with a child; the trial, and their two pids."""
    shutil.copy(PROGRAM, folder)
    marker = folder / "daemon.pids"
    marker.unlink(missing_ok=True)
    program = kind == "program"
    trial = TrialProcess(
        launcher,
        [sys.executable, PROGRAM.name] if program else [],
        env={**env, "SWEEPCTL_PARAMS": json.dumps({"marker": str(marker), "how": how})},
        cwd=str(folder),
        on_stdout_line=lambda line: None,
        function=None if program else f"{PROGRAM.stem}:trial",
        metric="loss",
        reuse=reuse,
    )
    text = wait_for(lambda: marker.exists() and marker.read_text(), 10, "the daemon to start")
    return trial, [int(pid) for pid in str(text).split()]


def end_and_kill_leftovers(trial: TrialProcess, how: str) -> int:
    """End the trial as the runner does: wait for it (or stop it when it hangs), then kill what it left; its code."""
    if how == "hang":
        wait_for(lambda: "ready" in trial.stdout.text(), 10, "the trial to hang")
        code = trial.stop(grace=1.0)
    else:
        ended = trial.wait(30)
        assert ended is not None, "the trial did not end"
        code = ended
    trial.kill_leftovers()
    return code


def kill_if_alive(pids: list[int]) -> None:
    """Clean up after a failed test: the daemons must not outlive it."""
    for pid in pids:
        if process_alive(pid):
            os.kill(pid, signal.SIGKILL)
