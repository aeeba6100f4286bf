"""Redis' errors turned into sweepctl's: the only place that names them (besides connecting, in `connection.py`).

Unavailability (unreachable, frozen past the socket timeout, loading its data, or out of
memory under `maxmemory-policy noeviction`, which refuses writes until memory is freed)
becomes StoreUnavailable: "not now", callers wait and retry, nothing is recorded as
anybody's fault. A command the Redis user may not run becomes StoreForbidden; any other
error Redis answers becomes a StoreError: the command, not the moment, was wrong.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.exceptions import OutOfMemoryError  # type: ignore[attr-defined]  # types-redis 4.6 predates it

from sweepctl.errors import StoreError, StoreForbidden, StoreUnavailable

_UNAVAILABLE = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, OutOfMemoryError)

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is Redis refusing a write because it reached `maxmemory`."""
    return (isinstance(exc, StoreUnavailable) and exc.out_of_memory) or isinstance(exc, OutOfMemoryError)


def translated(exc: redis.RedisError) -> Exception:
    """Ours for one of Redis' errors."""
    if isinstance(exc, _UNAVAILABLE):
        return StoreUnavailable(str(exc), out_of_memory=isinstance(exc, OutOfMemoryError))
    if isinstance(exc, redis.exceptions.NoPermissionError):
        return StoreForbidden(str(exc))
    return StoreError(f"Redis refused a command: {exc}")


def translating(method: F) -> F:
    """`method`, raising ours instead of Redis' errors (the original as __cause__)."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except redis.RedisError as exc:
            raise translated(exc) from exc

    return wrapper  # type: ignore[return-value]


def translates_errors(cls: C) -> C:
    """Wrap every public method of `cls` (its own and inherited) in `translating`."""
    for name, member in inspect.getmembers(cls, inspect.isfunction):
        if not name.startswith("_"):
            setattr(cls, name, translating(member))
    return cls
