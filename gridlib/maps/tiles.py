"""Vector tiles (one PMTiles archive per grid edition) and the nightly per-grid attribute file.

A city has too many grids (756k) for one self-contained web page. The geometry changes only with the
grid *edition*, so it is tiled once per edition; each night only a small attribute table keyed by grid
code is written, which a page joins to the tiles in the browser.

Layers of the archive:

One archive per layer:

- ``communities.pmtiles`` and ``streets.pmtiles``: the grids dissolved per community / street, zooms 0–10
  (below 10 without the vertices within a tile unit of a straight line), written by GDAL's MVT writer (the
  ``PMTiles`` driver of the GDAL in the pyogrio wheel, which writes one dataset in one go and cannot add layers);
- ``grids.pmtiles``: every grid, with ``grid_code`` as a property, at zoom 11 (:data:`GRID_MINZOOM`). Clients
  over-zoom z11 tiles for z ≥ 12, so every grid is present at every zoom where it is drawn. Written by gridlib's
  own vectorised MVT/PMTiles writer: GDAL's tiles (the same tiles, features, 80-unit buffer and vertices) for a
  city of 756,900 grids in ~9 s of CPU instead of GDAL's ~70 s. A grid too small to keep any area at zoom 11
  is kept as one tile unit square at its centre, so that none is lost.

GDAL's MVT writer drops features beyond ``MAX_FEATURES`` (200,000) and ``MAX_SIZE`` (500 KB) per tile by
default: with the defaults a 756,900-grid city kept 48.5 % of its grids at z10. Both caps are lifted here and
:func:`grid_codes_per_zoom` reads the archives back (through GDAL) so that tests check that nothing is lost.

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
import math
import os
import struct
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely

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
    geoms = grids.geometry.to_numpy()
    bad = ~np.isin(shapely.get_type_id(geoms), (3, 6)) | shapely.is_empty(geoms)
    if not len(grids) or bad.any():
        raise InputError("no grids to tile" if not len(grids) else
                         f"grids must be non-empty polygons; offending: {codes[bad].astype(str).head(5).tolist()}")
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
        if name == "grids":
            out[name] = _write_grid_archive(gdf, folder / f"{name}.pmtiles", name, (GRID_MINZOOM, grid_maxzoom))
        else:
            out[name] = _write_archive(gdf.to_crs(3857), folder / f"{name}.pmtiles", name, 0, _DISSOLVED_MAXZOOM,
                                       simplify=True)
    return out


def _write_archive(gdf: gpd.GeoDataFrame, path: Path, layer: str, minzoom: int, maxzoom: int,
                   simplify: bool = False) -> Path:
    """One layer to one PMTiles archive, atomically (GDAL's PMTiles writer cannot add layers).

    ``simplify``: below ``maxzoom``, lines within one tile unit (1/4096 of a tile, an eighth of a pixel) of
    their neighbours are dropped (GDAL's ``SIMPLIFICATION=1``): the dissolved communities keep every grid corner
    along their edges, which made a city's overview draw ~4 times the vertices it shows (software-rendered WebGL
    in headless Chromium: 9.7 s of GPU-process CPU for the overview, 2.0 s simplified). ``maxzoom``'s tiles,
    over-zoomed beyond it, keep every vertex."""
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.unlink(missing_ok=True)
    simplification = {"SIMPLIFICATION": 1, "SIMPLIFICATION_MAX_ZOOM": 0} if simplify else {}
    try:
        pyogrio.write_dataframe(gdf, tmp, driver="PMTiles", layer=layer,
                                dataset_options=dict(_UNCAPPED, MINZOOM=minzoom, MAXZOOM=maxzoom,
                                                     NAME=f"gridlib {layer}", **simplification))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# --------------------------------------------------------------------------- the grids archive: MVT + PMTiles writer
# GDAL's MVT writer spent ~70 s of CPU on a city's 756,900 grids at zoom 11 (a feature at a time through OGR);
# the grids layer is written here with numpy over all grids at once instead (a few seconds). Formats: Mapbox
# Vector Tile 2.1 (https://github.com/mapbox/vector-tile-spec/tree/master/2.1) in PMTiles v3
# (https://github.com/protomaps/PMTiles/blob/main/spec/v3/spec.md), read back by GDAL in the tests.

_EXTENT = 4096  # tile units across a tile
_BUFFER = 80  # tile units kept beyond each tile edge (GDAL's MVT default); clients clip at the edge
_HALF_WORLD = 20037508.342789244  # EPSG:3857 metres from the origin to the edge of the square world
_PMTILES_HEADER = struct.Struct("<7sB11Q6B4iB2i")  # 127 bytes
_ROOT_BYTES = 16_384  # header and root directory must fit in the archive's first 16 KiB


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + n) for s, n in zip(starts, lengths)])`` without a Python loop."""
    lengths = np.asarray(lengths, dtype=np.int64)
    ends = np.cumsum(lengths)
    total = int(ends[-1]) if len(ends) else 0
    return np.repeat(np.asarray(starts, dtype=np.int64) - ends + lengths, lengths) + np.arange(total)


def _varint_len(v: np.ndarray) -> np.ndarray:
    """Bytes of each value (0 ≤ v < 2³⁵) as a protobuf varint."""
    return 1 + (v >= 1 << 7) + (v >= 1 << 14) + (v >= 1 << 21) + (v >= 1 << 28)


def _varints(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Protobuf varints of non-negative values below 2³⁵: the bytes, and the byte count of each value."""
    v = np.asarray(v, dtype=np.int64)
    if len(v) and (v.min() < 0 or v.max() >= 1 << 35):
        raise ValueError("varint out of range")
    size = _varint_len(v)
    at = np.cumsum(size) - size
    out = np.empty(int(size.sum()), dtype=np.uint8)
    for b in range(5):
        sel = np.flatnonzero(size > b)
        if not len(sel):
            break
        out[at[sel] + b] = ((v[sel] >> (7 * b)) & 0x7F) | np.where(size[sel] > b + 1, 0x80, 0)
    return out, size


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _polygon_rings(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(Multi)polygons as coordinates ``(n, 2)``, ring starts (one more than rings), each ring's geometry and
    whether it is its polygon's exterior ring (rings closed, in shapely's order: exterior then holes)."""
    kind, coords, offsets = shapely.to_ragged_array(geoms)
    if kind == shapely.GeometryType.POLYGON:
        ring_start, part_rings = offsets
        part_geom = np.arange(len(geoms))
    else:
        ring_start, part_rings, geom_parts = offsets
        part_geom = np.repeat(np.arange(len(geoms)), np.diff(geom_parts))
    ring_part = np.repeat(np.arange(len(part_rings) - 1), np.diff(part_rings))
    exterior = np.arange(len(ring_part)) == part_rings[:-1][ring_part]
    return coords, np.asarray(ring_start, dtype=np.int64), part_geom[ring_part], exterior


def _tile_units(xy: np.ndarray, transformer: Any, zoom: int) -> np.ndarray:
    """Coordinates as fractional tile numbers at ``zoom`` (x east, y south, as XYZ tiles count)."""
    x, y = (xy[:, 0], xy[:, 1]) if transformer is None else transformer.transform(xy[:, 0], xy[:, 1])
    scale = 2**zoom / (2 * _HALF_WORLD)
    return np.column_stack([(np.asarray(x) + _HALF_WORLD) * scale, (_HALF_WORLD - np.asarray(y)) * scale])


def _tile_rings(geoms: np.ndarray, transformer: Any, zoom: int) -> dict[str, np.ndarray]:
    """Every polygon cut into the tiles of ``zoom`` it touches (with :data:`_BUFFER`), in integer tile coordinates.

    Returns the points ``q`` (int64, ``(n, 2)``, rings not closed, no repeated point, exterior rings of positive
    and holes of negative area by the MVT spec's formula in y-down tile coordinates), each ring's length, and per
    ring its ``geom`` and ``tile`` (``y * 2**zoom + x``), rings ordered by tile, then geometry. A ring that rounds to
    no area is dropped (a polygon with its holes when it is the exterior); a geometry left in no tile at all keeps
    one tile unit square at its centre, so that every geometry is present.
    """
    n_tiles = 2**zoom
    coords, ring_start, ring_geom, exterior = _polygon_rings(geoms)
    t = _tile_units(coords, transformer, zoom)
    geom_ring = np.searchsorted(ring_geom, np.arange(len(geoms) + 1))
    first_coord = ring_start[geom_ring[:-1]]
    lo = np.column_stack([np.minimum.reduceat(t[:, 0], first_coord), np.minimum.reduceat(t[:, 1], first_coord)])
    hi = np.column_stack([np.maximum.reduceat(t[:, 0], first_coord), np.maximum.reduceat(t[:, 1], first_coord)])
    b = _BUFFER / _EXTENT
    first = np.clip(np.floor(lo - b), 0, n_tiles - 1).astype(np.int64)
    span = np.clip(np.floor(hi + b), 0, n_tiles - 1).astype(np.int64) - first + 1
    count = span[:, 0] * span[:, 1]
    pair_geom = np.repeat(np.arange(len(geoms)), count)
    k = _ranges(np.zeros(len(geoms), dtype=np.int64), count)
    pair_tile = first[pair_geom] + np.column_stack([k % span[pair_geom, 0], k // span[pair_geom, 0]])
    whole = ((lo[pair_geom] >= pair_tile - b) & (hi[pair_geom] <= pair_tile + 1 + b)).all(axis=1)

    # pairs inside their buffered tile: the geometry's own rings
    wp = np.flatnonzero(whole)
    g = pair_geom[wp]
    n_rings = geom_ring[g + 1] - geom_ring[g]
    rings = _ranges(geom_ring[g], n_rings)
    ring_pair, ring_len = [np.repeat(wp, n_rings)], [ring_start[rings + 1] - ring_start[rings]]
    ring_ext, xy = [exterior[rings]], [t[_ranges(ring_start[rings], ring_len[0])]]
    # pairs across a buffered tile edge: clipped to it, one tile at a time (few: the grids along tile edges)
    cp = np.flatnonzero(~whole)
    if len(cp):
        inside = shapely.transform(geoms[pair_geom[cp]], lambda c: _tile_units(c, transformer, zoom))
        key = pair_tile[cp, 1] * n_tiles + pair_tile[cp, 0]
        clipped = np.empty(len(cp), dtype=object)
        for tile_key in np.unique(key):
            sel = np.flatnonzero(key == tile_key)
            x, y = tile_key % n_tiles, tile_key // n_tiles
            clipped[sel] = shapely.clip_by_rect(inside[sel], x - b, y - b, x + 1 + b, y + 1 + b)
        parts, owner = shapely.get_parts(clipped, return_index=True)
        keep = (shapely.get_type_id(parts) == 3) & ~shapely.is_empty(parts)
        if keep.any():
            c_xy, c_start, c_part, c_ext = _polygon_rings(parts[keep])
            ring_pair.append(cp[owner[keep][c_part]])
            ring_len.append(np.diff(c_start))
            ring_ext.append(c_ext)
            xy.append(c_xy)
    ring_pair, ring_len, ring_ext = np.concatenate(ring_pair), np.concatenate(ring_len), np.concatenate(ring_ext)
    q = np.rint((np.concatenate(xy) - np.repeat(pair_tile[ring_pair], ring_len, axis=0)) * _EXTENT).astype(np.int64)

    # each ring without repeated points: the closing point (or the last ones, when they round onto the first) goes
    n_rings = len(ring_len)
    ring_of = np.repeat(np.arange(n_rings), ring_len)
    keep = np.ones(len(q), dtype=bool)
    keep[1:] = (q[1:] != q[:-1]).any(axis=1)
    keep[np.cumsum(ring_len) - ring_len] = True
    kept = np.bincount(ring_of[keep], minlength=n_rings)
    keep[np.flatnonzero(keep)[np.cumsum(kept)[kept > 0] - 1]] = False
    q, ring_of, ring_len = q[keep], ring_of[keep], np.maximum(kept - 1, 0)
    # signed area (twice) of each ring; rings of no area go, and with an exterior ring its holes
    start = np.cumsum(ring_len) - ring_len
    nxt = np.arange(1, len(q) + 1)
    nxt[start[ring_len > 0] + ring_len[ring_len > 0] - 1] = start[ring_len > 0]
    cross = q[:, 0] * q[nxt, 1] - q[nxt, 0] * q[:, 1]
    area = np.bincount(ring_of, weights=cross, minlength=n_rings)
    ok = (ring_len >= 3) & (area != 0)
    polygon = np.cumsum(ring_ext) - 1
    ok &= ok[ring_ext][polygon]
    # exterior rings of positive area, holes of negative area: the others reversed
    flip = (ok & ((area > 0) != ring_ext))[ring_of]
    at = np.arange(len(q))
    at[flip] = 2 * start[ring_of[flip]] + ring_len[ring_of[flip]] - 1 - at[flip]
    q = q[at][ok[ring_of]]
    ring_pair, ring_len = ring_pair[ok], ring_len[ok]

    # a geometry that rounds to nothing in every tile: one tile unit square at its centre
    present = np.zeros(len(geoms), dtype=bool)
    present[pair_geom[ring_pair]] = True
    missing = np.flatnonzero(~present)
    if len(missing):
        centre = (lo[missing] + hi[missing]) / 2
        tile = np.clip(np.floor(centre), 0, n_tiles - 1).astype(np.int64)
        corner = np.clip(np.floor((centre - tile) * _EXTENT), 0, _EXTENT - 1).astype(np.int64)
        square = corner[:, None, :] + np.array([[0, 0], [1, 0], [1, 1], [0, 1]])  # positive area, y down
        q = np.concatenate([q, square.reshape(-1, 2)])
        ring_pair = np.concatenate([ring_pair, len(pair_geom) + np.arange(len(missing))])
        ring_len = np.concatenate([ring_len, np.full(len(missing), 4)])
        pair_geom, pair_tile = np.concatenate([pair_geom, missing]), np.concatenate([pair_tile, tile])
    # rings by tile, then geometry (a pair's rings stay in their order)
    pair_key = pair_tile[:, 1] * n_tiles + pair_tile[:, 0]
    order = np.lexsort((pair_geom[ring_pair], pair_key[ring_pair]))
    start = np.cumsum(ring_len) - ring_len
    q = q[_ranges(start[order], ring_len[order])]
    ring_pair = ring_pair[order]
    return {"q": q, "ring_len": ring_len[order], "geom": pair_geom[ring_pair], "tile": pair_key[ring_pair],
            "extent": np.r_[lo.min(axis=0), hi.max(axis=0)]}


def _mvt_tiles(rings: dict[str, np.ndarray], codes: pd.Series, layer: str, key: str) -> dict[int, bytes]:
    """Encode :func:`_tile_rings`' output as one MVT layer per tile: a polygon feature per geometry and tile, with
    the geometry's code as its one (string) property. Returns tile key → tile bytes (not compressed)."""
    q, ring_len, ring_geom, ring_tile = rings["q"], rings["ring_len"], rings["geom"], rings["tile"]
    n_rings = len(ring_len)
    new = np.ones(n_rings, dtype=bool)
    new[1:] = (ring_geom[1:] != ring_geom[:-1]) | (ring_tile[1:] != ring_tile[:-1])
    feature_ring = np.flatnonzero(new)  # each feature's first ring
    n_features = len(feature_ring)
    geom, tile = ring_geom[feature_ring], ring_tile[feature_ring]
    tiles, tile_first = np.unique(tile, return_index=True)
    index_in_tile = np.arange(n_features) - np.repeat(tile_first, np.diff(np.r_[tile_first, n_features]))

    # geometry commands (spec 4.3): per ring MoveTo(1) x y, LineTo(k - 1) x y ..., ClosePath; zigzag deltas
    # from the previous point of the feature (the first from 0, 0)
    n_ints = 2 * ring_len + 3
    ring_at = np.cumsum(n_ints) - n_ints
    ints = np.empty(int(n_ints.sum()), dtype=np.int64)
    ints[ring_at] = 9
    ints[ring_at + 3] = ((ring_len - 1) << 3) | 2
    ints[ring_at + n_ints - 1] = 15
    point_ring = np.repeat(np.arange(n_rings), ring_len)
    j = np.arange(len(q)) - np.repeat(np.cumsum(ring_len) - ring_len, ring_len)
    at = ring_at[point_ring] + 1 + 2 * j + (j > 0)
    d = np.diff(q, axis=0, prepend=np.zeros((1, 2), dtype=np.int64))
    feature_start = np.zeros(len(q), dtype=bool)
    feature_start[(np.cumsum(ring_len) - ring_len)[feature_ring]] = True
    d[feature_start] = q[feature_start]
    zz = (d << 1) ^ (d >> 63)
    ints[at], ints[at + 1] = zz[:, 0], zz[:, 1]
    feature_int = ring_at[feature_ring]
    geometry_bytes = np.add.reduceat(_varint_len(ints), feature_int)

    # each feature (layer field 2): tags (2) [0, i], type (3) POLYGON, geometry (4); all as varints
    tag_bytes = 1 + _varint_len(index_in_tile)
    body = 1 + _varint_len(tag_bytes) + tag_bytes + 2 + 1 + _varint_len(geometry_bytes) + geometry_bytes
    head = np.column_stack([np.full(n_features, 0x12), body, np.full(n_features, 0x12), tag_bytes,
                            np.zeros(n_features, dtype=np.int64), index_in_tile, np.full(n_features, 0x18),
                            np.full(n_features, 3), np.full(n_features, 0x22), geometry_bytes])
    stream = np.empty(len(ints) + head.size, dtype=np.int64)
    int_feature = np.repeat(np.arange(n_features), np.diff(np.r_[feature_int, len(ints)]))
    stream[np.arange(len(ints)) + 10 * (int_feature + 1)] = ints
    stream[(feature_int + 10 * np.arange(n_features))[:, None] + np.arange(10)] = head
    features, _ = _varints(stream)
    feature_end = np.cumsum(1 + _varint_len(body) + body)

    # each feature's value (layer field 4): a Value with string_value (1), the code's UTF-8 bytes
    matrix, lengths = _utf8_codes(codes)
    length = lengths[geom]
    value = 1 + _varint_len(length) + length
    tokens, size = _varints(np.column_stack([np.full(n_features, 0x22), value, np.full(n_features, 0x0A),
                                             length]).ravel())
    token_bytes = size.reshape(-1, 4).sum(axis=1)
    entry = token_bytes + length
    entry_at = np.cumsum(entry) - entry
    values = np.empty(int(entry.sum()), dtype=np.uint8)
    values[_ranges(entry_at, token_bytes)] = tokens
    width = matrix.shape[1]
    values[_ranges(entry_at + token_bytes, length)] = matrix[geom][np.arange(width)[None, :] < length[:, None]]
    value_end = np.cumsum(entry)

    name, key_bytes = layer.encode("utf-8"), key.encode("utf-8")
    head_bytes = b"\x0a" + _varint(len(name)) + name
    keys = b"\x1a" + _varint(len(key_bytes)) + key_bytes
    tail = b"\x28" + _varint(_EXTENT) + b"\x78\x02"  # extent, version 2
    out = {}
    last = np.r_[tile_first[1:], n_features] - 1
    for t, a, z in zip(tiles.tolist(), tile_first.tolist(), last.tolist(), strict=True):
        f0 = int(feature_end[a - 1]) if a else 0
        v0 = int(value_end[a - 1]) if a else 0
        body_bytes = b"".join([head_bytes, features[f0:int(feature_end[z])].tobytes(), keys,
                               values[v0:int(value_end[z])].tobytes(), tail])
        out[t] = b"\x1a" + _varint(len(body_bytes)) + body_bytes
    return out


def _tile_id(z: int, x: int, y: int) -> int:
    """PMTiles tile id: tiles of lower zooms first, then the position on the zoom's Hilbert curve."""
    acc = ((1 << z) * (1 << z) - 1) // 3
    s = 1 << z
    while s > 1:
        s >>= 1
        rx, ry = int(x & s > 0), int(y & s > 0)
        acc += s * s * ((3 * rx) ^ ry)
        if ry == 0:
            x, y = (s - 1 - y, s - 1 - x) if rx else (y, x)
    return acc


def _directory(entries: list[tuple[int, int, int, int]]) -> bytes:
    """A PMTiles directory of ``(tile id, offset, length, run length)`` entries, serialised and gzipped."""
    out = [_varint(len(entries))]
    last = 0
    for tile_id, _, _, _ in entries:
        out.append(_varint(tile_id - last))
        last = tile_id
    out += [_varint(run) for _, _, _, run in entries]
    out += [_varint(length) for _, _, length, _ in entries]
    end = None
    for offset, length in ((e[1], e[2]) for e in entries):
        out.append(b"\x00" if offset == end else _varint(offset + 1))
        end = offset + length
    return gzip.compress(b"".join(out), compresslevel=6, mtime=0)


def _pmtiles(tiles: dict[int, bytes], metadata: dict[str, Any], zooms: tuple[int, int],
             bounds: Sequence[float], root_bytes: int | None = None) -> bytes:
    """A PMTiles v3 archive of gzipped MVT ``tiles`` (tile id → bytes): header, root directory, metadata, leaf
    directories (only when the root would not fit in ``root_bytes``), tile data in tile id order."""
    entries, data, at = [], [], 0
    for tile_id in sorted(tiles):
        entries.append((tile_id, at, len(tiles[tile_id]), 1))
        data.append(tiles[tile_id])
        at += len(tiles[tile_id])
    root, leaves, leaf_size = _directory(entries), b"", 4096
    while _PMTILES_HEADER.size + len(root) > (root_bytes or _ROOT_BYTES):
        chunks = [entries[i:i + leaf_size] for i in range(0, len(entries), leaf_size)]
        dirs = [_directory(c) for c in chunks]
        ends = np.cumsum([len(d) for d in dirs]).tolist()
        root = _directory([(c[0][0], end - len(d), len(d), 0) for c, d, end in zip(chunks, dirs, ends, strict=True)])
        leaves = b"".join(dirs)
        leaf_size *= 2
    meta = gzip.compress(json.dumps(metadata, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
                         compresslevel=6, mtime=0)
    lon0, lat0, lon1, lat1 = (round(v * 1e7) for v in bounds)
    root_at = _PMTILES_HEADER.size
    header = _PMTILES_HEADER.pack(
        b"PMTiles", 3, root_at, len(root), root_at + len(root), len(meta), root_at + len(root) + len(meta),
        len(leaves), root_at + len(root) + len(meta) + len(leaves), at, len(tiles), len(tiles), len(tiles),
        1, 2, 2, 1, zooms[0], zooms[1], lon0, lat0, lon1, lat1, zooms[0],
        round((bounds[0] + bounds[2]) / 2 * 1e7), round((bounds[1] + bounds[3]) / 2 * 1e7))
    return b"".join([header, root, meta, leaves, *data])


def _write_grid_archive(grids: gpd.GeoDataFrame, path: Path, layer: str, zooms: tuple[int, int]) -> Path:
    """The ``grids`` layer (sorted by code) to a PMTiles archive of zooms ``zooms[0]..zooms[1]``, atomically."""
    geoms = grids.geometry.to_numpy()
    transformer = None if grids.crs.equals(3857) else pyproj.Transformer.from_crs(grids.crs, 3857, always_xy=True)
    tiles = {}
    for z in range(zooms[0], zooms[1] + 1):
        rings = _tile_rings(geoms, transformer, z)
        encoded = _mvt_tiles(rings, grids["grid_code"], layer, "grid_code")
        for key, data in encoded.items():
            tiles[_tile_id(z, key % 2**z, key // 2**z)] = gzip.compress(data, compresslevel=6, mtime=0)
        if z == zooms[0]:
            bounds = _lonlat(rings["extent"], z)
    n = len(grids)
    centre = ((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
    metadata = {
        "name": f"gridlib {layer}", "description": "", "version": "2", "minzoom": str(zooms[0]),
        "maxzoom": str(zooms[1]), "center": f"{centre[0]:.7f},{centre[1]:.7f},{zooms[0]}",
        "bounds": ",".join(f"{v:.7f}" for v in bounds), "type": "overlay", "format": "pbf",
        "vector_layers": [{"id": layer, "description": "", "minzoom": zooms[0], "maxzoom": zooms[1],
                           "fields": {"grid_code": "String"}}],
        "tilestats": {"layerCount": 1, "layers": [{"layer": layer, "count": n, "geometry": "Polygon",
                                                   "attributeCount": 1, "attributes": [
                                                       {"attribute": "grid_code", "count": n, "type": "string"}]}]},
    }
    tmp = path.with_name(f".tmp-{path.name}")
    try:
        tmp.write_bytes(_pmtiles(tiles, metadata, zooms, bounds))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _lonlat(extent: np.ndarray, zoom: int) -> list[float]:
    """``(x0, y0, x1, y1)`` in tile units of ``zoom`` (y south) as ``[west, south, east, north]`` in degrees."""
    n = 2**zoom
    x0, y0, x1, y1 = (float(v) for v in extent)
    lat = [math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n)))) for y in (y1, y0)]
    return [x0 / n * 360 - 180, lat[0], x1 / n * 360 - 180, lat[1]]


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
    # only the written columns are sorted (a copy): a city's grid map has ~25 more, with 756k polygons
    t = table[list(dict.fromkeys(["grid_code", *columns]))].sort_values("grid_code", kind="stable")
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
