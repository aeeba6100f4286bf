"""The exporter during a real sweep (GPU series joined to trials, worker death, failures by
host), and against a Redis that is frozen or full."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest
import redis

from metrics.catalog import exported_series_names
from sweepctl.embedded import EmbeddedRedis, free_port
from sweepctl.settings import RedisSettings
from sweepctl.store import Store
from sweepctl.telemetry import FULL_HEADROOM_BYTES, RedisMemory, read_memory
from tests.faults.support import running_trials, send, worker_pid
from tests.support.exporter import Series, scrape
from tests.support.processes import REPO, Processes, child_env, wait_for
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
        {
            "FAKE_NVML_GPUS": json.dumps(GPUS),
            "SWEEPCTL_REDIS_URL": procs.env["SWEEPCTL_REDIS_URL"],
            "SWEEPCTL_GPU_SAMPLE_SECONDS": "0.5",
            **extra,
        },
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
        assert labels == {
            "gpu": str(i),
            "UUID": gpu["uuid"],
            "device": f"nvidia{i}",
            "modelName": gpu["name"],
            "pci_bus_id": gpu["pci_bus_id"],
            "Hostname": host,
        }
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
    for sid, state, ended in (
        ("old", SweepState.FINISHED, now - 2 * 86400),
        ("recent", SweepState.FINISHED, now - 3600),
        ("live", SweepState.RUNNING, None),
    ):
        store.create_sweep(
            Sweep(
                id=sid,
                raw_spec={"metric": {"name": "loss"}, "run_cap": 100},
                state=state,
                seed=1,
                created_at=now - 3 * 86400,
                ended_at=ended,
            )
        )

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


# ---- a Redis that does not answer, or is full ---------------------------------------------

DEADLINE = 2.0  # the exporter's --scrape-deadline in these tests
SLACK = 2.0  # on top of the deadline: Python, HTTP and a loaded machine


def scrape_timed(port: int) -> tuple[Series, float]:
    began = time.monotonic()
    series = scrape(port, timeout=30)
    return series, time.monotonic() - began


def redis_up(series: Series) -> float:
    [(_, value)] = series["sweepctl_exporter_redis_up"]
    return value


def scrape_when_up(port: int) -> Series:
    def up() -> Series | None:
        try:
            series = scrape(port)
        except OSError:  # the exporter is still starting
            return None
        return series if redis_up(series) == 1.0 else None

    result = wait_for(up, 30, "the exporter to read Redis", interval=0.2)
    assert isinstance(result, dict)
    return result


def threads_of(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def connections_to(pid: int, port: int) -> int:
    """TCP sockets the process `pid` holds open to 127.0.0.1:`port` (any state but listening)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed since the listing
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            count += remote_port == port and fields[9] in inodes
    return count


def test_a_frozen_redis_is_reported_down_within_the_scrape_deadline_and_up_as_soon_as_it_thaws(
    procs: Processes, redis_server: EmbeddedRedis
) -> None:
    # Given an exporter with a 2 s scrape deadline, reading a healthy Redis
    port = free_port()
    exporter = procs.start("exporter", "--port", str(port), "--scrape-deadline", str(DEADLINE))
    scrape_when_up(port)
    threads, connections = threads_of(exporter.pid), connections_to(exporter.pid, redis_server.port)
    assert connections >= 1  # the count sees the exporter's connections

    # When redis-server is frozen (SIGSTOP): its port still accepts connections, nothing answers
    assert redis_server.process is not None
    os.killpg(redis_server.process.pid, signal.SIGSTOP)
    try:
        # Then every scrape answers within the deadline that Redis is down
        # (before the deadline, each took the client's 10 s socket timeout: past Prometheus' 10 s scrape_timeout)
        for _ in range(4):
            series, took = scrape_timed(port)
            assert redis_up(series) == 0.0
            assert took < DEADLINE + SLACK, f"a scrape took {took:.2f} s with a {DEADLINE} s deadline"
        # And the scrapes held one stuck read between them: no reader thread or Redis connection piled up
        assert threads_of(exporter.pid) <= threads + 2  # one stuck reader, one HTTP request thread winding down
        assert connections_to(exporter.pid, redis_server.port) <= connections + 1
    finally:
        os.killpg(redis_server.process.pid, signal.SIGCONT)

    # When Redis thaws
    # Then the very next scrape reads it again, in time: the scrapes during the freeze left nothing in its way
    series, took = scrape_timed(port)
    assert redis_up(series) == 1.0
    assert took < DEADLINE + SLACK, took
    assert "sweepctl_live_sweeps" in series and "sweepctl_redis_memory_used_bytes" in series


def test_redis_memory_is_full_once_too_little_is_free_for_a_write() -> None:
    # Redis refuses a write when its memory while reading it (query buffer and arguments
    # included) is over maxmemory: between commands, a full Redis reads a little below it
    limit = 10 * 2**20
    assert not RedisMemory(used_bytes=limit - FULL_HEADROOM_BYTES, max_bytes=limit).full
    assert RedisMemory(used_bytes=limit - FULL_HEADROOM_BYTES + 1, max_bytes=limit).full
    assert RedisMemory(used_bytes=limit + 1, max_bytes=limit).full
    assert RedisMemory(used_bytes=limit // 2, max_bytes=limit).ratio == 0.5
    # And without a limit (max 0) it never is
    assert not RedisMemory(used_bytes=10**12, max_bytes=0).full
    assert RedisMemory(used_bytes=10**12, max_bytes=0).ratio == 0.0


def test_a_full_redis_shows_used_memory_over_its_limit_and_is_still_read(procs: Processes, store: Store) -> None:
    # Given an exporter reading a Redis without a memory limit
    port = free_port()
    procs.start("exporter", "--port", str(port), "--scrape-deadline", str(DEADLINE))
    series = scrape_when_up(port)
    assert series["sweepctl_redis_memory_max_bytes"] == [({}, 0.0)]
    assert series["sweepctl_redis_memory_used_bytes"][0][1] > 0

    # When its limit is set 2 MiB above what it uses, and junk keys fill it until it refuses writes
    limit = int(store.redis.info("memory")["used_memory"]) + 2 * 2**20
    store.redis.config_set("maxmemory", limit)
    assert store.redis.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
    assert not read_memory(store).full
    with pytest.raises(redis.exceptions.ResponseError, match="maxmemory"):  # OOM: writes refused
        for n in range(20_000):  # 20 MB at most: far past the limit
            store.redis.set(f"junk:{n}", "x" * 1000)

    # Then the next scrape shows the limit and used memory within the headroom of it
    # (a full Redis reads a little below its limit between commands), and Redis up: reads are still served
    series = scrape(port)
    [(_, used)], [(_, maximum)] = series["sweepctl_redis_memory_used_bytes"], series["sweepctl_redis_memory_max_bytes"]
    assert maximum == limit
    assert used > maximum - FULL_HEADROOM_BYTES, (used, maximum)
    assert redis_up(series) == 1.0
    # And read_memory, which the CLI reads, calls it full
    memory = read_memory(store)
    assert memory.full and memory.max_bytes == limit and memory.ratio > 0.95

    # When memory is freed, Then it is no longer full
    store.redis.config_set("maxmemory", 0)
    assert not read_memory(store).full


def test_the_shipped_acl_lets_exporter_and_controller_read_memory_and_without_info_only_memory_is_missing(
    procs: Processes, store: Store, redis_server: EmbeddedRedis
) -> None:
    # Given the controller and exporter users of deploy/redis/users.acl, with passwords, in the test's Redis
    shipped = {line.split()[1]: line.split()[2:] for line in (REPO / "deploy/redis/users.acl").read_text().splitlines() if line.strip()}
    urls = {}
    for role in ("controller", "exporter"):
        rules = [f">{role}-pw" if rule == f">CHANGE-ME-{role}-password" else rule for rule in shipped[role]]
        store.redis.execute_command("ACL", "SETUSER", role, *rules)
        urls[role] = f"redis://{role}:{role}-pw@127.0.0.1:{redis_server.port}/0"

    # When the controller user reads memory (as `sweepctl status` does)
    # Then it may
    assert read_memory(Store.connect(RedisSettings.from_url(urls["controller"]))).used_bytes > 0

    # When an exporter logs in as the exporter user
    port = free_port()
    procs.start("exporter", "--port", str(port), env={"SWEEPCTL_REDIS_URL": urls["exporter"]})
    # Then it publishes the memory series
    assert "sweepctl_redis_memory_used_bytes" in scrape_when_up(port)

    # When the exporter user loses INFO (an ACL file from before the memory series)
    store.redis.execute_command("ACL", "SETUSER", "exporter", "-info")
    # Then the exporter still reads Redis, only without the memory series
    series = scrape(port)
    assert redis_up(series) == 1.0
    assert "sweepctl_redis_memory_used_bytes" not in series and "sweepctl_live_sweeps" in series


def test_a_scrape_deadline_out_of_range_is_refused_by_name(procs: Processes) -> None:
    # Given deadlines no scrape could use (0: every scrape would say Redis is down)
    for deadline in ("0", "61"):
        # When the exporter is started with one
        done = procs.run("exporter", "--scrape-deadline", deadline, timeout=30)
        # Then it refuses to start, naming the option and the range
        assert done.returncode == 2, done
        assert "--scrape-deadline" in done.stderr and "0.1<=x<=60.0" in done.stderr, done.stderr


def test_status_and_the_exporter_name_a_bayes_sweeps_method_alike(procs: Processes) -> None:
    # Given a sweep file that asks for W&B's `method: bayes`
    text = "method: bayes\nname: named\nmetric: {name: loss}\nprogram: trial_program.py\n"
    text += "parameters:\n  x: {min: 0.0, max: 1.0}\nrun_cap: 1\n"
    sweep_id = submit(procs, write_sweep(procs.cwd, text))
    # When `sweepctl status` shows it and the exporter publishes it
    shown = json.loads(procs.run("status", sweep_id, "--format", "json", check=True).stdout)
    port = free_port()
    procs.start("exporter", "--port", str(port))
    info = [labels for labels, _ in scrape_when_up(port)["sweepctl_sweep_info"] if labels["sweep"] == sweep_id]
    # Then both name our method, tpe, and neither W&B's name
    assert shown["method"] == "tpe"
    assert [labels["method"] for labels in info] == ["tpe"]
