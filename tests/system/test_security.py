"""Security (issue 3): role ACL users, TLS end to end, pickle refused, no secret printed.

Every test runs a real redis-server and real `sweepctl controller` / `sweepctl worker`
processes; the shipped deploy/redis/redis.conf and users.acl are the ones started.
"""

from __future__ import annotations

import json
import pickle
import re
import secrets
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis

from sweepctl.celery_app import RUN_TRIAL_TASK, make_celery
from sweepctl.embedded import EmbeddedRedis, find_redis_server, free_port, server_config
from sweepctl.errors import StoreError
from sweepctl.records import SweepState, TrialState
from sweepctl.settings import SOCKET_TIMEOUT_SECONDS, RedisSettings
from sweepctl.store import Store
from tests.support.processes import (
    REPO,
    Processes,
    child_env,
    pids_in_group,
    process_alive,
    wait_for,
)
from tests.support.tls import make_certificates
from tests.system.helpers import read_run_log, submit, wait_until_done, write_sweep
from tests.system.socket_redis import start_socket_redis

# What an attacker with write access to Redis would send; the worker must refuse it.
HOSTILE_SERIALIZER = "pickle"

pytestmark = pytest.mark.system

DEPLOY_REDIS = REPO / "deploy" / "redis"
SMALL_SWEEP = """
    method: random
    metric: {name: loss, goal: minimize}
    program: trial_program.py
    parameters:
      x: {distribution: uniform, min: -3, max: 3}
    run_cap: 3
    parallelism: 2
    seed: 5
    """
# Liveness beats rewrite these every few seconds by design; everything else under sweepctl:* must hold still.
HEARTBEAT_KEYS = re.compile(r"^sweepctl:(workers|controllers|worker:.*)$")


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Processes]:
    """The redis-servers a test starts; killed after `started` (so clients never see them die)."""
    manager = Processes(child_env(), cwd=tmp_path)
    try:
        yield manager
    finally:
        manager.close()


@pytest.fixture
def started(tmp_path: Path, servers: Processes) -> Iterator[Processes]:
    """The sweepctl processes a test starts, each given its Redis URL by the test; killed afterwards."""
    manager = Processes(child_env(), cwd=tmp_path)
    try:
        yield manager
    finally:
        manager.close()


# ---- 1. ACL users per role ---------------------------------------------------------------------


def test_role_acl_users_run_a_sweep(tmp_path: Path, servers: Processes, started: Processes) -> None:
    # Given the shipped redis.conf and users.acl, with every CHANGE-ME password replaced
    # (plus an admin user of the test's own, only to show what the ACL refused if the sweep stalls)
    passwords = {role: f"test-{role}-{secrets.token_hex(4)}" for role in ("controller", "worker", "exporter", "admin")}
    acl = tmp_path / "users.acl"
    shipped = _with_passwords((DEPLOY_REDIS / "users.acl").read_text(), passwords)
    acl.write_text(shipped + f"user admin on >{passwords['admin']} ~* &* +@all\n")
    port = free_port()
    _start_redis(
        servers,
        [find_redis_server(), str(DEPLOY_REDIS / "redis.conf"), "--port", str(port), "--dir", str(tmp_path), "--aclfile", str(acl)],
        tmp_path / "redis.log",
        ready=lambda: _client(port, "exporter", passwords["exporter"]).ping(),
    )
    url = {role: f"redis://{role}:{pw}@127.0.0.1:{port}/0" for role, pw in passwords.items()}
    as_role = {role: {"SWEEPCTL_REDIS_URL": u} for role, u in url.items()}

    # When a sweep is submitted and run as `controller`, with the worker logged in as `worker`
    sweep_file = write_sweep(tmp_path, SMALL_SWEEP)
    sweep_id = started.run("submit", str(sweep_file), check=True, env=as_role["controller"]).stdout.strip()
    started.start("controller", log=tmp_path / "controller.log", env=as_role["controller"])
    started.start("worker", "--gpus", "none", log=tmp_path / "worker.log", env={**as_role["worker"], "SWEEPCTL_LOG_LEVEL": "INFO"})
    store = Store.connect(RedisSettings.from_url(url["controller"]))
    try:
        wait_until_done(store, sweep_id, timeout=30)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; ACL refusals: {_client(port, 'admin', passwords['admin']).acl_log()}") from None

    # Then it completes every trial
    assert store.get_sweep(sweep_id).state is SweepState.FINISHED
    trials = store.get_trials(sweep_id)
    assert len(trials) == 3 and all(t.state is TrialState.COMPLETED for t in trials), [(t.state, t.error) for t in trials]
    # and the worker listened for stops on the control channels its ACL user is given (no fallback to reading)
    assert "listening for trial stops failed" not in (tmp_path / "worker.log").read_text()

    # And the exporter reads the store but cannot write to it
    exporter = _client(port, "exporter", passwords["exporter"])
    assert sweep_id in exporter.zrange("sweepctl:sweeps", 0, -1)
    assert exporter.hgetall(f"sweepctl:sweep:{{{sweep_id}}}")
    with pytest.raises(redis.exceptions.NoPermissionError):
        exporter.set("sweepctl:x", 1)
    with pytest.raises(redis.exceptions.NoPermissionError):
        exporter.hset(f"sweepctl:sweep:{{{sweep_id}}}", "state", '"running"')

    # And the worker can touch neither keys outside its own nor the server's configuration
    worker = _client(port, "worker", passwords["worker"])
    for forbidden in (
        lambda: worker.set("elsewhere:x", 1),
        lambda: worker.flushall(),
        lambda: worker.config_get("*"),
        lambda: worker.keys("*"),
    ):
        with pytest.raises(redis.exceptions.NoPermissionError):
            forbidden()

    # And the default user is off: a client without credentials gets nothing
    with socket.create_connection(("127.0.0.1", port), timeout=5) as anonymous:
        anonymous.sendall(b"GET sweepctl:sweeps\r\n")
        assert anonymous.recv(200).startswith(b"-NOAUTH")


def test_shipped_redis_conf_agrees_with_the_embedded_default(tmp_path: Path) -> None:
    # Given the redis.conf we ship and the one the embedded server writes
    shipped = _directives((DEPLOY_REDIS / "redis.conf").read_text())
    embedded = _directives(server_config(port=6379, data_dir=tmp_path, password=None))

    # Then they agree on durability, eviction and where they listen
    for name in ("appendonly", "appendfsync", "maxmemory-policy", "bind", "protected-mode"):
        assert shipped[name] == embedded[name], name
    assert (shipped["appendonly"], shipped["appendfsync"], shipped["maxmemory-policy"]) == ("yes", "everysec", "noeviction")
    assert shipped["bind"] == "127.0.0.1" and shipped["protected-mode"] == "yes"
    # And the shipped one logs users in from the ACL file, with no shared password of its own
    assert shipped["aclfile"] == "/etc/redis/users.acl" and "requirepass" not in shipped


def test_shipped_acl_has_only_placeholder_passwords_and_the_default_user_off() -> None:
    # Given the shipped ACL file
    users = {line.split()[1]: line.split()[2:] for line in (DEPLOY_REDIS / "users.acl").read_text().splitlines() if line.strip()}

    # Then it has one user per role and the default user off
    assert set(users) == {"default", "controller", "worker", "exporter"}
    assert "off" in users["default"] and not any(r.startswith(">") or r == "nopass" for r in users["default"])
    # And every password is a marked placeholder, so nobody runs with a published one
    for role in ("controller", "worker", "exporter"):
        passwords = [r for r in users[role] if r.startswith(">")]
        assert passwords == [f">CHANGE-ME-{role}-password"], role
    # And the exporter is read-only on sweepctl's keys
    assert {"-@all", "+@read", "+@connection", "-@dangerous", "~sweepctl:*"} <= set(users["exporter"])
    assert not any(r.startswith("+") and r not in ("+@read", "+@connection", "+info") for r in users["exporter"])


# ---- 2. TLS end to end -------------------------------------------------------------------------


def test_sweep_runs_over_tls_and_plaintext_or_an_unknown_ca_is_refused(tmp_path: Path, servers: Processes, started: Processes) -> None:
    # Given a throwaway CA, a server certificate it signed, and an unrelated CA
    certs = make_certificates(tmp_path / "tls")
    # And a redis-server that speaks only TLS (no plaintext port) and wants a password
    password = "tls-" + secrets.token_hex(6)
    port = free_port()
    tls_url = f"rediss://:{password}@127.0.0.1:{port}/0?ssl_ca_certs={certs['ca']}"
    _start_redis(
        servers,
        [
            find_redis_server(), "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
            "--tls-cert-file", str(certs["cert"]), "--tls-key-file", str(certs["key"]), "--tls-ca-cert-file", str(certs["ca"]),
            "--tls-auth-clients", "no", "--requirepass", password, "--save", "", "--dir", str(tmp_path),
        ],
        tmp_path / "redis.log",
        ready=lambda: RedisSettings.from_url(tls_url).client(socket_timeout=1).ping(),
        skip_without_tls=True,
    )

    # When a sweep is submitted and run by a controller and a worker over rediss://
    env = {"SWEEPCTL_REDIS_URL": tls_url}
    sweep_file = write_sweep(tmp_path, SMALL_SWEEP)
    sweep_id = started.run("submit", str(sweep_file), check=True, env=env).stdout.strip()
    started.start("controller", log=tmp_path / "controller.log", env=env)
    started.start("worker", "--gpus", "none", log=tmp_path / "worker.log", env=env)
    store = Store.connect(RedisSettings.from_url(tls_url))
    wait_until_done(store, sweep_id, timeout=30)

    # Then every trial completed
    trials = store.get_trials(sweep_id)
    assert len(trials) == 3 and all(t.state is TrialState.COMPLETED for t in trials), [(t.state, t.error) for t in trials]

    # When a plaintext client tries the TLS port
    plain = started.run("status", timeout=30, env={"SWEEPCTL_REDIS_URL": f"redis://:{password}@127.0.0.1:{port}/0"})
    # Then it is told, without a traceback or the password, that it cannot reach Redis and why
    assert plain.returncode == 2, plain
    assert f"cannot reach Redis at redis://:***@127.0.0.1:{port}/0" in plain.stderr
    assert "is this a TLS server? (then use a rediss:// URL)" in plain.stderr
    assert "Traceback" not in plain.stderr and password not in plain.stderr + plain.stdout

    # When a TLS client trusts another CA
    wrong_ca = tls_url.replace(str(certs["ca"]), str(certs["other_ca"]))
    refused = started.run("status", timeout=30, env={"SWEEPCTL_REDIS_URL": wrong_ca})
    # Then the server's certificate is refused
    assert refused.returncode == 2, refused
    assert f"cannot reach Redis at rediss://:***@127.0.0.1:{port}/0" in refused.stderr
    assert "certificate verify failed" in refused.stderr and "TLS server?" not in refused.stderr
    assert "Traceback" not in refused.stderr and password not in refused.stderr + refused.stdout


def test_a_rediss_url_at_a_plaintext_port_is_told_so_within_seconds(tmp_path: Path, redis_server: EmbeddedRedis, procs: Processes) -> None:
    # Given a plaintext redis-server, which waits for a newline that a TLS ClientHello never sends
    url = f"rediss://:test-secret@127.0.0.1:{redis_server.port}/0"

    # When the store connects to it over TLS
    started = time.monotonic()
    with pytest.raises(StoreError) as caught:
        Store.connect(RedisSettings.from_url(url))
    took = time.monotonic() - started

    # Then it is told to use redis://, well before the 10 s socket timeout would have run out
    hint = "the server did not answer the TLS handshake: is this a plaintext port? (then use a redis:// URL)"
    assert hint in str(caught.value) and "test-secret" not in str(caught.value)
    assert took < SOCKET_TIMEOUT_SECONDS * 0.8, took
    # And a command says the same on one line, without a traceback
    done = procs.run("status", "--redis", url, timeout=60)
    shown = f"rediss://:***@127.0.0.1:{redis_server.port}/0"
    assert done.returncode == 2, done
    assert done.stderr.splitlines() == [f"error: cannot reach Redis at {shown}: Timeout connecting to server; {hint}"]


# ---- 2b. unix sockets ----------------------------------------------------------------------------


def test_a_sweep_runs_over_a_unix_socket_with_a_password_and_a_db(tmp_path: Path, servers: Processes, started: Processes) -> None:
    # Given a redis-server with no TCP port, only a unix socket, and a password that needs percent-encoding
    password = "sock/" + secrets.token_hex(6) + "@#"
    sock = start_socket_redis(servers, tmp_path / "redis", password)
    url = f"unix://:{quote(password, safe='')}@{sock}?db=3"
    env = {"SWEEPCTL_REDIS_URL": url}

    # When a sweep is submitted and run by a controller and a worker over the socket
    sweep_file = write_sweep(tmp_path, SMALL_SWEEP)
    sweep_id = started.run("submit", str(sweep_file), check=True, env=env).stdout.strip()
    started.start("controller", log=tmp_path / "controller.log", env=env)
    started.start("worker", "--gpus", "none", log=tmp_path / "worker.log", env={**env, "SWEEPCTL_LOG_LEVEL": "INFO"})
    store = Store.connect(RedisSettings.from_url(url))
    wait_until_done(store, sweep_id, timeout=30)

    # Then every trial completed
    trials = store.get_trials(sweep_id)
    assert len(trials) == 3 and all(t.state is TrialState.COMPLETED for t in trials), [(t.state, t.error) for t in trials]
    # And the store and Celery's queue both lived in database 3, none of it in database 0
    raw = redis.Redis(unix_socket_path=str(sock), password=password, db=0)
    assert raw.dbsize() == 0 and store.redis.exists(f"sweepctl:sweep:{{{sweep_id}}}")
    # And the worker's log names the socket with the password hidden
    worker_log = (tmp_path / "worker.log").read_text()
    assert f"redis+socket://:**@{sock}" in worker_log and password not in worker_log


# ---- 3. pickle refused -------------------------------------------------------------------------


class TouchOnUnpickle:
    """A payload that creates `path` when unpickled: what an attacker's pickle would do instead."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return (Path.touch, (Path(self.path),))


def test_pickle_message_in_the_queue_is_refused_with_no_side_effect(
    tmp_path: Path, procs: Processes, store: Store, redis_settings: RedisSettings
) -> None:
    # Given a controller and a worker that have finished one sweep
    procs.start("controller", log=tmp_path / "controller.log")
    procs.start("worker", "--gpus", "none", log=tmp_path / "worker.log", env={"SWEEPCTL_LOG_LEVEL": "INFO"})
    first = submit(procs, write_sweep(tmp_path, SMALL_SWEEP))
    wait_until_done(store, first, timeout=30)
    wait_for(store.workers, 10, "the worker's heartbeat")
    workers = store.workers()
    raw = redis.Redis.from_url(redis_settings.url)
    wait_for(lambda: raw.llen("sweepctl:events") == 0, 10, "the controller to take every wake-up")
    before = _snapshot(raw)
    # And a payload that really does create its marker file when unpickled
    control = tmp_path / "control-marker"
    pickle.loads(pickle.dumps(TouchOnUnpickle(control)))
    assert control.exists()

    # When a run_trial message serialized with pickle is pushed into the worker's queue
    marker = tmp_path / "pwned-marker"
    app = make_celery(redis_settings)
    app.send_task(RUN_TRIAL_TASK, args=[first, 1, TouchOnUnpickle(marker)], queue="sweepctl", serializer=HOSTILE_SERIALIZER)
    worker_log = tmp_path / "worker.log"
    refusal = "Refusing to deserialize untrusted content of type pickle (application/x-python-serialize)"
    wait_for(lambda: marker.exists() or refusal in worker_log.read_text(), 15, "the worker to handle the message")
    wait_for(lambda: raw.llen("sweepctl") == 0 and raw.hlen("unacked") == 0, 10, "the message to leave the queue")

    # Then the worker refused to unpickle it (by its content type) and dropped it
    assert not marker.exists()
    assert refusal in worker_log.read_text()
    # And no sweep, trial or result changed
    assert _snapshot(raw) == before
    # And the same worker process is alive and runs the next sweep
    assert store.workers().keys() == workers.keys()
    (worker_id,) = workers
    assert process_alive(int(worker_id.rsplit("/", 1)[1]))
    second = submit(procs, write_sweep(tmp_path, SMALL_SWEEP, name="second.yaml"))
    wait_until_done(store, second, timeout=30)
    trials = store.get_trials(second)
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 3 and {t.worker for t in trials} == {worker_id}
    assert not marker.exists()


# ---- 4. no secret printed ----------------------------------------------------------------------


def test_no_secret_in_logs_status_or_records(tmp_path: Path) -> None:
    # Given a Redis whose password is distinctive, and a controller and a worker logging verbosely
    password = "Zq7-" + secrets.token_hex(12)
    server = EmbeddedRedis(data_dir=tmp_path / "redis", password=password).start()
    procs = Processes(child_env({"SWEEPCTL_REDIS_URL": server.url}), cwd=tmp_path)
    try:
        controller = procs.start("controller", "--verbose", log=tmp_path / "controller.log")
        run_log = tmp_path / "runs.jsonl"
        worker_env = {"SWEEPCTL_LOG_LEVEL": "INFO", "RUN_LOG": str(run_log)}
        worker = procs.start("worker", "--gpus", "none", log=tmp_path / "worker.log", env=worker_env)

        # When a sweep is submitted and followed, then inspected with every read command
        sweep_file = write_sweep(tmp_path, SMALL_SWEEP)
        waited = procs.run("submit", str(sweep_file), "--wait", "--format", "json", timeout=60, check=True)
        sweep_id = waited.stdout.splitlines()[0].strip()
        outputs = [waited]
        for args in (
            ("status",),
            ("status", sweep_id, "--format", "json"),
            ("trials", sweep_id, "--format", "json", "--history"),
            ("best", sweep_id),
        ):
            outputs.append(procs.run(*args, check=True))
        assert json.loads(outputs[2].stdout)["trials"] == {"completed": 3}

        # Then the password is in no output, no log, and no process's command line
        for done in outputs:
            assert password not in done.stdout + done.stderr, done.args
        logs = {name: (tmp_path / name).read_text() for name in ("controller.log", "worker.log")}
        for name, text in logs.items():
            assert password not in text, name
        # (the logs do name the server, redacted: so the check above looked at real URLs)
        assert f"redis://:***@127.0.0.1:{server.port}/0" in logs["controller.log"]
        assert f"redis://:**@127.0.0.1:{server.port}/0" in logs["worker.log"]
        for pid in _pids_in_groups([controller.pid, worker.pid]):
            assert password.encode() not in Path(f"/proc/{pid}/cmdline").read_bytes()
        # And the trial programs never had the Redis URL in their environment
        starts = read_run_log(run_log)
        assert len(starts) == 3 and not any(start["redis_url_visible"] for start in starts)
        # And nothing stored in Redis holds it (queues and Celery bookkeeping included)
        client = redis.Redis.from_url(server.url)
        stored = list(client.scan_iter("*"))
        assert any(k.startswith(b"sweepctl:sweep:") for k in stored)
        for key in stored:
            assert password.encode() not in key + _value_bytes(client, key), key
    finally:
        procs.close()
        server.kill()


# ---- helpers -----------------------------------------------------------------------------------


def _with_passwords(acl: str, passwords: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        return ">" + passwords[match.group(1)]

    replaced = re.sub(r">CHANGE-ME-(\w+)-password", replace, acl)
    assert "CHANGE-ME" not in replaced
    return replaced


def _client(port: int, user: str, password: str) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, username=user, password=password, decode_responses=True, socket_timeout=5)


def _directives(conf: str) -> dict[str, str]:
    """redis.conf directive -> value (the last one wins, as in Redis; quotes dropped)."""
    found = {}
    for line in conf.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition(" ")
            found[name.lower()] = value.strip().strip('"')
    return found


def _start_redis(
    procs: Processes, argv: list[str], log: Path, *, ready: Callable[[], object], skip_without_tls: bool = False
) -> subprocess.Popen[str]:
    """Start redis-server in its own process group (killed with `procs`) and wait until `ready()` succeeds."""
    with log.open("w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    procs.started.append(proc)

    def answers() -> bool:
        if proc.poll() is not None:
            text = log.read_text(errors="replace")
            if skip_without_tls and re.search(
                r"tls.*(not supported|not built|bad directive)|bad directive.*tls", text, re.IGNORECASE | re.DOTALL
            ):
                pytest.skip(f"this redis-server ({argv[0]}) has no TLS support: {' '.join(text.split())[-300:]}")
            raise AssertionError(f"redis-server exited with {proc.returncode}:\n{text[-2000:]}")
        try:
            return bool(ready())
        except redis.RedisError:
            return False

    wait_for(answers, 15, "redis-server to answer", interval=0.05)
    return proc


def _snapshot(client: redis.Redis) -> dict[bytes, bytes | None]:
    """DUMP of every sweepctl key but the heartbeats."""
    return {k: client.dump(k) for k in client.scan_iter("sweepctl:*") if not HEARTBEAT_KEYS.match(k.decode())}


def _value_bytes(client: redis.Redis, key: bytes) -> bytes:
    """Everything a key holds, whatever its type, as one byte string."""
    kind = client.type(key)
    if kind == b"string":
        return client.get(key) or b""
    if kind == b"hash":
        return b"\n".join(k + b"=" + v for k, v in client.hgetall(key).items())
    if kind == b"list":
        return b"\n".join(client.lrange(key, 0, -1))
    if kind == b"set":
        return b"\n".join(client.smembers(key))
    if kind == b"zset":
        return b"\n".join(m for m, _ in client.zrange(key, 0, -1, withscores=True))
    return client.dump(key) or b""


def _pids_in_groups(pgids: list[int]) -> list[int]:
    return [pid for pgid in pgids for pid in pids_in_group(pgid)]
