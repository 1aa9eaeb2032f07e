"""One water-masking rule for every analysis: zones mostly under water take no part.

Grids that are mostly river or lake never get cases. Left in, a hot-spot test calls them cold
spots (and depresses their neighbours' statistics) and a coverage report counts them as blind.
So every analysis that works per zone — :func:`gridlib.hotspots.gistar`, the camera coverage of
grids, the CLI and the nightly — takes the same ``water`` layer and the same threshold
(:data:`MAX_WATER_SHARE`) and leaves those zones out, reporting them apart.

>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> g = gpd.GeoDataFrame(geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs=4547)
>>> w = gpd.GeoDataFrame(geometry=[box(0, 0, 100, 75)], crs=4547)
>>> water_share(g, w).tolist(), is_water(g, w).tolist()
([0.75, 0.0], [True, False])
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

__all__ = ["MAX_WATER_SHARE", "water_share", "is_water"]

#: A zone with more than this share of its area under water is water.
MAX_WATER_SHARE = 0.5


def water_share(zones: gpd.GeoDataFrame, water: gpd.GeoDataFrame | None) -> np.ndarray:
    """Share of each zone's area covered by the water layer's polygons (0 without a water layer).

    Lines and points in ``water`` (river centre lines, springs) are ignored; the share is
    measured in the zones' CRS, which must be metric.

    >>> from shapely.geometry import box
    >>> g = gpd.GeoDataFrame(geometry=[box(0, 0, 10, 10)], crs=4547)
    >>> water_share(g, None).tolist()
    [0.0]
    """
    share = np.zeros(len(zones))
    if water is None or not len(water) or not len(zones):
        return share
    polys = water[water.geom_type.isin(["Polygon", "MultiPolygon"])].to_crs(zones.crs)
    if not len(polys):
        return share
    union = shapely.union_all(shapely.make_valid(polys.geometry.to_numpy()))
    geoms = zones.geometry.to_numpy()
    hits = shapely.intersects(geoms, union)
    area = shapely.area(geoms[hits])
    share[hits] = np.where(area > 0, shapely.area(shapely.intersection(geoms[hits], union)) / np.where(area > 0, area, 1), 0)
    return share


def is_water(zones: gpd.GeoDataFrame, water: gpd.GeoDataFrame | None,
             max_share: float = MAX_WATER_SHARE) -> np.ndarray:
    """Boolean per zone: more than ``max_share`` of its area is water.

    >>> from shapely.geometry import box
    >>> g = gpd.GeoDataFrame(geometry=[box(0, 0, 10, 10)], crs=4547)
    >>> is_water(g, gpd.GeoDataFrame(geometry=[box(0, 0, 10, 4)], crs=4547), max_share=0.3).tolist()
    [True]
    """
    return water_share(zones, water) > max_share
