"""A sweep's page, from its records: the list of sections and the one function that renders them (report and live view).

Each section is a function of a `SweepView` returning a `Section` (or None to leave it out); adding one is one line of
SECTIONS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from sweepctl.analysis.importance import (
    TRUST_MIN_R2,
    TRUST_MIN_TRIALS,
    ImportanceReport,
    InsufficientTrialsError,
    importance_by_objective,
    parameter_importance,
)
from sweepctl.analysis.overview import SweepOverview, failure_counts, overview, ranked, worker_usage
from sweepctl.analysis.pareto import ParetoFront, pareto_front
from sweepctl.errors import NoMetricError
from sweepctl.pages.front_figures import FRONT_NAME, front_figure
from sweepctl.pages.page import Section, render_page, table, text
from sweepctl.pages.records_html import best_trial_section, duration, front_list, summary_section, when
from sweepctl.pages.run_figures import curves_figure, failure_host_figure, failure_reason_figure, gpu_usage_figure, timeline_figure
from sweepctl.pages.sampling import curve_trials
from sweepctl.pages.trial_figures import history_figure, importance_figure, parallel_figure, parameter_names, slice_figures
from sweepctl.records import MetricPoint, Sweep, Trial
from sweepctl.spec import SweepSpec


@dataclass(frozen=True)
class SweepView:
    """What a sweep's page shows: the sweep, its parsed file, all its trials, the histories of the trials whose
    learning curves are drawn (see `curve_numbers`), and the time the view was taken."""

    sweep: Sweep
    spec: SweepSpec
    trials: tuple[Trial, ...]
    histories: Mapping[int, Sequence[MetricPoint]]
    now: float

    @cached_property
    def ranked(self) -> list[Trial]:
        return ranked(self.trials, self.spec.goal)

    @cached_property
    def overview(self) -> SweepOverview:
        return overview(self.trials, self.spec.goal, self.spec.run_cap)

    @cached_property
    def front(self) -> ParetoFront | None:
        """The Pareto front of a sweep with several objectives (the one `best` prints); None for one objective."""
        return pareto_front(self.trials, self.spec.objectives) if self.spec.is_multi_objective else None

    @property
    def metric(self) -> str:
        """The sweep's metric; "" when it has none (a grid or random sweep: then no trial has an objective)."""
        return "" if self.spec.metric is None else self.spec.metric.name

    @property
    def parameters(self) -> list[str]:
        return parameter_names(self.trials, self.spec.space.names)

    @property
    def log_parameters(self) -> frozenset[str]:
        return frozenset(p.name for p in self.spec.space.parameters if p.distribution.is_log)


def curve_numbers(spec: SweepSpec, trials: Sequence[Trial]) -> list[int]:
    """The trials whose histories a view needs: the best completed ones and the early-stopped ones."""
    return [t.number for t in curve_trials(ranked(trials, spec.goal), trials)]


def _note(message: str) -> str:
    return f'<p class="note">{message}</p>'


def summary(view: SweepView) -> Section:
    return summary_section(view.sweep, view.spec, view.overview, view.front)


def pareto(view: SweepView) -> Section | None:
    """A sweep with several objectives: its front drawn among the other trials, and listed."""
    if view.front is None:
        return None
    if not view.front.trials:
        return Section("pareto", FRONT_NAME, _note("No trial has completed with a value of every objective yet."))
    return Section("pareto", FRONT_NAME, front_list(view.front), figures=(front_figure(view.trials, view.front),))


def best_trial(view: SweepView) -> Section | None:
    if view.front is not None:
        return None  # several objectives: no one best trial, the front stands in its place
    return best_trial_section(view.overview.best, view.metric)


def history(view: SweepView) -> Section | None:
    if not view.ranked:
        return None
    return Section("history", "Objective over time", figures=(history_figure(view.trials, view.spec.goal, view.metric),))


def parallel(view: SweepView) -> Section | None:
    if not view.ranked or not view.parameters:
        return None
    figure = parallel_figure(view.ranked, view.spec.goal, view.metric, view.parameters, view.log_parameters)
    return Section("parallel", "Parallel coordinates", figures=(figure,))


def slices(view: SweepView) -> Section | None:
    if not view.ranked or not view.parameters:
        return None
    figures = slice_figures(view.ranked, view.metric, view.parameters, view.log_parameters)
    return Section("slices", "Objective by parameter", figures=tuple(figures), grid=True)


def importance(view: SweepView) -> Section | None:
    if not view.parameters:
        return None
    if view.spec.is_multi_objective:
        return objectives_importance(view)
    if view.spec.metric is None:
        return Section("importance", "Which parameter matters", _note(text(str(NoMetricError(view.spec.name)))))
    try:
        report = parameter_importance(
            view.trials, view.spec.space, view.metric, view.spec.goal, seed=view.sweep.seed, objective_metric=view.metric
        )
    except InsufficientTrialsError as exc:
        return Section("importance", "Which parameter matters", _note(text(str(exc))))
    trust = "" if report.trustworthy else _note(
        f"Not to be trusted yet: the surrogate's out-of-sample R² is {report.r2:.2f} over {report.trials} trials "
        f"(trusted from {TRUST_MIN_TRIALS} trials and R² {TRUST_MIN_R2})."
    )
    return Section("importance", "Which parameter matters", trust, figures=(importance_figure(report),))


def objectives_importance(view: SweepView) -> Section:
    """One importance figure per objective (a note for one that cannot be explained yet), as `importance` prints them."""
    found = importance_by_objective(view.trials, view.spec.space, view.spec.objectives, seed=view.sweep.seed)
    figures = tuple(importance_figure(r) for _, r in found if isinstance(r, ImportanceReport))
    notes = "".join(_note(text(str(r))) for _, r in found if not isinstance(r, ImportanceReport))
    return Section("importance", "Which parameter matters", notes, figures=figures, grid=True)


def curves(view: SweepView) -> Section | None:
    drawn = [t for t in view.trials if t.number in view.histories]
    if view.spec.metric is None:
        return None  # no metric: no curve to draw, and the summary says so
    if not any(view.metric in p.values for t in drawn for p in view.histories[t.number]):
        return Section("curves", "Learning curves", _note("No trial reported intermediate values of this metric."))
    note = _note(f"The {len(drawn)} trials drawn: the best completed ones and the early-stopped ones (dashed, a cross where stopped).")
    return Section("curves", "Learning curves", note, figures=(curves_figure(drawn, view.histories, view.metric),))


def timeline(view: SweepView) -> Section | None:
    usage = worker_usage(view.trials)
    if not usage:
        return None
    rows = [(u.worker, u.trials, duration(u.busy_seconds), duration(u.idle_seconds), duration(u.longest_gap), f"{100 * u.busy_share:.0f}%")
            for u in usage]
    body = table(("worker", "trials", "busy", "idle between trials", "longest gap", "busy share"), rows)
    return Section("timeline", "Trials per worker", body, figures=(timeline_figure(view.trials, view.now),))


def failures(view: SweepView) -> Section:
    found = failure_counts(view.trials)
    lost = table(("worker", "attempts lost"), found.lost_attempts.items()) if found.lost_attempts else ""
    if not found.by_reason:
        return Section("failures", "Failures", _note("No trial failed.") + lost)
    errors = table(("error", "trials"), found.errors)
    figures = (failure_reason_figure(found), failure_host_figure(found))
    return Section("failures", "Failures", f'<div class="tables"><div>{errors}</div><div>{lost}</div></div>', figures=figures, grid=True)


def gpu_usage(view: SweepView) -> Section | None:
    used = [t for t in view.trials if t.gpu_usage is not None]
    if not used:
        return None
    idle = [t for t in used if t.gpu_usage is not None and t.gpu_usage.mostly_idle]
    rows = [(t.number, t.host or "", t.gpu.name if t.gpu else "", t.gpu_usage.label if t.gpu_usage else "") for t in idle[:20]]
    shown = " (the first 20 below)" if len(idle) > 20 else ""
    note = _note(f"{len(used)} trials ran on a GPU; {len(idle)} left it mostly idle{shown}.")
    body = note + (table(("trial", "host", "GPU", "usage"), rows) if rows else "")
    return Section("gpu", "GPU use per trial", body, figures=(gpu_usage_figure(view.trials),))


SectionBuilder = Callable[[SweepView], Section | None]

SECTIONS: tuple[SectionBuilder, ...] = (
    summary, pareto, best_trial, history, importance, parallel, slices, curves, timeline, gpu_usage, failures
)


def render_sweep_page(view: SweepView, *, sections: Sequence[SectionBuilder] = SECTIONS, script: str | None = None) -> str:
    """The sweep's whole page as HTML (Plotly inlined unless `script` is given, as a live view may)."""
    built = [s for s in (builder(view) for builder in sections) if s is not None]
    title = f"Sweep {view.spec.name or view.sweep.id}"
    metric = ", ".join(f"{m.name} ({m.goal.value})" for m in view.spec.objectives) or "no metric"
    subtitle = f"{view.sweep.id} · {view.sweep.state.value} · {len(view.trials)} trials · {metric}"
    return render_page(title, built, subtitle=subtitle, footer=f"sweepctl report, taken {when(view.now)}", script=script)
