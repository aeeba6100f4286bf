"""A fake `pynvml` for processes started by tests (put this folder first on PYTHONPATH).

The one sanctioned fake: NVML at the pynvml boundary, because test machines
have no GPU. GPUs come from $FAKE_NVML_GPUS, a JSON list of
{"uuid", "name", "pci_bus_id"} objects; unset or empty means "no driver".
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass


class NVMLError(Exception):
    pass


class NVMLError_DriverNotLoaded(NVMLError):
    pass


@dataclass
class _PciInfo:
    busId: str


def _gpus() -> list[dict[str, str]]:
    return list(json.loads(os.environ.get("FAKE_NVML_GPUS") or "[]"))


def nvmlInit() -> None:
    if not _gpus():
        raise NVMLError_DriverNotLoaded("Driver Not Loaded")


def nvmlShutdown() -> None:
    pass


def nvmlDeviceGetCount() -> int:
    return len(_gpus())


def nvmlDeviceGetHandleByIndex(index: int) -> int:
    return index


def nvmlDeviceGetUUID(handle: int) -> str:
    return _gpus()[handle]["uuid"]


def nvmlDeviceGetName(handle: int) -> bytes:
    return _gpus()[handle]["name"].encode()


def nvmlDeviceGetPciInfo(handle: int) -> _PciInfo:
    return _PciInfo(busId=_gpus()[handle]["pci_bus_id"])
