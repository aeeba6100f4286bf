"""`sweepctl compare A B [C...]`: sweeps side by side in a table (one column per sweep), json/yaml, or an HTML page."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sweepctl.cli.connect import open_store, redis_option
from sweepctl.cli.output import cell_text, emit, format_option
from sweepctl.cli.report import write_atomically
from sweepctl.errors import ConfigError

if TYPE_CHECKING:
    # Imported by the command: the comparison and its page bring numpy and Plotly, which the CLI's other commands do without.
    from sweepctl.analysis.compare import Comparison


def comparison_table(comparison: Comparison) -> str:
    """Row labels down the left, one column per sweep, then one warning line per reason the sweeps are not comparable."""
    from sweepctl.pages.compare_page import comparison_rows

    rows = [[label, *cells] for label, cells in comparison_rows(comparison)]
    cells = [[cell_text(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines + [f"warning: {w}" for w in comparison.warnings])


@click.command()
@click.argument("sweep_ids", nargs=-1, metavar="A B [C...]")
@click.option(
    "--report", "report_file", default=None, type=click.Path(dir_okay=False),
    help="Also write an HTML page with the same numbers, best-so-far curves and importance bars (opens offline).",
)
@redis_option
@format_option
def compare(sweep_ids: tuple[str, ...], report_file: str | None, redis_url: str | None, state_dir: str | None, fmt: str) -> None:
    """Compare sweeps: best objective, trials to reach it, failure rate, importance ranking, parameter ranges of the top 10%."""
    from sweepctl.analysis.compare import SweepTrials, compare_sweeps
    from sweepctl.pages.compare_page import render_comparison_page

    if len(sweep_ids) < 2:
        raise ConfigError(f"compare needs at least two sweep ids, got {len(sweep_ids)}" + (f": {sweep_ids[0]}" if sweep_ids else ""))
    with open_store(redis_url, state_dir) as (store, _):
        data = []
        for sweep_id in sweep_ids:
            sweep = store.get_sweep(sweep_id)
            data.append(SweepTrials(sweep, store.spec_of(sweep), store.get_trials(sweep_id)))
    comparison = compare_sweeps(data)
    if fmt == "table":
        click.echo(comparison_table(comparison))
    else:
        emit(comparison.to_json(), fmt)
        for warning in comparison.warnings:
            click.echo(f"warning: {warning}", err=True)
    if report_file is not None:
        path = Path(report_file)
        page = render_comparison_page(comparison, time.time())
        write_atomically(path, page)
        click.echo(f"wrote {path} ({len(page.encode()) / 2**20:.1f} MiB, {len(sweep_ids)} sweeps)", err=True)


COMMANDS = (compare,)
