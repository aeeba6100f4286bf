"""What `clone` makes of an old sweep (pure): the document as it stands, edited and warm-started from the old
sweep, checked as any sweep file is; and the short diff it prints."""

from __future__ import annotations

from typing import Any

import pytest

from sweepctl.cloning import Change, ChangeKind, as_it_stands, changes, clone_document, warm_from
from sweepctl.errors import SpecError
from sweepctl.spec_edit import parse_set, parse_unset
from sweepctl.sweepfile import parse_sweep

RAW: dict[str, Any] = {
    "method": "bayes",
    "metric": {"name": "loss"},
    "function": "m:f",
    "parameters": {"lr": {"min": 0.0, "max": 1.0}, "opt": {"values": ["adam", "sgd"]}},
    "run_cap": 10,
    "warm_start": {"points": [{"lr": 0.1, "opt": "adam"}], "sweeps": ["older"]},
}
OWN_QUEUE = "sweepctl.agent.old"


def stands(raw: dict[str, Any] = RAW, run_cap: int | None = None) -> dict[str, Any]:
    """The old sweep "old" as it stands: its file, the run_cap `extend` gave it (if any)."""
    return as_it_stands(raw, run_cap, OWN_QUEUE)


def test_a_clone_is_the_old_file_edited_and_warm_started_from_the_old_sweep_first() -> None:
    # When the old sweep is cloned with a narrowed range
    doc = clone_document(stands(), "old", None, [parse_set("parameters.lr.max=0.5")])
    # Then the range is edited, the old sweep is named first in warm_start.sweeps (its own earlier ones kept),
    # and its warm-start points are left behind: they ran as its first trials
    assert doc["parameters"]["lr"] == {"min": 0.0, "max": 0.5}
    assert doc["warm_start"] == {"sweeps": ["old", "older"]}
    # And the result is a valid sweep file that warm-starts from both
    assert parse_sweep(doc).warm_sweeps == ("old", "older")
    # And the old sweep's record is untouched
    assert RAW["parameters"]["lr"]["max"] == 1.0 and "points" in RAW["warm_start"]


def test_the_run_cap_extend_gave_is_taken_and_the_old_sweeps_own_agent_queue_is_not() -> None:
    raw = {**RAW, "queue": OWN_QUEUE}
    extended = stands(raw, run_cap=25)
    assert extended["run_cap"] == 25 and "queue" not in extended
    # A queue the file named itself is kept: it is where its workers listen
    assert stands({**RAW, "queue": "gpu"})["queue"] == "gpu"
    assert clone_document(stands(raw, run_cap=25), "old", None, [parse_set("run_cap=40")])["run_cap"] == 40


def test_a_new_file_replaces_the_old_document_and_still_warm_starts_from_the_old_sweep() -> None:
    new_file = {"metric": {"name": "loss"}, "function": "m:f", "parameters": {"lr": {"min": 0.0, "max": 0.2}}}
    doc = clone_document(stands(), "old", new_file, [parse_set("run_cap=3")])
    assert doc == {**new_file, "run_cap": 3, "warm_start": {"sweeps": ["old"]}}
    # And the file's own warm start is kept, the old sweep added first (once)
    with_points = {**new_file, "warm_start": {"points": [{"lr": 0.1}], "sweeps": ["x", "old"]}}
    assert clone_document(stands(), "old", with_points, [])["warm_start"] == {"points": [{"lr": 0.1}], "sweeps": ["old", "x"]}
    # And a set may write into the warm_start the clone gets even when the base had none
    doc = clone_document(stands(), "old", new_file, [parse_set("warm_start.points=[{lr: 0.05}]")])
    assert doc["warm_start"] == {"sweeps": ["old"], "points": [{"lr": 0.05}]}


def test_a_set_that_makes_the_spec_invalid_is_refused_as_the_file_would_be_naming_the_field() -> None:
    for given, field in (("parameters.lr.max=abc", "parameters.lr.max"), ("method=annealing", "method"), ("run_cap=0", "run_cap")):
        doc = clone_document(stands(), "old", None, [parse_set(given)])
        with pytest.raises(SpecError) as refused:
            parse_sweep(doc, source="clone of old")
        assert refused.value.source == "clone of old" and field in [path for path, _ in refused.value.problems]
    # And a user who replaces warm_start.sweeps cannot drop the old sweep from it
    assert clone_document(stands(), "old", None, [parse_set("warm_start.sweeps=[x]")])["warm_start"]["sweeps"] == ["old", "x"]
    # And a warm_start that is no mapping is left for the parser to refuse, as in a file
    doc = clone_document(stands(), "old", None, [parse_set("warm_start=oops")])
    with pytest.raises(SpecError, match="warm_start: expected a mapping"):
        parse_sweep(doc)


def test_the_diff_lists_each_changed_added_and_removed_field_by_its_path() -> None:
    before = stands()
    edits = [parse_set("parameters.lr.max=0.5"), parse_set("method=random"), parse_unset("run_cap"), parse_set("seed=3")]
    doc = clone_document(before, "old", None, edits)
    assert changes(before, doc) == (
        Change("method", ChangeKind.CHANGED, "bayes", "random"),
        Change("parameters.lr.max", ChangeKind.CHANGED, 1.0, 0.5),
        Change("run_cap", ChangeKind.REMOVED, old=10),
        Change("warm_start.points", ChangeKind.REMOVED, old=[{"lr": 0.1, "opt": "adam"}]),
        Change("warm_start.sweeps", ChangeKind.CHANGED, ["older"], ["old", "older"]),
        Change("seed", ChangeKind.ADDED, new=3),
    )
    # And numbers equal through JSON are no change; dotted names print as --set takes them
    assert changes({"a": 1}, {"a": 1.0}) == ()
    assert changes({"p": {"m.lr": {"max": 1}}}, {"p": {"m.lr": {"max": 2}}})[0].field == 'p."m.lr".max'


def test_warm_from_puts_the_sweep_first_once() -> None:
    assert warm_from({}, "a") == {"warm_start": {"sweeps": ["a"]}}
    assert warm_from({"warm_start": {"sweeps": ["b", "a"]}}, "a") == {"warm_start": {"sweeps": ["a", "b"]}}
    assert warm_from({"warm_start": {"sweeps": "a"}}, "a") == {"warm_start": {"sweeps": "a"}}  # the parser refuses it
