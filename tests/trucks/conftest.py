"""Planted truck scenarios: tracks built along known routes with known answers."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely
from shapely.geometry import LineString

import gridlib as gl
from gridlib.trucks.simulate import along

METRIC = pyproj.CRS.from_epsg(4549)  # CGCS2000 GK zone 40, CM 120°E (Lujiazui west of 121.5°E)
TO_WGS = pyproj.Transformer.from_crs(METRIC, 4326, always_xy=True)
DAY = "2026-11-20"
# an L-shaped route near Lujiazui: 2 km east, then 1.5 km north (metric)
X0, Y0 = 641300.0, 3456800.0  # about 121.483°E, 31.230°N
L_ROUTE = LineString([(X0, Y0), (X0 + 2000, Y0), (X0 + 2000, Y0 + 1500)])


@pytest.fixture(scope="session")
def roads() -> gpd.GeoDataFrame:
    return gl.datasets.demo_roads()


def to_wgs(geom):
    return shapely.transform(geom, lambda c: np.column_stack(TO_WGS.transform(c[:, 0], c[:, 1])))


def permit_frame(rows: list[dict], routes: list) -> gpd.GeoDataFrame:
    """Permits in WGS84 from dict rows and metric route lines."""
    base = {"company": "运输公司A", "valid_from": DAY, "valid_to": DAY, "hours": "", "corridor_m": 50.0,
            "origin_site": "O1", "destination_site": "D1"}
    return gpd.GeoDataFrame([{**base, **r} for r in rows], geometry=[to_wgs(g) for g in routes], crs=4326)


def l_sites() -> gpd.GeoDataFrame:
    """Origin and destination sites at both ends of L_ROUTE, and a parking lot beside it."""
    geoms = [shapely.box(X0 - 80, Y0 - 80, X0 + 80, Y0 + 80),
             shapely.box(X0 + 1920, Y0 + 1420, X0 + 2080, Y0 + 1580),
             shapely.box(X0 + 900, Y0 + 60, X0 + 1100, Y0 + 200)]
    return gpd.GeoDataFrame({"site_id": ["O1", "D1", "K1"], "kind": ["construction", "disposal", "parking"]},
                            geometry=[to_wgs(g) for g in geoms], crs=4326)


def drive(route: LineString, start: str, *, speed: float = 8.0, interval: int = 10, noise: float = 10.0,
          seed: int = 0, lateral=None, legs: int = 1, dwell_s: float = 0.0, vehicle: str = "V1",
          pause: tuple[float, float] | None = None) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Fixes of a truck shuttling along *route* (metric), plus the clean positions.

    ``lateral(tau)`` gives a sideways offset in metres at seconds since start; ``legs`` back-and-forth
    legs with ``dwell_s`` at each end (0: an immediate U-turn); ``pause=(at_s, for_s)`` freezes the truck.
    """
    rng = np.random.default_rng(seed)
    length = route.length
    leg = length / speed
    total = legs * leg + (legs - 1) * dwell_s
    if pause:
        total += pause[1]
    tau = np.arange(0, total + 1e-9, interval, dtype="float64")
    run = tau - (np.clip(tau - pause[0], 0, pause[1]) if pause else 0.0)
    k = np.minimum((run // (leg + dwell_s)).astype(int), legs - 1)
    ph = run - k * (leg + dwell_s)
    s = np.clip(ph * speed, 0, length)
    s = np.where(k % 2 == 1, length - s, s)
    x, y, nx, ny = along(np.array([route]), np.zeros(len(s), dtype=int), s)
    if lateral is not None:
        off = lateral(tau)
        x, y = x + off * nx, y + off * ny
    cx, cy = x.copy(), y.copy()
    x = x + rng.normal(0, noise, len(x))
    y = y + rng.normal(0, noise, len(y))
    lon, lat = TO_WGS.transform(x, y)
    t = np.datetime64(start, "s") + tau.astype("int64").astype("timedelta64[s]")
    return pd.DataFrame({"vehicle_id": vehicle, "time": t, "lon": lon, "lat": lat}), cx, cy


def bump(start_s: float, dur_s: float, offset: float, ramp_s: float = 20.0):
    """A lateral detour of *offset* metres from start_s for dur_s seconds, with linear ramps."""
    def f(tau):
        return offset * np.clip(np.minimum(tau - start_s, start_s + dur_s - tau) / ramp_s, 0.0, 1.0)
    return f


def vtype(result, kind: str) -> pd.DataFrame:
    v = result.violations
    return v[v["type"] == kind]
