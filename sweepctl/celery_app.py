"""The one module that configures Celery, for the controller (sending) and workers (running).

Configured for long GPU jobs that must never be lost: late acks, re-queue when
a worker dies, one reserved task per process, JSON only (pickle in
accept_content is remote code execution for anyone who can write to Redis).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from queue import Empty
from typing import Any

import redis
from celery import Celery
from kombu.exceptions import OperationalError
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis

from sweepctl.errors import StoreUnavailable
from sweepctl.settings import (
    SOCKET_TIMEOUT_SECONDS,
    VISIBILITY_TIMEOUT_ENV,
    RedisSettings,
)
from sweepctl.store.failures import translated

# `Celery` is named here for the roles, which pass an app to `send_attempt` without importing celery.
__all__ = ["RUN_TRIAL_TASK", "Attempt", "AttemptInbox", "Celery", "make_celery", "send_attempt", "send_attempts", "task_id"]

log = logging.getLogger(__name__)

RUN_TRIAL_TASK = "sweepctl.run_trial"

# Redis re-delivers an unacked message after this long; our own per-trial
# record (claim by attempt) is what keeps a redelivery from running twice.
DEFAULT_VISIBILITY_TIMEOUT = 12 * 3600


class _OneSyncClient(kombu_redis.Channel):
    """A kombu Redis channel with one client for its synchronous commands.

    kombu builds a new `redis.Redis` (response callbacks and all) for every
    publish, every unacked-index write and every ack: a third of a millisecond
    of CPU per trial across the controller and the worker (py-spy, dispatch
    benchmark). A client over the channel's pool is thread-safe, so one is kept
    per pool; kombu replaces the pool after a fork or a reconnect, and a new
    pool gets a new client.
    """

    _sync_client: Any = None
    _sync_pool: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)
        pool = self.pool
        if self._sync_pool is not pool:
            self._sync_client, self._sync_pool = super()._create_client(), pool
        return self._sync_client


class _Channel(_OneSyncClient, kombu_redis.Channel):
    """kombu's Redis channel, one client for its synchronous commands."""


class _SentinelChannel(_OneSyncClient, kombu_redis.SentinelChannel):
    """kombu's Sentinel channel, one client for its synchronous commands (its pool follows the master the Sentinels name)."""


class RedisTransport(kombu_redis.Transport):
    """kombu's Redis transport (redis://, rediss:// and redis+socket:// alike) on the channel above.

    A `redis+socket://` URL picks this transport through the `redis` alias too: kombu
    reads the part before '+' as the transport and the rest as a unix socket address.
    """

    Channel = _Channel


class SentinelTransport(kombu_redis.SentinelTransport):
    """kombu's Sentinel transport (`sentinel://` URLs joined by ';', as `RedisSettings.celery_broker_url` writes
    redis+sentinel:// and rediss+sentinel:// URLs) on the channel above."""

    Channel = _SentinelChannel


# Chosen by URL scheme, as kombu's own is: `broker_transport` would do too, but kombu then
# shows the class path as the scheme of every URL it logs ("Connected to ...").
for _scheme in ("redis", "rediss"):
    TRANSPORT_ALIASES[_scheme] = f"{__name__}:{RedisTransport.__name__}"
TRANSPORT_ALIASES["sentinel"] = f"{__name__}:{SentinelTransport.__name__}"


def make_celery(settings: RedisSettings, *, visibility_timeout: float | None = None) -> Celery:
    """A Celery app bound to the sweep's Redis, with no result backend (results go to our store).

    `visibility_timeout` defaults to SWEEPCTL_VISIBILITY_TIMEOUT, else 12 h.
    """
    if visibility_timeout is None:
        visibility_timeout = float(os.environ.get(VISIBILITY_TIMEOUT_ENV, DEFAULT_VISIBILITY_TIMEOUT))
    app = Celery("sweepctl", set_as_current=False)
    conf: dict[str, Any] = {
        "broker_url": settings.celery_broker_url(),
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "event_serializer": "json",
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            "visibility_timeout": visibility_timeout,
            # Sweep for unacked messages often enough for the timeout to mean what it says;
            # a re-delivery is harmless (the claim refuses it), a stuck message is not.
            "unacked_restore_interval": max(1.0, min(10.0, visibility_timeout / 4)),
            "unacked_restore_throttle": 1,
            "socket_timeout": SOCKET_TIMEOUT_SECONDS,
            "socket_connect_timeout": SOCKET_TIMEOUT_SECONDS,
            **settings.celery_transport_options(),  # the master's name and the Sentinels' login, with Sentinel
        },
        "task_default_queue": "sweepctl",
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "enable_utc": True,
    }
    ssl_options = settings.celery_ssl_options()
    if ssl_options is not None:
        conf["broker_use_ssl"] = ssl_options
    app.conf.update(conf)
    return app


def task_id(sweep_id: str, number: int, attempt: int, fold: int | None = None) -> str:
    """The Celery task id of one attempt of a trial (or of one fold of it): the same for every send of that attempt."""
    return f"{sweep_id}.{number}.{attempt}" if fold is None else f"{sweep_id}.{number}.{attempt}.f{fold}"


def send_attempt(app: Celery, sweep_id: str, number: int, attempt: int, queue: str, fold: int | None = None) -> None:
    """Publish the run_trial message of one attempt of a trial (of fold `fold` of a k-fold trial) to `queue`.

    Its arguments are (sweep id, number, attempt), and the fold for a fold's attempt. Sending an
    attempt again is harmless: the worker's fenced claim lets one delivery of an attempt run.
    Raises StoreUnavailable when the broker (our Redis) cannot take the message now
    (unreachable, frozen, loading, or out of memory): retry later.
    """
    with _broker_errors(f"could not send attempt {attempt} of trial {sweep_id}/{number}"):
        _send(app, Attempt(sweep_id, number, attempt, queue, fold))


@dataclass(frozen=True)
class Attempt:
    """One run_trial message to send: an attempt of a trial (of fold `fold` of a k-fold trial), for `queue`."""

    sweep_id: str
    number: int
    attempt: int
    queue: str
    fold: int | None = None


def send_attempts(app: Celery, attempts: Sequence[Attempt]) -> None:
    """Publish the run_trial messages of several attempts in one round trip to Redis (kombu's `Producer.batch`: one
    pipeline), as `send_attempt` publishes one. All or none of them are sent: on StoreUnavailable send them again."""
    if not attempts:
        return
    with _broker_errors(f"could not send {len(attempts)} attempts"):
        with app.producer_or_acquire() as producer, producer.batch():
            for one in attempts:
                _send(app, one, producer)


def _send(app: Celery, one: Attempt, producer: Any = None) -> None:
    args: list[object] = [one.sweep_id, one.number, one.attempt] if one.fold is None else [one.sweep_id, one.number, one.attempt, one.fold]
    task = task_id(one.sweep_id, one.number, one.attempt, one.fold)
    app.send_task(RUN_TRIAL_TASK, args=args, queue=one.queue, task_id=task, producer=producer)


@contextmanager
def _broker_errors(what: str) -> Iterator[None]:
    """The broker's errors as ours: StoreUnavailable when it cannot take messages now (retry later)."""
    try:
        yield
    except OperationalError as exc:  # kombu's own "cannot connect"
        raise StoreUnavailable(f"{what}: {exc}") from exc
    except redis.RedisError as exc:  # the Redis client's, under kombu: only "not now" is ours to wait out
        ours = translated(exc)
        if not isinstance(ours, StoreUnavailable):
            raise
        raise StoreUnavailable(f"{what}: {exc}", out_of_memory=ours.out_of_memory) from exc


class AttemptInbox:
    """The run_trial messages of one queue, taken one at a time without a Celery worker (`sweepctl.agent`).

    A message is gone from the queue once taken (no acknowledgement): if the
    taker dies before its claim, the trial stays queued with no message, and the
    controller sends it again (controller.recovery.lost_messages), as for any
    message Redis lost. Not thread safe: one taker per inbox.
    """

    def __init__(self, app: Celery, name: str) -> None:
        self._app = app
        self._name = name
        self._connection: Any = None
        self._queue: Any = None

    def take(self) -> tuple[str, int, int, int | None] | None:
        """The next waiting attempt as (sweep id, number, attempt, fold or None), or None when none waits.

        Raises StoreUnavailable when the broker cannot answer now. A message that
        is no run_trial message is dropped (and logged).
        """
        try:
            if self._queue is None:
                self._connection = self._app.connection_for_read()
                self._queue = self._connection.SimpleQueue(self._name, no_ack=True)
            message = self._queue.get_nowait()
        except Empty:
            return None
        except (OperationalError, redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            self.close()
            raise StoreUnavailable(f"could not read queue {self._name!r}: {exc}") from exc
        return _attempt_of(message)

    def close(self) -> None:
        simple, connection, self._queue, self._connection = self._queue, self._connection, None, None
        for resource in (simple, connection):
            if resource is not None:
                try:
                    resource.close()
                except Exception as exc:  # noqa: BLE001  # closing a broken connection may fail too; it is dropped either way
                    log.debug("closing the inbox of %r: %s", self._name, exc)


def _attempt_of(message: Any) -> tuple[str, int, int, int | None] | None:
    """(sweep id, number, attempt, fold or None) of a run_trial message (Celery's protocol 2: body [args, kwargs, embed])."""
    try:
        if message.headers.get("task") != RUN_TRIAL_TASK:
            raise ValueError(f"task {message.headers.get('task')!r}")
        sweep_id, number, attempt, *fold = message.decode()[0]
        if len(fold) > 1:
            raise ValueError(f"{3 + len(fold)} arguments")
        return str(sweep_id), int(number), int(attempt), int(fold[0]) if fold else None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        log.error("dropped a message that is no run_trial message: %s", exc)
        return None
