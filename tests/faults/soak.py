"""The soak scenario: a 100-trial sweep on three workers, ten worker SIGKILLs and one Redis restart.

Shared by the fault test (tests/faults/test_worker_faults.py, which asserts that nothing was lost
or recorded twice) and by benchmarks/soak.py (which reports how long recovery took).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sweepctl.embedded import EmbeddedRedis
from sweepctl.errors import StoreUnavailable
from sweepctl.store import Store
from tests.faults.support import (
    AOF_HOLDBACK_SECONDS,
    FAST,
    kill_mid_trial,
    running_trials,
)
from tests.support.processes import Processes, wait_for
from tests.system.helpers import submit, write_sweep

T = TypeVar("T")
SOAK_TRIALS = 100
SOAK_KILLS = 10
SOAK_WORKERS = 3


def sweep_text(run_cap: int, sleep: float, parallelism: int, max_retries: int = 3) -> str:
    return f"""
    method: random
    metric: {{name: loss}}
    program: trial_program.py
    parameters:
      x: {{min: -2.0, max: 2.0}}
      sleep: {{value: {sleep}}}
    run_cap: {run_cap}
    parallelism: {parallelism}
    max_retries: {max_retries}
    seed: 13
    """


def outage_tolerant(read: Callable[[], T]) -> T | None:
    """`read()`, or None while Redis is restarting."""
    try:
        return read()
    except StoreUnavailable:
        return None


class RestartableRedis:
    """A test's redis-server that the scenario may restart on the same port and data; see `restartable`."""

    def __init__(self, server: EmbeddedRedis) -> None:
        self.current = server

    def restart(self) -> None:
        self.current.kill()
        self.current = EmbeddedRedis(data_dir=self.current.data_dir, password=self.current.password, port=self.current.port).start()


@contextmanager
def restartable(server: EmbeddedRedis) -> Iterator[RestartableRedis]:
    """Kills a restarted server on the way out, passed or failed (the fixture kills only the one it started)."""
    holder = RestartableRedis(server)
    try:
        yield holder
    finally:
        if holder.current is not server:
            holder.current.kill()


@dataclass(frozen=True)
class SoakRun:
    """What the scenario did: the sweep, the kills (time, worker id, trial number), draws that missed, its length."""

    sweep_id: str
    run_log: Path
    kills: list[tuple[float, str, int]]
    missed: int
    elapsed: float


def run_soak(tmp_path: Path, procs: Processes, store: Store, redis: RestartableRedis) -> SoakRun:
    """Run the sweep to its end while killing the worker process of a random running trial SOAK_KILLS times.

    Victims are drawn among running trials, and a re-queued trial restarts at once on a fresh slot,
    so one trial can take several kills in a row: max_retries covers every kill, so that a LOST
    trial could only come from a fault of sweepctl, never from the draw. Halfway, Redis restarts.
    """
    run_log = tmp_path / "runs.jsonl"
    env = {**FAST, "RUN_LOG": str(run_log)}
    sweep_id = submit(procs, write_sweep(tmp_path, sweep_text(SOAK_TRIALS, sleep=0.6, parallelism=SOAK_WORKERS, max_retries=SOAK_KILLS)))
    procs.start("controller", env=env, log=tmp_path / "controller.log")
    procs.start("worker", "--gpus", "none", "--concurrency", str(SOAK_WORKERS), env=env, log=tmp_path / "workers.log")

    rng = random.Random(7)
    kills: list[tuple[float, str, int]] = []
    missed = 0
    started = time.monotonic()
    while len(kills) < SOAK_KILLS:
        running = wait_for(lambda: outage_tolerant(lambda: running_trials(store, sweep_id)), 60, "a running trial")
        victim = rng.choice(running)  # type: ignore[arg-type]
        if not kill_mid_trial(store, sweep_id, victim):
            missed += 1  # its worker was killed already (not yet reaped), or it ended: draw again
            continue
        kills.append((time.time(), victim.worker, victim.number))
        if len(kills) == SOAK_KILLS // 2:
            # A crash right after this kill could take the victim's claim with it (AOF hold-back),
            # and then no lost attempt would be there to check.
            time.sleep(AOF_HOLDBACK_SECONDS)
            redis.restart()
        time.sleep(1.5)
    wait_for(
        lambda: outage_tolerant(lambda: store.sweep_state(sweep_id).is_terminal and not store.active_numbers(sweep_id)),
        240,
        "the sweep to finish",
    )
    return SoakRun(sweep_id, run_log, kills, missed, time.monotonic() - started)
