"""Stops keep their promise: every stop stays within ``radius_m`` of one place."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from gridlib.trucks.fixes import read_fixes
from gridlib.trucks.trips import detect, within_radius


def _track(x_m: np.ndarray, y_m: np.ndarray, step_s: int = 10) -> pd.DataFrame:
    """A single truck's fixes at ``step_s`` from metre offsets around Lujiazui (EPSG:4550)."""
    import geopandas as gpd
    import shapely

    pts = gpd.GeoSeries(shapely.points(357_000 + x_m, 3_458_000 + y_m), crs="EPSG:4550").to_crs(4326)
    t = pd.date_range("2026-11-20 08:00", periods=len(x_m), freq=f"{step_s}s").astype(str)
    return pd.DataFrame({"vehicle_id": "A", "time": t, "lon": pts.x, "lat": pts.y})


def _fits(fixes, stops_of, radius_m):
    """Each stop's fixes lie within radius_m of the centre of their bounding box."""
    for sid in np.unique(stops_of[stops_of >= 0]):
        sel = stops_of == sid
        x, y = fixes.x[sel], fixes.y[sel]
        cx, cy = (x.min() + x.max()) / 2, (y.min() + y.max()) / 2
        assert np.hypot(x - cx, y - cy).max() <= radius_m + 1e-6, f"stop {sid} is wider than the radius"


def test_a_slow_crawl_is_not_one_stop_a_kilometre_long():
    # 0.3 m/s for an hour: every 5-minute window fits in 100 m, but the hour covers 1 080 m
    n = 360
    fx, _ = read_fixes(_track(np.arange(n) * 3.0, np.zeros(n)))
    m = detect(fx, radius_m=50, min_dwell_s=300)
    _fits(fx, m.stop_of, 50)
    assert len(m.stops) >= 10          # several stops each within the radius (the old code made one)
    assert (m.stops["duration_s"] >= 300).all()


def test_a_parked_truck_is_still_one_stop():
    n = 120
    jitter = np.random.default_rng(0).normal(0, 5, (2, n))
    fx, _ = read_fixes(_track(jitter[0], jitter[1]))
    m = detect(fx)
    assert len(m.stops) == 1 and m.stops["duration_s"].iloc[0] == 1190


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=2, max_size=200), st.floats(10, 80))
def test_every_stop_fits_its_circle(steps, radius):
    x = np.cumsum(np.asarray(steps)) * 10
    fx, _ = read_fixes(_track(x, np.zeros(len(x))))
    m = detect(fx, radius_m=radius, min_dwell_s=120)
    _fits(fx, m.stop_of, radius)


def test_within_radius_leaves_fitting_runs_alone():
    x = np.r_[np.zeros(5), np.arange(10) * 30.0]
    s, e = within_radius(x, np.zeros(15), np.array([0, 5]), np.array([4, 14]), 50.0)
    assert s.tolist() == [0, 5, 9, 13] and e.tolist() == [4, 8, 12, 14]


def test_a_gap_of_exactly_gap_s_ends_a_trip():
    """The documented rule is dt >= gap_s (movingpandas splits on dt > gap)."""
    x = np.r_[np.arange(30) * 50.0, 2000 + np.arange(30) * 50.0]
    frame = _track(x, np.zeros(60))
    t = pd.to_datetime(frame["time"])
    t.iloc[30:] = t.iloc[30:] + pd.Timedelta(seconds=600 - 10)   # the gap is exactly 600 s
    fx, _ = read_fixes(frame.assign(time=t.astype(str)))
    assert len(detect(fx, gap_s=600).trips) == 2
    assert len(detect(fx, gap_s=601).trips) == 1
