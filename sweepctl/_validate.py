"""Checks that collect problems instead of stopping at the first one.

A sweep file is validated in one pass: every check appends its
`(field_path, message)` pair to a shared `Problems` and returns a usable value
or None, so the caller can keep going and `SpecError` lists everything at once.
Messages say what was expected and what was found.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

MISSING: Any = object()  # marks an absent key, since null is a legitimate value


class Problems:
    """An ordered collection of `(field_path, message)` pairs."""

    def __init__(self) -> None:
        self._items: list[tuple[str, str]] = []

    def add(self, path: str, message: str) -> None:
        self._items.append((path, message))

    @property
    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)


def child(path: str, key: object) -> str:
    """The path of `key` inside the mapping at `path` (`parameters` + `lr`)."""
    return f"{path}.{key}" if path else str(key)


def item(path: str, index: int) -> str:
    """The path of element `index` of the list at `path` (`command[2]`)."""
    return f"{path}[{index}]"


def describe(value: Any) -> str:
    """How a found value reads in a message: its YAML type, and the value when short."""
    if value is MISSING:
        return "nothing"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"string {shown!r}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"


def one_of(options: Iterable[str]) -> str:
    return ", ".join(options)


def suggestion(word: str, options: Sequence[str]) -> str:
    """A ` (did you mean 'x'?)` hint for a near miss, or nothing."""
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def is_number(value: Any) -> bool:
    """Finite int or float; booleans are not numbers even though Python says so."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def mapping(problems: Problems, path: str, value: Any, what: str = "a mapping") -> Mapping[str, Any] | None:
    if value is MISSING:
        problems.add(path, "required")
        return None
    if not isinstance(value, Mapping):
        problems.add(path, f"expected {what}, got {describe(value)}")
        return None
    return value


def check_keys(problems: Problems, path: str, doc: Mapping[Any, Any], allowed: Sequence[str]) -> None:
    """Report every key of `doc` not in `allowed`, listing the allowed ones."""
    for key in doc:
        if not isinstance(key, str):
            problems.add(path, f"keys must be strings, got {describe(key)}")
        elif key not in allowed:
            problems.add(
                child(path, key),
                f"unknown key {key!r}{suggestion(key, allowed)}; expected one of: {one_of(allowed)}",
            )


def choice(problems: Problems, path: str, value: Any, options: Sequence[str], what: str) -> str | None:
    """A string among `options`; `what` names the kind in the message ("method")."""
    if isinstance(value, str) and value in options:
        return value
    if isinstance(value, str):
        problems.add(
            path,
            f"unknown {what} {value!r}{suggestion(value, options)}; expected one of: {one_of(options)}",
        )
    else:
        problems.add(path, f"expected a {what} (one of: {one_of(options)}), got {describe(value)}")
    return None


def number(
    problems: Problems, path: str, value: Any, *, gt: float | None = None, ge: float | None = None
) -> float | None:
    """A finite number, optionally bounded below; ints stay ints."""
    bound = f" > {gt:g}" if gt is not None else f" >= {ge:g}" if ge is not None else ""
    if value is MISSING:
        problems.add(path, "required")
    elif not is_number(value) or (gt is not None and value <= gt) or (ge is not None and value < ge):
        problems.add(path, f"expected a finite number{bound}, got {describe(value)}")
    else:
        return value
    return None


def integer(problems: Problems, path: str, value: Any, *, ge: int | None = None, le: int | None = None) -> int | None:
    bound = (f" >= {ge}" if ge is not None else "") + (f" and <= {le}" if le is not None else "")
    if value is MISSING:
        problems.add(path, "required")
    elif not is_int(value) or (ge is not None and value < ge) or (le is not None and value > le):
        problems.add(path, f"expected an integer{bound}, got {describe(value)}")
    else:
        return value
    return None


def boolean(problems: Problems, path: str, value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    problems.add(path, f"expected true or false, got {describe(value)}")
    return None


def string(
    problems: Problems,
    path: str,
    value: Any,
    *,
    pattern: re.Pattern[str] | None = None,
    shape: str = "",
) -> str | None:
    """A non-empty string, matching `pattern` (described by `shape`) when given."""
    if value is MISSING:
        problems.add(path, "required")
    elif not isinstance(value, str):
        problems.add(path, f"expected a string, got {describe(value)}")
    elif not value.strip():
        problems.add(path, "must not be empty")
    elif pattern is not None and not pattern.fullmatch(value):
        problems.add(path, f"expected {shape}, got {describe(value)}")
    else:
        return value
    return None


MAX_VALUE_CHARS = 4096


def json_problem(value: Any) -> str | None:
    """Why `value` cannot be a parameter value, or None.

    Values travel as strict JSON (the store keeps sweeps as JSON) and reach
    programs literally, so NaN, macros and huge strings are refused here, with
    the field path, rather than surprising anyone later.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return f"expected a finite number, got {value}"
    if isinstance(value, str):
        if "${" in value:
            return f"values may not contain '${{': macros expand only as whole elements of `command`, got {value[:60]!r}"
        if len(value) > MAX_VALUE_CHARS:
            return f"expected a string of at most {MAX_VALUE_CHARS} characters, got {len(value)}"
        return None
    if value is None or isinstance(value, (bool, int, float)):
        return None
    if isinstance(value, (list, tuple)):
        for element in value:
            if (why := json_problem(element)) is not None:
                return why
        return None
    if isinstance(value, Mapping):
        for key, element in value.items():
            if not isinstance(key, str):
                return f"mapping keys must be strings, got {describe(key)}"
            if (why := json_problem(element)) is not None:
                return why
        return None
    return f"expected a JSON value (null, boolean, number, string, list or mapping), got {describe(value)}"
