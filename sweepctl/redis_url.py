"""Redis URLs taken apart and checked: every scheme sweepctl takes, its limits, and redaction of its passwords.

`sweepctl.settings.RedisSettings` holds one checked URL and builds clients from it; the
parsing lives here so that neither module outgrows a reader.
"""

from __future__ import annotations

import ipaddress
import re
import ssl
from dataclasses import dataclass, field
from enum import Enum
from typing import Any
from urllib.parse import unquote, unquote_plus

from sweepctl.errors import ConfigError

SOCKET_TIMEOUT_SECONDS = 10.0  # longer than any blocking call we make (BLPOP waits 1 s)
DEFAULT_REDIS_PORT = 6379
DEFAULT_SENTINEL_PORT = 26379
# Result writes wait for this many replicas (Redis WAIT) unless the URL says otherwise: one with a
# Sentinel URL (a failover must not lose an acknowledged result), none with a single server's URL.
DEFAULT_SENTINEL_REPLICAS = 1
DEFAULT_REPLICA_TIMEOUT_MS = 1000
MAX_REPLICAS = 100
# WAIT holds its connection: it must give up well before the socket timeout reads it as a dead server.
MAX_REPLICA_TIMEOUT_MS = int(SOCKET_TIMEOUT_SECONDS * 1000) // 2
MAX_SENTINELS = 32
MAX_REDIS_DB = 2**31 - 1  # Redis keeps its `databases` count in an int
# sun_path is 108 bytes on Linux, one of them the terminating NUL.
MAX_SOCKET_PATH_BYTES = 107

_CERT_REQS = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}
_TLS_OPTIONS = ("ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
_WAIT_OPTIONS = ("replicas", "replica_timeout_ms")
_SENTINEL_OPTIONS = ("sentinel_username", "sentinel_password")
_SECRET_OPTIONS = re.compile(r"((?:^|[?&])sentinel_password=)[^&#]*", re.IGNORECASE)
_MASTER_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")

# Each part up to the character that ends it, as RFC 3986 splits them; negated classes keep this linear.
_URL_PARTS = re.compile(r"(?P<scheme>[^:/?#]*)://(?P<authority>[^/?#]*)(?P<path>[^?#]*)(?:\?(?P<query>[^#]*))?(?:#.*)?", re.DOTALL)
_DB_PATH = re.compile(r"/?([^/]*)")
_DB = re.compile(r"[0-9]{1,10}")
_PORT = re.compile(r"[0-9]{1,5}")
_SHOWN_CHARS = 200  # of a URL or option echoed in an error


class RedisScheme(str, Enum):
    """How sweepctl reaches Redis: TCP, TCP with TLS, a unix socket on this machine, or the master Sentinel names."""

    REDIS = "redis"
    REDISS = "rediss"
    UNIX = "unix"
    SENTINEL = "redis+sentinel"
    SENTINEL_TLS = "rediss+sentinel"

    @property
    def uses_tls(self) -> bool:
        return self in (RedisScheme.REDISS, RedisScheme.SENTINEL_TLS)

    @property
    def uses_sentinel(self) -> bool:
        return self in (RedisScheme.SENTINEL, RedisScheme.SENTINEL_TLS)

    @property
    def query_options(self) -> tuple[str, ...]:
        """The query options a URL of this scheme takes."""
        tls = _TLS_OPTIONS if self.uses_tls else ()
        own = {RedisScheme.UNIX: ("db",), RedisScheme.SENTINEL: _SENTINEL_OPTIONS, RedisScheme.SENTINEL_TLS: _SENTINEL_OPTIONS}
        return (*own.get(self, ()), *tls, *_WAIT_OPTIONS)


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
class ReplicaWait:
    """How many replicas must hold a result before a worker is told it is recorded (Redis WAIT), and how long to wait.

    `replicas` 0 is off. A WAIT answered by fewer replicas within `timeout_ms` leaves the result
    unacknowledged: the store raises StoreUnavailable and the worker writes it again.
    """

    replicas: int = 0
    timeout_ms: int = DEFAULT_REPLICA_TIMEOUT_MS


@dataclass(frozen=True)
class SentinelOptions:
    """The Sentinels of a redis+sentinel:// URL, the master they name, and the sentinels' own login (if any)."""

    addresses: tuple[tuple[str, int], ...]  # (host, port); an IPv6 host without its brackets
    master_name: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ParsedRedisUrl:
    """A Redis URL taken apart and checked: where the server is, who logs in, which database."""

    scheme: RedisScheme
    db: int = 0
    host: str | None = None  # TCP only; an IPv6 address without its brackets
    port: int | None = None  # TCP only
    socket_path: str | None = None  # unix:// only
    username: str | None = None  # the master's (and replicas') user, with Sentinel too
    password: str | None = field(default=None, repr=False)
    tls: TlsOptions | None = None  # rediss:// and rediss+sentinel:// only
    sentinel: SentinelOptions | None = None  # redis+sentinel:// and rediss+sentinel:// only
    replica_wait: ReplicaWait = ReplicaWait()

    @property
    def first_address(self) -> tuple[str, int] | None:
        """The TCP address a client reaches first: the server, or the first Sentinel; None for a unix socket."""
        if self.sentinel is not None:
            return self.sentinel.addresses[0]
        return None if self.host is None or self.port is None else (self.host, self.port)


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
        raise ConfigError(
            "must start with redis://, rediss:// or unix:// (a socket: unix:///path/to/redis.sock),"
            " or redis+sentinel:// or rediss+sentinel:// for Sentinel (redis+sentinel://host:26379,host:26379/mymaster/0)"
        )
    scheme = RedisScheme(match["scheme"].lower())
    userinfo, at, hostport = match["authority"].rpartition("@")
    username, password = _credentials(userinfo) if at else (None, None)
    query = _query(match["query"] or "", scheme)
    wait = _replica_wait(query, scheme)
    if scheme is RedisScheme.UNIX:
        if hostport:
            raise ConfigError("names a host: a unix socket URL has none, so write three slashes, e.g. unix:///run/redis/redis.sock")
        path = _socket_path(match["path"])
        db = _db(query.get("db", ""), "its db option")
        return ParsedRedisUrl(scheme, db, socket_path=path, username=username, password=password, replica_wait=wait)
    tls = _tls(query) if scheme.uses_tls else None
    if scheme.uses_sentinel:
        master_name, db = _master_and_db(match["path"])
        sentinel = SentinelOptions(_sentinels(hostport), master_name, query.get("sentinel_username"), query.get("sentinel_password"))
        return ParsedRedisUrl(scheme, db, username=username, password=password, tls=tls, sentinel=sentinel, replica_wait=wait)
    host, port = _host_port(hostport)
    db = _db(_db_text(match["path"]), "its path")
    return ParsedRedisUrl(scheme, db, host=host, port=port, username=username, password=password, tls=tls, replica_wait=wait)


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
    allowed = scheme.query_options
    options: dict[str, str] = {}
    for item in text.split("&") if text else []:
        raw_name, _, raw_value = item.partition("=")
        name, value = unquote_plus(raw_name), unquote_plus(raw_value)  # as redis-py's parse_qs reads them
        if name not in allowed:
            if name in _TLS_OPTIONS:
                hint = "TLS options need a rediss:// URL (or rediss+sentinel://)"
            elif name in _SENTINEL_OPTIONS:
                hint = "Sentinel options need a redis+sentinel:// or rediss+sentinel:// URL"
            elif name == "db" and scheme.uses_sentinel:
                hint = f"the db number goes in the path after the master's name, e.g. {scheme.value}://localhost:26379/mymaster/2"
            elif name == "db":
                hint = f"the db number goes in the path, e.g. {scheme.value}://localhost:6379/2"
            else:
                hint = f"{scheme.value}:// URLs take {', '.join(allowed)}"
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


def _sentinels(hostports: str) -> tuple[tuple[str, int], ...]:
    """The Sentinels' addresses: host[:port] separated by commas, port 26379 unless given."""
    example = "e.g. redis+sentinel://10.0.0.1:26379,10.0.0.2:26379,10.0.0.3:26379/mymaster/0"
    if not hostports:
        raise ConfigError(f"names no Sentinel: {example}")
    parts = hostports.split(",")
    if len(parts) > MAX_SENTINELS:
        raise ConfigError(f"names {len(parts)} Sentinels: at most {MAX_SENTINELS}")
    addresses: list[tuple[str, int]] = []
    for i, part in enumerate(parts, 1):
        if not part:
            raise ConfigError(f"has an empty Sentinel address (number {i}): separate host:port pairs by single commas, {example}")
        try:
            address = _host_port(part, DEFAULT_SENTINEL_PORT)
        except ConfigError as exc:
            raise ConfigError(f"has a bad Sentinel address (number {i}): {str(exc).removeprefix('has ')}") from None
        if address in addresses:
            raise ConfigError(f"names Sentinel address number {i} twice")
        addresses.append(address)
    return tuple(addresses)


def _master_and_db(path: str) -> tuple[str, int]:
    """`/MASTER[/db]` of a Sentinel URL: the name the Sentinels know the master by, and the db (0 by default)."""
    example = "e.g. redis+sentinel://localhost:26379/mymaster/0"
    name_text, _, db_text = path.removeprefix("/").partition("/")
    if not name_text:
        raise ConfigError(f"has no master name: the path names the master the Sentinels watch, {example}")
    name = unquote(name_text)
    if not _MASTER_NAME.fullmatch(name):
        raise ConfigError(f"has a bad master name: 1 to 200 letters, digits, '.', '_' or '-', {example}")
    db_text = db_text.removesuffix("/")
    if "/" in db_text:
        raise ConfigError(f"has a path longer than /MASTER/db: {example}")
    return name, _db(db_text, "its path")


def _replica_wait(query: dict[str, str], scheme: RedisScheme) -> ReplicaWait:
    default = DEFAULT_SENTINEL_REPLICAS if scheme.uses_sentinel else 0
    replicas = _bounded(query, "replicas", 0, MAX_REPLICAS, default)
    timeout_ms = _bounded(query, "replica_timeout_ms", 1, MAX_REPLICA_TIMEOUT_MS, DEFAULT_REPLICA_TIMEOUT_MS)
    return ReplicaWait(replicas, timeout_ms)


def _bounded(query: dict[str, str], name: str, low: int, high: int, default: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    if not _DB.fullmatch(text) or not low <= int(text) <= high:
        raise ConfigError(f"has {name}={text[:_SHOWN_CHARS]!r}: expected a whole number from {low} to {high}")
    return int(text)


def _host_port(hostport: str, default_port: int = DEFAULT_REDIS_PORT) -> tuple[str, int]:
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
        return host, _port(after[1:] if after else None, default_port)
    if "[" in hostport or "]" in hostport or hostport.count(":") > 1:
        raise ConfigError(brackets)
    host, colon, port_text = hostport.partition(":")
    if not host:
        raise ConfigError("has no host: e.g. redis://localhost:6379/0, or unix:///path/to/redis.sock for a socket")
    return unquote(host), _port(port_text if colon else None, default_port)


def _port(text: str | None, default_port: int) -> int:
    if text is None:
        return default_port
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
    """Replace the passwords of a URL with '***' (user names stay: they are not secret).

    Works on any text, malformed URLs included: everything between the user name and
    the last '@' is hidden, so a password with an unencoded '/', '?' or '#' (which ends
    the host part early for a URL parser) is hidden too, at worst with more around it.
    A `sentinel_password=` option is hidden up to the next '&'.
    """
    head, sep, rest = url.partition("://")
    if not sep:
        head, rest = "", url
    at = rest.rfind("@")
    user, has_password, _ = rest[:at].partition(":")
    shown = f"{head}{sep}{user}:***{rest[at:]}" if at >= 0 and has_password else url
    return _SECRET_OPTIONS.sub(r"\1***", shown)
