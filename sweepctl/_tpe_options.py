"""The `tpe` block of a sweep file (a sweepctl extension): which engine runs TPE, and its options.

`tpe: {engine: hyperopt|optuna, constant_liar: bool, lie: worst|mean|best|running,
n_startup_jobs: int, local_search: share, model_trials: int}`. Every option applies to both engines; what is not given
is left to the engine's own default (`controller.suggesters.tpe` and
`controller.suggesters.optuna_tpe` document theirs; hyperopt's includes local search on
numeric spaces, so `local_search: 0` is stock TPE, one key away). The engine is checked
against the space here, so that a sweep the engine cannot run is refused when
it is validated, never when the controller starts it. The options parse into a
frozen `sweepctl.spec.TpeOptions`, which `controller.suggester_factory.make_suggester` takes.
"""

from __future__ import annotations

from typing import Any

from sweepctl import _validate as v
from sweepctl._parameters import field_path
from sweepctl.space import Parameter
from sweepctl.spec import TpeEngine, TpeOptions

LIES = ("worst", "mean", "best", "running")
# The fewest observations a bounded TPE model may be fitted on (`model_trials`; 0 is every one):
# fewer would leave little beside the best trials it keeps (`controller.suggesters.bounded`).
MIN_MODEL_TRIALS = 100
_ENGINES = tuple(e.value for e in TpeEngine)
# Lies only some engines can tell: "running" leaves pending trials RUNNING in an Optuna study.
_LIE_ENGINES = {"running": TpeEngine.OPTUNA}


def parse_tpe_options(problems: v.Problems, raw: Any) -> TpeOptions:
    """The options given, checked one by one; a bad one is reported and left out (None)."""
    if raw is v.MISSING:
        return TpeOptions()
    if not isinstance(raw, dict):
        problems.add("tpe", f"expected a mapping of TPE options, got {v.describe(raw)}")
        return TpeOptions()
    v.check_keys(problems, "tpe", raw, ("engine", "constant_liar", "lie", "n_startup_jobs", "local_search", "model_trials"))
    engine = v.choice(problems, "tpe.engine", raw["engine"], _ENGINES, "engine") if "engine" in raw else None
    return TpeOptions(
        engine=None if engine is None else TpeEngine(engine),
        constant_liar=v.boolean(problems, "tpe.constant_liar", raw["constant_liar"]) if "constant_liar" in raw else None,
        lie=v.choice(problems, "tpe.lie", raw["lie"], LIES, "lie") if "lie" in raw else None,
        n_startup_jobs=v.integer(problems, "tpe.n_startup_jobs", raw["n_startup_jobs"], ge=1) if "n_startup_jobs" in raw else None,
        local_search=_local_search(problems, raw["local_search"]) if "local_search" in raw else None,
        model_trials=_model_trials(problems, raw["model_trials"]) if "model_trials" in raw else None,
    )


def _model_trials(problems: v.Problems, raw: Any) -> int | None:
    """How many observations the TPE model is fitted on at most: 0 (every one) or MIN_MODEL_TRIALS and more."""
    count = v.integer(problems, "tpe.model_trials", raw, ge=0)
    if count is None:
        return None
    if 0 < count < MIN_MODEL_TRIALS:
        problems.add("tpe.model_trials", f"expected 0 (model every trial) or at least {MIN_MODEL_TRIALS}, got {count}")
        return None
    return count


def _local_search(problems: v.Problems, raw: Any) -> float | None:
    """The share of suggestions made locally, 0 included (it turns off the engine's default); None when bad."""
    share = v.number(problems, "tpe.local_search", raw, ge=0)
    if share is None:
        return None
    if share >= 1:
        problems.add("tpe.local_search", f"expected the share of suggestions made locally, >= 0 and < 1, got {share}")
        return None
    return float(share)


def check_engine(
    problems: v.Problems, options: TpeOptions, parameters: tuple[Parameter, ...] | None, *, installed: bool
) -> None:
    """Report what the chosen engine cannot do: a distribution, a lie, or (`installed`) not being importable here."""
    engine, lie = options.chosen_engine, options.lie
    if lie is not None and lie in _LIE_ENGINES and engine is not _LIE_ENGINES[lie]:
        problems.add("tpe.lie", f"lie {lie} needs engine: {_LIE_ENGINES[lie].value}, got engine {engine.value}")
    for p in parameters or ():
        if not engine.supports(p.distribution):
            problems.add(
                v.child(field_path(p.path), "distribution"),
                f"{p.distribution.value} is not supported by tpe engine {engine.value}; use a bounded distribution"
                f" or engine: {TpeEngine.HYPEROPT.value}",
            )
    if installed and not engine.is_installed():
        problems.add("tpe.engine", f"{engine.value} is not installed here: pip install 'sweepctl[{engine.value}]'")
