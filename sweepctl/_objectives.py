"""What a sweep file optimizes: `metric` as one mapping (one objective) or a list (several), or W&B's `metrics`.

    metric: {name: val_loss, goal: minimize, target: 0.1}     # one objective, as W&B writes it
    metric: [{name: accuracy, goal: maximize}, {name: latency_ms}]   # several: a Pareto front
    metrics: [{name: accuracy, goal: maximize}, {name: latency_ms}]  # W&B's spelling of the same

W&B's own schema allows `metrics` (2 or more) only with `method: custom`, a search
run by W&B Launch; sweepctl runs several objectives itself, with method tpe (bayes)
on `tpe: {engine: optuna}` (Optuna's multi-objective TPE), random or grid, and
refuses `metrics` with method custom as the W&B Launch feature it is there.

With several objectives (2 to MAX_OBJECTIVES, distinct names) no trial is "the
best": the result is the Pareto front (`sweepctl.analysis.pareto`). What needs
one order of trials is refused, naming the field: `target` (a sweep that ends
when one metric reaches a value would ignore the others), `early_terminate`
(it stops a trial for being worse than its peers on one metric),
`cross_validation` (k-fold trials average one metric over their folds),
`tpe.local_search` (it searches around the one best trial), and hyperopt, the
default TPE engine, which optimizes one loss.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sweepctl import _validate as v
from sweepctl._wandb_keys import CUSTOM_METHOD, check_metric_keys, launch_problem
from sweepctl.protocol import metric_name_problem
from sweepctl.spec import MAX_OBJECTIVES, Goal, Method, MetricSpec, TpeEngine, TpeOptions

# impute and impute_while_running steer W&B's own Bayesian search; TPE has no
# use for them, but W&B files carry them, so they are accepted and ignored (with a note).
METRIC_KEYS = ("name", "goal", "target", "impute", "impute_while_running")
_SEVERAL = f"a list of 2 to {MAX_OBJECTIVES} objectives"


def parse_objectives(problems: v.Problems, metric: Any, metrics: Any, method: Method | None, raw_method: Any) -> tuple[MetricSpec, ...]:
    """The sweep's objectives, first first; empty when absent or invalid (each problem reported, with its path).

    Absent is a problem only for a method that optimizes them (tpe). `raw_method` is the
    file's `method` as written: W&B's `custom` makes `metrics` the W&B Launch feature it is there.
    """
    if metrics is not v.MISSING:
        return _wandb_metrics(problems, metrics, given_metric=metric is not v.MISSING, raw_method=raw_method)
    if metric is v.MISSING:
        if method is Method.TPE:
            problems.add("metric.name", "required by method tpe (bayes), which optimizes it (e.g. metric: {name: val_loss})")
        return ()
    if isinstance(metric, list):
        return _several(problems, "metric", metric)
    one = _one(problems, "metric", metric)
    return () if one is None else (one,)


# Top-level blocks that need one metric, refused with several objectives: key -> why.
ONE_METRIC_BLOCKS = {
    "early_terminate": "compares trials by one metric",
    "cross_validation": "averages one metric over the folds",
}


def check_several(
    problems: v.Problems, objectives: tuple[MetricSpec, ...], method: Method | None, tpe: TpeOptions, also: Mapping[str, bool]
) -> None:
    """Refuse, naming the field, what needs one order of trials in a sweep with several objectives.

    `also` says which of ONE_METRIC_BLOCKS the file has.
    """
    if len(objectives) < 2:
        return
    for key, why in ONE_METRIC_BLOCKS.items():
        if also.get(key):
            problems.add(key, f"{why}, and this sweep has several objectives: leave {key} out, or optimize one metric")
    if method is not Method.TPE:
        return
    if tpe.chosen_engine is TpeEngine.HYPEROPT:
        named = tpe.engine is not None
        problems.add(
            "tpe.engine" if named else "metric",
            "several objectives need tpe: {engine: optuna} (Optuna's multi-objective TPE); hyperopt"
            + (" optimizes" if named else ", the default engine of method tpe (bayes), optimizes")
            + " one metric (or use method random or grid)",
        )
    if tpe.local_search is not None:
        problems.add(
            "tpe.local_search", "searches around the one best trial, and a sweep with several objectives has a Pareto front instead"
        )


def _wandb_metrics(problems: v.Problems, raw: Any, *, given_metric: bool, raw_method: Any) -> tuple[MetricSpec, ...]:
    """W&B's `metrics` list: refused beside `metric` (as W&B refuses it) and with method custom (W&B Launch's)."""
    if raw_method == CUSTOM_METHOD:
        problems.add(
            "metrics",
            launch_problem("several objectives with method: custom, a scheduler run by W&B Launch")
            + "; sweepctl runs `metrics` with method tpe (engine optuna), random or grid",
        )
        return ()
    if given_metric:
        problems.add("metrics", "not together with 'metric': give the objectives in one of them (W&B's rule too)")
        return ()
    if not isinstance(raw, list):
        problems.add("metrics", f"expected {_SEVERAL}, got {v.describe(raw)}")
        return ()
    return _several(problems, "metrics", raw)


def _several(problems: v.Problems, path: str, raw: list[Any]) -> tuple[MetricSpec, ...]:
    """A list of objectives: 2 to MAX_OBJECTIVES mappings with distinct names and no target."""
    if len(raw) < 2:
        problems.add(path, f"expected {_SEVERAL}, got {len(raw)}; give one metric as a mapping (metric: {{name: val_loss}})")
        return ()
    if len(raw) > MAX_OBJECTIVES:
        problems.add(path, f"expected {_SEVERAL} (at most {MAX_OBJECTIVES}), got {len(raw)}")
        return ()
    found: list[MetricSpec] = []
    first_index: dict[str, int] = {}
    for index, entry in enumerate(raw):
        where = v.item(path, index)
        one = _one(problems, where, entry)
        if isinstance(entry, Mapping) and "target" in entry:
            problems.add(
                v.child(where, "target"),
                "ends the sweep when one metric reaches it, and this sweep has several objectives: leave target out",
            )
            one = None
        if one is None:
            continue
        if one.name in first_index:
            problems.add(v.child(where, "name"), f"{one.name!r} is already {v.item(path, first_index[one.name])}: each objective once")
            continue
        first_index[one.name] = index
        found.append(one)
    return tuple(found) if len(found) == len(raw) else ()


def _one(problems: v.Problems, path: str, raw: Any) -> MetricSpec | None:
    """One objective: a mapping with name, goal and target (W&B's impute keys accepted and noted)."""
    doc = v.mapping(problems, path, raw, "a mapping with name, goal and target")
    if doc is None:
        return None
    v.check_keys(problems, path, doc, METRIC_KEYS)
    check_metric_keys(problems, doc, path)
    name = v.string(problems, v.child(path, "name"), doc.get("name", v.MISSING))
    if name is not None and (unusable := metric_name_problem(name)) is not None:  # what a trial could never report
        problems.add(v.child(path, "name"), unusable)
        name = None
    goal = v.choice(problems, v.child(path, "goal"), doc.get("goal", "minimize"), tuple(g.value for g in Goal), "goal")
    target = doc.get("target")
    if target is not None:
        target = v.number(problems, v.child(path, "target"), target)
    if name is None or goal is None:
        return None
    return MetricSpec(name=name, goal=Goal(goal), target=None if target is None else float(target))
