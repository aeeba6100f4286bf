"""Reading sweep files: YAML or JSON, compatible with Weights & Biases sweep files.

`load_sweep_file` reads a file and `parse_sweep` validates a mapping into a
`SweepSpec`. Validation never stops at the first mistake: every problem found
is reported in one `SpecError`, each with the field path it concerns
(`parameters.optimizer.parameters.lr.max`, `command[2]`) and what was
expected. The format is documented for editors by `schema_path()`.

Every file W&B's own schema check accepts is accepted (W&B Launch's keys
aside, refused as such: `sweepctl._wandb_keys`), plus sweepctl's own keys
(`function`, `tpe`, `seed`, `data`, `parallelism`, ...). What is accepted but
worth saying (a W&B server key ignored, a deprecated distribution) becomes a
note in `SweepSpec.notes`. `method` defaults to tpe (W&B requires it); a metric
is required where the method optimizes one (tpe, bayes) or early_terminate
compares trials by it; grid and random run without one. `metric` may also be a
list of objectives (W&B's `metrics` too): `sweepctl._objectives`.
"""

from __future__ import annotations

import copy
import functools
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sweepctl import _validate as v
from sweepctl._cross_validation import parse_cross_validation
from sweepctl._documents import read_document
from sweepctl._objectives import ONE_METRIC_BLOCKS, check_several, parse_objectives
from sweepctl._parameters import largest_set_bytes, parse_parameters
from sweepctl._tpe_options import check_engine, parse_tpe_options
from sweepctl._wandb_keys import CUSTOM_METHOD, LAUNCH_KEYS, SERVER_KEYS, check_wandb_keys, launch_problem
from sweepctl._warm_start import parse_warm_start
from sweepctl.command import PARAMETER_MACROS, Macro, largest_expansion_bytes, macro_problem, python_spelling_extra
from sweepctl.early_terminate import MAX_STEP, parse_early_terminate
from sweepctl.errors import SpecError
from sweepctl.space import Parameter, SearchSpace
from sweepctl.spec import (
    DEFAULT_COMMAND,
    DEFAULT_MAX_RETRIES,
    DEFAULT_QUEUE,
    MAX_BANDS,
    MAX_FOLDS,
    MAX_OBJECTIVES,
    MAX_TRIALS,
    MIN_ETA,
    Goal,
    Method,
    SweepSpec,
)

# The limits a sweep file is checked against, the early_terminate ones included (defined beside their records).
__all__ = [
    "MAX_ARGV_BYTES",
    "MAX_BANDS",
    "MAX_FOLDS",
    "MAX_OBJECTIVES",
    "MAX_PARALLELISM",
    "MAX_SEED",
    "MAX_STEP",
    "MAX_TRIALS",
    "MIN_ETA",
    "load_sweep_config",
    "load_sweep_file",
    "parse_sweep",
    "schema_path",
]

_TOP_KEYS = (
    "method",
    "metric",
    "metrics",  # W&B's spelling of several objectives (sweepctl._objectives)
    "parameters",
    "program",
    "function",
    "reuse_process",
    "command",
    "name",
    "description",
    "run_cap",
    "early_terminate",
    *SERVER_KEYS,  # W&B's server keys: accepted, ignored, noted
    *LAUNCH_KEYS,  # W&B Launch's keys: refused with a message that says so
    "parallelism",
    "max_failures",
    "max_retries",
    "trial_timeout",
    "seed",
    "queue",
    "data",
    "warm_start",
    "tpe",
    "cross_validation",
)
# W&B's schema takes a whole float where it asks for an integer (JSON Schema's "integer" does).
_WHOLE_FLOAT_LIMIT = 2**63
_FUNCTION = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
_QUEUE = re.compile(r"[A-Za-z0-9_.:-]+")

# Trials queued or running at once. The controller creates the missing ones in
# passes; more than this could never be running, and each queued one is a Redis
# record and a Celery message.
MAX_PARALLELISM = 10_000
# numpy seeds take any size; a 64-bit bound keeps the seed a number every client can store.
MAX_SEED = 2**64 - 1
# A trial's argv and environment reach the launcher in one message of at most
# 1 MiB (workers.launcher.MAX_MESSAGE), next to the worker's own environment:
# the command with the largest parameter set expanded gets a quarter of it.
MAX_ARGV_BYTES = 256 * 1024
# ${env}, ${interpreter} and ${args_json_file} become paths of the worker's: PATH_MAX each at most.
_PATH_BYTES = 4096

# Top-level keys holding one checked value each: key -> check(problems, path, raw).
_SCALARS: dict[str, Callable[[v.Problems, str, Any], Any]] = {
    "name": lambda problems, path, raw: v.string(problems, path, raw),
    "run_cap": lambda problems, path, raw: v.integer(problems, path, _whole(raw), ge=1, le=MAX_TRIALS),
    "parallelism": lambda problems, path, raw: v.integer(problems, path, raw, ge=1, le=MAX_PARALLELISM),
    "max_failures": lambda problems, path, raw: v.integer(problems, path, raw, ge=0, le=MAX_TRIALS),
    "max_retries": lambda problems, path, raw: v.integer(problems, path, raw, ge=0, le=100),
    "trial_timeout": lambda problems, path, raw: v.number(problems, path, raw, gt=0),
    # numpy's random generators, which hyperopt seeds, refuse negative seeds.
    "seed": lambda problems, path, raw: v.integer(problems, path, raw, ge=0, le=MAX_SEED),
    "queue": lambda problems, path, raw: v.string(
        problems, path, raw, pattern=_QUEUE, shape="a queue name of letters, digits and _ . : -"
    ),
    "data": lambda problems, path, raw: _data(problems, raw),
    "reuse_process": lambda problems, path, raw: v.boolean(problems, path, raw),
}


def schema_path() -> Path:
    """The JSON Schema (draft 2020-12) of sweep files, for editors and validators."""
    return Path(__file__).with_name("schema") / "sweep.schema.json"


def load_sweep_file(path: str | os.PathLike[str]) -> SweepSpec:
    """Read and validate a sweep file.

    `.json` files are read as JSON, anything else as YAML. Raises SpecError
    naming the file when it cannot be read, is over `_documents.MAX_FILE_BYTES`, is not
    well-formed (with line and column), nests or expands (YAML aliases) past
    the document limits of `parse_sweep`, or does not describe a valid sweep
    that can run from here (its TPE engine installed).
    """
    source = os.fspath(path)
    return parse_sweep(read_document(source), source=source, check_installed=True)


def load_sweep_config(config: Mapping[str, Any], source: str = "sweep config") -> SweepSpec:
    """Validate a sweep given as a mapping (`sweepctl.sweep(config)`) as a file is checked, its TPE engine included."""
    return parse_sweep(config, source=source, check_installed=True)


def parse_sweep(doc: Any, source: str = "<sweep>", *, check_installed: bool = False) -> SweepSpec:
    """Validate a decoded sweep file and build its `SweepSpec`.

    Raises one SpecError carrying every problem found; `source` names the
    file in its message. `raw` of the result is a deep copy of `doc`.
    With `check_installed`, a TPE engine that cannot be imported here is a
    problem too: files are checked so where they are validated and submitted,
    while workers, which re-parse stored sweeps, need no TPE engine at all.
    """
    problems = v.Problems()
    document = _document(problems, doc, source)
    spec = _spec(problems, document, check_installed)
    if len(problems) or spec is None:
        raise SpecError(source, problems.items)
    return spec


def _document(problems: v.Problems, doc: Any, source: str) -> Mapping[str, Any]:
    """`doc` if it is a mapping within the document limits; SpecError otherwise (nothing else can be checked)."""
    if not isinstance(doc, Mapping):
        found = "an empty document" if doc is None else v.describe(doc)
        problems.add("", f"expected a mapping with metric, parameters and program or function, got {found}")
        raise SpecError(source, problems.items)
    # Alone and first: every check below walks the document, and would recurse or expand without end.
    if (too_big := v.document_problem(doc)) is not None:
        raise SpecError(source, [too_big])
    v.check_keys(problems, "", doc, _TOP_KEYS)
    check_wandb_keys(problems, doc)
    return doc


def _spec(problems: v.Problems, doc: Mapping[str, Any], check_installed: bool) -> SweepSpec | None:
    """Every field of `doc` checked into `problems`; the spec, or None when a part it needs is invalid."""
    get = functools.partial(_get, doc)
    method = _method(problems, get("method"))
    objectives = parse_objectives(problems, get("metric"), get("metrics"), method, get("method"))
    metric = objectives[0] if objectives else None
    parameters = parse_parameters(problems, get("parameters"), grid=method is Method.GRID)
    # A W&B Launch file runs a job or image instead of a program: its Launch key is the one problem to name.
    launched = any(key in doc for key in ("job", "image_uri"))
    program, function, command = _entry_point(problems, get("program"), get("function"), get("command"), launched)
    # No metric at all: early_terminate has nothing to compare by. An invalid one is reported already.
    given = get("metric") is not v.MISSING or get("metrics") is not v.MISSING
    goal = None if not given else Goal.MINIMIZE if metric is None else metric.goal
    several = len(objectives) > 1  # early_terminate is refused then (check_several): one problem, not two
    stopping = None if several else parse_early_terminate(problems, get("early_terminate"), goal)
    warm_points, warm_sweeps = parse_warm_start(problems, get("warm_start"), parameters)
    tpe_options = parse_tpe_options(problems, get("tpe"))
    cross_validation = parse_cross_validation(problems, get("cross_validation"), stopping, command)
    check_several(problems, objectives, method, tpe_options, also={key: get(key) is not v.MISSING for key in ONE_METRIC_BLOCKS})
    if method is Method.TPE:
        check_engine(problems, tpe_options, parameters, installed=check_installed)
    values = _scalars(problems, doc)
    if values.get("reuse_process") and function is None:
        problems.add("reuse_process", "only with 'function': a program trial is a process of its own")
    if parameters is not None and function is None:
        _check_argv_size(problems, command, program, parameters)
    if len(problems) or parameters is None or method is None:
        return None
    return SweepSpec(
        metric=metric,
        space=SearchSpace(parameters),
        method=method,
        name=values.get("name"),
        description=doc.get("description"),
        program=program,
        function=function,
        reuse_process=bool(values.get("reuse_process", False)),
        command=command,
        run_cap=values.get("run_cap"),
        parallelism=values.get("parallelism"),
        max_failures=values.get("max_failures"),
        max_retries=values.get("max_retries", DEFAULT_MAX_RETRIES),
        trial_timeout=values.get("trial_timeout"),
        seed=values.get("seed"),
        queue=values.get("queue", DEFAULT_QUEUE),
        data=values.get("data", ()),
        stopping=stopping,
        warm_points=warm_points,
        tpe=tpe_options,
        other_objectives=objectives[1:],
        warm_sweeps=warm_sweeps,
        cross_validation=cross_validation,
        notes=problems.notes,
        raw=copy.deepcopy(dict(doc)),
    )


def _get(doc: Mapping[str, Any], key: str) -> Any:
    return doc.get(key, v.MISSING)


def _scalars(problems: v.Problems, doc: Mapping[str, Any]) -> dict[str, Any]:
    """The top-level keys of one checked value each (`_SCALARS`), and the free-text one checked as a string."""
    if "description" in doc and not isinstance(doc["description"], str):
        problems.add("description", f"expected a string, got {v.describe(doc['description'])}")
    return {key: check(problems, key, doc[key]) for key, check in _SCALARS.items() if key in doc}


def _whole(raw: Any) -> Any:
    """A whole float as the integer it is (`10.0` -> 10), as W&B's schema reads an integer; anything else as is."""
    return int(raw) if isinstance(raw, float) and raw.is_integer() and abs(raw) < _WHOLE_FLOAT_LIMIT else raw


def _method(problems: v.Problems, raw: Any) -> Method | None:
    if raw is v.MISSING:
        return Method.TPE
    if raw == CUSTOM_METHOD:
        problems.add("method", launch_problem("method custom, a search run by a W&B Launch scheduler"))
        return None
    name = v.choice(problems, "method", raw, Method.names(), "method")
    return None if name is None else Method.by_name(name)


def _entry_point(
    problems: v.Problems, program: Any, function: Any, command: Any, launched: bool = False
) -> tuple[str | None, str | None, tuple[str, ...]]:
    """What a trial runs: `(program, function, command)`, at most one of the first two set.

    With neither, the command runs as written: as W&B allows, a command that
    does not use ${program} needs no program (`[python3, -m, pkg.train, ${args}]`).
    With neither and no command either, the sweep is for `sweepctl.agent(sweep_id,
    function=...)`, which runs its trials in the calling process (`SweepSpec.runs_in_caller`).
    """
    has_program, has_function = program is not v.MISSING, function is not v.MISSING
    if has_program:
        program = v.string(problems, "program", program)
    if has_function:
        function = v.string(
            problems, "function", function, pattern=_FUNCTION, shape="'module:callable' (e.g. 'mypkg.train:main')"
        )
    argv = None if command is v.MISSING else _command(problems, command)
    if has_function and command is not v.MISSING:
        problems.add("command", "not allowed with 'function': a function is called in the worker, not run as a command")
    if has_program and has_function:
        problems.add("function", "not allowed together with 'program'; give exactly one of them")
    elif not has_program and not has_function and not launched and command is not v.MISSING and _uses_program(command):
        needed_by = "command uses ${program}; "
        problems.add(
            "program", f"required: {needed_by}give 'program' (a script to run) or 'function' ('module:callable')"
        )
    return _or_none(program, has_program), _or_none(function, has_function), argv or DEFAULT_COMMAND


def _uses_program(command: Any) -> bool:
    """Whether the command as written (the default when absent) runs ${program}."""
    if command is v.MISSING:
        return True
    return isinstance(command, list) and Macro.PROGRAM.token in command


def _or_none(value: Any, present: bool) -> Any:
    return value if present else None


def _command(problems: v.Problems, raw: Any) -> tuple[str, ...] | None:
    if not isinstance(raw, list):
        problems.add("command", f"expected a list of strings, got {v.describe(raw)}")
        return None
    if not raw:
        problems.add("command", "must not be empty")
        return None
    argv = [_command_element(problems, v.item("command", index), element) for index, element in enumerate(raw)]
    return None if None in argv else tuple(e for e in argv if e is not None)


def _command_element(problems: v.Problems, path: str, element: Any) -> str | None:
    """One element as the trial gets it: a string, or a number, boolean or null written by str() as W&B's agent does."""
    if not (element is None or isinstance(element, (str, int, float))):
        problems.add(path, f"expected a string or a number, got {v.describe(element)}")
        return None
    text = str(element)  # the document check refused integers past str()'s digit limit
    if (why := macro_problem(text)) is not None:
        problems.add(path, why)
        return None
    if (size := _utf8_bytes(text)) > v.MAX_VALUE_BYTES:
        # Linux refuses any argv element over 128 KiB; a literal gets what one parameter value gets.
        problems.add(path, f"expected at most {v.MAX_VALUE_BYTES:,} bytes, got {size:,}")
        return None
    return text


def _check_argv_size(problems: v.Problems, command: tuple[str, ...], program: str | None, leaves: tuple[Parameter, ...]) -> None:
    """Report a command whose argv, with the largest parameter set expanded, is over MAX_ARGV_BYTES.

    Each parameter macro counts the most its spelling can take (`command.largest_expansion_bytes`).
    A `${envvar:NAME}` counts as written: its value is the worker's, unknown here; an argv that
    does not fit then fails its trial at start, with the reason.
    """
    set_bytes = largest_set_bytes(leaves)
    python_extra = python_spelling_extra(leaves)
    total = 0
    for element in command:
        macro = Macro.parse(element)
        if macro is not None and macro in PARAMETER_MACROS:
            total += largest_expansion_bytes(macro, set_bytes, python_extra)
        elif macro is Macro.PROGRAM:
            total += _utf8_bytes(program or "")
        elif macro is not None:
            total += _PATH_BYTES
        else:
            total += _utf8_bytes(element)
    if total > MAX_ARGV_BYTES:
        problems.add(
            "command",
            f"expected at most {MAX_ARGV_BYTES // 1024} KiB of arguments with the largest parameter set "
            f"({set_bytes:,} bytes as JSON for each of ${{args_json}} and the like, up to {set_bytes + python_extra:,} "
            f"for each of ${{args}} and the like), got up to {total:,} bytes",
        )


def _utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))  # JSON may carry lone surrogates ("\\ud800")


def _data(problems: v.Problems, raw: Any) -> tuple[str, ...] | None:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        problems.add("data", f"expected a path or a list of paths, got {v.describe(raw)}")
        return None
    paths = [v.string(problems, v.item("data", i), element) for i, element in enumerate(raw)]
    return None if None in paths else tuple(p for p in paths if p is not None)
