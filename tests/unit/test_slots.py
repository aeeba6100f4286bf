"""Worker slots: one process per selected GPU (pinned by UUID) or N CPU-only processes."""

from __future__ import annotations

import pytest

from sweepctl.errors import ConfigError
from sweepctl.nvml import GpuInfo
from workers.slots import WorkerSlot, plan_slots

A100 = GpuInfo(index=0, uuid="GPU-1111aaaa-0000-0000-0000-000000000000", name="NVIDIA A100-SXM4-80GB", pci_bus_id="00000000:07:00.0")
H100 = GpuInfo(index=1, uuid="GPU-2222bbbb-0000-0000-0000-000000000000", name="NVIDIA H100 80GB HBM3", pci_bus_id="00000000:0F:00.0")
GPUS = (A100, H100)


def pinned(slots: tuple[WorkerSlot, ...]) -> list[tuple[str, GpuInfo | None]]:
    return [(s.name, s.gpu) for s in slots]


# --- all / none ------------------------------------------------------------------------


@pytest.mark.parametrize("selection", ["all", "ALL", " all "])
def test_all_gives_one_slot_per_gpu(selection: str) -> None:
    assert pinned(plan_slots(selection, GPUS)) == [("gpu0", A100), ("gpu1", H100)]


def test_all_on_a_machine_without_gpus_falls_back_to_cpu_slots() -> None:
    # Given a laptop (NVML sees nothing) / When asked for all GPUs with 3 CPU workers
    # Then 3 CPU slots, so the same command works everywhere
    assert pinned(plan_slots("all", (), cpu_workers=3)) == [("cpu0", None), ("cpu1", None), ("cpu2", None)]


def test_none_gives_cpu_slots_even_when_gpus_are_there() -> None:
    assert pinned(plan_slots("none", GPUS, cpu_workers=2)) == [("cpu0", None), ("cpu1", None)]


@pytest.mark.parametrize("cpu_workers", [0, -1])
def test_fewer_than_one_cpu_worker_is_refused(cpu_workers: int) -> None:
    with pytest.raises(ConfigError, match="--concurrency must be at least 1"):
        plan_slots("none", GPUS, cpu_workers=cpu_workers)


# --- picking GPUs by index or UUID --------------------------------------------------------


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        ("1", [("gpu1", H100)]),
        ("1,0", [("gpu1", H100), ("gpu0", A100)]),
        (" 0 , 1 ", [("gpu0", A100), ("gpu1", H100)]),
        (H100.uuid, [("gpu1", H100)]),
        (H100.uuid.upper(), [("gpu1", H100)]),
        (f"0,{H100.uuid.lower()}", [("gpu0", A100), ("gpu1", H100)]),
    ],
)
def test_gpus_are_picked_by_physical_index_or_uuid(selection: str, expected: list[tuple[str, GpuInfo]]) -> None:
    assert pinned(plan_slots(selection, GPUS)) == expected


def test_an_unknown_gpu_is_an_error_naming_what_nvml_sees() -> None:
    # Given two GPUs / When asked for a third
    with pytest.raises(ConfigError) as caught:
        plan_slots("0,2", GPUS)
    # Then the error names the missing GPU and every GPU that is there
    message = str(caught.value)
    assert "no GPU '2'" in message
    assert f"0 ({A100.uuid})" in message and f"1 ({H100.uuid})" in message


def test_an_unknown_uuid_is_an_error() -> None:
    with pytest.raises(ConfigError, match="no GPU 'GPU-ffff'"):
        plan_slots("GPU-ffff", GPUS)


def test_naming_a_gpu_on_a_machine_without_gpus_says_nvml_sees_none() -> None:
    with pytest.raises(ConfigError, match="NVML sees: none"):
        plan_slots("0", ())


@pytest.mark.parametrize("selection", ["0,0", f"1,{H100.uuid}", f"{A100.uuid},0"])
def test_the_same_gpu_twice_is_an_error(selection: str) -> None:
    # Given one GPU named twice (by index, by UUID or both) / Then refused: two workers would share it
    with pytest.raises(ConfigError, match="given twice"):
        plan_slots(selection, GPUS)


# --- the environment a slot's process gets ----------------------------------------------------


def test_a_gpu_slot_pins_cuda_to_the_gpu_uuid() -> None:
    # Given the slot of physical GPU 1 / When its environment is built
    env = WorkerSlot(name="gpu1", gpu=H100).environment()
    # Then CUDA sees only that GPU, named by UUID (CUDA's default order is not NVML's)
    assert env == {
        "CUDA_VISIBLE_DEVICES": H100.uuid,
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
        "SWEEPCTL_SLOT": "gpu1",
        "SWEEPCTL_GPU_INDEX": "1",
        "SWEEPCTL_GPU_UUID": H100.uuid,
        "SWEEPCTL_GPU_NAME": H100.name,
    }


def test_a_cpu_slot_hides_every_gpu() -> None:
    env = WorkerSlot(name="cpu0").environment()
    # An empty CUDA_VISIBLE_DEVICES hides all GPUs; unset would show them all
    assert env == {"CUDA_VISIBLE_DEVICES": "", "SWEEPCTL_SLOT": "cpu0"}


def test_every_planned_slot_names_itself_in_its_environment() -> None:
    for slot in plan_slots("all", GPUS) + plan_slots("none", GPUS, cpu_workers=2):
        assert slot.environment()["SWEEPCTL_SLOT"] == slot.name
