"""Shared fixtures: a real redis-server per test (never the one on :6379) and process cleanup."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sweepctl.embedded import EmbeddedRedis
from sweepctl.settings import RedisSettings
from sweepctl.store import Store
from tests.support.processes import Processes, child_env

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


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
