"""A GPU slot's per-trial usage (workers.gpu_telemetry.TrialGpuUsage) against the fake at the pynvml boundary."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from sweepctl.records import GpuRef, GpuSample
from workers.gpu_telemetry import TrialGpuUsage
from workers.identity import WorkerIdentity

FAKE = Path(__file__).resolve().parents[1] / "support" / "fake_nvml" / "pynvml.py"
GPU = {"uuid": "GPU-a", "name": "NVIDIA H100", "pci_bus_id": "00000000:18:00.0", "util": 64, "used_mib": 2048, "power_mw": 300_000}
IDENTITY = WorkerIdentity(worker_id="h/gpu0/1", host="h", slot="gpu0", gpu=GpuRef(index=0, uuid="GPU-a", name="NVIDIA H100"))


@pytest.fixture
def fake_pynvml(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("pynvml", FAKE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "pynvml", module)  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    monkeypatch.setenv("FAKE_NVML_GPUS", json.dumps([GPU]))
    return module


def test_a_trial_shorter_than_the_interval_still_gets_its_start_and_end_samples(fake_pynvml: ModuleType) -> None:
    usage = TrialGpuUsage(IDENTITY)
    # Given a trial that starts and ends with no publisher sample between
    usage.begin("s1", 3)
    summary = usage.end()
    # Then its usage counts the two samples taken at its start and end
    assert summary is not None and summary.samples == 2
    assert (summary.mean_util_percent, summary.peak_memory_bytes) == (64.0, 2048 * 1024 * 1024)
    usage.close()


def publisher_sample(trial: int, util: float) -> GpuSample:
    return GpuSample(host="h", index=0, uuid="GPU-a", name="H100", pci_bus_id="0", time=1.0, sweep="s1", trial=trial, util_percent=util)


def test_the_publishers_samples_count_only_for_the_trial_they_name(fake_pynvml: ModuleType) -> None:
    usage = TrialGpuUsage(IDENTITY)
    # Given trial 4 running, a publisher sample that names it and a late one of trial 3
    usage.begin("s1", 4)
    usage.add(publisher_sample(4, util=10.0))
    usage.add(publisher_sample(3, util=99.0))
    summary = usage.end()
    # Then it counts its start and end samples (64%) and the one sample that names it (10%)
    assert summary is not None and summary.samples == 3
    assert summary.mean_util_percent == pytest.approx((64 + 10 + 64) / 3) and summary.max_util_percent == 64.0


def test_without_nvml_a_gpu_slot_records_no_usage_and_the_trial_is_unharmed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # no library: importing it raises ImportError
    usage = TrialGpuUsage(IDENTITY)
    usage.begin("s1", 3)
    assert usage.end() is None
