"""Publishing the worker's GPU to Redis every few seconds, tagged with the trial running on it now.

Samples expire after three intervals, so a dead worker's GPUs disappear from
the exporter by themselves. No NVML, or a GPU NVML does not know, publishes
nothing and is never an error.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable

from sweepctl.errors import StoreError, StoreUnavailable
from sweepctl.nvml import NvmlReader
from sweepctl.records import GpuSample
from sweepctl.store import Store
from sweepctl.telemetry import publish_gpu_sample
from sweepctl.worker_settings import DEFAULT_GPU_SAMPLE_SECONDS
from workers.trial import WorkerIdentity

log = logging.getLogger(__name__)

DEFAULT_INTERVAL = DEFAULT_GPU_SAMPLE_SECONDS


def sample_gpu(reader: NvmlReader, identity: WorkerIdentity, current: tuple[str, int] | None) -> GpuSample | None:
    """One sample of the worker's GPU, or None when NVML cannot read it."""
    gpu = identity.gpu
    if gpu is None:
        return None
    reading = reader.read(gpu.uuid)
    info = reader.info(gpu.uuid)
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
) -> None:
    """Sample and publish until `stop` is set (run it in a daemon thread)."""
    reader = NvmlReader()
    try:
        while not stop.is_set():
            sample = sample_gpu(reader, identity, current())
            if sample is not None:
                try:
                    publish_gpu_sample(store, sample, ttl=3 * interval)
                except (StoreUnavailable, StoreError) as exc:
                    log.warning("GPU sample not published: %s", exc)
            stop.wait(interval)
    finally:
        reader.close()
