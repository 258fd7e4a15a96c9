"""The documents name only what exists, and the module table names everything that does.

Scans README.md and docs/*.md for backticked repository paths (`shared/...`, `infra/...`,
`tests/...`, `functions/...`, `migrations/...`, `docs/...`) and dotted module names
(`tpg.x.y`, `tpg_local.x`, optionally ending in a name the module defines). docs/decisions.md
and docs/performance.md are left out: dated entries and generated tables are history.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HISTORY = {"decisions.md", "performance.md"}
DOCUMENTS = [ROOT / "README.md"] + [p for p in sorted((ROOT / "docs").glob("*.md")) if p.name not in HISTORY]

_FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
_SPAN = re.compile(r"`([^`]+)`")
_PATH = re.compile(r"(?<![\w./~-])((?:shared|infra|tests|functions|migrations|docs)/[\w./{},*-]*)")
# Module names are lowercase: `tpg.programId` (a storage key) is not one.
_MODULE = re.compile(r"(?<![\w./-])((?:tpg|tpg_local)(?:\.[a-z_][a-z0-9_]*)+(?:\.[A-Za-z_]\w*)*)(?!\w)")
_PACKAGE_DIRS = {"tpg": ROOT / "shared" / "tpg", "tpg_local": ROOT / "infra" / "tpg_local"}


def _spans(document: Path) -> list[tuple[int, str]]:
    """(line number, text) of every inline code span outside fenced blocks."""
    text = document.read_text()
    text = _FENCE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)  # keep offsets and lines
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in _SPAN.finditer(text)]


def _expand_braces(path: str) -> list[str]:
    match = re.search(r"\{([^{}]*)\}", path)
    if not match:
        return [path]
    return [
        expanded
        for choice in match.group(1).split(",")
        for expanded in _expand_braces(path[: match.start()] + choice + path[match.end() :])
    ]


def _path_exists(path: str) -> bool:
    path = path.rstrip(".,;:")
    return all(
        any(ROOT.glob(candidate)) if "*" in candidate else (ROOT / candidate).exists()
        for candidate in _expand_braces(path)
    )


@cache
def _defined_names(source: Path) -> dict[str, ast.AST]:
    tree = ast.parse(source.read_text())
    return _names_in(tree.body)


def _names_in(body: list[ast.stmt]) -> dict[str, ast.AST]:
    names: dict[str, ast.AST] = {}
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[node.name] = node
        elif isinstance(node, ast.Assign):
            names.update({t.id: node for t in node.targets if isinstance(t, ast.Name)})
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = node
        elif isinstance(node, ast.ImportFrom | ast.Import):
            names.update({(a.asname or a.name).split(".")[0]: node for a in node.names})
    return names


def _module_exists(dotted: str) -> bool:
    """`tpg.a.b` is a module or package under its root, optionally followed by names it defines."""
    root, *parts = dotted.split(".")
    directory = _PACKAGE_DIRS[root]
    source = directory / "__init__.py"
    for index, part in enumerate(parts):
        if (directory / part).is_dir() and (directory / part / "__init__.py").exists():
            directory = directory / part
            source = directory / "__init__.py"
        elif (directory / f"{part}.py").exists():
            source = directory / f"{part}.py"
            return _names_exist(source, parts[index + 1 :])
        else:
            return _names_exist(source, parts[index:])
    return True


def _names_exist(source: Path, names: list[str]) -> bool:
    scope = _defined_names(source)
    for name in names:
        node = scope.get(name)
        if node is None:
            return False
        scope = _names_in(node.body) if isinstance(node, ast.ClassDef) else {}
    return True


def _references(document: Path) -> list[tuple[int, str, str]]:
    found = []
    for line, span in _spans(document):
        found += [(line, "path", m.group(1)) for m in _PATH.finditer(span)]
        found += [(line, "module", m.group(1)) for m in _MODULE.finditer(span)]
    return found


def test_the_scan_finds_what_it_must() -> None:
    assert _path_exists("functions/{trigger,generate,sweeper}/app.py")
    assert not _path_exists("shared/tpg/pipeline.py")
    assert _module_exists("tpg.worker.generation.default_provider")
    assert _module_exists("tpg.generation.claude.client.ClaudeProvider._call")
    assert not _module_exists("tpg.llm.prompt")
    assert not _module_exists("tpg.generation.default_provider")
    assert not _MODULE.search("`tpg.programId`".strip("`"))
    kinds = {kind for document in DOCUMENTS for _, kind, _ in _references(document)}
    assert kinds == {"path", "module"}


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_and_module_a_document_names_exists(document: Path) -> None:
    missing = [
        f"{document.relative_to(ROOT)}:{line}: `{name}`"
        for line, kind, name in _references(document)
        if not (_path_exists(name) if kind == "path" else _module_exists(name))
    ]
    assert missing == [], "named in the docs but not in the tree:\n" + "\n".join(missing)


def test_the_architecture_module_table_lists_every_module() -> None:
    table = (ROOT / "docs" / "architecture.md").read_text()
    listed = {m.group(1) for m in re.finditer(r"^\| `((?:tpg|tpg_local)(?:\.\w+)+)` \|", table, re.MULTILINE)}
    modules = {
        ".".join((root, *source.relative_to(directory).with_suffix("").parts))
        for root, directory in _PACKAGE_DIRS.items()
        for source in directory.rglob("*.py")
        if source.name != "__init__.py"
    }
    assert sorted(modules - listed) == [], "modules missing from docs/architecture.md's tables"
