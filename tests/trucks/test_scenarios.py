"""Planted scenarios with known answers, end to end through gl.trucks.check."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString

import gridlib as gl
from gridlib.trucks.simulate import road_routes, simulate_fleet

from .conftest import DAY, L_ROUTE, X0, Y0, bump, drive, l_sites, permit_frame, to_wgs, vtype

T0 = f"{DAY}T09:00:00"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clean_noisy_track_on_real_roads_with_u_turns_raises_nothing(roads, seed):
    # a real road path through junctions (roads cross the corridor all along), σ = 10 m, and three
    # immediate U-turns at the route ends
    route = road_routes(roads, 1, seed=seed, min_length_m=2000).iloc[0]
    fixes, _, _ = drive(route, T0, legs=4, dwell_s=0.0, seed=seed)
    sites = gpd.GeoDataFrame({"site_id": ["O1", "D1"], "kind": ["construction", "disposal"]},
                             geometry=[to_wgs(shapely.Point(route.coords[0]).buffer(80)),
                                       to_wgs(shapely.Point(route.coords[-1]).buffer(80))], crs=4326)
    r = gl.trucks.check(fixes, permit_frame([{"permit_id": "P1", "vehicle_id": "V1"}], [route]), sites, roads=roads)
    assert r.violations.empty, r.violations[["type", "start", "end", "detail"]]
    assert len(r.rejects) == 0 and len(r.fixes) == len(fixes)
    assert np.nanmax(r.per_fix["route_distance_m"]) < 50


@pytest.mark.parametrize(
    ("start_s", "dur_s", "offset"),
    [(60, 90, 150.0),      # short
     (40, 600, -300.0),    # long, round the outside of the corner of the L
     (100, 110, 75.0),     # near the thresholds: 25 m beyond the corridor for ~80 s
     (120, 120, -200.0)],  # to the other side
)
def test_planted_deviation_found_within_one_fix(start_s, dur_s, offset):
    fixes, cx, cy = drive(L_ROUTE, T0, lateral=bump(start_s, dur_s, offset), noise=5.0, seed=7)
    true_d = shapely.distance(shapely.points(cx, cy), L_ROUTE)
    beyond = np.flatnonzero(true_d > 50)
    r = gl.trucks.check(fixes, permit_frame([{"permit_id": "P1", "vehicle_id": "V1"}], [L_ROUTE]), l_sites())
    dev = vtype(r, "deviation")
    assert len(dev) == 1, r.violations
    times = fixes["time"].to_numpy()
    tol = np.timedelta64(10, "s")
    assert abs(dev["start"].iloc[0].to_datetime64() - times[beyond[0]]) <= tol
    assert abs(dev["end"].iloc[0].to_datetime64() - times[beyond[-1]]) <= tol
    assert dev["max_distance_m"].iloc[0] == pytest.approx(abs(offset), abs=20)
    assert dev["permit_id"].iloc[0] == "P1" and dev["company"].iloc[0] == "运输公司A"
    evidence = [int(i) for i in dev["evidence"].iloc[0].split(",")]
    assert evidence[0] == pytest.approx(beyond[0], abs=1) and evidence[-1] == pytest.approx(beyond[-1], abs=1)


@pytest.mark.parametrize(("dur_s", "offset"), [(40, 150.0), (300, 45.0)])
def test_below_thresholds_no_deviation(dur_s, offset):
    # too short (40 s < 60 s), or never beyond the 50 m corridor
    fixes, _, _ = drive(L_ROUTE, T0, lateral=bump(100, dur_s, offset, ramp_s=5), noise=5.0, seed=3)
    r = gl.trucks.check(fixes, permit_frame([{"permit_id": "P1", "vehicle_id": "V1"}], [L_ROUTE]), l_sites())
    assert vtype(r, "deviation").empty


def test_noise_at_corridor_edge_raises_nothing_thanks_to_hysteresis_and_minimums():
    # driving 42 m off the centre line (inside a 50 m corridor) with σ = 10 m noise: the raw
    # threshold test flips again and again; the episode rules raise nothing
    fixes, _, _ = drive(L_ROUTE, T0, lateral=bump(30, 380, 42.0, ramp_s=1), noise=10.0, seed=11)
    permits = permit_frame([{"permit_id": "P1", "vehicle_id": "V1"}], [L_ROUTE])
    r = gl.trucks.check(fixes, permits, l_sites())
    assert vtype(r, "deviation").empty
    raw = r.per_fix["route_distance_m"] > 50
    assert np.count_nonzero(np.diff(raw.astype(int)) == 1) >= 3  # the raw test does flap
    naive = gl.trucks.check(fixes, permits, l_sites(),
                            thresholds=gl.trucks.Thresholds(return_ratio=1.0, min_duration_s=0, min_length_m=0))
    assert len(vtype(naive, "deviation")) >= 3


def test_dwell_outside_sites_is_suspected_dumping_and_at_sites_is_not():
    # 20-minute stop on the route 700 m from the origin; the trip starts and ends with stops at the sites
    fixes, _, _ = drive(L_ROUTE, T0, pause=(90, 1200), legs=2, dwell_s=900, seed=5)
    r = gl.trucks.check(fixes, permit_frame([{"permit_id": "P1", "vehicle_id": "V1"}], [L_ROUTE]), l_sites())
    stops = r.stops.sort_values("start")
    assert len(stops) == 2
    assert stops["approved"].tolist() == [False, True]
    assert stops["site_id"].iloc[1] == "D1"
    dump = vtype(r, "unpermitted_stop")
    assert len(dump) == 1
    assert abs(dump["start"].iloc[0] - pd.Timestamp(T0) - pd.Timedelta(seconds=90)) <= pd.Timedelta(seconds=60)
    assert dump["duration_s"].iloc[0] == pytest.approx(1200, abs=120)
    assert "outside any site" in dump["detail"].iloc[0]
    # the same dwell inside a parking site is fine
    side = LineString([(X0, Y0), (X0 + 1000, Y0), (X0 + 1000, Y0 + 130), (X0 + 1000, Y0),
                       (X0 + 2000, Y0), (X0 + 2000, Y0 + 1500)])
    fixes, _, _ = drive(side, T0, pause=(1130 / 8.0, 1200), seed=5)
    r = gl.trucks.check(fixes, permit_frame([{"permit_id": "P1", "vehicle_id": "V1"}], [side]), l_sites())
    assert vtype(r, "unpermitted_stop").empty
    assert (r.stops["site_id"] == "K1").any()


def test_midnight_window():
    permits = permit_frame([{"permit_id": "PN", "vehicle_id": "N1", "hours": "22:00-06:00"}], [L_ROUTE])
    parts = [drive(L_ROUTE, f"{DAY}T{hh}", vehicle="N1", seed=i)[0] for i, hh in enumerate(
        ["21:40:00",   # before the window opens: outside_hours
         "23:00:00"])]  # inside
    parts += [drive(L_ROUTE, f"2026-11-21T{hh}", vehicle="N1", seed=9 + i)[0] for i, hh in enumerate(
        ["01:00:00",   # the night of the 20th, still inside
         "05:55:00"])]  # runs past 06:00: outside from 06:00
    parts.append(drive(L_ROUTE, "2026-11-22T01:00:00", vehicle="N1", seed=20)[0])  # permit over: no permit
    r = gl.trucks.check(pd.concat(parts, ignore_index=True), permits, l_sites())
    oh = vtype(r, "outside_hours").sort_values("start")
    assert oh["start"].dt.strftime("%d %H:%M").tolist() == ["20 21:40", "21 06:00"]
    assert oh["end"].iloc[0] <= pd.Timestamp(f"{DAY} 22:00")
    npm = vtype(r, "no_permit")
    assert npm["start"].dt.strftime("%d %H:%M").tolist() == ["22 01:00"]
    assert npm["company"].tolist() == ["运输公司A"]  # known from its other permit
    # checking one day only looks at that day
    r20 = gl.trucks.check(pd.concat(parts, ignore_index=True), permits, l_sites(), date=DAY)
    assert vtype(r20, "outside_hours")["start"].dt.strftime("%d %H:%M").tolist() == ["20 21:40"]
    assert (r20.rejects["reason"] == "not on the checked date").sum() == sum(len(p) for p in parts[2:])


def test_missing_and_expired_permits():
    permits = permit_frame([{"permit_id": "PX", "vehicle_id": "X1", "valid_from": "2026-10-01",
                             "valid_to": "2026-11-19"}], [L_ROUTE])
    fixes = pd.concat([drive(L_ROUTE, T0, vehicle="X1")[0], drive(L_ROUTE, T0, vehicle="Z9", seed=1)[0]])
    r = gl.trucks.check(fixes, permits, l_sites())
    npm = vtype(r, "no_permit").set_index("vehicle_id")
    assert sorted(npm.index) == ["X1", "Z9"]
    assert npm.loc["X1", "company"] == "运输公司A" and pd.isna(npm.loc["Z9", "company"])
    assert vtype(r, "deviation").empty  # no permit, no route to deviate from
    assert set(r.credit.vehicles["vehicle_id"]) == {"X1", "Z9"}
    assert r.credit.vehicles.set_index("vehicle_id").loc["Z9", "company"] == "(unknown)"


def test_gps_silence_while_moving_but_not_while_parked():
    fixes, _, _ = drive(L_ROUTE, T0, seed=2, legs=2, dwell_s=1500)
    t = fixes["time"]
    moving_gap = (t > pd.Timestamp(f"{DAY} 09:01:00")) & (t < pd.Timestamp(f"{DAY} 09:08:00"))
    parked_gap = (t > pd.Timestamp(f"{DAY} 09:10:00")) & (t < pd.Timestamp(f"{DAY} 09:25:00"))
    r = gl.trucks.check(fixes[~moving_gap & ~parked_gap], permit_frame(
        [{"permit_id": "P1", "vehicle_id": "V1"}], [L_ROUTE]), l_sites())
    sil = vtype(r, "gps_silence")
    assert len(sil) == 1
    assert sil["start"].iloc[0] == pd.Timestamp(f"{DAY} 09:01:00")
    assert sil["end"].iloc[0] == pd.Timestamp(f"{DAY} 09:08:00")
    assert sil.geometry.iloc[0].geom_type == "LineString"


def test_restricted_zone_and_speeding():
    zone = gpd.GeoDataFrame({"zone_id": ["Z1"]}, geometry=[to_wgs(shapely.box(X0 + 500, Y0 - 100, X0 + 800, Y0 + 100))],
                            crs=4326)
    roads = gpd.GeoDataFrame({"name": ["东西路", "南北路"], "speed_limit_kmh": [20, 60]},
                             geometry=[to_wgs(LineString([(X0, Y0), (X0 + 2000, Y0)])),
                                       to_wgs(LineString([(X0 + 2000, Y0), (X0 + 2000, Y0 + 1500)]))], crs=4326)
    fixes, _, _ = drive(L_ROUTE, T0, speed=10.0, noise=3.0)  # 36 km/h: too fast for 20, fine for 60
    r = gl.trucks.check(fixes, permit_frame([{"permit_id": "P1", "vehicle_id": "V1"}], [L_ROUTE]), l_sites(),
                        roads=roads, zones=zone)
    z = vtype(r, "restricted_zone")
    assert len(z) == 1 and z["zone_id"].iloc[0] == "Z1"
    assert 300 / 10.0 - 20 <= z["duration_s"].iloc[0] <= 300 / 10.0 + 10  # first to last fix inside
    sp = vtype(r, "speeding")
    assert len(sp) == 1
    end_east = pd.Timestamp(T0) + pd.Timedelta(seconds=2000 / 10.0)
    assert abs(sp["end"].iloc[0] - end_east) <= pd.Timedelta(seconds=40)
    assert "limit is 20" in sp["detail"].iloc[0]


def _match(truth: pd.DataFrame, found: pd.DataFrame, slack_s: int = 60) -> tuple[float, float]:
    """Precision and recall: a found episode matches a truth episode of the same vehicle that overlaps it."""
    slack = pd.Timedelta(seconds=slack_s)
    m = truth.reset_index().merge(found.reset_index(), on="vehicle_id", suffixes=("_t", "_f"))
    m = m[(m["start_f"] <= m["end_t"] + slack) & (m["end_f"] >= m["start_t"] - slack)]
    precision = m["index_f"].nunique() / max(len(found), 1)
    recall = m["index_t"].nunique() / max(len(truth), 1)
    return precision, recall


def test_fleet_precision_and_recall(roads):
    fleet = simulate_fleet(roads, 150, seed=42, hours=("07:00", "13:00"), deviation_share=0.7, dumping_share=0.2,
                           silence_share=0.2, no_permit_share=0.05, late_share=0.2, n_routes=60)
    r = gl.trucks.check(fleet.fixes, fleet.permits, fleet.sites)
    assert len(r.fixes) + len(r.rejects) == len(fleet.fixes)
    truth = fleet.truth
    assert (truth["type"] == "deviation").sum() >= 30
    for kind in ("deviation", "unpermitted_stop", "gps_silence", "no_permit", "outside_hours"):
        t = truth[truth["type"] == kind]
        if kind == "outside_hours":
            # under the 60-s reporting minimum, with two fixes of slack: the detector's driving time
            # starts and ends within two fixes of the truth (a dwell absorbs the approach fixes)
            t = t[(t["end"] - t["start"]) >= pd.Timedelta(seconds=80)]
        f = r.violations[r.violations["type"] == kind]
        p, rec = _match(t, f)
        assert p >= 0.95 and rec >= 0.95, (kind, p, rec, len(t), len(f))
    # deviation boundaries: within one fix for nearly all
    t = truth[truth["type"] == "deviation"].merge(vtype(r, "deviation"), on="vehicle_id", suffixes=("_t", "_f"))
    t = t[(t["start_f"] <= t["end_t"]) & (t["end_f"] >= t["start_t"])]
    ok = ((t["start_f"] - t["start_t"]).abs() <= pd.Timedelta(seconds=10)) & (
        (t["end_f"] - t["end_t"]).abs() <= pd.Timedelta(seconds=10))
    assert ok.mean() >= 0.9
