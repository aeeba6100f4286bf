"""Figures of how trials ran: learning curves (early-stopped ones marked), a timeline per worker, failures by reason and host.

Pure: records in, a plotly Figure out. Long curves are thinned and only some trials' curves are drawn (pages.sampling).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from sweepctl.analysis.overview import FailureCounts, worker_of
from sweepctl.pages.sampling import CURVE_POINTS_MAX, POINTS_MAX, evenly
from sweepctl.pages.trial_figures import layout, ms, plot_text
from sweepctl.records import MetricPoint, Trial, TrialState

STATE_COLORS = {
    TrialState.COMPLETED: "#2a9d8f",
    TrialState.STOPPED: "#e9c46a",
    TrialState.RUNNING: "#457b9d",
    TrialState.FAILED: "#e63946",
    TrialState.NAN: "#f4a261",
    TrialState.TIMED_OUT: "#9d4edd",
    TrialState.KILLED: "#6d213c",
    TrialState.LOST: "#8d99ae",
    TrialState.CANCELLED: "#adb5bd",
    TrialState.QUEUED: "#dee2e6",
}


def curve(points: Sequence[MetricPoint], metric: str) -> tuple[list[float], list[float | None]]:
    """(steps, values) of one metric in a trial's history; a point without a step counts as the next one; NaN as a gap."""
    steps: list[float] = []
    values: list[float | None] = []
    for i, point in enumerate(points):
        if metric not in point.values:
            continue
        value = point.values[metric]
        steps.append(float(point.step if point.step is not None else i + 1))
        values.append(value if math.isfinite(value) else None)
    keep = evenly(range(len(steps)), CURVE_POINTS_MAX)
    return [steps[i] for i in keep], [values[i] for i in keep]


def curves_figure(trials: Sequence[Trial], histories: Mapping[int, Sequence[MetricPoint]], metric: str) -> go.Figure:
    """One line per trial of `trials` whose history has `metric`; early-stopped trials dashed, with a cross where they stopped."""
    fig = go.Figure()
    shown: set[str] = set()
    label = plot_text(metric)
    for t in trials:
        steps, values = curve(histories.get(t.number, ()), metric)
        if not steps:
            continue
        stopped = t.state is TrialState.STOPPED
        group = "stopped early" if stopped else t.state.value
        color = STATE_COLORS.get(t.state, "#555555")
        fig.add_trace(
            go.Scatter(
                x=steps, y=values, mode="lines", name=group, legendgroup=group, showlegend=group not in shown,
                line={"color": color, "width": 1.5, "dash": "dash" if stopped else "solid"}, opacity=0.8,
                hovertemplate=f"trial {t.number} ({t.state.value})<br>step %{{x}}<br>{label} %{{y}}<extra></extra>",
            )
        )
        shown.add(group)
        if stopped:
            fig.add_trace(
                go.Scatter(
                    x=steps[-1:], y=values[-1:], mode="markers", legendgroup=group, showlegend=False,
                    marker={"symbol": "x", "size": 10, "color": "#d62828"}, hovertemplate=f"trial {t.number} stopped here<extra></extra>",
                )
            )
    return layout(fig, f"learning curves of {label}", height=440, xaxis={"title": "step"}, yaxis={"title": label})


def timeline_figure(trials: Sequence[Trial], now: float) -> go.Figure:
    """Each run as a bar on its worker's row from start to end (running ones up to `now`), coloured by state; gaps are idle time.

    One line trace per state with breaks between runs: 10,000 runs draw as a few SVG paths, not 10,000 shapes.
    """
    by_state: dict[TrialState, tuple[list[Any], list[Any], list[Any]]] = {}
    workers: set[str] = set()
    for t in sorted(trials, key=lambda t: t.started_at or 0.0):
        if t.started_at is None:
            continue
        end = t.ended_at if t.ended_at is not None else now
        worker = worker_of(t)
        workers.add(worker)
        x, y, text = by_state.setdefault(t.state, ([], [], []))
        label = f"trial {t.number} ({t.state.value}, {end - t.started_at:.1f} s)"
        x += [ms(t.started_at), ms(end), None]
        y += [worker, worker, None]
        text += [label, label, None]
    fig = go.Figure()
    for state, (x, y, text) in sorted(by_state.items(), key=lambda kv: list(TrialState).index(kv[0])):
        fig.add_trace(
            go.Scatter(
                x=x, y=y, text=text, mode="lines", name=state.value, connectgaps=False,
                line={"color": STATE_COLORS.get(state, "#555555"), "width": 12}, hovertemplate="%{text}<extra></extra>",
            )
        )
    rows = sorted(workers)
    height = min(1400, 140 + 28 * len(rows))
    yaxis = {"type": "category", "categoryorder": "array", "categoryarray": rows[::-1], "title": ""}
    return layout(fig, "trials per worker over time", height=height, xaxis={"type": "date", "title": "time"}, yaxis=yaxis)


def failure_reason_figure(failures: FailureCounts) -> go.Figure:
    """Failed trials by reason (their final state)."""
    reasons = list(failures.by_reason)
    colors = [STATE_COLORS.get(TrialState(r), "#555555") for r in reasons]
    fig = go.Figure(go.Bar(x=reasons, y=[failures.by_reason[r] for r in reasons], marker={"color": colors}))
    return layout(fig, "failed trials by reason", height=320, xaxis={"type": "category"}, yaxis={"title": "trials"})


def failure_host_figure(failures: FailureCounts) -> go.Figure:
    """Failed trials by host, stacked by reason: one bad host stands out."""
    hosts = list(failures.by_host)
    fig = go.Figure()
    for reason in failures.by_reason:
        counts = [failures.by_host[h].get(reason, 0) for h in hosts]
        fig.add_trace(go.Bar(x=hosts, y=counts, name=reason, marker={"color": STATE_COLORS.get(TrialState(reason), "#555555")}))
    return layout(fig, "failed trials by host", height=340, barmode="stack", xaxis={"type": "category"}, yaxis={"title": "trials"})


def gpu_usage_figure(trials: Sequence[Trial]) -> go.Figure:
    """Mean and peak GPU utilization of each trial that ran on a GPU, by trial number; mostly idle trials stand out in red."""
    used = evenly(sorted((t for t in trials if t.gpu_usage is not None), key=lambda t: t.number), POINTS_MAX)
    fig = go.Figure()
    for idle, name, color in ((False, "busy", "#2a9d8f"), (True, "mostly idle", "#e63946")):
        shown = [t for t in used if t.gpu_usage is not None and t.gpu_usage.mostly_idle is idle]
        fig.add_trace(
            go.Scatter(
                x=[t.number for t in shown],
                y=[t.gpu_usage.mean_util_percent if t.gpu_usage else None for t in shown],
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [_headroom(t) for t in shown],
                    "arrayminus": [0.0] * len(shown),
                    "thickness": 1,
                    "width": 0,
                },
                mode="markers",
                name=name,
                marker={"color": color, "size": 6},
                text=[t.gpu_usage.label if t.gpu_usage else "" for t in shown],
                hovertemplate="trial %{x}: %{text}<extra></extra>",
            )
        )
    return layout(fig, "GPU utilization per trial (mean, bar to the peak)", height=340, xaxis={"title": "trial"}, yaxis={"title": "%"})


def _headroom(trial: Trial) -> float:
    usage = trial.gpu_usage
    if usage is None or usage.mean_util_percent is None or usage.max_util_percent is None:
        return 0.0
    return usage.max_util_percent - usage.mean_util_percent
