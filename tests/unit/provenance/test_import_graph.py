"""The provenance modules import each other one way only: no cycle, counting the imports made inside
functions too (a lazy import hides a cycle from the interpreter, not from the design). Imports under
``if TYPE_CHECKING:`` are annotations only and are not counted (as import-linter's
``exclude_type_checking_imports``)."""

from __future__ import annotations

import ast
from pathlib import Path

import synthwatch.provenance as provenance

ROOT = Path(provenance.__file__).parent
PKG = "synthwatch.provenance"


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join([PKG, *parts])


def _imports(path: Path, name: str) -> set[str]:
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    found: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and _is_type_checking(block.test)
                   for stmt in block.body for n in ast.walk(stmt)}
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                target = base[: len(base) - node.level + 1]
                mod = ".".join(target + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            candidates = [mod] + [f"{mod}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        found.update(c for c in candidates if c.startswith(PKG + "."))
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        if name == PKG:  # the package re-exports everything; it is not a dependency of its modules
            continue
        graph[name] = {m for m in _imports(path, name) if m in modules and m != PKG and m != name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_no_import_cycle_in_provenance() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_untangled_directions() -> None:
    g = _graph()
    assert f"{PKG}.security_data" in g[f"{PKG}.label"]  # label -> security_data, never back
    assert f"{PKG}.label" not in g[f"{PKG}.security_data"]
    for writer in ("visible", "visible_video", "audible", "c2pa_manifest", "security_data", "watermark"):
        assert f"{PKG}.{writer}" not in g[f"{PKG}.isolation"]  # the worker machinery imports no writer
