"""`sweepctl exporter`: a stateless Prometheus exporter reading Redis at scrape time.

Own registry (no process/platform collectors mixed in), one custom collector,
loopback by default. Redis being down is reported (sweepctl_exporter_redis_up 0),
never an HTTP error, so the RedisDown alert can tell it from the exporter being down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import redis
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from metrics.families import health_families, snapshot_families
from sweepctl.store import Store
from sweepctl.telemetry import read_snapshot

log = logging.getLogger(__name__)

DEFAULT_PORT = 9839
DEFAULT_KEEP_FINISHED_HOURS = 24.0


class SweepctlCollector(Collector):
    """Reads one snapshot from Redis per scrape and turns it into metric families."""

    def __init__(self, store: Store, keep_finished_seconds: float) -> None:
        self.store = store
        self.keep_finished_seconds = keep_finished_seconds

    def describe(self) -> list[Metric]:
        return []  # keeps registration from triggering a scrape

    def collect(self) -> Iterator[Metric]:
        began = time.perf_counter()
        try:
            families = list(snapshot_families(read_snapshot(self.store, self.keep_finished_seconds)))
        except redis.RedisError as exc:
            log.warning("scrape without Redis: %s", exc)
            yield from health_families(False, time.perf_counter() - began)
            return
        yield from families
        yield from health_families(True, time.perf_counter() - began)


def registry_for(store: Store, keep_finished_seconds: float) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SweepctlCollector(store, keep_finished_seconds))
    return registry


def serve(store: Store, bind: str, port: int, keep_finished_seconds: float, stop: threading.Event) -> None:
    """Serve /metrics until `stop` is set."""
    server, thread = start_http_server(port, addr=bind, registry=registry_for(store, keep_finished_seconds))
    log.info("exporter on http://%s:%d/metrics", bind, port)
    try:
        stop.wait()
    finally:
        server.shutdown()
        thread.join(5)
