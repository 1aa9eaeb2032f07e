"""Routable road graph, travel-time isochrones and nearest team by network time.

:func:`build_graph` rebuilds topology from geometry alone (the demo-area roads carry
no node ids): every vertex is a potential node, vertices closer than ``merge_m``
(5 cm: coordinate rounding) are one node, and a dangling line end within ``snap_m``
(1 m) of another line (a T-junction drawn without a shared vertex) is joined to it.
Crossings without a shared vertex (bridges, tunnels) stay unconnected. On central
Helsinki, whose OSM ways carry node ids, this reproduces the OSM topology: shortest
times between random nodes agree for 99.7 % of pairs (tests/test_network.py). Each straight segment becomes an edge with a
forward and a backward travel time (``inf`` where a one-way forbids it) from the
speed of its road class (:data:`SPEEDS_KMH`).

Routing runs as one multi-source Dijkstra (``scipy.sparse.csgraph``) from all bases
at once: a virtual node per base joins the road at the point nearest the base; a
target (grid centre, new case) is reached through either end of its nearest
segment. Points snap only to the largest strongly connected part of the graph (when
it holds at least half the segments; else the largest connected part), so a base or
grid beside a stray fragment or a one-way stub is not cut off. The walk between a point and the road (``access_m``) is timed at
``access_speed_kmh``.

>>> import geopandas as gpd
>>> from shapely import LineString, Point
>>> roads = gpd.GeoDataFrame({"highway": ["residential"]}, geometry=[LineString([(0, 0), (1000, 0)])], crs=4547)
>>> g = build_graph(roads)
>>> bases = gpd.GeoDataFrame({"base_id": ["b1"]}, geometry=[Point(0, 0)], crs=4547)
>>> case = gpd.GeoDataFrame(geometry=[Point(500, 0)], crs=4547)
>>> round(float(nearest_base(g, bases, case).time_min.iloc[0]), 2)  # 500 m at 20 km/h
1.5
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from gridlib.crs import metric_crs_for
from gridlib.errors import InputError

__all__ = ["SPEEDS_KMH", "RoadGraph", "arrival_times", "build_graph", "reachability", "nearest_base", "isochrones",
           "share_time", "snap_points", "travel_times"]

log = logging.getLogger(__name__)

#: Travel speed (km/h) of a city-management team by road class (OSM ``highway`` / Tilezen
#: ``kind_detail``, then Tilezen ``kind``): urban traffic, e-bikes or patrol cars. 0 = not routable.
SPEEDS_KMH: dict[str, float] = {
    "motorway": 60, "trunk": 45, "primary": 35, "secondary": 30, "tertiary": 25, "unclassified": 20,
    "residential": 20, "living_street": 10, "service": 15, "road": 20,
    "motorway_link": 40, "trunk_link": 30, "primary_link": 25, "secondary_link": 25, "tertiary_link": 20,
    "pedestrian": 8, "footway": 8, "path": 8, "cycleway": 15, "track": 10, "bridleway": 5, "steps": 3,
    "corridor": 5, "platform": 0, "pier": 5,
    "major_road": 30, "minor_road": 20, "highway": 45,
    "rail": 0, "subway": 0, "light_rail": 0, "tram": 0, "funicular": 0, "monorail": 0, "ferry": 0,
    "construction": 0, "proposed": 0, "abandoned": 0, "elevator": 0,
}
_CLASS_COLUMNS = ("road_class", "highway", "kind_detail", "kind", "class")
_YES = {"yes", "true", "1", "y", "t"}
_REVERSE = {"-1", "reverse"}


@dataclass
class RoadGraph:
    """A routable road graph in a metric CRS.

    Segments (undirected geometry) ``seg_u``/``seg_v`` are node indices into ``xy``;
    ``t_fwd``/``t_bwd`` are the travel times in seconds u→v and v→u (``inf`` where
    forbidden); ``seg_road`` is the row of the source road. ``matrix`` is the directed
    sparse time matrix used by csgraph (the fastest of parallel edges); ``segments`` the
    segment lines and ``snap_segments`` those of the main (strongly) connected part, which points snap to.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import LineString
    >>> roads = gpd.GeoDataFrame({"highway": ["residential", "primary"], "oneway": ["no", "yes"]},
    ...     geometry=[LineString([(0, 0), (1000, 0)]), LineString([(1000, 0), (1000, 500)])], crs=4547)
    >>> g = build_graph(roads)
    >>> g.n_nodes, g.seg_u.tolist(), g.seg_v.tolist(), g.length_m.tolist()
    (3, [0, 1], [1, 2], [1000.0, 500.0])
    >>> g.t_fwd.round(1).tolist(), g.t_bwd.tolist()        # seconds; the one-way primary has no way back
    ([180.0, 51.4], [180.0, inf])
    """

    xy: np.ndarray
    seg_u: np.ndarray
    seg_v: np.ndarray
    length_m: np.ndarray
    t_fwd: np.ndarray
    t_bwd: np.ndarray
    seg_road: np.ndarray
    crs: object
    matrix: sp.csr_matrix = field(repr=False)
    segments: np.ndarray = field(repr=False)
    snap_segments: np.ndarray = field(repr=False)
    _tree: shapely.STRtree | None = field(default=None, repr=False)

    @property
    def n_nodes(self) -> int:
        return len(self.xy)

    @property
    def tree(self) -> shapely.STRtree:
        """STRtree over the segments points snap to (``snap_segments``)."""
        if self._tree is None:
            self._tree = shapely.STRtree(self.segments[self.snap_segments])
        return self._tree

    def edges(self) -> pd.DataFrame:
        """Directed edges (``u``, ``v``, ``time_s``, ``length_m``, ``road_row``).

        >>> import geopandas as gpd
        >>> from shapely import LineString
        >>> r = gpd.GeoDataFrame({"oneway": ["yes"]}, geometry=[LineString([(0, 0), (10, 0)])], crs=4547)
        >>> build_graph(r).edges()[["u", "v"]].values.tolist()
        [[0, 1]]
        """
        fwd, bwd = np.isfinite(self.t_fwd), np.isfinite(self.t_bwd)
        return pd.DataFrame({
            "u": np.r_[self.seg_u[fwd], self.seg_v[bwd]],
            "v": np.r_[self.seg_v[fwd], self.seg_u[bwd]],
            "time_s": np.r_[self.t_fwd[fwd], self.t_bwd[bwd]],
            "length_m": np.r_[self.length_m[fwd], self.length_m[bwd]],
            "road_row": np.r_[self.seg_road[fwd], self.seg_road[bwd]],
        })

    def to_networkx(self):
        """The graph as a ``networkx.DiGraph`` (edge attribute ``time_s``, node attributes x, y).

        >>> import geopandas as gpd
        >>> from shapely import LineString
        >>> r = gpd.GeoDataFrame(geometry=[LineString([(0, 0), (10, 0)])], crs=4547)
        >>> build_graph(r).to_networkx().number_of_edges()
        2
        """
        import networkx as nx

        g = nx.DiGraph()
        g.add_nodes_from((i, {"x": x, "y": y}) for i, (x, y) in enumerate(self.xy))
        e = self.edges().sort_values("time_s", ascending=False)  # the fastest parallel edge wins
        g.add_weighted_edges_from(zip(e.u, e.v, e.time_s, strict=True), weight="time_s")
        return g


def _speeds(roads: gpd.GeoDataFrame, speeds: Mapping[str, float] | None, class_col: str | None,
            default_speed_kmh: float) -> np.ndarray:
    table = {**SPEEDS_KMH, **(speeds or {})}
    if class_col is None:
        cols = [c for c in _CLASS_COLUMNS if c in roads.columns]
    elif class_col not in roads.columns:
        raise InputError(f"road class column {class_col!r} not in roads; columns: {list(roads.columns)}")
    else:
        cols = [class_col]
    speed = pd.Series(np.nan, index=roads.index)
    for col in cols:  # most specific column first; fall back to the next where unknown
        values = roads[col].astype("string").str.strip().str.lower()
        speed = speed.fillna(values.map(table).astype(float))
    return speed.fillna(default_speed_kmh).to_numpy(float)


def _oneway(roads: gpd.GeoDataFrame, oneway_col: str | None) -> np.ndarray:
    """+1 forward only, -1 backward only, 0 both ways."""
    if oneway_col is None or oneway_col not in roads.columns:
        return np.zeros(len(roads), dtype=np.int8)
    v = roads[oneway_col].astype("string").str.strip().str.lower().fillna("")
    return np.where(v.isin(_YES), 1, np.where(v.isin(_REVERSE), -1, 0)).astype(np.int8)


def build_graph(
    roads: gpd.GeoDataFrame,
    *,
    snap_m: float = 1.0,
    merge_m: float = 0.05,
    speeds: Mapping[str, float] | None = None,
    class_col: str | None = None,
    oneway_col: str | None = "oneway",
    default_speed_kmh: float = 20.0,
) -> RoadGraph:
    """Build a routable graph from road centre-lines.

    Parameters
    ----------
    roads : GeoDataFrame
        Lines with a CRS. The road class comes from ``class_col`` or the first of
        ``road_class``, ``highway``, ``kind_detail``, ``kind``, ``class`` present.
    snap_m : float
        A dangling line end (touching no other line) this close to another line joins it there.
    merge_m : float
        Vertices of different lines closer than this are one node (coordinate rounding); keep it
        small: two nodes a metre apart are often a bridge over a road, or a kerb beside it.
    speeds : mapping, optional
        Overrides of :data:`SPEEDS_KMH` (class → km/h; 0 drops the class from the graph).
    oneway_col : str, optional
        ``yes``/``true``/``1`` = one-way in drawing direction, ``-1``/``reverse`` = against it.
    default_speed_kmh : float
        Speed of classes not in the table.

    Returns
    -------
    RoadGraph

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import LineString
    >>> roads = gpd.GeoDataFrame({"highway": ["primary", "service"]},
    ...     geometry=[LineString([(0, 0), (100, 0)]), LineString([(50, 0.4), (50, 80)])], crs=4547)
    >>> g = build_graph(roads)   # the service road's end is 0.4 m off the primary: a T-junction
    >>> g.n_nodes, len(g.seg_u)
    (4, 3)
    """
    if roads.crs is None:
        raise InputError("roads have no CRS")
    if not (snap_m >= 0 and merge_m >= 0):
        raise InputError(f"snap_m and merge_m must be >= 0, got {snap_m}, {merge_m}")
    crs = metric_crs_for(roads)
    r = roads.to_crs(crs) if roads.crs != crs else roads
    speed = _speeds(r, speeds, class_col, default_speed_kmh)
    oneway = _oneway(r, oneway_col)
    geoms = np.asarray(r.geometry.values, dtype=object)
    lines, row = shapely.get_parts(geoms, return_index=True)
    keep = (shapely.get_type_id(lines) == 1) & (shapely.length(lines) > 0) & (speed[row] > 0)
    lines, row = lines[keep], row[keep]
    if len(lines) == 0:
        raise InputError("no routable road lines (all empty, not lines, or of a class with speed 0)")

    coords, vline = shapely.get_coordinates(lines, return_index=True)
    seg_len = np.hypot(*np.diff(coords, axis=0).T)
    same = vline[1:] == vline[:-1]
    measure = np.concatenate([[0.0], np.cumsum(np.where(same, seg_len, 0.0))])
    measure -= measure[np.searchsorted(vline, vline)]  # measure from the start of each line

    # merge vertices within merge_m (transitively) into nodes; identical positions always merge
    n = len(coords)
    pairs = cKDTree(coords).query_pairs(max(merge_m, 1e-9), output_type="ndarray")
    adj = sp.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    n_nodes, label = csgraph.connected_components(adj, directed=False)
    xy = np.zeros((n_nodes, 2))
    np.add.at(xy, label, coords)
    xy /= np.bincount(label, minlength=n_nodes)[:, None]

    # T-junctions: a *dangling* line end (its node touches no other line) near another line's
    # interior gets a vertex there; ends already joined to a line are left alone, so a
    # footway ending at a road is not also tied to a parallel one passing within snap_m
    first = np.searchsorted(vline, np.arange(len(lines)))
    last = np.r_[first[1:], len(coords)] - 1
    ends = np.r_[first, last]
    node_line = np.unique(np.c_[label, vline], axis=0)
    lines_at_node = np.bincount(node_line[:, 0], minlength=n_nodes)
    ends = ends[lines_at_node[label[ends]] == 1]
    if snap_m > 0 and len(ends):
        ei, li = shapely.STRtree(lines).query(shapely.points(coords[ends]), predicate="dwithin", distance=snap_m)
        other = vline[ends[ei]] != li
        ei, li = ei[other], li[other]
        at = shapely.line_locate_point(lines[li], shapely.points(coords[ends[ei]]))
        extra_xy = shapely.get_coordinates(shapely.line_interpolate_point(lines[li], at))
        order = np.lexsort((np.r_[measure, at], np.r_[vline, li]))
        coords = np.r_[coords, extra_xy][order]
        vline = np.r_[vline, li][order]
        label = np.r_[label, label[ends[ei]]][order]

    same = vline[1:] == vline[:-1]
    u, v = label[:-1][same], label[1:][same]
    length = np.hypot(*(coords[1:][same] - coords[:-1][same]).T)
    seg_line = vline[:-1][same]
    keep = u != v
    u, v, length, seg_line = u[keep], v[keep], length[keep], seg_line[keep]
    seg_road = row[seg_line]
    t = length / (speed[seg_road] / 3.6)
    ow = oneway[seg_road]
    t_fwd = np.where(ow >= 0, t, np.inf)
    t_bwd = np.where(ow <= 0, t, np.inf)
    segments = shapely.linestrings(np.stack([xy[u], xy[v]], axis=1))  # drawn between the merged nodes

    tail = np.r_[u, v]
    head = np.r_[v, u]
    tt = np.r_[t_fwd, t_bwd]
    ok = np.isfinite(tt)
    tail, head, tt = tail[ok], head[ok], np.maximum(tt[ok], 1e-6)  # csgraph ignores zero weights
    order = np.lexsort((tt, head, tail))
    tail, head, tt = tail[order], head[order], tt[order]
    firsts = np.r_[True, (tail[1:] != tail[:-1]) | (head[1:] != head[:-1])]
    matrix = sp.csr_matrix((tt[firsts], (tail[firsts], head[firsts])), shape=(n_nodes, n_nodes))
    # points snap to the largest strongly connected part (where one can both arrive and leave), so
    # a base or grid beside a stray fragment or a one-way stub is not cut off from the city; a
    # network that is mostly one-way without such a core falls back to the largest connected part
    snap = np.empty(0, dtype=np.int64)
    for connection in ("strong", "weak"):
        _, comp = csgraph.connected_components(matrix, directed=True, connection=connection)
        core = np.argmax(np.bincount(comp))
        snap = np.flatnonzero((comp[u] == core) & (comp[v] == core))
        if len(snap) >= 0.5 * len(u):
            break
    log.info("road graph: %d nodes, %d segments (%d one-way, %d in the main connected part) "
             "from %d lines", n_nodes, len(u), int((ow != 0).sum()), len(snap), len(lines))
    return RoadGraph(xy, u, v, length, t_fwd, t_bwd, seg_road, crs, matrix, segments, snap)


def _points_xy(graph: RoadGraph, points: gpd.GeoDataFrame | gpd.GeoSeries, what: str) -> np.ndarray:
    if points.crs is None:
        raise InputError(f"{what} have no CRS")
    geoms = points.to_crs(graph.crs).geometry.values if points.crs != graph.crs else points.geometry.values
    geoms = np.array(geoms, dtype=object)  # a copy: the caller's geometries must not change
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if bad.any():
        raise InputError(f"{what} row {int(np.flatnonzero(bad)[0])} has no geometry")
    not_point = shapely.get_type_id(geoms) != 0
    geoms[not_point] = shapely.point_on_surface(geoms[not_point])
    return shapely.get_coordinates(geoms)


def snap_points(graph: RoadGraph, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest segment of each point (*xy* in ``graph.crs``), the fraction along it, and the distance to it.

    A point the tree cannot place (a non-finite coordinate) gets segment 0 with NaN fraction and distance,
    so every time computed through it is NaN: not reachable, never another point's segment.

    >>> import geopandas as gpd
    >>> from shapely import LineString
    >>> g = build_graph(gpd.GeoDataFrame(geometry=[LineString([(0, 0), (1000, 0)])], crs=4547))
    >>> seg, frac, dist = snap_points(g, np.array([[250.0, 30.0]]))
    >>> frac.tolist(), dist.tolist()
    ([0.25], [30.0])
    """
    pts = shapely.points(xy)
    pi, si = graph.tree.query_nearest(pts, all_matches=False)
    seg = np.zeros(len(xy), dtype=np.int64)
    seg[pi] = graph.snap_segments[si]
    frac = np.full(len(xy), np.nan)
    dist = np.full(len(xy), np.nan)
    frac[pi] = shapely.line_locate_point(graph.segments[seg[pi]], pts[pi], normalized=True)
    dist[pi] = shapely.distance(graph.segments[seg[pi]], pts[pi])
    return seg, frac, dist


def share_time(share: np.ndarray, time: np.ndarray) -> np.ndarray:
    """Time to drive a *share* (0–1) of a segment whose whole length takes *time* seconds.

    No distance takes no time, even against a one-way (whose *time* is ``inf``).

    >>> share_time(np.array([0.5, 0.0, 0.2]), np.array([60.0, np.inf, np.inf])).tolist()
    [30.0, 0.0, inf]
    """
    return np.where(share > 0, share * np.where(share > 0, time, 0.0), 0.0)


def travel_times(graph: RoadGraph, sources: gpd.GeoDataFrame | gpd.GeoSeries, *,
                 access_speed_kmh: float = 5.0, min_only: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Travel time (s) from the sources to every node, by one multi-source Dijkstra.

    Returns ``(time, source)``: with ``min_only`` arrays over nodes (time from the nearest
    source, and its position in *sources*, -1 where unreachable); otherwise a
    (sources × nodes) time matrix and ``None``.

    >>> import geopandas as gpd
    >>> from shapely import LineString, Point
    >>> g = build_graph(gpd.GeoDataFrame(geometry=[LineString([(0, 0), (100, 0)])], crs=4547))
    >>> t, s = travel_times(g, gpd.GeoSeries([Point(0, 0), Point(100, 0)], crs=4547))
    >>> t.round(1).tolist(), s.tolist()
    ([0.0, 0.0], [0, 1])
    """
    xy = _points_xy(graph, sources, "sources")
    seg, frac, dist = snap_points(graph, xy)
    access = dist / (access_speed_kmh / 3.6)
    n, k = graph.n_nodes, len(xy)
    # virtual source i -> the ends of its segment it may drive to
    src = np.r_[np.arange(k), np.arange(k)] + n
    dst = np.r_[graph.seg_v[seg], graph.seg_u[seg]]
    w = np.r_[access + share_time(1 - frac, graph.t_fwd[seg]), access + share_time(frac, graph.t_bwd[seg])]
    ok = np.isfinite(w)
    w = np.maximum(w[ok], 1e-6)
    extra = sp.csr_matrix((w, (src[ok] - n, dst[ok])), shape=(k, n + k))
    aug = sp.vstack([sp.hstack([graph.matrix, sp.csr_matrix((n, k))]), extra]).tocsr()
    if min_only:
        time, _, origin = csgraph.dijkstra(aug, indices=np.arange(n, n + k), min_only=True,
                                           return_predecessors=True)
        return time[:n], np.where(origin[:n] >= 0, origin[:n] - n, -1)
    return csgraph.dijkstra(aug, indices=np.arange(n, n + k))[:, :n], None


def _arrive(graph: RoadGraph, node_time: np.ndarray, xy: np.ndarray, access_speed_kmh: float,
            snap: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arrival time at each point via either end of its nearest segment, and the end used.

    *node_time* is per node (points → arrays over points) or nodes × sources (→ points × sources);
    *snap*: the points' :func:`snap_points`, when the caller has it already.
    """
    seg, frac, dist = snap_points(graph, xy) if snap is None else snap
    u, v = graph.seg_u[seg], graph.seg_v[seg]
    col = (slice(None),) + (None,) * (np.ndim(node_time) - 1)   # per-point values against each source
    via_u = node_time[u] + share_time(frac, graph.t_fwd[seg])[col]
    via_v = node_time[v] + share_time(1 - frac, graph.t_bwd[seg])[col]
    with np.errstate(invalid="ignore"):
        use_u = ~(via_v < via_u)
    time = np.where(use_u, via_u, via_v) + (dist / (access_speed_kmh / 3.6))[col]
    return time, np.where(use_u, u[col], v[col]), dist


def arrival_times(graph: RoadGraph, node_time: np.ndarray, xy: np.ndarray, *, access_speed_kmh: float = 5.0,
                  snap: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Travel time (s) to points from per-node times computed once, e.g. for each new case of a live service.

    *node_time* is :func:`travel_times`'s per-node time (→ one time per point) or its
    ``min_only=False`` matrix transposed to nodes × sources (→ points × sources); *xy* holds
    the points in ``graph.crs``. A point is reached through either end of its nearest segment
    plus the walk ``access_m`` (returned) at *access_speed_kmh*, as in :func:`nearest_base`.
    No graph search: a lookup per point. A point with a non-finite coordinate gets NaN (not reached).
    *snap* is the points' :func:`snap_points` when the caller has it already (several calls for the same points).

    >>> import geopandas as gpd
    >>> from shapely import LineString, Point
    >>> g = build_graph(gpd.GeoDataFrame(geometry=[LineString([(0, 0), (1000, 0)])], crs=4547))
    >>> per_base, _ = travel_times(g, gpd.GeoSeries([Point(0, 0), Point(1000, 0)], crs=4547), min_only=False)
    >>> t, access = arrival_times(g, per_base.T, np.array([[250.0, 0.0]]))
    >>> (t / 60).round(2).tolist()        # from each base, at 20 km/h
    [[0.75, 2.25]]
    >>> arrival_times(g, per_base.T, np.array([[np.nan, 0.0]]))[0].tolist()
    [[nan, nan]]
    """
    time, _, access = _arrive(graph, np.asarray(node_time), np.asarray(xy, dtype=float).reshape(-1, 2),
                              access_speed_kmh, snap)
    return time, access


def _base_ids(bases: gpd.GeoDataFrame, base_id: str | None) -> np.ndarray:
    if base_id is None:
        base_id = "base_id" if "base_id" in bases.columns else None
    if base_id is None:
        return bases.index.to_numpy()
    if base_id not in bases.columns:
        raise InputError(f"bases have no column {base_id!r}; columns: {list(bases.columns)}")
    return bases[base_id].to_numpy()


def nearest_base(
    graph: RoadGraph,
    bases: gpd.GeoDataFrame,
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    base_id: str | None = None,
    access_speed_kmh: float = 5.0,
) -> gpd.GeoDataFrame:
    """For each point (e.g. a new case), the base (team) that reaches it first by network time.

    Returns a copy of *points* with ``nearest_base`` (the base's ``base_id``, or index),
    ``time_min`` (``inf`` if unreachable) and ``access_m`` (off-road distance to the road).

    >>> import geopandas as gpd
    >>> from shapely import LineString, Point
    >>> roads = gpd.GeoDataFrame({"oneway": ["yes"]}, geometry=[LineString([(0, 0), (1000, 0)])], crs=4547)
    >>> bases = gpd.GeoDataFrame({"base_id": ["west", "east"]}, geometry=[Point(0, 0), Point(1000, 0)], crs=4547)
    >>> case = gpd.GeoSeries([Point(900, 0)], crs=4547)   # one-way eastbound: east cannot drive back
    >>> nearest_base(build_graph(roads), bases, case).nearest_base.tolist()
    ['west']
    """
    ids = _base_ids(bases, base_id)
    node_time, origin = travel_times(graph, bases, access_speed_kmh=access_speed_kmh)
    xy = _points_xy(graph, points, "points")
    time, node, access = _arrive(graph, node_time, xy, access_speed_kmh)
    out = points.to_frame() if isinstance(points, gpd.GeoSeries) else points.copy()
    reach = np.isfinite(time)
    out["nearest_base"] = pd.Series(np.where(reach, ids[np.maximum(origin[node], 0)], None), index=out.index,
                                    dtype=object)
    out["time_min"] = time / 60.0
    out["access_m"] = access
    return out


def reachability(
    graph: RoadGraph,
    bases: gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame,
    minutes: float = 10.0,
    *,
    base_id: str | None = None,
    access_speed_kmh: float = 5.0,
) -> gpd.GeoDataFrame:
    """For every grid: the nearest base by network time and whether it arrives within *minutes*.

    The grid is reached at its representative point (``point_on_surface``). Grids with
    ``reachable == False`` are response blind spots.

    Returns a copy of *grids* with ``nearest_base``, ``time_min``, ``access_m`` and ``reachable``.

    >>> import geopandas as gpd
    >>> from shapely import LineString, Point, box
    >>> roads = gpd.GeoDataFrame(geometry=[LineString([(0, 50), (6000, 50)])], crs=4547)
    >>> bases = gpd.GeoDataFrame({"base_id": ["b"]}, geometry=[Point(0, 50)], crs=4547)
    >>> grids = gpd.GeoDataFrame({"code": ["near", "far"]}, geometry=[box(0, 0, 100, 100), box(5000, 0, 5100, 100)],
    ...                          crs=4547)
    >>> reachability(build_graph(roads), bases, grids).reachable.tolist()   # 5 km at 20 km/h = 15 min
    [True, False]
    """
    if not minutes > 0:
        raise InputError(f"minutes must be > 0, got {minutes}")
    out = nearest_base(graph, bases, grids, base_id=base_id, access_speed_kmh=access_speed_kmh)
    out["reachable"] = out["time_min"] <= minutes
    return out


def isochrones(
    graph: RoadGraph,
    bases: gpd.GeoDataFrame,
    minutes: float | Sequence[float] = (5.0, 10.0),
    *,
    base_id: str | None = None,
    buffer_m: float = 30.0,
    access_speed_kmh: float = 5.0,
    per_base: bool = True,
) -> gpd.GeoDataFrame:
    """Areas within *minutes* of each base (or of any base): reachable road, buffered.

    Partly reachable segments are cut where the time runs out. With ``per_base=False``
    one area per threshold for all bases together.

    Returns a GeoDataFrame (``base_id``, ``minutes``, geometry) in the graph's CRS.

    >>> import geopandas as gpd
    >>> from shapely import LineString, Point
    >>> g = build_graph(gpd.GeoDataFrame(geometry=[LineString([(0, 0), (10000, 0)])], crs=4547))
    >>> iso = isochrones(g, gpd.GeoDataFrame({"base_id": ["b"]}, geometry=[Point(0, 0)], crs=4547), 3, buffer_m=1)
    >>> round(float(iso.geometry.iloc[0].bounds[2]))   # 3 min at 20 km/h = 1000 m, plus 1 m buffer
    1001
    """
    limits = np.atleast_1d(np.asarray(minutes, dtype=float))
    ids = _base_ids(bases, base_id)
    if per_base:
        times, _ = travel_times(graph, bases, access_speed_kmh=access_speed_kmh, min_only=False)
        labels = list(ids)
    else:
        times = travel_times(graph, bases, access_speed_kmh=access_speed_kmh)[0][None, :]
        labels = [None]
    pu, pv = graph.xy[graph.seg_u], graph.xy[graph.seg_v]
    rows = []
    for bi, label in enumerate(labels):
        tu, tv = times[bi][graph.seg_u], times[bi][graph.seg_v]
        for limit in limits:
            lim = limit * 60.0
            with np.errstate(invalid="ignore", divide="ignore"):  # zero-length joins, unreachable ends
                fu = np.clip((lim - tu) / graph.t_fwd, 0, 1)   # share reachable from u's side
                fv = np.clip((lim - tv) / graph.t_bwd, 0, 1)
            fu, fv = np.nan_to_num(fu), np.nan_to_num(fv)
            whole = fu + fv >= 1
            parts = []
            if whole.any():
                parts.append(graph.segments[whole])
            a = ~whole & (fu > 0)
            if a.any():
                parts.append(shapely.linestrings(np.stack([pu[a], pu[a] + fu[a, None] * (pv[a] - pu[a])], 1)))
            b = ~whole & (fv > 0)
            if b.any():
                parts.append(shapely.linestrings(np.stack([pv[b], pv[b] + fv[b, None] * (pu[b] - pv[b])], 1)))
            lines = np.concatenate(parts) if parts else np.empty(0, dtype=object)
            # buffering each piece and then uniting is ~100x faster than buffering the noded union
            area = shapely.union_all(shapely.buffer(lines, buffer_m, quad_segs=4)) if len(lines) else shapely.Polygon()
            rows.append((label, float(limit), area))
    return gpd.GeoDataFrame(pd.DataFrame(rows, columns=["base_id", "minutes", "geometry"]),
                            geometry="geometry", crs=graph.crs)
