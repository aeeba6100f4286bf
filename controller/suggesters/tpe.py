"""TPE search through hyperopt: the only module of sweepctl that imports hyperopt.

The search space becomes a hyperopt space labelled by `Parameter.name`;
parameters that cannot vary (`Parameter.is_fixed`: constants, one-value
categoricals, min == max, sigma 0) stay out of it and are added back to every suggestion. `fmin` is not used: finished
trials go into a `hyperopt.Trials` as done documents (trial id = trial number)
and `hyperopt.tpe.suggest` is called once per suggestion with a seed derived
from `trial_rng(seed, number)`.

Mapping to hyperopt (bounds of log distributions are taken in log space):
  uniform -> uniform; q_uniform -> quniform; int_uniform -> quniform(min - 0.5,
  max + 0.5, 1), so the end values get a whole integer's share of the prior, not
  half; log_uniform[_values] -> loguniform; q_log_uniform[_values] ->
  qloguniform; inv_log_uniform[_values] -> loguniform over their log-space
  bounds (both are log-uniform over their values: `controller.suggesters.sampling`);
  normal, q_normal, log_normal, q_log_normal -> their namesakes;
  beta, q_beta -> uniform(0, 1) over the Beta(a, b) quantile, mapped to the value by
  the inverse CDF (hyperopt has no beta; the prior is then exactly Beta(a, b), and TPE
  models the quantile, in which the beta's mass is spread evenly);
  categorical -> choice (pchoice with probabilities) over value indices.

Trials that failed (loss None or NaN) are kept as hyperopt "fail" documents,
which TPE ranks with an infinite loss: regions that crash are avoided.
Observations that do not fit the space (a missing parameter, a categorical value
not among `values`, a number out of range or of the wrong type, e.g. after the
sweep file changed) are skipped with a warning and listed in `skipped`.
Trials still running (`pending`) are told to TPE as finished with a made-up
loss, the constant liar (Ginsbourger et al.): "worst" (the default) lies with
the worst loss seen so far, which pushes concurrent suggestions away from each
other; "mean" and "best" lie less pessimistically. hyperopt's TPE reads a loss
only through its rank against the split into "good" trials (the best
ceil(0.25 * sqrt(n))) and the rest, so any lie outside the good ones weighs the
same: "mean" suggests exactly what "worst" does unless the losses are skewed
that far, and "best" puts pending trials among the good ones, pulling
suggestions towards them. With `constant_liar=False`,
parallel suggestions differ only through their seeds and crowd the same optimum.
Lies count toward `n_startup_jobs`, as running trials do in hyperopt's own
asynchronous mode (`tpe.suggest` counts every document, and ranks a running one
as if its loss were infinite, which is the "worst" lie): the start-up ends after
that many suggestions, not results, so with W workers TPE starts modelling from
n_startup_jobs - (W - 1) real results. Counting only real results would add W - 1
random draws; in benchmarks/parallel_quality.py that was no better at 8 workers
and clearly worse at 32 (Branin @200: median score 0.51 against 0.68).

Past `model_trials` observations (default 1000) TPE is fitted on the best trials and a
seeded sample of the rest (`controller.suggesters.bounded`), and `tpe.suggest` gets the
gamma that makes its good group the one full history gives; the start-up decision is
taken on the full count. A batch (`suggest_batch`) adds each draw's lie document to the
ones already built instead of building them again.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from hyperopt import Domain, Trials, hp, tpe
from hyperopt.base import JOB_STATE_DONE, STATUS_FAIL, STATUS_OK

from controller.suggester import Draws, Observation, trial_rng
from controller.suggesters.bounded import hyperopt_gamma_for
from controller.suggesters.liar import TOLD_LIES
from controller.suggesters.sampling import (
    beta_quantile,
    beta_value,
    log_space_bounds,
    received_value,
    sample_parameter,
)
from controller.suggesters.tpe_base import BaseTpeSuggester
from sweepctl.space import JSON, Distribution, FlatAssignment, Parameter
from sweepctl.space_fit import Choices, number_in_range

DEFAULT_N_STARTUP_JOBS = 20  # hyperopt's own default: random draws before TPE takes over
# Local search on numeric spaces unless the file says `local_search: 0` (issue 16 item 7). In
# benchmarks/parallel_quality.py (Branin, Hartmann6, Rosenbrock-10D at 100 and 200 trials, 1 and 8
# workers, 48 seeds) 0.75 scored highest of the shares tried (1.59x stock TPE's pooled score, against
# 1.51x for 0.5 and 1.31x for 0.25), ahead of stock in all 12 cells; confirmed on fresh seeds (README there).
DEFAULT_LOCAL_SEARCH = 0.75
LIES = TOLD_LIES
_LIE_TID_BASE = 10**12  # made-up trial ids for pending trials, far above any real trial number
_SEED_BOUND = 2**31 - 1
_DEFAULT_GAMMA = 0.25  # hyperopt's own (tpe._default_gamma)
_DOC_FACTORY = Trials()  # builds trial documents; holds none


def _hyperopt_node(p: Parameter) -> Any:
    """The hyperopt distribution for a parameter that is not fixed."""
    d, label = p.distribution, p.name
    if d is Distribution.CATEGORICAL:
        if p.probabilities is None:
            return hp.choice(label, list(range(len(p.values))))
        total = float(sum(p.probabilities))
        return hp.pchoice(label, [(w / total, i) for i, w in enumerate(p.probabilities)])
    if d is Distribution.INT_UNIFORM:
        assert p.min is not None and p.max is not None
        return hp.quniform(label, math.ceil(p.min) - 0.5, math.floor(p.max) + 0.5, 1)
    if d.is_beta:
        return hp.uniform(label, 0.0, 1.0)  # the quantile (see the module docstring)
    if d.is_bounded:
        lo, hi = log_space_bounds(p)
        if d is Distribution.UNIFORM:
            return hp.uniform(label, lo, hi)
        if d is Distribution.Q_UNIFORM:
            return hp.quniform(label, lo, hi, p.q)
        if d.is_quantized:
            return hp.qloguniform(label, lo, hi, p.q)
        return hp.loguniform(label, lo, hi)
    normal_nodes = {
        Distribution.NORMAL: lambda: hp.normal(label, p.mu, p.sigma),
        Distribution.Q_NORMAL: lambda: hp.qnormal(label, p.mu, p.sigma, p.q),
        Distribution.LOG_NORMAL: lambda: hp.lognormal(label, p.mu, p.sigma),
        Distribution.Q_LOG_NORMAL: lambda: hp.qlognormal(label, p.mu, p.sigma, p.q),
    }
    return normal_nodes[d]()


class _Encoder:
    """Translates one parameter's received values to hyperopt's internal values and back."""

    def __init__(self, p: Parameter) -> None:
        self.p = p
        self.choices = Choices(p) if p.distribution is Distribution.CATEGORICAL else None

    def to_internal(self, value: JSON) -> float | None:
        """hyperopt's value for `value` (index for categoricals), or None if not in the space."""
        if self.choices is not None:
            index = self.choices.index(value)
            return None if index is None else float(index)
        number = number_in_range(self.p, value)
        if number is not None and self.p.distribution.is_beta:
            return beta_quantile(self.p, number)
        return number

    def from_internal(self, raw: float) -> JSON:
        """The value a program receives for hyperopt's `raw`."""
        if self.p.distribution is Distribution.CATEGORICAL:
            return copy.deepcopy(self.p.values[int(raw)])
        if self.p.distribution.is_beta:
            return beta_value(self.p, raw)
        return received_value(self.p, raw)


def _never_called(params: Any) -> None:
    raise AssertionError("sweepctl drives hyperopt without fmin; the objective runs elsewhere")


class TpeSuggester(BaseTpeSuggester):
    """Tree-structured Parzen Estimator search (hyperopt 0.3's `tpe.suggest`).

    Suggestions are random draws until `n_startup_jobs` trials have been
    observed (failed ones included) or, with the liar, are pending; after that
    TPE models good and bad regions (defaults: 20 start-up jobs, the liar on, lying "worst").
    `DEFAULT_LOCAL_SEARCH` is not applied here: the factory wraps the engine in
    `controller.suggesters.local.LocalSearch` when the sweep file leaves `local_search` out.
    Cost per suggestion grows linearly with the observations modelled, at most `model_trials`.
    """

    DEFAULT_N_STARTUP_JOBS = DEFAULT_N_STARTUP_JOBS
    DEFAULT_LIE = "worst"
    DEFAULT_LOCAL_SEARCH = DEFAULT_LOCAL_SEARCH
    LIES = LIES

    def _model_space(self) -> None:
        some_rng = np.random.default_rng(0)  # fixed parameters draw nothing from it
        self._fixed = {p.name: sample_parameter(p, some_rng) for p in self.space.parameters if p.is_fixed}
        self._encoders = {p.name: _Encoder(p) for p in self.space.parameters if not p.is_fixed}
        self._domain: Domain | None = None
        if self._encoders:
            hyperopt_space = {name: _hyperopt_node(e.p) for name, e in self._encoders.items()}
            self._domain = Domain(_never_called, hyperopt_space)
        # How many observed trials fit the space. Their documents are built only for the model's members
        # (`_model_docs`): a hyperopt document is ~3 KB, which at 100,000 trials was 300 MB of a controller.
        self._fitting = 0
        self._model: tuple[tuple[int, ...], list[dict[str, Any]]] = ((), [])  # members, their documents

    def _learn(self, new: Sequence[Observation]) -> None:
        for obs in new:
            # The liar's losses are every observed one, as before (fitting or not).
            self._loss_stats[0].add(obs.loss)
        if self._domain is None:
            return
        taken: list[tuple[int, Sequence[float]]] = []
        for obs in new:
            vals = self._internal_vals(obs)
            if vals is None:
                self._skip(obs.number)
                continue
            self._fitting += 1
            # Ranked as tpe.suggest ranks them: a failed trial's loss is infinite.
            taken.append((obs.number, (math.inf if obs.failed or obs.loss is None else obs.loss,)))
        self._sample.add(taken)

    def _internal_vals(self, obs: Observation) -> dict[str, float] | None:
        vals: dict[str, float] = {}
        for name, encoder in self._encoders.items():
            if name not in obs.params:
                return None
            internal = encoder.to_internal(obs.params[name])
            if internal is None:
                return None
            vals[name] = internal
        return vals

    def _done_doc(self, obs: Observation, vals: dict[str, float]) -> dict[str, Any]:
        assert self._domain is not None
        tid = obs.number
        misc = {
            "tid": tid,
            "cmd": self._domain.cmd,
            "workdir": self._domain.workdir,
            "idxs": {name: [tid] for name in vals},
            "vals": {name: [value] for name, value in vals.items()},
        }
        loss = None if obs.failed else obs.loss
        result: dict[str, Any] = (
            {"status": STATUS_FAIL} if loss is None else {"status": STATUS_OK, "loss": loss}
        )
        doc: dict[str, Any] = _DOC_FACTORY.new_trial_docs([tid], [None], [result], [misc])[0]
        doc["state"] = JOB_STATE_DONE
        return doc

    def _model_docs(self) -> list[dict[str, Any]]:
        """The documents of the trials the model is fitted on (`ModelSample`), rebuilt only when they change."""
        members = self._sample.members()
        if members != self._model[0]:
            built = dict(zip(*self._model))  # the documents of members that stay are reused
            self._model = (members, [built.get(n) or self._member_doc(n) for n in members])
        return self._model[1]

    def _member_doc(self, number: int) -> dict[str, Any]:
        obs = self._observations[number]
        vals = self._internal_vals(obs)
        assert vals is not None  # only trials that fit the space are sampled (`_learn`)
        return self._done_doc(obs, vals)

    def _lie_doc(self, index: int, params: FlatAssignment, lie: float) -> dict[str, Any] | None:
        """Pending trial `index` as a done document with the lie for its loss; None when it does not fit."""
        told = Observation(number=_LIE_TID_BASE + index, params=params, loss=lie)
        vals = self._internal_vals(told)
        return None if vals is None else self._done_doc(told, vals)

    def _draws(self, pending: list[FlatAssignment]) -> Draws:
        return _HyperoptDraws(self, pending)

    def _assemble(self, vals: dict[str, Any]) -> FlatAssignment:
        drawn = {name: e.from_internal(vals[name][0]) for name, e in self._encoders.items()}
        return {
            p.name: copy.deepcopy(self._fixed[p.name]) if p.name in self._fixed else drawn[p.name]
            for p in self.space.parameters
        }


class _HyperoptDraws(Draws):
    """Draws on one model: the observed trials the model takes, plus a lie document per pending trial.

    The lie documents are numbered in pending order (`_LIE_TID_BASE` + i), so a draw in a
    batch sees exactly the documents `suggest` would build for the same pending list.
    """

    def __init__(self, engine: TpeSuggester, pending: list[FlatAssignment]) -> None:
        super().__init__(engine, pending)
        self.engine = engine
        lie = engine._lie_losses()
        self.lie = lie[0] if engine.constant_liar and lie is not None else None
        self.lies: list[dict[str, Any]] = []
        self.told = 0  # pending trials given a lie number (fitting or not)
        if engine._domain is None:
            return
        self.docs = engine._model_docs()
        for params in pending:
            self._tell(params)

    def _tell(self, params: FlatAssignment) -> None:
        if self.lie is None:
            return
        doc = self.engine._lie_doc(self.told, params, self.lie)
        self.told += 1
        if doc is not None:
            self.lies.append(doc)

    def add(self, flat: FlatAssignment) -> None:
        super().add(flat)
        if self.engine._domain is not None:
            self._tell(flat)

    def draw(self, number: int, retry: int = 0) -> FlatAssignment:
        engine = self.engine
        if engine._domain is None:
            return engine._assemble({})
        # The observed documents are shared, not copied (tpe.suggest only reads them).
        trials = Trials()
        trials._dynamic_trials = [*self.docs, *self.lies]
        trials.refresh()
        n_full = engine._fitting + len(self.lies)
        n_model = len(trials._dynamic_trials)
        binding = n_model < n_full
        seed = int(trial_rng(engine.seed, number, retry).integers(_SEED_BOUND))
        docs = tpe.suggest(
            [number],
            engine._domain,
            trials,
            seed,
            # The start-up decision and the good group as full history would have them (`bounded`).
            n_startup_jobs=0 if binding and n_full >= engine.n_startup_jobs else engine.n_startup_jobs,
            gamma=hyperopt_gamma_for(n_full, n_model) if binding else _DEFAULT_GAMMA,
            verbose=False,
        )
        return engine._assemble(docs[0]["misc"]["vals"])
