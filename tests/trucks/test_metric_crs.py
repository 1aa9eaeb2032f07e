"""The truck check and the live monitor measure in one metric CRS, chosen from the permits' routes."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString

import gridlib as gl


def test_the_check_measures_where_the_routes_are_as_the_live_monitor_does():
    """The metric CRS comes from the permits' routes, not from the fixes seen so far: the batch check and the
    live monitor (which knows no fixes when it starts) measure in the same CRS. Here the routes lie east of
    121.5°E (EPSG:4550) and most fixes west of it (their median alone would give EPSG:4549)."""
    pytest.importorskip("fastapi")
    from gridlib.live.monitor import TruckMonitor

    permits = gpd.GeoDataFrame({"permit_id": ["P1"], "vehicle_id": ["V1"], "company": ["K"],
                                "valid_from": ["2026-11-20"], "valid_to": ["2026-11-20"], "hours": ["22:00-06:00"]},
                               geometry=[LineString([(121.51, 31.24), (121.56, 31.24)])], crs=4326)
    fixes = pd.DataFrame({"vehicle_id": "V1",
                          "time": pd.date_range("2026-11-20 22:10", periods=60, freq="20s").astype(str),
                          "lon": [121.46 + i * 0.0006 for i in range(60)], "lat": 31.24})
    assert gl.crs.metric_crs(float(fixes["lon"].median()), 31.24).to_epsg() == 4549
    result = gl.trucks.check(fixes, permits)
    assert result.fixes.crs.to_epsg() == TruckMonitor(permits).ctx.metric.to_epsg() == 4550
