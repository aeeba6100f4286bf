"""Settings built once from flags and environment; nothing reads the environment at import time.

A Redis URL's parts and limits (`sweepctl.redis_url`) are named here too, where the rest of
sweepctl imports them from.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from sweepctl.redis_url import (
    DEFAULT_REDIS_PORT,
    DEFAULT_REPLICA_TIMEOUT_MS,
    DEFAULT_SENTINEL_PORT,
    DEFAULT_SENTINEL_REPLICAS,
    MAX_REDIS_DB,
    MAX_REPLICA_TIMEOUT_MS,
    MAX_REPLICAS,
    MAX_SENTINELS,
    MAX_SOCKET_PATH_BYTES,
    SOCKET_TIMEOUT_SECONDS,
    ParsedRedisUrl,
    RedisScheme,
    ReplicaWait,
    SentinelOptions,
    TlsOptions,
    parse_redis_url,
    redact,
)

__all__ = [
    "DEFAULT_EXPORTER_PORT",
    "DEFAULT_KEEP_FINISHED_HOURS",
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_REDIS_PORT",
    "DEFAULT_REPLICA_TIMEOUT_MS",
    "DEFAULT_SCRAPE_DEADLINE",
    "DEFAULT_SENTINEL_PORT",
    "DEFAULT_SENTINEL_REPLICAS",
    "MAX_REDIS_DB",
    "MAX_REPLICAS",
    "MAX_REPLICA_TIMEOUT_MS",
    "MAX_SENTINELS",
    "MAX_SOCKET_PATH_BYTES",
    "ParsedRedisUrl",
    "REDIS_URL_ENV",
    "RedisScheme",
    "RedisSettings",
    "ReplicaWait",
    "SOCKET_TIMEOUT_SECONDS",
    "SentinelOptions",
    "TlsOptions",
    "VISIBILITY_TIMEOUT_ENV",
    "parse_redis_url",
    "redact",
]

REDIS_URL_ENV = "SWEEPCTL_REDIS_URL"
VISIBILITY_TIMEOUT_ENV = "SWEEPCTL_VISIBILITY_TIMEOUT"
# The exporter's defaults (`sweepctl exporter`); deploy/ and compose.yaml scrape this port.
# How long a running attempt stays ours without a heartbeat. Workers renew at a third of it,
# so a lost worker's trial is re-queued within this long, and a GC pause or a short Redis
# blip of less than two thirds of it costs nothing. (Here, not in the store, so that the
# launcher, which reads the worker settings, need not import the store and redis.)
DEFAULT_LEASE_SECONDS = 30.0
DEFAULT_EXPORTER_PORT = 9839
DEFAULT_KEEP_FINISHED_HOURS = 24.0  # how long ended sweeps stay in the metrics
# Well below the 10 s scrape_timeout of deploy/prometheus/prometheus.yml, so that a
# "Redis down" answer reaches Prometheus before it gives up on the scrape.
DEFAULT_SCRAPE_DEADLINE = 5.0


@dataclass(frozen=True)
class RedisSettings:
    """Where Redis is, as one URL that configures both redis-py and Celery's broker.

    Forms: `redis://[user:password@]host[:port][/db]`, the same with `rediss://` (TLS),
    `unix://[user:password@]/path/to/redis.sock[?db=N]`, and the master that Redis
    Sentinel names: `redis+sentinel://[user:password@]host[:port][,host[:port]...]/MASTER[/db]`
    (Sentinels' port 26379 by default; `rediss+sentinel://` for TLS to the Sentinels and
    the master alike). A password with reserved characters is percent-encoded (`p%40ss`
    for `p@ss`). TLS options ride in the query as redis-py spells them: `ssl_cert_reqs`
    (required|optional|none, default required), `ssl_ca_certs`, `ssl_certfile`, `ssl_keyfile`.

    With Sentinel, the URL's user and password are the master's (and its replicas') ACL
    user; the Sentinels are asked without a login unless the query gives theirs,
    `sentinel_username=` and `sentinel_password=` (Sentinel's own `requirepass`/ACL).
    Results wait for replicas (`replicas=N`, Redis WAIT, up to `replica_timeout_ms`):
    1 by default with Sentinel, 0 (off) otherwise; see ReplicaWait. The URL is checked
    when the settings are made, so every malformed URL is a ConfigError naming what is
    wrong, and none reaches a client.
    """

    url: str
    parsed: ParsedRedisUrl = field(init=False, compare=False)

    def __post_init__(self) -> None:
        # Checked here, once, so that no settings object holds a URL a client would choke on.
        object.__setattr__(self, "parsed", parse_redis_url(self.url))

    def __repr__(self) -> str:
        return f"RedisSettings({self.redacted!r})"  # never the password, wherever settings get logged

    @classmethod
    def from_url(cls, url: str) -> RedisSettings:
        return cls(url=url)

    @classmethod
    def from_env(cls, url: str | None, environ: Mapping[str, str] | None = None) -> RedisSettings | None:
        """The flag wins over SWEEPCTL_REDIS_URL; None when neither is given."""
        env = os.environ if environ is None else environ
        chosen = url or env.get(REDIS_URL_ENV)
        return cls.from_url(chosen) if chosen else None

    @property
    def uses_tls(self) -> bool:
        return self.parsed.scheme.uses_tls

    @property
    def redacted(self) -> str:
        """The URL with any password replaced, safe for logs and status output."""
        return redact(self.url)

    def client(self, **kwargs: Any) -> Any:
        """A redis-py client for this URL (decoded strings, health-checked connections).

        Built on a pool as `redis.Redis.from_url` builds it, so it keeps from_url's retry
        policy (none: our callers retry on their own terms), without a second URL parser.
        With Sentinel, a client of the master the Sentinels name (`_master_client`); the
        `socket_*` options of `kwargs` apply to the Sentinels too.
        """
        import redis

        parsed = self.parsed
        # Timeouts turn a partition into an error we retry, instead of a call that hangs forever.
        options: dict[str, Any] = {
            "db": parsed.db,
            "username": parsed.username,
            "password": parsed.password,
            "decode_responses": True,
            "health_check_interval": 30,
            "socket_timeout": SOCKET_TIMEOUT_SECONDS,
            "socket_connect_timeout": SOCKET_TIMEOUT_SECONDS,
        }
        if parsed.sentinel is not None:
            return self._master_client(options, kwargs)
        if parsed.socket_path is not None:
            options.update(path=parsed.socket_path, connection_class=redis.UnixDomainSocketConnection)
        else:
            options.update(host=parsed.host, port=parsed.port)
        if parsed.tls is not None:
            options.update(connection_class=redis.SSLConnection, **parsed.tls.as_kwargs())
        options.update(kwargs)
        client: Any = redis.Redis(connection_pool=redis.ConnectionPool(**options))
        client.auto_close_connection_pool = True  # close() closes its connections too, as from_url's does
        return client

    def _master_client(self, options: dict[str, Any], overrides: dict[str, Any]) -> Any:
        """A client of the master the Sentinels name: each new connection asks them where it is,
        so after a failover the next connection (our callers' retry) reaches the new master."""
        from redis.sentinel import Sentinel

        parsed = self.parsed
        assert parsed.sentinel is not None
        options.update(overrides)
        if parsed.tls is not None:
            options.update(ssl=True, **parsed.tls.as_kwargs())  # the Sentinel pool picks its TLS connection class
        manager = Sentinel(list(parsed.sentinel.addresses), sentinel_kwargs=self.sentinel_kwargs(overrides))
        return manager.master_for(parsed.sentinel.master_name, **options)

    def sentinel_kwargs(self, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """How redis-py (and kombu) connect to the Sentinels themselves: their login, TLS and timeouts."""
        parsed = self.parsed
        assert parsed.sentinel is not None
        options: dict[str, Any] = {
            "socket_timeout": SOCKET_TIMEOUT_SECONDS,
            "socket_connect_timeout": SOCKET_TIMEOUT_SECONDS,
            **{k: v for k, v in (overrides or {}).items() if k.startswith("socket_")},
        }
        if parsed.sentinel.username is not None:
            options["username"] = parsed.sentinel.username
        if parsed.sentinel.password is not None:
            options["password"] = parsed.sentinel.password
        if parsed.tls is not None:
            options.update(ssl=True, **parsed.tls.as_kwargs())
        return options

    def celery_transport_options(self) -> dict[str, Any]:
        """What kombu's Sentinel transport needs besides the URL (nothing for the other schemes)."""
        if self.parsed.sentinel is None:
            return {}
        return {"master_name": self.parsed.sentinel.master_name, "sentinel_kwargs": self.sentinel_kwargs()}

    def celery_ssl_options(self) -> dict[str, Any] | None:
        """`broker_use_ssl` for Celery, or None for plaintext Redis."""
        return None if self.parsed.tls is None else self.parsed.tls.as_kwargs()

    def celery_broker_url(self) -> str:
        """The broker URL in kombu's spelling, rebuilt from the checked parts.

        TLS options are left out (Celery takes them from broker_use_ssl). kombu's Redis
        transport reaches a unix socket as `redis+socket:///path`, with the database in
        `virtual_host` (it ignores a `db` query option). Sentinels are kombu's
        `sentinel://host:port/db` URLs joined by ';', the master's name and the Sentinels'
        own login in `celery_transport_options`.
        """
        parsed = self.parsed
        userinfo = ""
        if parsed.username is not None or parsed.password is not None:
            password = "" if parsed.password is None else ":" + quote(parsed.password, safe="")
            userinfo = f"{quote(parsed.username or '', safe='')}{password}@"
        if parsed.socket_path is not None:
            return f"redis+socket://{userinfo}{quote(parsed.socket_path)}?virtual_host={parsed.db}"
        if parsed.sentinel is not None:
            return ";".join(f"sentinel://{userinfo}{_bracketed(host)}:{port}/{parsed.db}" for host, port in parsed.sentinel.addresses)
        return f"{parsed.scheme.value}://{userinfo}{_bracketed(parsed.host or '')}:{parsed.port}/{parsed.db}"


def _bracketed(host: str) -> str:
    """A host as a URL spells it: an IPv6 address in brackets."""
    quoted = quote(host, safe=":")
    return f"[{quoted}]" if ":" in quoted else quoted
