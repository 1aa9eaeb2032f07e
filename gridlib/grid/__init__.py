"""Unit grids (万米单元网格): the GridSet model, generation, validation, diff, editions and topology.

The submodules are imported on first use of one of their names, so a module that needs only
:mod:`gridlib.grid.topology` (the grid index does) does not load generation, validation and the
store-backed editions with it.

>>> import gridlib as gl
>>> callable(gl.grid.build) and callable(gl.grid.check_coverage)
True
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the same names, for type checkers and the import graph (tests/test_import_graph.py)
    from gridlib.grid.build import build, node_coverage, polsby_popper, union_coverage
    from gridlib.grid.diff import crosswalk, diff
    from gridlib.grid.edition import (
        ImportResult,
        editions,
        import_edition,
        open_grids,
        read_grids,  # noqa: F401  (deprecated alias, not in __all__)
        write_edition,
    )
    from gridlib.grid.model import GridSet, parents_from_grids
    from gridlib.grid.topology import Topology, topology
    from gridlib.grid.validate import check_coverage, validate  # noqa: F401  (validate: deprecated alias)

# public name -> the submodule that defines it
_NAMES = {
    "build": "build", "node_coverage": "build", "polsby_popper": "build", "union_coverage": "build",
    "crosswalk": "diff", "diff": "diff",
    "ImportResult": "edition", "editions": "edition", "import_edition": "edition", "open_grids": "edition",
    "read_grids": "edition",  # deprecated alias of open_grids, not in __all__
    "write_edition": "edition",
    "GridSet": "model", "parents_from_grids": "model",
    "Topology": "topology", "topology": "topology",
    "check_coverage": "validate",
    "validate": "validate",  # deprecated alias of check_coverage, not in __all__
}

__all__ = [
    "GridSet", "ImportResult", "build", "check_coverage", "crosswalk", "diff", "editions", "import_edition", "node_coverage",
    "open_grids", "parents_from_grids", "polsby_popper", "Topology", "topology", "union_coverage",
    "write_edition",
]


class _Package(types.ModuleType):
    """``gridlib.grid`` whose public functions win over same-named submodules.

    ``gl.grid.validate`` (deprecated), ``gl.grid.diff`` and ``gl.grid.topology`` are functions; importing the
    submodule of the same name must not replace them with the module (Python binds a loaded
    submodule as an attribute of its package).
    """

    def __getattr__(self, name: str) -> Any:
        if name in _NAMES:
            value = getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
            types.ModuleType.__setattr__(self, name, value)
            return value
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _NAMES and isinstance(value, types.ModuleType):
            return  # the submodule stays in sys.modules; the package keeps the function
        types.ModuleType.__setattr__(self, name, value)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(_NAMES))


sys.modules[__name__].__class__ = _Package
