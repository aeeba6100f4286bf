"""One worker process: a solo-pool Celery worker pinned to one slot (one GPU, or CPU only).

Started by the supervisor (`sweepctl worker`) as `python -m workers.process`,
configured only through the environment it sets: SWEEPCTL_REDIS_URL,
SWEEPCTL_SLOT, SWEEPCTL_QUEUES and the GPU variables of `workers.slots`.
The solo pool runs the task in this process: a trial is a child process
anyway, so a pool child would only add a hop and another thing to lose.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading

from sweepctl.errors import StoreError, StoreUnavailable
from sweepctl.records import GpuRef
from sweepctl.settings import RedisSettings
from sweepctl.store import Store, worker_id
from workers.app import make_worker_app
from workers.gpu_telemetry import DEFAULT_INTERVAL, publish_forever
from workers.linux import die_with_parent
from workers.trial import RunnerSettings, WorkerIdentity

HEARTBEAT_INTERVAL = 5.0


def identity_from_env(env: dict[str, str]) -> WorkerIdentity:
    # Containers get random hostnames; SWEEPCTL_HOSTNAME names the machine in records and metrics.
    host = env.get("SWEEPCTL_HOSTNAME") or socket.gethostname()
    slot = env.get("SWEEPCTL_SLOT", "cpu0")
    gpu = None
    if env.get("SWEEPCTL_GPU_UUID"):
        gpu = GpuRef(index=int(env["SWEEPCTL_GPU_INDEX"]), uuid=env["SWEEPCTL_GPU_UUID"], name=env.get("SWEEPCTL_GPU_NAME", ""))
    return WorkerIdentity(worker_id=worker_id(host, slot, os.getpid()), host=host, slot=slot, gpu=gpu)


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
    env = dict(os.environ)
    settings = RedisSettings.from_url(env["SWEEPCTL_REDIS_URL"])
    store = Store.connect(settings)
    identity = identity_from_env(env)
    app, runner = make_worker_app(settings, store, identity, RunnerSettings.from_env(env))
    stop = threading.Event()
    threading.Thread(target=_heartbeat, args=(store, identity, stop), daemon=True).start()
    if identity.gpu is not None:
        interval = float(env.get("SWEEPCTL_GPU_SAMPLE_SECONDS", DEFAULT_INTERVAL))
        threading.Thread(
            target=publish_forever, args=(store, identity, lambda: runner.current, stop, interval), daemon=True
        ).start()
    queues = env.get("SWEEPCTL_QUEUES", "sweepctl")
    runner.launcher.warm_up()  # imports its --preload libraries while Celery connects
    try:
        app.worker_main(
            [
                "worker",
                "--pool=solo",
                "--concurrency=1",
                f"--queues={queues}",
                f"--hostname={identity.slot}.{os.getpid()}@{identity.host}",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                f"--loglevel={env.get('SWEEPCTL_LOG_LEVEL', 'WARNING')}",
            ]
        )
    finally:
        stop.set()
        runner.launcher.close()  # stops a trial still running, if Celery's shutdown left one
        try:
            store.remove_worker(identity.worker_id)
        except (StoreUnavailable, StoreError) as exc:  # its registration expires on its own (WORKER_TTL_SECONDS)
            logging.getLogger(__name__).warning("could not remove worker registration: %s", exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
