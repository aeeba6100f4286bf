"""The store one call of the Python API uses: the Redis URL given (argument, then SWEEPCTL_REDIS_URL), else this folder's embedded one.

The embedded store is served for the length of one call, as for one CLI
command (sweepctl.local_store): `sweep()` as a short command (the server of
another sweepctl process is used as its guest, else one is started and stopped
when it returns), `agent()` as a long-running one (it serves the store itself
while it runs). So `sweep()` then `agent()` in one notebook share the store on
disk, nothing of it runs between or after the calls, and `sweepctl status`
(or `trials`, `best`) in a terminal reads it meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sweepctl.local_store import local_store_dir, serve_local_store
from sweepctl.settings import RedisSettings
from sweepctl.store import Store

COMMAND = "python-api"  # how other sweepctl commands name a process of the Python API that serves the store


@contextmanager
def session(redis_url: str | None, state_dir: str | None, *, long_running: bool, create: bool) -> Iterator[tuple[Store, RedisSettings]]:
    """The store for one call, and the settings that reach it (for Celery); see the module's docstring."""
    settings = RedisSettings.from_env(redis_url)
    if settings is not None:
        yield Store.connect(settings), settings
        return
    with serve_local_store(local_store_dir(state_dir), command=COMMAND, long_running=long_running, create=create) as local:
        settings = RedisSettings.from_url(local.url)
        yield Store.connect(settings), settings
