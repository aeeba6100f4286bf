"""A private PostgreSQL server for a benchmark: a temporary folder, loopback only, gone afterwards.

Debian's `postgresql` package provides the binaries (/usr/lib/postgresql/VERSION/bin); the
server that package may have started is never used. `initdb` and `postgres` refuse to run as
root, so as root they run as the `postgres` user (setpriv, no shell) in a folder chowned to it.
The server listens on 127.0.0.1 on a free port, its unix socket stays inside the folder, local
and loopback connections are trusted (`initdb -A trust`: nothing else can reach it), and
`stop()` ends it with `pg_ctl stop -m immediate` (nothing here needs to survive) and deletes the folder.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from sweepctl.embedded import free_port

SERVICE_USER = "postgres"  # the account Debian's package creates; used only when we are root
DATABASE_USER = "bench"
MAX_CONNECTIONS = 200  # 32 Optuna processes with a pooled connection or two each, and the parent


def postgres_bin() -> Path:
    """The newest /usr/lib/postgresql/*/bin holding initdb (RuntimeError when none is installed)."""

    def major(initdb: Path) -> int:
        name = initdb.parent.parent.name
        return int(name) if name.isdigit() else 0

    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=major)
    if not found:
        raise RuntimeError("no /usr/lib/postgresql/*/bin/initdb: install Debian's postgresql package (apt-get install -y postgresql)")
    return found[-1].parent


def as_service_user(*, parent_death_signal: signal.Signals | None = None) -> list[str]:
    """The argv prefix that drops root to the service user (empty when we are not root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError as exc:
        raise RuntimeError(f"running as root needs a {SERVICE_USER!r} user to run PostgreSQL as (initdb refuses root)") from exc
    argv = ["setpriv", f"--reuid={SERVICE_USER}", f"--regid={SERVICE_USER}", "--init-groups"]
    if parent_death_signal is not None:
        # set after the uid change (setpriv does it last), so it survives into postgres
        argv.append(f"--pdeathsig={parent_death_signal.name}")
    return [*argv, "--"]


@dataclass
class PrivatePostgres:
    """One postgres server of our own. Use as a context manager, or `start()` / `stop()`."""

    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sweepctl-bench-pg-")))
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def url(self, database: str = "postgres") -> str:
        """SQLAlchemy URL over loopback TCP (trusted, no password) for `database`."""
        return f"postgresql+psycopg2://{DATABASE_USER}@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 60.0) -> Self:
        bin_dir = postgres_bin()
        sockets = self.folder / "sockets"
        sockets.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            for path in (self.folder, sockets):
                shutil.chown(path, SERVICE_USER, SERVICE_USER)
        initdb = [str(bin_dir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", DATABASE_USER, "-E", "UTF8", "--locale=C"]
        # --no-sync: only initdb's own files skip fsync; the server below keeps its default durability
        done = subprocess.run([*as_service_user(), *initdb, "--no-sync"], capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"initdb exited {done.returncode}: {done.stderr[-2000:]}")
        self.port = self.port or free_port()
        server = [str(bin_dir / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(sockets),
                  "-c", "listen_addresses=127.0.0.1", "-c", f"max_connections={MAX_CONNECTIONS}"]  # fmt: skip
        with (self.folder / "postgres.log").open("ab") as log:
            # SIGQUIT is postgres' immediate shutdown: if this process dies, so does its server
            self.process = subprocess.Popen(
                [*as_service_user(parent_death_signal=signal.SIGQUIT), *server],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        import psycopg2

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"postgres exited {self.process.returncode}: {self.log_tail()}")
            try:
                psycopg2.connect(host="127.0.0.1", port=self.port, user=DATABASE_USER, dbname="postgres", connect_timeout=2).close()
                return
            except psycopg2.OperationalError:
                time.sleep(0.1)
        raise RuntimeError(f"postgres did not accept connections within {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self) -> str:
        try:
            return (self.folder / "postgres.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def create_database(self, name: str) -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=DATABASE_USER, dbname="postgres")
        try:
            conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')  # name: ours, [a-z0-9_] only
        finally:
            conn.close()
        return self.url(name)

    def transactions(self, database: str) -> int:
        """Transactions committed or rolled back in `database` so far (pg_stat_database; ours is not counted)."""
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=DATABASE_USER, dbname="postgres")
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s", (database,))
                row = cur.fetchone()
        finally:
            conn.close()
        return int(row[0]) if row else 0

    def stop(self) -> None:
        """Immediate shutdown, then the folder is deleted. Safe to call twice."""
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            pg_ctl = [str(postgres_bin() / "pg_ctl"), "stop", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30"]
            subprocess.run([*as_service_user(), *pg_ctl], capture_output=True, timeout=60, check=False)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                # pg_ctl failed: take the whole group down (the server and any backend left)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
