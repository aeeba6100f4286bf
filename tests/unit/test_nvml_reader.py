"""NvmlReader against the fake at the pynvml boundary: several GPUs, errors mid-read, no library, no driver."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from sweepctl.nvml import NvmlReader

FAKE = Path(__file__).resolve().parents[1] / "support" / "fake_nvml" / "pynvml.py"
GPUS = [
    {"uuid": "GPU-a", "name": "NVIDIA H100", "pci_bus_id": "00000000:18:00.0", "util": 97, "mem_util": 40, "used_mib": 70000,
     "total_mib": 81559, "temp": 71, "power_mw": 650_000, "energy_mj": 9_000_000, "sm_clock": 1980, "mem_clock": 2619, "xid": 79},
    {"uuid": "GPU-b", "name": "NVIDIA H100", "pci_bus_id": "00000000:2A:00.0", "fail": ["temperature", "power"]},
]


@pytest.fixture
def fake_pynvml(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("pynvml", FAKE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "pynvml", module)  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    monkeypatch.setenv("FAKE_NVML_GPUS", json.dumps(GPUS))
    return module


def test_reads_every_field_of_each_gpu_by_uuid(fake_pynvml: ModuleType) -> None:
    reader = NvmlReader()
    a = reader.read("GPU-a")
    assert a is not None
    assert (a.util_percent, a.mem_copy_util_percent, a.temp_c, a.power_w) == (97.0, 40.0, 71.0, 650.0)
    assert (a.fb_used_mib, a.fb_total_mib, a.fb_free_mib) == (70000.0, 81559.0, 11559.0)
    assert (a.energy_mj, a.sm_clock_mhz, a.mem_clock_mhz) == (9_000_000.0, 1980.0, 2619.0)
    assert a.xid == 79.0  # the XID event, and it stays the last one seen
    assert reader.read("GPU-a").xid == 79.0  # type: ignore[union-attr]
    info = reader.info("GPU-b")
    assert info is not None and (info.index, info.pci_bus_id) == (1, "00000000:2A:00.0")


def test_a_gpu_that_errors_mid_read_still_reports_the_rest(fake_pynvml: ModuleType) -> None:
    b = NvmlReader().read("GPU-b")
    assert b is not None
    assert b.temp_c is None and b.power_w is None
    assert b.util_percent == 50.0 and b.fb_total_mib == 81559.0 and b.xid == 0.0


def test_an_unknown_gpu_reads_as_none(fake_pynvml: ModuleType) -> None:
    assert NvmlReader().read("GPU-gone") is None


def test_no_driver_means_no_telemetry_not_a_crash(fake_pynvml: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_NVML_GPUS", "")
    reader = NvmlReader()
    assert reader.available is False and reader.read("GPU-a") is None and reader.info("GPU-a") is None


def test_no_library_means_no_telemetry_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml raises ImportError
    reader = NvmlReader()
    assert reader.available is False and reader.read("GPU-a") is None
