"""The one module that starts trial processes: through the slot's launcher, argv lists (never a shell).

Each trial is forked by the slot's long-lived launcher (`workers.launcher`) and
leads its own process group, which `stop()` signals as a whole: SIGTERM, a
grace period, then SIGKILL. However a trial ends, the launcher kills what it left
(the rest of its group, daemons that escaped it) before it reports the end.
Output is read by one thread for both pipes; stdout lines also go to a callback
(the metric parser) as they arrive. Memory and time per stream are bounded however
the trial writes: a line is cut at MAX_LINE_CHARS and a tail keeps TAIL_CHARS. The
runner learns that a trial ended from the launcher's message the moment it is
reaped, without polling. A start request is at most MAX_START_REQUEST bytes.
A stop is bounded: a trial not reported gone KILL_WAIT_SECONDS after its SIGKILL
(stuck in the kernel, or its launcher hung) is given up on with its launcher.
"""

from __future__ import annotations

import codecs
import collections
import errno
import io
import json
import logging
import os
import select
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sweepctl.errors import SweepError, TrialTooLargeError
from sweepctl.settings import REDIS_URL_ENV
from workers.launch_protocol import MAX_START_REQUEST, fit_start_requests

TAIL_CHARS = 8192  # a tail is the last TAIL_CHARS characters of a stream, in whole lines when stored
# A longer line is passed on as its first and last halves around a note of what was dropped: far
# over MAX_REPORT_CHARS, so it can never be taken for a report, and its cost is bounded.
MAX_LINE_CHARS = 1 << 16
LAST_LINE_CHARS = 1024  # the last stderr line, as an error message quotes it
_KEPT = MAX_LINE_CHARS // 2
_MAX_MESSAGE = 1 << 16
_READ_CHUNK = 1 << 16
# A SIGKILLed process is normally reported gone within milliseconds. One that is not after this long is in
# uninterruptible sleep (a hung GPU driver or network file system) or its launcher is hung: the slot gives up
# on both rather than hang with them.
KILL_WAIT_SECONDS = 10.0

log = logging.getLogger(__name__)


class OutputTail:
    """The end of a stream: its last TAIL_CHARS characters and its last non-blank line.

    Bounded as lines are stored, not as they are read: it holds TAIL_CHARS characters
    plus at most one line (lines come capped at MAX_LINE_CHARS by the splitter).
    """

    def __init__(self) -> None:
        self._lines: collections.deque[str] = collections.deque()
        self._chars = 0
        self._last_words = ""
        self._lock = threading.Lock()

    def add(self, line: str) -> None:
        words = line.strip()
        with self._lock:
            self._lines.append(line)
            self._chars += len(line)
            # The oldest line goes once the others hold TAIL_CHARS characters without it.
            while self._chars - len(self._lines[0]) >= TAIL_CHARS:
                self._chars -= len(self._lines.popleft())
            if words:
                self._last_words = words if len(words) <= LAST_LINE_CHARS else words[:LAST_LINE_CHARS] + "..."

    def text(self) -> str:
        with self._lock:
            return "".join(self._lines)[-TAIL_CHARS:]

    def last_line(self) -> str:
        """The last non-blank line, stripped, cut at LAST_LINE_CHARS characters (then ending in "...")."""
        with self._lock:
            return self._last_words


class _LineSplitter:
    """Bytes of one pipe into lines for its tail (and a callback), decoded as a text file would be.

    Linear in the bytes fed, however long a line runs: only new text is searched for
    newlines, and a line past MAX_LINE_CHARS keeps just its first and last halves.
    """

    def __init__(self, tail: OutputTail, on_line: Callable[[str], None] | None) -> None:
        self._tail = tail
        self._on_line = on_line
        self._decoder = io.IncrementalNewlineDecoder(codecs.getincrementaldecoder("utf-8")(errors="replace"), translate=True)
        self._chars = 0  # in the line so far, kept or not
        self._pieces: list[str] = []  # the line so far; past the cap, only its first _KEPT characters
        self._end = ""  # past the cap: the line's last _KEPT characters so far

    def feed(self, data: bytes) -> None:
        """More bytes; b"" is the end of the stream (a last line without a newline still counts)."""
        *complete, rest = self._decoder.decode(data, final=not data).split("\n")
        for piece in complete:
            if self._chars or len(piece) > MAX_LINE_CHARS:
                self._add(piece)
                self._emit(self._take("\n"))
            else:
                self._emit(piece + "\n")
        self._add(rest)
        if not data and self._chars:
            self._emit(self._take(""))

    def _add(self, text: str) -> None:
        if not text:
            return
        over = self._chars > MAX_LINE_CHARS
        self._chars += len(text)
        if over:
            self._end = (self._end + text)[-_KEPT:]
        else:
            self._pieces.append(text)
            if self._chars > MAX_LINE_CHARS:
                line = "".join(self._pieces)
                self._pieces, self._end = [line[:_KEPT]], line[-_KEPT:]

    def _take(self, newline: str) -> str:
        """The line gathered so far, ended by `newline`; the next line starts empty."""
        if self._chars > MAX_LINE_CHARS:
            line = f"{self._pieces[0]}[... {self._chars - MAX_LINE_CHARS} characters dropped ...]{self._end}{newline}"
        else:
            line = "".join(self._pieces) + newline
        self._chars, self._pieces, self._end = 0, [], ""
        return line

    def _emit(self, line: str) -> None:
        self._tail.add(line)
        if self._on_line is not None:
            self._on_line(line)


def launcher_environment() -> dict[str, str]:
    """The environment a slot's launcher starts with, and its trials inherit: the worker's, less the Redis URL.

    The launcher holds no Redis credentials: trials report through stdout.
    """
    return {k: v for k, v in os.environ.items() if k != REDIS_URL_ENV}


class LauncherClient:
    """The runner's side of its slot's launcher process (`workers.launcher`): started on first use, restarted if it died.

    The launcher process inherits this process's environment as it is when the launcher
    starts (less the Redis URL): the worker's settings travel in it to the launcher's entry point.
    """

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self._process: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._exited: dict[int, int] = {}

    def _channel(self) -> socket.socket:
        if self._sock is not None and self._process is not None and self._process.poll() is None:
            return self._sock
        self.close()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        fit_start_requests(ours)
        with theirs:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "workers.launcher", str(theirs.fileno()), str(self.grace)],
                pass_fds=[theirs.fileno()],
                env=launcher_environment(),
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a Ctrl-C at the worker's terminal is the worker's to handle
            )
        self._sock = ours
        self._exited.clear()
        return ours

    def warm_up(self) -> None:
        """Start the launcher process now, so its preloads are imported before the first trial arrives."""
        self._channel()

    def start(
        self, argv: Sequence[str], *, env: Mapping[str, str], cwd: str, function: str | None, metric: str, reuse: bool = False
    ) -> tuple[int, int, int]:
        """Start a trial: (pid, stdout read fd, stderr read fd).

        `env` is set on top of the environment the launcher started with: the
        worker's, without the Redis URL. With `reuse`, a `function:` trial runs in
        the slot's long-lived executor process (the pid is the executor's).
        Raises TrialTooLargeError when the request is over MAX_START_REQUEST bytes, SweepError
        when the launcher cannot start it.
        """
        request = {"op": "start", "argv": list(argv), "env": dict(env), "cwd": cwd, "function": function, "metric": metric, "reuse": reuse}
        message = json.dumps(request).encode()
        if len(message) > MAX_START_REQUEST:
            raise _too_large(len(message), f"over the launcher's limit of {MAX_START_REQUEST:,} bytes")
        sock = self._channel()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            try:
                socket.send_fds(sock, [message], [out_w, err_w])
            except OSError as exc:
                if exc.errno == errno.EMSGSIZE:  # a kernel whose net.core.wmem_max is below the default
                    raise _too_large(len(message), "more than this host's socket buffers take (net.core.wmem_max)") from exc
                raise
            reply = self._next_reply()
        except BaseException:
            os.close(out_r)
            os.close(err_r)
            raise
        finally:
            os.close(out_w)
            os.close(err_w)
        if "started" not in reply:
            os.close(out_r)
            os.close(err_r)
            raise SweepError(f"the launcher could not start the trial: {reply.get('error', reply)}")
        return int(reply["started"]), out_r, err_r

    def _next_reply(self) -> dict[str, Any]:
        while True:
            message = self._receive(None)
            if message is None:
                self.close()
                raise SweepError("the launcher exited while starting a trial")
            if "exited" not in message:
                return message

    def _receive(self, timeout: float | None) -> dict[str, Any] | None:
        """The next message ({} when none came in time), or None when the launcher is gone.

        Exit messages are remembered for `wait`, whatever else is being waited for.
        """
        sock = self._sock
        if sock is None:
            return None
        ready, _, _ = select.select([sock], [], [], timeout)
        if not ready:
            return {}
        try:
            data = sock.recv(_MAX_MESSAGE)
        except OSError:
            data = b""
        if not data:
            return None
        message: dict[str, Any] = json.loads(data)
        if "exited" in message:
            self._exited[int(message["exited"])] = int(message["code"])
        return message

    def wait(self, pid: int, timeout: float | None) -> int | None:
        """The trial's return code once it has ended, waiting up to `timeout` seconds (None: no limit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while pid not in self._exited:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left < 0:
                return None
            if self._receive(left) is None:
                # The launcher died, and with it (PR_SET_PDEATHSIG) the trial.
                self.close()
                return -signal.SIGKILL
        return self._exited.pop(pid)

    def abandon(self) -> None:
        """Kill the launcher at once and forget it: it no longer answers, or a trial it forked cannot be reaped.

        The next trial gets a new launcher. A process stuck in the kernel is beyond any signal; it is left to the kernel.
        """
        self._end(patience=0.0)

    def close(self) -> None:
        """Stop the launcher (it stops any trial still running) and forget it."""
        self._end(patience=self.grace + 5.0)

    def _end(self, patience: float) -> None:
        """Close the channel (the launcher sees EOF and stops), give it `patience` seconds, then SIGKILL it; never
        waits longer than that and KILL_WAIT_SECONDS: a launcher that does not die of SIGKILL is left behind, logged."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._process is None:
            return
        try:
            self._process.wait(patience)
        except subprocess.TimeoutExpired:
            self._process.kill()
            try:
                self._process.wait(KILL_WAIT_SECONDS)
            except subprocess.TimeoutExpired:
                log.error("the trial launcher (pid %d) did not die of SIGKILL: left behind", self._process.pid)
        self._process = None


class TrialProcess:
    """A running trial, forked by the slot's launcher."""

    def __init__(
        self,
        launcher: LauncherClient,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: str,
        on_stdout_line: Callable[[str], None],
        function: str | None = None,
        metric: str = "",
        reuse: bool = False,
    ) -> None:
        self.argv = tuple(argv)
        self._reused = reuse and function is not None
        self.stdout = OutputTail()
        self.stderr = OutputTail()
        self._launcher = launcher
        self._on_stdout_line = on_stdout_line
        self.pid, out_fd, err_fd = launcher.start(argv, env=env, cwd=cwd, function=function, metric=metric, reuse=reuse)
        self.returncode: int | None = None
        # One thread reads both pipes: a thread costs ~0.1 ms to start and join, per trial.
        self._reader = threading.Thread(target=self._pump, args=(out_fd, err_fd), daemon=True)
        self._reader.start()

    def _pump(self, out_fd: int, err_fd: int) -> None:
        """Read both pipes to their end, line by line, as text files would (UTF-8, universal newlines)."""
        streams = {out_fd: _LineSplitter(self.stdout, self._on_stdout_line), err_fd: _LineSplitter(self.stderr, None)}
        with selectors.DefaultSelector() as selector:
            for fd in streams:
                selector.register(fd, selectors.EVENT_READ)
            while streams:
                for key, _ in selector.select():
                    data = os.read(key.fd, _READ_CHUNK)
                    streams[key.fd].feed(data)
                    if not data:
                        selector.unregister(key.fd)
                        os.close(key.fd)
                        del streams[key.fd]

    def wait(self, timeout: float | None) -> int | None:
        """The return code once the trial ended, waiting up to `timeout` seconds; None if still running."""
        if self.returncode is None:
            self.returncode = self._launcher.wait(self.pid, timeout)
        return self.returncode

    def stop(self, grace: float, kill_wait: float = KILL_WAIT_SECONDS) -> int:
        """SIGTERM the whole process group, SIGKILL it after `grace` seconds; returns the return code.

        Returns within `grace + kill_wait` seconds (and the launcher's own kill): a trial still not reported
        gone `kill_wait` seconds after its SIGKILL is given up on with its launcher, and reads as SIGKILLed.
        """
        self._signal_group(signal.SIGTERM)
        self.wait(grace)
        # The leader may be gone while children it spawned linger: always finish the group.
        self._signal_group(signal.SIGKILL)
        code = self.wait(kill_wait)
        if code is None:
            log.error(
                "trial pid %d was not reported gone %.0f s after SIGKILL (stuck in the kernel, or its launcher hung): "
                "giving up on it and on its launcher; the next trial gets a new launcher",
                self.pid,
                kill_wait,
            )
            self._launcher.abandon()
            self.returncode = code = -signal.SIGKILL
        return code

    def _signal_group(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass

    def finish_output(self, timeout: float = 5.0) -> None:
        """Wait for the readers to drain what the process wrote before it exited."""
        self._reader.join(timeout)

    def kill_leftovers(self) -> None:
        """After the leader exited: make sure nothing the trial started lives on (no orphans).

        The launcher has done it before it reported the end: it killed every process the
        trial left, in its group or escaped from it (double-forked daemons and their
        children). This signals the group once more in case the launcher died meanwhile.
        A reused executor's group leader lives on for the next trial.
        """
        if not self._reused:
            self._signal_group(signal.SIGKILL)


def _too_large(size: int, why: str) -> TrialTooLargeError:
    return TrialTooLargeError(
        f"the trial's parameters and environment are too large to start: {size:,} bytes as a start request "
        f"(argv, environment and folder as JSON), {why}"
    )
