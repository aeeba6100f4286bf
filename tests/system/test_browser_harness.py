"""The headless-browser harness catches what it claims to: network requests, console and page errors, undrawn plots, blank pages."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.browser import open_page

pytestmark = pytest.mark.system

BAD = """<!DOCTYPE html><html><head><script src="http://example.invalid/lib.js"></script></head>
<body><h1>Some title</h1><p>text</p><div id="p1" class="plotly-graph-div"></div>
<script>console.error("something broke"); undefinedFunction();</script></body></html>"""


def test_a_page_that_fetches_logs_errors_and_draws_nothing_fails_every_check(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text(BAD)
    check = open_page(page.as_uri(), tmp_path / "bad.png", timeout_s=3)
    assert check.blocked_requests == ["http://example.invalid/lib.js"]
    assert any("something broke" in e for e in check.console_errors)
    assert any("undefinedFunction" in e for e in check.page_errors)
    assert check.plots == 1 and check.unrendered_plots == ["p1"]
    assert len(check.problems()) >= 4


def test_a_blank_page_is_reported_blank(tmp_path: Path) -> None:
    page = tmp_path / "blank.html"
    page.write_text("<!DOCTYPE html><html><body></body></html>")
    check = open_page(page.as_uri(), tmp_path / "blank.png")
    assert check.colours < 16 and check.problems() == [f"screenshot looks blank: {check.colours} distinct colours"]
