"""The archive document (no store, no files): what it holds round-trips, a bad one is refused naming the field,
and a restore's plan renames, marks and ends what it must."""

from __future__ import annotations

import copy
import json
import math
import re
from dataclasses import replace
from typing import Any

import pytest

from sweepctl import archive, codec
from sweepctl.archive import ArchivedFold, ArchivedSweep, ArchivedTrial
from sweepctl.errors import ArchiveError
from sweepctl.records import MetricPoint, SweepState, TrialState
from tests.unit.test_codec import FULL_SWEEP, FULL_TRIAL


def an_archive() -> ArchivedSweep:
    first = ArchivedTrial(FULL_TRIAL, (MetricPoint(1.5, 0, {"loss": 0.9}), MetricPoint(2.5, 1, {"loss": math.nan, "acc": math.inf})))
    running = replace(FULL_TRIAL, number=8, state=TrialState.RUNNING, ended_at=None, objective=None)
    return ArchivedSweep(
        sweep=FULL_SWEEP,
        trials=(first, ArchivedTrial(running, ())),
        finished=(FULL_TRIAL.number,),
        objective=((FULL_TRIAL.number, 0.25),),
        rejections={"stale": 2},
        stats={"duration_count": 1.0, "duration_sum": 12.5},
        archived_at=1700001000.0,
    )


def with_folds_and_retries() -> ArchivedSweep:
    """An archive that also has a 2-fold trial (9, fold 1 still running) and a trial retried twice (10, on attempt 3)."""
    base = replace(FULL_TRIAL, fold=None, folds=None, retried_attempts=(), attempt=1)
    folded = replace(base, number=9, folds=2)
    folds = (
        ArchivedFold(replace(folded, folds=None, fold=0), (MetricPoint(3.0, 0, {"loss": 0.5}), MetricPoint(4.0, 1, {"loss": math.nan}))),
        ArchivedFold(replace(folded, folds=None, fold=1, state=TrialState.RUNNING, ended_at=None), (MetricPoint(3.5, 0, {"loss": 0.7}),)),
    )
    retried = replace(base, number=10, attempt=3, state=TrialState.FAILED)
    earlier = {1: (MetricPoint(5.0, 0, {"loss": 2.0}),), 2: (MetricPoint(6.0, 0, {"loss": 1.5}), MetricPoint(7.0, 1, {"loss": math.inf}))}
    archived = an_archive()
    added = (ArchivedTrial(folded, (), folds), ArchivedTrial(retried, (MetricPoint(8.0, 0, {"loss": 1.0}),), attempt_histories=earlier))
    return replace(archived, trials=(*archived.trials, *added), finished=(*archived.finished, 9, 10))


def side_parts(archived: ArchivedSweep) -> Any:
    """Each trial's folds (records and histories) and earlier attempts' histories as the store would hold them."""
    return [
        (
            [(codec.encode_trial(f.trial), [codec.encode_point(p) for p in f.history]) for f in t.folds],
            {a: [codec.encode_point(p) for p in h] for a, h in t.attempt_histories.items()},
        )
        for t in archived.trials
    ]


def as_json(archived: ArchivedSweep) -> Any:
    """The document as a file holds it (strict JSON) and a reader gets it back."""
    rows = [{"number": t.trial.number} for t in archived.trials]
    return json.loads(json.dumps(archive.document(archived, ["number"], rows, "0.1.0"), allow_nan=False))


def encoded(archived: ArchivedSweep) -> Any:
    """What the store would hold (NaN-safe to compare)."""
    trials = [(codec.encode_trial(t.trial), [codec.encode_point(p) for p in t.history]) for t in archived.trials]
    return codec.encode_sweep(archived.sweep), trials, archived.finished, archived.objective, archived.rejections, archived.stats


def test_every_field_of_the_sweep_its_trials_and_their_histories_round_trips_through_strict_json() -> None:
    # Given a sweep and trials with every field set (earlier attempts, GPU use, a NaN and an infinity among the points)
    archived = an_archive()
    # When written as a document and read back
    doc = as_json(archived)
    again = archive.parse(doc, "a.json")
    # Then it is what was archived, field for field
    assert encoded(again) == encoded(archived) and again.archived_at == archived.archived_at
    assert again.trials[0].trial.lost == FULL_TRIAL.lost and again.points == 2
    # And the document says what it is, and holds the export's row beside each record
    assert (doc["format"], doc["version"], doc["sweepctl_version"]) == ("sweepctl-archive", 1, "0.1.0")
    assert doc["trials"][1]["row"] == {"number": 8} and doc["trials"][0]["history"][1]["v"] == {"loss": "nan", "acc": "inf"}


def test_a_k_fold_trials_folds_and_a_retried_trials_earlier_histories_round_trip() -> None:
    # Given an archive with a 2-fold trial (its folds' records and histories) and a trial retried twice
    archived = with_folds_and_retries()
    # When written as a document and read back
    doc = as_json(archived)
    again = archive.parse(doc, "a.json")
    # Then the folds and the earlier attempts' histories are what was archived, and counted among the points
    assert side_parts(again) == side_parts(archived) and encoded(again) == encoded(archived)
    assert again.points == archived.points == 2 + 3 + 4
    # And only the trials that have them carry the new keys; attempts are keyed by their number as text
    assert ["folds" in t for t in doc["trials"]] == [False, False, True, False]
    assert ["attempt_histories" in t for t in doc["trials"]] == [False, False, False, True]
    assert [f["record"]["fold"] for f in doc["trials"][2]["folds"]] == [0, 1]
    assert doc["trials"][3]["attempt_histories"]["2"][1]["v"] == {"loss": "inf"}


def test_an_archive_written_before_folds_and_retries_loads_without_them() -> None:
    # Given a document of the first layout: trials with a record and a history only
    doc = as_json(an_archive())
    assert all(set(t) == {"row", "record", "history"} for t in doc["trials"])
    # When read / Then its trials have no folds and no earlier histories
    again = archive.parse(doc, "old.json")
    assert [(t.folds, dict(t.attempt_histories)) for t in again.trials] == [((), {}), ((), {})]
    assert encoded(again) == encoded(an_archive())


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d["trials"][2].update(folds={}), "trials[2].folds: expected a list of folds, got dict"),
        (lambda d: d["trials"][2]["folds"][0].pop("history"), "trials[2].folds[0]: expected an object with a record"),
        (lambda d: d["trials"][2]["folds"][1]["record"].pop("seed"), "trials[2].folds[1].record: not a trial record"),
        (lambda d: d["trials"][2]["folds"][1]["record"].update(number=10), "trials[2].folds[1].record: expected a fold of trial 9"),
        (lambda d: d["trials"][2]["folds"][1]["record"].update(fold=None), "trials[2].folds[1].record: expected a fold of trial 9"),
        (lambda d: d["trials"][2]["folds"][1]["record"].update(fold=2), "folds[1].record.fold: expected a fold not given before, 0 to 1"),
        (lambda d: d["trials"][2]["folds"][1]["record"].update(fold=0), "folds[1].record.fold: expected a fold not given before"),
        (lambda d: d["trials"][2]["folds"][0]["history"].append({}), "trials[2].folds[0].history: expected points"),
        (lambda d: d["trials"][3].update(attempt_histories=[]), "trials[3].attempt_histories: expected an object of attempt number"),
        (lambda d: d["trials"][3]["attempt_histories"].update({"3": []}), "attempt_histories.3: expected an earlier attempt (1 to 2)"),
        (lambda d: d["trials"][3]["attempt_histories"].update({"x": []}), "attempt_histories.x: expected an earlier attempt"),
        (lambda d: d["trials"][3]["attempt_histories"].update({"1": {}}), "attempt_histories.1: expected an earlier attempt"),
        (lambda d: d["trials"][3]["attempt_histories"]["2"].append({"t": 1}), "trials[3].attempt_histories.2: expected points"),
    ],
)
def test_a_damaged_fold_or_earlier_history_is_refused_naming_the_field(damage: Any, message: str) -> None:
    doc = copy.deepcopy(as_json(with_folds_and_retries()))
    damage(doc)
    with pytest.raises(ArchiveError, match=r"^a\.json: .*" + re.escape(message)):
        archive.parse(doc, "a.json")


def test_a_restore_renames_the_folds_and_ends_a_fold_that_had_not_ended() -> None:
    # Given an archive whose 2-fold trial's fold 1 was running when it was archived
    archived = with_folds_and_retries()
    # When planned for a restore under another id
    plan = archive.restored(archived, as_id="copy-1", now=1700002000.0)
    # Then its folds carry the new id, fold 1 is cancelled at the archive's time, and every history is untouched
    folds = plan.trials[2].folds
    assert [(f.trial.sweep_id, f.trial.fold, f.trial.state) for f in folds] == [
        ("copy-1", 0, TrialState.COMPLETED),
        ("copy-1", 1, TrialState.CANCELLED),
    ]
    assert (
        folds[1].trial.ended_at == 1700001000.0
        and folds[1].trial.error == "running when its sweep was archived; a restored sweep runs nothing"
    )
    assert side_parts(replace(plan, trials=plan.trials[3:])) == side_parts(replace(archived, trials=archived.trials[3:]))
    histories = [[codec.encode_point(p) for p in f.history] for f in folds]
    assert histories == [[codec.encode_point(p) for p in f.history] for f in archived.trials[2].folds]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: d.update(format="something-else"), "not a sweepctl archive"),
        (lambda d: d.update(version=2), "archive version 2 was written by a newer sweepctl; this one reads up to 1"),
        (lambda d: d.update(version="1"), "version: expected a whole number from 1, got '1'"),
        (lambda d: d.pop("trials"), "trials: expected a list, got NoneType"),
        (lambda d: d["sweep"].update(state="running"), "sweep.state: expected an ended sweep"),
        (lambda d: d["sweep"].update(id="a b"), "sweep.id: expected 1 to 64 letters"),
        (lambda d: d["sweep"].pop("seed"), "sweep: not a sweep record"),
        (lambda d: d["trials"][1]["record"].pop("params"), "trials[1].record: not a trial record"),
        (lambda d: d["trials"][1]["record"].update(sweep_id="other"), "trials[1].record: expected a trial of sweep ab12cd34"),
        (lambda d: d["trials"][0]["history"].append({"t": 1.0}), "trials[0].history: expected points"),
        (lambda d: d["trials"].append(d["trials"][0]), "trials: a trial number appears twice"),
        (lambda d: d.update(finished=[99]), "finished: expected numbers of the archive's trials, got [99]"),
        (lambda d: d.update(objective=[[99, 1.0]]), "objective: expected [trial number, objective] pairs"),
        (lambda d: d["stats"].update(duration_count="many"), "stats.duration_count: expected a number, got 'many'"),
    ],
)
def test_a_damaged_archive_is_refused_naming_the_file_and_the_field(damage: Any, message: str) -> None:
    doc = copy.deepcopy(as_json(an_archive()))
    damage(doc)
    with pytest.raises(ArchiveError, match=r"^a\.json: .*" + re.escape(message)):
        archive.parse(doc, "a.json")


def test_a_restore_marks_the_sweep_restored_ends_what_had_not_ended_and_renames_under_as() -> None:
    # Given an archive whose trial 8 was still running when its sweep was archived (a forced delete)
    archived = an_archive()
    # When planned for a restore under another id
    plan = archive.restored(archived, as_id="copy-1", now=1700002000.0)
    # Then the sweep and every trial carry the new id, and the sweep is marked restored at that time
    assert plan.sweep.id == "copy-1" and plan.sweep.restored_at == 1700002000.0 and plan.sweep.state is SweepState.CANCELLED
    assert {t.trial.sweep_id for t in plan.trials} == {"copy-1"} and plan.sweep.raw_spec == archived.sweep.raw_spec
    # And trial 8 is recorded cancelled, saying why, ended when archived, and counted finished after the others
    eight = plan.trials[1].trial
    assert (eight.state, eight.ended_at) == (TrialState.CANCELLED, 1700001000.0)
    assert eight.error == "running when its sweep was archived; a restored sweep runs nothing"
    assert plan.finished == (FULL_TRIAL.number, 8)
    assert archive.counts_of(plan.trials)[TrialState.CANCELLED] == 1 and archive.counts_of(plan.trials)[TrialState.COMPLETED] == 1
    # And the finished trial and every history are untouched; without --as the id is kept
    assert plan.trials[0].trial == replace(archived.trials[0].trial, sweep_id="copy-1")
    assert archive.restored(archived, as_id=None, now=1.0).sweep.id == "ab12cd34"


@pytest.mark.parametrize(
    ("sweep_id", "ok"),
    [
        ("ab12cd34", True),
        ("copy-1", True),
        ("A_b", True),
        ("", False),
        ("-x", False),
        ("a b", False),
        ("a:b", False),
        ("a{b}", False),
        ("x" * 65, False),
    ],
)
def test_a_restored_sweeps_id_is_letters_digits_underscores_and_dashes(sweep_id: str, ok: bool) -> None:
    assert (archive.id_problem(sweep_id) is None) is ok
