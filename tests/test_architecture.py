"""The import graph of dsplan/ obeys docs/architecture.md: every module in a room, each room importing
only the rooms its row allows, and no import cycle.

The rules are read from the table in docs/architecture.md, so the page and the test cannot drift.
Every import is found by parsing each module with ``ast``: module-level, inside functions and under
``TYPE_CHECKING``. The room rules and the cycle check apply to all of them.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dsplan"
PAGE = ROOT / "docs" / "architecture.md"


@dataclass(frozen=True)
class Import:
    """One import statement: which module imports which, where, and whether it only runs for mypy."""

    importer: str
    imported: str
    line: int
    type_only: bool


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _targets(node: ast.Import | ast.ImportFrom, importer: str, known: set[str]) -> list[str]:
    """The dsplan modules an import statement loads (``from pkg import sub`` loads ``pkg.sub``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = importer.split(".")
        # `from . import x` in a package's __init__ is relative to the package itself.
        is_package = (PACKAGE / Path(*package[1:]) / "__init__.py").is_file()
        anchor = package if is_package else package[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base]) if base else ".".join(anchor)
    subs = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known]
    if subs and len(subs) == len(node.names):
        return subs
    return [base, *subs]


def imports(mods: dict[str, Path]) -> list[Import]:
    """Every import of a dsplan module by a dsplan module, wherever it is written."""
    known = set(mods)
    found: list[Import] = []

    def visit(node: ast.AST, importer: str, type_only: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, importer, True)
            for child in node.orelse:
                visit(child, importer, type_only)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for target in _targets(node, importer, known):
                if target == "dsplan" or target.startswith("dsplan."):
                    found.append(Import(importer, target, node.lineno, type_only))
            return
        for child in ast.iter_child_nodes(node):
            visit(child, importer, type_only)

    for name, path in mods.items():
        visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), name, False)
    return found


@dataclass(frozen=True)
class Rooms:
    """The table of docs/architecture.md: where each room lives and which rooms it may import."""

    folders: dict[str, str]  # "dsplan/model/" -> "model"
    files: dict[str, str]  # "dsplan/__main__.py" -> "cli"
    top_level: str  # the room of the other dsplan/*.py modules
    allowed: dict[str, set[str]]

    def room_of(self, module: str, path: Path) -> str | None:
        rel = path.relative_to(ROOT).as_posix()
        if rel in self.files:
            return self.files[rel]
        for folder, room in self.folders.items():
            if rel.startswith(folder):
                return room
        if path.parent == PACKAGE and module.count(".") == 1:
            return self.top_level
        return None


def read_rooms(text: str) -> Rooms:
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`dsplan/" in line]
    folders: dict[str, str] = {}
    files: dict[str, str] = {}
    top_level = ""
    allowed: dict[str, set[str]] = {}
    for row in rows:
        room, where, _, may = (cell.strip() for cell in row.strip("|").split("|"))
        allowed[room] = set() if may == "(nothing)" else {r.strip() for r in may.split(",")}
        for place in re.findall(r"`(dsplan/[^`]*)`", where):
            if place.endswith("/"):
                folders[place] = room
            elif place == "dsplan/*.py":
                top_level = room
            else:
                files[place] = room
    return Rooms(folders, files, top_level, allowed)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the graph as a path that ends where it starts, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


MODULES = modules()
IMPORTS = imports(MODULES)
ROOMS = read_rooms(PAGE.read_text(encoding="utf-8"))


def test_the_page_describes_rooms() -> None:
    # The table parsed: the rooms the page names, each with a place and its imports.
    assert {"base", "model", "laws", "catalog", "planning", "cli"} <= set(ROOMS.allowed)
    assert ROOMS.top_level == "base"
    for room, below in ROOMS.allowed.items():
        assert below <= set(ROOMS.allowed), f"{room} may import an unknown room: {below}"


def test_every_module_is_in_a_room() -> None:
    homeless = [m for m, p in MODULES.items() if ROOMS.room_of(m, p) is None]
    assert not homeless, f"not in any room of docs/architecture.md: {homeless}"


def test_rooms_import_only_what_their_row_allows() -> None:
    bad = []
    for imp in IMPORTS:
        if imp.imported not in MODULES:
            bad.append(f"{imp.importer}:{imp.line} imports {imp.imported}, which does not exist")
            continue
        src = ROOMS.room_of(imp.importer, MODULES[imp.importer])
        dst = ROOMS.room_of(imp.imported, MODULES[imp.imported])
        if src is None or dst is None or src == dst:
            continue
        if dst not in ROOMS.allowed[src]:
            kind = " (type only)" if imp.type_only else ""
            bad.append(f"{imp.importer}:{imp.line} ({src}) imports {imp.imported} ({dst}){kind}")
    assert not bad, "imports docs/architecture.md does not allow:\n" + "\n".join(bad)


def test_no_import_cycle() -> None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in IMPORTS:
        # Type-only imports count too: a type shared by two modules goes below both of them.
        if imp.imported != imp.importer:
            graph[imp.importer].add(imp.imported)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_walk_sees_function_level_and_type_only_imports() -> None:
    # The walk is what the two rules rest on: a lazy import inside a function and a
    # TYPE_CHECKING one are both found (continual.law_drift and the preset's loss tables).
    lazy = [i for i in IMPORTS if i.importer == "dsplan.scheduling.continual"]
    assert any(i.imported == "dsplan.catalog.presets" and not i.type_only for i in lazy)
    typed = [i for i in IMPORTS if i.importer == "dsplan.laws.types"]
    assert ("dsplan.laws.loss", True) in [(i.imported, i.type_only) for i in typed]


@pytest.mark.parametrize(
    ("graph", "cycle"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
        ({"a": {"b"}, "b": {"b"}}, ["b", "b"]),
    ],
)
def test_find_cycle(graph: dict[str, set[str]], cycle: list[str] | None) -> None:
    assert find_cycle(graph) == cycle


# Issue 13: no module over ~500 lines without a reason written at its top.
LONG_MODULE_LINES = 500


def test_a_long_module_says_why_at_its_top() -> None:
    unexplained = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") <= LONG_MODULE_LINES:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if "Why one module of" not in doc:
            unexplained.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert not unexplained, (
        "split these, or say why at the top ('Why one module ...'): " + ", ".join(unexplained)
    )
