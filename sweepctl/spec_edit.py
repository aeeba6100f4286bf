"""`--set KEY.PATH=VALUE` and `--unset KEY.PATH`: edits of a sweep document by a dotted path (pure).

The path walks the document from its top, one key (or list index) per dot: `parameters.lr.max`,
`run_cap`, `metric.goal`, `command.2`, `parameters.opt.parameters.name.values` (W&B nests a group's
parameters under its own `parameters` key, and so does the path).

W&B parameter names may hold dots (`model.lr` is one key, Hydra style). At each level the path takes
the longest run of its dot-separated parts that names an existing key: `parameters.model.lr.max`
finds the key `model.lr` before a key `model`. A part in double quotes is one key as written, dots
and all, and is never joined with its neighbours: `parameters."model.lr".max`, or `parameters."model".lr`
to reach the shorter key where both exist (quote the whole option for the shell). A key holding a
double quote cannot be addressed.

Every key on the way must exist (a typo is an error naming it and the keys there); the last one may be
new: `run_cap=50` on a file without one, `parameters.wd={min: 0, max: 0.1}` adds a parameter (a new
key with dots in it is given in quotes). The value is YAML read as sweep files are (`1e-5` a number,
`[adam, sgd]` a list, `{min: 0, max: 1}` a mapping, a bare word a string, nothing or `null` null).
Whether the edited document is a valid sweep is the sweep-file parser's business, with its errors.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sweepctl._documents import read_yaml_text
from sweepctl.errors import ConfigError

Key = str | int  # a mapping key, or an index into a list


@dataclass(frozen=True)
class Part:
    """One dot-separated part of a path as given; `quoted` when written in double quotes (one key, as is)."""

    text: str
    quoted: bool = False


@dataclass(frozen=True)
class Edit:
    """One `--set` (a value) or `--unset` (a removal) at a path; `given` is the option as given, for messages."""

    given: str
    path: tuple[Part, ...]
    value: Any = None
    unset: bool = False


def parse_set(text: str) -> Edit:
    """`KEY.PATH=VALUE` as an Edit; ConfigError naming the option when it is not that shape."""
    path_text, equals, value_text = _split_assignment(text)
    path = parse_path(path_text, f"--set {text}")  # first: an unclosed quote hides the '='
    if not equals:
        raise ConfigError(f"--set {text}: expected KEY.PATH=VALUE (e.g. parameters.lr.max=0.5)")
    return Edit(f"--set {text}", path, read_yaml_text(value_text, f"--set {path_text}", "value"))


def parse_unset(text: str) -> Edit:
    """`KEY.PATH` as an Edit that removes what is there."""
    return Edit(f"--unset {text}", parse_path(text, f"--unset {text}"), unset=True)


def parse_path(text: str, given: str) -> tuple[Part, ...]:
    """The parts of a dotted path, double-quoted parts kept whole; ConfigError on an empty part or open quote."""
    parts: list[Part] = []
    i = 0
    while True:
        if text.startswith('"', i):
            end = text.find('"', i + 1)
            if end < 0:
                raise ConfigError(f"{given}: a quote opened at character {i + 1} is not closed")
            part, i = Part(text[i + 1 : end], quoted=True), end + 1
            if i < len(text) and text[i] != ".":
                raise ConfigError(f"{given}: a quoted key must be a whole part of the path (followed by '.' or the end)")
        else:
            end = text.find(".", i)
            end = len(text) if end < 0 else end
            part, i = Part(text[i:end]), end
        if part.text == "" and not part.quoted:
            raise ConfigError(f"{given}: expected a key between the dots, got an empty one in {text!r}")
        parts.append(part)
        if i >= len(text):
            return tuple(parts)
        i += 1  # the dot
        if i == len(text):
            raise ConfigError(f"{given}: expected a key after the last dot in {text!r}")


def apply_edits(doc: Mapping[str, Any], edits: Iterable[Edit]) -> dict[str, Any]:
    """A deep copy of `doc` with each edit applied in turn; ConfigError naming the option and the field
    when a path does not lead anywhere."""
    edited = copy.deepcopy(dict(doc))
    for edit in edits:
        container, key = _resolve(edited, edit)
        if edit.unset:
            del container[key]
        else:
            container[key] = copy.deepcopy(edit.value)
    return edited


def field_name(keys: Sequence[Key]) -> str:
    """A path for people, spelled as `--set` takes it: keys holding a dot in double quotes."""
    return ".".join(f'"{k}"' if isinstance(k, str) and "." in k else str(k) for k in keys)


def _split_assignment(text: str) -> tuple[str, bool, str]:
    """Split at the first `=` outside double quotes."""
    quoted = False
    for i, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char == "=" and not quoted:
            return text[:i], True, text[i + 1 :]
    return text, False, ""


def _resolve(doc: dict[str, Any], edit: Edit) -> tuple[Any, Key]:
    """The container holding the path's last key, and that key; ConfigError where the path leads nowhere."""
    node: Any = doc
    walked: list[Key] = []
    i = 0
    while True:
        key, i = _next_key(node, edit, i, walked)
        exists = key in node if isinstance(node, dict) else True  # list indexes are checked by _next_key
        if i == len(edit.path):
            if edit.unset and not exists:
                raise ConfigError(f"{edit.given}: {_missing(node, key, walked)}")
            return node, key
        if not exists:
            raise ConfigError(f"{edit.given}: {_missing(node, key, walked)}")
        node = node[key]
        walked.append(key)


def _next_key(node: Any, edit: Edit, i: int, walked: list[Key]) -> tuple[Key, int]:
    """The key (or index) the path names in `node` from part `i` on, and the part after it."""
    parts = edit.path
    if isinstance(node, list):
        part = parts[i]
        if part.quoted or not part.text.isdigit():
            raise ConfigError(f"{edit.given}: {_where(walked)} is a list: expected an index (0, 1, ...), got {part.text!r}")
        index = int(part.text)
        if index >= len(node):
            raise ConfigError(f"{edit.given}: {_where(walked)} has {len(node)} element(s): no index {index}")
        return index, i + 1
    if not isinstance(node, dict):
        raise ConfigError(f"{edit.given}: {_where(walked)} is {type(node).__name__} {node!r}, not a mapping or a list")
    if parts[i].quoted:
        return parts[i].text, i + 1
    last = next((j for j in range(i, len(parts)) if parts[j].quoted), len(parts))
    for j in range(last, i, -1):  # the longest run of parts naming an existing key
        joined = ".".join(part.text for part in parts[i:j])
        if joined in node:
            return joined, j
    return parts[i].text, i + 1


def _where(walked: Sequence[Key]) -> str:
    return field_name(walked) if walked else "the top level"


def _missing(node: dict[str, Any], key: Key, walked: Sequence[Key]) -> str:
    keys = ", ".join(field_name([k]) for k in node) or "none"
    message = f"no key {key!r} in {_where(walked)} (its keys: {keys})"
    nested = node.get("parameters")
    if isinstance(nested, dict) and key in nested:  # a W&B group: its parameters sit under its own `parameters`
        message += f"; did you mean {field_name([*walked, 'parameters', key])}?"
    return message
