"""A fake `pynvml` for processes started by tests (put this folder first on PYTHONPATH).

The one sanctioned fake: NVML at the pynvml boundary, because test machines
have no GPU. GPUs come from $FAKE_NVML_GPUS, a JSON list of objects with
"uuid", "name", "pci_bus_id" and optional readings ("util", "mem_util",
"used_mib", "total_mib", "temp", "power_mw", "energy_mj", "sm_clock",
"mem_clock", "xid", and "energy_mj_per_s": the energy counter then
grows at that rate with the wall clock, as a real one does), plus "fail": [names of readings that raise NVMLError],
e.g. ["temperature"] for a GPU that errors mid-read. Unset or empty means
"no driver".
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

NVML_TEMPERATURE_GPU = 0
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2
nvmlEventTypeXidCriticalError = 8
MIB = 1024 * 1024


class NVMLError(Exception):
    pass


class NVMLError_DriverNotLoaded(NVMLError):
    pass


class NVMLError_NotFound(NVMLError):
    pass


class NVMLError_Timeout(NVMLError):
    pass


@dataclass
class _PciInfo:
    busId: str


@dataclass
class _Utilization:
    gpu: int
    memory: int


@dataclass
class _Memory:
    total: int
    free: int
    used: int


@dataclass
class _Event:
    eventData: int


def _gpus() -> list[dict[str, Any]]:
    return list(json.loads(os.environ.get("FAKE_NVML_GPUS") or "[]"))


def _gpu(handle: int, reading: str) -> dict[str, Any]:
    gpu = _gpus()[handle]
    if reading in gpu.get("fail", ()):
        raise NVMLError(f"fake failure reading {reading}")
    return gpu


def nvmlInit() -> None:
    if not _gpus():
        raise NVMLError_DriverNotLoaded("Driver Not Loaded")


def nvmlShutdown() -> None:
    pass


def nvmlDeviceGetCount() -> int:
    return len(_gpus())


def nvmlDeviceGetHandleByIndex(index: int) -> int:
    return index


def nvmlDeviceGetHandleByUUID(uuid: str | bytes) -> int:
    text = uuid.decode() if isinstance(uuid, bytes) else uuid
    for index, gpu in enumerate(_gpus()):
        if gpu["uuid"] == text:
            return index
    raise NVMLError_NotFound("Not Found")


def nvmlDeviceGetUUID(handle: int) -> str:
    return _gpus()[handle]["uuid"]


def nvmlDeviceGetName(handle: int) -> bytes:
    return _gpus()[handle]["name"].encode()


def nvmlDeviceGetPciInfo(handle: int) -> _PciInfo:
    return _PciInfo(busId=_gpus()[handle]["pci_bus_id"])


def nvmlDeviceGetUtilizationRates(handle: int) -> _Utilization:
    gpu = _gpu(handle, "utilization")
    return _Utilization(gpu=gpu.get("util", 50), memory=gpu.get("mem_util", 20))


def nvmlDeviceGetMemoryInfo(handle: int) -> _Memory:
    gpu = _gpu(handle, "memory")
    total, used = gpu.get("total_mib", 81559) * MIB, gpu.get("used_mib", 1024) * MIB
    return _Memory(total=total, free=total - used, used=used)


def nvmlDeviceGetTemperature(handle: int, sensor: int) -> int:
    return int(_gpu(handle, "temperature").get("temp", 40))


def nvmlDeviceGetPowerUsage(handle: int) -> int:
    return int(_gpu(handle, "power").get("power_mw", 120_000))


def nvmlDeviceGetTotalEnergyConsumption(handle: int) -> int:
    gpu = _gpu(handle, "energy")
    return int(gpu.get("energy_mj", 5_000_000) + gpu.get("energy_mj_per_s", 0) * time.time())


def nvmlDeviceGetClockInfo(handle: int, clock: int) -> int:
    gpu = _gpu(handle, "clocks")
    return int(gpu.get("sm_clock", 1980) if clock == NVML_CLOCK_SM else gpu.get("mem_clock", 2619))


def nvmlEventSetCreate() -> list[int]:
    return []


def nvmlDeviceRegisterEvents(handle: int, types: int, events: list[int]) -> None:
    xid = _gpu(handle, "events").get("xid")
    if xid:
        events.append(int(xid))


def nvmlEventSetWait_v2(events: list[int], timeout_ms: int) -> _Event:
    if not events:
        raise NVMLError_Timeout("Timeout")
    return _Event(eventData=events.pop(0))
