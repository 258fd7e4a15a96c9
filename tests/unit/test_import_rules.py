"""The layer's architecture as a test: which sub-package may import which, and no import cycles.

The allowed arrows are drawn in docs/architecture.md (package map). Imports are read from the source
with `ast`, lazy (function-level) imports included: a lazy import is still a dependency. Imports under
`if TYPE_CHECKING:` are annotations only and are left out of the cycle check, not of the rules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

LAYER = Path(__file__).resolve().parents[2] / "shared" / "tpg"

# sub-package -> the parts of the layer it may import (a part is a sub-package or one module of one).
ALLOWED: dict[str, frozenset[str]] = {
    "platform": frozenset({"platform"}),
    "training": frozenset({"training", "platform.text"}),
    "store": frozenset({"store", "training", "platform"}),
    "generation": frozenset({"generation", "training", "platform", "store.rows"}),
    "api": frozenset({"api", "store", "worker.dispatch", "worker.events", "realtime", "platform"}),
    "worker": frozenset({"worker", "generation", "store", "training", "realtime", "platform"}),
    "realtime": frozenset({"realtime", "store", "platform"}),
}
FOREIGN_ROOTS = frozenset({"tpg_local", "functions", "tests"})


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST, *, typing_only: bool = False) -> Iterator[tuple[str, bool]]:
    """(imported module, under TYPE_CHECKING) for every import below `node`."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name, typing_only
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        yield node.module, typing_only
        for alias in node.names:  # `from tpg.store import db` imports the module tpg.store.db
            yield f"{node.module}.{alias.name}", typing_only
    for child in ast.iter_child_nodes(node):
        under = typing_only or (isinstance(node, ast.If) and _is_type_checking(node) and child in node.body)
        yield from _imports(child, typing_only=under)


def import_graph(root: Path) -> dict[str, list[tuple[str, bool]]]:
    """Module -> what it imports of the layer and of the foreign roots, with the TYPE_CHECKING flag.

    `from tpg.x import y` yields both `tpg.x` and `tpg.x.y` (y may be a module or a name): the cycle
    check keeps only the names that are modules.
    """
    paths = sorted(root.rglob("*.py"))
    graph: dict[str, list[tuple[str, bool]]] = {}
    for path in paths:
        name = _module_name(path, root)
        edges = []
        for imported, typing_only in _imports(ast.parse(path.read_text(), str(path))):
            top = imported.split(".")[0]
            if top in FOREIGN_ROOTS or (top == "tpg" and imported != name):
                edges.append((imported, typing_only))
        graph[name] = edges
    return graph


def _part_allowed(imported: str, allowed: frozenset[str]) -> bool:
    relative = imported.removeprefix("tpg.")
    return any(relative == part or relative.startswith(part + ".") for part in allowed)


def rule_violations(graph: dict[str, list[tuple[str, bool]]]) -> list[str]:
    found = []
    for module, edges in graph.items():
        parts = module.split(".")
        package = parts[1] if len(parts) > 2 else None  # tpg.<package>.<module>
        imported_names = {imported for imported, _ in edges}
        for imported in sorted(imported_names):
            if imported.split(".")[0] in FOREIGN_ROOTS:
                found.append(f"{module} imports {imported}: the layer never imports local tooling or tests")
                continue
            if package is None or imported == f"tpg.{package}":
                continue
            allowed = ALLOWED[package]
            # `from tpg.store import rows` yields tpg.store and tpg.store.rows: the package is fine
            # when what is taken from it is allowed.
            taken_from = [other for other in imported_names if other.startswith(imported + ".")]
            if _part_allowed(imported, allowed) or (
                taken_from and all(_part_allowed(o, allowed) for o in taken_from)
            ):
                continue
            found.append(f"{module} imports {imported}: {package} may import only {sorted(allowed)}")
    return found


def cycles(graph: dict[str, list[tuple[str, bool]]]) -> list[list[str]]:
    """Strongly connected components of more than one module (runtime imports only): Tarjan."""
    edges = {
        m: sorted({i for i, typing_only in es if not typing_only and i in graph}) for m, es in graph.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
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
            # a package's __init__ importing its own modules is not a cycle between modules
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_sub_package_has_a_rule() -> None:
    packages = {p.name for p in LAYER.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages == set(ALLOWED)


def test_the_layer_keeps_its_import_rules() -> None:
    assert rule_violations(import_graph(LAYER)) == []


def test_the_layer_has_no_import_cycles() -> None:
    assert cycles(import_graph(LAYER)) == []


def _plant(root: Path, files: dict[str, str]) -> Path:
    layer = root / "tpg"
    for name, source in files.items():
        path = layer / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    for folder in [layer, *[p for p in layer.rglob("*") if p.is_dir()]]:
        (folder / "__init__.py").touch()
    return layer


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"store/repo.py": "from tpg.api.models import X\n"}, "tpg.store.repo imports tpg.api.models"),
        (
            {"training/x.py": "def f():\n    from tpg.store import db\n"},
            "tpg.training.x imports tpg.store.db",
        ),
        ({"api/routes.py": "from tpg.generation.pipeline import run\n"}, "imports tpg.generation.pipeline"),
        ({"worker/w.py": "import tpg_local.cli\n"}, "never imports local tooling"),
    ],
)
def test_a_planted_violation_is_reported(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    found = rule_violations(import_graph(_plant(tmp_path, files)))
    assert any(expected in line for line in found), found


def test_a_planted_cycle_is_reported(tmp_path: Path) -> None:
    layer = _plant(
        tmp_path,
        {
            "generation/a.py": "from tpg.generation import b\n",
            "generation/b.py": "from tpg.generation.a import x\n",
        },
    )
    assert cycles(import_graph(layer)) == [["tpg.generation.a", "tpg.generation.b"]]


def test_type_checking_imports_are_not_cycles(tmp_path: Path) -> None:
    layer = _plant(
        tmp_path,
        {
            "generation/a.py": "from tpg.generation import b\n",
            "generation/b.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from tpg.generation.a import x\n"
            ),
        },
    )
    assert cycles(import_graph(layer)) == []
