"""Registering devices with the live service: PUT/GET /v1/terminals, a fleet list imported all or nothing."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely import LineString, Point, box

pytest.importorskip("fastapi")

import gridlib as gl  # noqa: E402
from gridlib.live.app import create_app  # noqa: E402
from gridlib.live.registry import import_terminals  # noqa: E402
from gridlib.testing import serving  # noqa: E402

TOKEN = "t0ken"


@pytest.fixture
def store(tmp_path):
    store = gl.store.open(str(tmp_path / "store.gpkg"))
    parents = gpd.GeoDataFrame({"code": ["410105001003"], "name": ["东风路第3社区"]},
                               geometry=[box(500000, 3850000, 502000, 3850400)], crs=4547)
    gl.grid.import_edition(gl.grid.build(parents), store, effective_date="2026-01-01")
    store.write_layer("roads", gpd.GeoDataFrame({"highway": ["secondary"]},
                      geometry=[LineString([(499000, 3850200), (503000, 3850200)])], crs=4547))
    store.write_layer("team_bases", gpd.GeoDataFrame({"base_id": ["W", "E"], "name": ["西中队", "东中队"]},
                      geometry=[Point(499000, 3850200), Point(503000, 3850200)], crs=4547))
    return store


def _call(url: str, body=None, method: str = "GET", token: str | None = TOKEN):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(url, data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode())


def test_devices_registered_over_http_take_effect_at_once(store, tmp_path, fix_stores):
    fixes = fix_stores(tmp_path / "live.sqlite")
    app = create_app(store, fixes, token=TOKEN)
    with serving(app) as base:
        url = f"{base}/v1/terminals/13900000001"
        assert _call(url, {"vehicle_id": "E", "kind": "team"}, "PUT", token=None)[0] == 401
        for body, code, field in (({"vehicle_id": "Z", "kind": "team"}, "unknown_code", "vehicle_id"),
                                  ({"vehicle_id": "E", "kind": "bus"}, "unknown_value", "kind"),
                                  ({"vehicle_id": ""}, "missing_value", "vehicle_id"),
                                  ({"vehicle_id": "沪D1", "gcj02": "yes"}, "unknown_value", "gcj02"),
                                  ({"vehicle_id": "沪D1", "phone": "139"}, "extra_fields", "phone")):
            status, got = _call(url, body, "PUT")
            assert (status, got["reason_code"], got["field"]) == (422, code, field), got
        status, got = _call(url, b"{not json", "PUT")
        assert status == 422 and got["reason_code"] == "inconsistent_record"
        assert _call(url, [1, 2], "PUT")[1]["reason"] == "a registration is a JSON object"
        status, got = _call(url, {"vehicle_id": "沪D1", "note": "x" * 20_000}, "PUT")   # said "not an object" before
        assert (status, got["reason"]) == (413, "body larger than 10,000 bytes")
        assert fixes.terminal("13900000001") is None                    # nothing half-registered

        status, got = _call(url, {"vehicle_id": "E", "kind": "team"}, "PUT")
        assert status == 200 and got["kind"] == "team" and len(got["auth_code"]) == 16
        status, got = _call(f"{base}/v1/terminals/0771", {"vehicle_id": "沪D9", "gcj02": True}, "PUT")
        assert status == 200 and got["gcj02"] is True and got["kind"] == "truck"
        listed = _call(f"{base}/v1/terminals")[1]["terminals"]
        assert [(t["terminal"], t["vehicle_id"], t["kind"]) for t in listed] == [
            ("0771", "沪D9", "truck"), ("13900000001", "E", "team")]
        assert all("auth_code" not in t for t in listed)

        # the next fix of the phone is the team's
        lon, lat = gpd.GeoSeries([Point(500900, 3850200)], crs=4547).to_crs(4326).iloc[0].coords[0]
        stamp = int(dt.datetime.now(dt.UTC).timestamp()) - 60
        assert _call(f"{base}/v1/osmand?id=13900000001&lat={lat}&lon={lon}&timestamp={stamp}")[0] == 200
        vehicles = _call(f"{base}/v1/vehicles")[1]
        rows = vehicles["vehicles"] if isinstance(vehicles, dict) else vehicles
        assert [(v["vehicle_id"], v["kind"]) for v in rows] == [("E", "team")]
    fixes.close()


def test_a_fleet_list_is_registered_all_at_once_or_not_at_all(tmp_path, fix_stores):
    fixes = fix_stores(tmp_path / "live.sqlite")
    fixes.register("013800000001", "沪D1")
    before = fixes.terminals()
    fleet = pd.DataFrame({"terminal": ["013800000001", "013800000002", "013800000002", "p-1", "p-2", None],
                          "vehicle_id": ["沪D7", "沪D2", "沪D3", "B9", "W", "沪D4"],
                          "kind": ["truck", "truck", "truck", "team", "team", "truck"],
                          "gcj02": ["0", "是", "", "", "x", ""]})
    ok, bad = import_terminals(fleet, fixes, team_ids={"W", "E"})
    assert len(ok) + len(bad) == len(fleet)
    assert bad.index.tolist() == [2, 3, 4, 5]
    assert bad["reason_code"].tolist() == ["duplicate_id", "unknown_code", "unknown_value", "missing_id"]
    assert fixes.terminals() == before                                   # untouched: 沪D1 is still 沪D1

    good = fleet.iloc[[0, 1]]
    ok, bad = import_terminals(good, fixes, team_ids={"W", "E"})
    assert len(bad) == 0
    now = {t["terminal"]: (t["vehicle_id"], t["gcj02"]) for t in fixes.terminals()}
    assert now == {"013800000001": ("沪D7", False), "013800000002": ("沪D2", True)}
    fixes.close()


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-m", "gridlib.cli", "terminals", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_terminals_import_and_list_on_the_command_line(store, tmp_path):
    live = tmp_path / "store.gpkg.live.sqlite"
    bad = tmp_path / "bad.csv"
    bad.write_text("terminal,vehicle_id,kind\n013800000001,沪D1,truck\nphone-9,Q,team\n", encoding="utf-8")
    run = _cli("import", str(bad), "--fixes", str(live), "--store", str(tmp_path / "store.gpkg"),
               "--rejects", str(tmp_path / "rejects.csv"))
    assert run.returncode == 1, run.stderr
    assert "row 2: team 'Q' is not a base_id" in run.stderr and "nothing registered" in run.stderr
    assert pd.read_csv(tmp_path / "rejects.csv", dtype=str)["reason_code"].tolist() == ["unknown_code"]
    good = tmp_path / "good.csv"
    good.write_text("terminal,vehicle_id,kind\n013800000001,沪D1,truck\nphone-9,W,team\n", encoding="utf-8")
    run = _cli("import", str(good), "--fixes", str(live), "--store", str(tmp_path / "store.gpkg"))
    assert run.returncode == 0, run.stderr
    assert "2 devices registered" in run.stdout and "1 team devices" in run.stdout
    run = _cli("list", "--fixes", str(live))
    assert run.returncode == 0, run.stderr
    listed = pd.read_csv(io.StringIO(run.stdout), dtype=str)
    assert listed[["terminal", "vehicle_id", "kind"]].values.tolist() == [["013800000001", "沪D1", "truck"],
                                                                         ["phone-9", "W", "team"]]
    assert "auth_code" not in listed.columns
