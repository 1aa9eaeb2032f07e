"""Stops and trips from columnar fixes.

A **stop** is a dwell: the vehicle stays within ``radius_m`` of one place for at
least ``min_dwell_s``. For every fix i the window from i to the first fix at least
``min_dwell_s`` later is tested at once (its bounding box, from a level-by-level
sparse table, must fit in a circle of ``radius_m``); fixes covered by any such
window are *stationary*, and runs of stationary fixes are stops. GPS drift while
parked therefore never counts as movement. A **trip** is a run of moving fixes
between stops, split where no fix arrives for ``gap_s`` or longer. A stop never spans
more than a circle of ``radius_m``: a run of chained dwell windows wider than that (a slow
crawl) is split into pieces that fit, and pieces shorter than the dwell are movement.

>>> import numpy as np, pandas as pd
>>> from gridlib.trucks.fixes import read_fixes
>>> t = pd.date_range("2026-11-20 08:00", periods=120, freq="10s").astype(str)
>>> lon = np.r_[np.linspace(121.48, 121.50, 40), np.full(50, 121.50), np.linspace(121.50, 121.52, 30)]
>>> fx, _ = read_fixes(pd.DataFrame({"vehicle_id": "A", "time": t, "lon": lon, "lat": 31.24}))
>>> moves = detect(fx)
>>> len(moves.stops), moves.stops.duration_s.tolist(), len(moves.trips)
(1, [530], 2)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

from gridlib.crs import WGS84, transform_xy
from gridlib.trucks._runs import group_extent, run_ids, runs
from gridlib.trucks.fixes import Fixes

__all__ = ["Movement", "detect", "stationary", "match_sites", "site_tree"]


@dataclass
class Movement:
    """Stops and trips of a set of fixes.

    Attributes
    ----------
    stationary : numpy.ndarray of bool
        Per fix: inside a dwell.
    stop_of : numpy.ndarray of int64
        Per fix: the row of ``stops`` it belongs to, −1 when moving.
    trip_of : numpy.ndarray of int64
        Per fix: the row of ``trips`` it belongs to, −1 when stationary.
    gap_before : numpy.ndarray of bool
        Per fix: True when the previous fix of the vehicle is ``gap_s`` or more earlier.
    stops, trips : geopandas.GeoDataFrame
        In WGS84; see :func:`detect`.
    stop_xy : numpy.ndarray
        (n_stops, 2) mean stop positions in the fixes' metric CRS.
    stop_site : numpy.ndarray of int64
        Position in ``sites`` of each stop's site, −1 for none.
    dwell : numpy.ndarray of bool or None
        Per fix: inside a dwell window (:func:`stationary`) before runs too wide were split and their
        short pieces dropped; the live monitor uses it to find where a vehicle's stops cannot reach back.

    Examples
    --------
    >>> import pandas as pd
    >>> from gridlib.trucks import read_fixes, detect
    >>> fx, _ = read_fixes(pd.DataFrame({"vehicle_id": "A",
    ...     "time": pd.date_range("2026-11-20 08:00", periods=50, freq="30s").astype(str),
    ...     "lon": [121.5] * 40 + [121.5 + 0.001 * i for i in range(1, 11)], "lat": 31.24}))
    >>> m = detect(fx)
    >>> len(m.stops), len(m.trips), int(m.stationary.sum()), m.stop_of[[0, -1]].tolist(), int(m.trip_of[-1])
    (1, 1, 41, [0, -1], 0)
    """

    stationary: np.ndarray
    stop_of: np.ndarray
    trip_of: np.ndarray
    gap_before: np.ndarray
    stops: gpd.GeoDataFrame
    trips: gpd.GeoDataFrame
    stop_xy: np.ndarray
    stop_site: np.ndarray
    dwell: np.ndarray | None = None


def stationary(
    fixes: Fixes, *, radius_m: float = 50.0, min_dwell_s: float = 300.0, tail_dwell_s: float = 120.0
) -> np.ndarray:
    """Return a boolean per fix: True when the fix lies in a dwell of ``min_dwell_s`` within ``radius_m``.

    At the end of a vehicle's data, where a full window cannot exist, a dwell of
    ``tail_dwell_s`` is enough.

    >>> import pandas as pd
    >>> from gridlib.trucks.fixes import read_fixes
    >>> fx, _ = read_fixes(pd.DataFrame({"vehicle_id": "A",
    ...     "time": pd.date_range("2026-11-20 08:00", periods=4, freq="200s").astype(str),
    ...     "lon": [121.50, 121.50, 121.5001, 121.51], "lat": 31.24}))
    >>> stationary(fx).tolist()
    [True, True, True, False]
    """
    n = len(fixes)
    if n == 0:
        return np.zeros(0, dtype=bool)
    # key orders fixes by (vehicle, t); the window end is the first fix >= t + dwell of the same vehicle
    span = int(fixes.t.max() - fixes.t.min()) + int(min_dwell_s) + 2
    base = fixes.vehicle.astype(np.int64) * span
    key = base + (fixes.t - fixes.t.min())
    end = np.searchsorted(key, key + int(np.ceil(min_dwell_s)), side="left")
    vend = np.searchsorted(key, base + span, side="left")  # first fix of the next vehicle
    # at the end of a vehicle's data a shorter window counts (parked when the tracker went quiet)
    tail_s = min(float(min_dwell_s), float(tail_dwell_s))
    last = vend - 1
    tail = (end >= vend) & (last > np.arange(n)) & ((fixes.t[np.minimum(last, n - 1)] - fixes.t) >= tail_s)
    has = (end < vend) | tail
    hi_all = np.where(end < vend, end, np.minimum(last, n - 1))
    # a window whose two ends are more than 2R apart cannot fit: skip it before the range queries
    has &= np.hypot(fixes.x[hi_all] - fixes.x, fixes.y[hi_all] - fixes.y) <= 2.0 * radius_m
    lo = np.flatnonzero(has)
    hi = hi_all[has]
    # float32 offsets from the first fix: millimetres over tens of km, half the memory traffic
    xmin, xmax = group_extent((fixes.x - fixes.x[0]).astype(np.float32), lo, hi)
    ymin, ymax = group_extent((fixes.y - fixes.y[0]).astype(np.float32), lo, hi)
    still = np.hypot(xmax - xmin, ymax - ymin) <= 2.0 * radius_m
    cover = np.zeros(n + 1, dtype=np.int64)
    np.add.at(cover, lo[still], 1)
    np.add.at(cover, hi[still] + 1, -1)
    return np.cumsum(cover[:-1]) > 0


def within_radius(
    x: np.ndarray, y: np.ndarray, starts: np.ndarray, ends: np.ndarray, radius_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Split runs of fixes so that each fits in a circle of ``radius_m`` (its bounding box's diagonal
    at most ``2 · radius_m``), cutting greedily from the start of each run.

    Overlapping dwell windows can chain into a run far wider than one place — a truck crawling at
    0.3 m/s for an hour — and a stop must stay within ``radius_m`` of one place. Runs that already
    fit are returned as they are; only the others are split, all at once, one piece per round
    (a binary search for each piece's last fix).

    >>> x = np.arange(10) * 30.0                     # a crawl of 270 m
    >>> within_radius(x, np.zeros(10), np.array([0]), np.array([9]), 50.0)
    (array([0, 4, 8]), array([3, 7, 9]))
    """
    starts, ends = np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
    if not len(starts):
        return starts, ends
    limit = 2.0 * radius_m
    xmin, xmax = group_extent(x, starts, ends)
    ymin, ymax = group_extent(y, starts, ends)
    wide = np.hypot(xmax - xmin, ymax - ymin) > limit
    if not wide.any():
        return starts, ends
    # work on the wide runs' fixes only, in compact positions
    lengths = ends[wide] - starts[wide] + 1
    offset = np.r_[0, np.cumsum(lengths)[:-1]]
    pos = np.repeat(starts[wide] - offset, lengths) + np.arange(int(lengths.sum()))
    cx, cy = x[pos], y[pos]
    p, e = offset.copy(), offset + lengths - 1
    piece_starts, piece_ends = [], []
    while len(p):
        lo, hi = p.copy(), e.copy()
        while (lo < hi).any():
            mid = (lo + hi + 1) // 2
            ax, bx = group_extent(cx, p, mid)
            ay, by = group_extent(cy, p, mid)
            fits = np.hypot(bx - ax, by - ay) <= limit
            lo, hi = np.where(fits, mid, lo), np.where(fits, hi, mid - 1)
        piece_starts.append(pos[p])
        piece_ends.append(pos[lo])
        more = lo < e
        p, e = lo[more] + 1, e[more]
    new_starts = np.r_[starts[~wide], np.concatenate(piece_starts)]
    new_ends = np.r_[ends[~wide], np.concatenate(piece_ends)]
    order = np.argsort(new_starts, kind="stable")
    return new_starts[order], new_ends[order]


_SITE_TREES: dict[tuple[bytes, float], shapely.STRtree] = {}


def site_tree(sites: gpd.GeoDataFrame, buffer_m: float = 0.0) -> shapely.STRtree:
    """STRtree of the *sites* polygons grown by ``buffer_m`` (positions as in *sites*), built once per
    set of site shapes: a check matches sites five times (stops, trip ends, fixes off route).

    The cache key is a digest of the polygons' WKB (0.7 ms for 400 sites; the buffer costs 7-20 ms),
    so sites edited in place are never matched against stale shapes.

    >>> from shapely.geometry import box
    >>> s = gpd.GeoDataFrame({"site_id": ["S1"]}, geometry=[box(0, 0, 10, 10)], crs=4549)
    >>> site_tree(s, 3.0) is site_tree(s.copy(), 3.0), site_tree(s, 3.0).query(shapely.Point(12, 5)).tolist()
    (True, [0])
    """
    geoms = np.asarray(sites.geometry.values, dtype=object)
    key = (hashlib.blake2b(b"".join(shapely.to_wkb(geoms)), digest_size=16).digest(), float(buffer_m))
    tree = _SITE_TREES.get(key)
    if tree is None:
        tree = shapely.STRtree(shapely.buffer(geoms, buffer_m) if buffer_m > 0 else geoms)
        if len(_SITE_TREES) >= 16:
            _SITE_TREES.pop(next(iter(_SITE_TREES)))
        _SITE_TREES[key] = tree
    return tree


def match_sites(x: np.ndarray, y: np.ndarray, sites: gpd.GeoDataFrame | None, buffer_m: float = 0.0) -> np.ndarray:
    """Return the position in *sites* (metric CRS) of the site containing each point, −1 for none.

    Where sites overlap, the one with the lowest position wins.

    >>> from shapely.geometry import box
    >>> s = gpd.GeoDataFrame({"site_id": ["S1"]}, geometry=[box(0, 0, 10, 10)], crs=4549)
    >>> match_sites(np.array([5.0, 20.0, 12.0]), np.array([5.0, 5.0, 5.0]), s, buffer_m=3).tolist()
    [0, -1, 0]
    """
    out = np.full(len(x), -1, dtype=np.int64)
    if sites is None or len(sites) == 0 or len(x) == 0:
        return out
    pi, si = site_tree(sites, buffer_m).query(shapely.points(x, y), predicate="intersects")
    if len(pi):     # the lowest site per point: numpy, not a groupby (~0.7 ms of frames per call, a tick's share)
        best = np.full(len(x), np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(best, pi, si)
        hit = best < np.iinfo(np.int64).max
        out[hit] = best[hit]
    return out


def _end_sites(ends: np.ndarray, stop_of: np.ndarray, stop_site: np.ndarray, fixes: Fixes,
               sites: gpd.GeoDataFrame | None, buffer_m: float) -> np.ndarray:
    """Site of each trip end: its stop's site, or the site the end fix lies in when it is no stop."""
    out = np.full(len(ends), -1, dtype=np.int64)
    at_stop = stop_of[ends] >= 0
    out[at_stop] = stop_site[stop_of[ends[at_stop]]]
    loose = ends[~at_stop]
    out[~at_stop] = match_sites(fixes.x[loose], fixes.y[loose], sites, buffer_m)
    return out


_NO_TRIPS: gpd.GeoDataFrame | None = None     # the trips table of no fixes (detect with trips=False)


def detect(
    fixes: Fixes,
    *,
    radius_m: float = 50.0,
    min_dwell_s: float = 300.0,
    gap_s: float = 600.0,
    sites: gpd.GeoDataFrame | None = None,
    site_buffer_m: float = 30.0,
    trips: bool = True,
) -> Movement:
    """Find stops and trips.

    Parameters
    ----------
    fixes : Fixes
        Cleaned fixes.
    radius_m, min_dwell_s : float
        A stop is a dwell within ``radius_m`` of one place for at least ``min_dwell_s``. Dwell
        windows that chain into a run wider than that (a slow crawl) are split into pieces that
        fit (:func:`within_radius`); a piece shorter than ``min_dwell_s`` is movement.
    gap_s : float
        No fix for ``gap_s`` **or longer** ends a trip (``dt >= gap_s``; movingpandas'
        ObservationGapSplitter splits on ``dt > gap``).
    sites : geopandas.GeoDataFrame, optional
        Sites with ``site_id`` in the fixes' metric CRS; stops and trip ends are
        matched to them (with ``site_buffer_m`` of tolerance for GPS error at gates).
    trips : bool
        False: leave the ``trips`` table empty (its rows, lines, lengths and end sites are what no
        detector reads; the live monitor checks without them). Everything else is the same.

    Returns
    -------
    Movement
        ``stops``: ``stop_id``, ``vehicle_id``, ``start``, ``end``, ``duration_s``, ``n_fixes``,
        ``site_id``, point geometry (mean position). ``trips``: ``trip_id``, ``vehicle_id``,
        ``start``, ``end``, ``duration_s``, ``n_fixes``, ``length_m``, ``origin_site``,
        ``destination_site``, line geometry.

    Examples
    --------
    >>> import pandas as pd
    >>> from gridlib.trucks import read_fixes
    >>> fx, _ = read_fixes(pd.DataFrame({"vehicle_id": "A",
    ...     "time": pd.date_range("2026-11-20 08:00", periods=90, freq="10s").astype(str),
    ...     "lon": [121.50] * 40 + [121.50 + 0.0003 * i for i in range(1, 51)], "lat": 31.24}))
    >>> m = detect(fx)   # parked for 6.5 minutes, then drove off east
    >>> m.stops[["vehicle_id", "start", "end", "duration_s"]].astype(str).values.tolist()
    [['A', '2026-11-20 08:00:00', '2026-11-20 08:07:00', '420']]
    >>> m.trips[["vehicle_id", "n_fixes"]].values.tolist(), round(float(m.trips["length_m"].iloc[0]))
    ([['A', 48]], 1344)
    """
    n = len(fixes)
    new_vehicle = fixes.vehicle_starts()
    gap_before = np.zeros(n, dtype=bool)
    gap_before[1:] = (np.diff(fixes.t) >= gap_s) & ~new_vehicle[1:]
    still = stationary(fixes, radius_m=radius_m, min_dwell_s=min_dwell_s)
    dwell = still
    # a stop never spans a jump (the truck moved while the tracker was silent)
    jump = np.zeros(n, dtype=bool)
    jump[1:] = np.hypot(np.diff(fixes.x), np.diff(fixes.y)) > 2.0 * radius_m
    r0, r1 = runs(still, new_vehicle | jump)
    s0, s1 = within_radius(fixes.x, fixes.y, r0, r1, radius_m)
    # a piece of a run that had to be split is a stop only if it lasts the dwell on its own
    split = ~np.isin(s0 * (n + 1) + s1, r0 * (n + 1) + r1)
    drop = split & ((fixes.t[s1] - fixes.t[s0]) < min_dwell_s)
    if drop.any():
        s0, s1 = s0[~drop], s1[~drop]
        still = run_ids(s0, s1, n) >= 0
    stop_of = run_ids(s0, s1, n)
    t0, t1 = runs(~still, new_vehicle | gap_before)
    trip_of = run_ids(t0, t1, n)

    site_ids = np.asarray(sites["site_id"].astype(str)) if sites is not None and len(sites) else np.array([], object)

    def site_name(pos: np.ndarray) -> np.ndarray:
        return np.where(pos >= 0, site_ids[np.maximum(pos, 0)] if len(site_ids) else None, None)

    # stops
    counts = s1 - s0 + 1
    # per-stop sums (independent of what else is in the arrays, so chunking cannot change a bit)
    pairs = np.column_stack([s0, s1 + 1]).ravel()
    sx = np.add.reduceat(np.r_[fixes.x, 0.0], pairs)[::2] / counts if len(s0) else np.zeros(0)
    sy = np.add.reduceat(np.r_[fixes.y, 0.0], pairs)[::2] / counts if len(s0) else np.zeros(0)
    stop_site = match_sites(sx, sy, sites, site_buffer_m)
    slon, slat = transform_xy(fixes.crs, WGS84, sx, sy)   # a cached transformer: to_crs builds one per call
    stops = gpd.GeoDataFrame(
        {
            "stop_id": np.arange(len(s0)),
            "vehicle_id": fixes.vehicle_ids[fixes.vehicle[s0]],
            "start": fixes.times(s0), "end": fixes.times(s1),
            "duration_s": (fixes.t[s1] - fixes.t[s0]).astype("int64"),
            "n_fixes": counts.astype("int64"),
            "site_id": site_name(stop_site),
        },
        geometry=shapely.points(slon, slat), crs=WGS84,
    )

    # trips: a trip starts from the last stop fix before it and ends at the first one after, when adjacent
    a = np.where((t0 > 0) & (stop_of[np.maximum(t0 - 1, 0)] >= 0) & ~new_vehicle[t0] & ~gap_before[t0], t0 - 1, t0)
    b_next = np.minimum(t1 + 1, n - 1)
    b = np.where((t1 + 1 < n) & (stop_of[b_next] >= 0) & ~new_vehicle[b_next] & ~gap_before[b_next], t1 + 1, t1)
    lengths = b - a + 1
    keep = lengths >= 2
    a, b, lengths = a[keep], b[keep], lengths[keep]
    trip_of = np.where(np.isin(trip_of, np.flatnonzero(keep)), trip_of, -1)
    remap = np.cumsum(keep) - 1
    # a vehicle that never moved (parked all night) has no trip runs at all
    trip_of = np.where(trip_of >= 0, remap[np.maximum(trip_of, 0)], -1) if len(remap) else np.full(n, -1)
    if not trips:
        global _NO_TRIPS
        if _NO_TRIPS is None:     # the empty table, built once as below (a GeoDataFrame costs ~3 ms per tick)
            _NO_TRIPS = detect(fixes.take(np.zeros(0, dtype=np.int64)), radius_m=radius_m, min_dwell_s=min_dwell_s,
                               gap_s=gap_s, sites=None, site_buffer_m=site_buffer_m).trips
        return Movement(still, stop_of, trip_of, gap_before, stops, _NO_TRIPS.copy(),
                        np.column_stack([sx, sy]), stop_site, dwell)
    pos = np.repeat(a - np.r_[0, np.cumsum(lengths)[:-1]], lengths) + np.arange(int(lengths.sum()))
    tid = np.repeat(np.arange(len(a)), lengths)
    step = np.zeros(len(pos))
    if len(pos) > 1:
        step[1:] = np.hypot(np.diff(fixes.x[pos]), np.diff(fixes.y[pos]))
        step[np.r_[True, tid[1:] != tid[:-1]]] = 0.0
    length_m = np.bincount(tid, weights=step, minlength=len(a)) if len(a) else np.zeros(0)
    origin = _end_sites(a, stop_of, stop_site, fixes, sites, site_buffer_m)
    dest = _end_sites(b, stop_of, stop_site, fixes, sites, site_buffer_m)
    lines = shapely.linestrings(fixes.lon[pos], fixes.lat[pos], indices=tid) if len(pos) else []
    table = gpd.GeoDataFrame(
        {
            "trip_id": np.arange(len(a)),
            "vehicle_id": fixes.vehicle_ids[fixes.vehicle[a]],
            "start": fixes.times(a), "end": fixes.times(b),
            "duration_s": (fixes.t[b] - fixes.t[a]).astype("int64"),
            "n_fixes": lengths.astype("int64"),
            "length_m": np.round(length_m, 1),
            "origin_site": site_name(origin), "destination_site": site_name(dest),
        },
        geometry=np.asarray(lines, dtype=object) if len(a) else [], crs=WGS84,
    )
    return Movement(
        still, stop_of, trip_of, gap_before, stops, table,
        np.column_stack([sx, sy]), stop_site, dwell,
    )
