"""Reading a sweep file's document: YAML or JSON, bounded before and while it is parsed.

A file may be at most MAX_FILE_BYTES. YAML is read by PyYAML's safe loader with
the changes sweep files need (`_SweepLoader`), which refuses, while composing
and before anything is built, documents nesting or expanding (aliases) past the
limits of `sweepctl._validate`; JSON past Python's recursion limit or digit
limit is refused too. Every refusal is a SpecError naming the file, with the
line and column where there is one; `sweepctl.sweepfile` validates the rest.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from sweepctl import _validate as v
from sweepctl.errors import SpecError

# PyYAML parses about 100 KiB of YAML a second in pure Python in its slowest
# shape, a flat list of small numbers (256 KiB took 2.7 s of CPU on a loaded
# 2-core machine): the limit keeps any file within a few seconds, and is far
# above any real sweep file.
MAX_FILE_BYTES = 256 * 1024


def read_document(source: str) -> Any:
    """The decoded document of the sweep file at `source` (`.json` as JSON, anything else as YAML)."""
    try:
        with open(source, "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)  # a bounded read: the path may be /dev/zero
        if len(data) > MAX_FILE_BYTES:
            raise SpecError(source, [("<file>", f"expected a sweep file of at most {MAX_FILE_BYTES // 1024} KiB")])
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(source, [("<file>", f"cannot read the sweep file: {_reason(exc)}")]) from exc
    if source.lower().endswith(".json"):
        return _load_json(source, text)
    return read_yaml_text(text, source)


def read_yaml_text(text: str, source: str, field: str = "<yaml>") -> Any:
    """YAML text read as a sweep file is (`1e-5` a number, dates strings, the same limits); SpecError naming
    `source` and `field` when it is not well-formed. Also reads a value given on the command line (`--set`)."""
    try:
        return yaml.load(text, Loader=_SweepLoader)
    except yaml.YAMLError as exc:
        raise SpecError(source, [(field, _yaml_message(exc))]) from exc


def _load_json(source: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise SpecError(source, [("<json>", f"invalid JSON at {where}: {exc.msg}")]) from exc
    except RecursionError as exc:
        # The C decoder gives up cleanly at Python's recursion limit, far past MAX_DOCUMENT_DEPTH.
        message = f"expected lists and mappings nested at most {v.MAX_DOCUMENT_DEPTH} levels deep"
        raise SpecError(source, [("<json>", message)]) from exc
    except ValueError as exc:  # the only other ValueError: an integer past Python's digit limit
        raise SpecError(source, [("<json>", f"expected integers of at most {v.MAX_INT_DIGITS} digits")]) from exc


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


def _yaml_message(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        detail = " ".join(part for part in (exc.context, exc.problem) if part)
        what = "" if isinstance(exc, _LimitError) else "invalid YAML "
        return f"{what}at line {mark.line + 1}, column {mark.column + 1}: {detail}"
    return f"invalid YAML: {exc}"


class _LimitError(yaml.MarkedYAMLError):
    """Raised while reading a well-formed YAML file that nests or expands past the document limits."""


class _SweepLoader(yaml.SafeLoader):
    """PyYAML's safe loader, with changes that suit sweep files.

    Duplicate keys are an error (PyYAML silently keeps the last one, so a
    second `lr:` would quietly replace the first). Dates stay strings, so
    every value can be stored as JSON and reaches the program as written.
    `1e-5` is a float, as in YAML 1.2 and JSON, not the string YAML 1.1 makes it.

    Limits are enforced while composing, before anything is built:
    PyYAML's composer recurses once per level, and aliases (and `<<:` merges
    of them) make a few bytes stand for gigabytes. Each node's expanded size
    is counted once, from its children's, in the units of
    `_validate.MAX_DOCUMENT_SIZE`; an alias inside the node it names is refused.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._sizes: dict[yaml.Node, int] = {}  # nodes hash by identity

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent):
            target = super().compose_node(parent, index)
            if target not in self._sizes:  # still being composed: the alias is inside it
                problem = "found an alias inside the node it names (a recursive alias)"
                raise _LimitError(problem=problem, problem_mark=mark)
            return target
        if self._depth >= v.MAX_DOCUMENT_DEPTH:
            problem = f"expected lists and mappings nested at most {v.MAX_DOCUMENT_DEPTH} levels deep"
            raise _LimitError(problem=problem, problem_mark=mark)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None:
            self._sizes[node] = self._expanded_size(node, mark)
        return node

    def _expanded_size(self, node: yaml.Node, mark: yaml.Mark) -> int:
        """The node's size with aliases copied out, from its children's (composed just before it)."""
        if isinstance(node, yaml.ScalarNode):
            size = len(node.value) + 1
        elif isinstance(node, yaml.MappingNode):
            size = 1 + sum(self._sizes[key] + self._sizes[value] for key, value in node.value)
        else:
            size = 1 + sum(self._sizes[element] for element in node.value)
        if size > v.MAX_DOCUMENT_SIZE:
            limit = f"{v.MAX_DOCUMENT_SIZE // 1024} KiB"
            problem = f"this node expands (aliases copied out) past {limit}, the limit of a sweep document"
            raise _LimitError(problem=problem, problem_mark=mark)
        return size

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        # int() refuses more than MAX_INT_DIGITS digits with a ValueError, not a YAML error; and a
        # long `1:2:3:...` (YAML 1.1 base 60) costs quadratic time before that.
        if len(node.value) > v.MAX_INT_DIGITS:
            raise yaml.constructor.ConstructorError(
                None, None, f"expected an integer of at most {v.MAX_INT_DIGITS} digits", node.start_mark
            )
        value: int = super().construct_yaml_int(node)
        return value

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # keys brought in by `<<:` may be overridden
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:
                continue  # unhashable key: SafeConstructor reports it below
            if first is not key_node:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r} (first at line {first.start_mark.line + 1})",
                    key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


_SweepLoader.add_constructor("tag:yaml.org,2002:int", _SweepLoader.construct_yaml_int)
_SweepLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SweepLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)
