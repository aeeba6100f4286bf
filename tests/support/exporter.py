"""Reading the sweepctl exporter the way Prometheus does."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

Series = dict[str, list[tuple[dict[str, str], float]]]  # name -> [(labels, value)]


def scrape(port: int, timeout: float = 10.0) -> Series:
    """Every sample the exporter on 127.0.0.1:`port` serves now, by series name."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout).read().decode()
    series: Series = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series.setdefault(sample.name, []).append((sample.labels, sample.value))
    return series
