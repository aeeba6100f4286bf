"""The Celery broker connection on a real redis-server: messages through our Redis transport, over TCP and a unix socket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis

from sweepctl.celery_app import make_celery
from sweepctl.embedded import free_port
from sweepctl.settings import RedisSettings
from sweepctl.store import Store
from tests.support.processes import Processes, child_env
from tests.system.socket_redis import start_socket_redis

pytestmark = pytest.mark.system


def test_publishes_and_acks_share_one_redis_client_per_pool(redis_settings: RedisSettings) -> None:
    # Given the Celery app's broker connection
    app = make_celery(redis_settings)
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        client = channel._create_client()
        # When three tasks are sent, then taken and acked one by one
        for i in range(3):
            app.send_task("sweepctl.test", args=[i], queue="test-broker", connection=connection)
        queue = connection.SimpleQueue("test-broker", no_ack=False)
        bodies = []
        for _ in range(3):
            message = queue.get(timeout=5)
            bodies.append(message.body)
            message.ack()
        # Then each arrived once, and every command went through the one client kombu would have rebuilt each time
        assert len(bodies) == 3
        assert channel._create_client() is client
        client = redis_settings.client()
        assert client.llen("test-broker") == 0 and client.hlen("unacked") == 0
        # And a new pool (kombu makes one after a fork or a reconnect) gets a client of its own
        channel._disconnect_pools()
        assert channel._create_client() is not client
        queue.close()


# Every character a URL reserves, so the URL must percent-encode it and both clients must decode it.
AWKWARD_PASSWORD = "p@ss:w/rd?#%&+="


@pytest.fixture
def socket_server(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A redis-server on a loopback port and on a unix socket, wanting AWKWARD_PASSWORD: (socket, port)."""
    servers = Processes(child_env(), cwd=tmp_path)
    try:
        port = free_port()
        yield start_socket_redis(servers, tmp_path / "redis", AWKWARD_PASSWORD, port=port), port
    finally:
        servers.close()


@pytest.mark.parametrize("form", ["tcp", "unix"])
def test_the_db_number_and_an_encoded_password_reach_the_store_and_the_broker(form: str, socket_server: tuple[Path, int]) -> None:
    # Given a redis-server on a port and a socket, whose password needs percent-encoding in a URL
    sock, port = socket_server
    encoded = quote(AWKWARD_PASSWORD, safe="")
    url, db = {"tcp": (f"redis://:{encoded}@127.0.0.1:{port}/3", 3), "unix": (f"unix://:{encoded}@{sock}?db=5", 5)}[form]
    settings = RedisSettings.from_url(url)

    # When the store writes a key and Celery sends a task
    Store.connect(settings).redis.set("marker", form)
    app = make_celery(settings)
    with app.connection_for_write() as connection:
        app.send_task("sweepctl.test", args=[form], queue="test-db", connection=connection)

        # Then both are in the database the URL names, and database 0 has neither
        def in_db(n: int) -> redis.Redis:
            return redis.Redis(unix_socket_path=str(sock), password=AWKWARD_PASSWORD, db=n)

        assert in_db(db).get("marker") == form.encode() and in_db(db).llen("test-db") == 1
        assert in_db(0).dbsize() == 0
        # And Celery takes the task back from there
        queue = connection.SimpleQueue("test-db", no_ack=False)
        message = queue.get(timeout=5)
        message.ack()
        assert message.payload[0] == [form]
        queue.close()
