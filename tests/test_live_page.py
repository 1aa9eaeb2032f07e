"""The live page (issue 17.5): ``GET /`` of the live service in headless Chromium over real loopback HTTP.

The service is the one ``gridlib serve`` runs (``create_app`` + ``attach_monitor`` on the demo store,
uvicorn in a thread); a test terminal (OsmAnd over HTTP) moves a vehicle and drives a permitted truck
off its route, a case is taken in, and the page shows all three.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")


import gridlib as gl  # noqa: E402
from gridlib.live.app import create_app  # noqa: E402
from gridlib.live.demo import demo_store  # noqa: E402
from gridlib.live.gateway import FixStore  # noqa: E402
from gridlib.live.monitor import attach_monitor  # noqa: E402
from gridlib.testing import serving  # noqa: E402


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    work = tmp_path_factory.mktemp("livepage")
    store = demo_store(work, n_cases=20)
    fixes = FixStore(work / "fixes.sqlite")
    app = create_app(store, fixes)             # as gridlib serve: the edition valid today, no token
    monitor = attach_monitor(app, store, fixes)
    try:
        with serving(app) as base:
            yield base, store, work
            app.state.alerts_stopping.set()   # open SSE streams end, so the server can stop
    finally:
        monitor.stop()
        fixes.close()


def _get(url: str):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.headers.get("content-type", ""), r.read()


def _osmand(base: str, device: str, lon: float, lat: float, at: pd.Timestamp) -> None:
    query = urllib.parse.urlencode({"id": device, "lat": lat, "lon": lon, "timestamp": at.isoformat()})
    assert _get(f"{base}/v1/osmand?{query}")[0] == 200


def test_page_endpoints_need_no_token_and_carry_no_personal_data(live):
    base, store, _ = live
    status, kind, body = _get(f"{base}/")
    page = body.decode()
    assert status == 200 and kind.startswith("text/html")
    assert '<script src="/static/deck.js">' in page and "cdn" not in page.lower() and "https://" not in page
    status, kind, body = _get(f"{base}/static/deck.js")
    assert status == 200 and "javascript" in kind and len(body) > 1_000_000 and b"createDeck" in body
    status, kind, body = _get(f"{base}/v1/grids.geojson")
    grids = json.loads(body)
    stored = gl.grid.GridSet.from_store(store, at=pd.Timestamp.today()).grids
    assert len(grids["features"]) == len(stored)
    lon0, lat0, lon1, lat1 = grids["bbox"]
    assert 120 < lon0 < lon1 < 123 and 30 < lat0 < lat1 < 32            # WGS84 (the demo is Shanghai)
    props = [f["properties"] for f in grids["features"]]
    assert sum(bool(p["unit"]) for p in props) > 0.9 * len(props)       # responsibility is on the grids
    resp = store.read_layer("responsibility")
    secrets = set(resp["person"].dropna()) | set(resp["phone"].dropna())
    assert secrets and not any(s in body.decode() for s in secrets)
    assert len(body) < 1_500_000, len(body)                               # simplified, rounded


def _wait(driver, script: str, timeout: float, *args):
    deadline = time.time() + timeout
    value = None
    while time.time() < deadline:
        value = driver.execute_script(script, *args)
        if value:
            return value
        time.sleep(0.2)
    return value


_VEHICLE = """const s = window.gridlibLive; if (!s) return null;
const v = s.vehicles.find(v => v.vehicle_id === arguments[0]); return v ? [v.lon, v.lat, v.time] : null;"""
_DRAWN = """const d = window.gridlibDeck; if (!d || !d.layerManager) return null;
const l = d.layerManager.getLayers().find(l => l.id === 'vehicles'); if (!l) return null;
const v = (l.props.data || []).find(v => v.vehicle_id === arguments[0]);
if (!v || Math.abs(v.lon - arguments[1]) > 1e-6) return null;
const [x, y] = d.getViewports()[0].project([v.lon, v.lat]); return [v.lon, v.lat, x, y];"""


@pytest.mark.browser
def test_page_shows_a_moving_vehicle_an_alert_and_a_new_case(live, chromium, tmp_path):
    base, store, _ = live
    driver = chromium
    driver.get(f"{base}/")
    loaded = _wait(driver, "const d = window.gridlibDeck; if (!d || !d.layerManager) return null;"
                           "const g = d.layerManager.getLayers().find(l => l.id === 'grids');"
                           "return g && g.isLoaded && window.gridlibLive.stream === 'open';", 120)
    assert loaded, driver.execute_script("return window.gridlibLive && [window.gridlibLive.stream, "
                                         "window.gridlibLive.errors]")

    # a terminal reports, then moves 300 m east: the page shows it at its new position
    permits = store.read_layer("truck_permits")
    metric = gl.crs.metric_crs(121.5, 31.24)
    route = gl.crs.to_crs(permits.iloc[[0]], metric).geometry.iloc[0]
    mid = route.interpolate(0.5, normalized=True)
    (lon_a, lon_b), (lat_a, lat_b) = gl.crs.transform_xy(metric, 4326, np.array([mid.x, mid.x + 300]),
                                                         np.array([mid.y, mid.y]))
    # fix times in the demo night: a fix of today would start a new night and retire the demo's
    t0 = pd.Timestamp("2026-11-20 22:30", tz="Asia/Shanghai")
    _osmand(base, "TEST-1", lon_a, lat_a, t0 - pd.Timedelta(seconds=20))
    got = _wait(driver, _VEHICLE, 10, "TEST-1")
    assert got and abs(got[0] - lon_a) < 1e-6 and abs(got[1] - lat_a) < 1e-6, got
    moved_at = time.perf_counter()
    _osmand(base, "TEST-1", lon_b, lat_b, t0)
    drawn = _wait(driver, _DRAWN, 10, "TEST-1", float(lon_b))
    shown_s = time.perf_counter() - moved_at
    assert drawn and abs(drawn[1] - lat_b) < 1e-6, drawn
    width, height = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    assert 0 <= drawn[2] <= width and 0 <= drawn[3] <= height, drawn    # drawn inside the map
    assert shown_s < 5, shown_s

    # a permitted truck leaves its route: the alert arrives over the stream, as a marker and in the list
    plate = permits.iloc[0]["vehicle_id"]
    off = route.offset_curve(300)
    pts = [route.interpolate(120 * k) for k in range(8)] + [off.interpolate(120 * k) for k in range(8, 16)]
    lon, lat = gl.crs.transform_xy(metric, 4326, np.array([p.x for p in pts]), np.array([p.y for p in pts]))
    for k in range(len(pts)):
        _osmand(base, plate, float(lon[k]), float(lat[k]), t0 + pd.Timedelta(seconds=15 * k))
    alert = _wait(driver, """const s = window.gridlibLive;
        const a = [...s.alerts.values()].find(a => a.vehicle_id === arguments[0] && a.type === 'deviation');
        if (!a) return null;
        const l = window.gridlibDeck.layerManager.getLayers().find(l => l.id === 'alerts');
        const marker = (l.props.data || []).some(m => m.alert_id === a.alert_id);
        const item = document.querySelector(`#gl-alerts li[data-alert="${a.alert_id}"]`);
        return marker && item ? [a.alert_id, a.status, item.textContent] : null;""", 20, plate)
    assert alert, json.loads(_get(f"{base}/v1/alerts")[2])
    assert alert[1] == "open" and "偏离路线" in alert[2] and plate in alert[2], alert
    server_alerts = json.loads(_get(f"{base}/v1/alerts")[2])["alerts"]
    assert alert[0] in {a["alert_id"] for a in server_alerts}
    # the truck's marker takes its alert's colour (deviation red), the test terminal stays yellow; the alert comes
    # over the stream and can be there before the next vehicles poll (every second) brings the truck's last fix
    colors = _wait(driver, """const l = window.gridlibDeck.layerManager.getLayers().find(l => l.id === 'vehicles');
        const c = Object.fromEntries(l.props.data.map(v => [v.vehicle_id, v.color]));
        return arguments[0] in c ? c : null;""", 5, plate)
    assert colors, "the truck never appeared in the vehicles layer"
    assert colors[plate][:3] == gl.maps.deck.rgba(gl.maps.legend.VIOLATION_TYPE_COLORS["deviation"])[:3]
    assert colors["TEST-1"][:3] == [255, 193, 7]

    # a case taken in appears on the page (no token is set: the service is like gridlib serve without one)
    body = json.dumps({"case_id": "LIVE-PAGE-1", "lon": float(lon_a), "lat": float(lat_a), "class_code": "06012"})
    req = urllib.request.Request(f"{base}/v1/cases", data=body.encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        answer = json.loads(r.read())
    case = _wait(driver, """const c = window.gridlibLive.cases.find(c => c.case_id === 'LIVE-PAGE-1');
        const item = document.querySelector('#gl-cases li[data-case="LIVE-PAGE-1"]');
        const l = window.gridlibDeck.layerManager.getLayers().find(l => l.id === 'cases');
        const marker = (l.props.data || []).some(m => m.case_id === 'LIVE-PAGE-1');
        return c && item && marker ? [c.grid_code, c.responsible_unit, item.textContent] : null;""", 10)
    assert case and case[0] == answer["grid_code"] and case[1] == answer["responsible_unit"], (case, answer)
    assert "上报" in case[2] and answer["grid_code"] in case[2]

    time.sleep(0.5)
    shot = Path(tmp_path) / "live_page.png"
    driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 20_000
    errors = driver.execute_script("return window.gridlibLive.errors")
    assert errors == [], errors
    print(f"\nvehicle shown {shown_s * 1000:.0f} ms after its fix; screenshot {shot}")
