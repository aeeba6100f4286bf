"""A thousand workers, simulated: what the controller, Redis and the exporter cost per trial, and where it saturates.

Each case starts its own private redis-server (loopback, a random password), the real controller
(`sweepctl controller`) and the real exporter (`sweepctl exporter`, bound to 127.0.0.1, scraped over HTTP
every --scrape-every seconds) as subprocesses in their own process groups, and W simulated workers spread
over --processes OS processes (benchmarks/_simulated_workers.py: the real Celery consumer configuration,
the real `workers.trial.TrialRunner` with its claim, lease renewal every DEFAULT_LEASE_SECONDS / 3, metric
flushes, control polls and result, through the real Store methods; only the trial's process is a sleep).
A `method: random` sweep (--method to change) with the default parallelism runs for a warm-up, then for
--measure seconds, over which everything is read:

- worker busy share: per worker, seconds inside a trial / seconds of the window (mean, and the 10th percentile);
  idle gap: a worker's next trial start minus its previous trial's end (p50, p99);
- trials/s; controller CPU per trial (/proc of the controller process); Redis CPU (INFO cpu) and ops/s (INFO
  stats); Redis memory per trial (INFO used_memory_dataset, which leaves out the clients' buffers, after the window
  minus before the sweep, / trials created);
- lease renewals/s and their share of Redis commands (and the other calls of the worker protocol, counted);
- exporter scrape time p50/p99; CPU of every component (cores), load average.

The default run: 100, 300 and 1,000 workers with 20 s trials, then 1,000 workers with 5 s and 1 s trials
(--series) to find where busy share drops and which component's CPU is then the limit.

    python benchmarks/scale.py [--workers 100,300,1000] [--duration 20] [--series 5,1] [--profile]

--memory runs the second mode: a `method: random` sweep of --memory-trials (100,000) finished trials without
metric points. All but the last --memory-live of them are driven through the store's real scripts as fast
as they go (create, claim, finish: what the controller and a worker call, with the fields a worker writes);
then the real controller takes the sweep up and the simulated workers run the rest as zero-length trials.
It reports the controller's RSS (peak and end) and Redis bytes (INFO used_memory) per finished trial,
by key type (MEMORY USAGE).

Writes benchmarks/results/scale.md, with --memory benchmarks/results/scale_memory.md (--output).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks._processes import child_env, percentile, private_redis, process_cpu, start_group, stop_group, wait_for
from benchmarks._simulated_workers import fleet_output
from sweepctl.embedded import EmbeddedRedis, free_port
from sweepctl.lifecycle import submit_sweep
from sweepctl.records import Trial, TrialState
from sweepctl.settings import RedisSettings
from sweepctl.store import Outcome, Store

DEFAULT_OUTPUT = Path(__file__).parent / "results" / "scale.md"
MEMORY_OUTPUT = Path(__file__).parent / "results" / "scale_memory.md"
PAGE = 4096


@dataclass(frozen=True)
class Case:
    workers: int
    duration: float
    method: str = "random"
    points: int = 3
    run_cap: int = 10_000_000
    control_interval: float | None = None  # the workers' control poll; None: the worker's own (RunnerSettings)


@dataclass
class Snapshot:
    """What is read at one moment: wall time, CPU seconds per component, Redis' INFO counters."""

    at: float
    cpu: dict[str, float]
    redis_cpu: float
    redis_commands: int
    redis_memory: int
    created: int
    commandstats: dict[str, int] = field(default_factory=dict)


@dataclass
class CaseResult:
    case: Case
    window: float
    busy_mean: float
    busy_p10: float
    gaps_ms: list[float]
    trials: int
    cpu_cores: dict[str, float]
    controller_cpu_ms_per_trial: float
    redis_ops: float
    redis_bytes_per_trial: float
    calls_per_s: dict[str, float]
    scrapes_ms: list[float]
    load: str
    created: int
    top_commands: list[tuple[str, float]]
    profile: list[tuple[str, float]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.trials / self.window


# ---------------------------------------------------------------------------------------------
# the system under test


class System:
    """A private Redis, the simulated workers, the exporter and the controller of one case; `close` stops them all."""

    def __init__(self, folder: Path, case: Case, processes: int, nice: int = 0) -> None:
        self.folder = folder
        self.case = case
        self.redis: EmbeddedRedis = private_redis(folder / "redis")
        self.settings = RedisSettings.from_url(self.redis.url)
        self.store = Store.connect(self.settings)
        self.env = child_env(self.redis.url)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.fleet: subprocess.Popen[bytes] | None = None
        self.sim_outputs: list[Path] = []
        self.exporter_port = free_port()
        self._processes = max(1, min(processes, case.workers))
        self._nice = nice

    def start_workers(self) -> None:
        """The simulated workers: one fleet (benchmarks/_simulated_workers.py), one session, `processes` processes."""
        per, extra = divmod(self.case.workers, self._processes)
        out = self.folder / "sim.json"
        argv = [sys.executable, "-m", "benchmarks._simulated_workers", "--processes", str(self._processes), "--extra", str(extra),
                "--workers", str(per), "--duration", str(self.case.duration), "--points", str(self.case.points), "--tag", "p",
                "--output", str(out), "--nice", str(self._nice)]
        if self.case.control_interval is not None:
            argv += ["--control-interval", str(self.case.control_interval)]
        self.fleet = start_group(argv, env=self.env, cwd=REPO, log=self.folder / "sim.log")
        self.sim_outputs = [fleet_output(out, p) for p in range(self._processes)]
        wait_for(lambda: all(o.with_suffix(".ready").exists() for o in self.sim_outputs), 300, "the simulated workers' consumers")
        wait_for(lambda: len(self.store.workers()) >= self.case.workers, 60, "the simulated workers' heartbeats")

    def start_exporter(self) -> None:
        argv = [sys.executable, "-m", "sweepctl", "exporter", "--bind", "127.0.0.1", "--port", str(self.exporter_port)]
        self.procs["exporter"] = start_group(argv, env=self.env, cwd=self.folder, log=self.folder / "exporter.log")
        wait_for(lambda: _scrape(self.exporter_port) is not None, 60, "the exporter's first scrape")

    def submit(self) -> str:
        path = self.folder / "sweep" / "sweep.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            textwrap.dedent(
                f"""\
                name: scale-{self.case.workers}
                method: {self.case.method}
                metric: {{name: loss, goal: minimize}}
                program: train.py
                parameters:
                  x: {{distribution: uniform, min: 0.0, max: 1.0}}
                  y: {{distribution: uniform, min: 0.0, max: 1.0}}
                run_cap: {self.case.run_cap}
                max_failures: {self.case.run_cap}
                seed: 1
                """
            )
        )
        sweep, _ = submit_sweep(self.store, path)
        return sweep.id

    def start_controller(self) -> None:
        argv = [sys.executable, "-m", "sweepctl", "controller"]
        self.procs["controller"] = start_group(argv, env=self.env, cwd=self.folder, log=self.folder / "controller.log")

    def pids(self) -> dict[str, list[int]]:
        found = {name: [p.pid] for name, p in self.procs.items()}
        found["simulated workers"] = [] if self.fleet is None else [self.fleet.pid, *fleet_members(self.fleet.pid)]
        if self.redis.pid is not None:
            found["redis-server"] = [self.redis.pid]
        return found

    def snapshot(self, sweep_id: str) -> Snapshot:
        cpu = {name: sum(process_cpu(pid) for pid in pids) for name, pids in self.pids().items()}
        info = self.store.redis.info()
        stats = self.store.redis.info("commandstats")
        return Snapshot(
            at=time.time(),
            cpu=cpu,
            redis_cpu=float(info["used_cpu_sys"]) + float(info["used_cpu_user"]),
            redis_commands=int(info["total_commands_processed"]),
            redis_memory=int(info["used_memory_dataset"]),
            created=self.store.trial_count(sweep_id),
            commandstats={name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()},
        )

    def stop_workers(self) -> list[dict[str, Any]]:
        """SIGTERM the simulated workers' group (each process writes its report) and read what they wrote."""
        if self.fleet is None:
            return []
        try:
            os.killpg(self.fleet.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.fleet.wait(60)
        except subprocess.TimeoutExpired:
            pass
        return [json.loads(out.read_text()) for out in self.sim_outputs if out.exists()]

    def close(self) -> None:
        if self.fleet is not None:
            stop_group(self.fleet, timeout=5)
        for proc in self.procs.values():
            stop_group(proc, timeout=10)
        self.redis.kill()


def fleet_members(leader: int) -> list[int]:
    """The processes of the simulated workers' fleet: the leader's children."""
    from workers.linux import live_processes

    return [pid for pid, parent, _ in live_processes() if parent == leader]


def _scrape(port: int) -> float | None:
    """Seconds one full scrape of the exporter took, or None when it did not answer."""
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as answer:
            answer.read()
    except OSError:
        return None
    return time.perf_counter() - began


def scrape_forever(port: int, every: float, stop: threading.Event, took: list[float]) -> None:
    while not stop.wait(every):
        seconds = _scrape(port)
        if seconds is not None:
            took.append(seconds)


# ---------------------------------------------------------------------------------------------
# figures


def busy_and_gaps(reports: Sequence[dict[str, Any]], start: float, end: float) -> tuple[list[float], list[float], int]:
    """(busy share per worker over [start, end], idle gaps in ms whose gap began inside it, trials ended inside it)."""
    shares: list[float] = []
    gaps: list[float] = []
    ended = 0
    for report in reports:
        for worker in report["workers"].values():
            spans = [(s, e) for s, e, _ in worker["spans"]]
            if worker["running_since"] is not None:
                spans.append((worker["running_since"], end))
            spans.sort()
            busy = sum(max(0.0, min(e, end) - max(s, start)) for s, e in spans)
            shares.append(busy / (end - start))
            ended += sum(1 for s, e, _ in worker["spans"] if start <= e < end)
            gaps.extend((nxt[0] - prev[1]) * 1000 for prev, nxt in zip(spans, spans[1:]) if start <= prev[1] < end)
    return shares, gaps, ended


def calls_in(reports: Sequence[dict[str, Any]], start: float, end: float) -> dict[str, float]:
    """Calls per second of each counted Store method by the simulated workers over [start, end)."""
    totals: Counter[str] = Counter()
    for report in reports:
        for name, by_second in report["calls"].items():
            totals[name] += sum(n for s, n in by_second.items() if start <= int(s) < end)
    return {name: n / (end - start) for name, n in totals.items()}


def figures(
    case: Case, before_sweep: int, a: Snapshot, b: Snapshot, reports: Sequence[dict[str, Any]], scrapes: list[float]
) -> CaseResult:
    window = b.at - a.at
    shares, gaps, trials = busy_and_gaps(reports, a.at, b.at)
    cores = {name: (b.cpu.get(name, 0.0) - a.cpu.get(name, 0.0)) / window for name in b.cpu}
    cores["redis-server (INFO cpu)"] = (b.redis_cpu - a.redis_cpu) / window
    commands = {name: (n - a.commandstats.get(name, 0)) / window for name, n in b.commandstats.items()}
    return CaseResult(
        case=case,
        window=window,
        busy_mean=statistics.fmean(shares) if shares else 0.0,
        busy_p10=percentile(shares, 10),
        gaps_ms=gaps,
        trials=trials,
        cpu_cores=cores,
        controller_cpu_ms_per_trial=(b.cpu["controller"] - a.cpu["controller"]) * 1000 / max(1, trials),
        redis_ops=(b.redis_commands - a.redis_commands) / window,
        redis_bytes_per_trial=(b.redis_memory - before_sweep) / max(1, b.created),
        calls_per_s=calls_in(reports, a.at, b.at),
        scrapes_ms=[s * 1000 for s in scrapes],
        load=" ".join(f"{x:.2f}" for x in os.getloadavg()),
        created=b.created,
        top_commands=sorted(commands.items(), key=lambda kv: -kv[1])[:8],
    )


# ---------------------------------------------------------------------------------------------
# profiling (py-spy, when installed)


def py_spy() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return found if Path(found).exists() else None


def start_profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    tool = py_spy()
    if tool is None:
        return None
    # --idle: the controller's wall time, waits on Redis included (it is latency-bound when the machine is busy).
    argv = [tool, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "50", "--idle", "--format", "raw",
            "--output", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def top_frames(path: Path, limit: int = 8) -> list[tuple[str, float]]:
    """Where the controller's wall time went, from py-spy's raw (collapsed) output: the share of samples idle (blocked on
    the events list), busy but waiting for a Redis reply, then each sweepctl function's share as the deepest of
    sweepctl's frames on the stack."""
    if not path.exists():
        return []
    deepest: Counter[str] = Counter()
    idle = waiting = total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        if any("wait_for_event" in f for f in frames):
            idle += n  # nothing to do: blocked on the events list
            continue
        if any("read_response" in f or "_read_from_socket" in f for f in frames):
            waiting += n
        ours = [f for f in frames if f.split(" (")[-1].startswith(("controller/", "sweepctl/"))]
        if ours:
            deepest[ours[-1]] += n
    if not total:
        return []
    shares = [("idle, waiting for an event", idle / total), ("busy, waiting for a Redis reply", waiting / total)]
    return [*shares, *((name, n / total) for name, n in deepest.most_common(limit))]


# ---------------------------------------------------------------------------------------------
# one case


def run_case(
    case: Case, *, warmup: float, measure: float, processes: int, scrape_every: float, profile: bool, nice: int
) -> CaseResult:
    print(f"[scale] {case.workers} workers, {case.duration:g} s trials, {case.method} ...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="sweepctl-scale-") as tmp:
        system = System(Path(tmp), case, processes, nice)
        stop = threading.Event()
        try:
            system.start_workers()
            system.start_exporter()
            before_sweep = int(system.store.redis.info("memory")["used_memory_dataset"])
            sweep_id = system.submit()
            system.start_controller()
            if stop.wait(warmup):
                raise RuntimeError("interrupted")
            scrapes: list[float] = []
            scraper = threading.Thread(target=scrape_forever, args=(system.exporter_port, scrape_every, stop, scrapes), daemon=True)
            a = system.snapshot(sweep_id)
            scraper.start()
            spy = start_profile(system.procs["controller"].pid, measure, Path(tmp) / "controller.raw") if profile else None
            time.sleep(measure)
            b = system.snapshot(sweep_id)
            stop.set()
            scraper.join(60)
            if spy is not None:
                spy.wait(60)
            reports = system.stop_workers()
            result = figures(case, before_sweep, a, b, reports, scrapes)
            result.profile = top_frames(Path(tmp) / "controller.raw")
        finally:
            stop.set()
            system.close()
    print(f"[scale]   busy {result.busy_mean:.1%}, {result.rate:.1f} trials/s, load {result.load}", file=sys.stderr, flush=True)
    return result


# ---------------------------------------------------------------------------------------------
# memory mode


@dataclass
class MemoryResult:
    trials: int
    live: int
    workers: int
    seconds: float
    controller_rss_max: int
    controller_rss_end: int
    redis_bytes: int  # used_memory after the sweep ended minus before it was submitted
    by_kind: list[tuple[str, int, int]]  # (key pattern, keys, bytes by MEMORY USAGE)
    load: str

    @property
    def per_trial(self) -> float:
        return self.redis_bytes / self.trials


def rss(pid: int) -> int:
    """Resident set size of a process in bytes (0 once it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except OSError:
        return 0


def key_kind(key: str) -> str:
    """A key with its numbers and ids masked, so that keys of one type group together."""
    parts = key.split(":")
    return ":".join("N" if p.isdigit() else ("ID" if len(p) >= 8 and any(c.isdigit() for c in p) else p) for p in parts)


def memory_by_kind(store: Store) -> list[tuple[str, int, int]]:
    """(key pattern, keys, bytes) over every key, largest first (MEMORY USAGE, sampled in full for small collections)."""
    sizes: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    batch: list[str] = []

    def flush() -> None:
        pipe = store.redis.pipeline(transaction=False)
        for key in batch:
            pipe.memory_usage(key, samples=0)
        for key, used in zip(batch, pipe.execute()):
            sizes[key_kind(key)] += int(used or 0)
            counts[key_kind(key)] += 1
        batch.clear()

    for key in store.redis.scan_iter(count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            flush()
    flush()
    return [(kind, counts[kind], size) for kind, size in sizes.most_common()]


def prefill(store: Store, sweep_id: str, numbers: range, threads: int = 4) -> None:
    """Trials `numbers` created, claimed and finished COMPLETED through the store's scripts, with the fields a
    worker writes for a zero-length trial without metric points (the simulated workers' trials)."""
    rng = random.Random(sweep_id)
    params = [{"x": rng.random(), "y": rng.random()} for _ in numbers]

    def one(i: int) -> None:
        n, p = numbers[i], params[i]
        trial = Trial(sweep_id=sweep_id, number=n, state=TrialState.QUEUED, params=p, seed=n, created_at=time.time())
        assert store.create_trial(trial) is Outcome.OK
        store.mark_sent(sweep_id, [n], time.time())
        claimed = store.claim_trial(sweep_id, n, 1, worker="prefill/sim/1", host="prefill", gpu=None, argv=["train.py"], code=None)
        assert claimed is Outcome.OK
        loss = p["x"] + p["y"]
        summary = {"last_metrics": {"loss": loss}, "last_step": None, "reports": 0, "rejected_reports": {}}
        finished = store.finish_trial(
            sweep_id, n, 1, TrialState.COMPLETED, loss, points=[], first_point=0, error=None, exit_code=0, ended_at=time.time(),
            dropped_points=0, stdout_tail="", stderr_tail="", **summary,
        )
        assert finished is Outcome.OK

    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(one, range(len(numbers)), chunksize=256):
            pass


def run_memory(trials: int, live: int, workers: int, processes: int, timeout: float, nice: int) -> MemoryResult:
    case = Case(workers=workers, duration=0.0, points=0, run_cap=trials)
    print(f"[scale] memory: {trials:,} zero-length trials on {workers} workers ...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="sweepctl-scale-memory-") as tmp:
        system = System(Path(tmp), case, processes, nice)
        try:
            system.start_workers()
            before = int(system.store.redis.info("memory")["used_memory"])
            began = time.monotonic()
            sweep_id = system.submit()
            prefill(system.store, sweep_id, range(1, max(1, trials - live + 1)))
            filled = f"{trials - live:,} trials through the scripts in {time.monotonic() - began:.0f} s"
            print(f"[scale]   {filled}", file=sys.stderr, flush=True)
            system.start_controller()
            pid = system.procs["controller"].pid
            peak = 0
            deadline = began + timeout
            while time.monotonic() < deadline:
                peak = max(peak, rss(pid))
                if system.store.sweep_state(sweep_id).is_terminal and not system.store.active_numbers(sweep_id):
                    break
                time.sleep(2.0)
            else:
                raise RuntimeError(f"the {trials:,}-trial sweep did not end within {timeout:.0f} s")
            seconds = time.monotonic() - began
            peak = max(peak, rss(pid))
            system.stop_workers()
            end_rss = rss(pid)
            after = int(system.store.redis.info("memory")["used_memory"])
            finished = len(system.store.finished_numbers(sweep_id))
            kinds = memory_by_kind(system.store)
        finally:
            system.close()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return MemoryResult(finished, live, workers, seconds, peak, end_rss, after - before, kinds, load)


# ---------------------------------------------------------------------------------------------
# report


def _control(case: Case) -> str:
    """How the table marks a case whose workers poll control at another interval than the worker's own."""
    return "" if case.control_interval is None else f", control every {case.control_interval:g} s"


def case_rows(results: Sequence[CaseResult]) -> list[str]:
    lines = [
        "| workers | trial s | method | busy mean | busy p10 | idle gap p50 | idle gap p99 | trials/s | controller CPU/trial "
        "| controller cores | Redis cores | Redis ops/s | Redis bytes/trial | renewals/s | renewals / Redis ops "
        "| scrape p50 | scrape p99 | load (1, 5, 15 min) |",
        "|---" * 18 + "|",
    ]
    for r in results:
        renew = r.calls_per_s.get("renew_lease", 0.0)
        lines.append(
            f"| {r.case.workers:,} | {r.case.duration:g} | {r.case.method}{_control(r.case)} | {r.busy_mean:.1%} | {r.busy_p10:.1%} "
            f"| {percentile(r.gaps_ms, 50):.0f} ms | {percentile(r.gaps_ms, 99):.0f} ms | {r.rate:.1f} "
            f"| {r.controller_cpu_ms_per_trial:.2f} ms | {r.cpu_cores.get('controller', 0.0):.2f} "
            f"| {r.cpu_cores.get('redis-server (INFO cpu)', 0.0):.2f} | {r.redis_ops:,.0f} | {r.redis_bytes_per_trial:,.0f} "
            f"| {renew:.1f} | {renew / max(r.redis_ops, 1e-9):.2%} | {percentile(r.scrapes_ms, 50):.0f} ms "
            f"| {percentile(r.scrapes_ms, 99):.0f} ms | {r.load} |"
        )
    return lines


def detail_rows(results: Sequence[CaseResult]) -> list[str]:
    lines = ["", "CPU of each component over the window (cores; the machine has 2), and the workers' Store calls per second:", ""]
    for r in results:
        cores = ", ".join(f"{name} {c:.2f}" for name, c in sorted(r.cpu_cores.items(), key=lambda kv: -kv[1]))
        calls = ", ".join(f"{name} {n:.1f}" for name, n in sorted(r.calls_per_s.items(), key=lambda kv: -kv[1]))
        commands = ", ".join(f"{name} {n:,.0f}" for name, n in r.top_commands)
        lines.append(f"- {r.case.workers:,} workers, {r.case.duration:g} s ({r.window:.0f} s window, {r.trials:,} trials ended, "
                     f"{r.created:,} created): cores: {cores}. Worker calls/s: {calls}. Redis commands/s (commandstats, "
                     f"scripts' own commands included): {commands}.")
        if r.profile:
            frames = ", ".join(f"{name} {share:.0%}" for name, share in r.profile)
            lines.append(f"  - controller, py-spy over the window (share of wall-clock samples): {frames}.")
    return lines


def memory_rows(m: MemoryResult) -> list[str]:
    lines = [
        "",
        f"## Memory: {m.trials:,} finished trials, no metric points ({m.live:,} of them live on {m.workers} simulated workers), "
        f"{m.seconds:.0f} s, load {m.load}",
        "",
        "| controller RSS, peak | controller RSS, end | Redis bytes added | Redis bytes / finished trial |",
        "|---|---|---|---|",
        f"| {m.controller_rss_max / 2**20:.1f} MiB | {m.controller_rss_end / 2**20:.1f} MiB | {m.redis_bytes:,} | {m.per_trial:,.0f} |",
        "",
        "Redis memory by key type (MEMORY USAGE), after the sweep ended:",
        "",
        "| key | keys | bytes | bytes / finished trial |",
        "|---|---|---|---|",
    ]
    for kind, n, size in m.by_kind[:12]:
        lines.append(f"| `{kind}` | {n:,} | {size:,} | {size / m.trials:,.1f} |")
    return lines


def write_report(path: Path, results: Sequence[CaseResult], memory: MemoryResult | None, argv: Sequence[str]) -> str:
    lines = [
        "# scale.py: simulated workers on the real protocol",
        "",
        f"Command: `python benchmarks/scale.py {' '.join(argv)}`; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}.",
        "",
    ]
    if results:
        lines += case_rows(results) + detail_rows(results)
    if memory is not None:
        lines += memory_rows(memory)
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="100,300,1000", help="simulated worker counts, comma-separated")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds each simulated trial runs")
    parser.add_argument("--series", default="5,1", help="shorter trial durations run at the largest worker count ('' for none)")
    parser.add_argument("--method", default="random", help="the sweep's method (random, tpe)")
    parser.add_argument("--points", type=int, default=3, help="metric points each trial reports")
    parser.add_argument("--processes", type=int, default=8, help="OS processes the simulated workers are spread over")
    parser.add_argument("--warmup", type=float, default=None, help="seconds before the window [default: trial duration + 15]")
    parser.add_argument("--measure", type=float, default=None, help="seconds of the window [default: max(3 x duration, 30)]")
    parser.add_argument("--scrape-every", type=float, default=5.0, help="seconds between exporter scrapes")
    parser.add_argument(
        "--sim-nice", type=int, default=0,
        help="niceness of the simulated workers' fleet; it is one session, so at 0 it weighs as much as redis-server under "
        "autogroup scheduling",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy the controller over each window (py-spy must be installed)")
    parser.add_argument("--memory", action="store_true", help="run the memory mode instead")
    parser.add_argument("--memory-trials", type=int, default=100_000)
    parser.add_argument("--memory-live", type=int, default=2000, help="of which run live, through the controller and workers")
    parser.add_argument("--memory-workers", type=int, default=64)
    parser.add_argument(
        "--control-interval", type=float, default=None,
        help="seconds between a running trial's control polls by the simulated workers [default: the worker's own, 0.2]",
    )
    parser.add_argument("--output", type=Path, default=None, help=f"[default: {DEFAULT_OUTPUT}, with --memory {MEMORY_OUTPUT}]")
    args = parser.parse_args(argv)
    shown = list(sys.argv[1:] if argv is None else argv)
    if args.memory:
        memory = run_memory(
            args.memory_trials, args.memory_live, args.memory_workers, args.processes, timeout=3600, nice=args.sim_nice
        )
        print(write_report(args.output or MEMORY_OUTPUT, [], memory, shown))
        return 0
    counts = [int(w) for w in args.workers.split(",") if w]
    cases = [Case(w, args.duration, args.method, args.points, control_interval=args.control_interval) for w in counts]
    cases += [
        Case(max(counts), float(d), args.method, args.points, control_interval=args.control_interval) for d in args.series.split(",") if d
    ]
    results = []
    for case in cases:
        warmup = args.warmup if args.warmup is not None else case.duration + 15
        measure = args.measure if args.measure is not None else max(3 * case.duration, 30.0)
        results.append(
            run_case(case, warmup=warmup, measure=measure, processes=args.processes, scrape_every=args.scrape_every, profile=args.profile,
                     nice=args.sim_nice)
        )
        write_report(args.output or DEFAULT_OUTPUT, results, None, shown)  # what is measured so far survives a later failure
    print(write_report(args.output or DEFAULT_OUTPUT, results, None, shown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
