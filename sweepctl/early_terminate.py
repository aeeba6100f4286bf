"""The `early_terminate` block of a sweep file, checked and parsed once into a `Hyperband | MedianStop`.

`parse_early_terminate` is the sweep-file parser's step (problems collected with
the rest of the file); `parse_policy` reads one block alone and raises. Both run
the same checks with the same messages, so a block is never validated two ways.
The controller only judges with the record (`controller.early_stopping`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sweepctl import _validate as v
from sweepctl.errors import SpecError
from sweepctl.spec import (
    DEFAULT_ETA,
    DEFAULT_MIN_TRIALS,
    MAX_BANDS,
    MAX_TRIALS,
    MIN_ETA,
    Goal,
    Hyperband,
    MedianStop,
    StoppingRule,
    StoppingType,
)

# min_iter and max_iter: steps are compared as float64 (controller.early_stopping), exact up to 2**53.
MAX_STEP = 2**53
# The keys of each early_terminate type; `median` is a sweepctl extension.
_KEYS = {
    StoppingType.HYPERBAND: ("type", "min_iter", "max_iter", "s", "eta", "strict"),
    StoppingType.MEDIAN: ("type", "min_iter", "min_trials"),
}
# The upper bound of each integer key of early_terminate (min_trials counts trials).
_INTEGER_MAX = {"min_iter": MAX_STEP, "max_iter": MAX_STEP, "s": MAX_BANDS, "min_trials": MAX_TRIALS}
_SOURCE = "<early_terminate>"


def parse_policy(early_terminate: Mapping[str, Any] | None, goal: Goal) -> StoppingRule | None:
    """The rule one `early_terminate` block describes, for a metric with `goal`; None for no block.

    Raises SpecError (naming the fields) for a block a sweep file may not hold.
    """
    if early_terminate is None:
        return None
    problems = v.Problems()
    rule = parse_early_terminate(problems, early_terminate, goal)
    if len(problems) or rule is None:
        raise SpecError(_SOURCE, problems.items)
    return rule


def parse_early_terminate(problems: v.Problems, raw: Any, goal: Goal) -> StoppingRule | None:
    """A sweep file's `early_terminate` value checked into `problems`; the rule, or None if absent or invalid."""
    if raw is v.MISSING or raw is None:
        return None
    doc = v.mapping(problems, "early_terminate", raw, "a mapping with type: hyperband or median")
    if doc is None:
        return None
    kinds = tuple(t.value for t in StoppingType)
    found = v.choice(problems, "early_terminate.type", doc.get("type", v.MISSING), kinds, "early_terminate type")
    if found is None:
        return None  # the other keys' meaning depends on the type
    kind = StoppingType(found)
    before = len(problems)
    v.check_keys(problems, "early_terminate", doc, _KEYS[kind])
    for key, most in _INTEGER_MAX.items():
        if key in doc and key in _KEYS[kind]:
            v.integer(problems, f"early_terminate.{key}", doc[key], ge=1, le=most)
    rule = _median(problems, doc, goal) if kind is StoppingType.MEDIAN else _hyperband(problems, doc, goal)
    return rule if len(problems) == before else None


def _median(problems: v.Problems, doc: Mapping[str, Any], goal: Goal) -> MedianStop | None:
    if "min_iter" not in doc:
        problems.add("early_terminate.min_iter", "required by type: median (the first step trials are compared at)")
        return None
    return MedianStop(min_iter=int(doc["min_iter"]), min_trials=int(doc.get("min_trials", DEFAULT_MIN_TRIALS)), goal=goal)


def _hyperband(problems: v.Problems, doc: Mapping[str, Any], goal: Goal) -> Hyperband | None:
    eta = v.number(problems, "early_terminate.eta", doc["eta"], ge=MIN_ETA) if "eta" in doc else DEFAULT_ETA
    strict = v.boolean(problems, "early_terminate.strict", doc["strict"]) if "strict" in doc else False
    # Hyperband needs a bracket: W&B derives it from min_iter, or from max_iter and s.
    if "min_iter" not in doc and not ("max_iter" in doc and "s" in doc):
        problems.add("early_terminate", "hyperband needs min_iter, or max_iter and s")
        return None
    if eta is None or strict is None:
        return None
    return Hyperband(
        min_iter=doc.get("min_iter"), max_iter=doc.get("max_iter"), eta=float(eta), s=doc.get("s"), strict=strict, goal=goal
    )
