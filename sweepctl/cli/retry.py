"""`sweepctl retry SWEEP [--state failed,timed_out,nan,killed,lost]`: a sweep's failed trials run again, each once.

Which trials were queued again is data (stdout, --format table|json|yaml); what it means for the sweep goes to stderr.
"""

from __future__ import annotations

import click

from sweepctl import lifecycle
from sweepctl.cli.connect import open_store, redis_option
from sweepctl.cli.output import emit, format_option
from sweepctl.records import SweepState
from sweepctl.retry import DEFAULT_STATES, nothing_to_retry, parse_states

COLUMNS = ("number", "previous_state", "attempt", "params")


@click.command()
@click.argument("sweep_id")
@click.option(
    "--state",
    "states",
    multiple=True,
    metavar="STATE[,STATE...]",
    help=f"Retry the trials in these states [default: {','.join(s.value for s in DEFAULT_STATES)}; cancelled only when asked].",
)
@redis_option
@format_option
def retry(sweep_id: str, states: tuple[str, ...], redis_url: str | None, state_dir: str | None, fmt: str) -> None:
    """Run a sweep's failed trials again, each once, with the same parameters, as new attempts.

    Each keeps its number; its new result is the one recorded, counted and ranked, and its earlier
    attempt stays in its history (`trials --format json`: retried_attempts). A finished sweep runs
    again and finishes again when they are done; a stopped one runs them and stops again; a failed
    one runs again, the failures retried no longer counting against its max_failures. A completed
    or early-stopped trial, and any trial of a cancelled sweep, is refused.
    """
    asked = parse_states(states)  # bad input is refused before the store is touched
    with open_store(redis_url, state_dir) as (store, _):
        done = lifecycle.retry_trials(store, sweep_id, asked)
        if not done.retried:
            if fmt != "table":
                emit([], fmt)
            click.echo(nothing_to_retry(sweep_id, asked), err=True)
            return
        rows = [
            {"number": t.number, "previous_state": t.previous_state.value, "attempt": t.attempt, "params": t.params} for t in done.retried
        ]
        emit(rows, fmt, columns=COLUMNS)
        count = len(done.retried)
        if done.reopened:
            click.echo(f"sweep {sweep_id}: running again ({done.state.value}) for {count} retried trial(s)", err=True)
        else:
            click.echo(f"sweep {sweep_id}: {done.state.value}, {count} trial(s) queued again", err=True)
        if done.state is SweepState.PAUSED:
            click.echo(f"note: sweep {sweep_id} is paused: they start once it is resumed (`sweepctl resume {sweep_id}`)", err=True)
        if not done.state.is_terminal and not store.controllers():
            click.echo("note: no controller is running; start one with `sweepctl controller`", err=True)
