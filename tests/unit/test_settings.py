"""Redis settings from flags and environment (redaction, TLS options) and the Celery app built from them."""

from __future__ import annotations

import ssl

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
    # Given a rediss URL carrying redis-py's TLS options and one other option
    settings = RedisSettings.from_url(
        "rediss://:pw@host:6380/0?ssl_cert_reqs=none&ssl_ca_certs=/x&ssl_certfile=/c&ssl_keyfile=/k&socket_timeout=5"
    )
    # Then Celery gets them as broker_use_ssl
    assert settings.celery_ssl_options() == {
        "ssl_cert_reqs": ssl.CERT_NONE,
        "ssl_ca_certs": "/x",
        "ssl_certfile": "/c",
        "ssl_keyfile": "/k",
    }
    # And the broker URL keeps everything else but no ssl_ option
    assert settings.celery_broker_url() == "rediss://:pw@host:6380/0?socket_timeout=5"


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
