"""What a trial function run in the caller's process (`sweepctl.agent`) sees while it runs: set, then put back.

A trial process gets its parameters, seed and ids in its environment
(`sweepctl.trial_environment`); a function called in the agent's own process
gets the same variables, in `os.environ`, for the time of the call.

And what W&B's own agent does around a sweep function (wandb/agents/pyagent.py),
so that a function written for `wandb.agent` runs unchanged, with no W&B server:
`WANDB_SWEEP_PARAM_PATH` names a YAML file of `{name: {value: v}}` (the file
W&B's agent writes), which `wandb.init()` reads into `wandb.config`;
`WANDB_MODE` is `offline` unless the caller chose a mode; and W&B's process-wide
state is torn down before and after each call (`wandb.teardown()`), as W&B's
agent does, so that the next `wandb.init()` reads the next trial's file and
starts a new run instead of returning this one. wandb is never imported here:
only a function that imported it gets it torn down.

Minimal by design: the W&B environment of worker-run trials is built beside
`sweepctl.trial_environment`; once there is one, this module should take its
W&B variables from there.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from sweepctl.records import Trial
from sweepctl.trial_environment import trial_environment

log = logging.getLogger(__name__)

WANDB_SWEEP_PARAM_PATH_ENV = "WANDB_SWEEP_PARAM_PATH"
WANDB_MODE_ENV = "WANDB_MODE"


@contextmanager
def caller_environment(trial: Trial) -> Iterator[None]:
    """`os.environ` as a trial process of `trial` would have it, for the block; every variable put back after."""
    folder = Path(tempfile.mkdtemp(prefix=f"sweepctl-{trial.sweep_id}-{trial.number}-"))
    try:
        config = folder / "config.yaml"
        # YAML, not JSON: W&B reads it with PyYAML, which reads JSON's 1e-05 as a string.
        config.write_text(yaml.safe_dump({name: {"value": value} for name, value in trial.params.items()}), encoding="utf-8")
        values = {**trial_environment(trial), WANDB_SWEEP_PARAM_PATH_ENV: str(config)}
        if WANDB_MODE_ENV not in os.environ:
            values[WANDB_MODE_ENV] = "offline"
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
    finally:
        shutil.rmtree(folder, ignore_errors=True)


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
