"""Connecting to Redis with a clear answer when the URL, the password or TLS is wrong."""

from __future__ import annotations

import socket
from typing import Any

import redis

from sweepctl.errors import StoreError
from sweepctl.settings import RedisSettings

# A TLS server answers a ClientHello within a round trip or two; a plaintext Redis never does
# (it waits for a newline that the handshake does not send), so this bounds how long that mistake takes to tell.
_TLS_ANSWER_SECONDS = 3.0


def checked_client(settings: RedisSettings) -> Any:
    """A client for `settings`, checked with a PING so a bad URL or password fails here, clearly (StoreError)."""
    client = settings.client()
    try:
        if settings.uses_tls:
            _ping_briefly(settings)  # a plaintext port is told in seconds, not after SOCKET_TIMEOUT_SECONDS
        client.ping()
    except redis.AuthenticationError as exc:
        raise StoreError(f"Redis at {settings.redacted} refused the credentials: {exc}") from exc
    except redis.RedisError as exc:
        raise StoreError(f"cannot reach Redis at {settings.redacted}: {exc}{_tls_hint(settings, exc)}") from exc
    return client


def _tls_hint(settings: RedisSettings, exc: BaseException) -> str:
    """A hint when the URL's TLS does not match the server's: the other scheme is wanted."""
    if settings.uses_tls:
        if isinstance(exc, redis.TimeoutError) and _answers_in_plaintext(settings):
            return "; the server did not answer the TLS handshake: is this a plaintext port? (then use a redis:// URL)"
        return ""
    if not isinstance(exc, redis.ConnectionError):
        return ""
    causes: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and len(causes) < 10:
        causes.append(cause)
        cause = cause.__cause__ or cause.__context__
    reset = any(isinstance(c, (ConnectionResetError, BrokenPipeError)) for c in causes)
    if reset or "closed by server" in str(exc):
        return "; it hung up on a plaintext connection: is this a TLS server? (then use a rediss:// URL)"
    return ""


def _answers_in_plaintext(settings: RedisSettings) -> bool:
    """Whether the server replies to a plaintext PING as Redis does (`+PONG`, `-NOAUTH ...`)."""
    address = settings.parsed.first_address  # with Sentinel, the first Sentinel: it is asked first, over TLS too
    if address is None:
        return False
    try:
        with socket.create_connection(address, timeout=_TLS_ANSWER_SECONDS) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(1) in (b"+", b"-")
    except OSError:
        return False


def _ping_briefly(settings: RedisSettings) -> None:
    """PING over TLS with a short handshake timeout; raise only when the port turns out to be plaintext.

    Any other failure is left to the PING with the full timeout that follows, which reports it.
    """
    probe = settings.client(socket_connect_timeout=_TLS_ANSWER_SECONDS)
    try:
        probe.ping()
    except redis.TimeoutError as exc:
        if _tls_hint(settings, exc):
            raise
    except redis.RedisError:
        pass
    finally:
        probe.close()
