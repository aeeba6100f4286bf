"""Which sweeps `archive --older-than` takes, ages as people write them, and archive files written safely (no store)."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from sweepctl import archive_file, retention
from sweepctl.errors import ArchiveError, ConfigError
from sweepctl.records import Sweep, SweepState

NOW = 1700000000.0
DAY = 86400.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30d", 30 * DAY),
        ("12h", 43200.0),
        ("90m", 5400.0),
        ("45s", 45.0),
        ("2w", 14 * DAY),
        ("1.5d", 1.5 * DAY),
        (" 7d ", 7 * DAY),
        ("0d", 0.0),
    ],
)
def test_an_age_is_a_number_and_a_unit(text: str, seconds: float) -> None:
    assert retention.parse_age(text) == seconds


@pytest.mark.parametrize("text", ["30", "d", "30 days", "-1d", "1y", "", "1e3d"])
def test_a_bad_age_is_refused_naming_the_option_and_the_value(text: str) -> None:
    with pytest.raises(ConfigError, match=f"--older-than {text!r}: expected a number and a unit, s, m, h, d or w"):
        retention.parse_age(text)


def a_sweep(sweep_id: str, state: SweepState, ended_days_ago: float | None, *, restored_days_ago: float | None = None) -> Sweep:
    return Sweep(
        id=sweep_id,
        raw_spec={},
        state=state,
        seed=1,
        created_at=NOW - 100 * DAY,
        ended_at=None if ended_days_ago is None else NOW - ended_days_ago * DAY,
        restored_at=None if restored_days_ago is None else NOW - restored_days_ago * DAY,
    )


def test_the_ended_sweeps_last_used_before_the_age_are_due_oldest_first_and_nothing_live_or_being_deleted() -> None:
    # Given sweeps in every state, ended long ago or lately, and a restored one
    sweeps = [
        a_sweep("finished-40", SweepState.FINISHED, 40),
        a_sweep("failed-31", SweepState.FAILED, 31),
        a_sweep("stopped-10", SweepState.STOPPED, 10),
        a_sweep("cancelled-60", SweepState.CANCELLED, 60),
        a_sweep("restored-lately", SweepState.FINISHED, 90, restored_days_ago=2),
        a_sweep("restored-long-ago", SweepState.FINISHED, 90, restored_days_ago=45),
        a_sweep("no-end-recorded", SweepState.FINISHED, None),  # its creation, 100 days ago, counts
        *(a_sweep(f"{s.value}-old", s, 50) for s in (SweepState.RUNNING, SweepState.PAUSED, SweepState.STOPPING, SweepState.DELETING)),
    ]
    # When asked for those older than 30 days
    due = retention.due(sweeps, 30 * DAY, NOW)
    # Then the ended ones last used (ended, or restored) 30 days ago or more, oldest first
    assert [s.id for s in due] == ["no-end-recorded", "cancelled-60", "restored-long-ago", "finished-40", "failed-31"]
    assert retention.due(sweeps, 0.0, NOW)[-1].id == "restored-lately"


def test_the_archive_of_a_bulk_run_is_named_after_the_sweep() -> None:
    assert retention.archive_path(Path("/backups"), "ab12cd34") == Path("/backups/ab12cd34.json.gz")


DOC = {"format": "sweepctl-archive", "sweep": {"id": "ab12cd34"}, "trials": [{"row": {"loss": "nan"}}]}


@pytest.mark.parametrize("name", ["a.json.gz", "a.json"])
def test_an_archive_file_is_written_whole_and_read_back_compressed_by_its_name(tmp_path: Path, name: str) -> None:
    # When written
    path = tmp_path / name
    size = archive_file.write(DOC, path, "ab12cd34")
    # Then it is there whole, gzip only for .gz, readable back, and no temporary file is left
    raw = path.read_bytes()
    assert size == len(raw) and raw.startswith(b"\x1f\x8b") is name.endswith(".gz")
    assert json.loads(gzip.decompress(raw) if name.endswith(".gz") else raw) == DOC == archive_file.read(path)
    assert sorted(os.listdir(tmp_path)) == [name]
    # And an archive of the same sweep is replaced (a delete run again); another file is refused, untouched
    assert archive_file.write({**DOC, "trials": []}, path, "ab12cd34") > 0 and archive_file.read(path)["trials"] == []
    with pytest.raises(ArchiveError, match="exists and is not an archive of sweep other"):
        archive_file.write(DOC, path, "other")
    assert archive_file.read(path)["sweep"]["id"] == "ab12cd34"


def test_an_unreadable_archive_or_a_folder_is_refused_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "bad.json.gz").write_bytes(b"\x1f\x8b broken")
    with pytest.raises(ArchiveError, match=r"bad\.json\.gz: not a readable archive"):
        archive_file.read(tmp_path / "bad.json.gz")
    with pytest.raises(ArchiveError, match=r"missing\.json: no such file"):
        archive_file.read(tmp_path / "missing.json")
    with pytest.raises(ArchiveError, match="is a folder; give a file name"):
        archive_file.write(DOC, tmp_path, "ab12cd34")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ArchiveError, match="cannot write in"):
        archive_file.write(DOC, tmp_path / "a-file" / "x.json", "ab12cd34")
    archive_file.write(DOC, tmp_path / "new" / "folder" / "x.json", "ab12cd34")
    assert archive_file.read(tmp_path / "new" / "folder" / "x.json") == DOC


def test_the_sweep_states_a_bulk_run_may_archive_are_the_ended_ones() -> None:
    assert set(retention.ENDED_STATES) == {SweepState.STOPPED, SweepState.CANCELLED, SweepState.FINISHED, SweepState.FAILED}
