"""Turning a sweep's argv template into the argv of one trial.

The template uses the W&B sweep macros, each as a whole element of the list.
Expansion is a single pass with no shell: parameter values become literal argv
elements and are never scanned for macros again, so a value such as
`; rm -rf ~` or `${program}` reaches the program exactly as written.
"""

from __future__ import annotations

import json
import numbers
import re
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

JSON = Any


class Macro(str, Enum):
    """The W&B command macros; `token` is how one is written in a command."""

    ENV = "env"
    INTERPRETER = "interpreter"
    PROGRAM = "program"
    ARGS = "args"
    ARGS_NO_HYPHENS = "args_no_hyphens"
    ARGS_JSON = "args_json"
    ARGS_JSON_FILE = "args_json_file"
    ARGS_NO_BOOLEAN_FLAGS = "args_no_boolean_flags"

    @property
    def token(self) -> str:
        return "${" + self.value + "}"

    @classmethod
    def parse(cls, element: str) -> Macro | None:
        """The macro that `element` is in full, or None for a literal element."""
        return _BY_TOKEN.get(element)


_BY_TOKEN = {m.token: m for m in Macro}
_ANY_MACRO = re.compile(r"\$\{[^}]*\}?")


def macro_problem(element: str) -> str | None:
    """Why `element` is not a valid command element, or None when it is.

    An element is valid when it is exactly one macro, or contains no `${`
    at all. Half-embedded macros are refused rather than left literal: a user
    who writes `--lr=${args}` expects an expansion that will not happen.
    """
    if Macro.parse(element) is not None or "${" not in element:
        return None
    match = _ANY_MACRO.search(element)
    found = match.group() if match else "${"
    if found in _BY_TOKEN:
        return f"macro {found} must be a whole element of the command, got {element!r}"
    known = ", ".join(_BY_TOKEN)
    if found.startswith("${envvar:"):
        return (
            f"macro {found} is not supported (set the variable in the worker's environment); "
            f"expected one of: {known}"
        )
    return f"unknown macro {found!r}; expected one of: {known} (each as a whole element)"


def format_value(value: JSON) -> str:
    """How one parameter value is written in argv (W&B/Python spelling).

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
    return _compact_json(value)


def flat_params(params: Mapping[str, JSON]) -> tuple[tuple[str, JSON], ...]:
    """Leaf `(dotted_name, value)` pairs of a nested assignment, in order.

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


def args_json_text(params: Mapping[str, JSON]) -> str:
    """The nested assignment as compact JSON: the `${args_json}` element and file content."""
    return _compact_json(params)


def build_argv(
    command: Sequence[str],
    *,
    program: str | None,
    params: Mapping[str, JSON],
    interpreter: str,
    env: str = "/usr/bin/env",
    args_json_file: str | None = None,
) -> tuple[str, ...]:
    """Expand the macros of `command` for one trial.

    `params` is the nested assignment (`SearchSpace.assemble`). Literal
    elements are copied unchanged. Raises ValueError when an element is not
    a valid command element (see `macro_problem`), when `${program}` is used
    without a program, or `${args_json_file}` without a file path.
    """
    argv: list[str] = []
    for element in command:
        macro = Macro.parse(element)
        if macro is None:
            if (why := macro_problem(element)) is not None:
                raise ValueError(why)
            argv.append(element)
        else:
            argv.extend(_expand(macro, program, params, interpreter, env, args_json_file))
    return tuple(argv)


def _expand(
    macro: Macro,
    program: str | None,
    params: Mapping[str, JSON],
    interpreter: str,
    env: str,
    args_json_file: str | None,
) -> list[str]:
    if macro is Macro.ENV:
        return [env]
    if macro is Macro.INTERPRETER:
        return [interpreter]
    if macro is Macro.PROGRAM:
        if program is None:
            raise ValueError("command uses ${program} but the sweep has no program")
        return [program]
    if macro is Macro.ARGS_JSON:
        return [args_json_text(params)]
    if macro is Macro.ARGS_JSON_FILE:
        if args_json_file is None:
            raise ValueError("command uses ${args_json_file} but no file path was given")
        return [args_json_file]
    pairs = flat_params(params)
    if macro is Macro.ARGS:
        return [f"--{name}={format_value(value)}" for name, value in pairs]
    if macro is Macro.ARGS_NO_HYPHENS:
        return [f"{name}={format_value(value)}" for name, value in pairs]
    assert macro is Macro.ARGS_NO_BOOLEAN_FLAGS
    return [
        f"--{name}" if value is True else f"--{name}={format_value(value)}"
        for name, value in pairs
        if value is not False
    ]


def _compact_json(value: JSON) -> str:
    # ASCII-only output survives any locale's argv and file encoding.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True, default=_json_scalar)


def _json_scalar(value: Any) -> Any:
    """Let numpy-style scalars through json.dumps; anything else is a caller bug."""
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f"parameter value of type {type(value).__name__} is not JSON serializable")
