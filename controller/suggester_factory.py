"""The factory that picks a sweep's suggester: it sits above the engines, which never import it.

The interface (`controller.suggester`) sits below every engine and imports none;
the engines (`controller.suggesters.*`) import the interface and the neutral
helpers beside it; this module imports the engines, lazily, so that random and
grid sweeps never import hyperopt or optuna. The factory is not the package's
`__init__`: Python runs that before any engine module, so a factory there would
sit in a circle with every engine it imports.
"""

from __future__ import annotations

from controller.suggester import Suggester
from controller.suggesters.tpe_base import BaseTpeSuggester
from sweepctl.errors import SpecError
from sweepctl.space import SearchSpace
from sweepctl.spec import Method, TpeEngine, TpeOptions

_NO_OPTIONS = TpeOptions()


def make_suggester(
    method: Method, space: SearchSpace, seed: int | None, tpe: TpeOptions = _NO_OPTIONS, *, objectives: int = 1
) -> Suggester:
    """The suggester for a sweep's `method`; for TPE, `tpe` holds the sweep file's `tpe` block.

    `tpe.engine` picks the TPE library (hyperopt unless named); `tpe.local_search`
    (a share, 0 = off) interleaves local draws around the best trial
    (`controller.suggesters.local`); left out, it is the engine's
    `DEFAULT_LOCAL_SEARCH` on a numeric space (`is_numeric_space`) and off on
    any other. The other options go to the engine's suggester, which takes its
    own default for those not given. Other methods
    ignore `tpe`. Raises `SpecError` for grid search over a space with a
    continuous parameter, and when the engine asked for is not installed here
    (or cannot model the space). With several `objectives` TPE runs on Optuna's
    multi-objective TPE; hyperopt and local search, which need one loss, raise
    `SpecError` (the sweep-file parser refuses them first).
    """
    # Imported here so that random and grid sweeps never import hyperopt or optuna.
    if method is Method.RANDOM:
        from controller.suggesters.random import RandomSuggester

        return RandomSuggester(space, seed)
    if method is Method.GRID:
        from controller.suggesters.grid import GridSuggester

        return GridSuggester(space, seed)
    if method is Method.TPE:
        if objectives > 1 and (tpe.chosen_engine is not TpeEngine.OPTUNA or tpe.local_search is not None):
            raise SpecError("method: tpe", [("tpe.engine", "several objectives need tpe: {engine: optuna} without local_search")])
        from controller.suggesters.local import LocalSearch, is_numeric_space

        engine = _tpe_engine(space, seed, tpe, objectives)
        if tpe.local_search is not None:
            share = float(tpe.local_search)
        else:
            share = engine.DEFAULT_LOCAL_SEARCH if is_numeric_space(space) else 0.0
        return LocalSearch(engine, share) if share > 0 else engine
    raise ValueError(f"no suggester for method {method!r}")


def _tpe_engine(space: SearchSpace, seed: int | None, tpe: TpeOptions, objectives: int) -> BaseTpeSuggester:
    """The chosen TPE engine's suggester, given the options it shares with the other engine."""
    if tpe.chosen_engine is TpeEngine.OPTUNA:
        try:
            from controller.suggesters.optuna_tpe import OptunaTpeSuggester
        except ImportError as exc:
            raise SpecError(
                "method: tpe", [("tpe.engine", f"optuna cannot be imported here ({exc}): install sweepctl[optuna]")]
            ) from exc
        return OptunaTpeSuggester(
            space,
            seed,
            n_startup_jobs=tpe.n_startup_jobs,
            constant_liar=tpe.constant_liar,
            lie=tpe.lie,
            model_trials=tpe.model_trials,
            objectives=objectives,
        )
    from controller.suggesters.tpe import TpeSuggester

    return TpeSuggester(
        space, seed, n_startup_jobs=tpe.n_startup_jobs, constant_liar=tpe.constant_liar, lie=tpe.lie, model_trials=tpe.model_trials
    )
