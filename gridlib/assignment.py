"""Case assignment: grid, community, street, district and the responsible unit, with the reason.

``gl.assign(cases, gridset, ...)`` answers, for every case, "which grid, community,
street and responsible unit is this point in, and who must act?" and says which
rule decided (``responsibility_basis``):

=====================  ===============================================================
basis                  meaning
=====================  ===============================================================
component_owner        the referenced (or nearest same-class) component's 权属单位
component_maintainer   its 养护单位, when the component has no owner recorded
frontage_zone          a 门前五包 / sanitation-area polygon covers the case
road_section           the case lies within half the width of a road section 包路段
grid_team              the responsibility table names a unit for the grid, community or street
territory_fallback     nothing else applies: the street (属地兜底)
=====================  ===============================================================

Order by rule (per class, from ``gridlib/codes/data/responsibility_rules.csv`` or
``rules=``): ``owner_first`` (部件: 先属主、后属地) tries the component, then zone,
road section, grid team, fallback; ``territory_first`` (事件: 先属地、后属主) tries
zone, road section, grid team, then the component, then fallback.

Grid lookup uses :class:`gridlib.index.GridIndex` (exact ``covers``; a point on a
shared edge goes to the smallest grid code). Every input row ends in exactly one
of ``assigned`` or ``rejects`` (the shared rejects model, :mod:`gridlib.rejects`: ``reason_code``,
``field``, ``reason``).

The call is a chain of four steps, each a function of this module: ``_check_grids`` and
``_check`` (grids, then cases: coordinates, ids and times by :func:`gridlib.io.read_points`,
class codes, kinds, the edition valid at the case's time), ``_locate`` (grid, distance to its
boundary, near another grid or street), ``_responsibility`` (levels, rule, unit and basis) and
``_assemble`` (the two frames).

>>> import geopandas as gpd, pandas as pd, shapely
>>> grids = gpd.GeoDataFrame({"grid_code": ["410105001003001", "410105001003002"]},
...     geometry=[shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)], crs=4547)
>>> cases = gpd.GeoDataFrame({"case_id": ["a", "b", "c"], "kind": ["event"] * 3},
...     geometry=shapely.points([(50, 50), (100, 50), (900, 900)]), crs=4547)
>>> done, rejects = assign(cases, grids)
>>> done[["case_id", "grid_code", "responsibility_basis", "near_boundary"]].values.tolist()
[['a', '410105001003001', 'territory_fallback', False], ['b', '410105001003001', 'territory_fallback', True]]
>>> rejects[["case_id", "reason_code", "field", "reason"]].values.tolist()
[['c', 'no_grid', 'geometry', 'outside grid coverage']]
"""

from __future__ import annotations

import logging
import math
import threading
import warnings
import weakref
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyproj
import shapely

from gridlib.codes.rules import edition_of_class, rule_of
from gridlib.crs import WGS84, resolve_crs, to_crs, to_wgs84
from gridlib.errors import GridlibError, InputError
from gridlib.grid.model import GridSet
from gridlib.grid.topology import Topology
from gridlib.index import GridIndex
from gridlib.io import read_points_xy
from gridlib.partitions import is_dask_frame, map_accepted_rejects
from gridlib.rejects import Rejects
from gridlib.types import CRSLike

if TYPE_CHECKING:
    from gridlib.store.postgis import PostgisStore

__all__ = ["assign", "assign_in_db", "forget", "index_for", "load_rules", "responsible", "PreparedAssign", "BASES",
           "OUTPUT_COLUMNS", "RESPONSIBILITY_COLUMNS"]

log = logging.getLogger(__name__)

BASES = ("component_owner", "component_maintainer", "frontage_zone", "road_section", "grid_team",
         "territory_fallback")
LEVELS = ("district", "street", "community")
OUTPUT_COLUMNS = [
    "grid_code", "community_code", "street_code", "district_code", "community_name", "street_name",
    "district_name", "responsible_unit", "responsible_team", "responsibility_basis", "responsibility_rule",
    "distance_to_boundary_m", "near_boundary", "near_street_boundary",
]
_RULES_CSV = Path(__file__).parent / "codes" / "data" / "responsibility_rules.csv"
_DEFAULT_RULE = {"component": "owner_first", "event": "territory_first"}
_INDEX_CACHE: dict[tuple[int, str], tuple[weakref.ref, GridIndex]] = {}
#: Above this many grids, :func:`_street_edge` rules out first the grids with one street all around.
_CELL_FILTER = 256
_EDGE_CACHE: dict[tuple[int, str], tuple[weakref.ref, tuple[np.ndarray, shapely.STRtree, np.ndarray, dict]]] = {}


# --------------------------------------------------------------------------- rules
def load_rules(rules: str | Path | pd.DataFrame | None = None) -> pd.DataFrame:
    """The responsibility rule table: ``kind, prefix, rule`` (most specific prefix wins).

    Parameters
    ----------
    rules : path to CSV/TOML, DataFrame or None
        Columns ``kind`` (component|event|*), ``rule`` (owner_first|territory_first) and
        one of ``class_code`` (a full code), ``major_code`` (its first two digits) or
        ``prefix``; ``*`` matches everything. TOML: ``[[rule]]`` tables with the same keys.
        None: the catalogue's defaults (``gridlib/codes/data/responsibility_rules.csv``).

    Examples
    --------
    >>> r = load_rules(pd.DataFrame({"kind": ["event"], "class_code": ["06012"], "rule": ["owner_first"]}))
    >>> r.values.tolist()
    [['event', '06012', 'owner_first']]
    """
    if rules is None:
        frame = pd.read_csv(_RULES_CSV, dtype=str)
    elif isinstance(rules, pd.DataFrame):
        frame = rules.fillna("*").astype(str)  # a missing edition, kind or prefix matches everything
    else:
        path = Path(rules)
        if not path.exists():
            raise InputError(f"rules file {path} not found")
        if path.suffix.lower() == ".toml":
            import tomllib

            data = tomllib.loads(path.read_text(encoding="utf-8"))
            frame = pd.DataFrame(data.get("rule", data.get("rules", []))).astype(str)
        else:
            frame = pd.read_csv(path, dtype=str)
    if "prefix" in frame:
        prefix = frame["prefix"]
    elif "class_code" in frame:
        prefix = frame["class_code"]
    elif "major_code" in frame:
        prefix = frame["major_code"]
    else:
        raise InputError(f"rules need a class_code, major_code or prefix column (have {list(frame.columns)})")
    for col in ("kind", "rule"):
        if col not in frame:
            raise InputError(f"rules need a {col!r} column (have {list(frame.columns)})")
    out = pd.DataFrame({"kind": frame["kind"].str.strip(), "prefix": prefix.fillna("*").str.strip(),
                        "rule": frame["rule"].str.strip()})
    if "edition" in frame:  # a rule of one catalogue edition applies to that edition's codes only
        out["edition"] = frame["edition"].fillna("*").str.strip().replace("", "*")
    bad = ~out["rule"].isin(["owner_first", "territory_first"])
    if bad.any():
        raise InputError(f"rules row {int(np.flatnonzero(bad)[0])}: rule {out['rule'][bad].iloc[0]!r} "
                         "is not owner_first or territory_first")
    # the last row wins among equally specific ones, so a city's overrides can be appended
    keys = ["edition", "kind", "prefix"] if "edition" in out else ["kind", "prefix"]
    return out.drop_duplicates(keys, keep="last").reset_index(drop=True)


def _rule_for(classes: np.ndarray, kinds: np.ndarray, table: pd.DataFrame) -> np.ndarray:
    rule = np.array([_DEFAULT_RULE.get(k, "territory_first") for k in kinds], dtype=object)
    best = np.full(len(classes), -1)
    classes = np.asarray(classes, dtype=str)
    editions = edition_of_class(classes) if "edition" in table else None
    for row in table.itertuples(index=False):  # a handful of rows, vectorised over cases
        kind, prefix, r = row.kind, row.prefix, row.rule
        match = (kinds == kind) | (kind == "*")
        if editions is not None and row.edition != "*":
            match &= editions == row.edition
        spec = 0 if prefix == "*" else len(prefix)
        if prefix != "*":
            match &= np.char.startswith(classes, prefix)
        better = match & (spec >= best)
        rule[better], best[better] = r, spec
    return rule


# --------------------------------------------------------------------------- helpers
def grids_of(gridset: GridSet | gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The grids' GeoDataFrame of a GridSet (a GeoDataFrame is returned as it is).

    >>> g = gpd.GeoDataFrame({"grid_code": ["a"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4547)
    >>> grids_of(g) is g
    True
    """
    return getattr(gridset, "grids", gridset)


def index_for(gridset: GridSet | gpd.GeoDataFrame | Sequence[GridSet], crs: CRSLike | None = None) -> GridIndex:
    """The GridIndex of a grid set (in ``crs``, default its own), built once and reused while the frame lives.

    >>> import geopandas as gpd, shapely
    >>> g = gpd.GeoDataFrame({"grid_code": ["a"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4547)
    >>> index_for(g) is index_for(g)
    True
    """
    frame = grids_of(gridset)
    target = pyproj.CRS.from_user_input(crs if crs is not None else frame.crs)
    key = (id(frame), target.to_wkt())
    hit = _INDEX_CACHE.get(key)
    if hit is not None and hit[0]() is frame:
        return hit[1]
    index = GridIndex(frame if _same_crs(frame.crs, target) else frame.to_crs(target))
    _INDEX_CACHE[key] = (weakref.ref(frame), index)
    weakref.finalize(frame, _INDEX_CACHE.pop, key, None)
    return index


def forget(gridset: GridSet | gpd.GeoDataFrame | None = None) -> None:
    """Drop what ``gl.assign`` keeps between calls for a grid set (its :func:`index_for` index, the tree and
    street keys of its grids, the grid pairs found near boundaries), or for every grid set when *gridset* is
    ``None``. It is kept while the grids' frame lives, for the next call on the same grids; a caller done with
    assigning, while the grids live on, frees it here (a city's 736k grids: ~70 MB, with the index ~0.5 GB).

    >>> import geopandas as gpd, shapely
    >>> g = gpd.GeoDataFrame({"grid_code": ["a"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4547)
    >>> first = index_for(g)
    >>> forget(g)
    >>> index_for(g) is first
    False
    """
    frame = None if gridset is None else grids_of(gridset)
    for cache in (_INDEX_CACHE, _EDGE_CACHE):
        for key, (ref, _) in list(cache.items()):
            if frame is None or ref() is frame:
                cache.pop(key, None)


@dataclass
class _Reach:
    """What lies within one distance of each grid, worked out for the grids asked so far (cached per grid
    frame and distance, so a second call on the same grids asks GEOS nothing about grid pairs)."""

    street_edge: np.ndarray        # int8 per grid: -1 not known yet; 1: a grid of another street may lie within
    done: np.ndarray               # bool per grid: its pairs are in ``pairs``
    #: (grid, another grid within the distance), sorted by grid (stable: in the order found), one pair of arrays
    #: rebound whole under ``lock`` (a live service asks from its intake and monitor threads); each grid's pairs
    #: are a slice found by binary search, so a call costs the same after a million cases as after one
    pairs: tuple[np.ndarray, np.ndarray]
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def empty(cls, n: int) -> _Reach:
        none = np.zeros(0, dtype=np.int64)
        return cls(np.full(n, -1, dtype=np.int8), np.zeros(n, dtype=bool), (none, none))


def _edge_grids(frame: gpd.GeoDataFrame, index: GridIndex,
                geoms: np.ndarray) -> tuple[np.ndarray, shapely.STRtree, np.ndarray, dict[float, _Reach]]:
    """Per grid: has an edge no other grid shares (coverage edge, T-junction: ``Topology.coverage_edge``
    of the index's :class:`gridlib.grid.topology.Topology`); an STRtree of the grids; an integer per
    grid, equal for grids of the same street; and the :class:`_Reach` per distance. Cached per grid frame."""
    key = (id(frame), index.crs.to_wkt())
    hit = _EDGE_CACHE.get(key)
    if hit is not None and hit[0]() is frame:
        return hit[1]
    edge = index.topology.coverage_edge
    street = frame["street_code"] if "street_code" in frame else frame["grid_code"].astype(str).str[:12]
    out = (edge, shapely.STRtree(geoms), pd.factorize(street.astype(str))[0], {})
    _EDGE_CACHE[key] = (weakref.ref(frame), out)
    weakref.finalize(frame, _EDGE_CACHE.pop, key, None)
    return out


def _street_edge(tree: shapely.STRtree, geoms: np.ndarray, street: np.ndarray, grids: np.ndarray,
                 distance: float, reach: _Reach | None = None) -> np.ndarray:
    """For grid positions *grids* (distinct): may a grid of another street lie within *distance* (bounding
    boxes). With *reach*, the grids it knows are not asked again. Many grids: those with one street all around
    in :func:`_other_street_cells` are ruled out first (city-quick: 164 of 22,270 grids are street edges; the
    tree query of every grid took 25 ms)."""
    todo = grids if reach is None else grids[reach.street_edge[grids] < 0]
    if len(todo) > _CELL_FILTER:
        bounds = shapely.bounds(geoms)
        ask = np.flatnonzero(_other_street_cells(bounds, street, todo, distance))
        b = bounds[todo[ask]]
    else:
        ask = np.arange(len(todo))
        b = shapely.bounds(geoms[todo])
    boxes = shapely.box(b[:, 0] - distance, b[:, 1] - distance, b[:, 2] + distance, b[:, 3] + distance)
    a, o = tree.query(boxes)
    out = np.zeros(len(todo), dtype=bool)
    a = ask[a]
    out[a[street[todo[a]] != street[o]]] = True
    if reach is None:
        return out
    reach.street_edge[todo] = out
    return reach.street_edge[grids] == 1


def _other_street_cells(bounds: np.ndarray, street: np.ndarray, grids: np.ndarray, distance: float) -> np.ndarray:
    """Per grid of *grids*: whether its bounding box grown by *distance* meets a cell of a coarse lattice that the
    bounding box of a grid of another street meets too (*bounds*, *street*: every grid's). Two boxes that meet
    share a cell (a cell is ``floor`` of a coordinate, clipped: monotone), so False means that no box of another
    street meets the grown box, as the STRtree would say; True only that one may. All True when the lattice
    would take too many cells.

    >>> bounds = np.array([[0.0, 0, 10, 10], [200, 0, 210, 10], [210, 0, 220, 10], [500, 0, 510, 10]])
    >>> _other_street_cells(bounds, np.array([0, 1, 2, 2]), np.arange(4), 1.0).tolist()
    [False, True, True, False]
    """
    out = np.ones(len(grids), dtype=bool)
    n = len(bounds)
    if not np.isfinite(bounds).all():
        return out
    side = float(np.median(np.maximum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1])))
    x0, y0 = float(bounds[:, 0].min()), float(bounds[:, 1].min())
    width, height = float(bounds[:, 2].max()) - x0, float(bounds[:, 3].max()) - y0
    # cells of twice a grid's size and its reach (a box meets a few), at most ~4 per grid over the extent
    size = max(2.0 * (side + distance), math.sqrt(width * height / (4.0 * n)))
    if not (math.isfinite(size) and size > 0):
        return out
    ncols, nrows = int(width // size) + 1, int(height // size) + 1

    def cells(b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (np.clip(np.floor((b[:, 0] - x0) / size), 0, ncols - 1).astype(np.int64),
                np.clip(np.floor((b[:, 1] - y0) / size), 0, nrows - 1).astype(np.int64),
                np.clip(np.floor((b[:, 2] - x0) / size), 0, ncols - 1).astype(np.int64),
                np.clip(np.floor((b[:, 3] - y0) / size), 0, nrows - 1).astype(np.int64))

    grown = bounds[grids]
    grown = np.stack([grown[:, 0] - distance, grown[:, 1] - distance, grown[:, 2] + distance,
                      grown[:, 3] + distance], axis=1)
    held, asked = cells(bounds), cells(grown)
    if _cell_count(held) > 16 * n or _cell_count(asked) > 16 * len(grids):  # huge boxes: no filter
        return out
    owner, cell = _cell_items(*held, ncols)
    lo = np.full(ncols * nrows, np.iinfo(np.int64).max)
    hi = np.full(ncols * nrows, np.iinfo(np.int64).min)
    kind = street[owner].astype(np.int64)
    np.minimum.at(lo, cell, kind)
    np.maximum.at(hi, cell, kind)
    g, cell = _cell_items(*asked, ncols)
    own = street[grids][g]
    other = (lo[cell] <= hi[cell]) & ((lo[cell] != own) | (hi[cell] != own))
    out[:] = False
    out[g[other]] = True
    return out


def _cell_count(cells: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> int:
    """The number of (box, cell) items of boxes spanning cell columns ``c0..c1`` and rows ``r0..r1``."""
    c0, r0, c1, r1 = cells
    return int(((c1 - c0 + 1) * (r1 - r0 + 1)).sum())


def _cell_items(c0: np.ndarray, r0: np.ndarray, c1: np.ndarray, r1: np.ndarray,
                ncols: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (box, cell) of boxes spanning cell columns ``c0..c1`` and rows ``r0..r1`` (inclusive), cell
    ``row * ncols + column``: box by box, its cells in row order.

    >>> [a.tolist() for a in _cell_items(np.array([0, 5]), np.array([0, 1]), np.array([1, 5]), np.array([1, 1]), 10)]
    [[0, 0, 0, 0, 1], [0, 1, 10, 11, 15]]
    """
    across = c1 - c0 + 1
    count = across * (r1 - r0 + 1)
    owner = np.repeat(np.arange(len(c0)), count)
    k = np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count)
    span = across[owner]
    return owner, (r0[owner] + k // span) * ncols + c0[owner] + k % span


def _grid_pairs(tree: shapely.STRtree, geoms: np.ndarray, grid_ids: np.ndarray, distance: float,
                reach: _Reach | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (position in *grid_ids*, another grid) of grids within *distance* of each other (GEOS
    ``dwithin``; a grid no point of which lies within reach of the other: none of its points does either).
    With *reach*, the pairs of grids asked before come from it and the new ones are added to it."""
    todo = grid_ids if reach is None else grid_ids[~reach.done[grid_ids]]
    if reach is None or len(todo):
        b = shapely.bounds(geoms[todo])
        g, other = tree.query(shapely.box(b[:, 0] - distance, b[:, 1] - distance, b[:, 2] + distance,
                                          b[:, 3] + distance))
        g = todo[g]
        keep = g != other
        g, other = g[keep], other[keep]
        keep = shapely.dwithin(geoms[g], geoms[other], distance)
        g, other = g[keep], other[keep]
    if reach is None:
        local = np.full(len(geoms), -1, dtype=np.int64)
        local[grid_ids] = np.arange(len(grid_ids))
        g = local[g]
        keep = g >= 0
        return g[keep], other[keep]
    with reach.lock:
        if len(todo):   # the pairs first, then the mark: a concurrent call may only repeat work
            merged = np.concatenate([reach.pairs[0], g]), np.concatenate([reach.pairs[1], other])
            order = np.argsort(merged[0], kind="stable")
            reach.pairs = (merged[0][order], merged[1][order])
            reach.done[todo] = True
        known, others = reach.pairs
    # each asked grid's pairs (in the order found), grid by grid in the order of *grid_ids*
    lo, hi = np.searchsorted(known, grid_ids, side="left"), np.searchsorted(known, grid_ids, side="right")
    count = hi - lo
    local = np.repeat(np.arange(len(grid_ids)), count)
    at = np.repeat(lo - (np.cumsum(count) - count), count) + np.arange(int(count.sum()))
    return local, others[at]


def _grids_within(tree: shapely.STRtree, geoms: np.ndarray, street: np.ndarray, own: np.ndarray, index: GridIndex,
                  x: np.ndarray, y: np.ndarray, near: np.ndarray, distance: float,
                  reach: _Reach | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (point, grid) of another grid within *distance* of the points (x, y) in grids *own*, for the
    pairs that can change a flag: any grid where ``near`` is not yet set, else one of another street.

    Candidates come per grid (an STRtree query of the grids hit, grown by *distance*), then per
    point by bounding box; the other grid's boundary segments decide (:func:`_boundary_near`), GEOS
    (``shapely.dwithin``) where they cannot: within rounding of *distance*, or inside the other grid
    where grids may overlap.
    """
    first, inv = _distinct(own)
    grid_ids = own[first]
    g, other = _grid_pairs(tree, geoms, grid_ids, distance, reach)
    order = np.argsort(g, kind="stable")
    g, other = g[order], other[order]
    other_bounds = shapely.bounds(geoms[other])
    # points not yet near need every grid in reach; the others only grids of another street
    pts, cands = [], []
    for mine, pairs in ((~near, np.ones(len(g), dtype=bool)), (near, street[other] != street[grid_ids[g]])):
        at = np.flatnonzero(mine)
        gp, op = g[pairs], np.flatnonzero(pairs)
        start = np.searchsorted(gp, np.arange(len(grid_ids) + 1))
        cnt = (start[1:] - start[:-1])[inv[at]]
        pt = np.repeat(at, cnt)
        pair = op[np.repeat(start[:-1][inv[at]] - (np.cumsum(cnt) - cnt), cnt) + np.arange(len(pt))]
        ob, px, py = other_bounds[pair], x[pt], y[pt]
        dx = np.maximum(np.maximum(ob[:, 0] - px, px - ob[:, 2]), 0.0)
        dy = np.maximum(np.maximum(ob[:, 1] - py, py - ob[:, 3]), 0.0)
        reach = distance * (1 + 1e-9) + 1e-9  # a box is never farther than its polygon; margin for rounding
        box_near = dx * dx + dy * dy <= reach * reach
        pts.append(pt[box_near])
        cands.append(other[pair[box_near]])
    pt, cand = np.concatenate(pts), np.concatenate(cands)
    near_pair = _boundary_near(index.topology, x[pt], y[pt], cand, distance)
    ask = np.flatnonzero((near_pair < 0) | ((near_pair == 0) & index.overlapping))
    if len(ask):
        near_pair[ask] = shapely.dwithin(shapely.points(x[pt[ask]], y[pt[ask]]), geoms[cand[ask]], distance)
    within = near_pair > 0
    return pt[within], cand[within]


def _boundary_near(topo: Topology, x: np.ndarray, y: np.ndarray, grid: np.ndarray, distance: float) -> np.ndarray:
    """Per point: 1 where a boundary segment of grid ``grid[i]`` lies within *distance* - 1e-6, 0 where none lies
    within *distance* + 1e-6 (the fast squared distance, far more exact than that), -1 in between: GEOS decides
    those (its ``dwithin`` also compares bounding boxes first, rounded its own way)."""
    out = np.zeros(len(x), dtype=np.int8)
    for owner, _, d2 in topo.segment_pair_blocks(x, y, grid):  # blocks of whole points: bounded memory
        out[owner[d2 <= (distance + _TIE) ** 2]] = -1
        out[owner[d2 <= max(distance - _TIE, 0.0) ** 2]] = 1
    return out


def _same_crs(a: Any, b: pyproj.CRS) -> bool:
    """``pyproj.CRS(a).equals(b)`` without building a CRS object again when *a* is one (1.6 ms for a
    PROJJSON-defined CRS) or comparing one with itself."""
    return a is b or pyproj.CRS.from_user_input(a).equals(b)


def metric_crs_of_grids(frame: gpd.GeoDataFrame) -> pyproj.CRS:
    """The grids' own CRS when projected, else the metric CRS gridlib picks for them.

    >>> g = gpd.GeoDataFrame({"grid_code": ["a"]}, geometry=[shapely.box(121.5, 31.2, 121.51, 31.21)], crs=4326)
    >>> metric_crs_of_grids(g).to_epsg()
    4550
    """
    from gridlib.crs import metric_crs_for

    crs = pyproj.CRS.from_user_input(frame.crs)
    return crs if crs.is_projected else metric_crs_for(frame)


def _level_attrs(grids: gpd.GeoDataFrame, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Grid, community, street and district codes and names of the grids at positions *rows*.

    Only the rows asked for become Python strings (a city has ~750k grids, a night's cases hit
    a fraction of them).
    """
    codes = grids["grid_code"].take(rows).astype(str)
    out = {"grid_code": codes.to_numpy(dtype=object)}
    for level, n in zip(LEVELS, (6, 9, 12), strict=True):
        col = f"{level}_code"
        out[col] = (grids[col].take(rows).astype(str) if col in grids else codes.str[:n]).to_numpy(dtype=object)
        name = f"{level}_name"
        out[name] = (grids[name].take(rows).astype("string").fillna("").to_numpy(dtype=object) if name in grids
                     else np.full(len(rows), "", dtype=object))
    return out


def _arrow_text(column: pd.Series) -> pa.Array | None:
    """The Arrow array behind a text column (pandas' ``str``/``string`` on pyarrow, no copy), else None."""
    dtype = column.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return None
    arr = pa.array(column.array)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _level_arrow(grids: gpd.GeoDataFrame, rows: np.ndarray) -> dict[str, pa.Array] | None:
    """:func:`_level_attrs` as Arrow arrays taken from the grids' text columns, without a Python string
    per grid; None when a code column is not Arrow text without gaps or a name column not Arrow text
    (then :func:`_level_attrs` answers)."""
    codes = _arrow_text(grids["grid_code"])
    if codes is None or codes.null_count:
        return None
    at = pa.array(np.asarray(rows, dtype=np.int64))
    out = {"grid_code": codes.take(at)}
    for level, n in zip(LEVELS, (6, 9, 12), strict=True):
        col, name = f"{level}_code", f"{level}_name"
        if col in grids:
            arr = _arrow_text(grids[col])
            if arr is None or arr.null_count:
                return None
            out[col] = arr.take(at)
        else:
            out[col] = pc.utf8_slice_codeunits(out["grid_code"], 0, n)  # what pandas' .str[:n] runs
        if name in grids:
            arr = _arrow_text(grids[name])
            if arr is None:
                return None
            out[name] = pc.fill_null(arr.take(at), "")
        else:
            out[name] = pa.array(np.full(len(rows), "", dtype=object), type=pa.large_string())
    return {c: v.cast(pa.large_string()) for c, v in out.items()}


def _edition_window(gridset: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    e = getattr(gridset, "edition", None) or {}
    lo = pd.Timestamp(e.get("valid_from")) if e.get("valid_from") else pd.Timestamp.min
    hi = pd.Timestamp(e.get("valid_to")) if e.get("valid_to") else pd.Timestamp.max
    return lo, hi


def _class_known(classes: pd.Series, kinds: pd.Series) -> np.ndarray:
    """Whether each (class code, kind) is a catalogue class of the edition its width names.

    Reads the catalogues' dense status tables (cached per edition, extensions included) rather
    than rebuilding sets of the catalogue rows: a live request asks this for one case.
    """
    from gridlib.codes.catalogue import CLASS_DIGITS, lookup_tables

    classes = np.asarray(classes.astype(str), dtype=object)
    kinds = np.asarray(kinds.astype(str), dtype=object)
    out = np.zeros(len(classes), dtype=bool)
    width = np.fromiter((len(c) for c in classes), dtype=int, count=len(classes))
    digits = np.fromiter((c.isascii() and c.isdigit() for c in classes), dtype=bool, count=len(classes))
    for edition, w in CLASS_DIGITS.items():
        sel = np.flatnonzero(digits & (width == w))
        if not len(sel):
            continue
        tables = lookup_tables(edition)
        for kind in ("component", "event", "any"):
            rows = sel[kinds[sel] == kind] if kind != "any" else sel[~np.isin(kinds[sel], ["component", "event"])]
            if len(rows):
                out[rows] = tables[kind][classes[rows].astype(int)] == 1
    return out


def _kind_from_catalogue(classes: pd.Series) -> np.ndarray:
    from gridlib.codes import catalogue

    out = np.full(len(classes), "", dtype=object)
    for edition, width in (("gbt47678-2026", 5), ("cjt214-2007", 4)):
        cat = catalogue(edition).sort_values("kind", kind="stable").drop_duplicates("class_code")
        mapping = dict(zip(cat["class_code"], cat["kind"], strict=True))
        sel = (classes.str.len() == width).to_numpy()
        out[sel] = classes[sel].map(mapping).fillna("").to_numpy(dtype=object)
    return out


@dataclass
class _Layer:
    """The case-independent parts of a layer cases are matched against (zones, road sections,
    components): geometries, their STRtree, the tie-break key and the layer's own columns.
    :func:`assign` builds them per call; :class:`PreparedAssign` once."""

    geoms: np.ndarray
    tree: shapely.STRtree
    key: np.ndarray               # tie-break text per row (zone_id, section_id, component_id)
    half: np.ndarray | None = None        # road sections: half their width
    classes: np.ndarray | None = None     # components: class code of each
    by_id: pd.Series | None = None        # components: first row of each component_id

    @classmethod
    def of(cls, frame: gpd.GeoDataFrame, key: str) -> _Layer:
        geoms = frame.geometry.values
        return cls(geoms, shapely.STRtree(geoms), frame[key].astype(str).to_numpy())

    @classmethod
    def roads(cls, roads: gpd.GeoDataFrame) -> _Layer:
        layer = cls.of(roads, "section_id")
        layer.half = pd.to_numeric(roads["width_m"], errors="coerce").fillna(0).to_numpy() / 2.0
        return layer

    @classmethod
    def components(cls, components: gpd.GeoDataFrame) -> _Layer:
        layer = cls.of(components, "component_id")
        ids = layer.key
        pos = pd.Series(np.arange(len(ids)), index=ids)
        layer.by_id = pos[~pos.index.duplicated()]
        if "class_code" in components:
            layer.classes = components["class_code"].astype(str).to_numpy(dtype=object)
        else:  # 2026 ids (17 digits) carry the 5-digit class at 7..11, 2007 ids (16) the 4-digit one at 7..10
            sid = pd.Series(ids)
            layer.classes = np.where(sid.str.len() == 17, sid.str[6:11], sid.str[6:10]).astype(object)
        return layer


def _first_covering(points: np.ndarray, polys: gpd.GeoDataFrame, key: str, layer: _Layer | None = None) -> np.ndarray:
    """Position of the covering polygon with the smallest ``key`` per point (−1 if none)."""
    out = np.full(len(points), -1)
    if polys is None or len(polys) == 0 or len(points) == 0:
        return out
    layer = layer or _Layer.of(polys, key)
    pt, poly = layer.tree.query(points, predicate="intersects")
    if len(pt):
        order = np.lexsort((layer.key[poly], pt))
        pt, poly = pt[order], poly[order]
        first = np.r_[True, pt[1:] != pt[:-1]]
        out[pt[first]] = poly[first]
    return out


def _roads_within(points: np.ndarray, roads: gpd.GeoDataFrame | None, layer: _Layer | None = None) -> np.ndarray:
    """Nearest road section whose half width reaches the point (ties: smallest section_id)."""
    out = np.full(len(points), -1)
    if roads is None or len(roads) == 0 or len(points) == 0:
        return out
    layer = layer or _Layer.roads(roads)
    half, geoms = layer.half, layer.geoms
    pt, rd = layer.tree.query(points, predicate="dwithin", distance=float(half.max()))
    if len(pt):
        dist = shapely.distance(points[pt], geoms[rd])
        ok = dist <= half[rd]
        pt, rd, dist = pt[ok], rd[ok], dist[ok]
        order = np.lexsort((layer.key[rd], dist, pt))
        pt, rd = pt[order], rd[order]
        first = np.diff(pt, prepend=-1) != 0    # empty when no road reaches any point
        out[pt[first]] = rd[first]
    return out


def _component_match(cases: pd.DataFrame | dict[str, Any], points: np.ndarray, classes: np.ndarray,
                     components: gpd.GeoDataFrame | None, radius: float, layer: _Layer | None = None) -> np.ndarray:
    """Component row per case (at *points*): by ``component_id`` (a column of *cases*, when it has one), else the
    nearest of its class within ``radius``."""
    out = np.full(len(points), -1)
    if components is None or len(components) == 0:
        return out
    layer = layer or _Layer.components(components)
    ids, comp_class = layer.key, layer.classes
    if "component_id" in cases:
        ref = cases["component_id"].astype("string").fillna("").to_numpy(dtype=object)
        out = pd.Series(ref).map(layer.by_id).fillna(-1).astype(int).to_numpy().copy()
    need = np.flatnonzero((out < 0) & (classes != ""))
    if len(need) and radius > 0:
        pt, cp = layer.tree.query(points[need], predicate="dwithin", distance=radius)
        same = comp_class[cp] == classes[need][pt]
        pt, cp = pt[same], cp[same]
        if len(pt):
            dist = shapely.distance(points[need][pt], layer.geoms[cp])
            order = np.lexsort((ids[cp], dist, pt))
            pt, cp = pt[order], cp[order]
            first = np.r_[True, pt[1:] != pt[:-1]]
            out[need[pt[first]]] = cp[first]
    return out


#: Columns a responsibility row may carry besides ``level``, ``code`` and ``unit``.
RESPONSIBILITY_COLUMNS = ("unit", "team", "person", "phone")


def responsible(codes: pd.DataFrame, responsibility: pd.DataFrame | None) -> pd.DataFrame:
    """Who is responsible for each place: the most specific responsibility row with a unit.

    Parameters
    ----------
    codes : DataFrame
        ``grid_code``, ``community_code`` and ``street_code`` of each place (a case, a grid).
    responsibility : DataFrame or None
        ``level`` (``grid`` | ``community`` | ``street``), ``code``, ``unit`` and optionally
        ``team``, ``person``, ``phone``. A row whose unit is empty does not count; the first row of
        a code wins.

    Returns
    -------
    DataFrame
        ``unit``, ``team``, ``person``, ``phone`` per place (empty strings where nothing applies),
        all from the same row — grid before community before street. :func:`assign` and the
        nightly's responsibility map use this one lookup.

    Examples
    --------
    >>> places = pd.DataFrame({"grid_code": ["G1", "G2"], "community_code": ["C1", "C1"], "street_code": ["S", "S"]})
    >>> table = pd.DataFrame({"level": ["street", "grid", "grid"], "code": ["S", "G1", "G2"],
    ...                       "unit": ["街道中队", "网格一组", ""], "team": ["", "一组", "二组"]})
    >>> responsible(places, table)[["unit", "team"]].values.tolist()
    [['网格一组', '一组'], ['街道中队', '']]
    """
    out = pd.DataFrame({c: np.full(len(codes), "", dtype=object) for c in RESPONSIBILITY_COLUMNS})
    if responsibility is None or len(responsibility) == 0:
        return out
    resp = pd.DataFrame(responsibility)
    for col in ("level", "code", "unit"):
        if col not in resp:
            raise InputError(f"the responsibility table needs a {col!r} column (have {list(resp.columns)})")
    resp = resp.assign(code=resp["code"].astype(str))
    for col in RESPONSIBILITY_COLUMNS:
        values = resp[col] if col in resp else pd.Series("", index=resp.index)
        resp[col] = values.astype("string").fillna("")
    # least specific first, so a more specific level with a unit overwrites
    for level in ("street", "community", "grid"):
        rows = resp[resp["level"] == level].drop_duplicates("code", keep="first")
        rows = rows[rows["unit"] != ""].set_index("code")
        if not len(rows):
            continue
        key = codes[f"{level}_code"].astype(str).to_numpy()
        pos = rows.index.get_indexer(key)
        hit = pos >= 0
        for col in RESPONSIBILITY_COLUMNS:
            out.loc[hit, col] = rows[col].to_numpy(dtype=object)[pos[hit]]
    return out


def _to_metric(frame: gpd.GeoDataFrame | None, crs: pyproj.CRS, what: str) -> gpd.GeoDataFrame | None:
    if frame is None:
        return None
    if not isinstance(frame, gpd.GeoDataFrame) or frame.crs is None:
        raise InputError(f"{what} must be a GeoDataFrame with a CRS")
    frame = to_crs(frame, crs)  # a layer already in the grids' CRS is not transformed again
    return frame if frame.index.equals(pd.RangeIndex(len(frame))) else frame.reset_index(drop=True)


#: The dtype pandas gives a column of Python strings (``str``, Arrow-backed, since pandas 3).
_STR = pd.Series(np.array([""], dtype=object)).dtype


def _strings(values: np.ndarray | pa.Array, codes: np.ndarray) -> Any:
    """``values[codes]`` as a string column, taken in Arrow: no Python string per row. *values*: Python
    strings, or an Arrow text array."""
    arrow = isinstance(values, pa.Array)
    if isinstance(_STR, pd.StringDtype) and _STR.storage == "pyarrow":
        codes = np.asarray(codes, dtype=np.int64)
        if not arrow:
            values = np.asarray(values, dtype=object)
            if len(values) > 256 and len(codes):  # only the strings the codes name become Arrow text (a table
                first, local = _distinct(codes)    # of 44k units of which the cases name a few: 35 -> 8 ms)
                values, codes = values[codes[first]], local
        table = values if arrow else pa.array(values, type=pa.large_string())
        taken = _take_one(table, codes)
        return pd.array(table.take(codes) if taken is None else taken, dtype=_STR)
    return np.asarray(values.to_numpy(zero_copy_only=False) if arrow else values, dtype=object)[codes]


def _take_one(table: pa.Array, codes: np.ndarray) -> pa.Array | None:
    """``table.take(codes)`` when every code is the same, or the table holds one value (a column that names
    one value for every case, as ``responsibility_basis``, an empty ``responsible_team`` or the district of a
    one-district grid set often do): the value's bytes repeated, no offsets to follow (2.5 ms instead of 7
    for 291k cases). None otherwise."""
    if not len(codes) or not pa.types.is_large_string(table.type):
        return None
    if codes.min() != codes.max() and (table.null_count or not pc.all(pc.equal(table, table[0])).as_py()):
        return None
    value = table[int(codes[0])]
    if not value.is_valid:
        return None
    text = value.as_py().encode("utf-8")
    n = len(codes)
    offsets = np.arange(n + 1, dtype=np.int64) * len(text)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(text * n))


def _distinct(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of the first row of each distinct value of *key*, and each row's distinct value, in order of
    first appearance (``pd.factorize``). Small non-negative integers (grid positions, pair codes) by a table
    over their range, others by hashing; no sort of the rows either way.

    >>> [a.tolist() for a in _distinct(np.array([5, 2, 5, 7, 2]))]
    [[0, 1, 3], [0, 1, 0, 2, 1]]
    """
    key = np.asarray(key)
    n = len(key)
    if n and key.dtype.kind in "iu" and int(key.min()) >= 0 and int(key.max()) < 2 * n + 65_536:
        at = np.full(int(key.max()) + 1, n, dtype=np.int64)
        at[key[::-1]] = np.arange(n - 1, -1, -1)  # the last write wins: each value's first row
        first = np.sort(at[at < n])
        rank = np.empty(len(at), dtype=np.int64)
        rank[key[first]] = np.arange(len(first))
        return first, rank[key]
    codes, uniques = pd.factorize(key)
    first = np.empty(len(uniques), dtype=np.int64)
    first[codes[::-1]] = np.arange(len(key) - 1, -1, -1)
    return first, codes


def _stripped_codes(column: pd.Series | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``column.astype("string").fillna("").str.strip().factorize()``, with the text work done on the
    distinct values only (a night has a few hundred class codes and many cases)."""
    if column is None:
        return np.zeros(n, dtype=np.int64), np.array([""], dtype=object)
    codes, uniques = pd.factorize(column)  # a missing value: -1, the "" appended below
    text = pd.Series(uniques, dtype=object).astype("string").fillna("").str.strip()
    merged, values = pd.factorize(pd.concat([text, pd.Series([""], dtype="string")], ignore_index=True))
    return merged[codes], np.asarray(values, dtype=object)


# --------------------------------------------------------------------------- the steps of assign
@dataclass
class _Grids:
    """The grid editions of one call, checked: frames in the metric CRS and their indexes."""

    editions: list[Any]
    originals: list[gpd.GeoDataFrame]
    frames: list[gpd.GeoDataFrame]
    indexes: list[GridIndex]
    metric: pyproj.CRS


@dataclass
class _Classes:
    """Class code and kind of each case as a code into their distinct pairs: the catalogue and the
    rules are asked once per pair (a night has a few hundred classes and many cases)."""

    code: np.ndarray      # per case: its pair
    classes: np.ndarray   # per pair: class code (stripped, "" if none)
    kinds: np.ndarray     # per pair: kind (from the catalogue when missing)

    @classmethod
    def of(cls, points: pd.DataFrame) -> _Classes:
        (c_code, c_values), (k_code, k_values) = (_stripped_codes(points[c] if c in points else None, len(points))
                                                  for c in ("class_code", "kind"))
        first, code = _distinct(c_code.astype(np.int64) * (len(k_values) + 1) + k_code)
        classes = np.asarray(c_values, dtype=object)[c_code[first]]
        kinds = np.asarray(k_values, dtype=object)[k_code[first]]
        missing = (kinds == "") & (classes != "")
        if missing.any():
            kinds[missing] = _kind_from_catalogue(pd.Series(classes[missing], dtype="string"))
        return cls(code, classes, kinds)


@dataclass
class _Checked:
    """The cases after the checks: accepted points (metric CRS) and who is rejected so far."""

    source: pd.DataFrame          # the input rows (positional index), what rejects are cut from
    original_index: pd.Index     # the caller's index
    points: gpd.GeoDataFrame      # accepted by read_points, index = positions in source
    read_rejects: pd.DataFrame    # rejected by read_points
    late: Rejects                 # rejects found by assign itself, over the positions of source
    classes: _Classes             # per accepted point: class code and kind
    which: np.ndarray             # per accepted point: edition position (-1: none valid)
    location_field: str           # the field a "no grid" reject names
    xy: tuple[np.ndarray, np.ndarray] | None = None   # coordinates of the points (metric CRS), when read already


@dataclass
class _Located:
    """The accepted cases in their grids (arrays cover the cases still accepted after locate)."""

    keep: np.ndarray              # positions (in points) of the cases that are assigned
    which: np.ndarray
    pos: np.ndarray               # grid position in its edition's frame
    x: np.ndarray
    y: np.ndarray
    points: np.ndarray            # shapely points, metric CRS
    distance: np.ndarray
    near: np.ndarray
    near_street: np.ndarray


@dataclass
class _Responsibility:
    """Per assigned case: string columns (values + codes) and the rule applied."""

    columns: dict[str, tuple[np.ndarray, np.ndarray]]


def _check_grids(gridset: Any, index: GridIndex | Sequence[GridIndex] | None, when: str | None) -> _Grids:
    """The grid editions of a call: frames in the metric CRS, their indexes (given, or built once and cached)."""
    editions = list(gridset) if isinstance(gridset, Sequence) and not isinstance(gridset, str) else [gridset]
    if not editions:
        raise InputError("no grid set given")
    originals = [grids_of(g) for g in editions]
    if any(not isinstance(f, gpd.GeoDataFrame) or "grid_code" not in f for f in originals):
        raise InputError("gridset must be a GridSet or a GeoDataFrame with a grid_code column")
    metric = metric_crs_of_grids(originals[-1])
    frames = [f if _same_crs(f.crs, metric) else f.to_crs(metric) for f in originals]
    if len(editions) > 1 and when is None:
        raise InputError("several grid editions given: say which time column picks one (when='reported_at')")
    if index is None:
        indexes = []
    else:
        indexes = list(index) if isinstance(index, Sequence) else [index] * len(editions)
    if index is not None and len(indexes) != len(editions):
        raise InputError(f"{len(indexes)} indexes given for {len(editions)} grid editions")
    if index is not None and any(len(ix) != len(f) for ix, f in zip(indexes, frames, strict=True)):
        raise InputError("a given index was not built from these grids (different number of grids)")
    if any(not ix.crs.equals(metric) for ix in indexes):
        raise InputError(f"a given index is not in the grids' CRS ({metric.name})")
    indexes = indexes or [index_for(f, metric) for f in originals]
    return _Grids(editions, originals, frames, indexes, metric)


def _scatter(n: int, at: np.ndarray, values: np.ndarray, fill: Any = False) -> np.ndarray:
    out = np.full(n, fill, dtype=values.dtype)
    out[at] = values
    return out


def _check(cases: pd.DataFrame, grids: _Grids, *, crs: Any, id: str, when: str | None, check_classes: bool,
           roads: gpd.GeoDataFrame | None) -> _Checked:
    """Step 1: read and check the cases (coordinates, ids, times, class codes, kinds, edition at their time).

    Coordinates, ids and times are :func:`gridlib.io.read_points`' checks (same codes); class and
    kind are checked here against the catalogue, and a case whose time falls in no edition's
    window is rejected ``no_grid``.
    """
    if not isinstance(cases, pd.DataFrame):
        raise InputError(f"cases must be a DataFrame or GeoDataFrame, got {type(cases).__name__} "
                         "(read files with gl.io.open_table)")
    source = cases.set_axis(pd.RangeIndex(len(cases)))
    points, read_rejects, xy = read_points_xy(source, x="lon", y="lat", crs=crs, id=id if id in source.columns
                                              else None, time=when, area=None, to_crs=None, columns=None,
                                              sheet=None, header_row=1, encoding=None)
    if resolve_crs(crs)[1] is None and points.crs is not None and pyproj.CRS.from_user_input(points.crs).is_geographic:
        _warn_if_gcj02(points, grids.metric, grids.indexes[-1], roads)
    if _same_crs(points.crs, grids.metric):  # already there: only the CRS object is replaced
        # read_points' own frame and geometry array: only the CRS object is swapped (set_crs would copy the
        # array and write the column again, 20 ms at 300k points)
        points.geometry.array.crs = grids.metric
    else:
        points, xy = points.to_crs(grids.metric), None
    n, at = len(source), points.index.to_numpy()
    late = Rejects(source.index)

    def reject(mask: np.ndarray, code: str, reason: Any, field: str | None) -> None:
        if isinstance(reason, str) or not mask.any():
            late.add(_scatter(n, at, mask), code, reason, field=field)
            return
        text = np.full(len(mask), None, dtype=object)
        text[mask] = reason(mask)
        late.add(_scatter(n, at, mask), code, _scatter(n, at, text, None), field=field)

    classes = _Classes.of(points)
    code, class_codes, kinds = classes.code, classes.classes, classes.kinds
    if check_classes and "class_code" in points:
        has = class_codes != ""
        known = np.ones(len(class_codes), dtype=bool)
        if has.any():
            known[has] = _class_known(pd.Series(class_codes[has], dtype="string"), pd.Series(kinds[has]))
        reject(~known[code], "unknown_code", lambda m: "unknown class code " + class_codes[code[m]], "class_code")
    reject(~np.isin(kinds, ["component", "event", ""])[code], "unknown_value",
           "unknown kind (not component or event)", "kind")

    which = np.zeros(len(points), dtype=int)
    if len(grids.editions) > 1 or when is not None:
        t = pd.to_datetime(points[when]).to_numpy()
        which[:] = -1
        for k, ed in enumerate(grids.editions):
            lo, hi = _edition_window(ed)
            sel = (t >= lo.to_datetime64()) & (t < hi.to_datetime64())
            which[sel & (which < 0)] = k
        reject(which < 0, "no_grid", lambda m: "no grid edition valid at " + points[when].astype(str).to_numpy()[m],
               when)
    field = source.geometry.name if isinstance(source, gpd.GeoDataFrame) and not {"lon", "lat"} <= set(source) \
        else "lon,lat"
    return _Checked(source, cases.index, points, read_rejects, late, classes, which, field, xy)


def _locate(checked: _Checked, grids: _Grids, near_boundary_m: float) -> _Located:
    """Step 2: the grid of each case (:meth:`GridIndex.lookup`), its distance to the grid's boundary and
    whether another grid (of another street) lies within ``near_boundary_m``; rejects ``no_grid`` outside.

    Distances and the neighbours across shared edges come from the grids' topology
    (:meth:`gridlib.grid.topology.Topology.boundary_distance`, the one the index was built on); GEOS
    decides only the cases near an edge no other grid shares or near another street's grid.
    """
    points = checked.points
    geometry = np.asarray(points.geometry.array, dtype=object)
    # accepted points: one finite 2D coordinate each (as read_points read them, when it could say)
    x, y = checked.xy if checked.xy is not None else (shapely.get_x(geometry), shapely.get_y(geometry))
    which = checked.which
    pos = np.full(len(points), -1)
    for k, index in enumerate(grids.indexes):
        sel = np.flatnonzero(which == k)
        if len(sel):
            pos[sel] = index.lookup(x[sel], y[sel])
    at = points.index.to_numpy()
    outside = (pos < 0) & (which >= 0)
    checked.late.add(_scatter(len(checked.source), at, outside), "no_grid", "outside grid coverage",
                     field=checked.location_field)

    keep = np.flatnonzero(checked.late.ok[at])
    x, y, pos, which, geometry = x[keep], y[keep], pos[keep], which[keep], geometry[keep]
    dist, near, near_street = _boundary_flags(grids, which, pos, x, y, near_boundary_m)
    return _Located(keep, which, pos, x, y, geometry, dist, near, near_street)


def _boundary_flags(grids: _Grids, which: np.ndarray, pos: np.ndarray, x: np.ndarray, y: np.ndarray,
                    near_boundary_m: float, edges: list[tuple[Any, ...]] | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The part of step 2 after the lookup, for located points (edition *which*, grid *pos*): distance to
    the grid's boundary, ``near_boundary`` and ``near_street_boundary`` (also :class:`PreparedAssign`'s).
    *edges*: per edition its grids' geometries (object array) and :func:`_edge_grids`, worked out before
    (:class:`PreparedAssign`: a geometry array of every grid per case costs more than the rest of a case)."""
    dist = np.full(len(pos), np.nan)
    near = np.zeros(len(pos), dtype=bool)
    near_street = np.zeros(len(pos), dtype=bool)
    d = near_boundary_m
    for k, frame in enumerate(grids.frames):
        whole = len(grids.frames) == 1  # one edition: every point, no selection to copy through
        sel = np.arange(len(pos)) if whole else np.flatnonzero(which == k)
        if not len(sel):
            continue
        xs, ys, own = (x, y, pos) if whole else (x[sel], y[sel], pos[sel])
        # the distance to the own grid's boundary segments, and the grids across its shared edges
        # within reach: those are near (exact, and most cases near a boundary are settled so)
        dk, pt, other = grids.indexes[k].topology.boundary_distance(xs, ys, own, reach=d if d > 0 else None)
        if whole:  # every point: no selection to go through
            dist = dk
        else:
            dist[sel] = dk
        if d <= 0:
            continue
        # another grid is never closer than the point's own grid boundary
        close = np.flatnonzero(dk <= d) if whole else sel[dk <= d]
        if not whole:
            pt = sel[pt]
        if not len(close):
            continue
        if edges is None:
            geoms = np.asarray(frame.geometry.array, dtype=object)
            _, tree, street, reaches = _edge_grids(grids.originals[k], grids.indexes[k], geoms)
        else:
            geoms, _, tree, street, reaches = edges[k]
        # (get first: an empty _Reach is two arrays over every grid, not to be built per call)
        reach = reaches.get(float(d)) or reaches.setdefault(float(d), _Reach.empty(len(geoms)))
        near[pt] = True   # (pt: positions among every located point)
        near_street[pt[street[other] != street[pos[pt]]]] = True
        close_pos = pos[close]
        if 8 * len(close_pos) < len(geoms):      # a few points (a live case): no array over every grid
            hit = np.unique(close_pos)
            edge_close = _street_edge(tree, geoms, street, hit, d, reach)[np.searchsorted(hit, close_pos)]
        else:
            hit = np.zeros(len(geoms), dtype=bool)
            hit[close_pos] = True
            hit = np.flatnonzero(hit)  # the grids of the close points (distinct, sorted)
            edge_of = np.zeros(len(geoms), dtype=bool)
            edge_of[hit] = _street_edge(tree, geoms, street, hit, d, reach)
            edge_close = edge_of[close_pos]
        # still open: no shared edge within reach (an edge of the coverage, a T-junction), or a
        # grid of another street may lie within reach beyond a shared edge of the same street
        ask = close[~near[close] | (edge_close & ~near_street[close])]
        if len(ask):
            pt, other = _grids_within(tree, geoms, street, pos[ask], grids.indexes[k], x[ask], y[ask],
                                      near[ask], d, reach)
            near[ask[pt]] = True
            near_street[ask[pt[street[other] != street[pos[ask][pt]]]]] = True
    return dist, near, near_street


#: The order in which each rule tries the bases (the first that names a unit decides).
_ORDERS = {
    "owner_first": ("component_owner", "component_maintainer", "frontage_zone", "road_section", "grid_team",
                    "territory_fallback"),
    "territory_first": ("frontage_zone", "road_section", "grid_team", "component_owner", "component_maintainer",
                        "territory_fallback"),
}


def _responsibility(checked: _Checked, located: _Located, grids: _Grids, *, rules: Any,
                    components: gpd.GeoDataFrame | None, zones: gpd.GeoDataFrame | None,
                    roads: gpd.GeoDataFrame | None, responsibility: pd.DataFrame | None,
                    component_radius_m: float) -> _Responsibility:
    """Step 3: levels, rule and responsible unit of each located case, with the basis that decided.

    Everything that depends on the grid alone (codes, names, grid team, street fallback) is
    worked out once per grid hit; the rule once per (class, kind).
    """
    keep, points = located.keep, located.points
    # the grids hit: per distinct (edition, grid) the level codes and names
    offset = np.cumsum([0] + [len(f) for f in grids.frames])
    key = offset[located.which] + located.pos
    first, inv = _distinct(key)
    own = key[first]
    level_cols = ["grid_code", *[f"{lv}_{w}" for lv in LEVELS for w in ("code", "name")]]
    code_cols = ["grid_code", "community_code", "street_code"]  # what responsible() reads
    arrow = _level_arrow(grids.frames[0], own) if len(grids.frames) == 1 else None
    if arrow is not None:  # the grids' text columns taken in Arrow: no Python string per grid
        columns: dict[str, tuple[Any, np.ndarray]] = {c: (arrow[c], inv) for c in level_cols}
        codes = pd.DataFrame({c: pd.array(arrow[c], dtype=_STR) for c in code_cols})
        large = pa.large_string()
        fallback = pc.if_else(pc.equal(arrow["street_name"], ""), pc.binary_join_element_wise(
            pa.scalar("street ", large), arrow["street_code"], pa.scalar("", large)), arrow["street_name"])
        fallback = fallback.to_numpy(zero_copy_only=False).astype(object)
    else:
        grid_attrs = {c: np.empty(len(own), dtype=object) for c in level_cols}
        for k, frame in enumerate(grids.frames):
            sel = np.flatnonzero((own >= offset[k]) & (own < offset[k + 1]))
            if len(sel):
                lv = _level_attrs(frame, own[sel] - offset[k])
                for c in level_cols:
                    grid_attrs[c][sel] = lv[c]
        columns = {c: (grid_attrs[c], inv) for c in level_cols}
        codes = pd.DataFrame({c: grid_attrs[c] for c in code_cols})
        street_name, street_code = grid_attrs["street_name"], grid_attrs["street_code"]
        fallback = np.where(street_name != "", street_name, "street " + street_code.astype(str)).astype(object)
    if responsibility is None or len(responsibility) == 0:  # responsible()'s answer without a table: no unit
        team_unit = team_name = np.full(len(own), "", dtype=object)
    else:
        who = responsible(codes, responsibility)
        team_unit, team_name = who["unit"].to_numpy(dtype=object), who["team"].to_numpy(dtype=object)

    # the catalogue's rules of each case's own edition (gl.codes.responsibility_rules), or the caller's table
    pair, class_codes, kinds = checked.classes.code[keep], checked.classes.classes, checked.classes.kinds
    if rules is None:
        rules_of_pairs = rule_of(class_codes.astype(str), kinds)
    else:
        rules_of_pairs = _rule_for(class_codes.astype(str), kinds, load_rules(rules))
    rules_of_pairs = np.asarray(rules_of_pairs, dtype=object)
    comp = _to_metric(components, grids.metric, "components")
    zone_frame = _to_metric(zones, grids.metric, "zones")
    road_frame = _to_metric(roads, grids.metric, "roads")
    cmatch = np.full(len(keep), -1)
    if comp is not None and len(comp):  # (without components: no per-case rows, texts or classes to make)
        case_rows = pd.DataFrame(index=pd.RangeIndex(len(keep)))
        if "component_id" in checked.points:
            case_rows["component_id"] = checked.points["component_id"].iloc[keep].reset_index(drop=True)
        component_classes = np.where(kinds == "component", class_codes, "").astype(object)[pair]
        cmatch = _component_match(case_rows, points, component_classes, comp, component_radius_m)
    zmatch = _first_covering(points, zone_frame, "zone_id")
    rmatch = _roads_within(points, road_frame)

    # one table of every candidate unit; per case, per basis, the row of its candidate (-1: none)
    sources = {
        "component_owner": (_values(comp, "owner_unit"), cmatch),
        "component_maintainer": (_values(comp, "maintainer_unit"), cmatch),
        "frontage_zone": (_values(zone_frame, "unit"), zmatch),
        "road_section": (_values(road_frame, "unit"), rmatch),
        "grid_team": (team_unit, inv),
        "territory_fallback": (fallback, inv),
    }
    unit, units, basis = _choose(sources, rules_of_pairs, pair)
    teams = np.append(team_name, "").astype(object)
    columns["responsible_unit"] = (units, unit)
    columns["responsible_team"] = (teams, np.where(basis == BASES.index("grid_team"), inv, len(teams) - 1))
    columns["responsibility_basis"] = (np.array([*BASES, ""], dtype=object), basis)
    columns["responsibility_rule"] = (rules_of_pairs.astype(str).astype(object), pair)
    return _Responsibility(columns)


def _choose(sources: dict[str, tuple[np.ndarray, np.ndarray]], rule: np.ndarray, pair: np.ndarray | None = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The decision of step 3: per case, the earliest basis of its *rule*'s order that names a unit.

    *sources* maps each basis to (candidate units, per case the row of its candidate, -1: none).
    *rule* is per case, or with *pair* per distinct pair (``pair`` the pair of each case).
    Returns per case the row of its unit in *units* (the table of every candidate unit, also
    returned) and the position of its basis in :data:`BASES` (``len(BASES)``: none).
    """
    n = len(rule) if pair is None else len(pair)
    units = np.concatenate([v for v, _ in sources.values()] + [np.array([""], dtype=object)])
    start = dict(zip(sources, np.cumsum([0] + [len(v) for v, _ in sources.values()]), strict=False))
    nothing = len(units) - 1
    named = units != ""  # per candidate row: does it name a unit
    # per basis that can name a unit: its candidate row per case and whether that names one
    cand: dict[str, np.ndarray] = {}
    names: dict[str, np.ndarray] = {}
    for b, (v, p) in sources.items():
        if not len(v) or not named[start[b]:start[b] + len(v)].any():
            continue  # names nobody: never decides
        cand[b] = np.where(p >= 0, start[b] + p, nothing)
        names[b] = named[cand[b]]
    unit = np.full(n, nothing)
    basis = np.full(n, len(BASES))
    if len(cand) == 1 and np.isin(np.asarray(rule, dtype=object), list(_ORDERS)).all():
        # one basis can decide (every rule's order has it): it does wherever it names a unit
        (b, c), = cand.items()
        np.copyto(unit, c, where=names[b])
        np.copyto(basis, BASES.index(b), where=names[b])
        return unit, units, basis
    for name, order in _ORDERS.items():
        open_ = rule == name if pair is None else (np.asarray(rule) == name)[pair]
        for b in order:  # the earliest basis that names a unit decides
            if b not in cand or not open_.any():
                continue
            sel = open_ & names[b]
            np.copyto(unit, cand[b], where=sel)
            np.copyto(basis, BASES.index(b), where=sel)
            open_ &= ~sel
    return unit, units, basis


#: Up to this many cases, :class:`PreparedAssign` decides each case's basis in plain Python (:func:`_choose_few`).
_FEW_CASES = 8


def _choose_few(sources: dict[str, tuple[np.ndarray, np.ndarray]], rule: list[Any]) -> list[tuple[Any, str]]:
    """:func:`_choose` for a few cases, one at a time: per case its unit text and basis (``""`` and ``""``: none).

    The same decision: the earliest basis of the case's rule order whose candidate names a unit (a basis none
    of whose candidates names one never decides, so a case's own candidate is all there is to look at).

    >>> units = np.array(["", "市政所"], dtype=object)
    >>> sources = {b: (units, np.array([-1, 1])) for b in BASES}
    >>> _choose_few(sources, ["owner_first", "territory_first"])
    [('', ''), ('市政所', 'frontage_zone')]
    """
    out = []
    for i, name in enumerate(rule):
        chosen: tuple[Any, str] = ("", "")
        for b in _ORDERS.get(name, ()):
            if b not in sources:
                continue
            values, rows = sources[b]
            row = int(rows[i])
            if row >= 0 and values[row] != "":
                chosen = (values[row], b)
                break
        out.append(chosen)
    return out


def _values(frame: gpd.GeoDataFrame | None, column: str) -> np.ndarray:
    """A text column of a layer as Python strings ("" where missing or absent)."""
    if frame is None:
        return np.array([], dtype=object)
    if column not in frame:
        return np.full(len(frame), "", dtype=object)
    return frame[column].astype("string").fillna("").to_numpy(dtype=object)


def _assemble(checked: _Checked, located: _Located, resp: _Responsibility,
              grids: _Grids) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Step 4: the assigned frame (input columns + :data:`OUTPUT_COLUMNS`) and every reject, in input order."""
    # one frame constructor over whole columns (each column taken once, no column-by-column inserts)
    points, keep = checked.points, located.keep
    name = points.geometry.name
    # the geometries of the assigned cases are the located points (taken once, in _locate)
    data: dict[str, Any] = {c: (located.points if c == name else points[c].array.take(keep)) for c in points.columns}
    for col in (*("grid_code", *[f"{lv}_{w}" for lv in LEVELS for w in ("code", "name")]),
                "responsible_unit", "responsible_team", "responsibility_basis", "responsibility_rule"):
        data[col] = _strings(*resp.columns[col])
    data["distance_to_boundary_m"] = np.round(located.distance, 3)
    data["near_boundary"] = located.near
    data["near_street_boundary"] = located.near_street
    if len(grids.editions) > 1:
        ids = np.array([str((getattr(e, "edition", None) or {}).get("edition_id") or k)
                        for k, e in enumerate(grids.editions)], dtype=object)
        data["edition_id"] = ids[located.which]
        data["grid_code_current"] = grids.indexes[-1].codes(located.x, located.y)
    data[name] = gpd.array.GeometryArray(data[name], crs=points.crs)
    # the columns as they are: GeoDataFrame copies a DataFrame it is given unless told copy=False
    result = gpd.GeoDataFrame(data, index=points.index[keep], geometry=name, crs=points.crs, copy=False)

    late = checked.late.frame(checked.source)
    if isinstance(checked.source, gpd.GeoDataFrame):
        late = pd.DataFrame(late)
    rejects = _after_no_rows(checked.read_rejects, late) if len(late) else checked.read_rejects
    rejects = rejects.sort_index(kind="stable")
    result.index = checked.original_index[result.index]
    rejects.index = checked.original_index[rejects.index]
    return result, rejects


def _after_no_rows(first: pd.DataFrame, late: pd.DataFrame) -> pd.DataFrame:
    """``pd.concat([first, late])``; when *first* has no rows (every case read cleanly), *late* given the columns
    and dtypes of that concatenation without copying its rows (170k rejects of city-quick: 13 -> ~2 ms). Only
    columns that keep their dtype, a missing column (object, NaN) and ``str`` -> ``string`` are done so; anything
    else is left to concat.

    >>> a = pd.DataFrame({"id": pd.array([], dtype="string"), "wkt": pd.Series([], dtype=object)})
    >>> b = pd.DataFrame({"id": pd.array(["x"], dtype="str"), "code": pd.array(["no_grid"], dtype="string")}, index=[3])
    >>> out = _after_no_rows(a, b)
    >>> out.equals(pd.concat([a, b])), [str(t) for t in out.dtypes]
    (True, ['string', 'object', 'string'])
    >>> _after_no_rows(a, b.assign(n=[1]))["n"].dtype   # int64 -> float64: concat's own
    dtype('float64')
    """
    if len(first):
        return pd.concat([first, late])
    shape = pd.concat([first, late.iloc[:0]])  # the columns and dtypes concat gives
    out: dict[str, Any] = {}
    for col, dtype in shape.dtypes.items():
        if col in late and late[col].dtype == dtype:
            out[col] = late[col]
        elif col not in late and pd.api.types.is_object_dtype(dtype):
            out[col] = pd.Series(np.full(len(late), np.nan, dtype=object), index=late.index, dtype=object)  # no inference
        elif col in late and late[col].dtype == _STR and isinstance(dtype, pd.StringDtype) and dtype.na_value is pd.NA:
            out[col] = late[col].astype(dtype)
        else:
            return pd.concat([first, late])
    return pd.DataFrame(out, index=late.index, copy=False)


def assign(
    cases: pd.DataFrame,
    gridset: GridSet | gpd.GeoDataFrame | Sequence[GridSet],
    *,
    rules: str | Path | pd.DataFrame | None = None,
    components: gpd.GeoDataFrame | None = None,
    zones: gpd.GeoDataFrame | None = None,
    roads: gpd.GeoDataFrame | None = None,
    responsibility: pd.DataFrame | None = None,
    when: str | None = None,
    near_boundary_m: float = 20.0,
    component_radius_m: float = 30.0,
    crs: CRSLike = "EPSG:4326",
    id: str = "case_id",
    check_classes: bool = True,
    index: GridIndex | Sequence[GridIndex] | None = None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Assign cases to grid, community, street, district and responsible unit.

    Parameters
    ----------
    cases : DataFrame, GeoDataFrame or dask-geopandas GeoDataFrame
        Case log rows (docs/conventions.md): ``case_id``, ``class_code``, ``kind``,
        ``reported_at``, ``component_id``, ``lon``/``lat`` (or a point geometry).
        A dask frame is assigned partition by partition (:func:`gridlib.partitions.map_accepted_rejects`).
    gridset : GridSet, GeoDataFrame or sequence of GridSets
        The unit grids (``grid_code`` plus optional ``*_code``/``*_name`` columns).
        With ``when=``, a sequence of editions (each with ``edition["valid_from"/"valid_to"]``)
        from which each case takes the one valid at its time.
    rules : path, DataFrame or None
        Responsibility rule table (see :func:`load_rules`).
    components : GeoDataFrame, optional
        Inventory ``component_id, owner_unit, maintainer_unit`` (+ ``class_code``), points.
    zones : GeoDataFrame, optional
        Frontage / sanitation polygons ``zone_id, unit``.
    roads : GeoDataFrame, optional
        Road sections ``section_id, unit, width_m`` (lines); a case within ``width_m / 2`` goes there.
    responsibility : DataFrame, optional
        ``level`` (grid|community|street), ``code``, ``unit``, ``team`` (+ person, phone).
    when : str, optional
        Time column choosing the edition (``reported_at`` typically).
    near_boundary_m : float
        ``near_boundary`` is set when another grid lies within this distance.
    component_radius_m : float
        Search radius for the nearest component of the case's class.
    crs : CRS of ``lon``/``lat`` ("gcj02" is converted); a GeoDataFrame's own CRS wins.
    id : str
        Case identifier column; missing or duplicate ids are rejected.
    check_classes : bool
        Reject class codes not in the catalogue (either edition, city extensions included).
    index : GridIndex or list of GridIndex, optional
        Prebuilt index per edition (built from the same grids); by default built once per
        grid frame and cached.

    Returns
    -------
    assigned : GeoDataFrame
        Input columns plus :data:`OUTPUT_COLUMNS` (and ``edition_id`` / ``grid_code_current``
        with editions), in the metric CRS of the grids, input order and index.
    rejects : DataFrame
        Rejected input rows as given, plus ``reason_code`` (from :data:`gridlib.rejects.CODES`:
        what :func:`gridlib.io.read_points` finds, and ``unknown_code`` for a class code not in
        the catalogue, ``unknown_value`` for a kind, ``no_grid`` outside every grid or with no
        edition valid at the case's time), ``field`` and ``reason``.

    Examples
    --------
    >>> import geopandas as gpd, pandas as pd, shapely
    >>> grids = gpd.GeoDataFrame({"grid_code": ["410105001003001"]},
    ...     geometry=[shapely.box(0, 0, 100, 100)], crs=4547)
    >>> team = pd.DataFrame({"level": ["community"], "code": ["410105001003"], "unit": ["社区工作站"]})
    >>> cases = gpd.GeoDataFrame({"case_id": ["k1"], "class_code": ["06012"], "kind": ["event"]},
    ...     geometry=[shapely.Point(10, 10)], crs=4547)
    >>> done, _ = assign(cases, grids, responsibility=team)
    >>> done[["responsible_unit", "responsibility_basis", "responsibility_rule"]].values.tolist()
    [['社区工作站', 'grid_team', 'territory_first']]
    """
    if is_dask_frame(cases):
        return _assign_on_dask(cases, gridset, rules=rules, components=components, zones=zones, roads=roads,
                               responsibility=responsibility, when=when, near_boundary_m=near_boundary_m,
                               component_radius_m=component_radius_m, crs=crs, id=id,
                               check_classes=check_classes)
    grids = _check_grids(gridset, index, when)
    checked = _check(cases, grids, crs=crs, id=id, when=when, check_classes=check_classes, roads=roads)
    located = _locate(checked, grids, near_boundary_m)
    resp = _responsibility(checked, located, grids, rules=rules, components=components, zones=zones, roads=roads,
                           responsibility=responsibility, component_radius_m=component_radius_m)
    result, rejects = _assemble(checked, located, resp, grids)
    assert len(result) + len(rejects) == len(cases)
    log.info("assign: %d cases, %d assigned, %d rejected", len(cases), len(result), len(rejects))
    return result, rejects


def _warn_if_gcj02(points: gpd.GeoDataFrame, metric: pyproj.CRS, index: GridIndex,
                   roads: gpd.GeoDataFrame | None, sample: int = 2000) -> None:
    """Warn when undeclared WGS84 input fits the grids (or roads) much better read as GCJ-02."""
    from gridlib.crs import gcj02_to_wgs84

    if len(points) < 20:
        return
    take = np.linspace(0, len(points) - 1, min(sample, len(points))).astype(int)
    lon = shapely.get_x(points.geometry.values[take])
    lat = shapely.get_y(points.geometry.values[take])
    glon, glat = gcj02_to_wgs84(lon, lat)
    if np.nanmax(np.hypot(glon - lon, glat - lat)) < 1e-4:  # outside China: GCJ-02 is the identity
        return
    to_metric = pyproj.Transformer.from_crs(4326, metric, always_xy=True).transform
    x0, y0 = to_metric(lon, lat)
    x1, y1 = to_metric(glon, glat)
    inside0 = float(np.mean(index.lookup(x0, y0) >= 0))
    inside1 = float(np.mean(index.lookup(x1, y1) >= 0))
    evidence = []
    if inside1 - inside0 >= 0.2 and inside1 >= 0.5:
        evidence.append(f"{inside1:.0%} of a sample falls inside the grids read as GCJ-02 against "
                        f"{inside0:.0%} read as WGS84")
    if roads is not None and len(roads):
        lines = np.asarray(roads.to_crs(metric).geometry.array, dtype=object)
        tree = shapely.STRtree(lines)
        d0 = np.median(tree.query_nearest(shapely.points(x0, y0), return_distance=True, all_matches=False)[1])
        d1 = np.median(tree.query_nearest(shapely.points(x1, y1), return_distance=True, all_matches=False)[1])
        if d0 > 2 * d1 and d0 - d1 > 50:
            evidence.append(f"the median distance to the roads drops from {d0:.0f} m to {d1:.0f} m")
    if evidence:
        message = ("the coordinates look like undeclared GCJ-02 (web-map) coordinates: " + "; ".join(evidence)
                   + ". Declare them with crs='gcj02' (CLI: --crs gcj02).")
        log.warning(message)
        warnings.warn(message, UserWarning, stacklevel=3)


def assign_in_db(store: PostgisStore, cases: str = "cases", grids: str = "grids", *, edition_id: str | None = None,
                 id: str = "case_id") -> pd.DataFrame:
    """Grid assignment inside PostGIS (``sql/100_assign.sql``): same rule as :class:`GridIndex`.

    Parameters
    ----------
    store : PostgisStore
        An open PostGIS store (``gl.store.open("postgresql://...")``) holding both layers.
    cases, grids : str
        Layer names in the store's schema; the grids need ``grid_code`` and a geometry.
    edition_id : str, optional
        Only grids of this edition (the ``edition_id`` column the grid import writes).
    id : str
        Case identifier column.

    Returns
    -------
    DataFrame
        ``case_id, grid_code`` (None outside every grid), ``distance_to_boundary_m``, in case-id order.

    Examples
    --------
    >>> import os, tempfile
    >>> import gridlib as gl
    >>> store = gl.store.open("postgresql://gridlib@localhost:5432/gridlib")  # needs a PostGIS server  # doctest: +SKIP
    >>> assign_in_db(store, "cases", "grids").columns.tolist()  # needs a PostGIS server  # doctest: +SKIP
    ['case_id', 'grid_code', 'distance_to_boundary_m']
    >>> assign_in_db(gl.store.open(os.path.join(tempfile.mkdtemp(), "local.gpkg")))
    Traceback (most recent call last):
    ...
    gridlib.errors.InputError: in-database assignment needs a PostGIS store (postgresql://...)
    """
    from psycopg import sql

    con = getattr(store, "connection", None)
    if con is None:
        raise InputError("in-database assignment needs a PostGIS store (postgresql://...)")
    schema = store.schema
    missing = {cases, grids} - set(store.layers())
    if missing:
        raise InputError(f"layers {sorted(missing)} are not in the store (schema {schema}); write them first")
    rows = con.execute(
        "SELECT case_id, grid_code, distance_to_boundary_m FROM gridlib_meta.assign_grid("
        "%s::regclass, %s::regclass, %s, 'grid_code', %s) ORDER BY case_id COLLATE \"C\"",
        # table names quoted by psycopg (the regclass cast only resolves a name; it never runs SQL)
        (sql.Identifier(schema, cases).as_string(con), sql.Identifier(schema, grids).as_string(con), id,
         edition_id)).fetchall()
    return pd.DataFrame(rows, columns=["case_id", "grid_code", "distance_to_boundary_m"], dtype=object)



# --------------------------------------------------------------------------- prepared (live intake)
def _record_value(value: Any) -> Any:
    """A frame cell as a plain JSON-able Python value (None for missing)."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value


def _finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and np.isfinite(value)


_TIE = 1e-6       # as gridlib.grid.topology's: the fast squared distance's margin before GEOS' formula decides


def _segment_distance(px: float, py: float, ax: float, ay: float, bx: float, by: float) -> float:
    """:func:`gridlib.grid.topology.point_segment_distance` for one point and segment (GEOS' formula, the same
    floating-point operations in the same order).

    >>> _segment_distance(5.0, -2.0, 0.0, 0.0, 10.0, 0.0), _segment_distance(13.0, 4.0, 0.0, 0.0, 10.0, 0.0)
    (2.0, 5.0)
    """
    dx, dy = bx - ax, by - ay
    ex, ey = px - ax, py - ay
    len2 = dx * dx + dy * dy
    if (ax == bx and ay == by) or (ex * dx + ey * dy) / len2 <= 0.0:
        return math.sqrt(ex * ex + ey * ey)
    if (ex * dx + ey * dy) / len2 >= 1.0:
        fx, fy = px - bx, py - by
        return math.sqrt(fx * fx + fy * fy)
    return abs(((ay - py) * dx - (ax - px) * dy) / len2) * math.sqrt(len2)


class _OnePoint:
    """:class:`PreparedAssign`'s tables for one case at a time in plain Python: the grids' boundary segments
    (:class:`gridlib.grid.topology.Topology`'s, as lists), the layers' keys and units as lists. Same decisions as
    the array path (:func:`_boundary_flags`, :func:`_first_covering`, :func:`_roads_within`,
    :func:`_component_match`, :func:`_choose_few`)."""

    def __init__(self, prepared: PreparedAssign) -> None:
        self.prepared = prepared
        topo = prepared.grids.indexes[0].topology
        sdx, sdy, sinv = topo.segment_terms
        self.seg_off = topo.seg_off.tolist()
        self.ax, self.ay, self.bx, self.by = topo.ax.tolist(), topo.ay.tolist(), topo.bx.tolist(), topo.by.tolist()
        self.sdx, self.sdy, self.sinv, self.partner = sdx.tolist(), sdy.tolist(), sinv.tolist(), topo.partner.tolist()
        self.geoms, _, self.tree, street, self.reaches = prepared._edges[0]
        self.street_arr, self.street = street, street.tolist()
        self.level_cols = ["grid_code", *[f"{lv}_{w}" for lv in LEVELS for w in ("code", "name")]]
        comp, zone, road = prepared._layers
        self.comp, self.zone, self.road = comp, zone, road
        self.road_reach = float(road.half.max()) if road is not None else 0.0
        # the geometries as object arrays: a GeometryArray taken by a list of rows goes through pandas' indexers
        self.comp_geoms = np.asarray(comp.geoms, dtype=object) if comp is not None else None
        self.road_geoms = np.asarray(road.geoms, dtype=object) if road is not None else None
        self.comp_by_id = dict(zip(comp.by_id.index.tolist(), comp.by_id.tolist(), strict=True)) \
            if comp is not None else {}

    def flags(self, x: float, y: float, pos: int) -> tuple[float, bool, bool] | None:
        """Distance to grid *pos*'s boundary, ``near_boundary``, ``near_street_boundary`` of the point (*x*, *y*)
        in it, as :func:`_boundary_flags` (with :meth:`Topology.boundary_distance`) gives them; None when the
        distance is not finite (the array path decides)."""
        d = float(self.prepared.near_boundary_m)
        ax, ay, sdx, sdy, sinv = self.ax, self.ay, self.sdx, self.sdy, self.sinv
        lo, hi = self.seg_off[pos], self.seg_off[pos + 1]
        d2s = []
        best = math.inf
        for j in range(lo, hi):       # the fast squared distance (Topology._boundary_distance_few's arithmetic)
            ex, ey = x - ax[j], y - ay[j]
            dx, dy = sdx[j], sdy[j]
            u = (ex * dx + ey * dy) * sinv[j]
            u = 0.0 if u < 0.0 else 1.0 if u > 1.0 else u
            ex -= dx * u
            ey -= dy * u
            d2 = ex * ex + ey * ey
            d2s.append(d2)
            if not d2 >= 0.0:
                return None
            if d2 < best:
                best = d2
        t = math.sqrt(best) + _TIE
        limit = t * t
        bx, by = self.bx, self.by
        dist = math.inf
        for j, d2 in enumerate(d2s, lo):    # GEOS' formula, exactly, for the segments within _TIE of the nearest
            if d2 <= limit:
                dist = min(dist, _segment_distance(x, y, ax[j], ay[j], bx[j], by[j]))
        if not math.isfinite(dist):
            return None
        if not dist <= d:
            return dist, False, False
        near2, far2 = max(d - _TIE, 0.0) ** 2, (d + _TIE) ** 2
        partner, street = self.partner, self.street
        own = street[pos]
        near = near_street = False
        for j, d2 in enumerate(d2s, lo):    # the grids across the own grid's shared edges within reach
            if d2 <= far2 and partner[j] >= 0 and (
                    d2 <= near2 or _segment_distance(x, y, ax[j], ay[j], bx[j], by[j]) <= d):
                near = True
                near_street = near_street or street[partner[j]] != own
        reach = self.reaches.get(d) or self.reaches.setdefault(d, _Reach.empty(len(self.geoms)))
        edge = int(reach.street_edge[pos])
        if edge < 0:
            edge = int(_street_edge(self.tree, self.geoms, self.street_arr, np.array([pos]), d, reach)[0])
        if not near or (edge and not near_street):      # still open: GEOS decides (as _grids_within)
            pt, other = _grids_within(self.tree, self.geoms, self.street_arr, np.array([pos]),
                                      self.prepared.grids.indexes[0], np.array([x]), np.array([y]),
                                      np.array([near]), d, reach)
            if len(pt):
                near = True
                near_street = near_street or any(street[o] != own for o in other.tolist())
        return dist, near, near_street

    def _component(self, case: dict[str, Any], kind: str, point: Any) -> int:
        """:func:`_component_match` for one case: by its ``component_id``, else the nearest of its class."""
        comp = self.comp
        if comp is None:
            return -1
        ref = case.get("component_id")
        row = -1 if ref is None else self.comp_by_id.get(ref, -1)
        cls = (case.get("class_code") or "").strip() if kind == "component" else ""
        radius = self.prepared.component_radius_m
        if row >= 0 or cls == "" or not radius > 0:
            return row
        cand = [c for c in comp.tree.query(point, predicate="dwithin", distance=radius).tolist()
                if comp.classes[c] == cls]
        if not cand:
            return -1
        dist = shapely.distance(point, self.comp_geoms[cand]).tolist()
        return min(zip(dist, [comp.key[c] for c in cand], cand, strict=True), key=lambda t: (t[0], t[1]))[2]

    def _zone(self, point: Any) -> int:
        """:func:`_first_covering` for one point: the covering zone with the smallest ``zone_id``."""
        if self.zone is None:
            return -1
        cand = self.zone.tree.query(point, predicate="intersects").tolist()
        key = self.zone.key
        return min(cand, key=lambda c: key[c]) if cand else -1

    def _road(self, point: Any) -> int:
        """:func:`_roads_within` for one point: the nearest section whose half width reaches it (ties: section_id)."""
        road = self.road
        if road is None:
            return -1
        cand = road.tree.query(point, predicate="dwithin", distance=self.road_reach).tolist()
        if not cand:
            return -1
        dist = shapely.distance(point, self.road_geoms[cand]).tolist()
        ok = [(dt, road.key[c], c) for dt, c in zip(dist, cand, strict=True) if dt <= road.half[c]]
        return min(ok, key=lambda t: (t[0], t[1]))[2] if ok else -1

    def choose(self, case: dict[str, Any], pair: tuple[str, Any, str], grid: dict[str, Any], x: float, y: float
               ) -> tuple[Any, str]:
        """The unit text and basis of one case (:func:`_choose_few`), each basis' candidate found only when its
        rule order comes to it."""
        units = self.prepared._units
        point = None
        rows: dict[str, int] = {}
        for b in _ORDERS.get(pair[2], ()):
            if b == "grid_team":
                value = grid["_team_unit"]
            elif b == "territory_fallback":
                value = grid["_fallback"]
            else:
                if point is None:
                    point = shapely.points((x, y))
                key = "component" if b.startswith("component") else b
                if key not in rows:
                    rows[key] = self._component(case, pair[0], point) if key == "component" else \
                        self._zone(point) if key == "frontage_zone" else self._road(point)
                row = rows[key]
                value = units[b][row] if row >= 0 else ""
            if value != "":
                return value, b
        return "", ""


class PreparedAssign:
    """:func:`assign` for a few cases at a time, with everything that does not depend on the cases prepared once.

    For a service that assigns cases one by one (``gridlib serve``'s intake): the grids, their
    index, the layers in the grids' metric CRS with their STRtrees (:class:`_Layer`), the
    responsibility rows, levels and fallback of each grid, the catalogue check and rule of each
    (class, kind) are worked out once and reused. A case then runs the same steps as
    :func:`assign` — check, locate (:meth:`GridIndex.lookup`, :func:`_boundary_flags`),
    responsibility (:func:`_first_covering`, :func:`_roads_within`, :func:`_component_match`,
    :func:`responsible`, the rules, :func:`_choose`) and assemble — on plain records.

    Only a case whose record checks pass for sure takes this path (id a non-blank text that the
    batch does not repeat, finite in-range coordinates in a geographic CRS, a text
    ``component_id``); it is assigned, or rejected as :func:`assign` rejects it (unknown class
    code or kind, outside every grid). Every other case goes to :func:`assign` itself, so a bad
    case gets exactly its reject. One grid
    edition; no GCJ-02 guess (:func:`assign` warns about undeclared GCJ-02 from 20 cases on).
    Up to eight cases at a time (a live request) are located and matched one by one in plain Python
    (:class:`_OnePoint`: :meth:`GridIndex.lookup_one`, the own grid's boundary segments, only the layers
    the case's rule reaches); more go through the arrays as :func:`assign` does. Same answers either way.

    Parameters
    ----------
    gridset, rules, components, zones, roads, responsibility, near_boundary_m, component_radius_m, check_classes, index
        As for :func:`assign` (``gridset`` one edition).

    Examples
    --------
    >>> grids = gpd.GeoDataFrame({"grid_code": ["410105001003001"]},
    ...     geometry=[shapely.box(500000, 3850000, 500100, 3850100)], crs=4547)
    >>> team = pd.DataFrame({"level": ["community"], "code": ["410105001003"], "unit": ["社区工作站"]})
    >>> prepared = PreparedAssign(grids, responsibility=team)
    >>> done, bad = prepared.records([{"case_id": "k1", "lon": 114.0005, "lat": 34.7788, "class_code": "06012",
    ...                                "kind": "event"}, {"case_id": "k2", "lon": 0.0, "lat": 0.0}])
    >>> [(d["case_id"], d["responsible_unit"], d["responsibility_basis"]) for d in done]
    [('k1', '社区工作站', 'grid_team')]
    >>> [(b["case_id"], b["reason_code"]) for b in bad]
    [('k2', 'no_grid')]
    """

    def __init__(self, gridset: GridSet | gpd.GeoDataFrame, *, rules: str | Path | pd.DataFrame | None = None,
                 components: gpd.GeoDataFrame | None = None, zones: gpd.GeoDataFrame | None = None,
                 roads: gpd.GeoDataFrame | None = None, responsibility: pd.DataFrame | None = None,
                 near_boundary_m: float = 20.0, component_radius_m: float = 30.0, check_classes: bool = True,
                 index: GridIndex | None = None) -> None:
        self.gridset = gridset
        self.grids = _check_grids(gridset, index, None)
        metric = self.grids.metric
        self.rules, self._rules = rules, None if rules is None else load_rules(rules)
        self.components = _to_metric(components, metric, "components")
        self.zones = _to_metric(zones, metric, "zones")
        self.roads = _to_metric(roads, metric, "roads")
        self.responsibility = responsibility
        self.near_boundary_m, self.component_radius_m = near_boundary_m, component_radius_m
        self.check_classes = check_classes
        has = [f is not None and len(f) > 0 for f in (self.components, self.zones, self.roads)]
        self._layers = (_Layer.components(self.components) if has[0] else None,
                        _Layer.of(self.zones, "zone_id") if has[1] else None,
                        _Layer.roads(self.roads) if has[2] else None)
        self._units = {b: _values(f, c) for b, f, c in (
            ("component_owner", self.components, "owner_unit"), ("component_maintainer", self.components,
                                                                  "maintainer_unit"),
            ("frontage_zone", self.zones, "unit"), ("road_section", self.roads, "unit"))}
        self._pairs: dict[tuple[str, str], tuple[str, tuple[str, str, str] | None, str]] = {}   # kind, reject, rule
        self._per_grid: dict[int, dict[str, Any]] = {}
        self._to_metric: dict[Any, tuple[pyproj.CRS, str | None, pyproj.Transformer] | None] = {}
        self._edges: list[tuple[Any, ...]] | None = None     # the grids' geometries and _edge_grids, at first use
        self._one: _OnePoint | None = None                   # the one-case path's plain-Python tables, at first use

    # ---- what depends on the grid or the class only, worked out once
    def warm(self) -> PreparedAssign:
        """Work out every grid's levels and responsibility now (vectorised), not at the first case in it; and the
        one-case path's tables (the grids' topology, which grids lie near another street's, which within reach of
        which), not at the first case."""
        n = len(self.grids.frames[0])
        self._grid_rows(np.arange(n))
        from gridlib.codes import catalogue

        codes = sorted({str(c) for ed in ("gbt47678-2026", "cjt214-2007") for c in catalogue(ed)["class_code"]})
        for kind in ("", "event", "component"):     # each catalogue class's check and rule, not at its first case
            self._learn_pairs(codes, kind)
        if len(self.grids.frames) == 1 and self.near_boundary_m > 0 and n:
            one = self._one_point()
            d = float(self.near_boundary_m)
            reach = one.reaches.get(d) or one.reaches.setdefault(d, _Reach.empty(n))
            _street_edge(one.tree, one.geoms, one.street_arr, np.arange(n), d, reach)
            _grid_pairs(one.tree, one.geoms, np.arange(n), d, reach)
        return self

    def _grid_rows(self, pos: np.ndarray) -> list[dict[str, Any]]:
        todo = np.unique([p for p in pos.tolist() if p not in self._per_grid]).astype(np.int64)
        if len(todo):
            attrs = _level_attrs(self.grids.frames[0], todo)
            who = responsible(pd.DataFrame(attrs), self.responsibility)
            unit, team = who["unit"].to_numpy(dtype=object), who["team"].to_numpy(dtype=object)
            for i, p in enumerate(todo.tolist()):
                row = {c: attrs[c][i] for c in attrs}
                street = row["street_name"] if row["street_name"] != "" else "street " + str(row["street_code"])
                self._per_grid[p] = {**row, "_team_unit": unit[i], "_team": team[i], "_fallback": street}
        return [self._per_grid[p] for p in pos.tolist()]

    def _pair(self, class_code: str, kind: str) -> tuple[str, tuple[str, str, str] | None, str]:
        """(kind, the reject of step 1 or None, rule) of a (class code, kind) pair, as :func:`assign` decides."""
        hit = self._pairs.get((class_code, kind))
        if hit is None:
            self._learn_pairs([class_code], kind)
            hit = self._pairs[(class_code, kind)]
        return hit

    def _learn_pairs(self, class_codes: list[str], kind: str) -> None:
        """:meth:`_pair` of many class codes with one *kind* at once (each code's answer is its own: the catalogue
        lookups and the rule table are read per element)."""
        codes = pd.Series(class_codes, dtype="string")
        kinds = np.full(len(class_codes), kind, dtype=object)
        if kind == "":
            guessed = _kind_from_catalogue(codes)
            blank = np.array([c == "" for c in class_codes], dtype=bool)
            kinds = np.where(blank, kinds, guessed).astype(object)
        known = np.ones(len(class_codes), dtype=bool)
        if self.check_classes:
            known = _class_known(codes, pd.Series(kinds)) | np.array([c == "" for c in class_codes], dtype=bool)
        arr, ks = np.array(class_codes, dtype=object).astype(str), np.asarray(kinds, dtype=object)
        rules = rule_of(arr, ks) if self._rules is None else _rule_for(arr, ks, self._rules)
        for code, k, ok, rule in zip(class_codes, ks.tolist(), known.tolist(), rules.tolist(), strict=True):
            problem = None   # the first rule broken wins: the class, then the kind
            if not ok:
                problem = ("unknown_code", "class_code", "unknown class code " + code)
            elif k not in ("component", "event", ""):
                problem = ("unknown_value", "kind", "unknown kind (not component or event)")
            self._pairs[(code, kind)] = (str(k), problem, str(rule))

    def _transform(self, crs: CRSLike) -> tuple[pyproj.CRS, str | None, pyproj.Transformer] | None:
        key = crs if isinstance(crs, str | int) else pyproj.CRS(crs).to_wkt()
        if key not in self._to_metric:
            src, scheme = resolve_crs(crs)
            self._to_metric[key] = (src, scheme, pyproj.Transformer.from_crs(
                WGS84 if scheme else src, self.grids.metric, always_xy=True)) if src.is_geographic else None
        return self._to_metric[key]

    # ---- the cases
    def records(self, cases: Sequence[dict[str, Any]], crs: CRSLike = "EPSG:4326", id: str = "case_id"
                ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Assign case records; ``(assigned, rejects)`` in input order, as :func:`assign` would.

        Parameters
        ----------
        cases : sequence of dict
            One dict per case with ``lon``/``lat`` in *crs* and the case-log columns.
        crs : CRS of ``lon``/``lat`` (``"gcj02"``, ``"bd09"`` converted).
        id : str
            Case identifier key.

        Returns
        -------
        assigned : list of dict
            *id*, :data:`OUTPUT_COLUMNS` and ``x``/``y`` (the point in the grids' metric CRS, ``crs``).
        rejects : list of dict
            *id*, ``reason_code``, ``field``, ``reason``.
        """
        n = len(cases)
        fast, outside = self._fast(cases, crs, id)
        todo = [i for i in range(n) if i not in fast and i not in outside]
        done: dict[int, dict[str, Any]] = {}
        bad: dict[int, dict[str, Any]] = {}
        if todo:
            try:
                assigned, rejects = self._assign([cases[i] for i in todo], crs, id)
            except GridlibError:
                if len(todo) == n:
                    raise
                # a whole-input check (implausible CRS) judges the whole batch: let assign judge it all
                assigned, rejects = self._assign(list(cases), crs, id)
                return [r for _, r in sorted(assigned.items())], [r for _, r in sorted(rejects.items())]
            done.update({todo[k]: r for k, r in assigned.items()})
            bad.update({todo[k]: r for k, r in rejects.items()})
        done.update(fast)
        bad.update(outside)
        return [done[i] for i in sorted(done)], [bad[i] for i in sorted(bad)]

    def _fast(self, cases: Sequence[dict[str, Any]], crs: CRSLike, id: str
              ) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]]:
        """The records (by input position) of the cases whose answer is sure without :func:`assign`: assigned,
        and rejected (a class or kind step 1 refuses, or ``no_grid`` outside every grid as step 2 does)."""
        transform = self._transform(crs)
        if transform is None or not cases:
            return {}, {}
        _src, scheme, to_metric = transform
        # ids as assign compares them (text, NUL bytes dropped): every case of a repeated id goes to assign
        seen = Counter(str(c.get(id)).replace("\x00", "") for c in cases if c.get(id) is not None)
        sel, pairs, refused = [], [], {}
        for k, c in enumerate(cases):
            cid, lon, lat, comp = c.get(id), c.get("lon"), c.get("lat"), c.get("component_id")
            code, kind = c.get("class_code"), c.get("kind")
            if not (isinstance(cid, str) and seen[cid] == 1 and cid.strip() and "\x00" not in cid
                    and _finite_number(lon) and _finite_number(lat) and abs(lon) <= 180 and abs(lat) <= 90
                    and (comp is None or isinstance(comp, str)) and (code is None or isinstance(code, str))
                    and (kind is None or isinstance(kind, str))):
                continue
            pair = self._pair((code or "").strip(), (kind or "").strip())
            if pair[1] is None:
                sel.append(k)
                pairs.append(pair)
            else:
                refused[k] = {id: cid, "reason_code": pair[1][0], "field": pair[1][1], "reason": pair[1][2]}
        if not sel:
            return {}, refused
        lon, lat = to_wgs84(np.array([float(cases[k]["lon"]) for k in sel]),
                            np.array([float(cases[k]["lat"]) for k in sel]), scheme)
        x, y = to_metric.transform(lon, lat)
        x, y = np.asarray(x, dtype="float64"), np.asarray(y, dtype="float64")
        if len(sel) <= _FEW_CASES and len(self.grids.frames) == 1 and self.near_boundary_m > 0:
            few = self._few(cases, sel, pairs, x.tolist(), y.tolist(), id)
            if few is not None:
                return few[0], refused | few[1]
        pos = self.grids.indexes[0].lookup(x, y)
        outside = refused | {sel[i]: {id: cases[sel[i]][id], "reason_code": "no_grid", "field": "lon,lat",
                                      "reason": "outside grid coverage"} for i in np.flatnonzero(pos < 0)}
        inside = np.flatnonzero(pos >= 0)
        if not len(inside):
            return {}, outside
        sel, pairs = [sel[i] for i in inside], [pairs[i] for i in inside]
        x, y, pos = x[inside], y[inside], pos[inside]
        points = shapely.points(x, y)
        which = np.zeros(len(sel), dtype=int)
        dist, near, near_street = _boundary_flags(self.grids, which, pos, x, y, self.near_boundary_m,
                                                  self._edge_data())

        grid = self._grid_rows(pos)
        kinds = np.array([p[0] for p in pairs], dtype=object)
        classes = np.array([(cases[k].get("class_code") or "").strip() for k in sel], dtype=object)
        comp_layer, zone_layer, road_layer = self._layers
        case_rows: dict[str, Any] = {}      # (a frame of no column costs more than the rest of a case's step 3)
        if any(cases[k].get("component_id") is not None for k in sel):
            case_rows["component_id"] = pd.array([cases[k].get("component_id") for k in sel], dtype="string")
        component_classes = np.where(kinds == "component", classes, "").astype(object) \
            if comp_layer is not None else np.full(len(sel), "", dtype=object)
        mine = np.arange(len(sel))
        sources = {
            "component_owner": (self._units["component_owner"], cmatch := _component_match(
                case_rows, points, component_classes, self.components, self.component_radius_m, comp_layer)),
            "component_maintainer": (self._units["component_maintainer"], cmatch),
            "frontage_zone": (self._units["frontage_zone"], _first_covering(points, self.zones, "zone_id",
                                                                            zone_layer)),
            "road_section": (self._units["road_section"], _roads_within(points, self.roads, road_layer)),
            "grid_team": (np.array([g["_team_unit"] for g in grid], dtype=object), mine),
            "territory_fallback": (np.array([g["_fallback"] for g in grid], dtype=object), mine),
        }
        rule = np.array([p[2] for p in pairs], dtype=object)
        if len(sel) <= _FEW_CASES:
            chosen = _choose_few(sources, rule.tolist())
        else:
            # only the candidate rows these cases point at (renumbered): _choose then looks at a few rows, not at
            # every component's units; same decisions, same unit texts
            sources = {b: (v[p[p >= 0]], np.where(p >= 0, np.cumsum(p >= 0) - 1, -1)) for b, (v, p) in sources.items()}
            unit, units, basis = _choose(sources, rule)
            chosen = [(units[u], BASES[b] if b < len(BASES) else "") for u, b in zip(unit, basis, strict=True)]
        level_cols = ["grid_code", *[f"{lv}_{w}" for lv in LEVELS for w in ("code", "name")]]
        out = {}
        for i, k in enumerate(sel):
            unit_text, b = chosen[i]
            out[k] = {id: cases[k][id], **{c: _record_value(grid[i][c]) for c in level_cols},
                      "responsible_unit": unit_text, "responsible_team": grid[i]["_team"] if b == "grid_team"
                      else "", "responsibility_basis": b, "responsibility_rule": rule[i],
                      "distance_to_boundary_m": float(np.round(dist[i], 3)), "near_boundary": bool(near[i]),
                      "near_street_boundary": bool(near_street[i]), "x": float(x[i]), "y": float(y[i]),
                      "crs": self.grids.metric}
        return out, outside

    # ---- one case at a time, in plain Python (a live service's request): the same decisions, no array set-up
    def _few(self, cases: Sequence[dict[str, Any]], sel: list[int], pairs: list[tuple[str, Any, str]],
             xs: list[float], ys: list[float], id: str
             ) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]] | None:
        """:meth:`_fast`'s located part for a few cases (by input position *sel*, at *xs*, *ys* in the metric CRS),
        one case at a time: :meth:`GridIndex.lookup_one`, the boundary distance over the own grid's segments
        (:meth:`_OnePoint.flags`) and the layer matches a case's rule needs, in its order. ``(assigned,
        no_grid rejects)``, or None when a case needs the array path (a non-finite distance)."""
        one = self._one_point()
        index = self.grids.indexes[0]
        out, outside = {}, {}
        for k, pair, x, y in zip(sel, pairs, xs, ys, strict=True):
            pos = index.lookup_one(x, y)
            if pos < 0:
                outside[k] = {id: cases[k][id], "reason_code": "no_grid", "field": "lon,lat",
                              "reason": "outside grid coverage"}
                continue
            flags = one.flags(x, y, pos)
            if flags is None:
                return None
            grid = self._grid_rows(np.array([pos]))[0] if pos not in self._per_grid else self._per_grid[pos]
            unit_text, b = one.choose(cases[k], pair, grid, x, y)
            dist, near, near_street = flags
            out[k] = {id: cases[k][id], **{c: _record_value(grid[c]) for c in one.level_cols},
                      "responsible_unit": unit_text, "responsible_team": grid["_team"] if b == "grid_team" else "",
                      "responsibility_basis": b, "responsibility_rule": pair[2],
                      "distance_to_boundary_m": round(dist * 1000.0) / 1000.0,      # np.round(dist, 3)
                      "near_boundary": near, "near_street_boundary": near_street, "x": x, "y": y,
                      "crs": self.grids.metric}
        return out, outside

    def _edge_data(self) -> list[tuple[Any, ...]]:
        """The grids' geometries and :func:`_edge_grids`, built at first use and kept."""
        if self._edges is None:
            geoms = np.asarray(self.grids.frames[0].geometry.array, dtype=object)
            self._edges = [(geoms, *_edge_grids(self.grids.originals[0], self.grids.indexes[0], geoms))]
        return self._edges

    def _one_point(self) -> _OnePoint:
        if self._one is None:
            self._edge_data()
            self._one = _OnePoint(self)
        return self._one

    def _assign(self, cases: list[dict[str, Any]], crs: CRSLike, id: str
                ) -> tuple[dict[int, dict[str, Any]], dict[int, dict[str, Any]]]:
        """:func:`assign` itself on *cases* (records), its rows as records by position."""
        frame = pd.DataFrame(list(cases))
        done, rejects = assign(frame, self.gridset, rules=self.rules, components=self.components, zones=self.zones,
                               roads=self.roads, responsibility=self.responsibility, near_boundary_m=self.near_boundary_m,
                               component_radius_m=self.component_radius_m, crs=crs, id=id,
                               check_classes=self.check_classes, index=self.grids.indexes)
        keys = [id if id in done else None, *OUTPUT_COLUMNS]
        x, y = (shapely.get_x(done.geometry.values), shapely.get_y(done.geometry.values)) if len(done) else ([], [])
        assigned = {int(p): {**{c: _record_value(row[c]) if c in row else None for c in keys if c},
                             "x": float(x[i]), "y": float(y[i]), "crs": self.grids.metric}
                    for i, (p, row) in enumerate(zip(done.index, done.to_dict("records"), strict=True))}
        bad = {}
        for p, row in zip(rejects.index, rejects.to_dict("records"), strict=True):
            field = row.get("field")
            bad[int(p)] = {id: _record_value(row.get(id)), "reason_code": row.get("reason_code"),
                           "field": field if isinstance(field, str) else None, "reason": str(row.get("reason"))}
        return assigned, bad


# ------------------------------------------------------------------ dask frames (moved from gridlib.dask.assign)
def _assign_partition(part: pd.DataFrame, shared: tuple[Any, Any], **kwargs: Any) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    gridset, indexes = shared
    return assign(part, gridset, index=indexes, **kwargs)


def _assign_on_dask(cases: Any, gridset: Any, **kwargs: Any) -> tuple[Any, Any]:
    """:func:`assign` on a dask frame: the indexes are built once here and shipped to the workers."""
    editions = list(gridset) if isinstance(gridset, Sequence) else [gridset]
    metric = metric_crs_of_grids(grids_of(editions[-1]))
    indexes = [index_for(grids_of(g), metric) for g in editions]
    shared = (gridset, indexes if len(indexes) > 1 else indexes[0])
    return map_accepted_rejects(cases, _assign_partition, shared, metric, **kwargs)
