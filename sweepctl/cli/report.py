"""`sweepctl report SWEEP -o FILE`: one self-contained HTML page with the sweep's summary, best trial and plots."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

from sweepctl.cli.connect import open_store, redis_option


def write_atomically(path: Path, content: str) -> None:
    """Write `content` to `path` through a temporary file beside it: a reader never sees half a page."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        partial.write_text(content, encoding="utf-8")
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


@click.command()
@click.argument("sweep_id")
@click.option(
    "-o", "--output", default="report.html", show_default=True, type=click.Path(dir_okay=False),
    help="HTML file to write ('-' for stdout). It opens offline: Plotly's JavaScript is inlined.",
)
@redis_option
def report(sweep_id: str, output: str, redis_url: str | None, state_dir: str | None) -> None:
    """Write a sweep's report: summary, best trial's reproducibility record, history, parameters, curves, timeline, failures."""
    # The page's modules bring numpy and Plotly, which the CLI's other commands do without.
    from sweepctl.pages.load import sweep_view
    from sweepctl.pages.sweep_page import render_sweep_page

    with open_store(redis_url, state_dir) as (store, _):
        view = sweep_view(store, sweep_id, time.time())
    page = render_sweep_page(view)
    if output == "-":
        click.echo(page, nl=False)
        return
    path = Path(output)
    write_atomically(path, page)
    click.echo(f"wrote {path} ({len(page.encode()) / 2**20:.1f} MiB, {len(view.trials)} trials of sweep {sweep_id})", err=True)
