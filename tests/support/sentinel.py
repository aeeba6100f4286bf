"""A Redis Sentinel group of real processes, started from the shipped deploy/redis files on free loopback ports.

One master and one replica (deploy/redis/replication.conf over redis.conf, with the ACL
users of users.acl and users-ha.acl, every CHANGE-ME password replaced) and three
Sentinels (deploy/redis/sentinel.conf), all from the binary `find_redis_server` finds,
in their own process groups; `close()` kills them all.
"""

from __future__ import annotations

import functools
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis

from sweepctl.embedded import find_redis_server, free_port
from tests.support.processes import REPO, kill_group, wait_for

DEPLOY_REDIS = REPO / "deploy" / "redis"
MASTER_NAME = "mymaster"
ROLES = ("controller", "worker", "exporter", "replica", "sentinel", "sentinel-clients", "admin")


@dataclass(frozen=True)
class Tls:
    """PEM files for TLS on every port of the group (data nodes, replication, Sentinels)."""

    ca: Path
    cert: Path
    key: Path


@dataclass
class SentinelGroup:
    """Master, replica and three Sentinels; `ports[0]` is the first master, `ports[1]` its replica."""

    folder: Path
    down_after_ms: int = 1000
    failover_timeout_ms: int = 3000
    tls: Tls | None = None
    passwords: dict[str, str] = field(default_factory=lambda: {r: f"test-{r}-{secrets.token_hex(4)}" for r in ROLES})
    ports: list[int] = field(default_factory=list)
    sentinel_ports: list[int] = field(default_factory=list)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, timeout: float = 30.0) -> SentinelGroup:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._write_configs()
        self.ports = [free_port(), free_port()]
        self.sentinel_ports = [free_port() for _ in range(3)]
        self._start_data_node("master", self.ports[0])
        self._start_data_node("replica", self.ports[1], replicaof=self.ports[0])
        for i, port in enumerate(self.sentinel_ports):
            self._start_sentinel(i, port)
        wait_for(self._settled, timeout, "the Sentinels to see the master, its replica and each other", interval=0.1)
        return self

    def url(self, role: str = "controller", scheme: str = "redis+sentinel", **query: object) -> str:
        """The role's URL through the three Sentinels (their password in the query)."""
        options = {"sentinel_password": self.passwords["sentinel-clients"], **query}
        if self.tls is not None:
            options.setdefault("ssl_ca_certs", str(self.tls.ca))
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        text = "&".join(f"{k}={quote(str(v), safe='/')}" for k, v in options.items())
        return f"{scheme}://{role}:{self.passwords[role]}@{hosts}/{MASTER_NAME}/0?{text}"

    def node(self, port: int, role: str = "admin", **options: Any) -> redis.Redis:
        """A plain client of one data node (not through the Sentinels)."""
        return self._client(port, username=role, password=self.passwords[role], **options)

    def sentinel(self, index: int = 0) -> redis.Redis:
        return self._client(self.sentinel_ports[index], password=self.passwords["sentinel-clients"])

    def _client(self, port: int, **options: Any) -> redis.Redis:
        tls: dict[str, Any] = {} if self.tls is None else {"ssl": True, "ssl_ca_certs": str(self.tls.ca)}
        return redis.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=5, **tls, **options)

    def master_port(self) -> int | None:
        """The master's port as the first Sentinel answers now (None while it knows none)."""
        try:
            found = self.sentinel().execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME)
        except redis.RedisError:
            return None
        return None if not found else int(found[1])

    def kill(self, name: str) -> None:
        """SIGKILL one process ("master", "replica", "sentinel0", ...)."""
        proc = self.processes[name]
        proc.kill()
        proc.wait(10)

    def restart_as_replica(self, name: str, port: int, replicaof: int) -> None:
        """Start a killed data node again on its port as a replica of the master on `replicaof`, as a supervisor
        would that asks the Sentinels first (else they turn it into one themselves, after about 10 s)."""
        self._start_data_node(name, port, replicaof=replicaof)

    def close(self) -> None:
        for proc in self.processes.values():
            kill_group(proc.pid, signal.SIGKILL)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass

    def __enter__(self) -> SentinelGroup:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- starting ----------------------------------------------------------------------

    def _write_configs(self) -> None:
        acl = _with_passwords((DEPLOY_REDIS / "users.acl").read_text() + (DEPLOY_REDIS / "users-ha.acl").read_text(), self.passwords)
        acl += f"user admin on >{self.passwords['admin']} ~* &* +@all\n"  # the test's own, to look at Redis itself
        (self.folder / "users.acl").write_text(acl)
        (self.folder / "redis.conf").write_text((DEPLOY_REDIS / "redis.conf").read_text())
        replication = (DEPLOY_REDIS / "replication.conf").read_text().replace("/etc/redis/redis.conf", str(self.folder / "redis.conf"))
        self._replication = _with_passwords(replication, self.passwords)

    def _start_data_node(self, name: str, port: int, replicaof: int | None = None) -> None:
        folder = self.folder / name
        folder.mkdir(exist_ok=True)
        conf = folder / "replication.conf"  # its own copy: Sentinel's CONFIG REWRITE writes to it
        if not conf.exists():
            conf.write_text(self._replication)
        argv = [find_redis_server(), str(conf), "--dir", str(folder), "--aclfile", str(self.folder / "users.acl")]
        argv += self._server_tls(port) if self.tls is not None else ["--port", str(port)]
        if replicaof is not None:
            argv += ["--replicaof", "127.0.0.1", str(replicaof)]
        self._spawn(name, argv, folder / "redis.log")
        wait_for(lambda: self._answers(name, lambda: self.node(port).ping()), 15, f"redis {name} to answer on {port}")

    def _start_sentinel(self, index: int, port: int) -> None:
        folder = self.folder / f"sentinel{index}"
        folder.mkdir(exist_ok=True)
        text = _with_passwords((DEPLOY_REDIS / "sentinel.conf").read_text(), self.passwords)
        # The shipped monitor line names the first master's address; later lines win in a Sentinel file too.
        text = re.sub(r"^sentinel monitor .*$", f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.ports[0]} 2", text, flags=re.M)
        text += f"sentinel down-after-milliseconds {MASTER_NAME} {self.down_after_ms}\n"
        text += f"sentinel failover-timeout {MASTER_NAME} {self.failover_timeout_ms}\n"
        conf = folder / "sentinel.conf"
        conf.write_text(text)
        argv = [find_redis_server(), str(conf), "--sentinel", "--dir", str(folder)]
        argv += self._server_tls(port) if self.tls is not None else ["--port", str(port)]
        self._spawn(f"sentinel{index}", argv, folder / "sentinel.log")

    def _spawn(self, name: str, argv: list[str], log: Path) -> None:
        with log.open("a") as out:
            self.processes[name] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def _answers(self, name: str, ping: Callable[[], object]) -> bool:
        proc = self.processes[name]
        if proc.poll() is not None:
            logs = "".join(p.read_text(errors="replace")[-1500:] for p in self.folder.glob("*/*.log"))
            raise AssertionError(f"{name} exited with {proc.returncode}:\n{logs}")
        try:
            return bool(ping())
        except redis.RedisError:
            return False

    def _settled(self) -> bool:
        for i in range(3):
            if not self._answers(f"sentinel{i}", functools.partial(self._sentinel_sees_all, i)):
                return False
        return True

    def replica_online(self, master_port: int) -> bool:
        """Whether the master on `master_port` has a replica in sync (one that can confirm a WAIT)."""
        try:
            info = self.node(master_port).info("replication")
        except redis.RedisError:
            return False
        return any(isinstance(v, dict) and v.get("state") == "online" for k, v in info.items() if k.startswith("slave"))

    def _sentinel_sees_all(self, index: int) -> bool:
        client = self.sentinel(index)
        replicas = client.execute_command("SENTINEL", "REPLICAS", MASTER_NAME)
        peers = client.execute_command("SENTINEL", "SENTINELS", MASTER_NAME)
        return len(replicas) >= 1 and len(peers) >= 2 and self.replica_online(self.ports[0])

    def _server_tls(self, port: int) -> list[str]:
        assert self.tls is not None
        return [
            "--port", "0", "--tls-port", str(port), "--tls-cert-file", str(self.tls.cert), "--tls-key-file", str(self.tls.key),
            "--tls-ca-cert-file", str(self.tls.ca), "--tls-auth-clients", "no", "--tls-replication", "yes",
        ]


def wait_for_failover(group: SentinelGroup, old_port: int, timeout: float) -> float:
    """Wait until the Sentinels name a new master; the monotonic time it was first seen."""
    wait_for(lambda: group.master_port() not in (None, old_port), timeout, "the Sentinels to promote the replica", interval=0.05)
    return time.monotonic()


def _with_passwords(text: str, passwords: dict[str, str]) -> str:
    """`text` with every CHANGE-ME-<role>-password replaced by the role's password (and none left)."""
    replaced = re.sub(r"CHANGE-ME-([\w-]+?)-password", lambda m: passwords[m.group(1)], text)
    assert "CHANGE-ME" not in replaced
    return replaced
