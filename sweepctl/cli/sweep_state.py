"""Commands in W&B's habits: `pause`, `resume`, and `sweep` (create a sweep, or change one's state with a flag).

`sweepctl sweep FILE` prints only the new sweep's id on stdout, as `wandb sweep` does, so
`ID=$(sweepctl sweep sweep.yaml)` works; what else it says goes to stderr.
`sweepctl sweep --pause|--resume|--stop|--cancel ID` does what `sweepctl pause|resume|stop|cancel ID` does.
"""

from __future__ import annotations

from pathlib import Path

import click

from sweepctl import lifecycle
from sweepctl.cli import sweeps
from sweepctl.cli.connect import open_store, redis_option
from sweepctl.errors import ConfigError, UnknownSweepError
from sweepctl.store import Store

STATE_FLAGS = ("pause", "resume", "stop", "cancel")


@click.command()
@click.argument("sweep_id")
@redis_option
def pause(sweep_id: str, redis_url: str | None, state_dir: str | None) -> None:
    """Pause a running sweep: no new trials and no queued trial starts until `resume`; running trials finish.

    The pause is kept in the store: restarted controllers and workers honour it.
    """
    with open_store(redis_url, state_dir) as (store, _):
        if lifecycle.pause_sweep(store, sweep_id):
            click.echo(f"sweep {sweep_id}: paused; running trials finish, `sweepctl resume {sweep_id}` continues it", err=True)
        else:
            click.echo(f"sweep {sweep_id}: already paused", err=True)


@click.command()
@click.argument("sweep_id")
@redis_option
def resume(sweep_id: str, redis_url: str | None, state_dir: str | None) -> None:
    """Resume a paused sweep: trials are created and started again, up to its run_cap."""
    with open_store(redis_url, state_dir) as (store, _):
        changed = lifecycle.resume_sweep(store, sweep_id)
        click.echo(f"sweep {sweep_id}: {'running again' if changed else 'already running'}", err=True)


@click.command()
@click.argument("file_or_id", metavar="FILE | SWEEP_ID")
@click.option("--pause", "pause_", is_flag=True, help="Pause the sweep SWEEP_ID (as `sweepctl pause`).")
@click.option("--resume", "resume_", is_flag=True, help="Resume the paused sweep SWEEP_ID (as `sweepctl resume`).")
@click.option("--stop", "stop_", is_flag=True, help="Stop the sweep SWEEP_ID: running trials finish (as `sweepctl stop`).")
@click.option("--cancel", "cancel_", is_flag=True, help="Cancel the sweep SWEEP_ID: running trials are killed (as `sweepctl cancel`).")
@redis_option
@click.pass_context
def sweep(
    ctx: click.Context,
    file_or_id: str,
    pause_: bool,
    resume_: bool,
    stop_: bool,
    cancel_: bool,
    redis_url: str | None,
    state_dir: str | None,
) -> None:
    """Create a sweep from FILE and print its id (as `wandb sweep`), or change a sweep's state with one flag.

    With --pause, --resume, --stop or --cancel the argument is a sweep id, not a file.
    """
    chosen = [name for name, given in zip(STATE_FLAGS, (pause_, resume_, stop_, cancel_), strict=True) if given]
    if len(chosen) > 1:
        raise ConfigError(f"--{' and --'.join(chosen)}: give only one of --pause, --resume, --stop and --cancel")
    if chosen:
        command = {"pause": pause, "resume": resume, "stop": sweeps.stop, "cancel": sweeps.cancel}[chosen[0]]
        ctx.invoke(command, sweep_id=file_or_id, redis_url=redis_url, state_dir=state_dir)
        return
    # As `wandb sweep` needs no server: with no Redis given, the folder's embedded store is made if there is none
    # yet (its redis-server runs for this command only), and `sweepctl agent ID` serves it later.
    with open_store(redis_url, state_dir, create_local=Path(file_or_id).is_file()) as (store, _):
        _refuse_an_id_as_file(store, file_or_id)
        created, spec = lifecycle.submit_sweep(store, file_or_id)
        sweeps.say_notes(file_or_id, spec)
        what = f"{spec.method.value} over {len(spec.space.parameters)} parameter(s)"
        click.echo(f"created sweep {created.id} from {file_or_id}: {what}", err=True)
        click.echo(created.id)
        click.echo(_how_to_run(ctx, store, created.id), err=True)


def _refuse_an_id_as_file(store: Store, file_or_id: str) -> None:
    """A W&B habit gone wrong: `sweepctl sweep ID` without a flag. Say what is missing instead of 'no such file'."""
    if Path(file_or_id).exists():
        return
    try:
        store.sweep_state(file_or_id)
    except UnknownSweepError:
        return  # not an id either: the file error says what is wrong
    raise ConfigError(f"{file_or_id} is a sweep id, not a file: give --pause, --resume, --stop or --cancel with it")


def _how_to_run(ctx: click.Context, store: Store, sweep_id: str) -> str:
    """What starts the sweep's trials, as `wandb sweep` says `wandb agent ID`: the agent where this CLI has one."""
    root = ctx.find_root().command
    has_agent = isinstance(root, click.Group) and root.get_command(ctx, "agent") is not None
    agent = f"`sweepctl agent {sweep_id}` (its trials on this machine), or " if has_agent else ""
    running = "a controller is running" if store.controllers() else "no controller is running yet"
    return f"run its trials with {agent}`sweepctl controller` and `sweepctl worker` ({running})"


COMMANDS = (sweep, pause, resume)
