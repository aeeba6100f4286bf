"""The variables a trial's process gets on top of its worker's: who it is and what it was given.

One function, used by the worker that runs a trial and by `sweepctl reproduce`
that runs it again, so a re-run sees exactly what the recorded run saw.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from sweepctl.records import Trial
from sweepctl.report import FOLD_ENV, FOLDS_ENV, PARAMS_ENV, SEED_ENV
from sweepctl.wandb_files import WandbRunFiles

SWEEP_ID_ENV = "SWEEPCTL_SWEEP_ID"
TRIAL_NUMBER_ENV = "SWEEPCTL_TRIAL_NUMBER"
TRIAL_ATTEMPT_ENV = "SWEEPCTL_TRIAL_ATTEMPT"


def trial_environment(trial: Trial, wandb: WandbRunFiles, inherited: Mapping[str, str]) -> dict[str, str]:
    """What a trial's environment adds to `inherited` (the worker's): parameters (nested JSON), seed, sweep, number,
    attempt, for a fold of a k-fold trial its fold and folds, and W&B's variables for the attempt's run
    (`WandbRunFiles.environment`)."""
    folds = {} if trial.fold is None else {FOLD_ENV: str(trial.fold), FOLDS_ENV: str(trial.folds)}
    return {
        PARAMS_ENV: json.dumps(trial.params),
        SEED_ENV: str(trial.seed),
        SWEEP_ID_ENV: trial.sweep_id,
        TRIAL_NUMBER_ENV: str(trial.number),
        TRIAL_ATTEMPT_ENV: str(trial.attempt),
        **folds,
        "PYTHONUNBUFFERED": "1",  # reports reach the reader as they are printed
        **wandb.environment(inherited),
    }
