"""The one module that imports pynvml (from nvidia-ml-py).

No library, no driver, or no GPU is a normal state: `list_gpus()` returns ()
and `NvmlReader.available` is False. NVML ignores CUDA_VISIBLE_DEVICES, so
indices here are physical indices and GPUs are found by UUID.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

MIB = 1024 * 1024


@dataclass(frozen=True)
class GpuInfo:
    index: int
    uuid: str
    name: str
    pci_bus_id: str


@dataclass(frozen=True)
class GpuReading:
    """What NVML says about one GPU now; a field is None when NVML could not read it."""

    util_percent: float | None
    mem_copy_util_percent: float | None
    fb_used_mib: float | None
    fb_free_mib: float | None
    fb_total_mib: float | None
    temp_c: float | None
    power_w: float | None
    energy_mj: float | None
    sm_clock_mhz: float | None
    mem_clock_mhz: float | None
    xid: float | None


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _nvml() -> Any | None:
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


def list_gpus() -> tuple[GpuInfo, ...]:
    """Every GPU NVML can see, in physical index order; () when there is no usable NVML."""
    pynvml = _nvml()
    if pynvml is None:
        return ()
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        log.info("no GPUs: NVML unavailable (%s)", exc)
        return ()
    try:
        return tuple(_info(pynvml, i) for i in range(pynvml.nvmlDeviceGetCount()))
    except pynvml.NVMLError as exc:
        log.warning("no GPUs: NVML failed while listing devices (%s)", exc)
        return ()
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass


def _info(pynvml: Any, index: int) -> GpuInfo:
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    return GpuInfo(
        index=index,
        uuid=_text(pynvml.nvmlDeviceGetUUID(handle)),
        name=_text(pynvml.nvmlDeviceGetName(handle)),
        pci_bus_id=_text(pynvml.nvmlDeviceGetPciInfo(handle).busId),
    )


class NvmlReader:
    """Reads GPUs by UUID for as long as it is open. Not thread safe: one reader per thread.

    Each field is read on its own, so a GPU that fails one query (unsupported,
    or an error mid-read) still reports the others; a GPU NVML no longer knows
    reads as None.
    """

    def __init__(self) -> None:
        self._pynvml: Any = _nvml()
        self.available = False
        self._handles: dict[str, Any] = {}
        self._events: dict[str, Any] = {}
        self._last_xid: dict[str, float] = {}
        if self._pynvml is None:
            return
        try:
            self._pynvml.nvmlInit()
            self.available = True
        except self._pynvml.NVMLError as exc:
            log.info("GPU telemetry off: NVML unavailable (%s)", exc)

    def info(self, uuid: str) -> GpuInfo | None:
        """Index, name and PCI bus of the GPU with this UUID, or None."""
        if not self.available:
            return None
        p = self._pynvml
        try:
            for index in range(p.nvmlDeviceGetCount()):
                found = _info(p, index)
                if found.uuid == uuid:
                    return found
        except p.NVMLError as exc:
            log.warning("NVML failed while looking for %s: %s", uuid, exc)
        return None

    def read(self, uuid: str) -> GpuReading | None:
        """The GPU's current reading, or None when NVML is unavailable or does not know the GPU."""
        if not self.available:
            return None
        p = self._pynvml
        handle = self._handle(uuid)
        if handle is None:
            return None
        util = self._field(lambda: p.nvmlDeviceGetUtilizationRates(handle))
        memory = self._field(lambda: p.nvmlDeviceGetMemoryInfo(handle))
        power = self._field(lambda: p.nvmlDeviceGetPowerUsage(handle))
        return GpuReading(
            util_percent=None if util is None else float(util.gpu),
            mem_copy_util_percent=None if util is None else float(util.memory),
            fb_used_mib=None if memory is None else memory.used / MIB,
            fb_free_mib=None if memory is None else memory.free / MIB,
            fb_total_mib=None if memory is None else memory.total / MIB,
            temp_c=self._number(lambda: p.nvmlDeviceGetTemperature(handle, p.NVML_TEMPERATURE_GPU)),
            power_w=None if power is None else power / 1000.0,
            energy_mj=self._number(lambda: p.nvmlDeviceGetTotalEnergyConsumption(handle)),
            sm_clock_mhz=self._number(lambda: p.nvmlDeviceGetClockInfo(handle, p.NVML_CLOCK_SM)),
            mem_clock_mhz=self._number(lambda: p.nvmlDeviceGetClockInfo(handle, p.NVML_CLOCK_MEM)),
            xid=self._xid(uuid, handle),
        )

    def _handle(self, uuid: str) -> Any | None:
        if uuid not in self._handles:
            try:
                self._handles[uuid] = self._pynvml.nvmlDeviceGetHandleByUUID(uuid)
            except self._pynvml.NVMLError as exc:
                log.warning("NVML does not know GPU %s: %s", uuid, exc)
                return None
        return self._handles[uuid]

    def _field(self, read: Callable[[], Any]) -> Any | None:
        try:
            return read()
        except self._pynvml.NVMLError:
            return None

    def _number(self, read: Callable[[], Any]) -> float | None:
        value = self._field(read)
        return None if value is None else float(value)

    def _xid(self, uuid: str, handle: Any) -> float | None:
        """The last XID error seen on the GPU (0 if none), from NVML's event API when it has one."""
        p = self._pynvml
        if uuid not in self._events:
            try:
                events = p.nvmlEventSetCreate()
                p.nvmlDeviceRegisterEvents(handle, p.nvmlEventTypeXidCriticalError, events)
                self._events[uuid] = events
            except (p.NVMLError, AttributeError):
                self._events[uuid] = None
        events = self._events[uuid]
        if events is None:
            return None
        while True:
            try:
                data = p.nvmlEventSetWait_v2(events, 0)
            except p.NVMLError:
                break  # a timeout: no event pending
            self._last_xid[uuid] = float(data.eventData)
        return self._last_xid.get(uuid, 0.0)

    def close(self) -> None:
        if self.available:
            try:
                self._pynvml.nvmlShutdown()
            except self._pynvml.NVMLError:
                pass
            self.available = False
