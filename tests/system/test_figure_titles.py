"""A figure's title is never under Plotly's tool bar, however long the user's metric name: checked in headless Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweepctl.analysis.importance import ImportanceReport, ParameterImportance
from sweepctl.pages.page import Section, render_page
from sweepctl.pages.trial_figures import importance_figure
from tests.support.browser import open_page

pytestmark = pytest.mark.system

# Each plot's title box and tool-bar box (present in the page even before a hover shows the bar), and whether they meet.
PROBE = """() => [...document.querySelectorAll('.js-plotly-plot')].map(plot => {
  const title = plot.querySelector('.gtitle').getBoundingClientRect();
  const bar = plot.querySelector('.modebar').getBoundingClientRect();
  const meet = !(title.right <= bar.left || bar.right <= title.left || title.bottom <= bar.top || bar.bottom <= title.top);
  return {meet, title: [title.left, title.top, title.right, title.bottom], bar: [bar.left, bar.top, bar.right, bar.bottom]};
})"""


def report(metric: str) -> ImportanceReport:
    shares = [("learning_rate", 0.6, -0.7), ("batch_size", 0.2, 0.3)]
    parameters = tuple(ParameterImportance(n, v, (v * 0.7, v * 1.2), c, (c - 0.1, c + 0.1)) for n, v, c in shares)
    return ImportanceReport(metric, 240, 0.83, True, parameters)


def test_titles_start_below_the_tool_bar_in_a_narrow_grid_and_a_wide_page(tmp_path: Path) -> None:
    # Given importance figures whose titles run wider than the figure, side by side (narrow) and one per row (wide)
    long = "validation/accuracy_of_the_held_out_fold_averaged_over_seeds"
    figures = tuple(importance_figure(report(f"{long}_{i}")) for i in range(2))
    sections = [Section("grid", "side by side", figures=figures, grid=True), Section("rows", "one per row", figures=figures)]
    page = tmp_path / "titles.html"
    page.write_text(render_page("titles", sections))
    # When the page is drawn in headless Chromium
    check = open_page(page.as_uri(), tmp_path / "titles.png", probe=PROBE)
    # Then every plot is drawn, and no title meets its tool bar
    assert check.plots == 4 and not check.unrendered_plots and not check.page_errors
    assert len(check.probed) == 4 and not any(b["meet"] for b in check.probed), check.probed
