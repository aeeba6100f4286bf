"""Finding the store a command talks to: --redis, SWEEPCTL_REDIS_URL, or the local embedded one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from sweepctl.embedded import (
    close_local_server,
    local_store_dir,
    open_local_server,
    running_server_url,
)
from sweepctl.errors import ConfigError
from sweepctl.settings import REDIS_URL_ENV, RedisSettings
from sweepctl.store import Store


def redis_option(f: Any) -> Any:
    f = click.option(
        "--state-dir",
        default=".sweepctl",
        show_default=True,
        envvar="SWEEPCTL_STATE_DIR",
        help="Folder of the embedded Redis used when no Redis URL is given.",
    )(f)
    return click.option(
        "--redis",
        "redis_url",
        envvar=REDIS_URL_ENV,
        help=f"Redis URL (redis://, rediss:// or unix:///path/to/redis.sock; password allowed). Env: {REDIS_URL_ENV}.",
    )(f)


@contextmanager
def open_store(redis_url: str | None, state_dir: str, *, create_local: bool = False) -> Iterator[tuple[Store, RedisSettings]]:
    """The store for a command, and the settings to hand to processes it starts.

    Without a URL, the embedded Redis in `state_dir` is used: the running one if
    another sweepctl process has it open, else started for this command and
    stopped after it (its data stays on disk).
    """
    settings = RedisSettings.from_env(redis_url)
    if settings is not None:
        yield Store.connect(settings), settings
        return
    data_dir = local_store_dir(state_dir)
    url = running_server_url(data_dir)
    if url is not None:
        settings = RedisSettings.from_url(url)
        yield Store.connect(settings), settings
        return
    if not create_local and not (data_dir / "redis.conf").exists():
        raise ConfigError(
            f"no Redis given (--redis URL or {REDIS_URL_ENV}) and no local store in {data_dir}; "
            "`sweepctl run FILE` runs a sweep on a private local Redis"
        )
    server = open_local_server(data_dir)
    try:
        settings = RedisSettings.from_url(server.url)
        yield Store.connect(settings), settings
    finally:
        close_local_server(server)
