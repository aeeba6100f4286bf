"""Parameter importance at scale: sweepctl's `parameter_importance` vs Optuna's importance evaluators, same trials.

A random sweep of `--params` uniform parameters whose objective is additive with known
first-order shares: x_k contributes k^2 * x_k for the first five parameters (shares 1:4:9:16:25
of 55) and the rest do nothing. sweepctl runs on all `--trials`; Optuna's evaluators run on an
in-memory study built with `create_trial` from the same trials (fANOVA on `--fanova-trials`
when it would take minutes at full size: it is said in the output). Prints the times, the ratios
and the top of each ranking.

    python benchmarks/importance.py [--trials 10000] [--params 20] [--fanova-trials 2000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import optuna
from optuna.distributions import FloatDistribution
from optuna.importance import FanovaImportanceEvaluator, get_param_importances

from sweepctl.analysis.importance import parameter_importance
from sweepctl.records import Trial, TrialState
from sweepctl.space import Distribution, Parameter, SearchSpace
from sweepctl.spec import Goal

EFFECTS = 5


def sweep(trials: int, params: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(seed).uniform(0, 1, (trials, params))
    weights = np.zeros(params)
    weights[:EFFECTS] = [(k + 1) ** 2 for k in range(EFFECTS)]
    return x, x @ weights


def true_shares(params: int) -> dict[str, float]:
    total = sum(((k + 1) ** 2) ** 2 for k in range(EFFECTS))
    return {f"x{k + 1}": (((k + 1) ** 2) ** 2 / total if k < EFFECTS else 0.0) for k in range(params)}


def run_sweepctl(x: np.ndarray, y: np.ndarray) -> tuple[float, list[tuple[str, float]]]:
    names = [f"x{j + 1}" for j in range(x.shape[1])]
    space = SearchSpace(tuple(Parameter(path=(n,), distribution=Distribution.UNIFORM, min=0.0, max=1.0) for n in names))
    trials = [
        Trial("bench", i + 1, TrialState.COMPLETED, dict(zip(names, map(float, row))), 0, objective=float(v))
        for i, (row, v) in enumerate(zip(x, y))
    ]
    start = time.perf_counter()
    report = parameter_importance(trials, space, "loss", Goal.MINIMIZE, objective_metric="loss")
    elapsed = time.perf_counter() - start
    print(f"  sweepctl r2 {report.r2:.3f}, trustworthy {report.trustworthy}")
    return elapsed, [(p.name, p.importance) for p in report.parameters]


def optuna_study(x: np.ndarray, y: np.ndarray) -> optuna.Study:
    study = optuna.create_study()
    distributions = {f"x{j + 1}": FloatDistribution(0.0, 1.0) for j in range(x.shape[1])}
    study.add_trials(
        [
            optuna.trial.create_trial(
                params={f"x{j + 1}": float(v) for j, v in enumerate(row)}, distributions=distributions, value=float(value)
            )
            for row, value in zip(x, y)
        ]
    )
    return study


def run_optuna(study: optuna.Study, evaluator: object) -> tuple[float, list[tuple[str, float]]]:
    start = time.perf_counter()
    found = get_param_importances(study, evaluator=evaluator, normalize=False)
    return time.perf_counter() - start, sorted(found.items(), key=lambda kv: -kv[1])


def show(label: str, seconds: float, ranking: list[tuple[str, float]], reference: float, truth: dict[str, float]) -> None:
    top = ", ".join(f"{name} {share:.3f} (true {truth[name]:.3f})" for name, share in ranking[:6])
    print(f"{label:<44} {seconds:8.2f} s  x{seconds / reference:7.1f}  {top}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--params", type=int, default=20)
    parser.add_argument("--fanova-trials", type=int, default=2_000, help="fANOVA's sample (it takes minutes at 10,000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    truth = true_shares(args.params)
    x, y = sweep(args.trials, args.params, args.seed)
    print(f"{args.trials} trials, {args.params} parameters; times, ratio to sweepctl, top of each ranking")
    ours, ranking = run_sweepctl(x, y)
    show(f"sweepctl parameter_importance @{args.trials}", ours, ranking, ours, truth)
    small = min(args.fanova_trials, args.trials)
    seconds, found = run_optuna(optuna_study(x[:small], y[:small]), FanovaImportanceEvaluator(seed=args.seed))
    show(f"optuna FanovaImportanceEvaluator @{small}", seconds, found, ours, truth)
    if small < args.trials:
        print(f"  (fANOVA measured on the first {small} trials only; its cost grows faster than linearly with the trials)")
    ped = getattr(optuna.importance, "PedAnovaImportanceEvaluator", None)
    if ped is not None:
        seconds, found = run_optuna(optuna_study(x, y), ped())
        show(f"optuna PedAnovaImportanceEvaluator @{args.trials}", seconds, found, ours, truth)


if __name__ == "__main__":
    main()
