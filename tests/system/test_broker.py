"""The Celery broker connection on a real redis-server: messages through our Redis transport."""

from __future__ import annotations

import pytest

from sweepctl.celery_app import make_celery
from sweepctl.settings import RedisSettings

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
        redis = redis_settings.client()
        assert redis.llen("test-broker") == 0 and redis.hlen("unacked") == 0
        # And a new pool (kombu makes one after a fork or a reconnect) gets a client of its own
        channel._disconnect_pools()
        assert channel._create_client() is not client
        queue.close()
