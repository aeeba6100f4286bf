"""Sweep ownership: each live sweep is looked after by one controller at a time, through a lease in Redis.

A second controller stands by and takes over the sweeps whose owner stopped
renewing. The lease is renewed a third into its period, so a stall longer
than the lease is always noticed (the renewal fails) before the controller
acts on the sweep again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sweepctl.store import Store


@dataclass(frozen=True)
class Claim:
    """The outcome of one round of renewals: sweeps we own now, and those another controller holds."""

    owned: tuple[str, ...]
    taken: tuple[str, ...]  # held by another controller (we stalled past our lease, or never had them)


class Ownership:
    """The sweeps this controller owns, and when each lease was last renewed (monotonic time)."""

    def __init__(self, store: Store, controller_id: str, lease_seconds: float) -> None:
        self.store = store
        self.controller_id = controller_id
        self.lease_seconds = lease_seconds
        self._renewed_at: dict[str, float] = {}

    def claim(self, live: Sequence[str], now: float) -> Claim:
        """Own or keep each of the `live` sweeps that no other controller holds; renews leases due."""
        owned: list[str] = []
        taken: list[str] = []
        for sweep_id in live:
            renewed = self._renewed_at.get(sweep_id)
            if renewed is not None and now - renewed < self.lease_seconds / 3:
                owned.append(sweep_id)
            elif self.store.own_sweep(sweep_id, self.controller_id, self.lease_seconds):
                self._renewed_at[sweep_id] = now
                owned.append(sweep_id)
            else:
                self._renewed_at.pop(sweep_id, None)
                taken.append(sweep_id)
        return Claim(tuple(owned), tuple(taken))

    def forget(self, sweep_id: str) -> None:
        """Stop counting `sweep_id` as ours (the next `claim` asks the store again)."""
        self._renewed_at.pop(sweep_id, None)

    def disown(self, sweep_id: str) -> None:
        """Give the sweep's lease up in the store, if it is still ours, so another controller may take it at once."""
        self.store.disown_sweep(sweep_id, self.controller_id)
