"""The module graph: imports flow downward, without circles, and no private name crosses a module.

Every ``import`` counts, at module level or inside a function (a function-level import hides a
circle, it does not remove it). Layers (``LAYER_OF``) follow docs/conventions.md: interfaces →
products → analyses → core → foundation. No circle is allowed (the last two were broken after
d6b4dfa). The allow-lists below are what is left to untangle; they may only shrink: a new private
import or a new import into a higher layer fails this test. ``scripts/import_graph_report.py``
prints the same graph's figures.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1] / "gridlib"

#: (importing module, imported module, private name) still to make public. Must only shrink.
KNOWN_PRIVATE: set[tuple[str, str, str]] = set()
#: (importing module, imported module) into a higher layer, still to turn around. Must only shrink.
KNOWN_UPWARD: set[tuple[str, str]] = set()

#: (layer number, name); higher imports lower.
LAYERS = {0: "foundation", 1: "core", 2: "analyses", 3: "products", 4: "interfaces"}
#: module prefix -> layer; the longest matching prefix wins (docs/conventions.md "Layout").
LAYER_OF = {
    "gridlib": 4, "gridlib.cli": 4, "gridlib.commands": 4, "gridlib.live": 4, "gridlib.testing": 4,
    "gridlib.maps": 3, "gridlib.nightly": 3, "gridlib.demo": 3, "gridlib.datasets": 3,
    "gridlib.trucks.maps": 3, "gridlib.hotspots.maps": 3, "gridlib.coverage.maps": 3,
    "gridlib.assignment": 2, "gridlib.partitions": 2, "gridlib.dask": 2, "gridlib.cases": 2,
    "gridlib.trucks": 2, "gridlib.hotspots": 2, "gridlib.coverage": 2, "gridlib.network": 2, "gridlib.water": 2,
    "gridlib.codes": 1, "gridlib.grid": 1, "gridlib.index": 1,
    "gridlib._version": 0, "gridlib.errors": 0, "gridlib.types": 0, "gridlib.crs": 0, "gridlib.io": 0,
    "gridlib.store": 0, "gridlib.progress": 0, "gridlib.rejects": 0, "gridlib.times": 0,
}


def layer(module: str) -> int:
    """The layer of *module*: its longest prefix in :data:`LAYER_OF`."""
    name = module
    while name not in LAYER_OF:
        if "." not in name:
            raise KeyError(f"{module} is outside gridlib")
        name = name.rpartition(".")[0]
    return LAYER_OF[name]


def upward_imports(graph: nx.DiGraph, modules: dict[str, Path]) -> list[tuple[str, str]]:
    """Edges from a module into a higher layer (a package ``__init__`` importing its own submodules excluded)."""
    out = []
    for a, b in graph.edges:
        if b.startswith(a + ".") and modules[a].name == "__init__.py":
            continue
        if layer(b) > layer(a):
            out.append((a, b))
    return sorted(out)


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
    """The import graph, and the private names one module takes from another: imported by name
    (``from gridlib.network import _snap``) or read off an imported module (``network._snap``)."""
    graph, private = nx.DiGraph(), set()
    for mod, path in modules.items():
        graph.add_node(mod)
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}     # local name -> the gridlib module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [(a.name, None) for a in node.names]
                aliases.update({a.asname: a.name for a in node.names if a.asname and a.name in modules})
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
                if name and target in modules and target.endswith("." + name):
                    alias = next(a.asname or a.name for a in node.names if a.name == name)
                    aliases[alias] = target
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__") and aliases[node.value.id] != mod):
                private.add((mod, aliases[node.value.id], node.attr))
    return graph, private


def _circles(graph: nx.DiGraph) -> set[tuple[str, ...]]:
    # a package's __init__ re-exporting its submodules is not a circle with them
    g = graph.copy()
    for a, b in list(g.edges):
        if b.startswith(a + ".") or (a.startswith(b + ".") and b.count(".") < a.count(".") and b == a.rpartition(".")[0]):
            g.remove_edge(a, b)
    return {tuple(sorted(c)) for c in nx.strongly_connected_components(g) if len(c) > 1}


def _only_shrinks(found: set, known: set, allow_list: str, what: str) -> None:
    new = found - known
    assert not new, f"{what}: {sorted(new)}"
    gone = known - found
    assert not gone, f"fixed (well done): remove {sorted(gone)} from {allow_list}"


def test_no_import_circles():
    graph, _ = _imports(_modules())
    assert not _circles(graph), f"import circles: {sorted(_circles(graph))}"


def test_no_private_names_across_modules():
    _, private = _imports(_modules())
    _only_shrinks(private, KNOWN_PRIVATE, "KNOWN_PRIVATE", "private names imported across modules")


def test_no_new_upward_imports():
    modules = _modules()
    graph, _ = _imports(modules)
    _only_shrinks(set(upward_imports(graph, modules)), KNOWN_UPWARD, "KNOWN_UPWARD",
                  "imports into a higher layer (see LAYER_OF)")


def test_every_module_has_a_layer_and_layers_are_checked():
    modules = _modules()
    assert {layer(m) for m in modules} == set(LAYERS)
    graph = nx.DiGraph([("gridlib.grid.model", "gridlib.nightly.model"), ("gridlib.grid", "gridlib.grid.model"),
                        ("gridlib.cli", "gridlib.io")])
    names = {"gridlib.grid.model": Path("model.py"), "gridlib.grid": Path("__init__.py"),
             "gridlib.cli": Path("cli.py")}
    assert upward_imports(graph, names) == [("gridlib.grid.model", "gridlib.nightly.model")]
