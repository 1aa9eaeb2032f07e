"""The truck monitor's fast step (a new fix that provably changes no episode skips the window re-check) against
the batch check, on generated tracks at the edges of each rule: corridor and return line, hours, stop radius and
dwell, the tail dwell, unpermitted stops at approved and other sites, silences, gaps, impossible jumps, speeding."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, box

import gridlib as gl
from gridlib.crs import WGS84, transform_xy
from gridlib.live.fix import Fix
from gridlib.live.monitor import TruckMonitor

METRIC = pyproj.CRS.from_epsg(4550)
X0, Y0 = transform_xy(WGS84, METRIC, np.array([121.50]), np.array([31.24]))
X0, Y0 = float(X0[0]), float(Y0[0])
ROUTE_M = 4000.0


def _wgs(geoms: list, crs: pyproj.CRS = METRIC) -> gpd.GeoSeries:
    return gpd.GeoSeries(geoms, crs=crs).to_crs(4326)


def _layers() -> dict:
    route = LineString([(X0, Y0), (X0 + ROUTE_M, Y0)])
    permits = gpd.GeoDataFrame(
        {"permit_id": ["P1"], "vehicle_id": ["V1"], "company": ["K"], "valid_from": ["2026-11-20"],
         "valid_to": ["2026-11-21"], "hours": ["22:00-06:00"], "origin_site": ["S1"], "destination_site": ["D1"]},
        geometry=_wgs([route]))
    # the origin and destination, a parking and a site not on the permit, all on the route
    centres = {"S1": 0.0, "X1": 1000.0, "P1": 2000.0, "D1": ROUTE_M}
    kinds = {"S1": "construction", "X1": "construction", "P1": "parking", "D1": "disposal"}
    sites = gpd.GeoDataFrame({"site_id": list(centres), "kind": [kinds[k] for k in centres]},
                             geometry=_wgs([box(X0 + c - 60, Y0 - 60, X0 + c + 60, Y0 + 60) for c in centres.values()]))
    roads = gpd.GeoDataFrame({"name": ["Test Rd"], "maxspeed": ["40"]}, geometry=_wgs([route]))
    return {"permits": permits, "sites": sites, "roads": roads}


LAYERS = _layers()

drive = st.tuples(st.just("drive"), st.integers(1, 40), st.sampled_from([0.0, 0.1, 0.5, 2.0, 6.0, 9.0, 14.0, 40.0]),
                  st.sampled_from([0.0, 20.0, 34.0, 36.0, 49.0, 51.0, 80.0, 200.0]))
park = st.tuples(st.just("park"), st.integers(1, 80), st.sampled_from([0.0, 5.0, 20.0, 45.0, 60.0]), st.just(0.0))
gap = st.tuples(st.just("gap"), st.sampled_from([250, 299, 300, 301, 599, 600, 900]),
                st.sampled_from([0.0, 150.0, 199.0, 200.0, 400.0]), st.just(0.0))
jump = st.tuples(st.just("jump"), st.just(1), st.sampled_from([90.0, 300.0, 5000.0]), st.just(0.0))
segments = st.lists(st.one_of(drive, park, gap, jump), min_size=1, max_size=8)


def _track(vehicle: str, start_s: int, x: float, interval: int, segs: list, rng: np.random.Generator,
           limit: int = 60) -> pd.DataFrame:
    """Fixes of *vehicle* from local epoch seconds *start_s* at *x* metres along the route, segment by segment."""
    t, y, rows, direction = start_s, 0.0, [], 1.0
    for kind, n, a, b in segs:
        for _ in range(n):
            if len(rows) >= limit:
                break
            if kind == "drive":
                t += interval
                x += direction * a * interval
                if not 0 <= x <= ROUTE_M:
                    direction = -direction
                    x = min(max(x, 0.0), ROUTE_M)
                y = b
                rows.append((t, x, y))
            elif kind == "park":
                t += interval
                rows.append((t, x + rng.uniform(-a, a) / 2, y + rng.uniform(-a, a) / 2))
            elif kind == "gap":
                t += n
                x = min(x + a, ROUTE_M)
                rows.append((t, x, y))
            else:       # one impossible fix, then on from where it was
                t += interval
                rows.append((t, x + a, y + a))
            if kind in ("gap", "jump"):
                break
    if not rows:
        rows.append((t + interval, x, y))
    tt, xx, yy = (np.array(c) for c in zip(*rows, strict=True))
    lon, lat = transform_xy(METRIC, WGS84, X0 + xx, Y0 + yy)
    return pd.DataFrame({"vehicle_id": vehicle, "time": tt.astype("datetime64[s]"), "lon": lon, "lat": lat})


def _batch(fixes: pd.DataFrame) -> Counter:
    v = gl.trucks.check(fixes, LAYERS["permits"], LAYERS["sites"], roads=LAYERS["roads"]).violations
    return Counter((r.vehicle_id, r.type, pd.Timestamp(r.start).isoformat(), pd.Timestamp(r.end).isoformat())
                   for r in v.itertuples())


def _state(monitor: TruckMonitor) -> Counter:
    return Counter((a["vehicle_id"], a["type"], a["start"], a["end"]) for a in monitor.book.alerts.values()
                   if a["status"] != "withdrawn")


def _feed(fixes: pd.DataFrame, checkpoints: set[int] = frozenset(), sizes: tuple[int, ...] = (1,)) -> TruckMonitor:
    """Feed *fixes* in time order to a monitor with the fast step and one without (whose trailing windows equal the
    batch check after every tick, tests/test_live_monitor.py), a tick after every ``sizes[0]``, then ``sizes[1]``, ...
    fixes (cycling; with several vehicles a tick then brings some of them several new fixes): the same alerts after
    every tick; the batch check's violations at *checkpoints* (the tick that reaches it) and at the end."""
    fixes = fixes.sort_values("time", kind="stable").reset_index(drop=True)
    monitor = TruckMonitor(LAYERS["permits"], LAYERS["sites"], roads=LAYERS["roads"])
    oracle = TruckMonitor(LAYERS["permits"], LAYERS["sites"], roads=LAYERS["roads"], fast=False)
    utc = pd.to_datetime(fixes["time"]) - pd.Timedelta(hours=8)
    pairs = [(Fix(v, ti.to_pydatetime().replace(tzinfo=dt.UTC), float(lon), float(lat), "osmand"), v)
             for v, ti, lon, lat in zip(fixes["vehicle_id"], utc, fixes["lon"], fixes["lat"], strict=True)]
    i, k = 0, 0
    while i < len(pairs):
        j = min(i + sizes[k % len(sizes)], len(pairs))
        for m in (monitor, oracle):
            m.add(pairs[i:j])
            m.tick()
        assert _status(monitor) == _status(oracle), (i, j)
        if any(i <= c < j for c in checkpoints):
            assert _state(monitor) == _batch(fixes.iloc[:j]), (i, j)
        i, k = j, k + 1
    assert _state(monitor) == _batch(fixes)
    assert oracle.stats["fast"] == 0
    return monitor


def _status(monitor: TruckMonitor) -> Counter:
    return Counter((a["vehicle_id"], a["type"], a["start"], a["end"], a["status"])
                   for a in monitor.book.alerts.values())


_START = int(np.datetime64("2026-11-20T21:50:00", "s").astype("int64"))


@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(segs1=segments, segs2=segments, start=st.sampled_from([0, 540, 8 * 3600 + 5 * 60]),
       interval=st.sampled_from([5, 10, 15, 30]), x1=st.sampled_from([0.0, 60.0, 85.0, 1000.0, 2500.0]),
       seed=st.integers(0, 2**16), cut=st.floats(0.2, 0.9))
def test_generated_tracks_fed_fix_by_fix_equal_batch(segs1, segs2, start, interval, x1, seed, cut):
    rng = np.random.default_rng(seed)
    fixes = pd.concat([_track("V1", _START + start, x1, interval, segs1, rng),
                       _track("V2", _START + start + 3, 2000.0, interval, segs2, rng)], ignore_index=True)
    _feed(fixes, {int(cut * len(fixes))})


def test_fast_step_taken_while_driving_and_parked_and_equal_batch():
    rng = np.random.default_rng(0)
    # V1 parks at its origin site, drives its corridor before and in its hours, parks at a parking, drives off
    # the corridor; V2 (no permit) parks at a site not on any permit, then outside any site
    v1 = _track("V1", _START, 0.0, 10, [("park", 20, 20.0, 0.0), ("drive", 12, 6.0, 20.0), ("drive", 32, 4.0, 0.0),
                                        ("park", 70, 30.0, 0.0), ("drive", 30, 9.0, 120.0)], rng, limit=400)
    v2 = _track("V2", _START + 3, 1000.0, 10, [("park", 80, 20.0, 0.0), ("drive", 30, 8.0, 0.0),
                                                 ("park", 80, 20.0, 0.0)], rng, limit=400)
    # V3 (no permit) creeps out of a site while its stop still fits: the stop is no longer approved
    v3 = _track("V3", _START + 6, 70.0, 10, [("drive", 80, 0.1, 0.0), ("drive", 10, 8.0, 0.0)], rng,
                limit=400)
    fixes = pd.concat([v1, v2, v3], ignore_index=True)
    monitor = _feed(fixes, {150, 300, 450})
    want = _batch(fixes)
    assert {k[:2] for k in want} >= {("V1", "deviation"), ("V1", "outside_hours"), ("V2", "no_permit"),
                                     ("V2", "unpermitted_stop"), ("V3", "unpermitted_stop")}
    assert monitor.stats["fast"] > 0.3 * len(fixes)     # a third skip the re-check (not: V2 at no site, V3 creeping)


@settings(max_examples=8, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(segs1=segments, segs2=segments, start=st.sampled_from([0, 540, 8 * 3600 + 5 * 60]),
       interval=st.sampled_from([5, 10, 15, 30]), x1=st.sampled_from([0.0, 60.0, 85.0, 1000.0, 2500.0]),
       seed=st.integers(0, 2**16), cut=st.floats(0.2, 0.9),
       sizes=st.lists(st.integers(1, 9), min_size=1, max_size=4).map(tuple))
def test_generated_tracks_fed_several_fixes_a_tick_equal_batch(segs1, segs2, start, interval, x1, seed, cut, sizes):
    """Ticks that bring a vehicle several new fixes: the fast step chains them (each fix's step on the night up to
    it), stopping at the first that does not qualify; the same alerts as the oracle after every tick."""
    rng = np.random.default_rng(seed)
    fixes = pd.concat([_track("V1", _START + start, x1, interval, segs1, rng),
                       _track("V2", _START + start + 3, 2000.0, interval, segs2, rng)], ignore_index=True)
    _feed(fixes, {int(cut * len(fixes))}, sizes)


def test_chained_fast_step_taken_and_stops_at_the_first_fix_that_fails():
    """Several fixes of each vehicle a tick: most are chained fast steps (a tick of 2-5 fixes per vehicle takes the
    fast step as a whole), and ticks where a stop forms, a truck leaves its stop, or it leaves its corridor or hours
    part-way through the tick (a later fix fails) are checked: the alerts equal the oracle's and the batch check's."""
    rng = np.random.default_rng(1)
    v1 = _track("V1", _START, 0.0, 10, [("park", 20, 20.0, 0.0), ("drive", 12, 6.0, 20.0), ("drive", 32, 4.0, 0.0),
                                        ("park", 70, 30.0, 0.0), ("drive", 30, 9.0, 120.0)], rng, limit=400)
    v2 = _track("V2", _START + 3, 1000.0, 10, [("park", 80, 20.0, 0.0), ("drive", 30, 8.0, 0.0),
                                                 ("park", 80, 20.0, 0.0)], rng, limit=400)
    v3 = _track("V3", _START + 6, 2000.0, 10, [("park", 40, 10.0, 0.0), ("drive", 60, 5.0, 0.0),
                                                 ("drive", 5, 20.0, 0.0), ("drive", 20, 5.0, 0.0)], rng, limit=400)
    fixes = pd.concat([v1, v2, v3], ignore_index=True)
    monitor = _feed(fixes, {200, 400}, (6, 9, 15, 3))
    want = _batch(fixes)
    assert {k[:2] for k in want} >= {("V1", "deviation"), ("V1", "outside_hours"), ("V2", "no_permit"),
                                     ("V2", "unpermitted_stop"), ("V3", "speeding")}, want
    assert monitor.stats["fast"] > 0.3 * len(fixes)
    assert monitor.stats["fast_chained"] > 0.2 * len(fixes)     # in ticks of 2 or more fixes of one vehicle


def test_fast_step_taken_while_parked_at_a_sites_edge():
    """A truck parked at the edge of its origin site: its stop's box reaches out of the (buffered) site but its mean
    stays inside, so the stop stays approved and the parked fixes take the fast step (19 of 200 fixes without the mean
    test); V2 (no permit: any site will do) parks astride a site's edge and creeps out until its stop's mean leaves
    the site (an unpermitted_stop)."""
    rng = np.random.default_rng(3)
    v1 = _track("V1", _START, 80.0, 10, [("park", 80, 40.0, 0.0), ("drive", 20, 8.0, 0.0)], rng, limit=400)
    v2 = _track("V2", _START + 5, 1080.0, 10, [("park", 40, 40.0, 0.0), ("drive", 60, 0.3, 0.0)], rng, limit=400)
    fixes = pd.concat([v1, v2], ignore_index=True)
    monitor = _feed(fixes, {60, 120})
    assert ("V2", "unpermitted_stop") in {k[:2] for k in _batch(fixes)}
    assert monitor.stats["fast"] > 0.5 * len(fixes)
