"""The demo admin hierarchy (data/admin/lujiazui_admin.gpkg) and the script that builds it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gridlib import datasets

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "pipelines" / "make_demo_admin.py"
METRIC = 4550
CODE_LENGTH = {"district": 6, "street": 9, "community": 12}


@pytest.fixture(scope="module")
def admin() -> dict[str, gpd.GeoDataFrame]:
    return {level: datasets.demo_admin(level) for level in CODE_LENGTH}


def test_schema_codes_and_flags(admin: dict[str, gpd.GeoDataFrame]) -> None:
    for level, gdf in admin.items():
        assert list(gdf.columns) == ["code", "name", "parent_code", "derived", "note", "geometry"]
        assert gdf.crs.to_epsg() == 4326
        assert gdf["code"].str.fullmatch(rf"\d{{{CODE_LENGTH[level]}}}").all(), level
        assert gdf["code"].is_unique
        assert gdf.is_valid.all() and set(gdf.geom_type) <= {"Polygon", "MultiPolygon"}
        assert (gdf["derived"] == (level != "district")).all()
        if level != "district":
            assert gdf["note"].str.startswith("derived: approximate, not an official boundary").all()
    assert sorted(admin["district"]["name"]) == sorted(datasets.DISTRICT_CODES)
    assert (admin["district"]["code"] == admin["district"]["name"].map(datasets.DISTRICT_CODES)).all()


def test_street_codes_are_official_and_parents_exist(admin: dict[str, gpd.GeoDataFrame]) -> None:
    official = datasets.demo_street_codes().set_index("code")["name"]
    streets = admin["street"]
    assert streets["code"].isin(official.index).all()
    assert (streets["name"] == streets["code"].map(official)).all()
    assert {"310115005", "310101013", "310101002", "310109018"} <= set(streets["code"])
    assert streets["parent_code"].isin(admin["district"]["code"]).all()
    assert (streets["code"].str[:6] == streets["parent_code"]).all()
    comm = admin["community"]
    assert comm["parent_code"].isin(streets["code"]).all()
    assert (comm["code"].str[:9] == comm["parent_code"]).all()
    # sequences run 001, 002, ... within each street
    seq = comm["code"].str[9:].astype(int)
    for _, group in seq.groupby(comm["parent_code"]):
        assert sorted(group) == list(range(1, len(group) + 1))


def test_levels_tile_the_study_box_and_nest(admin: dict[str, gpd.GeoDataFrame]) -> None:
    x0, y0, x1, y1 = datasets.DEMO_BBOX
    box = gpd.GeoSeries([shapely.segmentize(shapely.box(x0, y0, x1, y1), 1e-4)], crs=4326).to_crs(METRIC).iloc[0]
    metric = {k: v.to_crs(METRIC) for k, v in admin.items()}
    for level, gdf in metric.items():
        union = shapely.union_all(gdf.geometry.values)
        assert gdf.area.sum() == pytest.approx(box.area, abs=20), level  # no overlaps
        assert union.area == pytest.approx(box.area, abs=20), level  # no gaps
        assert (shapely.get_num_geometries(gdf.geometry.values) == 1).all(), level  # contiguous
    for child, parent in (("community", "street"), ("street", "district")):
        parents = metric[parent].set_index("code").geometry
        for code, geom in zip(metric[child]["parent_code"], metric[child].geometry, strict=True):
            outside = shapely.difference(geom, parents[code]).area
            assert outside < 1.0, (child, code, outside)


def test_levels_are_exact_coverages(admin: dict[str, gpd.GeoDataFrame]) -> None:
    """No slivers or overlaps between units: shared edges match vertex for vertex (issue 19)."""
    for level, gdf in admin.items():
        geoms = shapely.set_precision(gdf.to_crs(METRIC).geometry.values, 1e-3)
        assert shapely.coverage_is_valid(geoms), level
        union = shapely.union_all(geoms)
        assert abs(shapely.area(geoms).sum() - union.area) < 0.01, level  # no overlap
        assert union.geom_type == "Polygon" and shapely.get_num_interior_rings(union) == 0, level  # no gaps


def test_community_sizes_and_numbering(admin: dict[str, gpd.GeoDataFrame]) -> None:
    comm = admin["community"].to_crs(METRIC)
    km2 = comm.area / 1e6
    # one street (大桥, the river corner of 杨浦区) is smaller than a community can be
    whole_street = comm.groupby("parent_code")["code"].transform("size") == 1
    assert km2[~whole_street].between(0.2, 0.9).all(), km2.round(2).tolist()
    # numbering: the first community of each multi-community street is in its northern row
    for _, group in comm.groupby("parent_code"):
        if len(group) > 1:
            ys = group.geometry.representative_point().y.to_numpy()
            assert ys[0] >= np.max(ys) - 600.0


def test_rebuild_is_byte_identical(tmp_path: Path) -> None:
    out = tmp_path / "admin.gpkg"
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], check=True, capture_output=True, cwd=ROOT)
    bundled = datasets.data_dir() / "admin" / "lujiazui_admin.gpkg"
    assert out.read_bytes() == bundled.read_bytes()
