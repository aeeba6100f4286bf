"""Redis high availability with Sentinel (issue 17): a master lost mid-sweep loses no acknowledged result.

Real processes throughout: a master, a replica and three Sentinels started from the
shipped deploy/redis files (tests/support/sentinel.py), a `sweepctl controller` and a
`sweepctl worker` of three processes given a redis+sentinel:// URL, and the master SIGKILLed mid-sweep.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sweepctl.errors import StoreUnavailable
from sweepctl.records import TrialState
from sweepctl.settings import RedisSettings
from sweepctl.store import Store, keys
from tests.support.processes import Processes, child_env, wait_for
from tests.support.sentinel import SentinelGroup, Tls, wait_for_failover
from tests.support.tls import make_certificates
from tests.system.helpers import read_run_log, wait_until_done, write_sweep

pytestmark = pytest.mark.system

TRIALS = 30
SWEEP = f"""
    method: random
    metric: {{name: loss, goal: minimize}}
    program: trial_program.py
    parameters:
      x: {{distribution: uniform, min: -3, max: 3}}
      sleep: {{value: 0.3}}
    run_cap: {TRIALS}
    parallelism: 4
    seed: 17
    """
# What a worker logs once the store has taken a result (workers/attempt_writes.py): the acknowledgement.
RECORDED = re.compile(r"result of trial (?P<sweep>[\w-]+)/(?P<number>\d+) attempt (?P<attempt>\d+) recorded: (?P<state>\w+)")


@pytest.fixture
def group(tmp_path: Path) -> Iterator[SentinelGroup]:
    with SentinelGroup(tmp_path / "redis", down_after_ms=1000, failover_timeout_ms=3000) as started:
        yield started


@pytest.fixture
def started(tmp_path: Path) -> Iterator[Processes]:
    manager = Processes(child_env(), cwd=tmp_path)
    try:
        yield manager
    finally:
        manager.close()


def test_master_killed_mid_sweep_loses_no_acknowledged_result(
    tmp_path: Path, group: SentinelGroup, started: Processes, record_property: Callable[[str, object], None]
) -> None:
    # Given a controller and three worker processes that reach Redis through the three Sentinels, each as its ACL user
    as_role = {role: {"SWEEPCTL_REDIS_URL": group.url(role)} for role in ("controller", "worker")}
    run_log = tmp_path / "runs.jsonl"
    sweep_id = started.run("submit", str(write_sweep(tmp_path, SWEEP)), check=True, env=as_role["controller"]).stdout.strip()
    started.start("controller", log=tmp_path / "controller.log", env=as_role["controller"])
    worker_env = {**as_role["worker"], "SWEEPCTL_LOG_LEVEL": "INFO", "RUN_LOG": str(run_log)}
    worker_logs = [tmp_path / "worker.log"]
    started.start("worker", "--gpus", "none", "--concurrency", "3", log=worker_logs[0], env=worker_env)
    store = Store.connect(RedisSettings.from_url(group.url("controller", replicas=0)))

    # When the master is SIGKILLed once a third of the trials have finished, while others run
    def mid_sweep() -> bool:
        running = [t for t in store.get_trials(sweep_id) if t.state is TrialState.RUNNING]
        return len(store.finished_numbers(sweep_id)) >= TRIALS // 3 and bool(running)

    wait_for(mid_sweep, 60, "a third of the trials to finish while others run", interval=0.05)
    old_master = group.ports[0]
    killed_at, killed_clock = time.time(), time.monotonic()
    group.kill("master")
    # ...the Sentinels promote the replica, and the old master comes back as its replica (as a supervisor restarts it)
    promoted_after = wait_for_failover(group, old_master, timeout=30) - killed_clock
    new_master = group.master_port()
    assert new_master == group.ports[1]
    group.restart_as_replica("master", old_master, replicaof=new_master)

    # Then the sweep finishes (the test's own reads retry too while the Sentinels settle, as every role's do)
    def done() -> bool:
        try:
            return store.sweep_state(sweep_id).is_terminal and not store.active_numbers(sweep_id)
        except StoreUnavailable:
            return False

    wait_for(done, 90, f"sweep {sweep_id} to finish", interval=0.2)
    trials = store.get_trials(sweep_id)
    assert len(trials) == TRIALS
    assert all(t.state is TrialState.COMPLETED and t.objective is not None for t in trials), [(t.number, t.state, t.error) for t in trials]

    # And each trial has one result: it finished once (a second finish would be listed twice)
    by_number = {t.number: t for t in trials}
    assert sorted(store.finished_numbers(sweep_id)) == sorted(by_number)
    # And every trial's program ran once; a run repeated because its lease or claim was lost in the failover
    # is reported, and the result is the last attempt's
    starts = read_run_log(run_log)
    runs = Counter(r["number"] for r in starts)
    assert set(runs) == set(by_number)
    reruns = {n: sorted(r["attempt"] for r in starts if r["number"] == n) for n, count in runs.items() if count > 1}
    for number, attempts in reruns.items():
        assert attempts[-1] == by_number[number].attempt, (number, attempts)

    # And every result a worker was told was recorded is in the store, as that attempt's
    acknowledged = [m for log in worker_logs for m in RECORDED.finditer(log.read_text())]
    assert len(acknowledged) >= TRIALS
    lost = [
        (m["number"], m["attempt"])
        for m in acknowledged
        if m["sweep"] == sweep_id and not (by_number[int(m["number"])].attempt == int(m["attempt"]) and m["state"] == "completed")
    ]
    assert lost == []
    assert {int(m["number"]) for m in acknowledged} == set(by_number)

    # And the first trial started after the kill tells how long the failover held the sweep up
    first_new = min(t.started_at for t in trials if t.started_at is not None and t.started_at > killed_at)
    figures = {
        "promoted_after_s": round(promoted_after, 2),
        "first_new_trial_after_s": round(first_new - killed_at, 2),
        "acknowledged": len(acknowledged),
        "lost": len(lost),
        "reruns": reruns,
    }
    for name, value in figures.items():
        record_property(name, value)
    print(f"\nsentinel failover: {figures}")


def test_acl_users_and_tls_reach_the_master_through_the_sentinels(tmp_path: Path, started: Processes) -> None:
    # Given a Sentinel group that speaks only TLS (data nodes, replication and Sentinels), with ACL users
    certs = make_certificates(tmp_path / "tls")
    tls = Tls(ca=certs["ca"], cert=certs["cert"], key=certs["key"])
    with SentinelGroup(tmp_path / "redis", tls=tls) as group:
        url = group.url("controller", scheme="rediss+sentinel")

        # When a small sweep is run over rediss+sentinel:// by a controller and a worker
        env = {"SWEEPCTL_REDIS_URL": url}
        small = SWEEP.replace(f"run_cap: {TRIALS}", "run_cap: 3").replace("sleep: {value: 0.3}", "sleep: {value: 0.0}")
        sweep_id = started.run("submit", str(write_sweep(tmp_path, small)), check=True, env=env).stdout.strip()
        started.start("controller", log=tmp_path / "controller.log", env=env)
        worker_url = group.url("worker", scheme="rediss+sentinel")
        started.start("worker", "--gpus", "none", log=tmp_path / "worker.log", env={"SWEEPCTL_REDIS_URL": worker_url})
        store = Store.connect(RedisSettings.from_url(url))
        wait_until_done(store, sweep_id, timeout=60)

        # Then every trial completed, and its results are on the replica too (WAIT, replicas=1 by default)
        trials = store.get_trials(sweep_id)
        assert len(trials) == 3 and all(t.state is TrialState.COMPLETED for t in trials), [(t.state, t.error) for t in trials]
        replica = group.node(group.ports[1])
        assert replica.zcard(keys.objective_key(sweep_id)) == 3

        # And a wrong Sentinel password is refused with a clear error, neither password shown
        wrong = started.run("status", timeout=60, env={"SWEEPCTL_REDIS_URL": url.replace(group.passwords["sentinel-clients"], "nope")})
        assert wrong.returncode == 2, wrong
        assert "Traceback" not in wrong.stderr and group.passwords["controller"] not in wrong.stderr + wrong.stdout
        assert "nope" not in wrong.stderr and "sentinel_password=***" in wrong.stderr
