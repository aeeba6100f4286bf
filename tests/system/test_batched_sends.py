"""Sending several run_trial messages in one round trip (`send_attempts`): each arrives as `send_attempt` sends it."""

from __future__ import annotations

import pytest

from sweepctl.celery_app import Attempt, AttemptInbox, make_celery, send_attempts
from sweepctl.embedded import EmbeddedRedis
from sweepctl.errors import StoreUnavailable
from sweepctl.settings import RedisSettings

pytestmark = pytest.mark.system


def test_a_batch_of_attempts_arrives_as_one_message_each_in_order(redis_settings: RedisSettings) -> None:
    # Given a batch of attempts, one of them a fold's
    app = make_celery(redis_settings)
    batch = [Attempt("s1", n, 1, "q-batch") for n in range(1, 6)] + [Attempt("s1", 6, 2, "q-batch", fold=3)]

    # When it is sent in one round trip
    send_attempts(app, batch)

    # Then a taker reads each as its run_trial message, in the order sent, and nothing more
    inbox = AttemptInbox(app, "q-batch")
    try:
        taken = [inbox.take() for _ in range(len(batch) + 1)]
    finally:
        inbox.close()
    assert taken == [(a.sweep_id, a.number, a.attempt, a.fold) for a in batch] + [None]


def test_a_batch_the_broker_cannot_take_is_refused_whole(redis_server: EmbeddedRedis, redis_settings: RedisSettings) -> None:
    # Given a broker that is gone
    app = make_celery(redis_settings)
    redis_server.kill()

    # When a batch is sent, Then it is refused as 'not now' (the controller keeps the trials to send again)
    with pytest.raises(StoreUnavailable):
        send_attempts(app, [Attempt("s1", 1, 1, "q-batch"), Attempt("s1", 2, 1, "q-batch")])
