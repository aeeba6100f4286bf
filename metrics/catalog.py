"""Every metric the exporter publishes: name, type, help and labels, in one place.

Dashboards and alert rules may only name series listed here (a test checks it),
so renaming a metric breaks the build instead of a dashboard. Per-GPU series
use dcgm-exporter's names and labels, so Grafana dashboard 12239 and familiar
GPU alerts work unchanged; everything else is ours, prefixed `sweepctl_`.

Cardinality is bounded by design: no label carries an unbounded trial id.
`trial` appears only on series of trials running now (at most one per GPU or
worker slot); finished trials live in counters and histograms.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(str, Enum):
    GAUGE = "gauge"
    COUNTER = "counter"
    HISTOGRAM = "histogram"

    def series_names(self, name: str) -> tuple[str, ...]:
        """The names that appear in the exposition (what PromQL can select)."""
        if self is Kind.COUNTER:
            return (f"{name}_total",)
        if self is Kind.HISTOGRAM:
            return (f"{name}_bucket", f"{name}_sum", f"{name}_count")
        return (name,)


@dataclass(frozen=True)
class MetricDef:
    name: str  # family name, as given to prometheus_client (counters without _total)
    kind: Kind
    help: str
    labels: tuple[str, ...]


# dcgm-exporter's label names (gpu = physical index, Hostname as in dashboard 12239).
GPU_LABELS = ("gpu", "UUID", "device", "modelName", "pci_bus_id", "Hostname")
SWEEP = ("sweep",)


def _gpu(name: str, help: str) -> MetricDef:
    return MetricDef(name, Kind.GAUGE, help, GPU_LABELS)


CATALOG: tuple[MetricDef, ...] = (
    # ---- per GPU (dcgm-exporter compatible) -------------------------------------
    _gpu("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %)."),
    _gpu("DCGM_FI_DEV_MEM_COPY_UTIL", "Memory utilization (in %)."),
    _gpu("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB)."),
    _gpu("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB)."),
    _gpu("DCGM_FI_DEV_FB_TOTAL", "Framebuffer memory total (in MiB)."),
    _gpu("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C)."),
    _gpu("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W)."),
    _gpu("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "Total energy consumption since boot (in mJ)."),
    _gpu("DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz)."),
    _gpu("DCGM_FI_DEV_MEM_CLOCK", "Memory clock frequency (in MHz)."),
    _gpu("DCGM_FI_DEV_XID_ERRORS", "Value of the last XID error encountered (0: none)."),
    _gpu("sweepctl_gpu_busy", "1 while a trial runs on the GPU, 0 while it is idle."),
    MetricDef(
        "sweepctl_gpu_trial_info",
        Kind.GAUGE,
        "The trial running on a GPU now (value 1): joins GPU series to sweeps and trials.",
        (*GPU_LABELS, "sweep", "trial", "worker"),
    ),
    # ---- per sweep ---------------------------------------------------------------
    MetricDef("sweepctl_sweep_info", Kind.GAUGE, "Sweep metadata (value 1).", ("sweep", "name", "method", "metric", "goal", "state")),
    MetricDef("sweepctl_sweep_trials", Kind.GAUGE, "Trials of a sweep by state.", ("sweep", "state")),
    MetricDef(
        "sweepctl_sweep_failures",
        Kind.GAUGE,
        "Failed trials by kind: trial (the parameters' fault) or infrastructure (killed, lost).",
        ("sweep", "kind"),
    ),
    MetricDef(
        "sweepctl_sweep_trials_finished", Kind.COUNTER, "Trials that reached a final state (a retried trial once per attempt).", SWEEP
    ),
    MetricDef("sweepctl_sweep_best_objective", Kind.GAUGE, "Best objective among completed trials.", SWEEP),
    MetricDef("sweepctl_sweep_queue_depth", Kind.GAUGE, "Trials queued and waiting for a worker.", SWEEP),
    MetricDef("sweepctl_sweep_running_trials", Kind.GAUGE, "Trials running now.", SWEEP),
    MetricDef(
        "sweepctl_sweep_budget_remaining_trials",
        Kind.GAUGE,
        "Trials the sweep may still create (+Inf without run_cap); 0 once the sweep has ended.",
        SWEEP,
    ),
    MetricDef(
        "sweepctl_sweep_last_finish_timestamp_seconds",
        Kind.GAUGE,
        "When a trial of the sweep last finished (its creation time until one has), so a sweep that never finishes one looks stalled.",
        SWEEP,
    ),
    MetricDef("sweepctl_sweep_trial_duration_seconds", Kind.HISTOGRAM, "Run time of finished trials.", SWEEP),
    MetricDef("sweepctl_sweep_suggestion_duration_seconds", Kind.HISTOGRAM, "Time the controller took per suggestion.", SWEEP),
    MetricDef("sweepctl_sweep_gpu_seconds", Kind.COUNTER, "GPU time consumed by finished trials.", SWEEP),
    MetricDef(
        "sweepctl_trial_last_metric",
        Kind.GAUGE,
        "Last value of the sweep's metric reported by a running trial.",
        ("sweep", "trial", "metric"),
    ),
    MetricDef("sweepctl_live_sweeps", Kind.GAUGE, "Sweeps a controller still looks after.", ()),
    # ---- workers, hosts, controllers ---------------------------------------------------
    MetricDef("sweepctl_worker_up", Kind.GAUGE, "1 if the worker slot sent a heartbeat in the last 15 s.", ("host", "slot")),
    MetricDef("sweepctl_worker_heartbeat_age_seconds", Kind.GAUGE, "Seconds since the worker slot's last heartbeat.", ("host", "slot")),
    MetricDef("sweepctl_host_trials", Kind.COUNTER, "Trials finished on a host, by final state.", ("host", "state")),
    MetricDef("sweepctl_controllers_alive", Kind.GAUGE, "Controllers that sent a heartbeat in the last 15 s.", ()),
    # ---- Redis --------------------------------------------------------------------------
    MetricDef(
        "sweepctl_redis_memory_used_bytes",
        Kind.GAUGE,
        "Memory Redis counts against its maxmemory limit (used_memory less replica and AOF buffers).",
        (),
    ),
    MetricDef(
        "sweepctl_redis_memory_max_bytes",
        Kind.GAUGE,
        "Redis' maxmemory limit (0: none). With noeviction, writes are refused once used is within 64 KiB of it.",
        (),
    ),
    # ---- the exporter itself ------------------------------------------------------------
    MetricDef(
        "sweepctl_exporter_redis_up",
        Kind.GAUGE,
        "1 if the exporter could read Redis during this scrape (within its --scrape-deadline).",
        (),
    ),
    MetricDef("sweepctl_exporter_scrape_duration_seconds", Kind.GAUGE, "Time the exporter took to read Redis for this scrape.", ()),
)


def exported_series_names() -> frozenset[str]:
    """Every series name a PromQL query may select from this exporter."""
    return frozenset(series for m in CATALOG for series in m.kind.series_names(m.name))


def metric(name: str) -> MetricDef:
    for m in CATALOG:
        if m.name == name:
            return m
    raise KeyError(name)
