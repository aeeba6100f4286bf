"""Which worker processes a machine runs: one per selected GPU, or N CPU-only ones (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sweepctl.errors import ConfigError
from sweepctl.nvml import GpuInfo
from sweepctl.records import GpuRef
from sweepctl.worker_settings import SlotPin


@dataclass(frozen=True)
class WorkerSlot:
    """One worker process: its name on this host and the GPU it is pinned to (None: CPU only)."""

    name: str
    gpu: GpuInfo | None = None

    def environment(self) -> dict[str, str]:
        """Variables that pin the process (and its trials) to this slot's GPU.

        The UUID, not the index, goes in CUDA_VISIBLE_DEVICES: CUDA's default
        device order is not NVML's, and a UUID means the same GPU to both.
        CPU slots hide every GPU so a CPU trial never lands on one by accident.
        """
        if self.gpu is None:
            return {"CUDA_VISIBLE_DEVICES": "", **SlotPin(self.name).to_environment()}
        pin = SlotPin(self.name, GpuRef(index=self.gpu.index, uuid=self.gpu.uuid, name=self.gpu.name))
        return {"CUDA_VISIBLE_DEVICES": self.gpu.uuid, "CUDA_DEVICE_ORDER": "PCI_BUS_ID", **pin.to_environment()}


def plan_slots(selection: str, gpus: Sequence[GpuInfo], cpu_workers: int = 1) -> tuple[WorkerSlot, ...]:
    """Slots for `--gpus all|none|0,1|GPU-uuid,...`.

    `all` on a machine without GPUs falls back to `cpu_workers` CPU slots (a
    laptop runs the same command as a GPU box); naming a GPU that is not there
    is an error.
    """
    if cpu_workers < 1:
        raise ConfigError(f"--concurrency must be at least 1, got {cpu_workers}")
    choice = selection.strip().lower()
    cpu_slots = tuple(WorkerSlot(name=f"cpu{i}") for i in range(cpu_workers))
    if choice == "none":
        return cpu_slots
    if choice == "all":
        return tuple(WorkerSlot(name=f"gpu{g.index}", gpu=g) for g in gpus) or cpu_slots
    chosen: list[WorkerSlot] = []
    for item in (part.strip() for part in selection.split(",")):
        match = [g for g in gpus if str(g.index) == item or g.uuid.lower() == item.lower()]
        if not match:
            seen = ", ".join(f"{g.index} ({g.uuid})" for g in gpus) or "none"
            raise ConfigError(f"--gpus: no GPU {item!r} on this machine; NVML sees: {seen}")
        if any(s.gpu == match[0] for s in chosen):
            raise ConfigError(f"--gpus: GPU {item!r} given twice")
        chosen.append(WorkerSlot(name=f"gpu{match[0].index}", gpu=match[0]))
    return tuple(chosen)
