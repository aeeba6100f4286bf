"""Commands about sweeps and their results: validate, submit, status, trials, best, stop, cancel."""

from __future__ import annotations

import click

from sweepctl import lifecycle
from sweepctl.cli.connect import open_store, redis_option
from sweepctl.cli.health import out_of_memory, redis_memory
from sweepctl.cli.output import emit, format_option, sweep_record, trial_record
from sweepctl.cli.progress import follow
from sweepctl.errors import StoreError
from sweepctl.records import TrialState
from sweepctl.store import Store
from sweepctl.sweepfile import load_sweep_file

TRIAL_COLUMNS = ("number", "state", "objective", "params", "duration", "worker", "error")


def print_best(store: Store, sweep_id: str, fmt: str) -> None:
    best = store.best_trial(sweep_id, store.get_spec(sweep_id).metric.goal)
    if best is None:
        click.echo(f"sweep {sweep_id}: no completed trial", err=True)
        return
    record = trial_record(best)
    if fmt == "table":
        keep = ("sweep_id", "number", "objective", "params", "seed", "argv", "code", "data", "host", "worker", "gpu", "duration")
        record = {k: record[k] for k in keep}
    emit(record, fmt)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@format_option
def validate(file: str, fmt: str) -> None:
    """Check a sweep file; print what is wrong, with the field path, or a summary."""
    spec = load_sweep_file(file)
    summary = {
        "file": file,
        "valid": True,
        "method": spec.method.value,
        "metric": {"name": spec.metric.name, "goal": spec.metric.goal.value, "target": spec.metric.target},
        "parameters": list(spec.space.names),
        "run_cap": spec.run_cap,
        "parallelism": spec.parallelism,
    }
    emit(summary, fmt)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--wait", is_flag=True, help="Follow the sweep with a progress bar and print the best trial.")
@redis_option
@format_option
def submit(file: str, wait: bool, redis_url: str | None, state_dir: str | None, fmt: str) -> None:
    """Submit a sweep file; prints the sweep id. A `sweepctl controller` must be running."""
    with open_store(redis_url, state_dir) as (store, _):
        sweep, spec = lifecycle.submit_sweep(store, file)
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
@redis_option
@format_option
def status(sweep_id: str | None, redis_url: str | None, state_dir: str | None, fmt: str) -> None:
    """Show all sweeps, or one sweep in detail, with workers and controllers alive."""
    with open_store(redis_url, state_dir) as (store, _):
        ids = [sweep_id] if sweep_id else store.sweep_ids()
        records = []
        for sid in ids:
            sweep = store.get_sweep(sid)
            spec = store.spec_of(sweep)
            records.append(sweep_record(sweep, spec, store.counts(sid), store.best_trial(sid, spec.metric.goal)))
        memory = redis_memory(store)
        if memory is not None and memory.full:
            click.echo(f"error: {out_of_memory(memory)}", err=True)
        if sweep_id:
            record = records[0]
            record["workers"] = sorted(store.workers())
            record["controllers"] = sorted(store.controllers())
            if memory is not None:
                record["redis_memory"] = {"used_bytes": memory.used_bytes, "max_bytes": memory.max_bytes, "full": memory.full}
            emit(record, fmt)
        else:
            emit(records, fmt, columns=("id", "name", "state", "method", "trials", "best", "reason"))


@click.command()
@click.argument("sweep_id")
@click.option(
    "--state", "states", multiple=True, type=click.Choice([s.value for s in TrialState]), help="Only trials in this state (repeatable)."
)
@click.option("--history", is_flag=True, help="Include each trial's metric history (json/yaml).")
@redis_option
@format_option
def trials(sweep_id: str, states: tuple[str, ...], history: bool, redis_url: str | None, state_dir: str | None, fmt: str) -> None:
    """List the trials of a sweep."""
    with open_store(redis_url, state_dir) as (store, _):
        store.get_sweep(sweep_id)
        rows = []
        for trial in store.get_trials(sweep_id):
            if states and trial.state.value not in states:
                continue
            row = trial_record(trial)
            if history:
                row["history"] = [
                    {"time": p.time, "step": p.step, "values": {k: v for k, v in trial_record_values(p.values).items()}}
                    for p in store.metric_history(sweep_id, trial.number)
                ]
            rows.append(row)
        emit(rows, fmt, columns=TRIAL_COLUMNS)


def trial_record_values(values: dict[str, float]) -> dict[str, float | str]:
    from sweepctl.codec import encode_values

    return encode_values(values)


@click.command()
@click.argument("sweep_id")
@redis_option
@format_option
def best(sweep_id: str, redis_url: str | None, state_dir: str | None, fmt: str) -> None:
    """Print the best completed trial: objective, parameters and how to reproduce it."""
    with open_store(redis_url, state_dir) as (store, _):
        print_best(store, sweep_id, fmt)


@click.command()
@click.argument("sweep_id")
@redis_option
def stop(sweep_id: str, redis_url: str | None, state_dir: str | None) -> None:
    """Stop creating trials; running trials finish."""
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
