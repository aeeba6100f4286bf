"""Commands that answer questions about a sweep's results: importance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from sweepctl.cli.connect import open_store, redis_option
from sweepctl.cli.output import emit, format_option, table
from sweepctl.records import Trial
from sweepctl.spec import SweepSpec

if TYPE_CHECKING:
    # Imported by the command that fits it: it brings numpy, which the CLI's other commands do without.
    from sweepctl.analysis.importance import ImportanceReport


def importance_table(report: ImportanceReport) -> str:
    """One row per parameter with both intervals, then the fit and the trial count, then a warning when not to be trusted."""
    from sweepctl.analysis.importance import TRUST_MIN_R2, TRUST_MIN_TRIALS

    rows = [
        {
            "parameter": p.name,
            "importance": f"{p.importance:.3f}",
            "importance_95%": f"[{p.importance_ci[0]:.3f}, {p.importance_ci[1]:.3f}]",
            "spearman": f"{p.correlation:+.3f}",
            "spearman_95%": f"[{p.correlation_ci[0]:+.3f}, {p.correlation_ci[1]:+.3f}]",
        }
        for p in report.parameters
    ]
    lines = [table(rows, ("parameter", "importance", "importance_95%", "spearman", "spearman_95%"))]
    lines.append(f"metric {report.metric}: r2 {report.r2:.3f} (out-of-bag), {report.trials} trials")
    if not report.trustworthy:
        lines.append(
            f"warning: not to be trusted: needs at least {TRUST_MIN_TRIALS} trials and r2 >= {TRUST_MIN_R2}"
            f" (got {report.trials} trials, r2 {report.r2:.3f})"
        )
    return "\n".join(lines)


def objective_reports(trials: Sequence[Trial], spec: SweepSpec, seed: int) -> list[ImportanceReport]:
    """One report per objective of a sweep with several, in the file's order.

    An objective that cannot be explained (too few trials, or a constant) is left out with a
    warning on stderr; when none can, the first one's InsufficientTrialsError is raised.
    """
    from sweepctl.analysis.importance import ImportanceReport, InsufficientTrialsError, importance_by_objective

    found = importance_by_objective(trials, spec.space, spec.objectives, seed=seed)
    reports = [r for _, r in found if isinstance(r, ImportanceReport)]
    refused = [r for _, r in found if isinstance(r, InsufficientTrialsError)]
    if not reports:
        raise refused[0]
    for exc in refused:
        click.echo(f"warning: {exc}", err=True)
    return reports


@click.command()
@click.argument("sweep_id")
@click.option(
    "--metric",
    default=None,
    help="Metric to explain [default: the sweep's metric, or each of its objectives in turn]; any metric the trials reported.",
)
@redis_option
@format_option
def importance(sweep_id: str, metric: str | None, redis_url: str | None, state_dir: str | None, fmt: str) -> None:
    """Which parameters the metric depends on: variance share of each main effect and rank correlation, with 95% intervals.

    A sweep with several objectives gets one table per objective (json and yaml: a list of reports).
    """
    from sweepctl.analysis.importance import parameter_importance

    with open_store(redis_url, state_dir) as (store, _):
        sweep = store.get_sweep(sweep_id)
        spec = store.spec_of(sweep)
        trials = store.get_trials(sweep_id)
    if metric is None and spec.is_multi_objective:
        reports = objective_reports(trials, spec, sweep.seed)
        if fmt == "table":
            click.echo("\n\n".join(importance_table(r) for r in reports))
        else:
            emit([r.to_json() for r in reports], fmt)
        return
    # Without --metric it explains the sweep's metric; a sweep without one (grid, random) says so (NoMetricError).
    objective = None if spec.metric is None else spec.metric.name
    explained = metric or spec.objective_metric().name
    names = [m.name for m in spec.objectives] if spec.is_multi_objective else []
    report = parameter_importance(trials, spec.space, explained, spec.goal, seed=sweep.seed, objective_metric=objective, objectives=names)
    if fmt == "table":
        click.echo(importance_table(report))
    else:
        emit(report.to_json(), fmt)


COMMANDS = (importance,)
