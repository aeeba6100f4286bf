"""A trial's GPU usage from known samples: mean and max utilization, peak memory, energy from the counter or from power, idleness."""

from __future__ import annotations

import json
import random
import threading

import pytest

from sweepctl import codec
from sweepctl.analysis.gpu_usage import GpuUsageMeter, GpuUsageTally, summarize
from sweepctl.records import GIB, GpuSample, GpuUsage, Trial, TrialState

MIB = 1024 * 1024
TRIAL = ("s1", 4)


def sample(time: float, util: float | None = 50.0, used_mib: float | None = 1024.0, power_w: float | None = None,
           energy_mj: float | None = None, trial: tuple[str, int] | None = TRIAL) -> GpuSample:
    return GpuSample(
        host="h", index=0, uuid="GPU-a", name="H100", pci_bus_id="0", time=time, util_percent=util, fb_used_mib=used_mib,
        power_w=power_w, energy_mj=energy_mj, sweep=None if trial is None else trial[0], trial=None if trial is None else trial[1],
    )


def test_known_samples_give_known_mean_max_peak_and_counter_energy() -> None:
    # Given four samples over 3 s: utilization 20, 80, 60, 40; memory peaking at 12 GiB; the counter rising 600 J
    samples = [
        sample(100.0, util=20, used_mib=2048, power_w=100, energy_mj=5_000_000),
        sample(101.0, util=80, used_mib=12 * 1024, power_w=300, energy_mj=5_200_000),
        sample(102.0, util=60, used_mib=8 * 1024, power_w=300, energy_mj=5_400_000),
        sample(103.0, util=40, used_mib=4096, power_w=100, energy_mj=5_600_000),
    ]
    # When they are summed up
    usage = summarize(samples)
    # Then every figure is the one computed by hand; energy comes from the counter, not from power
    assert usage == GpuUsage(samples=4, mean_util_percent=50.0, max_util_percent=80.0, peak_memory_bytes=12 * GIB, energy_joules=600.0)
    assert not usage.mostly_idle
    assert usage.label == "50% 12.0GiB"


def test_without_a_counter_energy_is_power_integrated_over_time() -> None:
    # Given power readings of 100 W, 300 W, 300 W at 0, 2 and 3 s, and a GPU with no energy counter
    samples = [sample(10.0, power_w=100), sample(12.0, power_w=300), sample(13.0, power_w=300)]
    # Then energy is the trapezoid area: 2 s x 200 W + 1 s x 300 W
    usage = summarize(samples)
    assert usage is not None and usage.energy_joules == pytest.approx(700.0)


def test_a_counter_that_went_back_falls_back_to_power() -> None:
    # Given a counter reset between samples (a driver reload), with 200 W read throughout
    samples = [sample(0.0, power_w=200, energy_mj=9_000_000), sample(5.0, power_w=200, energy_mj=1_000)]
    usage = summarize(samples)
    assert usage is not None and usage.energy_joules == pytest.approx(1000.0)


def test_samples_in_any_order_give_the_same_usage() -> None:
    # Given samples from two threads, arriving out of time order
    samples = [sample(float(t), util=t * 7 % 100, used_mib=100 + t, energy_mj=1000.0 * t) for t in range(20)]
    shuffled = random.Random(3).sample(samples, len(samples))
    # Then the counter is read at the earliest and latest sample whatever the order
    ordered, mixed = summarize(samples), summarize(shuffled)
    assert ordered is not None and mixed is not None
    assert mixed.energy_joules == ordered.energy_joules == pytest.approx(19.0)
    assert (mixed.samples, mixed.max_util_percent, mixed.peak_memory_bytes) == (20, ordered.max_util_percent, (100 + 19) * MIB)
    assert mixed.mean_util_percent == pytest.approx(ordered.mean_util_percent)


def test_readings_nvml_could_not_give_are_none_not_zero() -> None:
    # Given two samples where NVML gave neither utilization, memory, power nor energy
    usage = summarize([sample(0.0, util=None, used_mib=None), sample(1.0, util=None, used_mib=None)])
    assert usage == GpuUsage(samples=2)
    assert not usage.mostly_idle and usage.label == "- -"
    # And a single sample has no interval to give an energy
    one = summarize([sample(0.0, power_w=300, energy_mj=1.0)])
    assert one is not None and one.energy_joules is None
    assert summarize([]) is None and GpuUsageTally().summary() is None


@pytest.mark.parametrize(
    ("utils", "idle"),
    [
        ([2, 3, 4], True),  # mean 3% over 3 samples
        ([0, 0, 29], True),  # mean 9.67%: under 10
        ([0, 0, 30], False),  # mean exactly 10%: not under
        ([0, 1], False),  # two samples are too few to judge
        ([95, 99, 97, 100], False),
    ],
)
def test_a_gpu_left_mostly_idle_is_flagged(utils: list[float], idle: bool) -> None:
    usage = summarize([sample(float(i), util=u) for i, u in enumerate(utils)])
    assert usage is not None and usage.mostly_idle is idle
    assert usage.label.endswith(" idle GPU") is idle


def test_the_meter_counts_only_the_trial_begun_last() -> None:
    meter = GpuUsageMeter()
    # Given samples before any trial, of the trial running, of another trial, and between trials
    assert not meter.add(sample(0.0, util=99))
    meter.begin(TRIAL)
    assert meter.trial == TRIAL
    assert meter.add(sample(1.0, util=40))
    assert not meter.add(sample(1.5, util=99, trial=("s1", 5)))
    assert not meter.add(sample(1.6, util=99, trial=None))
    assert meter.add(sample(2.0, util=60))
    # When the trial ends, its usage counts its two samples only, and later samples are ignored
    usage = meter.finish()
    assert usage is not None and (usage.samples, usage.mean_util_percent, usage.max_util_percent) == (2, 50.0, 60.0)
    assert meter.trial is None and not meter.add(sample(3.0)) and meter.finish() is None
    # And a new trial starts from nothing
    meter.begin(("s1", 5))
    assert meter.finish() is None


def test_the_meter_loses_no_sample_to_concurrent_adds() -> None:
    meter = GpuUsageMeter()
    meter.begin(TRIAL)

    def feed(offset: int) -> None:
        for i in range(2000):
            meter.add(sample(offset + i * 0.001, util=float(offset)))

    threads = [threading.Thread(target=feed, args=(k * 10,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    usage = meter.finish()
    assert usage is not None and usage.samples == 8000 and usage.mean_util_percent == pytest.approx(15.0)


def test_a_trial_keeps_its_usage_through_the_store_encoding_and_its_json_says_whether_idle() -> None:
    usage = GpuUsage(samples=5, mean_util_percent=3.5, max_util_percent=8.0, peak_memory_bytes=3 * GIB, energy_joules=412.5)
    trial = Trial(sweep_id="s1", number=4, state=TrialState.COMPLETED, params={}, seed=1, gpu_usage=usage)
    stored = codec.encode_trial(trial)
    assert json.loads(stored["gpu_usage"]) == {
        "samples": 5, "mean_util_percent": 3.5, "max_util_percent": 8.0, "peak_memory_bytes": 3 * GIB, "energy_joules": 412.5,
        "mostly_idle": True,
    }
    assert codec.decode_trial(stored) == trial
    # And a trial recorded without it (a CPU slot, or before this version) reads back as None
    without = codec.encode_trial(Trial(sweep_id="s1", number=5, state=TrialState.COMPLETED, params={}, seed=1))
    assert codec.decode_trial(without).gpu_usage is None
    del without["gpu_usage"]
    assert codec.decode_trial(without).gpu_usage is None
