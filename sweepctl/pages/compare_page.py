"""Sweeps side by side as text rows (the CLI table and the page show the same ones) and as a page with figures.

Only formats what `sweepctl.analysis.compare` returns: nothing here computes a figure of its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from sweepctl.analysis.compare import Comparison, ParameterRange, SweepComparison
from sweepctl.pages.page import Section, number, render_page, table, text
from sweepctl.pages.records_html import when
from sweepctl.pages.trial_figures import layout, plot_text

TOP_PARAMETERS = 3  # parameters named in the importance row


def range_text(r: ParameterRange) -> str:
    if r.numeric:
        shown = number(r.low) if r.low == r.high else f"{number(r.low)} .. {number(r.high)}"
    else:
        shown = ", ".join(str(v) for v in r.values) or "-"
    return shown + (f" (absent in {r.absent})" if r.absent else "")


def importance_text(s: SweepComparison) -> str:
    if s.importance is None:
        return "- (too few trials)"
    ranking = s.importance
    top = ", ".join(f"{p.name} {p.importance:.2f}" for p in ranking.parameters[:TOP_PARAMETERS]) or "-"
    more = f" (+{len(ranking.parameters) - TOP_PARAMETERS} more)" if len(ranking.parameters) > TOP_PARAMETERS else ""
    trust = f"R² {ranking.r2:.2f}" if ranking.trustworthy else f"not trusted: R² {ranking.r2:.2f}, {ranking.trials} trials"
    return f"{top}{more} [{trust}]"


def failed_text(s: SweepComparison) -> str:
    rate = "-" if s.failure_rate is None else f"{100 * s.failure_rate:.1f}%"
    return f"{rate} ({s.failed} of {s.finished} finished)"


def comparison_rows(comparison: Comparison) -> list[tuple[str, list[str]]]:
    """(row label, one cell per sweep), from the sweep ids down to each parameter's top-10% range."""
    sweeps = comparison.sweeps
    rows: list[tuple[str, list[str]]] = [
        ("sweep", [s.sweep_id for s in sweeps]),
        ("name", [s.name or "-" for s in sweeps]),
        ("method", [s.method for s in sweeps]),
        ("metric", [f"{s.metric} ({s.goal.value})" for s in sweeps]),
        ("trials", [str(s.trials) for s in sweeps]),
        ("completed", [str(s.completed) for s in sweeps]),
        ("failed", [failed_text(s) for s in sweeps]),
        ("best", ["-" if s.best_trial is None else f"{number(s.best)} (trial {s.best_trial})" for s in sweeps]),
        ("trials to best", ["-" if s.trials_to_best is None else str(s.trials_to_best) for s in sweeps]),
        ("importance", [importance_text(s) for s in sweeps]),
        ("top 10%", [f"{s.top_trials} trial{'' if s.top_trials == 1 else 's'}" for s in sweeps]),
    ]
    ranges = [{r.name: r for r in s.top_ranges} for s in sweeps]
    for name in parameter_union([list(r) for r in ranges]):
        rows.append((f"top 10% {name}", [range_text(r[name]) if name in r else "-" for r in ranges]))
    return rows


def parameter_union(names: Sequence[Sequence[str]]) -> list[str]:
    """Every name, in the order first seen."""
    seen: dict[str, None] = {}
    for group in names:
        seen.update(dict.fromkeys(group))
    return list(seen)


def label(s: SweepComparison) -> str:
    return f"{s.name or s.sweep_id} ({s.method})"


def best_so_far_figure(comparison: Comparison) -> go.Figure:
    """Each sweep's best objective against the number of trials finished, on one plot."""
    fig = go.Figure()
    for s in comparison.sweeps:
        x = list(range(1, len(s.best_so_far) + 1))
        fig.add_trace(go.Scatter(x=x, y=list(s.best_so_far), mode="lines", line={"shape": "hv", "width": 2}, name=label(s)))
    metrics = sorted({f"{plot_text(s.metric)} ({s.goal.value})" for s in comparison.sweeps})
    return layout(fig, f"best {' / '.join(metrics)} so far", xaxis={"title": "trials finished"}, yaxis={"title": "best so far"})


def importance_figure(comparison: Comparison) -> go.Figure:
    """Each parameter's variance share in every sweep, grouped by parameter, with the 95% intervals."""
    ranked = [(s, s.importance) for s in comparison.sweeps if s.importance is not None]
    names = parameter_union([[p.name for p in ranking.parameters] for _, ranking in ranked])
    fig = go.Figure()
    for s, ranking in ranked:
        shares = {p.name: p for p in ranking.parameters}
        y = [shares[n].importance if n in shares else None for n in names]
        error = {
            "type": "data",
            "symmetric": False,
            "array": [max(0.0, shares[n].importance_ci[1] - shares[n].importance) if n in shares else 0.0 for n in names],
            "arrayminus": [max(0.0, shares[n].importance - shares[n].importance_ci[0]) if n in shares else 0.0 for n in names],
        }
        fig.add_trace(go.Bar(x=names, y=y, name=label(s), error_y=error))
    return layout(fig, "importance (variance share, 95% interval)", barmode="group", xaxis={"type": "category"}, yaxis={"range": [0, 1]})


def warnings_html(comparison: Comparison) -> str:
    return "".join(f'<p class="note warn">warning: {text(w)}</p>' for w in comparison.warnings)


def render_comparison_page(comparison: Comparison, now: float, *, script: str | None = None) -> str:
    """The comparison's whole page: the side-by-side table and warnings, best-so-far curves, importance bars."""
    rows = comparison_rows(comparison)
    head, body = rows[0], rows[1:]
    side_by_side = table(("", *head[1]), [(name, *cells) for name, cells in body])
    sections = [Section("side-by-side", "Side by side", warnings_html(comparison) + side_by_side)]
    sections.append(Section("best-so-far", "Best so far", figures=(best_so_far_figure(comparison),)))
    if any(s.importance is not None for s in comparison.sweeps):
        sections.append(Section("importance", "Which parameter matters", figures=(importance_figure(comparison),)))
    else:
        sections.append(Section("importance", "Which parameter matters", '<p class="note">Too few trials in every sweep.</p>'))
    ids = ", ".join(s.sweep_id for s in comparison.sweeps)
    return render_page(f"Comparing {len(comparison.sweeps)} sweeps", sections, subtitle=ids,
                       footer=f"sweepctl compare, taken {when(now)}", script=script)
