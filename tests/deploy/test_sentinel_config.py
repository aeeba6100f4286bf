"""The shipped Sentinel setup (deploy/redis/replication.conf, sentinel.conf, users-ha.acl): what it says, and that a
master, a replica and three Sentinels started from it (tests/support/sentinel.py) work and let in only who they should."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.support.sentinel import DEPLOY_REDIS, MASTER_NAME, SentinelGroup


def directives(path: Path) -> list[list[str]]:
    """Each directive line of a Redis config file, split into words (comments and blank lines left out)."""
    return [line.split() for line in path.read_text().splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_data_nodes_replicate_as_an_acl_user_and_leave_min_replicas_to_write_off() -> None:
    lines = directives(DEPLOY_REDIS / "replication.conf")
    # Everything of redis.conf holds (loopback bind, ACL file, AOF, noeviction), plus replication's own login
    assert ["include", "/etc/redis/redis.conf"] in lines
    assert ["masteruser", "replica"] in lines and ["masterauth", "CHANGE-ME-replica-password"] in lines
    # And no write is refused for want of replicas: results wait for them instead (WAIT), nothing else stops
    assert not any(line[0].startswith("min-replicas") for line in lines)
    assert ["repl-diskless-sync-delay", "0"] in lines


def test_the_sentinels_bind_loopback_want_a_password_and_log_in_to_the_master_as_their_acl_user() -> None:
    lines = directives(DEPLOY_REDIS / "sentinel.conf")
    assert ["bind", "127.0.0.1"] in lines and ["protected-mode", "yes"] in lines and ["port", "26379"] in lines
    assert ["requirepass", "CHANGE-ME-sentinel-clients-password"] in lines
    assert ["sentinel", "sentinel-pass", "CHANGE-ME-sentinel-clients-password"] in lines
    assert ["sentinel", "monitor", MASTER_NAME, "127.0.0.1", "6379", "2"] in lines  # a quorum of two of three
    assert ["sentinel", "auth-user", MASTER_NAME, "sentinel"] in lines
    assert ["sentinel", "auth-pass", MASTER_NAME, "CHANGE-ME-sentinel-password"] in lines


def test_the_ha_acl_users_can_do_only_their_part() -> None:
    users = {line[1]: line[2:] for line in directives(DEPLOY_REDIS / "users-ha.acl")}
    assert set(users) == {"replica", "sentinel"}
    for name, rules in users.items():
        assert [r for r in rules if r.startswith(">")] == [f">CHANGE-ME-{name}-password"]
        assert "-@all" in rules and "resetkeys" in rules and not any(r.startswith("~") for r in rules), name
    assert {r for r in users["replica"] if r.startswith("+")} == {"+psync", "+replconf", "+ping"}


@pytest.fixture
def group(tmp_path: Path) -> Iterator[SentinelGroup]:
    with SentinelGroup(tmp_path / "redis") as started:
        yield started


@pytest.mark.system
def test_a_group_started_from_the_shipped_files_replicates_and_lets_in_only_its_users(group: SentinelGroup) -> None:
    # Given a master, a replica and three Sentinels started from the shipped files (the group waits until all see each other)
    master, replica = group.ports
    # Then the Sentinels name the master, and a write there reaches the replica
    assert group.master_port() == master
    writer = group.node(master, "controller")
    writer.set("sweepctl:probe", "1")
    assert writer.wait(1, 5000) == 1 and group.node(replica, "controller").get("sweepctl:probe") == "1"
    # And the replica's login may replicate but not read data
    with pytest.raises(redis.exceptions.NoPermissionError):
        group.node(master, "replica").get("sweepctl:probe")
    # And neither the data nodes nor the Sentinels answer a client without credentials
    for port in (master, group.sentinel_ports[0]):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as anonymous:
            anonymous.sendall(b"PING\r\n")
            assert anonymous.recv(200).startswith(b"-NOAUTH"), port
