"""Synthetic trial records with known answers, for the page tests and the report benchmark's checks."""

from __future__ import annotations

from sweepctl.records import CodeVersion, GpuRef, MetricPoint, Trial, TrialState

T0 = 1_700_000_000.0


def trial(number: int, state: TrialState = TrialState.COMPLETED, objective: float | None = None, **fields: object) -> Trial:
    """Trial `number`, run from T0 + 10*number for 8 s on worker w{number % 2}, with params lr and opt."""
    values: dict = {
        "sweep_id": "s1",
        "number": number,
        "state": state,
        "params": {"lr": 10.0 ** -(number % 5), "opt": {"name": "adam" if number % 2 else "sgd"}, "layers": number % 4},
        "seed": 1000 + number,
        "started_at": T0 + 10 * number,
        "ended_at": T0 + 10 * number + 8,
        "objective": objective,
        "worker": f"host{number % 2}/gpu0/1",
        "host": f"host{number % 2}",
        "gpu": GpuRef(0, f"GPU-{number % 2}", "NVIDIA H100"),
        "argv": ("python", "train.py", f"--lr={10.0 ** -(number % 5)}"),
        "code": CodeVersion("/src/repo", "abc123", False),
        "data": {"train.csv": "sha256:feed"},
    }
    values.update(fields)
    return Trial(**values)


def curve_points(a: float, steps: int) -> list[MetricPoint]:
    """loss(step) = a + 1/step."""
    return [MetricPoint(time=T0 + s, step=s, values={"loss": a + 1 / s}) for s in range(1, steps + 1)]


SPEC = {
    "name": "<b>demo</b>",
    "method": "random",
    "metric": {"name": "loss", "goal": "minimize"},
    "run_cap": 50,
    "program": "train.py",
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1.0},
        "opt": {"parameters": {"name": {"values": ["adam", "sgd"]}}},
        "layers": {"distribution": "int_uniform", "min": 0, "max": 3},
    },
}
