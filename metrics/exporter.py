"""`sweepctl exporter`: a stateless Prometheus exporter reading Redis at scrape time.

Own registry (no process/platform collectors mixed in), one custom collector,
loopback by default. Redis being down is reported (sweepctl_exporter_redis_up 0),
never an HTTP error, so the RedisDown alert can tell it from the exporter being down.

Every scrape answers within its deadline (`--scrape-deadline`, below Prometheus'
scrape_timeout): a Redis that is up but does not answer (frozen, swapping, stuck
in a long script) is reported down in time, where a read left to the client's
socket timeout would make Prometheus give up on the exporter instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from metrics.families import health_families, memory_families, snapshot_families
from sweepctl.errors import StoreError, StoreForbidden, StoreUnavailable
from sweepctl.settings import DEFAULT_SCRAPE_DEADLINE, RedisSettings
from sweepctl.store import Store
from sweepctl.telemetry import (
    RedisMemory,
    TelemetrySnapshot,
    read_memory,
    read_snapshot,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Reading:
    """What one scrape read from Redis."""

    snapshot: TelemetrySnapshot
    memory: RedisMemory | None  # None when the exporter's ACL user may not run INFO


class OneReadAtATime(Generic[T]):
    """Runs `read` in a background thread and waits for it no longer than a deadline.

    A read stuck on a Redis that does not answer keeps its thread and its connection
    until the client's socket timeout ends it; until then no other read starts (a
    scrape waits for the stuck one within its own deadline), so a frozen Redis costs
    one thread and one connection however many scrapes come in, and a scrape after
    Redis thaws is not queued behind reads that piled up meanwhile.

    Thread safety: calls may come from several threads; they run one after another.
    """

    def __init__(self, read: Callable[[], T]) -> None:
        self._read = read
        self._lock = threading.Lock()
        self._running: Future[T] | None = None

    def __call__(self, deadline: float) -> T | None:
        """What a read started by this call returned, or None if the deadline passed first.

        Raises what the read raised.
        """
        ends = time.monotonic() + deadline
        if not self._lock.acquire(timeout=deadline):
            return None
        try:
            if self._running is not None and not _settled(self._running, ends):
                return None
            self._running = self._start()
            if not _settled(self._running, ends):
                return None
            return self._running.result()
        finally:
            self._lock.release()

    def _start(self) -> Future[T]:
        future: Future[T] = Future()

        def run() -> None:
            try:
                future.set_result(self._read())
            except BaseException as exc:  # noqa: BLE001  # handed to the scrape, which reports Redis errors as down
                future.set_exception(exc)

        # A daemon: a read stuck on a frozen Redis must not hold up the exporter's exit.
        threading.Thread(target=run, name="sweepctl-exporter-read", daemon=True).start()
        return future


def _settled(future: Future[T], ends: float) -> bool:
    """Wait for `future` until the monotonic time `ends`; True if it finished."""
    try:
        future.exception(timeout=max(0.0, ends - time.monotonic()))
    except TimeoutError:
        return False
    return True


class SweepctlCollector(Collector):
    """Reads one snapshot from Redis per scrape and turns it into metric families."""

    def __init__(self, store: Store, keep_finished_seconds: float, deadline: float = DEFAULT_SCRAPE_DEADLINE) -> None:
        self.store = store
        self.keep_finished_seconds = keep_finished_seconds
        self.deadline = deadline
        self._read = OneReadAtATime(self._read_redis)
        self._warned_info = False

    def describe(self) -> list[Metric]:
        return []  # keeps registration from triggering a scrape

    def collect(self) -> Iterator[Metric]:
        began = time.perf_counter()
        try:
            reading = self._read(self.deadline)
        except (StoreUnavailable, StoreError) as exc:
            log.warning("scrape without Redis: %s", exc)
            reading = None
        else:
            if reading is None:
                log.warning("scrape without Redis: no answer within the %.1f s scrape deadline", self.deadline)
        if reading is None:
            yield from health_families(False, time.perf_counter() - began)
            return
        yield from snapshot_families(reading.snapshot)
        if reading.memory is not None:
            yield from memory_families(reading.memory)
        yield from health_families(True, time.perf_counter() - began)

    def _read_redis(self) -> Reading:
        snapshot = read_snapshot(self.store, self.keep_finished_seconds)
        try:
            memory: RedisMemory | None = read_memory(self.store)
        except StoreForbidden as exc:
            # An ACL file from before the memory series: the rest still tells whether Redis is up.
            if not self._warned_info:
                log.warning("no Redis memory series: the exporter's ACL user may not run INFO (add +info): %s", exc)
                self._warned_info = True
            memory = None
        return Reading(snapshot, memory)


def exporter_store(settings: RedisSettings, deadline: float) -> Store:
    """A store whose every round trip gives up after `deadline` seconds, so a read stuck on a
    frozen Redis ends (and frees its connection) by the next scrape."""
    return Store(settings.client(socket_timeout=deadline, socket_connect_timeout=deadline))


def registry_for(store: Store, keep_finished_seconds: float, deadline: float = DEFAULT_SCRAPE_DEADLINE) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SweepctlCollector(store, keep_finished_seconds, deadline))
    return registry


def serve(
    store: Store, bind: str, port: int, keep_finished_seconds: float, stop: threading.Event, deadline: float = DEFAULT_SCRAPE_DEADLINE
) -> None:
    """Serve /metrics until `stop` is set; each scrape answers within `deadline` seconds."""
    server, thread = start_http_server(port, addr=bind, registry=registry_for(store, keep_finished_seconds, deadline))
    log.info("exporter on http://%s:%d/metrics", bind, port)
    try:
        stop.wait()
    finally:
        server.shutdown()
        thread.join(5)
