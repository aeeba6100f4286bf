"""The argv that the installed `wandb` package's agent builds for one run: the oracle of the argv tests.

W&B's own functions build every part that depends on the parameters and the environment
(`create_sweep_command` for `${envvar:NAME}`, `create_sweep_command_args` for every `${args...}`
spelling); only the last step, which puts those lists and the agent's own paths in place, is
mirrored here, because in W&B it lives inside `Agent._command_run` beside starting the process.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any
from unittest import mock

from wandb.sdk.launch.sweeps import utils as sweep_utils


def wandb_argv(
    command: list[Any] | None,
    *,
    program: str,
    params: Mapping[str, Any],
    environ: Mapping[str, str],
    interpreter: str,
    args_json_file: str,
) -> list[str]:
    """What `wandb agent` runs for a sweep whose `command:` is `command` (as decoded from the file, None when absent)
    and a run whose config is `params`, with `environ` as the agent's environment."""
    with mock.patch.dict(os.environ, environ, clear=True):
        # A copy: W&B fills the envvars in place, in the list it was given (the sweep's config or its default).
        sweep_command = sweep_utils.create_sweep_command(copy.deepcopy(command) if command else None)
    sweep_vars: dict[str, Any] = sweep_utils.create_sweep_command_args({"args": {k: {"value": v} for k, v in params.items()}})
    # Mirrors wandb_agent.Agent._command_run (wandb 0.31): its paths, then its substitution loop, unchanged
    # but for `interpreter`, where the agent hard-codes "python" and sweepctl passes the worker's Python.
    sweep_vars["interpreter"] = [interpreter]
    sweep_vars["program"] = [program]
    sweep_vars["args_json_file"] = [args_json_file]
    sweep_vars["env"] = ["/usr/bin/env"]
    command_list: list[str] = []
    for c in sweep_command:
        c = str(c)
        if c.startswith("${") and c.endswith("}"):
            command_list += sweep_vars.get(c[2:-1]) or []
        else:
            command_list += [c]
    return command_list
