"""Who runs a trial: the worker process's identity, recorded on every trial it claims."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from sweepctl.records import GpuRef
from sweepctl.store import worker_id
from sweepctl.worker_settings import SlotPin


@dataclass(frozen=True)
class WorkerIdentity:
    """Who runs a trial: recorded on every trial it claims."""

    worker_id: str
    host: str
    slot: str
    gpu: GpuRef | None = None

    @classmethod
    def of(cls, hostname: str | None, pin: SlotPin, pid: int) -> WorkerIdentity:
        """The identity of process `pid` serving `pin`; `hostname` None: this machine's own name."""
        # Containers get random hostnames; SWEEPCTL_HOSTNAME (hostname here) names the machine in records and metrics.
        host = hostname or socket.gethostname()
        return cls(worker_id=worker_id(host, pin.slot, pid), host=host, slot=pin.slot, gpu=pin.gpu)
