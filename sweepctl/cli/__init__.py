"""The `sweepctl` command: one click group, thin commands over the core (data to stdout, progress to stderr)."""

from __future__ import annotations

import sys
from typing import Any

import click

from sweepctl import __version__
from sweepctl.cli import (
    agent,
    analysis,
    clone,
    compare,
    delete,
    export,
    extend,
    report,
    reproduce,
    retry,
    run,
    services,
    sweep_state,
    sweeps,
    ui,
)
from sweepctl.errors import SweepError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sweepctl")
def cli() -> None:
    """Distributed hyperparameter sweeps on Redis and Celery."""


# One command (or one module's list) per line, so that adding a command is a one-line change.
COMMANDS = (
    *sweeps.COMMANDS,
    *sweep_state.COMMANDS,
    extend.extend,
    retry.retry,
    clone.clone,
    *delete.COMMANDS,
    run.run,
    *agent.COMMANDS,
    *services.COMMANDS,
    reproduce.reproduce,
    report.report,
    *analysis.COMMANDS,
    *export.COMMANDS,
    *compare.COMMANDS,
    ui.ui,
)
for command in COMMANDS:
    cli.add_command(command)


def main(argv: list[str] | None = None) -> Any:
    """Console entry point: SweepErrors become one clear message and exit status 2."""
    try:
        return cli.main(args=argv, prog_name="sweepctl", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SweepError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
