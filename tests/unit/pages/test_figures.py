"""The figure builders and the analysis under them, on trials whose answers are known (no Redis, no browser)."""

from __future__ import annotations

import math

from sweepctl.analysis.overview import best_so_far, failure_counts, overview, ranked, worker_usage
from sweepctl.pages.run_figures import curves_figure, failure_host_figure, timeline_figure
from sweepctl.pages.sampling import CURVE_POINTS_MAX, POINTS_MAX, best_and_spread, curve_trials, evenly
from sweepctl.pages.trial_figures import history_figure, parallel_figure, slice_figures
from sweepctl.records import GpuRef, MetricPoint, TrialState
from sweepctl.spec import Goal
from tests.unit.pages.synthetic import T0, curve_points, trial


def test_best_so_far_is_monotone_in_the_goals_direction() -> None:
    values = [5.0, 7.0, 3.0, 4.0, 1.0, 9.0]
    assert best_so_far(values, Goal.MINIMIZE) == [5.0, 5.0, 3.0, 3.0, 1.0, 1.0]
    assert best_so_far(values, Goal.MAXIMIZE) == [5.0, 7.0, 7.0, 7.0, 7.0, 9.0]


def test_history_draws_every_completed_trial_and_a_best_so_far_step_line_that_only_improves() -> None:
    # Given completed trials with objectives in a zig-zag, a failed one and a running one
    objectives = [3.0, 5.0, 2.0, 4.0, 1.0, 6.0, 0.5]
    trials = [trial(n + 1, objective=v) for n, v in enumerate(objectives)]
    trials += [trial(20, TrialState.FAILED), trial(21, TrialState.RUNNING, ended_at=None)]
    # When the history is drawn for a minimized metric
    fig = history_figure(trials, Goal.MINIMIZE, "loss")
    # Then the points are the completed trials' objectives, and the step line goes down only, ending at the best
    points, best = fig.data
    assert list(points.y) == objectives and list(points.customdata) == list(range(1, 8))
    assert all(b <= a for a, b in zip(best.y, best.y[1:])) and best.y[-1] == 0.5 and best.line.shape == "hv"
    assert fig.layout.xaxis.type == "date" and points.x[0] == round((T0 + 18) * 1000)


def test_parallel_coordinates_have_one_axis_per_parameter_and_the_objective_last() -> None:
    trials = [trial(n, objective=float(n)) for n in range(1, 11)]
    fig = parallel_figure(ranked(trials, Goal.MINIMIZE), Goal.MINIMIZE, "loss", ["lr", "opt.name", "layers"], {"lr"})
    (trace,) = fig.data
    labels = [d.label for d in trace.dimensions]
    assert labels == ["log10 lr", "opt.name", "layers", "loss"]
    lr, opt, _, loss = trace.dimensions
    assert sorted(set(lr.values)) == [-4.0, -3.0, -2.0, -1.0, 0.0]  # log10 of 10**-(n % 5)
    assert list(opt.ticktext) == ["adam", "sgd"] and set(opt.values) == {0, 1}
    assert list(loss.values) == [float(n) for n in range(1, 11)]


def test_slices_are_one_figure_per_parameter_with_log_and_category_axes() -> None:
    trials = [trial(n, objective=float(n)) for n in range(1, 11)]
    figures = slice_figures(ranked(trials, Goal.MINIMIZE), "loss", ["lr", "opt.name", "layers"], {"lr"})
    assert [f.layout.xaxis.type for f in figures] == ["log", "category", "linear"]
    assert list(figures[1].data[0].x) == ["adam" if n % 2 else "sgd" for n in range(1, 11)]


def test_a_parameter_absent_from_some_trials_is_a_category_axis_with_an_absent_level() -> None:
    trials = [trial(1, objective=1.0, params={"depth": 3}), trial(2, objective=2.0, params={})]
    fig = parallel_figure(ranked(trials, Goal.MINIMIZE), Goal.MINIMIZE, "loss", ["depth"], ())
    assert list(fig.data[0].dimensions[0].ticktext) == ["(absent)", "3"]


def test_sampling_keeps_the_best_half_and_caps_large_sweeps() -> None:
    # Given 10,000 completed trials
    trials = [trial(n, objective=float((n * 7919) % 10_000)) for n in range(1, 10_001)]
    order = ranked(trials, Goal.MINIMIZE)
    # When they are sampled for a scatter
    shown = best_and_spread(order)
    # Then at most POINTS_MAX are kept, every one of the best POINTS_MAX/2 among them, in number order
    assert len(shown) == POINTS_MAX
    numbers = {t.number for t in shown}
    assert {t.number for t in order[: POINTS_MAX // 2]} <= numbers
    assert [t.number for t in shown] == sorted(numbers)
    assert evenly(list(range(10)), 4) == [0, 3, 6, 9] and evenly([1, 2], 5) == [1, 2]


def test_curves_are_drawn_for_the_best_and_the_stopped_trials_stopped_ones_dashed_and_marked() -> None:
    # Given 60 completed trials and 30 stopped ones
    done = [trial(n, objective=float(n)) for n in range(1, 61)]
    stopped = [trial(n, TrialState.STOPPED) for n in range(61, 91)]
    chosen = curve_trials(ranked(done, Goal.MINIMIZE), done + stopped, cap=20)
    # Then 10 best and the 10 latest stopped are chosen
    assert [t.number for t in chosen] == list(range(1, 11)) + list(range(81, 91))
    # When their curves are drawn (one of them too long to draw whole)
    histories = {t.number: curve_points(t.number, 2000 if t.number == 1 else 10) for t in chosen}
    fig = curves_figure(chosen, histories, "loss")
    lines = [d for d in fig.data if d.mode == "lines"]
    crosses = [d for d in fig.data if d.mode == "markers"]
    assert len(lines) == 20 and len(crosses) == 10
    assert sum(1 for d in lines if d.line.dash == "dash") == 10
    assert len(lines[0].x) == CURVE_POINTS_MAX and lines[0].x[-1] == 2000.0
    assert all(c.marker.symbol == "x" for c in crosses)


def test_a_nan_in_a_curve_is_a_gap_and_points_without_steps_are_numbered() -> None:
    points = [MetricPoint(T0, None, {"loss": 1.0}), MetricPoint(T0, None, {"loss": math.nan}), MetricPoint(T0, None, {"acc": 1.0})]
    fig = curves_figure([trial(1, objective=1.0)], {1: points}, "loss")
    assert list(fig.data[0].x) == [1.0, 2.0] and list(fig.data[0].y) == [1.0, None]


def test_timeline_has_one_row_per_worker_and_usage_counts_the_idle_gaps() -> None:
    # Given two workers, each running a trial of 8 s every 20 s, and one trial still running
    trials = [trial(n, objective=1.0) for n in range(1, 7)] + [trial(7, TrialState.RUNNING, ended_at=None)]
    fig = timeline_figure(trials, now=T0 + 75)
    assert set(fig.layout.yaxis.categoryarray) == {"host0/gpu0/1", "host1/gpu0/1"}
    running = next(d for d in fig.data if d.name == "running")
    assert list(running.x) == [round((T0 + 70) * 1000), round((T0 + 75) * 1000), None]
    usage = {u.worker: u for u in worker_usage(trials[:6])}
    assert usage["host1/gpu0/1"].trials == 3 and usage["host1/gpu0/1"].busy_seconds == 24.0
    assert usage["host1/gpu0/1"].idle_seconds == 24.0 and usage["host1/gpu0/1"].longest_gap == 12.0


def test_overview_counts_gpu_hours_from_durations_and_gpus_and_budget() -> None:
    trials = [trial(n, objective=float(n)) for n in range(1, 4)] + [trial(4, TrialState.FAILED, gpu=None)]
    facts = overview(trials, Goal.MAXIMIZE, run_cap=10)
    assert facts.best is not None and facts.best.number == 3
    assert facts.by_state == {"completed": 3, "failed": 1} and facts.failures == 1
    assert math.isclose(facts.trial_hours, 4 * 8 / 3600) and math.isclose(facts.gpu_hours, 3 * 8 / 3600)
    assert overview([trial(1, gpu=GpuRef(0, "u"), objective=1.0)], Goal.MINIMIZE, None).run_cap is None


def test_failures_are_counted_by_reason_and_host_and_one_bad_host_stands_out() -> None:
    trials = [trial(n, TrialState.FAILED, host="bad", error=f"CUDA out of memory\nat step {n}") for n in range(1, 6)]
    taken_back = ({"attempt": 1, "worker": "bad/gpu0/9", "reason": "lease_expired"},)
    trials += [trial(6, TrialState.LOST, host="good"), trial(7, objective=1.0, host="good", lost_attempts=taken_back)]
    found = failure_counts(trials)
    assert found.by_reason == {"failed": 5, "lost": 1}
    assert found.by_host == {"bad": {"failed": 5}, "good": {"lost": 1}}
    assert found.errors[0] == ("CUDA out of memory", 5) and found.lost_attempts == {"bad/gpu0/9": 1}
    fig = failure_host_figure(found)
    assert [d.name for d in fig.data] == ["failed", "lost"] and list(fig.data[0].y) == [5, 0]


def test_a_metric_name_is_shown_as_written_in_every_figure_text() -> None:
    # Given a metric whose name Plotly would read as markup (a tag, an entity) and as a hover-template field.
    # (Plotly shows `&lt;`, `&amp;` and `&#123;` as the characters they stand for: checked in Chromium.)
    name = "top<b>1</b> & ndcg@10 %{y}"
    shown = "top&lt;b&gt;1&lt;/b&gt; &amp; ndcg@10 %&#123;y}"
    trials = [trial(n, objective=float(n)) for n in range(1, 4)]
    histories = {t.number: [MetricPoint(time=T0 + 1, step=1, values={name: 1.0})] for t in trials}
    ranking = ranked(trials, Goal.MINIMIZE)
    # When each figure that names the metric is drawn
    curves = curves_figure(trials, histories, name)
    history = history_figure(trials, Goal.MINIMIZE, name)
    parallel = parallel_figure(ranking, Goal.MINIMIZE, name, ["lr"], set())
    [slice_] = slice_figures(ranking, name, ["lr"], set())
    # Then every title, axis, label and hover text holds the escaped name, never the raw one
    texts = [
        curves.layout.title.text, curves.layout.yaxis.title.text, curves.data[0].hovertemplate,
        history.layout.title.text, history.layout.yaxis.title.text, history.data[0].hovertemplate,
        parallel.layout.title.text, parallel.data[0].dimensions[-1].label,
        slice_.layout.yaxis.title.text, slice_.data[0].hovertemplate,
    ]
    assert all(shown in text and name not in text for text in texts), texts
    # And the values are still found under the real name
    assert list(curves.data[0].y) == [1.0]
