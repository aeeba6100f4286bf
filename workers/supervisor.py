"""`sweepctl worker`: one worker process per slot, restarted if it dies, stopped together.

SIGTERM/SIGINT are passed on to every worker process (Celery's warm shutdown:
the running trial finishes first); a second signal escalates to SIGQUIT (cold).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from sweepctl.settings import REDIS_URL_ENV, RedisSettings
from sweepctl.worker_settings import WorkerSettings
from workers.slots import WorkerSlot

log = logging.getLogger(__name__)
RESTART_DELAY = 2.0


def spawn(slot: WorkerSlot, redis: RedisSettings, settings: WorkerSettings, log: Path | None = None) -> subprocess.Popen[bytes]:
    """Start the worker process of one slot; the Redis URL and the settings travel in its environment, not argv.

    Our own environment is left as it is: the child gets ours plus the slot's pin and the settings.
    With `log`, its output (Celery's banner included) goes to that file instead of ours.
    """
    env = {**os.environ, **slot.environment(), REDIS_URL_ENV: redis.url, **settings.to_environment()}
    if log is None:
        return subprocess.Popen([sys.executable, "-m", "workers.process"], env=env)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "workers.process"], env=env, stdout=out, stderr=subprocess.STDOUT)


def supervise(slots: Sequence[WorkerSlot], redis: RedisSettings, settings: WorkerSettings) -> int:
    """Run until signalled; returns 0 after every worker process has exited."""
    procs = {slot: spawn(slot, redis, settings) for slot in slots}
    signals_seen = 0

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal signals_seen
        signals_seen += 1
        sig = signal.SIGTERM if signals_seen == 1 else signal.SIGQUIT
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(sig)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    log.info("started %d worker process(es): %s", len(slots), ", ".join(s.name for s in slots))
    while True:
        if all(p.poll() is not None for p in procs.values()):
            return 0
        if not signals_seen:
            for slot, proc in procs.items():
                if proc.poll() is not None:
                    log.warning("worker %s exited with %s; restarting in %.0fs", slot.name, proc.returncode, RESTART_DELAY)
                    time.sleep(RESTART_DELAY)
                    procs[slot] = spawn(slot, redis, settings)
        time.sleep(0.2)
