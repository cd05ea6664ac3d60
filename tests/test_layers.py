"""The layers hold: no import cycle, no import upward, no module too big to read.

The import graph is read from the source with ast (nothing is imported): every `import` and `from
... import` in simulator/, loadtests/ and bench/, those inside functions and under TYPE_CHECKING
included (a module that needs another's types depends on it), relative imports resolved. `from
package import name` is an edge to package.name when that is a module, else to the package.
bench/'s scripts import each other by bare name (bench/ is their sys.path[0]); those are edges to
bench.NAME. Only direct edges count (importing a.b.c also runs a/__init__.py and a/b/__init__.py,
but that is not an edge here).

The layers, ground floor first: simulator/ (the product), loadtests/ (the harness, on top of the
simulator), bench/ (measures both). Arrows only point down. `carrier-sim run` is the one place
where the simulator's command line reaches up: simulator/cli/__init__.py names the harness's
command by module path in UPPER_LAYER_COMMANDS and imports it only when it is asked for.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("simulator", "loadtests", "bench")
MAX_LINES = 400  # issue 11: no module over ~400 lines in simulator/ and loadtests/
SIZE_CHECKED = ("simulator", "loadtests")
# Modules that are generated tables and may be longer (none today; a module listed here must be data).
GENERATED_TABLES: frozenset[str] = frozenset()
UPPER_LAYERS = {"simulator": ("loadtests", "bench"), "loadtests": ("bench",), "bench": ()}


# ------------------------------------------------------------------------------------------ reading
def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the three trees (bench/peers' node tree aside)."""
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "node_modules" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _is_package(name: str, modules: Mapping[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def _absolute(module: str, node: ast.ImportFrom, modules: Mapping[str, Path]) -> str:
    """The absolute name `from .x import y` refers to, seen from `module`."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not _is_package(module, modules):
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _known(name: str, modules: Mapping[str, Path], importer: str) -> str | None:
    """The module of ours that `name` names (its longest known prefix), or None for a third-party one."""
    if importer.startswith("bench.") and name.partition(".")[0] in {m.split(".")[1] for m in modules
                                                                  if m.startswith("bench.")}:
        name = "bench." + name  # bench/ scripts import their neighbours by bare name
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def imports_of(module: str, path: Path, modules: Mapping[str, Path]) -> set[str]:
    """The modules of ours that `module` imports anywhere in its file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node, modules)
            names = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                     for alias in node.names]
        else:
            continue
        for name in names:
            target = _known(name, modules, module)
            if target is not None and target != module:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the modules of ours it imports."""
    modules = module_files()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


# ------------------------------------------------------------------------------------------ cycles
def tangles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan), sorted: each module of a
    group reaches every other one through imports, so each sits on an import cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:  # recursive: the graph is a few hundred modules deep at most
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """One shortest cycle per tangle: [a, b, c, a] means a imports b, b imports c, c imports a."""
    return [_one_cycle(graph, set(group)) for group in tangles(graph)]


def _one_cycle(graph: Mapping[str, Iterable[str]], group: set[str]) -> list[str]:
    """A shortest cycle inside a strongly connected group, from its first module back to it."""
    start = min(group)
    paths = {start: [start]}
    todo = [start]
    while todo:
        node = todo.pop(0)
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                return paths[node] + [start]
            if nxt in group and nxt not in paths:
                paths[nxt] = paths[node] + [nxt]
                todo.append(nxt)
    raise AssertionError(f"not strongly connected: {sorted(group)}")  # pragma: no cover


def _layer(module: str) -> str:
    return module.partition(".")[0]


# ------------------------------------------------------------------------------------------ the checker checks
def test_the_graph_covers_the_three_trees_and_sees_imports_inside_functions():
    graph = import_graph()
    assert len(graph) > 50, sorted(graph)
    assert {_layer(m) for m in graph} == set(PACKAGES)
    assert "simulator.smpp.fields" in graph["simulator.smpp.pdu"]  # from .fields import ... (top of the file)
    assert "simulator.metering.sources" in graph["simulator.cli.ledgers"]  # inside report_command()
    assert "loadtests.run" in graph["loadtests.command"]  # inside run_command()
    assert "bench.servers" in graph["bench.run"]  # bench/ scripts: `from servers import ...`
    assert "simulator.scenario" in graph["loadtests.run"]  # an edge down across layers
    assert "loadtests.settings" in graph["loadtests.gates"]  # under `if TYPE_CHECKING:`


def test_the_cycle_finder_finds_a_cycle_and_names_its_modules():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d", "f"}, "d": set(), "e": {"e2"}, "e2": {"e"}, "f": {"b"}}
    assert tangles(graph) == [["a", "b", "c", "f"], ["e", "e2"]]
    assert cycles(graph) == [["a", "b", "c", "a"], ["e", "e2", "e"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


# ------------------------------------------------------------------------------------------ the rules
def test_no_import_cycle_anywhere():
    """Type-checking imports count: two modules that need each other's names are one tangle, even
    when one side only imports the other for its annotations (the fix is a Protocol or a type lower
    down, or one module)."""
    graph = import_graph()
    found = tangles(graph)
    assert not found, "import cycles: modules that import each other, directly or round a loop:\n" + "\n".join(
        f"  {', '.join(group)}\n    e.g. {' -> '.join(_one_cycle(graph, set(group)))}" for group in found)


def test_imports_only_point_down_the_layers():
    upward = sorted(f"{module} imports {target}" for module, targets in import_graph().items()
                    for target in targets if _layer(target) in UPPER_LAYERS[_layer(module)])
    assert not upward, "imports up the layers (simulator < loadtests < bench):\n  " + "\n  ".join(upward)


def test_no_module_in_simulator_or_loadtests_is_over_400_lines():
    too_long = {}
    for module, path in module_files().items():
        if _layer(module) in SIZE_CHECKED and module not in GENERATED_TABLES:
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > MAX_LINES:
                too_long[str(path.relative_to(ROOT))] = lines
    assert not too_long, f"modules over {MAX_LINES} lines (split them along what they own): {too_long}"


def test_the_simulator_names_the_harness_only_in_its_lazy_command_table():
    """No string in simulator/ names a loadtests module, except UPPER_LAYER_COMMANDS in simulator/cli."""
    named = []
    for module, path in module_files().items():
        if _layer(module) != "simulator":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and \
                    node.value.startswith(("loadtests.", "bench.")) and " " not in node.value:
                named.append((module, node.value))
    assert named == [("simulator.cli", "loadtests.command:run_command")]


def test_carrier_sim_imports_the_harness_only_when_run_is_asked_for():
    code = ("import sys, click\n"
            "from simulator.cli import main\n"
            "assert not [m for m in sys.modules if m.startswith(('loadtests', 'locust', 'gevent'))], 'eager'\n"
            "run = main.get_command(click.Context(main), 'run')\n"
            "assert run.name == 'run' and run.callback.__module__ == 'loadtests.command', run\n"
            "assert 'loadtests.run' not in sys.modules, 'the harness itself loads only when run runs'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
