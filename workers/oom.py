"""Whether the kernel's out-of-memory killer struck while a trial ran: its kill counter in /proc/vmstat.

A trial killed by SIGKILL that sweepctl did not send was most likely killed by
the OOM killer, which is the machine's doing (memory shared with other trials,
a host under pressure), not proof that the parameters are bad. Linux counts
every OOM kill, of any cgroup, in /proc/vmstat's `oom_kill` (since 4.13): read
before and after a trial, a change says an OOM kill happened meanwhile on this
machine. The count is host-wide (also inside containers), so it errs towards
explaining a kill, never towards blaming a trial for one.
"""

from __future__ import annotations

from pathlib import Path

_VMSTAT = Path("/proc/vmstat")


def oom_kills() -> int | None:
    """The kernel's count of OOM kills since boot, or None where it cannot be read (not Linux, old kernel)."""
    try:
        text = _VMSTAT.read_bytes()
        start = text.index(b"\noom_kill ") + len(b"\noom_kill ")
        return int(text[start : text.index(b"\n", start)])
    except (OSError, ValueError):
        return None


def oom_kill_between(before: int | None, after: int | None) -> bool | None:
    """Whether an OOM kill happened between two readings; None when either could not be read."""
    if before is None or after is None:
        return None
    return after > before
