"""A controller serving one sweep in a thread of this process: what `sweepctl run`, `sweepctl agent` and `sweepctl.agent` start.

`run` starts one for the sweep it just submitted. An agent serves a sweep
submitted before, which a controller elsewhere may already look after: it
starts one only while no live controller holds the sweep's ownership lease
(and looks again as it goes, so a sweep whose controller died is taken over).
A second controller would do no harm either: ownership makes it stand by.
"""

from __future__ import annotations

import threading
from typing import Any

from sweepctl.settings import RedisSettings
from sweepctl.store import Store, StoreTrouble


class SweepController:
    """The controller thread of one sweep (`only` that sweep, until it is no longer live or `stop()`)."""

    def __init__(self, store: Store, redis: RedisSettings, sweep_id: str, *, lease_seconds: float) -> None:
        self.store = store
        self.sweep_id = sweep_id
        self._redis = redis
        self._lease_seconds = lease_seconds
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._controller: Any = None  # controller.loop.Controller, imported when one starts

    def start(self) -> None:
        """Start the controller thread (a new one if an earlier one ended)."""
        from controller.loop import Controller
        from sweepctl.celery_app import make_celery

        self._controller = Controller(self.store, make_celery(self._redis), lease_seconds=self._lease_seconds)
        self._thread = threading.Thread(
            target=self._controller.run,
            args=(self._stopping,),
            kwargs={"only": {self.sweep_id}, "until_idle": True},
            name=f"sweepctl-controller-{self.sweep_id}",
            daemon=True,
        )
        self._thread.start()

    def start_unless_owned(self) -> bool:
        """Start one unless ours runs or another live controller owns the sweep; whether one was started.

        Raises StoreUnavailable when Redis cannot say who owns it.
        """
        if self.running or self._stopping.is_set() or self.store.sweep_owner(self.sweep_id) is not None:
            return False
        self.start()
        return True

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def ended(self) -> bool:
        """Whether ours was started and ended on its own (its sweep over, or it failed) rather than by `stop()`."""
        return self._thread is not None and not self._thread.is_alive() and not self._stopping.is_set()

    @property
    def store_trouble(self) -> StoreTrouble | None:
        """Why Redis does not take its writes now (None: it does, or none was started)."""
        return None if self._controller is None else self._controller.store_trouble

    def stop(self, timeout: float = 5.0) -> None:
        """Stop it and wait up to `timeout` seconds (it gives its sweep's ownership up as it ends)."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
