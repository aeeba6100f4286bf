"""Commands about sweeps and their results: validate, submit, status, trials, best, stop, cancel."""

from __future__ import annotations

from typing import Any

import click

from sweepctl import lifecycle
from sweepctl.analysis.best import best_by_metric, recorded_metrics
from sweepctl.analysis.table import ColumnSource, Table, trial_table
from sweepctl.cli.connect import open_store, redis_option
from sweepctl.cli.front import print_front
from sweepctl.cli.health import out_of_memory, redis_memory
from sweepctl.cli.listing import Listing, emit_listing, listing_options, readable_sweep, readable_trial, sweep_table
from sweepctl.cli.output import emit, format_option, objectives_field, sweep_record, trial_record
from sweepctl.cli.progress import follow
from sweepctl.errors import ConfigError, NoMetricError, StoreError, UnknownSweepError
from sweepctl.export import space_of
from sweepctl.records import MetricPoint, Trial, TrialState
from sweepctl.spec import Goal, SweepSpec
from sweepctl.store import Store
from sweepctl.sweepfile import load_sweep_file

BEST_FIELDS = ("sweep_id", "number", "objective", "params", "seed", "argv", "code", "data", "host", "worker", "gpu", "duration")
# A k-fold trial's: its argv, code, data, host, worker and GPU are each fold's (in `trials --format json`'s fold_records).
BEST_FOLD_FIELDS = ("sweep_id", "number", "objective", "objective_std", "fold_objectives", "params", "seed", "duration")


def trial_columns(table: Table) -> list[str]:
    """The `trials` table without --columns: number, state, objective (for k-fold trials its standard deviation and
    the folds' values), one column per parameter, duration, worker, GPU use (when any trial ran on a GPU), error."""
    parameters = [c.name for c in table.columns if c.source is ColumnSource.PARAMETER]
    gpu = ["gpu_use"] if any(value is not None for value in table.column("gpu_use")) else []
    folds = ["objective_std", "folds"] if "folds" in table.names else []
    return ["number", "state", "objective", *folds, *parameters, "duration", "worker", *gpu, "error"]


def find_best(store: Store, sweep_id: str, metric: str | None, goal: str | None) -> Trial | None:
    """The best completed trial: by the sweep's objective, or by the final value of `metric` for `goal`.

    NoMetricError when neither the sweep nor `metric` names a metric.
    """
    spec = store.get_spec(sweep_id)
    own = spec.objective_metric() if metric is None else None  # NoMetricError: no metric named, and the sweep has none
    if own is not None and (goal is None or Goal(goal) is own.goal):
        return store.best_trial(sweep_id, spec.goal)
    name = metric or spec.objective_metric().name
    if goal is None:
        own = next((m for m in spec.objectives if m.name == name), None)  # one of the sweep's objectives knows its goal
        if own is None:
            raise ConfigError(f"--goal: say whether {name!r} is better low or high (--goal minimize or --goal maximize)")
        goal = own.goal.value
    trials = store.get_trials(sweep_id)
    best = best_by_metric(trials, name, Goal(goal))
    recorded = recorded_metrics(trials)
    if best is None and name not in recorded:
        raise ConfigError(f"--metric: no trial of sweep {sweep_id} reported {name!r}; reported metrics: {', '.join(recorded) or 'none'}")
    return best


def print_best(store: Store, sweep_id: str, fmt: str, metric: str | None = None, goal: str | None = None) -> None:
    """The best trial (by `metric` and `goal` when given); for a sweep with several objectives, its Pareto front."""
    spec = store.get_spec(sweep_id)
    if spec.is_multi_objective and metric is None:
        if goal is not None:
            raise ConfigError("--goal: this sweep has several objectives, each with its goal; give --metric NAME to rank by one")
        print_front(store, sweep_id, spec, fmt)
        return
    try:
        best = find_best(store, sweep_id, metric, goal)
    except NoMetricError as exc:
        click.echo(f"sweep {sweep_id}: {exc}", err=True)
        return
    if best is None:
        click.echo(f"sweep {sweep_id}: no completed trial" + (f" with a finite {metric!r}" if metric else ""), err=True)
        return
    record = trial_record(best)
    if fmt == "table":
        record = readable_trial(record, BEST_FOLD_FIELDS if best.folds else BEST_FIELDS, space_of(store, store.get_sweep(sweep_id)))
        if metric is not None:
            record[metric] = best.last_metrics.get(metric)
    emit(record, fmt)


def say_notes(file: str, spec: SweepSpec) -> None:
    """What the file has that is accepted but worth saying (a W&B server key ignored, a deprecated distribution), on stderr."""
    for field, message in spec.notes:
        click.echo(f"note: {file}: {field}: {message}", err=True)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@format_option
def validate(file: str, fmt: str) -> None:
    """Check a sweep file; print what is wrong, with the field path, or a summary."""
    spec = load_sweep_file(file)
    metric = spec.metric
    summary = {
        "file": file,
        "valid": True,
        "method": spec.method.value,
        "metric": None if metric is None else {"name": metric.name, "goal": metric.goal.value, "target": metric.target},
        **objectives_field(spec),
        "parameters": list(spec.space.names),
        "run_cap": spec.run_cap,
        "parallelism": spec.parallelism,
    }
    if spec.folds is not None:
        summary["folds"] = spec.folds  # cross_validation: each trial runs as this many fold tasks
    say_notes(file, spec)
    if fmt != "table":
        summary["notes"] = [{"field": field, "message": message} for field, message in spec.notes]
    emit(summary, fmt)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--wait", is_flag=True, help="Follow the sweep with a progress bar and print the best trial.")
@redis_option
@format_option
def submit(file: str, wait: bool, redis_url: str | None, state_dir: str | None, fmt: str) -> None:
    """Submit a sweep file; prints the sweep id. A `sweepctl controller` (or `sweepctl agent ID`) runs it."""
    with open_store(redis_url, state_dir, create_local=True) as (store, _):
        sweep, spec = lifecycle.submit_sweep(store, file)
        say_notes(file, spec)
        click.echo(sweep.id)
        if wait:
            if not store.controllers():
                click.echo("note: no controller is running yet; start one with `sweepctl controller`", err=True)
            state = follow(store, sweep.id, spec)
            if state is None:
                raise StoreError(
                    f"Redis stopped answering while sweep {sweep.id} was followed; `sweepctl status {sweep.id}` tells how it ended"
                )
            click.echo(f"sweep {sweep.id} {state.value}: {store.get_sweep(sweep.id).reason}", err=True)
            print_best(store, sweep.id, fmt)


@click.command()
@click.argument("sweep_id", required=False)
@listing_options
@redis_option
@format_option
def status(
    sweep_id: str | None, sort: str | None, limit: int | None, columns: str | None, redis_url: str | None, state_dir: str | None, fmt: str
) -> None:
    """Show all sweeps (one row each, the best trial's parameters one column each), or one sweep in detail."""
    listing = Listing.of(sort, limit, columns)
    if sweep_id and listing.given:
        raise ConfigError("--sort, --limit and --columns apply to the list of all sweeps: give no SWEEP_ID")
    with open_store(redis_url, state_dir) as (store, _):
        ids = [sweep_id] if sweep_id else store.sweep_ids()
        records, spaces = [], []
        for sid in ids:
            try:
                sweep = store.get_sweep(sid)
            except UnknownSweepError:
                if sweep_id:
                    raise
                continue  # deleted between the two reads (`delete`, `archive`)
            spec = store.spec_of(sweep)
            records.append(sweep_record(sweep, spec, store.counts(sid), store.best_trial(sid, spec.goal)))
            spaces.append(spec.space)
        memory = redis_memory(store)
        if memory is not None and memory.full:
            click.echo(f"error: {out_of_memory(memory)}", err=True)
        if not sweep_id:
            table = sweep_table(records, spaces)
            emit_listing(table, records, fmt, listing, default=table.names)
            return
        record = records[0]
        record["workers"] = sorted(store.workers())
        record["controllers"] = sorted(store.controllers())
        if memory is not None:
            record["redis_memory"] = {"used_bytes": memory.used_bytes, "max_bytes": memory.max_bytes, "full": memory.full}
        emit(readable_sweep(record, spaces[0]) if fmt == "table" else record, fmt)


@click.command()
@click.argument("sweep_id")
@click.option(
    "--state", "states", multiple=True, type=click.Choice([s.value for s in TrialState]), help="Only trials in this state (repeatable)."
)
@click.option("--history", is_flag=True, help="Include each trial's (each fold's, each retried attempt's) metric history (json/yaml).")
@listing_options
@redis_option
@format_option
def trials(
    sweep_id: str,
    states: tuple[str, ...],
    history: bool,
    sort: str | None,
    limit: int | None,
    columns: str | None,
    redis_url: str | None,
    state_dir: str | None,
    fmt: str,
) -> None:
    """List the trials of a sweep: one column per parameter (`optimizer.lr`); any final metric, timing or GPU column by --columns.

    A k-fold trial's json/yaml record holds each fold's record too (`fold_records`)."""
    listing = Listing.of(sort, limit, columns)
    with open_store(redis_url, state_dir) as (store, _):
        space = space_of(store, store.get_sweep(sweep_id))
        chosen = [t for t in store.get_trials(sweep_id) if not states or t.state.value in states]
        folds = store.get_folds(sweep_id, chosen)
        records = []
        for trial in chosen:
            row = trial_record(trial)
            if history:
                row["history"] = history_records(store, trial)
                for earlier in row["retried_attempts"]:  # each attempt `retry` ran again left its own history
                    earlier["history"] = points_record(store.metric_history(sweep_id, trial.number, attempt=earlier["attempt"]))
            if trial.folds:  # a k-fold trial: each fold's own record (state, attempt, worker, objective, error, ...)
                row["fold_records"] = [
                    {**trial_record(f), **({"history": history_records(store, f)} if history else {})} for f in folds[trial.number]
                ]
            records.append(row)
        table = trial_table(chosen, space)
        emit_listing(table, records, fmt, listing, default=trial_columns(table))


def points_record(points: list[MetricPoint]) -> list[dict[str, Any]]:
    """Metric points as JSON-safe records."""
    return [{"time": p.time, "step": p.step, "values": trial_record_values(p.values)} for p in points]


def history_records(store: Store, trial: Trial) -> list[dict[str, Any]]:
    """A trial's (or a fold's) metric history as JSON-safe records."""
    return points_record(store.metric_history(trial.sweep_id, trial.number, fold=trial.fold))


def trial_record_values(values: dict[str, float]) -> dict[str, float | str]:
    from sweepctl.codec import encode_values

    return encode_values(values)


@click.command()
@click.argument("sweep_id")
@click.option(
    "--metric", default=None, help="Best by this reported metric's final value instead of the sweep's objective (or Pareto front)."
)
@click.option(
    "--goal",
    type=click.Choice([g.value for g in Goal]),
    default=None,
    help="Whether lower or higher is better [default: the sweep's goal; needed when --metric is another metric].",
)
@redis_option
@format_option
def best(sweep_id: str, metric: str | None, goal: str | None, redis_url: str | None, state_dir: str | None, fmt: str) -> None:
    """Print the best completed trial: objective, parameters and how to reproduce it.

    A sweep with several objectives has no one best trial: its Pareto front is printed, one row per
    trial (json and yaml: a list of trial records, each with its `objectives`).
    """
    with open_store(redis_url, state_dir) as (store, _):
        print_best(store, sweep_id, fmt, metric, goal)


@click.command()
@click.argument("sweep_id")
@redis_option
def stop(sweep_id: str, redis_url: str | None, state_dir: str | None) -> None:
    """Stop creating trials; running trials finish (a paused sweep's queued trials are dropped)."""
    with open_store(redis_url, state_dir) as (store, _):
        changed = lifecycle.stop_sweep(store, sweep_id)
        click.echo(f"sweep {sweep_id}: {'stopping' if changed else 'already ' + store.sweep_state(sweep_id).value}", err=True)


@click.command()
@click.argument("sweep_id")
@redis_option
def cancel(sweep_id: str, redis_url: str | None, state_dir: str | None) -> None:
    """Stop creating trials, drop queued ones and kill running ones."""
    with open_store(redis_url, state_dir) as (store, _):
        changed = lifecycle.cancel_sweep(store, sweep_id)
        click.echo(f"sweep {sweep_id}: {'cancelled' if changed else 'already ' + store.sweep_state(sweep_id).value}", err=True)


COMMANDS = (validate, submit, status, trials, best, stop, cancel)
