"""W&B's distributions beyond the classic ones (inv_log_uniform[_values], beta, q_beta, normal with sigma 0),
drawn with W&B's exact meaning by every suggester.

The definition is W&B's own: the `sweeps` package's `HyperParameter.ppf` (the
inverse CDF its samplers use) is the oracle, and scipy.stats the reference
law the draws are tested against (Kolmogorov-Smirnov, fixed seeds). The TPE
engines have no beta: they model its quantile, so their prior draws must still
be Beta(a, b), and what they learn must move the values.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np
import pytest
import scipy.stats as stats
from sweeps.params import HyperParameter

from controller.suggester import Observation
from controller.suggesters.optuna_tpe import OptunaTpeSuggester
from controller.suggesters.random import RandomSuggester
from controller.suggesters.sampling import beta_quantile, beta_value, log_space_bounds, sample_parameter
from controller.suggesters.tpe import TpeSuggester
from sweepctl.space import Distribution, Parameter, SearchSpace
from sweepctl.sweepfile import parse_sweep

D = Distribution
DRAWS = 3000
# A KS p-value this low would wrongly fail a correct sampler once in 10**4 seeds; the seeds are fixed.
ALPHA = 1e-4

# name -> (W&B's parameter spec, the law W&B's ppf defines, as scipy.stats)
CONTINUOUS: dict[str, tuple[dict[str, Any], Any]] = {
    # exp(-u), u ~ U(0, 3): log-uniform over [e^-3, 1]
    "inv_log_uniform": ({"distribution": "inv_log_uniform", "min": 0, "max": 3}, stats.loguniform(math.exp(-3), 1.0)),
    # 1/X for X log-uniform over [1/0.5, 1/0.001]: log-uniform over [0.001, 0.5]
    "inv_log_uniform_values": ({"distribution": "inv_log_uniform_values", "min": 0.001, "max": 0.5}, stats.loguniform(0.001, 0.5)),
    "beta": ({"distribution": "beta", "a": 2, "b": 5}, stats.beta(2, 5)),
    "beta with W&B's defaults": ({"distribution": "beta"}, stats.beta(1, 1)),
    "skewed beta": ({"distribution": "beta", "a": 0.5, "b": 0.3}, stats.beta(0.5, 0.3)),
}


def parameter(spec: dict[str, Any]) -> Parameter:
    """The leaf `spec` parses to, as a sweep file's only parameter."""
    (p,) = parse_sweep({"method": "random", "program": "t.py", "parameters": {"x": spec}}).space.parameters
    return p


def random_draws(p: Parameter, n: int = DRAWS) -> list[Any]:
    suggester = RandomSuggester(SearchSpace((p,)), 11)
    return [suggester.suggest(number)[p.name] for number in range(1, n + 1)]  # type: ignore[index]


@pytest.mark.parametrize("name", sorted(CONTINUOUS))
def test_our_quantile_function_is_wandbs(name: str) -> None:
    # Given W&B's own definition of the distribution (its ppf)
    spec, _ = CONTINUOUS[name]
    wandb = HyperParameter("x", dict(spec))
    p = parameter(spec)
    # Then the value at each quantile is the same here: through the log-space bounds the
    # TPE engines model, or the beta's inverse CDF they model its quantile with
    for u in np.linspace(0.0, 1.0, 41):
        if p.distribution.is_beta:
            ours = beta_value(p, float(u))
        else:
            lo, hi = log_space_bounds(p)
            ours = math.exp(lo + float(u) * (hi - lo))
        assert ours == pytest.approx(float(wandb.ppf(u)), rel=1e-9, abs=1e-12), (name, u)


@pytest.mark.parametrize("name", sorted(CONTINUOUS))
def test_random_search_draws_the_wandb_law(name: str) -> None:
    # Given a parameter of the distribution / When random search draws 3000 trials
    spec, law = CONTINUOUS[name]
    values = random_draws(parameter(spec))
    # Then the draws are the law's (KS test), within its support
    assert stats.kstest(values, law.cdf).pvalue > ALPHA
    low, high = law.support()
    assert all(low <= v <= high for v in values)


def test_q_beta_rounds_a_beta_draw_to_multiples_of_q() -> None:
    # Given q_beta(a=2, b=2, q=0.25): W&B rounds each Beta draw to the nearest multiple of q
    p = parameter({"distribution": "q_beta", "a": 2, "b": 2, "q": 0.25})
    values = random_draws(p)
    # Then each multiple k*q has the Beta mass of [(k - 1/2) q, (k + 1/2) q] (chi-square test)
    grid = [0, 0.25, 0.5, 0.75, 1]
    assert set(values) <= set(grid)
    edges = [0.0, 0.125, 0.375, 0.625, 0.875, 1.0]
    expected = np.diff(stats.beta(2, 2).cdf(edges)) * len(values)
    observed = [values.count(k) for k in grid]
    assert stats.chisquare(observed, expected).pvalue > ALPHA


def test_q_beta_with_the_default_q_is_zero_or_one_as_integers() -> None:
    # W&B's q defaults to 1 (an int), so its q_beta values are the ints 0 and 1
    values = random_draws(parameter({"distribution": "q_beta", "a": 1, "b": 3}), 500)
    assert {type(v) for v in values} == {int}
    assert set(values) == {0, 1}
    # P(value = 1) = P(Beta(1, 3) >= 0.5) = 1/8
    assert values.count(1) / len(values) == pytest.approx(0.125, abs=0.05)


@pytest.mark.parametrize(
    ("spec", "value"),
    [
        ({"distribution": "normal", "mu": 0.3, "sigma": 0}, 0.3),
        ({"distribution": "log_normal", "mu": 1.0, "sigma": 0}, math.e),
        ({"distribution": "q_normal", "mu": 7.4, "sigma": 0, "q": 2}, 8),
    ],
)
def test_a_normal_with_sigma_zero_is_always_mu(spec: dict[str, Any], value: float) -> None:
    # Given sigma 0, which W&B's schema allows / Then every suggester gives the one value mu stands for
    p = parameter(spec)
    assert p.is_fixed
    space = SearchSpace((p, Parameter(("y",), D.UNIFORM, min=0.0, max=1.0)))
    random, tpe = RandomSuggester(space, 1), TpeSuggester(space, 1, n_startup_jobs=2)
    for number in range(1, 8):
        drawn, modelled = random.suggest(number), tpe.suggest(number)
        assert drawn is not None and drawn["x"] == pytest.approx(value)
        assert modelled is not None and modelled["x"] == pytest.approx(value)
        tpe.observe([Observation(number, modelled, modelled["y"])])


@pytest.mark.parametrize("name", ["beta", "skewed beta", "inv_log_uniform", "inv_log_uniform_values"])
def test_hyperopt_prior_draws_are_the_wandb_law(name: str) -> None:
    # Given hyperopt's TPE before it models anything (its own random start-up draws)
    spec, law = CONTINUOUS[name]
    p = parameter(spec)
    suggester = TpeSuggester(SearchSpace((p,)), 5, n_startup_jobs=10**6)
    values = [suggester.suggest(number)["x"] for number in range(1, 601)]  # type: ignore[index]
    # Then its draws over the modelled quantile (or log-space) are the W&B law itself
    assert stats.kstest(values, law.cdf).pvalue > ALPHA


@pytest.mark.parametrize("engine", ["hyperopt", "optuna"])
def test_tpe_learns_a_beta_parameter_through_its_quantile(engine: str) -> None:
    # Given a Beta(2, 5) parameter (median 0.26) whose loss is lowest at 0.6, in the prior's upper tail
    p = parameter({"distribution": "beta", "a": 2, "b": 5})
    law, target = stats.beta(2, 5), 0.6
    suggester: Any = (TpeSuggester if engine == "hyperopt" else OptunaTpeSuggester)(SearchSpace((p,)), 3, n_startup_jobs=10)
    # When 100 trials run, each observed
    values = []
    for number in range(1, 101):
        params = suggester.suggest(number)
        values.append(params["x"])
        suggester.observe([Observation(number, params, abs(params["x"] - target))])
    # Then TPE's last 40 suggestions stay in [0, 1] and land near 0.6 more than twice as often as the prior would
    late = values[-40:]
    assert all(0 <= v <= 1 for v in values)
    prior_share = law.cdf(target + 0.1) - law.cdf(target - 0.1)
    assert sum(abs(v - target) < 0.1 for v in late) > 2 * prior_share * len(late)
    assert statistics.median(late) > 0.4 > law.median()


def test_beta_quantile_inverts_beta_value() -> None:
    # The TPE engines read an observed value back as its quantile: the round trip is exact
    p = parameter({"distribution": "beta", "a": 0.7, "b": 3})
    for u in (0.0, 0.01, 0.3, 0.5, 0.99, 1.0):
        assert beta_quantile(p, beta_value(p, u)) == pytest.approx(u, abs=1e-9)


def test_sampling_a_beta_parameter_needs_no_engine() -> None:
    # sample_parameter (random search, TPE start-up) draws numpy's Beta directly
    p = parameter({"distribution": "beta", "a": 3, "b": 1})
    rng = np.random.default_rng(0)
    assert statistics.mean(sample_parameter(p, rng) for _ in range(2000)) == pytest.approx(0.75, abs=0.02)
