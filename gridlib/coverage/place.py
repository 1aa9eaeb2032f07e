"""Where to add cameras: candidate sites and maximal-covering placement.

Demand is road length: the roads are cut into elementary pieces at every candidate
(and existing) viewshed boundary, so each piece is either wholly seen by a candidate
or not at all, and the coverage matrix (pieces × candidates) is exact. A piece's
weight is its length times its road-class weight (:data:`ROAD_WEIGHTS`); pieces an
existing camera already sees weigh nothing.

:func:`place` chooses ``budget`` candidates greedily with lazy evaluation (a
candidate's gain can only shrink as others are chosen, so a stale gain on top of the
heap that still beats the next one after refreshing is the true best). Greedy
maximal covering is within (1 − 1/e) of the optimum; ``method="exact"`` solves the
same matrix as spopt's Maximal Covering Location Problem (integer programme, CBC)
for small instances.

>>> import geopandas as gpd
>>> from shapely import LineString, Point, box
>>> road = gpd.GeoDataFrame({"highway": ["primary"]}, geometry=[LineString([(0, 0), (300, 0)])], crs=4547)
>>> cands = gpd.GeoDataFrame({"camera_id": ["a", "b", "c"]}, crs=4547,
...     geometry=[box(0, -5, 120, 5), box(100, -5, 200, 5), box(180, -5, 300, 5)])
>>> place(cands, cands, road, budget=2)[["camera_id", "new_m"]].values.tolist()
[['a', 120.0], ['c', 120.0]]
"""

from __future__ import annotations

import heapq
import logging
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from gridlib.coverage.roads import ROAD_WEIGHTS, elements, road_lines, road_weights
from gridlib.errors import InputError

__all__ = ["place", "candidate_sites", "candidate_cameras", "coverage_problem", "greedy_max_cover",
           "exact_max_cover", "ROAD_WEIGHTS"]

log = logging.getLogger(__name__)

_EXACT_LIMIT = 2_000_000  # pieces × candidates cells for the dense spopt cost matrix


def candidate_sites(roads: gpd.GeoDataFrame, *, spacing_m: float = 50.0, junctions: bool = True,
                    min_degree: int = 3, snap_m: float = 1.0) -> gpd.GeoDataFrame:
    """Candidate camera sites: road junctions and points every *spacing_m* along the roads.

    Junctions are graph nodes where at least *min_degree* road segments meet
    (:func:`gridlib.network.build_graph`); only roads of positive weight are used.
    Returns ``site_id``, ``source`` (``junction``/``along_road``), point geometry in the metric CRS.

    >>> import geopandas as gpd
    >>> from shapely import LineString
    >>> roads = gpd.GeoDataFrame(geometry=[LineString([(0, 0), (100, 0)]), LineString([(50, 0), (50, 50)])],
    ...                          crs=4547)   # a T-junction at (50, 0)
    >>> s = candidate_sites(roads, spacing_m=50)
    >>> s.source.tolist()
    ['junction', 'along_road', 'along_road', 'along_road']
    """
    from gridlib import network
    from gridlib.crs import metric_crs_for

    if not spacing_m > 0:
        raise InputError(f"spacing_m must be > 0, got {spacing_m}")
    crs = metric_crs_for(roads)
    keep = road_weights(roads) > 0
    r = roads[keep]
    lines, _ = road_lines(r, crs)
    length = shapely.length(lines)
    n = np.floor(length / spacing_m).astype(np.int64) + 1
    li = np.repeat(np.arange(len(lines)), n)
    at = (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)) * spacing_m
    along = shapely.line_interpolate_point(lines[li], np.minimum(at, length[li]))
    pts, src = [along], ["along_road"] * len(along)
    if junctions:
        g = network.build_graph(r.to_crs(crs), snap_m=snap_m, speeds={c: 1.0 for c in ROAD_WEIGHTS})
        deg = np.bincount(np.r_[g.seg_u, g.seg_v], minlength=g.n_nodes)
        j = shapely.points(g.xy[deg >= min_degree])
        pts.insert(0, j)
        src = ["junction"] * len(j) + src
    geoms = np.concatenate(pts)
    # drop repeats (a vertex shared by two lines) keeping the first, i.e. junctions before along-road points
    key = np.round(shapely.get_coordinates(geoms), 1)
    _, first = np.unique(key, axis=0, return_index=True)
    first = np.sort(first)
    return gpd.GeoDataFrame({"site_id": np.arange(len(first)), "source": np.asarray(src)[first]},
                            geometry=geoms[first], crs=crs)


def candidate_cameras(sites: gpd.GeoDataFrame, *, fov: float = 360.0, range_m: float = 60.0,
                      headings: tuple[float, ...] = (0.0, 90.0, 180.0, 270.0), type: str | None = None
                      ) -> gpd.GeoDataFrame:
    """Camera candidates at *sites*: one dome per site, or one fixed camera per site and heading.

    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> s = gpd.GeoDataFrame({"site_id": [7]}, geometry=[Point(0, 0)], crs=4547)
    >>> candidate_cameras(s, fov=90, headings=(0, 180)).camera_id.tolist()
    ['7/0', '7/180']
    """
    sid = sites["site_id"].astype(str).to_numpy() if "site_id" in sites.columns else sites.index.astype(str)
    if fov >= 360:
        return gpd.GeoDataFrame({"camera_id": sid, "site_id": sites.get("site_id", sites.index).to_numpy(),
                                 "heading": np.nan, "fov": 360.0, "range_m": float(range_m), "type": type},
                                geometry=sites.geometry.values, crs=sites.crs)
    h = np.asarray(headings, dtype=float)
    rep = np.repeat(np.arange(len(sites)), len(h))
    hh = np.tile(h, len(sites))
    ids = np.char.add(np.char.add(np.asarray(sid)[rep].astype(str), "/"), np.char.mod("%g", hh))
    return gpd.GeoDataFrame({"camera_id": ids, "site_id": np.asarray(sites.get("site_id", sites.index))[rep],
                             "heading": hh, "fov": float(fov), "range_m": float(range_m), "type": type},
                            geometry=sites.geometry.values[rep], crs=sites.crs)


def coverage_problem(candidate_viewsheds: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, *,
                     existing: gpd.GeoDataFrame | None = None, class_weights: dict[str, float] | None = None,
                     class_col: str | None = None) -> tuple[sp.csc_matrix, np.ndarray, np.ndarray]:
    """The maximal-covering instance: (cover matrix pieces × candidates, piece weight, piece length).

    Pieces already seen by an *existing* viewshed, of zero weight, or seen by no candidate are dropped.

    >>> import geopandas as gpd
    >>> from shapely import LineString, box
    >>> road = gpd.GeoDataFrame(geometry=[LineString([(0, 0), (10, 0)])], crs=4547)
    >>> c, w, m = coverage_problem(gpd.GeoSeries([box(2, -1, 5, 1)], crs=4547).to_frame("geometry"), road)
    >>> c.shape, w.tolist()
    ((1, 1), [3.0])
    """
    if candidate_viewsheds.crs is None:
        raise InputError("candidate viewsheds have no CRS")
    crs = candidate_viewsheds.crs
    geoms = np.asarray(candidate_viewsheds.geometry.values, dtype=object)
    n_cand = len(geoms)
    if existing is not None and len(existing):
        geoms = np.concatenate([geoms, np.asarray(existing.to_crs(crs).geometry.values, dtype=object)])
    lines, line_row = road_lines(roads, crs)
    el = elements(geoms, lines, line_row)
    weight = el.length * road_weights(roads, class_weights, class_col=class_col)[el.line_row[el.line]]
    cover = el.cover.tocsc()
    seen_before = np.asarray(cover[:, n_cand:].sum(axis=1)).ravel() > 0
    cand = cover[:, :n_cand].tocsr()
    useful = ~seen_before & (weight > 0) & (np.diff(cand.indptr) > 0)
    return cand[useful].tocsc(), weight[useful], el.length[useful]


def greedy_max_cover(cover: sp.csc_matrix, weight: np.ndarray, budget: int) -> tuple[np.ndarray, np.ndarray]:
    """Lazy greedy maximal covering: chosen column indices in order and their marginal gains.

    Stops early when no candidate adds anything. Ties go to the lower column index.

    >>> c = sp.csc_matrix(np.array([[1, 0], [1, 1], [0, 1]], dtype=bool))
    >>> greedy_max_cover(c, np.array([1.0, 1.0, 5.0]), 2)
    (array([1, 0]), array([6., 1.]))
    """
    cover = sp.csc_matrix(cover)
    gains = np.asarray(cover.T @ weight).ravel()
    heap = [(-g, j) for j, g in enumerate(gains) if g > 0]
    heapq.heapify(heap)
    done = np.zeros(cover.shape[0], dtype=bool)
    chosen, gain_out = [], []
    while heap and len(chosen) < budget:
        neg, j = heapq.heappop(heap)
        rows = cover.indices[cover.indptr[j]:cover.indptr[j + 1]]
        real = float(weight[rows[~done[rows]]].sum())
        if real <= 0:
            continue
        if not heap or real >= -heap[0][0] - 1e-12 * max(1.0, real):
            chosen.append(j)
            gain_out.append(real)
            done[rows] = True
        else:
            heapq.heappush(heap, (-real, j))
    return np.asarray(chosen, dtype=np.int64), np.asarray(gain_out, dtype=float)


def exact_max_cover(cover: sp.csc_matrix, weight: np.ndarray, budget: int) -> np.ndarray:
    """Optimal maximal covering via spopt's MCLP (CBC); chosen column indices, ascending.

    >>> c = sp.csc_matrix(np.array([[1, 0, 0], [1, 1, 0], [0, 1, 1]], dtype=bool))
    >>> exact_max_cover(c, np.array([2.0, 2.0, 3.0]), 2).tolist()
    [0, 1]
    """
    import pulp
    from spopt.locate import MCLP

    n_dem, n_cand = cover.shape
    if n_dem * n_cand > _EXACT_LIMIT:
        raise InputError(f"exact placement is for small instances: {n_dem} road pieces × {n_cand} candidates "
                         f"exceeds {_EXACT_LIMIT:,} cells; use method='greedy'")
    if n_dem == 0 or budget <= 0:
        return np.empty(0, dtype=np.int64)
    cost = np.where(sp.csr_matrix(cover).toarray(), 0.0, 1.0)
    with warnings.catch_warnings():  # spopt builds its model through PuLP calls deprecated in PuLP 3
        warnings.simplefilter("ignore", DeprecationWarning)
        model = MCLP.from_cost_matrix(cost, weight, service_radius=0.5, p_facilities=min(budget, n_cand))
        model.solve(pulp.PULP_CBC_CMD(msg=False))
    if pulp.LpStatus[model.problem.status] != "Optimal":
        raise InputError(f"MCLP solver ended with status {pulp.LpStatus[model.problem.status]}")
    return np.flatnonzero([(v.value() or 0) > 0.5 for v in model.fac_vars])


def place(
    candidates: gpd.GeoDataFrame,
    candidate_viewsheds: gpd.GeoDataFrame,
    roads: gpd.GeoDataFrame,
    *,
    budget: int = 20,
    existing: gpd.GeoDataFrame | None = None,
    class_weights: dict[str, float] | None = None,
    class_col: str | None = None,
    method: str = "greedy",
) -> gpd.GeoDataFrame:
    """Choose up to *budget* new cameras maximising newly seen, class-weighted road length.

    Parameters
    ----------
    candidates : GeoDataFrame
        Candidate cameras (``camera_id`` and any attributes), e.g. :func:`candidate_cameras`.
    candidate_viewsheds : GeoDataFrame
        Their viewsheds (:func:`gridlib.coverage.viewsheds`), matched on ``camera_id``
        (or row by row when either lacks the column).
    roads : GeoDataFrame
        Road lines; class weights from :data:`ROAD_WEIGHTS` unless *class_weights* overrides.
    budget : int
        Number of cameras to add.
    existing : GeoDataFrame, optional
        Viewsheds of cameras already installed: what they see is not a gain.
    method : {"greedy", "exact"}
        Lazy greedy, or the optimum by spopt MCLP (small instances only).

    Returns
    -------
    GeoDataFrame
        The chosen candidates in order (``rank`` from 1) with ``gain`` (weighted metres),
        ``new_m`` (metres of road newly seen) and ``cum_gain``; fewer than *budget* rows
        when nothing more can be gained.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import LineString, box
    >>> road = gpd.GeoDataFrame(geometry=[LineString([(0, 0), (100, 0)])], crs=4547)
    >>> c = gpd.GeoDataFrame({"camera_id": ["x", "y"]}, geometry=[box(0, -1, 60, 1), box(50, -1, 100, 1)], crs=4547)
    >>> old = gpd.GeoDataFrame(geometry=[box(0, -1, 40, 1)], crs=4547)
    >>> place(c, c, road, budget=1, existing=old)[["camera_id", "new_m"]].values.tolist()
    [['y', 50.0]]
    """
    if budget < 0:
        raise InputError(f"budget must be >= 0, got {budget}")
    if method not in ("greedy", "exact"):
        raise InputError(f"method must be 'greedy' or 'exact', got {method!r}")
    if "camera_id" in candidates.columns and "camera_id" in candidate_viewsheds.columns:
        pos = pd.Index(candidate_viewsheds["camera_id"]).get_indexer(candidates["camera_id"])
        if (pos < 0).any():
            missing = candidates["camera_id"].to_numpy()[pos < 0][0]
            raise InputError(f"candidate {missing!r} has no viewshed")
        vs = candidate_viewsheds.iloc[pos]
    elif len(candidates) == len(candidate_viewsheds):
        vs = candidate_viewsheds
    else:
        raise InputError("candidates and candidate_viewsheds differ in length and have no camera_id to match")
    cover, weight, length = coverage_problem(vs, roads, existing=existing, class_weights=class_weights,
                                             class_col=class_col)
    if method == "greedy":
        chosen, gains = greedy_max_cover(cover, weight, budget)
    else:
        best = exact_max_cover(cover, weight, budget)
        # report the optimal set in greedy order of marginal gain
        order, gains = greedy_max_cover(cover[:, best], weight, len(best))
        chosen = best[order]
    done = np.zeros(cover.shape[0], dtype=bool)
    new_m = []
    for j in chosen:  # at most `budget` iterations
        rows = cover.indices[cover.indptr[j]:cover.indptr[j + 1]]
        new_m.append(float(length[rows[~done[rows]]].sum()))
        done[rows] = True
    out = candidates.iloc[chosen].copy()
    out["rank"] = np.arange(1, len(chosen) + 1)
    out["gain"] = np.round(gains, 6)
    out["new_m"] = np.round(new_m, 6)
    out["cum_gain"] = np.round(np.cumsum(gains), 6)
    log.info("placement (%s): %d of budget %d chosen, gain %.0f of %.0f weighted m available", method,
             len(chosen), budget, float(np.sum(gains)), float(weight.sum()))
    return out
