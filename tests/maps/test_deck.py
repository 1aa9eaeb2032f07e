"""pydeck helpers: layer records, WGS84 output, self-contained HTML that renders offline."""

from __future__ import annotations

import json
import re
import time

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import LineString, MultiPolygon, Point, box

from gridlib.errors import InputError
from gridlib.maps import deck


@pytest.fixture
def grid() -> gpd.GeoDataFrame:
    x0, y0 = 357000.0, 3458000.0
    cells = [box(x0 + i * 100, y0 + j * 100, x0 + i * 100 + 100, y0 + j * 100 + 100)
             for i in range(20) for j in range(15)]
    cls = np.where(np.arange(len(cells)) % 5 == 0, "hot_99", "not_significant")
    return gpd.GeoDataFrame({"grid_code": [f"G{i:03d}" for i in range(len(cells))], "cls": cls},
                            geometry=cells, crs="EPSG:4550")


def _page_json(text: str) -> dict:
    match = re.search(r"const jsonInput = (\{.*?\});\n", text)
    assert match
    return json.loads(match.group(1).replace("<\\/", "</"))


def test_polygon_layer_is_wgs84_with_category_colours(grid):
    layer = deck.polygon_layer(grid, fill_color="cls", colors={"hot_99": "#b2182b"})
    assert len(layer.data) == len(grid)
    lon, lat = layer.data[0]["polygon"][0][0]
    assert 121 < lon < 122 and 31 < lat < 32
    assert layer.data[0]["_fill"] == [178, 24, 43, 255] and layer.data[1]["_fill"] == [238, 238, 238, 255]
    assert layer.data[0]["grid_code"] == "G000"


def test_multipolygon_parts_and_holes_are_kept():
    shell = box(0, 0, 10, 10).difference(box(4, 4, 6, 6))
    gdf = gpd.GeoDataFrame({"k": [1]}, geometry=[MultiPolygon([shell, box(20, 20, 21, 21)])], crs="EPSG:3857")
    layer = deck.polygon_layer(gdf)
    assert len(layer.data) == 2
    assert len(layer.data[0]["polygon"]) == 2  # exterior + hole


def test_line_and_point_layers():
    lines = gpd.GeoDataFrame({"name_zh": ["世纪大道"]},
                             geometry=[LineString([(121.5, 31.23), (121.52, 31.22)])], crs=4326)
    assert deck.line_layer(lines).data[0]["name_zh"] == "世纪大道"
    outline = deck.line_layer(gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)], crs=4326))
    assert len(outline.data[0]["path"]) == 5
    pts = gpd.GeoDataFrame({"t": [np.datetime64("2026-01-02T03:04:05")]}, geometry=[Point(121.5, 31.2)], crs=4326)
    rec = deck.point_layer(pts).data[0]
    assert rec["t"] == "2026-01-02T03:04:05" and rec["position"] == [121.5, 31.2]


def test_layer_input_errors(grid):
    with pytest.raises(InputError, match="polygons"):
        deck.polygon_layer(gpd.GeoDataFrame(geometry=[Point(0, 0)], crs=4326))
    with pytest.raises(InputError, match="no CRS"):
        deck.polygon_layer(gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)]))
    with pytest.raises(InputError, match="colour"):
        deck.rgba([300, 0, 0])


def test_html_is_self_contained_and_deterministic(grid, tmp_path):
    layers = [deck.polygon_layer(grid, fill_color="cls", colors={"hot_99": "#b2182b"}, id="g")]
    a = deck.to_html(layers, tmp_path / "a.html", "热点地图", tooltip="<b>{grid_code}</b> 类别 {cls}",
                     legend={"热点 99%": "#b2182b"})
    b = deck.to_html(layers, tmp_path / "b.html", "热点地图", tooltip="<b>{grid_code}</b> 类别 {cls}",
                     legend={"热点 99%": "#b2182b"})
    text = a.read_text(encoding="utf-8")
    assert a.read_bytes() == b.read_bytes()
    # Nothing is fetched at view time: no external script, stylesheet, source map or basemap.
    assert not re.search(r"<(script|link)[^>]+(src|href)=", text)
    assert "sourceMappingURL" not in text
    page = _page_json(text)
    assert "mapStyle" not in page and "mapProvider" not in page
    assert page["layers"][0]["lineWidthUnits"] == "pixels"  # a constant, not an accessor expression
    view = page["initialViewState"]
    assert 121.4 < view["longitude"] < 121.6 and 13 < view["zoom"] < 17
    assert "热点地图" in text and "类别" in text


@pytest.mark.browser
def test_html_renders_in_headless_chromium(grid, tmp_path, chromium):
    path = deck.to_html(deck.polygon_layer(grid, fill_color="cls", colors={"hot_99": "#b2182b"}),
                        tmp_path / "m.html", "渲染测试")
    driver = chromium  # from tests/conftest.py
    driver.get(path.as_uri())
    loaded = None
    for _ in range(150):
        loaded = driver.execute_script(
            "const d = window.gridlibDeck; if (!d || !d.layerManager) return null;"
            "return d.layerManager.getLayers().filter(l => l.isLoaded).map(l => l.id);")
        if loaded and "polygons" in loaded:
            break
        time.sleep(0.2)
    assert loaded and "polygons" in loaded
    time.sleep(0.5)  # one more frame drawn
    png = driver.get_screenshot_as_png()
    from io import BytesIO

    from matplotlib.image import imread

    image = (imread(BytesIO(png))[..., :3] * 255).round().astype(int)
    red = (image[..., 0] > 150) & (image[..., 1] < 80) & (image[..., 2] < 90)
    assert red.mean() > 0.01  # the hot cells are drawn
