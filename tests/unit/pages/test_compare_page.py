"""The comparison's text rows (shared by the CLI table and the page) and its figures, from a known comparison."""

from __future__ import annotations

from sweepctl.analysis.compare import compare_sweeps
from sweepctl.pages.compare_page import best_so_far_figure, comparison_rows, importance_figure, render_comparison_page
from tests.unit.analysis.test_compare import bowl, sweep, trial


def test_rows_show_each_sweeps_numbers_and_the_page_holds_them_with_both_figures() -> None:
    # Given the known bowl sweep beside a 5-trial one that reports a different metric
    comparison = compare_sweeps([sweep("a", bowl(near_best=50.0)), sweep("b", [trial(n, float(n)) for n in range(1, 6)], metric="acc")])
    # When the rows are built
    rows = dict(comparison_rows(comparison))
    # Then each row has one cell per sweep, with the known figures at 4 significant digits
    assert rows["sweep"] == ["a", "b"] and rows["top 10%"] == ["2 trials", "1 trial"]
    assert rows["best"] == ["1 (trial 13)", "1 (trial 1)"]
    assert rows["trials to best"] == ["14", "1"]
    assert rows["failed"] == ["10.0% (2 of 20 finished)", "0.0% (0 of 5 finished)"]
    assert rows["importance"][0].startswith("x ") and rows["importance"][1] == "- (too few trials)"
    assert rows["top 10% x"] == ["1.2 .. 1.3", "0.1"]  # one value is shown once
    assert rows["top 10% momentum"] == ["0.12 (absent in 1)", "- (absent in 1)"]
    # And the figures draw one curve and one bar group per sweep that has a ranking
    assert len(best_so_far_figure(comparison).data) == 2
    assert [bar.name for bar in importance_figure(comparison).data] == ["a (random)"]
    # And the page carries the warning and the table, escaped, with Plotly inlined once
    page = render_comparison_page(comparison, now=0.0)
    assert "warning: the sweeps optimise different metrics (a: loss, b: acc)" in page
    assert "<td>top 10% opt.name</td><td>adam, sgd</td><td>adam</td>" in page
    assert page.count("<script type=\"text/javascript\">/**") == 1
