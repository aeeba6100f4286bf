"""Helpers for fault injection: which process runs a trial, short leases, process scans."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from sweepctl.records import TrialState
from sweepctl.store import Store
from tests.support.processes import pids_in_group

# Short leases and a short reaper handover so faults are noticed in seconds, not minutes.
FAST = {"SWEEPCTL_LEASE_SECONDS": "2", "SWEEPCTL_KILL_GRACE": "1", "SWEEPCTL_OWNER_LEASE_SECONDS": "2"}


def worker_pid(worker_id: str) -> int:
    """The Celery worker process of a trial's `worker` field ("host/slot/pid")."""
    return int(worker_id.rsplit("/", 1)[1])


def running_trials(store: Store, sweep_id: str) -> list:
    return [t for t in store.get_trials(sweep_id, store.active_numbers(sweep_id)) if t.state is TrialState.RUNNING and t.worker]


def send(pid: int, sig: signal.Signals) -> bool:
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def processes_running(fragment: str) -> list[int]:
    """Live processes whose command line contains `fragment`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if fragment in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def no_orphans(groups: list[int], program_dir: Path) -> bool:
    """No process left in any trial's group, and no trial program of this test alive anywhere."""
    return all(not pids_in_group(g) for g in groups) and not processes_running(str(program_dir / "trial_program.py"))
