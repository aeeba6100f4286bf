"""`sweepctl agent --count N`: when the agent is done, and when its workers are started again (pure)."""

from __future__ import annotations

import pytest

from sweepctl.agent_count import TrialCount, count_done, needs_workers
from sweepctl.records import TrialState

Q, R, C, F, S = TrialState.QUEUED, TrialState.RUNNING, TrialState.COMPLETED, TrialState.FAILED, TrialState.STOPPED


@pytest.mark.parametrize(
    ("counted", "done"),
    [
        ([], False),  # nothing counted yet
        ([C, C], False),  # two of three
        ([C, R, C], False),  # three counted, one still running
        ([C, Q, C], False),  # three counted, one queued again after its worker was lost: it must still run here
        ([C, F, S], True),  # three ended, however they ended
    ],
)
def test_an_agent_of_three_is_done_once_three_trials_are_counted_and_every_one_ended(counted: list[TrialState], done: bool) -> None:
    assert count_done(3, counted) is done


@pytest.mark.parametrize(
    ("counted", "needed"),
    [
        ([], True),  # room for three
        ([C, R], True),  # room for one more
        ([C, R, R], False),  # full: a worker that stopped taking trials stays stopped (it would only hand trials back)
        ([C, R, Q], True),  # full, but a counted trial lost its worker and waits to run again
        ([C, C, C], False),
    ],
)
def test_workers_are_started_again_only_while_a_counted_trial_may_still_need_one(counted: list[TrialState], needed: bool) -> None:
    assert needs_workers(3, counted) is needed


def test_each_agent_counts_under_an_id_of_its_own() -> None:
    first, second = TrialCount.new("s1", 3), TrialCount.new("s1", 3)
    assert first.agent_id != second.agent_id and (first.sweep_id, first.count) == ("s1", 3)
