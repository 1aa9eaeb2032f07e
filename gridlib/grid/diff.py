"""Compare two grid editions: per-grid changes and an area-weighted crosswalk old → new."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridlib.errors import InputError
from gridlib.grid.model import GridSet

__all__ = ["diff", "crosswalk", "CHANGES"]

#: Change kinds, in report order.
CHANGES = ("unchanged", "recoded", "reshaped", "split", "merged", "redrawn", "added", "removed")
# An overlap counts when it is at least this share of the smaller grid (and over 1 m²).
_MIN_SHARE = 0.01
# Same shape when no vertex moved further than this (m): redigitising noise is not a change.
_SAME_SHAPE_M = 1e-3


def _frame(data: Any) -> gpd.GeoDataFrame:
    if isinstance(data, GridSet):
        data = data.grids
    if not isinstance(data, gpd.GeoDataFrame) or "grid_code" not in data:
        raise InputError("diff/crosswalk take GridSets or GeoDataFrames with a grid_code column")
    if data.crs is None:
        raise InputError("grids without a CRS cannot be compared")
    return data


def _pairs(old: gpd.GeoDataFrame, new: gpd.GeoDataFrame) -> pd.DataFrame:
    """Overlapping (old, new) grid pairs with the overlap area.

    Grids with an identical shape in both editions (most of them) are paired
    directly; only the others go through the spatial index and an overlay.
    Both editions are assumed to be coverages (validated), so an identical grid
    overlaps nothing else.
    """
    og, ng = np.asarray(old.geometry.values, dtype=object), np.asarray(new.geometry.values, dtype=object)
    oa, na = shapely.area(og), shapely.area(ng)
    okey = pd.Series(shapely.to_wkb(shapely.normalize(og)))
    nkey = pd.Series(shapely.to_wkb(shapely.normalize(ng)))
    same = pd.DataFrame({"o": np.arange(len(og)), "k": okey}).merge(
        pd.DataFrame({"n": np.arange(len(ng)), "k": nkey}), on="k").drop(columns="k")
    same = same[~same["o"].duplicated(keep=False) & ~same["n"].duplicated(keep=False)]
    rest_o = np.setdiff1d(np.arange(len(og)), same["o"].to_numpy())
    rest_n = np.setdiff1d(np.arange(len(ng)), same["n"].to_numpy())
    oi = ni = np.array([], dtype=np.int64)
    inter = np.array([], dtype=float)
    if len(rest_o) and len(rest_n):
        qi, ti = shapely.STRtree(ng[rest_n]).query(og[rest_o], predicate="intersects")
        oi, ni = rest_o[qi], rest_n[ti]
        inter = shapely.area(shapely.intersection(og[oi], ng[ni]))
    o = np.concatenate([same["o"].to_numpy(), oi])
    n = np.concatenate([same["n"].to_numpy(), ni])
    overlap = np.concatenate([oa[same["o"].to_numpy()], inter])
    keep = overlap > 0
    return pd.DataFrame({"o": o[keep], "n": n[keep], "overlap": overlap[keep],
                         "old_area": oa[o[keep]], "new_area": na[n[keep]]})


def crosswalk(old: GridSet | gpd.GeoDataFrame, new: GridSet | gpd.GeoDataFrame) -> pd.DataFrame:
    """Area-overlap crosswalk from old grid codes to new ones.

    ``weight`` is the share of the old grid's area that lies in the new grid, so a
    count per old grid times ``weight``, summed per ``new_code``, carries the count
    onto the new grids (assuming events spread evenly over each old grid).

    Returns
    -------
    DataFrame
        ``old_code, new_code, overlap_m2, weight`` sorted by codes; overlaps under
        1 m² or 1 % of the smaller grid are dropped and the weights renormalised.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> old = gpd.GeoDataFrame({"grid_code": ["A"]}, geometry=[box(0, 0, 200, 100)], crs=4547)
    >>> new = gpd.GeoDataFrame({"grid_code": ["B", "C"]},
    ...                        geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs=4547)
    >>> crosswalk(old, new)[["old_code", "new_code", "weight"]].values.tolist()
    [['A', 'B', 0.5], ['A', 'C', 0.5]]
    """
    old, new = _frame(old), _frame(new)
    new = new.to_crs(old.crs)
    p = _significant(_pairs(old, new))
    oc = old["grid_code"].astype("string").to_numpy(dtype=object)
    nc = new["grid_code"].astype("string").to_numpy(dtype=object)
    total = p.groupby("o")["overlap"].transform("sum")
    out = pd.DataFrame({"old_code": oc[p["o"]], "new_code": nc[p["n"]], "overlap_m2": p["overlap"].to_numpy(),
                        "weight": (p["overlap"] / total).to_numpy()})
    return out.sort_values(["old_code", "new_code"], kind="stable").reset_index(drop=True)


def _significant(p: pd.DataFrame) -> pd.DataFrame:
    smaller = np.minimum(p["old_area"], p["new_area"])
    return p[(p["overlap"] > 1.0) & (p["overlap"] >= _MIN_SHARE * smaller)].reset_index(drop=True)


def diff(old: GridSet | gpd.GeoDataFrame, new: GridSet | gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Classify how every grid changed between two editions.

    Parameters
    ----------
    old, new : GridSet or GeoDataFrame
        Two editions (``new`` is reprojected to ``old``'s CRS).

    Returns
    -------
    GeoDataFrame
        One row per change: ``change`` (one of :data:`CHANGES`), ``old_codes``,
        ``new_codes`` (``;``-joined for split/merged/redrawn), ``old_area_m2``,
        ``new_area_m2``, ``area_change_m2``, ``hausdorff_m`` (reshaped grids) and the
        geometry (new, or old for removed grids).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> old = gpd.GeoDataFrame({"grid_code": ["A", "B"]},
    ...                        geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs=4547)
    >>> new = gpd.GeoDataFrame({"grid_code": ["A", "C"]},
    ...                        geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs=4547)
    >>> diff(old, new)[["change", "old_codes", "new_codes"]].values.tolist()
    [['unchanged', 'A', 'A'], ['recoded', 'B', 'C']]
    """
    old, new = _frame(old), _frame(new)
    new = new.to_crs(old.crs)
    og = np.asarray(old.geometry.values, dtype=object)
    ng = np.asarray(new.geometry.values, dtype=object)
    oc = old["grid_code"].astype("string").to_numpy(dtype=object)
    nc = new["grid_code"].astype("string").to_numpy(dtype=object)
    p = _significant(_pairs(old, new))
    n_of_old = np.bincount(p["o"], minlength=len(og))
    n_of_new = np.bincount(p["n"], minlength=len(ng))
    po, pn = p["o"].to_numpy(), p["n"].to_numpy()
    rows: list[pd.DataFrame] = []

    def add(change: str, old_codes: Any, new_codes: Any, old_area: Any, new_area: Any, haus: Any, geom: Any) -> None:
        old_area, new_area = np.asarray(old_area, dtype=float), np.asarray(new_area, dtype=float)
        rows.append(pd.DataFrame({
            "change": change, "old_codes": list(old_codes), "new_codes": list(new_codes),
            "old_area_m2": old_area, "new_area_m2": new_area,
            "area_change_m2": np.where(np.isnan(old_area) | np.isnan(new_area), np.nan, new_area - old_area),
            "hausdorff_m": np.asarray(haus, dtype=float), "geometry": list(geom)}))

    # 1:1 pairs: unchanged, recoded or reshaped
    one = (n_of_old[po] == 1) & (n_of_new[pn] == 1)
    o1, n1 = po[one], pn[one]
    haus = shapely.hausdorff_distance(og[o1], ng[n1])
    same = haus <= _SAME_SHAPE_M
    same_code = oc[o1] == nc[n1]
    oa, na = shapely.area(og), shapely.area(ng)
    nan = np.full(len(o1), np.nan)
    m = same & same_code
    add("unchanged", oc[o1[m]], nc[n1[m]], oa[o1[m]], na[n1[m]], nan[m], ng[n1[m]])
    m = same & ~same_code
    add("recoded", oc[o1[m]], nc[n1[m]], oa[o1[m]], na[n1[m]], nan[m], ng[n1[m]])
    m = ~same
    add("reshaped", oc[o1[m]], nc[n1[m]], oa[o1[m]], na[n1[m]], haus[m], ng[n1[m]])

    # split: an old grid over several new ones that each overlap only it
    frame = pd.DataFrame({"o": po, "n": pn})
    many_new = frame[n_of_old[po] > 1]
    pure = many_new.groupby("o")["n"].apply(lambda s: bool((n_of_new[s.to_numpy()] == 1).all()))
    for kind, sel in (("split", pure[pure].index.to_numpy()),):
        parts = many_new[many_new["o"].isin(sel)].groupby("o")["n"].apply(lambda s: np.sort(s.to_numpy()))
        add(kind, oc[parts.index.to_numpy()], [";".join(nc[v]) for v in parts.to_numpy()],
            oa[parts.index.to_numpy()], [na[v].sum() for v in parts.to_numpy()], np.full(len(parts), np.nan),
            og[parts.index.to_numpy()])
    # merged: a new grid over several old ones that each overlap only it
    many_old = frame[n_of_new[pn] > 1]
    pure_m = many_old.groupby("n")["o"].apply(lambda s: bool((n_of_old[s.to_numpy()] == 1).all()))
    parts = many_old[many_old["n"].isin(pure_m[pure_m].index)].groupby("n")["o"].apply(
        lambda s: np.sort(s.to_numpy()))
    add("merged", [";".join(oc[v]) for v in parts.to_numpy()], nc[parts.index.to_numpy()],
        [oa[v].sum() for v in parts.to_numpy()], na[parts.index.to_numpy()], np.full(len(parts), np.nan),
        ng[parts.index.to_numpy()])
    # redrawn: the rest of the many-to-many pairs, one row per new grid
    done_old = set(pure[pure].index.tolist()) | set(np.concatenate(list(parts.to_numpy())).tolist()
                                                    if len(parts) else [])
    rest = frame[((n_of_old[po] > 1) | (n_of_new[pn] > 1)) & ~frame["o"].isin(done_old)
                 & ~frame["n"].isin(pure_m[pure_m].index)]
    if len(rest):
        grp = rest.groupby("n")["o"].apply(lambda s: np.sort(s.to_numpy()))
        add("redrawn", [";".join(oc[v]) for v in grp.to_numpy()], nc[grp.index.to_numpy()],
            [oa[v].sum() for v in grp.to_numpy()], na[grp.index.to_numpy()], np.full(len(grp), np.nan),
            ng[grp.index.to_numpy()])
    added = np.flatnonzero(n_of_new == 0)
    add("added", [""] * len(added), nc[added], np.full(len(added), np.nan), na[added],
        np.full(len(added), np.nan), ng[added])
    removed = np.flatnonzero(n_of_old == 0)
    add("removed", oc[removed], [""] * len(removed), oa[removed], np.full(len(removed), np.nan),
        np.full(len(removed), np.nan), og[removed])
    out = pd.concat(rows, ignore_index=True)
    out["_k"] = out["change"].map({c: i for i, c in enumerate(CHANGES)})
    out = out.sort_values(["_k", "old_codes", "new_codes"], kind="stable").drop(columns="_k")
    return gpd.GeoDataFrame(out.reset_index(drop=True), geometry="geometry", crs=old.crs)
