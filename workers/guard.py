"""The guard: a small parent around every trial program, so trials never outlive their worker.

Usage: python -m workers.guard GRACE -- PROGRAM [ARGS...]

The runner starts the guard in a new session, so guard, program and everything
the program spawns share one process group. The guard asks for SIGTERM when
its worker dies (even by SIGKILL), adopts orphaned descendants, and on SIGTERM
gives the program GRACE seconds before it SIGKILLs the whole group. Otherwise
it just waits and exits as the program did (same code, same signal).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import FrameType

from workers.linux import become_subreaper, children_of, die_with_parent

EXIT_CANNOT_START = 127


def _kill_everything() -> None:
    for pid in children_of(os.getpid()):  # adopted daemons that left the group
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    os.killpg(os.getpgid(0), signal.SIGKILL)  # the group, the guard included


def main(argv: list[str]) -> int:
    grace, program = float(argv[1]), argv[3:]
    if not die_with_parent(signal.SIGTERM):
        return EXIT_CANNOT_START  # the worker died before we could ask: do not start anything
    become_subreaper()
    try:
        child = subprocess.Popen(program)
    except OSError as exc:
        print(f"sweepctl: cannot start {program[0]!r}: {exc.strerror or exc}", file=sys.stderr, flush=True)
        return EXIT_CANNOT_START
    deadline: list[float] = []

    def on_stop(signum: int, frame: FrameType | None) -> None:
        if not deadline:
            deadline.append(time.monotonic() + grace)
            try:
                child.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGINT, on_stop)
    while True:
        try:
            code = child.wait(timeout=0.1)
            break
        except subprocess.TimeoutExpired:
            if deadline and time.monotonic() > deadline[0]:
                _kill_everything()
    if deadline:
        _kill_everything()  # stopping: nothing of the trial may linger
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)  # die the way the program died, so the worker sees the signal
        return 128 - code  # a signal that does not kill by default
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
