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
raster and a point in it is answered by array indexing. Those answers come from
one pass along the raster rows: each boundary segment adds its grid's signed
weight where it crosses a row's centre line, and a running sum along the row is
the grid at every pixel no boundary touches (a shared edge is traversed once).
Overlapping interiors are refused after GEOS tests only the grids with an edge
that no neighbour shares exactly (see ``_overlapping_pairs``). Most boundary
pixels (94% on a 200,000-grid city) are crossed by one segment only, from side
to side: a point there lies in the grid on its side of that segment, one
orientation test. A point in any other boundary pixel is tested only against the
few grids whose boundary touches that pixel (with overlaps allowed, also those
whose interior holds it), with a vectorised crossing-number test. Both are
guarded by an orientation error bound (Shewchuk's ``ccwerrboundA``); pairs whose
orientation cannot be decided in floating point (points on or within rounding
distance of an edge) go to GEOS (``shapely.intersects_xy``), which is robust. Nothing shared is mutated after
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
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyproj
import shapely
from scipy import ndimage

from gridlib.errors import CRSError, InputError, ValidationError
from gridlib.grid.topology import Topology, segments, topology
from gridlib.types import ArrayLike

if TYPE_CHECKING:
    from gridlib.grid.model import GridSet

__all__ = ["GridIndex", "TIE_RULE"]

log = logging.getLogger(__name__)

TIE_RULE = "smallest grid code (string order) among the grids whose polygon covers the point"

# Shewchuk's error bound for the floating-point orientation determinant.
_EPS = 2.0**-53
_CCW_ERRBOUND = (3.0 + 16.0 * _EPS) * _EPS
# Margin, in pixel units, by which boundary pixels are grown to absorb rounding
# in the pixel arithmetic (coordinates are ~1e6 m; rounding is ~1e-10 m).
_PIX_EPS = 1e-6
_SEG_CHUNK = 100_000
_PAIR_CHUNK = 2_000_000
_POINT_CHUNK = 100_000
# Points per pass of lookup: its temporaries (~40 bytes a point) stay in cache and are reused,
# where whole-array temporaries of a million points are fresh memory (page faults) each time.
_LOOKUP_CHUNK = 32_768
_FORMAT = "gridlib-gridindex-1"
#: The :class:`Topology` arrays a saved index holds (files written before them lack them: computed on load).
_TOPOLOGY_ARRAYS = tuple(f"topology_{name}" for name in Topology.__dataclass_fields__)
#: How the saved topology was computed: a file of another version has its topology computed again on load.
_TOPOLOGY_VERSION = 1


def _grids_frame(grids: Any) -> gpd.GeoDataFrame:
    frame = getattr(grids, "grids", grids)
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(
            f"GridIndex needs a GeoDataFrame of grid polygons or a GridSet, got {type(grids).__name__}")
    if frame.crs is None:
        raise CRSError("the grid polygons have no CRS; set one (a metric CRS, e.g. gl.crs.metric_crs_for)")
    if not pyproj.CRS.from_user_input(frame.crs).is_projected:
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
        Raster resolution in CRS units. Default: 1/25 of the median grid's side for grids
        with many vertices, down to about 1/7 for four-sided grids (most points in a boundary
        pixel take one orientation test; where a pixel holds a vertex, a test per segment of
        its candidate grids: with few segments a coarser raster, faster to build, costs
        lookups little), coarsened if the raster would exceed ``max_pixels``.
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
        grids: GridSet | gpd.GeoDataFrame,
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
        # rank r -> row position; candidates are stored and tried in rank order
        order = _code_order(codes)
        if (codes[order[1:]] == codes[order[:-1]]).any():
            dup = pd.Series(codes).duplicated(keep=False).to_numpy()
            raise ValidationError(
                f"duplicate {code_column} values, e.g. {sorted(set(codes[dup]))[:5]}; "
                "grid codes must be unique (run `gridlib grid validate`)")
        geoms = np.asarray(frame.geometry.array, dtype=object)
        kind = _check_kinds(geoms, codes)

        self.crs = pyproj.CRS.from_user_input(frame.crs)
        self.code_column = code_column
        self._geoms = geoms
        self._codes = codes
        self._order = order
        self._rank = np.empty(len(codes), dtype=np.int64)
        self._rank[self._order] = np.arange(len(codes))
        topo = self._topology = topology(geoms)
        _check_valid(geoms, codes, _axis_rectangles(kind, topo))
        self._ax, self._ay, self._bx, self._by = topo.ax, topo.ay, topo.bx, topo.by
        self._seg_off, self._seg_poly = topo.seg_off, topo.seg_grid
        overlaps = _overlapping_pairs(geoms, topo.unmatched_grids())
        if check_overlaps and len(overlaps[0]):
            _refuse_overlaps(geoms, codes)
        self._build_raster(pixel_size, max_pixels, topo, topo.side, overlaps)

    # ------------------------------------------------------------------ build
    def _build_segments(self) -> None:
        segs = segments(self._geoms)
        self._ax, self._ay, self._bx, self._by, self._seg_off, self._seg_poly = segs[:6]
        self._topology: Topology | None = None  # on first use (a loaded index for lookups needs none)

    def _build_raster(self, pixel_size: float | None, max_pixels: int, groups: Topology,
                      side: np.ndarray, overlaps: tuple[np.ndarray, np.ndarray]) -> None:
        minx, miny, maxx, maxy = shapely.total_bounds(self._geoms)
        if pixel_size is None:
            side_m = float(np.sqrt(np.median(shapely.area(self._geoms))))
            pixel_size = max(side_m / _pixels_per_side(self._seg_off), 1e-9)
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

        # A boundary pixel's raster value is -2 - k: k < split is the one segment that touches it
        # (see _boundary), else its candidate list k - split (bcand[bstart[j]:bstart[j + 1]]).
        keys, unit_seg, rank1, rank2 = self._boundary_keys(groups)
        self._split = len(self._ax)
        if len(overlaps[0]):  # grids whose interior holds a boundary pixel join its candidates
            keys = self._covering_keys(_rank_keys(keys, rank1, rank2), *overlaps)
            self._bcand, self._bstart, boundary_pixels = _candidate_lists(keys)
            k = self._split + np.arange(len(boundary_pixels))
            self._sleft = self._sright = None
        else:
            usable = (rank2 < 0) | (groups.partner[unit_seg] >= 0)  # not a same-side (overlap) pair
            self._bcand, self._bstart, boundary_pixels, k = _boundary_entries(
                keys, unit_seg, usable, rank1, rank2, self._split)
            grid, other = self._seg_poly.astype(np.int32), groups.partner.astype(np.int32)
            self._sleft = np.where(groups.side > 0, grid, other)  # the grid left of each segment, or -1
            self._sright = np.where(groups.side > 0, other, grid)
        del keys
        if len(k) and int(k.max()) > 2**31 - 3:  # raster codes -2 - k are int32
            raise InputError("too many boundary segments and pixels for a GridIndex (raster codes are int32)")
        self._nboundary = len(boundary_pixels)

        # Interior pixels: the sum over grids of (position + 1) x winding number at the pixel
        # centre, accumulated up each column from the signed crossings of the column's centre line
        # (see _winding_raster); without overlaps that is position + 1 inside a grid, 0 outside.
        east = np.where(self._bx > self._ax, 1, -1).astype(np.int8)
        raster = self._winding_raster(groups, (self._seg_poly + 1) * side * east, baseline=-1)
        if len(overlaps[0]):
            self._resolve_overlaps(raster, self._winding_raster(groups, side * east), boundary_pixels)
        raster.ravel()[boundary_pixels] = (-2 - k).astype(np.int32)
        self._raster = raster
        log.info("GridIndex: %d grids, %dx%d pixels of %.2f m, %d boundary pixels",
                 len(self._geoms), nrows, ncols, r, len(boundary_pixels))

    def _winding_raster(self, groups: Topology, weight: np.ndarray, baseline: int = 0) -> np.ndarray:
        """``baseline + sum(weight[s] * crossing[s])`` at every pixel centre, as an int32 raster.

        ``weight`` is per segment and signed for a segment running eastwards: for the
        crossing-number rule along a vertical ray (a segment crosses the centre line ``xc`` of a
        column when ``(ax <= xc) != (bx <= xc)``), a pixel adds the weights of the crossings below
        it. Exact at every pixel no boundary touches: a crossing lies in a boundary pixel of its
        column, and the row computed for it is off by less than the margin the boundary
        pixels are grown by, so it lands in a boundary pixel too, on the same side of every
        other pixel. Identical segments (a shared edge) are crossed once with summed weights.
        Arithmetic is modulo 2**32, exact for results that fit in int32. The sums run up the
        columns, one row added to the next: contiguous rows, several times faster than a
        cumulative sum along each row.
        """
        r, (nrows, ncols) = self.pixel_size, self._shape
        ox, oy = self._ox, self._oy
        w = np.add.reduceat(weight[groups.group_order], groups.group_start, dtype=np.int64).astype(np.uint32)  # mod 2**32
        first = groups.group_order[groups.group_start]
        ax, ay, bx, by = self._ax[first], self._ay[first], self._bx[first], self._by[first]
        left_a = ax <= bx
        px, py = np.where(left_a, ax, bx), np.where(left_a, ay, by)
        qx, qy = np.where(left_a, bx, ax), np.where(left_a, by, ay)
        keep = np.flatnonzero((px < qx) & (w != 0))
        px, py, qx, qy, w = px[keep], py[keep], qx[keep], qy[keep], w[keep]

        def xc(i: np.ndarray) -> np.ndarray:
            return ox + (i + 0.5) * r

        # columns i whose centre xc(i) lies in [px, qx): estimate, then settle rounding exactly
        il = np.ceil((px - ox) / r - 0.5).astype(np.int64)
        il -= xc(il - 1) >= px
        il += xc(il) < px
        ih = np.ceil((qx - ox) / r - 0.5).astype(np.int64) - 1
        ih += xc(ih + 1) < qx
        ih -= xc(ih) >= qx
        il, ih = np.maximum(il, 0), np.minimum(ih, ncols - 1)
        ncol = np.maximum(ih - il + 1, 0)
        slope = (qy - py) / (qx - px)

        raster = np.zeros((nrows, ncols), dtype=np.uint32)
        raster[0, :] = np.uint32(baseline & 0xFFFFFFFF)
        flat = raster.ravel()
        for lo in range(0, len(w), _SEG_CHUNK):
            sl = slice(lo, lo + _SEG_CHUNK)
            cnt = ncol[sl]
            seg = np.repeat(np.arange(len(cnt)) + lo, cnt)
            i = np.arange(len(seg)) - np.repeat(np.cumsum(cnt) - cnt - il[sl], cnt)
            x = xc(i)
            y = py[seg] + (x - px[seg]) * slope[seg]
            row = np.clip(np.floor((y - oy) / r), 0, nrows - 1).astype(np.int64)
            np.add.at(flat, row * ncols + i, w[seg])
        for j in range(1, nrows):  # uint32: wraps mod 2**32
            np.add(raster[j - 1], raster[j], out=raster[j])
        return raster.view(np.int32)

    def _covering_keys(self, keys: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Add to ``keys`` the grids whose interior holds a boundary pixel of a grid they overlap.

        A boundary pixel's candidates are the grids whose boundary touches it; without overlaps
        no other grid covers any point of it. A grid A that does while its boundary does not
        touch the pixel holds the whole pixel in its interior, so it overlaps the grid B whose
        boundary does: it is found among the overlapping pairs and decided at the pixel centre.
        """
        owner = np.concatenate([a, b])
        other = np.concatenate([b, a])
        by_owner = np.argsort(self._rank[owner], kind="stable")
        owner_rank, other = self._rank[owner][by_owner], other[by_owner]
        key_rank = (keys & np.uint64(2**31 - 1)).astype(np.int64)
        mine = np.flatnonzero(np.isin(key_rank, owner_rank))
        lo = np.searchsorted(owner_rank, key_rank[mine], side="left")
        cnt = np.searchsorted(owner_rank, key_rank[mine], side="right") - lo
        item = np.repeat(mine, cnt)
        grid = other[np.repeat(lo - (np.cumsum(cnt) - cnt), cnt) + np.arange(len(item))]
        pix = (keys[item] >> np.uint64(31)).astype(np.int64)
        ncols, r = self._shape[1], self.pixel_size
        inside = shapely.intersects_xy(self._geoms[grid], self._ox + (pix % ncols + 0.5) * r,
                                       self._oy + (pix // ncols + 0.5) * r)
        extra = ((pix[inside] << 31) | self._rank[grid[inside]]).astype(np.uint64)
        return np.sort(np.concatenate([keys, extra]))

    def _resolve_overlaps(self, raster: np.ndarray, count: np.ndarray, boundary_pixels: np.ndarray) -> None:
        """Where grids overlap (``check_overlaps=False``), give interior pixels the tie-rule winner.

        Pixels no boundary touches and that lie in two or more grids are labelled in connected
        runs (every pixel of a run lies in the same grids); one exact test per run decides it.
        """
        many = count >= 2
        many.ravel()[boundary_pixels] = False
        if not many.any():
            return
        labels, nrun = ndimage.label(many)
        del many
        flat = labels.ravel()
        nz = np.flatnonzero(flat)
        first = np.empty(nrun + 1, dtype=np.int64)
        first[flat[nz][::-1]] = nz[::-1]
        rep = first[1:]
        ncols, r = self._shape[1], self.pixel_size
        value = self._reference(self._ox + (rep % ncols + 0.5) * r, self._oy + (rep // ncols + 0.5) * r)
        raster.ravel()[nz] = value[flat[nz] - 1].astype(np.int32)

    def _boundary_keys(self, groups: Topology) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Sorted ``pixel << 31 | unit`` (uint64, unique) for every pixel a boundary unit touches,
        and per unit its segment and the ranks of its grids (``rank2`` −1 if one grid).

        A unit is a shared edge (a group of two identical segments, traversed once, both grids
        its candidates) or one segment of any other group.
        """
        size = np.diff(np.append(groups.group_start, len(groups.group_order)))
        pair = size <= 2
        seg = np.concatenate([groups.group_order[groups.group_start[pair]], groups.group_order[np.repeat(~pair, size)]])
        if len(seg) >= 2**31:
            raise InputError("GridIndex supports at most 2**31 - 1 boundary segments")
        rank = self._rank[self._seg_poly]
        rank1 = rank[seg]
        rank2 = np.full(len(seg), -1, dtype=np.int64)
        rank2[np.flatnonzero(size[pair] == 2)] = rank[groups.group_order[groups.group_start[pair & (size == 2)] + 1]]
        r, (nrows, ncols) = self.pixel_size, self._shape
        u0, v0 = (self._ax[seg] - self._ox) / r, (self._ay[seg] - self._oy) / r
        u1, v1 = (self._bx[seg] - self._ox) / r, (self._by[seg] - self._oy) / r
        # strips across the segment's shorter extent: column strips for steep segments, else row strips
        steep = np.abs(v1 - v0) > np.abs(u1 - u0)
        runs = []
        for pick, (s0, t0, s1, t1), (ns, nt), (s_step, t_step) in (
                (steep, (u0, v0, u1, v1), (ncols, nrows), (1, ncols)),
                (~steep, (v0, u0, v1, u1), (nrows, ncols), (ncols, 1))):
            step = np.uint64(t_step) << np.uint64(31)
            units = np.flatnonzero(pick)
            for lo in range(0, len(units), _SEG_CHUNK):
                unit = units[lo:lo + _SEG_CHUNK]
                first, n, which = _strip_runs(s0[unit], t0[unit], s1[unit], t1[unit], ns, nt, s_step, t_step)
                runs.append((first | unit[which].astype(np.uint64), n, step))
        keys = np.empty(sum(int(n.sum()) for _, n, _ in runs), dtype=np.uint64)
        pos = 0
        while runs:
            first, n, step = runs.pop(0)
            m = int(n.sum())
            _expand_runs(first, n, step, keys[pos:pos + m])
            pos += m
        keys.sort()
        return keys, seg, rank1, rank2

    def _reference(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Brute-force (STRtree + GEOS) answer for a few points (overlapping grids only)."""
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
        nb = self._nboundary
        return (f"GridIndex({len(self)} grids, {self._shape[0]}x{self._shape[1]} pixels of "
                f"{self.pixel_size:.2f} m, {nb} boundary pixels, crs=EPSG:{self.crs.to_epsg()})")

    @property
    def topology(self) -> Topology:
        """The grids' :class:`gridlib.grid.topology.Topology` (boundary segments, shared edges):
        the one the index was built on, computed on first use for a loaded index.

        >>> import geopandas as gpd, shapely
        >>> g = gpd.GeoDataFrame({"grid_code": ["a", "b"]},
        ...     geometry=[shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)], crs=4547)
        >>> GridIndex(g).topology.shared_edges()
        (array([0]), array([1]))
        """
        if self._topology is None:  # two threads may both compute it: the same arrays, one kept
            self._topology = topology(self._geoms)
        return self._topology

    @property
    def grid_codes(self) -> np.ndarray:
        """Grid codes in the row order of the polygons the index was built from."""
        return self._codes

    @property
    def overlapping(self) -> bool:
        """Whether some grids' interiors overlap (only an index built with ``check_overlaps=False`` allows it): a
        point may then lie inside grids other than the one :meth:`lookup` names.

        >>> import geopandas as gpd, shapely
        >>> g = gpd.GeoDataFrame({"grid_code": ["a", "b"]},
        ...     geometry=[shapely.box(0, 0, 10, 10), shapely.box(5, 0, 15, 10)], crs=4547)
        >>> GridIndex(g.iloc[:1]).overlapping, GridIndex(g, check_overlaps=False).overlapping
        (False, True)
        """
        return self._sleft is None

    @property
    def nbytes(self) -> int:
        """Bytes held in numpy arrays (raster, candidates, segments, topology); geometries not included."""
        arrays = [self._raster, self._bstart, self._bcand, self._order, self._rank,
                  self._ax, self._ay, self._bx, self._by, self._seg_off, self._seg_poly]
        if self._sleft is not None:
            arrays += [self._sleft, self._sright]
        t = self._topology
        if t is not None:  # shared edges (the segments themselves are the arrays above)
            arrays += [t.side, t.group_order, t.group_start, t.unmatched, t.partner]
        return int(sum(a.nbytes for a in arrays))

    def _values(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The raster value (int32) at each point: its grid, −1 (none, or outside the raster) or
        ``-2 - k`` in a boundary pixel. The pixel is ``floor((x - origin) / pixel_size)`` as in
        :meth:`lookup_one`; arithmetic in place (a chunk's temporaries stay in cache)."""
        nrows, ncols = self._shape
        r = self.pixel_size
        col = np.subtract(x, self._ox)
        col /= r
        np.floor(col, out=col)
        row = np.subtract(y, self._oy)
        row /= r
        np.floor(row, out=row)
        ok = col >= 0  # NaN compares False
        ok &= col < ncols
        ok &= row >= 0
        ok &= row < nrows
        row *= ncols
        row += col
        out = ~ok
        row[out] = 0.0
        val = self._raster.ravel().take(row.astype(np.intp))
        val[out] = -1
        return val

    def lookup(self, x: ArrayLike, y: ArrayLike) -> np.ndarray:
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
        out = np.empty(len(x), dtype=np.int64)
        for lo in range(0, len(x), _LOOKUP_CHUNK):
            out[lo:lo + _LOOKUP_CHUNK] = self._values(x[lo:lo + _LOOKUP_CHUNK], y[lo:lo + _LOOKUP_CHUNK])
        bnd = np.flatnonzero(out <= -2)
        if len(bnd):
            out[bnd] = self._boundary(x[bnd], y[bnd], -2 - out[bnd])
        return out

    def codes(self, x: ArrayLike, y: ArrayLike) -> np.ndarray:
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
        geoms = self._geoms
        if b < self._split:  # one segment crosses the pixel: its side decides (see _boundary)
            ax, ay, bx, by = float(self._ax[b]), float(self._ay[b]), float(self._bx[b]), float(self._by[b])
            left, right = (ax - x) * (by - y), (ay - y) * (bx - x)
            bound = _CCW_ERRBOUND * (abs(left) + abs(right))
            sides = int(self._sleft[b]), int(self._sright[b])
            if left - right > bound:
                return sides[0]
            if right - left > bound:
                return sides[1]
            for pos in sorted((p for p in sides if p >= 0), key=lambda p: int(self._rank[p])):
                if shapely.intersects_xy(geoms[pos], x, y):
                    return pos
            return -1
        b -= self._split
        for rank in self._bcand[self._bstart[b]:self._bstart[b + 1]].tolist():
            pos = int(self._order[rank])
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

    def _boundary(self, x: np.ndarray, y: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Exact answer for points in boundary pixels of raster value ``-2 - k``.

        In a pixel only one segment touches (``k < split``: that segment; most boundary pixels)
        the segment passes from one side of the pixel to the other (its end points are vertices
        shared with the next segment of its ring, which would touch the pixel as well), so the
        part of the pixel on either side of it lies in one grid or in none: one orientation
        test, certified by Shewchuk's error bound, decides. The other points, and those within
        rounding distance of that segment's line, take the crossing-number test of :meth:`_exact`.
        """
        out = np.full(len(x), -2, dtype=np.int64)
        one = np.flatnonzero(k < self._split)
        if len(one):
            seg = k[one]
            px, py = x[one], y[one]
            left = (self._ax[seg] - px) * (self._by[seg] - py)
            right = (self._ay[seg] - py) * (self._bx[seg] - px)
            det = left - right
            np.abs(left, out=left)
            np.abs(right, out=right)
            left += right
            left *= _CCW_ERRBOUND  # now the error bound
            out[one] = np.where(det > left, self._sleft[seg], np.where(-det > left, self._sright[seg], -2))
        rest = np.flatnonzero(out == -2)
        if not len(rest):
            return out
        k = k[rest]
        on_seg = k < self._split
        if on_seg.any():  # candidates: the grids either side of the segment, in rank order
            seg = k[on_seg]
            ranks = np.stack([self._rank_or_none(self._sleft[seg]), self._rank_or_none(self._sright[seg])], axis=1)
            ranks.sort(axis=1)  # -1 (no grid on that side) first
            none = ranks[:, 0] < 0
            sub = rest[on_seg]
            out[sub] = self._exact(x[sub], y[sub], ranks.ravel(), 2 * np.arange(len(seg)) + none, 2 - none)
        if not on_seg.all():
            j = k[~on_seg] - self._split
            sub = rest[~on_seg]
            first = self._bstart[j]
            out[sub] = self._exact(x[sub], y[sub], self._bcand, first, self._bstart[j + 1] - first)
        return out

    def _rank_or_none(self, pos: np.ndarray) -> np.ndarray:
        return np.where(pos >= 0, self._rank[np.maximum(pos, 0)], -1)

    def _exact(self, x: np.ndarray, y: np.ndarray, cand: np.ndarray, first: np.ndarray, ncand: np.ndarray
               ) -> np.ndarray:
        """Exact answer for points whose candidate grids (ranks) are ``cand[first:first + ncand]``.

        Candidates are in rank order, so the first one that covers a point is the tie-rule
        winner: round j tests the j-th candidate of the points still open.
        """
        out = np.full(len(x), -1, dtype=np.int64)
        open_ = np.arange(len(x))
        j = 0
        while len(open_):
            open_ = open_[ncand[open_] > j]
            for lo in range(0, len(open_), _POINT_CHUNK):  # bounded temporaries
                idx = open_[lo:lo + _POINT_CHUNK]
                poly = self._order[cand[first[idx] + j]]
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
        >>> GridIndex.load(p, g.geometry.array, mmap=True, with_topology=True).code_one(1.0, 1.0)
        'a'
        """
        path = Path(path)
        wkb = shapely.to_wkb(self._geoms)
        lengths = np.fromiter((len(b) for b in wkb), dtype=np.int64, count=len(wkb))
        meta = {"format": _FORMAT, "crs": self.crs.to_wkt(), "code_column": self.code_column,
                "pixel_size": self.pixel_size, "origin": [self._ox, self._oy],
                "segment_codes": self._split, "boundary_pixels": self._nboundary, "topology": _TOPOLOGY_VERSION}
        tmp = path.with_name(path.name + ".tmp.npz")
        simple = {} if self._sleft is None else {"sleft": self._sleft, "sright": self._sright}
        # the topology too (a city's: ~180 MB), so a load neither computes it (~3.5 s CPU) nor holds it in private
        # memory: mapped, its pages are read from the file as used and shared by every process mapping it
        topo = self.topology
        arrays = {name: getattr(topo, name.removeprefix("topology_")) for name in _TOPOLOGY_ARRAYS}
        np.savez(tmp, meta=np.array(json.dumps(meta)), raster=self._raster, bstart=self._bstart,
                 bcand=self._bcand, codes=self._codes.astype(str),
                 wkb=np.frombuffer(b"".join(wkb), dtype=np.uint8), wkb_len=lengths, **simple, **arrays)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path, geoms: Any = None, *, mmap: bool = False, with_topology: bool = False) -> GridIndex:
        """Read an index written by :meth:`save` (no rebuild; see :meth:`save` for an example).

        *geoms*, optional: the very polygons the index was saved from, in the same row order (a caller that
        holds them, keyed the file by their digest); they are used instead of decoding the saved WKB.
        ``mmap=True`` maps the large arrays from the file read-only instead of copying them (a city's 500 MB in
        ~0.1 instead of ~2 s; pages are read as lookups touch them and shared by every process mapping the file).
        ``with_topology=True`` makes the :attr:`topology` now: read (mapped with ``mmap``) from a file that holds
        it, as :meth:`save` writes it, else computed, and the segments taken from it (a caller that will use it
        saves computing the segments twice).
        """
        with np.load(Path(path), allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format") != _FORMAT:
                raise InputError(f"{path} is not a gridlib GridIndex file (format {meta.get('format')!r})")
            self = cls.__new__(cls)
            self.crs = pyproj.CRS.from_wkt(meta["crs"])
            self.code_column = meta["code_column"]
            self.pixel_size = float(meta["pixel_size"])
            self._ox, self._oy = meta["origin"]
            saved_topology = set(_TOPOLOGY_ARRAYS) <= set(z.files) and meta.get("topology") == _TOPOLOGY_VERSION
            names = ("raster", "bstart", "bcand") + (_TOPOLOGY_ARRAYS if saved_topology and with_topology else ())
            mapped = _mapped_npz(Path(path), names) if mmap else {}
            self._raster = mapped["raster"] if mapped else z["raster"]
            self._shape = self._raster.shape
            self._bstart, self._bcand = (mapped["bstart"], mapped["bcand"]) if mapped else (z["bstart"], z["bcand"])
            # raster codes below this are one-segment pixels (none in files written before them)
            self._split = int(meta.get("segment_codes", 0))
            self._nboundary = int(meta.get("boundary_pixels", len(self._bstart) - 1))
            self._sleft, self._sright = (z["sleft"], z["sright"]) if "sleft" in z.files else (None, None)
            self._codes = z["codes"].astype(object)
            buf, lengths = (z["wkb"].tobytes(), z["wkb_len"]) if geoms is None else (b"", None)
            topo = (Topology(**{name.removeprefix("topology_"): mapped[name] if mapped else z[name]
                                for name in _TOPOLOGY_ARRAYS}) if saved_topology and with_topology else None)
            if topo is not None and len(topo) != len(self._codes):
                raise InputError(f"{path}: its topology has {len(topo)} grids, its codes {len(self._codes)}")
        if geoms is not None:
            self._geoms = np.asarray(getattr(geoms, "array", geoms), dtype=object)
            if len(self._geoms) != len(self._codes):
                raise InputError(f"{path} indexes {len(self._codes)} grids, but {len(self._geoms)} polygons were given")
        else:
            ends = np.cumsum(lengths)
            self._geoms = shapely.from_wkb(
                np.array([buf[e - n:e] for e, n in zip(ends.tolist(), lengths.tolist(), strict=True)], dtype=object))
        self._order = _code_order(self._codes)
        self._rank = np.empty(len(self._codes), dtype=np.int64)
        self._rank[self._order] = np.arange(len(self._codes))
        if with_topology:
            topo = self._topology = topo if topo is not None else topology(self._geoms)
            self._ax, self._ay, self._bx, self._by = topo.ax, topo.ay, topo.bx, topo.by
            self._seg_off, self._seg_poly = topo.seg_off, topo.seg_grid
        else:
            self._build_segments()
        return self


def _mapped_npz(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays *names* of an uncompressed ``.npz`` (as :func:`numpy.savez` writes), memory-mapped read-only
    from the file; ``{}`` when any is compressed or absent (the caller then reads them)."""
    import zipfile

    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as zf, open(path, "rb") as fh:
        for name in names:
            try:
                info = zf.getinfo(f"{name}.npy")
            except KeyError:
                return {}
            if info.compress_type != zipfile.ZIP_STORED:
                return {}
            fh.seek(info.header_offset)
            local = fh.read(30)  # the local file header: its name and extra field lengths are at bytes 26-29
            fh.seek(info.header_offset + 30 + int.from_bytes(local[26:28], "little")
                    + int.from_bytes(local[28:30], "little"))
            major, _ = np.lib.format.read_magic(fh)
            read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(fh)
            out[name] = np.asarray(np.memmap(path, dtype=dtype, mode="r", offset=fh.tell(), shape=shape,
                                             order="F" if fortran else "C"))
    return out


def _pixels_per_side(seg_off: np.ndarray) -> float:
    """Pixels along the median grid's side for the default raster: 2.5 per boundary segment of the mean grid,
    fewer (4 per segment less 9) for grids of under six segments, between 7 and 25. Most points in a boundary
    pixel take one orientation test (the pixel is crossed by one segment), so a coarser raster, faster to
    build, costs lookups little: city-quick's 4-sided grids (4.16 segments) at 7.6 instead of 10.4 pixels,
    build 69 -> 59 ms CPU, 130k lookups inside the grids 3.9 -> 4.6 ms (at 10 instead of 12: build 0.22 ->
    0.15 s); the 200k-grid synthetic city's 6-segment cells at 15 instead of 18, build 3.3 -> 2.9 s, 1M
    lookups 53 -> 60 ms; the demo's 12-segment grids keep 25.

    >>> _pixels_per_side(np.array([0, 4, 8])), _pixels_per_side(np.array([0, 6])), _pixels_per_side(np.array([0, 30]))
    (7.0, 15.0, 25.0)
    """
    mean = (seg_off[-1] - seg_off[0]) / max(len(seg_off) - 1, 1)
    return float(np.clip(min(2.5 * mean, 4.0 * mean - 9.0), 7.0, 25.0))


def _code_order(codes: np.ndarray) -> np.ndarray:
    """Stable argsort of string codes in Python's order (code points, as UTF-8 bytes sort)."""
    try:
        order = pc.sort_indices(pa.array(codes, type=pa.string()))
    except (pa.ArrowException, UnicodeError):  # e.g. a lone surrogate: no UTF-8 for it
        return np.argsort(codes, kind="stable").astype(np.int64)
    return np.asarray(order).astype(np.int64)


def _candidate_lists(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``bcand, bstart, boundary_pixels`` from sorted ``pixel << 31 | rank`` keys (uint64).

    Keys may repeat (a pixel met by two segments of one grid); repeats are dropped without
    copying the keys, which are the build's largest array and are shifted in place.
    """
    keep = np.empty(len(keys), dtype=bool)
    keep[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=keep[1:])
    low = keys.view(np.uint32)[0::2] if sys.byteorder == "little" else keys.astype(np.uint32)
    cand = low[keep]
    cand &= np.uint32(2**31 - 1)
    keys >>= np.uint64(31)  # now the pixel
    first = np.empty(len(keys), dtype=bool)  # first key of its pixel (never a repeat)
    first[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    boundary_pixels = keys[first].view(np.int64)
    bstart = np.concatenate([np.flatnonzero(first[keep]), [len(cand)]])
    return cand.view(np.int32), bstart, boundary_pixels


def _boundary_entries(keys: np.ndarray, unit_seg: np.ndarray, usable: np.ndarray, rank1: np.ndarray,
                      rank2: np.ndarray, split: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``bcand, bstart, boundary_pixels, k`` from sorted unique ``pixel << 31 | unit`` keys.

    A pixel one usable unit touches (most boundary pixels) gets ``k`` = that unit's segment;
    the others get ``split + j`` and candidate list j: the sorted distinct ranks of their
    units' grids. The keys are shifted in place (then the pixels).
    """
    low = keys.view(np.uint32)[0::2] if sys.byteorder == "little" else keys.astype(np.uint32)
    unit = (low & np.uint32(2**31 - 1)).view(np.int32)
    keys >>= np.uint64(31)  # now the pixel
    first = np.empty(len(keys), dtype=bool)
    first[:1] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    del first
    boundary_pixels = keys.take(starts).view(np.int64)
    count = np.empty(len(starts), dtype=np.int64)
    np.subtract(starts[1:], starts[:-1], out=count[:-1])
    count[-1:] = len(keys) - starts[-1:]
    u0 = unit.take(starts)
    many = usable.take(u0)
    np.logical_not(many, out=many)
    many |= count > 1
    k = unit_seg.take(u0)
    listed = np.flatnonzero(many)
    k[listed] = split + np.arange(len(listed))
    # pixels with a list: (list, rank) pairs of their units' grids, sorted, repeats dropped
    n = count[listed]
    at = np.repeat(starts[listed] - (np.cumsum(n) - n), n) + np.arange(int(n.sum()))
    ku = unit.take(at)
    kj = np.repeat(np.arange(len(listed), dtype=np.uint64), n) << np.uint64(31)
    r2 = rank2.take(ku)
    k2 = np.flatnonzero(r2 >= 0)
    pairs = np.concatenate([kj | rank1.take(ku).astype(np.uint64), kj[k2] | r2[k2].astype(np.uint64)])
    pairs.sort()
    bcand, bstart, _ = _candidate_lists(pairs)
    return bcand, bstart, boundary_pixels, k


def _rank_keys(keys: np.ndarray, rank1: np.ndarray, rank2: np.ndarray) -> np.ndarray:
    """Sorted ``pixel << 31 | rank`` keys (repeats possible) from ``pixel << 31 | unit`` keys."""
    mask = np.uint64(2**31 - 1)
    unit = (keys & mask).astype(np.int64)
    pixel = keys & ~mask
    two = np.flatnonzero(rank2[unit] >= 0)
    out = np.concatenate([pixel | rank1[unit].astype(np.uint64), pixel[two] | rank2[unit[two]].astype(np.uint64)])
    out.sort()
    return out


def _check_kinds(geoms: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The geometry type ids, refusing any grid that is not a non-empty (multi)polygon."""
    kind = shapely.get_type_id(geoms)
    bad = ~np.isin(kind, [3, 6]) | shapely.is_empty(geoms)
    if bad.any():
        raise ValidationError(
            f"{int(bad.sum())} grids are not (multi)polygons or are empty, e.g. {codes[bad][:5].tolist()}; "
            "run `gridlib grid validate`")
    return kind


def _check_valid(geoms: np.ndarray, codes: np.ndarray, rectangle: np.ndarray) -> None:
    """Refuse invalid grids; a *rectangle* is valid (GEOS checks the others)."""
    invalid = np.zeros(len(geoms), dtype=bool)
    ask = np.flatnonzero(~rectangle)
    invalid[ask] = ~shapely.is_valid(geoms[ask])
    if invalid.any():
        raise ValidationError(
            f"{int(invalid.sum())} grids have invalid geometry, e.g. {codes[invalid][:5].tolist()} "
            f"({shapely.is_valid_reason(geoms[invalid][0])}); run `gridlib grid validate`")


def _axis_rectangles(kind: np.ndarray, topo: Topology) -> np.ndarray:
    """Per grid: a polygon whose only ring is an axis-parallel rectangle of non-zero width and height (four
    edges, alternately horizontal and vertical, closed), valid without asking GEOS (most grids a
    ``gl.grid.build`` makes: ``shapely.is_valid`` took 31 ms for city-quick's 22k grids). Read from the
    topology's segments: a polygon of four segments has one ring.

    >>> from gridlib.grid.topology import topology
    >>> geoms = [shapely.box(0, 0, 2, 1), shapely.Polygon([(0, 0), (2, 0), (0, 1), (2, 1)])]
    >>> _axis_rectangles(np.array([3, 3]), topology(geoms)).tolist()
    [True, False]
    """
    out = np.zeros(len(kind), dtype=bool)
    four = np.flatnonzero((kind == 3) & (np.diff(topo.seg_off) == 4))
    if not len(four):
        return out
    seg = topo.seg_off[four][:, None] + np.arange(4)
    ax, ay, bx, by = topo.ax[seg], topo.ay[seg], topo.bx[seg], topo.by[seg]
    dx, dy = bx - ax, by - ay
    flat = (dy == 0) & (dx != 0)      # horizontal edges
    upright = (dx == 0) & (dy != 0)   # vertical edges
    turns = (flat[:, 0::2].all(axis=1) & upright[:, 1::2].all(axis=1)) | \
        (upright[:, 0::2].all(axis=1) & flat[:, 1::2].all(axis=1))
    closed = (ax[:, 0] == bx[:, 3]) & (ay[:, 0] == by[:, 3])
    out[four] = turns & closed
    return out


def _strip_runs(s0: np.ndarray, t0: np.ndarray, s1: np.ndarray, t1: np.ndarray,
                ns: int, nt: int, s_step: int, t_step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pixels segments (s0, t0)-(s1, t1) touch (pixel units), as runs along t.

    The segment is cut into unit strips along s; in each strip it spans the t-range
    [va, vb]. Both are grown by ``_PIX_EPS`` so that a pixel within rounding distance of
    the segment counts as touched; the t-range also by the rounding of va and vb where a
    strip edge cuts a steep segment (a few ulps of the largest pixel coordinate times the
    slope), but never beyond the segment's own t-range +- ``_PIX_EPS``: a pixel marked
    though no boundary comes near it could lie inside a grid that is then missing from
    its candidates (a margin of ``_PIX_EPS`` x slope did that for near-axis segments). The pixel index is
    ``s * s_step + t * t_step`` for s in [0, ns), t in [0, nt). Returns per run its first
    ``pixel << 31``, its length and the segment it belongs to.
    """
    ds, dt = s1 - s0, t1 - t0
    flat_s = np.abs(ds) < 1e-9
    with np.errstate(divide="ignore", invalid="ignore"):
        margin_s = np.where(flat_s, _PIX_EPS, _PIX_EPS + 64 * max(ns, nt) * _EPS * np.minimum(np.abs(dt / ds), 1e12))
    t_lo, t_hi = np.minimum(t0, t1) - _PIX_EPS, np.maximum(t0, t1) + _PIX_EPS
    c_lo = np.maximum(np.floor(np.minimum(s0, s1) - _PIX_EPS).astype(np.int64), 0)
    c_hi = np.minimum(np.floor(np.maximum(s0, s1) + _PIX_EPS).astype(np.int64), ns - 1)
    nstrip = np.maximum(c_hi - c_lo + 1, 0)
    seg = np.repeat(np.arange(len(s0)), nstrip)
    k = np.arange(len(seg)) - np.repeat(np.cumsum(nstrip) - nstrip - c_lo, nstrip)
    su0, du, flat = s0[seg], ds[seg], flat_s[seg]
    with np.errstate(divide="ignore", invalid="ignore"):
        ta = np.clip((k - _PIX_EPS - su0) / du, 0.0, 1.0)
        tb = np.clip((k + 1 + _PIX_EPS - su0) / du, 0.0, 1.0)
    ta[flat] = 0.0
    tb[flat] = 1.0
    sv0, dv = t0[seg], dt[seg]
    va, vb = sv0 + ta * dv, sv0 + tb * dv
    margin = margin_s[seg]
    lo_t = np.maximum(np.minimum(va, vb) - margin, t_lo[seg])
    hi_t = np.minimum(np.maximum(va, vb) + margin, t_hi[seg])
    r_lo = np.maximum(np.floor(lo_t).astype(np.int64), 0)
    r_hi = np.minimum(np.floor(hi_t).astype(np.int64), nt - 1)
    n = r_hi - r_lo + 1
    ok = np.flatnonzero(n > 0)
    first = ((k[ok] * s_step + r_lo[ok] * t_step).astype(np.uint64) << np.uint64(31))
    return first, n[ok].astype(np.uint64), seg[ok]


def _expand_runs(first: np.ndarray, n: np.ndarray, step: np.uint64, out: np.ndarray) -> None:
    """Write the runs ``first[i] + j * step`` (j < n[i], n[i] >= 1) into ``out``, in order.

    A cumulative sum of ``step`` with a jump at each run's start (uint64: wraps, then unwraps).
    """
    if not len(first):
        return
    out.fill(step)
    last = first + (n - np.uint64(1)) * step
    out[0] = first[0]
    out[(np.cumsum(n) - n)[1:].astype(np.int64)] = first[1:] - last[:-1]
    np.cumsum(out, out=out)


def _overlapping_pairs(geoms: np.ndarray, suspects: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(a, b)`` of grids whose interiors overlap (GEOS ``relate``).

    With ``suspects`` (a mask of grids), only pairs with a suspect are tested. Passing the
    grids that have a segment not matched by an identical segment of a grid on the other
    side finds an overlapping pair whenever there is one: where interiors overlap, take a
    stretch of the boundary of the region covered twice or more and a point q on it that is
    no vertex. The grids covering that region near q either contain q (set I) or have a
    segment through q with their interior on that side (set P); on the other side of q lie
    at most one grid (I and the set N of grids with a segment through q and their interior
    there), so |I| + |P| >= 2, |I| + |N| <= 1 and |P| > |N|. A P-segment is matched only
    by an identical N-segment, so some grid of P is a suspect, and it overlaps another grid
    of I or P there. (Not every overlapping pair need contain a suspect.)
    """
    if suspects is None:
        a, b = shapely.STRtree(geoms).query(geoms)
        keep = a < b
    else:
        sus = np.flatnonzero(suspects)
        if not len(sus):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        a, b = shapely.STRtree(geoms[sus]).query(geoms)
        b = sus[b]
        keep = (a != b) & (~suspects[a] | (a < b))
    a, b = a[keep], b[keep]
    # interiors that overlap share an open set, inside both bounding boxes: boxes that meet only along a line
    # or at a corner (most neighbours of a rectangular layout) need no GEOS (city-quick: 2,934 pairs -> 10)
    used = np.zeros(len(geoms), dtype=bool)
    used[a] = used[b] = True
    used = np.flatnonzero(used)  # the bounds of the grids in a pair only (a city has 750k grids)
    bounds = shapely.bounds(geoms[used])
    ba, bb = bounds[np.searchsorted(used, a)], bounds[np.searchsorted(used, b)]
    area = (np.minimum(ba[:, 2], bb[:, 2]) > np.maximum(ba[:, 0], bb[:, 0])) \
        & (np.minimum(ba[:, 3], bb[:, 3]) > np.maximum(ba[:, 1], bb[:, 1]))
    a, b = a[area], b[area]
    hit = np.zeros(len(a), dtype=bool)
    for lo in range(0, len(a), _PAIR_CHUNK):
        sl = slice(lo, lo + _PAIR_CHUNK)
        hit[sl] = shapely.relate_pattern(geoms[a[sl]], geoms[b[sl]], "T********")
    return np.minimum(a[hit], b[hit]), np.maximum(a[hit], b[hit])


def _refuse_overlaps(geoms: np.ndarray, codes: np.ndarray) -> None:
    a, b = _overlapping_pairs(geoms)  # every pair, for the message
    pairs = [f"{codes[i]}/{codes[j]}" for i, j in zip(a[:5], b[:5], strict=True)]
    raise ValidationError(
        f"{len(a)} pairs of grids overlap (e.g. {', '.join(pairs)}); a point there would "
        "belong to two grids. Run `gridlib grid validate` to list and fix them.")
