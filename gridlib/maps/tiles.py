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
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from gridlib.errors import InputError

__all__ = ["GRID_MINZOOM", "build_grid_tiles", "grid_codes_per_zoom", "write_grid_attributes", "open_grid_attributes"]

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
                          dictionary: Sequence[str] = (), compress: bool = False, binary: bool = False) -> Path:
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
    binary : bool
        Write the columnar binary form instead of JSON (what a city's page reads fastest, and written
        without a Python loop per grid): typed arrays the browser wraps without parsing, see
        :func:`open_grid_attributes`. Every column not numeric or boolean is dictionary-encoded, whole numbers
        take the narrowest integer type, shares are fixed-point, the sorted grid codes are front-coded (a city's
        756,900 grids with the nightly tooltip's columns: 2.1 MB gzipped, was 3.9 MB).

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
    if binary:
        return _write_atomic(Path(path), _binary_attributes(t, columns, dictionary), compress)
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
    return _write_atomic(Path(path), json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
                         compress)


def _write_atomic(path: Path, data: bytes, compress: bool) -> Path:
    if compress:
        data = gzip.compress(data, compresslevel=6, mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


#: the binary attribute file starts with these 8 bytes, then the header's length (uint32, little-endian)
BINARY_MAGIC = b"GLATTR1\n"
_INT32_NULL = -(2**31)


def _utf8_codes(codes: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Sorted codes as a ``(n, width)`` zero-padded UTF-8 byte matrix and each code's byte length."""
    text = codes.astype(str).tolist()
    joined = "".join(text)
    data = joined.encode("utf-8")
    if len(data) == len(joined):  # ASCII (grid codes are digits): one encode for all
        lengths = np.fromiter(map(len, text), dtype=np.int64, count=len(text))
    else:
        parts = [c.encode("utf-8") for c in text]
        lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
        data = b"".join(parts)
    width = int(lengths.max(initial=0))
    matrix = np.zeros((len(text), max(width, 1)), dtype=np.uint8)
    cols = np.arange(matrix.shape[1])
    matrix[cols[None, :] < lengths[:, None]] = np.frombuffer(data, dtype=np.uint8)
    return matrix, lengths


def _front_coded(matrix: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Front coding of sorted codes: per code the bytes shared with the previous one (``uint8``, at most 255),
    its remaining bytes' count (``uint16``) and those bytes, concatenated. Sorted codes share long prefixes
    (``310115004001001``, ``310115004001002``, …), so what is left is one or two bytes a code."""
    n, width = matrix.shape
    prefix = np.zeros(n, dtype=np.int64)
    if n > 1:
        differs = matrix[1:] != matrix[:-1]
        first = np.where(differs.any(axis=1), differs.argmax(axis=1), width)
        prefix[1:] = np.minimum.reduce([first, lengths[1:], lengths[:-1], np.full(n - 1, 255)])
    cols = np.arange(width)
    suffix = matrix[(cols[None, :] >= prefix[:, None]) & (cols[None, :] < lengths[:, None])]
    return prefix.astype(np.uint8), (lengths - prefix).astype(np.uint16), suffix


def _int_type(lo: float, hi: float) -> tuple[type, int]:
    """The narrowest type holding ``lo..hi`` with one value left for "missing": uint8, uint16 or int32."""
    if lo >= 0 and hi < 255:
        return np.uint8, 255
    if lo >= 0 and hi < 65535:
        return np.uint16, 65535
    return np.int32, _INT32_NULL


def _binary_attributes(t: pd.DataFrame, columns: Sequence[str], dictionary: Sequence[str]) -> bytes:
    """The columnar binary form: magic, header length, JSON header, then 8-byte aligned little-endian arrays.

    Grid codes are front-coded (:func:`_front_coded`; the page rebuilds them into one sorted UTF-8 blob and finds a
    code by binary search). Dictionary columns are codes into ``values`` (uint8/16/32, the type's maximum meaning
    missing), booleans ``uint8`` (255 missing), whole numbers the narrowest of uint8/uint16/int32 (its maximum,
    or -2³¹, missing), other numbers rounded to 4 decimals as whole numbers of 1/10,000 (``scale``) when they fit
    in an int32, else ``float32`` (NaN missing).
    """
    blocks: list[bytes] = []
    offset = 0

    def add(arr: np.ndarray) -> int:
        nonlocal offset
        data = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        at = offset
        blocks.append(data + b"\0" * (-len(data) % 8))
        offset += len(blocks[-1])
        return at

    matrix, lengths = _utf8_codes(t["grid_code"])
    prefix, suffix_len, suffix = _front_coded(matrix, lengths)
    head: dict[str, Any] = {"n": len(t), "columns": {}}
    head["grid_code"] = {"prefix": add(prefix), "suffix_len": add(suffix_len), "suffix": add(suffix),
                         "total": int(lengths.sum())}
    for c in columns:
        s = t[c]
        if c not in dictionary and (pd.api.types.is_bool_dtype(s) or (
                s.dtype == object and s.notna().any() and s.dropna().isin([True, False]).all()
                and pd.api.types.is_bool_dtype(s.dropna().infer_objects()))):
            arr = np.where(s.isna(), 255, s.fillna(False).astype(bool)).astype(np.uint8)
            head["columns"][c] = {"type": "uint8", "offset": add(arr), "null": 255, "bool": True}
        elif c not in dictionary and pd.api.types.is_numeric_dtype(s):
            v = s.to_numpy(dtype=float)
            missing = np.isnan(v)
            scale = 1 if (missing | (np.round(v) == v)).all() else 10_000
            whole = np.round(np.where(missing, 0, v) * scale) if scale > 1 else np.where(missing, 0, v)
            lo, hi = float(whole.min(initial=0)), float(whole.max(initial=0))
            if -(2**31) < lo and hi < 2**31 - 1:
                dtype, null = _int_type(lo, hi)
                col = {"type": np.dtype(dtype).name, "offset": add(np.where(missing, null, whole).astype(dtype)),
                       "null": null}
                head["columns"][c] = col if scale == 1 else {**col, "scale": scale}
            else:
                head["columns"][c] = {"type": "float32", "offset": add(np.round(v, 4).astype(np.float32))}
        else:
            # text as it is (no copy to Python objects), anything else as its text
            text = s if pd.api.types.is_string_dtype(s) else s.astype(object).map(str, na_action="ignore")
            cat, values = pd.factorize(text, sort=True, use_na_sentinel=True)
            values = [str(v) for v in values]
            dtype = np.uint8 if len(values) < 255 else np.uint16 if len(values) < 65535 else np.uint32
            null = int(np.iinfo(dtype).max)
            arr = np.where(cat < 0, null, cat).astype(dtype)
            head["columns"][c] = {"type": np.dtype(dtype).name, "offset": add(arr), "null": null, "values": values}
    header = json.dumps(head, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    header += b" " * (-(len(BINARY_MAGIC) + 4 + len(header)) % 8)  # arrays start 8-byte aligned
    return BINARY_MAGIC + len(header).to_bytes(4, "little") + header + b"".join(blocks)


def open_grid_attributes(path: str | os.PathLike) -> pd.DataFrame:
    """Read an attribute file of :func:`write_grid_attributes` (JSON or binary, gzipped or not) as a table.

    >>> import tempfile, pathlib
    >>> t = pd.DataFrame({"grid_code": ["B", "A", "C"], "n": [2, None, 1], "share": [0.5, 0.25, None],
    ...                   "ok": [True, False, True], "unit": ["一队", None, "二队"]})
    >>> p = write_grid_attributes(t, pathlib.Path(tempfile.mkdtemp()) / "a.bin", ["n", "share", "ok", "unit"],
    ...                           binary=True, compress=True)
    >>> open_grid_attributes(p)
      grid_code    n  share     ok  unit
    0         A  NaN   0.25  False  None
    1         B  2.0   0.50   True    一队
    2         C  1.0    NaN   True    二队
    """
    data = Path(path).read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if not data.startswith(BINARY_MAGIC):
        doc = json.loads(data)
        out = pd.DataFrame({"grid_code": doc["grid_code"]})
        for name, col in doc["columns"].items():
            out[name] = col if isinstance(col, list) else pd.Series(
                [None if k is None else col["values"][k] for k in col["codes"]], dtype=object)
        return out
    size = int.from_bytes(data[8:12], "little")
    head = json.loads(data[12:12 + size])
    base, n = 12 + size, head["n"]

    def array(dtype: str, at: int, count: int) -> np.ndarray:
        return np.frombuffer(data, dtype=np.dtype(dtype).newbyteorder("<"), count=count, offset=base + at)

    grid = head["grid_code"]
    if "prefix" in grid:  # front-coded
        prefix, suffix_len = array("uint8", grid["prefix"], n), array("uint16", grid["suffix_len"], n)
        suffix = data[base + grid["suffix"]:base + grid["suffix"] + int(suffix_len.sum(dtype=np.int64))]
        codes, previous, at = [], b"", 0
        for keep, more in zip(prefix.tolist(), suffix_len.tolist(), strict=True):
            previous = previous[:keep] + suffix[at:at + more]
            at += more
            codes.append(previous)
        out = pd.DataFrame({"grid_code": [c.decode("utf-8") for c in codes]})
    else:  # a blob of fixed-width codes, or with offsets (files of gridlib before front coding)
        ends = np.arange(n + 1) * grid["width"] if "width" in grid else array("uint32", grid["offsets"], n + 1)
        blob = data[base + grid["bytes"]:base + grid["bytes"] + int(ends[-1] if n else 0)]
        out = pd.DataFrame({"grid_code": [blob[a:b].decode("utf-8") for a, b in zip(ends[:-1], ends[1:], strict=True)]})
    for name, col in head["columns"].items():
        arr = array(col["type"], col["offset"], n)
        if "values" in col:
            values = np.array([*col["values"], None], dtype=object)
            out[name] = pd.Series(values[np.where(arr == col["null"], len(col["values"]), arr)], dtype=object)
        elif col.get("bool"):
            out[name] = pd.Series(arr.astype(bool), dtype=object).where(arr != 255, None)
        elif "null" in col:  # whole numbers, or of 1/scale
            out[name] = np.where(arr == col["null"], np.nan, arr.astype(float) / col.get("scale", 1))
        else:
            out[name] = arr.astype(float).round(4)
    return out


def read_grid_attributes(path: str | os.PathLike) -> pd.DataFrame:
    """Deprecated name of :func:`open_grid_attributes` (``read_*`` readers return ``(accepted, rejects)``).

    >>> import tempfile, pathlib, warnings
    >>> p = write_grid_attributes(pd.DataFrame({"grid_code": ["A"], "n": [1]}),
    ...                           pathlib.Path(tempfile.mkdtemp()) / "a.json", ["n"])
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     read_grid_attributes(p)["n"].tolist()
    [1]
    """
    warnings.warn("gridlib.maps.tiles.read_grid_attributes is deprecated; use open_grid_attributes",
                  DeprecationWarning, stacklevel=2)
    return open_grid_attributes(path)
