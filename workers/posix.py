"""POSIX process primitives the launcher and the executor share: signal without races, die by a signal, take over stdio.

Below both (it imports neither), so that the executor can live in a module of its own.
"""

from __future__ import annotations

import os
import signal
import sys


def kill(pid: int, sig: signal.Signals) -> None:
    """Send `sig` to `pid`; a process already gone is not an error."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def killpg(pgid: int, sig: signal.Signals) -> None:
    """Send `sig` to process group `pgid`; a group already gone is not an error."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def die_by(signum: int) -> None:
    """Die by the signal, as a Python killed by Ctrl-C does (output flushed first)."""
    sys.stdout.flush()
    sys.stderr.flush()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def redirect(out: int, err: int) -> None:
    """Make the trial's pipes this process's stdout and stderr (and close the descriptors given)."""
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.close(out)
    os.close(err)
