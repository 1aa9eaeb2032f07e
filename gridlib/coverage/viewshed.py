"""Camera viewsheds: the field-of-view sector clipped by 2D building occlusion.

Every camera casts rays at a fixed angular step (``resolution`` degrees) across its
field of view. Building outlines are cut into edges; an STRtree over the footprints
finds the buildings within each camera's range, only edges that face the camera are
kept (from outside a closed outline the first hit is always on a front-facing edge),
and for each edge the rays inside the angle it subtends are intersected with it in
one numpy pass. The nearest hit per ray (``numpy.minimum.at``) ends the ray; the
viewshed is the polygon through the ray ends (and the camera itself for a sector).

Besides the uniform rays, rays are cast at the footprint corners in range (two rays
1e-4° either side of each silhouette corner, where the shadow edges start), so
building faces and shadow edges are exact; only the far arc of the range is a
polygon of ``resolution``-degree chords (area error 0.001 % at 0.5°). With
``corners=False`` only uniform rays are cast: near an occluding corner the polygon can
then miss or include a sliver up to ``range_m × resolution`` (radians) wide.

Robustness: touching, overlapping and nested footprints need no union because each
ray keeps the nearest hit of any edge, and rays are also cast where the outlines of two
overlapping footprints cross (a corner of their union's outline that is a vertex of
neither); rays through a shared vertex hit both edges (a small parameter tolerance). A camera **inside a footprint or within** ``snap_m``
**of an outline** is treated as mounted on that wall: it is moved 0.1 m outside the
nearest point of the outline (towards the most open side) and sees from there, so a
camera facing into its wall sees almost nothing; ``status`` says ``moved`` and
``offset_m`` by how much. If no free position exists within 0.1 m (e.g. a gap
between two buildings narrower than 0.2 m) the viewshed is empty and ``status`` is
``blocked``. A camera in a courtyard (a hole of a footprint) is outside the
footprint and sees the courtyard only. Occlusion is 2D: building heights and the
camera's mounting height are not used (a low building still blocks the view).

>>> import geopandas as gpd
>>> from shapely import Point, box
>>> cams = gpd.GeoDataFrame({"camera_id": ["c"], "heading": [90.0], "fov": [60.0], "range_m": [100.0]},
...                         geometry=[Point(0, 0)], crs=4547)
>>> wall = gpd.GeoDataFrame(geometry=[box(10, -100, 20, 100)], crs=4547)
>>> v = viewsheds(cams, wall)
>>> round(float(v.geometry.area.iloc[0]))  # triangle up to the wall: 10 m deep, 2*10*tan(30°) wide
58
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridlib.coverage.cameras import validate_cameras
from gridlib.crs import metric_crs_for
from gridlib.errors import InputError

__all__ = ["viewsheds", "sectors", "prepare_buildings"]

log = logging.getLogger(__name__)

_MOVE_M = 0.1  # how far outside the outline a wall-mounted camera is placed
_T_TOL = 1e-9  # edge parameter tolerance: rays through a shared vertex hit both edges
_MAX_RAY_PAIRS = 4_000_000  # ray-edge tests per numpy chunk (~200 MB of temporaries)
_MAX_EDGE_PAIRS = 1 << 17  # edge-edge tests per numpy chunk of the outline-crossing search (~20 MB of temporaries)
_CORNER_EPS = 1e-4  # degrees either side of a silhouette vertex (0.2 mm at 100 m)
_KEY_TOL = 1e-7  # degrees; ray keys are camera * 1000 + angle, exact to ~1e-8 for 10^5 cameras


def _metric(cameras: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    crs = metric_crs_for(cameras)
    return cameras.to_crs(crs) if cameras.crs != crs else cameras


def prepare_buildings(buildings: gpd.GeoDataFrame | gpd.GeoSeries | None, crs) -> np.ndarray:
    """Return the building footprints as a flat array of valid, oriented polygons in *crs*.

    Invalid footprints are repaired with ``make_valid`` (their polygonal parts are kept);
    non-polygon geometries are dropped. Exteriors are counter-clockwise and holes
    clockwise, so the interior is always on the left of an edge.

    >>> from shapely import box
    >>> import geopandas as gpd
    >>> len(prepare_buildings(gpd.GeoSeries([box(0, 0, 1, 1), None], crs=4547), 4547))
    1
    """
    if buildings is None or len(buildings) == 0:
        return np.empty(0, dtype=object)
    if buildings.crs is None:
        raise InputError("buildings have no CRS")
    geoms = buildings.to_crs(crs).geometry.values if buildings.crs != crs else buildings.geometry.values
    geoms = np.asarray(geoms, dtype=object)
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        geoms[bad] = shapely.make_valid(geoms[bad])
    parts = shapely.get_parts(shapely.get_parts(geoms))  # collections, then multipolygons
    parts = parts[shapely.get_type_id(parts) == 3]
    parts = parts[shapely.area(parts) > 0]
    return shapely.orient_polygons(parts)


def _edges(polys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Edges of all rings: (start xy, end xy, ring id, first edge index per polygon + total)."""
    rings, ring_poly = shapely.get_rings(polys, return_index=True)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    same = ring_of[1:] == ring_of[:-1]
    start, end = coords[:-1][same], coords[1:][same]
    edge_ring = ring_of[:-1][same]
    first = np.searchsorted(ring_poly[edge_ring], np.arange(len(polys) + 1))
    return start, end, edge_ring, first


def _relocate(xy: np.ndarray, polys: np.ndarray, tree: shapely.STRtree, snap_m: float
              ) -> tuple[np.ndarray, np.ndarray]:
    """Move cameras inside or on a footprint just outside it. Returns (new xy, status code)."""
    status = np.zeros(len(xy), dtype=np.int8)  # 0 ok, 1 moved, 2 blocked
    pts = shapely.points(xy)
    ci, _ = tree.query(pts, predicate="dwithin", distance=snap_m)
    prob = np.unique(ci)
    if len(prob) == 0:
        return xy, status
    # the footprints around these cameras, grown to whole blocks of touching footprints, so the
    # nearest outline point is on the outside of the block and not on a shared wall
    chosen = np.unique(tree.query(pts[prob], predicate="intersects")[1])
    chosen = np.union1d(chosen, tree.query(pts[prob], predicate="dwithin", distance=snap_m)[1])
    for _ in range(50):  # a block of n touching footprints needs at most n rounds; real ones need a few
        union = shapely.get_parts(shapely.union_all(polys[chosen]))
        grown = np.union1d(chosen, tree.query(union, predicate="intersects")[1])
        if len(grown) == len(chosen):
            break
        chosen = grown
    utree = shapely.STRtree(union)
    part = utree.query_nearest(pts[prob], return_distance=False)[1]
    anchor = shapely.get_point(shapely.shortest_line(pts[prob], shapely.boundary(union[part])), 1)
    axy = shapely.get_coordinates(anchor)
    ang = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    cand = (axy[:, None, :] + _MOVE_M * np.stack([np.cos(ang), np.sin(ang)], -1)[None]).reshape(-1, 2)
    cpts = shapely.points(cand)
    inside = np.zeros(len(cand), dtype=bool)
    inside[np.unique(tree.query(cpts, predicate="intersects")[0])] = True
    clearance = np.where(inside, -1.0, shapely.distance(cpts, np.repeat(union[part], len(ang))))
    clearance = clearance.reshape(len(prob), len(ang))
    best = np.argmax(clearance, axis=1)
    free = clearance[np.arange(len(prob)), best] > 0
    new = xy.copy()
    new[prob[free]] = cand.reshape(len(prob), len(ang), 2)[np.arange(len(prob)), best][free]
    status[prob] = np.where(free, 1, 2)
    return new, status


def _ranges(keys: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index ranges [i0, i1) of sorted *keys* within [lo, hi] (with a tiny tolerance)."""
    i0 = np.searchsorted(keys, lo - _KEY_TOL, side="left")
    i1 = np.searchsorted(keys, hi + _KEY_TOL, side="right")
    return i0, np.maximum(i1 - i0, 0)


def _range_crossings(p: np.ndarray, e: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where edges ``p + t e`` (0 < t < 1, relative to the camera) cross the circle of radius *r*: the
    edge of each crossing and its bearing (degrees clockwise from north).

    >>> _range_crossings(np.array([[-5.0, 3.0]]), np.array([[10.0, 0.0]]), np.array([5.0]))
    (array([0, 0]), array([-53.13010235,  53.13010235]))
    """
    a = np.einsum("ij,ij->i", e, e)
    b = np.einsum("ij,ij->i", p, e)
    c = np.einsum("ij,ij->i", p, p) - r * r
    disc = b * b - a * c
    ok = (disc > 0) & (a > 0)
    root = np.sqrt(np.where(ok, disc, 0.0))
    safe = np.where(a > 0, a, 1.0)
    t = np.concatenate([(-b - root) / safe, (-b + root) / safe])
    edge = np.tile(np.arange(len(p)), 2)
    keep = np.tile(ok, 2) & (t > 0) & (t < 1)
    edge, t = edge[keep], t[keep]
    x, y = p[edge, 0] + t * e[edge, 0], p[edge, 1] + t * e[edge, 1]
    return edge, np.degrees(np.arctan2(x, y))


def _edge_pair_blocks(a: np.ndarray, b: np.ndarray, first: np.ndarray,
                      max_pairs: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every edge of footprint ``a[k]`` with every edge of ``b[k]`` (*first*: :func:`_edges`' first edge per
    footprint), pair by pair, in blocks of at most *max_pairs* (default ``_MAX_EDGE_PAIRS``; two 2,000-vertex
    footprints make 4 million pairs: ~0.5 GB of temporaries at once).

    >>> first = np.array([0, 2, 5])  # footprint 0: edges 0-1, footprint 1: edges 2-4
    >>> [(ia.tolist(), ib.tolist()) for ia, ib in _edge_pair_blocks(np.array([0]), np.array([1]), first, 4)]
    [([0, 0, 0, 1], [2, 3, 4, 2]), ([1, 1], [3, 4])]
    """
    max_pairs = _MAX_EDGE_PAIRS if max_pairs is None else max_pairs
    na, nb = first[a + 1] - first[a], first[b + 1] - first[b]
    k = na * nb
    ends = np.cumsum(k)
    for lo in range(0, int(ends[-1]), max_pairs):
        flat = np.arange(lo, min(lo + max_pairs, int(ends[-1])))
        pair = np.searchsorted(ends, flat, side="right")
        local = flat - (ends[pair] - k[pair])
        yield first[a[pair]] + local // nb[pair], first[b[pair]] + local % nb[pair]


def _proper_crossings(ia: np.ndarray, ib: np.ndarray, e0: np.ndarray, e1: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where edge ``ia[k]`` properly crosses edge ``ib[k]`` (not at an end of either): the points, and their
    edges.

    >>> cross = _proper_crossings(np.array([0, 0]), np.array([1, 2]), np.array([[0.0, 0], [1, -1], [0, 1]]),
    ...                           np.array([[2.0, 0], [1, 1], [2, 1]]))
    >>> [c.tolist() for c in cross]  # edge 0 crosses edge 1 at (1, 0); edge 2 runs beside it
    [[[1.0, 0.0]], [0], [1]]
    """
    p, r, d, s_ = e0[ia], e1[ia] - e0[ia], e0[ib] - e0[ia], e1[ib] - e0[ib]
    den = r[:, 0] * s_[:, 1] - r[:, 1] * s_[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (d[:, 0] * s_[:, 1] - d[:, 1] * s_[:, 0]) / den
        u = (d[:, 0] * r[:, 1] - d[:, 1] * r[:, 0]) / den
    cross = (den != 0) & (t > 0) & (t < 1) & (u > 0) & (u < 1)
    return p[cross] + t[cross, None] * r[cross], ia[cross], ib[cross]


def _crossing_bearings(xy: np.ndarray, rng: np.ndarray, polys: np.ndarray, qc: np.ndarray, qb: np.ndarray,
                       edges: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the outlines of two overlapping footprints cross, within a camera's range: the camera of each such
    point, its bearing (degrees clockwise from north) and whether both crossing edges face the camera (else one
    does: a silhouette corner of the union; where neither does, the point is on the far side, not returned).
    *qc*, *qb*: the (camera, footprint) pairs in range; *edges*: the footprints' :func:`_edges`.

    Such a point is a corner of the outline the footprints' union has, but a vertex of neither footprint: without
    a ray at it, the chord between the rays either side cuts a sliver off the view (or adds one). Only proper
    crossings count (a vertex on the other outline is a vertex: rays are cast there already).

    >>> from shapely import box
    >>> polys = np.array([box(-1, 5, 1, 7), box(0, 6, 2, 8)])
    >>> xy = np.array([[3.0, 0.0], [-3.0, 0.0]])  # the outlines cross at (1, 6) and (0, 7)
    >>> cam, bearing, both = _crossing_bearings(xy, np.array([20.0, 20.0]), polys, np.array([0, 0, 1, 1]),
    ...                                         np.array([0, 1, 0, 1]), _edges(polys))
    >>> cam.tolist(), np.round(bearing, 3).tolist(), both.tolist()  # seen from (3, 0), (0, 7) is on the far side
    ([0, 1, 1], [-18.435, 33.69, 23.199], [True, False, False])
    """
    none = np.empty(0, dtype=np.int64), np.empty(0), np.empty(0, dtype=bool)
    near = np.unique(qb)
    a, b = shapely.STRtree(polys[near]).query(polys[near])  # footprints whose boxes overlap
    keep = a < b
    a, b = near[a[keep]], near[b[keep]]
    if not len(a):
        return none
    e0, e1, _, first = edges
    found = [_proper_crossings(ia, ib, e0, e1) for ia, ib in _edge_pair_blocks(a, b, first)]
    if not sum(len(pts) for pts, _, _ in found):
        return none
    pts, ia, ib = (np.concatenate(parts) for parts in zip(*found, strict=True))
    cams = np.unique(qc)
    ci, pi = shapely.STRtree(shapely.points(pts)).query(shapely.points(xy[cams]), predicate="dwithin",
                                                        distance=rng[cams])
    cam = cams[ci]

    def faces(edge: np.ndarray) -> np.ndarray:  # as in _cast: the camera strictly on the edge's right
        q, e = e0[edge] - xy[cam], e1[edge] - e0[edge]
        return (e[:, 0] * q[:, 1] - e[:, 1] * q[:, 0]) > 0

    front_a, front_b = faces(ia[pi]), faces(ib[pi])
    seen = front_a | front_b
    rel = pts[pi][seen] - xy[cam[seen]]
    return cam[seen], np.degrees(np.arctan2(rel[:, 0], rel[:, 1])), (front_a & front_b)[seen]


def _cast(xy: np.ndarray, start_deg: np.ndarray, step_deg: np.ndarray, nray: np.ndarray, fov: np.ndarray,
          rng: np.ndarray, polys: np.ndarray, tree: shapely.STRtree | None, active: np.ndarray, corners: bool
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cast all rays. Returns (camera of each ray, angle from the camera's start, distance), camera-major.

    Besides the uniform rays, with *corners* two rays pass just either side of every
    silhouette vertex (where a footprint's outline turns from facing the camera to facing
    away: the shadow edges start there) and one ray hits every corner between two faces
    the camera sees, and the same where two overlapping outlines cross (a corner of their
    union), so outlines and shadows come out exact; only the far arc stays a polygon of
    ``resolution``-degree chords.
    """
    n_cam = len(xy)
    dome = fov >= 360.0
    cam = np.repeat(np.arange(n_cam), nray)
    rel = (np.arange(len(cam)) - np.repeat(np.cumsum(nray) - nray, nray)) * step_deg[cam]
    if tree is None or len(polys) == 0 or not active.any():
        return cam, rel, rng[cam].astype(float)
    cam_idx = np.flatnonzero(active)
    qc, qb = tree.query(shapely.points(xy[cam_idx]), predicate="dwithin", distance=rng[cam_idx])
    if len(qc) == 0:
        return cam, rel, rng[cam].astype(float)
    qc = cam_idx[qc]
    e0, e1, edge_ring, first = _edges(polys)
    counts = first[qb + 1] - first[qb]
    pc = np.repeat(qc, counts)
    seg = np.repeat(first[qb] - np.cumsum(np.r_[0, counts[:-1]]), counts) + np.arange(counts.sum())
    p = e0[seg] - xy[pc]
    e = e1[seg] - e0[seg]
    # an edge faces the camera when the camera is strictly on its right (outside the footprint)
    front = (e[:, 0] * p[:, 1] - e[:, 1] * p[:, 0]) > 0
    if corners:
        # previous edge of the same ring for the same camera: a silhouette vertex starts an edge
        # whose facing differs from the previous one's
        n = len(seg)
        starts = np.flatnonzero(np.r_[True, (pc[1:] != pc[:-1]) | (edge_ring[seg][1:] != edge_ring[seg][:-1])])
        prev = np.arange(n) - 1
        prev[starts] = np.r_[starts[1:], n] - 1
        inrange = np.hypot(p[:, 0], p[:, 1]) < rng[pc]
        sil = (front != front[prev]) & inrange
        mid = front & front[prev] & inrange  # a corner between two visible faces
        vrel = np.mod(np.degrees(np.arctan2(p[:, 0], p[:, 1])) - start_deg[pc], 360.0)
        # a visible face that crosses the range circle: a ray where it crosses, or the chord from the
        # face's last hit to the arc would cut a sliver off the view (a face seen edge-on: centimetres wide)
        xc, xrel = _range_crossings(p[front], e[front], rng[pc[front]])
        xrel = np.mod(xrel - start_deg[pc[front]][xc], 360.0)
        # where the outlines of two overlapping footprints cross: a corner of the outline their union has
        # (like the footprints' own corners: one ray between two faces, two either side of a silhouette corner)
        kc, krel, kmid = _crossing_bearings(xy, rng, polys, qc, qb, (e0, e1, edge_ring, first))
        krel = np.mod(krel - start_deg[kc], 360.0)
        ksil = ~kmid
        vc = np.r_[pc[sil], pc[sil], pc[mid], pc[front][xc], kc[ksil], kc[ksil], kc[kmid]]
        vrel = np.r_[vrel[sil] - _CORNER_EPS, vrel[sil] + _CORNER_EPS, vrel[mid], xrel,
                     krel[ksil] - _CORNER_EPS, krel[ksil] + _CORNER_EPS, krel[kmid]]
        vrel = np.where(dome[vc], np.mod(vrel, 360.0), vrel)
        ok = dome[vc] | ((vrel > 0) & (vrel < fov[vc]))
        cam, rel = np.r_[cam, vc[ok]], np.r_[rel, vrel[ok]]
        order = np.lexsort((rel, cam))
        cam, rel = cam[order], rel[order]
    keys = cam * 1000.0 + rel  # rays sorted by camera, then angle; rel < 360
    dist = rng[cam].astype(float)

    elen2 = np.einsum("ij,ij->i", e, e)
    tt = np.clip(-np.einsum("ij,ij->i", p, e) / np.where(elen2 > 0, elen2, 1.0), 0.0, 1.0)
    near = np.hypot(p[:, 0] + tt * e[:, 0], p[:, 1] + tt * e[:, 1]) < rng[pc]
    keep = front & near
    pc, p, e = pc[keep], p[keep], e[keep]
    q = p + e
    # angular interval [lo, lo + width] of the edge seen from the camera (bearings, clockwise from north)
    bp = np.degrees(np.arctan2(p[:, 0], p[:, 1]))
    bq = np.degrees(np.arctan2(q[:, 0], q[:, 1]))
    width = np.mod(bq - bp, 360.0)
    flip = width > 180.0
    lo = np.where(flip, bq, bp)
    width = np.where(flip, 360.0 - width, width)
    u = np.mod(lo - start_deg[pc], 360.0)
    base = pc * 1000.0
    blocks = []
    for shift in (0.0, 360.0):  # the interval may wrap past the camera's start angle
        a = np.maximum(u - shift, 0.0)
        b = np.minimum(u + width - shift, 360.0)
        i0, cnt = _ranges(keys, base + a, base + b)
        ok = (b >= a) & (cnt > 0)
        blocks.append((np.flatnonzero(ok), i0[ok], cnt[ok]))
    pair = np.concatenate([blk[0] for blk in blocks])
    r0 = np.concatenate([blk[1] for blk in blocks])
    cnt = np.concatenate([blk[2] for blk in blocks])
    # process in chunks of about _MAX_RAY_PAIRS ray-edge tests
    csum = np.cumsum(cnt)
    bounds = np.searchsorted(csum, np.arange(_MAX_RAY_PAIRS, csum[-1] if len(csum) else 0, _MAX_RAY_PAIRS))
    for lo_i, hi_i in zip(np.r_[0, bounds], np.r_[bounds, len(pair)], strict=True):
        if hi_i <= lo_i:
            continue
        c = cnt[lo_i:hi_i]
        pr = np.repeat(pair[lo_i:hi_i], c)
        ray = np.repeat(r0[lo_i:hi_i], c) + (np.arange(c.sum()) - np.repeat(np.cumsum(c) - c, c))
        theta = np.radians(start_deg[cam[ray]] + rel[ray])
        dx, dy = np.sin(theta), np.cos(theta)
        px, py, ex, ey = p[pr, 0], p[pr, 1], e[pr, 0], e[pr, 1]
        den = dx * ey - dy * ex
        with np.errstate(divide="ignore", invalid="ignore"):
            s_ = (px * ey - py * ex) / den
            t = (px * dy - py * dx) / den
        hit = (np.abs(den) > 1e-12) & (t >= -_T_TOL) & (t <= 1 + _T_TOL) & (s_ > 0)
        np.minimum.at(dist, ray[hit], s_[hit])
    return cam, rel, dist


def viewsheds(
    cameras: gpd.GeoDataFrame,
    buildings: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    *,
    resolution: float = 0.5,
    snap_m: float = 0.05,
    corners: bool = True,
) -> gpd.GeoDataFrame:
    """Compute every camera's visible area (FOV sector minus what buildings hide) in one call.

    Parameters
    ----------
    cameras : GeoDataFrame
        Camera records (see :func:`gridlib.coverage.validate_cameras`; invalid records raise).
    buildings : GeoDataFrame or GeoSeries, optional
        Footprints acting as obstacles; ``None`` gives the plain field-of-view sectors.
    resolution : float
        Angle between rays in degrees (default 0.5).
    snap_m : float
        Cameras closer than this to an outline (or inside a footprint) count as wall-mounted
        and are moved just outside it (module docstring).
    corners : bool
        Also cast rays at the corners of the footprints in range (either side of silhouette
        corners), so building faces and shadow edges are exact rather than resolved to
        ``resolution`` (default).

    Returns
    -------
    GeoDataFrame
        One row per camera, in input order: ``camera_id``, ``status`` (``ok``/``moved``/``blocked``),
        ``offset_m`` (how far the camera was moved), ``area_m2`` and the viewshed polygon,
        in the metric CRS (``gridlib.crs.metric_crs_for(cameras)``).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> dome = gpd.GeoDataFrame({"camera_id": ["d"], "heading": [None], "fov": [360.0], "range_m": [10.0]},
    ...                         geometry=[Point(0, 0)], crs=4547)
    >>> round(float(viewsheds(dome).area_m2.iloc[0]), 1)  # pi * 10^2 = 314.16, less the chords
    314.2
    """
    if not resolution > 0:
        raise InputError(f"resolution must be > 0 degrees, got {resolution}")
    accepted, rejects = validate_cameras(cameras)
    if len(rejects):
        first = rejects.iloc[0]
        raise InputError(f"{len(rejects)} invalid camera(s), e.g. {first.get('camera_id')!r}: {first['reason']}; "
                         "use gridlib.coverage.validate_cameras to separate them")
    cams = _metric(accepted)
    crs = cams.crs
    xy = shapely.get_coordinates(cams.geometry.values)
    heading = cams["heading"].to_numpy(float)
    fov = cams["fov"].to_numpy(float)
    rng = cams["range_m"].to_numpy(float)
    dome = fov >= 360.0
    nray = np.where(dome, np.ceil(360.0 / resolution), np.ceil(fov / resolution) + 1).astype(np.int64)
    nray = np.maximum(nray, np.where(dome, 8, 2))
    step = np.where(dome, 360.0 / nray, fov / np.maximum(nray - 1, 1))
    start = np.where(dome, 0.0, heading - fov / 2.0)

    polys = prepare_buildings(buildings, crs)
    tree = shapely.STRtree(polys) if len(polys) else None
    status = np.zeros(len(xy), dtype=np.int8)
    pos = xy
    if tree is not None:
        pos, status = _relocate(xy, polys, tree, snap_m)
    cam, rel, dist = _cast(pos, start, step, nray, fov, rng, polys, tree, status != 2, corners)
    theta = np.radians(start[cam] + rel)
    ends = pos[cam] + dist[:, None] * np.stack([np.sin(theta), np.cos(theta)], -1)
    # a sector's ring goes camera -> ray ends (sorted by angle) -> camera; a dome's ring is the ray ends alone
    apex = np.flatnonzero(~dome)
    ring_xy = np.concatenate([ends, pos[apex]])
    ring_id = np.concatenate([cam, apex])
    order_key = np.concatenate([np.arange(len(cam)), np.full(len(apex), -1)])
    order = np.lexsort((order_key, ring_id))
    rings = shapely.linearrings(ring_xy[order], indices=ring_id[order])
    geoms = shapely.polygons(rings)
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        geoms[bad] = shapely.make_valid(geoms[bad])
    geoms[status == 2] = shapely.Polygon()
    labels = np.array(["ok", "moved", "blocked"])[status]
    log.info("viewsheds: %d cameras, %d rays, %d buildings; %d moved, %d blocked",
             len(xy), len(dist), len(polys), int((status == 1).sum()), int((status == 2).sum()))
    return gpd.GeoDataFrame(
        {
            "camera_id": cams["camera_id"].to_numpy(),
            "status": pd.array(labels, dtype="string"),
            "offset_m": np.hypot(*(pos - xy).T),
            "area_m2": shapely.area(geoms),
        },
        geometry=geoms, crs=crs, index=pd.RangeIndex(len(xy)),
    )


def sectors(cameras: gpd.GeoDataFrame, *, resolution: float = 0.5) -> gpd.GeoDataFrame:
    """Field-of-view sectors without occlusion (same as ``viewsheds(cameras, None)``).

    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> c = gpd.GeoDataFrame({"camera_id": [1], "heading": [0.0], "fov": [90.0], "range_m": [10.0]},
    ...                      geometry=[Point(0, 0)], crs=4547)
    >>> round(float(sectors(c).area_m2.iloc[0]), 1)  # quarter disc: 78.54
    78.5
    """
    return viewsheds(cameras, None, resolution=resolution)
