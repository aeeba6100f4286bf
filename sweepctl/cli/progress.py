"""Following a sweep on stderr until it is over (`submit --wait`, `run`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import click

from sweepctl.errors import StoreUnavailable
from sweepctl.records import SweepState, TrialState
from sweepctl.spec import SweepSpec
from sweepctl.store import Store, StoreTrouble


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
    on_tick: Callable[[StoreTrouble | None], None] | None = None,
) -> SweepState | None:
    """Show a progress bar of finished trials until the sweep is over (or `until()` / `stop`).

    Rides out Redis outages (the bar says it is waiting); `on_tick` hears of each
    poll's trouble with Redis (None when it answered). The final state, or None
    when Redis did not answer at the end.
    """
    length = spec.run_cap
    finished = 0
    paused = was_paused = False

    def done() -> bool:
        return until() if until is not None else sweep_done(store, sweep_id)

    with click.progressbar(length=length or 0, label=f"sweep {sweep_id}", file=click.get_text_stream("stderr"), show_pos=True) as bar:  # type: ignore[operator]  # click 8.4 stubs
        while not (stop is not None and stop.is_set()):
            trouble: StoreTrouble | None = None
            try:
                finished, paused = _show(bar, store, sweep_id, spec, finished)
            except StoreUnavailable as exc:
                trouble = StoreTrouble.of(exc)
                bar.label = f"sweep {sweep_id} waiting for Redis ({trouble.value})"
            try:
                over = done()  # `until` may know without Redis (its caller's embedded server died)
            except StoreUnavailable:
                over = False
            if not length or trouble is not None or paused != was_paused:
                bar.render_progress()  # a bar with a length redraws itself only as trials finish
            was_paused = paused
            if on_tick is not None:
                on_tick(trouble)
            if over:
                break
            time.sleep(interval)
    try:
        return store.sweep_state(sweep_id)
    except StoreUnavailable:
        return None


def _show(bar: Any, store: Store, sweep_id: str, spec: SweepSpec, finished: int) -> tuple[int, bool]:
    """Put the sweep's counts and best objective on the bar, advanced from `finished`; the trials finished now,
    and whether the sweep is paused."""
    counts = store.counts(sweep_id)
    now_finished = sum(n for s, n in counts.items() if s.is_finished)
    best = store.best_objective(sweep_id, spec.goal)
    failed = sum(n for s, n in counts.items() if s.is_trial_failure)
    # A paused sweep is not over: the bar waits, and says why nothing starts and how to go on.
    paused = store.sweep_state(sweep_id) is SweepState.PAUSED
    state = f" paused (sweepctl resume {sweep_id})" if paused else ""
    shown = "" if spec.metric is None else f" best {spec.metric.name}={'-' if best is None else f'{best:.6g}'}"
    bar.label = f"sweep {sweep_id}{state} running={counts[TrialState.RUNNING]} failed={failed}{shown}"
    if spec.run_cap:
        bar.update(now_finished - finished)
    return now_finished, paused
