"""Above the city threshold the nightly web map is tiled: edition tiles built once and reused, a small page, the
night's attributes; reruns stay byte-identical."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import geopandas as gpd
import pytest

import gridlib as gl
from gridlib.maps.tiles import open_grid_attributes
from gridlib.nightly import NightlyOptions, load_demo_store, run_nightly

DATE = "2026-11-21"
FAST = NightlyOptions(permutations=999)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def city_runs(tmp_path_factory, demo_dir):
    """Two nights into one output folder with the demo's 1,000 grids treated as a city (threshold 100)."""
    store_path = tmp_path_factory.mktemp("store") / "store.gpkg"
    load_demo_store(gl.store.open(store_path), demo_dir)
    out = tmp_path_factory.mktemp("products")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("gridlib.nightly.maps._MAX_DRAWN_GRIDS", 100)
        manifest = run_nightly(gl.store.open(store_path), DATE, out, options=FAST)
        first = _files(out / DATE)
        cache = sorted((out / ".runs" / "tiles").iterdir())
        stamps = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in cache[0].iterdir()}
        again = run_nightly(gl.store.open(store_path), DATE, out, options=FAST)
    return out, manifest, first, cache, stamps, again


def test_city_night_writes_the_tiled_map(city_runs):
    out, manifest, first, cache, _, _ = city_runs
    products = out / DATE
    assert not (products / "webmap.html").exists()
    names = sorted(p.name for p in (products / "webmap").iterdir())
    bundle = [n for n in names if n.startswith("deck-") and n.endswith(".js")]  # deck.gl, linked as the tiles
    assert names == sorted(["communities.pmtiles", "grid_attributes.bin", "grids.pmtiles", "index.html",
                            "overlays.json", "streets.pmtiles", *bundle]) and len(bundle) == 1
    # what the night writes itself (the archives and the bundle are the edition's): well under 5 MB
    assert (products / "webmap" / bundle[0]).stat().st_ino == (cache[0] / bundle[0]).stat().st_ino
    assert (products / "webmap" / "index.html").stat().st_size < 5_000_000
    assert 'href="webmap/index.html"' in (products / "index.html").read_text(encoding="utf-8")
    assert "webmap/grids.pmtiles" in manifest["outputs"]
    # the page's attributes are every grid's, the GeoPackage's classes (binary columnar file)
    doc = open_grid_attributes(products / "webmap" / "grid_attributes.bin")
    grid_map = gpd.read_file(products / "responsibility_map.gpkg", layer="grid_responsibility")
    assert doc["grid_code"].tolist() == sorted(grid_map["grid_code"])
    ordered = grid_map.sort_values("grid_code")
    assert doc["hotspot_class"].tolist() == ordered["hotspot_class"].where(ordered["hotspot_class"].notna(), None).tolist()
    assert doc["open_cases"].tolist() == ordered["open_cases"].astype(float).tolist()
    assert {"responsible_unit", "street_name", "community_name", "open_cases"} <= set(doc.columns)
    # the small layers of the self-contained map ride beside the page: every open case, violation and base
    overlays = json.loads(gzip.decompress((products / "webmap" / "overlays.json").read_bytes()))
    assert sorted(overlays) == ["blind_spots", "open_cases", "team_bases", "truck_stops", "truck_violations"]
    cases = gpd.read_file(products / "responsibility_map.gpkg", layer="assigned_cases")
    assert len(overlays["open_cases"]["rows"]) == cases["light"].notna().sum()
    violations = gpd.read_file(products / "responsibility_map.gpkg", layer="violations")
    assert len(set(overlays["truck_violations"]["rows"])) + len(overlays["truck_stops"]["rows"]) == len(violations)
    assert (products / "webmap" / "overlays.json").stat().st_size < 1_000_000
    # the archives are the edition's, linked from the cache beside the runs
    assert len(cache) == 1 and cache[0].name.startswith(manifest["grid_edition"]["edition_id"])
    for archive in cache[0].iterdir():
        assert (products / "webmap" / archive.name).read_bytes() == archive.read_bytes()


def test_second_night_reuses_the_tiles_and_is_byte_identical(city_runs):
    out, _, first, cache, stamps, _ = city_runs
    assert sorted((out / ".runs" / "tiles").iterdir()) == cache
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in cache[0].iterdir()} == stamps  # not rebuilt
    second = _files(out / DATE)
    assert sorted(second) == sorted(first)
    assert [n for n in first if first[n] != second[n] and n != "manifest.json"] == []


def test_the_tiles_are_keyed_by_the_grids_digest_the_run_worked_out(city_runs, tmp_path, monkeypatch):
    _, manifest, _, cache, _, _ = city_runs
    # named by the manifest's digest of the grids: the products step does not fingerprint a city's grids again
    assert cache[0].name == f"{manifest['grid_edition']['edition_id']}-{manifest['inputs']['grids']['sha256'][:16]}"
    from gridlib.nightly import maps

    digests = []
    monkeypatch.setattr(maps, "frame_digest", lambda frame: digests.append(len(frame)) or "0" * 64)
    grids = gl.datasets.demo_grids()
    for digest in ("f", "0"):
        (tmp_path / f"E0001-{digest * 16}").mkdir()  # built already
    assert maps._edition_tiles(grids, {"edition_id": "E0001"}, tmp_path, "f" * 64).name == f"E0001-{'f' * 16}"
    assert digests == []
    assert maps._edition_tiles(grids, {"edition_id": "E0001"}, tmp_path).name == f"E0001-{'0' * 16}"
    assert digests == [len(grids)]


def _wait_ready(driver, url: str) -> None:
    import time

    driver.get("about:blank")  # a new hash alone would not reload the page
    driver.get(url)
    for _ in range(1200):
        if driver.execute_script("return window.gridlibReady"):
            return
        time.sleep(0.1)
    raise AssertionError("no first render: " + driver.execute_script("return document.getElementById('gl-status').textContent"))


_PICK = """const d = window.gridlibDeck, [x, y, id] = arguments;
const info = d.pickObject({x, y, radius: 3, layerIds: [id]});
return info && info.object ? d.props.getTooltip(info).html : null"""


@pytest.mark.browser
def test_city_page_joins_the_night_in_chromium(city_runs, chromium, tmp_path):
    """The night's page in headless Chromium: opens framed on the grids; tiles and attributes load; a grid's
    tooltip has the night's values; every small layer (cases, blind spots, truck violations, team bases) is drawn
    with its own tooltip; layers switch on and off."""
    import os
    import re
    import threading
    import time

    from gridlib.maps.serve import make_server

    out = city_runs[0]
    grid_map = gpd.read_file(out / DATE / "responsibility_map.gpkg", layer="grid_responsibility")
    middle = grid_map.sort_values("grid_code").iloc[len(grid_map) // 2]
    point = gpd.GeoSeries([middle.geometry.representative_point()], crs=grid_map.crs).to_crs(4326).iloc[0]
    overlays = json.loads(gzip.decompress((out / DATE / "webmap" / "overlays.json").read_bytes()))
    driver = chromium
    server = make_server(out / DATE / "webmap", port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}/index.html"
    try:
        # opened without a view: framed on the grids at this window's size
        _wait_ready(driver, base)
        w, h, corners = driver.execute_script(
            "const v = window.gridlibDeck.getViewports()[0], b = gridlibConfig.bounds;"
            "return [v.width, v.height, [v.project([b[0], b[3]]), v.project([b[2], b[1]])]]")
        (x0, y0), (x1, y1) = corners
        assert -2 <= x0 and x1 <= w + 2 and -2 <= y0 and y1 <= h + 2, (corners, w, h)  # all grids in view
        assert max((x1 - x0) / w, (y1 - y0) / h) > 0.7  # and filling it
        shot = tmp_path / "city_page.png"
        driver.save_screenshot(str(shot))
        if os.environ.get("GRIDLIB_SCREENSHOTS"):
            driver.save_screenshot(os.path.join(os.environ["GRIDLIB_SCREENSHOTS"], "city_page.png"))
        # the blind spots are off at first (82 % of the roads); tick them on
        box = driver.find_element("css selector", '#gl-layers input[data-layer="blind_spots"]')
        assert not box.is_selected()
        box.click()
        tips = {}
        for layer, o in overlays.items():
            k = o["starts"][0] if o["kind"] == "line" else 0
            if o["kind"] == "line":  # the middle of the first segment
                lon = (o["xy"][2 * k] + o["xy"][2 * k + 2]) / 2e6
                lat = (o["xy"][2 * k + 1] + o["xy"][2 * k + 3]) / 2e6
            else:
                lon, lat = o["xy"][0] / 1e6, o["xy"][1] / 1e6
            for _ in range(100):
                x, y = driver.execute_script("return window.gridlibDeck.getViewports()[0].project(arguments[0])",
                                             [lon, lat])
                tips[layer] = driver.execute_script(_PICK, x, y, layer)
                if tips[layer]:
                    break
                time.sleep(0.1)
        print(tips)
        for layer, heading in [("open_cases", "案件 "), ("blind_spots", "摄像头盲区道路"), ("team_bases", "执法队驻点"),
                               ("truck_violations", "渣土车违规 "), ("truck_stops", "渣土车违规 ")]:
            tip = tips[layer]
            assert tip and f"<b>{heading}" in tip, (layer, tip)
            assert not re.search(r"undefined|NaN|null", tip), tip
        assert "状态: " in tips["open_cases"] and "上报时间: 20" in tips["open_cases"]
        assert "车辆: " in tips["truck_violations"] and "长度: " in tips["blind_spots"]
        # unticking a layer hides it
        driver.find_element("css selector", '#gl-layers input[data-layer="open_cases"]').click()
        assert not driver.execute_script(
            "return window.gridlibDeck.props.layers.find(l => l.id === 'open_cases').props.visible")
        # a grid up close: its tooltip has the night's values
        _wait_ready(driver, f"{base}#15/{point.y:.7f}/{point.x:.7f}")
        html = driver.execute_script(_PICK.replace("radius: 3", "radius: 0"), *driver.execute_script(
            "const c = document.getElementById('deck-container'); return [c.clientWidth / 2, c.clientHeight / 2]"), "grids")
    finally:
        server.shutdown()
        server.server_close()
    assert html and f"网格 {middle['grid_code']}" in html, html
    assert f"责任单位: {middle['responsible_unit']}" in html and f"街道: {middle['street_name']}" in html
    assert f"在办案件: {int(middle['open_cases'])}" in html
    assert "分钟可达: " in html and "undefined" not in html and "NaN" not in html
