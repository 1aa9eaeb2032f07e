"""The live HTTP app over real loopback HTTP (uvicorn in a thread) on a small demo store."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pandas as pd
import pytest

pytest.importorskip("fastapi")


import gridlib as gl  # noqa: E402
from gridlib.live.app import create_app  # noqa: E402
from gridlib.live.demo import demo_store  # noqa: E402
from gridlib.live.gateway import FixStore  # noqa: E402
from gridlib.testing import serving  # noqa: E402

TOKEN = "s3cret"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    work = tmp_path_factory.mktemp("live")
    store = demo_store(work, n_cases=60)
    fixes = FixStore(work / "fixes.sqlite")
    try:
        with serving(create_app(store, fixes, token=TOKEN, at="2026-11-20")) as base:
            yield base, store, work
    finally:
        fixes.close()


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
    assert _call(f"{base}/v1/cases", {"case_id": "x", "lon": 0.0, "lat": 0.0, "class_code": "06036"}
                 )[1]["reason_code"] == "no_grid"
    assert _call(f"{base}/v1/cases", {"case_id": "x", "lon": lon, "lat": lat})[1]["reason_code"] == "missing_value"
    assert _call(f"{base}/v1/cases", b"{not json")[0] == 422
    assert _call(f"{base}/v1/cases", {"case_id": "x", "lon": lon, "lat": lat}, token=None)[0] == 401
    assert _call(f"{base}/v1/cases", {"case_id": "x", "lon": lon, "lat": lat}, token="wrong")[0] == 401
    status, got = _call(f"{base}/v1/cases:batch", [{"case_id": "a", "lon": lon, "lat": lat, "class_code": "06036"},
                                                  {"case_id": "b"}])
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


def _start_serve(store_path, fixes_path, *options, quiet=False):
    """``gridlib serve`` in a subprocess on free ports, once it answers ``/v1/health``: (process, base URL, ports)."""
    import socket
    import subprocess
    import sys

    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    quiet_io = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL} if quiet else {}
    proc = subprocess.Popen([sys.executable, "-m", "gridlib.cli", "serve", "--store", str(store_path),
                             "--http-port", str(ports[0]), "--jt808-port", str(ports[1]), *options,
                             "--fixes", str(fixes_path)], **quiet_io)
    base = f"http://127.0.0.1:{ports[0]}"
    try:
        for _ in range(600):
            assert proc.poll() is None, "gridlib serve exited early"
            try:
                if _call(f"{base}/v1/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
    except BaseException:
        proc.kill()
        raise
    return proc, base, ports


def test_gridlib_serve_subprocess_http_tcp_and_sigterm(served):
    import signal
    import socket

    from gridlib.live import jt808 as j

    _, store, work = served
    (work / "token").write_text(TOKEN)
    proc, base, ports = _start_serve(work / "store.gpkg", work / "serve.sqlite", "--token-file", str(work / "token"),
                                     "--jt808-auth", "off")
    try:
        taken = pd.Timestamp.now(tz="Asia/Shanghai") - pd.Timedelta(seconds=90)     # a fix 90 s late
        loc = j.encode_location(j.Location(121.5, 31.24, taken.to_pydatetime()))
        with socket.create_connection(("127.0.0.1", ports[1]), timeout=10) as sock:
            sock.sendall(j.encode(j.LOCATION, "13800138000", 1, loc))
            dec, got = j.StreamDecoder(), []
            while not got:
                got = dec.feed(sock.recv(4096))
        assert j.decode_general_response(got[0].body) == (1, j.LOCATION, 0)
        assert [v["vehicle_id"] for v in _call(f"{base}/v1/vehicles")[1]] == ["13800138000"]
        metrics = _call(f"{base}/metrics")[1]
        assert 'gridlib_fixes_in_total{source="jt808"} 1' in metrics
        lag = float(next(line for line in metrics.splitlines() if line.startswith("gridlib_fix_lag_seconds ")).split()[1])
        assert 89 <= lag < 150, lag      # the lag counts JT/T 808 fixes too (only OsmAnd set it before)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


# ---------------------------------------------------------------- dispatch and the case-event log

def _demo_point(store, i=0):
    cases, _ = gl.cases.read_log(store.read_layer("cases"))
    return float(cases["lon"].iloc[i]), float(cases["lat"].iloc[i])


def _event_rows(store):
    return len(store.read_layer("case_events")) if "case_events" in store.layers() else 0


def test_dispatch_ranks_teams_by_network_time_and_projects_due_times(served):
    import geopandas as gpd
    from shapely import Point

    base, store, _ = served
    lon, lat = _demo_point(store, 3)
    status, got = _call(f"{base}/v1/cases", {"case_id": "D1", "lon": lon, "lat": lat, "class_code": "06036",
                                             "source": "hotline_12345", "reported_at": "2026-11-20 16:58"})
    assert status == 200, got
    teams = got["dispatch"]["teams"]
    bases = store.read_layer("team_bases")
    assert sorted(t["base_id"] for t in teams) == sorted(bases["base_id"])
    minutes = [t["minutes"] for t in teams]
    assert minutes == sorted(minutes) and all(m is not None for m in minutes)
    # the same as a full Dijkstra from each base alone (gl.network.nearest_base on the store's roads)
    graph = gl.network.build_graph(store.read_layer("roads"))
    point = gpd.GeoSeries([Point(lon, lat)], crs=4326)
    for t in teams:
        alone = bases[bases["base_id"] == t["base_id"]]
        want = float(gl.network.nearest_base(graph, alone, point)["time_min"].iloc[0])
        assert abs(t["minutes"] - want) < 0.02, (t, want)
    assert got["dispatch"]["arrive_limit_minutes"] == 10.0
    assert got["dispatch"]["first_within_arrive_limit"] == (minutes[0] <= 10.0)
    # due times: each step's limit after the previous step's due time, as gl.cases.deadlines computes them
    log = pd.DataFrame({"case_id": ["D1"], "class_code": ["06036"], "urgency": ["normal"],
                        "source": ["hotline_12345"], "reported_at": [pd.Timestamp("2026-11-20 16:58")]})
    want = {}
    for step, end in (("verify", "verified_at"), ("file", "filed_at"), ("dispatch", "dispatched_at"),
                      ("arrive", "arrived_at"), ("video", "video_at"), ("dispose", None), ("close", None)):
        want[step] = gl.cases.deadlines(log, stages=(step,))[f"{step}_deadline"].iloc[0]
        if end:
            log[end] = want[step]
    assert {k: pd.Timestamp(v) for k, v in got["dispatch"]["due"].items()} == want
    assert got["dispatch"]["due"]["dispose"] == "2026-11-23T17:30:00"   # 1 working day from Friday 18:04
    assert got["dispatch"]["due"]["close"] == "2026-11-24T17:30:00"     # 2 working days from Friday 18:03


def test_case_events_reach_read_event_log_and_the_indicators(served):
    base, store, _ = served
    lon, lat = _demo_point(store, 5)
    chains = {
        "E1": [("filed", "09:03"), ("dispatched", "09:04"), ("arrived", "09:12"), ("video", "09:14"),
               ("disposed", "10:00"), ("checked", "10:30"), ("closed", "10:40")],
        "E2": [("立案", "09:10"), ("派遣", "09:11")],                 # filed late, still open
    }
    for cid, events in chains.items():
        status, got = _call(f"{base}/v1/cases", {"case_id": cid, "lon": lon, "lat": lat, "class_code": "06036",
                                                 "reported_at": "2026-11-20T09:00:00+08:00"})
        assert status == 200, got
        for stage, hhmm in events:
            status, got = _call(f"{base}/v1/cases/{cid}/events", {"stage": stage, "time": f"2026-11-20 {hhmm}"})
            assert status == 200, got
    assert _call(f"{base}/v1/cases/E2")[1]["events"][-1] == {"stage": "dispatched", "time": "2026-11-20T09:11:00",
                                                             "hours": None}
    log, rejects = gl.cases.read_event_log(store.read_layer("case_events"))
    assert not set(rejects.get("case_id", [])) & set(chains)
    log = log[log["case_id"].isin(list(chains))].reset_index(drop=True)
    assert log["status"].tolist() == ["closed", "disposing"]
    assert str(log.loc[0, "arrived_at"]) == "2026-11-20 09:12:00" and log.loc[0, "grid_code"]
    per_case, _ = gl.cases.fifteen_minute(log)
    per_case = per_case.set_index("case_id")
    assert bool(per_case.loc["E1", "chain_ok"]) and not bool(per_case.loc["E2", "file_ok"])
    kpi = gl.cases.indicators(log, at="2026-11-20 12:00")
    assert int(kpi["closed"].iloc[0]) == 1
    open_now = gl.cases.open_cases(log, at="2026-11-20 12:00")
    assert open_now["case_id"].tolist() == ["E2"] and open_now["stage"].iloc[0] == "dispose"


def test_bad_events_are_refused_and_store_nothing(served):
    base, store, _ = served
    lon, lat = _demo_point(store, 7)
    assert _call(f"{base}/v1/cases", {"case_id": "R1", "lon": lon, "lat": lat, "class_code": "06036",
                                      "reported_at": "2026-11-20 09:00"})[0] == 200
    assert _call(f"{base}/v1/cases/R1/events", {"stage": "dispatched", "time": "2026-11-20 09:05"})[0] == 200
    rows = _event_rows(store)
    url = f"{base}/v1/cases/R1/events"
    bad = [
        ({"stage": "teleported", "time": "2026-11-20 09:06"}, "unknown_value"),
        ({"stage": "reported", "time": "2026-11-20 09:06"}, "unknown_value"),
        ({"stage": "arrived", "time": "soon"}, "unparseable_time"),
        ({"stage": "arrived"}, "missing_time"),
        ({"stage": "arrived", "time": "2099-01-01 00:00"}, "time_out_of_range"),
        ({"stage": "filed", "time": "2026-11-20 09:04"}, "time_order"),             # before the dispatch
        ({"stage": "arrived", "time": "2026-11-20 09:01"}, "time_order"),
        ({"stage": "closed", "time": "2026-11-20 10:00"}, "inconsistent_record"),   # closed without disposal
        ({"stage": "extension", "time": "2026-11-20 10:00"}, "bad_number"),
        ({"stage": "arrived", "time": "2026-11-20 10:00", "hours": 2}, "inconsistent_record"),
        ({"stage": "arrived", "time": "2026-11-20 10:00", "who": "me"}, "extra_fields"),
        (["arrived"], "inconsistent_record"),
    ]
    for body, code in bad:
        status, got = _call(url, body)
        assert (status, got["reason_code"]) == (422, code), (body, got)
        assert got["reason"] and got["case_id"] == "R1"
    assert _call(url, b"{not json")[0] == 422
    status, got = _call(f"{base}/v1/cases/NOPE/events", {"stage": "arrived", "time": "2026-11-20 09:06"})
    assert status == 404 and got["reason"]
    assert _call(url, {"stage": "arrived", "time": "2026-11-20 09:06"}, token=None)[0] == 401
    assert _event_rows(store) == rows
    for stage, t in (("disposed", "09:30"), ("closed", "09:40")):
        assert _call(url, {"stage": stage, "time": f"2026-11-20 {t}"})[0] == 200
    status, got = _call(url, {"stage": "checked", "time": "2026-11-20 09:50"})   # after the case ended
    assert (status, got["reason_code"]) == (422, "inconsistent_record")
    assert _event_rows(store) == rows + 2


def test_bad_cases_and_batches_store_only_the_good_cases(served):
    base, store, _ = served
    lon, lat = _demo_point(store, 9)
    rows = _event_rows(store)
    good = {"lon": lon, "lat": lat, "class_code": "06036", "reported_at": "2026-11-20 08:00"}
    for body, code in (({**good, "case_id": "Q1", "reported_at": "yesterday"}, "unparseable_time"),
                       ({**good, "case_id": "Q1", "source": "pigeon"}, "unknown_value"),
                       ({**good, "case_id": "Q1", "urgency": "now"}, "unknown_value"),
                       ({**good, "case_id": "Q1", "class_code": 6036}, "malformed_code"),
                       ({**good, "case_id": "Q1", "class_code": "99999"}, "unknown_code"),
                       ({**good, "case_id": "Q1", "lat": 95}, "coordinate_out_of_range")):
        status, got = _call(f"{base}/v1/cases", body)
        assert (status, got["reason_code"]) == (422, code), (body, got)
    assert _event_rows(store) == rows
    batch = [{**good, "case_id": "B1"}, {**good, "case_id": "B2", "class_code": None}, {**good, "case_id": "B3"},
             {**good, "case_id": "B1"}, {**good, "case_id": "B4", "lon": 0.0, "lat": 0.0}]
    status, got = _call(f"{base}/v1/cases:batch", batch)
    assert status == 200
    assert sorted(a["case_id"] for a in got["assigned"]) == ["B1", "B3"]
    assert all(a["dispatch"]["teams"] for a in got["assigned"])
    assert sorted((r["case_id"], r["reason_code"]) for r in got["rejects"]) == [
        ("B1", "duplicate_id"), ("B2", "missing_value"), ("B4", "no_grid")]
    stored = store.read_layer("case_events")
    assert _event_rows(store) == rows + 2 and {"B1", "B3"} <= set(stored["case_id"])
    assert not {"B2", "B4"} & set(stored["case_id"])
    status, got = _call(f"{base}/v1/cases", {**good, "case_id": "B1"})
    assert (status, got["reason_code"]) == (409, "duplicate_id")


def test_gcj02_case_is_logged_in_wgs84_and_a_locked_store_stores_nothing(served):
    base, store, _ = served
    lon, lat = _demo_point(store, 11)
    glon, glat = gl.crs.wgs84_to_gcj02(lon, lat)
    body = {"case_id": "G1", "lon": float(glon), "lat": float(glat), "crs": "gcj02", "class_code": "06036"}
    rows = _event_rows(store)
    with store.lock("write"):                         # another writer (a nightly run) holds the store
        status, got = _call(f"{base}/v1/cases", body)
    assert status == 503 and got["reason"] and _event_rows(store) == rows
    status, got = _call(f"{base}/v1/cases", body)
    assert status == 200, got
    row = store.read_layer("case_events").set_index("case_id").loc["G1"]
    assert abs(row["lon"] - lon) < 1e-5 and abs(row["lat"] - lat) < 1e-5
    assert row["grid_code"] == got["grid_code"]


def test_a_restarted_service_knows_the_logged_cases(served, fix_stores):
    _, store, work = served
    lon, lat = _demo_point(store, 13)
    app = create_app(store, fix_stores(work / "restart.sqlite"), at="2026-11-20")
    log = app.state.caselog
    assert "D1" in log and "NOPE" not in log
    row, problem = log.check_event("D1", {"stage": "filed", "time": "2026-11-20 18:00"})
    assert problem is None and row["stage"] == "filed"
    assert log.check_event("D1", {"stage": "filed", "time": "2026-11-20 16:00"})[1]["reason_code"] == "time_order"


def test_the_nightly_run_reads_the_live_cases(served):
    import geopandas as gpd

    from gridlib.nightly import NightlyOptions, run_nightly

    _, store, work = served
    live_ids = set(store.read_layer("case_events")["case_id"])
    assert {"E1", "E2", "D1"} <= live_ids
    manifest = run_nightly(store, "2026-11-20", work / "nightly", options=NightlyOptions(permutations=99))
    assert manifest["inputs"]["case_events"]["rows"] == len(store.read_layer("case_events"))
    steps = {s["name"]: s for s in manifest["steps"]}
    assign = steps["assign cases"]
    assert assign["rows_out"] + assign["rejected"] == assign["rows_in"]
    assigned = gpd.read_file(work / "nightly" / "2026-11-20" / "responsibility_map.gpkg", layer="assigned_cases")
    got = assigned.set_index("case_id")
    assert {"E1", "E2", "R1", "B1", "B3"} <= set(got.index)
    assert "G1" not in got.index          # reported now (no reported_at given): a later night's case
    assert got.loc["E1", "status"] == "closed" and got.loc["E2", "status"] == "disposing"
    # the 25 demo cases also posted live repeat imported ids: the imported row is kept, the live one refused
    assert assign["rejected_by_reason"].get("duplicate_id", 0) >= 20


def test_acknowledged_cases_are_in_the_log_after_kill_9(served):
    """Crash consistency of intake: the service is killed (SIGKILL) while cases are being posted; every case
    answered 200 is in the case-event log afterwards (read by GDAL, by read_event_log and by a restarted
    case log), each once; nothing half-stored."""
    import http.client
    import signal
    import sqlite3
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from gridlib.live.caselog import CaseLog

    _, store, work = served
    folder = work / "kill9"
    folder.mkdir()
    src, dst = sqlite3.connect(store.path), sqlite3.connect(folder / "store.gpkg")
    src.backup(dst)                 # the served store with its committed rows (its case log may hold a WAL)
    src.close(), dst.close()
    proc, base, _ = _start_serve(folder / "store.gpkg", folder / "fixes.sqlite", quiet=True)
    try:
        points = [_demo_point(store, i) for i in range(12)]
        acked, lock = [], threading.Lock()

        def post(k: int) -> None:
            lon, lat = points[k % len(points)]
            try:
                status, _ = _call(f"{base}/v1/cases", {"case_id": f"KILL{k:03d}", "lon": lon, "lat": lat,
                                                       "class_code": "06012", "kind": "event",
                                                       "reported_at": "2026-11-20 10:00"}, token=None)
            except (OSError, http.client.HTTPException):
                return                  # the service died before answering: not acknowledged
            with lock:
                if status == 200:
                    acked.append(f"KILL{k:03d}")
                if len(acked) == 20:
                    proc.send_signal(signal.SIGKILL)     # mid-stream: more requests are in flight

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(post, range(200)))
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(acked) >= 20
    after = gl.store.open(str(folder / "store.gpkg"))
    rows = after.read_layer("case_events")
    killed = rows[rows["case_id"].str.startswith("KILL")]
    assert set(acked) <= set(killed["case_id"])                  # every acknowledged case is stored
    assert not killed["case_id"].duplicated().any() and set(killed["stage"]) == {"reported"}
    cases, rejects = gl.cases.read_event_log(rows)
    assert set(acked) <= set(cases["case_id"]) and len(rejects) == 0
    assert set(acked) <= set(CaseLog(after).events)              # a restarted service knows them


def test_concurrent_posts_each_case_stored_once_and_answered_after_its_commit(served):
    """Requests that arrive together are assigned as one group and committed by the writer thread while the next
    group is assigned: every case is answered 200 once, a copy sent meanwhile (in the same group, or while the
    first is being written) is a 409, and each is in the log once when its answer comes."""
    from concurrent.futures import ThreadPoolExecutor

    base, store, _ = served
    lon, lat = _demo_point(store, 9)
    bodies = [{"case_id": f"CC{k % 20}", "lon": lon, "lat": lat, "class_code": "06036",
               "reported_at": "2026-11-20 08:00"} for k in range(40)]

    assert _call(f"{base}/v1/cases", {**bodies[0], "case_id": "CC-first"})[0] == 200   # the layer exists

    def post(body):
        status, got = _call(f"{base}/v1/cases", body)
        stored = status != 200 or _call(f"{base}/v1/cases/{body['case_id']}")[0] == 200    # in the case log
        return body["case_id"], status, got, stored

    rows = _event_rows(store)
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(post, bodies))
    for k in range(20):
        mine = sorted(status for cid, status, _, _ in results if cid == f"CC{k}")
        assert mine == [200, 409], (k, mine)
    assert all(stored for *_, stored in results)          # acknowledged only once committed
    assert all(got["dispatch"]["due"]["file"] == "2026-11-20T08:05:00" for _, s, got, _ in results if s == 200)
    events = store.read_layer("case_events")
    assert _event_rows(store) == rows + 20 and events["case_id"].str.match(r"CC\d+$").sum() == 20


def test_a_copy_sent_while_the_case_is_written_is_a_duplicate_and_the_answer_waits_for_the_commit(
        served, tmp_path, fix_stores):
    """Deterministic: the writer thread is held (the case log's mutex), so the first POST is assigned and waits
    for its commit; a copy of it meanwhile is refused 409 at once (the id is in flight), the first is answered 200
    only when its commit went through, and the case is stored once."""
    import shutil
    import threading
    from concurrent.futures import ThreadPoolExecutor

    _, store, work = served
    shutil.copy(store.path, tmp_path / "s.gpkg")
    mine = gl.store.open(str(tmp_path / "s.gpkg"))
    app = create_app(mine, fix_stores(tmp_path / "fixes.sqlite"), token=TOKEN, at="2026-11-20")
    lon, lat = _demo_point(mine, 9)
    body = {"case_id": "FLIGHT1", "lon": lon, "lat": lat, "class_code": "06036", "reported_at": "2026-11-20 08:00"}
    caselog, writing = app.state.caselog, threading.Event()
    append = caselog.append

    def noted(rows):
        writing.set()               # the writer thread has the rows; it now waits for the mutex the test holds
        append(rows)

    with serving(app) as base, ThreadPoolExecutor(1) as pool:
        assert _call(f"{base}/v1/cases", {**body, "case_id": "FLIGHT0"})[0] == 200
        rows = _event_rows(mine)
        caselog.append = noted
        with caselog._mutex:                               # the writer thread cannot commit now
            first = pool.submit(_call, f"{base}/v1/cases", body)
            assert writing.wait(30)
            deadline = time.time() + 30
            while (status := _call(f"{base}/v1/cases", body))[0] != 409 and time.time() < deadline:
                assert status[0] == 200 and False, status   # never stored twice
            assert status[0] == 409 and status[1]["reason_code"] == "duplicate_id"
            time.sleep(0.5)
            assert not first.done()                        # not answered before its commit
        assert first.result(30)[0] == 200
        assert _event_rows(mine) == rows + 1


def test_case_answers_are_rendered_byte_for_byte_as_json_would():
    # the intake's answers go through orjson; what it writes differently (floats below 1e-4) or cannot write
    # (integers beyond 64 bits, keys that are not text) must still come out as Starlette's JSONResponse has it
    from fastapi.responses import JSONResponse

    from gridlib.live.intake import _CaseResponse

    contents = [{"case_id": "K1", "minutes": [1.5, 0.1, 12.0, -0.0, 1e-05, 1.5e-07, 0.0001, 1e16, 123.4567891],
                 "name": "陆家嘴第2社区", "text": "\x00\x1f\x7f\u2028\"\\/\t\n", "none": None, "ok": True},
                {"big": 2**70, "small": -(2**63)}, {1: "key not text"}, ["case-1e-5", "0.00001"], [],
                {"nested": {"teams": [{"base_id": "T1", "minutes": 3.25, "access_m": 0.0}]}}]
    for content in contents:
        assert _CaseResponse(content).body == JSONResponse(content).body, content
