"""Dispatch throughput and the idle gap between trials: sweepctl vs Optuna (sqlite) vs raw Celery.

Side by side in one run, each on 2 worker processes, N trials per case:

1. sweepctl, whole system: a private redis-server, `sweepctl worker --gpus none
   --concurrency 2` as a subprocess, the controller in this process (a thread), a
   `method: random` sweep with `run_cap: N` and the default parallelism (one trial
   running and one queued per live worker), for
   (a) a no-op `function:` objective, (b) a 10 ms `function:` objective and
   (c) a no-op `program:` (a Python script printing `loss=0`). Timed from submit to
   the sweep being done (terminal state, no active trial); the workers are up and
   answering Celery pings before the clock starts.
2. Idle gap, from the trial records of (a): per worker, trials sorted by started_at,
   gap = next.started_at - previous.ended_at (started_at is Redis server time,
   ended_at the worker's clock: the same machine here).
3. Optuna with RDB storage (sqlite file), RandomSampler, 2 processes each running
   study.optimize(objective, n_trials=N/2) on the same study; no-op and 10 ms.
4. Raw Celery floor: sweepctl's Celery configuration (make_celery) on its own private
   redis-server, 2 solo-pool worker processes, N no-op tasks each incrementing a Redis
   counter; timed from the first send until the counter reaches N.

Then the per-trial process cost (a trial forked by the slot's launcher, a program
exec'd from it, the git provenance lookup) is timed directly, 20 times each.

    python benchmarks/dispatch.py [--trials 200] [--repeats 20] [--output benchmarks/results/dispatch.md]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sweepctl.records import Trial
    from sweepctl.settings import RedisSettings
    from sweepctl.store import Store

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks._processes import child_env, percentile, private_redis, process_cpu, start_group, stop_group, wait_for

DEFAULT_OUTPUT = Path(__file__).parent / "results" / "dispatch.md"
WORKERS = 2
REUSED_NOOP = "sweepctl function: no-op, reuse_process"
SLEEP_10MS = 0.01
COUNTER = "bench:done"
READY = "bench:ready"

OBJECTIVES_MODULE = '''
import time


def noop(params):
    return 0.0


def sleep10(params):
    time.sleep(0.01)
    return 0.0
'''

PROGRAM = 'print("loss=0")\n'

CELERY_FLOOR_MODULE = f'''
"""A no-op task on sweepctl's Celery configuration; each run increments a Redis counter."""
import os

from celery.signals import worker_ready

from sweepctl.celery_app import make_celery
from sweepctl.settings import RedisSettings

settings = RedisSettings.from_url(os.environ["SWEEPCTL_REDIS_URL"])
app = make_celery(settings)
_redis = settings.client()


@app.task(name="bench.noop", ignore_result=True)
def noop():
    _redis.incr("{COUNTER}")


@worker_ready.connect
def _ready(**kwargs):
    _redis.incr("{READY}")
'''


# ---------------------------------------------------------------------------------------------
# 1-2. sweepctl, whole system


@dataclass
class SweepRun:
    case: str
    trials: int
    seconds: float
    states: dict[str, int]
    gaps_ms: list[float] = field(default_factory=list)
    durations_ms: list[float] = field(default_factory=list)
    cpu_ms: dict[str, float] = field(default_factory=dict)  # component -> CPU ms per trial
    best: float | None = None  # the lowest objective of a completed trial (every sweep here minimizes)

    @property
    def rate(self) -> float:
        return self.trials / self.seconds


def component_pids(root: int) -> dict[str, list[int]]:
    """The worker's processes by role: supervisor, slot workers, launchers (their trials are reaped children)."""
    from workers.linux import live_processes

    children: dict[int, list[int]] = defaultdict(list)
    for pid, parent, _ in live_processes():
        children[parent].append(pid)
    roles: dict[str, list[int]] = defaultdict(list)
    stack = [root]
    while stack:
        pid = stack.pop()
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "workers.launcher" in cmdline:
            roles["launchers + the trials they fork"].append(pid)
            continue  # trial processes are counted through the launcher's reaped-children time
        roles["worker slot processes (Celery + trial runner)" if "workers.process" in cmdline else "worker supervisor"].append(pid)
        stack.extend(children.get(pid, []))
    return roles


def cpu_snapshot(worker_root: int, redis_pid: int | None) -> dict[str, float]:
    snapshot = {
        role: sum(process_cpu(pid, reaped_children=role.startswith("launchers")) for pid in pids)
        for role, pids in component_pids(worker_root).items()
    }
    if redis_pid is not None:
        snapshot["redis-server"] = process_cpu(redis_pid)
    snapshot["controller (a thread of this process)"] = time.process_time()
    return snapshot


def write_sweep_folder(
    folder: Path, name: str, n: int, *, function: str | None = None, program: str | None = None, reuse: bool = False
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bench_objectives.py").write_text(OBJECTIVES_MODULE)
    (folder / "noop_program.py").write_text(PROGRAM)
    target = f'function: "{function}"' if function else f"program: {program}"
    if reuse:
        target += "\n            reuse_process: true"
    path = folder / "sweep.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            name: {name}
            method: random
            metric: {{name: loss, goal: minimize}}
            {target}
            parameters:
              x: {{distribution: uniform, min: 0.0, max: 1.0}}
            run_cap: {n}
            max_failures: {n}
            seed: 1
            """
        )
    )
    return path


def idle_gaps(trials: Sequence[Trial]) -> tuple[list[float], list[float]]:
    """(gaps, in-worker durations) in ms: per worker, next.started_at - previous.ended_at."""
    by_worker: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for t in trials:
        if t.worker and t.started_at is not None and t.ended_at is not None:
            by_worker[t.worker].append((t.started_at, t.ended_at))
    gaps: list[float] = []
    durations: list[float] = []
    for spans in by_worker.values():
        spans.sort()
        durations.extend((end - start) * 1000 for start, end in spans)
        gaps.extend((nxt[0] - prev[1]) * 1000 for prev, nxt in pairwise(spans))
    return gaps, durations


def run_sweep(
    store: Store,
    settings: RedisSettings,
    path: Path,
    case: str,
    n: int,
    timeout: float,
    *,
    worker_root: int | None = None,
    redis_pid: int | None = None,
) -> SweepRun:
    from controller.loop import Controller
    from sweepctl.celery_app import make_celery
    from sweepctl.lifecycle import submit_sweep
    from sweepctl.store import Store

    controller_store = Store.connect(settings)  # its own connections: the poller below must not share them
    controller = Controller(controller_store, make_celery(settings))
    stop = threading.Event()
    cpu_before = cpu_snapshot(worker_root, redis_pid) if worker_root is not None else {}
    began = time.perf_counter()
    sweep, _ = submit_sweep(store, path)
    thread = threading.Thread(target=controller.run, args=(stop,), kwargs={"only": {sweep.id}, "until_idle": True}, daemon=True)
    thread.start()
    try:
        # The controller returns once the sweep is over (terminal, nothing active, retired):
        # joining it measures that without a poller taking CPU from the system under test.
        thread.join(timeout)
        elapsed = time.perf_counter() - began
        cpu_after = cpu_snapshot(worker_root, redis_pid) if worker_root is not None else {}
        if thread.is_alive() or not store.sweep_state(sweep.id).is_terminal or store.active_numbers(sweep.id):
            raise RuntimeError(f"sweep {case} did not finish within {timeout:.0f} s")
    finally:
        stop.set()
        thread.join(10)
    trials = store.get_trials(sweep.id)
    states: dict[str, int] = defaultdict(int)
    for t in trials:
        states[t.state.value] += 1
    gaps, durations = idle_gaps(trials)
    cpu = {k: (cpu_after[k] - cpu_before.get(k, 0.0)) * 1000 / len(trials) for k in cpu_after}
    best = min((t.objective for t in trials if t.objective is not None and t.state.value == "completed"), default=None)
    return SweepRun(case, len(trials), elapsed, dict(states), gaps, durations, cpu, best)


@dataclass(frozen=True)
class Round:
    """One round of the paired no-op cases, run back to back so that they share the machine's state."""

    fork: float  # sweepctl, a fork per trial: trials/s
    reused: float  # sweepctl, reuse_process: trials/s
    optuna: float  # Optuna-sqlite: trials/s


def start_sweepctl_workers(tmp: Path, redis_url: str, store: Store, count: int, timeout: float = 60.0) -> subprocess.Popen[bytes]:
    """`sweepctl worker --gpus none --concurrency COUNT` in its own process group, once every slot answers."""
    from sweepctl.celery_app import make_celery
    from sweepctl.settings import RedisSettings

    worker = start_group(
        [sys.executable, "-m", "sweepctl", "worker", "--gpus", "none", "--concurrency", str(count)],
        env=child_env(redis_url),
        cwd=tmp,
        log=tmp / f"sweepctl-worker-{count}.log",
    )
    try:
        wait_for(lambda: len(store.workers()) >= count, timeout, f"the {count} sweepctl workers to register")
        # Registered means heartbeating; also wait until every Celery consumer answers.
        pinger = make_celery(RedisSettings.from_url(redis_url))
        try:
            wait_for(lambda: len(pinger.control.ping(timeout=1.0) or []) >= count, timeout, "the Celery consumers to answer pings")
        except AssertionError:  # wait_for's timeout
            time.sleep(3.0)
    except BaseException:
        stop_group(worker)
        raise
    return worker


def bench_sweepctl(tmp: Path, n: int, rounds: int = 0) -> tuple[list[SweepRun], list[Round]]:
    """The sweepctl cases; then `rounds` rounds of fork / reuse_process / Optuna no-op, back to back."""
    from sweepctl.settings import RedisSettings
    from sweepctl.store import Store

    server = private_redis(tmp / "redis-sweepctl")
    worker = None
    try:
        settings = RedisSettings.from_url(server.url)
        store = Store.connect(settings)
        worker = start_sweepctl_workers(tmp, server.url, store, WORKERS)
        # A short untimed sweep: the controller's and workers' first-use costs are not counted.
        run_sweep(
            store, settings, write_sweep_folder(tmp / "sweep-warmup", "warmup", 4, function="bench_objectives:noop"), "warm-up", 4, 120
        )
        timeout = max(300.0, n * 2.0)
        measured = {"worker_root": worker.pid, "redis_pid": server.process.pid if server.process else None}
        runs = [
            run_sweep(
                store,
                settings,
                write_sweep_folder(tmp / "sweep-a", "noop-fn", n, function="bench_objectives:noop"),
                "sweepctl function: no-op",
                n,
                timeout,
                **measured,
            ),
            run_sweep(
                store,
                settings,
                write_sweep_folder(tmp / "sweep-b", "sleep10-fn", n, function="bench_objectives:sleep10"),
                "sweepctl function: 10 ms",
                n,
                timeout,
                **measured,
            ),
            run_sweep(
                store,
                settings,
                write_sweep_folder(tmp / "sweep-c", "noop-program", n, program="noop_program.py"),
                "sweepctl program: no-op",
                n,
                timeout,
                **measured,
            ),
            run_sweep(
                store,
                settings,
                write_sweep_folder(tmp / "sweep-d", "noop-fn-reused", n, function="bench_objectives:noop", reuse=True),
                REUSED_NOOP,
                n,
                timeout,
                **measured,
            ),
            run_sweep(
                store,
                settings,
                write_sweep_folder(tmp / "sweep-e", "sleep10-fn-reused", n, function="bench_objectives:sleep10", reuse=True),
                "sweepctl function: 10 ms, reuse_process",
                n,
                timeout,
                **measured,
            ),
        ]
        paired = []
        for r in range(rounds):
            print(f"[dispatch] paired no-op round {r + 1}/{rounds} ...", file=sys.stderr, flush=True)
            fork = run_sweep(
                store,
                settings,
                write_sweep_folder(tmp / f"round-{r}-fork", f"round-{r}-fork", n, function="bench_objectives:noop"),
                "round",
                n,
                timeout,
            )
            reused = run_sweep(
                store,
                settings,
                write_sweep_folder(tmp / f"round-{r}-reused", f"round-{r}-reused", n, function="bench_objectives:noop", reuse=True),
                "round",
                n,
                timeout,
            )
            seconds, done = bench_optuna(tmp, n, False, tag=f"-round-{r}")
            paired.append(Round(fork=fork.rate, reused=reused.rate, optuna=done / seconds))
        return runs, paired
    finally:
        if worker is not None:
            stop_group(worker)
        server.stop()


# ---------------------------------------------------------------------------------------------
# 3. Optuna with sqlite storage


def _optuna_noop(trial: Any) -> float:
    trial.suggest_float("x", 0.0, 1.0)
    return 0.0


def _optuna_sleep10(trial: Any) -> float:
    trial.suggest_float("x", 0.0, 1.0)
    time.sleep(SLEEP_10MS)
    return 0.0


def _optuna_process(storage: str, study_name: str, n_trials: int, sleep: bool, seed: int, barrier: Any, results: Any) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=study_name, storage=storage, sampler=optuna.samplers.RandomSampler(seed=seed), load_if_exists=True
    )
    barrier.wait()
    began = time.time()
    study.optimize(_optuna_sleep10 if sleep else _optuna_noop, n_trials=n_trials)
    results.put((began, time.time()))


def bench_optuna(tmp: Path, n: int, sleep: bool, tag: str = "") -> tuple[float, int]:
    """(seconds from the first process starting optimize to the last one finishing, trials recorded)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = ("sleep10" if sleep else "noop") + tag
    storage = f"sqlite:///{tmp / f'optuna-{name}.db'}"
    optuna.create_study(study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
    ctx = mp.get_context("spawn")  # no sqlite connection inherited through fork
    barrier = ctx.Barrier(WORKERS)
    results = ctx.Queue()
    per_process = [n // WORKERS + (1 if i < n % WORKERS else 0) for i in range(WORKERS)]
    procs = [
        ctx.Process(target=_optuna_process, args=(storage, name, per_process[i], sleep, i + 1, barrier, results))
        for i in range(WORKERS)
    ]
    for p in procs:
        p.start()
    spans = [results.get(timeout=max(300.0, n * 2.0)) for _ in procs]
    for p in procs:
        p.join(30)
    done = len(optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False))
    return max(e for _, e in spans) - min(b for b, _ in spans), done


# ---------------------------------------------------------------------------------------------
# 4. raw Celery floor


def bench_celery_floor(tmp: Path, n: int) -> float:
    from sweepctl.celery_app import make_celery
    from sweepctl.settings import RedisSettings

    folder = tmp / "celery-floor"
    folder.mkdir()
    (folder / "floor_tasks.py").write_text(CELERY_FLOOR_MODULE)
    server = private_redis(tmp / "redis-celery")
    workers = []
    try:
        settings = RedisSettings.from_url(server.url)
        client = settings.client()
        env = child_env(server.url, pythonpath=[folder])
        for i in range(WORKERS):
            workers.append(
                start_group(
                    [sys.executable, "-m", "celery", "-A", "floor_tasks", "worker", "-P", "solo", "-c", "1", "-Q", "sweepctl",
                     "-n", f"floor{i}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel=WARNING"],
                    env=env,
                    cwd=folder,
                    log=tmp / f"celery-floor-{i}.log",
                )
            )
        wait_for(lambda: int(client.get(READY) or 0) >= WORKERS, 60, "the Celery floor workers to be ready")
        app = make_celery(settings)
        warmup = 4
        for _ in range(warmup):
            app.send_task("bench.noop", queue="sweepctl")
        wait_for(lambda: int(client.get(COUNTER) or 0) >= warmup, 30, "the Celery warm-up tasks")
        target = warmup + n
        began = time.perf_counter()
        for _ in range(n):
            app.send_task("bench.noop", queue="sweepctl")
        wait_for(lambda: int(client.get(COUNTER) or 0) >= target, max(120.0, n * 0.5), "the Celery floor tasks", interval=0.001)
        return time.perf_counter() - began
    finally:
        for w in workers:
            stop_group(w)
        server.stop()


# ---------------------------------------------------------------------------------------------
# per-trial process cost of a function trial


def time_command(argv: list[str], *, env: dict[str, str], cwd: Path, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        done = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, check=False)
        times.append((time.perf_counter() - began) * 1000)
        if done.returncode != 0:
            raise RuntimeError(f"{argv} exited {done.returncode}: {done.stderr.decode(errors='replace')[-500:]}")
    return times


def time_call(fn: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append((time.perf_counter() - began) * 1000)
    return times


def time_trial(
    launcher: Any, argv: list[str], *, env: dict[str, str], cwd: Path, function: str | None, repeats: int, reuse: bool = False
) -> list[float]:
    """Start a trial through the slot's launcher and wait until it ended and its output is drained."""
    from workers.trial_process import TrialProcess

    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        process = TrialProcess(
            launcher, argv, env=env, cwd=str(cwd), on_stdout_line=lambda line: None, function=function, metric="loss", reuse=reuse
        )
        code = process.wait(None)
        process.kill_leftovers()
        process.finish_output()
        times.append((time.perf_counter() - began) * 1000)
        if code != 0:
            raise RuntimeError(f"{function or argv} exited {code}: {process.stderr.text()[-500:]}")
    return times


def process_costs(tmp: Path, repeats: int) -> list[tuple[str, list[float]]]:
    from workers.provenance import code_version
    from workers.trial_process import LauncherClient

    folder = tmp / "sweep-a"  # has bench_objectives.py, as a trial's cwd
    env = child_env()
    env.update({"SWEEPCTL_PARAMS": '{"x": 0.5}', "SWEEPCTL_TRIAL_SEED": "1", "PYTHONUNBUFFERED": "1"})
    py = sys.executable
    launcher = LauncherClient(5.0)
    try:
        time_trial(launcher, ["/bin/true"], env=env, cwd=folder, function=None, repeats=1)  # the launcher's own start
        rows = [
            (
                "`python -c pass` (a bare interpreter start, for scale)",
                time_command([py, "-c", "pass"], env=env, cwd=folder, repeats=repeats),
            ),
            (
                "`function:` no-op trial forked by the launcher",
                time_trial(launcher, [], env=env, cwd=folder, function="bench_objectives:noop", repeats=repeats),
            ),
            (
                "`function:` no-op trial in the slot's reused process (`reuse_process: true`)",
                time_trial(launcher, [], env=env, cwd=folder, function="bench_objectives:noop", repeats=repeats, reuse=True),
            ),
            (
                "`/bin/true` as a `program:` trial (fork + exec)",
                time_trial(launcher, ["/bin/true"], env=env, cwd=folder, function=None, repeats=repeats),
            ),
            (
                "`python noop_program.py` as a `program:` trial",
                time_trial(launcher, [py, "noop_program.py"], env=env, cwd=folder, function=None, repeats=repeats),
            ),
            ("provenance.code_version(sweep folder), not a git tree (no git call)", time_call(lambda: code_version(folder), repeats)),
            ("provenance.code_version(repo folder), a git tree (1 git call)", time_call(lambda: code_version(REPO), repeats)),
        ]
    finally:
        launcher.close()
    return rows


# ---------------------------------------------------------------------------------------------
# report


def other_load() -> list[str]:
    """Other processes using CPU now (ps), so a shared machine is visible in the results."""
    try:
        out = subprocess.run(["ps", "-eo", "pid,pcpu,args", "--sort=-pcpu"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    busy = []
    for line in out.splitlines()[1:]:
        parts = line.split(None, 2)
        if len(parts) == 3 and int(parts[0]) != os.getpid() and float(parts[1]) >= 20.0:
            busy.append(f"{parts[1]}% {parts[2][:100]}")
    return busy


def fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"x{value:.2f}"


def paired_rounds(rounds: Sequence[Round]) -> list[str]:
    """The report's lines on the back-to-back rounds: each round's ratios, and their medians."""
    if not rounds:
        return []
    lines = [
        f"## No-op ratios in {len(rounds)} more rounds, each case back to back (this machine's speed drifts by ±20% between minutes)",
        "",
        "| round | fork per trial | reuse_process | Optuna-sqlite | fork / Optuna | reuse_process / Optuna |",
        "|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(rounds, 1):
        lines.append(f"| {i} | {r.fork:.1f} | {r.reused:.1f} | {r.optuna:.1f} | x{r.fork / r.optuna:.2f} | x{r.reused / r.optuna:.2f} |")
    fork = statistics.median(r.fork / r.optuna for r in rounds)
    reused = statistics.median(r.reused / r.optuna for r in rounds)
    lines += ["", f"Median ratio over the rounds: fork per trial x{fork:.2f}, reuse_process x{reused:.2f}.", ""]
    return lines


def build_report(
    n: int,
    runs: list[SweepRun],
    rounds: list[Round],
    optuna: dict[str, tuple[float, int]],
    floor_seconds: float,
    costs: list[tuple[str, list[float]]],
    wall: float,
    load_before: tuple[float, float, float],
    busy_before: list[str],
) -> str:
    opt_rate = {k: done / secs for k, (secs, done) in optuna.items()}
    floor_rate = n / floor_seconds
    rows = []
    for run in runs:
        match = "sleep10" if "10 ms" in run.case else "noop"
        rows.append((run.case, run.rate, run.rate / opt_rate[match], run.rate / floor_rate))
    rows.append(("Optuna 5.0 sqlite, RandomSampler: no-op", opt_rate["noop"], 1.0, opt_rate["noop"] / floor_rate))
    rows.append(("Optuna 5.0 sqlite, RandomSampler: 10 ms", opt_rate["sleep10"], 1.0, opt_rate["sleep10"] / floor_rate))
    rows.append(("raw Celery floor (make_celery, solo pool): no-op task", floor_rate, floor_rate / opt_rate["noop"], 1.0))

    a = runs[0]
    reused = next(r for r in runs if r.case == REUSED_NOOP)
    lines = [
        "# dispatch.py: trials per second on 2 worker processes",
        "",
        (
            f"{n} trials per case, {WORKERS} worker processes each, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; "
            f"whole run {wall:.0f} s. Load average before the run: {load_before[0]:.2f} / {load_before[1]:.2f} / {load_before[2]:.2f}."
        ),
    ]
    if busy_before:
        lines.append("Other processes using CPU when the run started (figures taken while sharing the CPU): " + "; ".join(busy_before))
    else:
        lines.append("No other process was using CPU when the run started.")
    lines += [
        "",
        "| case | trials/s | vs Optuna-sqlite (same objective) | vs Celery floor |",
        "|---|---|---|---|",
    ]
    for case, rate, vs_opt, vs_floor in rows:
        lines.append(f"| {case} | {rate:.1f} | {fmt_ratio(vs_opt)} | {fmt_ratio(vs_floor)} |")
    lines += [
        "",
        "The ratio of the Celery floor row in the Optuna column is floor / Optuna no-op.",
        "",
        "Trial states: " + "; ".join(f"{r.case}: " + ", ".join(f"{k} {v}" for k, v in sorted(r.states.items())) for r in runs)
        + f"; Optuna trials recorded: no-op {optuna['noop'][1]}, 10 ms {optuna['sleep10'][1]}.",
        "",
        "## Idle gap per worker (next trial's started_at - previous trial's ended_at)",
        "",
        "| case | gaps | median | p90 | p99 | max | in-worker trial time (started->ended), median | per-worker cycle (2 / rate) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r.case} | {len(r.gaps_ms)} | {percentile(r.gaps_ms, 50):.1f} ms | {percentile(r.gaps_ms, 90):.1f} ms | "
            f"{percentile(r.gaps_ms, 99):.1f} ms | {max(r.gaps_ms, default=float('nan')):.1f} ms | "
            f"{percentile(r.durations_ms, 50):.1f} ms | {WORKERS / r.rate * 1000:.1f} ms |"
        )
    roles = sorted({role for r in runs for role in r.cpu_ms})
    if roles:
        lines += [
            "",
            "## CPU per trial by component (ms of CPU time, user + system, per trial)",
            "",
            "| case | " + " | ".join(roles) + " | total |",
            "|---|" + "---|" * (len(roles) + 1),
        ]
        for r in runs:
            cells = [f"{r.cpu_ms.get(role, 0.0):.2f}" for role in roles]
            lines.append(f"| {r.case} | " + " | ".join(cells) + f" | {sum(r.cpu_ms.values()):.2f} |")
        lines.append(f"With {os.cpu_count()} CPUs, a total of T ms per trial caps the rate at {os.cpu_count()} x 1000 / T trials/s.")
    lines += [
        "",
        (
            f"Acceptance: whole-system no-op dispatch >= 3x Optuna-sqlite: {a.rate / opt_rate['noop']:.2f}x "
            f"({'met' if a.rate / opt_rate['noop'] >= 3 else 'NOT met'}); median idle gap < 20 ms: "
            f"{percentile(a.gaps_ms, 50):.1f} ms ({'met' if percentile(a.gaps_ms, 50) < 20 else 'NOT met'})."
        ),
        (
            f"With `reuse_process: true` (opt-in: one process runs a slot's trials one after another): "
            f"{reused.rate / opt_rate['noop']:.2f}x ({'met' if reused.rate / opt_rate['noop'] >= 3 else 'NOT met'}); "
            f"median idle gap {percentile(reused.gaps_ms, 50):.1f} ms."
        ),
        "",
        *paired_rounds(rounds),
        f"## Per-trial process cost, timed directly ({len(costs[0][1])} runs each)",
        "",
        "| what | median | mean | min |",
        "|---|---|---|---|",
    ]
    for what, times in costs:
        lines.append(f"| {what} | {statistics.median(times):.1f} ms | {statistics.fmean(times):.1f} ms | {min(times):.1f} ms |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200, help="trials per case (default 200)")
    parser.add_argument("--repeats", type=int, default=20, help="runs of each process-cost measurement (default 20)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="extra back-to-back rounds of the no-op cases vs Optuna, for the ratio's spread (default 3)"
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="markdown results file")
    parser.add_argument("--sweepctl-only", action="store_true", help="only sweepctl's cases, printed, no report (while working on it)")
    args = parser.parse_args(argv)
    n = args.trials
    if n < WORKERS * 2:
        parser.error(f"--trials must be at least {WORKERS * 2}")
    if args.sweepctl_only:
        with tempfile.TemporaryDirectory(prefix="sweepctl-dispatch-") as name:
            for r in bench_sweepctl(Path(name), n)[0]:
                print(
                    f"{r.case}: {r.rate:.1f} trials/s, idle gap median {percentile(r.gaps_ms, 50):.1f} ms "
                    f"p99 {percentile(r.gaps_ms, 99):.1f} ms, in-worker trial median {percentile(r.durations_ms, 50):.1f} ms {r.states}"
                )
                print("    CPU ms per trial: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(r.cpu_ms.items())))
        return 0

    load_before = os.getloadavg()
    busy_before = other_load()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sweepctl-dispatch-") as name:
        tmp = Path(name)
        print(f"[dispatch] sweepctl whole system, {n} trials per case ...", file=sys.stderr, flush=True)
        runs, rounds = bench_sweepctl(tmp, n, args.rounds)
        for r in runs:
            print(f"[dispatch]   {r.case}: {r.rate:.1f} trials/s ({r.seconds:.2f} s) {r.states}", file=sys.stderr, flush=True)
        optuna: dict[str, tuple[float, int]] = {}
        for key, sleep in (("noop", False), ("sleep10", True)):
            print(f"[dispatch] Optuna sqlite, {key} ...", file=sys.stderr, flush=True)
            optuna[key] = bench_optuna(tmp, n, sleep)
            print(f"[dispatch]   {optuna[key][1] / optuna[key][0]:.1f} trials/s", file=sys.stderr, flush=True)
        print("[dispatch] raw Celery floor ...", file=sys.stderr, flush=True)
        floor = bench_celery_floor(tmp, n)
        print(f"[dispatch]   {n / floor:.1f} tasks/s", file=sys.stderr, flush=True)
        print("[dispatch] per-trial process costs ...", file=sys.stderr, flush=True)
        costs = process_costs(tmp, args.repeats)
        wall = time.perf_counter() - began
    text = build_report(n, runs, rounds, optuna, floor, costs, wall, load_before, busy_before)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"[dispatch] written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
