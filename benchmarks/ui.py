"""The live view at 10,000 trials: one render of a sweep's page, then what each further viewer costs.

Fills a private redis-server as benchmarks/report.py does, serves it with `sweepctl ui`'s server on a free loopback
port, and times the first GET of /sweep/ID (read from the store and render), a second GET (served from the cache),
and a GET of /sweep/ID/version (what every open page polls).

    python -m benchmarks.ui [--trials 10000] [--parameters 8]   (from the repository root)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from benchmarks.report import fill
from sweepctl.embedded import EmbeddedRedis
from sweepctl.pages.server import LiveView, serve
from sweepctl.settings import RedisSettings
from sweepctl.store import Store


def timed_get(url: str) -> tuple[float, int]:
    began = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as reply:
        size = len(reply.read())
    return time.perf_counter() - began, size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--parameters", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedRedis(data_dir=Path(tmp)) as server:
        store = Store.connect(RedisSettings.from_url(server.url))
        store.redis.config_set("appendonly", "no")  # filling, not durability, is measured here
        sweep_id = fill(store, args.trials, args.parameters)
        view, stop, urls = LiveView(store, source="bench", bind="127.0.0.1"), threading.Event(), []
        threading.Thread(target=serve, args=(view, 0, stop, urls.append), daemon=True).start()
        while not urls:
            time.sleep(0.05)
        first, size = timed_get(f"{urls[0]}sweep/{sweep_id}")
        cached, _ = timed_get(f"{urls[0]}sweep/{sweep_id}")
        version, _ = timed_get(f"{urls[0]}sweep/{sweep_id}/version")
        stop.set()
    figures = {"trials": args.trials, "first_get_seconds": round(first, 2), "page_mib": round(size / 2**20, 2),
               "cached_get_seconds": round(cached, 4), "version_get_seconds": round(version, 4), "renders": view.cache.renders}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
