"""Settings built once from flags and environment; nothing reads the environment at import time."""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import quote, unquote, unquote_plus

from sweepctl.errors import ConfigError

REDIS_URL_ENV = "SWEEPCTL_REDIS_URL"
VISIBILITY_TIMEOUT_ENV = "SWEEPCTL_VISIBILITY_TIMEOUT"
SOCKET_TIMEOUT_SECONDS = 10.0  # longer than any blocking call we make (BLPOP waits 1 s)

DEFAULT_REDIS_PORT = 6379
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
MAX_REDIS_DB = 2**31 - 1  # Redis keeps its `databases` count in an int
# sun_path is 108 bytes on Linux, one of them the terminating NUL.
MAX_SOCKET_PATH_BYTES = 107

_CERT_REQS = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}
_TLS_OPTIONS = ("ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile")

# Each part up to the character that ends it, as RFC 3986 splits them; negated classes keep this linear.
_URL_PARTS = re.compile(r"(?P<scheme>[^:/?#]*)://(?P<authority>[^/?#]*)(?P<path>[^?#]*)(?:\?(?P<query>[^#]*))?(?:#.*)?", re.DOTALL)
_DB_PATH = re.compile(r"/?([^/]*)")
_DB = re.compile(r"[0-9]{1,10}")
_PORT = re.compile(r"[0-9]{1,5}")
_SHOWN_CHARS = 200  # of a URL or option echoed in an error


class RedisScheme(str, Enum):
    """How sweepctl reaches Redis: TCP, TCP with TLS, or a unix socket on this machine."""

    REDIS = "redis"
    REDISS = "rediss"
    UNIX = "unix"

    @property
    def uses_tls(self) -> bool:
        return self is RedisScheme.REDISS


@dataclass(frozen=True)
class TlsOptions:
    """The TLS options of a rediss:// URL (its query), as redis-py and Celery's broker_use_ssl take them."""

    cert_reqs: ssl.VerifyMode = ssl.CERT_REQUIRED
    ca_certs: str | None = None
    certfile: str | None = None
    keyfile: str | None = None

    def as_kwargs(self) -> dict[str, Any]:
        options: dict[str, Any] = {"ssl_cert_reqs": self.cert_reqs}
        for name, value in (("ssl_ca_certs", self.ca_certs), ("ssl_certfile", self.certfile), ("ssl_keyfile", self.keyfile)):
            if value is not None:
                options[name] = value
        return options


@dataclass(frozen=True)
class ParsedRedisUrl:
    """A Redis URL taken apart and checked: where the server is, who logs in, which database."""

    scheme: RedisScheme
    db: int = 0
    host: str | None = None  # TCP only; an IPv6 address without its brackets
    port: int | None = None  # TCP only
    socket_path: str | None = None  # unix:// only
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TlsOptions | None = None  # rediss:// only


@dataclass(frozen=True)
class RedisSettings:
    """Where Redis is, as one URL that configures both redis-py and Celery's broker.

    Forms: `redis://[user:password@]host[:port][/db]`, the same with `rediss://` (TLS),
    and `unix://[user:password@]/path/to/redis.sock[?db=N]`. A password with
    reserved characters is percent-encoded (`p%40ss` for `p@ss`). TLS options ride
    in the query as redis-py spells them: `ssl_cert_reqs` (required|optional|none,
    default required), `ssl_ca_certs`, `ssl_certfile`, `ssl_keyfile`. The URL is
    checked when the settings are made, so every malformed URL is a ConfigError
    naming what is wrong, and none reaches a client.
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

    def celery_ssl_options(self) -> dict[str, Any] | None:
        """`broker_use_ssl` for Celery, or None for plaintext Redis."""
        return None if self.parsed.tls is None else self.parsed.tls.as_kwargs()

    def celery_broker_url(self) -> str:
        """The broker URL in kombu's spelling, rebuilt from the checked parts.

        TLS options are left out (Celery takes them from broker_use_ssl). kombu's Redis
        transport reaches a unix socket as `redis+socket:///path`, with the database in
        `virtual_host` (it ignores a `db` query option).
        """
        parsed = self.parsed
        userinfo = ""
        if parsed.username is not None or parsed.password is not None:
            password = "" if parsed.password is None else ":" + quote(parsed.password, safe="")
            userinfo = f"{quote(parsed.username or '', safe='')}{password}@"
        if parsed.socket_path is not None:
            return f"redis+socket://{userinfo}{quote(parsed.socket_path)}?virtual_host={parsed.db}"
        host = quote(parsed.host or "", safe=":")
        if ":" in host:
            host = f"[{host}]"
        return f"{parsed.scheme.value}://{userinfo}{host}:{parsed.port}/{parsed.db}"


def parse_redis_url(url: str) -> ParsedRedisUrl:
    """Take a Redis URL apart, or raise ConfigError naming what is wrong (never the password)."""
    try:
        return _parse(url)
    except ConfigError as exc:
        raise ConfigError(f"Redis URL {_shown(url)} {exc}") from None


def _parse(url: str) -> ParsedRedisUrl:
    _check_characters(url)
    match = _URL_PARTS.fullmatch(url)
    if match is None or match["scheme"].lower() not in {s.value for s in RedisScheme}:
        raise ConfigError("must start with redis://, rediss:// or unix:// (a socket: unix:///path/to/redis.sock)")
    scheme = RedisScheme(match["scheme"].lower())
    userinfo, at, hostport = match["authority"].rpartition("@")
    username, password = _credentials(userinfo) if at else (None, None)
    query = _query(match["query"] or "", scheme)
    if scheme is RedisScheme.UNIX:
        if hostport:
            raise ConfigError("names a host: a unix socket URL has none, so write three slashes, e.g. unix:///run/redis/redis.sock")
        path = _socket_path(match["path"])
        db = _db(query.get("db", ""), "its db option")
        return ParsedRedisUrl(scheme, db, socket_path=path, username=username, password=password)
    host, port = _host_port(hostport)
    db = _db(_db_text(match["path"]), "its path")
    tls = _tls(query) if scheme.uses_tls else None
    return ParsedRedisUrl(scheme, db, host=host, port=port, username=username, password=password, tls=tls)


def _shown(url: str) -> str:
    """The URL for an error message: password hidden, and not a screenful."""
    shown = redact(url)
    return repr(shown if len(shown) <= _SHOWN_CHARS else shown[:_SHOWN_CHARS] + "...")


def _check_characters(url: str) -> None:
    """Refuse what no URL holds, and an '@' that the clients would read differently from what was meant."""
    bad = next((c for c in url if c.isspace() or not c.isprintable()), None)
    if bad is not None:
        raise ConfigError(f"contains {bad!r}: no spaces or control characters (a stray newline or carriage return?)")
    _, sep, rest = url.partition("://")
    authority_end = re.search(r"[/?#]|\Z", rest)
    if sep and authority_end is not None and "@" in rest[authority_end.start() :]:
        # A password with an unencoded '/', '?' or '#' ends the host part early, for every URL parser.
        raise ConfigError(
            "has an '@' after its host part: percent-encode '/', '?' and '#' in a password (%2F, %3F, %23) and write any other '@' as %40"
        )
    if "#" in url:
        raise ConfigError("has a '#' fragment: percent-encode a '#' in a password as %23")


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    user, has_password, password = userinfo.partition(":")
    return unquote(user) or None, (unquote(password) or None) if has_password else None


def _query(text: str, scheme: RedisScheme) -> dict[str, str]:
    """The query options, each known to this scheme and given once with a value."""
    allowed = {RedisScheme.REDIS: (), RedisScheme.REDISS: _TLS_OPTIONS, RedisScheme.UNIX: ("db",)}[scheme]
    options: dict[str, str] = {}
    for item in text.split("&") if text else []:
        raw_name, _, raw_value = item.partition("=")
        name, value = unquote_plus(raw_name), unquote_plus(raw_value)  # as redis-py's parse_qs reads them
        if name not in allowed:
            if name in _TLS_OPTIONS:
                hint = "TLS options need a rediss:// URL"
            elif name == "db":
                hint = f"the db number goes in the path, e.g. {scheme.value}://localhost:6379/2"
            else:
                hint = f"{scheme.value}:// URLs take {', '.join(allowed) or 'no query options'}"
            raise ConfigError(f"has an unknown option {name[:_SHOWN_CHARS]!r} in its query: {hint}")
        if not value:
            raise ConfigError(f"has option {name!r} without a value: write {name}=...")
        if name in options:
            raise ConfigError(f"gives option {name!r} twice")
        options[name] = value
    return options


def _socket_path(text: str) -> str:
    path = unquote(text)
    if not path:
        raise ConfigError("has no socket path: write unix:///path/to/redis.sock (or unix://:password@/path/to/redis.sock)")
    if not path.startswith("/"):
        raise ConfigError("needs an absolute socket path, e.g. unix:///run/redis/redis.sock")
    size = len(path.encode())
    if size > MAX_SOCKET_PATH_BYTES:
        raise ConfigError(f"has a socket path of {size} bytes: a unix socket path is at most {MAX_SOCKET_PATH_BYTES} bytes")
    return path


def _host_port(hostport: str) -> tuple[str, int]:
    """Host and port of a TCP URL; an IPv6 host is given in brackets and returned without them."""
    brackets = "has a bad IPv6 address: it goes in brackets, alone, e.g. redis://[::1]:6379/0"
    if hostport.startswith("["):
        quoted, closed, after = hostport[1:].partition("]")
        if not closed or (after and not after.startswith(":")):
            raise ConfigError(brackets)
        host = unquote(quoted)  # a zone is written %25eth0 (RFC 6874)
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigError(brackets) from None
        return host, _port(after[1:] if after else None)
    if "[" in hostport or "]" in hostport or hostport.count(":") > 1:
        raise ConfigError(brackets)
    host, colon, port_text = hostport.partition(":")
    if not host:
        raise ConfigError("has no host: e.g. redis://localhost:6379/0, or unix:///path/to/redis.sock for a socket")
    return unquote(host), _port(port_text if colon else None)


def _port(text: str | None) -> int:
    if text is None:
        return DEFAULT_REDIS_PORT
    if not _PORT.fullmatch(text) or not 1 <= int(text) <= 65535:
        raise ConfigError("has a bad port: expected a number from 1 to 65535 after the host, e.g. redis://localhost:6379/0")
    return int(text)


def _db_text(path: str) -> str:
    match = _DB_PATH.fullmatch(path)
    if match is None:
        raise ConfigError("has a path that is not a db number: expected /<db>, a whole number from 0, e.g. redis://localhost:6379/0")
    return match[1]


def _db(text: str, where: str) -> int:
    if text and (not _DB.fullmatch(text) or int(text) > MAX_REDIS_DB):
        raise ConfigError(f"has a bad db number in {where}: expected a whole number from 0 to {MAX_REDIS_DB}")
    return int(text or 0)


def _tls(query: dict[str, str]) -> TlsOptions:
    reqs = query.get("ssl_cert_reqs", "required").lower()
    if reqs not in _CERT_REQS:
        raise ConfigError(f"has ssl_cert_reqs={reqs[:_SHOWN_CHARS]!r}: ssl_cert_reqs must be one of {sorted(_CERT_REQS)}")
    return TlsOptions(_CERT_REQS[reqs], query.get("ssl_ca_certs"), query.get("ssl_certfile"), query.get("ssl_keyfile"))


def redact(url: str) -> str:
    """Replace the password of a URL with '***' (user names stay: they are not secret).

    Works on any text, malformed URLs included: everything between the user name and
    the last '@' is hidden, so a password with an unencoded '/', '?' or '#' (which ends
    the host part early for a URL parser) is hidden too, at worst with more around it.
    """
    head, sep, rest = url.partition("://")
    if not sep:
        head, rest = "", url
    at = rest.rfind("@")
    if at < 0:
        return url
    user, has_password, _ = rest[:at].partition(":")
    if not has_password:
        return url
    return f"{head}{sep}{user}:***{rest[at:]}"
