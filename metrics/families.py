"""Telemetry snapshot -> Prometheus metric families (pure: no Redis, no HTTP).

Every family is built from its entry in `metrics.catalog`, so names, types,
help texts and label sets cannot drift from what dashboards and rules expect.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from metrics.catalog import Kind, metric
from sweepctl.buckets import DURATION_BUCKETS, SUGGESTION_BUCKETS, cumulative
from sweepctl.records import GpuSample, TrialState
from sweepctl.telemetry import (
    WORKER_UP_SECONDS,
    RedisMemory,
    SweepTelemetry,
    TelemetrySnapshot,
)

# GPU series: catalog name -> the GpuSample field it publishes.
GPU_FIELDS = {
    "DCGM_FI_DEV_GPU_UTIL": "util_percent",
    "DCGM_FI_DEV_MEM_COPY_UTIL": "mem_copy_util_percent",
    "DCGM_FI_DEV_FB_USED": "fb_used_mib",
    "DCGM_FI_DEV_FB_FREE": "fb_free_mib",
    "DCGM_FI_DEV_FB_TOTAL": "fb_total_mib",
    "DCGM_FI_DEV_GPU_TEMP": "temp_c",
    "DCGM_FI_DEV_POWER_USAGE": "power_w",
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": "energy_mj",
    "DCGM_FI_DEV_SM_CLOCK": "sm_clock_mhz",
    "DCGM_FI_DEV_MEM_CLOCK": "mem_clock_mhz",
    "DCGM_FI_DEV_XID_ERRORS": "xid",
}


def new_family(name: str) -> Any:
    """An empty family shaped by the catalog entry `name` (Any: the three family types' add_metric differ)."""
    m = metric(name)
    if m.kind is Kind.COUNTER:
        return CounterMetricFamily(m.name, m.help, labels=list(m.labels))
    if m.kind is Kind.HISTOGRAM:
        return HistogramMetricFamily(m.name, m.help, labels=list(m.labels))
    return GaugeMetricFamily(m.name, m.help, labels=list(m.labels))


def gpu_labels(sample: GpuSample) -> list[str]:
    return [str(sample.index), sample.uuid, f"nvidia{sample.index}", sample.name, sample.pci_bus_id, sample.host]


def gpu_families(snapshot: TelemetrySnapshot) -> Iterator[Metric]:
    for name, field in GPU_FIELDS.items():
        family = new_family(name)
        for sample in snapshot.gpus:
            value = getattr(sample, field)
            if value is not None:
                family.add_metric(gpu_labels(sample), value)
        yield family
    busy, info = new_family("sweepctl_gpu_busy"), new_family("sweepctl_gpu_trial_info")
    for sample in snapshot.gpus:
        running = sample.sweep is not None and sample.trial is not None
        busy.add_metric(gpu_labels(sample), 1.0 if running else 0.0)
        if running:
            info.add_metric([*gpu_labels(sample), str(sample.sweep), str(sample.trial), sample.worker or ""], 1.0)
    yield busy
    yield info


def _histogram(family: Any, sweep_id: str, stats: dict[str, float], prefix: str, buckets: tuple[float, ...]) -> None:
    counts = {i: int(stats.get(f"{prefix}_b{i}", 0)) for i in range(len(buckets) + 1)}
    family.add_metric([sweep_id], cumulative(counts, buckets), stats.get(f"{prefix}_sum", 0.0))


def budget_remaining(s: SweepTelemetry) -> float:
    if s.sweep.state.is_terminal:
        return 0.0
    run_cap = s.summary.run_cap
    return math.inf if run_cap is None else float(max(0, run_cap - s.created))


def sweep_families(snapshot: TelemetrySnapshot) -> Iterator[Metric]:
    names = (
        "sweepctl_sweep_info",
        "sweepctl_sweep_trials",
        "sweepctl_sweep_failures",
        "sweepctl_sweep_trials_finished",
        "sweepctl_sweep_best_objective",
        "sweepctl_sweep_queue_depth",
        "sweepctl_sweep_running_trials",
        "sweepctl_sweep_budget_remaining_trials",
        "sweepctl_sweep_last_finish_timestamp_seconds",
        "sweepctl_sweep_trial_duration_seconds",
        "sweepctl_sweep_suggestion_duration_seconds",
        "sweepctl_sweep_gpu_seconds",
        "sweepctl_trial_last_metric",
    )
    f = {name: new_family(name) for name in names}
    for s in snapshot.sweeps:
        sid, summary = s.sweep.id, s.summary
        info = [sid, summary.name, summary.method, summary.metric, summary.goal.value, s.sweep.state.value]
        f["sweepctl_sweep_info"].add_metric(info, 1.0)
        for state in TrialState:
            f["sweepctl_sweep_trials"].add_metric([sid, state.value], s.counts[state])
        trial_failures = sum(n for st, n in s.counts.items() if st.is_trial_failure)
        infra_failures = sum(n for st, n in s.counts.items() if st.is_infrastructure_failure)
        f["sweepctl_sweep_failures"].add_metric([sid, "trial"], trial_failures)
        f["sweepctl_sweep_failures"].add_metric([sid, "infrastructure"], infra_failures)
        f["sweepctl_sweep_trials_finished"].add_metric([sid], s.finished)  # not from the counts: a retry moves a trial back to queued
        if s.best is not None:
            f["sweepctl_sweep_best_objective"].add_metric([sid], s.best)
        f["sweepctl_sweep_queue_depth"].add_metric([sid], s.counts[TrialState.QUEUED])
        f["sweepctl_sweep_running_trials"].add_metric([sid], s.counts[TrialState.RUNNING])
        f["sweepctl_sweep_budget_remaining_trials"].add_metric([sid], budget_remaining(s))
        # Before its first result, a sweep counts as having finished one when it was created:
        # a sweep that never finishes anything must still look stalled.
        f["sweepctl_sweep_last_finish_timestamp_seconds"].add_metric([sid], s.stats.get("last_finish", s.sweep.created_at))
        _histogram(f["sweepctl_sweep_trial_duration_seconds"], sid, s.stats, "duration", DURATION_BUCKETS)
        _histogram(f["sweepctl_sweep_suggestion_duration_seconds"], sid, s.stats, "suggest", SUGGESTION_BUCKETS)
        f["sweepctl_sweep_gpu_seconds"].add_metric([sid], s.stats.get("gpu_seconds", 0.0))
        for number, value in s.running:
            if value is not None:
                f["sweepctl_trial_last_metric"].add_metric([sid, str(number), summary.metric], value)
    yield from f.values()


def fleet_families(snapshot: TelemetrySnapshot) -> Iterator[Metric]:
    live = new_family("sweepctl_live_sweeps")
    live.add_metric([], snapshot.live_sweeps)
    yield live
    up, age = new_family("sweepctl_worker_up"), new_family("sweepctl_worker_heartbeat_age_seconds")
    for w in snapshot.workers:
        up.add_metric([w.host, w.slot], 1.0 if w.age <= WORKER_UP_SECONDS else 0.0)
        age.add_metric([w.host, w.slot], w.age)
    yield up
    yield age
    hosts = new_family("sweepctl_host_trials")
    # Every final state of every known host, zeros included: increase() cannot see a
    # series' first event, so a host's first failure would otherwise go unnoticed.
    for host in sorted({h for h, _ in snapshot.host_trials}):
        for state in TrialState:
            if state.is_finished:
                hosts.add_metric([host, state.value], snapshot.host_trials.get((host, state.value), 0))
    yield hosts
    controllers = new_family("sweepctl_controllers_alive")
    controllers.add_metric([], snapshot.controllers_alive)
    yield controllers


def snapshot_families(snapshot: TelemetrySnapshot) -> Iterator[Metric]:
    """Every family of a scrape except the exporter's own health."""
    yield from gpu_families(snapshot)
    yield from sweep_families(snapshot)
    yield from fleet_families(snapshot)


def memory_families(memory: RedisMemory) -> Iterator[Metric]:
    used, limit = new_family("sweepctl_redis_memory_used_bytes"), new_family("sweepctl_redis_memory_max_bytes")
    used.add_metric([], memory.used_bytes)
    limit.add_metric([], memory.max_bytes)
    yield used
    yield limit


def health_families(redis_up: bool, seconds: float) -> Iterator[Metric]:
    up = new_family("sweepctl_exporter_redis_up")
    up.add_metric([], 1.0 if redis_up else 0.0)
    took = new_family("sweepctl_exporter_scrape_duration_seconds")
    took.add_metric([], seconds)
    yield up
    yield took
