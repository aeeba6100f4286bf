"""The launcher: one long-lived process per worker slot that forks every trial.

Usage: python -m workers.launcher SOCKET_FD GRACE   (started by `workers.trial_process.LauncherClient`)

Why it exists: starting each trial through a fresh guard interpreter and then a
fresh trial interpreter cost ~95 ms per trial, which dominated short trials.
The launcher starts once per slot, imports what a `function:` trial needs, and
forks each trial from itself: a `program:` trial execs its argv in the child
(an argv list, never a shell); a `function:` trial calls the function in the
child, with no exec, so it pays neither interpreter start nor sweepctl imports.
The user's module is imported in the child, never here: code edited between
trials is picked up, and a module that initialises CUDA at import cannot poison
later forks. Libraries named in SWEEPCTL_PRELOAD (`sweepctl worker --preload
torch`, read once at start with the other worker settings) are imported here once,
before the first fork, so trials find them loaded.

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

With `"reuse": true` (a sweep's `reuse_process: true`), `function:` trials run one
after another in the slot's executor process instead (`workers.executor`), which
the launcher forks, hands each trial to, and retires when it must.

Protocol over a SOCK_SEQPACKET pair, one JSON object per message:
  runner -> launcher  {"op": "start", "argv", "env" (set on top of the launcher's own), "cwd", "function", "metric", "reuse"}
                      with two file descriptors: the trial's stdout and stderr
  launcher -> runner  {"started": pid} or {"error": text}, in order of the starts;
                      {"exited": pid, "code": returncode} when a trial ends and what it left is dead
                      (returncode as subprocess gives it: -N for signal N).
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from types import FrameType
from typing import Any

from sweepctl.worker_settings import WorkerSettings
from workers.callable_entry import run_function
from workers.executor import Executor, executor_main
from workers.launch_protocol import EXIT_CANNOT_START, MAX_MESSAGE, fit_start_requests
from workers.linux import become_subreaper, die_with_parent, own_children
from workers.posix import die_by, kill, killpg, redirect

_HANDLED = {signal.SIGTERM, signal.SIGINT, signal.SIGCHLD}
# How long the launcher may spend killing what a trial left. SIGKILL cannot be refused; a process in
# an uninterruptible sleep (a hung NFS read) dies only when that ends, and is then left for the next.
ADOPTED_KILL_SECONDS = 5.0


class LauncherServer:
    """The launcher process's loop: start trials the runner asks for, report their ends, stop them all when told."""

    def __init__(self, sock: socket.socket, grace: float) -> None:
        self.sock = sock
        self.grace = grace
        self.running: set[int] = set()
        self.executor: Executor | None = None
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

    def _give(self, executor: Executor, message: bytes, out: int, err: int) -> int:
        """Send the trial and its pipes to `executor`; its pid. A send that fails retires it."""
        try:
            socket.send_fds(executor.channel, [message], [out, err])
        except OSError:
            self._retire_executor()
            raise
        executor.busy = True
        return executor.pid

    def _fork_executor(self, key: tuple[str, str], out: int, err: int) -> Executor:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        fit_start_requests(ours)
        try:
            pid = self._fork(lambda: executor_main(theirs, ours, (out, err), self._leave_launcher))
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        self.executor = Executor(pid=pid, channel=ours, key=key)
        return self.executor

    def _executor_reported(self, executor: Executor) -> None:
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
        killpg(executor.pid, signal.SIGKILL)

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
                kill(pid, signal.SIGKILL)
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
            killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while self.running and time.monotonic() < deadline:
            self._reap_exited()
            time.sleep(0.02)
        for pid in self.running:
            killpg(pid, signal.SIGKILL)
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
        redirect(out, err)
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
    code = run_function(target, metric, at_exit=True)
    if code < 0:
        die_by(-code)
    return code


def _noop(signum: int, frame: FrameType | None) -> None:
    pass


def preload(names: Sequence[str]) -> None:
    """Import libraries every `function:` trial of this slot imports anyway, once, here.

    Each fork then finds them in sys.modules: `import torch` took 4.6-6.7 s per
    trial on an H100 machine. Only libraries that start no threads and touch no
    GPU at import belong here (torch, numpy and pandas qualify): the trial's own
    module is still imported in each child, so edits to it are picked up.
    """
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001  # a wrong name costs the speed-up, never the slot
            print(f"sweepctl launcher: preload {name!r} failed, trials import it themselves: {exc!r}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    fd, grace = int(argv[1]), float(argv[2])
    if not die_with_parent(signal.SIGTERM):
        return EXIT_CANNOT_START  # the worker died before we could ask: start nothing
    become_subreaper()
    preload(WorkerSettings.from_environment(os.environ).preload)  # the worker's settings, as its environment carries them
    # Everything imported so far is shared with every fork: keep the collector off it, so a
    # trial's collections do not touch (and copy) the launcher's pages.
    gc.freeze()
    sock = socket.socket(fileno=fd)
    sock.set_inheritable(False)  # trials must not hold the runner's channel open
    LauncherServer(sock, grace).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
