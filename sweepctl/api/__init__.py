"""The Python API W&B users call from notebooks and scripts: `sweepctl.sweep(config)` and `sweepctl.agent(sweep_id, ...)`.

Like `wandb.sweep` and `wandb.agent`: `sweep` records a sweep from a mapping
and returns its id; `agent` runs that sweep's trials as calls of a function in
the calling process, one after another. `sweepctl` imports this package only
when one of them is first used.
"""

from __future__ import annotations

from sweepctl.api.agents import agent
from sweepctl.api.sweeps import sweep

__all__ = ["agent", "sweep"]
