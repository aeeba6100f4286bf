"""The launcher: one long-lived process per worker slot that forks every trial.

Usage: python -m workers.launcher SOCKET_FD GRACE   (started by `workers.trial_process.Launcher`)

Why it exists: starting each trial through a fresh guard interpreter and then a
fresh trial interpreter cost ~95 ms per trial, which dominated short trials.
The launcher starts once per slot, imports what a `function:` trial needs, and
forks each trial from itself: a `program:` trial execs its argv in the child
(an argv list, never a shell); a `function:` trial calls the function in the
child, with no exec, so it pays neither interpreter start nor sweepctl imports.
The user's module is imported in the child, never here: code edited between
trials is picked up, and a module that initialises CUDA at import cannot poison
later forks. Libraries named in SWEEPCTL_PRELOAD (`sweepctl worker --preload
torch`) are imported here once, before the first fork, so trials find them loaded.

It keeps the promises the per-trial guard made:
- it asks for SIGTERM when its worker dies (even by SIGKILL), then stops every
  running trial: SIGTERM to the trial's group, GRACE seconds, SIGKILL;
- each trial child asks for SIGKILL when the launcher dies, so no trial outlives it;
- it adopts orphaned descendants (child subreaper) and kills them on `reap`.
Each trial leads its own process group (the launcher has no terminal: it runs
in a session of its own), so the runner stops a whole trial with one killpg.

Protocol over a SOCK_SEQPACKET pair, one JSON object per message:
  runner -> launcher  {"op": "start", "argv", "env" (set on top of the launcher's own), "cwd", "function", "metric"}
                      with two file descriptors: the trial's stdout and stderr
                      {"op": "reap"}: SIGKILL every adopted process that is not a running trial
  launcher -> runner  {"started": pid} or {"error": text}, in order of the starts;
                      {"exited": pid, "code": returncode} when a trial ends
                      (returncode as subprocess gives it: -N for signal N).
"""

from __future__ import annotations

import atexit
import gc
import importlib
import io
import json
import os
import select
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from types import FrameType
from typing import Any

from workers.callable_entry import run_callable
from workers.linux import become_subreaper, children_of, die_with_parent

EXIT_CANNOT_START = 127
# Comma-separated modules the launcher imports once, before forking any trial (`sweepctl worker --preload`).
PRELOAD_ENV = "SWEEPCTL_PRELOAD"
_HANDLED = {signal.SIGTERM, signal.SIGINT, signal.SIGCHLD}
MAX_MESSAGE = 1 << 20  # a start request carries the trial's environment


class _Launcher:
    def __init__(self, sock: socket.socket, grace: float) -> None:
        self.sock = sock
        self.grace = grace
        self.running: set[int] = set()
        self.stopping = False
        self.pid = os.getpid()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)

    def serve(self) -> None:
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, _noop)  # a handler, so that SIGCHLD writes the wakeup fd
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        while not self.stopping:
            ready, _, _ = select.select([self.sock.fileno(), self.wake_r], [], [])
            if self.wake_r in ready:
                os.read(self.wake_r, 4096)
                self._reap_exited()
            if self.sock.fileno() in ready and not self.stopping:
                try:
                    data, fds, _, _ = socket.recv_fds(self.sock, MAX_MESSAGE, 2)
                except OSError:
                    break
                if not data:
                    break  # the runner is gone
                self._handle(json.loads(data), fds)
        self._stop_all()

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _send(self, message: Mapping[str, Any]) -> None:
        try:
            self.sock.send(json.dumps(message).encode())
        except OSError:
            self.stopping = True  # nobody to report to: stop the trials

    def _handle(self, request: dict[str, Any], fds: list[int]) -> None:
        if request.get("op") == "reap":
            for fd in fds:
                os.close(fd)
            self._kill_adopted()
            return
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            self._send({"error": "a start request needs the trial's stdout and stderr"})
            return
        out, err = fds
        sys.stdout.flush()
        sys.stderr.flush()
        # Blocked across the fork, so that a stop sent the moment the trial starts is not
        # caught by our handlers in the child but waits for the trial's own dispositions.
        signal.pthread_sigmask(signal.SIG_BLOCK, _HANDLED)
        try:
            pid = os.fork()
        except OSError as exc:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
            os.close(out)
            os.close(err)
            self._send({"error": f"cannot fork the trial: {exc.strerror or exc}"})
            return
        if pid == 0:
            code = EXIT_CANNOT_START
            try:
                code = self._child(request, out, err)
            finally:
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
        try:
            # Both sides set the group, so it exists before the runner can signal it (the
            # child may have exec'd already, which refuses this: then it is done).
            os.setpgid(pid, pid)
        except OSError:
            pass
        os.close(out)
        os.close(err)
        self.running.add(pid)
        self._send({"started": pid})

    def _reap_exited(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.running:
                self.running.discard(pid)
                self._send({"exited": pid, "code": os.waitstatus_to_exitcode(status)})

    def _kill_adopted(self) -> None:
        for pid in children_of(os.getpid()):
            if pid not in self.running:
                _kill(pid, signal.SIGKILL)
        self._reap_exited()

    def _stop_all(self) -> None:
        """Our worker died or asked us to stop: no trial, and nothing a trial started, may linger."""
        for pid in self.running:
            _killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while self.running and time.monotonic() < deadline:
            self._reap_exited()
            time.sleep(0.02)
        for pid in self.running:
            _killpg(pid, signal.SIGKILL)
        for pid in children_of(os.getpid()):
            _kill(pid, signal.SIGKILL)

    def _child(self, request: dict[str, Any], out: int, err: int) -> int:
        """In the forked child: become the trial. Returns the exit code (exec does not return)."""
        os.setpgid(0, 0)
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGTERM, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
        if not die_with_parent(signal.SIGKILL) or os.getppid() != self.pid:
            return EXIT_CANNOT_START  # the launcher died before we could ask
        self.sock.close()
        os.close(self.wake_r)
        os.close(self.wake_w)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        for fd in (devnull, out, err):
            os.close(fd)
        env = {**os.environ, **request["env"]}  # the trial's variables on top of the worker's
        try:
            os.chdir(request["cwd"])
        except OSError as exc:
            os.write(2, f"sweepctl: cannot enter {request['cwd']!r}: {exc.strerror or exc}\n".encode())
            return EXIT_CANNOT_START
        if request.get("function"):
            os.environ.update(request["env"])
            return _call(request["function"], request["metric"])
        argv: list[str] = request["argv"]
        for sig in (signal.SIGPIPE, signal.SIGXFSZ):  # as subprocess's restore_signals does
            signal.signal(sig, signal.SIG_DFL)
        try:
            os.execvpe(argv[0], argv, env)
        except OSError as exc:
            os.write(2, f"sweepctl: cannot start {argv[0]!r}: {exc.strerror or exc}\n".encode())
        return EXIT_CANNOT_START


def _call(target: str, metric: str) -> int:
    """Run a `function:` trial in this forked child and end it as an interpreter would."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=True)  # reports reach the runner as they are written
    sys.argv = [target]
    code = 0
    try:
        code = run_callable(target, metric)
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except KeyboardInterrupt:
        traceback.print_exc()
        code = -signal.SIGINT
    except BaseException:  # noqa: BLE001  # whatever the objective raises ends the trial, never the launcher
        traceback.print_exc()
        code = 1
    # What interpreter shutdown would do before exiting: wait for non-daemon threads, run atexit.
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    if code < 0:  # die by the signal, as a Python killed by Ctrl-C does
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


def _noop(signum: int, frame: FrameType | None) -> None:
    pass


def _kill(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _killpg(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def preload(names: str) -> None:
    """Import libraries every `function:` trial of this slot imports anyway, once, here.

    Each fork then finds them in sys.modules: `import torch` took 4.6-6.7 s per
    trial on an H100 machine. Only libraries that start no threads and touch no
    GPU at import belong here (torch, numpy and pandas qualify): the trial's own
    module is still imported in each child, so edits to it are picked up.
    """
    for name in filter(None, (n.strip() for n in names.split(","))):
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001  # a wrong name costs the speed-up, never the slot
            print(f"sweepctl launcher: preload {name!r} failed, trials import it themselves: {exc!r}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    fd, grace = int(argv[1]), float(argv[2])
    if not die_with_parent(signal.SIGTERM):
        return EXIT_CANNOT_START  # the worker died before we could ask: start nothing
    become_subreaper()
    preload(os.environ.get(PRELOAD_ENV, ""))
    # Everything imported so far is shared with every fork: keep the collector off it, so a
    # trial's collections do not touch (and copy) the launcher's pages.
    gc.freeze()
    sock = socket.socket(fileno=fd)
    sock.set_inheritable(False)  # trials must not hold the runner's channel open
    _Launcher(sock, grace).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
