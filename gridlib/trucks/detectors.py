"""One detector per violation type, over a :class:`VehicleDay` of whole vehicles' fixes.

:func:`gridlib.trucks.check` builds a :class:`VehicleDay` (cleaned fixes, stops and trips,
permit per fix, route distance, corridor, approved stops) for each chunk of vehicles and runs
every detector of :data:`DETECTORS` on it with one :class:`~gridlib.trucks.thresholds.Thresholds`.
A detector returns one row per episode (see :data:`gridlib.trucks.violations.VIOLATION_COLUMNS`).
The live service advances the same detectors with the same thresholds.

>>> sorted(DETECTORS)
['deviation', 'gps_silence', 'no_permit', 'outside_hours', 'restricted_zone', 'speeding', 'unpermitted_stop']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gridlib.crs import to_crs
from gridlib.errors import InputError
from gridlib.trucks._runs import run_ids, runs, trim
from gridlib.trucks.fixes import Fixes
from gridlib.trucks.route import assign_permits, deviation_episodes, route_distance
from gridlib.trucks.thresholds import Thresholds
from gridlib.trucks.trips import Movement, detect, site_tree

__all__ = [
    "CheckContext", "vehicle_day", "VehicleDay", "DETECTORS", "ROAD_NAME_COLUMNS", "SPEED_COLUMNS", "match_site_pairs", "approved_stops",
    "deviations", "no_permit", "outside_hours", "unpermitted_stops", "restricted_zones", "speeding", "gps_silence",
]

#: Road-layer columns that name a road, in order of preference.
ROAD_NAME_COLUMNS = ("name", "name:zh", "name_zh", "road_name")
#: Road-layer columns that carry a speed limit (km/h), in order of preference.
SPEED_COLUMNS = ("speed_limit_kmh", "maxspeed")


@dataclass
class VehicleDay:
    """What every detector knows about a chunk of whole vehicles' cleaned fixes (see :func:`vehicle_day`).

    Attributes
    ----------
    fixes : Fixes
        Cleaned fixes sorted by (vehicle, time), in a metric CRS.
    movement : Movement
        Stops and trips (:func:`gridlib.trucks.trips.detect`).
    permits : GeoDataFrame
        Accepted permits (:func:`gridlib.trucks.route.read_permits`).
    permit_of, in_hours : numpy.ndarray
        Per fix: the position of the permit that applies (−1 for none) and whether the time is
        inside its hours.
    route_distance_m, corridor_m, at_site : numpy.ndarray
        Per fix: distance to the permit's route, the permit's corridor half-width, and whether
        an off-corridor fix is inside its permit's origin or destination site.
    stops : GeoDataFrame
        :func:`approved_stops` of the movement.
    routes_m : numpy.ndarray
        The permits' routes in the fixes' CRS.
    metric : pyproj.CRS
        The fixes' CRS.
    vehicle_company : dict
        Company per vehicle id (from its permits) for violations outside any permit.
    roads, zones : GeoDataFrame, optional
        Road lines (names, speed limits) and restricted-zone polygons.

    Examples
    --------
    >>> day = _example_day()
    >>> day.metric.to_epsg(), bool(day.moving.all()), int(day.gap_breaks.sum())
    (4550, True, 1)
    """

    fixes: Fixes
    movement: Movement
    permits: gpd.GeoDataFrame
    permit_of: np.ndarray
    in_hours: np.ndarray
    route_distance_m: np.ndarray
    corridor_m: np.ndarray
    at_site: np.ndarray
    stops: gpd.GeoDataFrame
    routes_m: np.ndarray
    metric: pyproj.CRS
    vehicle_company: dict[str, Any]
    roads: gpd.GeoDataFrame | None = None
    zones: gpd.GeoDataFrame | None = None

    @property
    def new_vehicle(self) -> np.ndarray:
        """Per fix: True at each vehicle's first fix."""
        return self.fixes.vehicle_starts()

    @property
    def moving(self) -> np.ndarray:
        """Per fix: True where the vehicle is not in a stop."""
        return ~self.movement.stationary

    @property
    def gap_breaks(self) -> np.ndarray:
        """Per fix: a new vehicle, or a silence of ``gap_s`` or longer before it."""
        return self.new_vehicle | self.movement.gap_before

    @property
    def permit_change(self) -> np.ndarray:
        """Per fix: the permit that applies differs from the previous fix's."""
        out = np.zeros(len(self.fixes), dtype=bool)
        out[1:] = self.permit_of[1:] != self.permit_of[:-1]
        return out

    def episodes(self, kind: str, s: np.ndarray, e: np.ndarray, **extra: Any) -> pd.DataFrame:
        """Violation rows for episodes from fix ``s[i]`` to fix ``e[i]`` (inclusive) of type *kind*.

        ``extra`` adds or overrides columns (``detail``, ``geometry``, ``site_id`` …); by default the
        geometry is the line through the episode's fixes and ``evidence`` their input row numbers.
        """
        fx, permits = self.fixes, self.permits
        p = self.permit_of[s] if len(s) else np.zeros(0, dtype=np.int64)
        vid = fx.vehicle_ids[fx.vehicle[s]]
        pid = np.where(p >= 0, permits["permit_id"].to_numpy(dtype=object)[np.maximum(p, 0)] if len(permits) else None,
                       None)
        comp = np.where(p >= 0, permits["company"].to_numpy(dtype=object)[np.maximum(p, 0)] if len(permits) else None,
                        np.array([self.vehicle_company.get(v) for v in vid], dtype=object))
        data = {
            "vehicle_id": vid, "permit_id": pid, "company": comp, "type": np.full(len(s), kind, dtype=object),
            "start": fx.times(s), "end": fx.times(e), "duration_s": (fx.t[e] - fx.t[s]).astype("int64"),
            "n_fixes": (e - s + 1).astype("int64"),
        }
        data.update(extra)
        if "geometry" not in data:
            data["geometry"] = _lines(fx, s, e)
        if "evidence" not in data:
            data["evidence"] = [",".join(map(str, fx.row[a:b + 1].tolist())) for a, b in zip(s, e, strict=True)]
        return pd.DataFrame(data)


@dataclass
class CheckContext:
    """Permits, sites, roads and zones prepared once for checking any number of vehicles' fixes.

    Examples
    --------
    >>> ctx = CheckContext.prepare(*_example_inputs())
    >>> ctx.permits["permit_id"].tolist(), ctx.metric.to_epsg(), ctx.thresholds.gap_s
    (['P1'], 4550, 600.0)
    """

    permits: gpd.GeoDataFrame
    routes_m: np.ndarray
    sites_m: gpd.GeoDataFrame | None
    metric: pyproj.CRS
    thresholds: Thresholds
    vehicle_company: dict[str, Any]
    roads: gpd.GeoDataFrame | None = None
    zones: gpd.GeoDataFrame | None = None

    @classmethod
    def prepare(cls, permits: gpd.GeoDataFrame, sites: gpd.GeoDataFrame | None, metric: pyproj.CRS, *,
                roads: gpd.GeoDataFrame | None = None, zones: gpd.GeoDataFrame | None = None,
                thresholds: Thresholds | None = None) -> CheckContext:
        """From accepted permits and sites (:func:`~gridlib.trucks.route.read_permits`,
        :func:`~gridlib.trucks.route.read_sites`) and the fixes' metric CRS."""
        return cls(
            permits=permits, routes_m=to_crs(permits, metric).geometry.values,
            sites_m=to_crs(sites, metric) if sites is not None else None, metric=metric,
            thresholds=thresholds or Thresholds(),
            vehicle_company=dict(zip(permits["vehicle_id"], permits["company"], strict=True)),
            roads=roads, zones=zones,
        )

    def permit_vehicles(self, vehicle_ids: np.ndarray) -> np.ndarray:
        """Position in the sorted *vehicle_ids* of each permit's vehicle (−1 where absent)."""
        vids = self.permits["vehicle_id"].to_numpy(dtype=object)
        if not len(vehicle_ids):
            return np.full(len(vids), -1)
        pv = np.searchsorted(vehicle_ids, vids.astype(str))
        found = (pv < len(vehicle_ids)) & (vehicle_ids[np.minimum(pv, len(vehicle_ids) - 1)] == vids)
        return np.where(found, pv, -1)


def vehicle_day(fx: Fixes, ctx: CheckContext, *, trips: bool = True) -> VehicleDay:
    """What the detectors share about whole vehicles' cleaned fixes: movement, the permit per fix,
    route distance and corridor, approved stops.

    ``trips=False`` leaves ``movement.trips`` empty (no detector reads it; see :func:`~gridlib.trucks.trips.detect`):
    the live monitor's cheaper pass, with the same detector results.

    Examples
    --------
    >>> day = vehicle_day(_example_fixes(), CheckContext.prepare(*_example_inputs()))
    >>> len(day.fixes), int((day.permit_of == 0).sum()), len(day.movement.trips)
    (60, 60, 1)
    >>> len(vehicle_day(_example_fixes(), CheckContext.prepare(*_example_inputs()), trips=False).movement.trips)
    0
    """
    permits_ok, th = ctx.permits, ctx.thresholds
    mv = detect(fx, radius_m=th.stop_radius_m, min_dwell_s=th.min_dwell_s, gap_s=th.gap_s,
                sites=ctx.sites_m, site_buffer_m=th.site_buffer_m, trips=trips)
    permit_of, in_hours = assign_permits(
        fx.vehicle, fx.t, ctx.permit_vehicles(fx.vehicle_ids), permits_ok["valid_from"].to_numpy(dtype="datetime64[D]"),
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


def match_site_pairs(x: np.ndarray, y: np.ndarray, sites_m: gpd.GeoDataFrame,
                     buffer_m: float) -> tuple[np.ndarray, np.ndarray]:
    """All (point, site) pairs where the point lies in the buffered site (metric coordinates).

    >>> from shapely.geometry import box
    >>> sites = gpd.GeoDataFrame({"site_id": ["S"]}, geometry=[box(0, 0, 10, 10)], crs=4547)
    >>> [a.tolist() for a in match_site_pairs(np.array([5.0, 50.0]), np.array([5.0, 5.0]), sites, 30)]
    [[0], [0]]
    """
    return site_tree(sites_m, buffer_m).query(shapely.points(x, y), predicate="intersects")


def road_names(roads: gpd.GeoDataFrame | None, metric: pyproj.CRS, x: np.ndarray, y: np.ndarray,
               snap_m: float) -> np.ndarray:
    """Name of the nearest road within ``snap_m`` of each point (None where there is none).

    >>> from shapely.geometry import LineString
    >>> roads = gpd.GeoDataFrame({"name": ["世纪大道"]}, geometry=[LineString([(0, 0), (100, 0)])], crs=4547)
    >>> road_names(roads, roads.crs, np.array([50.0, 50.0]), np.array([5.0, 80.0]), 30).tolist()
    ['世纪大道', None]
    """
    out = np.full(len(x), None, dtype=object)
    if roads is None or len(roads) == 0 or len(x) == 0:
        return out
    col = next((c for c in ROAD_NAME_COLUMNS if c in roads.columns), None)
    if col is None:
        return out
    if "kind" in roads.columns:  # Tilezen/OSM layers also hold rail, ferries and footpaths
        roads = roads[roads["kind"].isin(["highway", "major_road", "minor_road"])]
    rm = to_crs(roads, metric)
    names = rm[col].to_numpy(dtype=object)
    tree = shapely.STRtree(rm.geometry.values)
    pi, ri = tree.query_nearest(shapely.points(x, y), max_distance=snap_m, all_matches=False)
    out[pi] = names[ri]
    return out


def approved_stops(fixes: Fixes, movement: Movement, permit_of: np.ndarray, permits: gpd.GeoDataFrame,
                   sites_m: gpd.GeoDataFrame | None, th: Thresholds) -> gpd.GeoDataFrame:
    """Stops with their permit (``permit_id``), whether their place is ``approved`` for it, and the
    position of their first fix (``_first``).

    >>> approved_stops(day := _example_day(), day.movement, day.permit_of, day.permits, None, Thresholds()).empty
    True
    """
    stops = movement.stops.copy()
    first = np.flatnonzero(movement.stop_of >= 0)
    first = first[np.r_[True, movement.stop_of[first][1:] != movement.stop_of[first][:-1]]] if len(first) else first
    p = permit_of[first] if len(first) else np.zeros(0, dtype=np.int64)
    pid = permits["permit_id"].to_numpy(dtype=object)
    stops["permit_id"] = np.where(p >= 0, pid[np.maximum(p, 0)] if len(pid) else None, None)
    approved = np.zeros(len(stops), dtype=bool)
    if sites_m is not None and len(sites_m) and len(stops):
        # sites may overlap: a stop is approved when any site it lies in is approved for it
        si_, ss_ = match_site_pairs(movement.stop_xy[:, 0], movement.stop_xy[:, 1], sites_m, th.site_buffer_m)
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
        site_col = stops["site_id"].to_numpy(dtype=object).copy()  # a read-only view under copy-on-write
        site_col[si_[ok]] = sid[ok]
        stops["site_id"] = site_col
    stops["approved"] = approved
    stops["_first"] = first
    return stops


def deviations(day: VehicleDay, th: Thresholds) -> pd.DataFrame:
    """Episodes off the permit's corridor (with hysteresis), long and far enough to count.

    >>> deviations(_example_day(lat=31.243), Thresholds())[["type", "n_fixes"]].values.tolist()   # 330 m north
    [['deviation', 60]]
    """
    fx = day.fixes
    step_m = np.zeros(len(fx))
    step_m[1:] = np.hypot(np.diff(fx.x), np.diff(fx.y))
    step_m[day.new_vehicle | ~day.moving] = 0.0
    s, e, off_len = deviation_episodes(
        day.route_distance_m, day.corridor_m, day.at_site, fx.t, step_m,
        day.gap_breaks | day.permit_change, return_ratio=th.return_ratio,
        min_duration_s=th.min_duration_s, min_length_m=th.min_length_m,
    )
    if len(s) == 0:
        return pd.DataFrame()
    ep = run_ids(s, e, len(fx))
    idx = np.flatnonzero(ep >= 0)
    d = day.route_distance_m[idx]
    far = ~np.isfinite(d)
    if far.any():  # beyond the hash cell: measure exactly, only for these few fixes
        d = d.copy()
        d[far] = shapely.distance(shapely.points(fx.x[idx[far]], fx.y[idx[far]]),
                                  day.routes_m[day.permit_of[idx[far]]])
    max_d = np.zeros(len(s))
    np.maximum.at(max_d, ep[idx], d)
    names = road_names(day.roads, day.metric, fx.x[idx], fx.y[idx], th.road_snap_m)
    road_text = np.full(len(s), "", dtype=object)
    if any(v is not None and v == v for v in names):
        df = pd.DataFrame({"ep": ep[idx], "name": names}).dropna().drop_duplicates()
        joined = df.groupby("ep", sort=True)["name"].agg(lambda v: "; ".join(map(str, v)))
        road_text[joined.index.to_numpy()] = joined.to_numpy()
    corridor = day.permits["corridor_m"].to_numpy()[day.permit_of[s]]
    detail = [f"off route {L:.0f} m, up to {m:.0f} m from the route (corridor {c:.0f} m)"
              for L, m, c in zip(off_len, max_d, corridor, strict=True)]
    return day.episodes("deviation", s, e, max_distance_m=np.round(max_d, 1), off_route_m=np.round(off_len, 1),
                        roads=road_text, detail=np.array(detail, dtype=object))


def no_permit(day: VehicleDay, th: Thresholds) -> pd.DataFrame:
    """Driving with no permit valid that day, for at least ``no_permit_min_s``.

    >>> len(no_permit(_example_day(), Thresholds()))   # V1 has a permit
    0
    """
    fx = day.fixes
    # runs span parked time too (one violation per shift, not per leg) and are trimmed to the driving
    s, e = trim(*runs(day.permit_of < 0, day.gap_breaks), day.moving)
    keep = (fx.t[e] - fx.t[s]) >= th.no_permit_min_s
    return day.episodes("no_permit", s[keep], e[keep],
                        detail=np.full(keep.sum(), "no permit valid that day", dtype=object))


def outside_hours(day: VehicleDay, th: Thresholds) -> pd.DataFrame:
    """Driving under a permit outside its hours, for at least ``outside_hours_min_s``.

    >>> outside_hours(_example_day(), Thresholds())[["start", "end"]].astype(str).values.tolist()
    [['2026-11-20 21:50:00', '2026-11-20 21:59:40']]
    """
    fx = day.fixes
    s, e = trim(*runs((day.permit_of >= 0) & ~day.in_hours, day.gap_breaks | day.permit_change), day.moving)
    keep = (fx.t[e] - fx.t[s]) >= th.outside_hours_min_s
    hours = day.permits["hours"].to_numpy(dtype=object)
    return day.episodes("outside_hours", s[keep], e[keep],
                        detail=np.array([f"allowed hours {hours[p]}" for p in day.permit_of[s[keep]]], dtype=object))


def unpermitted_stops(day: VehicleDay, th: Thresholds) -> pd.DataFrame:
    """Stops of at least ``unpermitted_stop_s`` at a place not approved for the permit.

    >>> len(unpermitted_stops(_example_day(), Thresholds()))   # it never stops
    0
    """
    stops = day.stops
    bad = (~stops["approved"].to_numpy()) & (stops["duration_s"].to_numpy() >= th.unpermitted_stop_s)
    if not bad.any():
        return pd.DataFrame()
    sel = stops[bad]
    s = sel["_first"].to_numpy()
    e = s + sel["n_fixes"].to_numpy() - 1
    where = sel["site_id"].to_numpy(dtype=object)
    detail = [f"stopped {d // 60} min " + (f"at site {w} (not on the permit)" if pd.notna(w) else "outside any site")
              for d, w in zip(sel["duration_s"], where, strict=True)]
    return day.episodes("unpermitted_stop", s, e, site_id=where, detail=np.array(detail, dtype=object),
                        geometry=sel.geometry.to_numpy())


def restricted_zones(day: VehicleDay, th: Thresholds) -> pd.DataFrame:
    """Time inside a restricted zone (``zone_min_s`` or longer); nothing without zones.

    >>> len(restricted_zones(_example_day(), Thresholds()))
    0
    """
    zones = day.zones
    if zones is None or not len(zones):
        return pd.DataFrame()
    if zones.crs is None:
        raise InputError("zones: the layer has no CRS")
    fx = day.fixes
    zm = to_crs(zones, day.metric)
    zid = (zm["zone_id"] if "zone_id" in zm.columns else pd.Series(np.arange(len(zm)))).astype(str).to_numpy(dtype=object)
    zone_of = _points_in(zm.geometry.values, fx.x, fx.y)
    zchange = np.zeros(len(fx), dtype=bool)
    zchange[1:] = zone_of[1:] != zone_of[:-1]
    s, e = runs(zone_of >= 0, day.gap_breaks | zchange)
    keep = (fx.t[e] - fx.t[s]) >= th.zone_min_s
    s, e = s[keep], e[keep]
    return day.episodes("restricted_zone", s, e, zone_id=zid[zone_of[s]],
                        detail=np.array([f"inside restricted zone {z}" for z in zid[zone_of[s]]], dtype=object))


def speeding(day: VehicleDay, th: Thresholds) -> pd.DataFrame:
    """Driving above the nearest road's limit + ``speed_tolerance_kmh`` for ``speeding_min_s``;
    nothing where roads carry no limits.

    >>> len(speeding(_example_day(), Thresholds()))   # no road layer, no limits
    0
    """
    roads = day.roads
    if roads is None or not len(roads) or not any(c in roads.columns for c in SPEED_COLUMNS):
        return pd.DataFrame()
    fx = day.fixes
    col = next(c for c in SPEED_COLUMNS if c in roads.columns)
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
        v[day.new_vehicle] = 0.0
    cand = np.flatnonzero(day.moving & (v > np.nanmin(limit[usable]) + th.speed_tolerance_kmh))
    over = np.zeros(n, dtype=bool)
    lim_of = np.full(n, np.nan)
    if len(cand):
        rm = to_crs(roads[usable], day.metric)
        tree = shapely.STRtree(rm.geometry.values)
        pi, ri = tree.query_nearest(shapely.points(fx.x[cand], fx.y[cand]), max_distance=th.road_snap_m,
                                    all_matches=False)
        lim_of[cand[pi]] = limit[usable][ri]
        over[cand[pi]] = v[cand[pi]] > lim_of[cand[pi]] + th.speed_tolerance_kmh
    s, e = runs(over, day.gap_breaks)
    keep = (fx.t[e] - fx.t[s]) >= th.speeding_min_s
    s, e = s[keep], e[keep]
    vmax = np.array([np.nanmax(v[a:b + 1]) for a, b in zip(s, e, strict=True)])
    detail = [f"up to {m:.0f} km/h where the limit is {lim:.0f} km/h" for m, lim in zip(vmax, lim_of[s], strict=True)]
    return day.episodes("speeding", s, e, detail=np.array(detail, dtype=object))


def gps_silence(day: VehicleDay, th: Thresholds) -> pd.DataFrame:
    """No fix for ``silence_s`` or longer while the truck moved ``silence_min_m`` or more.

    >>> len(gps_silence(_example_day(), Thresholds()))   # a fix every 20 s
    0
    """
    fx = day.fixes
    if len(fx) < 2:
        return pd.DataFrame()
    dt = np.diff(fx.t)
    jump = np.hypot(np.diff(fx.x), np.diff(fx.y))
    hit = np.flatnonzero(~day.new_vehicle[1:] & (dt >= th.silence_s) & (jump >= th.silence_min_m))
    s, e = hit, hit + 1
    geoms = shapely.linestrings(
        np.column_stack([fx.lon[s], fx.lon[e]]).ravel(), np.column_stack([fx.lat[s], fx.lat[e]]).ravel(),
        indices=np.repeat(np.arange(len(s)), 2),
    ) if len(s) else np.array([], dtype=object)
    detail = [f"no fix for {d // 60} min while moving {j:.0f} m" for d, j in zip(dt[hit], jump[hit], strict=True)]
    return day.episodes("gps_silence", s, e, geometry=np.asarray(geoms, dtype=object),
                        detail=np.array(detail, dtype=object))


def _example_inputs() -> tuple[gpd.GeoDataFrame, None, pyproj.CRS]:
    """Doctest inputs: one permit (22:00–06:00) along a 4 km east–west route in Lujiazui."""
    from shapely.geometry import LineString

    from gridlib.trucks.route import read_permits

    permits, _ = read_permits(gpd.GeoDataFrame(
        {"permit_id": ["P1"], "vehicle_id": ["V1"], "company": ["K"], "valid_from": ["2026-11-20"],
         "valid_to": ["2026-11-20"], "hours": ["22:00-06:00"]},
        geometry=[LineString([(121.48, 31.24), (121.52, 31.24)])], crs=4326))
    return permits, None, pyproj.CRS.from_epsg(4550)


def _example_fixes(lat: float = 31.24) -> Fixes:
    """Doctest fixes: V1 driving east along (or *lat* off) the route from 21:50, a fix every 20 s."""
    from gridlib.trucks.fixes import read_fixes

    fixes, _ = read_fixes(pd.DataFrame({
        "vehicle_id": "V1", "time": pd.date_range("2026-11-20 21:50", periods=60, freq="20s").astype(str),
        "lon": [121.48 + i * 0.0006 for i in range(60)], "lat": lat}))
    return fixes


def _example_day(lat: float = 31.24) -> VehicleDay:
    return vehicle_day(_example_fixes(lat), CheckContext.prepare(*_example_inputs()))


#: Every detector by the violation type it finds, in the order the check runs them.
DETECTORS: dict[str, Callable[[VehicleDay, Thresholds], pd.DataFrame]] = {
    "deviation": deviations,
    "no_permit": no_permit,
    "outside_hours": outside_hours,
    "unpermitted_stop": unpermitted_stops,
    "restricted_zone": restricted_zones,
    "speeding": speeding,
    "gps_silence": gps_silence,
}
