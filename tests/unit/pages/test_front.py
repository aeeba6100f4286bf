"""The Pareto front on the page: drawn among the other trials (two objectives: a scatter, more: a scatter matrix) and listed."""

from __future__ import annotations

from sweepctl.analysis.pareto import pareto_front
from sweepctl.pages.front_figures import FRONT_NAME, front_figure
from sweepctl.pages.sweep_page import SweepView, curve_numbers, pareto, render_sweep_page
from sweepctl.records import Sweep, SweepState, Trial, TrialState
from sweepctl.sweepfile import parse_sweep
from tests.unit.pages.synthetic import SPEC, T0, trial

TWO = [{"name": "accuracy", "goal": "maximize"}, {"name": "latency"}]
THREE = [*TWO, {"name": "memory"}]


def measured(number: int, accuracy: float, latency: float, memory: float = 1.0, state: TrialState = TrialState.COMPLETED) -> Trial:
    return trial(number, state, objective=accuracy, last_metrics={"accuracy": accuracy, "latency": latency, "memory": memory})


# Trials 1, 2, 4 and 6 trade accuracy for latency; 3 and 5 are beaten by 1 and 2; 7 failed.
TRIALS = [
    measured(1, 0.90, 30.0),
    measured(2, 0.80, 10.0),
    measured(3, 0.85, 40.0, memory=0.5),
    measured(4, 0.95, 80.0),
    measured(5, 0.80, 12.0),
    measured(6, 0.70, 5.0),
    measured(7, 0.99, 1.0, state=TrialState.FAILED),
]


def view_of(trials: list[Trial], metric: object) -> SweepView:
    raw = {**SPEC, "metric": metric}
    spec = parse_sweep(raw)
    histories: dict[int, list] = {n: [] for n in curve_numbers(spec, trials)}
    return SweepView(Sweep("s1", raw, SweepState.FINISHED, 1, T0), spec, tuple(trials), histories, T0 + 500)


def test_two_objectives_draw_the_front_joined_over_the_other_trials() -> None:
    spec = parse_sweep({**SPEC, "metric": TWO})
    front = pareto_front(TRIALS, spec.objectives)
    fig = front_figure(TRIALS, front)
    others, line = fig.data
    # The other completed trials are grey points; the failed one is not drawn
    assert [c[0] for c in others.customdata] == [3, 5]
    # The front's trials are joined in the order of the first objective, best first
    assert line.name == FRONT_NAME and line.mode == "lines+markers"
    assert list(line.x) == [0.95, 0.90, 0.80, 0.70] and list(line.y) == [80.0, 30.0, 10.0, 5.0]
    assert [c[0] for c in line.customdata] == [4, 1, 2, 6]
    assert (fig.layout.xaxis.title.text, fig.layout.yaxis.title.text) == ("accuracy (maximize)", "latency (minimize)")
    assert fig.layout.title.text == "Pareto front: 4 of 6 completed trials"


def test_three_objectives_draw_a_scatter_matrix_with_the_front_over_the_others() -> None:
    spec = parse_sweep({**SPEC, "metric": THREE})
    front = pareto_front(TRIALS, spec.objectives)
    assert front.numbers == (4, 1, 3, 2, 6)  # 3 uses the least memory: on the front now
    others, on_front = front_figure(TRIALS, front).data
    assert (others.type, on_front.type) == ("splom", "splom")
    assert [d.label for d in on_front.dimensions] == ["accuracy (maximize)", "latency (minimize)", "memory (minimize)"]
    assert list(on_front.dimensions[2].values) == [1.0, 1.0, 0.5, 1.0, 1.0]
    assert [c[0] for c in others.customdata] == [5]


def test_the_page_of_a_sweep_with_several_objectives_shows_its_front_in_place_of_a_best_trial() -> None:
    many = TRIALS + [measured(n, 0.5 + 0.03 * (n % 7), 50.0 + n) for n in range(8, 20)]
    page = render_sweep_page(view_of(many, TWO))
    assert 'id="pareto"' in page and "Best trial:" not in page
    assert "accuracy (maximize), latency (minimize)" in page  # the summary and the subtitle name both objectives
    assert "4 of 18 completed trials: 4, 1, 2, 6" in page
    # And importance is drawn for each objective
    assert page.count("importance of accuracy") == 1 and page.count("importance of latency") == 1


def test_metric_names_are_text_in_the_figure_and_the_page() -> None:
    hostile = [{"name": "<b>acc</b>", "goal": "maximize"}, {"name": "lat%{x}"}]
    trials = [trial(n, objective=float(n), last_metrics={"<b>acc</b>": float(n), "lat%{x}": float(n)}) for n in (1, 2)]
    section = pareto(view_of(trials, hostile))
    assert section is not None
    (fig,) = section.figures
    assert fig.layout.xaxis.title.text == "&lt;b&gt;acc&lt;/b&gt; (maximize)"
    assert "lat%&#123;x} %{customdata[2]:.6g}" in fig.data[1].hovertemplate  # shown as written, not read as a field
    assert "<b>acc</b>" not in section.body and "&lt;b&gt;acc&lt;/b&gt;" in section.body


def test_before_any_trial_completes_the_front_section_says_so_and_a_single_metric_has_none() -> None:
    section = pareto(view_of([measured(1, 0.9, 1.0, state=TrialState.FAILED)], TWO))
    assert section is not None and "No trial has completed" in section.body and not section.figures
    assert pareto(view_of(TRIALS, {"name": "loss"})) is None


def test_the_front_list_shows_objectives_to_4_significant_digits_and_parameters_exactly() -> None:
    # Given a front trial whose values carry float noise (0.1 + 0.2) and a parameter with many digits
    noisy = trial(1, objective=0.30000000000000004, last_metrics={"accuracy": 0.30000000000000004, "latency": 2.6799999999999997})
    noisy = Trial(**{**noisy.__dict__, "params": {"lr": 0.004460245090006430}})
    section = pareto(view_of([noisy], TWO))
    # Then the list reads as `best` prints it, and the parameter can still be copied exactly
    assert section is not None and "<code>0.3</code>" in section.body and "<code>2.68</code>" in section.body
    assert "0.30000000000000004" not in section.body and "lr=0.00446024509000643" in section.body
