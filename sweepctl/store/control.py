"""When a running trial's worker must read the trial's control (`trial_control`): told, rather than every 200 ms.

The scripts that stop running trials publish on pub/sub channels (`keys.sweep_control_channel`
when the sweep changes state, `keys.trial_control_channel` when a trial is asked to stop), and a
slot's `ControlSignals` listens on its trial's two. A check costs no round trip: it drains what
arrived on the subscription's connection without waiting. At a thousand running trials that
replaces five control reads per second per trial (two-thirds of Redis' commands, and most of the
workers' CPU in `benchmarks/scale.py`) with one read per trial every `fallback` seconds.

Pub/sub is not durable, so a read is also due whenever a message could have been missed:
until the subscription to the current trial's channels is confirmed (a stop published before it
is in the record the read sees; one published after reaches the subscription), after any error
of the subscription's connection (it is dropped, and made again at the next check), and at
least every `fallback` seconds (a connection to a server that vanished without a word, as a
master taken away in a failover can, stays silent until its health check notices).
"""

from __future__ import annotations

import logging
from typing import Any

import redis

from sweepctl.store import keys

log = logging.getLogger(__name__)

MAX_DRAINED = 1000  # messages taken per check at most: a check is bounded however many arrive


class ControlSignals:
    """One worker slot's subscription to the control channels of the trial it runs (see the module)."""

    def __init__(self, client: Any, fallback: float) -> None:
        self._client = client
        self._fallback = fallback
        self._pubsub: Any = None
        self._channels: frozenset[str] = frozenset()
        self._confirmed: set[str] = set()
        self._next_read = 0.0  # monotonic; the fallback read
        self._retry_at = 0.0  # monotonic; after an error, when to subscribe again
        self._warned = False

    def due(self, sweep_id: str, number: int, now: float) -> bool:
        """Whether trial `number`'s control must be read now; the caller reads it when True.

        Never raises for Redis' sake: a subscription in trouble makes a read due, and the read is what reports it."""
        wanted = frozenset((keys.sweep_control_channel(sweep_id), keys.trial_control_channel(sweep_id, number)))
        try:
            told = self._follow(wanted, now) | self._drain()
        except (redis.RedisError, OSError) as exc:
            self._drop(now, exc)
            told = True
        if told or now >= self._next_read or self._confirmed != self._channels:
            self._next_read = now + self._fallback
            return True
        return False

    def close(self) -> None:
        """Unsubscribe and give the connection back."""
        if self._pubsub is not None:
            try:
                self._pubsub.close()
            except (redis.RedisError, OSError):
                pass
        self._pubsub = None
        self._channels = frozenset()
        self._confirmed.clear()

    def _follow(self, wanted: frozenset[str], now: float) -> bool:
        """Subscribe to `wanted` (and leave the channels of an earlier trial); the confirmations come later."""
        if wanted == self._channels or now < self._retry_at:
            return False
        if self._pubsub is None:
            self._pubsub = self._client.pubsub()
        if old := self._channels - wanted:
            self._pubsub.unsubscribe(*old)
        self._channels = wanted
        self._confirmed &= wanted
        self._pubsub.subscribe(*(wanted - self._confirmed))
        return False

    def _drain(self) -> bool:
        """Take what arrived without waiting: whether a stop or a state change of ours, or a confirmation, came."""
        if self._pubsub is None:
            return False
        told = False
        for _ in range(MAX_DRAINED):
            message = self._pubsub.get_message(timeout=0.0)
            if message is None:
                break
            channel = message.get("channel")
            if channel not in self._channels:
                continue  # an earlier trial's, or a health check's answer
            if message["type"] == "subscribe":
                self._confirmed.add(channel)
                told = True  # read once now: what was published before the subscription took
            elif message["type"] == "message":
                told = True
        return told

    def _drop(self, now: float, exc: BaseException) -> None:
        """The connection failed: forget the subscription; it is made again from the next check after `fallback`."""
        if not self._warned:  # once per slot: an outage is told by the reads, an ACL without the channels here
            log.warning(
                "listening for trial stops failed (%s): the trial's control is read every %g s until it works again "
                "(an ACL user needs &sweepctl:control:*, as deploy/redis/users.acl gives)",
                exc,
                self._fallback,
            )
            self._warned = True
        self.close()
        self._retry_at = now + self._fallback
