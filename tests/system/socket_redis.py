"""A real redis-server on a unix socket, for the tests of unix:// URLs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import redis

from sweepctl.embedded import find_redis_server, server_config
from sweepctl.settings import MAX_SOCKET_PATH_BYTES
from tests.support.processes import Processes, wait_for


def start_socket_redis(procs: Processes, folder: Path, password: str, *, port: int = 0) -> Path:
    """Start redis-server (killed with `procs`) on `folder`/redis.sock, wanting `password`; return the socket's path.

    With `port` 0 the socket is the only way in; else the server listens on that loopback port too.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "redis.sock"
    assert len(str(path).encode()) <= MAX_SOCKET_PATH_BYTES, f"{path} is too long for a unix socket: run pytest with a shorter --basetemp"
    conf = folder / "redis.conf"
    conf.write_text(server_config(port=port, data_dir=folder, password=password, unixsocket=path))
    quiet = subprocess.DEVNULL  # it logs to redis.log in `folder`
    proc = subprocess.Popen([find_redis_server(), str(conf)], stdin=quiet, stdout=quiet, stderr=quiet, text=True, start_new_session=True)
    procs.started.append(proc)
    client = redis.Redis(unix_socket_path=str(path), password=password, socket_timeout=1)

    def answers() -> bool:
        if proc.poll() is not None:
            log = folder / "redis.log"
            raise AssertionError(f"redis-server exited with {proc.returncode}:\n{log.read_text()[-2000:] if log.exists() else ''}")
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    wait_for(answers, 15, "redis-server to answer on its socket")
    client.close()
    return path
