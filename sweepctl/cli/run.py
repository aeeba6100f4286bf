"""`sweepctl run FILE`: a whole sweep on this machine (Redis embedded unless --redis, controller, workers).

The run watches what it depends on and says what happened to it: Redis gone,
frozen or full is waited out (trials keep running, their results wait in the
workers); its own embedded Redis dying ends the run at once, non-zero, with the
sweep recorded as failed; a Ctrl-C or SIGTERM cancels the sweep.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import click

from sweepctl import lifecycle
from sweepctl.cli.connect import redis_option, serve_store
from sweepctl.cli.health import out_of_memory, redis_memory
from sweepctl.cli.output import format_option
from sweepctl.cli.progress import follow, sweep_done
from sweepctl.cli.sweeps import print_best, say_notes
from sweepctl.errors import ConfigError, EmbeddedRedisError, StoreUnavailable
from sweepctl.local_store import LocalServer, local_store_dir
from sweepctl.nvml import list_gpus
from sweepctl.settings import RedisSettings
from sweepctl.spec import SweepSpec
from sweepctl.store import Store, StoreTrouble
from sweepctl.worker_settings import WorkerSettings

if TYPE_CHECKING:
    # Imported where a controller is made: it brings Celery, which the CLI's other commands do without.
    from sweepctl.api.controller_thread import SweepController

GPU_HELP = "Which GPUs get a worker process each: all, none, or indices/UUIDs like 0,1 (all falls back to CPU workers when there is none)."
PRELOAD_HELP = (
    "Comma-separated libraries each worker process imports once, before it forks any trial"
    " (e.g. torch): `function:` trials then skip importing them (SWEEPCTL_PRELOAD does the same)."
)
# A run's workers end with it: when it stops them, a trial still running (only after a cancel or a
# failure of the run itself) gets this long, not a service's minute, to finish (unless
# SWEEPCTL_SHUTDOWN_GRACE says otherwise).
RUN_SHUTDOWN_GRACE = 5.0
MAX_WORKER_RESTARTS = 5  # per slot, in one run


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--workers", "n_workers", type=click.IntRange(min=1), default=2, show_default=True, help="CPU worker processes (when not using GPUs)."
)
@click.option("--gpus", default="none", show_default=True, help=GPU_HELP)
@click.option("--preload", default=None, help=PRELOAD_HELP)
@redis_option
@format_option
def run(file: str, n_workers: int, gpus: str, preload: str | None, redis_url: str | None, state_dir: str | None, fmt: str) -> None:
    """Run a whole sweep here: Redis (embedded unless --redis), controller and workers; print the best trial."""
    from workers.slots import plan_slots

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Built once, here; each worker process gets it in its environment from the supervisor.
    settings = WorkerSettings.from_environment(os.environ, shutdown_grace=RUN_SHUTDOWN_GRACE).with_flags(preload=preload)
    # SIGTERM ends a run like Ctrl-C: the sweep is cancelled, workers stopped, the store shut down cleanly.
    signal.signal(signal.SIGTERM, interrupt)
    slots = plan_slots(gpus, list_gpus(), n_workers)
    with serve_store(redis_url, state_dir, create_local=True, long_running=True) as (store, redis, local):
        sweep, spec = lifecycle.submit_sweep(store, file, on_workers_of="run")
        say_notes(file, spec)
        click.echo(f"sweep {sweep.id}: {spec.method.value} over {len(spec.space.parameters)} parameters, {len(slots)} worker(s)", err=True)
        started = start_here(store, redis, local, sweep.id, spec, slots, settings.with_flags(queues=spec.queue), state_dir)
        started.controller.start()
        try:
            follow_here(started, over=lambda: started.controller.ended() or started.done(), tend=started.workers.revive)
        except KeyboardInterrupt:
            _cancel(started)
            raise
        finally:
            started.stop()
        _finish(started, fmt)


@dataclass
class Started:
    """What a command started here for a sweep: its worker processes and its controller thread, and how it watches its store."""

    store: Store
    sweep_id: str
    spec: SweepSpec
    workers: _Workers[Any]
    controller: SweepController  # started by the command: always (`run`) or unless the sweep is owned (`agent`)
    watch: _Watch

    def done(self) -> bool:
        return sweep_done(self.store, self.sweep_id)

    def stop(self) -> None:
        """Stop the controller and the workers (warmly: they hand their trials back or finish them)."""
        self.controller.stop(timeout=0)  # asked first, waited for last: the workers' warm shutdown takes longer
        self.workers.stop()
        self.controller.stop()


def start_here(
    store: Store,
    redis: RedisSettings,
    local: LocalServer | None,
    sweep_id: str,
    spec: SweepSpec,
    slots: Sequence[_Slot],
    settings: WorkerSettings,
    state_dir: str | None,
) -> Started:
    """Start a worker process per slot, and make (not start) the controller thread that serves only this sweep."""
    from sweepctl.api.controller_thread import SweepController
    from workers.supervisor import spawn

    if local is not None and local.process is not None:
        click.echo(f"store: {local.data_dir} (embedded Redis, pid {local.process.pid})", err=True)
    logs = (local.data_dir if local is not None else local_store_dir(state_dir)) / "logs"
    workers: _Workers[Any] = _Workers(lambda slot: spawn(slot, redis, settings, log=logs / f"worker-{slot.name}.log"), slots, logs)
    click.echo(f"worker logs: {logs}", err=True)
    controller = SweepController(store, redis, sweep_id, lease_seconds=settings.lease_seconds)
    return Started(store, sweep_id, spec, workers, controller, _Watch(store, lambda: controller.store_trouble, local))


def follow_here(run: Started, *, over: Callable[[], bool], tend: Callable[[], None]) -> None:
    """Show the sweep's progress until `over()` or the run cannot go on (its Redis died, its workers gave up);
    `tend()` looks after what was started, once per tick (start workers again, a controller...)."""
    workers, watch = run.workers, run.watch

    def on_tick(trouble: StoreTrouble | None) -> None:
        watch.tick(trouble)
        tend()

    follow(run.store, run.sweep_id, run.spec, until=lambda: watch.server_died() or workers.all_gone() or over(), on_tick=on_tick)
    if watch.server_died():
        run.controller.stop(timeout=0)
        workers.kill()
        raise _end_after_server_death(watch.local, run.sweep_id)
    if workers.all_gone() and not over():
        raise ConfigError(
            f"every worker process exited, {MAX_WORKER_RESTARTS} restarts each, before sweep {run.sweep_id} was done;"
            f" last log lines:\n{workers.last_log()}"
        )


def _cancel(run: Started) -> None:
    """Ctrl-C or SIGTERM: cancel the sweep and show it winding down."""
    click.echo(f"\ncancelling sweep {run.sweep_id}", err=True)
    try:
        lifecycle.cancel_sweep(run.store, run.sweep_id)
    except StoreUnavailable as exc:
        click.echo(f"error: could not cancel sweep {run.sweep_id}, Redis did not take it ({StoreTrouble.of(exc).value})", err=True)
        raise
    follow(run.store, run.sweep_id, run.spec, until=lambda: run.watch.server_died() or run.done())


def _finish(run: Started, fmt: str) -> None:
    """Say how the sweep ended and print its best trial."""
    final = run.store.get_sweep(run.sweep_id)
    click.echo(f"sweep {run.sweep_id} {final.state.value}: {final.reason}", err=True)
    print_best(run.store, run.sweep_id, fmt)
    if run.controller.ended() and not run.done():
        raise ConfigError(f"the controller stopped before sweep {run.sweep_id} was done; see the log above")


class _Slot(Protocol):
    @property
    def name(self) -> str: ...


S = TypeVar("S", bound=_Slot)  # workers.slots.WorkerSlot, which this module may not import at load time


class _Workers(Generic[S]):
    """The run's worker processes, one per slot.

    One that exits while the sweep goes on (Celery gives up on a broker error it
    cannot recover from, as a full Redis refusing an acknowledgement) is started
    again, at most MAX_WORKER_RESTARTS times per slot, as `sweepctl worker` does.
    """

    def __init__(self, start: Callable[[S], subprocess.Popen[bytes]], slots: Sequence[S], logs: Path) -> None:
        self._start = start
        self._logs = logs
        self._procs = {slot.name: (slot, start(slot)) for slot in slots}
        self._restarts = {slot.name: 0 for slot in slots}

    def revive(self) -> None:
        for name, (slot, proc) in list(self._procs.items()):
            if proc.poll() is not None and self._restarts[name] < MAX_WORKER_RESTARTS:
                self._restarts[name] += 1
                click.echo(
                    f"\nwarning: worker {name} exited with status {proc.returncode}; started again (its log: {self._log(name)})", err=True
                )
                self._procs[name] = (slot, self._start(slot))

    def all_gone(self) -> bool:
        return all(proc.poll() is not None and self._restarts[name] >= MAX_WORKER_RESTARTS for name, (_, proc) in self._procs.items())

    def last_log(self) -> str:
        return self._log(next(iter(self._procs))).read_text(errors="replace")[-2000:]

    def _log(self, name: str) -> Path:
        return self._logs / f"worker-{name}.log"

    def kill(self) -> None:
        """At once: there is no store left to hand their trials back to (their launchers take the trials down)."""
        for _, proc in self._procs.values():
            if proc.poll() is None:
                proc.kill()

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM (a warm shutdown), then SIGKILL whatever is left after `grace` seconds."""
        procs = [proc for _, proc in self._procs.values()]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass
class _Watch:
    """What the run tells its user about its store: trouble as it starts and ends, and its server's death."""

    store: Store
    write_trouble: Callable[[], StoreTrouble | None]  # what the controller's writes meet (reads work in a full Redis)
    local: LocalServer | None
    said: StoreTrouble | None = field(default=None)

    def server_died(self) -> bool:
        return self.local is not None and self.local.process is not None and not self.local.process.running

    def tick(self, read_trouble: StoreTrouble | None) -> None:
        trouble = read_trouble or self.write_trouble()
        if trouble is self.said or self.server_died():
            return
        if trouble is StoreTrouble.OUT_OF_MEMORY:
            click.echo(f"\nerror: {out_of_memory(redis_memory(self.store))} Ctrl-C cancels the sweep.", err=True)
        elif trouble is StoreTrouble.UNAVAILABLE:
            click.echo("\nwarning: Redis is not answering; trials keep running and their results wait in the workers", err=True)
        else:
            click.echo("\nRedis takes writes again; the sweep goes on", err=True)
        self.said = trouble


def _end_after_server_death(local: LocalServer | None, sweep_id: str) -> EmbeddedRedisError:
    """The embedded Redis died: record the sweep as failed on a restarted server, and say how it ended."""
    assert local is not None and local.process is not None
    server = local.process
    reason = f"the run's embedded Redis (pid {server.pid}) {server.exit_description()}; the run stopped its workers"
    try:
        server.start()
        lifecycle.abandon_sweep(Store.connect(RedisSettings.from_url(server.url)), sweep_id, reason)
        note = f"sweep {sweep_id} is recorded as failed"
    except Exception as exc:  # noqa: BLE001  # the run ends either way; say what could not be recorded
        note = f"sweep {sweep_id} could not be recorded as failed ({exc})"
    return EmbeddedRedisError(f"{reason} and ended; {note}; Redis' log: {local.data_dir / 'redis.log'}")


def interrupt(signum: int, frame: FrameType | None) -> None:
    """A signal handler that makes the signal a Ctrl-C (KeyboardInterrupt)."""
    raise KeyboardInterrupt
