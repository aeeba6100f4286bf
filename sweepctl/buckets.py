"""Histogram buckets shared by the store (which counts into them) and the exporter (which publishes them).

Redis keeps one count per bucket index (non-cumulative) in the sweep's stats
hash; the exporter accumulates them into Prometheus' cumulative `le` buckets.
"""

from __future__ import annotations

# Seconds: trials run from seconds to days.
DURATION_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0)
# Seconds: a suggestion costs from microseconds (random) to a second (TPE at 10k trials).
SUGGESTION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def bucket_index(value: float, buckets: tuple[float, ...]) -> int:
    """Index of the first bucket whose upper bound holds `value`; len(buckets) for +Inf."""
    for i, upper in enumerate(buckets):
        if value <= upper:
            return i
    return len(buckets)


def cumulative(counts: dict[int, int], buckets: tuple[float, ...]) -> list[tuple[str, int]]:
    """Prometheus buckets: (le, cumulative count), ending with +Inf."""
    out, running = [], 0
    for i, upper in enumerate(buckets):
        running += counts.get(i, 0)
        out.append((repr(upper), running))
    running += counts.get(len(buckets), 0)
    out.append(("+Inf", running))
    return out
