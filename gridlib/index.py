"""GridIndex: exact, fast point → unit-grid lookup.

The index answers "which grid covers this point?" for millions of points per
second and for one point in microseconds, with the semantics of the
brute-force reference:

    the grid whose polygon **covers** the point (``shapely.covers``: interior
    or boundary); if several do (a point on a shared edge or vertex), the one
    with the **smallest grid code** (string order) wins; −1 when none does
    (outside the coverage, or in a hole).

How it is fast without giving up exactness
-------------------------------------------
The grid extent is rasterised once at a few metres per pixel. Every pixel that
any polygon boundary touches (computed conservatively, with a margin for
floating-point rounding) is a *boundary pixel*; every other pixel lies wholly
inside one grid or wholly outside all grids, so its answer is stored in the
raster and a point in it is answered by array indexing. Connected runs of
non-boundary pixels are labelled with ``scipy.ndimage.label`` and one exact
test per run decides its grid. A point in a boundary pixel is tested only
against the few grids whose boundary touches that pixel, with a vectorised
crossing-number test guarded by an orientation error bound (Shewchuk's
``ccwerrboundA``); pairs whose orientation cannot be decided in floating point
(points on or within rounding distance of an edge) go to GEOS
(``shapely.intersects_xy``), which is robust. Nothing shared is mutated after
the build and no prepared geometries are used at query time (GEOS prepared
geometries are not thread-safe), so concurrent readers are safe.

>>> import geopandas as gpd, shapely
>>> grids = gpd.GeoDataFrame(
...     {"grid_code": ["B", "A"]},
...     geometry=[shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)],
...     crs="EPSG:4547")
>>> index = GridIndex(grids)
>>> index.lookup([50.0, 100.0, 150.0, 500.0], [50.0, 50.0, 50.0, 50.0]).tolist()
[0, 1, 1, -1]
>>> index.codes([100.0], [50.0]).tolist()   # shared edge: smallest code wins
['A']
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy import ndimage

from gridlib.errors import CRSError, InputError, ValidationError

__all__ = ["GridIndex", "TIE_RULE"]

log = logging.getLogger(__name__)

TIE_RULE = "smallest grid code (string order) among the grids whose polygon covers the point"

# Shewchuk's error bound for the floating-point orientation determinant.
_EPS = 2.0**-53
_CCW_ERRBOUND = (3.0 + 16.0 * _EPS) * _EPS
# Margin, in pixel units, by which boundary pixels are grown to absorb rounding
# in the pixel arithmetic (coordinates are ~1e6 m; rounding is ~1e-10 m).
_PIX_EPS = 1e-6
_SEG_CHUNK = 250_000
_PAIR_CHUNK = 2_000_000
_POINT_CHUNK = 100_000
_FORMAT = "gridlib-gridindex-1"


def _grids_frame(grids: Any) -> gpd.GeoDataFrame:
    frame = getattr(grids, "grids", grids)
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(
            f"GridIndex needs a GeoDataFrame of grid polygons or a GridSet, got {type(grids).__name__}")
    if frame.crs is None:
        raise CRSError("the grid polygons have no CRS; set one (a metric CRS, e.g. gl.crs.metric_crs_for)")
    if not pyproj.CRS(frame.crs).is_projected:
        raise CRSError(
            f"GridIndex works in a metric CRS but the grids are in {frame.crs.name!r}; "
            "reproject first: grids.to_crs(gl.crs.metric_crs_for(grids))")
    return frame


class GridIndex:
    """Exact point → grid lookup over a set of non-overlapping grid polygons.

    Parameters
    ----------
    grids : GeoDataFrame or GridSet
        Polygons (or multipolygons) in a projected (metric) CRS; a GridSet (any
        object with a ``.grids`` GeoDataFrame) is accepted as well.
    code_column : str
        Column with the unique grid code; ties on shared edges go to the smallest.
    pixel_size : float, optional
        Raster resolution in CRS units. Default: 1/25 of the median grid's side,
        coarsened if the raster would exceed ``max_pixels``.
    max_pixels : int
        Upper bound on raster size (4 bytes each).
    check_overlaps : bool
        Refuse grids whose interiors overlap (the default; run
        ``gridlib grid validate`` to see where). Turning it off keeps lookups
        exact (the tie rule still applies) but hides a data error.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> g = gpd.GeoDataFrame({"grid_code": ["g1"]}, geometry=[shapely.box(0, 0, 10, 10)], crs=4547)
    >>> GridIndex(g).lookup_one(5.0, 5.0)
    0
    """

    def __init__(
        self,
        grids: Any,
        code_column: str = "grid_code",
        *,
        pixel_size: float | None = None,
        max_pixels: int = 2**26,
        check_overlaps: bool = True,
    ) -> None:
        frame = _grids_frame(grids)
        if code_column not in frame.columns:
            raise InputError(f"the grids have no column {code_column!r} (columns: {list(frame.columns)})")
        if len(frame) == 0:
            raise InputError("cannot build a GridIndex over zero grids")
        if len(frame) >= 2**31 - 1:
            raise InputError("GridIndex supports at most 2**31 - 2 grids")
        codes = frame[code_column]
        if codes.isna().any():
            bad = np.flatnonzero(codes.isna().to_numpy())[:5].tolist()
            raise ValidationError(f"grids at rows {bad} have no {code_column}; run `gridlib grid validate`")
        codes = codes.astype(str).to_numpy(dtype=object)
        dup = pd.Series(codes).duplicated(keep=False).to_numpy()
        if dup.any():
            raise ValidationError(
                f"duplicate {code_column} values, e.g. {sorted(set(codes[dup]))[:5]}; "
                "grid codes must be unique (run `gridlib grid validate`)")
        geoms = np.asarray(frame.geometry.array, dtype=object)
        _check_geometries(geoms, codes)

        self.crs = pyproj.CRS(frame.crs)
        self.code_column = code_column
        self._geoms = geoms
        self._codes = codes
        # rank r -> row position; candidates are stored and tried in rank order
        self._order = np.argsort(codes, kind="stable").astype(np.int64)
        self._rank = np.empty(len(codes), dtype=np.int64)
        self._rank[self._order] = np.arange(len(codes))
        if check_overlaps:
            _check_overlaps(geoms, codes)
        self._build_segments()
        self._build_raster(pixel_size, max_pixels)

    # ------------------------------------------------------------------ build
    def _build_segments(self) -> None:
        parts, part_of = shapely.get_parts(self._geoms, return_index=True)
        rings, ring_of = shapely.get_rings(parts, return_index=True)
        coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
        same = coord_ring[:-1] == coord_ring[1:]
        self._ax = np.ascontiguousarray(coords[:-1, 0][same])
        self._ay = np.ascontiguousarray(coords[:-1, 1][same])
        self._bx = np.ascontiguousarray(coords[1:, 0][same])
        self._by = np.ascontiguousarray(coords[1:, 1][same])
        seg_poly = part_of[ring_of[coord_ring[:-1][same]]]
        self._seg_off = np.searchsorted(seg_poly, np.arange(len(self._geoms) + 1)).astype(np.int64)
        self._seg_poly = seg_poly

    def _build_raster(self, pixel_size: float | None, max_pixels: int) -> None:
        minx, miny, maxx, maxy = shapely.total_bounds(self._geoms)
        if pixel_size is None:
            side = float(np.sqrt(np.median(shapely.area(self._geoms))))
            pixel_size = max(side / 25.0, 1e-9)
        pixel_size = max(float(pixel_size), math.sqrt((maxx - minx + 1e-9) * (maxy - miny + 1e-9) / max_pixels))
        r = pixel_size
        while True:
            ncols = int(math.ceil((maxx - minx) / r)) + 2
            nrows = int(math.ceil((maxy - miny) / r)) + 2
            if ncols * nrows <= max_pixels or ncols * nrows <= 16:
                break
            r *= 1.05
        self.pixel_size = r
        self._ox, self._oy = float(minx - r), float(miny - r)
        self._shape = (nrows, ncols)

        keys = self._boundary_keys()
        # key = pixel << 31 | rank: sorted keys group by pixel, candidates in rank order
        bpix = keys >> 31
        cand_rank = (keys & (2**31 - 1)).astype(np.int32)
        bounds_change = np.flatnonzero(np.diff(bpix)) + 1
        starts = np.concatenate([[0], bounds_change, [len(keys)]]).astype(np.int64)
        boundary_pixels = bpix[starts[:-1]]
        self._bstart = starts
        self._bcand = cand_rank

        free = np.ones(nrows * ncols, dtype=bool)
        free[boundary_pixels] = False
        labels, ncomp = ndimage.label(free.reshape(nrows, ncols))
        del free
        flat = labels.ravel()
        nz = np.flatnonzero(flat)
        first = np.empty(ncomp + 1, dtype=np.int64)
        first[flat[nz][::-1]] = nz[::-1]
        rep = first[1:]
        cx = self._ox + (rep % ncols + 0.5) * r
        cy = self._oy + (rep // ncols + 0.5) * r
        comp_value = np.empty(ncomp + 1, dtype=np.int32)
        comp_value[0] = 0  # boundary pixels, overwritten below
        comp_value[1:] = self._reference(cx, cy)
        raster = comp_value[labels]
        del labels
        raster.ravel()[boundary_pixels] = (-2 - np.arange(len(boundary_pixels))).astype(np.int32)
        self._raster = raster
        log.info("GridIndex: %d grids, %dx%d pixels of %.2f m, %d boundary pixels, %d runs",
                 len(self._geoms), nrows, ncols, r, len(boundary_pixels), ncomp)

    def _boundary_keys(self) -> np.ndarray:
        """Sorted unique ``pixel << 31 | rank`` for every pixel a grid boundary touches."""
        r, (nrows, ncols) = self.pixel_size, self._shape
        chunks = []
        for lo in range(0, len(self._ax), _SEG_CHUNK):
            sl = slice(lo, lo + _SEG_CHUNK)
            u0 = (self._ax[sl] - self._ox) / r
            v0 = (self._ay[sl] - self._oy) / r
            u1 = (self._bx[sl] - self._ox) / r
            v1 = (self._by[sl] - self._oy) / r
            rank = self._rank[self._seg_poly[sl]]
            # column strips the segment meets
            c_lo = np.floor(np.minimum(u0, u1) - _PIX_EPS).astype(np.int64)
            c_hi = np.floor(np.maximum(u0, u1) + _PIX_EPS).astype(np.int64)
            ncol = c_hi - c_lo + 1
            seg = np.repeat(np.arange(len(u0)), ncol)
            col = c_lo[seg] + (np.arange(len(seg)) - np.repeat(np.cumsum(ncol) - ncol, ncol))
            du = (u1 - u0)[seg]
            dv = (v1 - v0)[seg]
            su0, sv0 = u0[seg], v0[seg]
            flat = np.abs(du) < 1e-9
            with np.errstate(divide="ignore", invalid="ignore"):
                ta = np.clip((col - _PIX_EPS - su0) / du, 0.0, 1.0)
                tb = np.clip((col + 1 + _PIX_EPS - su0) / du, 0.0, 1.0)
                margin = _PIX_EPS * (1.0 + np.minimum(np.abs(dv / du), 1e12))
            ta = np.where(flat, 0.0, ta)
            tb = np.where(flat, 1.0, tb)
            va, vb = sv0 + ta * dv, sv0 + tb * dv
            margin = np.where(flat, _PIX_EPS, margin)
            r_lo = np.floor(np.minimum(va, vb) - margin).astype(np.int64)
            r_hi = np.floor(np.maximum(va, vb) + margin).astype(np.int64)
            nrow = r_hi - r_lo + 1
            item = np.repeat(np.arange(len(seg)), nrow)
            row = r_lo[item] + (np.arange(len(item)) - np.repeat(np.cumsum(nrow) - nrow, nrow))
            col = col[item]
            inside = (row >= 0) & (row < nrows) & (col >= 0) & (col < ncols)
            pix = row[inside] * ncols + col[inside]
            chunks.append(_sorted_unique((pix << 31) | rank[seg[item[inside]]]))
        return _sorted_unique(np.concatenate(chunks))

    def _reference(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Brute-force (STRtree + GEOS) answer, used for one point per interior run."""
        tree = shapely.STRtree(self._geoms)
        pt, poly = tree.query(shapely.points(x, y), predicate="intersects")
        out = np.full(len(x), -1, dtype=np.int64)
        if len(pt):
            order = np.lexsort((self._rank[poly], pt))
            pt, poly = pt[order], poly[order]
            first = np.concatenate([[True], pt[1:] != pt[:-1]])
            out[pt[first]] = poly[first]
        return out

    # ----------------------------------------------------------------- lookup
    def __len__(self) -> int:
        return len(self._geoms)

    def __repr__(self) -> str:
        nb = len(self._bstart) - 1
        return (f"GridIndex({len(self)} grids, {self._shape[0]}x{self._shape[1]} pixels of "
                f"{self.pixel_size:.2f} m, {nb} boundary pixels, crs=EPSG:{self.crs.to_epsg()})")

    @property
    def grid_codes(self) -> np.ndarray:
        """Grid codes in the row order of the polygons the index was built from."""
        return self._codes

    @property
    def nbytes(self) -> int:
        """Bytes held in numpy arrays (raster, candidates, segments); geometries not included."""
        arrays = [self._raster, self._bstart, self._bcand, self._order, self._rank,
                  self._ax, self._ay, self._bx, self._by, self._seg_off, self._seg_poly]
        return int(sum(a.nbytes for a in arrays))

    def _pixels(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nrows, ncols = self._shape
        with np.errstate(invalid="ignore"):
            col = np.floor((x - self._ox) / self.pixel_size)
            row = np.floor((y - self._oy) / self.pixel_size)
            ok = (col >= 0) & (col < ncols) & (row >= 0) & (row < nrows)
        pix = np.where(ok, row * ncols + col, 0).astype(np.int64)
        return pix, ok

    def lookup(self, x: Any, y: Any) -> np.ndarray:
        """Row positions of the grids covering the points (−1 where none does).

        Parameters
        ----------
        x, y : array-like of float
            Coordinates in the index's CRS. NaN or infinite coordinates give −1.

        Returns
        -------
        numpy.ndarray of int64
            Position into the polygons the index was built from, or −1.

        Examples
        --------
        >>> import geopandas as gpd, shapely
        >>> g = gpd.GeoDataFrame({"grid_code": ["a", "b"]},
        ...     geometry=[shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)], crs=4547)
        >>> GridIndex(g).lookup([5, 10, 15, 25], [5, 10, 5, 5]).tolist()
        [0, 0, 1, -1]
        """
        x = np.asarray(x, dtype=np.float64).ravel()
        y = np.asarray(y, dtype=np.float64).ravel()
        if x.shape != y.shape:
            raise InputError(f"x and y differ in length ({len(x)} and {len(y)})")
        pix, ok = self._pixels(x, y)
        val = np.where(ok, self._raster.ravel()[pix], -1)
        out = val.astype(np.int64)
        bnd = np.flatnonzero(val <= -2)
        if len(bnd):
            out[bnd] = self._exact(x[bnd], y[bnd], -2 - val[bnd].astype(np.int64))
        return out

    def codes(self, x: Any, y: Any) -> np.ndarray:
        """Grid codes covering the points (``None`` where no grid does).

        Examples
        --------
        >>> import geopandas as gpd, shapely
        >>> g = gpd.GeoDataFrame({"grid_code": ["a"]}, geometry=[shapely.box(0, 0, 10, 10)], crs=4547)
        >>> GridIndex(g).codes([1, 11], [1, 1]).tolist()
        ['a', None]
        """
        pos = self.lookup(x, y)
        out = np.full(len(pos), None, dtype=object)
        hit = pos >= 0
        out[hit] = self._codes[pos[hit]]
        return out

    def lookup_one(self, x: float, y: float) -> int:
        """Row position of the grid covering one point (−1 if none): the intake-service path.

        Examples
        --------
        >>> import geopandas as gpd, shapely
        >>> g = gpd.GeoDataFrame({"grid_code": ["a"]}, geometry=[shapely.box(0, 0, 10, 10)], crs=4547)
        >>> GridIndex(g).lookup_one(10.0, 10.0)
        0
        """
        r = self.pixel_size
        try:
            col = math.floor((x - self._ox) / r)
            row = math.floor((y - self._oy) / r)
        except (ValueError, OverflowError):  # NaN / inf
            return -1
        nrows, ncols = self._shape
        if not (0 <= col < ncols and 0 <= row < nrows):
            return -1
        val = int(self._raster[row, col])
        if val >= -1:
            return val
        b = -2 - val
        geoms, order = self._geoms, self._order
        for rank in self._bcand[self._bstart[b]:self._bstart[b + 1]].tolist():
            pos = int(order[rank])
            if shapely.intersects_xy(geoms[pos], x, y):
                return pos
        return -1

    def code_one(self, x: float, y: float) -> str | None:
        """Grid code covering one point, or ``None``.

        Examples
        --------
        >>> import geopandas as gpd, shapely
        >>> g = gpd.GeoDataFrame({"grid_code": ["a"]}, geometry=[shapely.box(0, 0, 10, 10)], crs=4547)
        >>> GridIndex(g).code_one(3.0, 4.0)
        'a'
        """
        pos = self.lookup_one(x, y)
        return None if pos < 0 else self._codes[pos]

    def _exact(self, x: np.ndarray, y: np.ndarray, bid: np.ndarray) -> np.ndarray:
        """Exact answer for points in boundary pixels ``bid``.

        Candidates are stored in rank order, so the first one that covers a point is
        the tie-rule winner: round j tests the j-th candidate of the points still open.
        """
        out = np.full(len(x), -1, dtype=np.int64)
        first = self._bstart[bid]
        ncand = self._bstart[bid + 1] - first
        open_ = np.arange(len(x))
        j = 0
        while len(open_):
            open_ = open_[ncand[open_] > j]
            for lo in range(0, len(open_), _POINT_CHUNK):  # bounded temporaries
                idx = open_[lo:lo + _POINT_CHUNK]
                poly = self._order[self._bcand[first[idx] + j]]
                hit = self._covers(poly, x[idx], y[idx])
                out[idx[hit]] = poly[hit]
            open_ = open_[out[open_] < 0]
            j += 1
        return out

    def _covers(self, poly: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``covers(grid[poly[i]], (x[i], y[i]))`` exactly, one pair per element."""
        s0 = self._seg_off[poly]
        nseg = self._seg_off[poly + 1] - s0
        starts = np.cumsum(nseg) - nseg
        pair = np.repeat(np.arange(len(poly)), nseg)
        seg = np.repeat(s0 - starts, nseg) + np.arange(len(pair))
        px, py = x[pair], y[pair]
        ax, ay, bx, by = self._ax[seg], self._ay[seg], self._bx[seg], self._by[seg]
        left = (ax - px) * (by - py)
        right = (ay - py) * (bx - px)
        det = left - right
        errbound = _CCW_ERRBOUND * (np.abs(left) + np.abs(right))
        a_le, b_le = ay <= py, by <= py
        # the point's y lies in the segment's closed y-range and the orientation is undecidable
        unsure = ((a_le != b_le) | (ay == py) | (by == py)) & (np.abs(det) <= errbound)
        cross = (a_le & ~b_le & (det > 0)) | (b_le & ~a_le & (det < 0))
        crossings = np.add.reduceat(cross.view(np.int8), starts)  # int8 wraps mod 256: parity kept
        ambiguous = np.logical_or.reduceat(unsure, starts)
        covers = (crossings & 1).astype(bool) & ~ambiguous
        amb = np.flatnonzero(ambiguous)
        if len(amb):
            covers[amb] = shapely.intersects_xy(self._geoms[poly[amb]], x[amb], y[amb])
        return covers

    # ------------------------------------------------------------- save/load
    def save(self, path: str | Path) -> Path:
        """Write the index to ``path`` (a ``.npz`` file) for :meth:`load`.

        Examples
        --------
        >>> import tempfile, geopandas as gpd, shapely
        >>> g = gpd.GeoDataFrame({"grid_code": ["a"]}, geometry=[shapely.box(0, 0, 10, 10)], crs=4547)
        >>> p = GridIndex(g).save(tempfile.mkdtemp() + "/grids.npz")
        >>> GridIndex.load(p).code_one(1.0, 1.0)
        'a'
        """
        path = Path(path)
        wkb = shapely.to_wkb(self._geoms)
        lengths = np.fromiter((len(b) for b in wkb), dtype=np.int64, count=len(wkb))
        meta = {"format": _FORMAT, "crs": self.crs.to_wkt(), "code_column": self.code_column,
                "pixel_size": self.pixel_size, "origin": [self._ox, self._oy]}
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, meta=np.array(json.dumps(meta)), raster=self._raster, bstart=self._bstart,
                 bcand=self._bcand, codes=self._codes.astype(str),
                 wkb=np.frombuffer(b"".join(wkb), dtype=np.uint8), wkb_len=lengths)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> GridIndex:
        """Read an index written by :meth:`save` (no rebuild; see :meth:`save` for an example)."""
        with np.load(Path(path), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format") != _FORMAT:
                raise InputError(f"{path} is not a gridlib GridIndex file (format {meta.get('format')!r})")
            self = cls.__new__(cls)
            self.crs = pyproj.CRS.from_wkt(meta["crs"])
            self.code_column = meta["code_column"]
            self.pixel_size = float(meta["pixel_size"])
            self._ox, self._oy = meta["origin"]
            self._raster = z["raster"]
            self._shape = self._raster.shape
            self._bstart, self._bcand = z["bstart"], z["bcand"]
            self._codes = z["codes"].astype(object)
            buf, lengths = z["wkb"].tobytes(), z["wkb_len"]
        ends = np.cumsum(lengths)
        self._geoms = shapely.from_wkb(
            np.array([buf[e - n:e] for e, n in zip(ends.tolist(), lengths.tolist(), strict=True)], dtype=object))
        self._order = np.argsort(self._codes, kind="stable").astype(np.int64)
        self._rank = np.empty(len(self._codes), dtype=np.int64)
        self._rank[self._order] = np.arange(len(self._codes))
        self._build_segments()
        return self


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    # np.unique on int64 goes through a hash table in numpy 2.3+, several times slower than this
    a = np.sort(a)
    return a[np.concatenate([[True], a[1:] != a[:-1]])] if len(a) else a


def _check_geometries(geoms: np.ndarray, codes: np.ndarray) -> None:
    kind = shapely.get_type_id(geoms)
    bad = ~np.isin(kind, [3, 6]) | shapely.is_empty(geoms)
    if bad.any():
        raise ValidationError(
            f"{int(bad.sum())} grids are not (multi)polygons or are empty, e.g. {codes[bad][:5].tolist()}; "
            "run `gridlib grid validate`")
    invalid = ~shapely.is_valid(geoms)
    if invalid.any():
        raise ValidationError(
            f"{int(invalid.sum())} grids have invalid geometry, e.g. {codes[invalid][:5].tolist()} "
            f"({shapely.is_valid_reason(geoms[invalid][0])}); run `gridlib grid validate`")


def _check_overlaps(geoms: np.ndarray, codes: np.ndarray) -> None:
    a, b = shapely.STRtree(geoms).query(geoms)
    keep = a < b
    a, b = a[keep], b[keep]
    hit = np.zeros(len(a), dtype=bool)
    for lo in range(0, len(a), _PAIR_CHUNK):
        sl = slice(lo, lo + _PAIR_CHUNK)
        hit[sl] = shapely.relate_pattern(geoms[a[sl]], geoms[b[sl]], "T********")
    if hit.any():
        pairs = [f"{codes[i]}/{codes[j]}" for i, j in zip(a[hit][:5], b[hit][:5], strict=True)]
        raise ValidationError(
            f"{int(hit.sum())} pairs of grids overlap (e.g. {', '.join(pairs)}); a point there would "
            "belong to two grids. Run `gridlib grid validate` to list and fix them.")
