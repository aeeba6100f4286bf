"""Helpers for fault injection: which process runs a trial, short leases, process scans."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from sweepctl.records import Trial, TrialState
from sweepctl.store import Store
from tests.support.processes import pids_in_group

# Short leases and a short reaper handover so faults are noticed in seconds, not minutes.
FAST = {"SWEEPCTL_LEASE_SECONDS": "2", "SWEEPCTL_KILL_GRACE": "1", "SWEEPCTL_OWNER_LEASE_SECONDS": "2"}

# appendfsync everysec may hold writes back from the AOF for up to 2 s while an fsync is slow
# (redis aof.c, flushAppendOnlyFile), so a Redis SIGKILLed sooner than this after a write can
# come back without it. A test that needs a write to survive its crash waits this long first.
AOF_HOLDBACK_SECONDS = 3.0


def worker_pid(worker_id: str) -> int:
    """The Celery worker process of a trial's `worker` field ("host/slot/pid")."""
    return int(worker_id.rsplit("/", 1)[1])


def running_trials(store: Store, sweep_id: str) -> list[Trial]:
    return [t for t in store.get_trials(sweep_id, store.active_numbers(sweep_id)) if t.state is TrialState.RUNNING and t.worker]


def kill_mid_trial(store: Store, sweep_id: str, trial: Trial) -> bool:
    """SIGKILL the worker process running `trial`, if it still is once frozen; else leave it be.

    A snapshot of running trials is already old when the signal goes out: the trial may have
    ended in between, and its worker moved on or gone idle, so the kill would not hit it (the
    likely cause of one soak failure in CI). A trial whose worker was killed earlier still reads
    as running until its lease runs out; its worker is gone, so there is nothing to freeze.
    Freezing the worker first (SIGSTOP) stops it from recording an end or taking more work;
    the pause lets a write it sent just before the freeze reach Redis before we look.
    """
    pid = worker_pid(trial.worker)
    if not send(pid, signal.SIGSTOP):
        return False
    hit = False
    try:
        time.sleep(0.05)
        now = store.get_trial(sweep_id, trial.number)
        hit = now.state is TrialState.RUNNING and now.worker == trial.worker and now.attempt == trial.attempt
    finally:  # never leave a worker frozen, even if the read fails
        send(pid, signal.SIGKILL if hit else signal.SIGCONT)
    return hit


def send(pid: int, sig: signal.Signals) -> bool:
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def processes_running(fragment: str, under: Path | None = None) -> list[int]:
    """Live processes whose command line contains `fragment`, and given `under`, that run in that folder or below.

    Other suites (other checkouts, parallel test workers) run the same programs on the same machine at
    the same time: a test that acts on what it finds names its own folder, or it may find, wait on, or kill theirs.
    """
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if fragment not in cmdline or state == "Z" or (under is not None and not _runs_in(entry, under)):
                continue
        except OSError:
            continue
        found.append(int(entry.name))
    return found


def _runs_in(process: Path, folder: Path) -> bool:
    """Whether the process's working directory is `folder` or below it (raises OSError once the process is gone)."""
    cwd = Path(os.readlink(process / "cwd"))
    return cwd == folder.resolve() or folder.resolve() in cwd.parents


def no_orphans(groups: list[int], program_dir: Path) -> bool:
    """No process left in any trial's group, and no trial program of this test alive anywhere."""
    return all(not pids_in_group(g) for g in groups) and not processes_running(str(program_dir / "trial_program.py"))
