"""Validation of unit grids as a coverage: one report row per problem a planner must fix.

Rules (``rule`` column), their severity and what they catch:

=================  ========  ===================================================================
rule               severity  catches
=================  ========  ===================================================================
crs_missing        error     no CRS: areas and positions are meaningless
crs_geographic     error     degrees instead of a projected CRS (checked after reprojecting)
geometry_empty     error     missing or empty geometry
geometry_type      error     points, lines or collections instead of polygons
geometry_invalid   error     self-intersecting rings etc. (shapely's reason and location)
multipart          warning   a grid made of several separate parts
code_missing       error     no grid code
code_malformed     error     not 14/15 digits (6+3+3+2/3) nor a 15-character alphanumeric code
code_numeric       warning   the code field is stored as numbers (leading zeros could be lost)
code_duplicate     error     the same grid code on several grids
code_hierarchy     error     the code's community/street/district disagrees with the code
                             columns or with the parent polygon the grid lies in
outside_parents    error     a grid that lies in no parent polygon (wrong district?)
crosses_parent     error     a grid that straddles a parent boundary
overlap            error     two grids overlap by more than ``area_tol``
gap                error     uncovered area inside the parents (or holes enclosed by grids)
coverage_edge      warning   edges that do not match the neighbour's exactly: a vertex missing
                             on one side or a gap narrower than ``gap_width``
sliver             warning   a grid under 5 % of the target area or thinner than 1/20 of its length
area_band          warning   area outside 0.5×–2× the target (not an error: small parents exist)
=================  ========  ===================================================================
"""

from __future__ import annotations

import logging
import re
import warnings
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridlib.crs import metric_crs_for
from gridlib.grid.build import clean_parents, union_coverage
from gridlib.grid.model import GridSet
from gridlib.progress import step

__all__ = ["check_coverage", "codes_as_text", "REPORT_COLUMNS", "RULES"]

log = logging.getLogger(__name__)

REPORT_COLUMNS = ["rule", "severity", "codes", "message", "geometry"]
RULES = {
    "crs_missing": "error", "crs_geographic": "error", "geometry_empty": "error", "geometry_type": "error",
    "geometry_invalid": "error", "multipart": "warning", "code_missing": "error", "code_malformed": "error",
    "code_numeric": "warning", "code_duplicate": "error", "code_hierarchy": "error", "outside_parents": "error",
    "crosses_parent": "error", "overlap": "error", "gap": "error", "coverage_edge": "warning",
    "sliver": "warning", "area_band": "warning",
}
_CODE_RE = re.compile(r"^(\d{14,15}|[0-9A-Z]{15})$")


class _Report:
    def __init__(self) -> None:
        self.parts: list[pd.DataFrame] = []

    def add(self, rule: str, codes: Any, message: Any, geometry: Any) -> None:
        n = len(geometry)
        if n == 0:
            return
        self.parts.append(pd.DataFrame({
            "rule": [rule] * n, "severity": [RULES[rule]] * n,
            "codes": list(codes) if not isinstance(codes, str) else [codes] * n,
            "message": list(message) if not isinstance(message, str) else [message] * n,
            "geometry": list(geometry),
        }))

    def frame(self, crs: Any) -> gpd.GeoDataFrame:
        if not self.parts:
            return gpd.GeoDataFrame({c: pd.Series(dtype=object) for c in REPORT_COLUMNS[:-1]},
                                    geometry=gpd.GeoSeries([], crs=crs), crs=crs)
        df = pd.concat(self.parts, ignore_index=True)
        order = {r: i for i, r in enumerate(RULES)}
        df["_o"] = df["rule"].map(order)
        df = df.sort_values(["_o", "codes"], kind="stable").drop(columns="_o").reset_index(drop=True)
        return gpd.GeoDataFrame(df, geometry="geometry", crs=crs)


def check_coverage(
    data: GridSet | gpd.GeoDataFrame,
    parents: gpd.GeoDataFrame | dict[str, gpd.GeoDataFrame] | None = None,
    *,
    target_area: float = 10_000,
    gap_width: float = 1.0,
    area_tol: float = 1e-6,
    snap_tol: float = 1e-3,
    code_field: str = "grid_code",
) -> gpd.GeoDataFrame:
    """Check unit grids as a coverage; return one row per problem (empty = clean).

    Parameters
    ----------
    data : GridSet or GeoDataFrame
        The grids, with a ``grid_code`` column (or ``code_field``).
    parents : GeoDataFrame or dict, optional
        Parent polygons with ``code`` and geometry (communities, streets or districts; or a
        ``GridSet.parents``-style dict, of which the finest level is used). Without
        parents, nesting is checked only between the code columns and gaps only as
        holes enclosed by grids.
    target_area : float
        The area grids aim at (m²), for the ``area_band`` and ``sliver`` warnings.
    gap_width : float
        Gaps narrower than this (m) between grids are reported as ``coverage_edge``.
    area_tol : float
        Overlaps, gaps and boundary crossings smaller than this (m²) are ignored.
    snap_tol : float
        Against the parents, differences nowhere wider than ``2 × snap_tol`` (m) are
        snapping noise, not gaps or crossings: parents are snapped to 1 mm and
        may come from another source than the grids.
    code_field : str
        Name of the grid code column.

    Returns
    -------
    GeoDataFrame
        ``rule, severity, codes, message, geometry`` in the grids' metric CRS.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> g = gpd.GeoDataFrame({"grid_code": ["410105001003001", "410105001003001"]},
    ...                      geometry=[box(0, 0, 100, 100), box(90, 0, 190, 100)], crs=4547)
    >>> report = check_coverage(g)
    >>> report.rule.tolist()
    ['code_duplicate', 'overlap', 'coverage_edge', 'coverage_edge']
    >>> report.message.iloc[1]
    '410105001003001 and 410105001003001 overlap by 1,000.000 m²; move the shared edge so that each area belongs to one grid'
    """
    if isinstance(data, GridSet):
        if parents is None and data._parents is not None:
            parents = data._parents
        data = data.grids
    if not isinstance(data, gpd.GeoDataFrame):
        raise TypeError("check_coverage() takes a GridSet or a GeoDataFrame of grids")
    rep = _Report()
    g = data.reset_index(drop=True)

    with step("grid validate: crs"):
        if g.crs is None:
            rep.add("crs_missing", "", "the layer has no CRS: declare the CRS it was drawn in (a .prj file "
                    "or --crs); areas and positions cannot be checked", [None])
            metric = None
        else:
            metric = metric_crs_for(g)
            if not g.crs.is_projected:
                rep.add("crs_geographic", "", f"the layer is in geographic coordinates ({g.crs.name}); grids "
                        f"must be in the city's metric survey CRS, e.g. EPSG:{metric.to_epsg()}", [None])
            g = g.to_crs(metric)

    codes = _codes(g, code_field, rep)
    geoms = g.geometry.values.to_numpy() if hasattr(g.geometry.values, "to_numpy") else np.asarray(g.geometry.values)
    geoms = np.asarray(geoms, dtype=object)
    with step("grid validate: geometry"):
        ok = _geometry_rules(geoms, codes, rep)
    if metric is None:
        return rep.frame(None)

    with step("grid validate: codes"):
        _hierarchy_columns(g, codes, rep)
    idx = np.flatnonzero(ok)
    geo, cod = geoms[idx], codes[idx]
    with step("grid validate: coverage edges"):
        suspects = np.arange(len(geo))
        if len(geo) > 1:
            edges = shapely.coverage_invalid_edges(geo, gap_width=gap_width)
            bad = ~shapely.is_empty(edges) & ~shapely.is_missing(edges)
            rep.add("coverage_edge", cod[bad],
                    [f"{c}: {shapely.length(e):.3f} m of edge do not match the neighbouring grid exactly "
                     f"(a vertex missing on one side, or a gap narrower than {gap_width:g} m); snap the edges"
                     for c, e in zip(cod[bad], edges[bad], strict=True)], edges[bad])
            # in a coverage only polygons with unmatched edges can overlap a neighbour
            suspects = np.flatnonzero(bad)
    with step("grid validate: overlaps"):
        overlaps = _overlaps(geo, cod, suspects, area_tol, rep)
    with step("grid validate: gaps and parents"):
        par = _parent_frame(parents, metric)
        if par is None:
            _holes(geo, area_tol, overlaps, rep)
        else:
            _parent_rules(geo, cod, par, area_tol, snap_tol, overlaps, rep)
    with step("grid validate: areas"):
        area = shapely.area(geo)
        length = np.maximum(shapely.length(geo) / 2.0, 1e-9)
        width = area / length
        sliver = (area < 0.05 * target_area) | (width < length / 20.0)
        rep.add("sliver", cod[sliver],
                [f"{c}: {a:,.1f} m², about {w:.1f} m wide — a sliver; merge it into a neighbour"
                 for c, a, w in zip(cod[sliver], area[sliver], width[sliver], strict=True)], geo[sliver])
        band = ~sliver & ((area < 0.5 * target_area) | (area > 2.0 * target_area))
        rep.add("area_band", cod[band],
                [f"{c}: {a:,.0f} m² is {a / target_area:.2f}× the {target_area:,.0f} m² target (band 0.5–2×)"
                 for c, a in zip(cod[band], area[band], strict=True)], geo[band])
    return rep.frame(metric)


def _codes(g: gpd.GeoDataFrame, code_field: str, rep: _Report) -> np.ndarray:
    n = len(g)
    if code_field not in g:
        rep.add("code_missing", "", f"the layer has no {code_field!r} field (fields: {list(g.columns)}); "
                "say which field holds the grid code (--code-field)", [None])
        return np.array([f"#{i}" for i in range(n)], dtype=object)
    raw = g[code_field]
    codes = codes_as_text(raw)
    if pd.api.types.is_numeric_dtype(raw):
        rep.add("code_numeric", "", f"the field {code_field!r} is stored as numbers; store grid codes as text "
                "so that leading zeros and 15-digit values survive", [None])
    missing = codes == ""
    labels = np.where(missing, [f"#{i}" for i in range(n)], codes).astype(object)
    geoms = np.asarray(g.geometry.values, dtype=object)
    rep.add("code_missing", labels[missing], [f"row {i}: no grid code" for i in np.flatnonzero(missing)],
            geoms[missing])
    bad = ~missing & ~np.array([bool(_CODE_RE.match(c)) for c in codes], dtype=bool)
    rep.add("code_malformed", labels[bad],
            [f"{c!r} is not a grid code (15 digits = community 12 + sequence 3, or 14 digits = 12 + 2)"
             for c in codes[bad]], geoms[bad])
    s = pd.Series(codes)
    dup = (~missing) & s.duplicated(keep=False).to_numpy()
    if dup.any():
        d = s[dup]
        first = ~d.duplicated().to_numpy()
        counts = d.value_counts()
        where = np.flatnonzero(dup)[first]
        rep.add("code_duplicate", codes[where],
                [f"{c}: used by {counts[c]} grids; give each grid its own sequence number" for c in codes[where]],
                [shapely.union_all(geoms[s == c]) for c in codes[where]])
    return labels


def codes_as_text(values: pd.Series) -> np.ndarray:
    """Grid codes as text; integral numbers (a code field stored as numbers) lose their ``.0``.

    >>> codes_as_text(pd.Series([410105001003007.0, None])).tolist()
    ['410105001003007', '']
    """
    if pd.api.types.is_numeric_dtype(values):
        vals = values.to_numpy(dtype="float64")
        finite = np.isfinite(vals)
        integral = finite & (np.floor(np.where(finite, vals, 0)) == vals)
        return np.array([f"{v:.0f}" if i else (repr(v) if f else "") for v, i, f in
                         zip(vals, integral, finite, strict=True)], dtype=object)
    return values.astype("string").str.strip().fillna("").to_numpy(dtype=object)


def _geometry_rules(geoms: np.ndarray, codes: np.ndarray, rep: _Report) -> np.ndarray:
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    rep.add("geometry_empty", codes[missing], [f"{c}: the grid has no geometry" for c in codes[missing]],
            [None] * int(missing.sum()))
    kind = shapely.get_type_id(geoms)
    wrong = ~missing & ~np.isin(kind, [3, 6])
    rep.add("geometry_type", codes[wrong],
            [f"{c}: a {shapely.get_type_id(x)} geometry ({x.geom_type}) where a polygon is needed"
             for c, x in zip(codes[wrong], geoms[wrong], strict=True)], geoms[wrong])
    poly = ~missing & ~wrong
    valid = np.zeros(len(geoms), dtype=bool)
    valid[poly] = shapely.is_valid(geoms[poly])
    bad = poly & ~valid
    reasons = shapely.is_valid_reason(geoms[bad])
    rep.add("geometry_invalid", codes[bad], [f"{c}: invalid polygon — {r}; redraw or repair (make_valid) it"
                                             for c, r in zip(codes[bad], reasons, strict=True)], geoms[bad])
    multi = valid & (kind == 6) & (shapely.get_num_geometries(geoms) > 1)
    rep.add("multipart", codes[multi],
            [f"{c}: made of {shapely.get_num_geometries(x)} separate parts; a grid should be one patch"
             for c, x in zip(codes[multi], geoms[multi], strict=True)], geoms[multi])
    return valid


def _hierarchy_columns(g: gpd.GeoDataFrame, codes: np.ndarray, rep: _Report) -> None:
    bad = np.zeros(len(g), dtype=bool)
    msgs = np.full(len(g), "", dtype=object)
    for col, length in (("community_code", 12), ("street_code", 9), ("district_code", 6)):
        if col not in g:
            continue
        col_v = g[col].astype("string").fillna("").to_numpy(dtype=object)
        prefix = np.array([c[:length] for c in codes], dtype=object)
        wrong = ~bad & (col_v != prefix) & (col_v != "")
        msgs[wrong] = [f"{c}: the code says {col.split('_')[0]} {p} but {col} is {v}"
                       for c, p, v in zip(codes[wrong], prefix[wrong], col_v[wrong], strict=True)]
        bad |= wrong
    geoms = np.asarray(g.geometry.values, dtype=object)
    rep.add("code_hierarchy", codes[bad], msgs[bad], geoms[bad])


def _overlaps(geo: np.ndarray, cod: np.ndarray, suspects: np.ndarray, area_tol: float,
              rep: _Report) -> np.ndarray:
    if len(geo) < 2 or len(suspects) == 0:
        return np.array([], dtype=object)
    qa, b = shapely.STRtree(geo).query(geo[suspects], predicate="intersects")
    a = suspects[qa]
    a, b = np.minimum(a, b), np.maximum(a, b)
    pairs = np.unique(np.column_stack([a, b]), axis=0)
    a, b = pairs[:, 0], pairs[:, 1]
    keep = a < b
    a, b = a[keep], b[keep]
    inter = shapely.intersection(geo[a], geo[b])
    area = shapely.area(inter)
    big = area > area_tol
    a, b, inter, area = a[big], b[big], inter[big], area[big]
    rep.add("overlap", [f"{x};{y}" for x, y in zip(cod[a], cod[b], strict=True)],
            [f"{x} and {y} overlap by {ar:,.3f} m²; move the shared edge so that each area belongs to one grid"
             for x, y, ar in zip(cod[a], cod[b], area, strict=True)], inter)
    return inter


def _parent_frame(parents: Any, metric: Any) -> gpd.GeoDataFrame | None:
    if parents is None:
        return None
    if isinstance(parents, dict):
        for level in ("community", "street", "district"):
            if level in parents and parents[level] is not None and len(parents[level]):
                parents = parents[level]
                break
        else:
            return None
    if "code" not in parents:
        raise TypeError("parents need a 'code' column")
    p = parents.to_crs(metric)
    code = p["code"].astype("string").to_numpy(dtype=object)
    return gpd.GeoDataFrame({"code": code}, geometry=clean_parents(p.geometry.values, code), crs=metric)


def _holes(geo: np.ndarray, area_tol: float, overlaps: np.ndarray, rep: _Report) -> None:
    if len(geo) == 0:
        return
    union = union_coverage(geo) if len(overlaps) == 0 else shapely.union_all(geo)
    rings, owner = shapely.get_rings(shapely.get_parts(union), return_index=True)
    interior = np.r_[False, owner[1:] == owner[:-1]]  # the first ring of each polygon is its exterior
    holes = shapely.polygons(rings[interior])
    holes = holes[shapely.area(holes) > area_tol]
    rep.add("gap", [""] * len(holes),
            [f"a {shapely.area(h):,.3f} m² hole enclosed by grids belongs to no grid; add it to a neighbour"
             for h in holes], holes)


def _wider_than(geoms: np.ndarray, width: float) -> np.ndarray:
    """True where a polygon is more than ``2 × width`` wide somewhere (not a snapping sliver)."""
    if width <= 0 or len(geoms) == 0:
        return np.ones(len(geoms), dtype=bool)
    return ~shapely.is_empty(shapely.buffer(geoms, -width))


def _parent_rules(geo: np.ndarray, cod: np.ndarray, par: gpd.GeoDataFrame, area_tol: float, snap_tol: float,
                  overlaps: np.ndarray, rep: _Report) -> None:
    pgeo = np.asarray(par.geometry.values, dtype=object)
    pcode = par["code"].to_numpy(dtype=object)
    level = len(pcode[0]) if len(pcode) else 12
    # grids inside one parent need no overlay: a prepared-parent "contains" query finds them
    tree = shapely.STRtree(geo)
    pin, gin = tree.query(pgeo, predicate="contains")
    inside = np.zeros(len(geo), dtype=bool)
    inside[gin] = True
    edge = np.flatnonzero(~inside)
    qg, pi = shapely.STRtree(pgeo).query(geo[edge], predicate="intersects")
    gi = edge[qg]
    inter_geom = shapely.intersection(geo[gi], pgeo[pi])
    inter = shapely.area(inter_geom)
    real = inter > area_tol
    real[real] = _wider_than(inter_geom[real], snap_tol)
    gi = np.concatenate([gin, gi[real]])
    pi = np.concatenate([pin, pi[real]])
    inter = np.concatenate([shapely.area(geo[gin]), inter[real]])
    share = pd.DataFrame({"g": gi, "p": pi, "a": inter})
    n_parents = np.bincount(gi, minlength=len(geo))
    outside = n_parents == 0
    rep.add("outside_parents", cod[outside],
            [f"{c}: lies in none of the {len(pcode)} parent units (wrong district or CRS?)" for c in cod[outside]],
            geo[outside])
    cross = np.flatnonzero(n_parents > 1)
    if len(cross):
        by = share[share["g"].isin(cross)].sort_values(["g", "a"], ascending=[True, False])
        names = by.groupby("g")["p"].apply(lambda s: ", ".join(pcode[s.to_numpy()]))
        rep.add("crosses_parent", cod[cross],
                [f"{cod[i]}: straddles parent units {names[i]}; cut it along the parent boundary" for i in cross],
                geo[cross])
    # the parent holding most of each grid must match the code
    main = share.sort_values(["g", "a"], ascending=[True, False]).drop_duplicates("g")
    gmain, pmain = main["g"].to_numpy(), main["p"].to_numpy()
    prefix = np.array([c[:level] for c in cod[gmain]], dtype=object)
    wrong = prefix != pcode[pmain]
    rep.add("code_hierarchy", cod[gmain[wrong]],
            [f"{c}: the code says parent {p} but the grid lies in {q}"
             for c, p, q in zip(cod[gmain[wrong]], prefix[wrong], pcode[pmain[wrong]], strict=True)], geo[gmain[wrong]])
    # gaps: parent area not covered by its grids; without overlaps, only parents whose grids'
    # areas fall short of the parent's own area can have one
    touched = np.unique(pi)
    if len(overlaps) == 0:
        held = np.bincount(pi, weights=inter, minlength=len(pgeo))[touched]
        short = touched[shapely.area(pgeo[touched]) - held > area_tol]
    else:
        short = touched
    if len(short):
        near = np.unique(gi[np.isin(pi, short)])
        covered = union_coverage(geo[near]) if len(overlaps) == 0 else shapely.union_all(geo[near])
        gaps = shapely.difference(pgeo[short], covered)
        parts, owner = shapely.get_parts(gaps, return_index=True)
        big = (shapely.area(parts) > area_tol) & (shapely.get_type_id(parts) == 3)
        big[big] = _wider_than(parts[big], snap_tol)
        parts, owner = parts[big], short[owner[big]]
        rep.add("gap", pcode[owner],
                [f"{shapely.area(x):,.3f} m² of parent {c} is covered by no grid; extend a neighbouring grid over it"
                 for x, c in zip(parts, pcode[owner], strict=True)], parts)
    untouched = np.setdiff1d(np.arange(len(pgeo)), touched)
    if len(untouched) and len(touched):
        # parents with no grid at all are only reported when some parents do have grids
        rep.add("gap", pcode[untouched],
                [f"parent {c} has no grid at all" for c in pcode[untouched]], pgeo[untouched])


def validate(*args: Any, **kwargs: Any) -> gpd.GeoDataFrame:
    """Deprecated name of :func:`check_coverage` (``validate*`` checks records and returns ``(accepted, rejects)``).

    >>> import warnings, geopandas as gpd
    >>> from shapely import box
    >>> g = gpd.GeoDataFrame({"grid_code": ["410105001003001"]}, geometry=[box(0, 0, 100, 100)], crs=4547)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     validate(g).rule.tolist()
    []
    """
    warnings.warn("gl.grid.validate is deprecated; use gl.grid.check_coverage (same arguments, same report)",
                  DeprecationWarning, stacklevel=2)
    return check_coverage(*args, **kwargs)
