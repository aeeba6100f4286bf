"""sweepctl: self-hosted distributed hyperparameter optimization on Redis and Celery.

Training scripts use `sweepctl.report(step=..., loss=...)`, `sweepctl.params()`
and `sweepctl.seed()`; everything else is the `sweepctl` command.
"""

from __future__ import annotations

from sweepctl.errors import SweepError
from sweepctl.report import params, report, seed

__all__ = ["SweepError", "__version__", "params", "report", "seed"]
__version__ = "0.1.0"
