"""Fixtures of the launcher tests (test_launcher, test_reused_process): a slot's launcher and a sweep folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from workers.trial_process import LauncherClient


@pytest.fixture
def launcher() -> Iterator[LauncherClient]:
    handle = LauncherClient(grace=1.0)
    yield handle
    handle.close()


@pytest.fixture
def folder(tmp_path: Path, request: pytest.FixtureRequest) -> Path:
    """A trial's folder holding objectives.py, written from the test module's OBJECTIVES."""
    (tmp_path / "objectives.py").write_text(request.module.OBJECTIVES)
    return tmp_path
