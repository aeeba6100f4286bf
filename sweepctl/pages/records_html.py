"""The page's sections made of records rather than plots: the sweep's summary and the best trial's reproducibility record."""

from __future__ import annotations

import json
import shlex
from datetime import datetime, timezone
from typing import Any

from sweepctl.analysis.overview import SweepOverview, flat_params
from sweepctl.analysis.pareto import ParetoFront
from sweepctl.pages.page import Markup, Section, code, number, pairs, table, text
from sweepctl.records import Sweep, Trial
from sweepctl.spec import SweepSpec


def when(seconds: float | None) -> str:
    """A Unix time as a UTC date and time; '-' when unknown."""
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float | None) -> str:
    """Seconds as `1h 02m`, `1m 23s` or `4.2 s`; '-' when unknown."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def exact(value: Any) -> str:
    """A parameter or metric value exactly as recorded (JSON: full float precision, strings quoted)."""
    return json.dumps(value)


FRONT_ROWS_MAX = 50  # front trials listed under the figure (the figure draws them all)


def summary_section(sweep: Sweep, spec: SweepSpec, facts: SweepOverview, front: ParetoFront | None = None) -> Section:
    """The sweep at a glance; `front` is given for a sweep with several objectives, which has it instead of a best trial."""
    metric = spec.metric
    state = sweep.state.value + (f" ({sweep.reason})" if sweep.reason else "")
    if facts.run_cap is None:
        budget = f"{facts.trials} trials, no run_cap"
    else:
        budget = f"{facts.trials} of run_cap {facts.run_cap} trials ({100 * facts.trials / max(facts.run_cap, 1):.0f}%)"
    best = "-" if facts.best is None or metric is None else f"trial {facts.best.number}: {metric.name} = {exact(facts.best.objective)}"
    if metric is None:
        shown = "none (trials have no objective: there is no best trial, importance or ranking)"
    else:
        shown = f"{metric.name} ({metric.goal.value})" + ("" if metric.target is None else f", target {metric.target}")
    outcome = ("best trial", best)
    if front is not None:
        shown = ", ".join(f"{m.name} ({m.goal.value})" for m in spec.objectives)
        outcome = ("Pareto front", front_summary(front))
    rows: list[tuple[str, Any]] = [
        ("sweep", code(sweep.id)),
        ("name", spec.name or "-"),
        ("state", state),
        ("method", spec.method.value + ("" if spec.folds is None else f", {spec.folds}-fold cross-validation (objective: folds' mean)")),
        ("objectives" if front is not None else "metric", shown),
        outcome,
        ("budget", budget),
        ("trial hours", f"{facts.trial_hours:.2f}"),
        ("GPU hours", f"{facts.gpu_hours:.2f} (trial durations times the GPUs each held)"),
        ("created", when(sweep.created_at)),
        ("ended", when(sweep.ended_at)),
        ("source", sweep.source or "-"),
        *([("cloned from", code(sweep.cloned_from))] if sweep.cloned_from else []),
    ]
    states = table(("state", "trials"), sorted(facts.by_state.items(), key=lambda kv: -kv[1]))
    body = f'<div class="tables"><div>{pairs(rows)}</div><div>{states}</div></div>'
    return Section("summary", "Summary", body)


def front_summary(front: ParetoFront) -> str:
    """`3 of 20 completed trials: 4, 1, 2` (the first ten numbers, best first by the first objective)."""
    if not front.trials:
        return "-"
    numbers = ", ".join(str(n) for n in front.numbers[:10]) + (", ..." if len(front.trials) > 10 else "")
    return f"{len(front.trials)} of {front.candidates} completed trials: {numbers}"


def front_list(front: ParetoFront) -> str:
    """The front's trials as a table: number, each objective's value (4 significant digits, as `best` prints them;
    `best --format json` has them exactly), the parameters exactly (the first FRONT_ROWS_MAX)."""
    headers = ("trial", *(m.name for m in front.objectives), "parameters")
    rows = [
        (trial.number, *(code(number(v)) for v in values), code(", ".join(f"{k}={exact(v)}" for k, v in flat_params(trial.params).items())))
        for trial, values in list(zip(front.trials, front.values))[:FRONT_ROWS_MAX]
    ]
    more = len(front.trials) - FRONT_ROWS_MAX
    note = f'<p class="note">The first {FRONT_ROWS_MAX} of {len(front.trials)}, best first by {text(front.objectives[0].name)}.</p>'
    return table(headers, rows) + (note if more > 0 else "")


def _gpu(trial: Trial) -> str:
    if trial.gpu is None:
        return "none (CPU slot)"
    return f"GPU {trial.gpu.index} {trial.gpu.name} ({trial.gpu.uuid})".replace("  ", " ")


def _code_version(trial: Trial) -> Any:
    if trial.code is None:
        return "not recorded (not a git checkout)"
    dirty = "dirty: uncommitted changes were in the tree" if trial.code.dirty else "clean"
    return Markup(f"{code(trial.code.commit)} in {code(trial.code.repo)}, {text(dirty)}")


def _folds(trial: Trial) -> list[tuple[str, Any]]:
    """A k-fold trial's rows: its folds' standard deviation and each fold's objective (its objective is their mean)."""
    if not trial.folds:
        return []
    values = " ".join("-" if v is None else exact(v) for v in trial.fold_objectives)
    return [("std over folds", code(exact(trial.objective_std))), (f"{trial.folds} folds", code(values))]


def best_trial_section(trial: Trial | None, metric: str) -> Section:
    """Everything needed to run the best trial again, and to know what it ran on."""
    if trial is None:
        return Section("best-trial", "Best trial", '<p class="note">No trial has completed yet.</p>')
    record: list[tuple[str, Any]] = [
        ("trial", trial.number),
        (metric, code(exact(trial.objective))),
        *_folds(trial),
        ("seed", code(trial.seed)),
        ("argv", code(shlex.join(trial.argv)) if trial.argv else "none (a function: trial)"),
        ("code commit", _code_version(trial)),
        ("host", trial.host or "-"),
        ("worker", trial.worker or "-"),
        ("GPU", _gpu(trial)),
        ("attempt", trial.attempt),
        ("started", when(trial.started_at)),
        ("duration", duration(trial.duration)),
        ("exit code", "-" if trial.exit_code is None else trial.exit_code),
    ]
    params = table(("parameter", "value"), [(name, code(exact(v))) for name, v in flat_params(trial.params).items()])
    data = table(("data", "fingerprint"), [(name, code(fp)) for name, fp in sorted(trial.data.items())]) if trial.data else (
        '<p class="note">No data fingerprints recorded (the sweep file lists no <code>data:</code>).</p>'
    )
    metrics = table(("last metric", "value"), [(k, code(exact(v))) for k, v in sorted(trial.last_metrics.items())])
    body = f'<div class="tables"><div>{pairs(record)}</div><div>{params}{data}{metrics if trial.last_metrics else ""}</div></div>'
    return Section("best-trial", f"Best trial: {trial.number}", body)
