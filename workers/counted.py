"""The gate of a counted agent's workers (`sweepctl agent --count N`): whether a claimed trial is one of its N.

Asked after the claim, before the trial's process starts: the claim settles which
delivery of an attempt runs, so only a trial this worker really holds is counted.
A trial past the N-th goes back to the queue unstarted, as on a shutdown (a new
attempt, no loss), and the worker stops taking trials.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sweepctl.agent_count import TrialCount
from sweepctl.records import Trial
from sweepctl.spec import SweepSpec
from sweepctl.store import Store
from workers.attempt_writes import AttemptWrites
from workers.backoff import until_done

log = logging.getLogger(__name__)


class CountGate:
    """Admits the claimed trials of one counted agent, N of its sweep's at most (other sweeps' run uncounted)."""

    def __init__(
        self, store: Store, count: TrialCount, writes: AttemptWrites, *, stop_taking: Callable[[], None], give_up: Callable[[], bool]
    ) -> None:
        self.store = store
        self.count = count
        self._writes = writes
        self._stop_taking = stop_taking
        self._give_up = give_up

    def admits(self, spec: SweepSpec, trial: Trial) -> bool:
        """Whether the claimed attempt `trial` may start; if not, it is handed back and the worker takes no more."""
        count = self.count
        if trial.sweep_id != count.sweep_id:
            return True
        admitted = until_done(
            lambda: self.store.admit_trial(count.agent_id, trial.number, count.count), "counting the trial", give_up=self._give_up
        )
        if admitted:
            return True
        if admitted is not None:  # None: Redis gave no answer before the shutdown: the lease lapses instead
            log.info("trial %s/%s: this agent ran its %d trials; handed back", trial.sweep_id, trial.number, count.count)
            self._writes.hand_back(spec, trial)
        self._stop_taking()
        return False
