"""Redis settings from flags and environment (redaction, TLS options) and the Celery app built from them."""

from __future__ import annotations

import ssl
import time

import pytest

from sweepctl.celery_app import RedisTransport, make_celery
from sweepctl.errors import ConfigError
from sweepctl.settings import REDIS_URL_ENV, RedisSettings, redact

# --- redaction ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://alice:s3cret@redis.example:6380/2", "redis://alice:***@redis.example:6380/2"),
        ("redis://:s3cret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("rediss://bob:s3cret@host/0?ssl_cert_reqs=none", "rediss://bob:***@host/0?ssl_cert_reqs=none"),
    ],
)
def test_redact_hides_the_password_and_keeps_the_user(url: str, shown: str) -> None:
    assert redact(url) == shown
    assert RedisSettings.from_url(url).redacted == shown


def test_redact_leaves_a_url_without_password_alone() -> None:
    assert redact("redis://alice@host:6379/0") == "redis://alice@host:6379/0"


def test_errors_about_a_url_do_not_leak_its_password() -> None:
    with pytest.raises(ConfigError) as caught:
        RedisSettings.from_url("http://alice:s3cret@host:6379/0")
    assert "s3cret" not in str(caught.value) and "alice:***@host" in str(caught.value)


# --- building settings ------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://host:6379", "localhost:6379", "postgres://host/db"])
def test_a_url_that_is_not_redis_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="must start with redis://, rediss:// or unix://"):
        RedisSettings.from_url(url)


def test_a_url_without_host_is_refused() -> None:
    with pytest.raises(ConfigError, match="no host"):
        RedisSettings.from_url("redis:///0")


def test_the_flag_wins_over_the_environment() -> None:
    env = {REDIS_URL_ENV: "redis://from-env:6379/0"}
    assert RedisSettings.from_env("redis://from-flag:6379/0", env) == RedisSettings("redis://from-flag:6379/0")


def test_the_environment_is_used_without_a_flag() -> None:
    env = {REDIS_URL_ENV: "redis://from-env:6379/0"}
    assert RedisSettings.from_env(None, env) == RedisSettings("redis://from-env:6379/0")


def test_neither_flag_nor_environment_gives_none() -> None:
    assert RedisSettings.from_env(None, {}) is None


def test_from_env_reads_the_process_environment_when_called(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the variable set after import / When settings are built / Then it is seen
    monkeypatch.setenv(REDIS_URL_ENV, "redis://late:6379/0")
    assert RedisSettings.from_env(None) == RedisSettings("redis://late:6379/0")
    monkeypatch.delenv(REDIS_URL_ENV)
    assert RedisSettings.from_env(None) is None


def test_a_bad_environment_url_is_refused_too() -> None:
    with pytest.raises(ConfigError):
        RedisSettings.from_env(None, {REDIS_URL_ENV: "http://nope"})


# --- TLS ------------------------------------------------------------------------------------------


def test_plain_redis_uses_no_tls() -> None:
    settings = RedisSettings.from_url("redis://host:6379/0")
    assert not settings.uses_tls
    assert settings.celery_ssl_options() is None
    assert settings.celery_broker_url() == "redis://host:6379/0"


def test_rediss_verifies_certificates_by_default() -> None:
    settings = RedisSettings.from_url("rediss://:pw@host:6380/0")
    assert settings.uses_tls
    assert settings.celery_ssl_options() == {"ssl_cert_reqs": ssl.CERT_REQUIRED}


def test_tls_options_in_the_query_are_parsed_and_stripped_from_the_broker_url() -> None:
    # Given a rediss URL carrying redis-py's TLS options
    settings = RedisSettings.from_url("rediss://:pw@host:6380/0?ssl_cert_reqs=none&ssl_ca_certs=/x&ssl_certfile=/c&ssl_keyfile=/k")
    # Then Celery gets them as broker_use_ssl
    assert settings.celery_ssl_options() == {
        "ssl_cert_reqs": ssl.CERT_NONE,
        "ssl_ca_certs": "/x",
        "ssl_certfile": "/c",
        "ssl_keyfile": "/k",
    }
    # And the broker URL has no ssl_ option
    assert settings.celery_broker_url() == "rediss://:pw@host:6380/0"


@pytest.mark.parametrize(("word", "reqs"), [("required", ssl.CERT_REQUIRED), ("OPTIONAL", ssl.CERT_OPTIONAL), ("none", ssl.CERT_NONE)])
def test_each_cert_requirement_is_understood(word: str, reqs: ssl.VerifyMode) -> None:
    options = RedisSettings.from_url(f"rediss://host/0?ssl_cert_reqs={word}").celery_ssl_options()
    assert options == {"ssl_cert_reqs": reqs}


def test_an_unknown_cert_requirement_is_refused() -> None:
    with pytest.raises(ConfigError, match="ssl_cert_reqs must be one of"):
        RedisSettings.from_url("rediss://host/0?ssl_cert_reqs=sometimes").celery_ssl_options()


def test_the_redis_client_gets_the_same_tls_options() -> None:
    # Given a rediss URL / When a client is built (no connection is made yet)
    client = RedisSettings.from_url("rediss://host:6380/0?ssl_cert_reqs=none&ssl_ca_certs=/x").client()
    # Then its connections are TLS with the options from the URL
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["ssl_cert_reqs"] == ssl.CERT_NONE and kwargs["ssl_ca_certs"] == "/x"
    assert "SSL" in client.connection_pool.connection_class.__name__


# --- the Celery app ---------------------------------------------------------------------------------


def test_celery_accepts_json_only_and_never_loses_a_task() -> None:
    # Given plaintext Redis / When the Celery app is made
    conf = make_celery(RedisSettings.from_url("redis://:pw@host:6379/0")).conf
    # Then only JSON goes over the wire (pickle would be code execution for anyone who can write to Redis)
    assert list(conf.accept_content) == ["json"]
    assert (conf.task_serializer, conf.result_serializer, conf.event_serializer) == ("json", "json", "json")
    # And a task is acked only after it ran, re-queued if its worker dies, and reserved one at a time
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.broker_url == "redis://:pw@host:6379/0"
    assert not conf.broker_use_ssl


def test_celery_over_rediss_gets_broker_use_ssl() -> None:
    conf = make_celery(RedisSettings.from_url("rediss://:pw@host:6380/0?ssl_cert_reqs=optional&ssl_ca_certs=/ca.pem")).conf
    assert conf.broker_use_ssl == {"ssl_cert_reqs": ssl.CERT_OPTIONAL, "ssl_ca_certs": "/ca.pem"}
    assert conf.broker_url == "rediss://:pw@host:6380/0"


@pytest.mark.parametrize("url", ["redis://:pw@host:6379/0", "rediss://:pw@host:6380/0?ssl_cert_reqs=required"])
def test_both_schemes_use_our_redis_transport_and_tls_stays_on(url: str) -> None:
    # Given a plaintext or a TLS URL / When Celery opens its broker connection (not yet connecting)
    connection = make_celery(RedisSettings.from_url(url)).connection_for_write()
    # Then the transport is kombu's Redis transport with one client per pool, and TLS is as asked
    assert isinstance(connection.transport, RedisTransport)
    assert bool(connection.ssl) == url.startswith("rediss:")
    assert (connection.hostname, connection.password) == ("host", "pw")


def test_the_visibility_timeout_reaches_the_broker_transport() -> None:
    conf = make_celery(RedisSettings.from_url("redis://host/0"), visibility_timeout=123).conf
    assert conf.broker_transport_options["visibility_timeout"] == 123


# --- malformed URLs (issue 12, item 17) -------------------------------------------------------------

# Every URL carries the password "s3cret" where it can, to show that no message gives it away.
MALFORMED = {
    "port out of range": ("redis://:s3cret@localhost:99999/0", "bad port: expected a number from 1 to 65535"),
    "port not a number": ("redis://:s3cret@localhost:abc/0", "bad port: expected a number from 1 to 65535"),
    "port zero": ("redis://:s3cret@localhost:0/0", "bad port"),
    "empty port": ("redis://:s3cret@localhost:/0", "bad port"),
    "unclosed IPv6 bracket": ("redis://:s3cret@[::1/0", "bad IPv6 address: it goes in brackets"),
    "not IPv6 in brackets": ("redis://:s3cret@[zz]:6379", "bad IPv6 address"),
    "IPv6 without brackets": ("redis://:s3cret@::1:6379/0", "bad IPv6 address: it goes in brackets"),
    "text after the bracket": ("redis://:s3cret@[::1]x:6379/0", "bad IPv6 address"),
    "unix with nothing": ("unix://", "has no socket path"),
    "unix with only a password": ("unix://:s3cret@", "has no socket path"),
    "unix with a host": ("unix://:s3cret@localhost/run/redis.sock", "names a host"),
    "unix socket path too long": ("unix://:s3cret@/" + "d" * 120 + "/redis.sock", "a unix socket path is at most 107 bytes"),
    "unix db not a number": ("unix://:s3cret@/run/redis.sock?db=two", "bad db number in its db option"),
    "db not a number": ("redis://:s3cret@host/abc", "bad db number in its path"),
    "negative db": ("redis://:s3cret@host/-1", "bad db number in its path"),
    "db too large": ("redis://:s3cret@host/99999999999", "bad db number"),
    "db with extra path": ("redis://:s3cret@host/0/extra", "path that is not a db number"),
    "db in the query of a TCP URL": ("redis://:s3cret@host/0?db=2", "the db number goes in the path"),
    "unknown option": ("redis://:s3cret@host/0?socket_timeout=5", "unknown option 'socket_timeout'"),
    "TLS option on plaintext": ("redis://:s3cret@host/0?ssl_ca_certs=/ca.pem", "TLS options need a rediss:// URL"),
    "TLS option on a socket": ("unix://:s3cret@/run/redis.sock?ssl_cert_reqs=none", "TLS options need a rediss:// URL"),
    "option without a value": ("rediss://:s3cret@host/0?ssl_ca_certs=", "without a value"),
    "option given twice": ("rediss://:s3cret@host/0?ssl_ca_certs=/a&ssl_ca_certs=/b", "twice"),
    "password with an unencoded slash": ("redis://:s3/cret@host/0", "percent-encode '/', '?' and '#' in a password"),
    "password with an unencoded hash": ("redis://:s3#cret@host/0", "percent-encode '/', '?' and '#' in a password"),
    "fragment": ("redis://:s3cret@host/0#frag", "'#' fragment"),
    "carriage return from a .env file": ("redis://:s3cret@host:6379/0\r", "contains '\\r'"),
    "space in the host": ("redis://:s3cret@my host:6379/0", "contains ' '"),
    "celery's socket spelling": ("redis+socket://:s3cret@/run/redis.sock", "must start with redis://, rediss:// or unix://"),
    "socket without slashes": ("unix:/run/redis.sock", "must start with redis://, rediss:// or unix://"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_url_is_refused_naming_the_problem_but_not_the_password(case: str) -> None:
    # Given a malformed Redis URL
    url, problem = MALFORMED[case]
    # When settings are made from it
    with pytest.raises(ConfigError) as caught:
        RedisSettings.from_url(url)
    # Then the error names the problem, and shows the URL with its password hidden
    message = str(caught.value)
    assert problem in message, message
    assert message.startswith("Redis URL ") and "s3cret" not in message and "cret" not in message, message


def test_an_absurdly_long_url_is_refused_quickly_with_a_short_message() -> None:
    # Given a URL of a few megabytes (bigger than any environment variable may be)
    url = "redis://:s3cret@host/0?" + "a=" + "b" * 4_000_000
    # When settings are made from it / Then it is refused, and the message stays a line
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        RedisSettings.from_url(url)
    assert time.monotonic() - started < 5
    assert len(str(caught.value)) < 1000 and "unknown option 'a'" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:pa/ss@host:6379/0", "redis://:***@host:6379/0"),
        ("redis://alice:pa?ss@host/0", "redis://alice:***@host/0"),
        ("redis://:pa#ss@host/0", "redis://:***@host/0"),
        ("unix://:s3cret@/run/redis.sock?db=2", "unix://:***@/run/redis.sock?db=2"),
        ("alice:s3cret@host:6379", "alice:***@host:6379"),
    ],
)
def test_redact_hides_a_password_the_url_parser_would_misread(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_the_settings_repr_hides_the_password() -> None:
    assert repr(RedisSettings.from_url("redis://:s3cret@host:6379/0")) == "RedisSettings('redis://:***@host:6379/0')"


# --- what reaches the clients -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "host", "port", "db"),
    [
        ("redis://host", "host", 6379, 0),
        ("redis://host/", "host", 6379, 0),
        ("redis://host:6380/7", "host", 6380, 7),
        ("REDIS://host:6380/1", "host", 6380, 1),
        ("redis://[::1]:6381/2", "::1", 6381, 2),
        ("redis://[fe80::1%25eth0]/3", "fe80::1%eth0", 6379, 3),
    ],
)
def test_host_port_and_db_reach_redis_py_and_celery(url: str, host: str, port: int, db: int) -> None:
    # Given a TCP URL / When both clients are made (neither connects yet)
    settings = RedisSettings.from_url(url)
    kwargs = settings.client().connection_pool.connection_kwargs
    connection = make_celery(settings).connection_for_write()
    # Then redis-py and Celery's broker get the same host, port and db
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == (host, port, db)
    assert (connection.hostname, connection.port, int(connection.virtual_host)) == (host, port, db)


def test_a_percent_encoded_password_reaches_both_clients_decoded() -> None:
    # Given an ACL user and a password holding every character a URL reserves, percent-encoded
    settings = RedisSettings.from_url("redis://al%40ice:p%40s%3As%2Fw%3Fo%23rd%25@host:6379/0")
    # When both clients are made / Then both log in with the password as it really is
    kwargs = settings.client().connection_pool.connection_kwargs
    connection = make_celery(settings).connection_for_write()
    assert (kwargs["username"], kwargs["password"]) == ("al@ice", "p@s:s/w?o#rd%")
    assert (connection.userid, connection.password) == ("al@ice", "p@s:s/w?o#rd%")


@pytest.mark.parametrize(
    ("url", "path", "db", "password", "broker_url"),
    [
        ("unix:///run/redis/redis.sock", "/run/redis/redis.sock", 0, None, "redis+socket:///run/redis/redis.sock?virtual_host=0"),
        ("unix://:s3cret@/run/redis.sock?db=2", "/run/redis.sock", 2, "s3cret", "redis+socket://:s3cret@/run/redis.sock?virtual_host=2"),
        (
            "unix://bob:p%40ss@/run/my%20redis.sock?db=15",
            "/run/my redis.sock",
            15,
            "p@ss",
            "redis+socket://bob:p%40ss@/run/my%20redis.sock?virtual_host=15",
        ),
    ],
)
def test_a_unix_socket_url_reaches_redis_py_and_celery(url: str, path: str, db: int, password: str | None, broker_url: str) -> None:
    # Given a unix socket URL / When both clients are made (neither connects yet)
    settings = RedisSettings.from_url(url)
    pool = settings.client().connection_pool
    # Then redis-py connects to the socket, with the password and db
    assert pool.connection_class.__name__ == "UnixDomainSocketConnection"
    assert (pool.connection_kwargs["path"], pool.connection_kwargs["db"], pool.connection_kwargs["password"]) == (path, db, password)
    # And Celery's broker gets kombu's spelling of the same socket (tests/system/test_broker.py uses it for real),
    # on our transport, and shows it without the password
    assert settings.celery_broker_url() == broker_url
    connection = make_celery(settings).connection_for_write()
    assert isinstance(connection.transport, RedisTransport)
    assert password is None or password not in connection.as_uri()
    assert not settings.uses_tls and settings.celery_ssl_options() is None
