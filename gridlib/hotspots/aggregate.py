"""Case counts per zone (unit grid, community, street, H3 cell), zeros included, with rates.

Cases are matched to zones by a shared key column (``by``, as written by ``gl.assign``:
``grid_code``, ``community_code``, ``street_code``) or, when the cases lack that column, by
point-in-polygon. Zones without cases get a count of 0 — Gi* and emerging-hotspot statistics
need the empty cells. H3 zones for resolutions 9–11 come from :func:`h3_zones`.

>>> import geopandas as gpd, pandas as pd
>>> from shapely.geometry import box
>>> zones = gpd.GeoDataFrame({"grid_code": ["A", "B", "C"]},
...     geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100), box(200, 0, 300, 100)], crs="EPSG:4550")
>>> cases = pd.DataFrame({"case_id": ["1", "2", "3"], "grid_code": ["A", "A", "C"],
...     "reported_at": pd.to_datetime(["2026-01-01", "2026-01-20", "2026-01-30"])})
>>> counts(cases, zones)["count"].tolist()
[2, 0, 1]
>>> counts(cases, zones, period="15D")["count"].tolist()
[1, 0, 1]
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridlib.crs import metric_crs_for
from gridlib.errors import InputError
from gridlib.types import PeriodLike, TimeLike

__all__ = ["counts", "zone_positions", "h3_zones", "h3_of_cases", "time_window"]

log = logging.getLogger(__name__)


def time_window(times: pd.Series, period: PeriodLike, end: TimeLike | None = None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Resolve ``period`` to a half-open ``[start, end)`` window.

    ``period`` is a pandas offset (``"30D"``, ``"12W"``) counted back from ``end`` (default: just
    after the latest time), or a ``(start, end)`` pair.

    >>> t = pd.Series(pd.to_datetime(["2026-01-01 00:00", "2026-01-31 12:00"]))
    >>> time_window(t, "30D")
    (Timestamp('2026-01-01 12:00:00.000001'), Timestamp('2026-01-31 12:00:00.000001'))
    """
    if isinstance(period, (tuple, list)):
        start, stop = (pd.Timestamp(v) for v in period)
        return start, stop
    stop = pd.Timestamp(end) if end is not None else times.max() + pd.Timedelta(microseconds=1)
    if pd.isna(stop):
        raise InputError("no case has a time: cannot place the period")
    try:
        span = pd.Timedelta(pd.tseries.frequencies.to_offset(period))
    except (ValueError, TypeError) as exc:
        raise InputError(f"bad period {period!r}: use e.g. '30D', '12W' or (start, end)") from exc
    return stop - span, stop


def zone_positions(cases: pd.DataFrame, zones: gpd.GeoDataFrame, by: str) -> np.ndarray:
    """Row position in ``zones`` of each case (``-1`` when it falls in no zone).

    By the ``by`` key when both tables have it, else by location (cases need a geometry;
    a point on a shared edge goes to the first zone in row order).

    >>> import geopandas as gpd; from shapely.geometry import box, Point
    >>> z = gpd.GeoDataFrame({"k": ["a", "b"]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs=4550)
    >>> c = gpd.GeoDataFrame(geometry=[Point(1.5, 0.5), Point(9, 9)], crs=4550)
    >>> zone_positions(c, z, "k").tolist()
    [1, -1]
    """
    if by in cases.columns and by in zones.columns:
        keys = pd.Index(zones[by].astype("string"))
        if keys.has_duplicates:
            dup = keys[keys.duplicated()][0]
            raise InputError(f"zone key {by!r} is not unique (e.g. {dup!r})")
        return keys.get_indexer(cases[by].astype("string"))
    if not isinstance(cases, gpd.GeoDataFrame):
        raise InputError(f"cases have no {by!r} column and no geometry: assign them first (gl.assign)")
    if cases.crs is None or zones.crs is None:
        raise InputError("cases and zones need a CRS to be matched by location")
    pts = cases.geometry if cases.crs == zones.crs else cases.geometry.to_crs(zones.crs)
    tree = shapely.STRtree(zones.geometry.to_numpy())
    pt_idx, zone_idx = tree.query(pts.to_numpy(), predicate="intersects")
    out = np.full(len(cases), -1, dtype=np.int64)
    # First zone in row order for points on shared edges: write in reverse so the smallest wins.
    order = np.lexsort((-zone_idx, pt_idx))
    out[pt_idx[order]] = zone_idx[order]
    return out


def _filter(cases: pd.DataFrame, period: Any, end: Any, classes: Iterable[str] | None,
            time_column: str, class_column: str) -> np.ndarray:
    keep = np.ones(len(cases), dtype=bool)
    if period is not None:
        if time_column not in cases.columns:
            raise InputError(f"a period needs the time column {time_column!r}")
        times = pd.to_datetime(cases[time_column])
        start, stop = time_window(times, period, end)
        keep &= ((times >= start) & (times < stop)).to_numpy()
    if classes is not None:
        if class_column not in cases.columns:
            raise InputError(f"a class filter needs the column {class_column!r}")
        wanted = [str(c) for c in classes]
        code = cases[class_column].astype("string")
        # A 2-digit entry selects a whole big class (大类), a full code one small class.
        hit = np.zeros(len(cases), dtype=bool)
        for c in wanted:
            hit |= code.str.startswith(c).fillna(False).to_numpy() if len(c) < 4 else (code == c).fillna(False).to_numpy()
        keep &= hit
    return keep


def counts(
    cases: pd.DataFrame,
    zones: gpd.GeoDataFrame,
    *,
    by: str = "grid_code",
    period: PeriodLike | None = None,
    end: TimeLike | None = None,
    classes: Iterable[str] | None = None,
    exposure: str | None = None,
    time_column: str = "reported_at",
    class_column: str = "class_code",
) -> gpd.GeoDataFrame:
    """Count cases per zone; every zone is in the result, with 0 when it has no case.

    Parameters
    ----------
    cases
        Case log (``gl.assign`` output, or points with a geometry).
    zones
        Grid cells, communities, streets or H3 cells (:func:`h3_zones`), keyed by ``by``.
    period
        ``"30D"``, ``"12W"`` … back from ``end`` (default: the latest case), or ``(start, end)``.
    classes
        Class codes to keep; a 2-digit entry keeps the whole big class.
    exposure
        Denominator for ``rate = count / exposure``: a numeric column of ``zones`` (e.g.
        ``road_km``, ``components``), or ``"area"`` for cases per km².

    Returns
    -------
    GeoDataFrame
        ``zones`` plus ``count`` (int) and, with an exposure, ``exposure`` and ``rate``
        (``nan`` where the exposure is 0). ``attrs["unmatched"]`` counts selected cases in no zone.

    Examples
    --------
    >>> import geopandas as gpd, pandas as pd
    >>> from shapely.geometry import box
    >>> zones = gpd.GeoDataFrame({"grid_code": ["A", "B"]},
    ...     geometry=[box(0, 0, 1000, 1000), box(1000, 0, 2000, 500)], crs="EPSG:4550")
    >>> cases = pd.DataFrame({"grid_code": ["A", "A", "B", "A"], "class_code": ["06012", "06012", "06012", "01001"],
    ...     "reported_at": pd.to_datetime(["2026-01-01", "2026-01-20", "2026-01-30", "2026-01-30"])})
    >>> out = counts(cases, zones, classes=["06"], exposure="area")   # big class 06 only, per km²
    >>> out[["grid_code", "count", "exposure", "rate"]].values.tolist()
    [['A', 2, 1.0, 2.0], ['B', 1, 0.5, 2.0]]
    """
    pos = zone_positions(cases, zones, by)
    keep = _filter(cases, period, end, classes, time_column, class_column)
    unmatched = int((keep & (pos < 0)).sum())
    if unmatched:
        log.warning("%d selected cases fall in no zone of %r and are not counted", unmatched, by)
    out = zones.copy()
    out["count"] = np.bincount(pos[keep & (pos >= 0)], minlength=len(zones)).astype(np.int64)
    if exposure is not None:
        if exposure == "area":
            metric = zones.geometry if zones.crs.is_projected else zones.geometry.to_crs(metric_crs_for(zones))
            denom = metric.area.to_numpy() / 1e6
        elif exposure in zones.columns:
            denom = pd.to_numeric(zones[exposure], errors="coerce").to_numpy(dtype=float)
        else:
            raise InputError(f"exposure {exposure!r} is neither 'area' nor a column of the zones")
        out["exposure"] = denom
        with np.errstate(divide="ignore", invalid="ignore"):
            out["rate"] = np.where(denom > 0, out["count"].to_numpy() / denom, np.nan)
    out.attrs["unmatched"] = unmatched
    return out


def h3_zones(area: gpd.GeoDataFrame | gpd.GeoSeries, resolution: int) -> gpd.GeoDataFrame:
    """H3 cells (column ``h3``) whose centres lie in ``area``, as WGS84 hexagons, sorted by id.

    >>> import geopandas as gpd; from shapely.geometry import box
    >>> area = gpd.GeoSeries([box(121.49, 31.22, 121.51, 31.24)], crs=4326)
    >>> z = h3_zones(area, 9)
    >>> len(z) > 20, z.crs.to_epsg()
    (True, 4326)
    """
    import h3

    if not 0 <= resolution <= 15:
        raise InputError(f"H3 resolution must be 0..15, got {resolution}")
    geoms = area.geometry if isinstance(area, gpd.GeoDataFrame) else area
    shape = shapely.union_all(geoms.to_crs(4326).to_numpy())
    cells: set[str] = set()
    for poly in shapely.get_parts(shape):
        if poly.is_empty:
            continue
        cells.update(h3.geo_to_cells(poly, resolution))
    ids = sorted(cells)
    boundaries = [shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in ids]
    return gpd.GeoDataFrame({"h3": pd.array(ids, dtype="string")}, geometry=boundaries, crs=4326)


def h3_of_cases(cases: gpd.GeoDataFrame, resolution: int) -> pd.Series:
    """H3 cell id of each case point (``None`` for missing geometry).

    >>> import geopandas as gpd; from shapely.geometry import Point
    >>> c = gpd.GeoDataFrame(geometry=[Point(121.5, 31.23)], crs=4326)
    >>> h3_of_cases(c, 9).str.len().tolist()
    [15]
    """
    import h3

    pts = cases.geometry.to_crs(4326)
    xy = shapely.get_coordinates(pts.to_numpy())
    ok = ~(pts.isna() | pts.is_empty).to_numpy()
    ids: list[str | None] = [None] * len(pts)
    for k, (lng, lat) in zip(np.flatnonzero(ok), xy, strict=True):
        ids[k] = h3.latlng_to_cell(lat, lng, resolution)
    return pd.Series(pd.array(ids, dtype="string"), index=cases.index, name="h3")
