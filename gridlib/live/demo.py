"""The demo store the live service's tests and benchmarks serve: ``gl.demo.generate`` + ``gl.nightly.load_demo_store``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gridlib import store as _store
from gridlib.demo import generate
from gridlib.nightly import load_demo_store
from gridlib.types import PathLike

__all__ = ["demo_store"]


def demo_store(folder: PathLike, *, n_cases: int = 60, n_trucks: int = 3, seed: int = 1) -> Any:
    """A GeoPackage store ``folder/store.gpkg`` loaded with the demo data (seed *seed*, *n_cases* cases, *n_trucks* trucks).

    The demo files are generated in ``folder/demo``; the store holds grids (editions), responsibility,
    components, frontage zones, road sections, roads, team bases and the cases.

    Parameters
    ----------
    folder : path
        An empty working folder.
    n_cases : int
        Demo cases to generate.
    n_trucks : int
        Demo muck trucks (one night of fixes each).
    seed : int
        Seed of the demo generator.

    Returns
    -------
    Store
        The open store.

    Examples
    --------
    Generating the demo area takes about 20 s, so this example is not run by the doctests
    (``tests/test_live_app.py`` builds the store this way):

    >>> import tempfile
    >>> store = demo_store(tempfile.mkdtemp(), n_cases=60)  # doctest: +SKIP
    >>> "team_bases" in store.layers()  # doctest: +SKIP
    True
    """
    folder = Path(folder)
    generate(folder / "demo", seed=seed, n_cases=n_cases, n_trucks=n_trucks, n_extra_cameras=0)
    store = _store.open(str(folder / "store.gpkg"))
    load_demo_store(store, folder / "demo")
    return store
