"""sweepctl: self-hosted distributed hyperparameter optimization on Redis and Celery.

Training scripts use `sweepctl.report(step=..., loss=...)`, `sweepctl.params()`,
`sweepctl.seed()` and, in a k-fold sweep, `sweepctl.fold()` and `sweepctl.folds()`; notebooks `sweepctl.sweep(config)` and
`sweepctl.agent(sweep_id, function=train, count=N)`, as W&B's `wandb.sweep` and
`wandb.agent`; analysis code `sweepctl.trials_dataframe(sweep_id)`; everything
else is the `sweepctl` command.
"""

from __future__ import annotations

from typing import Any

from sweepctl.errors import SweepError
from sweepctl.report import TrialStopped, fold, folds, params, report, seed

__all__ = [
    "SweepError",
    "TrialStopped",
    "__version__",
    "agent",
    "fold",
    "folds",
    "params",
    "report",
    "seed",
    "sweep",
    "trials_dataframe",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Imported on first use: a training script's `import sweepctl` must not load the store, Redis or pandas.
    if name == "trials_dataframe":
        from sweepctl.export import trials_dataframe

        return trials_dataframe
    if name in ("sweep", "agent"):
        from sweepctl import api

        return getattr(api, name)
    raise AttributeError(f"module 'sweepctl' has no attribute {name!r}")
