"""Viewsheds on constructed scenes with hand-computed answers, and against exact visibility."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely import Point, Polygon, box

from gridlib.coverage import viewsheds
from gridlib.errors import InputError

CRS = 4547


def cams(rows):
    """rows: (id, x, y, heading, fov, range)."""
    return gpd.GeoDataFrame(
        {"camera_id": [r[0] for r in rows], "heading": [r[3] for r in rows], "fov": [r[4] for r in rows],
         "range_m": [r[5] for r in rows]},
        geometry=[Point(r[1], r[2]) for r in rows], crs=CRS)


def blds(*geoms):
    return gpd.GeoDataFrame(geometry=list(geoms), crs=CRS)


def test_camera_facing_a_wall_sees_a_triangle_up_to_the_wall():
    v = viewsheds(cams([("c", 0, 0, 90, 60, 100)]), blds(box(10, -100, 20, 100)))
    g = v.geometry.iloc[0]
    assert g.area == pytest.approx(10 * 10 * math.tan(math.radians(30)), rel=1e-9)
    assert g.bounds[2] == pytest.approx(10.0)
    assert v.status.iloc[0] == "ok" and v.offset_m.iloc[0] == 0


def test_camera_facing_away_from_the_wall_sees_its_whole_sector():
    v = viewsheds(cams([("c", 0, 0, 270, 60, 100)]), blds(box(10, -100, 20, 100)))
    assert v.area_m2.iloc[0] == pytest.approx(math.pi * 100**2 / 6, rel=1e-4)


def test_heading_is_clockwise_from_north():
    v = viewsheds(cams([("n", 0, 0, 0, 10, 50), ("e", 0, 0, 90, 10, 50)]))
    n, e = v.geometry
    assert n.contains(Point(0, 40)) and not n.contains(Point(40, 0))
    assert e.contains(Point(40, 0)) and not e.contains(Point(0, 40))


def test_two_touching_buildings_do_not_leak_through_the_shared_wall():
    # the central ray (heading 90) runs exactly through the shared vertex (10, 0)
    scene = blds(box(10, -5, 20, 0), box(10, 0, 20, 5))
    g = viewsheds(cams([("c", 0, 0, 90, 90, 50)]), scene).geometry.iloc[0]
    assert not g.contains(Point(15, 0)) and not g.contains(Point(40, 0))
    assert shapely.intersection(g, box(10 + 1e-6, -4, 20, 4)).area < 1e-9  # the outer corners may lose a chord sliver
    assert g.contains(Point(40, 25)) and g.contains(Point(5, 0))
    # identical to the view past their union
    u = viewsheds(cams([("c", 0, 0, 90, 90, 50)]), blds(box(10, -5, 20, 5))).geometry.iloc[0]
    assert shapely.symmetric_difference(g, u).area < 1e-6


def test_overlapping_footprints_act_as_their_union():
    a, b = box(10, -5, 30, 5), box(20, -20, 25, 20)
    c = cams([("c", 0, 0, 90, 120, 60)])
    g = viewsheds(c, blds(a, b)).geometry.iloc[0]
    u = viewsheds(c, blds(shapely.union(a, b))).geometry.iloc[0]
    assert shapely.symmetric_difference(g, u).area < 1e-6


def test_camera_in_a_courtyard_sees_the_courtyard_only():
    house = Polygon(box(0, 0, 100, 100).exterior.coords, [box(30, 30, 70, 70).exterior.coords])
    v = viewsheds(cams([("d", 50, 50, None, 360, 100)]), blds(house))
    g = v.geometry.iloc[0]
    assert g.area == pytest.approx(1600, abs=1e-6)  # 0.5° rays hit the courtyard's corners exactly
    assert g.buffer(1e-6).within(box(30, 30, 70, 70).buffer(1e-5))
    assert v.status.iloc[0] == "ok"


def test_dome_without_buildings_is_a_disc():
    v = viewsheds(cams([("d", 3, 4, None, 360, 20)]), resolution=0.25)
    assert v.area_m2.iloc[0] == pytest.approx(math.pi * 400, rel=1e-5)
    assert v.geometry.iloc[0].centroid.distance(Point(3, 4)) < 1e-9


def test_camera_inside_a_footprint_sees_from_just_outside_its_nearest_wall():
    house = blds(box(0, 0, 20, 20))
    v = viewsheds(cams([("out", 19, 10, 90, 90, 30), ("in", 19, 10, 270, 90, 30)]), house)
    assert v.status.tolist() == ["moved", "moved"]
    assert v.offset_m.round(6).tolist() == [1.1, 1.1]
    # facing out of the wall: the whole quarter disc beyond the wall
    assert v.area_m2.iloc[0] == pytest.approx(math.pi * 900 / 4, rel=1e-3)
    assert v.geometry.iloc[0].intersection(box(0, 0, 20, 20)).area < 1e-9
    # facing into its own wall: nothing but the 0.1 m gap
    assert v.area_m2.iloc[1] < 0.02


def test_camera_exactly_on_an_edge_is_moved_off_it():
    v = viewsheds(cams([("e", 20, 10, 90, 90, 30)]), blds(box(0, 0, 20, 20)))
    assert v.status.iloc[0] == "moved" and v.offset_m.iloc[0] == pytest.approx(0.1)
    assert v.area_m2.iloc[0] == pytest.approx(math.pi * 900 / 4, rel=1e-3)


def test_camera_with_no_free_position_is_blocked_and_sees_nothing():
    pocket = Polygon(box(0, 0, 20, 20).exterior.coords, [box(9.98, 9.98, 10.02, 10.02).exterior.coords])
    v = viewsheds(cams([("x", 10, 10, None, 360, 30), ("y", 50, 50, None, 360, 5)]), blds(pocket))
    assert v.status.tolist() == ["blocked", "ok"]
    assert v.geometry.iloc[0].is_empty and v.area_m2.iloc[0] == 0


def test_invalid_cameras_raise_with_the_record_named():
    bad = cams([("bad1", 0, 0, 90, 0, 30)])
    with pytest.raises(InputError, match="bad1.*fov 0"):
        viewsheds(bad)


def test_output_is_metric_and_in_input_order_for_wgs84_input():
    c = gpd.GeoDataFrame({"camera_id": ["b", "a"], "heading": [0, 180], "fov": [90, 90], "range_m": [50, 50]},
                         geometry=[Point(121.50, 31.24), Point(121.51, 31.24)], crs=4326)
    v = viewsheds(c)
    assert v.crs.to_epsg() == 4550 and v.camera_id.tolist() == ["b", "a"]
    assert v.geometry.is_valid.all()


def test_invalid_building_footprints_are_repaired_not_fatal():
    bowtie = Polygon([(10, -10), (20, 10), (20, -10), (10, 10)])
    v = viewsheds(cams([("c", 0, 0, 90, 60, 50)]), blds(bowtie, None))
    assert v.geometry.is_valid.all() and v.area_m2.iloc[0] < math.pi * 2500 / 6


def scatter(seed: int, n: int = 25) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(-80, 80, n), rng.uniform(-80, 80, n)
    w, h = rng.uniform(3, 15, n), rng.uniform(3, 15, n)
    ang = np.where(np.arange(n) % 4 == 0, np.radians(30.0), 0.0)  # every fourth footprint turned 30°
    dx = np.array([-0.5, 0.5, 0.5, -0.5])[None, :] * w[:, None]
    dy = np.array([-0.5, -0.5, 0.5, 0.5])[None, :] * h[:, None]
    c, s_ = np.cos(ang)[:, None], np.sin(ang)[:, None]
    ring = np.stack([x[:, None] + c * dx - s_ * dy, y[:, None] + s_ * dx + c * dy], axis=-1)
    footprints = shapely.polygons(ring)
    return footprints[shapely.distance(footprints, Point(0, 0)) > 1.0]


def exact_check(seed: int, corners: bool, res: float) -> tuple[np.ndarray, np.ndarray]:
    """(mismatching points, all checked points) against exact line-of-sight classification."""
    rng = np.random.default_rng(seed + 1)
    footprints = scatter(seed)
    heading, fov = float(rng.uniform(0, 360)), float(rng.choice([60.0, 120.0, 360.0]))
    v = viewsheds(cams([("c", 0, 0, heading, fov, 100)]), blds(*footprints), resolution=res,
                  corners=corners).geometry.iloc[0]
    pts = rng.uniform(-100, 100, (800, 2))
    r = np.hypot(pts[:, 0], pts[:, 1])
    bearing = np.degrees(np.arctan2(pts[:, 0], pts[:, 1]))
    corner_xy = shapely.get_coordinates(footprints)
    cb = np.degrees(np.arctan2(corner_xy[:, 0], corner_xy[:, 1]))
    gap = np.abs((bearing[:, None] - cb[None, :] + 180) % 360 - 180).min(axis=1)
    off = np.abs((bearing - heading + 180) % 360 - 180)
    edge_of_fov = np.abs(off - fov / 2) if fov < 360 else np.full(len(pts), 99.0)
    union = shapely.union_all(footprints)
    sight = shapely.linestrings(np.stack([np.zeros_like(pts), pts], axis=1))
    in_fov = (off <= fov / 2) if fov < 360 else np.ones(len(pts), bool)
    expected = in_fov & ~shapely.intersects(sight, union) & (r <= 100)
    got = shapely.contains_xy(v, pts[:, 0], pts[:, 1])
    d = shapely.distance(shapely.points(pts), union)
    if corners:  # exact: only points practically on a shadow line or an outline may differ
        checked = (gap > 1e-3) & (edge_of_fov > 1e-3) & (r < 99.9) & (r > 1) & (d > 1e-3)
    else:  # uniform rays: chords near corners may cut a sliver up to r * resolution wide
        checked = (gap > 2 * res) & (edge_of_fov > 2 * res) & (r < 99) & (r > 1) & (d > r * math.radians(res))
    return pts[checked & (got != expected)], pts[checked]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_viewsheds_equal_exact_line_of_sight(seed):
    bad, checked = exact_check(seed, corners=True, res=0.5)
    assert len(checked) > 300 and len(bad) == 0, bad[:5]


def test_a_face_leaving_the_range_is_cut_at_the_range_circle():
    # seed 4839: a face seen nearly edge-on crosses the range circle between two rays; without a ray at the
    # crossing, the chord from its last hit to the arc cut a sliver 5 cm wide off the view (found by the test above)
    bad, checked = exact_check(4839, corners=True, res=0.5)
    assert len(checked) > 300 and len(bad) == 0, bad[:5]


def test_a_face_entering_an_overlapping_footprint_ends_where_it_enters():
    # seed 4687: a face seen from the camera runs into an overlapping footprint, whose face then hides it; the
    # point where the two outlines cross is a corner of the view but a vertex of neither footprint, and without a
    # ray at it the chord from the one face's last hit to the other's first cut a sliver off the view
    bad, checked = exact_check(4687, corners=True, res=0.5)
    assert len(checked) > 300 and len(bad) == 0, bad[:5]


def test_where_overlapping_outlines_cross_is_a_corner_of_the_view():
    # the front face y = 30 of a block runs into a square turned 45° that stands in front of it, at (-3, 30) and
    # (8.875, 30): both are corners of the view, and the view reaches them (it came 6 cm short of (-3, 30))
    block, square = box(-10, 30, 10, 50), shapely.Polygon([(2, 25), (13, 33), (5, 41), (-6, 33)])
    g = viewsheds(cams([("c", 0, 0, 0, 90, 100)]), blds(block, square)).geometry.iloc[0]
    corners = shapely.points(shapely.get_coordinates(g))
    for x in (-3.0, 8.875):
        assert shapely.distance(corners, Point(x, 30)).min() < 1e-6
        assert g.contains(Point(x, 29.99))
    assert shapely.intersection(g, shapely.union(block, square)).area < 1e-6


def test_two_large_overlapping_footprints_take_little_memory(monkeypatch):
    # two 2,000-vertex outlines crossing: every edge of one is paired with every edge of the other (4 million
    # pairs), which took 513 MB at once; in blocks, 18 MB. The crossings facing the camera are still corners
    import importlib
    import tracemalloc

    viewshed_module = importlib.import_module("gridlib.coverage.viewshed")
    a, b = Point(-15, 60).buffer(40, quad_segs=500), Point(15, 60).buffer(40, quad_segs=500)
    assert len(a.exterior.coords) == len(b.exterior.coords) == 2001
    tracemalloc.start()
    try:
        g = viewsheds(cams([("c", 0, 0, 0, 90, 150)]), blds(a, b)).geometry.iloc[0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50e6, f"peak {peak / 1e6:.0f} MB"
    monkeypatch.setattr(viewshed_module, "_MAX_EDGE_PAIRS", 1000)     # in smaller blocks: the same view
    assert viewsheds(cams([("c", 0, 0, 0, 90, 150)]), blds(a, b)).geometry.iloc[0].wkb == g.wkb
    front = min(shapely.get_coordinates(shapely.intersection(a.exterior, b.exterior)), key=lambda p: p[1])
    assert abs(front[0]) < 1e-9                              # the crossing nearest the camera, at (0, 60 - 36.7)
    assert shapely.distance(shapely.points(shapely.get_coordinates(g)), Point(front)).min() < 1e-6
    assert shapely.intersection(g, shapely.union(a, b)).area < 1e-3


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_uniform_rays_agree_with_line_of_sight_away_from_corner_bearings(seed):
    bad, checked = exact_check(seed, corners=False, res=0.5)
    assert len(checked) > 200 and len(bad) == 0, bad[:5]


def test_corner_rays_make_a_sloping_wall_exact():
    # a wall seen at a slant: with corner rays its visible face is exact, without it is cut by chords
    wall = blds(shapely.Polygon([(20, -30), (60, 40), (62, 38), (22, -32)]))
    c = cams([("c", 0, 0, None, 360, 100)])
    exact_shadow = shapely.Polygon([(20, -30), (60, 40), (60 * 5, 40 * 5), (20 * 5, -30 * 5)])
    err = {corners: shapely.intersection(viewsheds(c, wall, corners=corners).geometry.iloc[0], exact_shadow).area
           for corners in (True, False)}
    assert err[True] < 0.01 < 1.0 < err[False]   # 1e-4° slivers vs 0.5° chords


def test_real_helsinki_cameras_many_on_walls():
    """221 real OSM cameras: a quarter are mapped on or inside a footprint (wall-mounted)."""
    import gridlib as gl
    from gridlib.coverage import read_cameras

    src = gl.datasets.helsinki_cameras()
    cameras, rejects = read_cameras(src.assign(camera_id=src["osm_id"].astype(str)), defaults={"type": "dome"})
    v = viewsheds(cameras, gl.datasets.helsinki_buildings())
    assert len(v) == 221 and len(rejects) == 0 and v.geometry.is_valid.all()
    counts = v.status.value_counts().to_dict()
    assert counts.get("blocked", 0) == 0 and counts["moved"] > 40
    # a moved camera sees from outside: its view does not reach into any footprint
    moved = v[v.status == "moved"]
    assert (moved.area_m2 > 0).all()
    built = shapely.union_all(gl.datasets.helsinki_buildings().to_crs(v.crs).geometry.values)
    assert shapely.area(shapely.intersection(moved.geometry.values, built)).max() < 0.05
