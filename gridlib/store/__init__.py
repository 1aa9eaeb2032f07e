"""Stores: one interface over a GeoPackage file (embedded default) and PostGIS (shared server).

>>> import tempfile, pathlib, geopandas as gpd
>>> from shapely.geometry import Point
>>> store = open(pathlib.Path(tempfile.mkdtemp()) / "demo.gpkg")
>>> store.write_layer("pts", gpd.GeoDataFrame({"n": [1, 2]}, geometry=[Point(0, 0), Point(1, 1)], crs=4547))
>>> store.layers()
['pts']
>>> store.read_layer("pts", where={"n": 2})["n"].tolist()
[2]
"""

from __future__ import annotations

import os
from typing import Any

from gridlib.store.base import Store, mask_dsn
from gridlib.store.gpkg import GpkgStore

__all__ = ["open", "Store", "GpkgStore", "PostgisStore", "init_db", "mask_dsn"]


def open(url: str | os.PathLike[str], **options: Any) -> Store:  # noqa: A001 - the public name the issue asks for
    """Open a store by URL.

    Parameters
    ----------
    url : str or path
        A path ending in ``.gpkg`` opens (or creates) a GeoPackage store;
        ``postgresql://…`` / ``postgres://…`` opens a PostGIS store (the
        database must have been prepared with ``gridlib db init URL``).
    **options
        Passed to the store (``schema=`` for PostGIS).

    Returns
    -------
    Store
        With ``write_layer``, ``read_layer``, ``layers``, ``transaction``, ``drop_layer``, ``lock``.

    Examples
    --------
    >>> import os, tempfile, pandas as pd
    >>> store = open(os.path.join(tempfile.mkdtemp(), "work.gpkg"))   # created on first write
    >>> store.write_layer("limits", pd.DataFrame({"class_code": ["06012"], "hours": [7.5]}))
    >>> type(store).__name__, store.layers()
    ('GpkgStore', ['limits'])
    >>> open("cases.csv")
    Traceback (most recent call last):
    ...
    gridlib.errors.StoreError: unknown store 'cases.csv': use a path ending in .gpkg or a postgresql:// URL
    >>> pg = open("postgresql://gridlib@localhost:5432/gridlib")  # needs a PostGIS server  # doctest: +SKIP
    """
    text = os.fspath(url)
    if text.startswith(("postgresql://", "postgres://")):
        from gridlib.store.postgis import PostgisStore

        return PostgisStore(text, **options)
    if text.lower().endswith(".gpkg"):
        return GpkgStore(text, **options)
    from gridlib.errors import StoreError

    raise StoreError(f"unknown store {mask_dsn(text, text)!r}: use a path ending in .gpkg or a postgresql:// URL")


def init_db(url: str, **options: Any) -> list[str]:
    """Apply the numbered SQL migrations in ``sql/`` to a PostGIS database; return those applied.

    Examples
    --------
    >>> init_db("postgresql://gridlib@localhost:5432/gridlib")  # needs a PostGIS server  # doctest: +SKIP
    ['001_init.sql', '100_assign.sql']
    >>> # a second run applies nothing and returns []
    >>> init_db("postgresql://nobody@127.0.0.1:1/none")   # nothing listens on port 1
    Traceback (most recent call last):
    ...
    gridlib.errors.StoreError: cannot connect to postgresql://nobody@127.0.0.1:1/none: ...
    """
    from gridlib.store.postgis import init_db as _init

    return _init(url, **options)


def __getattr__(name: str) -> Any:
    if name == "PostgisStore":
        from gridlib.store.postgis import PostgisStore

        return PostgisStore
    raise AttributeError(name)
