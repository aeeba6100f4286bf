"""benchmarks/peers_scale.py's report: the ratios it prints are sweepctl's rate over each peer's, per process count and case.

Pure: runs are made up, no process is started.
"""

from __future__ import annotations

from benchmarks.peers_scale import Case, Idle, Objective, Run, Sampler, System, build_report, ratio

TPE_NOOP = Case(Sampler.TPE, Objective.QUADRATIC)
TPE_10MS = Case(Sampler.TPE, Objective.QUADRATIC_10MS)


def run(system: str, case: Case, processes: int, seconds: float, requests: float | None = None) -> Run:
    return Run(
        system,
        case,
        processes,
        trials=400,
        seconds=seconds,
        cpu_seconds=4.0,
        storage_cpu_seconds=1.0,
        best=0.01,
        requests_per_trial=requests,
    )


RUNS = [
    run(System.SWEEPCTL.value, TPE_NOOP, 2, seconds=10.0),  # 40 trials/s
    run(System.OPTUNA_POSTGRES.value, TPE_NOOP, 2, seconds=20.0, requests=31.25),  # 20 trials/s
    run(System.OPTUNA_JOURNAL.value, TPE_NOOP, 2, seconds=8.0),  # 50 trials/s
    run(System.SWEEPCTL.value, TPE_NOOP, 32, seconds=40.0),  # 10 trials/s
    run(System.OPTUNA_POSTGRES.value, TPE_NOOP, 32, seconds=100.0),  # 4 trials/s
    run(System.SWEEPCTL.value, TPE_10MS, 2, seconds=16.0),  # 25 trials/s
]


def test_the_ratio_is_sweepctls_rate_over_the_peers_at_the_same_count_and_case() -> None:
    assert ratio(RUNS, 2, TPE_NOOP, System.SWEEPCTL.value, System.OPTUNA_POSTGRES.value) == 2.0
    assert ratio(RUNS, 2, TPE_NOOP, System.SWEEPCTL.value, System.OPTUNA_JOURNAL.value) == 0.8
    assert ratio(RUNS, 32, TPE_NOOP, System.SWEEPCTL.value, System.OPTUNA_POSTGRES.value) == 2.5


def test_a_peer_that_did_not_run_has_no_ratio() -> None:
    assert ratio(RUNS, 32, TPE_NOOP, System.SWEEPCTL.value, System.OPTUNA_JOURNAL.value) is None
    assert ratio(RUNS, 2, TPE_10MS, System.SWEEPCTL.value, System.OPTUNA_POSTGRES.value) is None


def test_the_report_prints_each_count_and_case_with_its_ratios_and_per_trial_cpu() -> None:
    text = build_report(RUNS, 400, wall=60.0, loads=[("before", (1.0, 2.0, 3.0))], busy=[], idle=Idle(0.5, 50.0))

    assert "| 2 | tpe, no-op | x2.00 | x0.80 |" in text
    assert "| 32 | tpe, no-op | x2.50 | — |" in text
    assert "| 2 | tpe, 10 ms | — | — |" in text
    # 4 CPU-seconds over 400 trials, 1 of them the storage server's
    assert "| 2 | tpe, no-op | Optuna + PostgreSQL | 20.0 | 10.0 ms | 2.5 ms | 31.2 | 0.0100 | 400 |" in text
    assert "| 2 | tpe, no-op | Optuna + Redis journal | 50.0 | 10.0 ms | 2.5 ms | — | 0.0100 | 400 |" in text
    assert "before 1.00 / 2.00 / 3.00" in text
    assert "1.0% of one core" in text
