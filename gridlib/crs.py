"""Coordinate reference systems: the metric CRS for the data, and GCJ-02 / BD-09.

Metric work (areas, distances, buffers) happens in the CGCS2000 3-degree
Gauss–Krüger "CM" projection of the data's zone (EPSG:4534 + n − 25, zone
n = round(lon / 3), ../STANDARDS.md §7.2). Outside China the UTM zone on WGS84
is used instead, and that choice is logged.

GCJ-02 ("Mars coordinates" of Chinese web maps) and BD-09 (Baidu) are not
EPSG systems and PROJ cannot transform them; the public-domain algorithm is
implemented here on numpy arrays. It is the identity outside the box the
algorithm defines for China.

>>> metric_crs(113.6, 34.8).to_epsg()
4547
>>> lon, lat = wgs84_to_gcj02(113.6, 34.8)
>>> round(float(lon), 8), round(float(lat), 8)
(113.60604494, 34.79885588)
"""

from __future__ import annotations

import functools
import logging
import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from gridlib.errors import CRSError
from gridlib.types import ArrayLike, CRSLike, GeoFrame

__all__ = [
    "transformer",
    "to_crs",
    "WGS84",
    "CGCS2000",
    "metric_crs",
    "metric_crs_for",
    "gk_zone",
    "resolve_crs",
    "is_offset_crs",
    "wgs84_to_gcj02",
    "gcj02_to_wgs84",
    "gcj02_to_bd09",
    "bd09_to_gcj02",
    "wgs84_to_bd09",
    "bd09_to_wgs84",
    "to_wgs84",
    "transform_xy",
]

log = logging.getLogger(__name__)

WGS84 = pyproj.CRS.from_epsg(4326)
CGCS2000 = pyproj.CRS.from_epsg(4490)

# CGCS2000 3-degree zones 25..45 (central meridians 75°E..135°E).
_GK_FIRST_ZONE, _GK_LAST_ZONE = 25, 45
_GK_CM_EPSG_BASE = 4534  # EPSG of the "CM" variant of zone 25
# Where China's Gauss–Krüger zones are used; outside this box gridlib falls back to UTM.
_CHINA_LON = (73.5, 136.5)
_CHINA_LAT = (3.0, 54.0)
# Data reaching further than this beyond its zone's edge (1.5° from the CM) gets a warning:
# at 2.5° from the CM the scale error is about 1e-3 (0.2 % in area).
_MAX_OVERHANG_DEG = 1.0

# GCJ-02 constants (Krasovsky 1940 ellipsoid) and the box it applies in.
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323
_GCJ_LON = (72.004, 137.8347)
_GCJ_LAT = (0.8293, 55.8271)
_BD_PI = math.pi * 3000.0 / 180.0


def gk_zone(lon: float) -> int:
    """Return the CGCS2000 3-degree Gauss–Krüger zone number for a longitude.

    Zone n has its central meridian at 3n degrees east. A longitude exactly on a
    zone edge (3n + 1.5) goes to the eastern zone, so the choice is stable.

    >>> gk_zone(113.6), gk_zone(121.5), gk_zone(121.49)
    (38, 41, 40)
    """
    return int(math.floor(lon / 3.0 + 0.5))


def metric_crs(lon: float, lat: float) -> pyproj.CRS:
    """Return the projected metric CRS for a location.

    Parameters
    ----------
    lon, lat : float
        WGS84/CGCS2000 longitude and latitude in degrees.

    Returns
    -------
    pyproj.CRS
        CGCS2000 3-degree Gauss–Krüger CM zone inside China (EPSG:4534–4554),
        otherwise the WGS84 UTM zone (EPSG:326xx/327xx).

    Examples
    --------
    >>> metric_crs(113.6, 34.8).to_epsg()   # Zhengzhou, zone 38, CM 114°E
    4547
    >>> metric_crs(24.94, 60.17).to_epsg()  # Helsinki: UTM 35N
    32635
    """
    if not (np.isfinite(lon) and np.isfinite(lat)) or abs(lat) > 90 or abs(lon) > 180:
        raise CRSError(f"cannot choose a metric CRS for lon={lon}, lat={lat}: not a valid position")
    if _CHINA_LON[0] <= lon <= _CHINA_LON[1] and _CHINA_LAT[0] <= lat <= _CHINA_LAT[1]:
        zone = min(max(gk_zone(lon), _GK_FIRST_ZONE), _GK_LAST_ZONE)
        return pyproj.CRS.from_epsg(_GK_CM_EPSG_BASE + zone - _GK_FIRST_ZONE)
    utm = int(math.floor((lon + 180.0) / 6.0)) % 60 + 1
    epsg = (32600 if lat >= 0 else 32700) + utm
    log.info("lon=%.4f lat=%.4f is outside China's Gauss–Krüger zones; using UTM EPSG:%d", lon, lat, epsg)
    return pyproj.CRS.from_epsg(epsg)


def metric_crs_for(data: GeoFrame) -> pyproj.CRS:
    """Return the metric CRS for a GeoDataFrame/GeoSeries (or a projected CRS it already has).

    The zone is chosen from the centre of the data's WGS84 bounding box. When
    the data reach more than 1° beyond that zone's edge, a warning says so and
    what to do (split the data by zone, or pass an explicit CRS).

    Parameters
    ----------
    data : geopandas.GeoDataFrame or geopandas.GeoSeries
        Data with a CRS. If the CRS is already projected and metric, it is kept.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> pts = gpd.GeoSeries([Point(113.5, 34.7), Point(113.7, 34.9)], crs=4326)
    >>> metric_crs_for(pts).to_epsg()
    4547
    """
    crs = getattr(data, "crs", None)
    if crs is None:
        raise CRSError("the data have no CRS; say which CRS the coordinates are in (for example crs='EPSG:4326')")
    crs = pyproj.CRS.from_user_input(crs)
    if crs.is_projected:
        unit = crs.axis_info[0].unit_name if crs.axis_info else ""
        if unit in ("metre", "meter", "m"):
            return crs
    bounds = data.to_crs(WGS84).total_bounds
    if not np.all(np.isfinite(bounds)):
        raise CRSError("cannot choose a metric CRS for empty data; pass crs= explicitly")
    lon_min, lat_min, lon_max, lat_max = (float(b) for b in bounds)
    chosen = metric_crs((lon_min + lon_max) / 2.0, (lat_min + lat_max) / 2.0)
    if chosen.to_epsg() and _GK_CM_EPSG_BASE <= chosen.to_epsg() <= _GK_CM_EPSG_BASE + 20:
        cm = 3.0 * (chosen.to_epsg() - _GK_CM_EPSG_BASE + _GK_FIRST_ZONE)
        overhang = max(cm - 1.5 - lon_min, lon_max - cm - 1.5)
        if overhang > _MAX_OVERHANG_DEG:
            warnings.warn(
                f"the data span {lon_min:.2f}–{lon_max:.2f}°E, reaching {overhang:.2f}° beyond the edge of "
                f"Gauss–Krüger zone {chosen.name!r} (CM {cm:.0f}°E); distances and areas at the far edge are "
                "distorted by more than 0.1 %. Split the data by zone, or pass an explicit metric CRS.",
                stacklevel=2,
            )
    return chosen


def resolve_crs(crs: CRSLike | None) -> tuple[pyproj.CRS, str | None]:
    """Split a user's CRS argument into a PROJ CRS and an offset scheme.

    ``"gcj02"`` and ``"bd09"`` (any case, with or without a dash) are the offset
    systems of Chinese web maps: they return ``(WGS84, "gcj02"|"bd09")`` and the
    caller must convert the coordinates with :func:`to_wgs84`.

    >>> resolve_crs("GCJ-02")[1], resolve_crs("EPSG:4326")[0].to_epsg()
    ('gcj02', 4326)
    """
    if crs is None:
        raise CRSError("no CRS given; say which CRS the coordinates are in (for example crs='EPSG:4326' or 'gcj02')")
    scheme = is_offset_crs(crs)
    if scheme:
        return WGS84, scheme
    try:
        return pyproj.CRS.from_user_input(crs), None
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(f"unknown CRS {crs!r}: {exc}") from exc


def is_offset_crs(crs: CRSLike | None) -> str | None:
    """Return ``"gcj02"`` or ``"bd09"`` when *crs* names one of them, else None.

    >>> is_offset_crs("gcj02"), is_offset_crs("BD-09"), is_offset_crs(4326)
    ('gcj02', 'bd09', None)
    """
    if isinstance(crs, str):
        key = crs.strip().lower().replace("-", "").replace("_", "")
        if key in ("gcj02", "gcj"):
            return "gcj02"
        if key in ("bd09", "bd09ll", "baidu"):
            return "bd09"
    return None


def to_wgs84(lon: ArrayLike, lat: ArrayLike, scheme: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Convert arrays from an offset scheme (``"gcj02"``, ``"bd09"`` or None) to WGS84.

    >>> to_wgs84([113.6], [34.8], None)
    (array([113.6]), array([34.8]))
    """
    if scheme is None:
        return np.asarray(lon, dtype="float64"), np.asarray(lat, dtype="float64")
    if scheme == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if scheme == "bd09":
        return bd09_to_wgs84(lon, lat)
    raise CRSError(f"unknown offset scheme {scheme!r}; expected 'gcj02' or 'bd09'")


@functools.lru_cache(maxsize=64)
def _cached_transformer(src: pyproj.CRS, dst: pyproj.CRS) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(src, dst, always_xy=True)


def transformer(src: CRSLike, dst: CRSLike) -> pyproj.Transformer:
    """A (cached) ``always_xy`` transformer from *src* to *dst*.

    Building a transformer makes PROJ search its database for the operation — about 0.13 s of
    CPU each time, more than projecting 100,000 points — so gridlib builds each pair once per
    process. pyproj transformers are thread-safe.

    >>> transformer(4326, 4550) is transformer("EPSG:4326", "EPSG:4550")
    True
    """
    return _cached_transformer(pyproj.CRS.from_user_input(src), pyproj.CRS.from_user_input(dst))


def to_crs(frame: GeoFrame, crs: CRSLike) -> Any:
    """``frame.to_crs(crs)`` (GeoDataFrame or GeoSeries) through a cached transformer.

    The same coordinates as geopandas' ``to_crs`` (one pyproj transformer, ``always_xy``) without
    building a new transformer per call; a frame already in *crs* is returned as it is.

    >>> import geopandas as gpd, shapely
    >>> g = gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(121.5, 31.24)], crs=4326)
    >>> to_crs(g, 4550).geometry.iloc[0].equals(g.to_crs(4550).geometry.iloc[0])
    True
    """
    if frame.crs is None:
        raise CRSError("the layer has no CRS; declare one")
    target = pyproj.CRS.from_user_input(crs)
    if frame.crs == target:
        return frame
    tr = transformer(frame.crs, target)

    def project(xy: np.ndarray) -> np.ndarray:
        x, y = tr.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    geoms = shapely.transform(np.asarray(frame.geometry.values, dtype=object), project)
    if isinstance(frame, gpd.GeoDataFrame):
        out = frame.set_crs(target, allow_override=True)
        out[frame.geometry.name] = gpd.GeoSeries(geoms, index=frame.index, crs=target)
        return out
    return gpd.GeoSeries(geoms, index=frame.index, crs=target, name=frame.name)


def transform_xy(src: CRSLike, dst: CRSLike, x: ArrayLike, y: ArrayLike, *, workers: int | None = None,
                 min_chunk: int = 500_000) -> tuple[np.ndarray, np.ndarray]:
    """Transform coordinate arrays between CRSs (x/y order: lon, lat), in threads for big arrays.

    PROJ releases the GIL and pyproj transformers are thread-safe, so millions of points are
    cut into one slice per worker (default: one per CPU); the result is the same as one call.

    Parameters
    ----------
    src, dst : CRS-like
        Anything :class:`pyproj.CRS` accepts.
    x, y : array-like
        Coordinates in *src* (longitude, latitude for geographic CRSs).
    workers : int, optional
        Threads (default ``os.cpu_count()``).
    min_chunk : int
        Arrays shorter than twice this run in one call.

    Examples
    --------
    >>> x, y = transform_xy(4326, 4550, [121.5], [31.24])
    >>> round(float(x[0])), round(float(y[0]))
    (357096, 3458554)
    """
    xs = np.asarray(x, dtype="float64")
    ys = np.asarray(y, dtype="float64")
    tr = transformer(src, dst)
    n = len(xs)
    k = max(1, min(workers or os.cpu_count() or 1, n // max(min_chunk, 1)))
    if k == 1:
        ox, oy = tr.transform(xs, ys)
        return np.asarray(ox, dtype="float64"), np.asarray(oy, dtype="float64")
    outx, outy = np.empty(n), np.empty(n)
    edges = np.linspace(0, n, k + 1).astype(np.int64)

    def part(i: int) -> None:
        sl = slice(int(edges[i]), int(edges[i + 1]))
        outx[sl], outy[sl] = tr.transform(xs[sl], ys[sl])

    with ThreadPoolExecutor(max_workers=k) as pool:
        list(pool.map(part, range(k)))
    return outx, outy


def _as_arrays(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    x = np.asarray(lon, dtype="float64")
    y = np.asarray(lat, dtype="float64")
    if x.shape != y.shape:
        raise ValueError(f"lon and lat have different shapes: {x.shape} and {y.shape}")
    return x, y, scalar


def _out(x: np.ndarray, y: np.ndarray, scalar: bool) -> tuple[Any, Any]:
    if scalar:
        return np.float64(x), np.float64(y)
    return x, y


def _in_china(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x >= _GCJ_LON[0]) & (x <= _GCJ_LON[1]) & (y >= _GCJ_LAT[0]) & (y <= _GCJ_LAT[1])


def _gcj_delta(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 offset (dlon, dlat) in degrees at WGS84 positions (x=lon, y=lat)."""
    dx, dy = x - 105.0, y - 35.0
    xpi, ypi = dx * np.pi, dy * np.pi
    common = 20.0 * np.sin(6.0 * xpi) + 20.0 * np.sin(2.0 * xpi)
    dlat = common + 20.0 * np.sin(ypi) + 40.0 * np.sin(ypi / 3.0)
    dlon = common + 20.0 * np.sin(xpi) + 40.0 * np.sin(xpi / 3.0)
    dlat += 160.0 * np.sin(ypi / 12.0) + 320.0 * np.sin(ypi / 30.0)
    dlon += 150.0 * np.sin(xpi / 12.0) + 300.0 * np.sin(xpi / 30.0)
    dlat *= 2.0 / 3.0
    dlon *= 2.0 / 3.0
    sqrt_abs_x = np.sqrt(np.abs(dx))
    dlat += -100.0 + 2.0 * dx + 3.0 * dy + 0.2 * dy * dy + 0.1 * dx * dy + 0.2 * sqrt_abs_x
    dlon += 300.0 + dx + 2.0 * dy + 0.1 * dx * dx + 0.1 * dx * dy + 0.1 * sqrt_abs_x
    rad = y / 180.0 * np.pi
    magic = 1.0 - _GCJ_EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_GCJ_A * (1.0 - _GCJ_EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_GCJ_A / sqrt_magic * np.cos(rad) * np.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """Convert WGS84 longitude/latitude to GCJ-02 (arrays or scalars).

    Points outside China's box (72.004–137.8347°E, 0.8293–55.8271°N) are returned unchanged.

    >>> lon, lat = wgs84_to_gcj02([113.6, 24.9], [34.8, 60.2])
    >>> lon.round(8).tolist(), lat.round(8).tolist()
    ([113.60604494, 24.9], [34.79885588, 60.2])
    """
    x, y, scalar = _as_arrays(lon, lat)
    inside = _in_china(x, y)
    dlon, dlat = _gcj_delta(x, y)
    return _out(np.where(inside, x + dlon, x), np.where(inside, y + dlat, y), scalar)


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike, *, tol: float = 1e-11, max_iter: int = 30) -> tuple[Any, Any]:
    """Convert GCJ-02 longitude/latitude to WGS84 by fixed-point iteration.

    GCJ-02 has no closed-form inverse; iterating ``w ← w − (f(w) − g)`` converges
    to better than 1e-9° in a few steps. Each step works only on the points not yet
    within *tol* degrees. NaN stays NaN.

    >>> lon, lat = gcj02_to_wgs84(113.60604494, 34.79885588)
    >>> round(float(lon), 7), round(float(lat), 7)
    (113.6, 34.8)
    """
    gx, gy, scalar = _as_arrays(lon, lat)
    shape = gx.shape
    gx, gy = gx.ravel(), gy.ravel()
    wx, wy = gx.copy(), gy.copy()
    todo = np.flatnonzero(_in_china(gx, gy))
    if todo.size:
        dlon, dlat = _gcj_delta(gx[todo], gy[todo])
        wx[todo], wy[todo] = gx[todo] - dlon, gy[todo] - dlat
    for _ in range(max_iter):
        if not todo.size:
            break
        dlon, dlat = _gcj_delta(wx[todo], wy[todo])
        ex = wx[todo] + dlon - gx[todo]
        ey = wy[todo] + dlat - gy[todo]
        wx[todo] -= ex
        wy[todo] -= ey
        todo = todo[(np.abs(ex) > tol) | (np.abs(ey) > tol)]
    return _out(wx.reshape(shape), wy.reshape(shape), scalar)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """Convert GCJ-02 to BD-09 (Baidu) longitude/latitude.

    >>> lon, lat = gcj02_to_bd09(113.60604494, 34.79885588)
    >>> round(float(lon), 7), round(float(lat), 7)
    (113.6125653, 34.8047855)
    """
    x, y, scalar = _as_arrays(lon, lat)
    z = np.hypot(x, y) + 0.00002 * np.sin(y * _BD_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _BD_PI)
    return _out(z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006, scalar)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike, *, tol: float = 1e-12, max_iter: int = 30) -> tuple[Any, Any]:
    """Convert BD-09 to GCJ-02, refining the usual closed-form step by iteration.

    >>> lon, lat = bd09_to_gcj02(113.61256526, 34.80478546)
    >>> round(float(lon), 7), round(float(lat), 7)
    (113.6060449, 34.7988559)
    """
    bx, by, scalar = _as_arrays(lon, lat)
    x, y = bx - 0.0065, by - 0.006
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _BD_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _BD_PI)
    gx, gy = z * np.cos(theta), z * np.sin(theta)
    for _ in range(max_iter):
        fx, fy = gcj02_to_bd09(gx, gy)
        ex, ey = fx - bx, fy - by
        gx, gy = gx - ex, gy - ey
        err = np.nanmax(np.abs(np.concatenate([ex.ravel(), ey.ravel()])), initial=0.0)
        if not err > tol:
            break
    return _out(gx, gy, scalar)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """Convert WGS84 to BD-09 (through GCJ-02).

    >>> lon, lat = wgs84_to_bd09(113.6, 34.8)
    >>> round(float(lon), 7), round(float(lat), 7)
    (113.6125653, 34.8047855)
    """
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Any, Any]:
    """Convert BD-09 to WGS84 (through GCJ-02).

    >>> lon, lat = bd09_to_wgs84(113.61256526, 34.80478546)
    >>> round(float(lon), 6), round(float(lat), 6)
    (113.6, 34.8)
    """
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))
