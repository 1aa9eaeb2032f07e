"""The truck check: clean → stops and trips → permits and route → violations → credit.

Every step works on whole columns (see :mod:`gridlib.trucks.fixes`); Python loops run
only over permits, zones, threshold passes or the (few) violations found.

Thresholds are named fields of :class:`~gridlib.trucks.thresholds.Thresholds`; each violation
type has its own detector in :mod:`gridlib.trucks.detectors`.
"""

from __future__ import annotations

import logging
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from gridlib.crs import WGS84, to_crs
from gridlib.progress import track
from gridlib.trucks.clean import clean
from gridlib.trucks.credit import Credit, credit
from gridlib.trucks.detectors import DETECTORS, VehicleDay, approved_stops, match_site_pairs
from gridlib.trucks.fixes import Fixes, read_fixes
from gridlib.trucks.route import assign_permits, read_permits, read_sites, route_distance
from gridlib.trucks.thresholds import Thresholds
from gridlib.trucks.trips import Movement, detect
from gridlib.types import CRSLike, LayerSource, TableSource, TimeLike

__all__ = ["check", "CheckResult", "Thresholds", "THRESHOLDS", "VIOLATION_COLUMNS"]

log = logging.getLogger(__name__)

#: The default thresholds by name (read-only view of :class:`Thresholds`; kept for callers of 0.x).
THRESHOLDS: dict[str, float] = Thresholds().as_dict()

VIOLATION_COLUMNS = [
    "violation_id", "vehicle_id", "permit_id", "company", "type", "start", "end", "duration_s",
    "n_fixes", "max_distance_m", "off_route_m", "roads", "site_id", "zone_id", "detail", "evidence", "geometry",
]



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
        Input fix rows not used (original index kept), with ``reason``;
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


def check(
    fixes: TableSource | Fixes,
    permits: LayerSource,
    sites: LayerSource | None = None,
    *,
    roads: gpd.GeoDataFrame | None = None,
    zones: gpd.GeoDataFrame | None = None,
    date: TimeLike | None = None,
    crs: CRSLike = "EPSG:4326",
    deductions: pd.DataFrame | str | None = None,
    chunk_fixes: int = 1_000_000,
    workers: int | None = None,
    thresholds: Thresholds | None = None,
    **legacy_thresholds: float,
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
    thresholds : Thresholds, optional
        Named thresholds (default: :class:`~gridlib.trucks.thresholds.Thresholds()`). Passing them
        as keywords (``check(..., min_length_m=100)``) still works but is deprecated.

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
    th = thresholds or Thresholds()
    if legacy_thresholds:
        warnings.warn("check(..., name=value) thresholds are deprecated; pass thresholds=Thresholds(name=value)",
                      DeprecationWarning, stacklevel=2)
        th = th.replace(**legacy_thresholds)

    if isinstance(fixes, Fixes):
        fx, rejects = fixes, pd.DataFrame(columns=["reason"])
        frame = None
    else:
        from gridlib.io import read_table

        frame = read_table(fixes)
        fx, rejects = read_fixes(frame, crs=crs)
    metric: pyproj.CRS = fx.crs
    permits_ok, permit_rejects = read_permits(permits)
    if sites is not None:
        sites_ok, site_rejects = read_sites(sites)
    else:
        sites_ok, site_rejects = None, pd.DataFrame(columns=["reason"])

    def reject_rows(rows: np.ndarray, reasons: np.ndarray) -> pd.DataFrame:
        if frame is None:
            return pd.DataFrame({"row": rows, "reason": reasons})
        out = frame.iloc[rows].copy()
        out["reason"] = reasons
        return out

    if date is not None:
        day = np.datetime64(pd.Timestamp(date).date(), "D").astype(np.int64)
        on = (fx.t // 86400) == day
        if not on.all():
            rejects = pd.concat([rejects, reject_rows(fx.row[~on], np.full((~on).sum(), "not on the checked date"))])
            fx = fx.take(on)
    fx, cleaned_out = clean(fx, max_speed_kmh=th.max_speed_kmh, min_jump_m=th.min_jump_m)
    if len(cleaned_out):
        rejects = pd.concat([rejects, reject_rows(cleaned_out["row"].to_numpy(), cleaned_out["reason"].to_numpy())])
    if len(rejects) and "row" not in rejects.columns and frame is not None:
        rejects = rejects.sort_index(kind="stable")

    sites_m = to_crs(sites_ok, metric) if sites_ok is not None else None
    vid_sorted = fx.vehicle_ids
    pv = np.searchsorted(vid_sorted, permits_ok["vehicle_id"].to_numpy(dtype=object).astype(str))
    pv = np.where((pv < len(vid_sorted)) & (vid_sorted[np.minimum(pv, len(vid_sorted) - 1)] ==
                                            permits_ok["vehicle_id"].to_numpy(dtype=object)), pv, -1) \
        if len(vid_sorted) else np.full(len(permits_ok), -1)
    routes_m = to_crs(permits_ok, metric).geometry.values
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
    n_threads = max(1, min(workers or os.cpu_count() or 1, len(spans)))
    # one chunk runs in the calling thread: a new thread pays ~0.1 s to set up its PROJ context
    with ThreadPoolExecutor(max_workers=n_threads) if n_threads > 1 else nullcontext() as pool:
        done = (pool.map if pool else map)(lambda span: _check_part(fx.take(slice(*span)), ctx), spans)
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
    th: Thresholds
    vehicle_company: dict[str, Any]


def _stack(frames: list[gpd.GeoDataFrame], id_col: str) -> gpd.GeoDataFrame:
    frames = [f for f in frames if len(f)] or frames[:1]
    out = pd.concat(frames, ignore_index=True)
    out[id_col] = np.arange(len(out))
    return gpd.GeoDataFrame(out.drop(columns=["_first"], errors="ignore"), geometry="geometry", crs=WGS84)


def _check_part(fx: Fixes, ctx: _Context) -> tuple[list[pd.DataFrame], gpd.GeoDataFrame, gpd.GeoDataFrame,
                                                    dict[str, np.ndarray]]:
    """Stops, trips, permits and route compliance of whole vehicles' fixes, then every detector."""
    day = _vehicle_day(fx, ctx)
    parts = [detector(day, ctx.th) for detector in DETECTORS.values()]
    arrays = {"permit": day.permit_of, "in_hours": day.in_hours, "route_distance_m": day.route_distance_m,
              "stationary": day.movement.stationary}
    return parts, day.movement.trips, day.stops, arrays


def _vehicle_day(fx: Fixes, ctx: _Context) -> VehicleDay:
    """What the detectors share: movement, the permit per fix, route distance and corridor, stops."""
    permits_ok, th = ctx.permits_ok, ctx.th
    mv = detect(fx, radius_m=th.stop_radius_m, min_dwell_s=th.min_dwell_s, gap_s=th.gap_s,
                sites=ctx.sites_m, site_buffer_m=th.site_buffer_m)
    permit_of, in_hours = assign_permits(
        fx.vehicle, fx.t, ctx.pv, permits_ok["valid_from"].to_numpy(dtype="datetime64[D]"),
        permits_ok["valid_to"].to_numpy(dtype="datetime64[D]"),
        permits_ok["hours_start_s"].to_numpy(dtype=np.int64), permits_ok["hours_end_s"].to_numpy(dtype=np.int64),
    )
    corridor_p = permits_ok["corridor_m"].to_numpy(dtype="float64")
    # exact up to the widest corridor; farther fixes are off route whatever their distance
    cell = max(30.0, float(corridor_p.max()) if len(corridor_p) else 0.0)
    dist = _distances(fx, mv, ~mv.stationary, permit_of, ctx.routes_m, cell)
    has_p = permit_of >= 0
    corridor = np.where(has_p, corridor_p[np.maximum(permit_of, 0)] if len(corridor_p) else np.nan, np.nan)
    return VehicleDay(
        fixes=fx, movement=mv, permits=permits_ok, permit_of=permit_of, in_hours=in_hours,
        route_distance_m=dist, corridor_m=corridor,
        at_site=_at_own_site(fx, permit_of, dist, corridor, permits_ok, ctx.sites_m, th),
        stops=approved_stops(fx, mv, permit_of, permits_ok, ctx.sites_m, th), routes_m=ctx.routes_m,
        metric=ctx.metric, vehicle_company=ctx.vehicle_company, roads=ctx.roads, zones=ctx.zones,
    )


def _at_own_site(fx: Fixes, permit_of: np.ndarray, dist: np.ndarray, corridor: np.ndarray,
                 permits_ok: gpd.GeoDataFrame, sites_m: gpd.GeoDataFrame | None, th: Thresholds) -> np.ndarray:
    """Fixes beyond the return threshold but inside their permit's origin/destination site (on route)."""
    at_site = np.zeros(len(fx), dtype=bool)
    outside = np.flatnonzero((permit_of >= 0) & ~(dist <= th.return_ratio * corridor))
    if len(outside) and sites_m is not None and len(sites_m):
        pi, si = match_site_pairs(fx.x[outside], fx.y[outside], sites_m, th.site_buffer_m)
        sid = sites_m["site_id"].to_numpy(dtype=object)
        p = permit_of[outside[pi]]
        ok = (permits_ok["origin_site"].to_numpy(dtype=object)[p] == sid[si]) | (
            permits_ok["destination_site"].to_numpy(dtype=object)[p] == sid[si])
        at_site[outside[pi[ok]]] = True
    return at_site


def _distances(fx: Fixes, mv: Movement, moving: np.ndarray, permit_of: np.ndarray, routes_m: np.ndarray,
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


