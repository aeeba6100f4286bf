"""Commands that start long-running roles: controller, worker, and `run` (all of it, locally).

Roles are imported inside the command that starts them, so the core never imports a role.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
from types import FrameType

import click

from sweepctl import lifecycle
from sweepctl.cli.connect import open_store, redis_option
from sweepctl.cli.output import format_option
from sweepctl.cli.progress import follow, sweep_done
from sweepctl.cli.sweeps import print_best
from sweepctl.embedded import local_store_dir
from sweepctl.errors import ConfigError
from sweepctl.nvml import list_gpus
from sweepctl.spec import DEFAULT_QUEUE

PRELOAD_HELP = (
    "Comma-separated libraries each worker process imports once, before it forks any trial"
    " (e.g. torch): `function:` trials then skip importing them (SWEEPCTL_PRELOAD does the same)."
)
GPU_HELP = "Which GPUs get a worker process each: all, none, or indices/UUIDs like 0,1 (all falls back to CPU workers when there is none)."


def _export_preload(modules: str | None) -> None:
    """Hand --preload to the workers' launchers, which read it from the environment they inherit."""
    from workers.launcher import PRELOAD_ENV

    if modules is not None:
        os.environ[PRELOAD_ENV] = modules


def _log_setup(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@click.command()
@click.option("--sweep", "only", multiple=True, help="Serve only this sweep (repeatable); default: every live sweep.")
@click.option("--until-idle", is_flag=True, help="Exit once no live sweep is left.")
@click.option("-v", "--verbose", is_flag=True)
@redis_option
def controller(only: tuple[str, ...], until_idle: bool, verbose: bool, redis_url: str | None, state_dir: str) -> None:
    """Run the controller: create trials for live sweeps and end sweeps that are done."""
    from controller.loop import LOST_MESSAGE_SECONDS, OWNER_LEASE_SECONDS, Controller
    from sweepctl.celery_app import make_celery

    _log_setup(verbose)
    with open_store(redis_url, state_dir) as (store, settings):
        stop = stop_on_signals()
        click.echo(f"controller serving {settings.redacted}", err=True)
        owner_lease = float(os.environ.get("SWEEPCTL_OWNER_LEASE_SECONDS", OWNER_LEASE_SECONDS))
        lost_after = float(os.environ.get("SWEEPCTL_LOST_MESSAGE_SECONDS", LOST_MESSAGE_SECONDS))
        Controller(store, make_celery(settings), owner_lease=owner_lease, lost_message_seconds=lost_after).run(
            stop, only=set(only) or None, until_idle=until_idle
        )


@click.command()
@click.option("--gpus", default="all", show_default=True, help=GPU_HELP)
@click.option("--concurrency", default=1, show_default=True, help="CPU worker processes when there are no GPUs to use.")
@click.option("--queues", default=DEFAULT_QUEUE, show_default=True, help="Comma-separated Celery queues to consume.")
@click.option(
    "--grace",
    type=float,
    default=None,
    envvar="SWEEPCTL_SHUTDOWN_GRACE",
    help="On SIGTERM, seconds a running trial may take to finish before it is handed back to the queue [default: 60].",
)
@click.option("--preload", default=None, help=PRELOAD_HELP)
@redis_option
def worker(
    gpus: str, concurrency: int, queues: str, grace: float | None, preload: str | None, redis_url: str | None, state_dir: str
) -> None:
    """Run workers on this machine: one process per GPU (pinned), or CPU-only processes.

    SIGTERM: each running trial gets --grace seconds to finish, then goes back
    to the queue as a new attempt; no trial process outlives its worker.
    """
    from workers.slots import plan_slots
    from workers.supervisor import supervise

    _log_setup(True)
    if grace is not None:
        os.environ["SWEEPCTL_SHUTDOWN_GRACE"] = str(grace)  # read by each worker process
    _export_preload(preload)
    with open_store(redis_url, state_dir) as (_, settings):
        slots = plan_slots(gpus, list_gpus(), concurrency)
        raise SystemExit(supervise(slots, settings, [q for q in queues.split(",") if q]))


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--workers", "n_workers", default=2, show_default=True, help="CPU worker processes (when not using GPUs).")
@click.option("--gpus", default="none", show_default=True, help=GPU_HELP)
@click.option("--preload", default=None, help=PRELOAD_HELP)
@redis_option
@format_option
def run(file: str, n_workers: int, gpus: str, preload: str | None, redis_url: str | None, state_dir: str, fmt: str) -> None:
    """Run a whole sweep here: Redis (embedded unless --redis), controller and workers; print the best trial."""
    from controller.loop import Controller
    from sweepctl.celery_app import make_celery
    from workers.slots import plan_slots
    from workers.supervisor import spawn

    _log_setup(False)
    _export_preload(preload)
    # SIGTERM ends a run like Ctrl-C: the sweep is cancelled, workers stopped, the store shut down cleanly.
    signal.signal(signal.SIGTERM, _interrupt)
    slots = plan_slots(gpus, list_gpus(), n_workers)
    with open_store(redis_url, state_dir, create_local=True) as (store, settings):
        sweep, spec = lifecycle.submit_sweep(store, file)
        click.echo(f"sweep {sweep.id}: {spec.method.value} over {len(spec.space.parameters)} parameters, {len(slots)} worker(s)", err=True)
        logs = local_store_dir(state_dir) / "logs"
        procs = [spawn(slot, settings, [spec.queue], log=logs / f"worker-{slot.name}.log") for slot in slots]
        click.echo(f"worker logs: {logs}", err=True)
        stop = threading.Event()
        ctl = Controller(store, make_celery(settings))
        thread = threading.Thread(target=ctl.run, args=(stop,), kwargs={"only": {sweep.id}, "until_idle": True}, daemon=True)
        thread.start()
        try:
            workers_dead = lambda: all(p.poll() is not None for p in procs)
            follow(store, sweep.id, spec, until=lambda: not thread.is_alive() or workers_dead() or sweep_done(store, sweep.id))
            if workers_dead() and not sweep_done(store, sweep.id):
                tail = (logs / f"worker-{slots[0].name}.log").read_text(errors="replace")[-2000:]
                raise ConfigError(f"every worker process exited before sweep {sweep.id} was done; last log lines:\n{tail}")
        except KeyboardInterrupt:
            click.echo(f"\ncancelling sweep {sweep.id}", err=True)
            lifecycle.cancel_sweep(store, sweep.id)
            follow(store, sweep.id, spec)
            raise
        finally:
            stop.set()
            _stop_workers(procs)
            thread.join(5)
        final = store.get_sweep(sweep.id)
        click.echo(f"sweep {sweep.id} {final.state.value}: {final.reason}", err=True)
        print_best(store, sweep.id, fmt)
        if not thread.is_alive() and not sweep_done(store, sweep.id):
            raise ConfigError(f"the controller stopped before sweep {sweep.id} was done; see the log above")


@click.command()
@click.option("--bind", default="127.0.0.1", show_default=True, help="Address to serve /metrics on (loopback unless told).")
@click.option("--port", default=9839, show_default=True, help="Port to serve /metrics on.")
@click.option("--keep-finished-hours", default=24.0, show_default=True, help="How long ended sweeps stay in the metrics.")
@click.option(
    "--scrape-deadline",
    type=click.FloatRange(min=0.1, max=60.0),
    default=5.0,
    show_default=True,
    envvar="SWEEPCTL_SCRAPE_DEADLINE",
    help="Seconds a scrape waits for Redis before it answers sweepctl_exporter_redis_up 0; keep it below Prometheus' scrape_timeout.",
)
@redis_option
def exporter(bind: str, port: int, keep_finished_hours: float, scrape_deadline: float, redis_url: str | None, state_dir: str) -> None:
    """Serve Prometheus metrics for GPUs, sweeps, trials and workers, read from Redis at scrape time."""
    from metrics.exporter import exporter_store, serve

    _log_setup(True)
    with open_store(redis_url, state_dir) as (_, settings):
        stop = stop_on_signals()
        click.echo(f"exporter serving http://{bind}:{port}/metrics from {settings.redacted}", err=True)
        serve(exporter_store(settings, scrape_deadline), bind, port, keep_finished_hours * 3600, stop, scrape_deadline)


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT: long-running services finish their loop and clean up."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _stop_workers(procs: list[subprocess.Popen[bytes]], grace: float = 30.0) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


COMMANDS = (controller, worker, run, exporter)
