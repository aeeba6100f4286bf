"""Peers at the same scale: sweepctl vs Optuna on PostgreSQL and on its Redis journal, at 2, 8 and 32 processes.

Side by side in one run, the same objective for every system (a 6-D quadratic, minimum 0 at
x = (0.1, -0.2, 0.3, -0.4, 0.5, -0.6) in [-1, 1]^6, as a no-op and as one that sleeps 10 ms
first), the same TPE-style sampler where the systems have one, N trials per case:

- sweepctl, whole system: a private redis-server, `sweepctl worker --gpus none --concurrency P`
  (what a user with P CPU processes on one machine runs: one supervisor, P worker slots), the
  controller in this process (a thread), a `method: bayes` sweep (TPE; `--samplers tpe,random`
  adds `method: random`), `run_cap: N`, the default parallelism (one trial running and one
  queued per live worker), the default fork per trial (`--reuse-process` adds the opt-in
  `reuse_process: true`). Timed from submit to the sweep being done.
- Optuna with PostgreSQL storage (RDBStorage through psycopg2) on a private PostgreSQL server
  (benchmarks/_postgres.py), a fresh database per case.
- Optuna with its Redis journal storage (JournalStorage + JournalRedisBackend) on a private
  redis-server, a fresh key prefix per case.
  Both Optuna cases: P spawned processes on one study, each running study.optimize for its share
  of the N trials (N / P, what `n_trials` per process means), TPESampler(constant_liar=True)
  (or RandomSampler), a different seed per process. Timed from the moment all P processes have
  loaded the study and run one untimed warm-up trial (a barrier) to the last one finishing.

CPU per trial counts every process of the system (workers, trials, the controller thread, the
storage server and its backends), from /proc. At 32 processes on this machine's 2 cores every
system is oversubscribed alike: that is the point, it shows what each does with contention for
the CPU and for its storage. The best value found shows the samplers really ran (random
search over 6 dimensions stays well above TPE's).

    python benchmarks/peers_scale.py [--trials 400] [--processes 2,8,32] [--output benchmarks/results/peers_scale.md]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks._postgres import PrivatePostgres
from benchmarks.dispatch import (
    other_load,
    private_redis,
    process_cpu,
    run_sweep,
    start_sweepctl_workers,
    stop_group,
)

if TYPE_CHECKING:
    from sweepctl.embedded import EmbeddedRedis

DEFAULT_OUTPUT = Path(__file__).parent / "results" / "peers_scale.md"
DIMENSIONS = 6
OBJECTIVES_MODULE = '''
"""The benchmark's objective, one module imported by sweepctl's workers and by the Optuna processes alike."""
import time

CENTRE = (0.1, -0.2, 0.3, -0.4, 0.5, -0.6)


def quadratic(params):
    return sum((params[f"x{i}"] - c) ** 2 for i, c in enumerate(CENTRE))


def quadratic_10ms(params):
    time.sleep(0.01)
    return quadratic(params)
'''


class System(str, Enum):
    SWEEPCTL = "sweepctl"
    OPTUNA_POSTGRES = "Optuna + PostgreSQL"
    OPTUNA_JOURNAL = "Optuna + Redis journal"


class Sampler(str, Enum):
    TPE = "tpe"
    RANDOM = "random"

    @property
    def sweep_method(self) -> str:
        return "bayes" if self is Sampler.TPE else "random"


class Objective(str, Enum):
    QUADRATIC = "quadratic"
    QUADRATIC_10MS = "quadratic_10ms"

    @property
    def label(self) -> str:
        return "no-op" if self is Objective.QUADRATIC else "10 ms"


@dataclass(frozen=True)
class Case:
    sampler: Sampler
    objective: Objective

    @property
    def label(self) -> str:
        return f"{self.sampler.value}, {self.objective.label}"


@dataclass(frozen=True)
class Run:
    """One system's measurement of one case at one process count."""

    system: str  # a System's value, or "sweepctl, reuse_process"
    case: Case
    processes: int
    trials: int  # trials finished
    seconds: float
    cpu_seconds: float  # every process of the system, the storage server included
    storage_cpu_seconds: float
    best: float | None
    # requests the storage served per trial: Redis commands (INFO total_commands_processed) or
    # PostgreSQL transactions (pg_stat_database); the machine's load does not change it
    requests_per_trial: float | None = None

    @property
    def rate(self) -> float:
        return self.trials / self.seconds

    @property
    def cpu_ms_per_trial(self) -> float:
        return self.cpu_seconds * 1000 / max(self.trials, 1)

    @property
    def storage_ms_per_trial(self) -> float:
        return self.storage_cpu_seconds * 1000 / max(self.trials, 1)


@dataclass
class Idle:
    """CPU the idle sweepctl workers used while the peers ran beside them (they stay up between cases)."""

    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0


def tree_cpu(root: int) -> float:
    """CPU seconds of a process, its live descendants and every child they reaped (a postgres server and its backends)."""
    from workers.linux import live_processes

    children: dict[int, list[int]] = {}
    for pid, parent, _ in live_processes():
        children.setdefault(parent, []).append(pid)
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += process_cpu(pid, reaped_children=True)
        stack.extend(children.get(pid, []))
    return total


def redis_commands(url: str) -> int:
    """Commands the Redis server at `url` has processed since it started."""
    from sweepctl.settings import RedisSettings

    return int(RedisSettings.from_url(url).client().info("stats")["total_commands_processed"])


def write_objectives(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "peers_objectives.py").write_text(OBJECTIVES_MODULE)
    return folder


# ---------------------------------------------------------------------------------------------
# sweepctl


def write_sweep(folder: Path, name: str, case: Case, n: int, *, reuse: bool = False) -> Path:
    write_objectives(folder)
    parameters = "\n".join(f"  x{i}: {{distribution: uniform, min: -1.0, max: 1.0}}" for i in range(DIMENSIONS))
    path = folder / "sweep.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            name: {name}
            method: {case.sampler.sweep_method}
            metric: {{name: loss, goal: minimize}}
            function: "peers_objectives:{case.objective.value}"
            """
        )
        + ("reuse_process: true\n" if reuse else "")
        + f"parameters:\n{parameters}\nrun_cap: {n}\nmax_failures: {n}\nseed: 1\n"
    )
    return path


@dataclass
class SweepctlWorkers:
    """`sweepctl worker --concurrency COUNT` on the sweepctl Redis, and the sweeps run on it."""

    tmp: Path
    server: EmbeddedRedis
    count: int
    worker: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SweepctlWorkers:
        from sweepctl.settings import RedisSettings
        from sweepctl.store import Store

        self.settings = RedisSettings.from_url(self.server.url)
        self.store = Store.connect(self.settings)
        self.worker = start_sweepctl_workers(self.tmp, self.server.url, self.store, self.count, timeout=max(300.0, 15.0 * self.count))
        return self

    def __exit__(self, *exc: object) -> None:
        if self.worker is not None:
            stop_group(self.worker)

    def cpu(self) -> float:
        """CPU seconds of the worker processes so far (their trials included)."""
        return 0.0 if self.worker is None else tree_cpu(self.worker.pid)

    def warm_up(self, samplers: Sequence[Sampler]) -> None:
        """Untimed sweeps: first-use costs of the controller (hyperopt's import, TPE's first calls), the slots, the objective."""
        for sampler in samplers:
            tag = f"warmup-{self.count}-{sampler.value}"
            path = write_sweep(self.tmp / f"sweep-{tag}", tag, Case(sampler, Objective.QUADRATIC), 4 * self.count)
            run_sweep(self.store, self.settings, path, tag, 4 * self.count, 300)

    def run(self, case: Case, n: int, *, reuse: bool = False) -> Run:
        assert self.worker is not None, "use SweepctlWorkers as a context manager"
        tag = f"{self.count}-{case.sampler.value}-{case.objective.value}{'-reused' if reuse else ''}"
        path = write_sweep(self.tmp / f"sweep-{tag}", tag, case, n, reuse=reuse)
        commands = redis_commands(self.server.url)
        sweep = run_sweep(
            self.store, self.settings, path, tag, n, max(600.0, n * 2.0), worker_root=self.worker.pid, redis_pid=self.server.pid
        )
        cpu_ms = sum(sweep.cpu_ms.values())
        storage_ms = sweep.cpu_ms.get("redis-server", 0.0)
        system = "sweepctl, reuse_process" if reuse else System.SWEEPCTL.value
        return Run(
            system,
            case,
            self.count,
            sweep.trials,
            sweep.seconds,
            cpu_ms * sweep.trials / 1000,
            storage_ms * sweep.trials / 1000,
            sweep.best,
            (redis_commands(self.server.url) - commands) / max(sweep.trials, 1),
        )


# ---------------------------------------------------------------------------------------------
# Optuna


@dataclass(frozen=True)
class OptunaStorage:
    """Where an Optuna case keeps its study: picklable, each process opens its own connections."""

    system: System
    url: str
    prefix: str = ""  # the journal's key prefix

    def open(self) -> Any:
        import optuna

        if self.system is System.OPTUNA_POSTGRES:
            return optuna.storages.RDBStorage(self.url)
        from optuna.storages.journal import JournalRedisBackend, JournalStorage

        return JournalStorage(JournalRedisBackend(self.url, prefix=self.prefix))


def quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # the journal's Redis backend


def make_sampler(sampler: Sampler, seed: int) -> Any:
    import optuna

    if sampler is Sampler.TPE:
        return optuna.samplers.TPESampler(constant_liar=True, seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def _optuna_process(storage: OptunaStorage, name: str, case: Case, share: int, seed: int, folder: str, barrier: Any, results: Any) -> None:
    import optuna

    quiet_optuna()
    sys.path.insert(0, folder)
    import peers_objectives

    function = getattr(peers_objectives, case.objective.value)

    def objective(trial: optuna.Trial) -> float:
        return float(function({f"x{i}": trial.suggest_float(f"x{i}", -1.0, 1.0) for i in range(DIMENSIONS)}))

    opened = storage.open()
    # untimed: one trial of a warm-up study, so connections, imports and first calls are paid
    optuna.load_study(study_name=f"{name}-warmup", storage=opened, sampler=make_sampler(case.sampler, seed)).optimize(objective, n_trials=1)
    study = optuna.load_study(study_name=name, storage=opened, sampler=make_sampler(case.sampler, seed))
    barrier.wait()
    cpu, began = time.process_time(), time.time()
    study.optimize(objective, n_trials=share)
    results.put((began, time.time(), time.process_time() - cpu))


def bench_optuna(
    storage: OptunaStorage,
    name: str,
    case: Case,
    count: int,
    n: int,
    folder: Path,
    storage_cpu: Callable[[], float],
    requests: Callable[[], int],
) -> Run:
    import optuna

    quiet_optuna()
    opened = storage.open()
    for study_name in (f"{name}-warmup", name):
        # here first: the schema too, before P processes race to create it
        optuna.create_study(study_name=study_name, storage=opened, direction="minimize")
    if isinstance(opened, optuna.storages.RDBStorage):
        opened.engine.dispose()  # our connection ends, its statistics are written before they are read
        time.sleep(0.5)
    requests_before = requests()
    ctx = mp.get_context("spawn")  # no connection inherited through fork
    barrier = ctx.Barrier(count + 1)  # this process too: it reads the storage's CPU once all are ready
    results = ctx.Queue()
    shares = [n // count + (1 if i < n % count else 0) for i in range(count)]
    procs = [
        ctx.Process(target=_optuna_process, args=(storage, name, case, shares[i], i + 1, str(folder), barrier, results), daemon=True)
        for i in range(count)
    ]
    for p in procs:
        p.start()
    try:
        barrier.wait(timeout=max(600.0, 20.0 * count))
        storage_before = storage_cpu()
        spans = [results.get(timeout=max(600.0, n * 2.0)) for _ in procs]
        for p in procs:
            p.join(60)
        storage_after = storage_cpu()
        time.sleep(1.0)  # PostgreSQL backends write their statistics as they exit
        served = requests() - requests_before
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join(10)
    study = optuna.load_study(study_name=name, storage=storage.open())
    done = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    best = study.best_value if done else None
    storage_seconds = storage_after - storage_before
    seconds = max(e for _, e, _ in spans) - min(b for b, _, _ in spans)
    cpu = sum(c for _, _, c in spans) + storage_seconds
    # `served` includes the P untimed warm-up trials: they are counted in
    return Run(storage.system.value, case, count, len(done), seconds, cpu, storage_seconds, best, served / (len(done) + count))


# ---------------------------------------------------------------------------------------------
# report


def progress(run: Run) -> None:
    print(
        f"[peers]   {run.system} @{run.processes} {run.case.label}: {run.rate:.1f} trials/s ({run.trials} in {run.seconds:.1f} s), "
        f"CPU {run.cpu_ms_per_trial:.1f} ms/trial, best {run.best}",
        file=sys.stderr,
        flush=True,
    )


def ratio(runs: Sequence[Run], processes: int, case: Case, system: str, peer: str) -> float | None:
    """system's trials/s over peer's, same process count and case (None when either is missing)."""
    rate = {r.system: r.rate for r in runs if r.processes == processes and r.case == case}
    return rate[system] / rate[peer] if system in rate and peer in rate else None


def installed(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def fmt(value: float | None, pattern: str) -> str:
    return "—" if value is None else pattern.format(value)


Load = tuple[str, tuple[float, float, float]]  # (when, os.getloadavg())


def build_report(runs: Sequence[Run], n: int, wall: float, loads: Sequence[Load], busy: Sequence[str], idle: Idle) -> str:
    cases = list(dict.fromkeys(r.case for r in runs))
    counts = sorted({r.processes for r in runs})
    peers = [System.OPTUNA_POSTGRES.value, System.OPTUNA_JOURNAL.value]
    mine = list(dict.fromkeys(r.system for r in runs if r.system not in peers))
    lines = [
        "# peers_scale.py: sweepctl and Optuna at 2, 8 and 32 worker processes",
        "",
        f"{n} trials per case, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, Optuna {installed('optuna')}, "
        f"hyperopt {installed('hyperopt')}, psycopg2 {installed('psycopg2-binary')}; whole run {wall:.0f} s.",
        "Load average (1 / 5 / 15 min): " + "; ".join(f"{what} {a:.2f} / {b:.2f} / {c:.2f}" for what, (a, b, c) in loads) + ".",
        ("Other processes using CPU when the run started: " + "; ".join(busy)) if busy else "No other process used CPU when it started.",
        "",
        f"Oversubscribed on purpose: at 32 processes every system runs 32 workers on {os.cpu_count()} cores, so what is measured "
        "there is how each copes with contention for the CPU and for its storage, not parallel speed-up.",
        "",
        "| processes | case | system | trials/s | CPU per trial | of it, storage server | storage requests per trial "
        "| best value | trials |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for count in counts:
        for case in cases:
            for r in (r for r in runs if r.processes == count and r.case == case):
                cpu = f"{r.cpu_ms_per_trial:.1f} ms | {r.storage_ms_per_trial:.1f} ms | {fmt(r.requests_per_trial, '{:.1f}')}"
                lines.append(f"| {count} | {case.label} | {r.system} | {r.rate:.1f} | {cpu} | {fmt(r.best, '{:.4f}')} | {r.trials} |")
    lines += ["", "Ratios of trials/s, sweepctl / peer (same processes, same case):", ""]
    header = [f"{s} / {p}" for s in mine for p in peers]
    lines += ["| processes | case | " + " | ".join(header) + " |", "|---|---|" + "---|" * len(header)]
    for count in counts:
        for case in cases:
            cells = [fmt(ratio(runs, count, case, s, p), "x{:.2f}") for s in mine for p in peers]
            lines.append(f"| {count} | {case.label} | " + " | ".join(cells) + " |")
    share = idle.cpu_seconds / idle.wall_seconds if idle.wall_seconds else 0.0
    lines += [
        "",
        "CPU per trial: user + system time of every process of the system (sweepctl: the controller thread, the worker "
        "supervisor, slots, launchers and trials, redis-server; Optuna: the P processes, where its sampler runs, and the "
        "storage server with its backends), divided by the trials finished. Storage requests per trial: commands the Redis "
        "server processed (sweepctl: everything, heartbeats included; the journal: its reads and appends) or transactions "
        "PostgreSQL committed in the case's database, the peers' P warm-up trials counted in; unlike the rates, the "
        "machine's load does not change them.",
        f"The sweepctl workers stay up while the peers run (each case runs the three systems back to back): idle, they used "
        f"{idle.cpu_seconds:.1f} CPU-seconds over the peers' {idle.wall_seconds:.0f} s, {100 * share:.1f}% of one core.",
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# main


def parse_cases(samplers: str, objectives: str) -> list[Case]:
    try:
        return [Case(Sampler(s), Objective(o)) for s in samplers.split(",") for o in objectives.split(",")]
    except ValueError as exc:
        raise SystemExit(f"--samplers takes {[s.value for s in Sampler]}, --objectives {[o.value for o in Objective]}: {exc}") from exc


def run_all(tmp: Path, counts: Sequence[int], n: int, cases: Sequence[Case], reuse: bool, loads: list[Load]) -> tuple[list[Run], Idle]:
    """Per process count, per case, the three systems back to back, so that they share the machine's state."""
    folder = write_objectives(tmp / "optuna-objectives")
    runs: list[Run] = []
    idle = Idle()
    sweepctl_redis = private_redis(tmp / "redis-sweepctl")
    journal_redis = private_redis(tmp / "redis-journal")
    postgres = PrivatePostgres(folder=Path(tempfile.mkdtemp(prefix="sweepctl-bench-pg-")))
    try:
        postgres.start()
        pg_pid, journal_pid = postgres.pid, journal_redis.pid
        assert pg_pid is not None and journal_pid is not None
        for count in counts:
            print(f"[peers] {count} processes: starting sweepctl worker --concurrency {count} ...", file=sys.stderr, flush=True)
            with SweepctlWorkers(tmp, sweepctl_redis, count) as workers:
                workers.warm_up(list(dict.fromkeys(case.sampler for case in cases)))
                for case in cases:
                    for reused in (False, True) if reuse else (False,):
                        runs.append(workers.run(case, n, reuse=reused))
                        progress(runs[-1])
                    name = f"p{count}_{case.sampler.value}_{case.objective.value}"
                    for storage, cpu, requests in (
                        (
                            OptunaStorage(System.OPTUNA_POSTGRES, postgres.create_database(name)),
                            lambda: tree_cpu(pg_pid),
                            lambda: postgres.transactions(name),
                        ),
                        (
                            OptunaStorage(System.OPTUNA_JOURNAL, journal_redis.url, prefix=name),
                            lambda: process_cpu(journal_pid),
                            lambda: redis_commands(journal_redis.url),
                        ),
                    ):
                        print(f"[peers] {count} processes: {storage.system.value}, {case.label} ...", file=sys.stderr, flush=True)
                        idle_before, began = workers.cpu(), time.perf_counter()
                        runs.append(bench_optuna(storage, name, case, count, n, folder, cpu, requests))
                        idle.cpu_seconds += workers.cpu() - idle_before
                        idle.wall_seconds += time.perf_counter() - began
                        progress(runs[-1])
            loads.append((f"after {count} processes", os.getloadavg()))
    finally:
        postgres.stop()
        journal_redis.stop()
        sweepctl_redis.stop()
    return runs, idle


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--trials", type=int, default=400, help="trials per case and system (default 400)")
    parser.add_argument("--processes", default="2,8,32", help="worker process counts (default 2,8,32)")
    parser.add_argument("--samplers", default="tpe", help="tpe, random or both comma-separated (default tpe)")
    parser.add_argument("--objectives", default="quadratic,quadratic_10ms", help="quadratic (no-op), quadratic_10ms (default both)")
    parser.add_argument("--reuse-process", action="store_true", help="also sweepctl with reuse_process: true")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="markdown results file")
    args = parser.parse_args(argv)
    counts = [int(c) for c in args.processes.split(",")]
    if min(counts) < 1 or args.trials < 2 * max(counts):
        parser.error(f"--processes must be >= 1 and --trials at least twice the largest count ({2 * max(counts)})")
    cases = parse_cases(args.samplers, args.objectives)
    # SIGTERM unwinds like Ctrl-C: every `finally` stops the servers and worker groups this run started
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    loads: list[Load] = [("before", os.getloadavg())]
    busy = other_load()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sweepctl-peers-") as name:
        runs, idle = run_all(Path(name), counts, args.trials, cases, args.reuse_process, loads)
    text = build_report(runs, args.trials, time.perf_counter() - began, loads, busy, idle)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(f"[peers] written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
