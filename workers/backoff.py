"""Riding out Redis outages: retry a write with capped exponential backoff until it lands."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sweepctl.errors import StoreUnavailable
from sweepctl.store import is_out_of_memory

log = logging.getLogger(__name__)
T = TypeVar("T")

FIRST_DELAY = 0.1
MAX_DELAY = 5.0


def until_done(action: Callable[[], T], what: str, *, give_up: Callable[[], bool] = lambda: False) -> T | None:
    """Run `action` until Redis takes it; None if `give_up()` says so first.

    Only "not now" errors are retried: Redis unreachable, loading, or out of
    memory (it refuses writes until memory is freed; what was recorded stays).
    A script error or a refused write is an answer, not an outage.
    """
    delay = FIRST_DELAY
    while True:
        try:
            return action()
        except StoreUnavailable as exc:
            if give_up():
                return None
            if is_out_of_memory(exc):
                log.error(
                    "Redis is out of memory (maxmemory) while %s: it refuses writes until memory is freed; retrying in %.1fs", what, delay
                )
            else:
                log.warning("Redis unavailable while %s (%s); retrying in %.1fs", what, exc, delay)
            time.sleep(delay)
            delay = min(MAX_DELAY, delay * 2)
