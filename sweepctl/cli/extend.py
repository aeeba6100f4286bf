"""`sweepctl extend SWEEP --run-cap N`: a sweep's trial budget raised; an ended sweep that can go on runs again.

What it did is data (stdout, --format table|json|yaml); what it means for the sweep goes to stderr.
"""

from __future__ import annotations

from dataclasses import asdict

import click

from sweepctl import lifecycle
from sweepctl.cli.connect import open_store, redis_option
from sweepctl.cli.output import emit, format_option
from sweepctl.spec import MAX_TRIALS


@click.command()
@click.argument("sweep_id")
@click.option(
    "--run-cap",
    "run_cap",
    type=click.IntRange(1, MAX_TRIALS),
    required=True,
    help="The sweep's new trial budget: more than the trials it already has.",
)
@redis_option
@format_option
def extend(sweep_id: str, run_cap: int, redis_url: str | None, state_dir: str | None, fmt: str) -> None:
    """Give a running, paused, finished or stopped sweep a new run_cap.

    A finished or stopped sweep runs again (a controller takes it up) and goes on with the same search:
    trial numbers continue, no trial runs again, no parameter set is repeated. The new run_cap is kept
    in the store, so restarted controllers plan with it. A cancelled or failed sweep is refused.
    """
    with open_store(redis_url, state_dir) as (store, _):
        done = lifecycle.extend_sweep(store, sweep_id, run_cap)
        record = asdict(done) | {"state": done.state.value}
        emit(record, fmt)
        more = run_cap - done.created
        if done.reopened:
            click.echo(f"sweep {sweep_id}: running again, up to {more} more trial(s)", err=True)
        else:
            click.echo(f"sweep {sweep_id}: {done.state.value}, run_cap {done.previous_run_cap} -> {run_cap}", err=True)
        if done.state.accepts_trials and not store.controllers():
            click.echo("note: no controller is running; start one with `sweepctl controller`", err=True)
