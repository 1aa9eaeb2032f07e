"""Tests of gridlib.datasets: the bundled real data is there, complete and correctly typed."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridlib import datasets
from gridlib.errors import InputError

GEO_READERS = {
    "demo_roads": 1094,
    "demo_buildings": 1450,
    "demo_water": 38,
    "demo_pois": 493,
    "demo_landuse": 234,
    "demo_boundaries": 3,
    "demo_places": 6,
    "demo_transit": 18,
    "helsinki_roads": 2577,
    "helsinki_buildings": 572,
    "helsinki_cameras": 221,
}


@pytest.mark.parametrize(("name", "rows"), sorted(GEO_READERS.items()))
def test_every_reader_returns_wgs84_with_the_documented_row_count(name: str, rows: int) -> None:
    gdf = getattr(datasets, name)()
    assert len(gdf) == rows
    assert gdf.crs is not None and gdf.crs.to_epsg() == 4326
    assert not gdf.geometry.is_empty.any()


def test_every_data_folder_documents_its_source() -> None:
    root = datasets.data_dir()
    for folder in ["roads", "buildings", "cameras", "context", "admin"]:
        text = (root / folder / "SOURCE.md").read_text(encoding="utf-8")
        assert "Licence" in text or "licence" in text.lower()
        assert "CRS" in text or "WGS84" in text


def test_demo_layers_lie_in_the_demo_box() -> None:
    x0, y0, x1, y1 = datasets.DEMO_BBOX
    for gdf in (datasets.demo_roads(), datasets.demo_pois(), datasets.demo_buildings()):
        bx0, by0, bx1, by1 = gdf.total_bounds
        # buildings cut at the tile block's edge reach about 100 m beyond the roads
        assert bx0 > x0 - 0.002 and bx1 < x1 + 0.002 and by0 > y0 - 0.002 and by1 < y1 + 0.002


def test_roads_bbox_is_the_declared_study_area() -> None:
    bounds = datasets.demo_roads().total_bounds
    assert bounds == pytest.approx(datasets.DEMO_BBOX, abs=1e-6)


def test_polygon_filters_keep_only_polygons() -> None:
    for gdf in (datasets.demo_water(polygons=True), datasets.demo_landuse(polygons=True)):
        assert set(gdf.geom_type) <= {"Polygon", "MultiPolygon"}
        assert len(gdf) > 0


def test_pois_by_kind_and_unknown_kind_is_a_clear_error() -> None:
    assert len(datasets.demo_pois("traffic_signals")) == 77
    with pytest.raises(InputError, match="no POI of kind"):
        datasets.demo_pois("spaceport")


def test_codes_keep_leading_zeros_and_text_dtype() -> None:
    streets = datasets.demo_street_codes()
    assert len(streets) == 72
    assert streets["code"].str.fullmatch(r"\d{9}").all()
    assert set(streets["county_code"]) == set(datasets.DISTRICT_CODES.values())
    townships = datasets.zhengzhou_codes("township")
    assert len(townships) == 208 and townships["township_code"].str.fullmatch(r"4101\d{5}").all()
    counties = datasets.zhengzhou_codes("county")
    assert {"410108", "410171"} <= set(counties["county_code"])
    with pytest.raises(InputError, match="unknown code level"):
        datasets.zhengzhou_codes("village")  # type: ignore[arg-type]


def test_zhengzhou_gcj02_is_offset_from_wgs84_by_the_published_shift() -> None:
    wgs = datasets.zhengzhou_districts("wgs84").set_index("adcode")
    gcj = datasets.zhengzhou_districts("gcj02").set_index("adcode")
    assert wgs.attrs["coordinate_scheme"] == "wgs84" and gcj.attrs["coordinate_scheme"] == "gcj02"
    dx = gcj.geometry.bounds.minx - wgs.geometry.bounds.minx
    dy = gcj.geometry.bounds.miny - wgs.geometry.bounds.miny
    # ≈ +0.0061° lon / −0.0011° lat around Zhengzhou (data/admin/SOURCE.md)
    assert dx.between(0.004, 0.008).all() and dy.between(-0.003, 0.0).all()
    assert datasets.zhengzhou_city().adcode.item() == "410100"
    with pytest.raises(InputError, match="expected 'wgs84' or 'gcj02'"):
        datasets.zhengzhou_districts("bd09")  # type: ignore[arg-type]


def test_gridlib_data_env_var_overrides_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GRIDLIB_DATA", str(tmp_path))
    assert datasets.data_dir() == tmp_path.resolve()
    with pytest.raises(InputError, match="missing"):
        datasets.demo_roads()
    with pytest.raises(InputError, match="demo grids have not been built"):
        datasets.demo_grids()
    with pytest.raises(InputError, match="make_demo_admin"):
        datasets.demo_admin("street")


def test_demo_grids_editions_and_the_missing_edition(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    grids = datasets.demo_grids()
    edited = datasets.demo_grids("edited")
    assert grids.crs is not None and grids["grid_code"].is_unique and len(edited) > 0
    (tmp_path / "grids").mkdir()
    gdf = datasets.demo_boundaries()[["geometry"]].assign(grid_code="x")
    gdf.to_file(tmp_path / "grids" / "lujiazui_grids.gpkg", layer="grids", engine="pyogrio")
    monkeypatch.setenv("GRIDLIB_DATA", str(tmp_path))
    assert len(datasets.demo_grids()) == 3
    with pytest.raises(InputError, match=r"editions there: \['2026'\]"):
        datasets.demo_grids("2019")


def test_unknown_admin_level_is_a_clear_error() -> None:
    with pytest.raises(InputError, match="unknown admin level"):
        datasets.demo_admin("province")  # type: ignore[arg-type]


def test_shared_data_dir_is_none_or_a_folder() -> None:
    shared = datasets.shared_data_dir()
    assert shared is None or (shared / "README.md").is_file()
