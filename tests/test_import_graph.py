"""The module graph: imports flow downward, without circles, and no private name crosses a module.

Every ``import`` counts, at module level or inside a function (a function-level import hides a
circle, it does not remove it). The allow-lists below are what is left to untangle; they may only
shrink: a new circle or a new private import fails this test.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1] / "gridlib"

#: Import circles still to break (each as its sorted tuple of modules). Must only shrink.
KNOWN_CIRCLES: set[tuple[str, ...]] = set()
#: (importing module, imported module, private name) still to make public. Must only shrink.
KNOWN_PRIVATE: set[tuple[str, str, str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in ROOT.rglob("*.py")}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(modules: dict[str, Path]) -> tuple[nx.DiGraph, set[tuple[str, str, str]]]:
    graph, private = nx.DiGraph(), set()
    for mod, path in modules.items():
        graph.add_node(mod)
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [(a.name, None) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                targets = [(f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base, a.name) for a in node.names]
            else:
                continue
            for target, name in targets:
                if not target.startswith("gridlib"):
                    continue
                dest = _resolve(target, modules)
                if dest and dest != mod and not (mod.startswith(dest + ".") and modules[dest].name == "__init__.py"
                                                 and name is None):
                    graph.add_edge(mod, dest)
                if name and name.startswith("_") and not name.startswith("__") and dest and dest != mod:
                    private.add((mod, dest, name))
    return graph, private


def _circles(graph: nx.DiGraph) -> set[tuple[str, ...]]:
    # a package's __init__ re-exporting its submodules is not a circle with them
    g = graph.copy()
    for a, b in list(g.edges):
        if b.startswith(a + ".") or (a.startswith(b + ".") and b.count(".") < a.count(".") and b == a.rpartition(".")[0]):
            g.remove_edge(a, b)
    return {tuple(sorted(c)) for c in nx.strongly_connected_components(g) if len(c) > 1}


def test_no_new_import_circles():
    graph, _ = _imports(_modules())
    circles = _circles(graph)
    new = circles - KNOWN_CIRCLES
    assert not new, f"new import circles: {sorted(new)}"
    gone = KNOWN_CIRCLES - circles
    assert not gone, f"circles broken (well done): remove {sorted(gone)} from KNOWN_CIRCLES"


def test_no_private_names_across_modules():
    _, private = _imports(_modules())
    new = private - KNOWN_PRIVATE
    assert not new, f"private names imported across modules: {sorted(new)}"
    gone = KNOWN_PRIVATE - private
    assert not gone, f"fixed (well done): remove {sorted(gone)} from KNOWN_PRIVATE"
