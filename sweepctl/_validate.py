"""Checks that collect problems instead of stopping at the first one.

A sweep file is validated in one pass: every check appends its
`(field_path, message)` pair to a shared `Problems` and returns a usable value
or None, so the caller can keep going and `SpecError` lists everything at once.
Messages say what was expected and what was found.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

MISSING: Any = object()  # marks an absent key, since null is a legitimate value

# Every check below recurses over values, and workers and the controller re-parse
# stored sweeps: a bound far above any real sweep file (parameter groups nest at
# most 10 deep, values 16) keeps every walk far from Python's recursion limit.
MAX_DOCUMENT_DEPTH = 64
# The size of a document with its YAML aliases copied out, counted as the
# characters of its scalars plus one per value (about its size as compact JSON).
# Aliases are shared, not copied, when a file is read, but storing, validating
# and sending the sweep copies them: a 300-byte "billion laughs" file expands to
# gigabytes. Twice the file-size limit leaves room for anchors reused honestly.
MAX_DOCUMENT_SIZE = 512 * 1024
# Python refuses to print or parse integers of more digits (sys.get_int_max_str_digits),
# so describing or storing one would raise far from the sweep file.
MAX_INT_DIGITS = 4300
_INT_LIMIT = 10**MAX_INT_DIGITS


class Problems:
    """Ordered `(field_path, message)` problems, which make a file invalid, and notes beside them: what is
    accepted but worth saying (a W&B key sweepctl ignores, a deprecated spelling); `len` counts problems only."""

    def __init__(self) -> None:
        self._items: list[tuple[str, str]] = []
        self._notes: list[tuple[str, str]] = []

    def add(self, path: str, message: str) -> None:
        self._items.append((path, message))

    def note(self, path: str, message: str) -> None:
        self._notes.append((path, message))

    @property
    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    @property
    def notes(self) -> tuple[tuple[str, str], ...]:
        return tuple(self._notes)

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
    if isinstance(value, int) and value.bit_length() > 128:
        return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"
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
    limits = []
    if ge is not None:
        limits.append(f">= {ge}")
    if le is not None:
        limits.append(f"<= {le:,}")
    bound = " " + " and ".join(limits) if limits else ""
    if value is MISSING:
        problems.add(path, "required")
    elif not is_int(value) or (ge is not None and value < ge) or (le is not None and value > le):
        # 1e20 and 4.0 read as floats in YAML and JSON alike; a bare "got 1e+20" hides why it is refused.
        whole_float = isinstance(value, float) and value.is_integer()
        why = " (a float: numbers written with '.' or an exponent are floats)" if whole_float else ""
        problems.add(path, f"expected an integer{bound}, got {describe(value)}{why}")
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
# One parameter value reaches a program as one argv element (`--name=value`),
# which Linux caps at 128 KiB (MAX_ARG_STRLEN), and again inside SWEEPCTL_PARAMS
# and ${args_json}: a quarter of that cap leaves room for the name and the rest.
MAX_VALUE_BYTES = 32 * 1024
# Lists and mappings nested inside one value; configuration-like values need a few.
MAX_VALUE_DEPTH = 16


def json_problem(value: Any) -> str | None:
    """Why `value` cannot be a parameter value, or None.

    Values travel as strict JSON (the store keeps sweeps as JSON) and reach
    programs literally, so NaN, macros, huge strings, deep nesting and values
    over MAX_VALUE_BYTES as JSON are refused here, with the field path, rather
    than failing every trial later.
    """
    why = _shape_problem(value, 0)
    if why is None and (size := encoded_size(value)) > MAX_VALUE_BYTES:
        why = f"expected a value of at most {MAX_VALUE_BYTES:,} bytes as JSON ({MAX_VALUE_BYTES // 1024} KiB), got {size:,}"
    return why


def encoded_size(value: Any) -> int:
    """The length of `value` as ASCII JSON with spaces after separators.

    No form a value takes in a trial is longer: SWEEPCTL_PARAMS is this JSON,
    `${args_json}` the same without spaces, `--name=value` the raw string.
    """
    return len(json.dumps(value))


def _shape_problem(value: Any, depth: int) -> str | None:
    if isinstance(value, (list, tuple, Mapping)):
        return _container_problem(value, depth)
    if isinstance(value, float) and not math.isfinite(value):
        return f"expected a finite number, got {value}"
    if isinstance(value, str):
        if "${" in value:
            return f"values may not contain '${{': macros expand only as whole elements of `command`, got {value[:60]!r}"
        if len(value) > MAX_VALUE_CHARS:
            return f"expected a string of at most {MAX_VALUE_CHARS} characters, got {len(value)}"
        return None
    if _too_many_digits(value):
        return f"expected an integer of at most {MAX_INT_DIGITS} digits, got {describe(value)}"
    if value is None or isinstance(value, (bool, int, float)):
        return None
    return f"expected a JSON value (null, boolean, number, string, list or mapping), got {describe(value)}"


def _container_problem(value: list[Any] | tuple[Any, ...] | Mapping[Any, Any], depth: int) -> str | None:
    if depth >= MAX_VALUE_DEPTH:
        return f"expected lists and mappings nested at most {MAX_VALUE_DEPTH} levels deep inside a value"
    pairs = value.items() if isinstance(value, Mapping) else (("", element) for element in value)
    for key, element in pairs:
        if not isinstance(key, str):
            return f"mapping keys must be strings, got {describe(key)}"
        if (why := _shape_problem(element, depth + 1)) is not None:
            return why
    return None


def document_problem(doc: Any) -> tuple[str, str] | None:
    """The first reason the decoded sweep document is too deep or too large to validate, or None.

    Returns `(field path, message)`: a list or mapping nested more than
    MAX_DOCUMENT_DEPTH deep, one that contains itself (a recursive YAML alias),
    an integer Python cannot print, or a document over MAX_DOCUMENT_SIZE with
    its aliases expanded. YAML aliases arrive as shared objects; each is
    measured once, so a "billion laughs" file costs its distinct values, not
    its expansion. The walk keeps its own stack: it never recurses.
    """
    if not _is_container(doc):
        return None
    walk = _Walk(doc)
    while walk.stack:
        frame = walk.stack[-1]
        for path, value in frame.children:
            problem, descended = walk.visit(frame, path, value)
            if problem is not None:
                return problem
            if descended:
                break
        else:
            if (problem := walk.close(frame)) is not None:
                return problem
    return None


class _Walk:
    """The state of `document_problem`'s walk: the containers open on the way down, and those measured."""

    def __init__(self, doc: Any) -> None:
        self.measured: dict[int, tuple[int, int]] = {}  # id -> (expanded size, levels of containers from it down)
        self.stack = [_Frame(doc, "")]
        self.open_ids = {id(doc)}

    def visit(self, frame: _Frame, path: str, value: Any) -> tuple[tuple[str, str] | None, bool]:
        """Measure one child of `frame`: (the problem it shows, or None; whether the walk went down into it)."""
        if not _is_container(value):
            frame.size += _scalar_size(value)
            if _too_many_digits(value):
                return (path, f"expected an integer of at most {MAX_INT_DIGITS} digits, got {describe(value)}"), False
        elif id(value) in self.open_ids:
            return (path, "refers to a list or mapping that contains it (a recursive YAML alias)"), False
        elif (known := self.measured.get(id(value))) is None:
            if len(self.stack) >= MAX_DOCUMENT_DEPTH:
                return (path, _too_deep()), False
            self.stack.append(_Frame(value, path))
            self.open_ids.add(id(value))
            return None, True
        elif len(self.stack) + known[1] > MAX_DOCUMENT_DEPTH:
            return (path, _too_deep()), False
        else:
            frame.add(*known)
        return ((frame.path, _too_large()) if frame.size > MAX_DOCUMENT_SIZE else None), False

    def close(self, frame: _Frame) -> tuple[str, str] | None:
        """`frame` is measured whole: add it to its parent; the problem if the parent is now too large."""
        self.stack.pop()
        self.open_ids.discard(id(frame.value))
        self.measured[id(frame.value)] = (frame.size, frame.height)
        if self.stack:
            parent = self.stack[-1]
            parent.add(frame.size, frame.height)
            if parent.size > MAX_DOCUMENT_SIZE:
                return parent.path, _too_large()
        return None


class _Frame:
    """A list or mapping being measured by `document_problem`."""

    def __init__(self, value: Any, path: str) -> None:
        self.value = value
        self.path = path
        self.children = _children(value, path)
        self.size = 1
        self.height = 1

    def add(self, size: int, height: int) -> None:
        self.size += size
        self.height = max(self.height, height + 1)


def _children(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """`(path, element)` of a list, or of a mapping's keys and values (keys take room too)."""
    if isinstance(value, Mapping):
        for key, element in value.items():
            yield path, key
            yield child(path, key), element
    else:
        for index, element in enumerate(value):
            yield item(path, index), element


def _too_many_digits(value: Any) -> bool:
    return isinstance(value, int) and abs(value) >= _INT_LIMIT


def _is_container(value: Any) -> bool:
    return isinstance(value, (list, tuple, Mapping))


def _scalar_size(value: Any) -> int:
    """A scalar's characters (about its JSON length) plus one, cheap even for huge integers."""
    if isinstance(value, str):
        return len(value) + 1
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value.bit_length() * 0.302) + 2
    if isinstance(value, float):
        return len(repr(value)) + 1
    return 5  # true, false, null (and anything json_problem refuses later)


def _too_deep() -> str:
    return f"expected lists and mappings nested at most {MAX_DOCUMENT_DEPTH} levels deep"


def _too_large() -> str:
    return (
        f"expected a document of at most {MAX_DOCUMENT_SIZE // 1024} KiB with its YAML aliases expanded "
        "(counting the characters of each value and one per value)"
    )
