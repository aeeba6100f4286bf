"""A running trial's reports, parsed from its stdout and waiting to be written: bounded whatever the trial prints."""

from __future__ import annotations

import collections
import threading
import time

from sweepctl.protocol import RejectedReport, classify_line
from sweepctl.records import MetricPoint
from sweepctl.store import METRICS_MAX

# Metric points a running trial may have waiting for Redis (an outage, a full Redis): as many as a
# trial's history keeps (METRICS_MAX), so no outage shorter than the whole history loses a point.
MAX_BUFFERED_POINTS = METRICS_MAX
# Distinct metric names one trial may report; a report adding a name past it is rejected (counted in
# rejected_reports as too_many_metric_names), so `last_metrics` stays small whatever a trial prints.
MAX_METRIC_NAMES = 1000


class MetricBuffer:
    """Reports parsed from stdout, collected by the reader thread and drained by the runner.

    Each accepted point gets the attempt's next number (0, 1, ...), which the
    store uses to append a retried write only once. Bounded: during an outage
    longer than MAX_BUFFERED_POINTS points the oldest are dropped (and counted).
    """

    def __init__(self, metric: str | None) -> None:
        self.metric = metric  # the sweep's metric, whose last value is kept; None: the sweep has none
        self._points: collections.deque[MetricPoint] = collections.deque()
        self._first = 0  # the number of _points[0]
        self._lock = threading.Lock()
        self.last_value: float | None = None
        self.last_values: dict[str, float] = {}
        self.last_step: int | None = None
        self.count = 0
        self.dropped = 0
        self.rejected: dict[str, int] = {}

    def feed(self, line: str) -> None:
        """Take one line of the trial's stdout: a report is counted (and kept, or rejected with its reason); other lines are ignored."""
        report = classify_line(line)
        if report is None:
            return
        with self._lock:
            if isinstance(report, RejectedReport):
                self._reject(report.reason)
                return
            new_names = report.values.keys() - self.last_values.keys()
            if new_names and len(self.last_values) + len(new_names) > MAX_METRIC_NAMES:
                self._reject("too_many_metric_names")
                return
            self._points.append(MetricPoint(time=time.time(), step=report.step, values=report.values))
            self._drop_excess()
            self.last_values.update(report.values)
            if report.step is not None:
                self.last_step = report.step
            if self.metric is not None and self.metric in report.values:
                self.last_value = report.values[self.metric]
            self.count += 1

    def _reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def _drop_excess(self) -> None:
        while len(self._points) > MAX_BUFFERED_POINTS:
            self._points.popleft()
            self._first += 1
            self.dropped += 1

    def drain(self) -> tuple[int, list[MetricPoint]]:
        """The waiting points and the number of the first."""
        with self._lock:
            first, points = self._first, list(self._points)
            self._points.clear()
            self._first += len(points)
            return first, points

    def put_back(self, first: int, points: list[MetricPoint]) -> None:
        """Return points whose write failed (numbered from `first`), ahead of newer ones."""
        with self._lock:
            self._points.extendleft(reversed(points))
            self._first = first
            self._drop_excess()

    def summary(self) -> dict[str, object]:
        """What the trial's record says about its reports so far (the store's fields of that name)."""
        with self._lock:
            return {
                "last_metrics": dict(self.last_values),
                "last_step": self.last_step,
                "reports": self.count,
                "rejected_reports": dict(self.rejected),
            }
