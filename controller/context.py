"""What a controller keeps in memory for one sweep, built from the store by one function.

The bottom of the controller: it imports no decision module (ownership,
recovery, creation) and no loop, so each of them can build on it without
import circles. Everything here can be rebuilt from the store at any time,
which is how a restarted controller carries on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from controller.curves import Curves
from controller.suggester import Observation, Suggester
from controller.suggester_factory import make_suggester
from sweepctl.analysis.pareto import losses, objective_values
from sweepctl.kfold import partial_mean
from sweepctl.records import Sweep, Trial, TrialState
from sweepctl.space import FlatAssignment
from sweepctl.spec import MedianStop, Method, StoppingRule, SweepSpec
from sweepctl.store import Store


@dataclass
class SweepContext:
    """What a controller keeps in memory for one sweep; all of it can be rebuilt from the store."""

    sweep: Sweep
    spec: SweepSpec
    suggester: Suggester
    fallback: Suggester  # random draws when the engine keeps repeating parameter sets already taken
    finished_seen: int = 0  # position in the sweep's finished list already observed
    exhausted: bool = False
    # Recorded, but the broker was down: by (number, fold), fold None for a trial's own message(s).
    unsent: dict[tuple[int, int | None], Trial] = field(default_factory=dict)
    pending: dict[int, FlatAssignment] = field(default_factory=dict)  # queued or running: TPE's constant liar
    policy: StoppingRule | None = None  # early_terminate
    curves: Curves | None = None  # learning curves the policy judges (None for a k-fold sweep: fold_rule judges its trials)
    fold_rule: MedianStop | None = None  # a k-fold sweep's early_terminate: the median rule on fold means
    folds_judged: dict[int, int] = field(default_factory=dict)  # trial -> completed folds it was judged at (fold_rule)
    just_finished: list[int] = field(default_factory=list)  # finished since the last early-stopping pass
    suggest_seconds: list[float] = field(default_factory=list)  # latencies not yet written to the sweep's stats
    stats_due: float = 0.0  # monotonic time when suggest_seconds are next written


def build_context(store: Store, sweep_id: str) -> SweepContext:
    """A fresh context for `sweep_id`: its spec, a new suggester and fallback, its stopping rule.

    The suggester has observed nothing yet: the caller feeds it the sweep's history
    (warm start, finished trials) and re-sends what an earlier controller left unsent.
    """
    sweep = store.get_sweep(sweep_id)
    spec = store.spec_of(sweep)  # parsed once per Store, without reading the sweep again
    policy = spec.stopping
    # The parser allows early_terminate only with a metric (both or neither), and with cross_validation only median.
    fold_rule = policy if spec.folds is not None and isinstance(policy, MedianStop) else None
    return SweepContext(
        sweep,
        spec,
        new_suggester(sweep, spec),
        make_suggester(Method.RANDOM, spec.space, sweep.seed),
        policy=policy,
        curves=Curves(spec.metric.name) if policy is not None and spec.metric is not None and spec.folds is None else None,
        fold_rule=fold_rule,
    )


def new_suggester(sweep: Sweep, spec: SweepSpec) -> Suggester:
    """The sweep's engine as it starts: seeded by the sweep, nothing observed yet."""
    return make_suggester(spec.method, spec.space, sweep.seed, spec.tpe, objectives=len(spec.objectives))


def follow_run_cap(ctx: SweepContext, run_cap: int | None) -> None:
    """Plan with the run_cap `extend` wrote on the sweep record since the context was built (None: none was)."""
    if run_cap is not None and run_cap != ctx.spec.run_cap:
        ctx.spec = replace(ctx.spec, run_cap=run_cap)


def observation(trial: Trial, spec: SweepSpec, number: int | None = None) -> Observation:
    """A finished trial as the sweep's suggester learns from it (numbered `number`, else its own number)."""
    return Observation(
        number=trial.number if number is None else number,
        params=spec.space.flatten(trial.params),
        loss=observed_loss(trial, spec),
        losses=observed_losses(trial, spec) if spec.is_multi_objective else None,
    )


def observed_losses(trial: Trial, spec: SweepSpec) -> tuple[float, ...] | None:
    """What a multi-objective suggester learns from a finished trial: a loss per objective, or None (it failed).

    Only completed trials have them all (early termination is refused with several objectives).
    """
    values = objective_values(trial, spec.objectives)
    return None if values is None else losses(values, spec.objectives)


def observed_loss(trial: Trial, spec: SweepSpec) -> float | None:
    """What the suggester learns from a finished trial: its objective (a k-fold trial's: its folds' mean), or for a
    trial stopped early the last value it reported (it was stopped for being worse than its peers there); for a
    k-fold trial stopped early, the mean of the folds it completed (what it was judged by)."""
    if spec.metric is None:
        return None  # a grid or random sweep without a metric: nothing to learn, and those methods learn nothing
    goal, metric = spec.metric.goal, spec.metric.name
    if trial.state is TrialState.COMPLETED and trial.objective is not None:
        return goal.loss(trial.objective)
    if trial.state is TrialState.STOPPED and trial.folds:
        mean = partial_mean(trial.fold_objectives)
        return None if mean is None else goal.loss(mean)
    if trial.state is TrialState.STOPPED and metric in trial.last_metrics:
        value = trial.last_metrics[metric]
        return goal.loss(value) if math.isfinite(value) else None
    return None
