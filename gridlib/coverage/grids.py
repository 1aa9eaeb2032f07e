"""Coverage per unit grid, blind spots and priority blind spots.

A grid's **road share** is the covered share of the road length inside it; its
**open-area share** is the covered share of its public open area (the grid minus
building footprints). A grid is a blind grid when the share that matters for it
(road share where it has roads, open-area share otherwise) is below ``blind_below``.
**Blind spots** are the road pieces no camera sees (on roads whose class weight is
positive, so rail and ferry lines are left out). **Priority blind spots** rank them
by ``length_m × class_weight × (1 + case_density / mean case_density)``.

>>> import geopandas as gpd
>>> from shapely import LineString, box
>>> vs = gpd.GeoDataFrame({"camera_id": [1]}, geometry=[box(0, -10, 50, 10)], crs=4547)
>>> roads = gpd.GeoDataFrame({"highway": ["primary"]}, geometry=[LineString([(0, 0), (200, 0)])], crs=4547)
>>> grids = gpd.GeoDataFrame({"code": ["g1", "g2"]}, geometry=[box(0, -50, 100, 50), box(100, -50, 200, 50)], crs=4547)
>>> grid_coverage(vs, roads, grids)[["code", "road_share", "blind"]].values.tolist()
[['g1', 0.5, False], ['g2', 0.0, True]]
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridlib.coverage.roads import road_coverage, road_weights, substrings
from gridlib.coverage.viewshed import prepare_buildings
from gridlib.errors import InputError
from gridlib.water import MAX_WATER_SHARE, is_water

__all__ = ["grid_coverage", "blind_spots", "priority_blind_spots"]

log = logging.getLogger(__name__)


def _sum_by(index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(index, weights=values, minlength=n) if len(index) else np.zeros(n)


def _per_grid_union(grid_geoms: np.ndarray, polys: np.ndarray) -> np.ndarray:
    """For each grid, the union of *polys* clipped to it (an empty polygon where none)."""
    out = np.array([shapely.Polygon()] * len(grid_geoms), dtype=object)
    if len(polys) == 0 or len(grid_geoms) == 0:
        return out
    pi, gi = shapely.STRtree(grid_geoms).query(polys, predicate="intersects")
    parts, k = shapely.get_parts(shapely.intersection(polys[pi], grid_geoms[gi]), return_index=True)
    keep = shapely.get_type_id(parts) == 3
    parts, gk = parts[keep], gi[k[keep]]
    order = np.argsort(gk, kind="stable")
    parts, gk = parts[order], gk[order]
    has = np.unique(gk)
    # a multipolygon of each grid's (possibly overlapping) pieces, dissolved by a zero buffer
    out[has] = shapely.buffer(shapely.multipolygons(parts, indices=np.searchsorted(has, gk)), 0)
    return out


def grid_coverage(
    viewsheds: gpd.GeoDataFrame,
    roads: gpd.GeoDataFrame,
    grids: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | None = None,
    *,
    pieces: gpd.GeoDataFrame | None = None,
    blind_below: float = 0.2,
    water: gpd.GeoDataFrame | None = None,
    max_water_share: float = MAX_WATER_SHARE,
    open_area: bool = True,
) -> gpd.GeoDataFrame:
    """Covered share of road length and of open area per grid.

    Parameters
    ----------
    viewsheds : GeoDataFrame
        Camera viewsheds (:func:`gridlib.coverage.viewsheds`).
    roads : GeoDataFrame
        Road lines (ignored when *pieces* is given).
    grids : GeoDataFrame
        Unit grids (any polygons); their columns are kept.
    buildings : GeoDataFrame, optional
        Footprints, subtracted from the grid to get its open area.
    pieces : GeoDataFrame, optional
        A :func:`gridlib.coverage.road_coverage` result to reuse.
    blind_below : float
        Share under which a grid counts as blind.
    water, max_water_share
        Water polygons: grids more than ``max_water_share`` under water are marked ``water``
        and are never blind (:mod:`gridlib.water`, the rule every analysis shares).
    open_area : bool
        Also work out each grid's open area and its covered share (footprints and viewsheds clipped to
        every grid and united: half the cost for a city). ``False`` leaves ``open_m2``,
        ``covered_open_m2`` and ``open_share`` missing, and a grid without roads is then never blind.

    Returns
    -------
    GeoDataFrame
        *grids* (in the viewsheds' CRS) plus ``road_m``, ``covered_m``, ``k2_m``, ``road_share``
        (NaN without roads), ``open_m2``, ``covered_open_m2``, ``open_share``, ``water`` and ``blind``.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import LineString, box
    >>> vs = gpd.GeoDataFrame(geometry=[box(0, 0, 100, 50)], crs=4547)
    >>> grid = gpd.GeoDataFrame(geometry=[box(0, 0, 100, 100)], crs=4547)
    >>> house = gpd.GeoDataFrame(geometry=[box(0, 0, 50, 100)], crs=4547)
    >>> g = grid_coverage(vs, gpd.GeoDataFrame(geometry=[], crs=4547), grid, house)
    >>> g[["open_m2", "covered_open_m2", "open_share"]].values.tolist()
    [[5000.0, 2500.0, 0.5]]
    >>> grid_coverage(vs, gpd.GeoDataFrame(geometry=[], crs=4547), grid, house, open_area=False)["open_m2"].tolist()
    [nan]
    """
    if grids.crs is None:
        raise InputError("grids have no CRS")
    crs = viewsheds.crs
    g = grids.to_crs(crs) if grids.crs != crs else grids.copy()
    gg = np.asarray(g.geometry.values, dtype=object)
    n = len(gg)
    if pieces is None:
        pieces = road_coverage(viewsheds, roads)
    pieces = pieces.to_crs(crs) if pieces.crs != crs else pieces
    pg = np.asarray(pieces.geometry.values, dtype=object)
    pi, gi = shapely.STRtree(gg).query(pg, predicate="intersects")
    inside = shapely.length(shapely.intersection(pg[pi], gg[gi]))
    k = pieces["k"].to_numpy()[pi]
    road_m = _sum_by(gi, inside, n)
    covered_m = _sum_by(gi, np.where(k >= 1, inside, 0.0), n)
    k2_m = _sum_by(gi, np.where(k >= 2, inside, 0.0), n)

    open_m2, covered_open = np.full(n, np.nan), np.full(n, np.nan)
    if open_area:
        area = shapely.area(gg)
        # everything is clipped to the grids first and united per grid, so the cost stays local
        # (a district-wide union of 100,000 footprints and 2,000 viewsheds takes minutes)
        built = _per_grid_union(gg, prepare_buildings(buildings, crs))
        vs_geoms = np.asarray(viewsheds.geometry.values, dtype=object)
        seen = _per_grid_union(gg, vs_geoms[~shapely.is_empty(vs_geoms)])
        open_m2 = np.maximum(area - shapely.area(built), 0.0)
        # only grids some camera sees have a covered open area (a city: ~1 in 20); the rest are 0 without asking GEOS
        looked = np.flatnonzero(~shapely.is_empty(seen))
        covered_open = np.zeros(n)
        covered_open[looked] = shapely.area(shapely.difference(seen[looked], built[looked]))
        covered_open = np.minimum(covered_open, open_m2)

    with np.errstate(invalid="ignore", divide="ignore"):
        road_share = np.where(road_m > 0, covered_m / road_m, np.nan)
        open_share = np.where(open_m2 > 0, covered_open / open_m2, np.nan)
    share = np.where(road_m > 0, road_share, open_share)
    g["road_m"] = road_m
    g["covered_m"] = covered_m
    g["k2_m"] = k2_m
    g["road_share"] = road_share
    g["open_m2"] = open_m2
    g["covered_open_m2"] = covered_open
    g["open_share"] = open_share
    g["water"] = is_water(g, water, max_water_share)
    g["blind"] = (np.nan_to_num(share, nan=1.0) < blind_below) & ~g["water"].to_numpy()
    return g


def blind_spots(pieces: gpd.GeoDataFrame, *, min_length_m: float = 5.0, max_length_m: float | None = 200.0,
                class_weights: dict[str, float] | None = None, class_col: str | None = None) -> gpd.GeoDataFrame:
    """Road pieces no camera sees, at least *min_length_m* long, on roads of positive class weight.

    Stretches longer than *max_length_m* are cut into equal parts no longer than that, so
    a blind spot is a place one camera could cover and its case density is local.
    Returns the pieces (all their columns, ``from_m``/``to_m``/``length_m`` of each part)
    with ``blind_id`` (1..n in road order) and ``class_weight``.

    >>> import geopandas as gpd
    >>> from shapely import LineString, box
    >>> from gridlib.coverage.roads import road_coverage
    >>> roads = gpd.GeoDataFrame({"highway": ["primary", "rail"]},
    ...     geometry=[LineString([(0, 0), (100, 0)]), LineString([(0, 9), (100, 9)])], crs=4547)
    >>> p = road_coverage(gpd.GeoDataFrame(geometry=[box(0, -1, 97, 1)], crs=4547), roads)
    >>> blind_spots(p).length_m.tolist(), blind_spots(p, min_length_m=1).length_m.tolist()
    ([], [3.0])
    """
    w = road_weights(pieces, class_weights, class_col=class_col)
    keep = (pieces["k"].to_numpy() == 0) & (pieces["length_m"].to_numpy() >= min_length_m) & (w > 0)
    out = pieces[keep].copy()
    out["class_weight"] = w[keep]
    if max_length_m is not None and len(out):
        if not max_length_m > 0:
            raise InputError(f"max_length_m must be > 0, got {max_length_m}")
        length = out["length_m"].to_numpy(float)
        n = np.maximum(np.ceil(length / max_length_m - 1e-9), 1).astype(np.int64)
        rep = np.repeat(np.arange(len(out)), n)
        j = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        step = (length / n)[rep]
        geoms = np.asarray(out.geometry.values, dtype=object)
        cut = substrings(geoms, rep, j * step, np.minimum((j + 1) * step, length[rep]))
        start = out["from_m"].to_numpy(float)[rep] + j * step if "from_m" in out.columns else None
        out = out.iloc[rep].copy()
        out["length_m"] = np.round(step, 6)
        if start is not None:
            out["from_m"] = np.round(start, 6)
            out["to_m"] = np.round(start + step, 6)
        out = out.set_geometry(cut)
    out.insert(0, "blind_id", np.arange(1, len(out) + 1))
    return out.reset_index(drop=True)


def priority_blind_spots(
    blind: gpd.GeoDataFrame,
    case_density: gpd.GeoDataFrame | None = None,
    *,
    value_col: str | None = None,
    radius_m: float = 100.0,
) -> gpd.GeoDataFrame:
    """Rank blind spots by length, road class and how many cases happen around them.

    Parameters
    ----------
    blind : GeoDataFrame
        Output of :func:`blind_spots`.
    case_density : GeoDataFrame, optional
        Either case **points** (density = cases within *radius_m* of the piece, per hectare of
        that search area) or **polygons** such as hotspot grids with a numeric *value_col*
        (density = the value of the polygon under the piece's midpoint; negative values count as 0).
    value_col : str, optional
        Column of the polygon layer; required for polygons.
    radius_m : float
        Search radius for points.

    Returns
    -------
    GeoDataFrame
        *blind* plus ``case_density``, ``priority`` and ``rank`` (1 = most urgent), sorted by rank.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import LineString, Point
    >>> blind = gpd.GeoDataFrame({"blind_id": [1, 2], "length_m": [50.0, 50.0], "class_weight": [1.0, 1.0]},
    ...     geometry=[LineString([(0, 0), (50, 0)]), LineString([(1000, 0), (1050, 0)])], crs=4547)
    >>> cases = gpd.GeoDataFrame(geometry=[Point(1020, 5)] * 3, crs=4547)
    >>> priority_blind_spots(blind, cases).blind_id.tolist()
    [2, 1]
    """
    out = blind.copy()
    n = len(out)
    density = np.zeros(n)
    if case_density is not None and len(case_density) and n:
        if case_density.crs is None:
            raise InputError("case_density has no CRS")
        cd = case_density.to_crs(out.crs) if case_density.crs != out.crs else case_density
        geoms = np.asarray(cd.geometry.values, dtype=object)
        types = set(shapely.get_type_id(geoms[~shapely.is_empty(geoms)]).tolist())
        lines = np.asarray(out.geometry.values, dtype=object)
        if types <= {0, 4}:  # points
            pts = shapely.get_parts(geoms)
            li, _ = shapely.STRtree(pts).query(lines, predicate="dwithin", distance=radius_m)
            counts = np.bincount(li, minlength=n).astype(float)
            search_ha = shapely.area(shapely.buffer(lines, radius_m)) / 10_000.0
            density = counts / search_ha
        elif types <= {3, 6}:
            if value_col is None or value_col not in cd.columns:
                raise InputError(f"polygon case_density needs value_col naming a numeric column; got {value_col!r}")
            mid = shapely.line_interpolate_point(lines, 0.5, normalized=True)
            mi, gi = shapely.STRtree(geoms).query(mid, predicate="intersects")
            vals = np.clip(pd.to_numeric(cd[value_col], errors="coerce").to_numpy(float), 0, None)
            first = np.unique(mi, return_index=True)[1]
            density[mi[first]] = np.nan_to_num(vals[gi[first]])
        else:
            raise InputError("case_density must be points (cases) or polygons (hotspot grids)")
    mean = density.mean() if n else 0.0
    factor = 1.0 + (density / mean if mean > 0 else 0.0)
    out["case_density"] = density
    out["priority"] = out["length_m"].to_numpy(float) * out["class_weight"].to_numpy(float) * factor
    order = np.lexsort((out["blind_id"].to_numpy(), -out["priority"].to_numpy()))
    out = out.iloc[order].reset_index(drop=True)
    out["rank"] = np.arange(1, n + 1)
    return out
