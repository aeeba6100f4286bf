"""Keys of W&B's sweep schema that sweepctl does not act on: W&B's server keys, and W&B Launch's.

W&B's schema (wandb/sweeps `config/schema.json`) allows top-level keys that
only W&B's own server reads. A W&B file must work unchanged, so they are
accepted, checked as W&B's schema checks them (a W&B-invalid file stays
invalid here), ignored, and each gets a note that `sweepctl validate` prints:

- `controller`: which of W&B's controllers runs the sweep (local or cloud);
- `apiVersion`, `kind`: the W&B document's version and kind (`sweep`);
- `entity`, `project`: where W&B's server files the runs;
- `metric.impute`, `metric.impute_while_running`: the metric value W&B's
  Bayesian search assumes for failed and running runs (TPE here ranks failed
  trials below every success and tells running ones a lie, `tpe.lie`).

W&B Launch keys are refused, with a message that says so: `job` and
`image_uri` (what a Launch agent runs), `scheduler` (a search run as a Launch
job) and `method: custom`. sweepctl runs trials itself, from `program` or
`function`; it has no Launch agent to hand them to. W&B's `metrics` (several
objectives, which W&B allows only with `method: custom`) sweepctl runs itself
with its own methods (`sweepctl._objectives`); with `method: custom` it is
refused as the W&B Launch feature it is there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sweepctl import _validate as v

# Top-level keys W&B's server reads and sweepctl ignores: key -> why it is ignored.
SERVER_KEYS = {
    "controller": "which W&B controller runs the sweep (local or cloud); sweepctl's own controller always does",
    "apiVersion": "the version of W&B's sweep document",
    "kind": "the kind of W&B document (sweep)",
    "entity": "the W&B entity whose server files the runs; sweepctl has no W&B server",
    "project": "the W&B project whose server files the runs; sweepctl has no W&B server",
}
# `metric` keys only W&B's Bayesian search reads: key -> (the values W&B's schema allows, why it is ignored).
METRIC_KEYS = {
    "impute": (
        ("latest", "best", "worst"),
        "the value W&B's Bayesian search assumes for failed runs; sweepctl's TPE ranks failed trials below every success",
    ),
    "impute_while_running": (
        ("latest", "best", "worst", "false"),
        "W&B's Bayesian search reads running runs' metric with it; sweepctl's TPE tells running trials a lie (tpe.lie)",
    ),
}
# W&B Launch's top-level keys: key -> what it asks of W&B Launch.
LAUNCH_KEYS = {
    "job": "a W&B Launch job to run",
    "image_uri": "a container image a W&B Launch agent runs",
    "scheduler": "a search run as a W&B Launch job (optuna, ax or wandb engine)",
}
CUSTOM_METHOD = "custom"
_LAUNCH = "is a W&B Launch feature, which sweepctl does not run (it runs trials itself, from `program` or `function`)"
_CONTROLLER_TYPES = ("local", "cloud")


def launch_problem(what: str) -> str:
    """The message refusing a W&B Launch key or value: what it asks for, and that sweepctl does not run it."""
    return f"{what}: {_LAUNCH}"


def check_wandb_keys(problems: v.Problems, doc: Mapping[str, Any]) -> None:
    """Check W&B's server keys as W&B's schema does and note each one ignored; refuse each W&B Launch key."""
    for key, why in SERVER_KEYS.items():
        if key in doc and _server_value_ok(problems, key, doc[key]):
            problems.note(key, f"accepted and ignored: {why}")
    for key, what in LAUNCH_KEYS.items():
        if key in doc:
            problems.add(key, launch_problem(what))


def check_metric_keys(problems: v.Problems, metric: Mapping[str, Any], path: str = "metric") -> None:
    """The keys of a metric at `path` only W&B's server reads: checked against W&B's values, noted as ignored."""
    for key, (allowed, why) in METRIC_KEYS.items():
        if key in metric and v.choice(problems, v.child(path, key), metric[key], allowed, key) is not None:
            problems.note(v.child(path, key), f"accepted and ignored: {why}")


def _server_value_ok(problems: v.Problems, key: str, raw: Any) -> bool:
    if key == "kind":
        return v.choice(problems, key, raw, ("sweep",), "kind") is not None
    if key == "controller":
        return _controller_ok(problems, raw)
    if not isinstance(raw, str):
        problems.add(key, f"expected a string, got {v.describe(raw)}")
        return False
    return True


def _controller_ok(problems: v.Problems, raw: Any) -> bool:
    """W&B's schema: a mapping whose `type` is local or cloud (other keys are allowed, and ignored)."""
    doc = v.mapping(problems, "controller", raw, "a mapping with type: local or cloud")
    if doc is None:
        return False
    if "type" not in doc:
        problems.add("controller.type", f"required by W&B's schema ({v.one_of(_CONTROLLER_TYPES)})")
        return False
    return v.choice(problems, "controller.type", doc["type"], _CONTROLLER_TYPES, "controller type") is not None
