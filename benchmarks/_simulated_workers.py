"""Simulated workers for benchmarks/scale.py: many per OS process, each speaking the real worker protocol.

Each simulated worker is a thread with what a `sweepctl worker` slot process has, less the trial's process:

- its own kombu connection consuming the sweep's queue as Celery's worker does with sweepctl's configuration
  (`sweepctl.celery_app.make_celery`: JSON only, late acks, a prefetch of one): a message is taken with BRPOP
  only while the worker holds none, and acknowledged after its trial was recorded;
- the real `workers.trial.TrialRunner`: it reads the sweep and the trial, claims the attempt, renews the lease
  every `lease_seconds / 3`, flushes metric points, checks for stops every `control_interval` (its subscription
  to the trial's control channels; a read when told, or once a second) and records the result, through the real
  `sweepctl.store.Store` methods and Lua scripts;
- a heartbeat every `workers.process.HEARTBEAT_INTERVAL`, so the controller counts it as a live worker.

Only the trial's process is simulated (`SimulatedProcess`): it sleeps for the configured duration, prints
`--points` report lines spread over it (each a metric point) and exits 0. With `--points 0` it reports its
objective as a W&B summary would (`MetricBuffer.set_final`): a result and no metric history.

    python -m benchmarks._simulated_workers --processes 8 --workers 125 --duration 20 --points 3 --output FILE --tag p

starts a fleet of 8 processes of 125 workers each, in one session (one process group); without --processes,
one process of --workers workers. SWEEPCTL_REDIS_URL names the Redis. On SIGTERM each process writes what its
workers did to its FILE-N.json (FILE without --processes) and exits at once: trials still running are left to
their leases, as a killed worker leaves them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kombu import Exchange, Queue

from sweepctl.celery_app import RUN_TRIAL_TASK, make_celery
from sweepctl.records import Trial
from sweepctl.settings import REDIS_URL_ENV, RedisSettings
from sweepctl.spec import SweepSpec
from sweepctl.store import Store, worker_id
from workers.identity import WorkerIdentity
from workers.metric_buffer import MetricBuffer
from workers.process import HEARTBEAT_INTERVAL
from workers.trial import RunnerSettings, TrialRunner

QUEUE = "sweepctl"  # make_celery's task_default_queue, the queue a sweep without `queue:` is sent to
COUNTED = ("get_sweep", "get_trial", "claim_trial", "renew_lease", "record_progress", "trial_control", "finish_trial", "heartbeat_worker")


class CallCounts:
    """How many calls of each counted Store method began in each wall-clock second (thread safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_second: dict[str, Counter[int]] = {name: Counter() for name in COUNTED}

    def wrap(self, store: Store) -> Store:
        """Count the store's calls of COUNTED methods from now on (the instance's methods are replaced)."""
        for name in COUNTED:
            setattr(store, name, self._counted(name, getattr(store, name)))
        return store

    def _counted(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        counter = self.by_second[name]

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                counter[int(time.time())] += 1
            return method(*args, **kwargs)

        return call


class _NoOutput:
    """The output tails of a simulated trial: it prints nothing but its report lines."""

    def text(self) -> str:
        return ""

    def last_line(self) -> str:
        return ""


class SimulatedProcess:
    """Stands in for `workers.trial_process.TrialProcess`: sleeps `duration`, reports `points` lines, exits 0."""

    def __init__(self, duration: float, points: int, metrics: MetricBuffer, objective: float, tick: float) -> None:
        """`tick`: the longest a `wait` sleeps (see `wait`)."""
        self.started = time.time()
        self._tick = tick
        self._ends = time.monotonic() + duration
        began = time.monotonic()
        self._lines = [(began + duration * (i + 1) / (points + 1), f"step={i} loss={objective + 1.0 / (i + 1):.6f}") for i in range(points)]
        if points:
            self._lines.append((self._ends, f"step={points} loss={objective:.6f}"))
        self._metrics = metrics
        self._objective = objective
        self.ended: float | None = None
        self.stdout = self.stderr = _NoOutput()

    def _emit_due(self, now: float) -> None:
        while self._lines and self._lines[0][0] <= now:
            self._metrics.feed(self._lines.pop(0)[1])

    def _exit(self, code: int) -> int:
        if self.ended is None:
            self.ended = time.time()
            if code == 0 and not self._lines and self._metrics.objective_value is None:
                self._metrics.set_final({"loss": self._objective})  # no history: the objective as a W&B summary gives it
        return code

    def wait(self, timeout: float) -> int | None:
        """Sleep until the trial ends, its next report line is due or `tick` passed, whichever comes first.

        The runner asks for `poll_interval` (50 ms): a real worker's poll is a local waitpid, on its own
        machine. A thousand simulated workers share this one, so the sleep is stretched to `tick` (the
        runner's control interval, 200 ms): the runner's calls to Redis keep their real cadence (each is
        due at an interval of at least `tick`), and the trial's end is still seen at once.
        """
        now = time.monotonic()
        self._emit_due(now)
        until = min(self._ends, now + max(timeout, self._tick), *(t for t, _ in self._lines[:1]))
        if until > now:
            time.sleep(until - now)
        now = time.monotonic()
        self._emit_due(now)
        return self._exit(0) if now >= self._ends else None

    def stop(self, grace: float) -> int:
        return self._exit(-signal.SIGTERM)

    def kill_leftovers(self) -> None:
        pass

    def finish_output(self) -> None:
        pass


class SimulatedRunner(TrialRunner):
    """The real trial runner, whose trial process is a `SimulatedProcess`."""

    def __init__(self, store: Store, identity: WorkerIdentity, duration: float, points: int, settings: RunnerSettings) -> None:
        super().__init__(store, identity, settings)
        self.duration = duration
        self.points = points
        self.process: SimulatedProcess | None = None

    def _start(self, spec: SweepSpec, trial: Trial, argv: tuple[str, ...], folder: str, metrics: MetricBuffer) -> Any:
        objective = float(sum(v for v in trial.params.values() if isinstance(v, (int, float))))
        self.process = SimulatedProcess(self.duration, self.points, metrics, objective, self.settings.control_interval)
        return self.process


class SimulatedWorker:
    """One simulated worker slot: a Celery-configured consumer of the queue feeding a `SimulatedRunner`."""

    def __init__(
        self, settings: RedisSettings, store: Store, identity: WorkerIdentity, duration: float, points: int, runner: RunnerSettings
    ) -> None:
        self.app = make_celery(settings)
        self.runner = SimulatedRunner(store, identity, duration, points, runner)
        self.identity = identity
        self.spans: list[tuple[float, float, str]] = []  # (trial process start, its end, final state) of each trial run
        self.not_run = 0  # messages whose attempt was not ours to run (the claim refused it)
        self.ready = threading.Event()

    def current_start(self) -> float | None:
        process = self.runner.process
        return None if process is None or process.ended is not None else process.started

    def serve(self, stop: threading.Event) -> None:
        queue = Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE)  # as Celery declares its default queue
        taken: list[Any] = []
        # A Celery worker's event loop looks for unacked messages to restore every `unacked_restore_interval` (10 s);
        # kombu's drain_events, without that loop, looks after every empty poll (1 s: its BRPOP timeout) unless
        # throttled: a throttle of 10 polls keeps an idle simulated worker at the real worker's cadence.
        with self.app.connection_for_read(transport_options={"unacked_restore_throttle": 10}) as connection:
            with connection.Consumer(queue, callbacks=[lambda body, message: taken.append(message)], accept=["json"], no_ack=False) as c:
                c.qos(prefetch_count=1)  # worker_prefetch_multiplier 1 x concurrency 1
                self.ready.set()
                while not stop.is_set():
                    try:
                        connection.drain_events(timeout=1.0)
                    except TimeoutError:
                        continue
                    while taken:
                        self._run(taken.pop(0))

    def _run(self, message: Any) -> None:
        if message.headers.get("task") != RUN_TRIAL_TASK:
            message.ack()
            return
        sweep_id, number, attempt, *fold = message.decode()[0]
        self.runner.process = None
        state = self.runner.run(str(sweep_id), int(number), int(attempt), int(fold[0]) if fold else None)
        message.ack()  # late: after the result is recorded, as task_acks_late does
        process = self.runner.process
        if state is None or process is None or process.ended is None:
            self.not_run += 1
            return
        self.spans.append((process.started, process.ended, state.value))


def heartbeat(store: Store, workers: list[SimulatedWorker], stop: threading.Event) -> None:
    """What each worker process's heartbeat thread does, for every simulated worker of this process."""
    while not stop.is_set():
        for worker in workers:
            identity = worker.identity
            store.heartbeat_worker(identity.worker_id, {"host": identity.host, "slot": identity.slot, "gpu": None, "pid": os.getpid()})
        stop.wait(HEARTBEAT_INTERVAL)


def report(workers: list[SimulatedWorker], counts: CallCounts) -> dict[str, Any]:
    return {
        "workers": {
            w.identity.worker_id: {"spans": w.spans, "running_since": w.current_start(), "not_run": w.not_run} for w in workers
        },
        "calls": {name: {str(s): n for s, n in by.items()} for name, by in counts.by_second.items()},
    }


def lower_priority(nice: int) -> None:
    """Run the fleet at niceness `nice`. Under the kernel's autogroup scheduling (where it is on) niceness counts only
    inside a session, and each session weighs the same: the fleet, one session, then weighs as much as redis-server's
    or the controller's at nice 0, and `nice` is also written to the session's autogroup to weigh it less."""
    os.nice(nice)
    try:
        Path("/proc/self/autogroup").write_text(str(nice))
    except OSError:
        pass  # no autogroup scheduling here: os.nice is all it takes


def serve_workers(args: argparse.Namespace, stop: threading.Event) -> None:
    """This process's `--workers` simulated workers, until `stop`; then their report goes to `--output`."""
    settings = RedisSettings.from_url(os.environ[REDIS_URL_ENV])
    counts = CallCounts()
    # One store for the process's workers, as a real worker process has one for its slot: its pool must hold each
    # worker's subscription to its trial's control channels besides their calls (redis-py's default pool is 100).
    store = counts.wrap(Store(settings.client(max_connections=2 * args.workers + 16), settings.parsed.replica_wait))
    host = socket.gethostname()
    runner = RunnerSettings(control_interval=args.control_interval)
    workers = []
    for i in range(args.workers):
        slot = f"{args.tag}-{i}"
        identity = WorkerIdentity(worker_id=worker_id(host, slot, os.getpid()), host=host, slot=slot)
        workers.append(SimulatedWorker(settings, store, identity, args.duration, args.points, runner))
    for w in workers:
        threading.Thread(target=w.serve, args=(stop,), daemon=True).start()
    threading.Thread(target=heartbeat, args=(store, workers, stop), daemon=True).start()
    deadline = time.monotonic() + 120
    while not stop.is_set() and not all(w.ready.is_set() for w in workers) and time.monotonic() < deadline:
        stop.wait(0.1)
    args.output.with_suffix(".ready").write_text(str(sum(w.ready.is_set() for w in workers)))
    stop.wait()
    args.output.write_text(json.dumps(report(workers, counts)))


def lead_fleet(args: argparse.Namespace, stop: threading.Event) -> None:
    """Start `--processes` processes of `--workers` workers each (outputs FILE-0.json, FILE-1.json, ...), in this
    process's session and group: one autogroup for the whole fleet, and one SIGTERM to the group stops it all."""
    children = []
    for p in range(args.processes):
        argv = [sys.executable, "-m", __spec__.name if __spec__ else "benchmarks._simulated_workers",
                "--workers", str(args.workers + (p < args.extra)), "--duration", str(args.duration), "--points", str(args.points),
                "--tag", f"{args.tag}{p}", "--output", str(fleet_output(args.output, p)), "--control-interval", str(args.control_interval)]
        children.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL))
    stop.wait()
    for child in children:
        child.wait()


def fleet_output(output: Path, process: int) -> Path:
    """Where process `process` of a fleet writes its report."""
    return output.with_name(f"{output.stem}-{process}.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, required=True, help="simulated workers per process")
    parser.add_argument("--processes", type=int, default=0, help="lead a fleet of this many processes (see lead_fleet)")
    parser.add_argument("--extra", type=int, default=0, help="in a fleet, the first EXTRA processes get one more worker")
    parser.add_argument("--duration", type=float, required=True, help="seconds each simulated trial runs")
    parser.add_argument("--points", type=int, default=3, help="metric points each trial reports (0: none, a result only)")
    parser.add_argument("--tag", required=True, help="this process's part of the worker ids")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument(
        "--control-interval", type=float, default=RunnerSettings().control_interval,
        help="seconds between a running trial's control polls (default: the worker's own)",
    )
    parser.add_argument("--nice", type=int, default=0, help="run the fleet at this niceness (see lower_priority)")
    args = parser.parse_args()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    if args.processes:
        lower_priority(args.nice)
        lead_fleet(args, stop)
        return
    serve_workers(args, stop)
    os._exit(0)  # the threads may be inside a trial or a BRPOP: they are not waited for


if __name__ == "__main__":
    main()
