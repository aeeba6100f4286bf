"""A controller's context plans with the run_cap `extend` wrote on the sweep record, not the one it was built with."""

from __future__ import annotations

from controller.context import SweepContext, follow_run_cap
from controller.suggester_factory import make_suggester
from sweepctl.records import Sweep, SweepState
from sweepctl.spec import Method
from sweepctl.sweepfile import parse_sweep

RAW = {"method": "random", "metric": {"name": "loss"}, "parameters": {"x": {"min": 0.0, "max": 1.0}}, "program": "t.py", "run_cap": 5}


def context() -> SweepContext:
    spec = parse_sweep(RAW)
    sweep = Sweep(id="ab12", raw_spec=RAW, state=SweepState.RUNNING, seed=1, created_at=0.0)
    return SweepContext(sweep, spec, make_suggester(Method.RANDOM, spec.space, 1), make_suggester(Method.RANDOM, spec.space, 1))


def test_a_context_takes_the_extended_run_cap_and_keeps_the_rest_of_its_spec() -> None:
    # Given a context built while the sweep's file said run_cap 5
    ctx = context()
    before = ctx.spec
    # When the store has no run_cap of its own / Then nothing changes
    follow_run_cap(ctx, None)
    assert ctx.spec is before
    # When `extend` wrote run_cap 15 / Then the context plans with 15, all else as parsed
    follow_run_cap(ctx, 15)
    assert ctx.spec.run_cap == 15 and ctx.spec.budget == 15
    assert ctx.spec.space == before.space and ctx.spec.method is before.method and ctx.spec.seed == before.seed
