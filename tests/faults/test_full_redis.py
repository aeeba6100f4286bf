"""A Redis out of memory (maxmemory, noeviction): said clearly, no trial blamed, nothing recorded lost.

Under `noeviction` a full Redis refuses every write and still serves reads. Trials
used to end `lost` ("worker lost") with the OOM error only in worker logs. Now the
workers keep their trials and results until Redis takes writes again, the
controller waits, and `run` and `status` say what is wrong.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from sweepctl.records import SweepState, TrialState
from sweepctl.store import Store
from tests.support.processes import Processes, wait_for
from tests.system.helpers import write_sweep

pytestmark = pytest.mark.system

SWEEP = """
method: random
metric: {name: loss}
program: trial_program.py
parameters:
  x: {min: -2.0, max: 2.0}
  sleep: {value: 1.5}
run_cap: 8
parallelism: 2
seed: 5
"""


def fill(store: Store) -> int:
    """Write 2 MB of junk, then set maxmemory 1 MB below what Redis uses: every write is refused
    until the junk is deleted (a Redis just at its limit lets small writes through now and then).
    The number of junk keys."""
    keys = 2000
    for n in range(keys):
        store.redis.set(f"junk:{n}", "x" * 1000)
    store.redis.config_set("maxmemory", int(store.redis.info("memory")["used_memory"]) - 2**20)
    with pytest.raises(redis.exceptions.ResponseError, match="maxmemory"):
        store.redis.set("probe", "x")
    return keys


@pytest.mark.timeout(240)
def test_a_full_redis_is_reported_by_run_and_status_and_the_sweep_finishes_once_memory_is_freed(
    tmp_path: Path, procs: Processes, store: Store
) -> None:
    # Given `sweepctl run` on a Redis with noeviction, two trials done
    log = tmp_path / "run.log"
    run = procs.start("run", str(write_sweep(tmp_path, SWEEP)), "--workers", "2", env={"SWEEPCTL_LEASE_SECONDS": "6"}, log=log)
    sweep_id = wait_for(lambda: store.sweep_ids(), 30, "the sweep")[0]  # type: ignore[index]
    wait_for(lambda: len(store.finished_numbers(sweep_id)) >= 2, 60, "two finished trials")
    before = {t.number: t for t in store.get_trials(sweep_id) if t.state.is_finished}

    # When Redis fills up and stays full for longer than two leases, with trials running
    junk = fill(store)
    time.sleep(15)

    # Then run and status say so, clearly
    wait_for(lambda: "error: Redis is out of memory" in log.read_text(), 30, "run to report the full Redis")
    status = procs.run("status")
    assert status.returncode == 0 and "error: Redis is out of memory" in status.stderr, status.stderr
    assert "maxmemory" in status.stderr and sweep_id in status.stdout

    # When memory is freed
    store.redis.delete(*[f"junk:{n}" for n in range(junk)])

    # Then the sweep finishes: every trial completed on its first attempt, each recorded once, none blamed
    assert run.wait(120) == 0, log.read_text()[-3000:]
    assert "Redis takes writes again" in log.read_text()
    trials = store.get_trials(sweep_id)
    assert store.get_sweep(sweep_id).state is SweepState.FINISHED
    assert [t.number for t in trials] == list(range(1, 9))
    assert all(t.state is TrialState.COMPLETED and t.attempt == 1 and not t.lost_attempts for t in trials), [
        (t.number, t.state, t.attempt, t.error) for t in trials
    ]
    assert sorted(store.finished_numbers(sweep_id)) == list(range(1, 9))
    # and what was recorded before Redis filled up is unchanged
    for number, trial in before.items():
        assert store.get_trial(sweep_id, number).objective == trial.objective
    assert "Traceback" not in log.read_text()
