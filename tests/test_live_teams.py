"""Enforcement teams on the live service, over real loopback HTTP and TCP on the demo store: dispatch from live
positions, arrivals stamped from team fixes, stale fixes fall back to bases, trucks' monitoring unaffected."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest

pytest.importorskip("fastapi")

import gridlib as gl  # noqa: E402
from gridlib.live import jt808 as j  # noqa: E402
from gridlib.live.app import create_app  # noqa: E402
from gridlib.live.demo import demo_store  # noqa: E402
from gridlib.live.gateway import FixStore, Jt808Gateway  # noqa: E402
from gridlib.live.monitor import attach_monitor  # noqa: E402
from gridlib.live.teams import attach_teams  # noqa: E402
from gridlib.testing import serving  # noqa: E402

UTC8 = dt.timedelta(hours=8)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    work = tmp_path_factory.mktemp("teams")
    store = demo_store(work, n_cases=60)
    fixes = FixStore(work / "fixes.sqlite")
    app = create_app(store, fixes, at="2026-11-20")
    tracker = attach_teams(app, fixes)
    monitor = attach_monitor(app, store, fixes)
    assert monitor is not None
    cases, _ = gl.cases.read_log(store.read_layer("cases"))
    try:
        with serving(app) as base:
            yield base, store, fixes, tracker, monitor, cases
    finally:
        monitor.stop()
        tracker.stop()
        app.state.alerts_stopping.set()
        fixes.close()


def _call(url, body=None, method=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"))
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read().decode())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read().decode())


def _offset(lon, lat, east_m, north_m=0.0):
    """The WGS-84 point *east_m*, *north_m* metres from (lon, lat), in the demo's metric CRS."""
    metric = gl.crs.metric_crs(lon, lat)
    x, y = gl.crs.transform_xy(4326, metric, np.array([lon]), np.array([lat]))
    lo, la = gl.crs.transform_xy(metric, 4326, x + east_m, y + north_m)
    return float(lo[0]), float(la[0])


def _osmand(base, device, lon, lat, when: dt.datetime):
    status, got = _call(f"{base}/v1/osmand?id={urllib.parse.quote(device)}&lat={lat}&lon={lon}&timestamp={int(when.timestamp())}",
                        method="GET")
    assert status == 200, got


def _china(t: dt.datetime) -> str:
    return (t.astimezone(dt.UTC) + UTC8).replace(tzinfo=None, microsecond=0).isoformat()


def _case(base, cid, lon, lat, **extra):
    status, got = _call(f"{base}/v1/cases", {"case_id": cid, "lon": lon, "lat": lat, "class_code": "06036", **extra})
    assert status == 200, got
    return got


def _wait(predicate, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_team_fix_near_a_case_ranks_it_from_its_live_position(served):
    base, _, fixes, tracker, _, cases = served
    lon, lat = float(cases["lon"].iloc[2]), float(cases["lat"].iloc[2])
    before = _case(base, "L0", lon, lat)["dispatch"]["teams"]
    assert all(t["from"] == "base" and t["fix_time"] is None for t in before)
    far = before[-1]                                    # the team whose base is furthest by road
    fixes.register("13900000001", far["base_id"], kind="team")
    now = dt.datetime.now(dt.UTC)
    _osmand(base, "13900000001", *_offset(lon, lat, 20.0), now)
    assert _wait(lambda: far["base_id"] in tracker.origins())
    after = _case(base, "L1", lon, lat)["dispatch"]
    first = after["teams"][0]
    assert (first["base_id"], first["from"], first["fix_time"]) == (far["base_id"], "live", _china(now))
    assert first["minutes"] < before[0]["minutes"] and after["first_within_arrive_limit"] is True
    # the other teams still from their bases, with the same times as before
    rest = {t["base_id"]: t["minutes"] for t in after["teams"][1:]}
    assert all(t["from"] == "base" for t in after["teams"][1:])
    assert rest == {t["base_id"]: t["minutes"] for t in before if t["base_id"] != far["base_id"]}
    row = {t["team_id"]: t for t in _call(f"{base}/v1/teams")[1]}[far["base_id"]]
    assert row["fresh"] and row["device_id"] == "13900000001" and row["fix_time"] == _china(now)


def test_a_stale_fix_falls_back_to_the_base(served):
    base, _, fixes, tracker, _, cases = served
    lon, lat = float(cases["lon"].iloc[4]), float(cases["lat"].iloc[4])
    before = {t["base_id"]: t for t in _case(base, "S0", lon, lat)["dispatch"]["teams"]}
    team = sorted(t for t, v in before.items() if v["from"] == "base" and t not in tracker.origins())[0]
    fixes.register("13900000002", team, kind="team")
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20)
    _osmand(base, "13900000002", *_offset(lon, lat, 10.0), old)
    assert _wait(lambda: team in tracker.origins())
    got = {t["base_id"]: t for t in _case(base, "S1", lon, lat)["dispatch"]["teams"]}[team]
    assert (got["from"], got["fix_time"], got["minutes"]) == ("base", _china(old), before[team]["minutes"])
    assert not {t["team_id"]: t for t in _call(f"{base}/v1/teams")[1]}[team]["fresh"]


def test_arrival_is_stamped_when_the_assigned_team_comes_within_50_m_and_not_before(served):
    base, store, fixes, tracker, _, cases = served
    lon, lat = float(cases["lon"].iloc[6]), float(cases["lat"].iloc[6])
    t0 = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=6)
    answer = _case(base, "A1", lon, lat, reported_at=_china(t0))
    named = answer["dispatch"]["teams"][1]["base_id"]          # dispatched explicitly: not the first ranked
    fixes.register("13900000003", named, kind="team")
    for stage, minutes in (("filed", 1), ("dispatched", 2)):
        body = {"stage": stage, "time": _china(t0 + dt.timedelta(minutes=minutes))}
        if stage == "dispatched":
            body["team_id"] = named
        assert _call(f"{base}/v1/cases/A1/events", body)[0] == 200
    assert tracker.assigned()["A1"] == named
    # unknown team and team on another stage: refused
    assert _call(f"{base}/v1/cases/A1/events", {"stage": "video", "time": _china(t0 + dt.timedelta(minutes=2)),
                                                "team_id": named})[1]["reason_code"] == "inconsistent_record"
    assert _call(f"{base}/v1/cases/A1/events", {"stage": "arrived", "time": _china(t0 + dt.timedelta(minutes=2)),
                                                "team_id": "nobody"})[1]["reason_code"] == "unknown_value"
    _osmand(base, "13900000003", *_offset(lon, lat, 5.0), t0 + dt.timedelta(minutes=1))   # before the dispatch
    _osmand(base, "13900000003", *_offset(lon, lat, 200.0), t0 + dt.timedelta(minutes=3))  # dispatched, 200 m
    _osmand(base, "13900000003", *_offset(lon, lat, 0.0, 80.0), t0 + dt.timedelta(minutes=4))   # 80 m
    time.sleep(0.5)
    assert [e["stage"] for e in _call(f"{base}/v1/cases/A1")[1]["events"]] == ["reported", "filed", "dispatched"]
    arrive_at = t0 + dt.timedelta(minutes=5, seconds=7)
    _osmand(base, "13900000003", *_offset(lon, lat, 30.0, 20.0), arrive_at)                # 36 m: arrived
    assert _wait(lambda: len(_call(f"{base}/v1/cases/A1")[1]["events"]) == 4)
    last = _call(f"{base}/v1/cases/A1")[1]["events"][-1]
    assert last["stage"] == "arrived" and last["time"] == _china(arrive_at) and last["team_id"] == named
    assert last["stamped_by"] == "auto" and last["fix_time"] == _china(arrive_at)
    assert abs(last["distance_m"] - 36.1) < 0.5
    assert "A1" not in tracker.assigned()
    _osmand(base, "13900000003", *_offset(lon, lat, 1.0), arrive_at + dt.timedelta(seconds=10))   # once only
    time.sleep(0.5)
    assert len(_call(f"{base}/v1/cases/A1")[1]["events"]) == 4
    # the nightly's reader: arrival 3 min 7 s after the dispatch, with its evidence as case attributes
    log, _ = gl.cases.read_event_log(store.read_layer("case_events"))
    row = log.set_index("case_id").loc["A1"]
    assert (row["arrived_at"] - row["dispatched_at"]).total_seconds() == 187
    assert row["team_id"] == named and row["stamped_by"] == "auto" and row["dispatch_team"] != named


def test_a_dispatch_naming_no_team_waits_for_the_first_ranked(served):
    base, _, fixes, tracker, _, cases = served
    lon, lat = float(cases["lon"].iloc[8]), float(cases["lat"].iloc[8])
    t0 = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=3)
    first = _case(base, "A2", lon, lat, reported_at=_china(t0))["dispatch"]["teams"][0]["base_id"]
    assert _call(f"{base}/v1/cases/A2/events", {"stage": "dispatched", "time": _china(t0)})[0] == 200
    assert tracker.assigned()["A2"] == first
    fixes.register("13900000004", first, kind="team")
    _osmand(base, "13900000004", *_offset(lon, lat, -12.0), t0 + dt.timedelta(minutes=2))
    assert _wait(lambda: _call(f"{base}/v1/cases/A2")[1]["events"][-1]["stage"] == "arrived")
    assert _call(f"{base}/v1/cases/A2")[1]["events"][-1]["team_id"] == first


def test_team_terminals_over_jt808_stay_teams_and_never_reach_the_truck_monitor(served):
    base, _, fixes, tracker, monitor, cases = served
    team = sorted(tracker.teams)[-1]
    fixes.register("13900000005", team, kind="team", gcj02=False)
    lon, lat = float(cases["lon"].iloc[10]), float(cases["lat"].iloc[10])
    now = dt.datetime.now(j.TZ_BEIJING).replace(microsecond=0)

    async def terminal():
        gw = Jt808Gateway(fixes, auth=True)
        server = await gw.start("127.0.0.1", 0)
        r, w = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        dec = j.StreamDecoder()

        async def exchange(frame):
            w.write(frame)
            await w.drain()
            while not (msgs := dec.feed(await asyncio.wait_for(r.read(4096), 10))):
                pass
            return msgs[0]

        try:   # the terminal registers itself with a plate, as real ones do on first contact: it stays the team's
            reg = j.encode_registration(j.Registration(31, 115, "GL", "M", "T5", 2, "沪X00001"), 1)
            code = j.decode_register_response((await exchange(j.encode(j.REGISTER, "13900000005", 1, reg,
                                                                      version=1))).body)[2]
            ack = await exchange(j.encode(j.AUTH, "13900000005", 2, j.encode_auth(code, 1), version=1))
            assert j.decode_general_response(ack.body)[2] == 0
            loc = j.encode_location(j.Location(lon, lat, now, 20.0))
            ack = await exchange(j.encode(j.LOCATION, "13900000005", 3, loc, version=1))
            assert j.decode_general_response(ack.body) == (3, j.LOCATION, 0)
            await asyncio.sleep(0.1)        # the subscribers run after the acknowledgement
        finally:
            w.close()
            await gw.close()
            server.close()

    fixes_before = monitor.stats["fixes"]
    _osmand(base, "沪D00001", 121.5, 31.24, dt.datetime.now(dt.UTC))        # a truck (unregistered OsmAnd id)
    asyncio.run(terminal())
    assert fixes.terminal("13900000005") == {**fixes.terminal("13900000005"), "kind": "team", "vehicle_id": team}
    assert tracker.origins()[team][2] == now
    assert _wait(lambda: monitor.stats["fixes"] > fixes_before)
    time.sleep(0.5)                                                          # a few more ticks
    assert monitor.stats["fixes"] == fixes_before + 1
    vehicles = {key[0] for key in monitor._fixes}
    assert "沪D00001" in vehicles and not vehicles & set(tracker.teams)
    # a restarted monitor replays the trucks' fixes only
    replay = {r[0] for r in fixes.rows(trucks_only=True)}
    assert "沪D00001" in replay and not replay & set(tracker.teams)
    assert {r[0] for r in fixes.rows()} & set(tracker.teams)
    # /v1/teams: every team base listed, the reporting ones with their last fix
    rows = {t["team_id"]: t for t in _call(f"{base}/v1/teams")[1]}
    assert set(rows) == set(tracker.teams) and rows[team]["device_id"] == "13900000005"
    # /v1/vehicles (the live page's poll) tells the team's device from the trucks
    kinds = {v["vehicle_id"]: v["kind"] for v in _call(f"{base}/v1/vehicles")[1]}
    assert kinds[team] == "team" and kinds["沪D00001"] == "truck"


def test_an_old_case_log_gets_the_team_columns_and_a_restart_resumes_the_wait(tmp_path, fix_stores):
    import pandas as pd

    from gridlib.live.caselog import EVENT_COLUMNS, CaseLog, reported_row
    from gridlib.live.fix import Fix
    from gridlib.live.teams import TeamTracker

    store = gl.store.open(str(tmp_path / "s.gpkg"))
    new = ("team_id", "dispatch_team", "stamped_by", "fix_time", "distance_m")
    row = reported_row({"case_id": "K1", "class_code": "06012", "lon": 121.5, "lat": 31.24}, "2026-11-20T09:00:00")
    store.write_layer("case_events", pd.DataFrame([row])[[c for c in EVENT_COLUMNS if c not in new]])
    log = CaseLog(store)                                  # a layer written before teams: the columns are added
    ok, problem = log.check_event("K1", {"stage": "dispatched", "time": "2026-11-20 09:02", "team_id": "B1"})
    assert problem is None
    log.append([ok])
    stored = store.read_layer("case_events")
    assert [c for c in stored.columns if c in EVENT_COLUMNS] == list(EVENT_COLUMNS)
    assert stored["team_id"].isna().tolist() == [True, False] and stored["team_id"].iloc[1] == "B1"
    fixes = fix_stores(tmp_path / "f.sqlite")
    fixes.register("13900000009", "B1", kind="team")
    t = dt.datetime(2026, 11, 20, 1, 5, tzinfo=dt.UTC)
    fixes.add([(Fix("13900000009", t, 121.503, 31.24, "osmand"), "B1")])
    fixes.close()
    # restarted: the open case and the team's last fix come back from the store and the fixes file
    again = TeamTracker(fix_stores(tmp_path / "f.sqlite"), CaseLog(store), 4550, teams=["B1"])
    again.restore()
    assert again.assigned() == {"K1": "B1"} and again.origins()["B1"][2] == t
    assert again.check() == []                            # about 285 m away: still waiting
