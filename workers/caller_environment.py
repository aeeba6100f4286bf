"""What a trial function run in the caller's process (`sweepctl.agent`) sees while it runs: set, then put back.

A trial process gets its parameters, seed and ids in its environment, and the
W&B variables of its attempt's run (`sweepctl.trial_environment`, the same function
the worker uses); a function called in the agent's own process gets the same
variables, in `os.environ`, for the time of the call: `WANDB_SWEEP_PARAM_PATH`
names the YAML file of `{name: {value: v}}` W&B's agent writes, which
`wandb.init()` reads into `wandb.config`; `WANDB_MODE` is `offline` unless the
caller chose a mode. And, as W&B's own agent does around a sweep function
(wandb/agents/pyagent.py), W&B's process-wide state is torn down before and after
each call (`wandb.teardown()`), so that the next `wandb.init()` reads the next
trial's file and starts a new run instead of returning this one. wandb is never
imported here: only a function that imported it gets it torn down.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from sweepctl.records import Trial
from sweepctl.trial_environment import trial_environment
from sweepctl.wandb_files import WandbRunFiles

log = logging.getLogger(__name__)


@contextmanager
def caller_environment(trial: Trial, wandb: WandbRunFiles) -> Iterator[None]:
    """`os.environ` as a trial process of `trial` would have it, for the block; every variable put back after."""
    values = trial_environment(trial, wandb, dict(os.environ))
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, before in saved.items():
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before


def reset_wandb(exit_code: int = 0) -> None:
    """End W&B's process-wide state if the caller's code imported wandb: an open run is finished with `exit_code`."""
    wandb = sys.modules.get("wandb")
    teardown = getattr(wandb, "teardown", None)
    if teardown is None:
        return
    try:
        teardown(exit_code=exit_code)
    except Exception as exc:  # noqa: BLE001  # W&B's trouble must not end the agent; the next wandb.init() will say more
        log.warning("wandb.teardown() failed: %s", exc)
