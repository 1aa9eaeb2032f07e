"""Every public name of gridlib documents itself with a runnable ``>>>`` example.

Public = listed in ``__all__`` of ``gridlib`` or of any of its modules; the examples run as
doctests (``--doctest-modules``), so this test only checks that they exist.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import gridlib


def _public_objects() -> dict[str, object]:
    modules = [gridlib] + [
        importlib.import_module(info.name)
        for info in pkgutil.walk_packages(gridlib.__path__, "gridlib.")
    ]
    found: dict[str, object] = {}
    for module in modules:
        for name in getattr(module, "__all__", ()) or ():
            obj = getattr(module, name)
            if inspect.ismodule(obj) or not callable(obj):
                continue
            found.setdefault(f"{obj.__module__}.{obj.__qualname__}", obj)
    return found


def test_public_names_are_found() -> None:
    names = _public_objects()
    assert "gridlib.trucks.clean.clean" in names
    assert "gridlib.store.open" in names
    assert len(names) > 100


def test_every_public_name_has_an_example() -> None:
    missing = sorted(
        name for name, obj in _public_objects().items() if ">>>" not in (inspect.getdoc(obj) or "")
    )
    assert not missing, "public names without a '>>>' example:\n" + "\n".join(missing)
