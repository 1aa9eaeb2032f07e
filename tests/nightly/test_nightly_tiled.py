"""Above the city threshold the nightly web map is tiled: edition tiles built once and reused, a small page, the
night's attributes; reruns stay byte-identical."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import geopandas as gpd
import pytest

import gridlib as gl
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
    assert names == ["communities.pmtiles", "grid_attributes.json", "grids.pmtiles", "index.html", "streets.pmtiles"]
    assert (products / "webmap" / "index.html").stat().st_size < 5_000_000
    assert 'href="webmap/index.html"' in (products / "index.html").read_text(encoding="utf-8")
    assert "webmap/grids.pmtiles" in manifest["outputs"]
    # the page's attributes are every grid's, the GeoPackage's classes
    doc = json.loads(gzip.decompress((products / "webmap" / "grid_attributes.json").read_bytes()))
    grid_map = gpd.read_file(products / "responsibility_map.gpkg", layer="grid_responsibility")
    assert doc["grid_code"] == sorted(grid_map["grid_code"])
    hot = doc["columns"]["hotspot_class"]
    classes = [None if k is None else hot["values"][k] for k in hot["codes"]]
    assert classes == grid_map.sort_values("grid_code")["hotspot_class"].where(
        grid_map.sort_values("grid_code")["hotspot_class"].notna(), None).tolist()
    assert {"responsible_unit", "street_name", "community_name", "open_cases"} <= set(doc["columns"])
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


@pytest.mark.browser
def test_city_page_joins_the_night_in_chromium(city_runs, chromium):
    """The night's page in headless Chromium: tiles and attributes load; a grid's tooltip has the night's values."""
    import threading
    import time

    from gridlib.maps.serve import make_server

    out = city_runs[0]
    grid_map = gpd.read_file(out / DATE / "responsibility_map.gpkg", layer="grid_responsibility")
    middle = grid_map.sort_values("grid_code").iloc[len(grid_map) // 2]
    point = gpd.GeoSeries([middle.geometry.representative_point()], crs=grid_map.crs).to_crs(4326).iloc[0]
    driver = chromium
    server = make_server(out / DATE / "webmap", port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        driver.get(f"http://127.0.0.1:{server.server_port}/index.html#15/{point.y:.7f}/{point.x:.7f}")
        for _ in range(600):
            if driver.execute_script("return window.gridlibReady"):
                break
            time.sleep(0.1)
        html = driver.execute_script(
            "const d = window.gridlibDeck, c = document.getElementById('deck-container');"
            "const info = d.pickObject({x: c.clientWidth / 2, y: c.clientHeight / 2, layerIds: ['grids']});"
            "return info ? d.props.getTooltip(info).html : null")
    finally:
        server.shutdown()
        server.server_close()
    assert html and f"网格 {middle['grid_code']}" in html, html
    assert f"责任单位: {middle['responsible_unit']}" in html and f"街道: {middle['street_name']}" in html
    assert f"在办案件: {int(middle['open_cases'])}" in html
    assert "分钟可达: " in html and "undefined" not in html and "NaN" not in html
