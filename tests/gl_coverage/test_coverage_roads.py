"""Road coverage equals the exact line/polygon intersection; k counts the cameras; grid shares."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely import LineString, MultiLineString, Point, box

from gridlib.coverage import (
    blind_spots,
    coverage_summary,
    grid_coverage,
    priority_blind_spots,
    road_coverage,
)

CRS = 4547


def gdf(geoms, **cols):
    return gpd.GeoDataFrame(cols, geometry=list(geoms), crs=CRS)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 100_000))
def test_covered_length_and_k_are_exact_on_random_scenes(seed):
    rng = np.random.default_rng(seed)
    vs = shapely.buffer(shapely.points(rng.uniform(0, 200, (12, 2))), rng.uniform(5, 40, 12))
    vs[::3] = shapely.box(*rng.uniform(0, 150, 2), *rng.uniform(150, 220, 2))  # a few rectangles as well
    roads = [LineString(rng.uniform(-20, 220, (rng.integers(2, 7), 2))) for _ in range(6)]
    roads.append(MultiLineString([rng.uniform(0, 200, (3, 2)), rng.uniform(0, 200, (2, 2))]))
    r = gdf(roads, road_id=np.arange(len(roads)))
    p = road_coverage(gdf(vs), r)
    lengths = shapely.length(np.asarray(r.geometry.values))
    # pieces add up to each road, covered length = exact intersection with the union
    assert np.allclose(p.groupby("road_id").length_m.sum().to_numpy(), lengths, atol=1e-5)
    exact = shapely.length(shapely.intersection(np.asarray(r.geometry.values), shapely.union_all(vs)))
    got = p[p.covered].groupby("road_id").length_m.sum().reindex(range(len(roads)), fill_value=0).to_numpy()
    assert np.allclose(got, exact, atol=1e-5)
    # the geometry of a piece has its length, and k = number of viewsheds containing its middle
    long = p[p.length_m > 1e-3]
    assert np.allclose(long.geometry.length, long.length_m, atol=1e-5)
    mid = shapely.line_interpolate_point(np.asarray(long.geometry.values), 0.5, normalized=True)
    k = shapely.contains(vs[None, :], mid[:, None]).sum(axis=1)
    assert (k == long.k.to_numpy()).all()


def test_road_attributes_and_crs_are_carried():
    vs = gdf([box(0, -1, 10, 1)])
    roads = gpd.GeoDataFrame({"name": ["a"], "highway": ["primary"]}, geometry=[LineString([(0, 0), (20, 0)])],
                             crs=CRS).to_crs(4326)
    p = road_coverage(vs, roads)
    assert p.crs.to_epsg() == CRS
    assert p[["name", "highway", "road_row", "covered"]].values.tolist() == [["a", "primary", 0, True],
                                                                               ["a", "primary", 0, False]]
    assert p.length_m.round(3).tolist() == [10.0, 10.0]


def test_summary_per_class_and_k2():
    vs = gdf([box(0, -1, 30, 1), box(20, -1, 50, 1)])
    roads = gdf([LineString([(0, 0), (100, 0)]), LineString([(0, 50), (10, 50)])], highway=["primary", "service"])
    s = coverage_summary(road_coverage(vs, roads), "highway")
    assert s.loc["primary", ["length_m", "covered_m", "k2_m"]].round(6).tolist() == [100.0, 50.0, 10.0]
    assert s.loc["service", "share"] == 0.0


def test_grid_shares_of_road_and_open_area():
    vs = gdf([box(0, 0, 60, 100)])
    roads = gdf([LineString([(0, 50), (200, 50)])], highway=["primary"])
    grids = gdf([box(0, 0, 100, 100), box(100, 0, 200, 100), box(300, 0, 400, 100)], code=["a", "b", "c"])
    houses = gdf([box(0, 0, 20, 20), box(10, 10, 30, 30)])  # overlapping: built area = 400 + 400 - 100
    g = grid_coverage(vs, roads, grids, houses)
    assert g.road_m.tolist() == [100.0, 100.0, 0.0]
    assert g.road_share.iloc[:2].tolist() == [0.6, 0.0] and np.isnan(g.road_share.iloc[2])
    assert g.open_m2.tolist() == [10000 - 700, 10000, 10000]
    assert g.covered_open_m2.iloc[0] == pytest.approx(6000 - 700)
    assert g.blind.tolist() == [False, True, True]


def test_blind_spots_skip_rail_and_short_pieces_and_rank_by_cases():
    vs = gdf([box(40, -5, 60, 5)])
    roads = gdf([LineString([(0, 0), (100, 0)]), LineString([(0, 3), (100, 3)]),
                 LineString([(0, 500), (30, 500)])], highway=["primary", "rail", "service"])
    b = blind_spots(road_coverage(vs, roads))
    assert b.highway.tolist() == ["primary", "primary", "service"]
    assert b.length_m.tolist() == [40.0, 40.0, 30.0]
    cases = gpd.GeoDataFrame(geometry=[Point(90, 10)] * 5, crs=CRS)
    pr = priority_blind_spots(b, cases, radius_m=20)
    assert pr.blind_id.tolist()[0] == 2 and pr["rank"].tolist() == [1, 2, 3]
    assert pr.case_density.iloc[0] > 0 and (pr.case_density.iloc[1:] == 0).all()
    # without cases: length x class weight (primary 3 > service 1)
    plain = priority_blind_spots(b)
    assert plain.priority.tolist() == [120.0, 120.0, 30.0]
    hot = gdf([box(-10, -10, 50, 10)], z=[2.5])
    assert priority_blind_spots(b, hot, value_col="z").blind_id.iloc[0] == 1


def test_polygon_density_needs_a_value_column():
    b = gpd.GeoDataFrame({"blind_id": [1], "length_m": [1.0], "class_weight": [1.0]},
                         geometry=[LineString([(0, 0), (1, 0)])], crs=CRS)
    with pytest.raises(Exception, match="value_col"):
        priority_blind_spots(b, gdf([box(0, 0, 1, 1)]))


def test_empty_inputs():
    p = road_coverage(gdf([box(0, 0, 1, 1)]), gdf([]))
    assert len(p) == 0 and list(p.columns)[-1] == "geometry"
    p = road_coverage(gdf([]), gdf([LineString([(0, 0), (5, 0)])]))
    assert p.k.tolist() == [0] and p.length_m.tolist() == [5.0]
    assert len(coverage_summary(pd.DataFrame({"length_m": [], "k": []})))  == 1


def test_water_grids_are_reported_apart_never_blind():
    """`coverage cameras` counted 257 river grids among 885 'blind' grids of the demo area."""
    import geopandas as gpd
    from shapely import box

    vs = gpd.GeoDataFrame(geometry=[box(0, 0, 10, 10)], crs=4547)
    grids = gpd.GeoDataFrame({"grid_code": ["land", "river"]}, geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)],
                             crs=4547)
    river = gpd.GeoDataFrame(geometry=[box(100, -10, 210, 90)], crs=4547)
    empty = gpd.GeoDataFrame(geometry=[], crs=4547)
    without = grid_coverage(vs, empty, grids)
    assert without["blind"].tolist() == [True, True]
    g = grid_coverage(vs, empty, grids, water=river)
    assert g["water"].tolist() == [False, True] and g["blind"].tolist() == [True, False]
