"""Running one recorded `program:` trial again, here, in a fresh folder (the I/O half of `sweepctl reproduce`).

The re-run gets the recorded argv unchanged and the environment a worker gives a
trial (`trial_environment`, on top of this process's, without the Redis URL). Its
folder starts empty but for links: a worker runs a trial in its sweep's folder,
where relative paths in the argv (the program, literal command elements) and the
sweep's relative `data:` paths are found, so each of those that exists there is
linked (never copied) into the fresh folder at the same relative place. A
`${args_json_file}` the worker wrote and removed is written again at its recorded
path, and so is W&B's parameter file (`sweepctl.wandb_files`; the re-run's W&B run
id is the attempt's with `-rerun` added). Whatever the trial writes stays in the
fresh folder. What a W&B script logged is read back from its run once it ended, so
the re-run is judged as a worker judges the trial (its W&B summary gives the objective).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from sweepctl.command import Macro, args_json_text, build_argv
from sweepctl.errors import RerunError
from sweepctl.protocol import Report, classify_line
from sweepctl.records import Trial
from sweepctl.settings import REDIS_URL_ENV
from sweepctl.spec import SweepSpec
from sweepctl.trial_environment import trial_environment
from sweepctl.wandb_files import WandbRunFiles, remove_if_unused, run_files, run_id, write_params
from sweepctl.wandb_reader import WandbRunReader

_JSON_FILE_MARK = "\0args_json_file\0"


@dataclass(frozen=True)
class RerunPlan:
    """What a re-run starts: the recorded argv, its environment additions, its folder, the links and files it needs."""

    argv: tuple[str, ...]
    env: dict[str, str]
    folder: Path
    links: tuple[tuple[str, Path], ...]  # (relative place in the folder, what it points to in the sweep's folder)
    args_json_file: tuple[Path, str] | None = None  # (recorded path, content)
    wandb: WandbRunFiles | None = None  # the re-run's W&B folder, its parameter file written by `prepare`
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class RerunOutput:
    """What the re-run's stdout reported, read as a worker reads it (`classify_line`)."""

    returncode: int = 0
    last_metrics: dict[str, float] = field(default_factory=dict)
    last_step: int | None = None
    reports: int = 0
    rejected: dict[str, int] = field(default_factory=dict)

    def feed(self, line: str) -> None:
        found = classify_line(line)
        if isinstance(found, Report):
            self.reports += 1
            self.last_metrics.update(found.values)
            if found.step is not None:
                self.last_step = found.step
        elif found is not None:
            self.rejected[found.reason] = self.rejected.get(found.reason, 0) + 1

    def add_wandb_run(self, files: WandbRunFiles) -> None:
        """What the ended trial logged with `wandb.log`, then its W&B summary (which wins, as for a worker)."""
        progress = WandbRunReader(files).read_all()
        for row in progress.rows:
            self.reports += 1
            self.last_metrics.update(row.values)
            if row.step is not None:
                self.last_step = row.step
        self.last_metrics.update(progress.summary or {})


def plan_rerun(trial: Trial, spec: SweepSpec, workdir: str, folder: Path) -> RerunPlan:
    """The re-run of `trial` in `folder`; raises RerunError when the record holds no argv to run."""
    if not trial.argv:
        why = "a function: trial runs no command" if spec.function is not None else "it never started"
        if spec.runs_in_caller:
            why = "a call of the function given to sweepctl.agent runs no command"
        raise RerunError(f"trial {trial.number} of sweep {trial.sweep_id!r} has no recorded argv ({why}): nothing to re-run")
    base = Path(workdir)
    relative = [p for p in (spec.program, *spec.command, *spec.data) if p and Macro.parse(p) is None]
    links = tuple((p, base / p) for p in dict.fromkeys(relative) if _linkable(p) and (base / p).exists())
    wandb = run_files(trial, folder, run=f"{run_id(trial)}-rerun")
    return RerunPlan(
        argv=trial.argv,
        env=trial_environment(trial, wandb, os.environ),
        folder=folder,
        links=links,
        args_json_file=_args_json_file(trial, spec),
        wandb=wandb,
        params=dict(trial.params),
    )


def _linkable(path: str) -> bool:
    """Whether a path names a place inside the folder: relative, and never climbing out of it."""
    parts = PurePosixPath(path).parts
    return bool(parts) and not os.path.isabs(path) and ".." not in parts and "${" not in path


def _args_json_file(trial: Trial, spec: SweepSpec) -> tuple[Path, str] | None:
    """Where the recorded argv names the `${args_json_file}` the worker wrote, and what it held."""
    if Macro.ARGS_JSON_FILE.token not in spec.command:
        return None
    # Where the file's path stood; ${envvar:NAME} elements stay one element each, whatever their values.
    template = build_argv(
        spec.command, program=spec.program, params=trial.params, interpreter=sys.executable, environ={}, args_json_file=_JSON_FILE_MARK
    )
    if len(template) != len(trial.argv) or _JSON_FILE_MARK not in template:
        return None  # the sweep's command is not the one the trial ran with: nothing to rewrite
    return Path(trial.argv[template.index(_JSON_FILE_MARK)]), args_json_text(trial.params)


def prepare(plan: RerunPlan) -> None:
    """Make the fresh folder (it must be empty if it exists), its links, and the args file."""
    if plan.folder.exists() and any(plan.folder.iterdir()):
        raise RerunError(f"--folder {str(plan.folder)!r} is not empty: a re-run starts in a fresh folder")
    plan.folder.mkdir(parents=True, exist_ok=True)
    for place, target in plan.links:
        link = plan.folder / place
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(target.resolve())
    if plan.args_json_file is not None:
        path, text = plan.args_json_file
        if path.exists():
            raise RerunError(f"the trial's args file {str(path)!r} exists already: not overwritten; remove it to re-run")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if plan.wandb is not None and write_params(plan.wandb, plan.params) != plan.wandb:
        raise RerunError(f"cannot write W&B's parameter file in {str(plan.wandb.directory)!r}")


def run(plan: RerunPlan, echo: Callable[[str], None], base_env: Mapping[str, str] | None = None) -> RerunOutput:
    """Run the planned trial to its end, each stdout line passed to `echo` and read for reports; stderr is inherited.

    The trial gets a process group of its own, killed whole if this process is interrupted.
    """
    env = {k: v for k, v in (os.environ if base_env is None else base_env).items() if k != REDIS_URL_ENV}
    env.update(plan.env)
    output = RerunOutput()
    try:
        process = subprocess.Popen(
            list(plan.argv), cwd=plan.folder, env=env, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, start_new_session=True
        )
    except OSError as exc:
        raise RerunError(f"cannot start {plan.argv[0]!r}: {exc.strerror or exc}") from exc
    try:
        assert process.stdout is not None
        for line in process.stdout:
            echo(line.rstrip("\n"))
            output.feed(line)
        output.returncode = process.wait()
        if plan.wandb is not None:
            output.add_wandb_run(plan.wandb)
    except BaseException:
        _kill_group(process.pid)
        process.wait()
        raise
    finally:
        _kill_group(process.pid)  # nothing the trial started outlives it, as under a worker
        if plan.args_json_file is not None:
            plan.args_json_file[0].unlink(missing_ok=True)
        if plan.wandb is not None:
            remove_if_unused(plan.wandb)
    return output


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
