"""The W&B corpus: W&B sweep files, real and written for it, judged by W&B's own schema check and by sweepctl.

tests/wandb_corpus/
  *.yaml       W&B's check accepts them: so do `parse_sweep` and `load_sweep_file`, and each runs a first trial
  invalid/     W&B's check refuses them: so does sweepctl, naming the field (`# expect: field.path`)
  launch/      W&B's check accepts them, for W&B Launch: sweepctl refuses them as W&B Launch features
  stricter/    W&B's check accepts them, but W&B cannot use them: sweepctl refuses them, naming the field
  deprecated/  W&B's check now refuses them as deprecated: sweepctl keeps them, with a note (`# note: field.path`)

The oracle is W&B's: `sweeps.schema_violations_from_proposed_config` on the file as `wandb sweep` reads it
(the wandb package's `load_sweep_config`). Coverage is read from W&B too: every distribution, top-level key,
metric key, method and early_terminate option of the `sweeps` package's schema.json, and every command macro
of the wandb package's agent, must appear in the corpus, so a key W&B adds fails here until a file uses it.
Files named argv-*.yaml come from the argv tests of the same corpus: they are W&B-valid files like the rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from sweeps import schema_violations_from_proposed_config
from sweeps.config import ParamValidationError, fill_parameter
from sweeps.config.schema import sweep_config_jsonschema
from wandb.sdk.launch.sweeps.utils import SWEEP_COMMAND_ENV_VAR_REGEX, create_sweep_command_args, load_sweep_config

from controller.suggester_factory import make_suggester
from sweepctl.errors import SpecError
from sweepctl.sweepfile import load_sweep_file, parse_sweep

CORPUS = Path(__file__).resolve().parents[1] / "wandb_corpus"
ACCEPTED = sorted(CORPUS.glob("*.yaml"))
INVALID = sorted((CORPUS / "invalid").glob("*.yaml"))
LAUNCH = sorted((CORPUS / "launch").glob("*.yaml"))
STRICTER = sorted((CORPUS / "stricter").glob("*.yaml"))
DEPRECATED = sorted((CORPUS / "deprecated").glob("*.yaml"))
SCHEMA = sweep_config_jsonschema
_MACRO = re.compile(r"^\$\{(\w+)\}$")


def name(path: Path) -> str:
    return str(path.relative_to(CORPUS))


def wandb_document(path: Path) -> dict[str, Any]:
    """The file as `wandb sweep` reads it."""
    doc = load_sweep_config(str(path))
    assert isinstance(doc, dict), path
    return doc


def wandb_verdict(path: Path) -> list[str]:
    """W&B's schema violations for the file: empty when W&B accepts it."""
    return schema_violations_from_proposed_config(wandb_document(path))


def header(path: Path, key: str) -> str:
    """The value of the file's `# key: value` header comment (the field an error or note must name)."""
    found = re.search(rf"^# {key}: (\S+)$", path.read_text(encoding="utf-8"), re.MULTILINE)
    assert found, f"{name(path)} has no '# {key}:' header"
    return found.group(1)


def refusal(path: Path) -> list[tuple[str, str]]:
    """sweepctl's problems with the file, which both readers must refuse alike."""
    with pytest.raises(SpecError) as from_file:
        load_sweep_file(path)
    with pytest.raises(SpecError) as from_document:
        parse_sweep(wandb_document(path), source=str(path))
    assert [p for p, _ in from_document.value.problems] == [p for p, _ in from_file.value.problems]
    return from_file.value.problems


# --- the files W&B accepts ----------------------------------------------------------------


def test_the_corpus_holds_at_least_thirty_w_and_b_files_in_every_category() -> None:
    assert len(ACCEPTED) >= 30
    assert INVALID and LAUNCH and STRICTER and DEPRECATED


@pytest.mark.parametrize("path", ACCEPTED, ids=name)
def test_every_file_w_and_b_accepts_is_accepted(path: Path) -> None:
    # Given a file W&B's own schema check accepts
    assert wandb_verdict(path) == []
    # When sweepctl reads it, from the file and as W&B's loader decodes it
    spec = load_sweep_file(path)
    assert parse_sweep(wandb_document(path)).space == spec.space
    # Then its suggester draws a first trial holding every parameter, storable as JSON
    suggestion = make_suggester(spec.method, spec.space, 0, spec.tpe).suggest(1)
    assert suggestion is not None and set(suggestion) == set(spec.space.names)
    json.dumps(spec.space.assemble(suggestion), allow_nan=False)
    # and any note is about a key it ignores
    assert all(field.split(".")[0] in ("controller", "apiVersion", "kind", "entity", "project", "metric") for field, _ in spec.notes)


@pytest.mark.parametrize("path", INVALID, ids=name)
def test_every_file_w_and_b_refuses_is_refused_naming_the_field(path: Path) -> None:
    # Given a file W&B's schema check refuses
    assert wandb_verdict(path) != []
    # Then sweepctl refuses it too, naming the field the header expects
    assert header(path, "expect") in [field for field, _ in refusal(path)]


@pytest.mark.parametrize("path", LAUNCH, ids=name)
def test_w_and_b_launch_files_are_refused_as_launch_features(path: Path) -> None:
    # Given a W&B Launch file W&B accepts
    assert wandb_verdict(path) == []
    # Then sweepctl refuses it, and says the field is a W&B Launch feature it does not run
    problems = dict(refusal(path))
    assert "is a W&B Launch feature, which sweepctl does not run" in problems[header(path, "expect")]


@pytest.mark.parametrize("path", STRICTER, ids=name)
def test_files_w_and_b_accepts_but_cannot_use_are_refused_naming_the_field(path: Path) -> None:
    # Given a file W&B accepts but misbehaves on (the header says how)
    assert wandb_verdict(path) == []
    assert path.read_text(encoding="utf-8").startswith("# W&B")
    # Then sweepctl refuses it, naming the field
    assert header(path, "expect") in [field for field, _ in refusal(path)]


@pytest.mark.parametrize("path", DEPRECATED, ids=name)
def test_deprecated_distributions_w_and_b_now_refuses_are_kept_with_a_note(path: Path) -> None:
    assert any("deprecated" in v or "base-e exponents" in v for v in wandb_verdict(path))
    spec = load_sweep_file(path)
    assert header(path, "note") in [field for field, _ in spec.notes]


# --- coverage of W&B's schema and agent -------------------------------------------------------

RUNNABLE = ACCEPTED + DEPRECATED  # the files sweepctl runs: their parameters are what it draws
EVERY_FILE = RUNNABLE + LAUNCH


def leaves(parameters: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, spec) of every parameter spec, nested groups included."""
    for key, spec in parameters.items():
        yield key, spec
        if isinstance(spec, dict) and isinstance(spec.get("parameters"), dict):
            yield from leaves(spec["parameters"])


def parameter_definitions() -> set[str]:
    """The names of the parameter forms W&B's schema allows (param_uniform, param_beta, ...)."""
    return {ref["$ref"].rsplit("/", 1)[1] for ref in SCHEMA["definitions"]["parameter"]["anyOf"]}


def schema_distributions() -> set[str]:
    """Every distribution name W&B's schema allows."""
    found: set[str] = set()
    for definition in parameter_definitions():
        forms = SCHEMA["definitions"][definition].get("anyOf", [SCHEMA["definitions"][definition]])
        for form in forms:
            found.update(form.get("properties", {}).get("distribution", {}).get("enum", []))
    return found


def matched_definition(key: str, spec: dict[str, Any]) -> str:
    """Which of W&B's parameter forms `spec` is, as W&B's own `fill_parameter` decides."""
    try:
        result = fill_parameter(key, spec)
    except ParamValidationError:
        return "param_dict"
    assert result is not None, (key, spec)
    return result[0]


@cache
def corpus_parameters() -> tuple[tuple[str, str, dict[str, Any]], ...]:
    """(file, name, spec) of every parameter of the files sweepctl runs."""
    return tuple(
        (name(path), key, spec) for path in RUNNABLE for key, spec in leaves(wandb_document(path).get("parameters", {}))
    )


def test_every_distribution_of_w_and_b_s_schema_is_in_the_corpus() -> None:
    named = {spec["distribution"] for _, _, spec in corpus_parameters() if "distribution" in spec}
    assert schema_distributions() - named == set()


def test_every_parameter_form_of_w_and_b_s_schema_is_in_the_corpus() -> None:
    # The inferred forms too: value, values, min/max as integers and as floats, a nested group
    matched = {matched_definition(key, spec) for _, key, spec in corpus_parameters()}
    assert parameter_definitions() - matched == set()


def test_every_top_level_key_of_w_and_b_s_schema_is_in_the_corpus() -> None:
    used = {key for path in EVERY_FILE for key in wandb_document(path)}
    assert set(SCHEMA["properties"]) - used == set()


def test_every_method_metric_key_and_goal_of_w_and_b_s_schema_is_in_the_corpus() -> None:
    docs = [wandb_document(path) for path in EVERY_FILE]
    methods = {doc.get("method") for doc in docs}
    assert set(SCHEMA["properties"]["method"]["enum"]) - methods == set()
    metrics = [doc["metric"] for doc in docs if isinstance(doc.get("metric"), dict)]
    assert set(SCHEMA["definitions"]["metric"]["properties"]) - {key for m in metrics for key in m} == set()
    assert set(SCHEMA["definitions"]["metric"]["properties"]["goal"]["enum"]) - {m.get("goal") for m in metrics} == set()
    controllers = {doc["controller"]["type"] for doc in docs if "controller" in doc}
    assert set(SCHEMA["properties"]["controller"]["properties"]["type"]["enum"]) - controllers == set()


def test_every_early_terminate_option_of_w_and_b_s_schema_is_in_the_corpus() -> None:
    blocks = [wandb_document(path)["early_terminate"] for path in RUNNABLE if "early_terminate" in wandb_document(path)]
    hyperband = SCHEMA["definitions"]["hyperband_stopping"]
    # Every key, each way of giving the bands (min_iter; max_iter and s), and strict both ways
    assert set(hyperband["properties"]) - {key for block in blocks for key in block} == set()
    for form in hyperband["anyOf"]:
        assert any(set(form["required"]) <= set(block) and ("min_iter" in block) == ("min_iter" in form["required"]) for block in blocks)
    assert {block["strict"] for block in blocks if "strict" in block} == {True, False}


def agent_macros() -> set[str]:
    """Every macro of the wandb package's agent: the argument forms it builds, the ones it adds, and ${envvar:NAME}.

    `args_dict` is left out: it is the mapping `${args_json}` is built from, not a list of arguments
    (the agent would splice its keys into the command).
    """
    built = set(create_sweep_command_args({"args": {"lr": {"value": 0.1}}})) - {"args_dict"}
    added_by_the_agent = {"env", "interpreter", "program", "args_json_file"}
    return built | added_by_the_agent | {"envvar"}


def corpus_macros() -> set[str]:
    used: set[str] = set()
    for path in ACCEPTED:
        for element in wandb_document(path).get("command", []):
            text = str(element)
            if SWEEP_COMMAND_ENV_VAR_REGEX.search(text):
                used.add("envvar")
            elif found := _MACRO.match(text):
                used.add(found.group(1))
    return used


def test_every_command_macro_of_the_w_and_b_agent_is_in_the_corpus() -> None:
    assert agent_macros() - corpus_macros() == set()
