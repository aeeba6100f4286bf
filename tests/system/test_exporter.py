"""The exporter during a real sweep: GPU series joined to trials, worker death, failures by host."""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

import pytest

from metrics.catalog import exported_series_names
from sweepctl.embedded import free_port
from sweepctl.store import Store
from tests.faults.support import running_trials, send, worker_pid
from tests.support.exporter import scrape
from tests.support.processes import Processes, child_env, wait_for
from tests.system.helpers import submit, write_sweep

pytestmark = pytest.mark.system

FAKE_NVML = Path(__file__).resolve().parents[1] / "support" / "fake_nvml"
GPUS = [
    {"uuid": f"GPU-{i}0000000-aaaa-bbbb-cccc-000000000000", "name": "NVIDIA H100 80GB HBM3", "pci_bus_id": f"00000000:{i}A:00.0",
     "util": 90 + i, "temp": 60 + i, "xid": 0}
    for i in range(2)
]


def gpu_env(procs: Processes, **extra: str) -> dict[str, str]:
    return child_env(
        {"FAKE_NVML_GPUS": json.dumps(GPUS), "SWEEPCTL_REDIS_URL": procs.env["SWEEPCTL_REDIS_URL"], "SWEEPCTL_GPU_SAMPLE_SECONDS": "0.5", **extra},
        pythonpath=[FAKE_NVML],
    )


def test_exporter_joins_gpus_to_trials_and_a_dead_workers_gpus_vanish(tmp_path: Path, procs: Processes, store: Store) -> None:
    # Given GPU workers (fake NVML, two GPUs), a controller, an exporter, and a sweep with one crashing trial
    port = free_port()
    sweep_id = submit(
        procs,
        write_sweep(
            tmp_path,
            """
            method: grid
            metric: {name: loss}
            program: trial_program.py
            parameters:
              mode: {values: [ok, exit, ok2, ok3, hang]}  # distinct: no parameter set runs twice
              sleep: {value: 1.5}
            parallelism: 2
            """,
        ),
    )
    procs.start("exporter", "--port", str(port), env={"SWEEPCTL_LEASE_SECONDS": "2"})
    procs.start("controller", env={"SWEEPCTL_LEASE_SECONDS": "2", "SWEEPCTL_OWNER_LEASE_SECONDS": "2"})
    procs.start("worker", "--gpus", "all", env=gpu_env(procs, SWEEPCTL_LEASE_SECONDS="2"))

    # When trials run on the GPUs
    def both_gpus_busy() -> tuple[dict, set, set] | None:
        try:
            series = scrape(port)
        except OSError:  # the exporter is still starting
            return None
        busy = series.get("sweepctl_gpu_trial_info", [])
        if len(busy) != 2:
            return None
        # Read right after the scrape, and again if a trial turned over in between
        running = {(t.number, t.gpu.uuid) for t in running_trials(store, sweep_id) if t.gpu}
        joined = {(int(labels["trial"]), labels["UUID"]) for labels, _ in busy}
        return (series, joined, running) if joined & running else None

    series, joined, running = wait_for(both_gpus_busy, 30, "both GPUs to show a running trial", interval=0.3)

    # Then each GPU carries DCGM names and labels, and the join names the sweep and trial on it
    host = socket.gethostname()
    utils = {labels["UUID"]: (labels, value) for labels, value in series["DCGM_FI_DEV_GPU_UTIL"]}
    for i, gpu in enumerate(GPUS):
        labels, value = utils[gpu["uuid"]]
        assert value == 90 + i
        assert labels == {"gpu": str(i), "UUID": gpu["uuid"], "device": f"nvidia{i}", "modelName": gpu["name"], "pci_bus_id": gpu["pci_bus_id"], "Hostname": host}
    assert joined & running, (joined, running)  # what both_gpus_busy waited for: the scrape's trials are Redis's
    assert all(labels["sweep"] == sweep_id for labels, _ in series["sweepctl_gpu_trial_info"])
    assert set(series) <= exported_series_names() | {"python_info"}, set(series) - exported_series_names()
    assert series["sweepctl_exporter_redis_up"][0][1] == 1.0

    # When the worker running the hung trial is killed (its supervisor is told to stop restarting it first)
    wait_for(lambda: any(t.params["mode"] == "hang" for t in running_trials(store, sweep_id)), 60, "the hanging trial to run")
    hung = next(t for t in running_trials(store, sweep_id) if t.params["mode"] == "hang")
    supervisor = procs.started[-1]
    send(supervisor.pid, signal.SIGKILL)  # the supervisor first, so nothing restarts the workers
    for t in running_trials(store, sweep_id):
        send(worker_pid(t.worker), signal.SIGKILL)
    send(worker_pid(hung.worker), signal.SIGKILL)

    # Then its GPUs vanish, its slots are reported down, and the crashed trial counts against the host
    def gpus_gone() -> dict | None:
        s = scrape(port)
        return s if not s.get("DCGM_FI_DEV_GPU_UTIL") else None

    series = wait_for(gpus_gone, 20, "the dead worker's GPUs to vanish", interval=0.5)
    failed = {labels["state"]: value for labels, value in series["sweepctl_host_trials_total"] if labels["host"] == host}
    assert failed.get("failed") == 1.0 and failed.get("completed", 0) >= 2
    trials_by_state = {labels["state"]: value for labels, value in series["sweepctl_sweep_trials"] if labels["sweep"] == sweep_id}
    assert trials_by_state["failed"] == 1.0
    # (every killed slot goes down once its own last heartbeat is stale, each on its own clock)
    hung_slot = hung.worker.split("/")[1] if hung.worker else ""

    def hung_slot_down() -> dict | None:
        s = scrape(port)
        return s if hung_slot in {labels["slot"] for labels, v in s.get("sweepctl_worker_up", []) if v == 0.0} else None

    wait_for(hung_slot_down, 30, f"the hung trial's slot {hung_slot!r} to be reported down", interval=1.0)


def test_ended_sweeps_age_out_and_finished_trials_add_no_series(store: Store) -> None:
    from metrics.families import snapshot_families
    from sweepctl.records import Sweep, SweepState, Trial, TrialState
    from sweepctl.telemetry import read_snapshot

    # Given a sweep that ended two days ago, one that ended an hour ago, and a running one with finished trials
    now = 1_800_000_000.0
    for sid, state, ended in (("old", SweepState.FINISHED, now - 2 * 86400), ("recent", SweepState.FINISHED, now - 3600), ("live", SweepState.RUNNING, None)):
        store.create_sweep(Sweep(id=sid, raw_spec={"metric": {"name": "loss"}, "run_cap": 100}, state=state, seed=1, created_at=now - 3 * 86400, ended_at=ended))

    def series_count() -> int:
        return sum(len(f.samples) for f in snapshot_families(read_snapshot(store, keep_finished=86400, now=now)))

    # Then only the live and the recently ended sweeps are published
    assert {s.sweep.id for s in read_snapshot(store, keep_finished=86400, now=now).sweeps} == {"recent", "live"}
    before = series_count()
    # And finishing more trials adds no series
    for n in range(1, 51):
        store.create_trial(Trial(sweep_id="live", number=n, state=TrialState.QUEUED, params={}, seed=n))
        store.claim_trial("live", n, 1, worker="h/cpu0/1", host="h")
        store.finish_trial("live", n, 1, TrialState.COMPLETED if n % 5 else TrialState.FAILED, float(n) if n % 5 else None)
    after_first_host = series_count()
    for n in range(51, 201):
        store.create_trial(Trial(sweep_id="live", number=n, state=TrialState.QUEUED, params={}, seed=n))
        store.claim_trial("live", n, 1, worker="h/cpu0/1", host="h")
        store.finish_trial("live", n, 1, TrialState.COMPLETED, float(n))
    assert series_count() == after_first_host  # 150 more finished trials, not one more series
    # what the first results added: one host's outcome counters, and the sweep's best objective
    assert after_first_host - before == len([s for s in TrialState if s.is_finished]) + 1
