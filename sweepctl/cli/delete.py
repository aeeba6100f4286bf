"""`sweepctl delete`, `sweepctl archive` and `sweepctl restore`: keeping Redis small, and loading a sweep back.

What each did is data (stdout, --format table|json|yaml); progress and what it means go to stderr.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from sweepctl import removal, retention
from sweepctl.cli.connect import open_store, redis_option
from sweepctl.cli.listing import format_timestamp
from sweepctl.cli.output import emit, format_option

WAIT_HELP = "Seconds to wait for the sweep's queued and running trials to end before deleting."


@click.command()
@click.argument("sweep_id")
@click.option(
    "--archive",
    "archive_to",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the sweep's archive here first (JSON, gzip when it ends in .gz); it is read back before anything is deleted.",
)
@click.option(
    "--force", is_flag=True, help="Delete a live (running, paused, stopping) sweep: it is cancelled and its trials stopped first."
)
@click.option(
    "--wait", "wait_seconds", type=click.FloatRange(min=0), default=retention.DEFAULT_WAIT_SECONDS, show_default=True, help=WAIT_HELP
)
@redis_option
@format_option
def delete(
    sweep_id: str, archive_to: Path | None, force: bool, wait_seconds: float, redis_url: str | None, state_dir: str | None, fmt: str
) -> None:
    """Remove every key of a sweep from Redis (its record, trials, metric histories, indexes), in small batches.

    An ended sweep is deleted once its trials have ended; a live one only with --force. Interrupted,
    run it again: it goes on where it stopped. Give --archive FILE to keep the sweep (`sweepctl restore FILE`).
    """
    with open_store(redis_url, state_dir) as (store, _):
        total = store.trial_count(sweep_id)
        if total == 0:  # nothing to show progress of (or no such sweep: delete_sweep says so)
            done = removal.delete_sweep(store, sweep_id, force=force, archive_to=archive_to, wait_seconds=wait_seconds)
        else:
            progress = click.progressbar(length=total, label=f"deleting sweep {sweep_id}", file=click.get_text_stream("stderr"))  # type: ignore[operator]  # click 8.4 stubs
            with progress as bar:
                done = removal.delete_sweep(
                    store, sweep_id, force=force, archive_to=archive_to, wait_seconds=wait_seconds, on_batch=bar.update
                )
    emit(_readable(_deletion_record(done), fmt), fmt)
    kept = f"; archive {done.archive.path} ({done.archive.bytes} bytes)" if done.archive else ""
    click.echo(f"sweep {sweep_id}: deleted, {done.trials} trial(s){kept}", err=True)


def _deletion_record(done: removal.Deletion) -> dict[str, Any]:
    before, after = done.memory_before, done.memory_after
    return {
        "sweep_id": done.sweep_id,
        "state": done.state.value,
        "forced": done.forced,
        "trials": done.trials,
        "archive": None if done.archive is None else done.archive.path,
        "archive_bytes": None if done.archive is None else done.archive.bytes,
        "metric_points": None if done.archive is None else done.archive.points,
        # As INFO reads them just before and after: other clients' writes, and Redis' own allocations, count too.
        "redis_used_bytes_before": before,
        "redis_used_bytes_after": after,
        "seconds": round(done.seconds, 3),
    }


def _readable(record: dict[str, Any], fmt: str) -> dict[str, Any]:
    """Times (`*_at`) as times of day in the table; json and yaml keep unix times."""
    if fmt != "table":
        return record
    return {k: format_timestamp(v) if k.endswith("_at") and isinstance(v, float) else v for k, v in record.items()}


@click.command()
@click.option("--older-than", "older_than", required=True, metavar="AGE", help="Ended at least this long ago: 30d, 12h, 90m, 45s, 2w.")
@click.option(
    "--to",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder for the archives, one SWEEP_ID.json.gz each.",
)
@click.option(
    "--max-sweeps",
    type=click.IntRange(min=1),
    default=retention.DEFAULT_MAX_SWEEPS,
    show_default=True,
    help="Archive at most this many sweeps in one run (oldest first); run again for the rest.",
)
@click.option("--dry-run", is_flag=True, help="Only list the sweeps that would be archived and deleted.")
@click.option(
    "--wait", "wait_seconds", type=click.FloatRange(min=0), default=retention.DEFAULT_WAIT_SECONDS, show_default=True, help=WAIT_HELP
)
@redis_option
@format_option
def archive(
    older_than: str,
    folder: Path,
    max_sweeps: int,
    dry_run: bool,
    wait_seconds: float,
    redis_url: str | None,
    state_dir: str | None,
    fmt: str,
) -> None:
    """Archive, then delete, every ended sweep older than AGE (by its end, or its restore); live sweeps are never touched.

    Each archive is written and read back before its sweep is deleted. A sweep that fails is reported and
    kept; the others go on (exit status 1 when any failed).
    """
    age = retention.parse_age(older_than)
    with open_store(redis_url, state_dir) as (store, _):
        entries, more = removal.archive_old(
            store, age, folder, max_sweeps=max_sweeps, dry_run=dry_run, now=time.time(), wait_seconds=wait_seconds
        )
    rows = [_readable(asdict(e) | {"state": e.state.value}, fmt) for e in entries]
    emit(rows, fmt, columns=("sweep_id", "state", "ended_at", "archive", "deleted", "bytes", "trials", "error"))
    failed = [e for e in entries if e.error]
    verb = "would be archived and deleted" if dry_run else "archived and deleted"
    click.echo(f"{len(entries) - len(failed)} sweep(s) {verb}" + (f", {len(failed)} failed" if failed else ""), err=True)
    if more:
        click.echo(f"{more} more sweep(s) are due: run again (--max-sweeps {max_sweeps})", err=True)
    if failed:
        raise SystemExit(1)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--as", "as_id", default=None, metavar="NEW_ID", help="Restore under this id instead of the archived one.")
@redis_option
@format_option
def restore(file: Path, as_id: str | None, redis_url: str | None, state_dir: str | None, fmt: str) -> None:
    """Load a sweep archive back, as the ended sweep it was: status, best, trials, report, export, importance and
    warm_start read it; no controller ever runs it again (nor does `extend`). Refused when a sweep has its id."""
    with open_store(redis_url, state_dir, create_local=True) as (store, _):
        done = removal.restore_sweep(store, file, as_id=as_id)
    emit(_readable(asdict(done) | {"state": done.state.value}, fmt), fmt)
    click.echo(f"sweep {done.sweep_id}: restored from {file}, {done.trials} trial(s), {done.state.value}", err=True)


COMMANDS = (delete, archive, restore)
