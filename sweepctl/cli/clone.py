"""`sweepctl clone SWEEP [--file NEW.yaml] [--set KEY.PATH=VALUE ...] [--unset KEY.PATH ...] [--dry-run]`: a new
sweep from an old one, warm-started from the old trials inside its space.

What it made is data (stdout, --format table|json|yaml): the new sweep's id, the fields that differ from the
old sweep's and how many old trials warm-start it. Notes on what that means go to stderr.
"""

from __future__ import annotations

from typing import Any

import click

from sweepctl import lifecycle
from sweepctl.cli.connect import open_store, redis_option
from sweepctl.cli.output import cell_text, emit, format_option
from sweepctl.cli.sweeps import say_notes
from sweepctl.cloning import Change, ChangeKind
from sweepctl.spec import Method
from sweepctl.spec_edit import parse_set, parse_unset
from sweepctl.warm_trials import WarmSource


@click.command()
@click.argument("sweep_id")
@click.option(
    "--file",
    "file",
    type=click.Path(dir_okay=False),
    default=None,
    help="A new sweep file (as `submit` takes it) in place of the old sweep's; still warm-started from the old sweep.",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY.PATH=VALUE",
    help="Set a field of the sweep file, the value read as YAML (repeatable): parameters.lr.max=0.5, run_cap=50, "
    "method=random, parameters.opt.values=[adam,sgd]. A dotted W&B name is found whole (parameters.model.lr.max) "
    'or given in quotes (parameters."model.lr".max).',
)
@click.option("--unset", "unsets", multiple=True, metavar="KEY.PATH", help="Remove a field, after the --set ones (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show the clone and its warm start; submit nothing.")
@redis_option
@format_option
def clone(
    sweep_id: str,
    file: str | None,
    sets: tuple[str, ...],
    unsets: tuple[str, ...],
    dry_run: bool,
    redis_url: str | None,
    state_dir: str | None,
    fmt: str,
) -> None:
    """Make a new sweep from SWEEP with an edited space or budget, warm-started from SWEEP's trials inside it.

    The new sweep is SWEEP's file as it runs now (its run_cap included) or --file, with the --set and
    --unset edits, checked as `submit` checks a file. Its engine learns first from exactly the old trials
    that lie inside its space (completed, failed or stopped; not cancelled or lost); the old sweep is
    left as it is.
    """
    edits = (*(parse_set(text) for text in sets), *(parse_unset(text) for text in unsets))
    with open_store(redis_url, state_dir) as (store, _):
        done = lifecycle.clone_sweep(store, sweep_id, file=file, edits=edits, dry_run=dry_run)
        say_notes(file or f"clone of {sweep_id}", done.spec)
        record = clone_record(done)
        emit(readable_clone(record, done) if fmt == "table" else record, fmt)
        say_what_it_means(done, store.sweep_state(sweep_id).is_terminal, bool(store.controllers()))


def clone_record(done: lifecycle.Clone) -> dict[str, Any]:
    """The clone as plain data: its id (None on a dry run), what changed, and its warm start by earlier sweep."""
    return {
        "sweep_id": None if done.sweep is None else done.sweep.id,
        "cloned_from": done.cloned_from,
        "dry_run": done.sweep is None,
        "changes": [{"field": c.field, "change": c.kind.value, "old": c.old, "new": c.new} for c in done.changes],
        "warm_trials": sum(len(source.taken) for source in done.warm),
        "warm_start": [warm_record(source) for source in done.warm],
    }


def warm_record(source: WarmSource) -> dict[str, Any]:
    return {
        "sweep": source.sweep_id,
        "trials": list(source.numbers),
        "outside": len(source.outside),
        "outside_by_parameter": source.outside_by_parameter(),
        "not_learned": len(source.not_learned),
        "ignored": None if source.ignored is None else source.ignored.value,
    }


def readable_clone(record: dict[str, Any], done: lifecycle.Clone) -> dict[str, Any]:
    """The key/value table: one line per changed field and per sweep warm-started from."""
    readable = {key: record[key] for key in ("sweep_id", "cloned_from", "warm_trials")}
    readable.update({f"change {c.field}": change_text(c) for c in done.changes})
    readable.update({f"warm_start {source.sweep_id}": warm_text(source) for source in done.warm})
    return readable


def change_text(change: Change) -> str:
    if change.kind is ChangeKind.ADDED:
        return f"added: {cell_text(change.new)}"
    if change.kind is ChangeKind.REMOVED:
        return f"removed (was {cell_text(change.old)})"
    return f"{cell_text(change.old)} -> {cell_text(change.new)}"


def warm_text(source: WarmSource) -> str:
    if source.ignored is not None:
        return f"ignored: {source.ignored.value}"
    parts = [f"{len(source.taken)} trial(s)"]
    if source.outside:
        by = ", ".join(f"{name} {n}" for name, n in source.outside_by_parameter().items())
        parts.append(f"{len(source.outside)} outside the space ({by})")
    if source.not_learned:
        parts.append(f"{len(source.not_learned)} not learned from (unfinished, cancelled or lost)")
    return "; ".join(parts)


def say_what_it_means(done: lifecycle.Clone, old_ended: bool, controller_running: bool) -> None:
    """On stderr: a dry run submitted nothing; when the warm start may still grow, or teaches the method nothing."""
    if done.sweep is None:
        click.echo("dry run: nothing submitted", err=True)
    if not old_ended:
        click.echo(
            f"note: sweep {done.cloned_from} still runs: the clone learns from its trials finished when a controller takes the clone up",
            err=True,
        )
    if done.spec.method in (Method.RANDOM, Method.GRID):
        click.echo(f"note: method {done.spec.method.value} learns from no trial: the warm start does not change its draws", err=True)
    if done.sweep is not None and not controller_running:
        click.echo("note: no controller is running; start one with `sweepctl controller` (or `sweepctl agent ID`)", err=True)
