"""Where a trial's W&B run lives, and what makes `wandb.init()` join the sweep with no server: variables and a parameter file.

W&B's agent hands a run its parameters in a YAML file named by
WANDB_SWEEP_PARAM_PATH (`{name: {value: v}}` per top-level parameter, a nested
group being one dict value, under a `wandb_version: 1` line) and names the run
and its sweep in WANDB_RUN_ID and WANDB_SWEEP_ID; `wandb.init()` then fills
`wandb.config` from the file. A sweepctl worker does the same for every trial
attempt, whether its program uses wandb or not (a trial that never calls
`wandb.init()` leaves no trace: its folder is removed after it), and adds:

- WANDB_MODE=offline: no W&B server, account or network is needed or reached; a
  worker whose own environment sets WANDB_MODE (`online`, say) is obeyed instead,
  and then WANDB_SWEEP_ID is not set: a sweepctl sweep is no sweep on W&B's server,
  so an online run is a plain run of the script's project;
- WANDB_X_TRANSACTION_LOG_FLUSH_INTERVAL=0.5: W&B writes a run's file every 0.5 s
  (its default, 15 s, would hide the run from early termination);
- WANDB_ERROR_REPORTING=false: W&B's crash reports would be sent to its servers.

(A variable of these three that the worker's environment sets keeps its value.)

Layout: the attempt's WANDB_DIR is `<sweep folder>/wandb/sweep-<sweep id>/<run id>/`,
the parameter file `config-<run id>.yaml` in it (the agent's name for it) and W&B
writes the run below it, in its usual `wandb/offline-run-<time>-<run id>/` folder
(`wandb sync` takes that folder). The run id is `<sweep id>-<trial number>-<attempt>`
(`<sweep id>-<trial number>-f<fold>-<attempt>` for a fold of a k-fold trial, whose folds run
side by side): unique per attempt, and it says which trial attempt a W&B run was. A sweep folder
that cannot be written (or is gone) gets the attempt's W&B folder in the temporary
directory instead.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sweepctl.records import Trial

log = logging.getLogger(__name__)

MODE_ENV = "WANDB_MODE"
DIR_ENV = "WANDB_DIR"
PARAM_PATH_ENV = "WANDB_SWEEP_PARAM_PATH"
SWEEP_ID_ENV = "WANDB_SWEEP_ID"
RUN_ID_ENV = "WANDB_RUN_ID"
FLUSH_INTERVAL_ENV = "WANDB_X_TRANSACTION_LOG_FLUSH_INTERVAL"
_FLUSH_INTERVAL_PRIVATE_ENV = "WANDB__TRANSACTION_LOG_FLUSH_INTERVAL"  # the same setting, W&B's other spelling
ERROR_REPORTING_ENV = "WANDB_ERROR_REPORTING"
FLUSH_INTERVAL_SECONDS = 0.5
RUNS_FOLDER = "wandb"  # W&B's own name for the folder of runs, under WANDB_DIR and under a sweep's folder
_OFFLINE_MODES = ("offline", "dryrun")  # W&B's names for it
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class WandbRunFiles:
    """One trial attempt's W&B folder (its WANDB_DIR), run id and sweep id."""

    directory: Path
    run_id: str
    sweep_id: str

    @property
    def params_path(self) -> Path:
        return self.directory / f"config-{self.run_id}.yaml"

    @property
    def runs_folder(self) -> Path:
        """Where W&B writes the run's own folder (`offline-run-<time>-<run id>/`)."""
        return self.directory / RUNS_FOLDER

    def environment(self, inherited: Mapping[str, str]) -> dict[str, str]:
        """The W&B variables a trial gets on top of `inherited` (the worker's environment), whose own choices it keeps."""
        env = {
            DIR_ENV: str(self.directory),
            PARAM_PATH_ENV: str(self.params_path),
            RUN_ID_ENV: self.run_id,
        }
        if MODE_ENV not in inherited:
            env[MODE_ENV] = "offline"
        if inherited.get(MODE_ENV, "offline") in _OFFLINE_MODES:
            env[SWEEP_ID_ENV] = self.sweep_id
        if FLUSH_INTERVAL_ENV not in inherited and _FLUSH_INTERVAL_PRIVATE_ENV not in inherited:
            env[FLUSH_INTERVAL_ENV] = str(FLUSH_INTERVAL_SECONDS)
        if ERROR_REPORTING_ENV not in inherited:
            env[ERROR_REPORTING_ENV] = "false"
        return env


def run_id(trial: Trial) -> str:
    """The W&B run id of a trial attempt: `<sweep id>-<number>-<attempt>`, `<sweep id>-<number>-f<fold>-<attempt>` for a fold's."""
    fold = "" if trial.fold is None else f"-f{trial.fold}"
    return _UNSAFE.sub("_", f"{trial.sweep_id}-{trial.number}{fold}-{trial.attempt}")


def run_files(trial: Trial, folder: Path | str, *, run: str | None = None) -> WandbRunFiles:
    """Where the attempt's W&B run lives when its sweep's trials run in `folder` (`run` overrides the run id)."""
    rid = run or run_id(trial)
    directory = Path(folder) / RUNS_FOLDER / f"sweep-{_UNSAFE.sub('_', trial.sweep_id)}" / rid
    return WandbRunFiles(directory=directory, run_id=rid, sweep_id=trial.sweep_id)


def params_text(params: Mapping[str, Any]) -> str:
    """The parameter file as W&B's agent writes it: `wandb_version: 1`, then `name: {value: v}` per top-level parameter."""
    text = "wandb_version: 1\n"
    if params:
        body = {str(name): {"value": value} for name, value in params.items()}
        text += "\n" + yaml.safe_dump(body, default_flow_style=False, allow_unicode=True, sort_keys=False)
    return text


def write_params(files: WandbRunFiles, params: Mapping[str, Any]) -> WandbRunFiles:
    """Write the attempt's parameter file; the files as written (in the temporary directory when the folder is read-only)."""
    try:
        _write(files, params)
        return files
    except OSError as exc:
        fallback = WandbRunFiles(Path(tempfile.mkdtemp(prefix=f"sweepctl-wandb-{files.run_id}-")), files.run_id, files.sweep_id)
        log.warning("cannot write W&B's parameter file in %s (%s): the run's W&B folder is %s", files.directory, exc, fallback.directory)
        _write(fallback, params)
        return fallback


def _write(files: WandbRunFiles, params: Mapping[str, Any]) -> None:
    # The sweep's folder itself is never made: one a trial deleted must stay missing ("cannot enter" it, clearly).
    chain = (files.directory.parent.parent, files.directory.parent, files.directory)
    for tries_left in (2, 1, 0):
        try:
            for folder in chain:
                folder.mkdir(exist_ok=True)
            break
        except FileNotFoundError:
            if not tries_left or not chain[0].parent.is_dir():
                raise
            # else another attempt removed an empty parent between our mkdirs: once more
    temporary = files.params_path.with_name(files.params_path.name + ".part")
    temporary.write_text(params_text(params), encoding="utf-8")
    os.replace(temporary, files.params_path)  # wandb.init() never reads half a file


def remove_if_unused(files: WandbRunFiles) -> bool:
    """Remove the attempt's W&B folder when no run was written in it (and its sweep's folders if left empty); whether it was.

    A trial that does not use wandb leaves nothing behind.
    """
    if files.runs_folder.exists():
        return False
    shutil.rmtree(files.directory, ignore_errors=True)
    sweep_folder = files.directory.parent
    if not (sweep_folder.name.startswith("sweep-") and sweep_folder.parent.name == RUNS_FOLDER):
        return True  # a folder in the temporary directory: its parent is not ours
    for parent in (sweep_folder, sweep_folder.parent):
        try:
            parent.rmdir()  # only if empty: another attempt's folder keeps it
        except OSError:
            break
    return True
