"""A stop request travels as a typed record: written by the controller, polled by the trial's worker."""

from __future__ import annotations

import pytest

from sweepctl.records import StopRequest, Sweep, SweepState, Trial, TrialState
from sweepctl.store import Outcome, Store

pytestmark = pytest.mark.system

SID = "stopreq1"


def test_a_stop_request_reads_back_as_the_record_written_and_none_before_it(store: Store) -> None:
    # Given a running trial of a running sweep
    raw = {"metric": {"name": "loss"}, "parameters": {"x": {"min": 0, "max": 1}}, "program": "train.py"}
    store.create_sweep(Sweep(id=SID, raw_spec=raw, state=SweepState.RUNNING, seed=7, created_at=1.0))
    assert store.create_trial(Trial(sweep_id=SID, number=1, state=TrialState.QUEUED, params={"x": 0.5}, seed=1)) is Outcome.OK
    assert store.claim_trial(SID, 1, 1, worker="w1") is Outcome.OK
    # Then its worker sees no request at first
    assert store.trial_control(SID, 1) == (SweepState.RUNNING, None)
    # When the controller asks for a stop, and again for a stale attempt
    request = StopRequest(band=3, value=2.5, threshold=1.5, reason="hyperband: worse than the cut", at=1700000000.5)
    assert store.request_stop(SID, 1, 1, request) is Outcome.OK
    assert store.request_stop(SID, 1, 2, request) is Outcome.STALE
    # Then the worker reads the very record back, and the trial keeps its fields as stored
    assert store.trial_control(SID, 1) == (SweepState.RUNNING, request)
    assert store.get_trial(SID, 1).stop_requested == {
        "band": 3,
        "value": 2.5,
        "threshold": 1.5,
        "reason": "hyperband: worse than the cut",
        "at": 1700000000.5,
    }
