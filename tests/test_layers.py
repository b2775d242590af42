"""The floors of docs/design.md, checked on the source: every import of every module (top-level,
inside functions, under TYPE_CHECKING) goes to its own floor or a lower one, and modules import
each other without circles."""

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "pivotlens"

BASE = {"__init__", "errors", "languages", "records", "text", "words", "artifacts", "tables", "engine", "llm", "batching",
        "options", "data"}
DOMAIN = {"clwtd", "scoring", "lens", "corpus", "pivots", "selection", "training", "lmeval", "reference"}
FLOORS = {**dict.fromkeys(BASE, 0), "models": 1, **dict.fromkeys(DOMAIN, 2), "plots": 3, "pipeline": 4,
          "report": 5, "cli": 6}
FLOOR_NAMES = ["base", "models", "domain", "plots", "pipeline", "report", "cli"]


def _module_name(path: Path) -> str:
    parts = ("pivotlens", *path.relative_to(SOURCE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(SOURCE.rglob("*.py"))}


def _imports(name: str) -> set[str]:
    path = MODULES[name]
    return imports_of(path.read_text(encoding="utf-8"), name, path.name == "__init__.py")


def imports_of(source: str, name: str, is_package: bool) -> set[str]:
    """The pivotlens modules that module ``name`` imports anywhere in ``source`` (``from pkg import
    sub`` counts as ``pkg.sub`` when that is a module)."""
    package = name if is_package else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {target for target in found if target.split(".")[0] == "pivotlens" and target != name}


GRAPH = {name: _imports(name) for name in MODULES}


def _unit(name: str) -> str:
    return name.split(".")[1] if "." in name else "__init__"


def test_every_module_has_a_floor():
    unknown = sorted({_unit(name) for name in MODULES} - set(FLOORS))
    assert not unknown, f"give these a floor in docs/design.md and here: {unknown}"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_import_goes_up_a_floor(name):
    floor = FLOORS[_unit(name)]
    upward = sorted(target for target in GRAPH[name] if FLOORS[_unit(target)] > floor)
    assert not upward, f"{name} ({FLOOR_NAMES[floor]}) imports a higher floor: {upward}"
    if _unit(name) == "plots":  # figures draw plain records: base only
        assert all(FLOORS[_unit(t)] == 0 or _unit(t) == "plots" for t in GRAPH[name]), GRAPH[name]


def test_nothing_in_the_package_imports_the_reference_code():
    users = sorted(name for name, targets in GRAPH.items() if any(_unit(t) == "reference" for t in targets)
                   and _unit(name) != "reference")
    assert not users, f"pivotlens.reference is for benchmarks and tests only: {users}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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
    return found


def test_no_import_circles_between_modules():
    # A package's __init__ only re-exports its modules; an edge into it is not a dependency on them all.
    packages = {name for name, path in MODULES.items() if path.name == "__init__.py"}
    graph = {name: {t for t in targets if t not in packages} for name, targets in GRAPH.items() if name not in packages}
    assert _cycles(graph) == []


def test_no_import_circles_between_packages():
    units: dict[str, set[str]] = {}
    for name, targets in GRAPH.items():
        units.setdefault(_unit(name), set()).update(_unit(t) for t in targets if _unit(t) != _unit(name))
    assert _cycles(units) == []


def test_the_parser_sees_every_kind_of_import():
    source = ("from typing import TYPE_CHECKING\nimport pivotlens.errors\nif TYPE_CHECKING:\n"
              "    from pivotlens.training.compare import Comparison\n"
              "def f():\n    from pivotlens.report import run_report\n    from . import draws\n"
              "    from ..lens.core import lens_probabilities\n")
    found = imports_of(source, "pivotlens.scoring.ability", is_package=False)
    assert found == {"pivotlens.errors", "pivotlens.training.compare", "pivotlens.report.run_report",
                     "pivotlens.scoring.draws", "pivotlens.lens.core"}
    assert [t for t in sorted(found) if FLOORS[_unit(t)] > FLOORS["scoring"]] == ["pivotlens.report.run_report"]
