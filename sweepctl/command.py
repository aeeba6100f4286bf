"""Turning a sweep's argv template into the argv of one trial, exactly as W&B's agent does.

The template uses the W&B sweep macros, each as a whole element of the list,
and `${envvar:NAME}` anywhere inside an element. For the same parameters, every
macro expands to what `wandb agent` builds (`wandb_agent.Agent._command_run`
with `wandb.sdk.launch.sweeps.utils.create_sweep_command_args`): one flag per
TOP-LEVEL key of the nested assignment, its value spelled by Python's `str()`
(`--optimizer={'lr': 0.001}`, `--sizes=[8, 16]`, `--amp=True`, `--tag=None`), and
`${args_json}` as `json.dumps` with its default spacing. A nested group is one
flag; a dotted name (`model.lr`) is one key.

sweepctl's own macros keep the older flattened form: `${args_flat}` writes one
`--group.name=value` per leaf (strings as-is, floats by `repr`, lists and
mappings as compact JSON), `${args_flat_no_hyphens}` the same without `--`.

Expansion is a single pass with no shell: parameter values and environment
values become literal argv elements and are never scanned for macros again,
so a value such as `; rm -rf ~` or `${program}` reaches the program exactly as
written. Deliberate differences from W&B's agent, each where it would silently
do something else than the file says:
- `${interpreter}` is the worker's Python (`sys.executable`), where W&B's agent
  writes `python` and lets PATH choose one.
- An element that is not a whole macro yet holds `${` (`--lr=${args}`, `${porgram}`,
  `${envvar:lower}`) is refused: W&B's agent passes it on unexpanded or drops it.
- `${args_dict}` is refused: W&B's agent replaces it with the parameter NAMES only
  (it extends the argv with the keys of a dict); `${args_json}` gives the values.
- An environment value that itself reads as a macro stays literal; W&B's agent
  would expand it on a second look.
"""

from __future__ import annotations

import json
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any

from sweepctl.space import Distribution, Parameter

JSON = Any


class Macro(str, Enum):
    """The command macros; `token` is how one is written in a command."""

    ENV = "env"
    INTERPRETER = "interpreter"
    PROGRAM = "program"
    ARGS = "args"
    ARGS_NO_EQUALS = "args_no_equals"
    ARGS_NO_HYPHENS = "args_no_hyphens"
    ARGS_NO_BOOLEAN_FLAGS = "args_no_boolean_flags"
    ARGS_APPEND_HYDRA = "args_append_hydra"
    ARGS_OVERRIDE_HYDRA = "args_override_hydra"
    ARGS_JSON = "args_json"
    ARGS_JSON_FILE = "args_json_file"
    ARGS_FLAT = "args_flat"  # sweepctl: one --group.name=value per leaf
    ARGS_FLAT_NO_HYPHENS = "args_flat_no_hyphens"  # sweepctl: one group.name=value per leaf
    FOLD = "fold"  # sweepctl: the fold a task of a k-fold trial runs (0 .. k-1; cross_validation)

    @property
    def token(self) -> str:
        return "${" + self.value + "}"

    @classmethod
    def parse(cls, element: str) -> Macro | None:
        """The macro that `element` is in full, or None for a literal element."""
        return _BY_TOKEN.get(element)


_BY_TOKEN = {m.token: m for m in Macro}
# sweepctl's own macros, which W&B's agent does not know.
OWN_MACROS = frozenset({Macro.ARGS_FLAT, Macro.ARGS_FLAT_NO_HYPHENS, Macro.FOLD})
_ANY_MACRO = re.compile(r"\$\{[^}]*\}?")
# W&B's own pattern (SWEEP_COMMAND_ENV_VAR_REGEX): upper-case names only.
_ENVVAR = re.compile(r"\$\{envvar:([A-Z0-9_]*)\}")
_ARGS_DICT = "${args_dict}"


def macro_problem(element: str) -> str | None:
    """Why `element` is not a valid command element, or None when it is.

    An element is valid when it is exactly one macro, or holds no `${` outside
    `${envvar:NAME}` references. Anything else is refused rather than left for
    W&B's behaviour, which is silent: a half-embedded macro (`--lr=${args}`)
    is passed on unexpanded, an unknown whole one (`${porgram}`) dropped.
    """
    if Macro.parse(element) is not None:
        return None
    if any(not m.group(1) for m in _ENVVAR.finditer(element)):
        return f"${{envvar:}} needs a variable name (${{envvar:NAME}}), got {element!r}"
    rest = _ENVVAR.sub("", element)
    if "${" not in rest:
        return None
    match = _ANY_MACRO.search(rest)
    found = match.group() if match else "${"
    if found == _ARGS_DICT:
        return (
            "${args_dict} is not supported: W&B's agent replaces it with the parameter names only, "
            "without their values; use ${args_json} for the parameters as one JSON element"
        )
    if found in _BY_TOKEN:
        return f"macro {found} must be a whole element of the command (W&B's agent would pass it on unexpanded), got {element!r}"
    known = ", ".join(_BY_TOKEN)
    if found.startswith("${envvar:"):
        return f"expected ${{envvar:NAME}} with NAME of upper-case letters, digits and _ (the only ones W&B's agent expands), got {found!r}"
    return f"unknown macro {found!r} (W&B's agent would drop it); expected one of: {known} as a whole element, or ${{envvar:NAME}}"


def expand_environment(element: str, environ: Mapping[str, str]) -> str:
    """`element` with each `${envvar:NAME}` replaced by NAME's value, or by NAME when it is unset (as W&B's agent does)."""
    return _ENVVAR.sub(lambda m: environ.get(m.group(1), m.group(1)), element)


def build_argv(
    command: Sequence[str],
    *,
    program: str | None,
    params: Mapping[str, JSON],
    interpreter: str,
    environ: Mapping[str, str],
    env: str = "/usr/bin/env",
    args_json_file: str | None = None,
    fold: int | None = None,
) -> tuple[str, ...]:
    """Expand the macros of `command` for one trial (for one fold task of it: `fold`).

    `params` is the nested assignment (`SearchSpace.assemble`); `environ` is the
    trial's environment, read for `${envvar:NAME}`. Literal elements are copied
    unchanged. Raises ValueError when an element is not a valid command element
    (see `macro_problem`), when `${program}` is used without a program,
    `${args_json_file}` without a file path, or `${fold}` without a fold.
    """
    paths = {
        Macro.ENV: env,
        Macro.INTERPRETER: interpreter,
        Macro.PROGRAM: program,
        Macro.ARGS_JSON_FILE: args_json_file,
        Macro.FOLD: None if fold is None else str(fold),
    }
    argv: list[str] = []
    for element in command:
        macro = Macro.parse(element)
        if macro is None:
            if (why := macro_problem(element)) is not None:
                raise ValueError(why)
            argv.append(expand_environment(element, environ))
        elif macro in _FORMS:
            argv.extend(_FORMS[macro](params))
        elif (path := paths[macro]) is not None:
            argv.append(path)
        elif macro is Macro.PROGRAM:
            raise ValueError("command uses ${program} but the sweep has no program")
        elif macro is Macro.FOLD:
            raise ValueError("command uses ${fold} but the trial is no fold of a k-fold trial (cross_validation)")
        else:
            raise ValueError(f"command uses {macro.token} but no file path was given")
    return tuple(argv)


def args_json_text(params: Mapping[str, JSON]) -> str:
    """The `${args_json}` element and the `${args_json_file}` content: `json.dumps` with its defaults, as W&B's agent writes them."""
    return json.dumps(dict(params), default=_json_scalar)


def _no_boolean_flags(params: Mapping[str, JSON]) -> list[str]:
    """`--name` for True, nothing for False, `--name=value` for anything else (0 is not False)."""
    return [f"--{k}" if v is True else f"--{k}={v}" for k, v in params.items() if v is not False]


# How each parameter macro spells a nested assignment. f"{v}" is str(v) for every JSON value, as in W&B's agent.
_FORMS: dict[Macro, Callable[[Mapping[str, JSON]], list[str]]] = {
    Macro.ARGS: lambda params: [f"--{k}={v}" for k, v in params.items()],
    Macro.ARGS_NO_EQUALS: lambda params: [part for k, v in params.items() for part in (f"--{k}", str(v))],
    Macro.ARGS_NO_HYPHENS: lambda params: [f"{k}={v}" for k, v in params.items()],
    Macro.ARGS_NO_BOOLEAN_FLAGS: _no_boolean_flags,
    Macro.ARGS_APPEND_HYDRA: lambda params: [f"+{k}={v}" for k, v in params.items()],
    Macro.ARGS_OVERRIDE_HYDRA: lambda params: [f"++{k}={v}" for k, v in params.items()],
    Macro.ARGS_JSON: lambda params: [args_json_text(params)],
    Macro.ARGS_FLAT: lambda params: [f"--{name}={format_value(v)}" for name, v in flat_params(params)],
    Macro.ARGS_FLAT_NO_HYPHENS: lambda params: [f"{name}={format_value(v)}" for name, v in flat_params(params)],
}
PARAMETER_MACROS = frozenset(_FORMS)
# Spelled by str(): strings inside lists and mappings as Python reprs, which can be longer than their JSON.
_PYTHON_SPELLED = PARAMETER_MACROS - {Macro.ARGS_JSON, Macro.ARGS_FLAT, Macro.ARGS_FLAT_NO_HYPHENS}


def largest_expansion_bytes(macro: Macro, json_bytes: int, python_extra: int) -> int:
    """The most UTF-8 bytes a parameter macro's elements take, all together.

    `json_bytes` bounds the parameter set as spaced ASCII JSON (`_parameters.largest_set_bytes`),
    `python_extra` how much longer its Python spelling can be (`python_spelling_extra`).
    Why these bounds hold: `--k=v` spends 3 bytes where JSON spends at least 6 on a key
    (`"k": ` and `, `); a top-level string is raw UTF-8, never longer than its JSON; numbers,
    True/False/None and the brackets and separators of str() are as long as JSON's; only a
    string inside a list or mapping can grow, by one byte per quote Python escapes.
    `${args_no_equals}` writes the same bytes less the `=`, in two elements.
    """
    return json_bytes + python_extra if macro in _PYTHON_SPELLED else json_bytes


def python_spelling_extra(leaves: Sequence[Parameter]) -> int:
    """The most bytes by which str() spells a parameter set of `leaves` longer than JSON does.

    Only written values (constants, categoricals) can hold strings, and only names
    below the top level are spelled inside a mapping: each counts its worst case.
    """
    extra = sum(_repr_extra(name) for leaf in leaves for name in leaf.path[1:])
    for leaf in leaves:
        if leaf.distribution is Distribution.CONSTANT:
            extra += _repr_extra(leaf.value)
        elif leaf.distribution is Distribution.CATEGORICAL:
            extra += max((_repr_extra(value) for value in leaf.values), default=0)
    return extra


def _repr_extra(value: JSON) -> int:
    longest = max(_utf8_bytes(str(value)), _utf8_bytes(repr(value)))
    return max(0, longest - len(json.dumps(value)))


def _utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def format_value(value: JSON) -> str:
    """How `${args_flat}` writes one leaf value.

    Strings as-is, booleans and None as `True`/`False`/`None`, floats by
    `repr` so 1e-05 round-trips exactly, lists and mappings as compact JSON.
    """
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        # float() first: numpy scalars repr as "np.float64(...)" otherwise.
        return repr(float(value))
    # ASCII-only output survives any locale's argv.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True, default=_json_scalar)


def flat_params(params: Mapping[str, JSON]) -> tuple[tuple[str, JSON], ...]:
    """Leaf `(dotted_name, value)` pairs of a nested assignment, in order (`${args_flat}`).

    A non-empty mapping is a parameter group and is flattened; an empty one
    is a value (there is nothing to flatten), written as `{}`.
    """
    pairs: list[tuple[str, JSON]] = []
    for key, value in params.items():
        if isinstance(value, Mapping) and value:
            pairs.extend((f"{key}.{name}", leaf) for name, leaf in flat_params(value))
        else:
            pairs.append((str(key), value))
    return tuple(pairs)


def _json_scalar(value: Any) -> Any:
    """Let numpy-style scalars through json.dumps; anything else is a caller bug."""
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f"parameter value of type {type(value).__name__} is not JSON serializable")
