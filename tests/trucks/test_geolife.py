"""Real GPS timing and noise (GeoLife, Beijing; non-commercial licence: read in place, never copied)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gridlib.trucks.clean import clean
from gridlib.trucks.fixes import read_fixes
from gridlib.trucks.trips import detect


@pytest.fixture(scope="module")
def geolife(shared_data):
    path = shared_data / "c_gps_trajectories" / "geolife_beijing_11users_2007-2008.csv"
    if not path.exists():
        pytest.skip(f"GeoLife subset not found at {path} (it is not bundled: non-commercial licence)")
    raw = pd.read_csv(path, dtype={"user_id": str})
    return raw.rename(columns={"trajectory_id": "vehicle_id", "datetime_utc": "time"})


def test_reading_and_cleaning_account_for_every_point(geolife):
    fx, rejects = read_fixes(geolife)
    kept, jumps = clean(fx)
    assert len(kept) + len(rejects) + len(jumps) == len(geolife)
    # UTC "Z" times become local (UTC+8) times
    first = geolife.iloc[int(kept.row[0])]
    local = pd.Timestamp(first["time"]).tz_convert("Asia/Shanghai").tz_localize(None)
    assert kept.times()[0] == np.datetime64(local, "s")
    # some real outliers go, but few
    assert 0 < len(jumps) < 0.005 * len(geolife)
    assert set(jumps["reason"]) <= {"duplicate time", "impossible jump"}
    # no isolated spike survives: no fix reached and left impossibly fast (> 150 km/h over > 100 m)
    # while its two neighbours are consistent with each other. (Sustained 150+ km/h stretches do
    # remain: GeoLife users also rode trains.)
    x, y, t = kept.x, kept.y, kept.t
    d = np.hypot(np.diff(x), np.diff(y))
    same = kept.vehicle[1:] == kept.vehicle[:-1]
    bad = same & (d > 100) & (d / np.maximum(np.diff(t), 1) * 3.6 > 150)
    k = np.flatnonzero(bad[1:] & bad[:-1]) + 1
    skip = np.hypot(x[k + 1] - x[k - 1], y[k + 1] - y[k - 1])
    consistent = (skip <= 100) | (skip / np.maximum(t[k + 1] - t[k - 1], 1) * 3.6 <= 150)
    assert not consistent.any()


def test_stops_on_real_traces(geolife):
    fx, _ = read_fixes(geolife)
    fx, _ = clean(fx)
    mv = detect(fx, radius_m=50, min_dwell_s=300, gap_s=600)
    stops = mv.stops
    assert len(stops) >= 20
    # a full dwell, or a shorter one (>= 120 s) where the trace ends while parked
    last_fix = np.r_[fx.vehicle[1:] != fx.vehicle[:-1], True]
    ends_trace = np.zeros(len(stops), dtype=bool)
    ends_trace[mv.stop_of[last_fix & (mv.stop_of >= 0)]] = True
    assert (stops["duration_s"] >= 300).mean() > 0.9
    assert ((stops["duration_s"] >= 300) | (ends_trace & (stops["duration_s"] >= 120))).all()
    # every stop is compact: nearly all of its fixes lie within 2R of its centre (GPS drift while parked)
    ids = mv.stop_of[mv.stop_of >= 0]
    dx = fx.x[mv.stop_of >= 0] - mv.stop_xy[ids, 0]
    dy = fx.y[mv.stop_of >= 0] - mv.stop_xy[ids, 1]
    r = np.hypot(dx, dy)
    assert np.quantile(r, 0.95) <= 100
    # chains of overlapping dwells (a crawl) make a few longer stops; the typical one stays within 2R
    assert pd.Series(r).groupby(ids).max().median() <= 100
    # drift while parked is not movement: parked fixes move far less per second than moving ones
    step = np.r_[0.0, np.hypot(np.diff(fx.x), np.diff(fx.y))] / np.maximum(np.r_[1, np.diff(fx.t)], 1)
    inner = np.r_[False, fx.vehicle[1:] == fx.vehicle[:-1]]
    assert np.median(step[inner & mv.stationary]) < 0.3 * np.median(step[inner & ~mv.stationary])
    # trips exclude the parked jitter
    assert mv.trips["length_m"].sum() < np.sum(np.hypot(np.diff(fx.x), np.diff(fx.y))[inner[1:]])
    assert (mv.trips["n_fixes"] >= 2).all()
