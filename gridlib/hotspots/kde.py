"""Kernel density of case points: quartic kernel, raster masked to the study area, contours.

The quartic (biweight) kernel of bandwidth ``h`` metres, as ArcGIS and QGIS use it::

    K(d) = 3 / (π h²) · (1 − d²/h²)²   for d < h, else 0

integrates to 1, so the density is in cases per m² (reported per km²). Points are binned to
the raster cells and the kernel, sampled at the cell centres and normalised to sum to 1, is
applied by FFT convolution: every case contributes exactly 1 in total and a position error of at
most half a cell (default cell: ``h / 10``). Cells whose centre is outside the study area are
``nan`` (the area, not the convex hull of the points); mass that the kernel spreads outside the
area is dropped, as in ArcGIS.

>>> import geopandas as gpd
>>> from shapely.geometry import Point, box
>>> area = gpd.GeoSeries([box(0, 0, 1000, 1000)], crs="EPSG:4550")
>>> pts = gpd.GeoSeries([Point(500, 500)] * 10, crs="EPSG:4550")
>>> r = kernel_density(pts, area, bandwidth=200, cell_size=10)
>>> round(float(np.nansum(r.values)) * (10 * 10) / 1e6, 6)     # total mass = 10 cases
10.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from gridlib.crs import metric_crs_for
from gridlib.errors import InputError

__all__ = ["DensityRaster", "kernel_density", "density_contours"]


@dataclass(frozen=True)
class DensityRaster:
    """Density in cases per km² on a north-up raster.

    ``values[r, c]`` is the cell whose centre is ``(x0 + (c + ½)·cell, y0 + (r + ½)·cell)`` —
    row 0 is the southern edge. ``nan`` marks cells outside the study area.

    Examples
    --------
    >>> import geopandas as gpd; from shapely.geometry import Point, box
    >>> area = gpd.GeoSeries([box(0, 0, 1000, 1000)], crs="EPSG:4550")
    >>> r = kernel_density(gpd.GeoSeries([Point(500, 500)], crs=4550), area, bandwidth=200, cell_size=100)
    >>> r.values.shape, r.cell, r.crs.to_epsg()
    ((10, 10), 100.0, 4550)
    >>> xs, ys = r.centres(); xs[:2].tolist()
    [50.0, 150.0]
    >>> pts = r.to_points(); len(pts), round(float(pts["density"].sum() * 0.01), 2)   # ≈ 1 case
    (100, 1.0)
    """

    values: np.ndarray
    x0: float
    y0: float
    cell: float
    crs: pyproj.CRS
    bandwidth: float

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell-centre coordinate vectors ``(xs, ys)``."""
        rows, cols = self.values.shape
        return (self.x0 + (np.arange(cols) + 0.5) * self.cell, self.y0 + (np.arange(rows) + 0.5) * self.cell)

    def to_points(self) -> gpd.GeoDataFrame:
        """Cell centres inside the area with their ``density`` (for web maps or exports)."""
        xs, ys = self.centres()
        gx, gy = np.meshgrid(xs, ys)
        ok = ~np.isnan(self.values)
        return gpd.GeoDataFrame({"density": self.values[ok]}, geometry=shapely.points(gx[ok], gy[ok]), crs=self.crs)


def _quartic(bandwidth: float, cell: float) -> np.ndarray:
    r = int(np.ceil(bandwidth / cell))
    offs = np.arange(-r, r + 1) * cell
    dx, dy = np.meshgrid(offs, offs)
    u = (dx**2 + dy**2) / bandwidth**2
    k = np.where(u < 1, (1 - u) ** 2, 0.0)
    return k / k.sum()


def kernel_density(
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    area: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    bandwidth: float = 300.0,
    cell_size: float | None = None,
    weights: np.ndarray | None = None,
    max_cells: int = 25_000_000,
) -> DensityRaster:
    """Quartic-kernel density (cases per km²) of ``points`` over ``area``.

    Parameters
    ----------
    bandwidth
        Kernel radius in metres.
    cell_size
        Raster cell in metres (default ``bandwidth / 10``).
    weights
        Optional weight per point (e.g. severity); default 1.

    >>> import geopandas as gpd; from shapely.geometry import Point, box
    >>> area = gpd.GeoSeries([box(0, 0, 1000, 1000)], crs="EPSG:4550")
    >>> r = kernel_density(gpd.GeoSeries([Point(500, 500)], crs=4550), area, bandwidth=100, cell_size=5)
    >>> peak = float(np.nanmax(r.values)); round(peak / (3 / (np.pi * 100**2) * 1e6), 2)  # ≈ K(0)
    1.0
    """
    from scipy.signal import fftconvolve  # scipy.signal takes seconds to import: only when used

    if not bandwidth > 0:
        raise InputError(f"bandwidth must be positive metres, got {bandwidth}")
    cell = float(cell_size or bandwidth / 10.0)
    if not cell > 0:
        raise InputError(f"cell size must be positive, got {cell_size}")
    if area.crs is None or points.crs is None:
        raise InputError("points and area need a CRS")
    area_geoms = area.geometry if isinstance(area, gpd.GeoDataFrame) else area
    crs = area_geoms.crs if area_geoms.crs.is_projected else metric_crs_for(area_geoms)
    shape = shapely.union_all(area_geoms.to_crs(crs).to_numpy())
    if shape.is_empty:
        raise InputError("the study area is empty")
    minx, miny, maxx, maxy = shape.bounds
    cols, rows = int(np.ceil((maxx - minx) / cell)), int(np.ceil((maxy - miny) / cell))
    if rows * cols > max_cells:
        raise InputError(f"raster of {rows}×{cols} cells exceeds {max_cells}: use a larger cell_size")
    pts = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    pts = pts.to_crs(crs)
    ok = ~(pts.isna() | pts.is_empty).to_numpy()
    xy = shapely.get_coordinates(pts.to_numpy()[ok])
    wts = np.ones(len(xy)) if weights is None else np.asarray(weights, dtype=float)[ok]
    pad = int(np.ceil(bandwidth / cell))
    hist = np.zeros((rows + 2 * pad, cols + 2 * pad))
    c = np.floor((xy[:, 0] - minx) / cell).astype(np.int64) + pad
    r = np.floor((xy[:, 1] - miny) / cell).astype(np.int64) + pad
    inside = (c >= 0) & (c < hist.shape[1]) & (r >= 0) & (r < hist.shape[0])
    np.add.at(hist, (r[inside], c[inside]), wts[inside])
    dens = fftconvolve(hist, _quartic(bandwidth, cell), mode="same")[pad:pad + rows, pad:pad + cols]
    dens = np.maximum(dens, 0.0) / (cell * cell) * 1e6  # FFT round-off can dip below 0
    xs = minx + (np.arange(cols) + 0.5) * cell
    ys = miny + (np.arange(rows) + 0.5) * cell
    gx, gy = np.meshgrid(xs, ys)
    mask = shapely.contains_xy(shape, gx, gy)
    dens[~mask] = np.nan
    return DensityRaster(dens, float(minx), float(miny), cell, crs, float(bandwidth))


def density_contours(raster: DensityRaster, levels: Sequence[float]) -> gpd.GeoDataFrame:
    """Filled contour polygons between consecutive ``levels`` (cases per km²).

    The last band is open-ended (``level_max`` = ``inf``). Polygons keep their holes.

    >>> import geopandas as gpd; from shapely.geometry import Point, box
    >>> area = gpd.GeoSeries([box(0, 0, 1000, 1000)], crs="EPSG:4550")
    >>> r = kernel_density(gpd.GeoSeries([Point(500, 500)] * 5, crs=4550), area, bandwidth=200)
    >>> bands = density_contours(r, [10, 50])
    >>> bands[["level_min", "level_max"]].values.tolist()
    [[10.0, 50.0], [50.0, inf]]
    >>> bool(bands.area.iloc[0] > bands.area.iloc[1])
    True
    """
    import contourpy

    lv = sorted(float(v) for v in levels)
    if not lv:
        raise InputError("give at least one contour level")
    xs, ys = raster.centres()
    z = np.ma.masked_invalid(raster.values)
    gen = contourpy.contour_generator(xs, ys, z, fill_type=contourpy.FillType.OuterOffset)
    bounds = [*lv, np.inf]
    rows: list[dict[str, float]] = []
    geoms = []
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        upper = hi if np.isfinite(hi) else float(np.nanmax(raster.values)) + 1.0
        if upper <= lo:
            polys: list[shapely.Polygon] = []
        else:
            points, offsets = gen.filled(lo, upper)
            polys = []
            for pts, offs in zip(points, offsets, strict=True):
                rings = [pts[a:b] for a, b in zip(offs[:-1], offs[1:], strict=True)]
                polys.append(shapely.Polygon(rings[0], rings[1:]))
        geom = shapely.make_valid(shapely.MultiPolygon(polys)) if polys else shapely.MultiPolygon()
        rows.append({"level_min": lo, "level_max": hi})
        geoms.append(geom)
    return gpd.GeoDataFrame(rows, geometry=geoms, crs=raster.crs)
