"""Results wait for a replica (Redis WAIT) before a worker is told they are recorded, and a retried finish is idempotent.

A real master (the test's `redis_server`) and a real replica of it; the replica is
frozen (SIGSTOP) to make WAIT time out, as a replica cut off or a master about to die would.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from sweepctl.embedded import EmbeddedRedis, find_redis_server, free_port
from sweepctl.errors import StoreUnavailable
from sweepctl.records import TrialState
from sweepctl.settings import MAX_REPLICA_TIMEOUT_MS, RedisSettings
from sweepctl.store import Outcome, Store, keys
from tests.support.processes import wait_for
from tests.system.test_store import SID, a_sweep, running

pytestmark = pytest.mark.system


@pytest.fixture
def replica(tmp_path: Path, redis_server: EmbeddedRedis) -> Iterator[tuple[subprocess.Popen[bytes], Store]]:
    """A replica of the test's Redis, in sync, and a plain store of it (to read what reached it)."""
    # The master streams a full sync at once, not after the 5 s it may wait for other replicas to share it.
    redis_server_client = Store.connect(RedisSettings.from_url(redis_server.url)).redis
    redis_server_client.config_set("repl-diskless-sync-delay", 0)
    port = free_port()
    folder = tmp_path / "replica"
    folder.mkdir()
    argv = [find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", "",
            "--replicaof", "127.0.0.1", str(redis_server.port), "--masterauth", "test-secret", "--requirepass", "test-secret"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        copy = Store(RedisSettings.from_url(f"redis://:test-secret@127.0.0.1:{port}/0").client(socket_timeout=2))

        def in_sync() -> bool:
            try:
                return bool(copy.redis.info("replication").get("master_link_status") == "up")
            except redis.RedisError:
                return False  # not listening yet

        wait_for(in_sync, 20, "the replica to sync")
        yield proc, copy
    finally:
        proc.kill()
        proc.wait(10)


def waiting_store(server: EmbeddedRedis, timeout_ms: int = 200) -> Store:
    return Store.connect(RedisSettings.from_url(f"{server.url}?replicas=1&replica_timeout_ms={timeout_ms}"))


def test_a_result_is_acknowledged_once_the_replica_has_it(
    redis_server: EmbeddedRedis, replica: tuple[subprocess.Popen[bytes], Store]
) -> None:
    # Given a store whose results wait for one replica (as long as a URL may ask: the machine may be busy), and a running trial
    store = waiting_store(redis_server, timeout_ms=MAX_REPLICA_TIMEOUT_MS)
    a_sweep(store)
    running(store, 0)
    # When it finishes / Then it is acknowledged, and the replica already holds it (WAIT returned after it did)
    assert store.finish_trial(SID, 0, 1, TrialState.COMPLETED, 0.5, ended_at=3.0) is Outcome.OK
    _, copy = replica
    assert copy.get_trial(SID, 0).state is TrialState.COMPLETED and copy.completed_objectives(SID) == [0.5]


def test_a_result_no_replica_confirmed_is_not_acknowledged_and_its_retry_is_idempotent(
    redis_server: EmbeddedRedis, replica: tuple[subprocess.Popen[bytes], Store]
) -> None:
    # Given a store whose results wait for one replica, a running trial, and the replica frozen
    store = waiting_store(redis_server)
    a_sweep(store)
    running(store, 0)
    proc, copy = replica
    # (the replica has confirmed everything so far: a WAIT that covered nothing newer would count it at once)
    assert store.redis.wait(1, 10_000) == 1
    proc.send_signal(signal.SIGSTOP)
    try:
        # When the trial finishes / Then the worker is not told it is recorded (the master has it, no replica confirmed it)
        with pytest.raises(StoreUnavailable, match="reached 0 of the 1 replicas asked for within 200 ms"):
            store.finish_trial(SID, 0, 1, TrialState.COMPLETED, 0.5, ended_at=3.0)
        assert store.get_trial(SID, 0).state is TrialState.COMPLETED
        # And a retry from another connection is not told so either: its WAIT covers the first write, not just its own
        # (WAIT promises only the waiting connection's writes; the retry re-writes the state so that it covers the first)
        with pytest.raises(StoreUnavailable):
            waiting_store(redis_server).finish_trial(SID, 0, 1, TrialState.COMPLETED, 0.5, ended_at=3.0)
    finally:
        proc.send_signal(signal.SIGCONT)

    # When the replica is back and the same result is sent again, as a worker does until it is acknowledged
    retrying = waiting_store(redis_server, timeout_ms=MAX_REPLICA_TIMEOUT_MS)

    def acknowledged() -> Outcome | None:
        try:
            return retrying.finish_trial(SID, 0, 1, TrialState.COMPLETED, 0.5, ended_at=3.0)
        except StoreUnavailable:
            return None  # the replica is still catching up

    again = wait_for(acknowledged, 60, "the result to be acknowledged once the replica is back", interval=0.1)
    # Then it is acknowledged, recorded once (counted once, in the finished list once), and no write was counted refused
    assert again is Outcome.OK
    assert copy.get_trial(SID, 0).state is TrialState.COMPLETED
    assert store.finished_numbers(SID) == [0] and store.counts(SID)[TrialState.COMPLETED] == 1
    assert store.rejections(SID) == {}
    # And a different result for the same attempt is still refused
    assert store.finish_trial(SID, 0, 1, TrialState.FAILED, None, ended_at=3.0) is Outcome.ALREADY_FINISHED
    assert store.redis.zrange(keys.objective_key(SID), 0, -1, withscores=True) == [("0", 0.5)]


def test_without_replicas_asked_for_a_result_needs_no_replica(redis_server: EmbeddedRedis) -> None:
    # Given a plain URL (replicas=0, the default) and a Redis with no replica at all
    store = Store.connect(RedisSettings.from_url(redis_server.url))
    a_sweep(store)
    running(store, 0)
    # When a trial finishes / Then it is acknowledged at once
    assert store.finish_trial(SID, 0, 1, TrialState.COMPLETED, 0.5) is Outcome.OK
