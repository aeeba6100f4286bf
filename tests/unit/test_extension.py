"""Which sweeps `extend` gives a new run_cap, re-opens or refuses, and what the refusals say (pure decisions)."""

from __future__ import annotations

import pytest

from sweepctl import extension
from sweepctl.records import SweepState


def test_every_state_is_either_extended_in_place_reopened_or_refused_with_a_reason_of_its_own() -> None:
    # Given every sweep state / Then each has exactly one fate
    kept, reopened = set(extension.KEEP_STATES), set(extension.REOPEN_STATES)
    assert not kept & reopened
    refused = set(SweepState) - kept - reopened
    assert refused == {SweepState.STOPPING, SweepState.CANCELLED, SweepState.FAILED, SweepState.DELETING}
    # And only live states keep their state; only ended ones re-open
    assert all(not s.is_terminal for s in kept) and all(s.is_terminal for s in reopened)
    # And each refusal names the sweep and the state, and says something specific to it
    reasons = {s: extension.state_refusal("ab12", s) for s in refused}
    assert all(r.startswith(f"sweep ab12 is {s.value}: ") for s, r in reasons.items())
    assert "its state allows no extension" not in " ".join(reasons.values())
    assert "max_failures" in reasons[SweepState.FAILED] and "once it is stopped" in reasons[SweepState.STOPPING]
    assert reasons[SweepState.DELETING] == "sweep ab12 is deleting: it is being deleted"
    # And a restored sweep is refused whatever its state, saying how to go on from it
    restored = extension.restored_refusal("ab12")
    assert "restored from an archive" in restored and "warm_start: {sweeps: [ab12]}" in restored


@pytest.mark.parametrize(("run_cap", "created", "refused"), [(6, 5, False), (15, 5, False), (5, 5, True), (3, 5, True), (1, 0, False)])
def test_a_run_cap_must_be_above_the_trials_already_created(run_cap: int, created: int, refused: bool) -> None:
    # When a run_cap is asked of a sweep with `created` trials
    why = extension.run_cap_refusal("ab12", run_cap, created)
    # Then only one above them is taken; a refusal names the option, the count and what would do
    assert (why is not None) == refused
    if why is not None:
        assert why == f"--run-cap {run_cap}: sweep ab12 already has {created} trial(s); give a run_cap above {created}"
