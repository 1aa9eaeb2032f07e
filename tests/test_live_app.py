"""The live HTTP app over real loopback HTTP (uvicorn in a thread) on a small demo store."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pandas as pd
import pytest

pytest.importorskip("fastapi")
import uvicorn  # noqa: E402

import gridlib as gl  # noqa: E402
from gridlib.live.app import create_app  # noqa: E402
from gridlib.live.gateway import FixStore  # noqa: E402

TOKEN = "s3cret"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    work = tmp_path_factory.mktemp("live")
    gl.demo.generate(work / "demo", seed=1, n_cases=60, n_trucks=3, n_extra_cameras=0)
    store = gl.store.open(str(work / "store.gpkg"))
    gl.nightly.load_demo_store(store, work / "demo")
    app = create_app(store, FixStore(work / "fixes.sqlite"), token=TOKEN, at="2026-11-20")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", store, work
    server.should_exit = True
    thread.join(10)


def _call(url, body=None, token=TOKEN, method=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"))
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            text = r.read().decode()
            return r.status, (json.loads(text) if r.headers.get("content-type", "").startswith("application/json")
                              else text)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode())


def test_cases_identical_to_gl_assign(served):
    base, store, _ = served
    cases, _ = gl.cases.read_log(store.read_layer("cases"))
    sample = cases.head(25)
    data = {k: store.read_layer(k) for k in ("responsibility", "components", "frontage_zones", "road_sections")}
    grids = gl.grid.GridSet.from_store(store, at=pd.Timestamp("2026-11-20"))
    expect, _ = gl.assign(sample, grids, components=data["components"], zones=data["frontage_zones"],
                          roads=data["road_sections"], responsibility=data["responsibility"])
    expect = expect.set_index("case_id")
    checked = 0
    for _, c in sample.iterrows():
        body = {"case_id": c["case_id"], "lon": float(c["lon"]), "lat": float(c["lat"]), "kind": c["kind"],
                "class_code": c["class_code"]}
        status, got = _call(f"{base}/v1/cases", body)
        if c["case_id"] not in expect.index:
            assert status == 422 and got["reason_code"]
            continue
        assert status == 200, got
        row = expect.loc[c["case_id"]]
        for key in ("grid_code", "community_code", "street_code", "district_code", "responsible_unit",
                    "responsible_team", "responsibility_basis"):
            want = row[key]
            assert got[key] == (None if pd.isna(want) else want), (c["case_id"], key)
        checked += 1
    assert checked >= 20


def test_lookup_health_openapi_and_bad_input(served):
    base, store, _ = served
    assert _call(f"{base}/v1/health")[1]["status"] == "ok"
    assert "/v1/cases" in _call(f"{base}/openapi.json")[1]["paths"]
    cases, _ = gl.cases.read_log(store.read_layer("cases"))
    lon, lat = float(cases["lon"].iloc[0]), float(cases["lat"].iloc[0])
    status, got = _call(f"{base}/v1/grids/at?lon={lon}&lat={lat}")
    assert status == 200 and len(got["grid_code"]) >= 12
    assert _call(f"{base}/v1/cases", {"case_id": "x", "lon": "a", "lat": 31})[1]["reason_code"] == "non_numeric_coordinate"
    assert _call(f"{base}/v1/cases", {"lon": 121.5, "lat": 31})[1]["reason_code"] == "missing_id"
    assert _call(f"{base}/v1/cases", {"case_id": "x", "lon": 0.0, "lat": 0.0})[1]["reason_code"] == "no_grid"
    assert _call(f"{base}/v1/cases", b"{not json")[0] == 422
    assert _call(f"{base}/v1/cases", {"case_id": "x", "lon": lon, "lat": lat}, token=None)[0] == 401
    assert _call(f"{base}/v1/cases", {"case_id": "x", "lon": lon, "lat": lat}, token="wrong")[0] == 401
    status, got = _call(f"{base}/v1/cases:batch", [{"case_id": "a", "lon": lon, "lat": lat}, {"case_id": "b"}])
    assert status == 200 and [a["case_id"] for a in got["assigned"]] == ["a"]
    assert got["rejects"][0]["reason_code"] == "missing_coordinate"


def test_osmand_fixes_vehicles_metrics(served):
    base, _, _ = served
    now = int(time.time())
    status, _ = _call(f"{base}/v1/osmand?id=phone1&lat=31.24&lon=121.5&timestamp={now}&speed=3", method="GET")
    assert status == 200
    status, got = _call(f"{base}/v1/osmand?id=phone1&lat=95&lon=121.5&timestamp={now}", method="GET")
    assert status == 400 and got["reason_code"] == "coordinate_out_of_range"
    vehicles = _call(f"{base}/v1/vehicles")[1]
    assert [v["vehicle_id"] for v in vehicles] == ["phone1"]
    text = _call(f"{base}/metrics")[1]
    assert 'gridlib_fixes_in_total{source="osmand"} 1' in text
    assert 'gridlib_fixes_rejected_total{reason_code="coordinate_out_of_range"} 1' in text


def test_gridlib_serve_subprocess_http_tcp_and_sigterm(served):
    import signal
    import socket
    import subprocess
    import sys

    from gridlib.live import jt808 as j

    _, store, work = served
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    (work / "token").write_text(TOKEN)
    proc = subprocess.Popen([sys.executable, "-m", "gridlib.cli", "serve", "--store", str(work / "store.gpkg"),
                             "--http-port", str(ports[0]), "--jt808-port", str(ports[1]), "--token-file",
                             str(work / "token"), "--jt808-auth", "off", "--fixes", str(work / "serve.sqlite")])
    try:
        base = f"http://127.0.0.1:{ports[0]}"
        for _ in range(600):
            assert proc.poll() is None, "gridlib serve exited early"
            try:
                if _call(f"{base}/v1/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        loc = j.encode_location(j.Location(121.5, 31.24, pd.Timestamp.now(tz="Asia/Shanghai").to_pydatetime()))
        with socket.create_connection(("127.0.0.1", ports[1]), timeout=10) as sock:
            sock.sendall(j.encode(j.LOCATION, "13800138000", 1, loc))
            dec, got = j.StreamDecoder(), []
            while not got:
                got = dec.feed(sock.recv(4096))
        assert j.decode_general_response(got[0].body) == (1, j.LOCATION, 0)
        assert [v["vehicle_id"] for v in _call(f"{base}/v1/vehicles")[1]] == ["13800138000"]
        assert 'gridlib_fixes_in_total{source="jt808"} 1' in _call(f"{base}/metrics")[1]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
