"""Counts per zone (zeros, filters, rates, H3) and quartic kernel density with contours."""

from __future__ import annotations

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from hotspot_grids import X0, Y0, square_grid
from shapely.geometry import Point, box

from gridlib.errors import InputError
from gridlib.hotspots import counts, density_contours, h3_of_cases, h3_zones, kernel_density


@pytest.fixture
def cases() -> gpd.GeoDataFrame:
    pts = [Point(X0 + 50, Y0 + 50)] * 3 + [Point(X0 + 250, Y0 + 150), Point(X0 - 500, Y0)]
    return gpd.GeoDataFrame({
        "case_id": list("abcde"),
        "class_code": ["06012", "06012", "01001", "06030", "06012"],
        "reported_at": pd.to_datetime(["2026-03-01 08:00", "2026-03-20 08:00", "2026-03-25 08:00",
                                       "2026-03-30 08:00", "2026-03-30 09:00"]),
    }, geometry=pts, crs="EPSG:4550")


def test_counts_by_location_keep_every_zone(cases):
    grid = square_grid(4, 4)
    out = counts(cases, grid)
    assert len(out) == 16 and out["count"].sum() == 4
    assert out.loc[0, "count"] == 3 and out.loc[6, "count"] == 1 and (out["count"] == 0).sum() == 14
    assert out.attrs["unmatched"] == 1  # the case outside every grid is reported, not dropped silently
    assert out["count"].dtype == np.int64


def test_counts_by_key_period_and_classes(cases):
    grid = square_grid(4, 4)
    keyed = pd.DataFrame(cases.drop(columns="geometry")).assign(
        grid_code=["G00000", "G00000", "G00000", "G00006", None])
    assert counts(keyed, grid)["count"].sum() == 4
    assert counts(keyed, grid, period="15D")["count"].tolist()[:7] == [2, 0, 0, 0, 0, 0, 1]
    assert counts(keyed, grid, classes=["06012"])["count"].sum() == 2
    assert counts(keyed, grid, classes=["06"])["count"].sum() == 3  # big class prefix
    window = ("2026-03-01", "2026-03-21")
    assert counts(keyed, grid, period=window)["count"].sum() == 2
    with pytest.raises(InputError, match="period"):
        counts(keyed, grid, period="soon")


def test_exposure_rates(cases):
    grid = square_grid(4, 4).assign(road_km=[0.0] + [0.5] * 15)
    per_area = counts(cases, grid, exposure="area")
    assert per_area["exposure"].iloc[0] == pytest.approx(0.01)  # 100 m × 100 m
    assert per_area["rate"].iloc[0] == pytest.approx(300.0)  # cases per km²
    per_road = counts(cases, grid, exposure="road_km")
    assert np.isnan(per_road["rate"].iloc[0]) and per_road["rate"].iloc[6] == pytest.approx(2.0)
    with pytest.raises(InputError, match="exposure"):
        counts(cases, grid, exposure="nope")


@pytest.mark.parametrize("res", [9, 10, 11])
def test_h3_zones_and_counts(cases, res):
    area = square_grid(4, 4).dissolve()
    zones = h3_zones(area, res)
    assert zones["h3"].is_unique and (zones["h3"].map(h3.get_resolution) == res).all()
    located = cases.assign(h3=h3_of_cases(cases, res))
    out = counts(located, zones, by="h3")
    inside = located["h3"].isin(zones["h3"])
    assert out["count"].sum() == inside.sum()
    assert (out["count"] == 0).sum() == len(zones) - located.loc[inside, "h3"].nunique()


def test_kde_conserves_mass_and_masks_to_the_area_not_the_hull():
    # An L-shaped area: the notch is inside the convex hull but outside the area.
    area = gpd.GeoSeries([shapely.union(box(0, 0, 2000, 1000), box(0, 0, 1000, 2000))], crs=4550)
    pts = gpd.GeoSeries([Point(500, 500)] * 4 + [Point(1500, 500)] * 2, crs=4550)
    r = kernel_density(pts, area, bandwidth=300, cell_size=20)
    total = np.nansum(r.values) * 20 * 20 / 1e6
    assert total == pytest.approx(6.0, rel=1e-6)
    xs, ys = r.centres()
    notch = r.values[np.searchsorted(ys, 1500), np.searchsorted(xs, 1500)]
    assert np.isnan(notch)
    peak = np.nanmax(r.values)
    expected = 4 * 3 / (np.pi * 300**2) * 1e6  # 4 cases × K(0), per km²
    assert peak == pytest.approx(expected, rel=0.02)


def test_kde_contours_are_nested_bands():
    area = gpd.GeoSeries([box(0, 0, 2000, 2000)], crs=4550)
    pts = gpd.GeoSeries([Point(1000, 1000)] * 10, crs=4550)
    r = kernel_density(pts, area, bandwidth=400)
    bands = density_contours(r, [5, 20, 40])
    assert bands["level_min"].tolist() == [5, 20, 40]
    areas = bands.area.to_numpy()
    assert areas[0] > 0 and areas[1] > 0 and areas[2] > 0
    inner = shapely.union_all(bands.geometry.iloc[1:].to_numpy())
    outer_shell = shapely.Polygon(shapely.get_exterior_ring(shapely.get_parts(bands.geometry.iloc[0])[0]))
    assert outer_shell.buffer(1e-6).contains(inner)  # the 20+ region sits in the 5–20 ring's hole
    assert bands.geometry.iloc[2].contains(Point(1000, 1000))
    assert not bands.geometry.iloc[0].contains(Point(1000, 1000))
    assert bands.crs.to_epsg() == 4550
    with pytest.raises(InputError):
        kernel_density(pts, area, bandwidth=0)
