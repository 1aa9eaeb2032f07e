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
of ``assigned`` or ``rejects`` (with ``reason``).

>>> import geopandas as gpd, pandas as pd, shapely
>>> grids = gpd.GeoDataFrame({"grid_code": ["410105001003001", "410105001003002"]},
...     geometry=[shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)], crs=4547)
>>> cases = gpd.GeoDataFrame({"case_id": ["a", "b", "c"], "kind": ["event"] * 3},
...     geometry=shapely.points([(50, 50), (100, 50), (900, 900)]), crs=4547)
>>> done, rejects = assign(cases, grids)
>>> done[["case_id", "grid_code", "responsibility_basis", "near_boundary"]].values.tolist()
[['a', '410105001003001', 'territory_fallback', False], ['b', '410105001003001', 'territory_fallback', True]]
>>> rejects[["case_id", "reason"]].values.tolist()
[['c', 'outside grid coverage']]
"""

from __future__ import annotations

import logging
import warnings
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gridlib.codes.rules import edition_of_class, rule_of
from gridlib.crs import resolve_crs
from gridlib.errors import InputError
from gridlib.grid.model import GridSet
from gridlib.index import GridIndex

__all__ = ["assign", "assign_in_db", "index_for", "load_rules", "responsible", "BASES", "OUTPUT_COLUMNS",
           "RESPONSIBILITY_COLUMNS"]

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
_EDGE_CACHE: dict[tuple[int, str], tuple[weakref.ref, tuple[np.ndarray, shapely.STRtree, np.ndarray]]] = {}


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


def index_for(gridset: Any, crs: Any = None) -> GridIndex:
    """The GridIndex of a grid set (in ``crs``, default its own), built once and reused while the frame lives.

    >>> import geopandas as gpd, shapely
    >>> g = gpd.GeoDataFrame({"grid_code": ["a"]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4547)
    >>> index_for(g) is index_for(g)
    True
    """
    frame = grids_of(gridset)
    target = pyproj.CRS(crs) if crs is not None else pyproj.CRS(frame.crs)
    key = (id(frame), target.to_wkt())
    hit = _INDEX_CACHE.get(key)
    if hit is not None and hit[0]() is frame:
        return hit[1]
    index = GridIndex(frame if pyproj.CRS(frame.crs).equals(target) else frame.to_crs(target))
    _INDEX_CACHE[key] = (weakref.ref(frame), index)
    weakref.finalize(frame, _INDEX_CACHE.pop, key, None)
    return index


def _edge_grids(frame: gpd.GeoDataFrame, index: GridIndex,
                geoms: np.ndarray) -> tuple[np.ndarray, shapely.STRtree, np.ndarray]:
    """Per grid: has an edge no other grid shares (coverage edge, T-junction) — a superset —;
    an STRtree of the grids; and an integer per grid, equal for grids of the same street.
    Cached per grid frame."""
    key = (id(frame), index.crs.to_wkt())
    hit = _EDGE_CACHE.get(key)
    if hit is not None and hit[0]() is frame:
        return hit[1]
    ax, ay, bx, by = index._ax, index._ay, index._bx, index._by
    swap = (ax > bx) | ((ax == bx) & (ay > by))
    x1, y1 = np.where(swap, bx, ax), np.where(swap, by, ay)
    x2, y2 = np.where(swap, ax, bx), np.where(swap, ay, by)
    order = np.lexsort((y2, x2, y1, x1))
    x1, y1, x2, y2 = x1[order], y1[order], x2[order], y2[order]
    same = (x1[1:] == x1[:-1]) & (y1[1:] == y1[:-1]) & (x2[1:] == x2[:-1]) & (y2[1:] == y2[:-1])
    matched = np.zeros(len(order), dtype=bool)
    matched[1:] |= same
    matched[:-1] |= same
    edge = np.zeros(len(geoms), dtype=bool)
    edge[index._seg_poly[order[~matched]]] = True
    street = frame["street_code"] if "street_code" in frame else frame["grid_code"].astype(str).str[:12]
    out = (edge, shapely.STRtree(geoms), pd.factorize(street.astype(str))[0])
    _EDGE_CACHE[key] = (weakref.ref(frame), out)
    weakref.finalize(frame, _EDGE_CACHE.pop, key, None)
    return out


def _street_edge(tree: shapely.STRtree, geoms: np.ndarray, street: np.ndarray, grids: np.ndarray,
                 distance: float) -> np.ndarray:
    """For grid positions *grids*: may a grid of another street lie within *distance* (bounding boxes)."""
    b = shapely.bounds(geoms[grids])
    boxes = shapely.box(b[:, 0] - distance, b[:, 1] - distance, b[:, 2] + distance, b[:, 3] + distance)
    a, o = tree.query(boxes)
    out = np.zeros(len(grids), dtype=bool)
    out[a[street[grids[a]] != street[o]]] = True
    return out


def metric_crs_of_grids(frame: gpd.GeoDataFrame) -> pyproj.CRS:
    """The grids' own CRS when projected, else the metric CRS gridlib picks for them.

    >>> g = gpd.GeoDataFrame({"grid_code": ["a"]}, geometry=[shapely.box(121.5, 31.2, 121.51, 31.21)], crs=4326)
    >>> metric_crs_of_grids(g).to_epsg()
    4550
    """
    from gridlib.crs import metric_crs_for

    crs = pyproj.CRS(frame.crs)
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


def _edition_window(gridset: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    e = getattr(gridset, "edition", None) or {}
    lo = pd.Timestamp(e.get("valid_from")) if e.get("valid_from") else pd.Timestamp.min
    hi = pd.Timestamp(e.get("valid_to")) if e.get("valid_to") else pd.Timestamp.max
    return lo, hi


def _class_known(classes: pd.Series, kinds: pd.Series) -> np.ndarray:
    from gridlib.codes import catalogue

    cat = pd.concat([catalogue("gbt47678-2026"), catalogue("cjt214-2007")], ignore_index=True)
    classes = classes.astype(str).reset_index(drop=True)
    kinds = kinds.astype(str).reset_index(drop=True)
    with_kind = (kinds + "|" + classes).isin(set(cat["kind"] + "|" + cat["class_code"])).to_numpy()
    any_kind = classes.isin(set(cat["class_code"])).to_numpy()
    return np.where(kinds.isin(["component", "event"]).to_numpy(), with_kind, any_kind)


def _kind_from_catalogue(classes: pd.Series) -> np.ndarray:
    from gridlib.codes import catalogue

    out = np.full(len(classes), "", dtype=object)
    for edition, width in (("gbt47678-2026", 5), ("cjt214-2007", 4)):
        cat = catalogue(edition).sort_values("kind", kind="stable").drop_duplicates("class_code")
        mapping = dict(zip(cat["class_code"], cat["kind"], strict=True))
        sel = (classes.str.len() == width).to_numpy()
        out[sel] = classes[sel].map(mapping).fillna("").to_numpy(dtype=object)
    return out


def _first_covering(points: np.ndarray, polys: gpd.GeoDataFrame, key: str) -> np.ndarray:
    """Position of the covering polygon with the smallest ``key`` per point (−1 if none)."""
    out = np.full(len(points), -1)
    if polys is None or len(polys) == 0 or len(points) == 0:
        return out
    pt, poly = shapely.STRtree(polys.geometry.values).query(points, predicate="intersects")
    if len(pt):
        order = np.lexsort((polys[key].astype(str).to_numpy()[poly], pt))
        pt, poly = pt[order], poly[order]
        first = np.r_[True, pt[1:] != pt[:-1]]
        out[pt[first]] = poly[first]
    return out


def _roads_within(points: np.ndarray, roads: gpd.GeoDataFrame | None) -> np.ndarray:
    """Nearest road section whose half width reaches the point (ties: smallest section_id)."""
    out = np.full(len(points), -1)
    if roads is None or len(roads) == 0 or len(points) == 0:
        return out
    half = pd.to_numeric(roads["width_m"], errors="coerce").fillna(0).to_numpy() / 2.0
    geoms = roads.geometry.values
    pt, rd = shapely.STRtree(geoms).query(points, predicate="dwithin", distance=float(half.max()))
    if len(pt):
        dist = shapely.distance(points[pt], geoms[rd])
        ok = dist <= half[rd]
        pt, rd, dist = pt[ok], rd[ok], dist[ok]
        order = np.lexsort((roads["section_id"].astype(str).to_numpy()[rd], dist, pt))
        pt, rd = pt[order], rd[order]
        first = np.r_[True, pt[1:] != pt[:-1]]
        out[pt[first]] = rd[first]
    return out


def _component_match(cases: pd.DataFrame, points: np.ndarray, classes: np.ndarray,
                     components: gpd.GeoDataFrame | None, radius: float) -> np.ndarray:
    """Component row per case: by ``component_id``, else the nearest of its class within ``radius``."""
    out = np.full(len(cases), -1)
    if components is None or len(components) == 0:
        return out
    ids = components["component_id"].astype(str).to_numpy()
    if "component_id" in cases:
        pos = pd.Series(np.arange(len(ids)), index=ids)
        pos = pos[~pos.index.duplicated()]
        ref = cases["component_id"].astype("string").fillna("").to_numpy(dtype=object)
        out = pd.Series(ref).map(pos).fillna(-1).astype(int).to_numpy().copy()
    if "class_code" in components:
        comp_class = components["class_code"].astype(str).to_numpy(dtype=object)
    else:  # 2026 ids (17 digits) carry the 5-digit class at 7..11, 2007 ids (16) the 4-digit one at 7..10
        sid = pd.Series(ids)
        comp_class = np.where(sid.str.len() == 17, sid.str[6:11], sid.str[6:10]).astype(object)
    need = np.flatnonzero((out < 0) & (classes != ""))
    if len(need) and radius > 0:
        pt, cp = shapely.STRtree(components.geometry.values).query(
            points[need], predicate="dwithin", distance=radius)
        same = comp_class[cp] == classes[need][pt]
        pt, cp = pt[same], cp[same]
        if len(pt):
            dist = shapely.distance(points[need][pt], components.geometry.values[cp])
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
    return frame.to_crs(crs).reset_index(drop=True)


# --------------------------------------------------------------------------- assign
def assign(
    cases: Any,
    gridset: Any,
    *,
    rules: str | Path | pd.DataFrame | None = None,
    components: gpd.GeoDataFrame | None = None,
    zones: gpd.GeoDataFrame | None = None,
    roads: gpd.GeoDataFrame | None = None,
    responsibility: pd.DataFrame | None = None,
    when: str | None = None,
    near_boundary_m: float = 20.0,
    component_radius_m: float = 30.0,
    crs: Any = "EPSG:4326",
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
        A dask frame is handed to :func:`gridlib.dask.assign`.
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
        Rejected input rows as given, plus ``reason``.

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
    if hasattr(cases, "map_partitions") and hasattr(cases, "npartitions"):
        from gridlib.dask import assign as dask_assign

        return dask_assign(cases, gridset, rules=rules, components=components, zones=zones, roads=roads,
                           responsibility=responsibility, when=when, near_boundary_m=near_boundary_m,
                           component_radius_m=component_radius_m, crs=crs, id=id,
                           check_classes=check_classes, index=index)
    from gridlib.io import read_points

    editions = list(gridset) if isinstance(gridset, Sequence) and not isinstance(gridset, str) else [gridset]
    if not editions:
        raise InputError("no grid set given")
    originals = [grids_of(g) for g in editions]
    frames = originals
    if any(not isinstance(f, gpd.GeoDataFrame) or "grid_code" not in f for f in frames):
        raise InputError("gridset must be a GridSet or a GeoDataFrame with a grid_code column")
    metric = metric_crs_of_grids(frames[-1])
    frames = [f.to_crs(metric) if not pyproj.CRS(f.crs).equals(metric) else f for f in frames]
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

    if not isinstance(cases, pd.DataFrame):
        raise InputError(f"cases must be a DataFrame or GeoDataFrame, got {type(cases).__name__} "
                         "(read files with gl.io.read_table)")
    source = cases.copy()
    original_index = source.index
    source.index = pd.RangeIndex(len(source))
    accepted, rejects = read_points(source, crs=crs, id=id if id in getattr(source, "columns", []) else None,
                                    time=when)
    original = source
    if resolve_crs(crs)[1] is None and accepted.crs is not None and pyproj.CRS(accepted.crs).is_geographic:
        _warn_if_gcj02(accepted, metric, indexes[-1], roads)
    accepted = accepted.to_crs(metric)
    reasons = pd.Series(pd.NA, index=accepted.index, dtype=object)

    classes = (accepted["class_code"].astype("string").fillna("").str.strip() if "class_code" in accepted
               else pd.Series("", index=accepted.index, dtype="string"))
    kinds = (accepted["kind"].astype("string").fillna("").str.strip() if "kind" in accepted
             else pd.Series("", index=accepted.index, dtype="string"))
    kinds_arr = kinds.to_numpy(dtype=object).copy()
    missing_kind = (kinds_arr == "") & (classes.to_numpy(dtype=object) != "")
    if missing_kind.any():
        kinds_arr[missing_kind] = _kind_from_catalogue(classes[missing_kind])
    if check_classes and "class_code" in accepted:
        has = (classes != "").to_numpy()
        known = np.ones(len(classes), dtype=bool)
        known[has] = _class_known(classes[has], pd.Series(kinds_arr[has]))
        bad = ~known
        reasons[bad] = ("unknown class code " + classes[bad]).to_numpy(dtype=object)
    bad_kind = ~np.isin(kinds_arr, ["component", "event", ""])
    reasons[bad_kind & reasons.isna().to_numpy()] = "unknown kind (not component or event)"

    x = shapely.get_x(accepted.geometry.values)
    y = shapely.get_y(accepted.geometry.values)
    pos = np.full(len(accepted), -1)
    which = np.zeros(len(accepted), dtype=int)
    if len(editions) > 1 or when is not None:
        t = pd.to_datetime(accepted[when]).to_numpy()
        which[:] = -1
        for k, ed in enumerate(editions):
            lo, hi = _edition_window(ed)
            sel = (t >= lo.to_datetime64()) & (t < hi.to_datetime64())
            which[sel & (which < 0)] = k
        none = which < 0
        text = "no grid edition valid at " + accepted[when].astype(str)
        reasons[none & reasons.isna().to_numpy()] = text[none & reasons.isna().to_numpy()].to_numpy(dtype=object)
    for k in range(len(frames)):
        sel = np.flatnonzero(which == k)
        if len(sel):
            pos[sel] = indexes[k].lookup(x[sel], y[sel])
    outside = (pos < 0) & (which >= 0)
    reasons[outside & reasons.isna().to_numpy()] = "outside grid coverage"

    ok = reasons.isna().to_numpy()
    late = accepted.loc[~ok]
    late_rejects = pd.DataFrame(original.loc[late.index]).copy()
    if isinstance(original, gpd.GeoDataFrame):
        late_rejects = pd.DataFrame(late_rejects)
    late_rejects["reason"] = reasons[~ok].to_numpy(dtype=object)
    rejects = pd.concat([rejects, late_rejects]) if len(late_rejects) else rejects
    rejects = rejects.sort_index(kind="stable")

    out = accepted.loc[ok].copy()
    x, y, pos, which = x[ok], y[ok], pos[ok], which[ok]
    kinds_arr, classes_arr = kinds_arr[ok], classes.to_numpy(dtype=object)[ok]
    points = np.asarray(out.geometry.array, dtype=object)
    columns = ["grid_code", *[f"{lv}_{w}" for lv in LEVELS for w in ("code", "name")]]
    attrs = {c: np.full(len(out), "", dtype=object) for c in columns}
    dist = np.full(len(out), np.nan)
    near = np.zeros(len(out), dtype=bool)
    near_street = np.zeros(len(out), dtype=bool)
    for k, frame in enumerate(frames):
        sel = np.flatnonzero(which == k)
        if not len(sel):
            continue
        lv = _level_attrs(frame, pos[sel])
        for c in columns:
            attrs[c][sel] = lv[c]
        geoms = np.asarray(frame.geometry.array, dtype=object)
        own, inv = np.unique(pos[sel], return_inverse=True)  # boundaries of the grids hit only
        dist[sel] = shapely.distance(points[sel], shapely.boundary(geoms[own])[inv.reshape(-1)])
        # another grid is never closer than the point's own grid boundary: only those within reach
        close = sel[dist[sel] <= near_boundary_m]
        if near_boundary_m > 0 and len(close):
            edge, tree, street = _edge_grids(originals[k], indexes[k], geoms)
            hit, inv = np.unique(pos[close], return_inverse=True)
            street_edge = _street_edge(tree, geoms, street, hit, near_boundary_m)[inv.reshape(-1)]
            # a grid whose every edge is shared: the nearest boundary point lies in a neighbour
            near[close[~edge[pos[close]]]] = True
            ask = close[edge[pos[close]] | street_edge]
            pt, other = tree.query(points[ask], predicate="dwithin", distance=near_boundary_m)
            near[ask[pt[other != pos[ask][pt]]]] = True
            near_street[ask[pt[street[other] != street[pos[ask][pt]]]]] = True
    attrs = pd.DataFrame(attrs, dtype=object)

    # the catalogue's rules of each case's own edition (gl.codes.responsibility_rules), or the caller's table
    rule = (rule_of(classes_arr.astype(str), kinds_arr) if rules is None
            else _rule_for(classes_arr.astype(str), kinds_arr, load_rules(rules)))
    comp = _to_metric(components, metric, "components")
    zone_frame = _to_metric(zones, metric, "zones")
    road_frame = _to_metric(roads, metric, "roads")
    cmatch = _component_match(out.reset_index(drop=True), points,
                              np.where(kinds_arr == "component", classes_arr, "").astype(object), comp,
                              component_radius_m)
    zmatch = _first_covering(points, zone_frame, "zone_id")
    rmatch = _roads_within(points, road_frame)
    who = responsible(attrs, responsibility)
    team_unit, team_name = who["unit"].to_numpy(dtype=object), who["team"].to_numpy(dtype=object)

    n = len(out)
    cand_unit: dict[str, np.ndarray] = {}
    cand_unit["component_owner"] = _take(comp, "owner_unit", cmatch)
    cand_unit["component_maintainer"] = _take(comp, "maintainer_unit", cmatch)
    cand_unit["frontage_zone"] = _take(zone_frame, "unit", zmatch)
    cand_unit["road_section"] = _take(road_frame, "unit", rmatch)
    cand_unit["grid_team"] = team_unit
    street_name = attrs["street_name"].fillna("").to_numpy(dtype=object)
    street_code = attrs["street_code"].to_numpy(dtype=object)
    cand_unit["territory_fallback"] = np.where(street_name != "", street_name, "street " + street_code.astype(str))
    orders = {
        "owner_first": ["component_owner", "component_maintainer", "frontage_zone", "road_section", "grid_team",
                        "territory_fallback"],
        "territory_first": ["frontage_zone", "road_section", "grid_team", "component_owner",
                            "component_maintainer", "territory_fallback"],
    }
    unit = np.full(n, "", dtype=object)
    basis = np.full(n, "", dtype=object)
    for name, order in orders.items():
        for b in reversed(order):  # the earliest applicable basis overwrites later ones
            sel = (rule == name) & (cand_unit[b] != "")
            unit[sel], basis[sel] = cand_unit[b][sel], b
    team = np.where(basis == "grid_team", team_name, "")

    result = out.copy()
    for col in attrs.columns:
        result[col] = attrs[col].to_numpy(dtype=object)
    result["responsible_unit"] = unit
    result["responsible_team"] = team
    result["responsibility_basis"] = basis
    result["responsibility_rule"] = rule
    result["distance_to_boundary_m"] = np.round(dist, 3)
    result["near_boundary"] = near
    result["near_street_boundary"] = near_street
    if len(editions) > 1:
        ids = np.array([str((getattr(e, "edition", None) or {}).get("edition_id") or k)
                        for k, e in enumerate(editions)], dtype=object)
        result["edition_id"] = ids[which]
        current = indexes[-1].codes(x, y)
        result["grid_code_current"] = current
    result.index = original_index[result.index]
    rejects.index = original_index[rejects.index]
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


def _take(frame: gpd.GeoDataFrame | None, column: str, pos: np.ndarray) -> np.ndarray:
    out = np.full(len(pos), "", dtype=object)
    if frame is None or column not in frame:
        return out
    values = frame[column].astype("string").fillna("").to_numpy(dtype=object)
    hit = pos >= 0
    out[hit] = values[pos[hit]]
    return out


def assign_in_db(store: Any, cases: str = "cases", grids: str = "grids", *, edition_id: str | None = None,
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

