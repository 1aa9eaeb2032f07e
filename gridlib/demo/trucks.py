"""One synthetic night of muck trucks (渣土车) on the real demo road network.

Sites sit beside road junctions; every permit's route is a real shortest path on
the road graph (networkx, junctions = shared road vertices). Trucks shuttle between
their origin and destination sites; positions are interpolated along the path with
numpy/shapely array calls, then get Gaussian GPS noise, irregular 10–30 s sampling
and dropped fixes. Planted, and listed in the truth: route deviations (a detour over
real roads), unpermitted stops, a vehicle without a permit and a GPS silence.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
import shapely.affinity

from gridlib.demo._area import METRIC_EPSG, Area, fmt_times, to_lonlat
from gridlib.errors import InputError

__all__ = ["Night", "road_graph", "night"]

COMPANIES = ("沪东示例渣土运输有限公司", "浦江示例建筑垃圾清运有限公司", "陆家嘴示例运输有限公司", "滨江示例物流有限公司")
CORRIDOR_M = 50.0
HOURS = "22:00-06:00"


@dataclass
class Night:
    """One simulated truck night: construction/disposal ``sites``, ``permits``, GPS ``fixes``
    (``vehicle_id``, ``time``, ``lon``, ``lat``, ``speed_kmh``) and the planted ``events`` (the truth).

    Examples
    --------
    >>> import numpy as np
    >>> from gridlib.demo._area import load_area
    >>> area = load_area()   # the real Lujiazui-area layers bundled in data/
    >>> n = night(area, np.random.default_rng(0), date="2026-11-20", n_trucks=9)
    >>> type(n).__name__, n.fixes.columns.tolist(), sorted({e["type"] for e in n.events})[:3]
    ('Night', ['vehicle_id', 'time', 'lon', 'lat', 'speed_kmh'], ['deviation', 'duplicate_fix', 'gps_silence'])
    """

    sites: gpd.GeoDataFrame
    permits: gpd.GeoDataFrame
    fixes: pd.DataFrame
    events: list[dict] = field(default_factory=list)


def road_graph(area: Area) -> tuple[nx.Graph, np.ndarray]:
    """Undirected road graph of the longest connected part; node = vertex key (1 m grid).

    Returns the graph and the (n, 2) coordinates of its nodes, indexed by node id.

    Examples
    --------
    >>> import numpy as np
    >>> from gridlib.demo._area import load_area
    >>> area = load_area()   # the real Lujiazui-area layers bundled in data/
    >>> import networkx as nx
    >>> graph, xy = road_graph(area)
    >>> nx.is_connected(graph), graph.number_of_nodes() > 1000, xy.shape[1]
    (True, True, 2)
    """
    coords, part = shapely.get_coordinates(area.roads.geometry.values, return_index=True)
    key = np.round(coords).astype(np.int64)
    uniq, node = np.unique(key, axis=0, return_inverse=True)
    node = node.ravel()
    same = part[1:] == part[:-1]
    a, b = node[:-1][same], node[1:][same]
    w = np.hypot(*(uniq[a] - uniq[b]).T)
    graph = nx.Graph()
    graph.add_weighted_edges_from(zip(a.tolist(), b.tolist(), w.tolist(), strict=True))
    graph.remove_edges_from(nx.selfloop_edges(graph))
    def length(nodes: set) -> float:
        return graph.subgraph(nodes).size(weight="weight")

    # the river splits the surface network in two (its tunnels are left out): keep the longer side
    biggest = max(nx.connected_components(graph), key=lambda c: (length(c), min(c)))
    return graph.subgraph(biggest).copy(), uniq.astype(float)


def _path_line(graph: nx.Graph, xy: np.ndarray, a: int, b: int) -> tuple[list[int], shapely.LineString]:
    nodes = nx.shortest_path(graph, a, b, weight="weight")
    return nodes, shapely.linestrings(xy[nodes])


def _sites(area: Area, graph: nx.Graph, xy: np.ndarray, rng: np.random.Generator,
           n_construction: int, n_disposal: int) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Rectangular sites beside well-connected junctions, spread over the area."""
    nodes = np.array(sorted(n for n in graph.nodes if graph.degree(n) >= 3))
    nodes = nodes[area.on_land(xy[nodes, 0], xy[nodes, 1])]
    # disposal sites at the east and south-east edge (towards the city's disposal grounds), construction elsewhere
    east = xy[nodes, 0] > np.quantile(xy[nodes, 0], 0.85)
    picks: list[int] = []
    for pool, n in ((nodes[east], n_disposal), (nodes[~east], n_construction)):
        for _ in range(n):
            far = pool if not picks else pool[np.min(np.hypot(*(xy[pool][:, None, :] - xy[picks][None, :, :]).T),
                                                     axis=0) > 500.0]
            picks.append(int(rng.choice(far if len(far) else pool)))
    picks_arr = np.array(picks)
    kinds = ["disposal"] * n_disposal + ["construction"] * n_construction
    ids = [f"DS{i:02d}" for i in range(1, n_disposal + 1)] + [f"CS{i:02d}" for i in range(1, n_construction + 1)]
    angle = rng.uniform(0, np.pi, len(picks_arr))
    polys = []
    for (x, y), t, (w, h) in zip(xy[picks_arr], angle, rng.uniform(60, 120, (len(picks_arr), 2)), strict=True):
        # trucks load and unload at the junction node, so it lies well inside the site (≥ 30 m from the fence)
        rect = shapely.box(-w / 2, -h / 2, w / 2, h / 2)
        polys.append(shapely.affinity.translate(shapely.affinity.rotate(rect, np.degrees(t), origin=(0, 0)), x, y))
    names = [f"示例{'消纳场' if k == 'disposal' else '工地'}{i[2:]}" for k, i in zip(kinds, ids, strict=True)]
    sites = gpd.GeoDataFrame({"site_id": ids, "kind": kinds, "name": names}, geometry=polys, crs=METRIC_EPSG)
    return sites, picks_arr


def _detour(graph: nx.Graph, xy: np.ndarray, nodes: list[int], rng: np.random.Generator
            ) -> tuple[list[int], float] | None:
    """Replace a stretch of the route by the best path that avoids it (a real-road detour)."""
    line = shapely.linestrings(xy[nodes])
    cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy[nodes], axis=0).T))])
    for _ in range(100):
        i = int(rng.integers(1, max(2, len(nodes) - 2)))
        j = int(np.searchsorted(cum, cum[i] + rng.uniform(400, 2000)))
        if j >= len(nodes) - 1:
            continue
        g = graph.copy()
        g.remove_edges_from(zip(nodes[i:j], nodes[i + 1:j + 1], strict=True))
        try:
            alt = nx.shortest_path(g, nodes[i], nodes[j], weight="weight")
        except nx.NetworkXNoPath:
            continue
        dense = shapely.get_coordinates(shapely.segmentize(shapely.linestrings(xy[alt]), 5.0))
        off = shapely.distance(shapely.points(dense), line)
        out = off > CORRIDOR_M
        # one clean excursion of at least 800 m (over a minute): leaves the corridor once, comes back once
        if (150.0 <= off.max() <= 800.0 and out.sum() * 5.0 >= 800.0
                and np.count_nonzero(np.diff(out.astype(int)) == 1) == 1):
            return nodes[:i] + alt + nodes[j + 1:], float(off.max())
    return None


def _insert_stop(legs: list, at: float, dur: float) -> tuple[list, tuple[float, float, float]]:
    """Halt the first leg at fraction *at* for *dur* seconds; later legs shift by *dur*."""
    t0, t1, s0, s1 = legs[0]
    ts, ss = t0 + (t1 - t0) * at, s0 + (s1 - s0) * at
    head = [(t0, ts, s0, ss), (ts, ts + dur, ss, ss), (ts + dur, t1 + dur, ss, s1)]
    tail = [(a + dur, b + dur, c, d) for a, b, c, d in legs[1:]]
    return head + tail, (ts, ts + dur, ss)


def _silence(t: np.ndarray, lt0: np.ndarray, ls0: np.ndarray, ls1: np.ndarray, x: np.ndarray, y: np.ndarray,
             rng: np.random.Generator) -> np.ndarray:
    """Fixes lost to a silence that starts as a trip starts, so the truck is far away when it ends."""
    trips = np.flatnonzero(ls1 != ls0)
    for leg in rng.permutation(trips[1:-1] if len(trips) > 2 else trips):
        t0 = lt0[leg] + 15.0
        quiet = (t > t0) & (t < t0 + rng.uniform(330, 450))
        q = np.flatnonzero(quiet)
        if len(q) and q[0] > 0 and q[-1] + 1 < len(t):
            a, b = q[0] - 1, q[-1] + 1
            if np.hypot(x[b] - x[a], y[b] - y[a]) > 400.0:
                return quiet
    return np.zeros(len(t), dtype=bool)


def _shift_after_first(legs: list, extra: float) -> list:
    """Lengthen the first leg by *extra* seconds and shift the later legs."""
    t0, t1, s0, s1 = legs[0]
    return [(t0, t1 + extra, s0, s1)] + [(a + extra, b + extra, c, d) for a, b, c, d in legs[1:]]


def _schedule(path_len: float, speed: float, t0: float, t_end: float, dwell_range: tuple[float, float],
              rng: np.random.Generator) -> list[tuple[float, float, float, float]]:
    """Shuttle legs (t_start, t_stop, s_start, s_stop) along a there-and-back path of length 2·path_len."""
    legs, t, forward = [], t0, True
    while t < t_end:
        dur = path_len / (speed * rng.uniform(0.85, 1.15))
        s0, s1 = (0.0, path_len) if forward else (path_len, 2 * path_len)
        legs.append((t, t + dur, s0, s1))
        dwell = rng.uniform(*dwell_range)
        legs.append((t + dur, t + dur + dwell, s1, s1))
        t += dur + dwell
        forward = not forward
        if forward and t > t_end - 2 * path_len / speed - 900.0:  # no new round trip that cannot end by 06:00
            break
    return legs


def night(area: Area, rng: np.random.Generator, *, date: str, n_trucks: int = 20, n_construction: int = 5,
          n_disposal: int = 2, n_deviations: int = 4, n_stops: int = 3, noise_m: float = 8.0) -> Night:
    """Sites, permits and GPS fixes of one night (22:00 on *date* to 06:00 the next day).

    Every planted event needs a truck of its own: *n_deviations* route deviations,
    *n_stops* unpermitted stops, one truck without a permit and one GPS silence
    (``n_deviations + n_stops + 2`` trucks, 9 by default). A smaller fleet gets fewer
    planted events, handed out in turn (a deviation, a stop, no permit, a silence, a
    deviation, ...), so a fleet of 4 still carries one event of each kind; ``events``
    lists only those planted. A fleet at least that large is unchanged by this rule.

    Raises
    ------
    InputError
        If ``n_trucks``, ``n_construction`` or ``n_disposal`` is below 1, ``n_deviations``,
        ``n_stops`` or ``noise_m`` is negative, or *date* is not a date.

    Examples
    --------
    >>> import numpy as np
    >>> from gridlib.demo._area import load_area
    >>> area = load_area()   # the real Lujiazui-area layers bundled in data/
    >>> n = night(area, np.random.default_rng(0), date="2026-11-20", n_trucks=9)
    >>> n.fixes["vehicle_id"].nunique(), len(n.sites), len(n.permits)
    (9, 7, 8)
    >>> small = night(area, np.random.default_rng(0), date="2026-11-20", n_trucks=2)
    >>> small.fixes["vehicle_id"].nunique(), sorted({e["type"] for e in small.events} - {"duplicate_fix"})
    (2, ['deviation', 'unpermitted_stop'])
    >>> night(area, np.random.default_rng(0), date="2026-11-20", n_trucks=0)
    Traceback (most recent call last):
    ...
    gridlib.errors.InputError: n_trucks=0: a night needs at least one truck
    >>> import pandas as pd
    >>> t = n.fixes["time"]
    >>> bool(t.min() >= pd.Timestamp("2026-11-20 22:00")), bool(t.max() <= pd.Timestamp("2026-11-21 06:00"))
    (True, True)
    """
    _check_night_args(date, n_trucks, n_construction, n_disposal, n_deviations, n_stops, noise_m)
    n_deviations, n_stops, n_no_permit, n_silence = _role_counts(n_trucks, n_deviations, n_stops)
    graph, xy = road_graph(area)
    sites, gates = _sites(area, graph, xy, rng, n_construction, n_disposal)
    origin = rng.integers(n_disposal, n_disposal + n_construction, n_trucks)
    dest = rng.integers(0, n_disposal, n_trucks)
    start = pd.Timestamp(date) + pd.Timedelta(hours=22)
    t_end = 8 * 3600.0
    vehicles = [f"沪D{int(v):05d}" for v in rng.choice(90000, n_trucks, replace=False) + 10000]
    company = rng.choice(COMPANIES, n_trucks)
    all_sites = shapely.union_all(sites.geometry.values)
    paths = [_path_line(graph, xy, int(gates[origin[k]]), int(gates[dest[k]])) for k in range(n_trucks)]
    # detours need room: the deviating trucks are drawn from those with the longer routes
    roles = np.array(["normal"] * n_trucks, dtype=object)
    by_length = np.argsort([-p[1].length for p in paths], kind="stable")
    roles[rng.choice(by_length[: max(n_deviations, n_trucks // 2)], n_deviations, replace=False)] = "deviation"
    rest = rng.permutation(np.flatnonzero(roles == "normal"))
    roles[rest[:n_stops]] = "stop"
    roles[rest[n_stops:n_stops + n_no_permit]] = "no_permit"
    roles[rest[n_stops + n_no_permit:n_stops + n_no_permit + n_silence]] = "silence"

    permits, fixes, events = [], [], []
    for k in range(n_trucks):
        nodes, route = paths[k]
        detour = _detour(graph, xy, nodes, rng) if roles[k] == "deviation" else None
        if roles[k] == "deviation" and detour is None:
            roles[k] = "normal"
        permit_id = f"ZT2026{k + 1:04d}" if roles[k] != "no_permit" else ""
        if permit_id:
            permits.append({
                "permit_id": permit_id, "vehicle_id": vehicles[k], "company": company[k],
                "valid_from": (pd.Timestamp(date) - pd.Timedelta(days=int(rng.integers(5, 40)))).strftime("%Y-%m-%d"),
                "valid_to": (pd.Timestamp(date) + pd.Timedelta(days=int(rng.integers(5, 60)))).strftime("%Y-%m-%d"),
                "hours": HOURS, "corridor_m": CORRIDOR_M, "origin_site": sites["site_id"].iloc[origin[k]],
                "destination_site": sites["site_id"].iloc[dest[k]], "geometry": route,
            })
        speed = rng.uniform(7.0, 10.0)  # m/s ≈ 25–36 km/h at night in town
        legs = _schedule(route.length, speed, rng.uniform(0, 5400), t_end, (300.0, 900.0), rng)
        if roles[k] == "stop":  # an unpermitted stop part-way along the first outbound trip, away from sites
            at = rng.uniform(0.3, 0.7, 20)
            clear = shapely.distance(shapely.line_interpolate_point(route, at, normalized=True), all_sites) > 80.0
            legs, stop = _insert_stop(legs, float(at[np.argmax(clear)]), rng.uniform(600, 1200))
        if detour is not None:  # the detour is longer: the first trip takes longer at the same speed
            alt = shapely.linestrings(xy[detour[0]])
            legs = _shift_after_first(legs, (alt.length - route.length) / speed)
        interval = float(rng.choice([10, 15, 20, 30]))
        t = np.arange(legs[0][0], legs[-1][1], interval)
        t = t + rng.uniform(-1.0, 1.0, len(t))  # the receiver's clock jitters by up to a second
        t = t[(t >= 0) & (t < t_end)]
        lt0, lt1, ls0, ls1 = (np.array(c) for c in zip(*legs, strict=True))
        leg = np.clip(np.searchsorted(lt0, t, side="right") - 1, 0, len(legs) - 1)
        frac = np.clip((t - lt0[leg]) / np.maximum(lt1[leg] - lt0[leg], 1e-9), 0, 1)
        s = ls0[leg] + frac * (ls1[leg] - ls0[leg])
        moving = (ls1[leg] != ls0[leg]) & (frac < 1)
        # s runs 0..L out and L..2L back; the first outbound trip of a deviating truck takes the detour
        lines = np.array([route, route.reverse()], dtype=object)
        back = s > route.length
        geoms, dist = lines[back.astype(int)], np.where(back, s - route.length, s)
        first_out = (t < lt1[0]) & ~back
        if detour is not None:
            geoms = np.where(first_out, alt, geoms)
            dist = np.where(first_out, dist * alt.length / route.length, dist)
        clean = shapely.line_interpolate_point(geoms, dist)
        x, y = shapely.get_coordinates(clean).T
        speed_kmh = np.where(moving, speed * 3.6 * rng.uniform(0.7, 1.2, len(t)), rng.uniform(0, 2, len(t)))
        x = x + rng.normal(0, noise_m, len(t))
        y = y + rng.normal(0, noise_m, len(t))
        keep = rng.random(len(t)) > 0.02  # dropped fixes
        if rng.random() < 0.3:  # a short gap (tunnel-like shadow), shorter than a silence
            g0 = rng.uniform(t[0], t[-1])
            keep &= ~((t > g0) & (t < g0 + rng.uniform(45, 90)))
        if roles[k] == "silence":  # the receiver goes quiet for 5.5–7.5 minutes while the truck drives on
            quiet = _silence(t, lt0, ls0, ls1, x, y, rng)
            keep &= ~quiet
        times = start + pd.to_timedelta(np.floor(t), "s")
        lon, lat = to_lonlat(x, y)
        fixes.append(pd.DataFrame({"vehicle_id": vehicles[k], "time": times, "lon": lon, "lat": lat,
                                   "speed_kmh": np.round(speed_kmh, 1)})[keep])
        if detour is not None:
            out = np.flatnonzero(keep & first_out & (shapely.distance(clean, route) > CORRIDOR_M))
            events.append(_event("deviation", vehicles[k], permit_id, times[out[0]], times[out[-1]],
                                 max_offset_m=round(detour[1], 1), corridor_m=CORRIDOR_M))
        elif roles[k] == "stop":
            held = np.flatnonzero(keep & (t >= stop[0]) & (t < stop[1]))
            sx, sy = shapely.get_coordinates(shapely.line_interpolate_point(route, stop[2]))[0]
            slon, slat = to_lonlat(np.array([sx]), np.array([sy]))
            events.append(_event("unpermitted_stop", vehicles[k], permit_id, times[held[0]], times[held[-1]],
                                 lon=float(slon[0]), lat=float(slat[0])))
        elif roles[k] == "no_permit":
            kept = np.flatnonzero(keep)
            events.append(_event("no_permit", vehicles[k], "", times[kept[0]], times[kept[-1]]))
        elif roles[k] == "silence" and quiet.any():
            kept = np.flatnonzero(keep)
            before, after = kept[kept < np.flatnonzero(quiet)[0]][-1], kept[kept > np.flatnonzero(quiet)[-1]][0]
            events.append(_event("gps_silence", vehicles[k], permit_id, times[before], times[after]))
    fix = pd.concat(fixes, ignore_index=True)
    n_dup = min(10, len(fix))
    dup = fix.iloc[np.sort(rng.choice(len(fix), n_dup, replace=False))]
    fix = pd.concat([fix, dup], ignore_index=True).sort_values(["vehicle_id", "time"], kind="stable")
    events.append({"type": "duplicate_fix", "count": n_dup, "vehicle_id": "", "permit_id": ""})
    permits_gdf = gpd.GeoDataFrame(permits, crs=METRIC_EPSG)
    return Night(sites=sites, permits=permits_gdf, fixes=fix.reset_index(drop=True), events=events)


def _check_night_args(date: str, n_trucks: int, n_construction: int, n_disposal: int, n_deviations: int,
                      n_stops: int, noise_m: float) -> None:
    """Raise InputError naming the argument and the rule when :func:`night` cannot run."""
    if n_trucks < 1:
        raise InputError(f"n_trucks={n_trucks}: a night needs at least one truck")
    if n_construction < 1 or n_disposal < 1:
        raise InputError(f"n_construction={n_construction}, n_disposal={n_disposal}: every truck needs an origin "
                         "(construction) and a destination (disposal) site, so both must be at least 1")
    if n_deviations < 0 or n_stops < 0:
        raise InputError(f"n_deviations={n_deviations}, n_stops={n_stops}: counts of planted events cannot be negative")
    if not noise_m >= 0:
        raise InputError(f"noise_m={noise_m}: the GPS noise is a standard deviation in metres, at least 0")
    try:
        np.datetime64(date, "D")
    except ValueError as exc:
        raise InputError(f"date={date!r} is not a date (YYYY-MM-DD)") from exc


def _role_counts(n_trucks: int, n_deviations: int, n_stops: int) -> tuple[int, int, int, int]:
    """Trucks per planted role (deviation, stop, no permit, silence), handed out in turn while trucks last.

    >>> _role_counts(20, 4, 3), _role_counts(9, 4, 3), _role_counts(4, 4, 3), _role_counts(1, 4, 3)
    ((4, 3, 1, 1), (4, 3, 1, 1), (1, 1, 1, 1), (1, 0, 0, 0))
    >>> _role_counts(6, 4, 3), _role_counts(2, 0, 3)
    ((2, 2, 1, 1), (0, 1, 1, 0))
    """
    wanted = [n_deviations, n_stops, 1, 1]
    got = [0, 0, 0, 0]
    left = n_trucks
    while left and got != wanted:
        for i in range(4):
            if left and got[i] < wanted[i]:
                got[i] += 1
                left -= 1
    return got[0], got[1], got[2], got[3]


def _event(kind: str, vehicle: str, permit: str, start: pd.Timestamp, end: pd.Timestamp, **extra: float) -> dict:
    return {"type": kind, "vehicle_id": vehicle, "permit_id": permit,
            "start": fmt_times([start])[0], "end": fmt_times([end])[0], **extra}
