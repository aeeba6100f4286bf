"""The embedded default store of one folder: where it lives, and which sweepctl process serves it.

Where: not in the folder the sweeps run in. Trials run in their sweep file's
folder, and a trial that deletes its working directory must not take every
result with it, so the store of a folder lives under the user's state
directory (`$XDG_STATE_HOME/sweepctl/`, else `~/.local/state/sweepctl/`), one
sub-folder per working folder, named after it (`myproject-1a2b3c4d5e6f`);
`--state-dir` (SWEEPCTL_STATE_DIR) puts it elsewhere.

Who: one redis-server per store, started and stopped by one sweepctl process,
its *owner*, which holds an exclusive lock (`owner.lock`) for the server's
whole life; two servers never share an AOF folder. Long-running commands (run,
controller, worker, exporter) must own the store: they refuse one another
process serves, because that process stops the server when it ends. Short
commands (status, trials, submit, ...) use a served store as *guests* (a shared
lock on `guests.lock`), and the owner waits for them before it stops the server.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sweepctl.embedded import EmbeddedRedis, local_password
from sweepctl.errors import ConfigError

STATE_DIR_ENV = "SWEEPCTL_STATE_DIR"
_SERVER_FILE = "server.json"
_OWNER_LOCK = "owner.lock"
_GUESTS_LOCK = "guests.lock"
LOCK_WAIT_SECONDS = 10.0  # how long a guest waits for a starting server, and an owner for guests to finish


def local_store_dir(state_dir: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Path:
    """The embedded store of the current folder: `state_dir` when given, else one under the user's state directory."""
    if state_dir:
        return Path(state_dir).expanduser().resolve()
    folder = (cwd or Path.cwd()).resolve()
    try:
        home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    except (RuntimeError, KeyError) as exc:  # no HOME and no passwd entry (a container's bare uid)
        raise ConfigError(f"no folder for the local store: set XDG_STATE_HOME or --state-dir ({exc})") from exc
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
    return Path(home) / "sweepctl" / f"{folder.name or 'root'}-{digest}"


@dataclass(frozen=True)
class LocalServer:
    """A running embedded server as a command sees it: its URL, and the process when this command owns it."""

    url: str
    data_dir: Path
    process: EmbeddedRedis | None  # None for a guest


@contextmanager
def serve_local_store(data_dir: Path, *, command: str, long_running: bool, create: bool) -> Iterator[LocalServer]:
    """The embedded server of `data_dir` for the duration of a command.

    Started here (and stopped at the end) unless another sweepctl process serves
    it; a `long_running` command refuses a store served by another process. With
    `create` false, a folder holding no store yet is an error.
    """
    if not create and not (data_dir / "redis.conf").exists():
        raise ConfigError(
            f"no Redis given (--redis URL or SWEEPCTL_REDIS_URL) and no local store for this folder in {data_dir}; "
            "`sweepctl run FILE` runs a sweep on a private local Redis"
        )
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        owner = _open_lock(data_dir / _OWNER_LOCK)
        if _try_lock(owner, fcntl.LOCK_EX):
            with _owning(data_dir, owner, command) as served:
                yield served
            return
        os.close(owner)
        if long_running:
            raise ConfigError(_served_elsewhere(data_dir, command))
        guest = _as_guest(data_dir)
        if guest is not None:
            fd, served = guest
            try:
                yield served
            finally:
                os.close(fd)
            return
        if time.monotonic() > deadline:
            raise ConfigError(f"the local store in {data_dir} is locked by another sweepctl process that serves no Redis; try again")
        time.sleep(0.05)


@contextmanager
def _owning(data_dir: Path, owner_fd: int, command: str) -> Iterator[LocalServer]:
    try:
        server = EmbeddedRedis(data_dir=data_dir, password=local_password(data_dir)).start()
        assert server.process is not None
        record = ServerRecord(pid=server.process.pid, port=server.port, owner_pid=os.getpid(), command=command)
        (data_dir / _SERVER_FILE).write_text(json.dumps(dataclasses.asdict(record)))
        try:
            yield LocalServer(url=server.url, data_dir=data_dir, process=server)
        finally:
            (data_dir / _SERVER_FILE).unlink(missing_ok=True)  # no new guests from here on
            guests = _open_lock(data_dir / _GUESTS_LOCK)
            _wait_lock(guests, fcntl.LOCK_EX, LOCK_WAIT_SECONDS)  # guests mid-command finish first
            server.stop()
            os.close(guests)
    finally:
        os.close(owner_fd)


def _as_guest(data_dir: Path) -> tuple[int, LocalServer] | None:
    """A shared lock on the guests' file and the served server's URL; None while no server is advertised."""
    record = _server_record(data_dir)
    if record is None:
        return None
    fd = _open_lock(data_dir / _GUESTS_LOCK)
    if not _try_lock(fd, fcntl.LOCK_SH) or _server_record(data_dir) != record:
        os.close(fd)  # the owner is stopping it, or it changed under us: look again
        return None
    return fd, LocalServer(url=_url(data_dir, record), data_dir=data_dir, process=None)


def _served_elsewhere(data_dir: Path, command: str) -> str:
    record = _server_record(data_dir)
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while record is None and time.monotonic() < deadline:
        time.sleep(0.05)  # its owner may be starting the server: name it once it has said who it is
        record = _server_record(data_dir)
    by = "another sweepctl process" if record is None else f"`sweepctl {record.command}` (pid {record.owner_pid})"
    return (
        f"the local store in {data_dir} is served by {by}, which stops it when it ends, so `sweepctl {command}` cannot use it; "
        "wait for it to end, give this folder's commands another store with --state-dir, "
        "or run a Redis server for both and pass --redis URL"
    )


@dataclass(frozen=True)
class ServerRecord:
    """What an owner advertises in server.json: its server's pid and port, and who it is."""

    pid: int
    port: int
    owner_pid: int
    command: str


def _server_record(data_dir: Path) -> ServerRecord | None:
    """The owner's server.json, if its server still runs."""
    try:
        record = ServerRecord(**json.loads((data_dir / _SERVER_FILE).read_text()))
        os.kill(record.pid, 0)
    except (OSError, ValueError, TypeError):
        return None
    return record


def _url(data_dir: Path, record: ServerRecord) -> str:
    return f"redis://:{local_password(data_dir)}@127.0.0.1:{record.port}/0"


def _open_lock(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _try_lock(fd: int, kind: int) -> bool:
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _wait_lock(fd: int, kind: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not _try_lock(fd, kind):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
