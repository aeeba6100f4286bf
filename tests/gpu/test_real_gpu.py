"""On a machine with a real NVIDIA GPU: real NVML, real pinning. Skipped where NVML sees no GPU.

These run on the GPU machines some tasks are lent (see the notes); CI has no GPU and skips them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sweepctl.nvml import list_gpus
from tests.support.exporter import Series, scrape

GPUS = list_gpus()
pytestmark = pytest.mark.skipif(not GPUS, reason="no GPU visible through NVML on this machine")


def nvidia_smi() -> list[dict[str, str]]:
    out = subprocess.run(
        ["nvidia-smi", "--query-gpu=index,uuid,name,pci.bus_id", "--format=csv,noheader"], capture_output=True, text=True, check=True
    ).stdout
    rows = [[c.strip() for c in line.split(",")] for line in out.strip().splitlines()]
    return [{"index": r[0], "uuid": r[1], "name": r[2], "pci_bus_id": r[3]} for r in rows]


def test_nvml_reader_sees_what_nvidia_smi_sees() -> None:
    smi = nvidia_smi()
    print("NVML:", GPUS)
    assert [(str(g.index), g.uuid, g.name) for g in GPUS] == [(r["index"], r["uuid"], r["name"]) for r in smi]
    assert all(g.uuid.startswith("GPU-") for g in GPUS)
    assert [g.pci_bus_id.lower()[-12:] for g in GPUS] == [r["pci_bus_id"].lower()[-12:] for r in smi]


def test_run_with_all_gpus_pins_each_trial_to_its_gpu(tmp_path: Path) -> None:
    # Given a sweep whose trials use the GPU they are given
    shutil.copy(Path(__file__).with_name("gpu_program.py"), tmp_path / "gpu_program.py")
    (tmp_path / "sweep.yaml").write_text(
        "method: random\nmetric: {name: loss}\nprogram: gpu_program.py\n"
        "parameters:\n  scale: {min: 0.5, max: 2.0}\nrun_cap: 4\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWEEPCTL_")}
    # When it runs on the embedded default with a worker per GPU
    done = subprocess.run(
        [sys.executable, "-m", "sweepctl", "run", "sweep.yaml", "--gpus", "all", "--format", "json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    best = json.loads(done.stdout)
    trials = json.loads(
        subprocess.run([sys.executable, "-m", "sweepctl", "trials", best["sweep_id"], "--format", "json"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout
    )
    # Then every trial ran on a real GPU, saw only that GPU, and records its UUID
    uuids = {g.uuid: g for g in GPUS}
    for t in trials:
        assert t["state"] == "completed", t["error"]
        assert t["gpu"]["uuid"] in uuids and t["gpu"]["index"] == uuids[t["gpu"]["uuid"]].index
        seen = json.loads(t["stderr_tail"].strip().splitlines()[-1])
        print("trial", t["number"], "gpu", t["gpu"], "saw", seen)
        assert seen["CUDA_VISIBLE_DEVICES"] == t["gpu"]["uuid"]
        if "device_count" in seen:
            assert seen["device_count"] == 1 and seen["device_name"] == t["gpu"]["name"]


def test_nvml_reader_reads_real_values() -> None:
    from sweepctl.nvml import NvmlReader

    reader = NvmlReader()
    for gpu in GPUS:
        reading = reader.read(gpu.uuid)
        print("reading", gpu.index, gpu.uuid, reading)
        assert reading is not None
        assert reading.util_percent is not None and 0 <= reading.util_percent <= 100
        assert reading.fb_total_mib is not None and reading.fb_total_mib > 1000
        assert reading.fb_used_mib is not None and reading.fb_free_mib is not None
        assert abs(reading.fb_used_mib + reading.fb_free_mib - reading.fb_total_mib) < 0.05 * reading.fb_total_mib
        assert reading.temp_c is not None and 0 < reading.temp_c < 120
        assert reading.power_w is not None and 0 < reading.power_w < 2000
        assert reading.sm_clock_mhz is not None and reading.sm_clock_mhz > 0
        assert reading.xid is None or reading.xid >= 0
    reader.close()


@contextlib.contextmanager
def sweep_with_exporter(tmp_path: Path, program: str, sweep_yaml: str) -> Iterator[tuple[str, int]]:
    """(sweep id, exporter port) while an exporter, a controller and a worker on every GPU serve the sweep."""
    from sweepctl.embedded import EmbeddedRedis, free_port

    shutil.copy(Path(__file__).with_name(program), tmp_path / program)
    (tmp_path / "sweep.yaml").write_text(sweep_yaml)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWEEPCTL_")}
    port = free_port()
    with EmbeddedRedis(data_dir=tmp_path / "redis") as server:
        env.update({"SWEEPCTL_REDIS_URL": server.url, "SWEEPCTL_GPU_SAMPLE_SECONDS": "0.5"})
        sweepctl = [sys.executable, "-m", "sweepctl"]
        sweep_id = subprocess.run([*sweepctl, "submit", "sweep.yaml"], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, check=True).stdout.strip()
        procs = [
            subprocess.Popen([*sweepctl, *args], cwd=tmp_path, env=env, start_new_session=True)
            for args in (("exporter", "--port", str(port)), ("controller",), ("worker", "--gpus", "all"))
        ]
        try:
            yield sweep_id, port
        finally:
            for p in procs:
                os.killpg(p.pid, 9)


def scrape_when_up(port: int) -> Series | None:
    try:
        return scrape(port, timeout=5)
    except OSError:
        return None


def test_exporter_publishes_real_gpu_series_during_a_sweep(tmp_path: Path) -> None:
    sweep = "method: random\nmetric: {name: loss}\nprogram: gpu_program.py\nparameters:\n  scale: {min: 0.5, max: 2.0}\nrun_cap: 200\n"
    with sweep_with_exporter(tmp_path, "gpu_program.py", sweep) as (sweep_id, port):
        deadline, series = time.monotonic() + 60, {}
        while time.monotonic() < deadline:
            series = {name: samples[0] for name, samples in (scrape_when_up(port) or {}).items()}
            if "sweepctl_gpu_trial_info" in series:
                break
            time.sleep(0.5)
        print("exported", {k: v for k, v in series.items() if k.startswith(("DCGM", "sweepctl_gpu"))})
        util_labels = series["DCGM_FI_DEV_GPU_UTIL"][0]
        assert util_labels["UUID"] in {g.uuid for g in GPUS} and util_labels["Hostname"] == socket.gethostname()
        assert series["DCGM_FI_DEV_FB_TOTAL"][1] > 1000 and series["DCGM_FI_DEV_POWER_USAGE"][1] > 0
        assert series["sweepctl_gpu_trial_info"][0]["sweep"] == sweep_id


def test_a_busy_trial_shows_on_its_gpu_series_and_the_gpu_goes_idle_after(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    sweep = "method: grid\nmetric: {name: loss}\nprogram: gpu_busy_program.py\nparameters:\n  seconds: {value: 12}\n"
    uuids = {g.uuid for g in GPUS}
    with sweep_with_exporter(tmp_path, "gpu_busy_program.py", sweep) as (sweep_id, port):
        # While the trial runs: its GPU reports real load, joined to the trial.
        busy: list[dict[str, float]] = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(busy) < 3:
            series = scrape_when_up(port) or {}
            info = [labels for labels, _ in series.get("sweepctl_gpu_trial_info", []) if labels.get("sweep") == sweep_id]
            if info:
                uuid = info[0]["UUID"]
                value = {name: next(v for labels, v in series[name] if labels["UUID"] == uuid)
                         for name in ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_POWER_USAGE", "sweepctl_gpu_busy")}
                print("during the trial", info[0], value)
                assert uuid in uuids and info[0]["trial"] == "1"
                if value["DCGM_FI_DEV_GPU_UTIL"] > 50:
                    busy.append(value)
            time.sleep(0.5)
        assert len(busy) >= 3, "the trial's GPU never showed load above 50% in the exporter"
        assert all(v["sweepctl_gpu_busy"] == 1 and v["DCGM_FI_DEV_FB_USED"] > 2048 for v in busy)
        # After it: no trial attached, the GPU idle and its memory given back.
        deadline = time.monotonic() + 90
        idle: dict[str, float] = {}
        while time.monotonic() < deadline:
            series = scrape_when_up(port) or {}
            attached = [labels for labels, _ in series.get("sweepctl_gpu_trial_info", []) if labels.get("sweep") == sweep_id]
            flags = [v for labels, v in series.get("sweepctl_gpu_busy", []) if labels["UUID"] in uuids]
            if not attached and flags and all(v == 0 for v in flags):
                idle = {name: max(v for labels, v in series[name] if labels["UUID"] in uuids)
                        for name in ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED")}
                if idle["DCGM_FI_DEV_GPU_UTIL"] < 20:
                    break
            time.sleep(0.5)
        print("after the trial", idle)
        assert idle and idle["DCGM_FI_DEV_GPU_UTIL"] < 20
        assert idle["DCGM_FI_DEV_FB_USED"] < min(v["DCGM_FI_DEV_FB_USED"] for v in busy) - 1024


def test_a_busy_trial_records_its_real_gpu_usage(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    # Given a trial that keeps its GPU busy for 10 s and holds ~2 GiB on it, sampled every 0.5 s
    shutil.copy(Path(__file__).with_name("gpu_busy_program.py"), tmp_path / "gpu_busy_program.py")
    (tmp_path / "sweep.yaml").write_text(
        "method: grid\nmetric: {name: loss}\nprogram: gpu_busy_program.py\nparameters:\n  seconds: {value: 10}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWEEPCTL_")} | {"SWEEPCTL_GPU_SAMPLE_SECONDS": "0.5"}
    # When it runs on the embedded default with a worker per GPU
    sweepctl = [sys.executable, "-m", "sweepctl"]
    done = subprocess.run([*sweepctl, "run", "sweep.yaml", "--gpus", "all", "--format", "json"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    sweep_id = json.loads(done.stdout)["sweep_id"]
    (trial,) = json.loads(subprocess.run([*sweepctl, "trials", sweep_id, "--format", "json"],
                                         cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout)
    # Then its record sums up real NVML samples: load, the memory it held, and the energy it drew
    usage = trial["gpu_usage"]
    print("trial", trial["number"], "gpu", trial["gpu"], "duration", trial["duration"], "usage", usage)
    assert trial["state"] == "completed", trial["error"]
    assert usage["samples"] >= 10
    assert usage["max_util_percent"] > 50 and usage["mean_util_percent"] > 10 and usage["mostly_idle"] is False
    assert usage["peak_memory_bytes"] > 2 * 1024**3
    # at least 30 W over the 10 s it ran, and no more than 1.5 kW over the whole trial
    assert 30 * 10 < usage["energy_joules"] < 1500 * trial["duration"]
