"""Road graph topology on constructed networks, and routing against networkx shortest paths."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from shapely import LineString, Point, box

import gridlib as gl
from gridlib.errors import InputError
from gridlib.network import build_graph, isochrones, nearest_base, reachability, travel_times

CRS = 4547


def roads(lines, **cols):
    return gpd.GeoDataFrame(cols, geometry=[LineString(c) for c in lines], crs=CRS)


def test_shared_vertices_snapped_ends_and_t_junctions_connect_but_crossings_do_not():
    r = roads([[(0, 0), (100, 0), (200, 0)],       # main road
               [(100.6, 0.3), (100, 100)],         # dangling end 0.3 m off the main road: joined there
               [(150, 0.5), (150, 80)],            # T-junction: ends 0.5 m off the main road's interior
               [(50, -50), (50, 50)]])             # crosses without a shared vertex: a bridge
    g = build_graph(r, snap_m=1.0)
    G = g.to_networkx()
    deg = {n: G.out_degree(n) for n in G}
    # nodes: 0, 100, 100.6, 150, 200 on the main road; ends at (100,100), (150,80), two ends of the bridge
    assert g.n_nodes == 9
    assert sorted(deg.values()) == [1, 1, 1, 1, 1, 1, 2, 3, 3]
    bridge_ends = [i for i, (x, y) in enumerate(g.xy) if x == 50]
    main = [i for i, (x, y) in enumerate(g.xy) if y == 0 and x in (0, 200)]
    assert not nx.has_path(G.to_undirected(), bridge_ends[0], main[0])
    assert nx.has_path(G, main[0], int(np.argmin(np.hypot(*(g.xy - [150, 80]).T))))


def test_vertices_merge_within_merge_m_only():
    r = roads([[(0, 0), (10, 0)], [(10.03, 0), (20, 0)], [(20.5, 0), (30, 0)]])
    g = build_graph(r, snap_m=0)  # no T-junction joining: only the 3 cm gap closes
    assert g.n_nodes == 5
    assert build_graph(r, snap_m=0, merge_m=0.6).n_nodes == 4


def test_topology_from_geometry_reproduces_osm_node_topology():
    """Central Helsinki: the OSM ways carry node ids, the true topology to compare with."""
    from scipy.spatial import cKDTree

    h = gl.datasets.helsinki_roads()
    ids = h["node_ids"].astype(str).str.split()
    h = h[(ids.str.len() == h.geometry.count_coordinates()).to_numpy()].reset_index(drop=True)
    ids = h["node_ids"].astype(str).str.split()
    ref = nx.DiGraph()
    g0 = build_graph(h, snap_m=0)
    m = h.to_crs(g0.crs)
    from gridlib.network import _oneway, _speeds

    speed, oneway = _speeds(m, None, None, 20.0), _oneway(m, "oneway")
    where = {}
    for i, (nodes, geom) in enumerate(zip(ids, m.geometry, strict=True)):  # reference built the slow, obvious way
        if speed[i] <= 0:
            continue
        xy = np.asarray(geom.coords)
        for a, b, pa, pb in zip(nodes[:-1], nodes[1:], xy[:-1], xy[1:], strict=True):
            where[a], where[b] = pa, pb
            t = float(np.hypot(*(pb - pa)) / (speed[i] / 3.6))
            for x, y, allowed in ((a, b, oneway[i] >= 0), (b, a, oneway[i] <= 0)):
                if allowed and a != b and (not ref.has_edge(x, y) or ref[x][y]["w"] > t):
                    ref.add_edge(x, y, w=t)
    rng = np.random.default_rng(0)
    sources = rng.choice(list(ref.nodes), 15, replace=False)
    for snap, min_agree in ((0.0, 0.99), (1.0, 0.9)):
        g = g0 if snap == 0 else build_graph(h, snap_m=snap)
        G, kd = g.to_networkx(), cKDTree(g.xy)
        agree = total = 0
        for src in sources:
            want = nx.single_source_dijkstra_path_length(ref, src, weight="w")
            got = nx.single_source_dijkstra_path_length(G, int(kd.query(where[src])[1]), weight="time_s")
            for tgt in rng.choice(list(want), min(40, len(want)), replace=False):
                mine = got.get(int(kd.query(where[tgt])[1]), np.inf)
                total += 1
                agree += abs(mine - want[tgt]) <= 1e-6 * want[tgt] + 1e-6
                assert mine <= want[tgt] + 1e-6  # joining dangling ends only ever adds connections
        assert agree / total >= min_agree, (snap, agree, total)


def test_one_ways_and_speeds_by_class():
    r = roads([[(0, 0), (1000, 0)], [(1000, 0), (1000, 1000)]], highway=["primary", "footway"], oneway=["yes", "-1"])
    g = build_graph(r, speeds={"footway": 6})
    e = g.edges().sort_values("road_row")
    a, b, c = (int(np.argmin(np.hypot(*(g.xy - p).T))) for p in [(0, 0), (1000, 0), (1000, 1000)])
    assert e[["u", "v"]].values.tolist() == [[a, b], [c, b]]
    assert e.time_s.round(3).tolist() == [round(1000 / (35 / 3.6), 3), 600.0]


def test_rail_and_ferry_are_not_routable_and_empty_input_is_an_error():
    r = roads([[(0, 0), (10, 0)], [(0, 5), (10, 5)]], kind=["rail", "minor_road"])
    assert len(build_graph(r).seg_u) == 1
    with pytest.raises(InputError, match="no routable"):
        build_graph(r.iloc[:1])


@pytest.fixture(scope="module")
def lujiazui():
    return build_graph(gl.datasets.demo_roads())


def test_multi_source_times_equal_networkx_on_real_roads(lujiazui):
    g = lujiazui
    G = g.to_networkx()
    rng = np.random.default_rng(7)
    core = np.unique(np.r_[g.seg_u[g.snap_segments], g.seg_v[g.snap_segments]])  # where points snap to
    assert len(core) > 0.7 * g.n_nodes
    base_nodes = rng.choice(core, 4, replace=False)
    bases = gpd.GeoDataFrame({"base_id": [f"b{i}" for i in range(4)]}, geometry=[Point(*g.xy[n]) for n in base_nodes],
                             crs=g.crs)
    t, src = travel_times(g, bases)
    ref = nx.multi_source_dijkstra_path_length(G, set(base_nodes.tolist()), weight="time_s")
    reach = np.isfinite(t)
    assert set(np.flatnonzero(reach)) == set(ref)
    got = t[list(ref)]
    want = np.array([ref[n] for n in ref])
    assert np.allclose(got, want, atol=1e-6)
    # the reported source is a base that achieves the minimum
    per_base = [nx.single_source_dijkstra_path_length(G, int(b), weight="time_s") for b in base_nodes]
    for n in rng.choice(list(ref), 50, replace=False):
        assert per_base[src[n]][n] == pytest.approx(ref[n], abs=1e-6)
    # nearest_base for case points at nodes agrees too
    targets = rng.choice(np.intersect1d(core, list(ref)), 30, replace=False)
    cases = gpd.GeoDataFrame(geometry=[Point(*g.xy[n]) for n in targets], crs=g.crs)
    nb = nearest_base(g, bases, cases)
    assert np.allclose(nb.time_min * 60, [ref[n] for n in targets], atol=1e-6)
    assert (nb.access_m < 1e-6).all()


def test_reachability_of_synthetic_grids_on_real_roads(lujiazui):
    g = lujiazui
    x0, y0, x1, y1 = g.xy[:, 0].min(), g.xy[:, 1].min(), g.xy[:, 0].max(), g.xy[:, 1].max()
    xs, ys = np.meshgrid(np.arange(x0, x1, 100), np.arange(y0, y1, 100))
    grids = gpd.GeoDataFrame({"grid_code": np.arange(xs.size)}, crs=g.crs,
                             geometry=[box(x, y, x + 100, y + 100) for x, y in zip(xs.ravel(), ys.ravel(), strict=True)])
    bases = gpd.GeoDataFrame({"base_id": ["A", "B"]}, geometry=[Point(x0 + 800, y0 + 800), Point(x1 - 800, y1 - 800)],
                             crs=g.crs).to_crs(4326)
    before = grids.geometry.copy()
    out = reachability(g, bases, grids, minutes=10)
    assert grids.geometry.geom_equals(before).all() and (out.geom_type == "Polygon").all()
    assert len(out) == len(grids) and set(out.nearest_base.dropna()) == {"A", "B"}
    assert out.reachable.sum() > 0 and (~out.reachable).sum() > 0
    assert (out.time_min[out.reachable] <= 10).all()
    # more time reaches at least as many grids
    assert reachability(g, bases, grids, minutes=20).reachable.sum() >= out.reachable.sum()
    iso = isochrones(g, bases, (5, 10))
    assert iso.base_id.tolist() == ["A", "A", "B", "B"]
    assert (iso.geometry.area.iloc[1] > iso.geometry.area.iloc[0]) and (iso.geometry.area.iloc[3] > iso.geometry.area.iloc[2])
    # every reachable grid centre within 10 min of A lies in (or beside) A's 10-minute area
    a10 = iso.geometry.iloc[1]
    near_a = out[(out.nearest_base == "A") & out.reachable & (out.access_m < 20)]
    assert near_a.geometry.representative_point().distance(a10).max() < 1.0


def test_access_leg_and_one_way_direction_in_nearest_base():
    r = roads([[(0, 0), (1000, 0)]], highway=["residential"], oneway=["yes"])
    g = build_graph(r)
    bases = gpd.GeoDataFrame({"base_id": ["w", "e"]}, geometry=[Point(0, 10), Point(1000, 0)], crs=CRS)
    case = gpd.GeoSeries([Point(500, 50)], crs=CRS)
    nb = nearest_base(g, bases, case)
    # w: 10 m walk + 500 m at 20 km/h + 50 m walk at 5 km/h
    assert nb.nearest_base.iloc[0] == "w"
    assert nb.time_min.iloc[0] * 60 == pytest.approx(60 * 3.6 / 5 + 500 / (20 / 3.6), rel=1e-9)
    unreachable = nearest_base(g, bases.iloc[[1]], case)
    assert unreachable.nearest_base.isna().all() and np.isinf(unreachable.time_min.iloc[0])


def test_a_point_without_finite_coordinates_is_not_reached_and_leaves_the_others_alone():
    """snap_points (then _snap) filled its segments with np.empty: an unplaceable point got a garbage segment (a GEOS error or a
    wrong time); now its time and access are NaN and the other points' times are as without it."""
    from gridlib.network import arrival_times

    g = build_graph(gpd.GeoDataFrame(geometry=[LineString([(0, 0), (100, 0)]), LineString([(100, 0), (200, 0)])],
                                     crs=4547))
    t, _ = travel_times(g, gpd.GeoSeries([Point(0, 0)], crs=4547))
    alone, alone_access = arrival_times(g, t, np.array([[50.0, 1.0], [150.0, 0.0]]))
    mixed, mixed_access = arrival_times(g, t, np.array([[50.0, 1.0], [np.nan, np.nan], [150.0, 0.0], [np.inf, 0.0]]))
    assert np.isnan(mixed[[1, 3]]).all() and np.isnan(mixed_access[[1, 3]]).all()
    assert mixed[[0, 2]].tolist() == alone.tolist() and mixed_access[[0, 2]].tolist() == alone_access.tolist()
