"""A running trial's reports, parsed from its stdout or read from its W&B run, waiting to be written: bounded whatever the trial does."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Iterator, Mapping, Sequence

from sweepctl.protocol import (
    MAX_METRICS_PER_REPORT,
    MAX_REPORT_CHARS,
    RejectedReport,
    Rejection,
    classify_line,
    format_report,
    metric_name_problem,
)
from sweepctl.records import MetricPoint
from sweepctl.spec import SweepSpec
from sweepctl.store import METRICS_MAX

# Metric points a running trial may have waiting for Redis (an outage, a full Redis): as many as a
# trial's history keeps (METRICS_MAX), so no outage shorter than the whole history loses a point.
MAX_BUFFERED_POINTS = METRICS_MAX
# Distinct metric names one trial may report; a report adding a name past it is rejected (counted in
# rejected_reports as too_many_metric_names), so `last_metrics` stays small whatever a trial prints.
MAX_METRIC_NAMES = 1000


class MetricBuffer:
    """Reports parsed from stdout (by the reader thread) or logged with `wandb.log` (`add_logged`), drained by the runner.

    Each accepted point gets the attempt's next number (0, 1, ...), which the
    store uses to append a retried write only once. Bounded: during an outage
    longer than MAX_BUFFERED_POINTS points the oldest are dropped (and counted).
    """

    def __init__(self, metric: str | None, others: Sequence[str] = ()) -> None:
        self.metric = metric  # the sweep's metric, whose last value is kept; None: the sweep has none
        self.others = tuple(others)  # the sweep's other objectives (several objectives), judged as `metric` is
        self._points: collections.deque[MetricPoint] = collections.deque()
        self._first = 0  # the number of _points[0]
        self._lock = threading.Lock()
        self.last_value: float | None = None
        self.last_values: dict[str, float] = {}
        self.final_values: dict[str, float] = {}  # the trial's W&B run summary, when it has one
        self.last_step: int | None = None
        self.count = 0
        self.dropped = 0
        self.rejected: dict[str, int] = {}

    @classmethod
    def for_sweep(cls, spec: SweepSpec) -> MetricBuffer:
        """The buffer of a trial of `spec`: its metric's value kept, and its other objectives' when it has several."""
        return cls(None if spec.metric is None else spec.metric.name, [m.name for m in spec.other_objectives])

    def feed(self, line: str) -> None:
        """Take one line of the trial's stdout: a report is counted (and kept, or rejected with its reason); other lines are ignored."""
        report = classify_line(line)
        if report is None:
            return
        with self._lock:
            if isinstance(report, RejectedReport):
                self._reject(report.reason)
                return
            self._add(report.step, report.values)

    def add_logged(self, step: int | None, values: Mapping[str, float]) -> None:
        """Take one row the trial logged with `wandb.log`: checked and counted as a report line is.

        Values whose name the protocol does not allow are left out (the row counts as
        one `bad_metric_name` rejection); a row over a report line's limits
        (MAX_METRICS_PER_REPORT values, MAX_REPORT_CHARS characters) becomes several
        points of the same step; a value too long for any line is an `oversized_report`.
        """
        with self._lock:
            allowed = {name: value for name, value in values.items() if metric_name_problem(name) is None}
            if len(allowed) < len(values):
                self._reject(Rejection.BAD_NAME.value)
            for part in _line_sized(step, allowed):
                if len(part) == 1 and len(format_report(step, part)) > MAX_REPORT_CHARS:
                    self._reject(Rejection.OVERSIZED.value)
                else:
                    self._add(step, part)

    def set_final(self, values: Mapping[str, float]) -> None:
        """The trial's W&B run summary as it stands: its entry for the sweep's metric is the objective."""
        with self._lock:
            self.final_values = {name: value for name, value in values.items() if metric_name_problem(name) is None}

    @property
    def objective_value(self) -> float | None:
        """The value the trial ends with: its W&B summary's (W&B's own rule) when it has one for the metric, else its last report."""
        with self._lock:
            if self.metric is None or self.metric not in self.final_values:
                return self.last_value
            return self.final_values[self.metric]

    @property
    def other_values(self) -> dict[str, float | None]:
        """The value each other objective ends with, by `objective_value`'s rule; None where it was never reported."""
        with self._lock:
            return {name: self.final_values.get(name, self.last_values.get(name)) for name in self.others}

    def _add(self, step: int | None, values: dict[str, float]) -> None:
        """Keep one accepted report (the lock held)."""
        new_names = values.keys() - self.last_values.keys()
        if new_names and len(self.last_values) + len(new_names) > MAX_METRIC_NAMES:
            self._reject("too_many_metric_names")
            return
        self._points.append(MetricPoint(time=time.time(), step=step, values=values))
        self._drop_excess()
        self.last_values.update(values)
        if step is not None:
            self.last_step = step
        if self.metric is not None and self.metric in values:
            self.last_value = values[self.metric]
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
            last = dict(self.last_values)
            for name, value in self.final_values.items():  # W&B shows a run's summary as its last values
                if name in last or len(last) < MAX_METRIC_NAMES or name in self.others:  # an objective is always kept
                    last[name] = value
            return {
                "last_metrics": last,
                "last_step": self.last_step,
                "reports": self.count,
                "rejected_reports": dict(self.rejected),
            }


def _line_sized(step: int | None, values: dict[str, float]) -> Iterator[dict[str, float]]:
    """`values` cut into parts a report line could carry: at most MAX_METRICS_PER_REPORT values, MAX_REPORT_CHARS characters."""
    part: dict[str, float] = {}
    size = len(format_report(step, {}))
    for name, value in values.items():
        token = len(format_report(None, {name: value})) + 1
        if part and (len(part) >= MAX_METRICS_PER_REPORT or size + token > MAX_REPORT_CHARS):
            yield part
            part, size = {}, len(format_report(step, {}))
        part[name] = value
        size += token
    if part:
        yield part
