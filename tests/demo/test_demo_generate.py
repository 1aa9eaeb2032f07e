"""gl.demo.generate: determinism, labelling, and the properties later features rely on."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq
import pytest

import gridlib as gl
from gridlib.cli import main
from gridlib.demo import FILES
from gridlib.errors import InputError

SMALL = {"n_cases": 400, "n_trucks": 9}


def test_every_file_is_written_and_labelled_synthetic(demo_dir: Path) -> None:
    assert sorted(p.name for p in demo_dir.iterdir()) == sorted(FILES.values())
    readme = (demo_dir / "README.txt").read_text(encoding="utf-8")
    assert "SYNTHETIC" in readme and "OpenStreetMap contributors" in readme and "ODbL" in readme
    for name in FILES.values():
        if name.endswith(".geojson"):
            head = json.loads((demo_dir / name).read_text(encoding="utf-8"))
            assert head["description"].startswith("synthetic: true"), name
            assert "OpenStreetMap contributors" in head["description"]
    meta = json.loads(pq.read_schema(demo_dir / "fixes.parquet").metadata[b"gridlib"])
    assert meta["synthetic"] is True
    assert json.loads((demo_dir / "truth.json").read_text(encoding="utf-8"))["synthetic"] is True


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    a = gl.demo.generate(tmp_path / "a", seed=3, **SMALL)
    b = gl.demo.generate(tmp_path / "b", seed=3, **SMALL)
    c = gl.demo.generate(tmp_path / "c", seed=4, **SMALL)
    for layer in a:
        assert a[layer].read_bytes() == b[layer].read_bytes(), layer
    for layer in ("cases", "components", "cameras", "fixes", "permits", "sites", "truth"):
        assert a[layer].read_bytes() != c[layer].read_bytes(), layer


def test_bad_arguments_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="at least one truck"):
        gl.demo.generate(tmp_path, n_trucks=0)
    with pytest.raises(InputError, match="not a date"):
        gl.demo.generate(tmp_path, end_date="2026-02-30")


def test_cli_writes_the_data_and_reports_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--quiet", "demo-data", "--out", str(tmp_path), "--cases", "300", "--trucks", "9",
                 "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "cases.csv" in out and "fixes.parquet" in out
    assert (tmp_path / "cases.csv").is_file()
    assert main(["demo-data", "--out", str(tmp_path), "--trucks", "0"]) == 2
    assert "at least one truck" in capsys.readouterr().err


def test_team_bases_responsibility_and_sections_match_the_admin_layers(demo_dir: Path) -> None:
    streets = gl.datasets.demo_admin("street")
    comms = gl.datasets.demo_admin("community")
    resp = pd.read_csv(demo_dir / "responsibility.csv", dtype=str)
    assert set(resp.loc[resp["level"] == "street", "code"]) == set(streets["code"])
    assert set(resp.loc[resp["level"] == "community", "code"]) == set(comms["code"])
    assert resp["phone"].str.fullmatch(r"100-0000-\d{4}").all() and resp["person"].str.contains("某").all()
    bases = gpd.read_file(demo_dir / "team_bases.geojson")
    assert bases["base_id"].is_unique and bases["street_code"].isin(streets["code"]).all()
    joined = gpd.sjoin(bases, streets[["code", "geometry"]], predicate="within")
    assert (joined["street_code"] == joined["code"]).mean() >= 0.8  # bases sit on a road, at worst across it
    sections = gpd.read_file(demo_dir / "road_sections.geojson")
    assert sections["section_id"].is_unique and (sections["width_m"] > 5).all() and sections["unit"].str.len().gt(0).all()
    metric = sections.to_crs(4550)
    assert (metric.length <= 800.5).all() and (metric.length >= 30).all()
    major = gl.datasets.demo_roads().to_crs(4550)
    major = major[major["kind"] == "major_road"].geometry.union_all()
    assert (metric.geometry.distance(major) < 1.0).all()


def test_frontage_zones_are_small_polygons_in_front_of_real_shops(demo_dir: Path) -> None:
    zones = gpd.read_file(demo_dir / "frontage_zones.geojson").to_crs(4550)
    assert len(zones) > 50 and zones["zone_id"].is_unique and zones.is_valid.all()
    assert zones.area.between(20, 5_000).all()
    river = gl.datasets.demo_water(polygons=True).to_crs(4550)
    river = river[river["name"].isin(["黄浦江", "苏州河"])].geometry.union_all()
    assert (zones.intersection(river).area < 1.0).all()
    shops = gl.datasets.demo_pois().to_crs(4550).geometry.union_all()
    assert (zones.distance(shops) < 60).all()
