"""The one module that starts trial processes: argv lists (never a shell), own process group.

A trial runs under its guard in a new session, so guard, program and
everything the program spawns form one process group that `stop()` signals as
a whole: SIGTERM, a grace period, then SIGKILL. Output is read by two threads;
stdout lines also go to a callback (the metric parser) as they arrive.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO

TAIL_LINES = 200
TAIL_CHARS = 8192


class OutputTail:
    """The last lines of a stream, bounded in lines and characters."""

    def __init__(self) -> None:
        self._lines: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._lock = threading.Lock()

    def add(self, line: str) -> None:
        with self._lock:
            self._lines.append(line)

    def text(self) -> str:
        with self._lock:
            return "".join(self._lines)[-TAIL_CHARS:]

    def last_line(self) -> str:
        with self._lock:
            for line in reversed(self._lines):
                if line.strip():
                    return line.strip()
        return ""


class TrialProcess:
    """A running trial program."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: str | None,
        on_stdout_line: Callable[[str], None],
        grace: float,
    ) -> None:
        self.argv = tuple(argv)
        self.stdout = OutputTail()
        self.stderr = OutputTail()
        self._on_stdout_line = on_stdout_line
        # The guard (workers/guard.py) leads the group and takes it down if this worker dies.
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "workers.guard", str(grace), "--", *self.argv],
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            text=True,
            errors="replace",
            bufsize=1,
        )
        self._readers = [
            threading.Thread(target=self._pump, args=(self.popen.stdout, self.stdout, True), daemon=True),
            threading.Thread(target=self._pump, args=(self.popen.stderr, self.stderr, False), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _pump(self, stream: IO[str] | None, tail: OutputTail, parse: bool) -> None:
        assert stream is not None
        for line in stream:
            tail.add(line)
            if parse:
                self._on_stdout_line(line)
        stream.close()

    def poll(self) -> int | None:
        return self.popen.poll()

    def stop(self, grace: float) -> int:
        """SIGTERM the whole process group, SIGKILL it after `grace` seconds; returns the exit code."""
        self._signal_group(signal.SIGTERM)
        try:
            self.popen.wait(grace + 1.0)  # the guard's own grace comes first
        except subprocess.TimeoutExpired:
            pass
        # The leader may be gone while children it spawned linger: always finish the group.
        self._signal_group(signal.SIGKILL)
        return self.popen.wait()

    def _signal_group(self, sig: signal.Signals) -> None:
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass

    def finish_output(self, timeout: float = 5.0) -> None:
        """Wait for the readers to drain what the process wrote before it exited."""
        deadline = time.monotonic() + timeout
        for reader in self._readers:
            reader.join(max(0.0, deadline - time.monotonic()))

    def kill_leftovers(self) -> None:
        """After the leader exited: kill whatever it left behind in its group (no orphans)."""
        self._signal_group(signal.SIGKILL)
