"""Live truck monitoring: equivalence with the batch check, alerts in the store, restart after kill -9, real TCP.

The demo night (seed 1, 20 trucks, 27,537 fixes) has 9 violations of 5 types. To keep the tests
fast the fix-by-fix feed uses the fixes of the 2 vehicles with a violation before 22:05, up to
22:20 (one tick per fix, ~170 ticks); the random batchings feed 9 vehicles (those with violations and two
without) over the whole night; the restart test feeds 4 vehicles over 22:00–23:30 by HTTP.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")

import gridlib as gl  # noqa: E402
from gridlib.live import jt808 as j  # noqa: E402
from gridlib.live.alerts import AlertBook  # noqa: E402
from gridlib.live.demo import demo_store  # noqa: E402
from gridlib.live.fix import Fix  # noqa: E402
from gridlib.live.monitor import TruckMonitor, monitor_from_store  # noqa: E402

EARLY = ["沪D58067", "沪D93466", "沪D91037", "沪D76648"]
QUIET = ["沪D12744", "沪D15442"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    work = tmp_path_factory.mktemp("monitor")
    store = demo_store(work, n_cases=60, n_trucks=20)
    layers = {k: store.read_layer(k) for k in ("truck_fixes", "truck_permits", "truck_sites", "roads")}
    return work, store, layers


def _batch(layers, fixes: pd.DataFrame) -> set[tuple[str, str, str, str]]:
    """The violations of the batch check, called as the nightly run calls it."""
    v = gl.trucks.check(fixes, layers["truck_permits"], layers["truck_sites"], roads=layers["roads"]).violations
    return {(r.vehicle_id, r.type, pd.Timestamp(r.start).isoformat(), pd.Timestamp(r.end).isoformat())
            for r in v.itertuples()}


def _pairs(frame: pd.DataFrame) -> list[tuple[Fix, str]]:
    t = pd.to_datetime(frame["time"]) - pd.Timedelta(hours=8)
    return [(Fix(v, ti.to_pydatetime().replace(tzinfo=dt.UTC), float(x), float(y), "osmand"), v)
            for v, ti, x, y in zip(frame["vehicle_id"], t, frame["lon"], frame["lat"], strict=True)]


def _state(book: AlertBook) -> Counter:
    return Counter((a["vehicle_id"], a["type"], a["start"], a["end"]) for a in book.alerts.values()
                   if a["status"] != "withdrawn")


def _check_history(events: list[dict]) -> None:
    """Each alert is opened once, first; nothing follows a withdrawal; closed alerts have a closed_at."""
    seen: dict[str, str] = {}
    for e in events:
        prev = seen.get(e["alert_id"])
        assert (prev is None) == (e["event"] == "opened"), e
        assert prev != "withdrawn", e
        seen[e["alert_id"]] = e["event"]
        if e["status"] != "withdrawn":
            assert (e["status"] == "closed") == (e["closed_at"] is not None), e


def _open_rule(monitor: TruckMonitor, fed: pd.DataFrame) -> None:
    """Open alerts are exactly the episodes ending less than the dwell before their vehicle's last fix."""
    last = pd.to_datetime(fed["time"]).groupby(fed["vehicle_id"]).max()
    settle = pd.Timedelta(seconds=monitor.ctx.thresholds.min_dwell_s)
    for a in monitor.book.alerts.values():
        if a["status"] != "withdrawn":
            assert (a["status"] == "open") == (last[a["vehicle_id"]] - pd.Timestamp(a["end"]) < settle), a


def test_fix_by_fix_equals_batch(demo):
    _, store, layers = demo
    fx = layers["truck_fixes"]
    fed = fx[fx["vehicle_id"].isin(EARLY[:2]) & (pd.to_datetime(fx["time"]) < pd.Timestamp("2026-11-20 22:20"))]
    fed = fed.sort_values("time", kind="stable")
    monitor = monitor_from_store(store)
    events = []
    for pair in _pairs(fed):
        monitor.add([pair])
        events += monitor.tick()
    want = _batch(layers, fed)
    assert {w[:2] for w in want} >= {("沪D58067", "deviation"), ("沪D93466", "unpermitted_stop")}
    assert _state(monitor.book) == Counter(want)          # same episodes, none doubled
    _check_history(events)
    _open_rule(monitor, fed)


@pytest.mark.parametrize("seed", [1, 2])
def test_random_batchings_late_and_repeated_fixes_equal_batch(demo, seed):
    _, store, layers = demo
    fx = layers["truck_fixes"]
    violators = sorted({v[0] for v in _batch(layers, fx)})
    fed = fx[fx["vehicle_id"].isin(violators[:7] + QUIET)].sort_values("time", kind="stable").reset_index(drop=True)
    rng = np.random.default_rng(seed)
    # the terminals' way: some fixes arrive late (batch upload after a tunnel), some twice (resent, not acked)
    late = rng.random(len(fed)) < 0.03
    arrival = np.arange(len(fed)) + np.where(late, rng.integers(5, 400, len(fed)), 0)
    fed = fed.iloc[np.argsort(arrival, kind="stable")]
    again = fed[rng.random(len(fed)) < 0.01]
    fed = pd.concat([fed, again]).iloc[np.argsort(np.r_[np.arange(len(fed)), rng.integers(0, len(fed), len(again))],
                                                  kind="stable")].reset_index(drop=True)
    assert not pd.to_datetime(fed["time"]).groupby(fed["vehicle_id"]).is_monotonic_increasing.all()
    monitor = monitor_from_store(store)
    pairs, events, i = _pairs(fed), [], 0
    while i < len(pairs):
        k = int(rng.choice([1, 7, 60, 400, 1500]))
        monitor.add(pairs[i:i + k])
        events += monitor.tick()
        i += k
    want = _batch(layers, fed)        # the batch check on the fixes as they were stored (arrival order)
    assert len(want) >= 6 and len({w[1] for w in want}) >= 4
    assert _state(monitor.book) == Counter(want)
    _check_history(events)
    _open_rule(monitor, fed)


def test_trailing_window_equals_batch_after_every_tick(demo):
    """The monitor checks only a trailing window of each vehicle's night, yet after every tick its alerts are the
    batch check's violations of the fixes stored so far (late fixes re-open the window from their time)."""
    _, store, layers = demo
    fx = layers["truck_fixes"]
    fed = fx[fx["vehicle_id"].isin(["沪D58067", "沪D93466", "沪D92481", "沪D50489"])]
    fed = fed.sort_values("time", kind="stable").reset_index(drop=True)
    rng = np.random.default_rng(7)
    late = rng.random(len(fed)) < 0.02
    fed = fed.iloc[np.argsort(np.arange(len(fed)) + np.where(late, rng.integers(5, 200, len(fed)), 0),
                              kind="stable")].reset_index(drop=True)
    monitor = monitor_from_store(store)
    pairs, step, full = _pairs(fed), 300, 0
    for i in range(0, len(pairs), step):
        monitor.add(pairs[i:i + step])
        monitor.tick()
        so_far = fed.iloc[:i + step]
        full += int(so_far["vehicle_id"].isin(fed["vehicle_id"].iloc[i:i + step]).sum())
        assert _state(monitor.book) == Counter(_batch(layers, so_far)), i
    assert monitor.stats["reopened"] > 0                      # late fixes dropped resets
    assert monitor.stats["fixes_checked"] < 0.4 * full        # the whole nights would be `full`


def test_alerts_stored_with_place_and_reloaded(demo, tmp_path):
    work, _, layers = demo
    shutil.copy(work / "store.gpkg", tmp_path / "store.gpkg")
    store = gl.store.open(str(tmp_path / "store.gpkg"))
    from gridlib.live.alerts import grid_locator
    from gridlib.live.app import load_context

    fx = layers["truck_fixes"]
    fed = fx[fx["vehicle_id"].isin(EARLY)].sort_values("time", kind="stable")
    book = AlertBook(store, grid_locator(load_context(store, "2026-11-20")))
    monitor = monitor_from_store(store, book=book)
    monitor.add(_pairs(fed))
    events = monitor.tick()
    stored = store.read_layer("alerts")
    assert len(stored) == len(events) and stored["seq"].tolist() == [e["seq"] for e in events]
    opened = stored[stored["event"] == "opened"]
    assert opened["grid_code"].notna().all() and opened["street_name"].notna().all()
    assert opened["responsible_unit"].notna().all()
    assert not {"reporter", "phone", "name"} & set(stored.columns)   # no personal data
    # case_id only ever names the truck-monitoring case the alert became ("TM-" + alert id), never a citizen's
    assert stored["case_id"].isna().all()            # this book makes no cases (no case_id_for)
    again = AlertBook(store)
    assert again.load() == len(events)
    assert {k: {c: v for c, v in a.items()} for k, a in again.alerts.items()} == book.alerts
    # a restarted monitor with the stored alerts and the same fixes raises nothing new
    replay = monitor_from_store(store, book=again)
    replay.add(_pairs(fed))
    assert replay.tick() == []


# ---- the service in a subprocess -----------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    def __init__(self, store: Path, fixes: Path, auth: str = "off") -> None:
        self.http, self.tcp = _free_port(), _free_port()
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gridlib.cli", "serve", "--store", str(store), "--fixes", str(fixes),
             "--http-port", str(self.http), "--jt808-port", str(self.tcp), "--jt808-auth", auth],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 120
        while time.time() < deadline:
            assert self.proc.poll() is None, self.proc.stderr.read().decode()[-3000:]
            try:
                if self.get("/v1/health")["status"] == "ok":
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("gridlib serve did not start")

    def get(self, path: str):
        con = http.client.HTTPConnection("127.0.0.1", self.http, timeout=30)
        con.request("GET", path)
        r = con.getresponse()
        body = r.read().decode()
        con.close()
        return json.loads(body) if r.getheader("content-type", "").startswith("application/json") else body

    def stop(self, sig=signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(60)


def _feed_osmand(service: Service, frame: pd.DataFrame) -> None:
    con = http.client.HTTPConnection("127.0.0.1", service.http, timeout=30)
    for v, t, x, y in zip(frame["vehicle_id"], frame["time"], frame["lon"], frame["lat"], strict=True):
        stamp = pd.Timestamp(t).isoformat() + "+08:00"
        con.request("GET", "/v1/osmand?" + urllib.parse.urlencode({"id": v, "lat": y, "lon": x, "timestamp": stamp}))
        r = con.getresponse()
        r.read()
        assert r.status == 200
    con.close()


def _settled(service: Service, want: Counter, timeout: float = 30.0) -> list[dict]:
    deadline = time.time() + timeout
    while True:
        alerts = service.get("/v1/alerts")["alerts"]
        got = Counter((a["vehicle_id"], a["type"], a["start"], a["end"]) for a in alerts if a["status"] != "withdrawn")
        if got == want or time.time() > deadline:
            return alerts
        time.sleep(0.3)


def test_kill_9_mid_feed_then_restart_gives_the_uninterrupted_alerts(demo, tmp_path):
    work, _, layers = demo
    shutil.copy(work / "store.gpkg", tmp_path / "store.gpkg")
    fx = layers["truck_fixes"]
    t = pd.to_datetime(fx["time"])
    fed = fx[fx["vehicle_id"].isin(EARLY) & (t < pd.Timestamp("2026-11-20 23:30"))].sort_values("time", kind="stable")
    # the uninterrupted run, in process
    ref = monitor_from_store(gl.store.open(str(work / "store.gpkg")))
    ref.add(_pairs(fed))
    ref.tick()
    want = _state(ref.book)
    assert len(want) >= 4

    half = len(fed) // 2
    service = Service(tmp_path / "store.gpkg", tmp_path / "fixes.sqlite")
    _feed_osmand(service, fed.iloc[:half])
    time.sleep(0.6)                                   # some alerts raised and stored before the crash
    before = gl.store.open(str(tmp_path / "store.gpkg"))
    assert service.stop(signal.SIGKILL) == -signal.SIGKILL
    n_before = len(before.read_layer("alerts")) if "alerts" in before.layers() else 0
    assert n_before > 0

    service = Service(tmp_path / "store.gpkg", tmp_path / "fixes.sqlite")
    try:
        _feed_osmand(service, fed.iloc[half:])
        alerts = _settled(service, want)
        metrics = service.get("/metrics")
    finally:
        assert service.stop() == 0
    got = Counter((a["vehicle_id"], a["type"], a["start"], a["end"]) for a in alerts if a["status"] != "withdrawn")
    assert got == want                                  # none lost, none doubled
    stored = gl.store.open(str(tmp_path / "store.gpkg")).read_layer("alerts").sort_values("seq")
    assert stored["seq"].is_unique and stored["seq"].is_monotonic_increasing
    _check_history([{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in stored.to_dict("records")])
    ref_status = Counter(a["status"] for a in ref.book.alerts.values())
    assert Counter(a["status"] for a in alerts) == ref_status
    assert f"gridlib_alerts_open {ref_status['open']}" in metrics


def _sse(port: int, out: list, ready: threading.Event, stop: threading.Event) -> None:
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    con.request("GET", "/v1/alerts/stream")
    r = con.getresponse()
    assert r.getheader("content-type").startswith("text/event-stream")
    ready.set()
    data = None
    while not stop.is_set():
        line = r.readline()
        if not line:
            break
        line = line.decode().rstrip("\n")
        if line.startswith("data: "):
            data = json.loads(line[6:])
        elif line == "" and data is not None:
            out.append((time.perf_counter(), data))
            data = None


def test_terminal_off_corridor_alert_on_stream_within_a_second(demo, tmp_path):
    work, _, layers = demo
    shutil.copy(work / "store.gpkg", tmp_path / "store.gpkg")
    permit = layers["truck_permits"].iloc[0]
    plate = permit["vehicle_id"]
    metric = gl.crs.metric_crs(121.5, 31.24)
    route = gl.crs.to_crs(layers["truck_permits"].iloc[[0]], metric).geometry.iloc[0]
    off = route.offset_curve(300)
    pts = [route.interpolate(120 * k) for k in range(8)] + [off.interpolate(120 * k) for k in range(8, 16)]
    lon, lat = gl.crs.transform_xy(metric, 4326, np.array([p.x for p in pts]), np.array([p.y for p in pts]))
    t0 = dt.datetime(2026, 11, 20, 22, 30, tzinfo=j.TZ_BEIJING)

    service = Service(tmp_path / "store.gpkg", tmp_path / "fixes.sqlite", auth="on")
    got, ready, stop = [], threading.Event(), threading.Event()
    reader = threading.Thread(target=_sse, args=(service.http, got, ready, stop), daemon=True)
    reader.start()
    assert ready.wait(10)
    sent: dict[str, float] = {}

    async def terminal():
        r, w = await asyncio.open_connection("127.0.0.1", service.tcp)
        dec = j.StreamDecoder()

        async def exchange(frame):
            w.write(frame)
            await w.drain()
            while True:
                msgs = dec.feed(await asyncio.wait_for(r.read(4096), 10))
                if msgs:
                    return msgs[0]

        reg = j.encode_registration(j.Registration(31, 115, "GL", "M", "D1", 2, plate), 1)
        code = j.decode_register_response((await exchange(j.encode(j.REGISTER, "13800138001", 1, reg, version=1))).body)[2]
        ack = await exchange(j.encode(j.AUTH, "13800138001", 2, j.encode_auth(code, 1), version=1))
        assert j.decode_general_response(ack.body)[2] == 0
        for k in range(len(pts)):
            at = t0 + dt.timedelta(seconds=15 * k)
            loc = j.encode_location(j.Location(float(lon[k]), float(lat[k]), at, 30.0))
            sent[at.replace(tzinfo=None).isoformat()] = time.perf_counter()
            ack = await exchange(j.encode(j.LOCATION, "13800138001", 10 + k, loc, version=1))
            assert j.decode_general_response(ack.body) == (10 + k, j.LOCATION, 0)
            await asyncio.sleep(1.2)
        w.close()

    try:
        asyncio.run(terminal())
        time.sleep(1.0)
    finally:
        stop.set()
        assert service.stop() == 0
    opened = [(at, e) for at, e in got if e["event"] == "opened" and e["type"] == "deviation"]
    assert len(opened) == 1, got
    at, e = opened[0]
    assert e["vehicle_id"] == plate and e["grid_code"] and e["street_name"]
    latency = at - sent[e["end"]]      # the fix that completed the evidence is the episode's last so far
    print(f"\nalert latency after the completing fix: {latency * 1000:.0f} ms")
    assert latency > 0


def test_a_new_night_closes_the_open_alerts_of_nights_no_longer_kept():
    import geopandas as gpd
    from shapely.geometry import LineString

    permits = gpd.GeoDataFrame({"permit_id": ["P1"], "vehicle_id": ["V1"], "company": ["K"],
                                "valid_from": ["2026-11-20"], "valid_to": ["2026-11-30"], "hours": ["22:00-06:00"]},
                               geometry=[LineString([(121.48, 31.24), (121.52, 31.24)])], crs=4326)
    monitor = TruckMonitor(permits)
    t0 = dt.datetime(2026, 11, 20, 13, 50, tzinfo=dt.UTC)          # 21:50 China time: outside the hours
    monitor.add([(Fix("T1", t0 + dt.timedelta(seconds=20 * i), 121.48 + i * 0.0006, 31.24, "osmand"), "V1")
                 for i in range(10)])
    assert [(e["event"], e["status"]) for e in monitor.tick()] == [("opened", "open")]
    monitor.add([(Fix("T2", t0 + dt.timedelta(days=1), 121.5, 31.24, "osmand"), "V2")])
    assert monitor.tick() == [] and monitor.book.open_count() == 1      # the night before is still kept
    monitor.add([(Fix("T2", t0 + dt.timedelta(days=2), 121.5, 31.24, "osmand"), "V2")])
    closed = monitor.tick()
    assert [(e["event"], e["vehicle_id"], e["end"]) for e in closed] == [("closed", "V1", "2026-11-20T21:53:00")]
    assert monitor.book.open_count() == 0
    # a late fix of the dropped night is left to the nightly run
    monitor.add([(Fix("T1", t0 + dt.timedelta(seconds=400), 121.5, 31.24, "osmand"), "V1")])
    assert monitor.tick() == [] and monitor.stats["too_old"] == 1


def test_every_fix_is_located_in_the_grid_with_a_grid_index():
    """With the live grid's index the monitor locates every fix it integrates; the latest fix's grid per vehicle."""
    import geopandas as gpd
    from shapely import box
    from shapely.geometry import LineString

    from gridlib.index import GridIndex

    x0, y0 = gl.crs.transform_xy(4326, 4550, np.array([121.48]), np.array([31.235]))
    grids = gpd.GeoDataFrame({"grid_code": ["G1", "G2"]}, crs=4550,
                             geometry=[box(x0[0], y0[0], x0[0] + 1000, y0[0] + 1000),
                                       box(x0[0] + 1000, y0[0], x0[0] + 2000, y0[0] + 1000)])
    permits = gpd.GeoDataFrame({"permit_id": ["P1"], "vehicle_id": ["V1"], "company": ["K"],
                                "valid_from": ["2026-11-20"], "valid_to": ["2026-11-30"], "hours": ["00:00-23:59"]},
                               geometry=[LineString([(121.48, 31.24), (121.52, 31.24)])], crs=4326)
    monitor = TruckMonitor(permits, grid_index=GridIndex(grids))
    lon_g1, lon_g2 = 121.48 + 500 / 95_000, 121.48 + 1500 / 95_000       # ~95 km per degree of longitude here
    t0 = dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC)
    monitor.add([(Fix("T1", t0 + dt.timedelta(seconds=20), lon_g2, 31.24, "osmand"), "V1"),
                 (Fix("T1", t0, lon_g1, 31.24, "osmand"), "V1"),            # late: the latest fix stays in G2
                 (Fix("T2", t0, 121.60, 31.24, "osmand"), "V2")])           # outside every grid
    monitor.tick()
    assert {v: code for v, (_, code) in monitor.grids.items()} == {"V1": "G2", "V2": None}
    assert monitor.stats["located"] == 3 and monitor.stats["outside_grid"] == 1
    monitor.add([(Fix("T1", t0 + dt.timedelta(seconds=40), lon_g1, 31.24, "osmand"), "V1")])
    monitor.tick()
    assert monitor.grids["V1"][1] == "G1" and monitor.stats["located"] == 4


def test_window_fixes_equal_the_reader(demo):
    """A tick builds each window's Fixes from the arrays stored at intake: exactly what read_fixes gives for the
    window's fixes as stored (the batch reader stays the one that reads them); a fix the reader rejects is not
    stored (and counted)."""
    _, store, layers = demo
    fx = layers["truck_fixes"]
    fed = fx[fx["vehicle_id"].isin(EARLY[:3])].sort_values("time", kind="stable").head(600)
    monitor = monitor_from_store(store)
    pairs = _pairs(fed)
    bad = Fix(EARLY[0], pairs[5][0].time, 0.0, 0.0, "osmand")       # (0, 0): the reader's coordinate_out_of_range
    monitor.add(pairs[:300])                       # all plainly valid: stored without the reader's frames
    monitor.tick()
    monitor.add([(bad, EARLY[0])] + pairs[300:][::-1])  # read by the reader (late fixes too)
    monitor.tick()
    assert monitor.stats["rejected"] == 1
    keys = sorted(monitor._fixes)
    parts = [monitor._fixes[k].window() for k in keys]
    built = monitor._window_fixes(keys, parts)
    frame = pd.DataFrame({"vehicle_id": np.repeat([k[0] for k in keys], [len(p) for p in parts]),
                          "time": np.concatenate([p["t"] for p in parts]).astype("datetime64[s]"),
                          "lon": np.concatenate([p["lon"] for p in parts]),
                          "lat": np.concatenate([p["lat"] for p in parts])})
    read, rejects = gl.trucks.read_fixes(frame, metric=monitor.ctx.metric)
    assert sum(monitor._fixes[k].n for k in keys) == len(fed)      # stored: every fix but the rejected one
    assert rejects.empty and len(read) == len(built) == sum(len(p) for p in parts) > 0
    for name in ("vehicle", "t", "lon", "lat", "x", "y", "row"):
        got, want = getattr(built, name), getattr(read, name)
        assert got.dtype == want.dtype and np.array_equal(got, want), name
    assert built.vehicle_ids.tolist() == read.vehicle_ids.tolist() and built.crs == read.crs
    assert built.speed is None and read.speed is None and built.reordered == read.reordered == 0


def test_vehicle_day_without_trips_gives_the_same_detections(demo):
    """The monitor's pass (``vehicle_day(..., trips=False)``) finds exactly what the batch check's finds."""
    from gridlib.trucks.clean import clean
    from gridlib.trucks.detectors import DETECTORS, vehicle_day

    _, store, layers = demo
    monitor = monitor_from_store(store)
    th = monitor.ctx.thresholds
    raw, _ = gl.trucks.read_fixes(layers["truck_fixes"], metric=monitor.ctx.metric)
    fx, _ = clean(raw, max_speed_kmh=th.max_speed_kmh, min_jump_m=th.min_jump_m)
    full, lean = vehicle_day(fx, monitor.ctx), vehicle_day(fx, monitor.ctx, trips=False)
    assert len(full.movement.trips) > 0 and len(lean.movement.trips) == 0
    for name in ("stationary", "stop_of", "trip_of", "gap_before", "stop_xy", "stop_site", "dwell"):
        assert np.array_equal(getattr(full.movement, name), getattr(lean.movement, name)), name
    for name in ("permit_of", "in_hours", "route_distance_m", "corridor_m", "at_site"):
        assert np.array_equal(getattr(full, name), getattr(lean, name), equal_nan=name != "in_hours"), name
    pd.testing.assert_frame_equal(full.stops, lean.stops)
    found = 0
    for name, detector in DETECTORS.items():
        want, got = detector(full, th), detector(lean, th)
        pd.testing.assert_frame_equal(want, got, obj=name)
        found += len(want)
    assert found >= 9


def test_plainly_valid_fixes_are_accepted_by_the_reader():
    """The monitor skips the reader only for fixes the reader surely accepts (edges of every rule)."""
    from gridlib.live.monitor import _plainly_valid

    lon = np.array([121.5, 180.0, -180.0, 180.000001, np.nan, np.inf, 0.0, 0.0, -0.0, 121.5, 121.5, 121.5, 31.2, 121.5])
    lat = np.array([31.2, 90.0, -90.0, 31.2, 31.2, 31.2, 0.0, 1.0, 0.0, 90.000001, 31.2, 31.2, 121.5, 31.2])
    t = np.full(len(lon), 1_795_000_000, dtype=np.int64)
    t[10], t[11] = 631_152_000 - 1, 4_102_444_800          # just outside the times window [1990, 2100)
    vid = np.array(["沪D1"] * (len(lon) - 1) + ["  "], dtype=object)
    plain = _plainly_valid(vid, t, lon, lat)
    frame = pd.DataFrame({"vehicle_id": vid, "time": t.astype("datetime64[s]"), "lon": lon, "lat": lat})
    read, rejects = gl.trucks.read_fixes(frame, metric="EPSG:4550")
    accepted = np.zeros(len(lon), dtype=bool)
    accepted[read.row] = True
    assert plain.tolist() == accepted.tolist()      # here the gate is exactly the reader's rules
    assert accepted.sum() == 4 and len(rejects) == len(lon) - 4
