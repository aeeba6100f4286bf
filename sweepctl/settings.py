"""Settings built once from flags and environment; nothing reads the environment at import time."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from sweepctl.errors import ConfigError

REDIS_URL_ENV = "SWEEPCTL_REDIS_URL"
VISIBILITY_TIMEOUT_ENV = "SWEEPCTL_VISIBILITY_TIMEOUT"
SOCKET_TIMEOUT_SECONDS = 10.0  # longer than any blocking call we make (BLPOP waits 1 s)

_CERT_REQS = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}


@dataclass(frozen=True)
class RedisSettings:
    """Where Redis is: a `redis://` or `rediss://` (TLS) URL, with optional user and password.

    TLS options ride in the URL query as redis-py spells them: `ssl_cert_reqs`
    (required|optional|none, default required), `ssl_ca_certs`, `ssl_certfile`,
    `ssl_keyfile`. The same URL configures redis-py and Celery's broker.
    """

    url: str

    @classmethod
    def from_url(cls, url: str) -> RedisSettings:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "unix"):
            raise ConfigError(f"Redis URL must start with redis://, rediss:// or unix://, got {redact(url)!r}")
        if parts.scheme != "unix" and not parts.hostname:
            raise ConfigError(f"Redis URL has no host: {redact(url)!r}")
        return cls(url=url)

    @classmethod
    def from_env(cls, url: str | None, environ: Mapping[str, str] | None = None) -> RedisSettings | None:
        """The flag wins over SWEEPCTL_REDIS_URL; None when neither is given."""
        env = os.environ if environ is None else environ
        chosen = url or env.get(REDIS_URL_ENV)
        return cls.from_url(chosen) if chosen else None

    @property
    def uses_tls(self) -> bool:
        return urlsplit(self.url).scheme == "rediss"

    @property
    def redacted(self) -> str:
        """The URL with any password replaced, safe for logs and status output."""
        return redact(self.url)

    def client(self, **kwargs: Any) -> Any:
        """A redis-py client for this URL (decoded strings, health-checked connections)."""
        import redis

        url, tls = self._split_tls()
        # Timeouts turn a partition into an error we retry, instead of a call that hangs forever.
        options: dict[str, Any] = {
            "decode_responses": True,
            "health_check_interval": 30,
            "socket_timeout": SOCKET_TIMEOUT_SECONDS,
            "socket_connect_timeout": SOCKET_TIMEOUT_SECONDS,
        }
        if self.uses_tls:
            options.update(tls)
        options.update(kwargs)
        return redis.Redis.from_url(url, **options)

    def celery_ssl_options(self) -> dict[str, Any] | None:
        """`broker_use_ssl` for Celery, or None for plaintext Redis."""
        if not self.uses_tls:
            return None
        return self._split_tls()[1]

    def celery_broker_url(self) -> str:
        """The broker URL without TLS query options (Celery takes those from broker_use_ssl)."""
        return self._split_tls()[0]

    def _split_tls(self) -> tuple[str, dict[str, Any]]:
        parts = urlsplit(self.url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        tls: dict[str, Any] = {}
        reqs = query.pop("ssl_cert_reqs", "required").lower()
        if reqs not in _CERT_REQS:
            raise ConfigError(f"ssl_cert_reqs must be one of {sorted(_CERT_REQS)}, got {reqs!r}")
        tls["ssl_cert_reqs"] = _CERT_REQS[reqs]
        for key in ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile"):
            if key in query:
                tls[key] = query.pop(key)
        return urlunsplit(parts._replace(query=urlencode(query))), tls


def redact(url: str) -> str:
    """Replace the password of a URL with '***' (user names stay: they are not secret)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))
