"""The suggesters' house as a check: no import circle runs through a suggester module.

The shape (shared/notes/house.md): the interface (`controller.suggester`) and the
neutral helpers beside the engines import no engine; the engines import those;
the factory (`controller.suggester_factory`) imports the engines and nothing
imports it but the loop. Lazy imports inside functions count: a circle broken
only by importing late is still a knot a reader has to untie.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.test_imports import ROOT, Source, plant, scan

ROLE = "controller"
SUGGESTER_MODULES = "controller.suggester"  # prefix: the interface, the factory, and controller.suggesters.*


def import_graph(sources: list[Source], role: str = ROLE) -> dict[str, set[str]]:
    """Module -> the modules of `role` it imports, at module level or lazily.

    `from package import name` counts as importing `package.name` when that is a
    module of the tree; importing a module counts as importing every package
    above it, whose `__init__` Python runs first.
    """
    modules = {s.module_name() for s in sources if s.package == role}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for source in sources:
        if source.package != role:
            continue
        for target in _targets(source, modules):
            for name in _with_parents(target):
                if name in modules and name != source.module_name():
                    graph[source.module_name()].add(name)
    return graph


def _targets(source: Source, modules: set[str]) -> Iterator[str]:
    package = source.module_name().split(".")
    if not source.is_package_init():
        package = package[:-1]
    for node in ast.walk(source.tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - (node.level - 1)], *([base] if base else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules)


def _with_parents(module: str) -> Iterator[str]:
    parts = module.split(".")
    for end in range(1, len(parts) + 1):
        yield ".".join(parts[:end])


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def suggester_circles(sources: list[Source]) -> list[list[str]]:
    return [c for c in circles(import_graph(sources)) if any(m.startswith(SUGGESTER_MODULES) for m in c)]


def test_no_import_circle_runs_through_a_suggester_module() -> None:
    sources = scan(ROOT)
    graph = import_graph(sources)
    # Guard against a vacuous pass: the graph holds the interface, the factory and the engines' edges.
    assert "controller.suggesters.tpe" in graph["controller.suggester_factory"]
    assert "controller.suggester" in graph["controller.suggesters.tpe"]
    assert suggester_circles(sources) == []


@pytest.mark.parametrize(
    ("factory_file", "circle"),
    [
        # The interface and the factory in one module, as they once were.
        ("controller/suggester.py", ["controller.suggester", "controller.suggesters.random"]),
        # The factory in the package's __init__, which every engine's import runs first.
        ("controller/suggesters/__init__.py", ["controller.suggesters", "controller.suggesters.random"]),
    ],
)
def test_the_check_finds_a_factory_beside_what_its_engines_import(tmp_path: Path, factory_file: str, circle: list[str]) -> None:
    # Given a tree whose factory lazily imports an engine that imports the factory's module (or its package)
    files = {
        "controller/__init__.py": "",
        "controller/suggester.py": "class Suggester: ...\n",
        "controller/suggesters/__init__.py": "",
        "controller/suggesters/sampling.py": "",
        "controller/suggesters/random.py": "from controller.suggester import Suggester\nfrom .sampling import *\n",
    }
    files[factory_file] = """
        class Suggester: ...

        def make_suggester():
            from controller.suggesters.random import RandomSuggester
    """
    # When the graph is checked, then the circle is found
    assert suggester_circles(plant(tmp_path, files)) == [circle]
