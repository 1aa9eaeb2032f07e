"""gridlib — a GIS engine for digital urban management (数字化城市管理).

>>> import gridlib as gl
>>> gl.crs.metric_crs(113.6, 34.8).to_epsg()
4547

Submodules are imported on first use, so ``import gridlib`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from gridlib._version import __version__
from gridlib.errors import (
    CodeError,
    CRSError,
    FreshnessError,
    GridlibError,
    InputError,
    LockError,
    StoreError,
    ValidationError,
)

_SUBMODULES = {
    "crs", "io", "store", "codes", "grid", "index", "cases", "trucks", "hotspots", "water", "rejects", "times",
    "coverage", "network", "maps", "demo", "datasets", "nightly", "dask",
}
# public name -> (module, attribute)
_ATTRIBUTES = {
    "GridIndex": ("gridlib.index", "GridIndex"),
    "GridSet": ("gridlib.grid", "GridSet"),
    "assign": ("gridlib.assignment", "assign"),
}

__all__ = [
    "__version__", "GridlibError", "InputError", "CRSError", "CodeError",
    "ValidationError", "StoreError", "LockError", "FreshnessError", *sorted(_SUBMODULES), *sorted(_ATTRIBUTES),
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f"gridlib.{name}")
        globals()[name] = module
        return module
    if name in _ATTRIBUTES:
        module_name, attr = _ATTRIBUTES[name]
        value = getattr(importlib.import_module(module_name), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gridlib' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES | set(_ATTRIBUTES))
