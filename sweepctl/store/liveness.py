"""Wake-ups and heartbeats: the events list controllers block on, and which workers and controllers are alive."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from sweepctl import codec
from sweepctl.store import keys
from sweepctl.store.base import StoreBase
from sweepctl.store.outcomes import ALIVE_SECONDS


class Liveness(StoreBase):
    """Events that wake controllers, and the heartbeats of workers and controllers."""

    def wait_for_event(self, timeout: float) -> str | None:
        """Block up to `timeout` seconds for a sweep id whose trials changed.

        Events that piled up while the caller was busy are taken all at once: the
        pass that follows reads the sweeps afresh and covers every one of them, so
        a burst of finished trials costs one controller pass, not one per trial.
        """
        piled = self.redis.lpop(keys.EVENTS, keys.EVENTS_MAX)
        if piled:
            return str(piled[-1])
        found = self.redis.blpop([keys.EVENTS], timeout=timeout)
        return None if found is None else str(found[1])

    def notify(self, sweep_id: str) -> None:
        self.redis.rpush(keys.EVENTS, sweep_id)

    def heartbeat_worker(self, worker_id: str, info: Mapping[str, Any]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(keys.WORKERS, {worker_id: time.time()})
        pipe.hset(keys.worker_key(worker_id), mapping=codec.encode_fields(info))
        pipe.expire(keys.worker_key(worker_id), keys.WORKER_TTL_SECONDS)
        pipe.execute()

    def workers(self, max_age: float = ALIVE_SECONDS) -> dict[str, float]:
        """Worker id -> last heartbeat, for workers seen within `max_age` seconds."""
        return dict(self.redis.zrangebyscore(keys.WORKERS, time.time() - max_age, "+inf", withscores=True))

    def heartbeat_controller(self, controller_id: str) -> None:
        self.redis.zadd(keys.CONTROLLERS, {controller_id: time.time()})

    def controllers(self, max_age: float = ALIVE_SECONDS) -> dict[str, float]:
        """Controller id -> last heartbeat, for controllers seen within `max_age` seconds."""
        return dict(self.redis.zrangebyscore(keys.CONTROLLERS, time.time() - max_age, "+inf", withscores=True))

    def remove_controller(self, controller_id: str) -> None:
        self.redis.zrem(keys.CONTROLLERS, controller_id)

    def remove_worker(self, worker_id: str) -> None:
        self.redis.zrem(keys.WORKERS, worker_id)
        self.redis.delete(keys.worker_key(worker_id))
