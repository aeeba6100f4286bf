"""A trial's GPU usage from the GPU samples taken while it ran: a running tally, and a thread-safe meter around it.

The tally keeps sums, not samples, so a trial of days costs the same few numbers
as one of seconds. Samples may arrive out of time order (the publisher's thread
and the runner's both take them): the energy counter is read at the earliest and
the latest sample, and power is integrated only over samples that move time forward.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace

from sweepctl.records import GpuSample, GpuUsage

MIB = 1024 * 1024


@dataclass(frozen=True)
class _Reading:
    """A value read at a time (an energy counter, or a power reading)."""

    time: float
    value: float


@dataclass(frozen=True)
class GpuUsageTally:
    """The running sums of one trial's GPU samples; `add` returns a new tally, `summary` the trial's `GpuUsage`."""

    samples: int = 0
    util_readings: int = 0
    util_sum: float = 0.0
    util_max: float | None = None
    memory_peak_mib: float | None = None
    first_energy: _Reading | None = None  # the energy counter (mJ) at the earliest sample that had it
    last_energy: _Reading | None = None  # ... and at the latest
    last_power: _Reading | None = None  # the latest power reading (W) integrated so far
    power_joules: float = 0.0
    power_intervals: int = 0

    def add(self, sample: GpuSample) -> GpuUsageTally:
        """This tally with one more sample counted."""
        tally = replace(self, samples=self.samples + 1)
        if sample.util_percent is not None:
            tally = replace(
                tally,
                util_readings=tally.util_readings + 1,
                util_sum=tally.util_sum + sample.util_percent,
                util_max=_max(tally.util_max, sample.util_percent),
            )
        if sample.fb_used_mib is not None:
            tally = replace(tally, memory_peak_mib=_max(tally.memory_peak_mib, sample.fb_used_mib))
        if sample.energy_mj is not None:
            tally = tally._with_energy(_Reading(sample.time, sample.energy_mj))
        if sample.power_w is not None:
            tally = tally._with_power(_Reading(sample.time, sample.power_w))
        return tally

    def _with_energy(self, reading: _Reading) -> GpuUsageTally:
        first, last = self.first_energy, self.last_energy
        return replace(
            self,
            first_energy=reading if first is None or reading.time < first.time else first,
            last_energy=reading if last is None or reading.time >= last.time else last,
        )

    def _with_power(self, reading: _Reading) -> GpuUsageTally:
        last = self.last_power
        if last is None:
            return replace(self, last_power=reading)
        if reading.time <= last.time:
            return self  # late or simultaneous: its interval is already counted
        joules = (reading.time - last.time) * (reading.value + last.value) / 2
        return replace(self, last_power=reading, power_joules=self.power_joules + joules, power_intervals=self.power_intervals + 1)

    @property
    def energy_joules(self) -> float | None:
        """The counter's increase when it has two readings and never went back (a driver reload resets it), else integrated power."""
        first, last = self.first_energy, self.last_energy
        if first is not None and last is not None and last.time > first.time and last.value >= first.value:
            return (last.value - first.value) / 1000.0
        return self.power_joules if self.power_intervals else None

    def summary(self) -> GpuUsage | None:
        """The trial's GPU usage, or None when no sample was counted."""
        if not self.samples:
            return None
        return GpuUsage(
            samples=self.samples,
            mean_util_percent=self.util_sum / self.util_readings if self.util_readings else None,
            max_util_percent=self.util_max,
            peak_memory_bytes=None if self.memory_peak_mib is None else round(self.memory_peak_mib * MIB),
            energy_joules=self.energy_joules,
        )


def _max(current: float | None, value: float) -> float:
    return value if current is None else max(current, value)


def summarize(samples: Iterable[GpuSample]) -> GpuUsage | None:
    """The GPU usage the samples show (in any order), or None when there are none."""
    tally = GpuUsageTally()
    for sample in samples:
        tally = tally.add(sample)
    return tally.summary()


TrialKey = tuple[str, int]  # (sweep id, trial number), as a GpuSample names the trial running on its GPU


class GpuUsageMeter:
    """Tallies the samples of the one trial running on a GPU now. Thread safe: any thread may call any method.

    A sample counts only when it names the trial begun last (`GpuSample.sweep`, `.trial`):
    one taken for the trial before, or between trials, is ignored.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trial: TrialKey | None = None
        self._tally = GpuUsageTally()

    @property
    def trial(self) -> TrialKey | None:
        """The trial being tallied, or None between trials."""
        with self._lock:
            return self._trial

    def begin(self, trial: TrialKey) -> None:
        """Start tallying `trial`, forgetting any earlier one's samples."""
        with self._lock:
            self._trial, self._tally = trial, GpuUsageTally()

    def add(self, sample: GpuSample) -> bool:
        """Count the sample if it is of the trial being tallied; whether it was counted."""
        with self._lock:
            if self._trial is None or (sample.sweep, sample.trial) != self._trial:
                return False
            self._tally = self._tally.add(sample)
            return True

    def finish(self) -> GpuUsage | None:
        """The tallied trial's usage (None without samples); the meter then ignores samples until the next `begin`."""
        with self._lock:
            summary = self._tally.summary() if self._trial is not None else None
            self._trial, self._tally = None, GpuUsageTally()
            return summary
