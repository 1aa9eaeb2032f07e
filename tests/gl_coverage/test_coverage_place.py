"""Placement: greedy within (1 - 1/e) of spopt's MCLP optimum, exact = brute force on tiny cases."""

from __future__ import annotations

import itertools
import math

import geopandas as gpd
import numpy as np
import pytest
import scipy.sparse as sp
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely import LineString, Point

from gridlib.coverage import (
    candidate_cameras,
    candidate_sites,
    coverage_problem,
    exact_max_cover,
    greedy_max_cover,
    place,
    viewsheds,
)
from gridlib.errors import InputError

CRS = 4547


def covered_weight(cover, weight, cols):
    if len(cols) == 0:
        return 0.0
    return float(weight[np.asarray(cover[:, list(cols)].sum(axis=1)).ravel() > 0].sum())


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 100_000), budget=st.integers(1, 4))
def test_greedy_reaches_1_minus_1_over_e_of_the_mclp_optimum(seed, budget):
    rng = np.random.default_rng(seed)
    roads = gpd.GeoDataFrame({"highway": rng.choice(["primary", "residential", "service"], 5)}, crs=CRS,
                             geometry=[LineString(rng.uniform(0, 300, (3, 2))) for _ in range(5)])
    cand = gpd.GeoDataFrame({"camera_id": [f"c{i}" for i in range(10)]}, crs=CRS,
                            geometry=shapely.buffer(shapely.points(rng.uniform(0, 300, (10, 2))), rng.uniform(20, 80, 10)))
    cover, weight, _ = coverage_problem(cand, roads)
    greedy, gains = greedy_max_cover(cover, weight, budget)
    best = exact_max_cover(cover, weight, budget)
    opt = covered_weight(cover, weight, best)
    g = covered_weight(cover, weight, greedy)
    assert g == pytest.approx(gains.sum())
    assert g >= (1 - 1 / math.e) * opt - 1e-6
    assert opt >= g - 1e-6
    brute = max(covered_weight(cover, weight, c) for c in itertools.combinations(range(cover.shape[1]), budget))
    assert opt == pytest.approx(brute)


def test_lazy_greedy_equals_plain_greedy():
    rng = np.random.default_rng(3)
    cover = sp.random(400, 60, density=0.05, random_state=4, format="csc").astype(bool)
    weight = rng.uniform(0, 10, 400)
    lazy, _ = greedy_max_cover(cover, weight, 15)
    dense = cover.toarray()
    done = np.zeros(400, bool)
    plain = []
    for _ in range(15):
        gains = (dense & ~done[:, None]).T @ weight
        j = int(np.argmax(gains))
        plain.append(j)
        done |= dense[:, j]
    assert lazy.tolist() == plain


def test_place_skips_what_existing_cameras_see_and_orders_by_gain():
    road = gpd.GeoDataFrame({"highway": ["primary", "service"]}, crs=CRS,
                            geometry=[LineString([(0, 0), (400, 0)]), LineString([(0, 100), (400, 100)])])
    sites = gpd.GeoDataFrame({"site_id": [1, 2, 3]}, geometry=[Point(50, 0), Point(200, 0), Point(200, 100)], crs=CRS)
    cand = candidate_cameras(sites, range_m=60)
    vs = viewsheds(cand)
    existing = viewsheds(gpd.GeoDataFrame({"camera_id": ["old"], "heading": [None], "fov": [360.0], "range_m": [60.0]},
                                          geometry=[Point(60, 0)], crs=CRS))
    out = place(cand, vs, road, budget=3, existing=existing)
    # site 1's disc [-10, 110] on the primary road is inside the old camera's [0, 120]: no gain, not chosen
    assert out.camera_id.tolist() == ["2", "3"]
    assert out["rank"].tolist() == [1, 2]
    assert out.new_m.iloc[0] == pytest.approx(120.0, abs=0.1)   # diameter of its disc on the primary road
    assert out.gain.iloc[0] == pytest.approx(3 * out.new_m.iloc[0])
    assert out.gain.iloc[1] == pytest.approx(out.new_m.iloc[1]) and out.new_m.iloc[1] == pytest.approx(120, abs=0.1)
    exact = place(cand, vs, road, budget=2, existing=existing, method="exact")
    assert sorted(exact.camera_id) == ["2", "3"]


def test_place_stops_when_nothing_more_to_gain_and_checks_input():
    road = gpd.GeoDataFrame(geometry=[LineString([(0, 0), (10, 0)])], crs=CRS)
    c = gpd.GeoDataFrame({"camera_id": ["a", "b"]}, geometry=[Point(5, 0).buffer(20), Point(5, 0).buffer(3)], crs=CRS)
    assert place(c, c, road, budget=5).camera_id.tolist() == ["a"]
    with pytest.raises(InputError, match="method"):
        place(c, c, road, method="fast")
    with pytest.raises(InputError, match="no viewshed"):
        place(c.assign(camera_id=["a", "zz"]), c, road)


def test_candidate_sites_and_cameras_on_real_roads():
    import gridlib as gl

    roads = gl.datasets.demo_roads()
    s = candidate_sites(roads, spacing_m=100)
    assert s.crs.to_epsg() == 4550 and s.site_id.is_unique
    assert (s.source == "junction").sum() > 100
    c = candidate_cameras(s.head(3), fov=90, headings=(0, 90, 180, 270))
    assert len(c) == 12 and c.camera_id.is_unique
