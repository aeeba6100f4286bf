"""Reading what a sweep's page shows from the store, in a few round trips."""

from __future__ import annotations

from sweepctl.pages.sweep_page import SweepView, curve_numbers
from sweepctl.store import Store


def sweep_view(store: Store, sweep_id: str, now: float) -> SweepView:
    """The sweep, its trials and the histories of the trials whose curves are drawn, as of `now`."""
    sweep = store.get_sweep(sweep_id)
    spec = store.spec_of(sweep)
    trials = tuple(store.get_trials(sweep_id))
    histories = store.metric_points_since(sweep_id, {n: 0 for n in curve_numbers(spec, trials)})
    return SweepView(sweep=sweep, spec=spec, trials=trials, histories=histories, now=now)
