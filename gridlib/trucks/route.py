"""Permits, sites and route compliance: per-fix permit, distance to route, deviation episodes.

Distance to the route is computed for every fix in one vectorised pass without
building point geometries: the permit routes are cut into pieces no longer than a
cell, each piece is registered in the cells around it (a hash on
``(permit, cell_x, cell_y)``), and each fix is measured against the pieces
registered in its own cell only. A fix with no piece in its cell is farther than
a cell from its route, which is all the corridor test needs.

Deviation episodes use **hysteresis**: a fix beyond ``corridor_m`` switches the
state to *off*, a fix within ``return_ratio × corridor_m`` (or inside the permit's
origin or destination site) switches it back to *on*, anything between keeps the
previous state. Off runs become episodes only when they last ``min_duration_s`` and
cover ``min_length_m``, so GPS noise at the corridor edge and roads crossing the
corridor raise nothing.

>>> import numpy as np
>>> from shapely.geometry import LineString
>>> routes = np.array([LineString([(0, 0), (1000, 0)])])
>>> d = route_distance(np.array([10.0, 500, 990, 500]), np.array([5.0, -30, 0, 400]),
...                    np.array([0, 0, 0, 0]), routes, cell_m=100)
>>> d.tolist()
[5.0, 30.0, 0.0, inf]
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gridlib.crs import WGS84, metric_crs, to_crs
from gridlib.errors import InputError
from gridlib.rejects import Rejects
from gridlib.times import parse_times, reject_times
from gridlib.trucks._runs import forward_fill, runs
from gridlib.types import ArrayLike, CRSLike

__all__ = [
    "read_permits", "read_sites", "parse_hours", "assign_permits", "route_distance", "keep_route_table",
    "permits_metric_crs",
    "deviation_episodes",
    "SITE_KINDS", "WKT_COLUMNS",
]

log = logging.getLogger(__name__)

SITE_KINDS = ("construction", "disposal", "parking")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-–~]\s*(\d{1,2}):(\d{2})\s*$")


def parse_hours(values: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse allowed-hours strings ``"HH:MM-HH:MM"`` into start/end seconds of the day.

    Empty values (and ``00:00-24:00``) mean any time and give −1/−1. A window whose
    end is before its start crosses midnight (``22:00-06:00``).

    Returns
    -------
    start, end : numpy.ndarray of int64
        Seconds after midnight.
    ok : numpy.ndarray of bool
        False where the text could not be parsed.

    >>> s, e, ok = parse_hours(["22:00-06:00", "", None, "7:30–18:00", "25:00-01:00"])
    >>> s.tolist(), e.tolist(), ok.tolist()
    ([79200, -1, -1, 27000, -1], [21600, -1, -1, 64800, -1], [True, True, True, True, False])
    """
    vals = list(values)
    start = np.full(len(vals), -1, dtype=np.int64)
    end = np.full(len(vals), -1, dtype=np.int64)
    ok = np.ones(len(vals), dtype=bool)
    for i, v in enumerate(vals):  # one per permit, not per fix
        if v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() in ("", "nan", "<NA>"):
            continue
        m = _HOURS.match(str(v))
        if not m:
            ok[i] = False
            continue
        h0, m0, h1, m1 = (int(g) for g in m.groups())
        if h0 > 24 or h1 > 24 or m0 > 59 or m1 > 59 or h0 * 60 + m0 > 1440 or h1 * 60 + m1 > 1440:
            ok[i] = False
            continue
        a, b = (h0 * 60 + m0) * 60, (h1 * 60 + m1) * 60
        if a == b or (a == 0 and b == 86400):
            continue
        start[i], end[i] = a, b % 86400
    return start, end, ok


#: The permit columns (what a header alias may be renamed to, :data:`gridlib.io.COLUMN_ALIASES`).
PERMIT_COLUMNS = ("permit_id", "vehicle_id", "company", "valid_from", "valid_to", "hours", "corridor_m",
                  "origin_site", "destination_site")


#: Columns of a table (CSV, .xlsx, DataFrame) read as the geometry's WKT, first found wins
#: (``geometry`` is what :func:`gridlib.io.write_csv` writes, ``geometry_wkt`` what rejects carry).
WKT_COLUMNS = ("geometry", "geometry_wkt", "wkt", "route_wkt")


def _frame(source: Any, what: str, wanted: Any = (), columns: dict[str, str] | None = None, *,
           sheet: str | int | None = None, header_row: int = 1, encoding: str | None = None,
           crs: Any = WGS84) -> tuple[gpd.GeoDataFrame, pd.Series | None]:
    """The input as a GeoDataFrame, and a table's WKT text (None for a layer).

    A table without geometry (CSV, ``.xlsx`` through :func:`gridlib.io.load_table`, DataFrame)
    takes its geometry from the first of :data:`WKT_COLUMNS` it has, in *crs*.
    """
    from gridlib.io import check_layer_crs, load_table

    frame = load_table(source, columns=columns, wanted=wanted, copy=False, sheet=sheet, header_row=header_row,
                       encoding=encoding)
    text = None
    if not isinstance(frame, gpd.GeoDataFrame):
        name = next((c for c in WKT_COLUMNS if c in frame.columns), None)
        if name is None:
            raise InputError(
                f"{what}: need a layer with geometry (GeoJSON, GeoPackage, GeoParquet or a GeoDataFrame) or a "
                f"table with the geometry as WKT in one of the columns {', '.join(WKT_COLUMNS)}; "
                f"columns are {list(frame.columns)}")
        text = frame[name].astype("string").str.strip().replace("", pd.NA)
        geoms = shapely.from_wkt(text.to_numpy(dtype=object, na_value=None), on_invalid="ignore")
        frame = gpd.GeoDataFrame(frame.drop(columns=name), geometry=gpd.GeoSeries(geoms, index=frame.index),
                                 crs=crs)
        check_layer_crs(frame, f"{what} ({source if not isinstance(source, pd.DataFrame) else 'the table'})")
    if frame.crs is None:
        raise InputError(f"{what}: the layer has no CRS; set one (for example EPSG:4326)")
    return frame, text


def _reject(original: gpd.GeoDataFrame, found: Rejects) -> tuple[np.ndarray, pd.DataFrame]:
    """The accepted mask and the rejects frame: original rows (geometry as WKT) plus the reject columns."""
    rows = pd.DataFrame(original.drop(columns=original.geometry.name))
    rows["geometry_wkt"] = shapely.to_wkt(original.geometry.values)
    return found.ok, found.frame(rows)


def read_permits(
    source: str | os.PathLike[str] | pd.DataFrame, *, default_corridor_m: float = 50.0,
    columns: dict[str, str] | None = None, sheet: str | int | None = None, header_row: int = 1,
    encoding: str | None = None, crs: CRSLike = WGS84,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Read and check transport permits.

    Parameters
    ----------
    source : path, GeoDataFrame or DataFrame
        ``permit_id``, ``vehicle_id``, ``company``, ``valid_from``, ``valid_to`` (dates),
        ``hours`` (``"22:00-06:00"``, empty for any time), ``corridor_m`` (half-width;
        ``default_corridor_m`` where the column is absent or empty), ``origin_site``,
        ``destination_site``, and the approved route as a line. Common Chinese headers
        (准运证号, 车牌号, 运输单位, 有效期起/止, 运输时段 …; :data:`gridlib.io.COLUMN_ALIASES`)
        are recognised. A layer file (GeoPackage, GeoJSON …) carries the route as its geometry;
        a table (CSV, ``.xlsx`` workbook, DataFrame) as WKT text in a ``geometry``,
        ``geometry_wkt``, ``wkt`` or ``route_wkt`` column (:data:`WKT_COLUMNS`; map another
        header with *columns*), read in *crs*.
    columns : dict, optional
        ``{"源列": "gridlib_name"}``: renames that win over the recognised headers.
    sheet, header_row, encoding : optional
        How to read the file (``.xlsx`` sheet and header row, CSV encoding), as every reader
        does; see :func:`gridlib.io.open_table`.
    crs : optional
        CRS of a table's WKT routes (WGS84 by default); a layer's own CRS is used.

    Returns
    -------
    permits : geopandas.GeoDataFrame
        WGS84, with parsed ``valid_from``/``valid_to`` (``datetime64``), ``hours_start_s``/``hours_end_s``.
    rejects : pandas.DataFrame
        Original rows (geometry as ``geometry_wkt``) with ``reason_code``, ``field`` and ``reason``
        (duplicate or missing ids, bad dates or hours, no route, unreadable route WKT, bad corridor).

    Examples
    --------
    >>> from shapely.geometry import LineString
    >>> p = gpd.GeoDataFrame({"permit_id": ["P1", "P2"], "vehicle_id": ["A", "B"], "company": ["C", "C"],
    ...     "valid_from": ["2026-11-01", "2026-11-01"], "valid_to": ["2026-11-30", "2026-10-01"],
    ...     "hours": ["22:00-06:00", ""], "origin_site": ["S1", "S1"], "destination_site": ["D1", "D1"]},
    ...     geometry=[LineString([(121.49, 31.23), (121.51, 31.24)])] * 2, crs=4326)
    >>> ok, bad = read_permits(p)
    >>> ok.permit_id.tolist(), ok.corridor_m.tolist(), bad.reason.tolist()
    (['P1'], [50.0], ['valid_to before valid_from'])
    """
    frame, wkt = _frame(source, "permits", PERMIT_COLUMNS, columns, sheet=sheet, header_row=header_row,
                               encoding=encoding, crs=crs)
    for col in ("permit_id", "vehicle_id", "valid_from", "valid_to"):
        if col not in frame.columns:
            raise InputError(f"permits: required column {col!r} is missing; columns are {list(frame.columns)}")
    original = frame
    frame = frame.copy()
    n = len(frame)
    found = Rejects(frame.index)
    flag = found.add

    pid = frame["permit_id"].astype("string")
    flag(pid.isna() | (pid.str.strip() == ""), "missing_id", "missing permit_id", field="permit_id")
    flag(pid.duplicated(keep="first").fillna(False), "duplicate_id", "duplicate permit_id", field="permit_id")
    vid = frame["vehicle_id"].astype("string")
    flag(vid.isna() | (vid.str.strip() == ""), "missing_value", "missing vehicle_id", field="vehicle_id")
    for col in ("valid_from", "valid_to"):
        parsed, code = parse_times(frame[col])
        reject_times(found, frame[col], parsed, code, col, required=True)
        frame[col] = parsed
    vf = frame["valid_from"].to_numpy(dtype="datetime64[D]")
    vt = frame["valid_to"].to_numpy(dtype="datetime64[D]")
    flag(~np.isnat(vf) & ~np.isnat(vt) & (vt < vf), "time_order", "valid_to before valid_from", field="valid_to")
    hs, he, hok = parse_hours(frame["hours"] if "hours" in frame.columns else [None] * n)
    flag(~hok, "unparseable_time", "unparseable hours (expected HH:MM-HH:MM)", field="hours")
    corridor = (pd.to_numeric(frame["corridor_m"], errors="coerce") if "corridor_m" in frame.columns
                else pd.Series(np.nan, index=frame.index)).to_numpy(dtype="float64")
    corridor = np.where(np.isnan(corridor), default_corridor_m, corridor)
    flag(~(corridor > 0) | ~np.isfinite(corridor), "bad_number", "corridor_m must be positive",
         field="corridor_m")
    geoms = frame.geometry.values
    lines = np.isin(shapely.get_type_id(geoms), [1, 5]) & ~shapely.is_empty(geoms)
    if wkt is not None:
        flag(wkt.notna().to_numpy() & shapely.is_missing(geoms), "invalid_geometry",
             "route WKT cannot be read: '" + wkt.fillna("").str.slice(0, 80) + "'", field=frame.geometry.name)
    flag(~lines, "no_route", "route is not a line", field=frame.geometry.name)
    frame["corridor_m"] = corridor
    frame["valid_from"] = vf
    frame["valid_to"] = vt
    frame["hours_start_s"] = hs
    frame["hours_end_s"] = he
    frame["permit_id"] = pid
    frame["vehicle_id"] = vid
    for col in ("company", "origin_site", "destination_site", "hours"):
        if col not in frame.columns:
            frame[col] = None
    ok, rejects = _reject(original, found)
    permits = to_crs(frame.iloc[np.flatnonzero(ok)], WGS84).reset_index(drop=True)
    return permits, rejects


def permits_metric_crs(permits: gpd.GeoDataFrame) -> pyproj.CRS | None:
    """The metric CRS a truck check measures in: the zone of the median vertex of the permits' routes.

    Taken from the routes, which are known before any fix arrives, so the batch check
    (:func:`gridlib.trucks.check`) and the live monitor (:class:`gridlib.live.monitor.TruckMonitor`) measure
    in the same CRS whatever fixes they have seen; None when there are no routes (the check then takes
    the fixes' median).

    Parameters
    ----------
    permits : GeoDataFrame
        Accepted permits as :func:`read_permits` returns them (WGS-84 routes).

    Examples
    --------
    >>> from shapely import LineString
    >>> p = gpd.GeoDataFrame({"permit_id": ["P1"]}, geometry=[LineString([(121.49, 31.23), (121.52, 31.25)])],
    ...                      crs=4326)
    >>> permits_metric_crs(p).to_epsg(), permits_metric_crs(p.iloc[:0])
    (4550, None)
    """
    if not len(permits):
        return None
    xy = shapely.get_coordinates(permits.to_crs(WGS84).geometry.to_numpy())
    if not len(xy):
        return None
    return pyproj.CRS.from_user_input(metric_crs(float(np.median(xy[:, 0])), float(np.median(xy[:, 1]))))


def read_sites(source: str | os.PathLike[str] | gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Read construction, disposal and parking sites (``site_id``, ``kind``, polygon).

    >>> from shapely.geometry import box
    >>> s = gpd.GeoDataFrame({"site_id": ["S1", "S2"], "kind": ["disposal", "quarry"]},
    ...     geometry=[box(121.49, 31.23, 121.50, 31.24)] * 2, crs=4326)
    >>> ok, bad = read_sites(s)
    >>> ok.site_id.tolist(), bad.reason.tolist()
    (['S1'], ["kind must be one of construction, disposal, parking (got 'quarry')"])
    >>> bad.reason_code.tolist()
    ['unknown_value']
    """
    frame, _ = _frame(source, "sites")
    if "site_id" not in frame.columns:
        raise InputError(f"sites: required column 'site_id' is missing; columns are {list(frame.columns)}")
    original = frame
    frame = frame.copy()
    found = Rejects(frame.index)
    sid = frame["site_id"].astype("string")
    found.add(sid.isna() | (sid.str.strip() == ""), "missing_id", "missing site_id", field="site_id")
    found.add(sid.duplicated(keep="first").fillna(False), "duplicate_id", "duplicate site_id", field="site_id")
    kind = frame["kind"].astype("string").str.strip().str.lower() if "kind" in frame.columns else pd.Series(
        "construction", index=frame.index, dtype="string")
    found.add(~kind.isin(SITE_KINDS).fillna(False), "unknown_value",
              f"kind must be one of {', '.join(SITE_KINDS)} (got '" + kind.fillna("") + "')", field="kind")
    geoms = frame.geometry.values
    poly = np.isin(shapely.get_type_id(geoms), [3, 6]) & ~shapely.is_empty(geoms)
    found.add(~poly, "wrong_geometry_type", "site is not a polygon", field=frame.geometry.name)
    frame["site_id"] = sid
    frame["kind"] = kind
    ok, rejects = _reject(original, found)
    return to_crs(frame.iloc[np.flatnonzero(ok)], WGS84).reset_index(drop=True), rejects


def assign_permits(
    vehicle: np.ndarray, t: np.ndarray, permit_vehicle: np.ndarray, valid_from: np.ndarray,
    valid_to: np.ndarray, hours_start: np.ndarray, hours_end: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Find each fix's permit: valid that day and, preferably, inside its hours.

    A window that crosses midnight belongs to the day it starts on: a fix at 02:00
    on day D is inside the hours of a ``22:00-06:00`` permit valid on D−1; a permit
    valid on D only covers that fix too, but outside its hours (the example below).
    A night permit valid on D−1 also covers the rest of day D, outside its hours, so
    a truck still driving at 06:20 is ``outside_hours``, not ``no_permit``.

    Parameters
    ----------
    vehicle, t : numpy.ndarray
        Vehicle code and local epoch seconds per fix.
    permit_vehicle, valid_from, valid_to, hours_start, hours_end : numpy.ndarray
        Per permit: vehicle code (−1 for vehicles without fixes), validity days
        (``datetime64[D]``) and hours in seconds of the day (−1 for any time).

    Returns
    -------
    permit : numpy.ndarray of int64
        Position of the permit (−1: no permit valid that day).
    in_hours : numpy.ndarray of bool

    >>> D = np.datetime64("2026-11-20", "D")
    >>> t = (np.array([D, D, D + 1], dtype="datetime64[s]").astype(np.int64) + [3600 * 2, 3600 * 12, 3600 * 2])
    >>> assign_permits(np.zeros(3, np.int32), t, np.array([0]), np.array([D]), np.array([D]),
    ...                np.array([79200]), np.array([21600]))
    (array([0, 0, 0]), array([False, False,  True]))
    """
    n = len(t)
    permit = np.full(n, -1, dtype=np.int64)
    in_hours = np.zeros(n, dtype=bool)
    keep = np.flatnonzero(permit_vehicle >= 0)
    if n == 0 or len(keep) == 0:
        return permit, in_hours
    order = keep[np.lexsort((valid_from[keep], permit_vehicle[keep]))]
    pv = permit_vehicle[order]
    nveh = int(max(vehicle.max(), pv.max())) + 1
    count = np.bincount(pv, minlength=nveh)
    first = np.r_[0, np.cumsum(count)[:-1]]
    day = (t // 86400).astype("datetime64[D]")
    tod = t % 86400
    fcount = count[vehicle]
    ffirst = first[vehicle]
    for r in range(int(count.max())):  # permits per vehicle, a handful
        has = np.flatnonzero(fcount > r)
        p = order[ffirst[has] + r]
        d = day[has]
        s, e = hours_start[p], hours_end[p]
        anytime = s < 0
        cross = ~anytime & (e < s)
        valid_today = (valid_from[p] <= d) & (d <= valid_to[p])
        valid_yday = (valid_from[p] <= d - 1) & (d - 1 <= valid_to[p])
        x = tod[has]
        hours_ok = anytime | (~cross & (x >= s) & (x < e)) | (cross & (((x >= s) & valid_today) | ((x < e) & valid_yday)))
        # a night permit also answers for the next day, outside its hours after the window closes
        covered = valid_today | (cross & valid_yday)
        better = covered & ((permit[has] < 0) | (hours_ok & ~in_hours[has]))
        permit[has[better]] = p[better]
        in_hours[has[better]] = hours_ok[better]
    return permit, in_hours


def _route_segments(routes: np.ndarray, cell_m: float) -> tuple[np.ndarray, ...]:
    parts, part_of = shapely.get_parts(routes, return_index=True)
    parts = shapely.segmentize(parts, cell_m)
    coords, idx = shapely.get_coordinates(parts, return_index=True)
    same = idx[1:] == idx[:-1]
    a = coords[:-1][same]
    b = coords[1:][same]
    return a[:, 0], a[:, 1], b[:, 0], b[:, 1], part_of[idx[:-1][same]]


def _route_table(routes: np.ndarray, ox: float, oy: float, cell_m: float, batch: int = 16) -> tuple[np.ndarray, ...]:
    """The pieces of *routes* hashed by (route, cell): ``(ukey, ustart, uend, seg, table)`` for :func:`route_distance`.

    Built *batch* routes at a time: a route's keys sort together (the route is their high bits), so the tables of
    consecutive routes, joined, are the table of all, without the temporaries of all at once (a chunk of a city
    night's fixes: ~60 MB, a city's every permit: ~2 GB)."""
    tables = [_route_table_of(routes[lo:lo + batch], lo, ox, oy, cell_m) for lo in range(0, max(len(routes), 1), batch)]
    if len(tables) == 1:
        return tables[0]
    keys = np.cumsum([0] + [len(t[3]) for t in tables[:-1]])  # the pieces before each batch's
    segs = np.cumsum([0] + [len(t[4]) for t in tables[:-1]])
    return (np.concatenate([t[0] for t in tables]), np.concatenate([t[1] + k for t, k in zip(tables, keys, strict=True)]),
            np.concatenate([t[2] + k for t, k in zip(tables, keys, strict=True)]),
            np.concatenate([t[3] + s for t, s in zip(tables, segs, strict=True)]), np.concatenate([t[4] for t in tables]))


def _route_table_of(routes: np.ndarray, first: int, ox: float, oy: float, cell_m: float) -> tuple[np.ndarray, ...]:
    """:func:`_route_table` of *routes*, the routes numbered from *first*."""
    ax, ay, bx, by, seg_route = _route_segments(routes, cell_m)
    seg_route = seg_route + first
    cx0 = np.floor((np.minimum(ax, bx) - ox) / cell_m).astype(np.int64)
    cy0 = np.floor((np.minimum(ay, by) - oy) / cell_m).astype(np.int64)
    cx1 = np.floor((np.maximum(ax, bx) - ox) / cell_m).astype(np.int64)
    cy1 = np.floor((np.maximum(ay, by) - oy) / cell_m).astype(np.int64)
    keys, segs = [], []
    sid = np.arange(len(ax))
    for i in range(4):  # a piece spans <= 2 cells per axis; register it in its 1-cell neighbourhood
        for j in range(4):
            m = (cx0 - 1 + i <= cx1 + 1) & (cy0 - 1 + j <= cy1 + 1)
            keys.append((seg_route[m] << 42) | ((cx0[m] - 1 + i) << 21) | (cy0[m] - 1 + j))
            segs.append(sid[m])
    key = np.concatenate(keys)
    seg = np.concatenate(segs)
    o = np.argsort(key, kind="stable")
    key, seg = key[o], seg[o]
    ukey, ustart = np.unique(key, return_index=True)
    uend = np.r_[ustart[1:], len(key)]
    sdx, sdy = bx - ax, by - ay
    l2 = sdx * sdx + sdy * sdy
    # float32 relative to the grid origin: millimetre precision over 100 km, half the memory traffic
    # pieces shorter than a micrometre count as points (1/l2 would overflow float32 and give nan)
    real = l2 > 1e-12
    table = np.column_stack([ax - ox, ay - oy, sdx, sdy, np.where(real, 1.0 / np.where(real, l2, 1.0), 0.0)])
    table = table.astype(np.float32)
    return ukey, ustart, uend, seg, table


# route arrays whose table route_distance keeps: (id, cell_m) → (weak reference to the array, its table)
_KEPT: dict[tuple[int, float], tuple[Any, tuple]] = {}


def keep_route_table(routes: np.ndarray, cell_m: float = 100.0) -> None:
    """Cut and hash *routes* once for every later :func:`route_distance` call with this very array (the live
    monitor measures the same permits' routes every tick). Same results, bit for bit: the pieces and the
    origin are those of all routes either way; the table lives as long as the array.

    >>> from shapely.geometry import LineString
    >>> r = np.array([LineString([(0, 0), (0, 1000)]), LineString([(0, 0), (1000, 0)])])
    >>> before = route_distance(np.array([30.0, 30.0]), np.array([500.0, 5.0]), np.array([0, 1]), r)
    >>> keep_route_table(r)
    >>> route_distance(np.array([30.0, 30.0]), np.array([500.0, 5.0]), np.array([0, 1]), r).tolist() == before.tolist()
    True
    """
    import weakref

    key = (id(routes), float(cell_m))
    ox, oy = shapely.total_bounds(routes)[:2] - 2 * cell_m
    _KEPT[key] = (weakref.ref(routes), (ox, oy, *_route_table(routes, ox, oy, cell_m)))
    weakref.finalize(routes, _KEPT.pop, key, None)


def route_distance(
    x: np.ndarray, y: np.ndarray, permit: np.ndarray, routes: np.ndarray, *, cell_m: float = 100.0,
    chunk: int = 250_000,
) -> np.ndarray:
    """Distance from each point to the route of its permit, ``inf`` when farther than ``cell_m``.

    Parameters
    ----------
    x, y : numpy.ndarray
        Metric coordinates.
    permit : numpy.ndarray of int
        Position of each point's route in *routes*; −1 gives NaN.
    routes : numpy.ndarray of shapely LineString/MultiLineString
        In the same metric CRS.
    cell_m : float
        Distances up to this are exact (float32 arithmetic, better than 1 cm); beyond it the
        result is ``inf``.
    chunk : int
        Point-piece pairs measured at a time (memory: ~40 bytes a pair; the same result). A chunk of a
        city night's 250k fixes measured a million at a time held ~30 MB more, no faster.

    Examples
    --------
    >>> from shapely.geometry import LineString
    >>> r = np.array([LineString([(0, 0), (0, 1000)]), LineString([(0, 0), (1000, 0)])])
    >>> route_distance(np.array([30.0, 30.0, 0.0]), np.array([500.0, 500.0, 0.0]), np.array([0, 1, -1]), r).tolist()
    [30.0, inf, nan]
    """
    n = len(x)
    out = np.full(n, np.inf)
    out[permit < 0] = np.nan
    if n == 0 or len(routes) == 0 or not (permit >= 0).any():
        return out
    held = _KEPT.get((id(routes), float(cell_m)))
    if held is not None and held[0]() is routes:      # kept by keep_route_table: cut and hashed once
        ox, oy, ukey, ustart, uend, seg, table = held[1]
    else:
        # the origin comes from all routes, not from these points: the float32 arithmetic below then
        # gives the same bits whichever subset of the fixes (chunk) is measured
        ox, oy = shapely.total_bounds(routes)[:2] - 2 * cell_m
        # only the routes these points use get cut and hashed
        used, permit = np.unique(permit, return_inverse=True)
        permit = permit.reshape(-1) - int(used[0] < 0)
        ukey, ustart, uend, seg, table = _route_table(routes[used[used >= 0]], ox, oy, cell_m)
    xr = (x - ox).astype(np.float32)
    yr = (y - oy).astype(np.float32)
    has = np.flatnonzero(permit >= 0)
    fx = np.floor((x[has] - ox) / cell_m).astype(np.int64)
    fy = np.floor((y[has] - oy) / cell_m).astype(np.int64)
    inside = (fx >= 0) & (fy >= 0) & (fx < (1 << 21)) & (fy < (1 << 21))
    fkey = (permit[has].astype(np.int64) << 42) | (np.clip(fx, 0, (1 << 21) - 1) << 21) | np.clip(fy, 0, (1 << 21) - 1)
    pos = np.minimum(np.searchsorted(ukey, fkey), len(ukey) - 1)
    found = inside & (ukey[pos] == fkey)
    fi = has[found]
    st = ustart[pos[found]]
    cnt = (uend - ustart)[pos[found]]
    bounds = np.r_[0, np.cumsum(cnt)]
    step = max(1, chunk)
    k0 = 0
    while k0 < len(fi):
        # chunk by pairs so memory stays bounded
        k1 = int(np.searchsorted(bounds, bounds[k0] + step, side="right")) - 1
        k1 = max(k1, k0 + 1)
        c = cnt[k0:k1]
        rep = np.repeat(np.arange(k0, k1), c)
        within = np.arange(len(rep)) - np.repeat(bounds[k0:k1] - bounds[k0], c)
        g = table[seg[st[rep] + within]]  # one gather of (ax, ay, dx, dy, 1/l2) rows
        f = fi[rep]
        px = xr[f] - g[:, 0]
        py = yr[f] - g[:, 1]
        u = (px * g[:, 2] + py * g[:, 3]) * g[:, 4]
        np.clip(u, 0.0, 1.0, out=u)
        px -= u * g[:, 2]
        py -= u * g[:, 3]
        d = np.hypot(px, py)
        starts = bounds[k0:k1] - bounds[k0]
        out[fi[k0:k1]] = np.minimum.reduceat(d, starts)
        k0 = k1
    # beyond a cell the nearest piece may not be registered around the point: no exact value there
    out[out > cell_m] = np.inf
    return out


def deviation_episodes(
    dist: np.ndarray, corridor: np.ndarray, at_site: np.ndarray, t: np.ndarray, step_m: np.ndarray,
    breaks: np.ndarray, *, return_ratio: float = 0.7, min_duration_s: float = 60.0, min_length_m: float = 150.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deviation episodes with hysteresis.

    Parameters
    ----------
    dist : numpy.ndarray
        Distance of each fix to its permit's route (``inf`` far; NaN: no permit).
    corridor : numpy.ndarray
        Corridor half-width of each fix's permit.
    at_site : numpy.ndarray of bool
        Fix inside its permit's origin or destination site (always on route).
    t : numpy.ndarray of int64
        Seconds.
    step_m : numpy.ndarray
        Distance moved since the previous fix (0 at breaks and while parked).
    breaks : numpy.ndarray of bool
        True where an episode cannot continue from the previous fix (new vehicle,
        other permit, gap in the data).

    Returns
    -------
    start, end : numpy.ndarray of int64
        First and last off-route fix of each episode.
    length_m : numpy.ndarray
        Distance driven off route.

    Examples
    --------
    A noisy excursion (one fix over 50 m, back inside 35 m) is ignored; the long one is kept:

    >>> d = np.array([5, 60, 40, 20, 60, 80, 90, 45, 40, 30, 5.0])
    >>> t = np.arange(11) * 30
    >>> deviation_episodes(d, np.full(11, 50.0), np.zeros(11, bool), t, np.full(11, 200.0),
    ...                    np.r_[True, np.zeros(10, bool)])
    (array([4]), array([8]), array([800.]))
    """
    n = len(dist)
    state = np.zeros(n, dtype=np.int8)
    known = ~np.isnan(dist)
    state[known & (dist > corridor)] = 1
    state[known & (dist <= return_ratio * corridor)] = -1
    state[at_site | ~known] = -1
    off = forward_fill(state, breaks, -1) == 1
    s, e = runs(off, breaks)
    if len(s) == 0:
        return s, e, np.zeros(0)
    cs = np.cumsum(step_m)
    length = cs[e] - cs[s]
    keep = ((t[e] - t[s]) >= min_duration_s) & (length >= min_length_m)
    return s[keep], e[keep], length[keep]
