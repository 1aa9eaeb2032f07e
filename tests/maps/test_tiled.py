"""The tiled web map: a small page over the edition's PMTiles, attributes joined in the browser by grid code."""

from __future__ import annotations

import re
import threading
import time
from io import BytesIO

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridlib import datasets
from gridlib.errors import InputError
from gridlib.maps import legend as lg
from gridlib.maps.serve import make_server
from gridlib.maps.tiled import deck_script, pmtiles_header, tiled_page
from gridlib.maps.tiles import build_grid_tiles, open_grid_attributes, write_grid_attributes

_CLASSES = np.array(["hot_99", "hot_95", "not_significant", "cold_95"])
_COLUMNS = ["street_name", "community_name", "responsible_unit", "open_cases", "hotspot_class", "camera_road_share"]


def _attributes(grids: gpd.GeoDataFrame) -> pd.DataFrame:
    """Every 4th grid a 99 % hot spot; a responsible unit per community; a share missing on every 7th grid."""
    t = pd.DataFrame(grids.drop(columns=grids.geometry.name))
    n = np.arange(len(t))
    t["hotspot_class"] = _CLASSES[n % 4]
    t["responsible_unit"] = "单位" + t["community_code"].astype(str)
    t["open_cases"] = n % 3
    t["camera_road_share"] = np.where(n % 7 == 0, np.nan, (n % 10) / 10)
    for c in ("street_name", "community_name"):
        if c not in t.columns:
            t[c] = t[c.replace("_name", "_code")]
    return t


def _folder(grids: gpd.GeoDataFrame, folder, **options):
    build_grid_tiles(grids, folder)
    table = _attributes(grids)
    name = "grid_attributes.bin" if options.get("binary") else "grid_attributes.json"
    write_grid_attributes(table, folder / name, _COLUMNS, **options)
    return table, tiled_page(folder, attributes=name, title="责任网格地图 · 测试", attribution="测试数据")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo_tiles")
    grids = datasets.demo_grids()
    table, page = _folder(grids, folder)
    return grids, table, page


def test_page_is_small_offline_and_deterministic(demo, tmp_path):
    grids, table, page = demo
    text = page.read_text(encoding="utf-8")
    assert page.stat().st_size < 5_000_000
    # no network: the one script not inlined is the deck.gl bundle, a file beside the page named by its content,
    # written once (a night links it from the edition's tiles); no style or image from elsewhere
    assert re.findall(r"<(?:script|link|img)[^>]+(?:src|href)=\"([^\"]*)\"", text) == [deck_script(page.parent).name]
    assert (page.parent / deck_script(page.parent).name).stat().st_size > 1_000_000
    assert "sourceMappingURL" not in text and "unpkg.com" not in text.split("<script>", 3)[2][:0] + ""
    assert "python -m gridlib.maps.serve" in text  # what to do when opened from disk
    again = tiled_page(page.parent, title="责任网格地图 · 测试", attribution="测试数据", name="again.html")
    assert again.read_bytes() == page.read_bytes()
    # the class colours are the legend spec's
    assert '"hot_99":[198,36,43,255]' in text and lg.HOTSPOT_COLORS["hot_99"] == "#c6242b"


def test_header_and_errors(demo, tmp_path):
    grids, _, page = demo
    h = pmtiles_header(page.parent / "grids.pmtiles")
    lon0, lat0, lon1, lat1 = grids.to_crs(4326).total_bounds
    assert h["min_zoom"] == 11 and h["max_zoom"] == 11
    assert np.allclose(h["bounds"], [lon0, lat0, lon1, lat1], atol=1e-3)
    with pytest.raises(InputError, match="no grids.pmtiles"):
        tiled_page(tmp_path)
    (tmp_path / "grids.pmtiles").write_bytes(b"not an archive" * 20)
    with pytest.raises(InputError, match="not a PMTiles version 3"):
        tiled_page(tmp_path)
    with pytest.raises(InputError, match="kinds"):
        tiled_page(page.parent, fields=[("x", "open_cases", "percent")])


# ---------------------------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def driver(chromium):
    return chromium


def _serve(folder):
    server = make_server(folder, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _open(driver, url: str, timeout: float = 120.0) -> float:
    """Open ``url``; return the page's time (s) from navigation to the first frame drawn with data."""
    driver.get(url)
    end = time.time() + timeout
    while time.time() < end:
        ready = driver.execute_script("return window.gridlibReady")
        if ready:
            return ready / 1000
        time.sleep(0.1)
    status = driver.execute_script("return document.getElementById('gl-status').textContent")
    raise AssertionError(f"no frame with tiles and attributes within {timeout} s: {status}")


def _pixels(driver) -> np.ndarray:
    from matplotlib.image import imread

    time.sleep(0.3)  # one more frame
    return (imread(BytesIO(driver.get_screenshot_as_png()))[..., :3] * 255).round().astype(int)


def _hot_share(image: np.ndarray) -> float:
    """Share of pixels in the 99 % hot spot red (#c6242b, drawn at opacity 0.8 over the light background:
    about (203, 57, 62)); the 95 % orange (#ea6f4a) and the cold blues stay outside."""
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    return float(((r > 185) & (r < 225) & (g > 30) & (g < 95) & (b > 35) & (b < 100)).mean())


def _hover_grid(driver) -> tuple[str, str]:
    """Move the mouse onto the grid at the middle of the map; return (grid code there, tooltip text)."""
    from selenium.webdriver.common.action_chains import ActionChains

    w, h = driver.execute_script("const c = document.getElementById('deck-container');"
                                 "return [c.clientWidth, c.clientHeight]")
    x, y = w // 2, h // 2
    code = driver.execute_script(
        "const i = window.gridlibDeck.pickObject({x: arguments[0], y: arguments[1], layerIds: ['grids']});"
        "return i && i.object ? i.object.properties.grid_code : null", x, y)
    assert code, "no grid under the middle of the map"
    ActionChains(driver).move_by_offset(0, 0).perform()
    actions = ActionChains(driver)
    actions.w3c_actions.pointer_action.move_to_location(x, y)
    actions.w3c_actions.pointer_action.move_to_location(x + 1, y)
    actions.perform()
    text = ""
    for _ in range(50):
        text = driver.execute_script(
            "const t = document.querySelector('.deck-tooltip'); return t && t.offsetParent !== null ? t.innerText : ''")
        if text:
            break
        time.sleep(0.1)
    return code, text


def _check_tooltip(code: str, text: str, table: pd.DataFrame) -> None:
    print("tooltip:", text.replace("\n", " | "))
    row = table.set_index("grid_code").loc[code]
    assert f"网格 {code}" in text
    assert f"责任单位: {row['responsible_unit']}" in text
    assert f"热点: {lg.HOTSPOT_LABELS[row['hotspot_class']]}" in text
    assert f"在办案件: {row['open_cases']}" in text
    assert "街道: " in text and "社区: " in text
    assert not re.search(r"undefined|NaN|null", text), text


def _toggle_grids(driver) -> None:
    driver.find_element("css selector", '#gl-layers input[data-layer="grids"]').click()
    for _ in range(50):
        if not driver.execute_script(
                "return window.gridlibDeck.props.layers.find(l => l.id === 'grids').props.visible"):
            return
        time.sleep(0.1)
    raise AssertionError("the grid layer stayed visible after its switch was unticked")


def _view(grids: gpd.GeoDataFrame, zoom: float) -> str:
    c = grids.to_crs(4326).union_all().centroid if hasattr(grids, "union_all") else None
    lon, lat = (c.x, c.y) if c is not None else (0, 0)
    return f"#{zoom}/{lat:.6f}/{lon:.6f}"


@pytest.mark.browser
def test_demo_grids_drawn_with_classes_tooltips_and_switches(demo, driver):
    grids, table, page = demo
    server = _serve(page.parent)
    try:
        seconds = _open(driver, f"http://127.0.0.1:{server.server_port}/{page.name}{_view(grids, 14)}")
        print(f"demo ({len(grids)} grids): first frame with data after {seconds:.2f} s")
        assert driver.execute_script("return document.getElementById('gl-status').textContent") == ""
        image = _pixels(driver)
        assert _hot_share(image) > 0.05  # a quarter of the grids are 99 % hot spots
        code, text = _hover_grid(driver)
        _check_tooltip(code, text, table)
        _toggle_grids(driver)
        assert _hot_share(_pixels(driver)) < 0.002
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.browser
def test_opened_from_disk_says_to_serve_it(demo, driver):
    _, _, page = demo
    driver.get(page.as_uri())
    text = driver.execute_script("return document.getElementById('gl-status').textContent")
    assert "python -m gridlib.maps.serve" in text and str(page.parent) in text


def _lattice(n: int) -> gpd.GeoDataFrame:
    """n×n 100 m squares in Shanghai (UTM 51N), 40×40 per community, 100×100 per street."""
    xs, ys = (a.ravel() for a in np.meshgrid(np.arange(n), np.arange(n)))
    x0, y0 = 350_000, 3_460_000
    return gpd.GeoDataFrame(
        {"grid_code": [f"G{i:06d}" for i in range(n * n)],
         "community_code": [f"C{a // 40:02d}{b // 40:02d}" for a, b in zip(xs, ys, strict=True)],
         "street_code": [f"S{a // 100}{b // 100}" for a, b in zip(xs, ys, strict=True)]},
        geometry=shapely.box(x0 + xs * 100, y0 + ys * 100, x0 + xs * 100 + 100, y0 + ys * 100 + 100),
        crs=32651)


@pytest.mark.browser
@pytest.mark.slow
def test_city_of_200k_grids(driver, tmp_path):
    grids = _lattice(448)  # 200,704 grids, ~30,000 in a z11 tile
    # the city's attributes as the nightly writes them: binary columns, names dictionary-encoded, gzipped
    table, page = _folder(grids, tmp_path, compress=True, binary=True,
                          dictionary=["street_name", "community_name", "responsible_unit", "hotspot_class"])
    assert page.stat().st_size < 5_000_000
    server = _serve(tmp_path)
    try:
        seconds = _open(driver, f"http://127.0.0.1:{server.server_port}/{page.name}{_view(grids, 13)}")
        print(f"city ({len(grids)} grids): first frame with data after {seconds:.2f} s")
        assert _hot_share(_pixels(driver)) > 0.05
        code, text = _hover_grid(driver)
        _check_tooltip(code, text, table)
        # the city view at first: communities (dissolved) below the grid zoom
        seconds = _open(driver, f"http://127.0.0.1:{server.server_port}/{page.name}")
        print(f"city overview (communities): first frame after {seconds:.2f} s")
        assert driver.execute_script("return window.gridlibDeck.getViewports()[0].zoom") < 11
    finally:
        server.shutdown()
        server.server_close()


def test_binary_attributes_read_back_as_written(tmp_path):
    """Codes of different lengths (UTF-8 offsets) and missing values of every kind survive the binary form."""
    t = pd.DataFrame({"grid_code": ["A10", "A1", "网格2", "B"], "n": [1, None, 3, 0], "share": [0.12345, None, 1.0, 0],
                      "ok": [True, None, False, True], "unit": ["一队", None, "二队", "一队"]})
    cols = ["n", "share", "ok", "unit"]
    binary = open_grid_attributes(write_grid_attributes(t, tmp_path / "a.bin", cols, binary=True))
    js = open_grid_attributes(write_grid_attributes(t, tmp_path / "a.json", cols, dictionary=["unit"], compress=True))
    assert binary["grid_code"].tolist() == js["grid_code"].tolist() == sorted(t["grid_code"])
    assert binary["unit"].tolist() == js["unit"].tolist()
    assert binary["unit"].tolist() == [None, "一队", "一队", "二队"]  # A1, A10, B, 网格2
    assert binary["ok"].tolist() == [None, True, True, False]
    assert np.allclose(binary["n"].fillna(-1), [-1, 1, 0, 3])
    assert binary["share"].round(4).fillna(-1).tolist() == js["share"].fillna(-1).tolist() == [-1, 0.1234, 0, 1]
    # the same grids in JSON (a float column of whole numbers stays an integer column)
    assert js["n"].tolist()[1:] == [1, 0, 3]


def test_overlays_ride_beside_the_page(demo, tmp_path):
    import gzip
    import json

    from gridlib.maps.tiled import Overlay

    grids, _, page = demo
    folder = tmp_path / "o"
    folder.mkdir()
    for archive in page.parent.glob("*.pmtiles"):
        (folder / archive.name).write_bytes(archive.read_bytes())
    centres = grids.geometry.centroid.iloc[:3]
    points = gpd.GeoDataFrame({"case_id": ["C1", "C2", "C3"], "light": ["red", "green", None],
                               "reported_at": pd.to_datetime(["2026-11-20 08:01:30", None, "2026-11-21 09:00:00"])},
                              geometry=centres.to_numpy(), crs=grids.crs)
    lines = gpd.GeoDataFrame({"name": ["路1", None], "length_m": [12.4, None]},
                             geometry=[grids.geometry.iloc[0].boundary, grids.geometry.iloc[1]], crs=grids.crs)
    cases = Overlay("cases", "案件", points, ("案件", "case_id"), [("上报", "reported_at", "time")],
                    color_column="light", colors=lg.LIGHT_COLORS, legend={"超期": lg.LIGHT_COLORS["red"]})
    roads = Overlay("roads", "道路", lines, ("道路", "name"), [("长度", "length_m", "m")], visible=False)
    out = tiled_page(folder, overlays=[cases, roads])
    doc = json.loads(gzip.decompress((folder / "overlays.json").read_bytes()))
    assert doc["cases"]["kind"] == "point" and doc["cases"]["rows"] == [0, 1, 2]
    assert doc["cases"]["columns"]["reported_at"] == {"values": ["2026-11-20 08:01", "2026-11-21 09:00"],
                                                      "codes": [0, None, 1]}
    assert doc["roads"]["kind"] == "line" and doc["roads"]["rows"] == [0, 1]  # the polygon drawn as its outline
    assert doc["roads"]["columns"]["length_m"] == [12.4, None]
    text = out.read_text(encoding="utf-8")
    assert '<input type="checkbox" data-layer="roads"> 道路' in text  # off at first
    assert 'class="sw point"' in text and 'class="sw line"' in text  # legend rows by shape
    assert tiled_page(folder, overlays=[cases, roads], name="again.html").read_bytes() == out.read_bytes()
    with pytest.raises(InputError, match="mixes points"):
        tiled_page(folder, overlays=[Overlay("x", "x", pd.concat([points, lines]), ("x", "case_id"))])
    with pytest.raises(InputError, match="unique"):
        tiled_page(folder, overlays=[cases, cases])


def test_one_legend_builder_for_both_pages(grid_square, tmp_path):
    from gridlib.maps import deck

    legend = {"热点": "#c6242b", "盲区": ("#6a3d9a", "line")}
    page = deck.to_html(deck.polygon_layer(grid_square), tmp_path / "a.html", "图例", legend=legend)
    assert f'<div id="gl-legend">{deck.legend_rows(legend)}</div>' in page.read_text(encoding="utf-8")
    with pytest.raises(InputError, match="shape"):
        deck.legend_rows({"x": ("#000000", "star")})


@pytest.fixture
def grid_square():
    return gpd.GeoDataFrame({"n": [1]}, geometry=[shapely.box(121.5, 31.2, 121.51, 31.21)], crs=4326)


@pytest.mark.browser
def test_binary_lookup_in_the_browser(driver, tmp_path):
    """The page's binary search finds every code of different lengths and scripts, and no code that is absent."""
    codes = ["A1", "A10", "A2", "B", "网格2", "网格10"]
    grids = gpd.GeoDataFrame({"grid_code": codes}, geometry=[shapely.box(i * 100, 0, i * 100 + 100, 100)
                                                              for i in range(len(codes))], crs=32651)
    build_grid_tiles(grids, tmp_path)
    t = pd.DataFrame({"grid_code": codes, "unit": [f"单位{c}" for c in codes], "n": range(len(codes))})
    write_grid_attributes(t, tmp_path / "a.bin", ["unit", "n"], binary=True, compress=True)
    page = tiled_page(tmp_path, attributes="a.bin")
    server = _serve(tmp_path)
    try:
        _open(driver, f"http://127.0.0.1:{server.server_port}/{page.name}")
        found = driver.execute_script(
            "return arguments[0].map(c => { const i = state.lookup(c);"
            " return i === undefined ? null : [state.columns.unit(i), state.columns.n(i)]; })",
            [*codes, "A", "A3", "网格", "C"])
    finally:
        server.shutdown()
        server.server_close()
    assert found == [[f"单位{c}", i] for i, c in enumerate(codes)] + [None] * 4


def test_binary_attributes_are_compact_and_exact(tmp_path):
    """Front-coded codes (a prefix longer than 255 bytes too), the narrowest integer types, fixed-point shares and
    float32 only where a value does not fit: all read back as written."""
    import json

    long = "网" * 100  # 300 bytes of UTF-8 shared by two codes
    t = pd.DataFrame({"grid_code": ["310115004001002", "310115004001001", long + "1", long + "2", "3101"],
                      "small": [0, 255, None, 3, 1], "mid": [0, 300, 65534, None, 2], "neg": [-5, 0, 1, None, 7],
                      "share": [0.5, None, 0.12345, 1.0, 0.0], "huge": [1e12 + 0.5, 0, 1, None, 2]})
    cols = ["small", "mid", "neg", "share", "huge"]
    path = write_grid_attributes(t, tmp_path / "a.bin", cols, binary=True)
    data = path.read_bytes()
    head = json.loads(data[12:12 + int.from_bytes(data[8:12], "little")])
    assert {c: head["columns"][c]["type"] for c in cols} == {
        "small": "uint16", "mid": "uint16", "neg": "int32", "share": "uint16", "huge": "float32"}
    assert head["columns"]["share"]["scale"] == 10_000 and "prefix" in head["grid_code"]
    back = open_grid_attributes(path)
    want = t.sort_values("grid_code").reset_index(drop=True)
    assert back["grid_code"].tolist() == want["grid_code"].tolist()
    for c in ("small", "mid", "neg"):
        assert back[c].fillna(-99).tolist() == want[c].fillna(-99).tolist(), c
    assert back["share"].fillna(-1).tolist() == want["share"].round(4).fillna(-1).tolist()
    assert np.allclose(back["huge"].fillna(-1), want["huge"].astype(np.float32).fillna(-1))
    t["small"] = t["small"].clip(upper=254)  # 255 means missing in a uint8
    small = write_grid_attributes(t, tmp_path / "b.bin", ["small"], binary=True).read_bytes()
    assert b'"small":{"type":"uint8"' in small


# ------------------------------------------------------------------------- the grids archive's own MVT writer

def _read_pieces(path, zoom: int = 11) -> list[tuple[str, bytes]]:
    """(grid code, normalised WKB) of every feature of every tile of ``zoom``, read back through GDAL."""
    import pyogrio

    back = pyogrio.read_dataframe(path, layer="grids", ZOOM_LEVEL=zoom)
    geoms = shapely.normalize(back.geometry.to_numpy())
    return sorted(zip(back["grid_code"], shapely.to_wkb(geoms), strict=True))


def _edge_grids() -> gpd.GeoDataFrame:
    """Grids (EPSG:3857) about the corner of four z11 tiles: one across the vertical tile edge with a hole cut by
    it, a two-part grid with both parts in one tile (one in the next tile's buffer), one over the corner (four
    tiles), one with a hole inside a tile, a lattice of small squares about the corner, and a grid of 0.5 m (a
    tenth of a z11 tile unit)."""
    size = 2 * 20037508.342789244 / 2**11
    x, y = -20037508.342789244 + 1707 * size, 20037508.342789244 - 846 * size  # a z11 tile corner near Shanghai

    def holed(x0: float, y0: float) -> shapely.Polygon:
        return shapely.box(x0 - 300, y0, x0 + 300, y0 + 600).difference(shapely.box(x0 - 100, y0 + 200, x0 + 100,
                                                                                      y0 + 400))
    two = shapely.MultiPolygon([shapely.box(x - 900, y - 900, x - 700, y - 700), shapely.box(x - 200, y - 900,
                                                                                            x - 150, y - 850)])
    xs, ys = np.meshgrid(np.arange(-6, 6) * 170.0, np.arange(-6, 6) * 170.0)
    small = shapely.box(x + xs.ravel() - 2000, y + ys.ravel() + 2000, x + xs.ravel() - 1900, y + ys.ravel() + 2100)
    codes = ["E1", "E2", "E3", "E4", *[f"L{i:03d}" for i in range(len(small))], "T0"]
    geoms = [holed(x, y + 100), two, shapely.box(x - 50, y - 60, x + 70, y + 40), holed(x + 2000, y + 2000), *small,
             shapely.box(x + 3000, y, x + 3000.5, y + 0.5)]
    return gpd.GeoDataFrame({"grid_code": codes}, geometry=geoms, crs=3857)


def test_grids_archive_has_gdal_mvt_geometry(tmp_path):
    """The grids archive's own writer gives GDAL's MVT writer's tiles: per tile the same features with the same
    vertices (rings read back through GDAL and normalised), clipped at the same 80-unit buffer: on a rotated
    lattice (UTM) across tile edges, and on grids with holes and parts cut by a tile edge and corner."""
    from gridlib.maps import tiles

    for name, grids in (("lattice", _lattice(210)), ("edges", _edge_grids().iloc[:-1])):
        own = build_grid_tiles(grids[["grid_code", "geometry"]], tmp_path / name)["grids"]
        ordered = grids.sort_values("grid_code")[["grid_code", "geometry"]].to_crs(3857)
        gdal = tiles._write_archive(ordered, tmp_path / f"{name}-gdal.pmtiles", "grids", 11, 11)
        pieces = _read_pieces(own)
        assert len(pieces) > len(grids) and pieces == _read_pieces(gdal), name
        assert pmtiles_header(own) == pmtiles_header(gdal)
    # GDAL's reader clips each tile's features at the tile edge: the pieces make up each grid again, holes and parts
    unit = 2 * 20037508.342789244 / 2**11 / 4096
    edges = _edge_grids().set_index("grid_code").geometry
    for code, n_pieces, n_parts, n_holes in (("E1", 2, 1, 1), ("E2", 1, 2, 0), ("E3", 4, 1, 0), ("E4", 1, 1, 1)):
        mine = [shapely.from_wkb(w) for c, w in pieces if c == code]
        whole = shapely.union_all(mine)
        assert len(mine) == n_pieces and shapely.get_num_geometries(whole) == n_parts, code
        assert sum(shapely.get_num_interior_rings(p) for p in shapely.get_parts(whole)) == n_holes, code
        assert shapely.hausdorff_distance(whole, edges[code]) < unit, code


def test_grids_smaller_than_a_tile_unit_are_kept(tmp_path):
    """A grid that rounds to no area at zoom 11 (GDAL's writer drops it) is kept as one tile unit at its place."""
    grids = _edge_grids()
    out = build_grid_tiles(grids, tmp_path)["grids"]
    pieces = dict(_read_pieces(out))
    assert len(pieces) == len(grids)
    tiny = shapely.from_wkb(pieces["T0"])
    unit = 2 * 20037508.342789244 / 2**11 / 4096
    assert abs(tiny.area - unit**2) < 1e-6 * unit**2 and tiny.distance(grids.geometry.iloc[-1]) < unit


def test_grids_archive_with_leaf_directories_and_more_zooms(tmp_path, monkeypatch):
    """Zooms 11–13 and a root directory too big for its limit (leaf directories): every grid at every zoom."""
    import struct

    from gridlib.maps import tiles

    grids = _lattice(120)
    monkeypatch.setattr(tiles, "_ROOT_BYTES", 200)
    out = build_grid_tiles(grids[["grid_code", "geometry"]], tmp_path, grid_maxzoom=13)["grids"]
    leaves = struct.unpack("<Q", out.read_bytes()[48:56])[0]
    assert leaves > 0
    assert tiles.grid_codes_per_zoom(out, [11, 12, 13]) == {11: len(grids), 12: len(grids), 13: len(grids)}
    assert pmtiles_header(out)["max_zoom"] == 13


def test_grids_must_be_polygons(tmp_path):
    grids = _lattice(2)
    grids.loc[1, "geometry"] = shapely.Point(350_000, 3_460_000)
    with pytest.raises(InputError, match="G000001"):
        build_grid_tiles(grids, tmp_path)
    with pytest.raises(InputError, match="no grids"):
        build_grid_tiles(grids.iloc[:0], tmp_path)
