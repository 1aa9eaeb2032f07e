"""Road-aware generation of unit grids (万米单元网格) of about ``target_area`` m².

The algorithm, all on shapely 2 arrays:

1. **Parents.** The finest admin polygons given (communities, or streets, or
   districts), snapped to 1 mm and, if they overlap, made an exact coverage
   (:func:`clean_parents`). When communities are missing, each parent is cut into square
   placeholder streets (30 × 30 community tiles) and communities (tiles of
   about 900 grids) so that every grid still gets a 15-digit code; these carry
   codes ``9xx`` and ``placeholder = True`` (see :data:`PLACEHOLDER_FIRST`).
2. **Blocks.** Parent outlines, the centre-lines of the *bounding* roads
   (``split_by``: by default motorway … tertiary, residential and unclassified
   roads bound grids; service roads, alleys, living streets, footways, paths,
   tracks, steps and cycleways run inside one, see :data:`BOUNDING_ROAD_CLASSES`)
   and water outlines are noded together and polygonized; the faces are the blocks a supervisor can
   walk round. Faces smaller than ``min_block_area`` (junction islands, slivers
   between carriageways, small blocks of dense old quarters) join the smallest
   neighbour in the same parent (the one sharing the longest edge with
   ``split_by=None``).
3. **Split.** Each block of about 1.5 targets or more gets lattice lines laid
   along its oriented envelope, spaced so that cells are close to the target.
   All block outlines and lattice lines are noded at once and polygonized, so
   the pieces form an exact coverage (``shapely.coverage_is_valid`` is true):
   neighbours share edges vertex for vertex, with no snapping tolerance.
4. **Merge.** Pieces under ``0.5 × target`` join the smallest neighbour in
   the same block; pieces still under it then join the smallest neighbour in
   the same parent, across a road (``split_by=None``: the neighbour in the
   same block sharing the longest edge, and no merge across roads).
5. **Clearance.** Where a cut meets an outline a hair away from one of its
   vertices, grids that do not touch come within a millimetre of each other
   across a sliver of a third grid. :func:`separate` closes every such near
   miss: two grids either share a vertex or lie at least :data:`CLEARANCE`
   (2 mm) apart, so contiguity by shared vertices and contiguity by distance agree.
   Parent outlines never move or bend (a vertex near one moves onto it), so the
   grids still tile each parent exactly.
6. **Codes.** Per community, grids are numbered west→east in rows running
   north→south (STANDARDS.md §1.2): ``grid_code = community_code + 3-digit
   sequence``.

Everything is deterministic: the same input (in any row order) gives the same
grids and codes, byte for byte.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from gridlib.codes import GridCode
from gridlib.crs import metric_crs_for
from gridlib.errors import CodeError, CRSError, InputError
from gridlib.progress import step
from gridlib.types import ArrayLike, CRSLike, GeoFrame, GeometriesLike

__all__ = ["build", "polsby_popper", "node_coverage", "union_coverage", "bounding_roads", "near_misses", "separate",
           "GRID_COLUMNS", "PLACEHOLDER_FIRST", "BOUNDING_ROAD_CLASSES", "ROAD_CLASS_FIELDS", "CLEARANCE"]

log = logging.getLogger(__name__)

GRID_COLUMNS = [
    "grid_code", "community_code", "street_code", "district_code",
    "community_name", "street_name", "district_name", "area_m2", "placeholder",
]
#: First 3-digit code given to placeholder streets/communities. 900–999 lies outside the GB/T 10114
#: street ranges (001–599), so a placeholder can never pass for a real unit; it is also flagged
#: by ``placeholder = True``.
PLACEHOLDER_FIRST = 900
_PLACEHOLDER_SLOTS = 100
# Placeholder community tiles hold about this many grids (≤ 999 needed for a 3-digit sequence).
_GRIDS_PER_PLACEHOLDER_COMMUNITY = 900
# Coordinates snapped to this grid (metres) before any work, so the output is stable.
_PRECISION = 1e-3
_NODE_TOL = 1e-6
#: Grids that share no vertex lie at least this far apart (metres): see :func:`separate`.
CLEARANCE = 2e-3
# Holes between parent polygons smaller than this (m²) are digitising slivers and get filled.
_MAX_GAP_FILL = 10.0
#: Road classes that bound unit grids by default (OSM ``highway`` values; Tilezen ``kind_detail``
#: uses the same words). Everything else given — ``*_link`` ramps, ``service`` roads and alleys,
#: ``living_street``, ``pedestrian``, ``footway``, ``path``, ``track``, ``steps``, ``cycleway`` … —
#: runs inside a grid, as the 万米单元网格 practice bounds grids by streets and lets lanes run inside.
BOUNDING_ROAD_CLASSES: frozenset[str] = frozenset({
    "motorway", "trunk", "primary", "secondary", "tertiary", "residential", "unclassified", "road"})
#: Columns searched, in this order, for a road layer's class when ``split_by="auto"``.
ROAD_CLASS_FIELDS = ("highway", "kind_detail", "fclass", "road_class", "class")


def polsby_popper(geoms: GeometriesLike) -> np.ndarray:
    """Return the Polsby–Popper compactness 4πA/P² (1 for a disc, 0.785 for a square).

    >>> from shapely import box
    >>> polsby_popper([box(0, 0, 100, 100)]).round(3).tolist()
    [0.785]
    """
    g = np.asarray(getattr(geoms, "values", geoms), dtype=object)
    perimeter = shapely.length(g)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(perimeter > 0, 4.0 * np.pi * shapely.area(g) / perimeter**2, 0.0)


def build(
    parents: gpd.GeoDataFrame,
    roads: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    water: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    *,
    target_area: float = 10_000,
    seed: int = 0,
    crs: CRSLike | None = None,
    min_block_area: float | None = None,
    code_field: str = "code",
    name_field: str = "name",
    split_by: str | Iterable[str] | None = "auto",
    class_field: str | None = None,
) -> gpd.GeoDataFrame:
    """Generate unit grids that tile ``parents`` exactly, following roads and water.

    Parameters
    ----------
    parents : GeoDataFrame
        The finest admin polygons available, with a ``code`` column (6 digits for
        districts, 9 for streets, 12 for communities, all rows the same level) and
        a ``name`` column; optional ``street_name`` / ``district_name`` columns are
        carried into the grids.
    roads, water : GeoDataFrame or GeoSeries, optional
        Road centre-lines and water (lines or polygons); their lines cut blocks.
    target_area : float
        Grid area aimed at, in m² (default 10,000).
    seed : int
        0 lays each block's lattice flush with its oriented envelope; any other
        seed shifts every lattice by a seeded fraction of a cell (an alternative,
        equally valid layout). The same seed always gives the same grids.
    crs : optional
        Metric CRS to work in; default ``gl.crs.metric_crs_for(parents)``.
    min_block_area : float, optional
        Blocks smaller than this join a neighbour in the same parent (default
        ``0.5 × target_area``; ``0.25 ×`` with ``split_by=None``).
    code_field, name_field : str
        Column names of the parent code and name.
    split_by : "auto", iterable of str or None
        Which road classes bound grids. ``"auto"`` (default) keeps the roads whose
        class (column ``class_field``, else the first of :data:`ROAD_CLASS_FIELDS`
        present) is in :data:`BOUNDING_ROAD_CLASSES`; roads without a class column
        (a GeoSeries) all bound. An iterable of classes overrides the set. ``None``
        is the earlier method, kept so existing editions rebuild identically: every
        given road bounds grids, ``min_block_area`` defaults to ``0.25 × target_area``,
        small pieces merge only within their block and lattice cells are sized on
        the block's envelope.
    class_field : str, optional
        The roads' class column for ``split_by`` (default: found automatically).

    Returns
    -------
    GeoDataFrame
        One row per grid, sorted by ``grid_code``, in the metric CRS, with
        ``grid_code`` (15 digits), ``community_code``, ``street_code``,
        ``district_code``, the three names, ``area_m2``, ``placeholder`` (True
        when the street/community level was invented) and the geometry.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> parents = gpd.GeoDataFrame({"code": ["410105001003"], "name": ["demo"]},
    ...                            geometry=[box(0, 0, 400, 300)], crs="EPSG:4547")
    >>> grids = build(parents)
    >>> len(grids), grids.grid_code.iloc[0], round(grids.area_m2.sum())
    (12, '410105001003001', 120000)

    A footway does not bound a grid, a residential street does:

    >>> from shapely import LineString
    >>> roads = gpd.GeoDataFrame({"highway": ["footway", "residential"]}, crs="EPSG:4547",
    ...     geometry=[LineString([(0, 150), (400, 150)]), LineString([(200, 0), (200, 300)])])
    >>> len(build(parents, roads)), len(build(parents, roads, split_by=None))
    (12, 16)
    """
    if target_area <= 0:
        raise InputError(f"target_area must be positive, got {target_area}")
    legacy = split_by is None
    if min_block_area is None:
        min_block_area = (0.25 if legacy else 0.5) * target_area
    min_block_area = float(min_block_area)
    roads = bounding_roads(roads, split_by, class_field)
    with step("grid build: parents"):
        comm, metric = _prepare_parents(parents, code_field, name_field, crs, target_area)
    with step("grid build: blocks"):
        block_geom, block_parent = _blocks(comm.geometry.values, roads, water, metric, min_block_area,
                                           smallest=not legacy)
    with step("grid build: split"):
        phase = (0.0, 0.0) if seed == 0 else tuple(np.random.default_rng(seed).uniform(0.0, 1.0, 2))
        pieces, piece_block = _split(block_geom, target_area, phase, fit_area=not legacy)
    with step("grid build: merge"):
        pieces, piece_block = _merge_small(pieces, piece_block, 0.5 * target_area, smallest=not legacy)
        piece_parent = block_parent[piece_block]
        if not legacy:  # still small: join a neighbour in the same parent, across a road
            pieces, piece_parent = _merge_small(pieces, piece_parent, 0.5 * target_area, smallest=True)
    with step("grid build: clearance"):
        pieces, piece_parent = separate(pieces, piece_parent, keep=comm.geometry.values)
    with step("grid build: codes"):
        out = _assign_codes(pieces, piece_parent, comm, target_area, metric)
    log.info("built %d grids in %d parents", len(out), len(comm))
    return out


# ----------------------------------------------------------------------------- parents

def _prepare_parents(
    parents: gpd.GeoDataFrame, code_field: str, name_field: str, crs: Any, target_area: float
) -> tuple[gpd.GeoDataFrame, Any]:
    if not isinstance(parents, gpd.GeoDataFrame) or len(parents) == 0:
        raise InputError("parents must be a non-empty GeoDataFrame of admin polygons")
    for col in (code_field, name_field):
        if col not in parents.columns:
            raise InputError(f"parents lack the column {col!r} (have {list(parents.columns)})")
    if parents.crs is None:
        raise CRSError("parents have no CRS; set one (for example parents.set_crs('EPSG:4326'))")
    metric = metric_crs_for(parents) if crs is None else crs
    p = parents.to_crs(metric)
    codes = p[code_field].astype("string").str.strip()
    bad = codes.isna() | ~codes.str.fullmatch(r"\d{6}|\d{9}|\d{12}").fillna(False)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise CodeError(f"parent row {i}: code {p[code_field].iloc[i]!r} is not a 6-, 9- or 12-digit admin code")
    lengths = codes.str.len().unique()
    if len(lengths) != 1:
        raise CodeError(f"parents mix code levels (lengths {sorted(lengths.tolist())}); give one level only")
    if codes.duplicated().any():
        dup = codes[codes.duplicated()].iloc[0]
        raise CodeError(f"parent code {dup} appears more than once; dissolve it into one polygon first")
    geom = clean_parents(p.geometry.values, codes.to_numpy(dtype=object))
    kinds = shapely.get_type_id(geom)
    if not np.isin(kinds, [3, 6]).all():
        i = int(np.flatnonzero(~np.isin(kinds, [3, 6]))[0])
        raise InputError(f"parent {codes.iloc[i]}: geometry is not a polygon")
    def text(col: str) -> np.ndarray:
        if col not in p:
            return np.full(len(p), "", dtype=object)
        return p[col].astype("string").fillna("").to_numpy(dtype=object)

    base = gpd.GeoDataFrame(
        {"code": codes.to_numpy(dtype=object), "name": text(name_field),
         "street_name": text("street_name"), "district_name": text("district_name")},
        geometry=geom, crs=metric,
    ).sort_values("code", kind="stable").reset_index(drop=True)
    level = int(lengths[0])
    if level == 12:
        comm = base.rename(columns={"code": "community_code", "name": "community_name"})
        comm["street_code"] = comm["community_code"].str[:9]
        comm["district_code"] = comm["community_code"].str[:6]
        comm["placeholder"] = False
        return comm, metric
    base = base.drop(columns=["street_name"] if level == 9 else ["street_name", "district_name"])
    side = math.sqrt(_GRIDS_PER_PLACEHOLDER_COMMUNITY * target_area)
    if level == 6:
        streets = _tile(base, side * 10.0, "street")
        streets = streets.rename(columns={"code": "street_code", "name": "street_name",
                                          "parent_code": "district_code", "parent_name": "district_name"})
    else:
        streets = base.rename(columns={"code": "street_code", "name": "street_name"})
        streets["district_code"] = streets["street_code"].str[:6]
    st = gpd.GeoDataFrame({"code": streets["street_code"], "name": streets["street_name"]},
                          geometry=streets.geometry.values, crs=metric)
    comm = _tile(st, side, "community").rename(columns={
        "code": "community_code", "name": "community_name", "parent_code": "street_code", "parent_name": "street_name"})
    extra = streets.set_index("street_code")[["district_code", "district_name"]]
    comm = comm.join(extra, on="street_code")
    comm["placeholder"] = True
    log.info("parents are level %d: made %d placeholder communities of side %.0f m", level, len(comm), side)
    return comm, metric


def clean_parents(geoms: GeometriesLike, codes: ArrayLike) -> np.ndarray:
    """Snap parent polygons to 1 mm and make them an exact coverage; overlaps go to the lower code.

    Admin polygons digitised or converted separately often overlap or leave
    slivers between them. Grids must nest in exactly one parent and share its
    edges exactly, so when the parents are not a valid coverage their outlines
    are noded together and polygonized; each face goes to the parent with the
    lowest code among those containing it; slivers between parents (under
    10 m²) join the parent they share most edge with; larger holes stay
    uncovered. The repair is logged.

    >>> from shapely import box
    >>> out = clean_parents([box(0, 0, 10, 10), box(9, 0, 20, 10)], ["410105001002", "410105001001"])
    >>> [float(a) for a in shapely.area(out)]
    [90.0, 110.0]
    """
    g = shapely.set_precision(shapely.make_valid(np.asarray(geoms, dtype=object)), _PRECISION)
    if len(g) < 2 or shapely.coverage_is_valid(g):
        return g
    codes = np.asarray(codes, dtype=object)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.union_all(shapely.boundary(g)))))
    fi, pi = shapely.STRtree(g).query(shapely.point_on_surface(faces), predicate="within")
    order = np.lexsort((codes[pi], fi))
    fi, pi = fi[order], pi[order]
    first = np.r_[True, fi[1:] != fi[:-1]]
    n_owners = np.bincount(fi, minlength=len(faces))
    overlap = float(shapely.area(faces[n_owners > 1]).sum())
    owner_face, owner = fi[first], pi[first]
    # slivers between parents (digitising gaps) join the parent they share most edge with
    face_owner = np.full(len(faces), -1)
    face_owner[owner_face] = owner
    gap = np.flatnonzero((face_owner < 0) & (shapely.area(faces) < _MAX_GAP_FILL))
    filled = 0.0
    if len(gap):
        gi, nj = shapely.STRtree(faces).query(faces[gap], predicate="intersects")
        a, b = gap[gi], nj
        keep = face_owner[b] >= 0
        a, b = a[keep], b[keep]
        shared = shapely.length(shapely.intersection(shapely.boundary(faces[a]), shapely.boundary(faces[b])))
        order = np.lexsort((codes[face_owner[b]], -shared, a))
        a, b, shared = a[order], b[order], shared[order]
        best = np.r_[True, a[1:] != a[:-1]] & (shared > 0)
        face_owner[a[best]] = face_owner[b[best]]
        filled = float(shapely.area(faces[a[best]]).sum())
        owner_face = np.flatnonzero(face_owner >= 0)
        owner = face_owner[owner_face]
    out = g.copy()
    for i in np.unique(owner):  # one union per parent unit
        out[i] = union_coverage(faces[owner_face[owner == i]])
    log.warning("parents are not an exact coverage: %.3f m² of overlap given to the lower codes, "
                "%.3f m² of slivers between parents filled, %.3f m² of larger holes left uncovered", overlap,
                filled, float(shapely.area(faces[face_owner < 0]).sum()))
    return out


def _tile(parents: gpd.GeoDataFrame, side: float, what: str) -> gpd.GeoDataFrame:
    """Cut each parent into square tiles on a global lattice, coded 900.. west→east, north→south."""
    geoms = parents.geometry.values
    b = shapely.bounds(geoms)
    i0 = np.floor(b[:, 0] / side).astype(np.int64)
    i1 = np.ceil(b[:, 2] / side).astype(np.int64)
    j0 = np.floor(b[:, 1] / side).astype(np.int64)
    j1 = np.ceil(b[:, 3] / side).astype(np.int64)
    nx, ny = np.maximum(i1 - i0, 1), np.maximum(j1 - j0, 1)
    count = nx * ny
    owner = np.repeat(np.arange(len(geoms)), count)
    local = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    row = local // nx[owner]  # row 0 is the northernmost
    col = local % nx[owner]
    ix = i0[owner] + col
    jy = j1[owner] - 1 - row
    tiles = shapely.box(ix * side, jy * side, (ix + 1) * side, (jy + 1) * side)
    geom, uniq = _polygonal(shapely.intersection(tiles, geoms[owner]))
    own = owner[uniq]
    starts = np.r_[0, np.flatnonzero(np.diff(own)) + 1]
    seq = np.arange(len(uniq)) - np.repeat(starts, np.diff(np.r_[starts, len(uniq)]))
    if len(seq) and seq.max() >= _PLACEHOLDER_SLOTS:
        worst = parents["code"].iloc[int(own[np.argmax(seq)])]
        raise CodeError(f"parent {worst} needs more than {_PLACEHOLDER_SLOTS} placeholder {what} codes; "
                        "give finer parents (streets or communities)")
    pcode = parents["code"].to_numpy(dtype=object)[own]
    pname = parents["name"].to_numpy(dtype=object)[own]
    code = np.array([f"{c}{PLACEHOLDER_FIRST + s:03d}" for c, s in zip(pcode, seq, strict=True)], dtype=object)
    name = np.array([f"{n}·{what}{PLACEHOLDER_FIRST + s}" for n, s in zip(pname, seq, strict=True)], dtype=object)
    return gpd.GeoDataFrame({"code": code, "name": name, "parent_code": pcode, "parent_name": pname},
                            geometry=geom, crs=parents.crs)


def _polygonal(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep the polygon parts of each geometry; return them and the indices of the non-empty ones."""
    parts, idx = shapely.get_parts(geoms, return_index=True)
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    parts, idx = parts[keep], idx[keep]
    uniq, inv, cnt = np.unique(idx, return_inverse=True, return_counts=True)
    if len(parts) == 0:
        return parts, uniq
    multi = shapely.multipolygons(parts, indices=inv)
    first = np.unique(inv, return_index=True)[1]
    return np.where(cnt == 1, parts[first], multi), uniq


# ----------------------------------------------------------------------------- blocks

def bounding_roads(roads: GeoFrame | None, split_by: str | Iterable[str] | None = "auto",
                   class_field: str | None = None) -> GeoFrame | None:
    """Keep the roads whose class bounds unit grids (see ``build``'s ``split_by``).

    >>> from shapely import LineString
    >>> roads = gpd.GeoDataFrame({"highway": ["primary", "service", "footway", "residential"]},
    ...     geometry=[LineString([(0, i), (1, i)]) for i in range(4)], crs="EPSG:4547")
    >>> bounding_roads(roads)["highway"].tolist()
    ['primary', 'residential']
    >>> bounding_roads(roads, ["service"])["highway"].tolist()
    ['service']
    """
    if roads is None or split_by is None or not isinstance(roads, gpd.GeoDataFrame):
        return roads
    if isinstance(split_by, str):
        if split_by != "auto":
            raise InputError(f"split_by must be 'auto', None or an iterable of road classes, got {split_by!r}")
        classes = BOUNDING_ROAD_CLASSES
    else:
        classes = frozenset(str(c) for c in split_by)
    field = class_field
    if field is None:
        field = next((f for f in ROAD_CLASS_FIELDS if f in roads.columns), None)
        if field is None:
            if split_by != "auto":
                raise InputError(f"split_by names road classes but the roads have none of the class columns "
                                 f"{list(ROAD_CLASS_FIELDS)}; give class_field")
            return roads
    elif field not in roads.columns:
        raise InputError(f"roads lack the class column {field!r} (have {list(roads.columns)})")
    keep = roads[field].astype("string").isin(classes).fillna(False).to_numpy(dtype=bool)
    log.info("%d of %d roads bound grids (%s in %s)", int(keep.sum()), len(roads), field, sorted(classes))
    return roads[keep]


def _lines_of(data: Any, metric: Any) -> np.ndarray:
    if data is None:
        return np.array([], dtype=object)
    if isinstance(data, gpd.GeoDataFrame):
        data = data.geometry
    if not isinstance(data, gpd.GeoSeries):
        raise InputError("roads and water must be a GeoDataFrame or GeoSeries")
    if data.crs is None:
        raise CRSError("roads/water have no CRS; set one before building grids")
    g = shapely.set_precision(data.to_crs(metric).values, _PRECISION)
    g = g[~shapely.is_empty(g) & ~shapely.is_missing(g)]
    polys = np.isin(shapely.get_type_id(g), [3, 6])
    g = np.where(polys, shapely.boundary(shapely.make_valid(g)) if len(g) else g, g)
    parts = shapely.get_parts(g)
    parts = parts[np.isin(shapely.get_type_id(parts), [1, 2])]
    # sort so that the result does not depend on the input row order
    order = np.argsort(shapely.to_wkb(shapely.normalize(parts)))
    return parts[order]


def _faces(outlines: np.ndarray, lines: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Node polygon outlines with cut lines, polygonize, and give each face the polygon it lies in.

    One noding for everything makes the faces an exact coverage: neighbours share
    their edges vertex for vertex, with no snapping tolerance involved.
    """
    net = shapely.union_all(np.concatenate([shapely.boundary(outlines), lines]))
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(net)))
    faces = faces[shapely.area(faces) > 0]
    fi, oi = shapely.STRtree(outlines).query(shapely.point_on_surface(faces), predicate="within")
    order = np.argsort(fi, kind="stable")
    return faces[fi[order]], owners[oi[order]]


def _blocks(parents: np.ndarray, roads: Any, water: Any, metric: Any,
            min_block_area: float, smallest: bool = False) -> tuple[np.ndarray, np.ndarray]:
    lines = np.concatenate([_lines_of(roads, metric), _lines_of(water, metric)])
    if len(lines) == 0:
        geoms, idx = shapely.get_parts(parents, return_index=True)
        return geoms, idx
    lines = shapely.clip_by_rect(lines, *shapely.total_bounds(parents))
    lines = lines[~shapely.is_empty(lines)]
    faces, owner = _faces(parents, lines, np.arange(len(parents)))
    return _merge_small(faces, owner, min_block_area, smallest=smallest)


# ----------------------------------------------------------------------------- split

def _split(blocks: np.ndarray, target: float, phase: tuple[float, float],
           fit_area: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Cut blocks by lattice lines along their oriented envelopes; return pieces and their block.

    All block outlines and lattice lines are noded together and polygonized, so
    the pieces share their edges exactly.
    """
    area = shapely.area(blocks)
    env = shapely.oriented_envelope(blocks)
    ok = (shapely.get_type_id(env) == 3) & (shapely.get_num_coordinates(env) == 5)
    # degenerate envelopes (of zero-width blocks) fall back to the bounding box
    ring = np.empty((len(env), 5, 2))
    ring[ok] = shapely.get_coordinates(shapely.get_exterior_ring(env[ok])).reshape(-1, 5, 2)
    if (~ok).any():
        ring[~ok] = np.stack([_ring_or_bbox(g) for g in env[~ok]])
    origin = ring[:, 0]
    e1, e2 = ring[:, 1] - origin, ring[:, 3] - origin
    len1, len2 = np.hypot(*e1.T), np.hypot(*e2.T)
    swap = len2 > len1  # e1 is the long axis
    e1, e2 = np.where(swap[:, None], e2, e1), np.where(swap[:, None], e1, e2)
    W, H = np.maximum(len1, len2), np.minimum(len1, len2)
    u = e1 / np.where(W > 0, W, 1.0)[:, None]
    v = e2 / np.where(H > 0, H, 1.0)[:, None]
    # cells sized so that the block (not its envelope) holds about area/target of them: lattice
    # cells clipped by an irregular block outline would otherwise come out below the target
    fill = np.clip(W * H / np.maximum(area, 1e-9), 1.0, 1.5) if fit_area else np.ones(len(blocks))
    cell = target * np.sqrt(fill)
    side = np.sqrt(cell)
    ny = np.maximum(np.floor(H / side + 0.5), 1).astype(np.int64)
    ch = H / ny
    nx = np.maximum(np.floor(W * ch / cell + 0.5), 1).astype(np.int64)
    cw = W / nx
    split = (area >= 1.5 * target) & (nx * ny > 1)
    fx, fy = phase
    # lattice lines across u (at a = k·cw) and across v (at b = k·ch), 1 m beyond the envelope
    lines, owners = [], []
    for shift, n, step_len, along, across, length in ((fx, nx, cw, u, v, H), (fy, ny, ch, v, u, W)):
        count = np.where(split, n - 1 + (shift > 0), 0)
        owner = np.repeat(np.arange(len(blocks)), count)
        k = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count) + 1 - shift
        pos = origin[owner] + (k * step_len[owner])[:, None] * along[owner]
        a = pos - across[owner]
        b = pos + (length[owner] + 1.0)[:, None] * across[owner]
        lines.append(shapely.linestrings(np.stack([a, b], axis=1)) if len(owner) else np.array([], dtype=object))
        owners.append(owner)
    lattice = np.concatenate(lines)
    lowner = np.concatenate(owners)
    parts = shapely.get_parts(shapely.intersection(lattice, blocks[lowner]))
    parts = parts[shapely.get_type_id(parts) == 1]
    # lengthen every cut by 1 mm at both ends so that it crosses the block outline for sure
    # (its clipped end may fall a hair short); the overhang is a dangle that polygonize drops
    ends = _end_points(parts)
    d = ends[:, 1] - ends[:, 0]
    d /= np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-12)[:, None]
    ends = np.stack([ends[:, 0] - _PRECISION * d, ends[:, 1] + _PRECISION * d], axis=1)
    cuts = shapely.linestrings(ends) if len(ends) else np.array([], dtype=object)
    return _faces(blocks, cuts, np.arange(len(blocks)))


def _end_points(parts: np.ndarray) -> np.ndarray:
    coords, idx = shapely.get_coordinates(parts, return_index=True)
    if len(coords) == 0:
        return np.zeros((0, 2, 2))
    first = np.r_[True, idx[1:] != idx[:-1]]
    last = np.r_[idx[1:] != idx[:-1], True]
    return np.stack([coords[first], coords[last]], axis=1)


def _ring_or_bbox(geom: Any) -> np.ndarray:
    x0, y0, x1, y1 = shapely.bounds(geom)
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=np.float64)


# ----------------------------------------------------------------------------- coverage helpers

def node_coverage(geoms: np.ndarray, tol: float = _NODE_TOL) -> np.ndarray:
    """Insert every vertex that lies on a neighbour's edge into that edge.

    Polygons edited independently (a grid split in two) share edges that match
    only up to vertices (T-junctions); after noding they match exactly, which
    makes them a valid coverage for ``shapely.coverage_is_valid`` and
    ``coverage_union``. Only points within ``tol`` (m) of an edge are inserted.

    >>> from shapely import box, coverage_is_valid
    >>> a, b, c = box(0, 0, 1, 2), box(1, 0, 2, 1), box(1, 1, 2, 2)
    >>> bool(coverage_is_valid([a, b, c])), bool(coverage_is_valid(node_coverage(np.array([a, b, c]))))
    (False, True)
    """
    geoms = np.asarray(geoms, dtype=object)
    if len(geoms) < 2:
        return geoms
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    pts = shapely.points(coords)
    tree = shapely.STRtree(geoms)
    pi, gi = tree.query(pts, predicate="dwithin", distance=tol)
    keep = owner[pi] != gi
    pi, gi = pi[keep], gi[keep]
    if len(pi) == 0:
        return geoms
    # keep only points that are not already vertices of the receiving polygon
    key = pd.DataFrame({"g": gi, "x": coords[pi, 0], "y": coords[pi, 1]})
    own = pd.DataFrame({"g": owner, "x": coords[:, 0], "y": coords[:, 1], "own": True}).drop_duplicates()
    key = key.drop_duplicates().merge(own, on=["g", "x", "y"], how="left")
    key = key[key["own"].isna()].sort_values(["g", "x", "y"], kind="stable")
    if key.empty:
        return geoms
    g = key["g"].to_numpy()
    ug, inv = np.unique(g, return_inverse=True)
    mp = shapely.multipoints(shapely.points(key[["x", "y"]].to_numpy()), indices=inv)
    out = geoms.copy()
    snapped = shapely.snap(geoms[ug], mp, tol)
    ok = shapely.is_valid(snapped)
    out[ug[ok]] = snapped[ok]
    if not ok.all():
        log.warning("noding left %d polygons unchanged (snapping would make them invalid)", int((~ok).sum()))
    return out


def union_coverage(geoms: GeometriesLike) -> shapely.Geometry:
    """Union polygons with the fast coverage algorithm, falling back to a full union.

    ``shapely.coverage_union_all`` is exact and fast for a valid coverage but
    refuses (or misbehaves on) overlapping or badly noded polygons.

    >>> from shapely import box
    >>> union_coverage([box(0, 0, 1, 1), box(1, 0, 2, 1)]).area
    2.0
    """
    g = np.asarray(geoms, dtype=object)
    try:
        u = shapely.coverage_union_all(g)
        if shapely.is_valid(u) and abs(shapely.area(u) - shapely.area(g).sum()) <= 1e-9 * max(shapely.area(u), 1.0):
            return u
    except shapely.errors.GEOSException:
        pass
    return shapely.union_all(g)


def _merge_small(geoms: np.ndarray, group: np.ndarray, min_area: float, max_passes: int = 4,
                 smallest: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Merge polygons under ``min_area`` into the same-group neighbour sharing the longest edge.

    With ``smallest``, into the smallest same-group neighbour instead (then the longest edge):
    small blocks pair up into grids near the target rather than swelling a large neighbour.
    """
    geoms = np.asarray(geoms, dtype=object)
    group = np.asarray(group)
    for _ in range(max_passes):
        area = shapely.area(geoms)
        small = np.flatnonzero(area < min_area)
        if len(small) == 0 or len(geoms) < 2:
            break
        tree = shapely.STRtree(geoms)
        si, nb = tree.query(geoms[small], predicate="intersects")
        a = small[si]
        keep = (a != nb) & (group[a] == group[nb])
        a, nb = a[keep], nb[keep]
        if len(a) == 0:
            break
        shared = shapely.length(shapely.intersection(shapely.boundary(geoms[a]), shapely.boundary(geoms[nb])))
        ok = shared > 0
        a, nb, shared = a[ok], nb[ok], shared[ok]
        if len(a) == 0:
            break
        # best neighbour: longest shared edge, then the larger, then the lower index
        # (smallest: the smaller neighbour, then the longest shared edge, then the lower index)
        if smallest:  # among the neighbours sharing at least half the longest edge: no snakes
            most = np.zeros(len(geoms))
            np.maximum.at(most, a, shared)
            wide = shared >= 0.5 * most[a]
            order = np.lexsort((nb, -shared, area[nb], ~wide, a))
        else:
            order = np.lexsort((nb, -area[nb], -shared, a))
        a, nb = a[order], nb[order]
        first = np.r_[True, a[1:] != a[:-1]]
        a, nb = a[first], nb[first]
        n = len(geoms)
        graph = sparse.coo_matrix((np.ones(len(a)), (a, nb)), shape=(n, n))
        _, label = connected_components(graph, directed=False)
        geoms, group = _union_groups(geoms, group, label)
    return geoms, group


def _union_groups(geoms: np.ndarray, group: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    counts = np.bincount(label)
    multi = counts[label] > 1
    single_idx = np.flatnonzero(~multi)
    m_idx = np.flatnonzero(multi)
    m_idx = m_idx[np.argsort(label[m_idx], kind="stable")]
    bounds = np.flatnonzero(np.r_[True, label[m_idx][1:] != label[m_idx][:-1], True])
    merged, mgroup = [], []
    for s, e in zip(bounds[:-1], bounds[1:], strict=True):  # one union per merge group (the small pieces only)
        members = m_idx[s:e]
        merged.append(union_coverage(geoms[members]))
        mgroup.append(group[members[0]])
    # keep a stable order: survivors first in their original order, merged groups after
    out = np.concatenate([geoms[single_idx], np.array(merged, dtype=object)])
    out_group = np.concatenate([group[single_idx], np.array(mgroup, dtype=group.dtype)])
    return out, out_group


# ----------------------------------------------------------------------------- clearance

def near_misses(geoms: GeometriesLike, tol: float = CLEARANCE) -> tuple[np.ndarray, np.ndarray]:
    """Find vertices lying within ``tol`` of a polygon (or line) of which they are not a vertex.

    In a coverage whose neighbours share edges vertex for vertex, such a vertex is
    a near miss: two polygons come closer than ``tol`` without touching (a sliver of
    a third one between them), or one touches another's edge without a shared
    vertex (a T-junction). Returns the pairs (index of the polygon owning the vertex,
    index of the polygon it comes near), each pair once, sorted.

    >>> from shapely import box
    >>> a, b = box(0, 0, 1, 1), box(1.0005, 0, 2, 1)
    >>> near_misses([a, b])[0].tolist(), near_misses([box(0, 0, 1, 1), box(1, 0, 2, 1)])[0].tolist()
    ([0, 1], [])
    """
    g = np.asarray(getattr(geoms, "values", geoms), dtype=object)
    coords, owner = shapely.get_coordinates(g, return_index=True)
    if len(coords) == 0:
        return np.array([], dtype=np.int64), np.array([], dtype=np.int64)
    uc, vid = np.unique(coords, axis=0, return_inverse=True)
    vid = vid.ravel().astype(np.int64)
    nv = len(uc)
    incident = np.unique(owner.astype(np.int64) * nv + vid)
    pi, gi = shapely.STRtree(g).query(shapely.points(uc), predicate="dwithin", distance=tol)
    bad = ~np.isin(gi.astype(np.int64) * nv + pi, incident)
    pi, gi = pi[bad], gi[bad]
    # the polygons owning each offending vertex
    key = pd.DataFrame({"v": vid, "o": owner}).drop_duplicates()
    pairs = pd.DataFrame({"v": pi, "near": gi}).merge(key, on="v")
    pairs = pairs[pairs["o"] != pairs["near"]]
    out = np.unique(pairs[["o", "near"]].to_numpy(dtype=np.int64), axis=0) if len(pairs) else np.zeros((0, 2), int)
    return out[:, 0], out[:, 1]


def separate(pieces: GeometriesLike, group: ArrayLike, keep: GeometriesLike | None = None, tol: float = CLEARANCE,
             max_passes: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Close the near misses of a polygon coverage: afterwards polygons share a vertex or lie ≥ ``tol`` apart.

    Where a road or lattice cut meets an outline a hair (under ``tol``) away from
    one of its vertices, or two nodes fall a hair apart, the polygons on either side
    come within ``tol`` of each other across a sliver or spike of a third one without
    touching, so contiguity by shared vertices and contiguity by distance disagree.
    Here vertices closer than ``tol`` merge into one, a vertex closer than ``tol`` to
    an edge is inserted into that edge, the linework is noded and polygonized again
    and every face goes back to the polygon it lies in. Nothing moves by more than
    ``tol``; the polygons stay an exact coverage; a coverage without near misses is
    returned unchanged.

    The outlines of ``keep`` (the parents) never move or bend, so the polygons still
    tile each parent exactly: a vertex of ``keep`` stays where it is, a vertex on a
    ``keep`` outline moves only along it, and a vertex near an outline edge moves
    onto that edge (its nearest point, or the edge's end vertex if that is within
    ``tol``) instead of bending the edge. Near misses between two ``keep`` outlines
    themselves are left as given.

    Returns the polygons and their ``group`` values (polygons that vanish — only
    slivers narrower than ``tol`` can — are dropped with theirs).

    A sliver ``c`` 1 mm wide at its top keeps ``b`` 1 mm away from ``a`` there:

    >>> from shapely import box, Polygon
    >>> a = box(0, 0, 10, 10)
    >>> b = Polygon([(10, 0), (20, 0), (20, 10), (10.001, 10)])
    >>> c = Polygon([(10, 0), (10.001, 10), (10, 10)])
    >>> d = Polygon([(0, 10), (10, 10), (10.001, 10), (20, 10), (20, 20), (0, 20)])
    >>> len(near_misses([a, b, c, d])[0])  # vertices of a, b, c, d closer than 2 mm to a polygon lacking them
    6
    >>> out, grp = separate([a, b, c, d], np.arange(4))
    >>> len(near_misses(out)[0]), grp.tolist(), round(float(shapely.area(out).sum()), 6)
    (0, [0, 1, 3], 400.0)

    With the parents ``box(0, 0, 20, 10)`` (holding ``a``, ``b``, ``c``) and ``d`` given as
    ``keep``, their border stays put:

    >>> out, grp = separate([a, b, c, d], np.array([0, 0, 0, 1]), keep=[box(0, 0, 20, 10), box(0, 10, 20, 20)])
    >>> len(near_misses(out)[0]), grp.tolist(), bool(shapely.equals(shapely.union_all(out[grp == 0]), box(0, 0, 20, 10)))
    (0, [0, 0, 1], True)
    """
    geoms = np.asarray(getattr(pieces, "values", pieces), dtype=object)
    group = np.asarray(group)
    keep_geoms = np.asarray(keep, dtype=object) if keep is not None else np.zeros(0, dtype=object)
    border = _Border(keep_geoms)
    for _ in range(max_passes):
        if len(near_misses(geoms, tol)[0]) == 0:
            return geoms, group
        edges = shapely.get_parts(shapely.union_all(shapely.boundary(geoms)))
        edges = _insert_near_vertices(_merge_close_vertices(edges, border, tol), border, tol)
        net = shapely.get_parts(shapely.union_all(edges))
        faces = shapely.get_parts(shapely.polygonize(net))
        faces = faces[shapely.area(faces) > 0]
        face, owner = _owner_of_faces(faces, geoms)
        n_before = len(geoms)
        geoms, group = _regroup(faces[face], owner, geoms, group)
        log.info("clearance: near misses closed, %d polygons -> %d", n_before, len(geoms))
    left = len(near_misses(geoms, tol)[0])
    if left:
        log.warning("clearance: %d near misses (polygons closer than %g m without a shared vertex) remain", left, tol)
    return geoms, group


class _Border:
    """The parent outlines that :func:`separate` must not move: which points and edges lie on them."""

    def __init__(self, keep: np.ndarray) -> None:
        self.vertices = np.unique(shapely.get_coordinates(keep), axis=0) if len(keep) else np.zeros((0, 2))
        lines = shapely.boundary(keep[~shapely.is_empty(keep)]) if len(keep) else np.zeros(0, dtype=object)
        self.tree = shapely.STRtree(lines)

    def is_vertex(self, xy: np.ndarray) -> np.ndarray:
        if len(self.vertices) == 0 or len(xy) == 0:
            return np.zeros(len(xy), dtype=bool)
        return pd.MultiIndex.from_arrays(xy.T).isin(pd.MultiIndex.from_arrays(self.vertices.T))

    def holds(self, xy: np.ndarray) -> np.ndarray:
        """True for points lying on an outline (within 1e-6 m)."""
        out = np.zeros(len(xy), dtype=bool)
        if len(xy) and len(self.tree.geometries):
            out[self.tree.query(shapely.points(xy), predicate="dwithin", distance=_NODE_TOL)[0]] = True
        return out

    def segments_on(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """True for straight segments ``a``–``b`` lying on an outline (both ends and the middle on it)."""
        return self.holds(a) & self.holds(b) & self.holds(0.5 * (a + b))

    def edges_on(self, edges: np.ndarray) -> np.ndarray:
        """True for linestrings all of whose segments lie on an outline."""
        coords, idx = shapely.get_coordinates(edges, return_index=True)
        seg = np.flatnonzero(idx[1:] == idx[:-1])
        on = self.segments_on(coords[seg], coords[seg + 1])
        out = np.ones(len(edges), dtype=bool)
        np.logical_and.at(out, idx[seg], on)
        return out & (len(self.tree.geometries) > 0)


def _rebuild(edges: np.ndarray, coords: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Linestrings from per-edge coordinates, dropping repeated points and edges left with one point."""
    same = np.r_[False, (idx[1:] == idx[:-1]) & (coords[1:] == coords[:-1]).all(axis=1)]
    coords, idx = coords[~same], idx[~same]
    counts = np.bincount(idx, minlength=len(edges))
    ok = counts[idx] >= 2
    return shapely.linestrings(coords[ok], indices=np.unique(idx[ok], return_inverse=True)[1].ravel())


def _merge_close_vertices(edges: np.ndarray, border: _Border, tol: float) -> np.ndarray:
    """Merge vertices closer than ``tol`` (single linkage) into one, without moving the parent outlines.

    Each cluster is represented by a parent vertex if it holds one, else by a vertex on a parent
    outline, else by its lowest vertex. Free vertices move to it; a vertex on an outline moves only
    along the outline (when the segment to the representative lies on it); parent vertices stay.
    """
    coords, idx = shapely.get_coordinates(edges, return_index=True)
    uc, vid = np.unique(coords, axis=0, return_inverse=True)
    vid = vid.ravel()
    a, b = shapely.STRtree(shapely.points(uc)).query(shapely.points(uc), predicate="dwithin", distance=tol)
    if (a != b).sum() == 0:
        return edges
    _, label = connected_components(sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(len(uc),) * 2),
                                    directed=False)
    kept = border.is_vertex(uc)
    on = kept | border.holds(uc)
    # uc is sorted (x, then y): the first member of each label, parent vertices first, then
    # vertices on an outline, represents it
    order = np.lexsort((np.arange(len(uc)), ~on, ~kept, label))
    first = np.r_[True, label[order][1:] != label[order][:-1]]
    rep = np.empty(len(np.unique(label)), dtype=np.int64)
    rep[label[order][first]] = order[first]
    target = rep[label]
    stay = kept.copy()
    moving = np.flatnonzero(on & ~kept & (target != np.arange(len(uc))))
    stay[moving] = ~border.segments_on(uc[moving], uc[target[moving]])
    target[stay] = np.flatnonzero(stay)
    return _rebuild(edges, uc[target[vid]], idx)


def _insert_near_vertices(edges: np.ndarray, border: _Border, tol: float) -> np.ndarray:
    """Bend every edge passing closer than ``tol`` to a vertex it lacks through that vertex.

    Parent outline edges do not bend: a free vertex near one moves onto it instead (to the
    nearest point of the edge, or to the edge's nearest vertex if that is within ``tol``).
    """
    on_edge = border.edges_on(edges)
    edges = _move_onto_border(edges, on_edge, border, tol)
    coords, idx = shapely.get_coordinates(edges, return_index=True)
    uc, vid = np.unique(coords, axis=0, return_inverse=True)
    nv = len(uc)
    incident = np.unique(idx.astype(np.int64) * nv + vid.ravel())
    pi, ei = shapely.STRtree(edges).query(shapely.points(uc), predicate="dwithin", distance=tol)
    bad = ~np.isin(ei.astype(np.int64) * nv + pi, incident)
    pi, ei = pi[bad], ei[bad]
    if len(pi) == 0:
        return edges
    order = np.lexsort((pi, ei))
    pi, ei = pi[order], ei[order]
    ue, inv = np.unique(ei, return_inverse=True)
    out = edges.copy()
    points = shapely.multipoints(shapely.points(uc[pi]), indices=inv.ravel())
    # outline edges take only the points already lying on them (moved there above)
    snap_tol = np.where(on_edge[ue], _NODE_TOL, tol)
    out[ue] = shapely.snap(edges[ue], points, snap_tol)
    return out


def _move_onto_border(edges: np.ndarray, on_edge: np.ndarray, border: _Border, tol: float) -> np.ndarray:
    """Move each free vertex lying closer than ``tol`` to a parent outline edge onto that edge."""
    if not on_edge.any():
        return edges
    coords, idx = shapely.get_coordinates(edges, return_index=True)
    uc, vid = np.unique(coords, axis=0, return_inverse=True)
    vid = vid.ravel()
    free = ~border.holds(uc)
    cand = np.flatnonzero(free)
    outline = np.flatnonzero(on_edge)
    pi, oi = shapely.STRtree(edges[outline]).query(shapely.points(uc[cand]), predicate="dwithin", distance=tol)
    if len(pi) == 0:
        return edges
    v, e = cand[pi], outline[oi]
    pts = shapely.points(uc[v])
    dist = shapely.distance(pts, edges[e])
    best = np.lexsort((e, dist, v))  # the nearest outline edge of each vertex
    best = best[np.r_[True, v[best][1:] != v[best][:-1]]]
    v, e = v[best], e[best]
    target = shapely.get_coordinates(shapely.line_interpolate_point(
        edges[e], shapely.line_locate_point(edges[e], pts[best])))
    # the edge's nearest vertex instead, if it is that close: outline vertices never move
    ecoords, eidx = shapely.get_coordinates(edges[e], return_index=True)
    d = np.hypot(*(ecoords - target[eidx]).T)
    near = np.lexsort((d, eidx))
    near = near[np.r_[True, eidx[near][1:] != eidx[near][:-1]]]
    snap = d[near] < tol
    target[eidx[near][snap]] = ecoords[near][snap]
    new = uc.copy()
    new[v] = target
    return _rebuild(edges, new[vid], idx)


def _owner_of_faces(faces: np.ndarray, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Give each face the polygon holding its interior point (else the one it overlaps most, over half)."""
    tree = shapely.STRtree(geoms)
    fi, gi = tree.query(shapely.point_on_surface(faces), predicate="within")
    first = np.r_[True, fi[1:] != fi[:-1]] if len(fi) else np.zeros(0, dtype=bool)
    owner = np.full(len(faces), -1)
    owner[fi[first]] = gi[first]
    rest = np.flatnonzero(owner < 0)
    if len(rest):
        ri, gj = tree.query(faces[rest], predicate="intersects")
        share = shapely.area(shapely.intersection(faces[rest][ri], geoms[gj]))
        order = np.lexsort((gj, -share, ri))
        ri, gj, share = ri[order], gj[order], share[order]
        best = np.r_[True, ri[1:] != ri[:-1]] & (share > 0.5 * shapely.area(faces[rest][ri]))
        owner[rest[ri[best]]] = gj[best]
    face = np.flatnonzero(owner >= 0)  # the rest are holes of the coverage
    return face, owner[face]


def _regroup(faces: np.ndarray, owner: np.ndarray, geoms: np.ndarray,
             group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One polygon per owner (faces of the same owner unioned), in the owners' order."""
    order = np.argsort(owner, kind="stable")
    faces, owner = faces[order], owner[order]
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    ends = np.r_[starts[1:], len(owner)]
    out = np.array([faces[s] if e - s == 1 else union_coverage(faces[s:e])
                    for s, e in zip(starts, ends, strict=True)], dtype=object)
    kept = owner[starts]
    out = _give_away_crumbs(out, group[kept])
    if len(kept) < len(geoms):
        lost = np.setdiff1d(np.arange(len(geoms)), kept)
        log.warning("clearance: %d polygons narrower than the clearance vanished (%.4f m²)", len(lost),
                    float(shapely.area(geoms[lost]).sum()))
    return out, group[kept]



def _give_away_crumbs(geoms: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Give the parts of a multipart polygon but its largest to the same-group neighbour sharing most edge with them.

    Closing a near miss can cut the tip off a spike: the crumb, no longer joined to
    its polygon, goes to the polygon it now lies against.
    """
    multi = np.flatnonzero(shapely.get_type_id(geoms) == 6)
    if len(multi) == 0:
        return geoms
    out = geoms.copy()
    tree = shapely.STRtree(geoms)
    for i in multi:  # rare: a handful per city
        parts = shapely.get_parts(out[i])
        big = int(np.argmax(shapely.area(parts)))
        out[i] = parts[big]
        for crumb in np.delete(parts, big):
            nb = tree.query(crumb, predicate="intersects")
            nb = nb[(nb != i) & (group[nb] == group[i])]
            shared = shapely.length(shapely.intersection(shapely.boundary(out[nb]), crumb.boundary))
            if len(nb) == 0 or shared.max(initial=0.0) <= 0:
                out[i] = shapely.union(out[i], crumb)  # nowhere else to go: keep it
                continue
            j = nb[np.lexsort((nb, -shared))[0]]
            out[j] = union_coverage([out[j], crumb])
    return out

# ----------------------------------------------------------------------------- codes

def _assign_codes(pieces: np.ndarray, parent_idx: np.ndarray, comm: gpd.GeoDataFrame,
                  target: float, metric: Any) -> gpd.GeoDataFrame:
    cen = shapely.get_coordinates(shapely.centroid(pieces))
    row = np.floor(-cen[:, 1] / math.sqrt(target)).astype(np.int64)
    order = np.lexsort((-cen[:, 1], cen[:, 0], row, parent_idx))
    pieces, parent_idx = pieces[order], parent_idx[order]
    starts = np.r_[0, np.flatnonzero(np.diff(parent_idx)) + 1]
    seq = np.arange(len(pieces)) - np.repeat(starts, np.diff(np.r_[starts, len(pieces)])) + 1
    if len(seq) and seq.max() > 999:
        worst = comm["community_code"].iloc[int(parent_idx[np.argmax(seq)])]
        raise CodeError(f"community {worst} would hold {int(seq.max())} grids; a 3-digit sequence allows 999 "
                        "(raise target_area or give finer communities)")
    c = comm.iloc[parent_idx].reset_index(drop=True)
    ccode = c["community_code"].to_numpy(dtype=object)
    grid_code = (pd.Series(ccode, dtype="string") + pd.Series(seq).map("{:03d}".format).astype("string"))
    real = ~c["placeholder"].to_numpy(dtype=bool)
    if real.any():
        # real codes go through the code rules (GB/T 2260 county, GB/T 10114 street ranges);
        # placeholders (9xx) are deliberately outside them, so they cannot pass for real ones
        grid_code[real] = GridCode.build_many(pd.Series(ccode[real]), seq[real]).to_numpy()
    out = gpd.GeoDataFrame({
        "grid_code": grid_code.to_numpy(dtype=object),
        "community_code": ccode,
        "street_code": c["street_code"].to_numpy(dtype=object),
        "district_code": c["district_code"].to_numpy(dtype=object),
        "community_name": c["community_name"].to_numpy(dtype=object),
        "street_name": c["street_name"].to_numpy(dtype=object),
        "district_name": c["district_name"].to_numpy(dtype=object),
        "area_m2": shapely.area(pieces),
        "placeholder": c["placeholder"].to_numpy(dtype=bool),
    }, geometry=shapely.normalize(pieces), crs=metric)
    return out.sort_values("grid_code", kind="stable").reset_index(drop=True)
