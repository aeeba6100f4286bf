"""The rendered page: self-contained, every user string escaped, sections as the list says."""

from __future__ import annotations

import re
from dataclasses import replace

from sweepctl.pages.page import Section
from sweepctl.pages.sweep_page import SECTIONS, SweepView, curve_numbers, gpu_usage, render_sweep_page
from sweepctl.records import GpuUsage, Sweep, SweepState, TrialState
from sweepctl.sweepfile import parse_sweep
from tests.unit.pages.synthetic import SPEC, T0, curve_points, trial

HOSTILE = "</script><script>alert(1)</script>"


def view_of(trials: list, **spec: object) -> SweepView:
    parsed = parse_sweep({**SPEC, **spec})
    histories = {n: curve_points(1.0, 5) for n in curve_numbers(parsed, trials)}
    return SweepView(Sweep("s1", {**SPEC, **spec}, SweepState.FINISHED, 1, T0), parsed, tuple(trials), histories, T0 + 500)


def test_the_page_inlines_plotly_once_and_loads_nothing_from_the_network() -> None:
    page = render_sweep_page(view_of([trial(n, objective=float(n)) for n in range(1, 6)]))
    assert page.count("<script type=\"text/javascript\">/**") == 1  # plotly.js, inlined
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']?https?:", page)
    assert "@import" not in page and "fonts.googleapis" not in page


def test_user_strings_are_escaped_in_tables_and_inert_in_figures() -> None:
    # Given a sweep whose name, a trial's error, host and parameter values are markup
    trials = [trial(1, objective=1.0, params={"lr": 0.1, "opt": {"name": HOSTILE}, "layers": 1}),
              trial(2, TrialState.FAILED, error=HOSTILE, host=HOSTILE)]
    page = render_sweep_page(view_of(trials, name=HOSTILE))
    # Then none of it comes out as a tag: tables escape it, figure data is JSON with "</" escaped
    assert "<script>alert(1)" not in page
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in page


def test_the_best_trials_reproducibility_record_is_on_the_page() -> None:
    page = render_sweep_page(view_of([trial(n, objective=float(n)) for n in range(1, 6)]))
    assert "Best trial: 1" in page and "python train.py --lr=0.1" in page and "abc123" in page
    assert "1001" in page and "sha256:feed" in page and "GPU-1" in page


def test_sections_are_a_list_a_builder_returning_none_is_left_out() -> None:
    extra = (lambda view: Section("extra", "Extra section", "<p>more</p>"), lambda view: None)
    view = view_of([trial(1, objective=1.0)])
    built = [builder for builder in SECTIONS if builder(view) is not None]
    page = render_sweep_page(view, sections=(*SECTIONS, *extra))
    assert page.count("<section") == len(built) + 1 and 'href="#extra"' in page


def test_a_sweep_without_completed_trials_still_renders_its_summary() -> None:
    page = render_sweep_page(view_of([trial(1, TrialState.FAILED, error="boom")]))
    assert "No trial has completed yet." in page and "boom" in page and 'id="history"' not in page


def test_gpu_use_is_shown_per_trial_and_mostly_idle_trials_are_listed() -> None:
    # Given two trials that kept their GPU busy, one that left it idle, and one that ran without a GPU
    busy = GpuUsage(samples=10, mean_util_percent=87.0, max_util_percent=99.0, peak_memory_bytes=12 * 2**30)
    idle = GpuUsage(samples=10, mean_util_percent=3.0, max_util_percent=9.0, peak_memory_bytes=2**29)
    trials = [trial(1, objective=1.0, gpu_usage=busy), trial(2, objective=2.0, gpu_usage=busy),
              trial(3, objective=3.0, gpu_usage=idle), trial(4, objective=4.0, gpu=None)]
    # When the page is rendered
    view = view_of(trials)
    section = gpu_usage(view)
    # Then the section plots every GPU trial, busy and idle apart, and lists the idle one
    assert section is not None and "3 trials ran on a GPU; 1 left it mostly idle." in section.body
    (figure,) = section.figures
    assert [(t.name, list(t.x)) for t in figure.data] == [("busy", [1, 2]), ("mostly idle", [3])]
    assert "3% 0.5GiB idle GPU" in section.body
    assert 'id="gpu"' in render_sweep_page(view)
    # And a sweep without GPU trials has no such section
    assert gpu_usage(view_of([trial(1, objective=1.0)])) is None


def test_a_clone_says_which_sweep_it_was_cloned_from_and_another_sweep_says_nothing_of_it() -> None:
    view = view_of([trial(1, objective=1.0)])
    cloned = SweepView(replace(view.sweep, cloned_from="k3j9x2ab"), view.spec, view.trials, view.histories, view.now)
    page = render_sweep_page(cloned)
    assert "cloned from" in page and "k3j9x2ab" in page
    assert "cloned from" not in render_sweep_page(view)
