"""`sweepctl agent SWEEP_ID [--count N]`: run a sweep's trials on this machine, as `wandb agent` does, then exit.

The machinery of `sweepctl run` (cli/run.py): a worker process per slot, a
controller thread while no live controller owns the sweep (looked for again as
it goes), progress on stderr and the best trial at the end. What differs: the
sweep was submitted before (`sweepctl sweep FILE`, `sweepctl.sweep(config)`),
a Ctrl-C or SIGTERM stops this agent only (running trials go back to the
queue; the sweep goes on), and `--count N` makes it run exactly N trials of the
sweep, counted as its workers claim them (sweepctl.agent_count), then exit 0.
"""

from __future__ import annotations

import logging
import os
import signal

import click

from sweepctl import lifecycle
from sweepctl.agent_count import TrialCount, count_done, needs_workers
from sweepctl.cli.connect import redis_option, serve_store
from sweepctl.cli.output import format_option
from sweepctl.cli.progress import sweep_done
from sweepctl.cli.run import GPU_HELP, PRELOAD_HELP, RUN_SHUTDOWN_GRACE, Started, follow_here, interrupt, start_here
from sweepctl.cli.sweeps import print_best
from sweepctl.errors import StoreUnavailable
from sweepctl.nvml import list_gpus
from sweepctl.records import TrialState
from sweepctl.worker_settings import WorkerSettings


@click.command()
@click.argument("sweep_id")
@click.option(
    "--count", type=click.IntRange(min=1), default=None, help="Run exactly this many trials, then exit [default: until the sweep is over]."
)
@click.option(
    "--workers", "n_workers", type=click.IntRange(min=1), default=1, show_default=True, help="CPU worker processes (when not using GPUs)."
)
@click.option("--gpus", default="none", show_default=True, help=GPU_HELP)
@click.option("--preload", default=None, help=PRELOAD_HELP)
@redis_option
@format_option
def agent(
    sweep_id: str, count: int | None, n_workers: int, gpus: str, preload: str | None, redis_url: str | None, state_dir: str | None, fmt: str
) -> None:
    """Run a sweep's trials here (workers, and a controller if none serves the sweep); print the best trial at the end."""
    from workers.slots import plan_slots

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = WorkerSettings.from_environment(os.environ, shutdown_grace=RUN_SHUTDOWN_GRACE).with_flags(preload=preload)
    signal.signal(signal.SIGTERM, interrupt)  # as Ctrl-C: this agent stops, its running trials go back to the queue
    slots = plan_slots(gpus, list_gpus(), n_workers)
    with serve_store(redis_url, state_dir, create_local=False, long_running=True) as (store, redis, local):
        spec = store.get_spec(sweep_id)
        lifecycle.refuse_caller_sweep(f"sweep {sweep_id}", spec, "agent")
        counted = None if count is None else TrialCount.new(sweep_id, count)
        how_long = "until the sweep is over" if count is None else f"{count} trial(s)"
        click.echo(f"agent for sweep {sweep_id}: {how_long}, {len(slots)} worker(s), queue {spec.queue!r}", err=True)
        started = start_here(store, redis, local, sweep_id, spec, slots, settings.with_flags(queues=spec.queue, count=counted), state_dir)
        tally = _Tally(started, counted)
        try:
            _follow(started, tally)
            _finish(started, tally, fmt)
        finally:
            tally.forget()


def _follow(started: Started, tally: _Tally) -> None:
    """Follow the sweep until the agent is done; then (or on Ctrl-C) stop what it started."""
    try:
        tally.tend()
        follow_here(started, over=tally.over, tend=tally.tend)
    except KeyboardInterrupt:
        click.echo(f"\nstopping the agent; sweep {started.sweep_id} goes on (running trials go back to its queue)", err=True)
        raise
    finally:
        started.stop()


class _Tally:
    """What the agent's follow loop asks each tick: is it over, and what to look after (workers, a controller)."""

    def __init__(self, started: Started, counted: TrialCount | None) -> None:
        self.started = started
        self.counted = counted

    def counted_states(self) -> list[TrialState]:
        """The states of the trials counted so far (none without --count)."""
        if self.counted is None:
            return []
        store = self.started.store
        return [trial.state for trial in store.get_trials(self.counted.sweep_id, store.admitted_trials(self.counted.agent_id))]

    def over(self) -> bool:
        if self.counted is not None and count_done(self.counted.count, self.counted_states()):
            return True
        return sweep_done(self.started.store, self.started.sweep_id)

    def forget(self) -> None:
        """Drop the agent's count from the store once its workers are stopped (else it expires on its own)."""
        if self.counted is not None:
            try:
                self.started.store.forget_count(self.counted.agent_id)
            except StoreUnavailable:
                pass

    def tend(self) -> None:
        try:
            if self.counted is None or needs_workers(self.counted.count, self.counted_states()):
                self.started.workers.revive()
            self.started.controller.start_unless_owned()
        except StoreUnavailable:
            pass  # the follow loop says Redis is away; next tick


def _finish(started: Started, tally: _Tally, fmt: str) -> None:
    """Say what the agent did and how the sweep stands, and print its best trial."""
    sweep = started.store.get_sweep(started.sweep_id)
    ran = "" if tally.counted is None else f"ran {len(tally.counted_states())} trial(s); "
    reason = f": {sweep.reason}" if sweep.reason else ""
    click.echo(f"agent done: {ran}sweep {sweep.id} {sweep.state.value}{reason}", err=True)
    print_best(started.store, started.sweep_id, fmt)


COMMANDS = (agent,)
