"""Per-trial GPU usage: GPU workers tally the samples taken while each trial ran and write the summary with its result.

NVML is faked at the pynvml boundary (tests/support/fake_nvml): each GPU reports fixed
utilization, memory and power, so each trial's summary is known in advance.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sweepctl.records import TrialState
from sweepctl.store import Store
from tests.support.processes import Processes, child_env, wait_for
from tests.system.helpers import submit, wait_until_done, write_sweep

pytestmark = pytest.mark.system

FAKE_NVML = Path(__file__).resolve().parents[1] / "support" / "fake_nvml"
MIB = 1024 * 1024
SLEEP = 1.5  # each trial's run time (trial_program.py sleeps this long)
GPUS = [
    # A busy GPU with an energy counter rising at 250 W
    {"uuid": "GPU-0a0a0a0a-aaaa-bbbb-cccc-000000000000", "name": "NVIDIA H100 80GB HBM3", "pci_bus_id": "00000000:18:00.0",
     "util": 87, "used_mib": 12595, "power_mw": 250_000, "energy_mj_per_s": 250_000},
    # An idle GPU whose energy counter cannot be read: energy comes from its 60 W power readings
    {"uuid": "GPU-1b1b1b1b-aaaa-bbbb-cccc-000000000000", "name": "NVIDIA H100 80GB HBM3", "pci_bus_id": "00000000:2A:00.0",
     "util": 3, "used_mib": 512, "power_mw": 60_000, "fail": ["energy"]},
]
WATTS = {0: 250.0, 1: 60.0}


def test_each_trial_records_the_usage_of_its_gpu_and_an_idle_one_is_flagged(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a worker on two GPUs, one busy and one idle, sampling every 0.2 s
    env = child_env(
        {"FAKE_NVML_GPUS": json.dumps(GPUS), "SWEEPCTL_REDIS_URL": procs.env["SWEEPCTL_REDIS_URL"], "SWEEPCTL_GPU_SAMPLE_SECONDS": "0.2"},
        pythonpath=[FAKE_NVML],
    )
    sweep_file = write_sweep(
        tmp_path,
        f"""
        method: random
        metric: {{name: loss}}
        program: trial_program.py
        parameters:
          x: {{min: 0.0, max: 1.0}}
          sleep: {{value: {SLEEP}}}
        run_cap: 4
        parallelism: 2
        """,
    )
    sweep_id = submit(procs, sweep_file)
    procs.start("worker", "--gpus", "all", env=env)
    wait_for(lambda: len(store.workers()) == 2, 30, "both slots to register")
    procs.start("controller")

    # When the sweep runs
    wait_until_done(store, sweep_id, timeout=90)

    # Then every trial carries its own GPU's figures: utilization and memory as NVML gave them,
    # energy within what its GPU's power could have drawn between the trial's start and end
    trials = store.get_trials(sweep_id)
    used = set()
    for t in trials:
        assert t.state is TrialState.COMPLETED and t.gpu is not None and t.duration is not None, t
        usage, gpu = t.gpu_usage, GPUS[t.gpu.index]
        assert usage is not None, f"trial {t.number} has no GPU usage"
        print("trial", t.number, "gpu", t.gpu.index, "duration", round(t.duration, 3), usage)
        assert usage.samples >= 3  # one at the start, one at the end, and the publisher's every 0.2 s between
        assert usage.mean_util_percent == usage.max_util_percent == gpu["util"]
        assert usage.peak_memory_bytes == gpu["used_mib"] * MIB
        assert usage.energy_joules is not None
        assert WATTS[t.gpu.index] * SLEEP * 0.99 <= usage.energy_joules <= WATTS[t.gpu.index] * t.duration * 1.01
        assert usage.mostly_idle is (t.gpu.index == 1)
        used.add(t.gpu.index)
    assert used == {0, 1}

    # And `trials --format json` shows the summary with its idle flag
    listed = json.loads(procs.run("trials", sweep_id, "--format", "json", check=True).stdout)
    by_number = {t.number: t for t in trials}
    for row in listed:
        trial = by_number[row["number"]]
        assert trial.gpu is not None and trial.gpu_usage is not None
        assert row["gpu_usage"]["samples"] == trial.gpu_usage.samples
        assert row["gpu_usage"]["mostly_idle"] is (trial.gpu.index == 1)
    # And the `trials` table has a GPU-use column, the idle GPU's trials flagged in it
    table = procs.run("trials", sweep_id, "--columns", "number,gpu_index,gpu_use", check=True).stdout
    rows = [line.split() for line in table.splitlines()[1:] if line.strip() and line.split()[0].isdigit()]
    assert rows and all(("idle" in row) is (row[1] == "1") for row in rows), table
    assert "GPU_USE" in procs.run("trials", sweep_id, check=True).stdout.splitlines()[0]


def test_a_cpu_worker_records_no_gpu_usage(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a machine with no NVML driver (the fake reports none)
    env = child_env({"FAKE_NVML_GPUS": "", "SWEEPCTL_REDIS_URL": procs.env["SWEEPCTL_REDIS_URL"]}, pythonpath=[FAKE_NVML])
    sweep = "method: random\nmetric: {name: loss}\nprogram: trial_program.py\nparameters:\n  x: {min: 0.0, max: 1.0}\nrun_cap: 1\n"
    sweep_id = submit(procs, write_sweep(tmp_path, sweep))
    procs.start("controller")
    procs.start("worker", "--gpus", "all", env=env)
    wait_until_done(store, sweep_id, timeout=60)
    # Then its trial completed with no GPU and no GPU usage
    (trial,) = store.get_trials(sweep_id)
    assert trial.state is TrialState.COMPLETED and trial.gpu is None and trial.gpu_usage is None
