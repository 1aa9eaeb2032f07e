"""gl.grid.build: exact tiling, no crossing, road-aware blocks, codes, determinism."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely import box

import gridlib as gl
from gridlib.errors import CodeError, CRSError, InputError
from gridlib.grid.build import clean_parents

CRS = "EPSG:4547"


def _parents(geoms, codes):
    return gpd.GeoDataFrame({"code": codes, "name": [f"p{i}" for i in range(len(codes))]}, geometry=geoms, crs=CRS)


def _check_tiling(grids: gpd.GeoDataFrame, parents: gpd.GeoDataFrame) -> None:
    """Grids tile each (snapped) parent exactly and never cross a parent boundary."""
    clean = clean_parents(parents.geometry.values, parents["code"].to_numpy(dtype=object))
    geoms = grids.geometry.values
    assert shapely.is_valid(geoms).all()
    assert (shapely.get_type_id(geoms) == 3).all()
    assert shapely.coverage_is_valid(geoms)
    for code, parent in zip(parents["code"], clean, strict=True):
        mine = geoms[(grids["community_code"] == code).to_numpy()]
        union = shapely.union_all(mine)
        assert shapely.area(shapely.symmetric_difference(union, parent)) < 1e-6
        outside = shapely.area(shapely.difference(mine, parent))
        assert outside.max(initial=0.0) < 1e-6
    assert abs(grids["area_m2"].sum() - shapely.area(clean).sum()) < 1e-6


def _length_inside(grids: gpd.GeoDataFrame, line: shapely.Geometry) -> np.ndarray:
    """Length of *line* inside each grid, ignoring a 1 cm band along the edges (inputs are snapped to 1 mm)."""
    return shapely.length(shapely.intersection(shapely.buffer(grids.geometry.values, -0.01), line))


@st.composite
def scenes(draw):
    """One to three parents cut from a random polygon, and up to six random roads."""
    n = draw(st.integers(5, 12))
    angles = np.sort(np.array(draw(st.lists(st.floats(0, 2 * np.pi), min_size=n, max_size=n, unique=True))))
    radii = np.array(draw(st.lists(st.floats(150, 450), min_size=n, max_size=n)))
    shell = np.column_stack([500_000 + radii * np.cos(angles), 3_850_000 + radii * np.sin(angles)])
    poly = shapely.make_valid(shapely.Polygon(shell))
    poly = max(shapely.get_parts(poly), key=shapely.area) if poly.geom_type != "Polygon" else poly
    cut_x = draw(st.floats(-200, 200))
    x0, y0, x1, y1 = poly.bounds
    west = box(x0 - 1, y0 - 1, 500_000 + cut_x, y1 + 1)
    pieces = [shapely.intersection(poly, west), shapely.difference(poly, west)]
    pieces = [max(shapely.get_parts(p), key=shapely.area) for p in pieces if p.area > 100]
    codes = [f"410105001{i + 1:03d}" for i in range(len(pieces))]
    k = draw(st.integers(0, 6))
    roads = []
    for _ in range(k):
        a = draw(st.tuples(st.floats(-500, 500), st.floats(-500, 500)))
        b = draw(st.tuples(st.floats(-500, 500), st.floats(-500, 500)))
        if a != b:
            roads.append(shapely.LineString([(500_000 + a[0], 3_850_000 + a[1]), (500_000 + b[0], 3_850_000 + b[1])]))
    return _parents(pieces, codes), gpd.GeoSeries(roads, crs=CRS)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenes())
def test_random_scenes_tile_exactly_and_deterministically(scene):
    parents, roads = scene
    grids = gl.grid.build(parents, roads)
    _check_tiling(grids, parents)
    assert grids["grid_code"].is_unique
    assert grids["grid_code"].str.fullmatch(r"\d{15}").all()
    assert (grids["grid_code"].str[:12] == grids["community_code"]).all()
    # same input in another row order: byte-identical result
    again = gl.grid.build(parents.iloc[::-1], roads.iloc[::-1])
    assert again["grid_code"].tolist() == grids["grid_code"].tolist()
    assert shapely.to_wkb(again.geometry.values).tolist() == shapely.to_wkb(grids.geometry.values).tolist()


def test_road_cuts_blocks_so_no_grid_crosses_a_road():
    parents = _parents([box(0, 0, 600, 400)], ["410105001001"])
    road = gpd.GeoSeries([shapely.LineString([(-10, 137), (610, 263)])], crs=CRS)
    grids = gl.grid.build(parents, road)
    _check_tiling(grids, parents)
    assert _length_inside(grids, road.iloc[0]).max() == 0
    # and without the road some grid does cross it
    assert _length_inside(gl.grid.build(parents), road.iloc[0]).max() > 10


def test_water_polygon_outline_cuts_blocks():
    parents = _parents([box(0, 0, 600, 400)], ["410105001001"])
    river = gpd.GeoDataFrame(geometry=[box(-50, 180, 650, 230)], crs=CRS)
    grids = gl.grid.build(parents, water=river)
    _check_tiling(grids, parents)
    assert _length_inside(grids, river.geometry.iloc[0].boundary).max() == 0


def test_area_and_compactness_targets_on_a_regular_district():
    parents = _parents([box(0, 0, 2_050, 1_530)], ["410105001001"])
    grids = gl.grid.build(parents, target_area=10_000)
    area = grids["area_m2"].to_numpy()
    assert abs(np.median(area) - 10_000) <= 0.15 * 10_000
    assert np.mean((area >= 5_000) & (area <= 20_000)) >= 0.9
    assert np.mean(gl.grid.polsby_popper(grids.geometry) >= 0.3) >= 0.9


def test_codes_run_west_to_east_then_north_to_south():
    parents = _parents([box(0, 0, 300, 200)], ["410105001003"])
    grids = gl.grid.build(parents)
    c = grids.geometry.centroid
    assert grids["grid_code"].tolist() == [f"410105001003{i:03d}" for i in range(1, 7)]
    assert c.y.iloc[0] > c.y.iloc[3]  # first row is the northern one
    assert list(c.x.iloc[:3]) == sorted(c.x.iloc[:3])


def test_district_parents_get_flagged_placeholder_levels():
    parents = _parents([box(0, 0, 4_000, 3_500)], ["410108"])
    grids = gl.grid.build(parents)
    assert grids["placeholder"].all()
    assert grids["street_code"].str.fullmatch(r"4101089\d\d").all()
    assert grids["community_code"].str.fullmatch(r"4101089\d\d9\d\d").all()
    assert grids.groupby("community_code").size().max() <= 999
    _check_tiling(grids.assign(community_code=grids["district_code"]), parents)


def test_seed_shifts_the_lattice_deterministically():
    parents = _parents([box(0, 0, 500, 300)], ["410105001001"])
    a, b = gl.grid.build(parents, seed=1), gl.grid.build(parents, seed=1)
    assert shapely.to_wkb(a.geometry.values).tolist() == shapely.to_wkb(b.geometry.values).tolist()
    assert shapely.to_wkb(a.geometry.values).tolist() != shapely.to_wkb(gl.grid.build(parents).geometry.values).tolist()
    _check_tiling(a, parents)


def test_overlapping_parents_are_resolved_and_tiled():
    parents = _parents([box(0, 0, 300, 200), box(299.5, 0, 600, 200)], ["410105001001", "410105001002"])
    grids = gl.grid.build(parents)
    assert shapely.coverage_is_valid(grids.geometry.values)
    assert abs(grids["area_m2"].sum() - 600 * 200) < 1e-6


def test_wgs84_parents_are_built_in_the_metric_crs():
    parents = gpd.GeoDataFrame({"code": ["410108001001"], "name": ["x"]},
                               geometry=[box(113.60, 34.80, 113.605, 34.804)], crs=4326)
    grids = gl.grid.build(parents)
    assert grids.crs.to_epsg() == 4547


@pytest.mark.parametrize(
    ("codes", "error", "text"),
    [(["41010500100"], CodeError, "not a 6-, 9- or 12-digit"),
     (["410105001001", "410105001"], CodeError, "mix code levels"),
     (["410105001001", "410105001001"], CodeError, "more than once")],
)
def test_bad_parent_codes_are_named(codes, error, text):
    parents = _parents([box(i * 100, 0, i * 100 + 100, 100) for i in range(len(codes))], codes)
    with pytest.raises(error, match=text):
        gl.grid.build(parents)


def test_missing_crs_and_columns_are_clear_errors():
    with pytest.raises(CRSError):
        gl.grid.build(gpd.GeoDataFrame({"code": ["410105001001"], "name": ["x"]}, geometry=[box(0, 0, 1, 1)]))
    with pytest.raises(InputError, match="name"):
        gl.grid.build(gpd.GeoDataFrame({"code": ["410105001001"]}, geometry=[box(0, 0, 1, 1)], crs=CRS))
    with pytest.raises(CodeError, match="999"):
        gl.grid.build(_parents([box(0, 0, 4_000, 3_000)], ["410105001001"]))
