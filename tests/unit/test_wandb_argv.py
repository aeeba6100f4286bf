"""Every trial's argv equals the argv the installed `wandb` package's agent builds for the same parameters.

The oracle is W&B's own code (`tests/support/wandb_agent_argv.py`): for each W&B sweep file of the
corpus that runs a program, parameter sets are drawn as the controller draws them (the random
suggester, a fixed seed, every categorical value at least once), stored and read back as a worker
reads them, and expanded by both, with `${envvar:NAME}` variables set and unset.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from wandb.sdk.launch.sweeps.utils import load_sweep_config

from controller.suggesters.random import RandomSuggester
from sweepctl.codec import decode_trial, encode_trial
from sweepctl.command import OWN_MACROS, Macro, build_argv
from sweepctl.records import Trial, TrialState
from sweepctl.space import Distribution
from sweepctl.spec import SweepSpec
from sweepctl.sweepfile import load_sweep_file
from tests.support.wandb_agent_argv import wandb_argv

CORPUS = Path(__file__).parents[1] / "wandb_corpus"
INTERPRETER = "/opt/venv/bin/python3.11"
ARGS_JSON_FILE = "/tmp/sweepctl-s1-7-x/params.json"
BASE_ENVIRON = {"PATH": "/usr/bin:/bin", "HOME": "/home/me"}
# The variables the corpus reads with ${envvar:NAME}; SWEEPCTL_TEST_UNSET_VAR is never set.
SET_VARIABLES = {"SWEEPCTL_TEST_DATA_DIR": "/data/set one", "SWEEPCTL_TEST_SHARD": "003", "SWEEPCTL_TEST_PYTHON": "/opt/py/bin/python3"}
LAUNCH_KEYS = {"job", "scheduler"}  # W&B Launch sweeps run no program of their own: refused by sweepctl, with the reason

with warnings.catch_warnings():  # W&B's sweeps package trips a pydantic deprecation warning on import
    warnings.simplefilter("ignore")
    from sweeps.config import schema_violations_from_proposed_config


def corpus_with_a_program() -> list[Any]:
    """Each corpus file that runs a program and that W&B accepts (its own schema check), W&B Launch files aside."""
    found = []
    for path in sorted(CORPUS.glob("*.yaml")):
        doc = load_sweep_config(str(path))
        if not isinstance(doc, dict) or "program" not in doc or LAUNCH_KEYS & set(doc):
            continue
        if schema_violations_from_proposed_config(copy.deepcopy(doc)) == []:
            found.append(pytest.param(path, id=path.stem))
    return found


def trial_params(spec: SweepSpec, seed: int = 11) -> Iterator[dict[str, Any]]:
    """Parameter sets as a worker gets them: drawn, nested, stored and read back; every categorical value at least once."""
    suggester = RandomSuggester(spec.space, seed)
    categoricals = [p for p in spec.space.parameters if p.distribution is Distribution.CATEGORICAL]
    for number in range(1, 1 + max([8, *(len(p.values) for p in categoricals)])):
        flat = suggester.suggest(number)
        assert flat is not None
        for p in categoricals:
            flat[p.name] = p.values[number % len(p.values)]
        trial = Trial(sweep_id="s1", number=number, state=TrialState.QUEUED, params=spec.space.assemble(flat), seed=number)
        yield decode_trial(encode_trial(trial)).params


@pytest.mark.parametrize("variables", [SET_VARIABLES, {}], ids=["envvars-set", "envvars-unset"])
@pytest.mark.parametrize("path", corpus_with_a_program())
def test_every_trial_gets_the_argv_wandbs_agent_builds(path: Path, variables: dict[str, str]) -> None:
    # Given a W&B sweep file as sweepctl reads it, and as W&B's own loader reads it
    spec = load_sweep_file(path)
    wandb_doc = load_sweep_config(str(path))
    assert wandb_doc is not None and spec.program is not None
    environ = {**BASE_ENVIRON, **variables}
    for params in trial_params(spec):
        # When both build the trial's argv
        ours = build_argv(
            spec.command, program=spec.program, params=params, interpreter=INTERPRETER, environ=environ, args_json_file=ARGS_JSON_FILE
        )
        theirs = wandb_argv(
            wandb_doc.get("command"),
            program=spec.program,
            params=params,
            environ=environ,
            interpreter=INTERPRETER,
            args_json_file=ARGS_JSON_FILE,
        )
        # Then they are the same, element for element
        assert list(ours) == theirs
        assert len(ours) > len(spec.command) - 1  # the parameters took part: no macro expanded to nothing


def test_the_corpus_covers_every_wandb_macro_and_envvars() -> None:
    # Given the corpus files above / Then together they use every macro W&B knows, and ${envvar:NAME}
    commands = [load_sweep_config(str(p.values[0])) for p in corpus_with_a_program()]
    used = {str(element) for doc in commands if doc for element in doc.get("command") or []}
    wandb_macros = {m.token for m in Macro if m not in OWN_MACROS}
    assert wandb_macros <= used
    assert any("${envvar:" in element and element.startswith("--") for element in used)
    assert any(not isinstance(element, str) for doc in commands if doc for element in doc.get("command") or [])


# Hand-made parameters of every kind, through every W&B macro: no sweep file, no parser in between.
EVERY_KIND: dict[str, Any] = {
    "lr": 1e-05,
    "big": 1.7976931348623157e308,
    "tiny": 5e-324,
    "neg": -0.0,
    "count": 9007199254740993,
    "amp": True,
    "ema": False,
    "tag": None,
    "sizes": [8, 16],
    "empty": {},
    "words": "two words",
    "quotes": "it's \"quoted\" \\ back",
    "unicode": "ünïcödé ✓ 日本語 \U0001f600",
    "control": "tab\there\nnewline",
    "optimizer": {"name": "adam", "betas": [0.9, 0.999], "nested": {"it's": "a \"b\" 'c'", "none": None, "ok": False}},
    "optimizer.config.learning_rate": 0.01,
    "model-name_2": "x",
}


@pytest.mark.parametrize("macro", [m for m in Macro if m not in OWN_MACROS], ids=lambda m: m.value)
def test_values_of_every_kind_are_spelled_as_wandb_spells_them(macro: Macro) -> None:
    # Given one macro between literals, one of them with a variable / When both build the argv / Then they agree
    command = ["${env}", "--data=${envvar:SWEEPCTL_TEST_DATA_DIR}", macro.token, "--end"]
    environ = {**BASE_ENVIRON, **SET_VARIABLES}
    ours = build_argv(command, program="t.py", params=EVERY_KIND, interpreter=INTERPRETER, environ=environ, args_json_file=ARGS_JSON_FILE)
    theirs = wandb_argv(command, program="t.py", params=EVERY_KIND, environ=environ, interpreter=INTERPRETER, args_json_file=ARGS_JSON_FILE)
    assert list(ours) == theirs
