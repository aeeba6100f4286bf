"""`sweepctl ui [--port 9840] [--bind 127.0.0.1]`: every sweep's page in a browser, read-only, refreshed as trials finish."""

from __future__ import annotations

import click

from sweepctl.cli.connect import redis_option, serve_store
from sweepctl.cli.services import stop_on_signals
from sweepctl.pages.live import POLL_SECONDS, is_loopback

DEFAULT_UI_PORT = 9840


@click.command()
@click.option(
    "--port", default=DEFAULT_UI_PORT, show_default=True, type=click.IntRange(0, 65535), help="Port to serve on (0: any free one)."
)
@click.option(
    "--bind", default="127.0.0.1", show_default=True,
    help="Address to listen on. Loopback unless told: anyone who reaches the port can read every sweep.",
)
@click.option(
    "--poll", "poll_seconds", default=POLL_SECONDS, show_default=True, type=click.FloatRange(0.5, 3600),
    help="Seconds between a page's checks for newly finished trials.",
)
@redis_option
def ui(port: int, bind: str, poll_seconds: float, redis_url: str | None, state_dir: str | None) -> None:
    """Serve every sweep's page (the report's, live): / lists the sweeps, /sweep/ID shows one and reloads as trials finish."""
    # The pages bring numpy and Plotly, which the CLI's other commands do without.
    from sweepctl.pages.server import LiveView, serve

    if not is_loopback(bind):
        click.echo(
            f"warning: serving on {bind}, not loopback: anyone who can reach port {port} can read every sweep "
            "(parameters, argv, hosts, metrics). There is no login; put it behind something that has one.",
            err=True,
        )
    with serve_store(redis_url, state_dir, create_local=False, long_running=True) as (store, settings, _local):
        stop = stop_on_signals()
        view = LiveView(store, source=settings.redacted, bind=bind, poll_seconds=poll_seconds)
        serve(view, port, stop, lambda url: click.echo(f"sweepctl ui serving {url} from {settings.redacted} (Ctrl-C to stop)", err=True))
