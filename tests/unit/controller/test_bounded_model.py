"""The bounded TPE model (`controller.suggesters.bounded`) and batch suggestions (`Suggester.suggest_batch`).

Pure: suggesters fed synthetic observations. The sample a model is fitted on must be a
function of the observation set and the seed (order-free, so a restarted controller that
replays the trials suggests the same), keep the best trials, stay within the bound, and
leave sweeps below the bound exactly as they were; a batch must suggest what the same
trials suggested one at a time would get.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator
from optuna.trial import FrozenTrial, TrialState, create_trial

from controller.suggester import Observation, Suggester
from controller.suggester_factory import make_suggester
from controller.suggesters import optuna_sampler
from controller.suggesters.bounded import (
    GOOD_KEPT,
    ModelSample,
    good_count_hyperopt,
    good_count_optuna,
    hyperopt_gamma_for,
)
from controller.suggesters.liar import LossStats, lie_value
from controller.suggesters.optuna_sampler import (
    NUMBER_ATTR,
    KnownSpaceSampler,
    Near,
    SampledGroupEstimator,
    _pairs_log_pdf,
    near_points,
)
from controller.suggesters.optuna_tpe import OptunaTpeSuggester
from controller.suggesters.random import RandomSuggester
from controller.suggesters.tpe import TpeSuggester
from sweepctl.space import Distribution, Parameter, SearchSpace
from sweepctl.spec import Method, TpeEngine, TpeOptions

SPACE = SearchSpace(
    (
        Parameter(("x",), Distribution.UNIFORM, min=0.0, max=1.0),
        Parameter(("y",), Distribution.UNIFORM, min=-2.0, max=2.0),
        Parameter(("k",), Distribution.CATEGORICAL, values=("a", "b", "c")),
    )
)
BOUND = 100  # the smallest bound allowed: binding at a few hundred observations keeps the tests fast


def loss(x: float, y: float, k: str) -> float:
    return (x - 0.3) ** 2 + (y - 0.5) ** 2 + (0.0 if k == "b" else 0.2)


def history(n: int, seed: int = 0, failing_every: int = 0) -> list[Observation]:
    """n finished random trials; every `failing_every`-th one failed (no loss)."""
    rng = np.random.default_rng(seed)
    found = []
    for number in range(1, n + 1):
        params = {"x": float(rng.random()), "y": float(rng.uniform(-2, 2)), "k": "abc"[int(rng.integers(3))]}
        failed = failing_every > 0 and number % failing_every == 0
        found.append(Observation(number, params, None if failed else loss(params["x"], params["y"], params["k"])))
    return found


def two_objectives(n: int) -> list[Observation]:
    found = []
    for obs in history(n):
        a = obs.params["x"]
        b = 1.0 - math.sqrt(float(obs.params["x"])) + abs(float(obs.params["y"])) / 4  # type: ignore[arg-type]
        found.append(Observation(obs.number, obs.params, float(a), (float(a), b)))  # type: ignore[arg-type]
    return found


Factory = Callable[[int | None], Suggester]

ENGINES: dict[str, Factory] = {
    "hyperopt": lambda bound: TpeSuggester(SPACE, 7, model_trials=bound),
    "optuna": lambda bound: OptunaTpeSuggester(SPACE, 7, model_trials=bound),
    "optuna-worst": lambda bound: OptunaTpeSuggester(SPACE, 7, model_trials=bound, lie="worst"),
}


# ------------------------------------------------------------------ the sample


def test_the_sample_is_a_function_of_the_set_not_the_order() -> None:
    # Given the same 400 trials added in number order one by one, shuffled in one call, and in uneven chunks
    trials = [(obs.number, (obs.loss if obs.loss is not None else math.inf,)) for obs in history(400, failing_every=9)]
    one_by_one, at_once, chunked = ModelSample(3, BOUND), ModelSample(3, BOUND), ModelSample(3, BOUND)
    for trial in trials:
        one_by_one.add([trial])
    shuffled = list(trials)
    random.Random(1).shuffle(shuffled)
    at_once.add(shuffled)
    for start in range(0, 400, 70):
        chunked.add(shuffled[start : start + 70])
        chunked.members()  # chosen in between: the cache must not leak into the answer
    # Then all three model the very same trials, no more than the bound allows
    assert one_by_one.members() == at_once.members() == chunked.members()
    assert BOUND // 2 <= len(at_once.members()) <= BOUND + at_once.epoch - 1
    # And another seed samples other trials (the sample is seeded, not fixed)
    other = ModelSample(4, BOUND)
    other.add(trials)
    assert other.members() != at_once.members()


def test_the_sample_keeps_the_best_trials_and_models_everything_below_the_bound() -> None:
    trials = [(obs.number, (obs.loss if obs.loss is not None else math.inf,)) for obs in history(1000, failing_every=5)]
    sample = ModelSample(0, 300)
    sample.add(trials[:300])
    # Given as many trials as the bound: every one is modelled
    assert not sample.binds and sample.members() == tuple(range(1, 301))
    sample.add(trials[300:])
    # Given 1000: the bound binds, and the GOOD_KEPT best of all of them are among the modelled
    best = sorted(trials, key=lambda t: (t[1][0], t[0]))[:GOOD_KEPT]
    assert sample.binds and len(sample.members()) <= 300 + sample.epoch - 1
    assert {number for number, _ in best} <= set(sample.members())
    # And failed trials (infinite loss) are sampled like any other non-best trial, not dropped
    assert any(trials[n - 1][1][0] == math.inf for n in sample.members())
    # And the trials kept for their loss (`whole`) are the best and members, the rest drawn by the sample
    assert {number for number, _ in best} <= sample.whole() < set(sample.members())
    assert len(sample.whole()) <= GOOD_KEPT + sample.epoch - 1


def test_below_the_bound_no_trial_is_kept_for_its_loss() -> None:
    sample = ModelSample(0, BOUND)
    sample.add([(obs.number, (obs.loss,)) for obs in history(BOUND)])
    assert sample.whole() == frozenset()


def test_with_several_objectives_each_objectives_best_are_kept() -> None:
    trials = [(obs.number, obs.losses or ()) for obs in two_objectives(500)]
    sample = ModelSample(0, BOUND, objectives=2)
    sample.add(trials)
    for i in range(2):
        best = sorted(trials, key=lambda t: (t[1][i], t[0]))[:GOOD_KEPT]
        assert {number for number, _ in best} <= set(sample.members())
    assert BOUND // 2 <= len(sample.members()) <= BOUND + sample.epoch - 1


def test_a_bound_below_the_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="model_trials"):
        ModelSample(0, 10)


@pytest.mark.parametrize("n_full", [1, 10, 99, 100, 101, 500, 1000, 9000, 9216, 9217, 10_000, 100_000])
@pytest.mark.parametrize("n_model", [100, 101, 333, 1000])
def test_the_good_group_is_sized_for_full_history(n_full: int, n_model: int) -> None:
    if n_model > n_full:
        return
    # hyperopt splits ceil(gamma * sqrt(n)) trials off as good: the adjusted gamma gives full history's count
    gamma = hyperopt_gamma_for(n_full, n_model)
    assert min(int(np.ceil(gamma * np.sqrt(n_model))), 25) == good_count_hyperopt(n_full)
    # and both engines' good groups fit in the best trials the sample keeps
    assert good_count_hyperopt(n_full) <= GOOD_KEPT and good_count_optuna(n_full) <= GOOD_KEPT


def test_the_optuna_sampler_is_told_full_historys_good_group() -> None:
    tpe = OptunaTpeSuggester(SPACE, 7, model_trials=BOUND)
    tpe.observe(history(150))
    assert tpe._sampler(1, 0)._gamma(BOUND) == good_count_optuna(150) == 15  # not 10% of the 100 modelled
    small = OptunaTpeSuggester(SPACE, 7, model_trials=BOUND)
    small.observe(history(50))
    assert small._sampler(1, 0)._gamma is None  # below the bound: Optuna's own default


@pytest.mark.parametrize("seed", range(5))
def test_the_optuna_engines_sampled_bad_group_estimates_full_historys_density_closer_than_the_bare_sample(seed: int) -> None:
    # Given 975 "bad" trials in 4-D, most near one region as a TPE run leaves them, and a uniform sample of 75
    rng = np.random.default_rng(seed)
    space = {f"x{i}": FloatDistribution(0, 1) for i in range(4)}
    points = np.concatenate([rng.uniform(0, 1, (300, 4)), rng.normal(0.3, 0.05, (675, 4)).clip(0, 1)])
    rng.shuffle(points)
    drawn = np.sort(rng.choice(len(points), 75, replace=False))
    sample = points[drawn]
    parameters = optuna.samplers.TPESampler(multivariate=True)._parzen_estimator_parameters
    full = _ParzenEstimator(columns(points), space, parameters)
    bare = _ParzenEstimator(columns(sample), space, parameters)
    shaped = SampledGroupEstimator(columns(sample), space, parameters, stands_for=[975 / 75] * 75, share=75 / 975)
    every = near_points(space)
    every.add(list(range(1, 976)), points)
    near = SampledGroupEstimator(
        columns(sample),
        space,
        parameters,
        stands_for=[975 / 75] * 75,
        share=75 / 975,
        numbers=[int(i) + 1 for i in drawn],
        near=Near(every, frozenset()),
    )
    # When each density is evaluated where TPE's candidates fall (near the good region, and anywhere)
    probes = columns(np.concatenate([rng.normal(0.3, 0.08, (300, 4)).clip(0, 1), rng.uniform(0, 1, (300, 4))]))
    truth = full.log_pdf(probes)
    # Then the sample weighted and shaped as full history is nearer full history's log density than the bare sample
    # (measured: mean absolute error 1.9-2.3 against 2.7-2.8, rank correlation 0.90-0.93 against 0.83-0.90), and
    # with the trials near each probe taken exactly, nearer still (0.27-0.30)
    error = {name: float(np.mean(np.abs(e.log_pdf(probes) - truth))) for name, e in (("bare", bare), ("shaped", shaped), ("near", near))}
    assert error["shaped"] < 0.9 * error["bare"], error
    assert error["near"] < 0.2 * error["shaped"], error


def test_the_trials_near_a_proposal_are_taken_once_whichever_way_they_are_in_the_model() -> None:
    # Given a "bad" group of 3 trials at one point, 2 of them sampled (standing for 1.5 each) and the third found
    # near the point asked along with them
    space = {"x": FloatDistribution(0, 1)}
    parameters = optuna.samplers.TPESampler(multivariate=True)._parzen_estimator_parameters
    every = near_points(space)
    every.add([1, 2, 3], np.array([[0.5], [0.5], [0.5]]))
    sampled = {"x": np.array([0.5, 0.5])}
    near = SampledGroupEstimator(
        sampled, space, parameters, stands_for=[1.5, 1.5], share=2 / 3, numbers=[1, 3], near=Near(every, frozenset())
    )
    # Then the density there is the whole group's, each trial counted once
    probe = {"x": np.array([0.5, 0.1])}
    assert near.log_pdf(probe) == pytest.approx(_ParzenEstimator({"x": np.array([0.5] * 3)}, space, parameters).log_pdf(probe))
    # And a trial kept in the model for its loss is taken there as itself, not again among those found
    kept = SampledGroupEstimator(
        sampled, space, parameters, stands_for=[1.0, 2.0], share=1 / 2, numbers=[1, 3], near=Near(every, frozenset({1}))
    )
    assert kept.log_pdf(probe) == pytest.approx(near.log_pdf(probe))


def test_the_density_over_chosen_pairs_is_optunas_over_every_kernel() -> None:
    # Given Optuna's estimator over trials of every kind of parameter it models
    rng = np.random.default_rng(5)
    space = {
        "a": FloatDistribution(0, 1),
        "b": FloatDistribution(1e-3, 10, log=True),
        "c": IntDistribution(0, 20),
        "d": IntDistribution(1, 1000, log=True),
        "e": CategoricalDistribution(("x", "y", "z")),
    }

    def draw(n: int) -> dict[str, np.ndarray]:
        return {
            "a": rng.random(n),
            "b": np.exp(rng.uniform(np.log(1e-3), np.log(10), n)),
            "c": rng.integers(0, 21, n).astype(float),
            "d": rng.integers(1, 1001, n).astype(float),
            "e": rng.integers(0, 3, n).astype(float),
        }

    estimator = _ParzenEstimator(draw(40), space, optuna.samplers.TPESampler(multivariate=True)._parzen_estimator_parameters)
    probes = draw(7)
    x = np.array([probes[name] for name in space]).T
    # Then over every (point, kernel) pair the density is Optuna's own; over some, that of those kernels alone
    kernels = len(estimator._mixture_distribution.weights)
    rows, every = np.repeat(np.arange(7), kernels), np.tile(np.arange(kernels), 7)
    assert _pairs_log_pdf(estimator._mixture_distribution, x, rows, every, 7) == pytest.approx(estimator.log_pdf(probes))
    some = _pairs_log_pdf(estimator._mixture_distribution, x, np.array([0, 0, 2]), np.array([3, 5, 3]), 7)
    assert np.isneginf(some[[1, 3, 4, 5, 6]]).all() and np.isfinite(some[[0, 2]]).all()


@pytest.mark.parametrize("lie", ["running", "best"])
def test_with_every_trial_found_near_the_bad_density_is_full_historys(lie: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given 600 trials of float, log, integer and categorical parameters, most crowding near the best, some failed,
    # and three pending, modelled on full history and on a bound of 100
    space = SearchSpace(
        (
            Parameter(("x",), Distribution.UNIFORM, min=0.0, max=1.0),
            Parameter(("y",), Distribution.LOG_UNIFORM_VALUES, min=1e-4, max=1.0),
            Parameter(("z",), Distribution.INT_UNIFORM, min=0, max=1000),
            Parameter(("k",), Distribution.CATEGORICAL, values=("a", "b", "c")),
        )
    )
    rng = np.random.default_rng(0)
    observations = []
    for n in range(1, 601):
        crowd = rng.random() < 0.6
        x = float(np.clip(rng.normal(0.3, 0.03), 0, 1)) if crowd else float(rng.random())
        y = float(np.exp(np.clip(rng.normal(np.log(1e-2), 0.2), np.log(1e-4), 0))) if crowd else float(np.exp(rng.uniform(np.log(1e-4), 0)))
        z = int(np.clip(rng.normal(300, 20), 0, 1000)) if crowd else int(rng.integers(0, 1001))
        k = "abc"[int(rng.integers(3))]
        loss = (x - 0.3) ** 2 + (np.log10(y) + 2) ** 2 / 16 + (z - 300) ** 2 / 1e6 + (k != "b") * 0.01
        observations.append(Observation(n, {"x": x, "y": y, "z": z, "k": k}, None if n % 17 == 0 else float(loss)))
    pending = [{"x": 0.3, "y": 0.01, "z": 300, "k": "b"}, {"x": 0.7, "y": 0.5, "z": 800, "k": "c"}]
    built: dict[tuple[bool, bool], _ParzenEstimator] = {}
    build = KnownSpaceSampler._build_parzen_estimator

    def keep(sampler: KnownSpaceSampler, study: optuna.Study, space: dict, trials: list, handle_below: bool) -> _ParzenEstimator:
        built[sampler._good is not None, handle_below] = estimator = build(sampler, study, space, trials, handle_below)
        return estimator

    monkeypatch.setattr(KnownSpaceSampler, "_build_parzen_estimator", keep)
    for bound in (0, BOUND):
        tpe = OptunaTpeSuggester(space, 5, model_trials=bound, lie=lie)
        tpe.observe(observations)
        tpe.suggest(601, pending)
    full, bounded = built[False, False], built[True, False]
    assert isinstance(bounded, SampledGroupEstimator)
    probes = built[False, True].sample(np.random.RandomState(0), 2000)  # where TPE's candidates fall
    truth = full.log_pdf(probes)
    # When every trial is near enough to be taken exactly, the bad density is full history's up to a constant
    # (the sample's weights sum to a little other than full history's; integer values that repeat are a little
    # wider than Optuna makes them, `NearPoints.axis_gaps`): measured spread 0.009
    monkeypatch.setattr(optuna_sampler, "REACH", 1000.0)
    monkeypatch.setattr(optuna_sampler, "MOST_NEAR", 10**6)
    assert float(np.std(bounded.log_pdf(probes) - truth)) < 0.03
    # And with the reach it has, far nearer to it than the sample alone (measured: spread 0.20-0.22 against 2.3-2.5)
    monkeypatch.undo()
    near = bounded._near
    error = float(np.std(bounded.log_pdf(probes) - truth))
    bounded._near = None
    assert error < 0.15 * float(np.std(bounded.log_pdf(probes) - truth))
    bounded._near = near


def test_each_bad_trial_stands_for_as_many_as_its_chance_to_be_modelled_says() -> None:
    # Given a model of a "bad" group of 500 finished trials: 2 kept for their loss (near the best), 48 drawn from
    # the other 498, a pending trial, and a lie told for another pending one (a COMPLETE trial with no number)
    distributions = {"x": FloatDistribution(0, 1)}
    sampler = KnownSpaceSampler(distributions, good=25, represented=525 + 1, whole=frozenset({1, 2}))

    def trial(number: int | None, state: TrialState = TrialState.COMPLETE) -> FrozenTrial:
        values = None if state is TrialState.RUNNING else [1.0]
        attrs = {} if number is None else {NUMBER_ATTR: number}
        return create_trial(params={"x": 0.5}, distributions=distributions, values=values, state=state, user_attrs=attrs)

    trials = [trial(1), trial(2), *(trial(n) for n in range(3, 51)), trial(None, TrialState.RUNNING), trial(None)]
    finished = [t.state is not TrialState.RUNNING for t in trials]
    stands_for = sampler._stands_for(trials, finished, 526 - 25)
    # Then a kept trial, the pending one and the lie each stand for themselves; a drawn one for its share of the rest
    assert stands_for is not None
    assert stands_for[:2] == [1.0, 1.0] and stands_for[-2:] == [1.0, 1.0]
    assert stands_for[2:-2] == pytest.approx([(501 - 3) / 48] * 48)
    assert sum(stands_for) == pytest.approx(501 + 1)  # full history's group: its finished trials and the pending one
    # And a group modelled whole is left to Optuna as it is
    assert sampler._stands_for(trials, finished, 51) is None


def test_the_optuna_engine_shapes_its_bad_group_only_while_the_bound_binds() -> None:
    tpe = OptunaTpeSuggester(SPACE, 7, model_trials=BOUND)
    tpe.observe(history(150))
    sampler = tpe._sampler(1, 0)
    assert (sampler._good, sampler._represented) == (good_count_optuna(150), 150)
    assert sampler._points is tpe._points and tpe._points is not None and len(tpe._points) == 150  # every trial
    small = OptunaTpeSuggester(SPACE, 7, model_trials=BOUND)
    small.observe(history(50))
    assert small._sampler(1, 0)._represented is None
    assert small._sampler(1, 0)._points is None


def columns(points: np.ndarray) -> dict[str, np.ndarray]:
    return {f"x{i}": points[:, i] for i in range(points.shape[1])}


def test_the_liars_statistics_match_a_pass_over_every_loss_in_any_order() -> None:
    losses = [0.1, 1e-17, 3.3, 2.0 / 3.0, -5.25, 1e16, math.inf, math.nan, 0.7]
    for lie in ("worst", "best", "mean"):
        forwards, backwards = LossStats(), LossStats()
        for x in losses:
            forwards.add(x)
        for x in reversed(losses):
            backwards.add(x)
        forwards.add(None)
        assert forwards.lie(lie) == backwards.lie(lie)
        assert forwards.lie(lie) == pytest.approx(lie_value(lie, losses), rel=1e-15)
    assert LossStats().lie("worst") is None


# ------------------------------------------------------------------ suggestions


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_below_the_bound_suggestions_are_full_historys(engine: str) -> None:
    # Given 80 finished trials, fewer than the default bound (and than BOUND)
    seen = history(80, failing_every=7)
    pending = [{"x": 0.5, "y": 0.0, "k": "a"}]
    suggestions = []
    for bound in (None, 0, BOUND):  # the default, every trial, the smallest bound
        tpe = ENGINES[engine](bound)
        tpe.observe(seen)
        suggestions.append([tpe.suggest(n, pending) for n in (81, 82)])
    # Then every bound suggests what full history does
    assert suggestions[0] == suggestions[1] == suggestions[2]


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_above_the_bound_a_restarted_controller_suggests_the_same(engine: str) -> None:
    # Given 300 finished trials (some failed), three times the bound, learnt as they came in
    seen = history(300, failing_every=11)
    running = ENGINES[engine](BOUND)
    for start in range(0, 300, 25):
        running.observe(seen[start : start + 25])
        running.suggest(start + 26, [])  # suggestions in between build the model part by part
    # When a restarted controller replays them in another order, in one call
    replayed = ENGINES[engine](BOUND)
    shuffled = list(seen)
    random.Random(5).shuffle(shuffled)
    replayed.observe(shuffled)
    # Then both suggest the same, with and without pending trials
    pending = [{"x": 0.31, "y": 0.49, "k": "b"}, {"x": 0.9, "y": -1.0, "k": "c"}]
    for number, told in ((301, []), (302, pending), (303, pending[:1])):
        assert running.suggest(number, told) == replayed.suggest(number, told)
    # And the bounded model differs from full history (the bound does bind)
    full = ENGINES[engine](0)
    full.observe(seen)
    assert [full.suggest(n, pending) for n in range(304, 310)] != [replayed.suggest(n, pending) for n in range(304, 310)]


def test_several_objectives_work_above_the_bound() -> None:
    seen = two_objectives(250)
    a, b = OptunaTpeSuggester(SPACE, 1, objectives=2, model_trials=BOUND), OptunaTpeSuggester(SPACE, 1, objectives=2, model_trials=BOUND)
    a.observe(seen)
    b.observe(list(reversed(seen)))
    assert a._sample.binds
    first = a.suggest(251, [{"x": 0.1, "y": 0.0, "k": "a"}])
    assert first is not None and first == b.suggest(251, [{"x": 0.1, "y": 0.0, "k": "a"}])
    assert len(a._observed_study().trials) <= BOUND + 2  # the model's trials, plus a scratch trial or two


# ------------------------------------------------------------------ batches


BATCHED: dict[str, Callable[[], Suggester]] = {
    "hyperopt": lambda: TpeSuggester(SPACE, 3, model_trials=BOUND),
    "hyperopt-mean": lambda: TpeSuggester(SPACE, 3, model_trials=BOUND, lie="mean"),
    "optuna": lambda: OptunaTpeSuggester(SPACE, 3, model_trials=BOUND),
    "optuna-best": lambda: OptunaTpeSuggester(SPACE, 3, model_trials=BOUND, lie="best"),
    "optuna-no-liar": lambda: OptunaTpeSuggester(SPACE, 3, constant_liar=False),
    "local-search": lambda: make_suggester(Method.TPE, SPACE, 3, TpeOptions(local_search=0.5, model_trials=BOUND)),
    "random": lambda: RandomSuggester(SPACE, 3),
}


@pytest.mark.parametrize("name", sorted(BATCHED))
@pytest.mark.parametrize("finished", [0, 150])
def test_a_batch_suggests_what_one_at_a_time_would(name: str, finished: int) -> None:
    # Given a suggester with `finished` trials (none: start-up draws; 150: past the bound) and two pending
    suggester = BATCHED[name]()
    suggester.observe(history(finished))
    pending = [{"x": 0.3, "y": 0.5, "k": "b"}, {"x": 0.7, "y": 1.0, "k": "a"}]
    numbers = list(range(finished + 3, finished + 9))
    # When six trials are suggested at once, and the same six one at a time, each seeing the earlier ones pending
    batch = suggester.suggest_batch(numbers, pending)
    running, single = list(pending), []
    for number in numbers:
        flat = suggester.suggest(number, running)
        assert flat is not None
        single.append(flat)
        running.append(flat)
    # Then the suggestions are the same, and a later suggestion is not changed by the batch having run
    assert batch == single
    assert len({tuple(sorted(map(str, s.items()))) for s in single}) == len(numbers)  # they spread out
    again = BATCHED[name]()
    again.observe(history(finished))
    assert again.suggest(numbers[0], pending) == suggester.suggest(numbers[0], pending)


def test_a_batch_refuses_trial_numbers_below_one() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        TpeSuggester(SPACE, 0).suggest_batch([0, 1])


def test_the_factory_passes_the_bound_and_zero_means_every_trial() -> None:
    for engine in (TpeEngine.HYPEROPT, TpeEngine.OPTUNA):
        default = make_suggester(Method.TPE, SPACE, 0, TpeOptions(engine=engine, local_search=0.0))
        full = make_suggester(Method.TPE, SPACE, 0, TpeOptions(engine=engine, local_search=0.0, model_trials=0))
        given = make_suggester(Method.TPE, SPACE, 0, TpeOptions(engine=engine, local_search=0.0, model_trials=500))
        assert [getattr(s, "model_trials") for s in (default, full, given)] == [1000, None, 500]
