"""Road coverage: which stretches of road the cameras see, and by how many cameras.

Roads are cut into *pieces* at every viewshed boundary, so each piece is seen by a
fixed set of cameras; ``k`` is the size of that set. Positions along a road are
linear-reference measures in metres (``from_m``, ``to_m``), so covered lengths are
the exact lengths of the line–polygon intersections (rounded to the micrometre).

The work is vectorised: one STRtree query gives the (road, viewshed) pairs, one
``shapely.intersection`` call their common parts, and the pieces come from a sort of
all interval ends along all roads at once (no per-road Python).

>>> import geopandas as gpd
>>> from shapely import LineString, box
>>> vs = gpd.GeoDataFrame({"camera_id": ["a", "b"]}, geometry=[box(10, -5, 40, 5), box(30, -5, 60, 5)], crs=4547)
>>> road = gpd.GeoDataFrame({"name": ["r"]}, geometry=[LineString([(0, 0), (100, 0)])], crs=4547)
>>> pieces = road_coverage(vs, road)
>>> pieces["to_m"].tolist(), pieces["k"].tolist()
([10.0, 30.0, 40.0, 60.0, 100.0], [0, 1, 2, 1, 0])
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from gridlib.errors import InputError

__all__ = ["ROAD_WEIGHTS", "road_weights", "road_coverage", "coverage_summary", "road_lines", "Elements", "elements",
           "substrings"]

log = logging.getLogger(__name__)

_ROUND = 6  # measures rounded to the micrometre so equal ends from different pieces coincide

#: How much a metre of road of each class counts for placement and blind-spot priority
#: (OSM ``highway`` / Tilezen ``kind_detail``, then Tilezen ``kind``). Main roads and
#: pedestrian streets, where most street problems are reported, count most; rail and
#: ferry lines are not a camera's job (0).
ROAD_WEIGHTS: dict[str, float] = {
    "motorway": 2.0, "trunk": 3.0, "primary": 3.0, "secondary": 3.0, "tertiary": 2.0,
    "motorway_link": 1.0, "trunk_link": 2.0, "primary_link": 2.0, "secondary_link": 2.0, "tertiary_link": 1.5,
    "pedestrian": 2.0, "living_street": 1.5, "residential": 1.5, "unclassified": 1.5, "road": 1.5,
    "service": 1.0, "footway": 1.0, "path": 1.0, "cycleway": 1.0, "steps": 1.0, "track": 0.5,
    "major_road": 3.0, "minor_road": 1.5, "highway": 2.0,
    "rail": 0.0, "subway": 0.0, "light_rail": 0.0, "tram": 0.0, "funicular": 0.0, "monorail": 0.0,
    "ferry": 0.0, "pier": 0.5, "platform": 0.5,
}
_CLASS_COLUMNS = ("road_class", "highway", "kind_detail", "kind", "class")


def road_weights(roads: pd.DataFrame, class_weights: dict[str, float] | None = None, *,
                 class_col: str | None = None, default: float = 1.0) -> np.ndarray:
    """Weight per road row from its class (:data:`ROAD_WEIGHTS`, overridable).

    >>> road_weights(pd.DataFrame({"kind_detail": ["primary", "rail", None], "kind": [None, None, "path"]}))
    array([3., 0., 1.])
    """
    table = {**ROAD_WEIGHTS, **(class_weights or {})}
    if class_col is not None and class_col not in roads.columns:
        raise InputError(f"road class column {class_col!r} not in roads; columns: {list(roads.columns)}")
    cols = [class_col] if class_col else [c for c in _CLASS_COLUMNS if c in roads.columns]
    w = pd.Series(np.nan, index=roads.index)
    for col in cols:
        w = w.fillna(roads[col].astype("string").str.strip().str.lower().map(table).astype(float))
    return w.fillna(default).to_numpy(float)


def road_lines(roads: gpd.GeoDataFrame | gpd.GeoSeries, crs) -> tuple[np.ndarray, np.ndarray]:
    """Single LineStrings of *roads* in *crs* with the input row position of each.

    Multi-part lines are split; empty, zero-length and non-line geometries are skipped.

    >>> from shapely import LineString, MultiLineString
    >>> g = gpd.GeoSeries([MultiLineString([[(0, 0), (1, 0)], [(2, 0), (3, 0)]]), None], crs=4547)
    >>> lines, row = road_lines(g, 4547)
    >>> len(lines), row.tolist()
    (2, [0, 0])
    """
    if roads.crs is None:
        raise InputError("roads have no CRS")
    geoms = np.asarray(roads.to_crs(crs).geometry.values if roads.crs != crs else roads.geometry.values, dtype=object)
    parts, row = shapely.get_parts(geoms, return_index=True)
    keep = (shapely.get_type_id(parts) == 1) & (shapely.length(parts) > 0)
    dropped = int((~keep).sum())
    if dropped:
        log.info("roads: %d non-line or zero-length parts skipped", dropped)
    return parts[keep], row[keep]


@dataclass
class Elements:
    """Elementary road pieces and which viewsheds cover each.

    ``line``, ``start``, ``end`` locate piece *i* on ``lines[line[i]]``; ``cover`` is a sparse
    boolean matrix (pieces × viewsheds).

    Examples
    --------
    >>> from shapely import LineString, box
    >>> el = elements(np.array([box(1, -1, 2, 1), box(1.5, -1, 3, 1)]), np.array([LineString([(0, 0), (3, 0)])]))
    >>> el.start.tolist(), el.length.tolist()
    ([0.0, 1.0, 1.5, 2.0], [1.0, 0.5, 0.5, 1.0])
    >>> el.cover.sum(axis=1).A1.tolist()          # viewsheds covering each piece
    [0, 1, 2, 1]
    """

    lines: np.ndarray
    line_row: np.ndarray
    line: np.ndarray
    start: np.ndarray
    end: np.ndarray
    cover: sp.csr_matrix

    @property
    def length(self) -> np.ndarray:
        return self.end - self.start


def elements(viewshed_geoms: np.ndarray, lines: np.ndarray, line_row: np.ndarray | None = None) -> Elements:
    """Cut *lines* at every boundary of *viewshed_geoms*; return the pieces and their cover matrix.

    >>> from shapely import LineString, box
    >>> el = elements(np.array([box(1, -1, 2, 1)]), np.array([LineString([(0, 0), (3, 0)])]))
    >>> el.start.tolist(), el.end.tolist(), el.cover.toarray().ravel().tolist()
    ([0.0, 1.0, 2.0], [1.0, 2.0, 3.0], [False, True, False])
    """
    lines = np.asarray(lines, dtype=object)
    line_row = np.arange(len(lines)) if line_row is None else np.asarray(line_row)
    geoms = np.asarray(viewshed_geoms, dtype=object)
    length = np.round(shapely.length(lines), _ROUND)
    # work on straight segments: a segment cannot cross itself, so where a piece lies on it is
    # unambiguous (a whole self-crossing line would be re-noded by GEOS)
    coords, vline = shapely.get_coordinates(lines, return_index=True)
    same = vline[1:] == vline[:-1]
    p0, p1, s_line = coords[:-1][same], coords[1:][same], vline[:-1][same]
    d = p1 - p0
    s_len = np.hypot(d[:, 0], d[:, 1])
    cum = np.cumsum(s_len)
    s_off = cum - s_len - (cum - s_len)[np.searchsorted(s_line, s_line)]  # measure of each segment start
    segs = shapely.linestrings(np.stack([p0, p1], axis=1))
    si, vi = shapely.STRtree(geoms).query(segs)  # bounding boxes; predicates below use prepared polygons
    # segments wholly inside a viewshed (most of them) need no intersection: a prepared
    # containment test is far cheaper than clipping against a 700-vertex polygon
    shapely.prepare(geoms)
    whole = shapely.contains_properly(geoms[vi], segs[si])
    clip = ~whole
    clip[clip] = shapely.intersects(geoms[vi[clip]], segs[si[clip]])
    parts, pi = shapely.get_parts(shapely.intersection(segs[si[clip]], geoms[vi[clip]]), return_index=True)
    parts2, pi2 = shapely.get_parts(parts, return_index=True)  # collections may hold multilines
    pi = pi[pi2]
    keep = (shapely.get_type_id(parts2) == 1) & (shapely.length(parts2) > 0)
    parts2, pi = parts2[keep], pi[keep]
    ps = np.r_[si[whole], si[clip][pi]]
    pv = np.r_[vi[whole], vi[clip][pi]]
    ends = np.r_[np.stack([p0[si[whole]], p1[si[whole]]], axis=1),
                 shapely.get_coordinates(shapely.boundary(parts2)).reshape(-1, 2, 2)]
    unit = d[ps] / np.where(s_len[ps] > 0, s_len[ps], 1.0)[:, None]
    t = np.einsum("ijk,ik->ij", ends - p0[ps][:, None, :], unit)
    t = np.clip(np.sort(t, axis=1), 0.0, s_len[ps][:, None])
    pl = s_line[ps]
    a = np.round(s_off[ps] + t[:, 0], _ROUND)
    b = np.round(np.minimum(s_off[ps] + t[:, 1], length[pl]), _ROUND)
    keep = b > a
    a, b, pl, pv = a[keep], b[keep], pl[keep], pv[keep]

    offset = np.concatenate([[0.0], np.cumsum(length)])
    keys = np.unique(np.concatenate([offset, offset[pl] + a, offset[pl] + b]))
    e_start = keys[:-1]
    e_line = np.searchsorted(offset, e_start, side="right") - 1
    ok = e_line < len(lines)
    e_start, e_end, e_line = e_start[ok], keys[1:][ok], e_line[ok]
    i0 = np.searchsorted(e_start, offset[pl] + a)
    i1 = np.searchsorted(e_start, offset[pl] + b)
    cnt = i1 - i0
    rows = np.repeat(i0, cnt) + (np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    cols = np.repeat(pv, cnt)
    cover = sp.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=(len(e_start), len(geoms)))
    cover.sum_duplicates()
    return Elements(lines, line_row, e_line, e_start - offset[e_line], e_end - offset[e_line], cover)


def substrings(lines: np.ndarray, line: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Vectorised ``shapely.ops.substring``: the part of ``lines[line]`` between measures a and b.

    >>> from shapely import LineString
    >>> ls = np.array([LineString([(0, 0), (10, 0), (10, 10)])])
    >>> [g.wkt for g in substrings(ls, np.array([0, 0]), np.array([5.0, 0.0]), np.array([15.0, 10.0]))]
    ['LINESTRING (5 0, 10 0, 10 5)', 'LINESTRING (0 0, 10 0)']
    """
    coords, vline = shapely.get_coordinates(lines, return_index=True)
    seg = np.hypot(*np.diff(coords, axis=0).T)
    seg[vline[1:] != vline[:-1]] = 0.0
    length = shapely.length(lines)
    offset = np.concatenate([[0.0], np.cumsum(length)])
    first = np.searchsorted(vline, np.arange(len(lines)))
    m = np.concatenate([[0.0], np.cumsum(seg)])
    m = m - m[first][vline] + offset[vline]  # global measure of each vertex
    lo = np.searchsorted(m, offset[line] + a, side="right")
    hi = np.searchsorted(m, offset[line] + b, side="left")
    lo = np.maximum(lo, first[line])
    hi = np.minimum(hi, np.r_[first[1:], len(m)][line])
    n_in = np.maximum(hi - lo, 0)
    p0 = shapely.get_coordinates(shapely.line_interpolate_point(lines[line], a))
    p1 = shapely.get_coordinates(shapely.line_interpolate_point(lines[line], b))
    total = n_in + 2
    starts = np.cumsum(total) - total
    out = np.empty((int(total.sum()), 2))
    out[starts] = p0
    out[starts + total - 1] = p1
    inner = np.repeat(lo, n_in) + (np.arange(n_in.sum()) - np.repeat(np.cumsum(n_in) - n_in, n_in))
    pos = np.repeat(starts + 1, n_in) + (np.arange(n_in.sum()) - np.repeat(np.cumsum(n_in) - n_in, n_in))
    out[pos] = coords[inner]
    return shapely.linestrings(out, indices=np.repeat(np.arange(len(line)), total))


def road_coverage(viewsheds: gpd.GeoDataFrame, roads: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Cut roads at viewshed boundaries and count the cameras seeing each piece.

    Parameters
    ----------
    viewsheds : GeoDataFrame
        Output of :func:`gridlib.coverage.viewsheds` (any polygons with a CRS will do).
    roads : GeoDataFrame
        Road centre-lines; their columns are carried to the pieces.

    Returns
    -------
    GeoDataFrame
        In the viewsheds' CRS, one row per maximal stretch of a road line with a constant
        ``k``: the road's columns, ``road_row`` (position in *roads*), ``from_m``/``to_m``
        (measures along the road part), ``length_m``, ``k`` (cameras seeing it) and
        ``covered`` (``k >= 1``). The pieces of a road add up to its length.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import LineString, Point
    >>> vs = gpd.GeoDataFrame({"camera_id": [1]}, geometry=[Point(50, 0).buffer(10)], crs=4547)
    >>> road = gpd.GeoDataFrame(geometry=[LineString([(0, 0), (100, 0)])], crs=4547)
    >>> pieces = road_coverage(vs, road)
    >>> pieces.groupby("covered").length_m.sum().round(3).to_dict()
    {False: 80.0, True: 20.0}
    """
    if viewsheds.crs is None:
        raise InputError("viewsheds have no CRS")
    crs = viewsheds.crs
    lines, line_row = road_lines(roads, crs)
    el = elements(viewsheds.geometry.values, lines, line_row)
    k = np.asarray(el.cover.sum(axis=1)).ravel()
    new = np.r_[True, (el.line[1:] != el.line[:-1]) | (k[1:] != k[:-1])] if len(k) else np.zeros(0, bool)
    first = np.flatnonzero(new)
    last = np.append(first[1:], len(new))[: len(first)] - 1
    p_line, p_k = el.line[first], k[first]
    a, b = el.start[first], el.end[last]
    geoms = substrings(lines, p_line, a, b) if len(p_line) else np.empty(0, dtype=object)
    attrs = pd.DataFrame(roads.drop(columns=roads.geometry.name)).iloc[line_row[p_line]].reset_index(drop=True)
    out = attrs.assign(
        road_row=line_row[p_line], from_m=a, to_m=b, length_m=np.round(b - a, _ROUND),
        k=p_k.astype(np.int64), covered=p_k > 0,
    )
    return gpd.GeoDataFrame(out, geometry=geoms, crs=crs)


def coverage_summary(pieces: gpd.GeoDataFrame | pd.DataFrame, by: str | list[str] | None = None) -> pd.DataFrame:
    """Road length, length seen by ≥ 1 and ≥ 2 cameras, and the shares, overall or per group.

    >>> import geopandas as gpd
    >>> p = pd.DataFrame({"kind": ["a", "a", "b"], "length_m": [10.0, 30.0, 60.0], "k": [0, 2, 1]})
    >>> coverage_summary(p, "kind")[["length_m", "covered_m", "k2_m", "share"]].values.tolist()
    [[40.0, 30.0, 30.0, 0.75], [60.0, 60.0, 0.0, 1.0]]
    """
    df = pd.DataFrame({
        "length_m": pieces["length_m"].to_numpy(float),
        "covered_m": np.where(pieces["k"] >= 1, pieces["length_m"], 0.0),
        "k2_m": np.where(pieces["k"] >= 2, pieces["length_m"], 0.0),
    }, index=pieces.index)
    if by is None:
        out = df.sum().to_frame().T
    else:
        keys = [by] if isinstance(by, str) else list(by)
        for key in keys:
            df[key] = pieces[key].to_numpy()
        out = df.groupby(keys, dropna=False).sum()
    out["share"] = out["covered_m"] / out["length_m"]
    out["share_k2"] = out["k2_m"] / out["length_m"]
    return out
