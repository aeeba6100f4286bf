"""The suggesters' house as a check: no import circle runs through a suggester module.

The shape (shared/notes/house.md): the interface (`controller.suggester`) and the
neutral helpers beside the engines import no engine; the engines import those;
the factory (`controller.suggester_factory`) imports the engines and nothing
imports it but the loop. Lazy imports inside functions count: a circle broken
only by importing late is still a knot a reader has to untie.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_imports import ROOT, Source, import_circles, import_graph, plant, scan

ROLE = "controller"
SUGGESTER_MODULES = "controller.suggester"  # prefix: the interface, the factory, and controller.suggesters.*


def suggester_circles(sources: list[Source]) -> list[list[str]]:
    return [c for c in import_circles(import_graph(sources, ROLE)) if any(m.startswith(SUGGESTER_MODULES) for m in c)]


def test_no_import_circle_runs_through_a_suggester_module() -> None:
    sources = scan(ROOT)
    graph = import_graph(sources, ROLE)
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
