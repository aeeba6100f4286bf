"""Cost of one suggestion against the number of finished trials: sweepctl's TPE vs hyperopt's fmin vs Optuna.

For each size n, every engine first gets n finished random trials of a 6-D
uniform space (loaded, not run), then the next `--next` trials are timed one
by one (suggest + learn the result). sweepctl's engine is timed with 8 trials
pending (the constant liar on), as under 8 workers. Side by side in one run;
prints ms per trial and the ratio to fmin. The opt-in Optuna engine (`tpe: {engine: optuna}`)
is timed the same way, in the last column.

    python benchmarks/suggestion_latency.py [--sizes 100,1000,5000] [--next 20]
"""

from __future__ import annotations

import argparse
import logging
import math
import time

import numpy as np

from controller.suggester import Observation
from controller.suggester_factory import make_suggester
from sweepctl.spec import Method, TpeEngine, TpeOptions
from sweepctl.sweepfile import parse_sweep

DIMS = 6


def objective(x: dict[str, float]) -> float:
    return sum((x[f"x{i}"] - 0.3) ** 2 for i in range(DIMS))


def random_points(n: int, seed: int = 0) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    return [{f"x{i}": float(v) for i, v in enumerate(rng.random(DIMS))} for _ in range(n)]


def time_sweepctl(n: int, steps: int, engine: TpeEngine = TpeEngine.HYPEROPT) -> float | None:
    """sweepctl's TPE `engine` as the controller builds it (None: the engine is not installed)."""
    if not engine.is_installed():
        return None
    spec = parse_sweep(
        {"metric": {"name": "loss"}, "function": "m:f", "parameters": {f"x{i}": {"min": 0.0, "max": 1.0} for i in range(DIMS)}}
    )
    # local_search 0: every suggestion a TPE one (the hyperopt engine's default makes 3 in 4 of them
    # local draws on this numeric space, which cost next to nothing and would hide TPE's cost).
    s = make_suggester(Method.TPE, spec.space, 0, TpeOptions(engine=engine, local_search=0.0))
    s.observe([Observation(i + 1, p, objective(p)) for i, p in enumerate(random_points(n))])
    pending = random_points(8, seed=1)
    began = time.perf_counter()
    for k in range(steps):
        number = n + 9 + k
        p = s.suggest(number, pending)
        assert p is not None
        s.observe([Observation(number, p, objective(p))])
    return (time.perf_counter() - began) / steps


def time_fmin(n: int, steps: int) -> float:
    from hyperopt import Trials, fmin, hp, tpe

    space = {f"x{i}": hp.uniform(f"x{i}", 0.0, 1.0) for i in range(DIMS)}
    trials = Trials()
    # Load n finished random trials through fmin's own random search (cheap), then time TPE's next steps.
    from hyperopt import rand

    fmin(objective, space, algo=rand.suggest, max_evals=n, trials=trials, rstate=np.random.default_rng(0), show_progressbar=False)
    began = time.perf_counter()
    fmin(objective, space, algo=tpe.suggest, max_evals=n + steps, trials=trials, rstate=np.random.default_rng(1), show_progressbar=False)
    return (time.perf_counter() - began) / steps


def time_optuna(n: int, steps: int) -> float | None:
    try:
        import optuna
    except ImportError:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists: dict[str, optuna.distributions.BaseDistribution] = {
        f"x{i}": optuna.distributions.FloatDistribution(0.0, 1.0) for i in range(DIMS)
    }
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0, constant_liar=True))
    study.add_trials([optuna.trial.create_trial(params=p, distributions=dists, value=objective(p)) for p in random_points(n)])
    began = time.perf_counter()
    for _ in range(steps):
        trial = study.ask(dists)
        study.tell(trial, objective(trial.params))
    return (time.perf_counter() - began) / steps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--next", type=int, default=20)
    args = parser.parse_args()
    logging.getLogger("hyperopt").setLevel(logging.ERROR)
    print(
        "| finished trials | sweepctl TPE (8 pending) | hyperopt fmin | Optuna TPE | sweepctl / fmin | sweepctl Optuna engine (8 pending) |"
    )
    print("|---|---|---|---|---|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        ours, fmin_cost, optuna_cost = time_sweepctl(n, args.next), time_fmin(n, args.next), time_optuna(n, args.next)
        our_optuna = time_sweepctl(n, args.next, TpeEngine.OPTUNA)
        assert ours is not None and math.isfinite(ours)
        print(
            f"| {n} | {ours * 1000:.1f} ms | {fmin_cost * 1000:.1f} ms | {_ms(optuna_cost)}"
            f" | x{ours / fmin_cost:.2f} | {_ms(our_optuna)} |",
            flush=True,
        )


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"

if __name__ == "__main__":
    main()
