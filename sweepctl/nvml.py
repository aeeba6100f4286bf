"""The one module that imports pynvml (from nvidia-ml-py).

No library, no driver, or no GPU is a normal state: `list_gpus()` returns ().
NVML ignores CUDA_VISIBLE_DEVICES, so indices here are physical indices.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GpuInfo:
    index: int
    uuid: str
    name: str
    pci_bus_id: str


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def list_gpus() -> tuple[GpuInfo, ...]:
    """Every GPU NVML can see, in physical index order; () when there is no usable NVML."""
    try:
        import pynvml
    except ImportError:
        return ()
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        log.info("no GPUs: NVML unavailable (%s)", exc)
        return ()
    try:
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            gpus.append(
                GpuInfo(
                    index=index,
                    uuid=_text(pynvml.nvmlDeviceGetUUID(handle)),
                    name=_text(pynvml.nvmlDeviceGetName(handle)),
                    pci_bus_id=_text(pynvml.nvmlDeviceGetPciInfo(handle).busId),
                )
            )
        return tuple(gpus)
    except pynvml.NVMLError as exc:
        log.warning("no GPUs: NVML failed while listing devices (%s)", exc)
        return ()
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass
