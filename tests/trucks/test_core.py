"""Columnar core: readers with rejects, cleaning, runs, route distance, permits by day and hour."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import example, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString

import gridlib as gl
from gridlib.crs import wgs84_to_gcj02
from gridlib.errors import InputError
from gridlib.trucks._runs import forward_fill, group_extent, run_ids, runs, trim
from gridlib.trucks.clean import clean
from gridlib.trucks.fixes import read_fixes, to_datetime64
from gridlib.trucks.route import (
    assign_permits,
    deviation_episodes,
    parse_hours,
    read_permits,
    route_distance,
)

from .conftest import DAY, L_ROUTE, drive, permit_frame


def test_read_fixes_rejects_every_bad_row_with_its_reason():
    df = pd.DataFrame({
        "vehicle_id": ["A", None, "A", "A", "A", "A", "B"],
        "time": ["2026-11-20 08:00:10", "2026-11-20 08:00", None, "yesterday", "2026-11-20 08:00",
                 "2026-11-20 08:00:20", "2026-11-20 08:00"],
        "lon": [121.5, 121.5, 121.5, 121.5, 200.0, np.nan, 121.5],
        "lat": [31.24] * 7,
    })
    fx, rejects = read_fixes(df)
    assert len(fx) + len(rejects) == len(df)
    # one vocabulary for every reader (issue 15.2): codes, with the human text beside them
    assert rejects["reason_code"].tolist() == ["missing_id", "missing_time", "unparseable_time",
                                               "coordinate_out_of_range", "missing_coordinate"]
    assert rejects["reason"].tolist()[:2] == ["missing vehicle_id", "missing time"]
    assert rejects.index.tolist() == [1, 2, 3, 4, 5]
    assert fx.vehicle_ids.tolist() == ["A", "B"] and fx.row.tolist() == [0, 6]


def test_times_naive_local_tz_aware_and_epoch_agree():
    local = pd.Series(pd.to_datetime(["2026-11-20 08:00:00"]))
    aware = local.dt.tz_localize("Asia/Shanghai").dt.tz_convert("UTC")
    epoch = pd.Series([int(pd.Timestamp("2026-11-20 00:00:00", tz="UTC").timestamp())])
    assert to_datetime64(local)[0] == to_datetime64(aware)[0] == to_datetime64(epoch)[0]
    assert str(to_datetime64(pd.Series(["2026-11-20T00:00:00Z"]))[0]) == "2026-11-20T08:00:00"


def test_out_of_order_fixes_are_sorted_and_counted():
    df = pd.DataFrame({"vehicle_id": ["A", "A", "A"], "time": ["2026-11-20 08:00:20", "2026-11-20 08:00:00",
                                                              "2026-11-20 08:00:10"],
                       "lon": [121.5002, 121.5, 121.5001], "lat": 31.24})
    fx, _ = read_fixes(df)
    assert fx.row.tolist() == [1, 2, 0] and fx.reordered == 1
    assert np.all(np.diff(fx.t) > 0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["V2", "V10", "V1", "b", None]), st.integers(0, 5)),
                min_size=1, max_size=30),
       st.booleans())
def test_categorical_and_plain_vehicle_ids_give_the_same_fixes(rows, shuffle_categories):
    """Categorical ids (as Parquet gives them), with categories in any order, read like strings."""
    vids = [v for v, _ in rows]
    df = pd.DataFrame({"vehicle_id": vids, "time": [f"2026-11-20 08:00:0{s}" for _, s in rows],
                       "lon": 121.5, "lat": 31.24})
    cats = ["b", "V10", "V2", "V1"] if shuffle_categories else sorted({"V2", "V10", "V1", "b"})
    cat = df.assign(vehicle_id=pd.Categorical(vids, categories=cats))
    a, ra = read_fixes(df)
    b, rb = read_fixes(cat)
    assert a.vehicle_ids.tolist() == b.vehicle_ids.tolist() == sorted({v for v in vids if v is not None})
    assert a.vehicle.tolist() == b.vehicle.tolist() and a.row.tolist() == b.row.tolist()
    assert a.t.tolist() == b.t.tolist() and a.reordered == b.reordered
    assert ra.index.tolist() == rb.index.tolist()
    key = list(zip(a.vehicle.tolist(), a.t.tolist(), a.row.tolist(), strict=True))
    assert key == sorted(key)  # (vehicle, time), ties in input order


def test_gcj02_input_is_converted():
    lon, lat = wgs84_to_gcj02(np.array([121.5]), np.array([31.24]))
    fx, _ = read_fixes(pd.DataFrame({"vehicle_id": ["A"], "time": ["2026-11-20 08:00"], "lon": lon, "lat": lat}),
                       crs="gcj02")
    assert fx.lon[0] == pytest.approx(121.5, abs=1e-7) and fx.lat[0] == pytest.approx(31.24, abs=1e-7)


def test_missing_columns_is_a_clear_error():
    with pytest.raises(InputError, match="'vehicle_id'"):
        read_fixes(pd.DataFrame({"time": [], "lon": [], "lat": []}))


def test_movingpandas_round_trip():
    fixes, _, _ = drive(L_ROUTE, "2026-11-20T09:00:00", seed=1)
    fx, _ = read_fixes(fixes)
    tc = gl.trucks.to_trajectories(fx)
    back, rejects = gl.trucks.from_trajectories(tc)
    assert len(rejects) == 0 and np.array_equal(back.t, fx.t)
    assert np.allclose(back.lon, fx.lon) and np.allclose(back.lat, fx.lat)


def test_clean_duplicates_spikes_and_bursts():
    t = pd.date_range("2026-11-20 08:00", periods=12, freq="10s").astype(str).tolist()
    lon = [121.500 + 0.0005 * i for i in range(12)]
    lon[4] += 0.05   # a single spike
    lon[8] += 0.05   # a burst of two
    lon[9] += 0.05
    df = pd.DataFrame({"vehicle_id": "A", "time": t + [t[2]], "lon": lon + [lon[2]], "lat": 31.24})
    fx, _ = read_fixes(df)
    kept, rejected = clean(fx)
    assert sorted(rejected["row"].tolist()) == [4, 8, 9, 12]
    assert rejected.set_index("row").loc[12, "reason"] == "duplicate time"
    assert len(kept) + len(rejected) == len(df)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 600), st.floats(-2000, 2000), st.floats(-2000, 2000)),
                min_size=1, max_size=60))
def test_clean_never_loses_a_row(rows):
    df = pd.DataFrame(rows, columns=["v", "s", "dx", "dy"])
    df = pd.DataFrame({"vehicle_id": df["v"].astype(str), "time": pd.Timestamp("2026-11-20") + pd.to_timedelta(df["s"], "s"),
                       "lon": 121.5 + df["dx"] / 95000.0, "lat": 31.24 + df["dy"] / 111000.0})
    fx, rej0 = read_fixes(df)
    kept, rej1 = clean(fx)
    assert len(kept) + len(rej0) + len(rej1) == len(df)
    assert set(kept.row) | set(rej1["row"]) | set(rej0.index) == set(range(len(df)))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=40), st.lists(st.booleans(), min_size=1, max_size=40))
def test_runs_match_a_plain_loop(mask, brk):
    n = min(len(mask), len(brk))
    m, b = np.array(mask[:n]), np.array(brk[:n])
    s, e = runs(m, b)
    expected, i = [], 0
    while i < n:
        if not m[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and m[j + 1] and not b[j + 1]:
            j += 1
        expected.append((i, j))
        i = j + 1
    assert list(zip(s.tolist(), e.tolist(), strict=True)) == expected
    ids = run_ids(s, e, n)
    assert np.array_equal(ids >= 0, m)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=50), st.data())
def test_group_extent_matches_slices(values, data):
    v = np.array(values)
    lo = np.array(data.draw(st.lists(st.integers(0, len(v) - 1), min_size=1, max_size=20)))
    hi = np.array([data.draw(st.integers(a, len(v) - 1)) for a in lo])
    mn, mx = group_extent(v, lo, hi)
    assert np.array_equal(mn, [v[a:b + 1].min() for a, b in zip(lo, hi, strict=True)])
    assert np.array_equal(mx, [v[a:b + 1].max() for a, b in zip(lo, hi, strict=True)])


def test_forward_fill_and_trim():
    assert forward_fill(np.array([0, 1, 0, -1, 0]), np.array([1, 0, 0, 0, 0], bool), -1).tolist() == [-1, 1, 1, -1, -1]
    assert trim(np.array([0]), np.array([4]), np.array([0, 0, 1, 1, 0], bool)) == (np.array([2]), np.array([3]))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 3000), st.floats(0, 3000)), min_size=2, max_size=12, unique=True),
       st.lists(st.tuples(st.floats(-500, 3500), st.floats(-500, 3500)), min_size=1, max_size=40),
       st.sampled_from([30.0, 50.0, 120.0]))
@example(line=[(0.0, 0.0), (0.0, 5.837610302526442e-139)], pts=[(0.0, 0.0)], cell=30.0)  # gave nan
def test_route_distance_equals_shapely_within_a_cell(line, pts, cell):
    route = LineString(line)
    if route.length == 0:
        return
    x, y = np.array(pts).T
    d = route_distance(x, y, np.zeros(len(x), dtype=np.int64), np.array([route]), cell_m=cell)
    ref = shapely.distance(shapely.points(x, y), route)
    near = ref <= cell - 1e-3
    assert np.allclose(d[near], ref[near], atol=1e-2)
    assert np.all(np.isinf(d[ref > cell + 1e-3]))


def test_parse_hours_and_permit_rejects():
    s, e, ok = parse_hours(["08:00-18:00", "22:00 - 06:00", "00:00-24:00", "8-18"])
    assert s.tolist() == [28800, 79200, -1, -1] and e.tolist() == [64800, 21600, -1, -1]
    assert ok.tolist() == [True, True, True, False]
    p = permit_frame([{"permit_id": "P1", "vehicle_id": "A"}, {"permit_id": "P1", "vehicle_id": "B"},
                      {"permit_id": "P3", "vehicle_id": "C", "hours": "8-18"},
                      {"permit_id": "P4", "vehicle_id": "D", "corridor_m": -5}], [L_ROUTE] * 4)
    ok_p, bad = read_permits(p)
    assert ok_p["permit_id"].tolist() == ["P1"]
    assert bad["reason"].tolist() == ["duplicate permit_id", "unparseable hours (expected HH:MM-HH:MM)",
                                      "corridor_m must be positive"]


def test_assign_permits_prefers_the_one_in_hours():
    day = np.datetime64("2026-11-20", "D")
    t = np.array([day], dtype="datetime64[s]").astype(np.int64) + np.array([7 * 3600, 23 * 3600])
    # a day permit and a night permit for the same vehicle: each fix gets the one whose hours fit
    p, ok = assign_permits(np.zeros(2, np.int32), t, np.array([0, 0]), np.array([day, day]), np.array([day, day]),
                           np.array([6 * 3600, 22 * 3600]), np.array([18 * 3600, 6 * 3600]))
    assert p.tolist() == [0, 1] and ok.tolist() == [True, True]


def test_deviation_episode_needs_both_duration_and_length():
    d = np.r_[np.zeros(5), np.full(10, 80.0), np.zeros(5)]
    t = np.arange(20) * 10
    b = np.r_[True, np.zeros(19, bool)]
    s, e, _ = deviation_episodes(d, np.full(20, 50.0), np.zeros(20, bool), t, np.full(20, 10.0), b)
    assert len(s) == 0  # 90 s but only 90 m driven (a truck waiting beside the corridor)
    s, e, length = deviation_episodes(d, np.full(20, 50.0), np.zeros(20, bool), t, np.full(20, 50.0), b)
    assert s.tolist() == [5] and e.tolist() == [14] and length.tolist() == [450.0]


def test_check_accepts_fixes_and_accounts_for_every_row():
    fixes, _, _ = drive(L_ROUTE, "2026-11-20T09:00:00", seed=4)
    junk = pd.DataFrame({"vehicle_id": ["V1", None, "V1"], "time": ["2026-11-20 09:00:05", "2026-11-20 09:01", "x"],
                         "lon": [130.0, 121.5, 121.5], "lat": [40.0, 31.2, 31.2]})
    raw = pd.concat([fixes.astype({"time": str}), junk], ignore_index=True)
    permits = permit_frame([{"permit_id": "P1", "vehicle_id": "V1"}], [L_ROUTE])
    r = gl.trucks.check(raw, permits)
    assert len(r.fixes) + len(r.rejects) == len(raw)
    assert sorted(r.rejects["reason_code"]) == ["missing_id", "speed_outlier", "unparseable_time"]
    assert sorted(r.rejects["reason"]) == ["impossible jump", "missing vehicle_id", "unparseable time 'x'"]
    assert set(r.fixes.row) | set(r.rejects.index) == set(range(len(raw)))
    fx, _ = read_fixes(fixes)
    r2 = gl.trucks.check(fx, permits)
    assert len(r2.fixes) == len(fixes) and r2.violations.empty


def test_check_rejects_have_one_shape_for_frames_and_fixes():
    """Issue 15.2: trucks.check returned rejects in two shapes (original rows vs row/reason)."""
    fixes, _, _ = drive(L_ROUTE, "2026-11-20T09:00:00", seed=4)
    permits = permit_frame([{"permit_id": "P1", "vehicle_id": "V1"}], [L_ROUTE])
    fixes = fixes.astype({"time": str})
    fixes.loc[5, ["lon", "lat"]] = [130.0, 40.0]  # an impossible jump
    from_frame = gl.trucks.check(fixes, permits).rejects
    fx, _ = read_fixes(fixes)
    from_fixes = gl.trucks.check(fx, permits).rejects
    for r in (from_frame, from_fixes):
        assert {"vehicle_id", "time", "lon", "lat", "reason_code", "field", "reason"} <= set(r.columns)
        assert r.index.tolist() == [5] and r["reason_code"].tolist() == ["speed_outlier"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 200), st.booleans(), st.booleans(), st.floats(0, 80)), min_size=1, max_size=60))
def test_hysteresis_matches_a_plain_state_machine(rows):
    d = np.array([r[0] for r in rows])
    brk = np.array([r[1] for r in rows])
    brk[0] = True
    site = np.array([r[2] for r in rows])
    step = np.array([r[3] for r in rows])
    t = np.arange(len(rows)) * 10
    corridor = np.full(len(rows), 50.0)
    s, e, length = deviation_episodes(d, corridor, site, t, step, brk, min_duration_s=30, min_length_m=100)
    expected, state, start = [], -1, None
    for i in range(len(rows)):
        if brk[i]:
            if start is not None:
                expected.append((start, i - 1))
            state, start = -1, None
        if site[i] or d[i] <= 35.0:
            state = -1
        elif d[i] > 50.0:
            state = 1
        if state == 1 and start is None:
            start = i
        elif state == -1 and start is not None:
            expected.append((start, i - 1))
            start = None
    if start is not None:
        expected.append((start, len(rows) - 1))
    cs = np.cumsum(step)
    expected = [(a, b) for a, b in expected if t[b] - t[a] >= 30 and cs[b] - cs[a] >= 100]
    assert list(zip(s.tolist(), e.tolist(), strict=True)) == expected


def test_trajectories_split_by_trip():
    fixes, _, _ = drive(L_ROUTE, "2026-11-20T09:00:00", legs=2, dwell_s=900, seed=6)
    fx, _ = read_fixes(fixes)
    mv = gl.trucks.detect(fx)
    tc = gl.trucks.to_trajectories(fx, split=mv.trip_of)
    assert len(tc) == len(mv.trips) == 2
    assert sum(len(tr.df) for tr in tc.trajectories) == int((mv.trip_of >= 0).sum())


def test_detect_and_check_a_truck_parked_all_night():
    """A vehicle that never moves has one stop and no trip (this used to raise IndexError)."""
    import numpy as np
    import pandas as pd

    from gridlib.trucks import detect, read_fixes

    times = pd.date_range("2026-11-20 22:00", periods=200, freq="30s").astype(str)
    rng = np.random.default_rng(3)
    fx, rejects = read_fixes(pd.DataFrame({"vehicle_id": "沪D00001", "time": times,
                                           "lon": 121.50 + rng.normal(0, 2e-5, 200),
                                           "lat": 31.24 + rng.normal(0, 2e-5, 200)}))
    moves = detect(fx)
    assert len(rejects) == 0 and len(moves.trips) == 0 and len(moves.stops) == 1
    assert (moves.trip_of == -1).all()


@pytest.mark.parametrize("end", ["08:02", "08:10", "08:40"])
def test_simulated_fleet_fits_a_short_window(roads, end):
    from gridlib.trucks.simulate import simulate_fleet

    fleet = simulate_fleet(roads, 8, seed=3, hours=("08:00", end))
    t = pd.to_datetime(fleet.fixes["time"])
    assert fleet.fixes["vehicle_id"].nunique() == 8
    assert t.min() >= pd.Timestamp(f"{DAY} 08:00") and t.max() <= pd.Timestamp(f"{DAY} {end}")


def test_integer_vehicle_ids_find_their_permits():
    """Integer ids (a store or CSV read as numbers) were sorted as numbers, 9 before 10, but looked up by
    ``searchsorted`` as text: no fix found its permit, and every truck was reported without one (review)."""
    permits = gpd.GeoDataFrame(
        {"permit_id": ["P9", "P10"], "vehicle_id": ["9", "10"], "company": "K", "valid_from": "2026-11-20",
         "valid_to": "2026-11-20", "hours": "22:00-06:00"},
        geometry=[LineString([(121.48, 31.24), (121.52, 31.24)])] * 2, crs=4326)
    fixes = pd.DataFrame({"vehicle_id": np.repeat([9, 10], 60),
                          "time": np.tile(pd.date_range("2026-11-20 22:00", periods=60, freq="20s").astype(str), 2),
                          "lon": np.tile([121.48 + i * 0.0006 for i in range(60)], 2), "lat": 31.24})
    as_text = gl.trucks.check(fixes.astype({"vehicle_id": str}), permits).violations
    as_numbers = gl.trucks.check(fixes, permits).violations
    assert "no_permit" not in set(as_numbers["type"])
    pd.testing.assert_frame_equal(as_numbers, as_text)


def test_read_fixes_owns_its_coordinates_unless_told_not_to():
    """By default the fixes are not a view of the caller's frame: changing the frame later leaves them as read."""
    frame = pd.DataFrame({"vehicle_id": ["A", "A"], "time": ["2026-11-20 08:00", "2026-11-20 08:01"],
                          "lon": [121.5, 121.6], "lat": [31.24, 31.25]})
    fx, _ = read_fixes(frame)
    frame.loc[0, "lon"] = 999.0
    assert fx.lon.tolist() == [121.5, 121.6]
    frame.loc[0, "lon"] = 121.5
    shared, _ = read_fixes(frame, copy=False)          # every row kept in its place: the frame's own column
    assert np.shares_memory(shared.lon, frame["lon"].to_numpy())
