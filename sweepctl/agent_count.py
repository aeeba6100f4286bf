"""`sweepctl agent --count N`: the agent's count of trials, and the decisions made on it (pure).

Worker processes count a trial of the agent's sweep when they claim it
(`Store.admit_trial`, atomic across them), before its process starts: a trial
past the N-th is handed back to the queue unstarted and the worker takes no
more trials, so no worker ever starts an N+1-th. A trial counted once stays
counted when a lost attempt of it runs again.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sweepctl.records import TrialState


@dataclass(frozen=True)
class TrialCount:
    """One counted agent: its id (which names its set of counted trials in the store), its sweep, and N."""

    agent_id: str
    sweep_id: str
    count: int

    @classmethod
    def new(cls, sweep_id: str, count: int) -> TrialCount:
        return cls(agent_id=secrets.token_hex(8), sweep_id=sweep_id, count=count)


def count_done(count: int, counted: Sequence[TrialState]) -> bool:
    """Whether an agent of `count` trials is done: that many counted, and every one of them finished."""
    return len(counted) >= count and all(state.is_finished for state in counted)


def needs_workers(count: int, counted: Sequence[TrialState]) -> bool:
    """Whether a worker process that exited is started again: room for more trials,
    or a counted trial queued again (its worker was lost) that must still run here."""
    return len(counted) < count or any(state is TrialState.QUEUED for state in counted)
