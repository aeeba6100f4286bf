"""Commands that start long-running roles: controller, worker, exporter (`run`, all of them at once, is in run.py).

Roles are imported inside the command that starts them, so the core never imports a role.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType

import click

from sweepctl.cli.connect import redis_option, serve_store
from sweepctl.cli.run import GPU_HELP, PRELOAD_HELP
from sweepctl.nvml import list_gpus
from sweepctl.settings import DEFAULT_EXPORTER_PORT, DEFAULT_KEEP_FINISHED_HOURS, DEFAULT_SCRAPE_DEADLINE
from sweepctl.spec import DEFAULT_QUEUE
from sweepctl.store import DEFAULT_LEASE_SECONDS
from sweepctl.worker_settings import SHUTDOWN_GRACE_ENV, WorkerSettings


def _log_setup(verbose: bool) -> None:
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@click.command()
@click.option("--sweep", "only", multiple=True, help="Serve only this sweep (repeatable); default: every live sweep.")
@click.option("--until-idle", is_flag=True, help="Exit once no live sweep is left.")
@click.option("-v", "--verbose", is_flag=True)
@redis_option
def controller(only: tuple[str, ...], until_idle: bool, verbose: bool, redis_url: str | None, state_dir: str | None) -> None:
    """Run the controller: create trials for live sweeps and end sweeps that are done."""
    from controller.loop import LOST_MESSAGE_SECONDS, OWNER_LEASE_SECONDS, Controller
    from sweepctl.celery_app import make_celery

    _log_setup(verbose)
    with serve_store(redis_url, state_dir, create_local=False, long_running=True) as (store, settings, _):
        stop = stop_on_signals()
        click.echo(f"controller serving {settings.redacted}", err=True)
        owner_lease = float(os.environ.get("SWEEPCTL_OWNER_LEASE_SECONDS", OWNER_LEASE_SECONDS))
        lost_after = float(os.environ.get("SWEEPCTL_LOST_MESSAGE_SECONDS", LOST_MESSAGE_SECONDS))
        lease = float(os.environ.get("SWEEPCTL_LEASE_SECONDS", DEFAULT_LEASE_SECONDS))
        Controller(store, make_celery(settings), owner_lease=owner_lease, lost_message_seconds=lost_after, lease_seconds=lease).run(
            stop, only=set(only) or None, until_idle=until_idle
        )


@click.command()
@click.option("--gpus", default="all", show_default=True, help=GPU_HELP)
@click.option(
    "--concurrency", type=click.IntRange(min=1), default=1, show_default=True, help="CPU worker processes when there are no GPUs to use."
)
@click.option("--queues", default=DEFAULT_QUEUE, show_default=True, help="Comma-separated Celery queues to consume.")
@click.option(
    "--grace",
    type=float,
    default=None,
    envvar=SHUTDOWN_GRACE_ENV,
    help="On SIGTERM, seconds a running trial may take to finish before it is handed back to the queue [default: 60].",
)
@click.option("--preload", default=None, help=PRELOAD_HELP)
@redis_option
def worker(
    gpus: str, concurrency: int, queues: str, grace: float | None, preload: str | None, redis_url: str | None, state_dir: str | None
) -> None:
    """Run workers on this machine: one process per GPU (pinned), or CPU-only processes.

    SIGTERM: each running trial gets --grace seconds to finish, then goes back
    to the queue as a new attempt; no trial process outlives its worker.
    """
    from workers.slots import plan_slots
    from workers.supervisor import supervise

    _log_setup(True)
    # Built once, here; each worker process gets it in its environment from the supervisor.
    settings = WorkerSettings.from_environment(os.environ).with_flags(queues=queues, preload=preload, shutdown_grace=grace)
    with serve_store(redis_url, state_dir, create_local=False, long_running=True) as (_, redis, _local):
        slots = plan_slots(gpus, list_gpus(), concurrency)
        raise SystemExit(supervise(slots, redis, settings))


@click.command()
@click.option("--bind", default="127.0.0.1", show_default=True, help="Address to serve /metrics on (loopback unless told).")
@click.option("--port", default=DEFAULT_EXPORTER_PORT, show_default=True, help="Port to serve /metrics on.")
@click.option(
    "--keep-finished-hours", default=DEFAULT_KEEP_FINISHED_HOURS, show_default=True, help="How long ended sweeps stay in the metrics."
)
@click.option(
    "--scrape-deadline",
    type=click.FloatRange(min=0.1, max=60.0),
    default=DEFAULT_SCRAPE_DEADLINE,
    show_default=True,
    envvar="SWEEPCTL_SCRAPE_DEADLINE",
    help="Seconds a scrape waits for Redis before it answers sweepctl_exporter_redis_up 0; keep it below Prometheus' scrape_timeout.",
)
@redis_option
def exporter(
    bind: str, port: int, keep_finished_hours: float, scrape_deadline: float, redis_url: str | None, state_dir: str | None
) -> None:
    """Serve Prometheus metrics for GPUs, sweeps, trials and workers, read from Redis at scrape time."""
    from metrics.exporter import exporter_store, serve

    _log_setup(True)
    with serve_store(redis_url, state_dir, create_local=False, long_running=True) as (_, settings, _local):
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


COMMANDS = (controller, worker, exporter)
