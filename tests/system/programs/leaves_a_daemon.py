"""A trial that leaves a daemon behind: a double fork into a session of its own, the daemon with a child of its own.

Runs as a program (`python leaves_a_daemon.py`) or as `function: leaves_a_daemon:trial`. Its
parameters say where to write "DAEMON_PID CHILD_PID" (`marker`) and how the trial then ends
(`how`): "exit" (status 0), "fail" (status 3) or "hang" (prints "ready" and sleeps until stopped).
The daemon keeps the trial's stdout and stderr open, as careless daemons do.
"""

from __future__ import annotations

import os
import time

from sweepctl.report import params


def trial(p: dict[str, str]) -> None:
    marker = p["marker"]
    middle = os.fork()
    if middle == 0:
        os.setsid()  # out of the trial's process group: a killpg of the trial does not reach it
        if os.fork() == 0:
            # Its own child: killing the daemon hands this one to the launcher, to be killed in turn.
            child = os.fork()
            if child == 0:
                time.sleep(60)
                os._exit(0)
            with open(marker + ".tmp", "w") as out:
                out.write(f"{os.getpid()} {child}")
            os.rename(marker + ".tmp", marker)
            time.sleep(60)
        os._exit(0)
    os.waitpid(middle, 0)  # as a daemonizing parent does: the daemon is orphaned now
    while not os.path.exists(marker):
        time.sleep(0.01)
    if p["how"] == "fail":
        raise SystemExit(3)
    if p["how"] == "hang":
        print("ready", flush=True)
        time.sleep(60)


if __name__ == "__main__":
    trial(params())
