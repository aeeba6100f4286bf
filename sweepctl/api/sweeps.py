"""`sweepctl.sweep(config)`: record a sweep given as a mapping, as `wandb.sweep(config)` does; its id."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from sweepctl import lifecycle
from sweepctl.api.session import session
from sweepctl.sweepfile import load_sweep_config

SOURCE = "sweepctl.sweep(config)"


def sweep(
    config: Mapping[str, Any],
    *,
    redis_url: str | None = None,
    state_dir: str | None = None,
    project: str | None = None,
    entity: str | None = None,
) -> str:
    """Validate `config` as a sweep file is validated and record the sweep; returns its id.

    Every problem is reported at once, with its field path, in one SpecError.
    A config with neither `program` nor `function` is valid here: its trials are
    run by `sweepctl.agent(sweep_id, function=...)` in a Python process, and go
    to a queue of their own that no worker reads. The store is the Redis at
    `redis_url` (else SWEEPCTL_REDIS_URL), else the embedded store of the
    current folder (`state_dir` puts it elsewhere), created if need be.
    `project` and `entity` are accepted, as `wandb.sweep` takes them, and ignored.
    """
    spec = load_sweep_config(config, source=SOURCE)
    with session(redis_url, state_dir, long_running=False, create=True) as (store, _):
        recorded, spec = lifecycle.record_sweep(store, spec, source=SOURCE, workdir=os.getcwd())
    how = "run it with sweepctl.agent(sweep_id, function=...)" if spec.runs_in_caller else f"run it with `sweepctl agent {recorded.id}`"
    print(f"sweepctl: created sweep {recorded.id}; {how}", file=sys.stderr)
    return recorded.id
