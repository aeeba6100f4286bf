"""Shared fixtures: a real redis-server per test (never the one on :6379) and process cleanup."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from sweepctl.embedded import EmbeddedRedis
from sweepctl.settings import RedisSettings
from sweepctl.store import Store
from tests.support.processes import Processes, child_env


def pytest_configure(config: pytest.Config) -> None:
    # A suite started in the background by a non-interactive shell (`cmd &`) inherits SIGINT ignored, and every
    # process it starts would too: the Ctrl-C tests need SIGINT to reach their processes as it does from a terminal.
    # A handled signal is reset to its default in an exec'd child, an ignored one stays ignored.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="session", autouse=True)
def private_state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Embedded stores (kept under $XDG_STATE_HOME/sweepctl) of every test and its processes go to a temporary folder."""
    home = tmp_path_factory.mktemp("state-home")
    before = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(home)
    yield home
    if before is None:
        del os.environ["XDG_STATE_HOME"]
    else:
        os.environ["XDG_STATE_HOME"] = before


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A private redis-server on a free loopback port, with a password, killed after the test."""
    server = EmbeddedRedis(data_dir=tmp_path / "redis", password="test-secret").start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def redis_settings(redis_server: EmbeddedRedis) -> RedisSettings:
    return RedisSettings.from_url(redis_server.url)


@pytest.fixture
def store(redis_settings: RedisSettings) -> Store:
    return Store.connect(redis_settings)


@pytest.fixture
def procs(tmp_path: Path, redis_settings: RedisSettings) -> Iterator[Processes]:
    """Runs `sweepctl ...` processes against the test's Redis, in tmp_path; kills them afterwards."""
    manager = Processes(child_env({"SWEEPCTL_REDIS_URL": redis_settings.url}), cwd=tmp_path)
    try:
        yield manager
    finally:
        manager.close()
