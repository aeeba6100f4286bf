"""One worker process: a solo-pool Celery worker pinned to one slot (one GPU, or CPU only).

Started by the supervisor (`sweepctl worker`) as `python -m workers.process`,
configured only through the environment it sets: SWEEPCTL_REDIS_URL, the slot's
pin and the worker settings (`sweepctl.worker_settings`), all read once, in `main`.
The solo pool runs the task in this process: a trial is a child process
anyway, so a pool child would only add a hop and another thing to lose.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping

from sweepctl.errors import StoreError, StoreUnavailable
from sweepctl.settings import REDIS_URL_ENV, RedisSettings
from sweepctl.store import Store
from sweepctl.worker_settings import SlotPin, WorkerSettings
from workers.app import make_worker_app
from workers.gpu_telemetry import TrialGpuUsage, publish_forever
from workers.identity import WorkerIdentity
from workers.linux import die_with_parent
from workers.trial import RunnerSettings

HEARTBEAT_INTERVAL = 5.0


def identity_from_env(env: Mapping[str, str]) -> WorkerIdentity:
    """This process's identity from the environment its supervisor gave it (the host name, the slot's pin)."""
    return WorkerIdentity.of(WorkerSettings.from_environment(env).hostname, SlotPin.from_environment(env), os.getpid())


def _heartbeat(store: Store, identity: WorkerIdentity, stop: threading.Event) -> None:
    info = {"host": identity.host, "slot": identity.slot, "gpu": identity.gpu, "pid": os.getpid()}
    while not stop.is_set():
        try:
            store.heartbeat_worker(identity.worker_id, info)
        except Exception as exc:  # noqa: BLE001  # nothing may end the beat: a dead beat reads as a dead worker
            logging.getLogger(__name__).warning("heartbeat failed: %s", exc)
        stop.wait(HEARTBEAT_INTERVAL)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # If the supervisor is killed outright, shut down warmly instead of running on unsupervised.
    if not die_with_parent(signal.SIGTERM):
        return 1
    # What this process is told, read once, here; what runs below gets it passed, never os.environ.
    env = dict(os.environ)
    settings = RedisSettings.from_url(env[REDIS_URL_ENV])
    worker = WorkerSettings.from_environment(env)
    store = Store.connect(settings)
    identity = identity_from_env(env)
    usage = None if identity.gpu is None else TrialGpuUsage(identity)
    app, runner = make_worker_app(settings, store, identity, RunnerSettings.from_worker_settings(worker), usage)
    stop = threading.Event()
    threading.Thread(target=_heartbeat, args=(store, identity, stop), daemon=True).start()
    if usage is not None:
        threading.Thread(
            target=publish_forever, args=(store, identity, lambda: runner.current, stop, worker.gpu_sample_seconds, usage), daemon=True
        ).start()
    runner.launcher.warm_up()  # imports its --preload libraries while Celery connects
    try:
        app.worker_main(_celery_argv(worker, identity))
    finally:
        stop.set()
        runner.close()  # stops a trial still running, if Celery's shutdown left one
        if usage is not None:
            usage.close()
        try:
            store.remove_worker(identity.worker_id)
        except (StoreUnavailable, StoreError) as exc:  # its registration expires on its own (WORKER_TTL_SECONDS)
            logging.getLogger(__name__).warning("could not remove worker registration: %s", exc)
    return 0


def _celery_argv(worker: WorkerSettings, identity: WorkerIdentity) -> list[str]:
    """Celery's worker command line: one solo-pool process consuming the settings' queues."""
    return [
        "worker",
        "--pool=solo",
        "--concurrency=1",
        f"--queues={','.join(worker.queues)}",
        f"--hostname={identity.slot}.{os.getpid()}@{identity.host}",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        f"--loglevel={worker.log_level}",
    ]


if __name__ == "__main__":
    sys.exit(main())
