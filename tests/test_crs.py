import math
import warnings

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from shapely.geometry import Point

import gridlib as gl
from gridlib.crs import (
    bd09_to_gcj02,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    metric_crs,
    metric_crs_for,
    wgs84_to_gcj02,
)
from gridlib.errors import CRSError


def test_zhengzhou_is_epsg_4547():
    assert metric_crs(113.6, 34.8).to_epsg() == 4547


@pytest.mark.parametrize(
    ("epsg", "easting", "northing"),
    [(4547, 463396.0024, 3852478.0745), (4526, 38463396.0024, 3852478.0745),
     (4508, 737954.0047, 3855487.6918), (4497, 19737954.0047, 3855487.6918)],
)
def test_standards_projection_vectors(epsg, easting, northing):
    x, y = Transformer.from_crs(4490, epsg, always_xy=True).transform(113.6, 34.8)
    assert abs(x - easting) < 1e-3 and abs(y - northing) < 1e-3


def test_every_china_zone_formula():
    for zone in range(25, 46):
        crs = metric_crs(3.0 * zone + 0.2, 35.0)
        assert crs.to_epsg() == 4534 + zone - 25
        assert f"{3 * zone}E" in crs.name


def test_shanghai_zone_edge_is_stable():
    # The demo area straddles 121.5°E, the edge between zones 40 and 41.
    pts = gpd.GeoSeries([Point(121.480, 31.226), Point(121.521, 31.251)], crs=4326)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = metric_crs_for(pts)
    assert first == metric_crs_for(pts) == metric_crs(121.5005, 31.2385)
    assert first.to_epsg() == 4550


def test_far_overhang_warns():
    pts = gpd.GeoSeries([Point(111.0, 34.0), Point(116.5, 35.0)], crs=4326)
    with pytest.warns(UserWarning, match="beyond the edge"):
        metric_crs_for(pts)


def test_outside_china_falls_back_to_utm(caplog):
    with caplog.at_level("INFO"):
        assert metric_crs(24.94, 60.17).to_epsg() == 32635
    assert "UTM" in caplog.text
    assert metric_crs(-74.0, 40.7).to_epsg() == 32618
    assert metric_crs(151.2, -33.9).to_epsg() == 32756


def test_projected_metric_crs_is_kept_and_no_crs_is_an_error():
    pts = gpd.GeoSeries([Point(463396, 3852478)], crs=4547)
    assert metric_crs_for(pts).to_epsg() == 4547
    with pytest.raises(CRSError, match="no CRS"):
        metric_crs_for(gpd.GeoSeries([Point(0, 0)]))
    with pytest.raises(CRSError):
        metric_crs(float("nan"), 30.0)


def test_gcj02_and_bd09_published_vectors():
    lon, lat = wgs84_to_gcj02(113.6, 34.8)
    assert abs(lon - 113.60604494) < 1e-7 and abs(lat - 34.79885588) < 1e-7
    blon, blat = gcj02_to_bd09(lon, lat)
    assert abs(blon - 113.61256526) < 1e-7 and abs(blat - 34.80478546) < 1e-7
    glon, glat = bd09_to_gcj02(113.61256526, 34.80478546)
    assert abs(glon - 113.60604494) < 1e-7 and abs(glat - 34.79885588) < 1e-7
    wlon, wlat = gl.crs.bd09_to_wgs84(113.61256526, 34.80478546)
    assert abs(wlon - 113.6) < 1e-7 and abs(wlat - 34.8) < 1e-7


def test_identity_outside_china_and_nan_passthrough():
    lon, lat = wgs84_to_gcj02(np.array([24.9, np.nan]), np.array([60.2, 30.0]))
    assert lon[0] == 24.9 and lat[0] == 60.2 and math.isnan(lon[1])
    lon, lat = gcj02_to_wgs84(np.array([24.9, np.nan]), np.array([60.2, 30.0]))
    assert lon[0] == 24.9 and math.isnan(lon[1])


def test_arrays_keep_shape_and_scalars_stay_scalars():
    lon, lat = wgs84_to_gcj02(np.full((2, 3), 113.6), np.full((2, 3), 34.8))
    assert lon.shape == (2, 3)
    assert np.ndim(wgs84_to_gcj02(113.6, 34.8)[0]) == 0
    with pytest.raises(ValueError, match="shapes"):
        wgs84_to_gcj02([1.0, 2.0], [1.0])


china_lon = st.floats(73.0, 135.0)
china_lat = st.floats(18.0, 53.0)


@settings(max_examples=300, deadline=None)
@given(china_lon, china_lat)
def test_gcj02_round_trip(lon, lat):
    glon, glat = wgs84_to_gcj02(lon, lat)
    back_lon, back_lat = gcj02_to_wgs84(glon, glat)
    assert abs(back_lon - lon) < 1e-7 and abs(back_lat - lat) < 1e-7
    # The offset is a few hundred metres at most, never zero inside China.
    assert 0 < math.hypot(glon - lon, glat - lat) < 0.02


@settings(max_examples=300, deadline=None)
@given(china_lon, china_lat)
def test_bd09_round_trip(lon, lat):
    blon, blat = gl.crs.wgs84_to_bd09(lon, lat)
    back_lon, back_lat = gl.crs.bd09_to_wgs84(blon, blat)
    assert abs(back_lon - lon) < 1e-7 and abs(back_lat - lat) < 1e-7


def test_vectorised_round_trip_large():
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(73, 135, 100_000), rng.uniform(18, 53, 100_000)
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert np.max(np.abs(back[0] - lon)) < 1e-7 and np.max(np.abs(back[1] - lat)) < 1e-7


def test_resolve_crs_names():
    assert gl.crs.resolve_crs("gcj02")[1] == "gcj02"
    assert gl.crs.resolve_crs("bd-09")[1] == "bd09"
    with pytest.raises(CRSError, match="unknown CRS"):
        gl.crs.resolve_crs("EPSG:999999")
    with pytest.raises(CRSError, match="no CRS"):
        gl.crs.resolve_crs(None)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 40), st.integers(1, 4), st.integers(1, 7))
def test_transform_xy_in_threads_equals_one_pyproj_call(n, workers, min_chunk):
    rng = np.random.default_rng(n)
    lon, lat = 121.3 + rng.random(n) * 0.5, 31.0 + rng.random(n) * 0.5
    x, y = gl.crs.transform_xy(4326, 4550, lon, lat, workers=workers, min_chunk=min_chunk)
    ex, ey = Transformer.from_crs(4326, 4550, always_xy=True).transform(lon, lat)
    assert np.array_equal(x, ex) and np.array_equal(y, ey)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.floats(120.8, 122.0), st.floats(30.7, 31.8)), min_size=1, max_size=30),
       st.sampled_from([4550, 4549, 3857]))
def test_to_crs_equals_geopandas(points, epsg):
    import geopandas as gpd
    import shapely as shp

    g = gpd.GeoDataFrame({"v": range(len(points))},
                         geometry=[shp.Point(p) if i % 3 else shp.LineString([p, (p[0] + 0.01, p[1])])
                                   for i, p in enumerate(points)], crs=4326)
    ours, theirs = gl.crs.to_crs(g, epsg), g.to_crs(epsg)
    assert ours.crs == theirs.crs and list(ours.columns) == list(theirs.columns)
    assert all(a.equals_exact(b, 0) for a, b in zip(ours.geometry, theirs.geometry, strict=True))
    assert gl.crs.to_crs(g.geometry, epsg).geom_equals_exact(theirs.geometry, 0).all()
    assert gl.crs.to_crs(g, 4326) is g
