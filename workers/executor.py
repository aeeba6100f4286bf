"""The executor: one forked process per slot that runs reused `function:` trials one after another.

With `"reuse": true` (a sweep's `reuse_process: true`), `function:` trials do not
get a fork each: the launcher forks one executor (`executor_main`) and sends it
each trial with its pipes; the executor keeps its imports, CUDA context and module
state between trials. It is the trial's process as far as the runner knows (pid,
group, exit code): a stop, a timeout or a crash takes it down with its trial, and
the next trial gets a fresh one; so does a trial of another function or folder.
After each trial it joins the trial's non-daemon threads and kills the processes
the trial left (their children are re-parented to the launcher, our subreaper).

Protocol over its own SOCK_SEQPACKET pair with the launcher:
  launcher -> executor  the runner's start request (JSON) with the trial's stdout and stderr
  executor -> launcher  {"done": code} once the trial ended (a trial ended by a signal takes the executor with it)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workers.callable_entry import run_function
from workers.launch_protocol import EXIT_CANNOT_START, MAX_MESSAGE
from workers.linux import own_children
from workers.posix import die_by, kill, redirect


@dataclass
class Executor:
    """The launcher's view of the process that runs a slot's reused `function:` trials."""

    pid: int
    channel: socket.socket  # the launcher's end: requests out, {"done": code} in
    key: tuple[str, str]  # (function, cwd): a trial of another function or folder gets a fresh executor
    busy: bool = False


def executor_main(
    channel: socket.socket, launcher_end: socket.socket, inherited: tuple[int, int], leave_launcher: Callable[[], bool]
) -> int:
    """In the forked executor: run each trial the launcher sends, until it closes the channel; the exit code.

    `leave_launcher` drops what the fork inherited from the launcher (False: the launcher died).
    """
    launcher_end.close()
    for fd in inherited:  # the first trial's pipes, open in the launcher as it forked us: they come again by message
        os.close(fd)
    if not leave_launcher():
        return EXIT_CANNOT_START
    channel.set_inheritable(False)  # a trial's subprocesses must not hold it open
    quiet = os.open(os.devnull, os.O_WRONLY)
    base_env, base_path, base_cwd = dict(os.environ), list(sys.path), os.getcwd()
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(channel, MAX_MESSAGE, 2)
        except OSError:
            return 0
        if not data or len(fds) != 2:
            return 0  # the launcher is gone (or confused): so are we
        request = json.loads(data)
        redirect(*fds)
        os.environ.clear()
        os.environ.update(base_env)  # each trial sees the worker's variables plus its own, no other trial's
        os.environ.update(request["env"])
        code = _run_one(request)
        kill_own_children()
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        sys.path[:] = base_path
        os.chdir(base_cwd)
        # Our copies of the trial's pipes must close, or its output never ends for the runner.
        os.dup2(quiet, 1)
        os.dup2(quiet, 2)
        if code < 0:
            die_by(-code)
        channel.send(json.dumps({"done": code}).encode())


def _run_one(request: dict[str, Any]) -> int:
    """Run one trial in its folder; its exit code."""
    try:
        os.chdir(request["cwd"])
    except OSError as exc:
        os.write(2, f"sweepctl: cannot enter {request['cwd']!r}: {exc.strerror or exc}\n".encode())
        return EXIT_CANNOT_START
    return run_function(request["function"], request["metric"], at_exit=False)


def kill_own_children() -> None:
    """SIGKILL and reap whatever processes the trial started here.

    Their own children are re-parented to the launcher (our subreaper), which kills them.
    """
    for pid in own_children():
        kill(pid, signal.SIGKILL)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
