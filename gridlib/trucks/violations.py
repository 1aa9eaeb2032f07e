"""The truck check: clean → stops and trips → permits and route → violations → credit.

Every step works on whole columns (see :mod:`gridlib.trucks.fixes`); Python loops run
only over permits, zones, threshold passes or the (few) violations found.

Thresholds (pass any of them to :func:`check` as keywords):

=======================  =======  ===========================================================
name                     default  meaning
=======================  =======  ===========================================================
max_speed_kmh            150      implied speed of an impossible jump (cleaning)
min_jump_m               100      jumps shorter than this are never impossible (1-s jitter)
stop_radius_m            50       a stop is a dwell within this radius ...
min_dwell_s              300      ... for at least this long
gap_s                    600      no fix for this long ends a trip and an episode
site_buffer_m            30       tolerance around site polygons (GPS error at gates)
return_ratio             0.7      deviation ends back inside this fraction of the corridor
min_duration_s           60       a deviation lasts at least this long ...
min_length_m             150      ... and covers at least this distance off route
unpermitted_stop_s       600      a stop outside approved sites longer than this is reported
outside_hours_min_s      60       driving outside hours for at least this long
no_permit_min_s          60       driving without a permit for at least this long
zone_min_s               0        time inside a restricted zone before it counts
speed_tolerance_kmh      10       speeding above limit + tolerance ...
speeding_min_s           30       ... for at least this long
road_snap_m              30       a fix belongs to the nearest road within this distance
silence_s                300      no fix for this long while the truck moved ...
silence_min_m            200      ... at least this far between the two fixes
=======================  =======  ===========================================================
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gridlib import rejects as rejects_model
from gridlib.crs import WGS84
from gridlib.errors import InputError
from gridlib.progress import track
from gridlib.trucks._runs import run_ids, runs, trim
from gridlib.trucks.clean import clean
from gridlib.trucks.credit import Credit, credit
from gridlib.trucks.fixes import Fixes, read_fixes
from gridlib.trucks.route import (
    assign_permits,
    deviation_episodes,
    read_permits,
    read_sites,
    route_distance,
)
from gridlib.trucks.trips import detect

__all__ = ["check", "CheckResult", "THRESHOLDS", "VIOLATION_COLUMNS"]

log = logging.getLogger(__name__)

THRESHOLDS: dict[str, float] = {
    "max_speed_kmh": 150.0, "min_jump_m": 100.0,
    "stop_radius_m": 50.0, "min_dwell_s": 300.0, "gap_s": 600.0, "site_buffer_m": 30.0,
    "return_ratio": 0.7, "min_duration_s": 60.0, "min_length_m": 150.0,
    "unpermitted_stop_s": 600.0, "outside_hours_min_s": 60.0, "no_permit_min_s": 60.0,
    "zone_min_s": 0.0, "speed_tolerance_kmh": 10.0, "speeding_min_s": 30.0, "road_snap_m": 30.0,
    "silence_s": 300.0, "silence_min_m": 200.0,
}

VIOLATION_COLUMNS = [
    "violation_id", "vehicle_id", "permit_id", "company", "type", "start", "end", "duration_s",
    "n_fixes", "max_distance_m", "off_route_m", "roads", "site_id", "zone_id", "detail", "evidence", "geometry",
]

_ROAD_NAME_COLUMNS = ("name", "name:zh", "name_zh", "road_name")
_SPEED_COLUMNS = ("speed_limit_kmh", "maxspeed")


@dataclass
class CheckResult:
    """What :func:`check` found.

    Attributes
    ----------
    violations : geopandas.GeoDataFrame
        One row per violation (WGS84), columns :data:`VIOLATION_COLUMNS`; ``evidence`` holds the
        input row numbers of the fixes behind it (comma-separated).
    trips, stops : geopandas.GeoDataFrame
        See :func:`gridlib.trucks.trips.detect`; stops also carry ``permit_id`` and ``approved``.
    rejects : pandas.DataFrame
        Input fix rows not used (original index kept; for a :class:`Fixes` input its rows, indexed
        by ``row``), with ``reason_code``, ``field`` and ``reason`` (one shape for every input);
        ``len(fixes used) + len(rejects) == len(input)``.
    permit_rejects, site_rejects : pandas.DataFrame
    credit : Credit
        Points per vehicle and per company.
    fixes : Fixes
        The cleaned fixes; ``per_fix`` holds per-fix arrays (``permit``, ``in_hours``,
        ``route_distance_m``, ``stationary``) for maps and drill-down.
    permits, sites : geopandas.GeoDataFrame
        The accepted permits and sites (WGS84).

    Examples
    --------
    >>> import pandas as pd, geopandas as gpd
    >>> from shapely.geometry import LineString
    >>> from gridlib.trucks import check
    >>> permits = gpd.GeoDataFrame({"permit_id": ["P1"], "vehicle_id": ["V1"], "company": ["K"],
    ...     "valid_from": ["2026-11-20"], "valid_to": ["2026-11-20"], "hours": ["22:00-06:00"]},
    ...     geometry=[LineString([(121.48, 31.24), (121.52, 31.24)])], crs=4326)
    >>> fixes = pd.DataFrame({"vehicle_id": "V1",
    ...     "time": pd.date_range("2026-11-20 21:50", periods=60, freq="20s").astype(str),
    ...     "lon": [121.48 + i * 0.0006 for i in range(60)], "lat": 31.24})
    >>> r = check(fixes, permits)
    >>> r.violations["type"].tolist(), len(r.trips), len(r.rejects), len(r.fixes)
    (['outside_hours'], 1, 0, 60)
    >>> r.credit.vehicles[["vehicle_id", "points"]].values.tolist()
    [['V1', 2]]
    """

    violations: gpd.GeoDataFrame
    trips: gpd.GeoDataFrame
    stops: gpd.GeoDataFrame
    rejects: pd.DataFrame
    credit: Credit
    fixes: Fixes
    permits: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame | None
    permit_rejects: pd.DataFrame
    site_rejects: pd.DataFrame
    per_fix: dict[str, np.ndarray] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Number of violations per type (every type listed, zeros included)."""
        from gridlib.trucks.credit import VIOLATION_TYPES

        vc = self.violations["type"].value_counts()
        return {t: int(vc.get(t, 0)) for t in VIOLATION_TYPES}


def _points_in(geoms: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Position of the first polygon containing each point, −1 for none (loop over polygons only)."""
    out = np.full(len(x), -1, dtype=np.int64)
    for k, g in enumerate(geoms):
        x0, y0, x1, y1 = shapely.bounds(g)
        cand = np.flatnonzero((out < 0) & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
        if len(cand):
            hit = shapely.contains_xy(g, x[cand], y[cand])
            out[cand[hit]] = k
    return out


def _evidence(fx: Fixes, s: np.ndarray, e: np.ndarray) -> list[str]:
    return [",".join(map(str, fx.row[a:b + 1].tolist())) for a, b in zip(s, e, strict=True)]


def _lines(fx: Fixes, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """WGS84 line through the fixes of each run (a point when the run has one fix)."""
    if len(s) == 0:
        return np.array([], dtype=object)
    lengths = e - s + 1
    pos = np.repeat(s - np.r_[0, np.cumsum(lengths)[:-1]], lengths) + np.arange(int(lengths.sum()))
    ids = np.repeat(np.arange(len(s)), lengths)
    single = lengths == 1
    out = np.empty(len(s), dtype=object)
    multi = ~single[ids]
    if multi.any():
        _, inv = np.unique(ids[multi], return_inverse=True)
        out[~single] = shapely.linestrings(fx.lon[pos[multi]], fx.lat[pos[multi]], indices=inv)
    out[single] = shapely.points(fx.lon[s[single]], fx.lat[s[single]])
    return out


def _frame(fx: Fixes, kind: str, s: np.ndarray, e: np.ndarray, permit_of: np.ndarray,
           permits: gpd.GeoDataFrame, vehicle_company: dict[str, Any], **extra: Any) -> pd.DataFrame:
    p = permit_of[s] if len(s) else np.zeros(0, dtype=np.int64)
    vid = fx.vehicle_ids[fx.vehicle[s]]
    pid = np.where(p >= 0, permits["permit_id"].to_numpy(dtype=object)[np.maximum(p, 0)] if len(permits) else None, None)
    comp = np.where(p >= 0, permits["company"].to_numpy(dtype=object)[np.maximum(p, 0)] if len(permits) else None,
                    np.array([vehicle_company.get(v) for v in vid], dtype=object))
    data = {
        "vehicle_id": vid, "permit_id": pid, "company": comp, "type": np.full(len(s), kind, dtype=object),
        "start": fx.times(s), "end": fx.times(e), "duration_s": (fx.t[e] - fx.t[s]).astype("int64"),
        "n_fixes": (e - s + 1).astype("int64"),
    }
    data.update(extra)
    if "geometry" not in data:
        data["geometry"] = _lines(fx, s, e)
    if "evidence" not in data:
        data["evidence"] = _evidence(fx, s, e)
    return pd.DataFrame(data)


def check(
    fixes: Any,
    permits: Any,
    sites: Any = None,
    *,
    roads: gpd.GeoDataFrame | None = None,
    zones: gpd.GeoDataFrame | None = None,
    date: Any = None,
    crs: Any = "EPSG:4326",
    deductions: pd.DataFrame | str | None = None,
    chunk_fixes: int = 1_000_000,
    workers: int | None = None,
    **thresholds: float,
) -> CheckResult:
    """Check a fleet's GPS fixes against permits, sites, zones and speed limits.

    Parameters
    ----------
    fixes : path, DataFrame or Fixes
        ``vehicle_id``, ``time``, ``lon``/``lat`` (or point geometry), optional ``speed`` (km/h).
        Naive times are local China time (UTC+8); tz-aware times are converted.
    permits, sites : path or GeoDataFrame
        See :func:`gridlib.trucks.route.read_permits` and :func:`~gridlib.trucks.route.read_sites`.
    roads : GeoDataFrame, optional
        Road lines; ``name`` (or ``name:zh``) labels the roads a deviation used, and
        ``speed_limit_kmh`` (or ``maxspeed``) enables the speeding check.
    zones : GeoDataFrame, optional
        Restricted-zone polygons (``zone_id``).
    date : date-like, optional
        Check only this local day; other fixes go to rejects (``not on the checked date``).
    crs : optional
        CRS of the fixes' coordinates (``"gcj02"`` is converted).
    deductions : DataFrame or path, optional
        Credit deduction table (default: the bundled one).
    chunk_fixes : int
        Work on whole vehicles, about this many fixes at a time (memory; same result).
    workers : int, optional
        Threads working on chunks at once (default: the number of CPUs); same result.
    **thresholds : float
        Any of :data:`THRESHOLDS`.

    Returns
    -------
    CheckResult

    Examples
    --------
    >>> import pandas as pd, geopandas as gpd
    >>> from shapely.geometry import LineString
    >>> permits = gpd.GeoDataFrame({"permit_id": ["P1"], "vehicle_id": ["V1"], "company": ["K"],
    ...     "valid_from": ["2026-11-20"], "valid_to": ["2026-11-20"], "hours": ["22:00-06:00"]},
    ...     geometry=[LineString([(121.48, 31.24), (121.52, 31.24)])], crs=4326)
    >>> fixes = pd.DataFrame({"vehicle_id": "V1",
    ...     "time": pd.date_range("2026-11-20 21:50", periods=60, freq="20s").astype(str),
    ...     "lon": [121.48 + i * 0.0006 for i in range(60)], "lat": 31.24})
    >>> r = check(fixes, permits)
    >>> r.violations[["type", "start", "end"]].astype(str).values.tolist()
    [['outside_hours', '2026-11-20 21:50:00', '2026-11-20 21:59:40']]
    """
    unknown = set(thresholds) - set(THRESHOLDS)
    if unknown:
        raise InputError(f"unknown thresholds {sorted(unknown)}; known: {sorted(THRESHOLDS)}")
    th = {**THRESHOLDS, **thresholds}

    if isinstance(fixes, Fixes):
        # the "original rows" of a Fixes input are its own rows, indexed by their input row
        fx = fixes
        frame = fixes.to_frame().set_index("row", drop=False)
        frame.index.name = None
        rejects = rejects_model.empty(frame.columns)
    else:
        from gridlib.io import read_table

        frame = read_table(fixes)
        fx, rejects = read_fixes(frame, crs=crs)
    metric: pyproj.CRS = fx.crs
    permits_ok, permit_rejects = read_permits(permits)
    if sites is not None:
        sites_ok, site_rejects = read_sites(sites)
    else:
        sites_ok, site_rejects = None, rejects_model.empty(["site_id"])

    def reject_rows(rows: np.ndarray, codes: np.ndarray, fields: np.ndarray, reasons: np.ndarray) -> pd.DataFrame:
        out = frame.loc[rows].copy() if isinstance(fixes, Fixes) else frame.iloc[rows].copy()
        out["reason_code"] = pd.array(codes, dtype="string")
        out["field"] = pd.array(fields, dtype="string")
        out["reason"] = pd.array(reasons, dtype="string")
        return out

    if date is not None:
        day = np.datetime64(pd.Timestamp(date).date(), "D").astype(np.int64)
        on = (fx.t // 86400) == day
        if not on.all():
            k = int((~on).sum())
            rejects = pd.concat([rejects, reject_rows(fx.row[~on], np.full(k, "outside_time_window"), np.full(k, "time"),
                                                      np.full(k, "not on the checked date"))])
            fx = fx.take(on)
    fx, cleaned_out = clean(fx, max_speed_kmh=th["max_speed_kmh"], min_jump_m=th["min_jump_m"])
    if len(cleaned_out):
        rejects = pd.concat([rejects, reject_rows(cleaned_out["row"].to_numpy(), cleaned_out["reason_code"].to_numpy(),
                                                  cleaned_out["field"].to_numpy(), cleaned_out["reason"].to_numpy())])
    if len(rejects):
        rejects = rejects.sort_index(kind="stable")

    sites_m = sites_ok.to_crs(metric) if sites_ok is not None else None
    vid_sorted = fx.vehicle_ids
    pv = np.searchsorted(vid_sorted, permits_ok["vehicle_id"].to_numpy(dtype=object).astype(str))
    pv = np.where((pv < len(vid_sorted)) & (vid_sorted[np.minimum(pv, len(vid_sorted) - 1)] ==
                                            permits_ok["vehicle_id"].to_numpy(dtype=object)), pv, -1) \
        if len(vid_sorted) else np.full(len(permits_ok), -1)
    routes_m = permits_ok.to_crs(metric).geometry.values
    vehicle_company = dict(zip(permits_ok["vehicle_id"], permits_ok["company"], strict=True))
    ctx = _Context(permits_ok, pv, routes_m, sites_m, roads, zones, metric, th, vehicle_company)

    # whole vehicles per chunk: every step is per vehicle, and chunk-sized temporaries keep
    # memory (and the kernel's page-fault time) low
    n = len(fx)
    starts = np.flatnonzero(fx.vehicle_starts())
    cuts = starts[np.minimum(np.searchsorted(starts, np.arange(chunk_fixes, n, chunk_fixes)), len(starts) - 1)]
    bounds = np.unique(np.r_[0, cuts, n]) if n else np.array([0, 0])
    per_fix = {"permit": np.full(n, -1, dtype=np.int64), "in_hours": np.zeros(n, dtype=bool),
               "route_distance_m": np.full(n, np.nan), "stationary": np.zeros(n, dtype=bool)}
    parts, trip_parts, stop_parts = [], [], []
    spans = list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))
    # chunks are independent and numpy/shapely release the GIL: threads overlap them on several
    # cores; results are collected in chunk order, so the output does not depend on workers
    with ThreadPoolExecutor(max_workers=max(1, min(workers or os.cpu_count() or 1, len(spans)))) as pool:
        done = pool.map(lambda span: _check_part(fx.take(slice(*span)), ctx), spans)
        results = zip(spans, track(done, "trucks check (vehicle chunks)", total=len(spans)), strict=True)
        for (lo, hi), (found, trips_c, stops_c, arrays) in results:
            parts += found
            trip_parts.append(trips_c)
            stop_parts.append(stops_c)
            for key, arr in arrays.items():
                per_fix[key][lo:hi] = arr
    trips = _stack(trip_parts, "trip_id")
    stops = _stack(stop_parts, "stop_id")

    parts = [p for p in parts if len(p)]
    if parts:
        viol = pd.concat(parts, ignore_index=True)
    else:
        viol = pd.DataFrame({c: pd.Series(dtype=object) for c in VIOLATION_COLUMNS})
    for col in VIOLATION_COLUMNS:
        if col not in viol.columns:
            viol[col] = None
    viol = viol.sort_values(["start", "vehicle_id", "type"], kind="stable").reset_index(drop=True)
    viol["violation_id"] = (viol["vehicle_id"].astype(str) + "-" + viol["type"].astype(str) + "-"
                            + pd.to_datetime(viol["start"]).dt.strftime("%Y%m%dT%H%M%S"))
    for col in ("max_distance_m", "off_route_m"):
        viol[col] = pd.to_numeric(viol[col], errors="coerce").astype("float64")
    for col in ("permit_id", "company", "roads", "site_id", "zone_id", "detail"):
        viol[col] = viol[col].astype(object).where(viol[col].notna(), None)  # one missing value, not None/NaN
    viol = gpd.GeoDataFrame(viol[VIOLATION_COLUMNS], geometry="geometry", crs=WGS84)
    cr = credit(viol, deductions)
    log.info("trucks check: %d fixes, %d rejects, %d violations", n, len(rejects), len(viol))
    return CheckResult(
        violations=viol, trips=trips, stops=stops, rejects=rejects, credit=cr,
        fixes=fx, permits=permits_ok, sites=sites_ok, permit_rejects=permit_rejects, site_rejects=site_rejects,
        per_fix=per_fix,
    )


@dataclass
class _Context:
    """What every vehicle chunk of a check shares."""

    permits_ok: gpd.GeoDataFrame
    pv: np.ndarray
    routes_m: np.ndarray
    sites_m: gpd.GeoDataFrame | None
    roads: gpd.GeoDataFrame | None
    zones: gpd.GeoDataFrame | None
    metric: pyproj.CRS
    th: dict[str, float]
    vehicle_company: dict[str, Any]


def _stack(frames: list[gpd.GeoDataFrame], id_col: str) -> gpd.GeoDataFrame:
    frames = [f for f in frames if len(f)] or frames[:1]
    out = pd.concat(frames, ignore_index=True)
    out[id_col] = np.arange(len(out))
    return gpd.GeoDataFrame(out.drop(columns=["_first"], errors="ignore"), geometry="geometry", crs=WGS84)


def _check_part(fx: Fixes, ctx: _Context) -> tuple[list[pd.DataFrame], gpd.GeoDataFrame, gpd.GeoDataFrame,
                                                    dict[str, np.ndarray]]:
    """Stops, trips, permits, route compliance and violations of whole vehicles' fixes."""
    permits_ok, pv, routes_m, sites_m = ctx.permits_ok, ctx.pv, ctx.routes_m, ctx.sites_m
    roads, zones, metric, th, vehicle_company = ctx.roads, ctx.zones, ctx.metric, ctx.th, ctx.vehicle_company
    mv = detect(fx, radius_m=th["stop_radius_m"], min_dwell_s=th["min_dwell_s"], gap_s=th["gap_s"],
                sites=sites_m, site_buffer_m=th["site_buffer_m"])
    n = len(fx)
    new_vehicle = fx.vehicle_starts()
    moving = ~mv.stationary

    permit_of, in_hours = assign_permits(
        fx.vehicle, fx.t, pv, permits_ok["valid_from"].to_numpy(dtype="datetime64[D]"),
        permits_ok["valid_to"].to_numpy(dtype="datetime64[D]"),
        permits_ok["hours_start_s"].to_numpy(dtype=np.int64), permits_ok["hours_end_s"].to_numpy(dtype=np.int64),
    )
    corridor_p = permits_ok["corridor_m"].to_numpy(dtype="float64")
    # exact up to the widest corridor; farther fixes are off route whatever their distance
    cell = max(30.0, float(corridor_p.max()) if len(corridor_p) else 0.0)
    dist = _distances(fx, mv, moving, permit_of, routes_m, cell)
    has_p = permit_of >= 0
    corridor = np.where(has_p, corridor_p[np.maximum(permit_of, 0)] if len(corridor_p) else np.nan, np.nan)

    # fixes beyond the return threshold but inside their permit's origin/destination site are on route
    at_site = np.zeros(n, dtype=bool)
    outside = np.flatnonzero(has_p & ~(dist <= th["return_ratio"] * corridor))
    if len(outside) and sites_m is not None and len(sites_m):
        site_pos = match_site_pairs(fx.x[outside], fx.y[outside], sites_m, th["site_buffer_m"])
        sid = sites_m["site_id"].to_numpy(dtype=object)
        pi, si = site_pos
        p = permit_of[outside[pi]]
        ok = (permits_ok["origin_site"].to_numpy(dtype=object)[p] == sid[si]) | (
            permits_ok["destination_site"].to_numpy(dtype=object)[p] == sid[si])
        at_site[outside[pi[ok]]] = True

    step_m = np.zeros(n)
    step_m[1:] = np.hypot(np.diff(fx.x), np.diff(fx.y))
    step_m[new_vehicle | ~moving] = 0.0
    pchange = np.zeros(n, dtype=bool)
    pchange[1:] = permit_of[1:] != permit_of[:-1]
    breaks = new_vehicle | mv.gap_before | pchange
    s, e, off_len = deviation_episodes(
        dist, corridor, at_site, fx.t, step_m, breaks, return_ratio=th["return_ratio"],
        min_duration_s=th["min_duration_s"], min_length_m=th["min_length_m"],
    )
    parts = [_deviations(fx, s, e, off_len, dist, permit_of, permits_ok, routes_m, roads, metric, th, vehicle_company)]

    gap_breaks = new_vehicle | mv.gap_before
    # runs span parked time too (one violation per shift, not per leg) and are trimmed to the driving
    s, e = trim(*runs(~has_p, gap_breaks), moving)
    keep = (fx.t[e] - fx.t[s]) >= th["no_permit_min_s"]
    parts.append(_frame(fx, "no_permit", s[keep], e[keep], permit_of, permits_ok, vehicle_company,
                        detail=np.full(keep.sum(), "no permit valid that day", dtype=object)))
    s, e = trim(*runs(has_p & ~in_hours, gap_breaks | pchange), moving)
    keep = (fx.t[e] - fx.t[s]) >= th["outside_hours_min_s"]
    hours = permits_ok["hours"].to_numpy(dtype=object)
    parts.append(_frame(fx, "outside_hours", s[keep], e[keep], permit_of, permits_ok, vehicle_company,
                        detail=np.array([f"allowed hours {hours[p]}" for p in permit_of[s[keep]]], dtype=object)))
    stops = _stop_checks(fx, mv, permit_of, permits_ok, sites_m, th)
    parts.append(_unpermitted(fx, mv, stops, permit_of, permits_ok, vehicle_company, th))
    if zones is not None and len(zones):
        parts.append(_zones(fx, zones, metric, gap_breaks, permit_of, permits_ok, vehicle_company, th))
    if roads is not None and len(roads) and any(c in roads.columns for c in _SPEED_COLUMNS):
        parts.append(_speeding(fx, moving, roads, metric, gap_breaks, permit_of, permits_ok, vehicle_company, th))
    parts.append(_silence(fx, new_vehicle, permit_of, permits_ok, vehicle_company, th))

    arrays = {"permit": permit_of, "in_hours": in_hours, "route_distance_m": dist, "stationary": mv.stationary}
    return parts, mv.trips, stops, arrays


def _distances(fx: Fixes, mv: Any, moving: np.ndarray, permit_of: np.ndarray, routes_m: np.ndarray,
               cell: float) -> np.ndarray:
    """Route distance per fix: moving fixes each, parked fixes through their stop's mean position.

    Parked drift is not movement, so a stop is in or out of the corridor as a whole, and the
    (often half of the day) parked fixes cost one distance per stop.
    """
    dist = np.full(len(fx), np.nan)
    mi = np.flatnonzero(moving)
    dist[mi] = route_distance(fx.x[mi], fx.y[mi], permit_of[mi], routes_m, cell_m=cell)
    si = np.flatnonzero(~moving)
    if len(si):
        key = mv.stop_of[si] * (len(routes_m) + 1) + (permit_of[si] + 1)
        ukey, inv = np.unique(key, return_inverse=True)
        stop = ukey // (len(routes_m) + 1)
        perm = ukey % (len(routes_m) + 1) - 1
        d = route_distance(mv.stop_xy[stop, 0], mv.stop_xy[stop, 1], perm, routes_m, cell_m=cell)
        dist[si] = d[inv]
    return dist


def match_site_pairs(x: np.ndarray, y: np.ndarray, sites_m: gpd.GeoDataFrame, buffer_m: float) -> tuple[np.ndarray, np.ndarray]:
    """All (point, site) pairs where the point lies in the buffered site (metric coordinates)."""
    tree = shapely.STRtree(shapely.buffer(sites_m.geometry.values, buffer_m) if buffer_m > 0 else sites_m.geometry.values)
    return tree.query(shapely.points(x, y), predicate="intersects")


def _road_names(roads: gpd.GeoDataFrame | None, metric: pyproj.CRS, x: np.ndarray, y: np.ndarray,
                snap_m: float) -> np.ndarray:
    out = np.full(len(x), None, dtype=object)
    if roads is None or len(roads) == 0 or len(x) == 0:
        return out
    col = next((c for c in _ROAD_NAME_COLUMNS if c in roads.columns), None)
    if col is None:
        return out
    if "kind" in roads.columns:  # Tilezen/OSM layers also hold rail, ferries and footpaths
        roads = roads[roads["kind"].isin(["highway", "major_road", "minor_road"])]
    rm = roads.to_crs(metric)
    names = rm[col].to_numpy(dtype=object)
    tree = shapely.STRtree(rm.geometry.values)
    pi, ri = tree.query_nearest(shapely.points(x, y), max_distance=snap_m, all_matches=False)
    out[pi] = names[ri]
    return out


def _deviations(fx: Fixes, s: np.ndarray, e: np.ndarray, off_len: np.ndarray, dist: np.ndarray,
                permit_of: np.ndarray, permits: gpd.GeoDataFrame, routes_m: np.ndarray,
                roads: gpd.GeoDataFrame | None, metric: pyproj.CRS, th: dict[str, float],
                vehicle_company: dict[str, Any]) -> pd.DataFrame:
    if len(s) == 0:
        return pd.DataFrame()
    ep = run_ids(s, e, len(fx))
    idx = np.flatnonzero(ep >= 0)
    d = dist[idx]
    far = ~np.isfinite(d)
    if far.any():  # beyond the hash cell: measure exactly, only for these few fixes
        d = d.copy()
        d[far] = shapely.distance(shapely.points(fx.x[idx[far]], fx.y[idx[far]]), routes_m[permit_of[idx[far]]])
    max_d = np.zeros(len(s))
    np.maximum.at(max_d, ep[idx], d)
    names = _road_names(roads, metric, fx.x[idx], fx.y[idx], th["road_snap_m"])
    road_text = np.full(len(s), "", dtype=object)
    if any(v is not None and v == v for v in names):
        df = pd.DataFrame({"ep": ep[idx], "name": names}).dropna().drop_duplicates()
        joined = df.groupby("ep", sort=True)["name"].agg(lambda v: "; ".join(map(str, v)))
        road_text[joined.index.to_numpy()] = joined.to_numpy()
    corridor = permits["corridor_m"].to_numpy()[permit_of[s]]
    detail = [f"off route {L:.0f} m, up to {m:.0f} m from the route (corridor {c:.0f} m)"
              for L, m, c in zip(off_len, max_d, corridor, strict=True)]
    return _frame(fx, "deviation", s, e, permit_of, permits, vehicle_company,
                  max_distance_m=np.round(max_d, 1), off_route_m=np.round(off_len, 1), roads=road_text,
                  detail=np.array(detail, dtype=object))


def _stop_checks(fx: Fixes, mv: Any, permit_of: np.ndarray, permits: gpd.GeoDataFrame,
                 sites_m: gpd.GeoDataFrame | None, th: dict[str, float]) -> gpd.GeoDataFrame:
    """Stops with their permit and whether their place is approved for it."""
    stops = mv.stops.copy()
    first = np.flatnonzero(mv.stop_of >= 0)
    first = first[np.r_[True, mv.stop_of[first][1:] != mv.stop_of[first][:-1]]] if len(first) else first
    p = permit_of[first] if len(first) else np.zeros(0, dtype=np.int64)
    pid = permits["permit_id"].to_numpy(dtype=object)
    stops["permit_id"] = np.where(p >= 0, pid[np.maximum(p, 0)] if len(pid) else None, None)
    approved = np.zeros(len(stops), dtype=bool)
    if sites_m is not None and len(sites_m) and len(stops):
        # sites may overlap: a stop is approved when any site it lies in is approved for it
        si_, ss_ = match_site_pairs(mv.stop_xy[:, 0], mv.stop_xy[:, 1], sites_m, th["site_buffer_m"])
        kind = sites_m["kind"].to_numpy(dtype=object)[ss_]
        sid = sites_m["site_id"].to_numpy(dtype=object)[ss_]
        pp = p[si_]
        # without a permit there are no approved sites; a stop at any registered site is then not
        # suspected dumping (the no_permit violation covers the vehicle)
        ok = (kind == "parking") | (pp < 0)
        if len(permits):
            o = permits["origin_site"].to_numpy(dtype=object)[np.maximum(pp, 0)]
            dd = permits["destination_site"].to_numpy(dtype=object)[np.maximum(pp, 0)]
            ok |= (pp >= 0) & ((o == sid) | (dd == sid))
        approved[si_[ok]] = True
        site_col = stops["site_id"].to_numpy(dtype=object)
        site_col[si_[ok]] = sid[ok]
        stops["site_id"] = site_col
    stops["approved"] = approved
    stops["_first"] = first
    return stops


def _unpermitted(fx: Fixes, mv: Any, stops: gpd.GeoDataFrame, permit_of: np.ndarray, permits: gpd.GeoDataFrame,
                 vehicle_company: dict[str, Any], th: dict[str, float]) -> pd.DataFrame:
    bad = (~stops["approved"].to_numpy()) & (stops["duration_s"].to_numpy() >= th["unpermitted_stop_s"])
    if not bad.any():
        return pd.DataFrame()
    sel = stops[bad]
    s = sel["_first"].to_numpy()
    e = s + sel["n_fixes"].to_numpy() - 1
    where = sel["site_id"].to_numpy(dtype=object)
    detail = [f"stopped {d // 60} min " + (f"at site {w} (not on the permit)" if pd.notna(w) else "outside any site")
              for d, w in zip(sel["duration_s"], where, strict=True)]
    return _frame(fx, "unpermitted_stop", s, e, permit_of, permits, vehicle_company,
                  site_id=where, detail=np.array(detail, dtype=object),
                  geometry=sel.geometry.to_numpy())


def _zones(fx: Fixes, zones: gpd.GeoDataFrame, metric: pyproj.CRS, breaks: np.ndarray, permit_of: np.ndarray,
           permits: gpd.GeoDataFrame, vehicle_company: dict[str, Any], th: dict[str, float]) -> pd.DataFrame:
    if zones.crs is None:
        raise InputError("zones: the layer has no CRS")
    zm = zones.to_crs(metric)
    zid = (zm["zone_id"] if "zone_id" in zm.columns else pd.Series(np.arange(len(zm)))).astype(str).to_numpy(dtype=object)
    zone_of = _points_in(zm.geometry.values, fx.x, fx.y)
    zchange = np.zeros(len(fx), dtype=bool)
    zchange[1:] = zone_of[1:] != zone_of[:-1]
    s, e = runs(zone_of >= 0, breaks | zchange)
    keep = (fx.t[e] - fx.t[s]) >= th["zone_min_s"]
    s, e = s[keep], e[keep]
    return _frame(fx, "restricted_zone", s, e, permit_of, permits, vehicle_company, zone_id=zid[zone_of[s]],
                  detail=np.array([f"inside restricted zone {z}" for z in zid[zone_of[s]]], dtype=object))


def _speeding(fx: Fixes, moving: np.ndarray, roads: gpd.GeoDataFrame, metric: pyproj.CRS, breaks: np.ndarray,
              permit_of: np.ndarray, permits: gpd.GeoDataFrame, vehicle_company: dict[str, Any],
              th: dict[str, float]) -> pd.DataFrame:
    col = next(c for c in _SPEED_COLUMNS if c in roads.columns)
    limit = pd.to_numeric(roads[col].astype("string").str.extract(r"(\d+(?:\.\d+)?)")[0], errors="coerce").to_numpy()
    usable = np.isfinite(limit)
    if not usable.any():
        return pd.DataFrame()
    n = len(fx)
    if fx.speed is not None:
        v = fx.speed.copy()
    else:
        v = np.zeros(n)
        dt = np.diff(fx.t).astype("float64")
        v[1:] = np.hypot(np.diff(fx.x), np.diff(fx.y)) / np.maximum(dt, 1.0) * 3.6
        v[fx.vehicle_starts()] = 0.0
    cand = np.flatnonzero(moving & (v > np.nanmin(limit[usable]) + th["speed_tolerance_kmh"]))
    over = np.zeros(n, dtype=bool)
    lim_of = np.full(n, np.nan)
    if len(cand):
        rm = roads[usable].to_crs(metric)
        tree = shapely.STRtree(rm.geometry.values)
        pi, ri = tree.query_nearest(shapely.points(fx.x[cand], fx.y[cand]), max_distance=th["road_snap_m"],
                                    all_matches=False)
        lim_of[cand[pi]] = limit[usable][ri]
        over[cand[pi]] = v[cand[pi]] > lim_of[cand[pi]] + th["speed_tolerance_kmh"]
    s, e = runs(over, breaks)
    keep = (fx.t[e] - fx.t[s]) >= th["speeding_min_s"]
    s, e = s[keep], e[keep]
    vmax = np.array([np.nanmax(v[a:b + 1]) for a, b in zip(s, e, strict=True)])
    detail = [f"up to {m:.0f} km/h where the limit is {lim:.0f} km/h" for m, lim in zip(vmax, lim_of[s], strict=True)]
    return _frame(fx, "speeding", s, e, permit_of, permits, vehicle_company, detail=np.array(detail, dtype=object))


def _silence(fx: Fixes, new_vehicle: np.ndarray, permit_of: np.ndarray, permits: gpd.GeoDataFrame,
             vehicle_company: dict[str, Any], th: dict[str, float]) -> pd.DataFrame:
    n = len(fx)
    if n < 2:
        return pd.DataFrame()
    dt = np.diff(fx.t)
    jump = np.hypot(np.diff(fx.x), np.diff(fx.y))
    hit = np.flatnonzero(~new_vehicle[1:] & (dt >= th["silence_s"]) & (jump >= th["silence_min_m"]))
    s, e = hit, hit + 1
    geoms = shapely.linestrings(
        np.column_stack([fx.lon[s], fx.lon[e]]).ravel(), np.column_stack([fx.lat[s], fx.lat[e]]).ravel(),
        indices=np.repeat(np.arange(len(s)), 2),
    ) if len(s) else np.array([], dtype=object)
    detail = [f"no fix for {d // 60} min while moving {j:.0f} m" for d, j in zip(dt[hit], jump[hit], strict=True)]
    return _frame(fx, "gps_silence", s, e, permit_of, permits, vehicle_company,
                  geometry=np.asarray(geoms, dtype=object), detail=np.array(detail, dtype=object))
