"""Following a sweep on stderr until it is over (`submit --wait`, `run`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import click

from sweepctl.records import SweepState, TrialState
from sweepctl.spec import SweepSpec
from sweepctl.store import Store


def sweep_done(store: Store, sweep_id: str) -> bool:
    """Over: a final state and nothing left queued or running."""
    return store.sweep_state(sweep_id).is_terminal and not store.active_numbers(sweep_id)


def follow(
    store: Store,
    sweep_id: str,
    spec: SweepSpec,
    *,
    interval: float = 0.25,
    until: Callable[[], bool] | None = None,
    stop: threading.Event | None = None,
) -> SweepState:
    """Show a progress bar of finished trials until the sweep is over (or `until()` / `stop`)."""
    length = spec.run_cap
    finished = 0

    def done() -> bool:
        return until() if until is not None else sweep_done(store, sweep_id)

    with click.progressbar(length=length or 0, label=f"sweep {sweep_id}", file=click.get_text_stream("stderr"), show_pos=True) as bar:  # type: ignore[operator]  # click 8.4 stubs
        while not (stop is not None and stop.is_set()):
            counts = store.counts(sweep_id)
            now_finished = sum(n for s, n in counts.items() if s.is_finished)
            best = store.best_objective(sweep_id, spec.metric.goal)
            failed = sum(n for s, n in counts.items() if s.is_trial_failure)
            bar.label = (
                f"sweep {sweep_id} running={counts[TrialState.RUNNING]} failed={failed} "
                f"best {spec.metric.name}={'-' if best is None else f'{best:.6g}'}"
            )
            if length:
                bar.update(now_finished - finished)
            else:
                bar.render_progress()
            finished = now_finished
            if done():
                break
            time.sleep(interval)
    return store.sweep_state(sweep_id)
