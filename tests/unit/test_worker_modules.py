"""The workers package as a graph: its modules import each other without a circle, and none is over 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "workers"
MAX_LINES = 400


def module_imports(root: Path = ROOT, package: str = PACKAGE) -> dict[str, set[str]]:
    """For each module of `package`, the modules of `package` it imports (anywhere in the file)."""
    graph: dict[str, set[str]] = {}
    for path in sorted((root / package).glob("*.py")):
        name = f"{package}.{path.stem}"
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module)
                # `from workers import provenance` imports a module by its attribute name
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[name] = {module for module in found if module.startswith(f"{package}.") and module != name}
    modules = set(graph)
    return {name: targets & modules for name, targets in graph.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A circle of imports in `graph` (its modules in order, the first repeated at the end), or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return path[path.index(module) :] + [module]
        if module in done:
            return None
        for target in sorted(graph.get(module, ())):
            cycle = visit(target, [*path, module])
            if cycle is not None:
                return cycle
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module, [])
        if cycle is not None:
            return cycle
    return None


def test_the_workers_modules_import_each_other_without_a_circle() -> None:
    graph = module_imports()
    # Guard against a vacuous pass: the graph holds the modules and the edges we know of
    assert "workers.executor" in graph["workers.launcher"] and "workers.posix" in graph["workers.executor"]
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_a_planted_circle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a", "c"}}) is None


def test_no_workers_module_is_over_400_lines() -> None:
    long = {path.name: n for path in (ROOT / PACKAGE).glob("*.py") if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}
