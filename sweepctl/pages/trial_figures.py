"""Figures of the objective against time and parameters: history with best-so-far, parallel coordinates, one slice per parameter.

Pure: trial records in, a plotly Figure out (nothing is read or written). Large sweeps are sampled (pages.sampling).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from sweepctl.analysis.importance import ImportanceReport
from sweepctl.analysis.overview import best_so_far, completed, flat_params
from sweepctl.pages.sampling import best_and_spread
from sweepctl.records import Trial
from sweepctl.spec import Goal

TEMPLATE = "plotly_white"
ABSENT = "(absent)"  # a conditional parameter a trial did not have


MODE_BAR_PX = 34  # Plotly's tool bar along the top of a figure (shown on hover): titles start below it


def layout(fig: go.Figure, title: str, height: int = 420, **more: Any) -> go.Figure:
    """The house look of every figure: one template, a title, a fixed height (the page has no other sizing).

    The title starts below the strip Plotly's tool bar takes on hover, however long it is (a metric's
    name is the user's): the figure is MODE_BAR_PX taller than `height` for it, the plot as large as without."""
    settings: dict[str, Any] = {"margin": {"l": 60, "r": 30, "t": 50, "b": 50}, **more}
    settings["margin"] = {**settings["margin"], "t": settings["margin"].get("t", 50) + MODE_BAR_PX}
    total = height + MODE_BAR_PX
    heading = {"text": title, "x": 0.01, "xanchor": "left", "yref": "container", "y": 1 - MODE_BAR_PX / total, "yanchor": "top"}
    fig.update_layout(template=TEMPLATE, title=heading, height=total, **settings)
    return fig


def plot_text(name: str) -> str:
    """A user's name (a metric's: any characters) as Plotly text that shows it as written.

    Plotly reads `<b>`, `<br>`, entities such as `&lt;` in every title, label and hover
    text, and `%{...}` in hover templates: escaped as entities, which it shows as the
    characters they stand for.
    """
    return name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("%{", "%&#123;")


def ms(seconds: float) -> int:
    """A Unix time as milliseconds: what a plotly date axis reads, shorter in the page than a date string."""
    return round(seconds * 1000)


def history_figure(trials: Sequence[Trial], goal: Goal, metric: str) -> go.Figure:
    """Every completed trial's objective at the time it ended, and the best so far as a step line."""
    done = sorted((t for t in completed(trials) if t.ended_at is not None), key=lambda t: (t.ended_at, t.number))
    x = [ms(t.ended_at or 0.0) for t in done]
    y = [float(t.objective or 0.0) for t in done]
    best = best_so_far(y, goal)
    changes = [i for i in range(len(best)) if i == 0 or best[i] != best[i - 1] or i == len(best) - 1]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=x, y=y, mode="markers", name="trial", marker={"size": 5, "opacity": 0.6},
            customdata=[t.number for t in done], hovertemplate="trial %{customdata}<br>" + plot_text(metric) + " %{y}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[x[i] for i in changes], y=[best[i] for i in changes], mode="lines", line={"shape": "hv", "width": 2}, name="best so far"
        )
    )
    label = plot_text(metric)
    return layout(fig, f"{label} over time ({goal.value})", xaxis={"type": "date", "title": "trial ended"}, yaxis={"title": label})


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Axis:
    """One parameter's values on a plot axis: numbers (log10 of them for a log-scale parameter) or category codes."""

    label: str
    values: list[Any]
    categories: tuple[str, ...] = ()  # tick labels of codes 0..n-1; empty for a numeric axis
    log: bool = False


def axis(name: str, values: Sequence[Any], log: bool) -> Axis:
    """`values` of parameter `name` (None where absent) as an axis: numeric when every value is a number."""
    if values and all(is_number(v) for v in values):
        if log and all(v > 0 for v in values):
            return Axis(name, [float(v) for v in values], log=True)
        return Axis(name, [float(v) for v in values])
    labels = [ABSENT if v is None else str(v) for v in values]
    categories = tuple(sorted(set(labels)))
    code = {c: i for i, c in enumerate(categories)}
    return Axis(name, [code[label] for label in labels], categories)


def parameter_axes(trials: Sequence[Trial], names: Sequence[str], log: Collection[str]) -> list[Axis]:
    flat = [flat_params(t.params) for t in trials]
    return [axis(name, [p.get(name) for p in flat], name in log) for name in names]


def parallel_figure(ranked: Sequence[Trial], goal: Goal, metric: str, names: Sequence[str], log: Collection[str]) -> go.Figure:
    """Parallel coordinates: one axis per parameter and the objective last, lines coloured by the objective (best bright)."""
    shown = best_and_spread(ranked)
    dimensions: list[dict[str, Any]] = []
    for ax in parameter_axes(shown, names, log):
        if ax.categories:
            ticks = {"tickvals": list(range(len(ax.categories))), "ticktext": list(ax.categories)}
            dimensions.append({"label": ax.label, "values": ax.values, **ticks})
        elif ax.log:
            dimensions.append({"label": f"log10 {ax.label}", "values": [math.log10(v) for v in ax.values]})
        else:
            dimensions.append({"label": ax.label, "values": ax.values})
    objective = [float(t.objective or 0.0) for t in shown]
    dimensions.append({"label": plot_text(metric), "values": objective})
    line = {"color": objective, "colorscale": "Viridis", "showscale": True, "reversescale": goal is Goal.MINIMIZE}
    fig = go.Figure(go.Parcoords(dimensions=dimensions, line=line))
    title = f"parameters and {plot_text(metric)}"
    if len(shown) < len(ranked):
        title += f" ({len(shown)} of {len(ranked)} completed trials: the best and a spread)"
    return layout(fig, title, height=460, margin={"l": 80, "r": 80, "t": 90, "b": 40})


def slice_figures(ranked: Sequence[Trial], metric: str, names: Sequence[str], log: Collection[str]) -> list[go.Figure]:
    """One scatter per parameter: the objective against the parameter's value, coloured by trial number."""
    shown = best_and_spread(ranked)
    objective = [float(t.objective or 0.0) for t in shown]
    numbers = [t.number for t in shown]
    figures = []
    for ax in parameter_axes(shown, names, log):
        x: list[Any] = [ax.categories[v] for v in ax.values] if ax.categories else ax.values
        marker = {"size": 6, "opacity": 0.7, "color": numbers, "colorscale": "Blues", "showscale": False}
        fig = go.Figure(
            go.Scatter(x=x, y=objective, mode="markers", marker=marker, customdata=numbers,
                       hovertemplate="trial %{customdata}<br>%{x}<br>" + plot_text(metric) + " %{y}<extra></extra>")
        )
        xaxis: dict[str, Any] = {"title": ax.label, "type": "log" if ax.log else ("category" if ax.categories else "linear")}
        if ax.categories:
            xaxis["categoryorder"] = "category ascending"
        figures.append(layout(fig, ax.label, height=320, xaxis=xaxis, yaxis={"title": plot_text(metric)}))
    return figures


def parameter_names(trials: Sequence[Trial], declared: Sequence[str]) -> list[str]:
    """The parameters to plot: the sweep file's, in its order, then any other a trial recorded."""
    names = list(declared)
    seen = set(names)
    for t in trials:
        for name in flat_params(t.params):
            if name not in seen:
                seen.add(name)
                names.append(name)
    return names



def importance_figure(report: ImportanceReport) -> go.Figure:
    """Each parameter's share of the metric's variance with its interval, and its rank correlation with its interval."""
    names = [p.name for p in reversed(report.parameters)]  # the most important on top
    shares = [p.importance for p in reversed(report.parameters)]
    correlations = [p.correlation for p in reversed(report.parameters)]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=shares, y=names, orientation="h", name="importance (variance share)", marker={"color": "#457b9d"},
                         error_x=_interval([p.importance_ci for p in reversed(report.parameters)], shares)))
    fig.add_trace(go.Bar(x=correlations, y=names, orientation="h", name="Spearman correlation", marker={"color": "#e9c46a"},
                         error_x=_interval([p.correlation_ci for p in reversed(report.parameters)], correlations)))
    title = f"importance of {plot_text(report.metric)}: {report.trials} trials, surrogate R² {report.r2:.2f}"
    return layout(fig, title, height=max(260, 60 + 40 * len(names)), barmode="group", yaxis={"type": "category"})


def _interval(bounds: Sequence[tuple[float, float]], values: Sequence[float]) -> dict[str, Any]:
    """Plotly's asymmetric error bars for intervals [lo, hi] around `values`."""
    return {
        "type": "data",
        "symmetric": False,
        "array": [max(0.0, hi - v) for (_, hi), v in zip(bounds, values, strict=True)],
        "arrayminus": [max(0.0, v - lo) for (lo, _), v in zip(bounds, values, strict=True)],
    }
