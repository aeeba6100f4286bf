"""Publishing the worker's GPU to Redis every few seconds, tagged with the trial running on it now,
and tallying those samples into each trial's GPU usage.

Samples expire after three intervals, so a dead worker's GPUs disappear from
the exporter by themselves. No NVML, or a GPU NVML does not know, publishes
nothing and is never an error; its trials record no GPU usage.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable

from sweepctl.analysis.gpu_usage import GpuUsageMeter
from sweepctl.errors import StoreError, StoreUnavailable
from sweepctl.nvml import GpuInfo, NvmlReader
from sweepctl.records import GpuSample, GpuUsage
from sweepctl.store import Store
from sweepctl.telemetry import publish_gpu_sample
from sweepctl.worker_settings import DEFAULT_GPU_SAMPLE_SECONDS
from workers.identity import WorkerIdentity

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = DEFAULT_GPU_SAMPLE_SECONDS


def sample_gpu(
    reader: NvmlReader, identity: WorkerIdentity, current: tuple[str, int] | None, info: GpuInfo | None = None
) -> GpuSample | None:
    """One sample of the worker's GPU, or None when NVML cannot read it (`info`, when known, saves looking the GPU up)."""
    gpu = identity.gpu
    if gpu is None:
        return None
    reading = reader.read(gpu.uuid)
    info = info or reader.info(gpu.uuid)
    if reading is None or info is None:
        return None
    return GpuSample(
        host=identity.host,
        index=info.index,
        uuid=gpu.uuid,
        name=info.name,
        pci_bus_id=info.pci_bus_id,
        time=time.time(),
        sweep=None if current is None else current[0],
        trial=None if current is None else current[1],
        worker=identity.worker_id if current is not None else None,
        **dataclasses.asdict(reading),
    )


def publish_forever(
    store: Store,
    identity: WorkerIdentity,
    current: Callable[[], tuple[str, int] | None],
    stop: threading.Event,
    interval: float = DEFAULT_INTERVAL,
    usage: TrialGpuUsage | None = None,
) -> None:
    """Sample and publish until `stop` is set (run it in a daemon thread); each sample also counts into `usage`."""
    reader = NvmlReader()
    try:
        while not stop.is_set():
            sample = sample_gpu(reader, identity, current())
            if sample is not None:
                if usage is not None:
                    usage.add(sample)  # before publishing: an outage loses no sample of the trial
                try:
                    publish_gpu_sample(store, sample, ttl=3 * interval)
                except (StoreUnavailable, StoreError) as exc:
                    log.warning("GPU sample not published: %s", exc)
            stop.wait(interval)
    finally:
        reader.close()


class TrialGpuUsage:
    """The GPU usage of each trial this worker's GPU runs: the publisher's samples of it, plus one as it starts and one as it ends.

    `begin` and `end` are called by the runner's thread, which reads NVML with a reader
    of its own (a reader is not thread safe); `add`, by the publisher's thread. Even a
    trial shorter than the publishing interval gets two samples. Reading the GPU never
    fails a trial: a failed reading only means one sample fewer.
    """

    def __init__(self, identity: WorkerIdentity) -> None:
        self.identity = identity
        self.meter = GpuUsageMeter()
        self._reader: NvmlReader | None = None
        self._info: GpuInfo | None = None

    def begin(self, sweep_id: str, number: int) -> None:
        """The trial `number` of `sweep_id` starts on the GPU: tally its samples from now, this first one included."""
        self.meter.begin((sweep_id, number))
        self._sample_now((sweep_id, number))

    def add(self, sample: GpuSample) -> None:
        """Count a sample taken elsewhere (the publisher's) if it is of the trial running now."""
        self.meter.add(sample)

    def end(self) -> GpuUsage | None:
        """The trial ends: one last sample, and its usage (None when NVML gave no sample of it)."""
        trial = self.meter.trial
        if trial is not None:
            self._sample_now(trial)
        return self.meter.finish()

    def _sample_now(self, trial: tuple[str, int]) -> None:
        try:
            if self._reader is None:
                self._reader = NvmlReader()
            if self.identity.gpu is not None and self._info is None:
                self._info = self._reader.info(self.identity.gpu.uuid)
            sample = sample_gpu(self._reader, self.identity, trial, self._info)
        except Exception as exc:  # noqa: BLE001  # telemetry never fails a trial
            log.warning("GPU sample for trial %s/%s not taken: %s", trial[0], trial[1], exc)
            return
        if sample is not None:
            self.meter.add(sample)

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
