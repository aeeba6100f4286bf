"""Finding the store a command talks to: --redis, SWEEPCTL_REDIS_URL, or the local embedded one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from sweepctl.local_store import (
    STATE_DIR_ENV,
    LocalServer,
    local_store_dir,
    serve_local_store,
)
from sweepctl.settings import REDIS_URL_ENV, RedisSettings
from sweepctl.store import Store


def redis_option(f: Any) -> Any:
    f = click.option(
        "--state-dir",
        default=None,
        envvar=STATE_DIR_ENV,
        help=(
            "Folder of the embedded Redis used when no Redis URL is given "
            "[default: one per working folder, under $XDG_STATE_HOME/sweepctl or ~/.local/state/sweepctl]."
        ),
    )(f)
    return click.option(
        "--redis",
        "redis_url",
        envvar=REDIS_URL_ENV,
        help=(
            "Redis URL (redis://, rediss://, unix:///path/to/redis.sock, or redis+sentinel://host:26379,.../MASTER/DB"
            f" and rediss+sentinel:// for Sentinel; password allowed). Env: {REDIS_URL_ENV}."
        ),
    )(f)


@contextmanager
def open_store(redis_url: str | None, state_dir: str | None, *, create_local: bool = False) -> Iterator[tuple[Store, RedisSettings]]:
    """The store for a short command, and the settings to hand to processes it starts.

    Without a URL, the embedded Redis of this folder is used: the one another
    sweepctl process serves, else started for this command and stopped after
    it (its data stays on disk).
    """
    with serve_store(redis_url, state_dir, create_local=create_local, long_running=False) as (store, settings, _):
        yield store, settings


@contextmanager
def serve_store(
    redis_url: str | None, state_dir: str | None, *, create_local: bool, long_running: bool
) -> Iterator[tuple[Store, RedisSettings, LocalServer | None]]:
    """As `open_store`, for any command; a `long_running` one must serve the embedded store itself
    (it refuses one another process serves and will stop), and gets the server it started."""
    settings = RedisSettings.from_env(redis_url)
    if settings is not None:
        yield Store.connect(settings), settings, None
        return
    command = click.get_current_context().info_name or "sweepctl"
    with serve_local_store(local_store_dir(state_dir), command=command, long_running=long_running, create=create_local) as local:
        settings = RedisSettings.from_url(local.url)
        yield Store.connect(settings), settings, local
