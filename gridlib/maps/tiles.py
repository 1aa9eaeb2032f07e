"""Vector tiles (one PMTiles archive per grid edition) and the nightly per-grid attribute file.

A city has too many grids (756k) for one self-contained web page. The geometry changes only with the
grid *edition*, so it is tiled once per edition; each night only a small attribute table keyed by grid
code is written, which a page joins to the tiles in the browser.

Layers of the archive:

One archive per layer (GDAL's PMTiles writer writes one dataset in one go and cannot add layers):

- ``communities.pmtiles`` and ``streets.pmtiles``: the grids dissolved per community / street, zooms 0–10;
- ``grids.pmtiles``: every grid, with ``grid_code`` as a property, at zoom 11 (:data:`GRID_MINZOOM`). Clients
  over-zoom z11 tiles for z ≥ 12, so every grid is present at every zoom where it is drawn.

GDAL's MVT writer (the ``PMTiles`` driver of the GDAL in the pyogrio wheel) drops features beyond
``MAX_FEATURES`` (200,000) and ``MAX_SIZE`` (500 KB) per tile by default: with the defaults a 756,900-grid
city kept 48.5 % of its grids at z10. Both caps are lifted here and :func:`grid_codes_per_zoom` reads the
archive back so that tests check that nothing is lost.

>>> import geopandas as gpd, shapely, tempfile, pathlib
>>> g = gpd.GeoDataFrame({"grid_code": ["A1", "A2"], "community_code": ["C1", "C1"],
...                       "street_code": ["S1", "S1"]},
...                      geometry=[shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)], crs=32651)
>>> out = build_grid_tiles(g, pathlib.Path(tempfile.mkdtemp()))
>>> sorted(out)
['communities', 'grids', 'streets']
>>> grid_codes_per_zoom(out["grids"], [11])
{11: 2}
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from gridlib.errors import InputError

__all__ = ["GRID_MINZOOM", "build_grid_tiles", "grid_codes_per_zoom", "write_grid_attributes"]

GRID_MINZOOM = 11
_DISSOLVED_MAXZOOM = GRID_MINZOOM - 1
# no per-tile caps: a z11 tile of a dense city holds ~30,000 grids (~1 MB uncompressed)
_UNCAPPED = {"MAX_FEATURES": 100_000_000, "MAX_SIZE": 1_000_000_000}
_LEVELS = {"community": "communities", "street": "streets"}


def _dissolved(grids: gpd.GeoDataFrame, level: str) -> gpd.GeoDataFrame:
    code = f"{level}_code"
    cols = [code] + ([f"{level}_name"] if f"{level}_name" in grids.columns else [])
    # grids are an exact coverage, so the fast coverage union is exact
    out = grids[cols + [grids.geometry.name]].dissolve(by=cols, as_index=False, method="coverage")
    return out.sort_values(code).reset_index(drop=True)


def build_grid_tiles(grids: gpd.GeoDataFrame, folder: str | os.PathLike, *, grid_maxzoom: int = GRID_MINZOOM
                     ) -> dict[str, Path]:
    """Write the grid edition's geometry tiles to ``folder``: one PMTiles archive per layer.

    Parameters
    ----------
    grids : GeoDataFrame
        One row per grid with ``grid_code`` (unique) and, when present, ``community_code`` /
        ``street_code`` (and ``*_name``) for the dissolved low-zoom layers. Any projected or
        geographic CRS.
    folder : path-like
        Folder for ``grids.pmtiles``, ``communities.pmtiles``, ``streets.pmtiles`` (each replaced
        atomically; the dissolved ones only when the level's code column exists).
    grid_maxzoom : int
        Highest zoom written for the ``grids`` layer (clients over-zoom beyond it).

    Returns
    -------
    dict
        Layer name → archive path.

    >>> import geopandas as gpd, shapely, tempfile, pathlib
    >>> g = gpd.GeoDataFrame({"grid_code": ["A1"]}, geometry=[shapely.box(0, 0, 100, 100)], crs=32651)
    >>> sorted(build_grid_tiles(g, pathlib.Path(tempfile.mkdtemp())))
    ['grids']
    """
    if grids.crs is None:
        raise InputError("the grids have no CRS; set it before tiling")
    if "grid_code" not in grids.columns:
        raise InputError("the grids have no 'grid_code' column")
    codes = grids["grid_code"]
    if codes.isna().any() or codes.duplicated().any():
        bad = codes[codes.isna() | codes.duplicated()].astype(str).head(5).tolist()
        raise InputError(f"grid codes must be present and unique; offending: {bad}")
    if grid_maxzoom < GRID_MINZOOM:
        raise InputError(f"grid_maxzoom {grid_maxzoom} is below the grid layer's min zoom {GRID_MINZOOM}")
    # a fixed, sorted order keeps the archive byte-identical on reruns
    ordered = grids.sort_values("grid_code", kind="stable")
    layers = {"grids": ordered[["grid_code", ordered.geometry.name]].astype({"grid_code": str})}
    for level, name in _LEVELS.items():
        if f"{level}_code" in grids.columns:
            layers[name] = _dissolved(ordered, level)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, gdf in layers.items():
        lo, hi = (GRID_MINZOOM, grid_maxzoom) if name == "grids" else (0, _DISSOLVED_MAXZOOM)
        out[name] = _write_archive(gdf.to_crs(3857), folder / f"{name}.pmtiles", name, lo, hi)
    return out


def _write_archive(gdf: gpd.GeoDataFrame, path: Path, layer: str, minzoom: int, maxzoom: int) -> Path:
    """One layer to one PMTiles archive, atomically (GDAL's PMTiles writer cannot add layers)."""
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.unlink(missing_ok=True)
    try:
        pyogrio.write_dataframe(gdf, tmp, driver="PMTiles", layer=layer,
                                dataset_options=dict(_UNCAPPED, MINZOOM=minzoom, MAXZOOM=maxzoom,
                                                     NAME=f"gridlib {layer}"))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def grid_codes_per_zoom(path: str | os.PathLike, zooms: Sequence[int], layer: str = "grids") -> dict[int, int]:
    """Count the distinct ``<level>_code`` values present in ``layer`` of a PMTiles archive at each zoom.

    Reads the tiles back through GDAL (the check that no per-tile cap dropped features).

    >>> grid_codes_per_zoom.__name__
    'grid_codes_per_zoom'
    """
    level = {v: k for k, v in _LEVELS.items()}.get(layer, "grid")
    column = f"{level}_code"
    out = {}
    for z in zooms:
        df = pyogrio.read_dataframe(path, layer=layer, read_geometry=False, columns=[column], ZOOM_LEVEL=int(z))
        out[int(z)] = int(df[column].nunique())
    return out


def write_grid_attributes(table: pd.DataFrame, path: str | os.PathLike, columns: Sequence[str], *,
                          dictionary: Sequence[str] = (), compress: bool = False) -> Path:
    """Write the nightly per-grid attributes as compact column-oriented JSON keyed by ``grid_code``.

    The file is ``{"grid_code": [...], "columns": {name: [values...]}}``: one array per column, in
    ``grid_code`` order, which the page joins to the tiles' ``grid_code`` property. Floats are rounded to
    4 decimals and missing values written as ``null``. Written atomically.

    Parameters
    ----------
    dictionary : sequence of str
        Columns with few distinct values (street and community names, units, classes) written as
        ``{"values": [distinct values, sorted], "codes": [index into values or null, ...]}``: a city's
        756,000 repeated names would otherwise dominate the file.
    compress : bool
        Gzip the JSON (deterministic: no name or time in the header); the page detects it from the
        first bytes, so the file name can stay ``.json`` for any static server.

    >>> import tempfile, pathlib, json
    >>> t = pd.DataFrame({"grid_code": ["B", "A"], "open_cases": [2, 0], "share": [0.123456, None]})
    >>> p = write_grid_attributes(t, pathlib.Path(tempfile.mkdtemp()) / "a.json", ["open_cases", "share"])
    >>> json.loads(p.read_text())
    {'grid_code': ['A', 'B'], 'columns': {'open_cases': [0, 2], 'share': [None, 0.1235]}}
    >>> t["unit"] = ["城管一队", None]
    >>> p = write_grid_attributes(t, p, ["unit"], dictionary=["unit"], compress=True)
    >>> import gzip; json.loads(gzip.decompress(p.read_bytes()))["columns"]
    {'unit': {'values': ['城管一队'], 'codes': [None, 0]}}
    """
    missing = [c for c in ["grid_code", *columns] if c not in table.columns]
    if missing:
        raise InputError(f"attribute columns {missing} not in the grid table")
    unknown = sorted(set(dictionary) - set(columns))
    if unknown:
        raise InputError(f"dictionary columns {unknown} are not among the written columns")
    t = table.sort_values("grid_code", kind="stable")
    cols: dict[str, Any] = {}
    for c in columns:
        s = t[c]
        if c in dictionary:
            text = s.astype(object).where(s.notna(), None)
            values = sorted({str(v) for v in text if v is not None})
            codes = pd.Series(pd.Categorical(text.map(lambda v: None if v is None else str(v)), categories=values).codes)
            cols[c] = {"values": values, "codes": [None if k < 0 else k for k in codes.tolist()]}
            continue
        if pd.api.types.is_float_dtype(s):
            s = s.round(4)
            values = [None if v != v else (int(v) if float(v).is_integer() and abs(v) < 2**53 else float(v))
                      for v in s.to_numpy(dtype=float)]
        elif pd.api.types.is_integer_dtype(s) and not s.isna().any():
            values = s.astype(np.int64).tolist()
        else:
            values = [None if pd.isna(v) else (v if isinstance(v, (int, float, str, bool)) else str(v))
                      for v in s.astype(object)]
        cols[c] = values
    doc = {"grid_code": t["grid_code"].astype(str).tolist(), "columns": cols}
    data = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if compress:
        data = gzip.compress(data, compresslevel=6, mtime=0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path
