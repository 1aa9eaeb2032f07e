"""The live service on a shared PostGIS store: intake cases, their events and truck alerts go to PostGIS.

The same wiring as ``gridlib serve --store postgresql://…`` (create_app, attach_teams, attach_monitor) over
real loopback HTTP, on the demo data loaded into a fresh schema of the throwaway cluster. What the nightly
and other services read from the store (``case_events``, ``alerts``) must be what the service answered.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from collections import Counter

import pandas as pd
import pytest

pytest.importorskip("fastapi")

import gridlib as gl  # noqa: E402
from gridlib.demo import generate  # noqa: E402
from gridlib.live.alerts import AlertBook  # noqa: E402
from gridlib.live.app import create_app  # noqa: E402
from gridlib.live.gateway import FixStore  # noqa: E402
from gridlib.live.monitor import attach_monitor, monitor_from_store  # noqa: E402
from gridlib.live.teams import attach_teams  # noqa: E402
from gridlib.nightly import load_demo_store  # noqa: E402
from gridlib.testing import serving  # noqa: E402

AT = "2026-11-20"
EARLY = ["沪D58067", "沪D93466"]


def _request(base: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    url = urllib.parse.urlsplit(base)
    con = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    con.request(method, path, body=None if body is None else json.dumps(body),
                headers={"Content-Type": "application/json"})
    r = con.getresponse()
    data = json.loads(r.read().decode())
    con.close()
    return r.status, data


def _alert_state(alerts) -> Counter:
    return Counter((a["vehicle_id"], a["type"], a["start"], a["end"]) for a in alerts if a["status"] != "withdrawn")


def test_serve_on_a_postgis_store(pg_store, tmp_path):
    generate(tmp_path / "demo", seed=1, n_cases=60, n_trucks=20, n_extra_cameras=0)
    load_demo_store(pg_store, tmp_path / "demo")
    fixes = FixStore(tmp_path / "fixes.sqlite")
    app = create_app(pg_store, fixes, at=AT)
    teams = attach_teams(app, fixes)
    monitor = attach_monitor(app, pg_store, fixes, interval_s=0.1)
    assert monitor is not None                                   # the demo store has permits

    cases, _ = gl.cases.read_log(pg_store.read_layer("cases"))
    sample = cases.head(6)
    grids = gl.grid.GridSet.from_store(pg_store, at=pd.Timestamp(AT))
    layers = {k: pg_store.read_layer(k) for k in ("responsibility", "components", "frontage_zones", "road_sections")}
    expect, _ = gl.assign(sample, grids, components=layers["components"], zones=layers["frontage_zones"],
                          roads=layers["road_sections"], responsibility=layers["responsibility"])
    expect = expect.set_index("case_id")
    fx = pg_store.read_layer("truck_fixes")
    fed = fx[fx["vehicle_id"].isin(EARLY)].sort_values("time", kind="stable")

    try:
        with serving(app) as base:
            taken = []
            for c in sample.itertuples():
                status, got = _request(base, "POST", "/v1/cases", {
                    "case_id": c.case_id, "lon": float(c.lon), "lat": float(c.lat), "kind": c.kind,
                    "class_code": c.class_code, "reported_at": "2026-11-20T09:00:00"})
                if c.case_id not in expect.index:
                    assert status == 422 and got["reason_code"], got
                    continue
                assert status == 200, got
                for key in ("grid_code", "street_code", "responsible_unit", "responsibility_basis"):
                    want = expect.loc[c.case_id, key]
                    assert got[key] == (None if pd.isna(want) else want), (c.case_id, key)
                assert got["dispatch"]["teams"], got["dispatch"]
                taken.append(c.case_id)
            assert len(taken) >= 4
            status, got = _request(base, "POST", f"/v1/cases/{taken[0]}/events",
                                   {"stage": "dispatched", "time": "2026-11-20 09:04"})
            assert status == 200, got

            con = http.client.HTTPConnection(urllib.parse.urlsplit(base).hostname,
                                             urllib.parse.urlsplit(base).port, timeout=30)
            for v, t, x, y in zip(fed["vehicle_id"], fed["time"], fed["lon"], fed["lat"], strict=True):
                query = urllib.parse.urlencode({"id": v, "lat": y, "lon": x,
                                                "timestamp": pd.Timestamp(t).isoformat() + "+08:00"})
                con.request("GET", "/v1/osmand?" + query)
                r = con.getresponse()
                r.read()
                assert r.status == 200
            con.close()

            ref = monitor_from_store(pg_store, book=AlertBook())  # the same fixes checked in one go, kept in memory
            ref.add([(f, v) for f, v in monitor_pairs(fed)])
            ref.tick()
            want = _alert_state(ref.book.alerts.values())
            assert len(want) >= 2
            deadline = time.time() + 30
            while True:
                served = _request(base, "GET", "/v1/alerts")[1]["alerts"]
                if _alert_state(served) == want or time.time() > deadline:
                    break
                time.sleep(0.3)
            assert _alert_state(served) == want
    finally:
        monitor.stop()
        teams.stop()
        app.state.caselog.close()
        fixes.close()

    events, rejects = gl.cases.read_event_log(pg_store.read_layer("case_events"))
    assert len(rejects) == 0
    got = events.set_index("case_id")
    assert set(taken) <= set(got.index)
    assert got.loc[taken[0], "dispatched_at"] == pd.Timestamp("2026-11-20 09:04")
    assert (got.loc[taken, "grid_code"] == expect.loc[taken, "grid_code"]).all()

    stored = pg_store.read_layer("alerts")                      # what another process reads from PostGIS
    assert stored["seq"].is_unique
    again = AlertBook(pg_store)
    assert again.load() == len(stored)
    assert _alert_state(again.alerts.values()) == want


def monitor_pairs(frame: pd.DataFrame):
    """The fed fixes as the monitor takes them (UTC instants, vehicle id as terminal)."""
    import datetime as dt

    from gridlib.live.fix import Fix

    t = pd.to_datetime(frame["time"]) - pd.Timedelta(hours=8)
    return [(Fix(v, ti.to_pydatetime().replace(tzinfo=dt.UTC), float(x), float(y), "osmand"), v)
            for v, ti, x, y in zip(frame["vehicle_id"], t, frame["lon"], frame["lat"], strict=True)]
