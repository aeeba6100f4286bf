"""The argv of one attempt of a program trial: the sweep's command expanded for its parameters, on this worker."""

from __future__ import annotations

import sys
from pathlib import Path

from sweepctl.command import args_json_text, build_argv
from sweepctl.errors import ConfigError
from sweepctl.records import Trial
from sweepctl.spec import SweepSpec
from sweepctl.trial_environment import trial_environment
from sweepctl.wandb_files import run_files
from workers.trial_process import launcher_environment


def trial_argv(spec: SweepSpec, trial: Trial, scratch: Path | None, folder: str) -> tuple[str, ...]:
    """What the attempt runs (empty for a function trial); `scratch` holds the `${args_json_file}` when the command uses it.

    Raises ConfigError for a sweep whose trials run only in `sweepctl.agent`'s caller, ValueError for a command that
    cannot be expanded.
    """
    if spec.runs_in_caller:
        raise ConfigError(
            f"sweep {trial.sweep_id} has no program and no function: its trials run only in a Python process that calls "
            f"sweepctl.agent({trial.sweep_id!r}, function=...), never on a worker (this worker consumes its queue {spec.queue!r})"
        )
    if spec.function is not None:
        return ()  # called in the forked trial process: no command runs
    args_file, inherited = None, launcher_environment()
    if scratch is not None:
        args_file = scratch / "params.json"
        args_file.write_text(args_json_text(trial.params))
    return build_argv(
        spec.command,
        program=spec.program,
        params=trial.params,
        interpreter=sys.executable,
        # ${envvar:NAME} reads the environment the trial itself will get (never the Redis URL).
        environ={**inherited, **trial_environment(trial, run_files(trial, folder), inherited)},
        args_json_file=None if args_file is None else str(args_file),
        fold=trial.fold,
    )
