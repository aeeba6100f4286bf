"""A worker's identity: host (overridable for containers), slot and GPU, from its environment."""

from __future__ import annotations

import socket

from sweepctl.records import GpuRef
from workers.process import identity_from_env


def test_identity_names_the_slot_and_gpu_and_defaults_to_the_hostname() -> None:
    env = {"SWEEPCTL_SLOT": "gpu1", "SWEEPCTL_GPU_UUID": "GPU-x", "SWEEPCTL_GPU_INDEX": "1", "SWEEPCTL_GPU_NAME": "H100"}
    identity = identity_from_env(env)
    assert identity.host == socket.gethostname() and identity.slot == "gpu1"
    assert identity.gpu == GpuRef(index=1, uuid="GPU-x", name="H100")
    assert identity.worker_id.startswith(f"{socket.gethostname()}/gpu1/")


def test_sweepctl_hostname_names_the_machine_of_a_container() -> None:
    identity = identity_from_env({"SWEEPCTL_HOSTNAME": "box-7"})
    assert identity.host == "box-7" and identity.worker_id.startswith("box-7/cpu0/") and identity.gpu is None
