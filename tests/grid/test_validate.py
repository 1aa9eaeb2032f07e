"""gl.grid.check_coverage: each rule catches its planted defect; clean grids pass."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely import box

import gridlib as gl
from gridlib.grid.validate import RULES

CRS = "EPSG:4547"


@pytest.fixture(scope="module")
def parents() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"code": ["410105001001", "410105001002"], "name": ["a", "b"]},
                            geometry=[box(0, 0, 400, 300), box(400, 0, 800, 300)], crs=CRS)


@pytest.fixture(scope="module")
def clean(parents) -> gpd.GeoDataFrame:
    return gl.grid.build(parents)


def rules(report: gpd.GeoDataFrame, severity: str | None = None) -> set[str]:
    if severity:
        report = report[report["severity"] == severity]
    return set(report["rule"])


def _with_geom(g: gpd.GeoDataFrame, i: int, geom) -> gpd.GeoDataFrame:
    out = g.copy()
    geoms = out.geometry.values.copy()
    geoms[i] = geom
    return out.set_geometry(gpd.GeoSeries(geoms, crs=g.crs))


def _code(g: gpd.GeoDataFrame, i: int) -> int:
    return int(np.flatnonzero(g["grid_code"].to_numpy() == g["grid_code"].iloc[i])[0])


def test_clean_grids_pass(clean, parents):
    report = gl.grid.check_coverage(clean, parents)
    assert report.empty, report[["rule", "message"]]
    assert list(report.columns) == ["rule", "severity", "codes", "message", "geometry"]
    assert gl.grid.check_coverage(gl.GridSet.from_gdf(clean)).empty


def test_bundled_demo_grids_have_no_errors():
    grids = gpd.read_file(gl.datasets.data_dir() / "grids" / "lujiazui_grids.gpkg")
    report = gl.grid.check_coverage(grids, gl.datasets.demo_admin("community"))
    assert rules(report, "error") == set()


def test_crs_missing(clean):
    report = gl.grid.check_coverage(clean.set_crs(None, allow_override=True))
    assert rules(report) == {"crs_missing"}


def test_crs_geographic_is_reported_and_the_rest_still_checked(clean):
    report = gl.grid.check_coverage(clean.to_crs(4326))
    assert rules(report, "error") == {"crs_geographic"}
    assert report.crs.is_projected


def test_geometry_empty(clean):
    report = gl.grid.check_coverage(_with_geom(clean, 3, None))
    assert "geometry_empty" in rules(report, "error")
    assert clean["grid_code"].iloc[3] in set(report["codes"])


def test_geometry_type(clean):
    report = gl.grid.check_coverage(_with_geom(clean, 3, clean.geometry.iloc[3].boundary))
    assert "geometry_type" in rules(report, "error")


def test_geometry_invalid_names_the_grid_and_the_reason(clean):
    x0, y0, x1, y1 = clean.geometry.iloc[3].bounds
    bowtie = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    report = gl.grid.check_coverage(_with_geom(clean, 3, bowtie))
    row = report[report["rule"] == "geometry_invalid"].iloc[0]
    assert row["codes"] == clean["grid_code"].iloc[3]
    assert "Self-intersection" in row["message"]


def test_multipart_is_a_warning(clean, parents):
    g = clean.geometry.iloc[3]
    x0, y0, x1, y1 = g.bounds
    halves = shapely.MultiPolygon([shapely.clip_by_rect(g, x0, y0, (x0 + x1) / 2, y1),
                                   shapely.clip_by_rect(g, (x0 + x1) / 2 + 1, y0, x1, y1)])
    report = gl.grid.check_coverage(_with_geom(clean, 3, halves))
    assert "multipart" in rules(report, "warning")
    assert RULES["multipart"] == "warning"


def test_code_missing(clean):
    g = clean.copy()
    g["grid_code"] = g["grid_code"].astype(object)
    g.loc[2, "grid_code"] = None
    assert "code_missing" in rules(gl.grid.check_coverage(g), "error")
    assert "code_missing" in rules(gl.grid.check_coverage(clean.drop(columns="grid_code")), "error")


@pytest.mark.parametrize("bad", ["4101050010010", "41010500100100a", "grid-7"])
def test_code_malformed(clean, bad):
    g = clean.copy()
    g.loc[2, "grid_code"] = bad
    report = gl.grid.check_coverage(g)
    assert bad in set(report.loc[report["rule"] == "code_malformed", "codes"])


def test_code_numeric_field_is_a_warning_and_still_checked(clean):
    g = clean.copy()
    g["grid_code"] = g["grid_code"].astype("int64")
    report = gl.grid.check_coverage(g)
    assert "code_numeric" in rules(report, "warning")
    assert "code_malformed" not in rules(report)


def test_code_duplicate(clean):
    g = clean.copy()
    g.loc[5, "grid_code"] = g.loc[4, "grid_code"]
    report = gl.grid.check_coverage(g)
    row = report[report["rule"] == "code_duplicate"].iloc[0]
    assert row["codes"] == g.loc[4, "grid_code"] and "2 grids" in row["message"]


def test_code_hierarchy_against_columns_and_parents(clean, parents):
    g = clean.copy()
    g.loc[0, "community_code"] = "410105001002"
    assert "code_hierarchy" in rules(gl.grid.check_coverage(g), "error")
    g = clean.copy()
    g.loc[0, "grid_code"] = "410105001002099"  # a code of the other community
    g = g.drop(columns=["community_code", "street_code", "district_code"])
    report = gl.grid.check_coverage(g, parents)
    row = report[report["rule"] == "code_hierarchy"].iloc[0]
    assert row["codes"] == "410105001002099" and "410105001001" in row["message"]


def test_outside_parents(clean, parents):
    far = shapely.affinity.translate(clean.geometry.iloc[0], 50_000, 0)
    report = gl.grid.check_coverage(_with_geom(clean, 0, far), parents)
    assert "outside_parents" in rules(report, "error")


def test_crosses_parent(clean, parents):
    west = clean[clean["community_code"] == "410105001001"]
    east = clean[clean["community_code"] == "410105001002"]
    i = int(west.geometry.bounds["maxx"].idxmax())
    j = int(east.geometry.distance(west.geometry[i]).idxmin())
    g = _with_geom(clean, i, shapely.union_all([clean.geometry[i], clean.geometry[j]])).drop(index=j)
    report = gl.grid.check_coverage(g, parents)
    assert clean["grid_code"][i] in set(report.loc[report["rule"] == "crosses_parent", "codes"])


def test_overlap(clean):
    report = gl.grid.check_coverage(_with_geom(clean, 5, clean.geometry.iloc[5].buffer(5, join_style="mitre")))
    overlaps = report[report["rule"] == "overlap"]
    assert len(overlaps) >= 2 and shapely.area(overlaps.geometry.values).sum() > 4 * 500


def test_gap_inside_parents_and_as_a_hole(clean, parents):
    interior = int(np.argmax([shapely.contains_properly(box(50, 50, 750, 250), x) for x in clean.geometry]))
    g = clean.drop(index=interior)
    with_parents = gl.grid.check_coverage(g, parents)
    assert "gap" in rules(with_parents, "error")
    gap = with_parents[with_parents["rule"] == "gap"].geometry.iloc[0]
    assert abs(gap.area - clean.geometry[interior].area) < 1e-6
    assert "gap" in rules(gl.grid.check_coverage(g), "error")  # enclosed hole, no parents needed


def test_half_covered_district_is_a_gap(clean, parents):
    half = clean[clean["community_code"] == "410105001001"]
    report = gl.grid.check_coverage(half, parents)
    assert "410105001002" in set(report.loc[report["rule"] == "gap", "codes"])


def test_coverage_edge_for_unmatched_vertices(clean):
    g = clean.geometry.iloc[4]
    x0, y0, x1, y1 = g.bounds
    parts = [shapely.clip_by_rect(g, x0, y0, (x0 + x1) / 2, y1), shapely.clip_by_rect(g, (x0 + x1) / 2, y0, x1, y1)]
    split = pd.concat([_with_geom(clean, 4, parts[0]),
                       gpd.GeoDataFrame({"grid_code": ["410105001001099"]}, geometry=[parts[1]], crs=CRS)],
                      ignore_index=True)
    report = gl.grid.check_coverage(split)
    assert "coverage_edge" in rules(report, "warning")
    assert rules(report, "error") == set()


def test_narrow_gap_is_reported(clean, parents):
    shrunk = clean.geometry.iloc[4].buffer(-0.2, join_style="mitre")
    report = gl.grid.check_coverage(_with_geom(clean, 4, shrunk), parents, gap_width=1.0)
    assert "coverage_edge" in rules(report, "warning")
    assert "gap" in rules(report, "error")


def test_sliver(clean):
    g = clean.geometry.iloc[4]
    x0, y0, x1, y1 = g.bounds
    thin = shapely.clip_by_rect(g, x0, y0, x0 + 2, y1)
    rest = shapely.clip_by_rect(g, x0 + 2, y0, x1, y1)
    split = pd.concat([_with_geom(clean, 4, rest),
                       gpd.GeoDataFrame({"grid_code": ["410105001001099"]}, geometry=[thin], crs=CRS)],
                      ignore_index=True)
    report = gl.grid.check_coverage(split)
    assert "410105001001099" in set(report.loc[report["rule"] == "sliver", "codes"])


def test_area_band(clean):
    report = gl.grid.check_coverage(clean, target_area=2_000)
    assert rules(report) == {"area_band"} and len(report) == len(clean)


def test_identical_and_contained_grids_are_overlaps():
    g = gpd.GeoDataFrame({"grid_code": ["410105001001001", "410105001001002", "410105001001003", "410105001001004"]},
                         geometry=[box(0, 0, 100, 100), box(0, 0, 100, 100), box(100, 0, 200, 100),
                                   box(20, 20, 50, 50)], crs=CRS)
    overlaps = gl.grid.check_coverage(g).query("rule == 'overlap'")
    assert set(overlaps["codes"]) == {"410105001001001;410105001001002", "410105001001001;410105001001004",
                                      "410105001001002;410105001001004"}
