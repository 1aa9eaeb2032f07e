"""Map matching (gridlib.trucks.matching): planted traces with known roads, and simulated trucks."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString

import gridlib as gl
from gridlib.errors import InputError
from gridlib.network import build_graph
from gridlib.trucks.matching import map_match, road_sequence
from gridlib.trucks.simulate import simulate_fleet


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(1, 999), st.floats(-30, 30)), min_size=1, max_size=20))
def test_a_lone_road_matches_every_fix_to_its_projection(points):
    g = build_graph(gpd.GeoDataFrame(geometry=[LineString([(0, 0), (1000, 0)])], crs=4547))
    x = np.sort(np.array([p[0] for p in points]))  # in driving order, one way along the road
    y = np.array([p[1] for p in points])
    m = map_match(g, x, y, directed=False)
    assert (m.segment == 0).all()
    np.testing.assert_allclose(m.x, x, atol=1e-6)
    np.testing.assert_allclose(m.y, 0.0, atol=1e-6)
    np.testing.assert_allclose(m.offset_m, np.abs(y), atol=1e-6)


def test_one_ways_pick_the_carriageway_of_the_direction_of_travel():
    # a dual carriageway: eastbound on y = 0, westbound on y = 24; the truck drives west in between
    roads = gpd.GeoDataFrame({"name": ["东行", "西行"], "oneway": ["yes", "yes"]},
                             geometry=[LineString([(0, 0), (1000, 0)]), LineString([(1000, 24), (0, 24)])],
                             crs=4547)
    g = build_graph(roads)
    x = np.arange(900.0, 100.0, -80.0)
    y = np.full(len(x), 10.0)  # nearer the eastbound line
    directed = map_match(g, x, y)
    assert set(g.seg_road[directed.segment].tolist()) == {1}
    assert road_sequence(g, directed, roads["name"]) == ["西行"]
    undirected = map_match(g, x, y, directed=False)
    assert set(g.seg_road[undirected.segment].tolist()) == {0}  # nearest, once direction is ignored


def test_far_fixes_are_unmatched_and_breaks_restart_the_chain():
    g = build_graph(gpd.GeoDataFrame(geometry=[LineString([(0, 0), (1000, 0)])], crs=4547))
    x = np.array([100.0, 200.0, 300.0, 400.0, 500.0])
    y = np.array([5.0, 500.0, 5.0, 5.0, 5.0])
    brk = np.array([False, False, False, True, False])
    m = map_match(g, x, y, breaks=brk)
    assert m.segment.tolist() == [0, -1, 0, 0, 0]
    assert np.isnan(m.x[1]) and np.isnan(m.offset_m[1])
    assert m.restart.tolist() == [True, True, True, True, False]


def test_no_path_between_fixes_restarts_instead_of_failing():
    # two roads with no connection: a jump from one to the other cannot be a path
    roads = gpd.GeoDataFrame(geometry=[LineString([(0, 0), (100, 0)]), LineString([(0, 300), (100, 300)])],
                             crs=4547)
    g = build_graph(roads)
    m = map_match(g, np.array([10.0, 50.0, 60.0, 90.0]), np.array([1.0, 2.0, 299.0, 301.0]), directed=False)
    assert g.seg_road[m.segment].tolist() == [0, 0, 1, 1]
    assert m.restart.tolist() == [True, False, True, False]


def test_empty_and_bad_input():
    g = build_graph(gpd.GeoDataFrame(geometry=[LineString([(0, 0), (100, 0)])], crs=4547))
    m = map_match(g, np.zeros(0), np.zeros(0))
    assert len(m.segment) == 0 and road_sequence(g, m, ["a"]) == []
    with pytest.raises(InputError, match="differ in length"):
        map_match(g, np.zeros(2), np.zeros(3))
    with pytest.raises(InputError, match="must be > 0"):
        map_match(g, np.zeros(1), np.zeros(1), sigma_m=0)


def test_simulated_trucks_on_the_demo_roads_stay_on_their_route():
    """Real network, σ = 10 m noise: the matched point lies on the truck's route, far more often than
    the nearest road does (measured: 83 % against 67 %; 99 % within 20 m, i.e. the route's road or
    its other carriageway)."""
    roads = gl.datasets.demo_roads()
    roads = roads[roads["kind"].isin(["major_road", "minor_road", "highway"])].reset_index(drop=True)
    g = build_graph(roads, oneway_col=None)  # the simulator ignores one-way tags
    fleet = simulate_fleet(roads, 20, seed=11, hours=("08:00", "09:00"))
    r = gl.trucks.check(fleet.fixes, fleet.permits, fleet.sites)
    fx, moving = r.fixes, ~r.per_fix["stationary"]
    routes = fleet.permits.set_index("vehicle_id").to_crs(g.crs).geometry
    x, y = gl.crs.transform_xy(4326, g.crs, fx.lon, fx.lat)
    hmm, nearest = [], []
    for v, vid in enumerate(fx.vehicle_ids):  # twenty trucks
        sel = (fx.vehicle == v) & moving
        m = map_match(g, x[sel], y[sel], breaks=np.r_[True, np.diff(fx.t[sel]) > 60], directed=False)
        assert (m.segment >= 0).all()
        hmm.append(shapely.distance(shapely.points(m.x, m.y), routes[vid]))
        pts = shapely.points(x[sel], y[sel])
        _, si = shapely.STRtree(g.segments).query_nearest(pts, all_matches=False)
        snapped = shapely.line_interpolate_point(g.segments[si], shapely.line_locate_point(g.segments[si], pts))
        nearest.append(shapely.distance(snapped, routes[vid]))
    hmm, nearest = np.concatenate(hmm), np.concatenate(nearest)
    assert len(hmm) > 1500
    assert (hmm <= 20).mean() >= 0.98, (hmm <= 20).mean()
    assert (hmm <= 1).mean() >= (nearest <= 1).mean() + 0.1, ((hmm <= 1).mean(), (nearest <= 1).mean())


def test_deviation_roads_names_the_road_driven_off_route():
    from shapely.geometry import LineString as Line

    from gridlib.trucks.matching import deviation_roads

    roads = gl.datasets.demo_roads()
    avenue = roads[roads["name"] == "世纪大道"].to_crs(4550)
    line = shapely.segmentize(avenue.geometry.iloc[int(avenue.length.argmax())], 80)
    lon, lat = gl.crs.transform_xy(4550, 4326, *line.xy)
    permits = gpd.GeoDataFrame({"permit_id": ["P1", "P2"], "vehicle_id": ["V1", "V2"], "company": ["K", "K"],
                                "valid_from": ["2026-11-20"] * 2, "valid_to": ["2026-11-20"] * 2, "hours": ["", ""],
                                "corridor_m": [50, 50]},
                               geometry=[Line([(121.40, 31.10), (121.41, 31.10)]), Line(np.column_stack([lon, lat]))], crs=4326)
    times = pd.date_range("2026-11-20 09:00", periods=len(lon), freq="10s").astype(str)
    fixes = pd.concat([pd.DataFrame({"vehicle_id": v, "lon": lon, "lat": lat, "time": times}) for v in ("V1", "V2")])
    r = gl.trucks.check(fixes, permits)
    assert r.violations["type"].tolist() == ["deviation"]  # V2 drives its own route
    out = deviation_roads(r, roads)
    assert out["violation_id"].tolist() == r.violations["violation_id"].tolist()
    assert out["roads_matched"].iloc[0].split("; ")[0] == "世纪大道"
    assert out["n_fixes"].iloc[0] == len(lon) and out["matched_share"].iloc[0] == 1.0
    none = deviation_roads(gl.trucks.check(fixes[fixes["vehicle_id"] == "V2"], permits), roads)
    assert none.empty and list(none.columns) == ["violation_id", "roads_matched", "n_fixes", "matched_share"]
