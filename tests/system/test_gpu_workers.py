"""`sweepctl worker --gpus`: one worker process per GPU, pinned by UUID, recorded on every trial.

NVML is faked at the pynvml boundary (tests/support/fake_nvml) since test machines have no GPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sweepctl.records import TrialState
from sweepctl.store import Store
from tests.support.processes import Processes, child_env, wait_for
from tests.system.helpers import read_run_log, submit, wait_until_done, write_sweep

pytestmark = pytest.mark.system

FAKE_NVML = Path(__file__).resolve().parents[1] / "support" / "fake_nvml"
GPUS = [
    {"uuid": "GPU-11111111-aaaa-bbbb-cccc-000000000000", "name": "NVIDIA H100 80GB HBM3", "pci_bus_id": "00000000:18:00.0"},
    {"uuid": "GPU-22222222-aaaa-bbbb-cccc-000000000000", "name": "NVIDIA H100 80GB HBM3", "pci_bus_id": "00000000:2A:00.0"},
    {"uuid": "GPU-33333333-aaaa-bbbb-cccc-000000000000", "name": "NVIDIA H100 80GB HBM3", "pci_bus_id": "00000000:3A:00.0"},
]


def test_one_pinned_worker_per_selected_gpu_and_the_gpu_is_recorded_on_each_trial(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a machine whose NVML reports three GPUs, and a worker started for GPUs 0 and 2
    gpu_env = child_env({"FAKE_NVML_GPUS": json.dumps(GPUS), "SWEEPCTL_REDIS_URL": procs.env["SWEEPCTL_REDIS_URL"]}, pythonpath=[FAKE_NVML])
    run_log = tmp_path / "runs.jsonl"
    sweep_file = write_sweep(
        tmp_path,
        """
        method: random
        metric: {name: loss}
        program: trial_program.py
        parameters:
          x: {min: 0.0, max: 1.0}
          sleep: {value: 0.3}
        run_cap: 12
        parallelism: 2
        """,
    )
    sweep_id = submit(procs, sweep_file)
    procs.start("worker", "--gpus", "0,2", env={**gpu_env, "RUN_LOG": str(run_log)})
    # (both slots up before any trial exists, or the first one up could run all 12)
    wait_for(lambda: len(store.workers()) == 2, 30, "both slots to register")
    procs.start("controller")

    # When the sweep runs
    wait_until_done(store, sweep_id, timeout=60)

    # Then each trial ran on GPU 0 or 2, saw only that GPU's UUID, and the record says which
    trials = store.get_trials(sweep_id)
    seen = {r["number"]: r for r in read_run_log(run_log)}
    used = set()
    for t in trials:
        assert t.state is TrialState.COMPLETED
        assert t.gpu is not None and t.gpu.index in (0, 2)
        assert t.gpu.uuid == GPUS[t.gpu.index]["uuid"] and t.gpu.name == "NVIDIA H100 80GB HBM3"
        assert seen[t.number]["cuda"] == t.gpu.uuid
        assert t.worker is not None and f"/gpu{t.gpu.index}/" in t.worker
        # the trial process never sees the Redis credentials
        assert seen[t.number]["redis_url_visible"] is False
        used.add(t.gpu.index)
    assert used == {0, 2}


def test_gpus_all_without_gpus_starts_cpu_workers_that_hide_gpus(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given a machine with no NVML driver (the fake reports none)
    env = child_env({"FAKE_NVML_GPUS": "", "SWEEPCTL_REDIS_URL": procs.env["SWEEPCTL_REDIS_URL"]}, pythonpath=[FAKE_NVML])
    run_log = tmp_path / "runs.jsonl"
    sweep_file = write_sweep(
        tmp_path,
        """
        method: random
        metric: {name: loss}
        program: trial_program.py
        parameters:
          x: {min: 0.0, max: 1.0}
        run_cap: 2
        """,
    )
    sweep_id = submit(procs, sweep_file)
    procs.start("controller")
    procs.start("worker", "--gpus", "all", env={**env, "RUN_LOG": str(run_log)})
    wait_until_done(store, sweep_id, timeout=60)
    # Then trials ran on a CPU worker with no GPU visible
    assert all(t.gpu is None and "/cpu0/" in (t.worker or "") for t in store.get_trials(sweep_id))
    assert {r["cuda"] for r in read_run_log(run_log)} == {""}


def test_asking_for_a_gpu_that_is_not_there_is_a_clear_error(tmp_path: Path, procs: Processes) -> None:
    env = child_env({"FAKE_NVML_GPUS": json.dumps(GPUS[:1]), "SWEEPCTL_REDIS_URL": procs.env["SWEEPCTL_REDIS_URL"]}, pythonpath=[FAKE_NVML])
    done = procs.run("worker", "--gpus", "0,1", env=env)
    assert done.returncode == 2
    assert "no GPU '1' on this machine; NVML sees: 0 (GPU-11111111-aaaa-bbbb-cccc-000000000000)" in done.stderr
