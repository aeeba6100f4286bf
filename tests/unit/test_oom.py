"""Telling whether the kernel's OOM killer struck during a trial, from its kill count in /proc/vmstat."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers import oom


def test_the_oom_kill_count_is_read_from_vmstat(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a vmstat with the count among other counters
    vmstat = tmp_path / "vmstat"
    vmstat.write_text("nr_free_pages 12\noom_kill 7\nnr_foll_pin_acquired 0\n")
    monkeypatch.setattr(oom, "_VMSTAT", vmstat)
    # Then it is read
    assert oom.oom_kills() == 7


@pytest.mark.parametrize("text", ["nr_free_pages 12\n", "nr_free_pages 12\noom_kill seven\n", None])
def test_a_count_that_cannot_be_read_is_unknown(text: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an old kernel without the counter, a garbled one, or no /proc at all
    vmstat = tmp_path / "vmstat"
    if text is not None:
        vmstat.write_text(text)
    monkeypatch.setattr(oom, "_VMSTAT", vmstat)
    # Then the count is unknown, not zero
    assert oom.oom_kills() is None


def test_a_kill_happened_only_when_the_count_rose_and_is_unknown_when_either_reading_is() -> None:
    assert oom.oom_kill_between(3, 4) is True
    assert oom.oom_kill_between(3, 3) is False
    assert oom.oom_kill_between(None, 3) is None and oom.oom_kill_between(3, None) is None


def test_this_machines_count_reads_as_a_number() -> None:
    # (Linux since 4.13: where sweepctl runs, the count is known.)
    count = oom.oom_kills()
    assert count is not None and count >= 0
