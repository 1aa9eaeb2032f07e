"""Report on gridlib's module graph: import circles, upward imports, private names, largest functions.

The graph and the layers are the ones ``tests/test_import_graph.py`` enforces (every ``import``
counts, at module level or inside a function; layers of ``docs/conventions.md``: interfaces →
products → analyses → core → foundation; an *upward* import goes from a module into a higher
layer, a package's ``__init__`` re-exporting its own submodules excepted).

Usage (from the repository root)::

    python scripts/import_graph_report.py                 # this checkout's gridlib/
    python scripts/import_graph_report.py --root /tmp/old/gridlib --top 15

To report on another commit: ``git archive <commit> gridlib tests/test_import_graph.py | tar -x -C DIR``
and pass ``--root DIR/gridlib`` (the graph code is always this checkout's test module).
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

def _graph_module(root: Path):
    spec = importlib.util.spec_from_file_location("_import_graph_test", REPO / "tests" / "test_import_graph.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.ROOT = root.resolve()
    return mod


def largest_functions(root: Path, top: int) -> list[tuple[int, str]]:
    """The *top* longest functions and methods (lines from ``def`` to the last line of the body)."""
    sizes = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        rel = path.relative_to(root.parent).as_posix()
        stack = [(tree, "")]
        while stack:
            node, prefix = stack.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                    name = f"{prefix}{child.name}"
                    sizes.append((child.end_lineno - child.lineno + 1, f"{rel}:{child.lineno} {name}"))
                    stack.append((child, name + "."))
                elif isinstance(child, ast.ClassDef):
                    stack.append((child, f"{prefix}{child.name}."))
    return sorted(sizes, key=lambda s: (-s[0], s[1]))[:top]


def report(root: Path, top: int = 10) -> str:
    """The report as text."""
    tig = _graph_module(root)
    modules = tig._modules()
    graph, private = tig._imports(modules)
    circles = sorted(tig._circles(graph))
    up = tig.upward_imports(graph, modules)
    functions = largest_functions(root, top)
    all_sizes = [s for s, _ in largest_functions(root, 10**9)]
    lines = [f"gridlib at {root}: {len(modules)} modules, {graph.number_of_edges()} imports",
             f"import circles: {len(circles)}"]
    lines += [f"  {' <-> '.join(c)}" for c in circles]
    lines.append(f"private names imported across modules: {len(private)}")
    lines += [f"  {a} imports {n} from {b}" for a, b, n in sorted(private)]
    lines.append(f"upward imports (layers {' < '.join(tig.LAYERS.values())}): {len(up)}")
    lines += [f"  {a} ({tig.LAYERS[tig.layer(a)]}) -> {b} ({tig.LAYERS[tig.layer(b)]})" for a, b in up]
    lines.append(f"functions: {len(all_sizes)}; over 100 lines: {sum(s > 100 for s in all_sizes)}, "
                 f"over 50: {sum(s > 50 for s in all_sizes)}; largest {top}:")
    lines += [f"  {size:4d}  {where}" for size, where in functions]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=REPO / "gridlib", help="the gridlib package directory")
    parser.add_argument("--top", type=int, default=10, help="how many of the largest functions to list")
    args = parser.parse_args(argv)
    print(report(args.root, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
