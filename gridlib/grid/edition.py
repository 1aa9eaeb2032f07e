"""Versioned grid editions in a store, and the planners' atomic import.

Store layout (the same in a GeoPackage and in PostGIS):

- ``grid_editions`` (table): ``edition_id, valid_from, valid_to, source, note,
  n_grids, imported_at, current, crs`` — ``valid_to`` is empty for the current edition;
- ``grids`` (layer): every edition's grids with an ``edition_id`` column;
- ``grid_parents`` (layer): ``edition_id, level, code, name`` and the polygon;
- ``grid_changes`` (layer): the diff of each edition against its predecessor;
- ``grid_crosswalk`` (table): ``from_edition, to_edition, old_code, new_code, overlap_m2, weight``.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd
import shapely

from gridlib.crs import metric_crs_for
from gridlib.errors import InputError, ValidationError
from gridlib.grid.diff import crosswalk, diff
from gridlib.grid.model import (
    GridSet,
    edition_at,
    edition_table,
    iso_date,
    write_edition,
)
from gridlib.grid.validate import check_coverage, codes_as_text
from gridlib.io import check_layer_crs, convert_offset, declare_crs, open_layer
from gridlib.progress import step
from gridlib.types import CRSLike, LayerSource, TimeLike

if TYPE_CHECKING:
    from gridlib.store.base import Store

__all__ = ["import_edition", "open_grids", "write_edition", "editions", "ImportResult", "CHANGES_LAYER", "CROSSWALK_LAYER"]

log = logging.getLogger(__name__)

CHANGES_LAYER = "grid_changes"
CROSSWALK_LAYER = "grid_crosswalk"
IMPORT_LOCK = "grid_import"
_CODE_FIELDS = ("grid_code", "gridcode", "code", "bgid", "bgcode", "wgbm", "wgdm", "grid_id")


@dataclass
class ImportResult:
    """What an import did: the new edition, its diff against the previous one and the crosswalk.

    Examples
    --------
    >>> import os, tempfile, geopandas as gpd
    >>> from shapely import box
    >>> import gridlib as gl
    >>> store = gl.store.open(os.path.join(tempfile.mkdtemp(), "grids.gpkg"))
    >>> parents = gpd.GeoDataFrame({"code": ["410105001003"], "name": ["demo"]},
    ...                            geometry=[box(0, 0, 300, 200)], crs="EPSG:4547")
    >>> r = import_edition(gl.grid.build(parents), store, effective_date="2026-01-01")
    >>> r.edition_id, len(r.gridset), r.previous, r.changes is None, r.summary
    ('E0001', 6, None, True, {'added': 6})
    >>> int((r.report["severity"] == "error").sum())   # any error and nothing would have been imported
    0
    """

    edition_id: str
    gridset: GridSet
    report: gpd.GeoDataFrame
    changes: gpd.GeoDataFrame | None = None
    crosswalk: pd.DataFrame | None = None
    previous: str | None = None
    summary: dict[str, int] = field(default_factory=dict)


def editions(store: Store) -> pd.DataFrame:
    """List the grid editions in a store, oldest first.

    >>> import tempfile, pathlib, geopandas as gpd
    >>> from shapely import box
    >>> import gridlib as gl
    >>> store = gl.store.open(pathlib.Path(tempfile.mkdtemp()) / "g.gpkg")
    >>> parents = gpd.GeoDataFrame({"code": ["410105001003"], "name": ["x"]},
    ...                            geometry=[box(0, 0, 200, 100)], crs=4547)
    >>> gs = gl.GridSet.from_gdf(gl.grid.build(parents), edition={"valid_from": "2026-01-01"})
    >>> gs.to_store(store)
    'E0001'
    >>> editions(store)[["edition_id", "valid_from", "valid_to", "n_grids"]].values.tolist()
    [['E0001', '2026-01-01', '', 2]]
    """
    return edition_table(store)


def open_grids(source: LayerSource, layer: str | None = None, code_field: str | None = None,
               crs: CRSLike | None = None) -> gpd.GeoDataFrame:
    """Read a grid layer as it is (no row dropped) and name its code field ``grid_code``.

    The code field is ``code_field`` or the first of grid_code, code, BGID, BGCODE,
    WGBM … found; ``crs`` declares the CRS of a file without one (``"gcj02"``
    converts web-map coordinates to WGS84). Coordinates implausible for the CRS (lon/lat
    in a file that says EPSG:4550, metres in one that says EPSG:4326) are one
    :class:`~gridlib.errors.CRSError` naming the CRS; a Z coordinate is dropped (logged).

    Examples
    --------
    >>> import os, tempfile, geopandas as gpd
    >>> from shapely import box
    >>> path = os.path.join(tempfile.mkdtemp(), "planner.geojson")
    >>> gpd.GeoDataFrame({"BGID": ["410105001003001", "410105001003002"]}, crs=4326,
    ...     geometry=[box(113.60, 34.75, 113.61, 34.76), box(113.61, 34.75, 113.62, 34.76)]).to_file(path)
    >>> g = open_grids(path)
    >>> g["grid_code"].tolist(), g.crs.to_epsg()
    (['410105001003001', '410105001003002'], 4326)
    """
    g, scheme = declare_crs(open_layer(source, layer), crs)
    check_layer_crs(g, str(source) if not isinstance(source, gpd.GeoDataFrame) else "the grids")
    if scheme is not None:
        g = convert_offset(g, scheme)
    has_z = g.geometry.has_z.to_numpy()
    if has_z.any():  # grids are 2D: a 3D file's heights would only make 3D layers in the store
        g = g.set_geometry(shapely.force_2d(g.geometry.values))
        log.info("%s: dropped the Z coordinate of %d grids (grids are 2D)", source if not isinstance(
            source, gpd.GeoDataFrame) else "the grids", int(has_z.sum()))
    field_name = code_field
    if field_name is None:
        lower = {c.lower(): c for c in g.columns}
        field_name = next((lower[c] for c in _CODE_FIELDS if c in lower), None)
        if field_name is None:
            raise InputError(f"cannot tell which field holds the grid code (fields: {list(g.columns)}); "
                             "pass code_field= / --code-field")
    elif field_name not in g:
        raise InputError(f"no field {field_name!r} in the input (fields: {list(g.columns)})")
    if field_name != "grid_code":
        g = g.drop(columns=[c for c in ("grid_code",) if c in g]).rename(columns={field_name: "grid_code"})
    return g


def read_grids(*args: Any, **kwargs: Any) -> gpd.GeoDataFrame:
    """Deprecated name of :func:`open_grids` (``read_*`` readers return ``(accepted, rejects)``; this one rejects nothing).

    >>> import warnings, geopandas as gpd
    >>> from shapely import box
    >>> g = gpd.GeoDataFrame({"code": ["410105001003001"]}, geometry=[box(0, 0, 1, 1)], crs=4547)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     read_grids(g)["grid_code"].tolist()
    ['410105001003001']
    """
    warnings.warn("gl.grid.read_grids is deprecated; use gl.grid.open_grids (same arguments)",
                  DeprecationWarning, stacklevel=2)
    return open_grids(*args, **kwargs)


def _codes_to_text(g: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = g.copy()
    out["grid_code"] = codes_as_text(g["grid_code"])
    return out


def write_report(report: gpd.GeoDataFrame, source: LayerSource, report_path: str | os.PathLike[str] | None) -> Path | None:
    """Write a validation report as a GeoPackage next to the source file (or at *report_path*).

    Returns the path written, or None when there is nowhere to write it (a GeoDataFrame source
    and no *report_path*).

    >>> write_report(gpd.GeoDataFrame(geometry=[]), gpd.GeoDataFrame(geometry=[]), None) is None
    True
    """
    if report_path is None:
        if isinstance(source, gpd.GeoDataFrame):
            return None
        src = Path(source)
        report_path = src.with_name(f"{src.stem}.report.gpkg")
    path = Path(report_path)
    from gridlib.io import write_gpkg

    rep = report.copy()
    if rep.crs is None:
        rep = rep.set_crs(4326, allow_override=True)
    write_gpkg(rep, path, layer="report")
    counts = report.groupby(["severity", "rule"]).size()
    lines = [f"grid import report for {source if not isinstance(source, gpd.GeoDataFrame) else 'data'}",
             f"{int((report.severity == 'error').sum())} errors, {int((report.severity == 'warning').sum())} warnings",
             "", "by rule:"]
    lines += [f"  {sev:7s} {rule:18s} {n}" for (sev, rule), n in counts.items()]
    lines += ["", "problems (first 200):"]
    lines += [f"  [{r.severity}] {r.rule}: {r.message}" for r in report.head(200).itertuples()]
    path.with_suffix(".txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def import_edition(
    source: LayerSource,
    store: Store,
    *,
    effective_date: TimeLike,
    layer: str | None = None,
    code_field: str | None = None,
    crs: CRSLike | None = None,
    parents: gpd.GeoDataFrame | None = None,
    target_area: float = 10_000,
    source_name: str | None = None,
    note: str = "",
    report_path: str | os.PathLike[str] | None = None,
) -> ImportResult:
    """Validate a planner's grid file and take it in as the new edition, all or nothing.

    Parameters
    ----------
    source : path or GeoDataFrame
        Any OGR-readable file (Shapefile, GeoPackage, GeoJSON …) or a GeoDataFrame.
    store : gridlib.store.Store
        Where the editions live.
    effective_date : date or ISO string
        When the new edition takes effect; the previous one ends then.
    layer, code_field : str, optional
        Layer in a multi-layer file; field holding the grid code (default: the
        first of grid_code, code, BGID, BGCODE, WGBM …).
    crs : optional
        The CRS of the coordinates when the file has none or a wrong one;
        ``"gcj02"`` converts web-map coordinates.
    parents : GeoDataFrame, optional
        Parent polygons to check nesting and coverage against; default: the
        districts of the current edition in the store.
    report_path : path, optional
        Where to write the validation report (GeoPackage + ``.txt``). A refused import
        always writes it, by default next to the input as ``<input>.report.gpkg``; an
        accepted one only when this is given (its warnings are in ``ImportResult.report``).

    Returns
    -------
    ImportResult

    Raises
    ------
    ValidationError
        When the report has errors (``exc.report``); nothing in the store changes.
    LockError
        When another import holds the store.

    Examples
    --------
    >>> import os, tempfile, geopandas as gpd
    >>> from shapely import box
    >>> import gridlib as gl
    >>> store = gl.store.open(os.path.join(tempfile.mkdtemp(), "grids.gpkg"))
    >>> parents = gpd.GeoDataFrame({"code": ["410105001003"], "name": ["demo"]},
    ...                            geometry=[box(0, 0, 300, 200)], crs="EPSG:4547")
    >>> first = import_edition(gl.grid.build(parents), store, effective_date="2026-01-01")
    >>> first.edition_id, first.summary
    ('E0001', {'added': 6})
    >>> coarser = gl.grid.build(parents, target_area=20_000)   # the planner merges pairs of grids
    >>> second = import_edition(coarser, store, effective_date="2026-07-01")
    >>> second.edition_id, second.previous, second.summary
    ('E0002', 'E0001', {'merged': 3})
    >>> editions(store)[["edition_id", "valid_from", "valid_to"]].values.tolist()
    [['E0001', '2026-01-01', '2026-07-01'], ['E0002', '2026-07-01', '']]
    """
    valid_from = iso_date(effective_date)
    if not valid_from:
        raise InputError("an import needs an effective date")
    with store.lock(IMPORT_LOCK):
        with step("grid import: read"):
            g = open_grids(source, layer, code_field, crs)
        table = edition_table(store)
        current = None
        if len(table):
            cur = edition_at(table)
            current = GridSet.from_store(store)
            if parents is None and current._parents is not None:
                parents = current.parents["district"]
            log.info("current edition %s (%d grids)", cur["edition_id"], len(current))
        if g.crs is not None and not g.crs.is_projected:
            # planners' files come in any CRS: reproject to the store's (or the metric) CRS first
            g = g.to_crs(current.crs if current is not None else metric_crs_for(g))
        with step("grid import: validate"):
            report = check_coverage(g, parents, target_area=target_area)
        errors = report[report["severity"] == "error"]
        if len(errors):
            where = write_report(report, source, report_path)
            top = errors["rule"].value_counts()
            raise ValidationError(
                f"grid import refused: {len(errors)} errors ({', '.join(f'{r} {n}' for r, n in top.items())}); "
                f"nothing was changed in the store" + (f"; report in {where} and {where.with_suffix('.txt')}"
                                                       if where else ""), report)
        if report_path is not None:
            write_report(report, source, report_path)
        name = source_name or (Path(source).name if not isinstance(source, gpd.GeoDataFrame) else "GeoDataFrame")
        gs = GridSet.from_gdf(_codes_to_text(g), edition={"valid_from": valid_from, "source": name, "note": note})
        if current is not None and gs.crs != current.crs:
            gs = GridSet.from_gdf(gs.grids.to_crs(current.crs), edition=gs.edition)
        changes = xwalk = None
        with step("grid import: diff"):
            if current is not None:
                changes = diff(current, gs)
                xwalk = crosswalk(current, gs)
        with step("grid import: write"):
            with store.transaction():
                eid = write_edition(store, gs)
                if current is not None:
                    prev = current.edition["edition_id"]
                    ch = changes.copy()
                    ch.insert(0, "from_edition", prev)
                    ch.insert(0, "edition_id", eid)
                    store.write_layer(CHANGES_LAYER, ch, mode="append")
                    xw = xwalk.copy()
                    xw.insert(0, "to_edition", eid)
                    xw.insert(0, "from_edition", prev)
                    store.write_layer(CROSSWALK_LAYER, xw, mode="append")
        gs.edition["edition_id"] = eid
    summary = changes["change"].value_counts().to_dict() if changes is not None else {"added": len(gs)}
    log.info("imported edition %s: %s", eid, summary)
    return ImportResult(eid, gs, report, changes, xwalk,
                        None if current is None else current.edition["edition_id"], summary)

