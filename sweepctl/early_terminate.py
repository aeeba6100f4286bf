"""The `early_terminate` block of a sweep file, checked and parsed once into a `Hyperband | MedianStop`.

`parse_early_terminate` is the sweep-file parser's step (problems collected with
the rest of the file); `parse_policy` reads one block alone and raises. Both run
the same checks with the same messages, so a block is never validated two ways.
The controller only judges with the record (`controller.early_stopping`).

Numbers as W&B's schema reads them: `min_iter`, `max_iter` and `s` may be
written as whole floats (`s: 2.0`). Where W&B's schema allows a value its own
controller cannot use, the block is refused and the message says why: `s` or
`max_iter` below 1 (no band at all: W&B's controller raises on every run), a
fractional `s` (it takes `range(s)`), `eta` below MIN_ETA (see `sweepctl.spec`).
A block needs the sweep's metric: it is what trials are compared by.
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
# The hyperband integers W&B's schema also takes as whole floats (JSON Schema's "integer" does; `s` is a "number").
_WHOLE_FLOATS = frozenset({"min_iter", "max_iter", "s"})
# Why a value W&B's schema allows is refused here, by key.
_STRICTER = {
    "max_iter": "W&B's schema allows it, but with max_iter < 1 there is no band and W&B's controller raises on every run",
    "s": "W&B's schema allows any number, but its controller takes range(s): below 1 there is no band, and a fraction fails",
    "eta": (
        f"W&B's schema allows any eta > 1, but below {MIN_ETA:g} the bands crowd onto every step and fewer than "
        "one trial in ten is ever stopped"
    ),
}
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


def parse_early_terminate(problems: v.Problems, raw: Any, goal: Goal | None) -> StoppingRule | None:
    """A sweep file's `early_terminate` value checked into `problems`; the rule, or None if absent or invalid.

    `goal` is the metric's, None when the sweep has no metric: then any block is a problem.
    """
    if raw is v.MISSING or raw is None:
        return None
    doc = v.mapping(problems, "early_terminate", raw, "a mapping with type: hyperband or median")
    if doc is None:
        return None
    if goal is None:
        problems.add("early_terminate", "needs the sweep's metric, which trials are compared by: give metric: {name: ..., goal: ...}")
        return None
    kinds = tuple(t.value for t in StoppingType)
    found = v.choice(problems, "early_terminate.type", doc.get("type", v.MISSING), kinds, "early_terminate type")
    if found is None:
        return None  # the other keys' meaning depends on the type
    kind = StoppingType(found)
    before = len(problems)
    v.check_keys(problems, "early_terminate", doc, _KEYS[kind])
    integers = {key: _integer(problems, key, doc[key], kind) for key in _INTEGER_MAX if key in doc and key in _KEYS[kind]}
    rule = _median(problems, doc, goal) if kind is StoppingType.MEDIAN else _hyperband(problems, doc, integers, goal)
    return rule if len(problems) == before else None


def _integer(problems: v.Problems, key: str, raw: Any, kind: StoppingType) -> int | None:
    """One integer key of the block, a whole float taken as W&B's schema takes it (hyperband keys only)."""
    if kind is StoppingType.HYPERBAND and key in _WHOLE_FLOATS and isinstance(raw, float) and raw.is_integer() and abs(raw) < 2**63:
        raw = int(raw)
    path = f"early_terminate.{key}"
    if key in _STRICTER and v.is_number(raw) and raw < 1:
        problems.add(path, f"expected a whole number >= 1, got {v.describe(raw)} ({_STRICTER[key]})")
        return None
    if key == "s" and v.is_number(raw) and not float(raw).is_integer():
        problems.add(path, f"expected a whole number, got {v.describe(raw)} ({_STRICTER[key]})")
        return None
    return v.integer(problems, path, raw, ge=1, le=_INTEGER_MAX[key])


def _median(problems: v.Problems, doc: Mapping[str, Any], goal: Goal) -> MedianStop | None:
    if "min_iter" not in doc:
        problems.add("early_terminate.min_iter", "required by type: median (the first step trials are compared at)")
        return None
    return MedianStop(min_iter=int(doc["min_iter"]), min_trials=int(doc.get("min_trials", DEFAULT_MIN_TRIALS)), goal=goal)


def _eta(problems: v.Problems, raw: Any) -> float | None:
    if v.is_number(raw) and 1 < raw < MIN_ETA:
        problems.add("early_terminate.eta", f"expected a finite number >= {MIN_ETA:g}, got {v.describe(raw)} ({_STRICTER['eta']})")
        return None
    number = v.number(problems, "early_terminate.eta", raw, ge=MIN_ETA)
    return None if number is None else float(number)


def _hyperband(problems: v.Problems, doc: Mapping[str, Any], integers: Mapping[str, int | None], goal: Goal) -> Hyperband | None:
    eta = _eta(problems, doc["eta"]) if "eta" in doc else DEFAULT_ETA
    strict = v.boolean(problems, "early_terminate.strict", doc["strict"]) if "strict" in doc else False
    # Hyperband needs a bracket: W&B derives it from min_iter, or from max_iter and s.
    if "min_iter" not in doc and not ("max_iter" in doc and "s" in doc):
        problems.add("early_terminate", "hyperband needs min_iter, or max_iter and s")
        return None
    if eta is None or strict is None:
        return None
    return Hyperband(
        min_iter=integers.get("min_iter"), max_iter=integers.get("max_iter"), eta=float(eta), s=integers.get("s"), strict=strict, goal=goal
    )
