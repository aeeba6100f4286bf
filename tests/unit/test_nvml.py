"""Listing GPUs through NVML, with a fake `pynvml` module standing in at the import boundary."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from sweepctl.nvml import GpuInfo, list_gpus


class NVMLError(Exception):
    """Stands in for pynvml.NVMLError."""


@dataclass
class PciInfo:
    busId: str | bytes


@dataclass
class FakeNvml:
    """The calls `list_gpus` makes, answered from `devices`; `fail` maps a call name to a raiser."""

    devices: list[tuple[Any, Any, Any]]  # (uuid, name, busId), each str or bytes
    fail: dict[str, Callable[[int | None], bool]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)

    def _maybe_fail(self, call: str, index: int | None = None) -> None:
        self.calls.append(call)
        if call in self.fail and self.fail[call](index):
            raise NVMLError(f"{call} failed")

    def module(self) -> types.ModuleType:
        fake = types.ModuleType("pynvml")
        fake.NVMLError = NVMLError  # type: ignore[attr-defined]

        def init() -> None:
            self._maybe_fail("nvmlInit")

        def shutdown() -> None:
            self._maybe_fail("nvmlShutdown")

        def count() -> int:
            self._maybe_fail("nvmlDeviceGetCount")
            return len(self.devices)

        def handle(index: int) -> int:
            self._maybe_fail("nvmlDeviceGetHandleByIndex", index)
            return index

        def uuid(h: int) -> Any:
            self._maybe_fail("nvmlDeviceGetUUID", h)
            return self.devices[h][0]

        def name(h: int) -> Any:
            self._maybe_fail("nvmlDeviceGetName", h)
            return self.devices[h][1]

        def pci(h: int) -> PciInfo:
            self._maybe_fail("nvmlDeviceGetPciInfo", h)
            return PciInfo(busId=self.devices[h][2])

        fake.nvmlInit = init  # type: ignore[attr-defined]
        fake.nvmlShutdown = shutdown  # type: ignore[attr-defined]
        fake.nvmlDeviceGetCount = count  # type: ignore[attr-defined]
        fake.nvmlDeviceGetHandleByIndex = handle  # type: ignore[attr-defined]
        fake.nvmlDeviceGetUUID = uuid  # type: ignore[attr-defined]
        fake.nvmlDeviceGetName = name  # type: ignore[attr-defined]
        fake.nvmlDeviceGetPciInfo = pci  # type: ignore[attr-defined]
        return fake


def install(monkeypatch: pytest.MonkeyPatch, nvml: FakeNvml) -> FakeNvml:
    monkeypatch.setitem(sys.modules, "pynvml", nvml.module())
    return nvml


THREE = [
    (b"GPU-aaaa", b"NVIDIA A100-SXM4-80GB", b"00000000:07:00.0"),  # older pynvml returns bytes
    ("GPU-bbbb", "NVIDIA H100 80GB HBM3", "00000000:0F:00.0"),  # newer returns str
    ("GPU-cccc", b"Tesla T4", "00000000:3B:00.0"),
]


def test_every_gpu_is_listed_in_physical_order_with_text_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given NVML with three GPUs, some fields as bytes and some as str
    nvml = install(monkeypatch, FakeNvml(THREE))
    # When listed
    gpus = list_gpus()
    # Then each is a GpuInfo of plain strings, indexed as NVML numbers them, and NVML is shut down
    assert gpus == (
        GpuInfo(0, "GPU-aaaa", "NVIDIA A100-SXM4-80GB", "00000000:07:00.0"),
        GpuInfo(1, "GPU-bbbb", "NVIDIA H100 80GB HBM3", "00000000:0F:00.0"),
        GpuInfo(2, "GPU-cccc", "Tesla T4", "00000000:3B:00.0"),
    )
    assert nvml.calls[0] == "nvmlInit" and nvml.calls[-1] == "nvmlShutdown"


def test_a_driver_without_gpus_lists_none(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, FakeNvml([]))
    assert list_gpus() == ()


def test_no_driver_lists_no_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a machine whose NVML cannot initialise (no driver) / When listed / Then () and no error
    nvml = install(monkeypatch, FakeNvml(THREE, fail={"nvmlInit": lambda _: True}))
    assert list_gpus() == ()
    assert nvml.calls == ["nvmlInit"]


@pytest.mark.parametrize("call", ["nvmlDeviceGetCount", "nvmlDeviceGetHandleByIndex", "nvmlDeviceGetName", "nvmlDeviceGetPciInfo"])
def test_an_error_while_listing_lists_no_gpus_and_still_shuts_nvml_down(monkeypatch: pytest.MonkeyPatch, call: str) -> None:
    # Given NVML that fails on the second GPU (or on counting) / When listed
    nvml = install(monkeypatch, FakeNvml(THREE, fail={call: lambda index: index in (None, 1)}))
    # Then no half list is returned, and NVML is shut down all the same
    assert list_gpus() == ()
    assert nvml.calls[-1] == "nvmlShutdown"


def test_an_error_at_shutdown_does_not_lose_the_list(monkeypatch: pytest.MonkeyPatch) -> None:
    install(monkeypatch, FakeNvml(THREE[:1], fail={"nvmlShutdown": lambda _: True}))
    assert list_gpus() == (GpuInfo(0, "GPU-aaaa", "NVIDIA A100-SXM4-80GB", "00000000:07:00.0"),)


def test_without_pynvml_installed_no_gpus_are_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given pynvml cannot be imported (None in sys.modules makes `import pynvml` raise ImportError)
    monkeypatch.setitem(sys.modules, "pynvml", None)
    # When listed / Then ()
    assert list_gpus() == ()
