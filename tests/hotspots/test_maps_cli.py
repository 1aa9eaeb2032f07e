"""Hotspot maps (PNG + pydeck layer from one call) and the ``gridlib hotspots`` command on real grids."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
from hotspot_grids import square_grid
from matplotlib.image import imread
from typer.testing import CliRunner

import gridlib as gl
from gridlib.cli import app, main
from gridlib.hotspots import emerging, gistar, hotspot_layer, hotspot_map, legend_for, tooltip_html
from gridlib.hotspots.maps import CATEGORY_COLORS, CLASS_COLORS


def _result() -> gpd.GeoDataFrame:
    grid = square_grid(15, 15)
    x = np.zeros(len(grid))
    x[:40] = 6
    return gistar(grid.assign(count=x), "count", permutations=9999)


def test_hotspot_map_png_is_reproducible_and_layer_has_chinese_labels(tmp_path):
    res = _result()
    png, again = tmp_path / "a.png", tmp_path / "b.png"
    hotspot_map(res, png, title="热点测试")
    hotspot_map(res, again, title="热点测试")
    layer = hotspot_layer(res)
    assert png.read_bytes() == again.read_bytes()
    assert imread(png).shape[0] > 500
    row = next(r for r in layer.data if r["hotspot_class"] == "hot_99")
    assert row["label_zh"].startswith("热点") and row["hotspot_class"].startswith("hot")
    assert row["_fill"][:3] == [int(CLASS_COLORS[row["hotspot_class"]][i:i + 2], 16) for i in (1, 3, 5)]
    assert "热点" in next(iter(legend_for(res)))
    assert "{label_zh}" in tooltip_html(res) and "{count}" in tooltip_html(res)
    assert len(hotspot_layer(res).data) == len(res)


def test_emerging_results_use_category_colours():
    grid = square_grid(5, 5)
    cases = pd.DataFrame({"grid_code": ["G00000"] * 12,
                          "reported_at": pd.date_range("2026-01-01", periods=12, freq="7D")})
    em = emerging(cases, grid, n_bins=12)
    layer = hotspot_layer(em)
    cats = {row["category"] for row in layer.data}
    assert cats <= set(CATEGORY_COLORS)


@pytest.mark.slow
def test_cli_on_the_bundled_lujiazui_grids(tmp_path):
    import gridlib as gl

    grids = gl.datasets.demo_grids()
    rng = np.random.default_rng(0)
    centres = grids.geometry.representative_point()
    cluster = np.flatnonzero(centres.distance(centres.iloc[500]) < 250)  # a grid and those around it
    pick = np.r_[rng.integers(0, len(grids), 600), np.repeat(cluster, 25)]  # background + a cluster
    centres = centres.to_crs(4326)
    times = pd.Timestamp("2026-11-01") + pd.to_timedelta(rng.integers(0, 28 * 24, len(pick)), unit="h")
    cases = pd.DataFrame({
        "case_id": [f"C{i:05d}" for i in range(len(pick))], "class_code": "06012",
        "reported_at": times.strftime("%Y-%m-%dT%H:%M:%S"),
        "lon": centres.x.to_numpy()[pick].round(6), "lat": centres.y.to_numpy()[pick].round(6),
    })
    cases.loc[len(cases)] = ["BAD", "06012", "2026-11-02T00:00:00", None, None]
    csv = tmp_path / "cases.csv"
    cases.to_csv(csv, index=False)
    grid_file = tmp_path / "grids.gpkg"
    grids.to_file(grid_file, layer="grids")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["hotspots", str(csv), "--grids", str(grid_file), "--out", str(out),
                                      "--period", "30D", "--emerging", "--bins", "4W"])
    assert result.exit_code == 0, result.output
    assert "hot_" in result.output, result.output
    for name in ("hotspots.gpkg", "hotspots.png", "hotspots.html", "emerging.png"):
        assert (out / name).stat().st_size > 0
    layers = set(pyogrio.list_layers(out / "hotspots.gpkg")[:, 0])
    assert layers == {"hotspots", "emerging"}
    hot = gpd.read_file(out / "hotspots.gpkg", layer="hotspots")
    assert len(hot) == len(grids) and hot["count"].sum() == len(pick)
    in_cluster = hot["grid_code"].isin(grids["grid_code"].iloc[cluster])
    assert hot.loc[in_cluster, "hotspot_class"].str.startswith("hot").mean() > 0.5
    far = (grids.geometry.representative_point().distance(grids.geometry.iloc[500].centroid) > 800).to_numpy()
    assert not hot.loc[far, "hotspot_class"].str.startswith("hot").any()



def test_cli_bad_input_is_one_line(tmp_path, capsys):
    csv = tmp_path / "cases.csv"
    csv.write_text("case_id,lon,lat,reported_at\nA,121.5,31.23,2026-11-01T08:00:00\n", encoding="utf-8")
    assert main(["hotspots", str(csv), "--out", str(tmp_path / "o")]) == 2
    assert "--store" in capsys.readouterr().err
    grid_file = tmp_path / "g.gpkg"
    square_grid(3, 3).to_file(grid_file, layer="grids")
    assert main(["hotspots", str(csv), "--grids", str(grid_file), "--out", str(tmp_path / "o"), "--level", "h3:7"]) == 2
    assert "resolution" in capsys.readouterr().err


def test_cli_leaves_the_river_out_with_water(tmp_path):
    """Without a water rule the CLI painted the Huangpu as cold spots; with --water it is left out."""
    grids = gl.datasets.demo_grids()
    water = gl.datasets.demo_water(polygons=True)
    wet = gl.water.is_water(grids, water)
    rng = np.random.default_rng(1)
    land = np.flatnonzero(~wet)
    pick = land[rng.integers(0, len(land), 3000)]
    centres = grids.geometry.representative_point().to_crs(4326)
    csv = tmp_path / "cases.csv"
    pd.DataFrame({"case_id": [f"C{i:05d}" for i in range(len(pick))], "class_code": "06012",
                  "reported_at": "2026-11-10T08:00:00", "lon": centres.x.to_numpy()[pick].round(6),
                  "lat": centres.y.to_numpy()[pick].round(6)}).to_csv(csv, index=False)
    grid_file, water_file = tmp_path / "grids.gpkg", tmp_path / "water.gpkg"
    grids.to_file(grid_file, layer="grids")
    water.to_file(water_file, layer="water")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["hotspots", str(csv), "--grids", str(grid_file), "--water", str(water_file),
                                      "--out", str(out), "--permutations", "999"])
    assert result.exit_code == 0, result.output
    hot = gpd.read_file(out / "hotspots.gpkg", layer="hotspots").set_index("grid_code").loc[grids["grid_code"]]
    assert wet.sum() > 100
    assert (hot["hotspot_class"].to_numpy()[wet] == "water_excluded").all()
    assert not hot["hotspot_class"].to_numpy()[~wet].astype(str).tolist().count("water_excluded")
