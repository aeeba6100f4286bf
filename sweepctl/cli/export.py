"""`sweepctl export`: a sweep's trial table as a csv, json or parquet file (or csv/json on stdout)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sweepctl.cli.connect import open_store, redis_option
from sweepctl.export import ExportFormat, load_trial_table, write_csv, write_json, write_parquet


@click.command()
@click.argument("sweep_id")
@click.option("--format", "fmt", type=click.Choice([f.value for f in ExportFormat]), default="csv", show_default=True, help="File format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None, help="File to write [default: stdout].")
@redis_option
def export(sweep_id: str, fmt: str, output: Path | None, redis_url: str | None, state_dir: str | None) -> None:
    """Write one row per trial: state, objective, timings, host, GPU, one column per parameter and per final metric value.

    csv and json need only the base install; parquet needs the `export` extra (pandas, pyarrow).
    """
    chosen = ExportFormat(fmt)
    if chosen.is_binary and output is None and sys.stdout.isatty():
        raise click.UsageError("parquet is binary: give -o FILE (or redirect stdout)")
    with open_store(redis_url, state_dir) as (store, _):
        table = load_trial_table(store, sweep_id)
    if chosen is ExportFormat.PARQUET:
        write_parquet(table, output if output is not None else sys.stdout.buffer)
    elif output is None:
        (write_csv if chosen is ExportFormat.CSV else write_json)(table, sys.stdout)
    else:
        with output.open("w", encoding="utf-8", newline="") as stream:
            (write_csv if chosen is ExportFormat.CSV else write_json)(table, stream)
    if output is not None:
        click.echo(f"sweep {sweep_id}: {len(table.rows)} trials, {len(table.columns)} columns written to {output}", err=True)


COMMANDS = (export,)
