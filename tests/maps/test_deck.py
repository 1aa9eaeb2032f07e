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


_BOUNDS_ON_SCREEN_JS = """
const d = window.gridlibDeck;
if (!d || !d.layerManager || !d.layerManager.getLayers().some(l => l.isLoaded)) return null;
const vp = d.getViewports()[0], b = arguments[0];
const [x0, y0] = vp.project([b[0], b[3]]), [x1, y1] = vp.project([b[2], b[1]]);
return {x0, y0, x1, y1, width: vp.width, height: vp.height};
"""


@pytest.mark.browser
@pytest.mark.parametrize("size", [(600, 450), (1600, 1000)])
def test_html_opens_fitted_to_the_window(grid, tmp_path, chromium, size):
    """Issue 16.1: the map opens framed on the data at the window's size — neither cut off in a small
    window nor a small patch in a large one (the written view was fitted to 1000 x 650 for every window)."""
    path = deck.to_html(deck.polygon_layer(grid), tmp_path / "fit.html", "视野")
    lon, lat = grid.to_crs(4326).total_bounds.reshape(2, 2).T
    bounds = [lon[0], lat[0], lon[1], lat[1]]
    driver = chromium
    before = driver.get_window_size()
    try:
        driver.set_window_size(*size)
        driver.get(path.as_uri())
        box = None
        for _ in range(150):
            box = driver.execute_script(_BOUNDS_ON_SCREEN_JS, bounds)
            if box:
                break
            time.sleep(0.2)
    finally:
        driver.set_window_size(before["width"], before["height"])
    assert box, "the deck never loaded"
    # the whole data is in view ...
    assert 0 <= box["x0"] < box["x1"] <= box["width"] and 0 <= box["y0"] < box["y1"] <= box["height"], box
    # ... and fills the window in its limiting direction (zoom margin 0.25: 2**-0.25 = 84 %)
    fill = max((box["x1"] - box["x0"]) / box["width"], (box["y1"] - box["y0"]) / box["height"])
    assert 0.8 < fill < 0.9, (fill, box)
    # a view given by the caller is kept as given
    given = deck.to_html(deck.polygon_layer(grid), tmp_path / "given.html", "视野",
                         view_state=deck.pdk.ViewState(longitude=121.5, latitude=31.2, zoom=9.5))
    assert '"zoom":9.5' in given.read_text(encoding="utf-8")
    assert "const dataBounds = null;" in given.read_text(encoding="utf-8")


def test_both_web_pages_share_one_style(grid, tmp_path):
    """Review: the tiled page's CSS was a copy of this page's (already drifting in line breaks); one constant now."""
    from gridlib.maps import tiled

    assert deck._PAGE.startswith(deck.PAGE_HEAD) and tiled._PAGE.startswith(deck.PAGE_HEAD)
    assert deck.PAGE_HEAD.endswith(deck.PAGE_CSS)
    for template in (deck._PAGE, tiled._PAGE):  # no rule of the shared style written again beside it
        assert template.count("#gl-legend .sw {{") == 1 and template.count("#deck-container {{") == 1
    text = deck.to_html(deck.polygon_layer(grid), tmp_path / "a.html", "样式").read_text(encoding="utf-8")
    assert deck.PAGE_CSS.format(background=deck.BACKGROUND, fonts=deck.FONT_STACK) in text
