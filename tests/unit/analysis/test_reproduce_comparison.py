"""The pure half of `sweepctl reproduce`: the record against today's code and data, and the re-run beside the record."""

from __future__ import annotations

import pytest

from sweepctl.analysis.reproduce import (
    Drift,
    RerunResult,
    code_differences,
    data_differences,
    provenance_differences,
    result_record,
    side_by_side,
)
from sweepctl.records import CodeVersion, Trial, TrialState

A, B = "a" * 40, "b" * 40
HASH_1, HASH_2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


def code(commit: str = A, dirty: bool = False) -> CodeVersion:
    return CodeVersion(repo="/src/project", commit=commit, dirty=dirty)


def trial(**fields: object) -> Trial:
    base: dict[str, object] = {"sweep_id": "s1", "number": 3, "state": TrialState.COMPLETED, "params": {"x": 1.0}, "seed": 42}
    return Trial(**{**base, **fields})  # type: ignore[arg-type]


def test_the_same_clean_commit_and_data_differ_in_nothing() -> None:
    # Given a record and a present that agree
    recorded = trial(code=code(), data={"train.csv": HASH_1})

    # When compared, Then there is nothing to warn about
    assert provenance_differences(recorded, code(), {"train.csv": HASH_1}) == ()
    assert code_differences(None, None) == ()


def test_a_new_commit_is_named_with_both_commits() -> None:
    # Given code that moved on from the recorded commit
    found = code_differences(code(A), code(B))

    # Then exactly one difference names both commits
    assert [d.drift for d in found] == [Drift.COMMIT]
    assert A in found[0].message and B in found[0].message


@pytest.mark.parametrize(
    ("then", "now", "expected"),
    [
        (False, True, ["the work tree is dirty now"]),
        (True, False, ["the work tree was dirty when the trial ran"]),
        (True, True, ["the work tree was dirty when the trial ran", "the work tree is dirty now"]),
    ],
)
def test_a_dirty_tree_then_or_now_is_reported_even_on_the_same_commit(then: bool, now: bool, expected: list[str]) -> None:
    found = code_differences(code(A, then), code(A, now))
    assert [d.drift for d in found] == [Drift.DIRTY] * len(expected)
    assert all(d.message.startswith(e) for d, e in zip(found, expected))


def test_code_inside_git_on_one_side_only_is_a_commit_difference() -> None:
    assert [d.drift for d in code_differences(None, code())] == [Drift.COMMIT]
    gone = code_differences(code(), None)
    assert [d.drift for d in gone] == [Drift.COMMIT] and "not in a git work tree now" in gone[0].message


def test_each_data_path_that_changed_is_missing_or_cannot_be_compared_is_named() -> None:
    # Given recorded fingerprints and today's, path by path
    recorded = {"same": HASH_1, "changed": HASH_1, "gone": HASH_1, "unhashed_then": "not hashed: took longer than 60 s"}
    current = {"same": HASH_1, "changed": HASH_2, "gone": "missing", "unhashed_then": HASH_1, "new": HASH_2}

    # When compared
    found = {d.path: d.message for d in data_differences(recorded, current)}

    # Then every path but the unchanged one is named, with what is known of it
    assert set(found) == {"changed", "gone", "unhashed_then", "new"}
    assert found["changed"] == f"data 'changed' changed: recorded {HASH_1}, now {HASH_2}"
    assert found["gone"].startswith("data 'gone' is missing now")
    assert "cannot be compared" in found["unhashed_then"] and "took longer than 60 s" in found["unhashed_then"]
    assert "no recorded fingerprint" in found["new"]


def test_data_that_cannot_be_hashed_now_is_not_called_unchanged() -> None:
    found = data_differences({"d": HASH_1}, {"d": "not hashed: not a regular file or folder"})
    assert [d.drift for d in found] == [Drift.DATA] and "now it is not hashed" in found[0].message


def test_provenance_differences_put_code_before_data() -> None:
    found = provenance_differences(trial(code=code(A), data={"d": HASH_1}), code(B, dirty=True), {"d": HASH_2})
    assert [d.drift for d in found] == [Drift.COMMIT, Drift.DIRTY, Drift.DATA]


def test_the_rerun_is_shown_beside_the_record_with_the_change() -> None:
    # Given a recorded trial and a re-run that came out a little different
    recorded = trial(objective=0.5, exit_code=0, last_step=2, last_metrics={"loss": 0.5, "acc": 0.9})
    rerun = RerunResult(TrialState.COMPLETED, 0.25, 0, None, {"loss": 0.25, "f1": 0.7}, 2)

    # When they are put side by side
    rows = {r["what"]: r for r in side_by_side(recorded, rerun)}

    # Then numbers get their difference, other values say whether they agree, and every metric of either run has a row
    assert rows["objective"] == {"what": "objective", "recorded": 0.5, "rerun": 0.25, "change": -0.25}
    assert rows["state"]["change"] == "same" and rows["last_step"]["change"] == 0
    assert rows["metric acc"] == {"what": "metric acc", "recorded": 0.9, "rerun": None, "change": "differs"}
    assert rows["metric f1"]["recorded"] is None
    assert list(rows)[:4] == ["state", "objective", "exit_code", "last_step"]


def test_a_failed_rerun_is_not_given_a_numeric_change() -> None:
    recorded = trial(objective=0.5, exit_code=0)
    rerun = RerunResult(TrialState.FAILED, None, 3, "exited with status 3")
    rows = {r["what"]: r for r in side_by_side(recorded, rerun)}
    assert rows["state"]["change"] == "differs" and rows["objective"]["change"] == "differs"
    assert rows["exit_code"]["change"] == 3
    assert not rerun.completed
    assert result_record(recorded, rerun)["rerun"] == {
        "state": "failed",
        "objective": None,
        "exit_code": 3,
        "last_step": None,
        "last_metrics": {},
        "error": "exited with status 3",
    }
