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
- it adopts orphaned descendants (child subreaper): when a trial ends, however it
  ends, it kills what the trial left (double-forked daemons, the rest of its group)
  before it reports the end. Killing one hands its children to us in turn, so it
  kills until none is left (for up to ADOPTED_KILL_SECONDS).
Each trial leads its own process group (the launcher has no terminal: it runs
in a session of its own), so the runner stops a whole trial with one killpg.

With `"reuse": true` (a sweep's `reuse_process: true`), `function:` trials do not
get a fork each: they run one after another in one forked executor process per
slot, which keeps its imports, CUDA context and module state between trials. It
is the trial's process as far as the runner knows (pid, group, exit code): a
stop, a timeout or a crash takes it down with its trial, and the next trial gets
a fresh one; so does a trial of another function or folder. After each trial it
joins the trial's non-daemon threads and kills the processes the trial left.

Protocol over a SOCK_SEQPACKET pair, one JSON object per message:
  runner -> launcher  {"op": "start", "argv", "env" (set on top of the launcher's own), "cwd", "function", "metric", "reuse"}
                      with two file descriptors: the trial's stdout and stderr
  launcher -> runner  {"started": pid} or {"error": text}, in order of the starts;
                      {"exited": pid, "code": returncode} when a trial ends and what it left is dead
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any

from workers.callable_entry import run_callable
from workers.linux import become_subreaper, die_with_parent, own_children

EXIT_CANNOT_START = 127
# Comma-separated modules the launcher imports once, before forking any trial (`sweepctl worker --preload`).
PRELOAD_ENV = "SWEEPCTL_PRELOAD"
_HANDLED = {signal.SIGTERM, signal.SIGINT, signal.SIGCHLD}
MAX_MESSAGE = 1 << 20  # what a read takes: more than any start request
# A start request (argv, environment, cwd as JSON) may be this long. A SOCK_SEQPACKET message must
# fit the sender's buffer, which each sender sizes for it: Linux doubles what is asked, up to twice
# net.core.wmem_max (212992 by default), so this fits on a stock kernel.
MAX_START_REQUEST = 256 << 10
# How long the launcher may spend killing what a trial left. SIGKILL cannot be refused; a process in
# an uninterruptible sleep (a hung NFS read) dies only when that ends, and is then left for the next.
ADOPTED_KILL_SECONDS = 5.0


@dataclass
class _Executor:
    """The launcher's view of the process that runs a slot's reused `function:` trials."""

    pid: int
    channel: socket.socket  # the launcher's end: requests out, {"done": code} in
    key: tuple[str, str]  # (function, cwd): a trial of another function or folder gets a fresh executor
    busy: bool = False


class _Launcher:
    def __init__(self, sock: socket.socket, grace: float) -> None:
        self.sock = sock
        self.grace = grace
        self.running: set[int] = set()
        self.executor: _Executor | None = None
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
            executor = self.executor
            watched = [self.sock.fileno(), self.wake_r] + ([executor.channel.fileno()] if executor else [])
            ready, _, _ = select.select(watched, [], [])
            # A finished trial's report first: its executor may be killed right after it.
            if executor is not None and executor.channel.fileno() in ready:
                self._executor_reported(executor)
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
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            self._send({"error": "a start request needs the trial's stdout and stderr"})
            return
        out, err = fds
        try:
            if request.get("reuse") and request.get("function"):
                pid = self._hand_to_executor(request, out, err)
            else:
                pid = self._fork(lambda: self._child(request, out, err))
        except OSError as exc:
            self._send({"error": f"cannot start the trial: {exc.strerror or exc}"})
            return
        finally:
            os.close(out)
            os.close(err)
        self.running.add(pid)
        self._send({"started": pid})

    def _fork(self, become: Callable[[], int]) -> int:
        """Fork a child that leads its own process group and runs `become` (its exit code)."""
        sys.stdout.flush()
        sys.stderr.flush()
        # Blocked across the fork, so that a stop sent the moment the trial starts is not
        # caught by our handlers in the child but waits for the trial's own dispositions.
        signal.pthread_sigmask(signal.SIG_BLOCK, _HANDLED)
        try:
            pid = os.fork()
        except OSError:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
            raise
        if pid == 0:
            code = EXIT_CANNOT_START
            try:
                code = become()
            finally:
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
        try:
            # Both sides set the group, so it exists before the runner can signal it (the
            # child may have exec'd already, which refuses this: then it is done).
            os.setpgid(pid, pid)
        except OSError:
            pass
        return pid

    def _hand_to_executor(self, request: dict[str, Any], out: int, err: int) -> int:
        """Send a reused `function:` trial to the slot's executor, forking one if there is none; its pid."""
        key = (str(request["function"]), str(request["cwd"]))
        if self.executor is not None and (self.executor.key != key or self.executor.busy):
            self._retire_executor()
        message = json.dumps(request).encode()
        if self.executor is not None:
            try:
                return self._give(self.executor, message, out, err)
            except OSError:
                pass  # it died since its last trial, its exit not yet reaped: a fresh one takes the trial
        return self._give(self._fork_executor(key, out, err), message, out, err)

    def _give(self, executor: _Executor, message: bytes, out: int, err: int) -> int:
        """Send the trial and its pipes to `executor`; its pid. A send that fails retires it."""
        try:
            socket.send_fds(executor.channel, [message], [out, err])
        except OSError:
            self._retire_executor()
            raise
        executor.busy = True
        return executor.pid

    def _fork_executor(self, key: tuple[str, str], out: int, err: int) -> _Executor:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        fit_start_requests(ours)
        try:
            pid = self._fork(lambda: self._executor_main(theirs, ours, inherited=(out, err)))
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        self.executor = _Executor(pid=pid, channel=ours, key=key)
        return self.executor

    def _executor_reported(self, executor: _Executor) -> None:
        """The executor finished a trial (or closed its channel, dying: reaping reports that)."""
        try:
            data = executor.channel.recv(MAX_MESSAGE)
        except OSError:
            data = b""
        if not data:
            self._retire_executor()
            return
        report = json.loads(data)
        executor.busy = False
        self.running.discard(executor.pid)
        self._kill_adopted()  # daemons the trial started, and its children's children (ours once they were killed)
        self._send({"exited": executor.pid, "code": int(report["done"])})

    def _retire_executor(self) -> None:
        """Kill the executor's whole group; if it was running a trial, reaping reports that trial's end."""
        executor, self.executor = self.executor, None
        if executor is None:
            return
        executor.channel.close()
        _killpg(executor.pid, signal.SIGKILL)

    def _reap_exited(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self._exited(pid, status)

    def _exited(self, pid: int, status: int) -> None:
        """A child of ours was reaped: if it was a trial, what it left is killed and the runner learns how it ended."""
        if self.executor is not None and pid == self.executor.pid:
            self.executor.channel.close()  # it died between or during trials: the next one gets a new one
            self.executor = None
        if pid in self.running:
            self.running.discard(pid)
            # Its leader gone, all the trial left is ours (children, daemons, the rest of its group).
            self._kill_adopted()
            self._send({"exited": pid, "code": os.waitstatus_to_exitcode(status)})

    def _kill_adopted(self) -> None:
        """SIGKILL every child that is not a running trial or the executor: what ended trials left, adopted by us.

        Killing one hands its own children to us, so each is reaped (then its children are
        ours) and our children are looked at again, until none is left: a whole tree of
        leftovers goes, in ADOPTED_KILL_SECONDS at most.
        """
        deadline = time.monotonic() + ADOPTED_KILL_SECONDS
        while True:
            spared = self.running | ({self.executor.pid} if self.executor else set())
            victims = {pid for pid in own_children() if pid not in spared}
            if not victims:
                return
            for pid in victims:
                _kill(pid, signal.SIGKILL)
            while victims and time.monotonic() < deadline:
                victims = {pid for pid in victims if not self._reaped(pid)}
                if victims:
                    time.sleep(0.001)
            if victims:
                print(
                    f"sweepctl launcher: {len(victims)} process(es) left by a trial still alive {ADOPTED_KILL_SECONDS:g}s "
                    f"after SIGKILL (stuck in the kernel?): {sorted(victims)}",
                    file=sys.stderr,
                    flush=True,
                )
                return

    def _reaped(self, pid: int) -> bool:
        """Whether child `pid` has exited (and is reaped now, by us or before)."""
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return True
        if done:
            self._exited(pid, status)
        return bool(done)

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
        self._retire_executor()
        self.running.clear()  # nobody is left to tell of their ends
        self._kill_adopted()

    def _leave_launcher(self) -> bool:
        """In a forked child: drop the launcher's signal handling and channels. False: the launcher died."""
        os.setpgid(0, 0)
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGTERM, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
        if not die_with_parent(signal.SIGKILL) or os.getppid() != self.pid:
            return False  # the launcher died before we could ask
        self.sock.close()
        if self.executor is not None:
            self.executor.channel.close()
        os.close(self.wake_r)
        os.close(self.wake_w)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        return True

    def _child(self, request: dict[str, Any], out: int, err: int) -> int:
        """In the forked child: become the trial. Returns the exit code (exec does not return)."""
        if not self._leave_launcher():
            return EXIT_CANNOT_START
        _redirect(out, err)
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


    def _executor_main(self, channel: socket.socket, launcher_end: socket.socket, inherited: tuple[int, int]) -> int:
        """In the forked executor: run each trial the launcher sends, until it closes the channel."""
        launcher_end.close()
        for fd in inherited:  # the first trial's pipes, open in the launcher as it forked us: they come again by message
            os.close(fd)
        if not self._leave_launcher():
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
            _redirect(*fds)
            os.environ.clear()
            os.environ.update(base_env)  # each trial sees the worker's variables plus its own, no other trial's
            os.environ.update(request["env"])
            try:
                os.chdir(request["cwd"])
            except OSError as exc:
                os.write(2, f"sweepctl: cannot enter {request['cwd']!r}: {exc.strerror or exc}\n".encode())
                code = EXIT_CANNOT_START
            else:
                code = _run_function(request["function"], request["metric"], at_exit=False)
            _kill_own_children()
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
            sys.path[:] = base_path
            os.chdir(base_cwd)
            # Our copies of the trial's pipes must close, or its output never ends for the runner.
            os.dup2(quiet, 1)
            os.dup2(quiet, 2)
            if code < 0:
                _die_by(-code)
            channel.send(json.dumps({"done": code}).encode())


def _redirect(out: int, err: int) -> None:
    """Make the trial's pipes this process's stdout and stderr."""
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.close(out)
    os.close(err)


def _call(target: str, metric: str) -> int:
    """Run a `function:` trial in this forked child and end it as an interpreter would."""
    code = _run_function(target, metric, at_exit=True)
    if code < 0:
        _die_by(-code)
    return code


def _run_function(target: str, metric: str, *, at_exit: bool) -> int:
    """Call the trial's function here; its exit code, as an interpreter running it would give it."""
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
    # What interpreter shutdown would do before exiting: wait for non-daemon threads (and run
    # atexit, unless the process goes on to run more trials).
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    if at_exit:
        atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def _die_by(signum: int) -> None:
    """Die by the signal, as a Python killed by Ctrl-C does."""
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _kill_own_children() -> None:
    """SIGKILL and reap whatever processes the trial started here.

    Their own children are re-parented to the launcher (our subreaper), which kills them.
    """
    for pid in own_children():
        _kill(pid, signal.SIGKILL)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


def fit_start_requests(sock: socket.socket) -> None:
    """Size `sock`'s send buffer for a start request of MAX_START_REQUEST bytes (one message)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, MAX_START_REQUEST)


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
