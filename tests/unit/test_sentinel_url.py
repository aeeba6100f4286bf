"""Sentinel URLs (redis+sentinel://, rediss+sentinel://) and the replica wait of every URL: parsed, refused, redacted, and
handed to redis-py and Celery as each expects (no connection is made: the clients connect lazily)."""

from __future__ import annotations

import ssl

import pytest

from sweepctl.celery_app import SentinelTransport, make_celery
from sweepctl.errors import ConfigError
from sweepctl.settings import (
    DEFAULT_REPLICA_TIMEOUT_MS,
    MAX_REPLICA_TIMEOUT_MS,
    MAX_SENTINELS,
    RedisScheme,
    RedisSettings,
    ReplicaWait,
    parse_redis_url,
    redact,
)

# --- good URLs ------------------------------------------------------------------------------------


def test_the_kubernetes_form_names_one_sentinel_the_master_and_the_db() -> None:
    # Given the URL form the Kubernetes manifests use
    parsed = parse_redis_url("redis+sentinel://worker:pw@redis-sentinel:26379/mymaster/0")
    # Then it names the Sentinel, the master and the db, and logs in to the master as the URL's user
    assert parsed.scheme is RedisScheme.SENTINEL and not parsed.scheme.uses_tls
    assert parsed.sentinel is not None
    assert parsed.sentinel.addresses == (("redis-sentinel", 26379),) and parsed.sentinel.master_name == "mymaster"
    assert (parsed.db, parsed.username, parsed.password) == (0, "worker", "pw")
    # And the Sentinels are asked without a login of their own, and results wait for one replica
    assert (parsed.sentinel.username, parsed.sentinel.password) == (None, None)
    assert parsed.replica_wait == ReplicaWait(1, DEFAULT_REPLICA_TIMEOUT_MS)
    assert parsed.host is None and parsed.first_address == ("redis-sentinel", 26379)


def test_several_sentinels_default_port_ipv6_and_encoded_credentials() -> None:
    url = "redis+sentinel://us%3Aer:p%40ss%2Fw@10.0.0.1,10.0.0.2:26380,[::1]:26381/cache.main-1/7"
    parsed = parse_redis_url(url)
    assert parsed.sentinel is not None
    assert parsed.sentinel.addresses == (("10.0.0.1", 26379), ("10.0.0.2", 26380), ("::1", 26381))
    assert (parsed.sentinel.master_name, parsed.db, parsed.username, parsed.password) == ("cache.main-1", 7, "us:er", "p@ss/w")


@pytest.mark.parametrize(("path", "db"), [("/mymaster", 0), ("/mymaster/", 0), ("/mymaster/3", 3), ("/mymaster/3/", 3)])
def test_the_db_after_the_master_name_is_optional(path: str, db: int) -> None:
    assert parse_redis_url(f"redis+sentinel://h{path}").db == db


def test_the_sentinels_own_login_and_the_replica_wait_come_from_the_query() -> None:
    parsed = parse_redis_url(
        "rediss+sentinel://w:pw@h1,h2/m?sentinel_username=watch&sentinel_password=s%26cret&replicas=2&replica_timeout_ms=250"
        "&ssl_ca_certs=/ca.pem"
    )
    assert parsed.scheme.uses_tls and parsed.tls is not None and parsed.tls.ca_certs == "/ca.pem"
    assert parsed.sentinel is not None and (parsed.sentinel.username, parsed.sentinel.password) == ("watch", "s&cret")
    assert parsed.replica_wait == ReplicaWait(2, 250)


@pytest.mark.parametrize(
    ("url", "wait"),
    [
        ("redis://h/0", ReplicaWait(0)),
        ("redis://h/0?replicas=1", ReplicaWait(1)),
        ("rediss://h/0?replicas=2&replica_timeout_ms=50", ReplicaWait(2, 50)),
        ("unix:///run/redis.sock?db=1&replicas=1", ReplicaWait(1)),
        ("redis+sentinel://h/m?replicas=0", ReplicaWait(0)),
    ],
)
def test_the_replica_wait_is_off_for_one_server_unless_asked_and_may_be_turned_off_with_sentinel(url: str, wait: ReplicaWait) -> None:
    assert parse_redis_url(url).replica_wait == wait


# --- bad URLs -------------------------------------------------------------------------------------

BAD = {
    "no master": ("redis+sentinel://h:26379", "has no master name"),
    "empty master": ("redis+sentinel://h:26379/", "has no master name"),
    "bad master": ("redis+sentinel://h/my%20master", "has a bad master name"),
    "no sentinel": ("redis+sentinel:///mymaster", "names no Sentinel"),
    "empty between commas": ("redis+sentinel://h1,,h2/m", "has an empty Sentinel address (number 2)"),
    "trailing comma": ("redis+sentinel://h1,/m", "has an empty Sentinel address (number 2)"),
    "bad port": ("redis+sentinel://h1,h2:0/m", "has a bad Sentinel address (number 2): a bad port"),
    "bad ipv6": ("redis+sentinel://[::1/m", "has a bad Sentinel address (number 1): a bad IPv6 address"),
    "twice": ("redis+sentinel://h:26379,h/m", "names Sentinel address number 2 twice"),
    "bad db": ("redis+sentinel://h/m/x", "has a bad db number in its path"),
    "long path": ("redis+sentinel://h/m/1/2", "has a path longer than /MASTER/db"),
    "db in query": ("redis+sentinel://h/m?db=1", "the db number goes in the path after the master's name"),
    "tls option without tls": ("redis+sentinel://h/m?ssl_ca_certs=/x", "TLS options need a rediss:// URL"),
    "sentinel option on plain": ("redis://:pw@h/0?sentinel_password=x", "Sentinel options need a redis+sentinel://"),
    "replicas not a number": ("redis+sentinel://h/m?replicas=one", "has replicas='one': expected a whole number from 0 to 100"),
    "too many replicas": ("redis://h/0?replicas=101", "expected a whole number from 0 to 100"),
    "wait forever": ("redis://h/0?replica_timeout_ms=0", f"expected a whole number from 1 to {MAX_REPLICA_TIMEOUT_MS}"),
    "wait past the socket timeout": (f"redis://h/0?replica_timeout_ms={MAX_REPLICA_TIMEOUT_MS + 1}", "replica_timeout_ms="),
    "given twice": ("redis+sentinel://h/m?replicas=1&replicas=2", "gives option 'replicas' twice"),
    "unknown scheme": ("sentinel://h:26379/m", "redis+sentinel:// or rediss+sentinel:// for Sentinel"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_malformed_sentinel_url_is_refused_naming_the_problem(case: str) -> None:
    url, problem = BAD[case]
    with pytest.raises(ConfigError) as caught:
        RedisSettings.from_url(url)
    assert problem in str(caught.value), str(caught.value)


def test_too_many_sentinels_are_refused() -> None:
    hosts = ",".join(f"h{i}" for i in range(MAX_SENTINELS + 1))
    with pytest.raises(ConfigError, match=f"names {MAX_SENTINELS + 1} Sentinels: at most {MAX_SENTINELS}"):
        parse_redis_url(f"redis+sentinel://{hosts}/m")


# --- passwords never shown ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis+sentinel://w:pw@h1,h2/m/0", "redis+sentinel://w:***@h1,h2/m/0"),
        ("redis+sentinel://h/m?sentinel_password=s3cret", "redis+sentinel://h/m?sentinel_password=***"),
        (
            "rediss+sentinel://w:pw@h/m?replicas=1&sentinel_password=s3cret&ssl_ca_certs=/ca.pem",
            "rediss+sentinel://w:***@h/m?replicas=1&sentinel_password=***&ssl_ca_certs=/ca.pem",
        ),
    ],
)
def test_every_password_of_a_sentinel_url_is_hidden(url: str, shown: str) -> None:
    assert redact(url) == shown
    assert repr(RedisSettings.from_url(url)) == f"RedisSettings({shown!r})"


def test_an_error_about_a_sentinel_url_shows_neither_password() -> None:
    with pytest.raises(ConfigError) as caught:
        RedisSettings.from_url("redis+sentinel://w:masterpw@h/m?sentinel_password=sentpw&replicas=x")
    assert "masterpw" not in str(caught.value) and "sentpw" not in str(caught.value)


# --- what the clients get -------------------------------------------------------------------------


def test_the_redis_client_follows_the_master_the_sentinels_name_with_the_usual_options() -> None:
    # Given a Sentinel URL with the master's user and the Sentinels' password / When a client is built
    settings = RedisSettings.from_url("redis+sentinel://w:pw@h1,h2:26380/mymaster/4?sentinel_password=sp")
    client = settings.client(socket_timeout=2.5)
    pool = client.connection_pool
    # Then its pool asks the Sentinels for the master and logs in there as the URL's user, decoding as every client does
    assert type(pool).__name__ == "SentinelConnectionPool" and pool.service_name == "mymaster"
    kwargs = pool.connection_kwargs
    assert (kwargs["db"], kwargs["username"], kwargs["password"], kwargs["decode_responses"]) == (4, "w", "pw", True)
    assert kwargs["socket_timeout"] == 2.5
    # And the Sentinels are asked with their own password and the same timeouts, not the master's login
    sentinels = pool.sentinel_manager.sentinels
    assert [(s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"]) for s in sentinels] == [
        ("h1", 26379),
        ("h2", 26380),
    ]
    sentinel_kwargs = sentinels[0].connection_pool.connection_kwargs
    assert sentinel_kwargs["password"] == "sp" and sentinel_kwargs.get("username") is None and sentinel_kwargs["socket_timeout"] == 2.5


def test_rediss_sentinel_uses_tls_to_the_sentinels_and_the_master() -> None:
    client = RedisSettings.from_url("rediss+sentinel://h/m?ssl_cert_reqs=none&ssl_ca_certs=/x").client()
    pool = client.connection_pool
    assert "SSL" in pool.connection_class.__name__ and pool.connection_kwargs["ssl_cert_reqs"] == ssl.CERT_NONE
    sentinel = pool.sentinel_manager.sentinels[0].connection_pool
    assert "SSL" in sentinel.connection_class.__name__ and sentinel.connection_kwargs["ssl_ca_certs"] == "/x"


def test_celery_reaches_the_master_through_kombus_sentinel_transport() -> None:
    # Given a Sentinel URL with TLS / When the Celery app is made and opens its broker connection (not yet connecting)
    settings = RedisSettings.from_url("rediss+sentinel://w:p%40w@h1,[::1]:26380/mymaster/2?sentinel_password=sp&ssl_ca_certs=/ca.pem")
    app = make_celery(settings)
    conf = app.conf
    # Then the broker URL is kombu's: one sentinel:// URL per Sentinel, joined by ';', each with the master's login and db
    assert conf.broker_url == "sentinel://w:p%40w@h1:26379/2;sentinel://w:p%40w@[::1]:26380/2"
    # And the master's name and the Sentinels' own login and TLS ride in the transport options, TLS to the master in broker_use_ssl
    options = conf.broker_transport_options
    assert options["master_name"] == "mymaster"
    assert options["sentinel_kwargs"]["password"] == "sp" and options["sentinel_kwargs"]["ssl"] is True
    assert conf.broker_use_ssl == {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": "/ca.pem"}
    connection = app.connection_for_write()
    assert isinstance(connection.transport, SentinelTransport)
    assert (connection.hostname, connection.port, connection.password) == ("h1", 26379, "p@w")
