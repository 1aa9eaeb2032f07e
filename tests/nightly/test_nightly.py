"""End-to-end tests of the nightly run on the demo data, in both stores."""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

import gridlib as gl
from gridlib.nightly import NightlyOptions, load_demo_store, publishable, run_nightly

DATE = "2026-11-21"
FAST = NightlyOptions(permutations=9_999)
PLANTED = {"reporter_name": "测试市民张三PLANTED", "reporter_phone": "13912345678",
           "id_number": "110101199003071234", "description": "联系电话 13800001111 PLANTED-TEXT"}


@pytest.fixture(scope="module")
def demo_store_path(tmp_path_factory, demo_dir) -> Path:
    path = tmp_path_factory.mktemp("store") / "store.gpkg"
    store = gl.store.open(path)
    load_demo_store(store, demo_dir)
    cases = store.read_layer("cases")
    for column, value in PLANTED.items():
        cases[column] = value  # personal data planted in every case record
    store.write_layer("cases", cases)
    return path


#: Warnings the library logged during the first run (a demo night should log none about zones).
RUN_WARNINGS: list[str] = []


class _Collect(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        RUN_WARNINGS.append(record.getMessage())


@pytest.fixture(scope="module")
def first_run(demo_store_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("products")
    handler = _Collect(level=logging.WARNING)
    logging.getLogger("gridlib").addHandler(handler)
    try:
        manifest = run_nightly(gl.store.open(demo_store_path), DATE, out, options=FAST)
    finally:
        logging.getLogger("gridlib").removeHandler(handler)
    return out / DATE, manifest


def test_no_cases_counted_against_water_grids(first_run):
    """The demo night logged '3769 selected cases fall in no zone' by counting land cases against river grids."""
    assert not [m for m in RUN_WARNINGS if "fall in no zone" in m], RUN_WARNINGS


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_products_exist_and_read(first_run):
    products, manifest = first_run
    for name in ("responsibility_map.gpkg", "webmap.html", "index.html", "manifest.json", "maps/overview.png",
                 "kpi/kpi_street_day.csv", "kpi/kpi_street_month_to_date.csv", "kpi/open_cases.csv"):
        assert (products / name).is_file(), name
    assert list((products / "maps").glob("street_*.png"))
    layers = set(pyogrio.list_layers(products / "responsibility_map.gpkg")[:, 0])
    assert {"grid_responsibility", "assigned_cases", "rejects", "hotspots"} <= layers
    grid_map = gpd.read_file(products / "responsibility_map.gpkg", layer="grid_responsibility")
    assert grid_map.crs.to_epsg() == 4550
    assert grid_map["grid_code"].is_unique and grid_map["responsible_unit"].notna().all()
    assert set(grid_map["hotspot_class"].dropna()) <= {"hot_99", "hot_95", "hot_90", "not_significant",
                                                       "cold_90", "cold_95", "cold_99", "water_excluded"}
    # the demo's planted market clusters are found, and the river takes no part in the test
    assert grid_map["hotspot_class"].isin(["hot_99", "hot_95"]).any()
    assert (grid_map["hotspot_class"] == "water_excluded").sum() > 100
    kpi = pd.read_csv(products / "kpi/kpi_street_month_to_date.csv", dtype={"street_code": str})
    assert kpi["street_code"].str.len().eq(9).all()
    assert kpi["closure_rate"].dropna().between(0, 1).all()


def test_violations_join_to_their_cases(first_run, demo_store_path):
    """Published violations carry the truck check's own violation_id and the case each became."""
    products, _ = first_run
    gpkg = products / "responsibility_map.gpkg"
    violations = gpd.read_file(gpkg, layer="violations")
    cases = gpd.read_file(gpkg, layer="assigned_cases")
    assert len(violations) and {"case_id", "grid_code", "street_code"} <= set(violations.columns)
    assert violations["violation_id"].str.match(r"^.+-[a-z_]+-\d{8}T\d{6}$").all()   # not renumbered V00000
    joined = violations.dropna(subset=["case_id"]).merge(cases, on="case_id", suffixes=("", "_case"))
    assert len(joined) == violations["case_id"].notna().sum() > 0
    assert (joined["grid_code"] == joined["grid_code_case"]).all()
    assert (joined["street_code"] == joined["street_code_case"]).all()
    # each violation sits where its case was placed (the same point, so the same grid)
    assert (joined.geometry.distance(gpd.GeoSeries(joined["geometry_case"], crs=joined.crs)) < 0.01).all()


def test_truck_cases_name_the_unit_the_live_alert_names(first_run, demo_store_path):
    """A violation's case is assigned like every case (roads, components, zones), so the nightly run and the
    live service's alert of the same episode name the same unit (the nightly used grids alone before)."""
    pytest.importorskip("fastapi")
    from gridlib.live.alerts import grid_locator
    from gridlib.live.app import load_context

    products, _ = first_run
    gpkg = products / "responsibility_map.gpkg"
    violations = gpd.read_file(gpkg, layer="violations").dropna(subset=["case_id"])
    cases = gpd.read_file(gpkg, layer="assigned_cases").set_index("case_id").loc[violations["case_id"]]
    where = cases.geometry.to_crs(4326)
    places = grid_locator(load_context(gl.store.open(demo_store_path), DATE))(
        where.x.to_numpy(), where.y.to_numpy(), violations["type"].tolist())
    assert len(places) > 5
    for (cid, case), place in zip(cases.iterrows(), places, strict=True):
        for col in ("grid_code", "street_code", "responsible_unit"):
            got = None if pd.isna(case[col]) or case[col] == "" else case[col]
            assert got == (place[col] or None), (cid, col)


def test_one_geometry_type_per_violation_layer(first_run):
    """QGIS splits a mixed GEOMETRY layer: violations are points, their tracks a line layer beside them."""
    products, _ = first_run
    gpkg = products / "responsibility_map.gpkg"
    layers = dict(pyogrio.list_layers(gpkg))
    assert layers["violations"] == "Point" and layers["violation_tracks"] == "LineString"
    violations = gpd.read_file(gpkg, layer="violations")
    tracks = gpd.read_file(gpkg, layer="violation_tracks")
    assert set(violations["type"]) >= {"unpermitted_stop", "deviation"}
    assert tracks["violation_id"].is_unique and tracks["violation_id"].isin(violations["violation_id"]).all()
    # every violation that is not a stop has its track; the midpoint of the track is the violation's point
    assert set(tracks["violation_id"]) == set(violations.loc[violations["type"] != "unpermitted_stop", "violation_id"])
    both = tracks.merge(violations[["violation_id", "geometry"]], on="violation_id", suffixes=("", "_point"))
    mid = both.geometry.interpolate(0.5, normalized=True)
    assert (mid.distance(gpd.GeoSeries(both["geometry_point"], crs=tracks.crs)) < 0.01).all()


def test_manifest_is_complete_and_conserves_rows(first_run):
    products, manifest = first_run
    on_disk = json.loads((products / "manifest.json").read_text())
    assert on_disk["date"] == DATE and on_disk["grid_edition"]["edition_id"]
    assert {"cases", "responsibility", "grids"} <= set(on_disk["inputs"])
    assert all(len(v["sha256"]) == 64 for v in on_disk["inputs"].values())
    steps = {s["name"]: s for s in on_disk["steps"]}
    for name in ("load inputs", "assign cases", "truck compliance", "indicators", "hotspots",
                 "camera coverage", "response reachability", "products"):
        assert name in steps and steps[name]["seconds"] >= 0
    assign = steps["assign cases"]
    assert assign["rows_out"] + assign["rejected"] == assign["rows_in"]
    assert assign["rejected"] > 0 and sum(assign["rejected_by_reason"].values()) == assign["rejected"]
    assert on_disk["library_versions"]["gridlib"] == gl.__version__
    outputs = on_disk["outputs"]
    for rel, meta in outputs.items():
        assert hashlib.sha256((products / rel).read_bytes()).hexdigest() == meta["sha256"]


def test_second_run_is_byte_identical(first_run, demo_store_path, tmp_path):
    products, _ = first_run
    manifest = run_nightly(gl.store.open(demo_store_path), DATE, tmp_path, options=FAST)
    a, b = _files(products), _files(tmp_path / DATE)
    assert sorted(a) == sorted(b)
    differing = [name for name in a if a[name] != b[name] and name != "manifest.json"]
    assert differing == []
    strip = lambda m: {k: v for k, v in m.items() if k not in ("started_at", "finished_at", "steps")}  # noqa: E731
    assert strip(json.loads(a["manifest.json"])) == strip(manifest)


def _night_writing_the_gpkg(store: Path, out: Path, processes: str, monkeypatch) -> int:
    """A night with GRIDLIB_NIGHTLY_PROCESSES=*processes*; the id of the process that wrote its GeoPackage."""
    from gridlib.nightly import products

    write, pid_file = products.write_gpkg_layers, out.parent / f"{out.name}.pid"

    def recording(path, *args, **kwargs):
        pid_file.write_text(str(os.getpid()))
        return write(path, *args, **kwargs)

    monkeypatch.setattr(products, "write_gpkg_layers", recording)
    monkeypatch.setenv("GRIDLIB_NIGHTLY_PROCESSES", processes)
    run_nightly(gl.store.open(store), DATE, out, options=FAST)
    return int(pid_file.read_text())


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="cannot fork")
def test_forked_parts_work_one_after_another_where_together_they_were_the_peak(demo_store_path, tmp_path,
                                                                                monkeypatch):
    """Camera coverage works once the truck process has ended, and the indicators once coverage has ended
    (beside assign, or beside gistar and the emerging hot spots, they made a city night's memory peak)."""
    from gridlib.nightly import pipeline

    others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
    assert not others, f"threads left alive by earlier tests keep the run from forking: {others}"
    times = tmp_path / "times.txt"

    def timed(name, fn):
        def run(*args, **kwargs):
            with times.open("a") as f:
                f.write(f"{name} start {time.monotonic()} {os.getpid()}\n")
            if name == "_coverage":
                time.sleep(3)  # the demo's coverage is quick: without the wait the indicators would start meanwhile
            try:
                return fn(*args, **kwargs)
            finally:
                with times.open("a") as f:
                    f.write(f"{name} end {time.monotonic()} {os.getpid()}\n")
        return run

    for name in ("_trucks", "_coverage", "_indicators"):
        monkeypatch.setattr(pipeline, name, timed(name, getattr(pipeline, name)))
    monkeypatch.setenv("GRIDLIB_NIGHTLY_PROCESSES", "2")
    run_nightly(gl.store.open(demo_store_path), DATE, tmp_path / "out", options=FAST)
    at = {(name, what): (float(t), int(pid)) for name, what, t, pid in
          (line.split() for line in times.read_text().splitlines())}
    assert len({pid for _, pid in at.values()} | {os.getpid()}) == 4, at  # three processes of their own
    assert at["_coverage", "start"][0] >= at["_trucks", "end"][0]
    assert at["_indicators", "start"][0] >= at["_coverage", "end"][0]


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="cannot fork")
def test_the_gpkg_written_in_a_forked_process_is_the_bytes_written_in_the_run(demo_store_path, tmp_path,
                                                                              monkeypatch):
    others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
    assert not others, f"threads left alive by earlier tests keep the run from forking: {others}"
    forked = _night_writing_the_gpkg(demo_store_path, tmp_path / "forked", "2", monkeypatch)
    here = _night_writing_the_gpkg(demo_store_path, tmp_path / "here", "0", monkeypatch)
    assert here == os.getpid() != forked
    a, b = _files(tmp_path / "forked" / DATE), _files(tmp_path / "here" / DATE)
    assert sorted(a) == sorted(b)
    assert [name for name in a if a[name] != b[name] and name != "manifest.json"] == []


def test_the_truck_result_comes_back_without_trips_and_stops(demo_store_path, tmp_path, monkeypatch):
    from gridlib.nightly import pipeline

    seen, write = [], pipeline.write_products

    def recording(work, results, **kwargs):
        seen.append(results.truck_result)
        return write(work, results, **kwargs)

    monkeypatch.setattr(pipeline, "write_products", recording)
    run_nightly(gl.store.open(demo_store_path), DATE, tmp_path, options=FAST)
    (truck,) = seen
    assert len(truck.violations) and truck.fixes is None and truck.per_fix == {}
    # read by no product, they are left in the truck process (a city's trip lines: ~340 MB)
    assert len(truck.trips) == len(truck.stops) == 0
    assert {"trip_id", "geometry"} <= set(truck.trips.columns) and {"stop_id", "geometry"} <= set(truck.stops.columns)


def test_an_error_writing_the_gpkg_in_its_process_reaches_the_run(demo_store_path, tmp_path, monkeypatch):
    from gridlib.nightly import products

    def broken(*args, **kwargs):
        (tmp_path / "writer.pid").write_text(str(os.getpid()))
        raise ValueError("disk on fire")

    monkeypatch.setattr(products, "write_gpkg_layers", broken)
    monkeypatch.setenv("GRIDLIB_NIGHTLY_PROCESSES", "2")
    with pytest.raises(ValueError, match="disk on fire"):
        run_nightly(gl.store.open(demo_store_path), DATE, tmp_path, options=FAST)
    assert int((tmp_path / "writer.pid").read_text()) != os.getpid()     # raised in the GeoPackage's process
    assert not (tmp_path / DATE).exists()


def test_no_personal_data_in_any_product(first_run):
    products, _ = first_run
    planted = [v.encode() for v in PLANTED.values()] + [b"PLANTED", b"13912345678", b"13800001111"]
    for name, content in _files(products).items():
        for needle in planted:
            assert needle not in content, f"{needle!r} leaked into {name}"
    grid_map = gpd.read_file(products / "responsibility_map.gpkg", layer="grid_responsibility")
    assert "phone" not in grid_map.columns


def test_staff_phone_only_when_asked():
    frame = gpd.GeoDataFrame({"grid_code": ["310115005001001"], "person": ["王五"], "phone": ["021-5555"],
                              "reporter_phone": ["139"]}, geometry=[None], crs=4550)
    assert "phone" not in publishable("grid_responsibility", frame).columns
    shown = publishable("grid_responsibility", frame, include_staff_phone=True)
    assert shown["phone"].tolist() == ["021-5555"] and "reporter_phone" not in shown.columns


def _start_run_and_wait(store: Path, out: Path, log: Path, step: str) -> subprocess.Popen:
    """Start `gridlib nightly` in a process and return once its log shows *step* has begun."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridlib.cli", "--quiet", "nightly", "--store", str(store), "--date", DATE,
         "--out", str(out), "--permutations", "99", "--log-file", str(log)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if log.exists() and step in log.read_text():
            break
        time.sleep(0.1)
    assert proc.poll() is None, f"the run finished before {step!r} could be interrupted"
    return proc


def test_killed_run_leaves_previous_products(first_run, demo_store_path, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(first_run[0], out / ".runs" / "previous")
    os.symlink(os.path.join(".runs", "previous"), out / DATE)
    before = _files(out / DATE)
    proc = _start_run_and_wait(demo_store_path, out, tmp_path / "run.log", "hotspots")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (out / DATE).resolve() == (out / ".runs" / "previous").resolve()
    assert _files(out / DATE) == before


def test_terminated_run_cleans_up_after_itself(first_run, demo_store_path, tmp_path):
    out = tmp_path / "out"
    proc = _start_run_and_wait(demo_store_path, out, tmp_path / "run.log", "products")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) != 0
    assert not (out / DATE).exists()
    assert list((out / ".runs").iterdir()) == []


def test_cli_failure_is_one_line(tmp_path):
    empty = tmp_path / "empty.gpkg"
    gl.store.open(empty).write_layer("cases", pd.DataFrame({"case_id": ["1"]}))
    proc = subprocess.run([sys.executable, "-m", "gridlib.cli", "--quiet", "nightly", "--store", str(empty),
                           "--date", DATE, "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("gridlib: error:")


def test_a_store_without_cameras_publishes_without_their_layers(demo_store_path, tmp_path):
    """Cameras are optional: without them the night publishes, with no blind-spot layer on the web map
    (it failed with "hidden names layers that are not on the map: ['blind_spots']")."""
    store_path = tmp_path / "store.gpkg"
    shutil.copyfile(demo_store_path, store_path)
    store = gl.store.open(store_path)
    store.drop_layer("cameras")
    run_nightly(store, DATE, tmp_path / "out", options=NightlyOptions(permutations=0))
    page = (tmp_path / "out" / DATE / "webmap.html").read_text(encoding="utf-8")
    assert '"blind_spots"' not in page and '"camera_viewsheds"' not in page
    assert '"grids"' in page
    assert "blind_spots" not in pyogrio.list_layers(tmp_path / "out" / DATE / "responsibility_map.gpkg")[:, 0]


@pytest.mark.postgis
def test_postgis_store_end_to_end(pg_store, demo_dir, tmp_path):
    load_demo_store(pg_store, demo_dir)
    manifest = run_nightly(pg_store, DATE, tmp_path, options=NightlyOptions(permutations=0))
    assert "postgresql://" in manifest["store"]
    assert {"nightly_grid_responsibility", "nightly_assigned_cases", "nightly_rejects"} <= set(pg_store.layers())
    grid_map = pg_store.read_layer("nightly_grid_responsibility")
    assert len(grid_map) == manifest["inputs"]["grids"]["rows"]
    assert (tmp_path / DATE / "responsibility_map.gpkg").exists()


@pytest.mark.browser
def _chromium(tmp_path, log: bool = False):
    """Debian's headless Chromium through selenium (1400×900)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
    if not (chromium.exists() and driver_path.exists()):
        pytest.fail("Debian chromium and chromium-driver are needed: run `make test` (it installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--enable-unsafe-swiftshader",
                 "--window-size=1400,900", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    if log:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(driver_path)), options=options)


def test_web_map_renders_in_chromium(first_run, tmp_path):
    """Open the web map in Debian's headless Chromium: data layers drawn, no JavaScript errors, non-blank."""
    import numpy as np
    from PIL import Image
    browser = _chromium(tmp_path, log=True)
    try:
        browser.get((first_run[0] / "webmap.html").resolve().as_uri())
        layer_ids = None
        for _ in range(100):
            layer_ids = browser.execute_script(
                "const d = window.gridlibDeck; if (!d || !d.layerManager) return null;"
                "return d.layerManager.getLayers().filter(l => l.isLoaded).map(l => l.id);")
            if layer_ids and "grids" in layer_ids:
                break
            time.sleep(0.2)
        assert layer_ids and {"grids", "streets", "open_cases", "camera_viewsheds"} <= set(layer_ids)
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == [], errors
        toggles = browser.execute_script("return document.querySelectorAll('#gl-layers input').length")
        assert toggles >= 5
        shot = tmp_path / "webmap.png"
        browser.save_screenshot(str(shot))
    finally:
        browser.quit()
    pixels = np.asarray(Image.open(shot).convert("RGB")).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 50  # a drawn map, not a blank page


def test_input_layers_and_the_typed_inputs_agree():
    from gridlib.nightly import INPUT_LAYERS, NightlyInputs

    assert set(INPUT_LAYERS) == set(NightlyInputs.layer_names())


def test_products_follow_reach_minutes(demo_store_path, tmp_path):
    """With reach_minutes=15 the products published reachable_10min and a '10分钟可达' tooltip."""
    from dataclasses import replace

    out = tmp_path / "p15"
    run_nightly(gl.store.open(demo_store_path), DATE, out, options=replace(FAST, reach_minutes=15))
    gpkg = out / DATE / "responsibility_map.gpkg"
    for layer in ("grid_responsibility", "reachability"):
        columns = set(pyogrio.read_info(gpkg, layer=layer)["fields"])
        assert "reachable_15min" in columns and "reachable_10min" not in columns, (layer, columns)
    page = (out / DATE / "webmap.html").read_text(encoding="utf-8")
    # tooltips travel in the page's JSON, where Chinese may be written as \\u escapes
    forms = {text: (text, json.dumps(text)[1:-1]) for text in ("15分钟可达", "10分钟可达")}
    assert any(f in page for f in forms["15分钟可达"]) and not any(f in page for f in forms["10分钟可达"])
    assert "reachable_10min" not in page


# The pixel to hover: a feature of the layer projected with the deck's own (fitted) viewport, rounded
# to the whole pixel the pointer will be at, where deck.gl's pick (radius 0, as on hover) finds that
# layer on top. A pointer one pixel off a 2-pixel road hovers nothing, and deck.gl then only hides its
# tooltip, keeping the previous feature's text: so the tooltip is cleared before and read only when shown.
_HOVER_JS = """
const d = window.gridlibDeck, id = arguments[0];
const spec = jsonInput.layers.find(l => l.id === id);
const vp = d.getViewports()[0];
for (const item of spec.data.slice(0, 400)) {
  let p = item.position;
  if (!p && item.path) { p = [(item.path[0][0] + item.path[1][0]) / 2, (item.path[0][1] + item.path[1][1]) / 2]; }
  if (!p && item.polygon) { const r = item.polygon[0];
    p = [r.reduce((s, c) => s + c[0], 0) / r.length, r.reduce((s, c) => s + c[1], 0) / r.length]; }
  const [x, y] = vp.project(p).map(Math.round);
  if (x < 5 || y < 5 || x > vp.width - 5 || y > vp.height - 5) continue;
  const hit = d.pickObject({x, y, radius: 0});
  if (hit && hit.layer && hit.layer.id === id) {
    const t = document.querySelector('.deck-tooltip');
    if (t) { t.innerText = ''; }
    return [x, y];
  }
}
return null;
"""
_TOOLTIP_JS = """
const t = document.querySelector('.deck-tooltip');
return t && t.style.display !== 'none' && t.innerText ? t.innerText : null;
"""


def test_web_map_tooltips_read_right(first_run, tmp_path):
    """Hover a feature of each data layer in headless Chromium and read what a person sees (issue 16 item 1)."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.by import By

    browser = _chromium(tmp_path)
    expected = {"grids": ["网格 ", "责任单位: ", "热点: ", "分钟可达: "], "open_cases": ["案件 ", "类别: ", "状态: "],
                "truck_violations": ["渣土车违规", "车辆: "], "blind_spots": ["摄像头盲区道路", "长度: "],
                "team_bases": ["执法队驻点"]}
    seen = {}
    try:
        browser.get((first_run[0] / "webmap.html").resolve().as_uri())
        for _ in range(100):
            ids = browser.execute_script(
                "const d = window.gridlibDeck; if (!d || !d.layerManager) return null;"
                "return d.layerManager.getLayers().filter(l => l.isLoaded).map(l => l.id);")
            if ids and "grids" in ids:
                break
            time.sleep(0.2)
        # the blind-road layer (most roads) starts switched off
        assert browser.execute_script(
            "return document.querySelector('#gl-layers input[data-layer=blind_spots]').checked") is False
        assert "执法队驻点" in browser.find_element(By.ID, "gl-legend").text
        for layer in ["grids", "open_cases", "truck_violations", "team_bases", "blind_spots"]:
            if layer == "blind_spots":
                browser.find_element(By.CSS_SELECTOR, "#gl-layers input[data-layer=blind_spots]").click()
                time.sleep(1.0)
            xy = browser.execute_script(_HOVER_JS, layer)
            if xy is None and layer in ("truck_violations", "team_bases"):
                continue  # nothing of that layer visible on top at this view
            assert xy is not None, f"no hoverable feature of {layer}"
            # the deck fills the page from (0, 0): page pixels are the deck's pixels
            pointer = ActionBuilder(browser)
            pointer.pointer_action.move_to_location(int(xy[0]), int(xy[1]))
            pointer.perform()
            text = None
            for _ in range(20):
                time.sleep(0.1)
                text = browser.execute_script(_TOOLTIP_JS)
                if text:
                    break
            seen[layer] = text
            if layer in ("grids", "open_cases", "blind_spots"):
                browser.save_screenshot(str(tmp_path / f"hover_{layer}.png"))
    finally:
        browser.quit()
    print({k: v for k, v in seen.items()}, tmp_path)
    assert {"grids", "open_cases", "blind_spots"} <= set(seen)
    for layer, text in seen.items():
        assert text, layer
        for bad in ("undefined", "NaN", "null", "None", "true", "false"):
            assert bad not in text, (layer, text)
        for part in expected[layer]:
            assert part in text, (layer, part, text)


def test_kpi_csvs_open_in_excel_with_names_beside_codes(first_run):
    """Issue 16.3: CSV products are UTF-8 with a BOM, and the street name stands next to the street code."""
    products, _ = first_run
    for path in sorted((products / "kpi").glob("*.csv")):
        assert path.read_bytes().startswith(b"\xef\xbb\xbf"), path.name
    kpi = gl.io.open_table(products / "kpi/kpi_street_month_to_date.csv")
    cols = list(kpi.columns)
    assert cols[cols.index("street_code") + 1] == "street_name"
    assert kpi["street_name"].notna().all() and kpi["street_name"].str.endswith("街道").any()
    community = gl.io.open_table(products / "kpi/kpi_community_month_to_date.csv")
    assert list(community.columns)[list(community.columns).index("community_code") + 1] == "community_name"


def test_the_truck_step_reads_the_fixes_in_parts_as_it_reads_them_whole(demo_store_path, tmp_path, monkeypatch):
    """The truck process reads the store's fixes a batch at a time and checks them in parts of whole vehicles (the
    last vehicle of a batch waits for the next): the same input record, freshness finding, violations and rejects as
    the whole layer read at once; a layer whose vehicles are not together is read whole."""
    from gridlib.nightly import pipeline

    store = gl.store.open(demo_store_path)
    fixes = store.read_layer("truck_fixes")
    fixes.loc[5, "vehicle_id"] = None
    fixes.loc[1500, "time"] = pd.NaT
    fixes.loc[2500, "lon"] = 200.0
    path = tmp_path / "store.gpkg"
    shutil.copy(demo_store_path, path)
    store = gl.store.open(path)
    store.write_layer("truck_fixes", fixes)

    def job(store):
        record = pipeline.RunRecord(date=DATE, parameters={}, store="test")
        part = pipeline.NightlyInputs(gridset=None, cases=pd.DataFrame(), responsibility=pd.DataFrame(),
                                      **{name: store.read_layer(name) for name in pipeline.TRUCK_LAYERS})
        fixes_input, seen, result, rejects = pipeline._truck_job(store, part, record, pd.Timestamp(DATE).date(), FAST)
        (step,) = record.steps
        return fixes_input, seen, result.violations.to_wkb(), rejects, result.credit.vehicles, step.rows_in, step.notes

    def same(a, b):
        assert a[:2] == b[:2] and a[5:] == b[5:]
        for x, y in zip(a[2:5], b[2:5], strict=True):
            pd.testing.assert_frame_equal(x, y)

    read = []
    monkeypatch.setattr(pipeline._StoreNight, "whole", lambda self, whole=pipeline._StoreNight.whole: read.append(1)
                        or whole(self))
    parts = job(store)
    monkeypatch.setattr(pipeline, "_FIX_BATCH_ROWS", 1_000)
    small = job(store)
    assert not read  # read in parts: in one, then in 28
    assert len(parts[3]) >= 3 and parts[0]["rows"] == len(fixes)
    same(small, parts)

    def refused(self):
        raise pipeline._NotInParts("test")
        yield

    with monkeypatch.context() as m:
        m.setattr(pipeline._StoreNight, "parts", refused)
        same(job(store), parts)
    assert read == [1]
    store.write_layer("truck_fixes", fixes.sample(frac=1, random_state=1))  # vehicles apart: read whole
    shuffled = job(store)
    assert read == [1, 1]
    with monkeypatch.context() as m:
        m.setattr(pipeline._StoreNight, "parts", refused)
        same(job(store), shuffled)
    # a vehicle found apart only in the last batch, after parts were checked: what was done is dropped, the
    # layer read whole
    late = pd.concat([fixes, fixes.iloc[[10]]], ignore_index=True)
    store.write_layer("truck_fixes", late)
    partway = job(store)
    assert read == [1, 1, 1, 1] and partway[0]["rows"] == len(late)
    with monkeypatch.context() as m:
        m.setattr(pipeline._StoreNight, "parts", refused)
        same(job(store), partway)


def test_number_ids_with_a_missing_one_hash_alike_read_in_parts_or_whole(tmp_path):
    """The fixes' input digest does not depend on how the truck step read them (a number column with a missing id
    reads as float: hashed as read, it differed from the whole read's, hashed compacted)."""
    from gridlib.nightly import pipeline

    store = gl.store.open(tmp_path / "s.gpkg")
    store.write_layer("truck_fixes", pd.DataFrame({
        "vehicle_id": pd.array([7, 7, None, 8], dtype="Int64"), "lon": 121.5, "lat": 31.2,
        "time": ["2026-11-20 23:00", "2026-11-20 23:05", "2026-11-21 01:00", "2026-11-21 02:00"]}))
    night = pipeline._StoreNight(store, pd.Timestamp(DATE).date())
    assert sum(len(part) for part in night.parts()) == 4
    in_parts = night.fixes_input
    night.whole()
    assert in_parts == night.fixes_input
