"""On a machine with a real NVIDIA GPU: real NVML, real pinning. Skipped where NVML sees no GPU.

These run on the GPU machines some tasks are lent (see the notes); CI has no GPU and skips them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sweepctl.nvml import list_gpus

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
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
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


def test_exporter_publishes_real_gpu_series_during_a_sweep(tmp_path: Path) -> None:
    import socket
    import time
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    from sweepctl.embedded import EmbeddedRedis, free_port

    shutil.copy(Path(__file__).with_name("gpu_program.py"), tmp_path / "gpu_program.py")
    (tmp_path / "sweep.yaml").write_text(
        "method: random\nmetric: {name: loss}\nprogram: gpu_program.py\nparameters:\n  scale: {min: 0.5, max: 2.0}\nrun_cap: 200\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWEEPCTL_")}
    port = free_port()
    with EmbeddedRedis(data_dir=tmp_path / "redis") as server:
        env.update({"SWEEPCTL_REDIS_URL": server.url, "SWEEPCTL_GPU_SAMPLE_SECONDS": "0.5"})
        run = lambda *a: subprocess.Popen([sys.executable, "-m", "sweepctl", *a], cwd=tmp_path, env=env, start_new_session=True)
        sweep_id = subprocess.run([sys.executable, "-m", "sweepctl", "submit", "sweep.yaml"], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, check=True).stdout.strip()
        procs = [run("exporter", "--port", str(port)), run("controller"), run("worker", "--gpus", "all")]
        try:
            deadline, series = time.monotonic() + 60, {}
            while time.monotonic() < deadline:
                try:
                    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
                except OSError:
                    time.sleep(0.5)
                    continue
                series = {s.name: s for f in text_string_to_metric_families(text) for s in f.samples}
                if "sweepctl_gpu_trial_info" in series:
                    break
                time.sleep(0.5)
            print("exported", {k: (v.labels, v.value) for k, v in series.items() if k.startswith(("DCGM", "sweepctl_gpu"))})
            util = series["DCGM_FI_DEV_GPU_UTIL"]
            assert util.labels["UUID"] in {g.uuid for g in GPUS} and util.labels["Hostname"] == socket.gethostname()
            assert series["DCGM_FI_DEV_FB_TOTAL"].value > 1000 and series["DCGM_FI_DEV_POWER_USAGE"].value > 0
            assert series["sweepctl_gpu_trial_info"].labels["sweep"] == sweep_id
        finally:
            for p in procs:
                os.killpg(p.pid, 9)
