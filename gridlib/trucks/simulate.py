"""Synthetic muck-truck fleets on a real road network, with planted violations and their truth.

Used by the tests (planted scenarios with known answers) and the benchmark (a
2,000-truck day). Trucks shuttle between an origin (construction) and a destination
(disposal) site along a shortest road path; positions come from numpy interpolation
along the route (no per-fix geometry), plus Gaussian GPS noise. Planted events:
route deviations (a lateral detour of 120–400 m with 30-s ramps), dumping stops
outside sites, GPS silences while driving, permits not valid that day, and shifts
that run past the permitted hours. ``truth`` lists each planted event with its
first and last affected fix.

>>> import geopandas as gpd
>>> from shapely.geometry import LineString
>>> roads = gpd.GeoDataFrame({"kind": ["major_road"] * 2},
...     geometry=[LineString([(121.48, 31.23), (121.50, 31.23)]), LineString([(121.50, 31.23), (121.50, 31.25)])],
...     crs=4326)
>>> fleet = simulate_fleet(roads, 3, seed=1, hours=("08:00", "09:00"), deviation_share=1.0)
>>> sorted(fleet.truth["type"].unique()), fleet.fixes.columns.tolist()
(['deviation'], ['vehicle_id', 'time', 'lon', 'lat'])
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from scipy import sparse
from scipy.sparse import csgraph

from gridlib.crs import WGS84, metric_crs_for
from gridlib.errors import InputError

__all__ = ["Fleet", "simulate_fleet", "road_routes", "along"]

_DRIVABLE = ("major_road", "minor_road", "highway")


@dataclass
class Fleet:
    """A simulated fleet: inputs for :func:`gridlib.trucks.check` and the planted truth.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import LineString
    >>> roads = gpd.GeoDataFrame(geometry=[LineString([(121.48, 31.24), (121.52, 31.24)]),
    ...     LineString([(121.52, 31.24), (121.52, 31.26)])], crs=4326)
    >>> fleet = simulate_fleet(roads, 2, interval_s=60, n_companies=1)
    >>> from gridlib.trucks import check
    >>> check(fleet.fixes, fleet.permits, sites=fleet.sites).violations.empty
    True
    """

    fixes: pd.DataFrame
    permits: gpd.GeoDataFrame
    sites: gpd.GeoDataFrame
    truth: pd.DataFrame


def road_routes(roads: gpd.GeoDataFrame, n: int, *, seed: int = 0, min_length_m: float = 1500.0,
                metric: pyproj.CRS | None = None) -> gpd.GeoSeries:
    """Draw *n* shortest-path routes between random vertices of the drivable roads (metric CRS).

    Vertices shared by two roads (rounded to 1 m) are junctions.

    >>> from shapely.geometry import LineString
    >>> roads = gpd.GeoDataFrame(geometry=[LineString([(121.48, 31.23), (121.50, 31.23)])], crs=4326)
    >>> r = road_routes(roads, 2, min_length_m=500)
    >>> len(r), bool((r.length > 500).all())
    (2, True)
    """
    rng = np.random.default_rng(seed)
    if "kind" in roads.columns:
        roads = roads[roads["kind"].isin(_DRIVABLE)]
    metric = metric or metric_crs_for(roads)
    geoms = shapely.get_parts(roads.to_crs(metric).geometry.values)
    coords, idx = shapely.get_coordinates(geoms, return_index=True)
    key = np.round(coords).astype(np.int64)
    same = idx[1:] == idx[:-1]
    nodes, node_of = np.unique(key, axis=0, return_inverse=True)
    node_of = node_of.ravel()
    u, v = node_of[:-1][same], node_of[1:][same]
    w = np.hypot(*(coords[1:][same] - coords[:-1][same]).T)
    keep = (w > 0) & (u != v)
    if not keep.any():
        raise InputError("no drivable roads to route on")
    graph = sparse.coo_matrix((w[keep], (u[keep], v[keep])), shape=(len(nodes), len(nodes))).tocsr()
    _, label = csgraph.connected_components(graph, directed=False)
    big = np.flatnonzero(label == np.bincount(label).argmax())
    out: list[shapely.LineString] = []
    for _attempt in range(50):
        want = n - len(out)
        if want <= 0:
            break
        src = rng.choice(big, want)
        dst = rng.choice(big, want)
        far = np.hypot(*(nodes[src] - nodes[dst]).T) >= 0.6 * min_length_m
        src, dst = src[far], dst[far]
        if len(src) == 0:
            continue
        # one Dijkstra call from all sources (C speed), then walk the predecessors back
        dist, pred = csgraph.dijkstra(graph, directed=False, indices=src, return_predecessors=True)
        for k in range(len(src)):  # per route, not per fix
            if not np.isfinite(dist[k, dst[k]]) or dist[k, dst[k]] < min_length_m:
                continue
            path = [dst[k]]
            while path[-1] != src[k]:
                path.append(pred[k, path[-1]])
            out.append(shapely.LineString(nodes[np.array(path[::-1])].astype("float64")))
    if len(out) < n:
        raise InputError(f"could not draw {n} routes of at least {min_length_m} m on this network")
    return gpd.GeoSeries(out[:n], crs=metric)


def along(routes: np.ndarray, route_of: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, ...]:
    """Position and unit left normal at distance *s* along ``routes[route_of]`` (numpy interpolation).

    >>> from shapely.geometry import LineString
    >>> x, y, nx_, ny_ = along(np.array([LineString([(0, 0), (10, 0), (10, 10)])]), np.array([0, 0]),
    ...                        np.array([5.0, 15.0]))
    >>> x.tolist(), y.tolist(), nx_.tolist(), ny_.tolist()
    ([5.0, 10.0], [0.0, 5.0], [-0.0, -1.0], [1.0, 0.0])
    """
    coords, idx = shapely.get_coordinates(routes, return_index=True)
    seg = np.hypot(*np.diff(coords, axis=0).T)
    seg[idx[1:] != idx[:-1]] = 0.0
    cum = np.r_[0.0, np.cumsum(seg)]
    first = np.searchsorted(idx, np.arange(len(routes)))
    base = cum[first]
    lengths = cum[np.r_[first[1:] - 1, len(cum) - 1]] - base
    ss = np.clip(s, 0.0, lengths[route_of])
    # shift each route onto its own stretch of a global axis so one searchsorted serves all
    offset = np.r_[0.0, np.cumsum(lengths + 1.0)[:-1]]
    gcum = cum - base[idx] + offset[idx]
    q = ss + offset[route_of]
    k = np.searchsorted(gcum, q, side="right") - 1
    last = np.r_[first[1:] - 1, len(cum) - 1][route_of]
    k = np.clip(k, first[route_of], last - 1)
    d = gcum[k + 1] - gcum[k]
    u = np.where(d > 0, (q - gcum[k]) / np.where(d > 0, d, 1.0), 0.0)
    dx = coords[k + 1, 0] - coords[k, 0]
    dy = coords[k + 1, 1] - coords[k, 1]
    x = coords[k, 0] + u * dx
    y = coords[k, 1] + u * dy
    norm = np.where(d > 0, d, 1.0)
    return x, y, -dy / norm, dx / norm


def _shuttle(tau: np.ndarray, length: np.ndarray, v: np.ndarray, dwell_d: np.ndarray, dwell_o: np.ndarray) -> np.ndarray:
    """Distance along the route at time *tau* after leaving the origin, for a shuttle."""
    leg = length / v
    period = 2 * leg + dwell_d + dwell_o
    ph = np.mod(tau, period)
    return np.select(
        [ph < leg, ph < leg + dwell_d, ph < 2 * leg + dwell_d],
        [ph * v, length, length - (ph - leg - dwell_d) * v],
        0.0,
    )


def _hhmm(text: str) -> int:
    h, m = text.split(":")
    return int(h) * 3600 + int(m) * 60


def simulate_fleet(
    roads: gpd.GeoDataFrame,
    n_vehicles: int,
    *,
    date: str = "2026-11-20",
    interval_s: int = 10,
    seed: int = 0,
    noise_m: float = 10.0,
    corridor_m: float = 50.0,
    hours: tuple[str, str] = ("06:00", "22:00"),
    n_routes: int | None = None,
    n_companies: int = 20,
    deviation_share: float = 0.0,
    dumping_share: float = 0.0,
    silence_share: float = 0.0,
    no_permit_share: float = 0.0,
    late_share: float = 0.0,
) -> Fleet:
    """Simulate one day of a muck-truck fleet.

    Parameters
    ----------
    roads : geopandas.GeoDataFrame
        Road lines (Tilezen ``kind`` is used to keep drivable roads when present).
    n_vehicles : int
    date : str
        The local day simulated.
    interval_s : int
        Seconds between fixes.
    noise_m : float
        Standard deviation of the GPS noise per axis.
    corridor_m : float
        Permit corridor half-width.
    hours : (str, str)
        Permitted hours, also the shift; ``("22:00", "06:00")`` gives night shifts that
        run into the next day.
    deviation_share, dumping_share, silence_share, no_permit_share, late_share : float
        Share of vehicles with one planted event of each kind (independent draws).

    Returns
    -------
    Fleet
        ``truth`` has ``vehicle_id``, ``type``, ``start``, ``end`` (first/last affected fix),
        and ``offset_m`` for deviations.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import LineString
    >>> roads = gpd.GeoDataFrame(geometry=[LineString([(121.48, 31.24), (121.52, 31.24)]),
    ...     LineString([(121.52, 31.24), (121.52, 31.26)])], crs=4326)
    >>> fleet = simulate_fleet(roads, 2, interval_s=60, n_companies=1)
    >>> sorted(fleet.fixes["vehicle_id"].unique()), fleet.fixes.columns.tolist()
    (['沪D00000', '沪D00001'], ['vehicle_id', 'time', 'lon', 'lat'])
    >>> len(fleet.permits), len(fleet.truth)   # no planted events asked for
    (2, 0)
    """
    rng = np.random.default_rng(seed)
    metric = metric_crs_for(roads)
    n_routes = n_routes or max(1, min(n_vehicles, 300))
    routes = road_routes(roads, n_routes, seed=seed, metric=metric).to_numpy()
    lengths = shapely.length(routes)
    vid = np.array([f"沪D{i:05d}" for i in range(n_vehicles)], dtype=object)
    route_of = rng.integers(0, n_routes, n_vehicles)
    v = rng.uniform(6.0, 11.0, n_vehicles)  # m/s, 22-40 km/h in town
    dwell_d = rng.uniform(480, 900, n_vehicles)
    dwell_o = rng.uniform(600, 1200, n_vehicles)
    day0 = np.datetime64(date, "s").astype(np.int64)
    h0, h1 = _hhmm(hours[0]), _hhmm(hours[1])
    span = (h1 - h0) % 86400 or 86400
    late = rng.random(n_vehicles) < late_share
    no_permit = rng.random(n_vehicles) < no_permit_share
    # shift start within the first half hour of the window, end in its last 20 minutes (a quarter of a
    # short window); a late vehicle keeps driving 20-40 min after it
    start = day0 + h0 + rng.integers(0, min(1800, span // 4), n_vehicles) // interval_s * interval_s
    stop = (day0 + h0 + span - rng.integers(0, min(1200, span // 4), n_vehicles)
            + np.where(late, rng.integers(1200, 2400, n_vehicles), 0))
    counts = ((stop - start) // interval_s + 1).astype(np.int64)
    veh = np.repeat(np.arange(n_vehicles), counts)
    first = np.r_[0, np.cumsum(counts)[:-1]]
    t = start[veh] + (np.arange(counts.sum()) - first[veh]) * interval_s
    tau = (t - start[veh]).astype("float64")
    truth = []

    # dumping: the truck stops on the way for 15-30 minutes (time warp freezes the shuttle)
    # (a vehicle without a permit stopping inside any registered site is not suspected dumping)
    dump = (rng.random(n_vehicles) < dumping_share) & ~no_permit
    p0 = np.full(n_vehicles, np.inf)
    pd_ = np.zeros(n_vehicles)
    leg = lengths[route_of] / v
    for i in np.flatnonzero(dump):  # planning per vehicle, not per fix
        period = 2 * leg[i] + dwell_d[i] + dwell_o[i]
        k = rng.integers(0, max(1, int((stop[i] - start[i] - 2400) // period)))
        p0[i] = k * period + rng.uniform(0.3, 0.7) * leg[i]
        pd_[i] = rng.uniform(900, 1800)
        truth.append((vid[i], "unpermitted_stop", start[i] + p0[i], start[i] + p0[i] + pd_[i], np.nan))
    warped = tau - np.clip(tau - p0[veh], 0.0, pd_[veh])
    s = _shuttle(warped, lengths[route_of][veh], v[veh], dwell_d[veh], dwell_o[veh])
    x, y, nx_, ny_ = along(routes, route_of[veh], s)

    # deviations: a lateral detour during a driving leg, 30-s ramps at both ends
    dev = (rng.random(n_vehicles) < deviation_share) & ~no_permit  # no permit, no route to leave
    a = np.full(n_vehicles, np.inf)
    dur = np.zeros(n_vehicles)
    off = np.zeros(n_vehicles)
    for i in np.flatnonzero(dev):
        period = 2 * leg[i] + dwell_d[i] + dwell_o[i]
        ncyc = max(1, int((stop[i] - start[i] - 600) // period))
        k = rng.integers(0, ncyc)
        back = rng.random() < 0.5
        leg_start = k * period + (leg[i] + dwell_d[i] if back else 0.0)
        room = leg[i] - 120.0
        if room < 90 or (not np.isinf(p0[i]) and abs(leg_start - p0[i]) < period):
            continue
        dur[i] = rng.uniform(90.0, min(900.0, room))
        a[i] = leg_start + rng.uniform(60.0, leg[i] - 60.0 - dur[i])
        off[i] = rng.uniform(120.0, 400.0) * rng.choice([-1.0, 1.0])
    ramp = np.clip(np.minimum(tau - a[veh], a[veh] + dur[veh] - tau) / 30.0, 0.0, 1.0)
    lateral = off[veh] * ramp
    dx, dy = x + lateral * nx_, y + lateral * ny_
    # the truth is geometric: a detour that passes near another stretch of the route is not planted
    sub = np.flatnonzero(lateral != 0)
    true_d = np.zeros(len(x))
    if len(sub):
        from gridlib.trucks.route import route_distance

        true_d[sub] = route_distance(dx[sub], dy[sub], route_of[veh[sub]], routes, cell_m=1000.0)
    for i in np.flatnonzero(np.isfinite(a)):
        lo, hi = first[i], first[i] + counts[i]
        full = (ramp[lo:hi] == 1.0)
        if full.any() and true_d[lo:hi][full].min() < 2.5 * corridor_m:
            dx[lo:hi], dy[lo:hi] = x[lo:hi], y[lo:hi]
            continue
        sel = lo + np.flatnonzero(true_d[lo:hi] > corridor_m)
        if len(sel):
            truth.append((vid[i], "deviation", t[sel[0]], t[sel[-1]], abs(off[i])))
    x, y = dx, dy
    x = x + rng.normal(0.0, noise_m, len(x))
    y = y + rng.normal(0.0, noise_m, len(y))

    # silences: 10-20 minutes without fixes while driving
    sil = rng.random(n_vehicles) < silence_share
    keep = np.ones(len(t), dtype=bool)
    moving = np.r_[np.diff(s) != 0, False] & np.r_[veh[1:] == veh[:-1], False]
    for i in np.flatnonzero(sil):
        lo, hi = first[i], first[i] + counts[i]
        cand = lo + np.flatnonzero(moving[lo:hi - 60])
        if len(cand) == 0:
            continue
        j = cand[rng.integers(0, len(cand))]
        cut = np.arange(j + 1, j + 1 + int(rng.uniform(330, 600) // interval_s))
        if np.hypot(x[cut[-1] + 1] - x[j], y[cut[-1] + 1] - y[j]) < 300:
            continue
        keep[cut] = False
        truth.append((vid[i], "gps_silence", t[j], t[cut[-1] + 1], np.nan))

    tr = pyproj.Transformer.from_crs(metric, WGS84, always_xy=True)
    lon, lat = tr.transform(x[keep], y[keep])
    fixes = pd.DataFrame({
        "vehicle_id": pd.Categorical.from_codes(veh[keep], categories=vid),
        "time": t[keep].astype("datetime64[s]"),
        "lon": np.round(lon, 7), "lat": np.round(lat, 7),
    })

    # sites: 160 m squares around both ends of each route
    ends = np.array([[r.coords[0], r.coords[-1]] for r in routes])  # per route, not per fix
    sites = gpd.GeoDataFrame({
        "site_id": [f"C{k:04d}" for k in range(n_routes)] + [f"D{k:04d}" for k in range(n_routes)],
        "kind": ["construction"] * n_routes + ["disposal"] * n_routes,
        "name_zh": [f"工地{k}" for k in range(n_routes)] + [f"消纳场{k}" for k in range(n_routes)],
    }, geometry=shapely.buffer(shapely.points(np.r_[ends[:, 0], ends[:, 1]]), 80.0, cap_style="square"), crs=metric)
    sites = sites.to_crs(WGS84)

    d = np.datetime64(date, "D")
    permits = gpd.GeoDataFrame({
        "permit_id": [f"P{i:05d}" for i in range(n_vehicles)],
        "vehicle_id": vid,
        "company": [f"渣土运输公司{k:02d}" for k in rng.integers(0, n_companies, n_vehicles)],
        "valid_from": np.where(no_permit, d - 30, d - 10).astype(str),
        "valid_to": np.where(no_permit, d - 1, d + 20).astype(str),
        "hours": f"{hours[0]}-{hours[1]}",
        "corridor_m": corridor_m,
        "origin_site": [f"C{k:04d}" for k in route_of],
        "destination_site": [f"D{k:04d}" for k in route_of],
    }, geometry=routes[route_of], crs=metric).to_crs(WGS84)
    for i in np.flatnonzero(no_permit):
        truth.append((vid[i], "no_permit", start[i], stop[i], np.nan))
    for i in np.flatnonzero(late & ~no_permit):
        lo, hi = first[i], first[i] + counts[i]
        after = lo + np.flatnonzero(moving[lo:hi] & keep[lo:hi] & (t[lo:hi] >= day0 + h0 + span))
        if len(after):  # the first and last fix driving after the window closed
            truth.append((vid[i], "outside_hours", t[after[0]], t[min(after[-1] + 1, hi - 1)], np.nan))
    truth_df = pd.DataFrame(truth, columns=["vehicle_id", "type", "start", "end", "offset_m"])
    for col in ("start", "end"):
        truth_df[col] = np.asarray(np.round(truth_df[col].to_numpy(dtype="float64")), dtype=np.int64).astype("datetime64[s]")
    truth_df = truth_df.sort_values(["vehicle_id", "type", "start"], kind="stable").reset_index(drop=True)
    return Fleet(fixes=fixes, permits=permits, sites=sites, truth=truth_df)
