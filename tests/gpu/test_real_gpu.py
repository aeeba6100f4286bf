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
