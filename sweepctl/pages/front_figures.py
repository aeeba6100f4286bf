"""The Pareto front of a sweep with several objectives, drawn: two objectives as a scatter with the front joined,
three or four as a scatter matrix of every pair; the front's trials are highlighted among the others.

Pure: trial records and their front (`sweepctl.analysis.pareto`, the one `best` prints) in, a plotly Figure out.
Trials off the front are sampled evenly past POINTS_MAX (pages.sampling); the front is always drawn whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from sweepctl.analysis.pareto import ParetoFront, objective_values
from sweepctl.pages.sampling import POINTS_MAX, evenly
from sweepctl.pages.trial_figures import layout, plot_text
from sweepctl.records import Trial
from sweepctl.spec import MetricSpec

FRONT_COLOUR = "#d62728"
OTHERS_COLOUR = "rgba(120, 130, 140, 0.45)"
FRONT_NAME = "Pareto front"


def off_front(trials: Sequence[Trial], front: ParetoFront) -> tuple[list[int], list[tuple[float, ...]]]:
    """The numbers and objective values of the competing trials not on the front (an even sample past POINTS_MAX)."""
    on_front = set(front.numbers)
    rest = [
        (t.number, values)
        for t in sorted(trials, key=lambda t: t.number)
        if t.number not in on_front and (values := objective_values(t, front.objectives)) is not None
    ]
    kept = evenly(rest, POINTS_MAX)
    return [n for n, _ in kept], [v for _, v in kept]


def axis_title(metric: MetricSpec) -> str:
    return f"{plot_text(metric.name)} ({metric.goal.value})"


def _hover(objectives: Sequence[MetricSpec]) -> str:
    lines = [f"{plot_text(m.name)} %{{customdata[{i + 1}]:.6g}}" for i, m in enumerate(objectives)]
    return "trial %{customdata[0]}<br>" + "<br>".join(lines) + "<extra></extra>"


def _custom(numbers: Sequence[int], values: Sequence[Sequence[float]]) -> list[list[Any]]:
    return [[n, *v] for n, v in zip(numbers, values)]


def front_figure(trials: Sequence[Trial], front: ParetoFront) -> go.Figure:
    """The front among the sweep's other completed trials: a scatter for two objectives, a scatter matrix for more."""
    numbers, values = off_front(trials, front)
    if len(front.objectives) == 2:
        return _scatter(front, numbers, values)
    return _matrix(front, numbers, values)


def _title(front: ParetoFront) -> str:
    return f"{FRONT_NAME}: {len(front.trials)} of {front.candidates} completed trials"


def _scatter(front: ParetoFront, numbers: list[int], values: list[tuple[float, ...]]) -> go.Figure:
    """Two objectives: every other trial a grey point, the front's trials red and joined in the order of the first objective."""
    first, second = front.objectives
    hover = _hover(front.objectives)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=[v[0] for v in values],
            y=[v[1] for v in values],
            mode="markers",
            name="other trials",
            marker={"size": 6, "color": OTHERS_COLOUR},
            customdata=_custom(numbers, values),
            hovertemplate=hover,
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[v[0] for v in front.values],
            y=[v[1] for v in front.values],
            mode="lines+markers",
            name=FRONT_NAME,
            marker={"size": 10, "color": FRONT_COLOUR, "line": {"width": 1, "color": "#fff"}},
            line={"color": FRONT_COLOUR, "width": 2},
            customdata=_custom(front.numbers, front.values),
            hovertemplate=hover,
        )
    )
    return layout(fig, _title(front), height=480, xaxis={"title": axis_title(first)}, yaxis={"title": axis_title(second)})


def _matrix(front: ParetoFront, numbers: list[int], values: list[tuple[float, ...]]) -> go.Figure:
    """Three or four objectives: a scatter matrix of every pair, the front's trials red over the others."""
    hover = _hover(front.objectives)

    def dimensions(rows: Sequence[Sequence[float]]) -> list[dict[str, Any]]:
        return [{"label": axis_title(m), "values": [r[i] for r in rows]} for i, m in enumerate(front.objectives)]

    fig = go.Figure()
    fig.add_trace(
        go.Splom(
            dimensions=dimensions(values),
            name="other trials",
            marker={"size": 5, "color": OTHERS_COLOUR},
            customdata=_custom(numbers, values),
            hovertemplate=hover,
            showupperhalf=False,
            diagonal={"visible": False},
        )
    )
    fig.add_trace(
        go.Splom(
            dimensions=dimensions(front.values),
            name=FRONT_NAME,
            marker={"size": 8, "color": FRONT_COLOUR},
            customdata=_custom(front.numbers, front.values),
            hovertemplate=hover,
            showupperhalf=False,
            diagonal={"visible": False},
        )
    )
    size = 220 * len(front.objectives)
    return layout(fig, _title(front), height=max(480, size), dragmode="select")
