"""The night's products: responsibility GeoPackage, KPI tables, PNG maps, web map, summary page.

Everything published goes through :func:`gridlib.nightly.schema.publishable`,
so only documented columns reach a file.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import geopandas as gpd
import pandas as pd

import gridlib.io as gio
from gridlib.assignment import responsible
from gridlib.nightly import maps as nightly_maps
from gridlib.nightly._frames import no_rows
from gridlib.nightly.gpkg_styles import relate_gpkg, style_gpkg
from gridlib.nightly.jobs import start_job
from gridlib.nightly.maps import map_processes, png_maps, write_maps
from gridlib.nightly.model import NightlyOptions, NightlyResults
from gridlib.nightly.outputs import write_gpkg_layers
from gridlib.nightly.record import RunRecord
from gridlib.nightly.schema import PRODUCT_GEOMETRY, publishable
from gridlib.trucks.cases import violation_points

__all__: list[str] = []  # used by the pipeline only; the public entry point is run_nightly

#: Product layers whose rows are grids: written in the GeoPackage as views of ``grid_responsibility``'s grid
#: geometry (write_gpkg_layers), so a city's 756k grid polygons are stored and indexed once, not three times.
SHARED_GEOMETRY = {"hotspots": ("grid_responsibility", "grid_code"),
                   "reachability": ("grid_responsibility", "grid_code")}


def _responsible(grids: gpd.GeoDataFrame, responsibility: pd.DataFrame | None) -> pd.DataFrame:
    """For each grid, who is responsible: the same lookup as ``gl.assign`` (missing where nobody is)."""
    who = responsible(grids[["grid_code", "community_code", "street_code"]], responsibility)
    who = who.rename(columns={"unit": "responsible_unit"}).replace("", None)
    return pd.concat([pd.DataFrame({"grid_code": grids["grid_code"].to_numpy()}), who], axis=1)


def grid_responsibility(results: NightlyResults, date: dt.date) -> gpd.GeoDataFrame:
    """The responsibility map: one row per grid with who is responsible and what is happening."""
    grids = results.gridset.grids
    cases = results.cases
    day_start = pd.Timestamp(date)
    base = grids[[c for c in ("grid_code", "community_code", "community_name", "street_code", "street_name",
                              "district_code", "district_name", "area_m2") if c in grids.columns]].copy()
    base = base.merge(_responsible(grids, results.inputs.responsibility), on="grid_code", how="left")
    base["new_cases"] = base["grid_code"].map(cases[cases["reported_at"] >= day_start].groupby("grid_code").size()).fillna(0).astype("int64")
    open_cases = results.tables["open_cases"]
    if "grid_code" in open_cases.columns:
        base["open_cases"] = base["grid_code"].map(open_cases.groupby("grid_code").size()).fillna(0).astype("int64")
        red = open_cases[open_cases["light"] == "red"]
        base["overdue_cases"] = base["grid_code"].map(red.groupby("grid_code").size()).fillna(0).astype("int64")
    hot = results.hotspots
    hot_cols = hot[["grid_code", "count", "z", "hotspot_class", "emerging_category"]].rename(
        columns={"count": "cases_30d", "z": "hotspot_z"})
    base = base.merge(hot_cols, on="grid_code", how="left")
    coverage = results.coverage
    if coverage.grid_coverage is not None:
        gc = pd.DataFrame(coverage.grid_coverage)
        gc["blind_road_m"] = gc["road_m"] - gc["covered_m"]
        cols = {"road_m": "road_length_m", "road_share": "camera_road_share", "blind_road_m": "blind_road_m"}
        base = base.merge(gc[["grid_code", *cols]].rename(columns=cols), on="grid_code", how="left")
    if coverage.reachability is not None:
        rc = pd.DataFrame(coverage.reachability)
        reach = results.options.reach_column
        rc = rc.rename(columns={"reachable": reach, "time_min": "travel_min"})
        base = base.merge(rc[[c for c in ("grid_code", "nearest_base", "travel_min", reach)
                              if c in rc.columns]], on="grid_code", how="left")
    return gpd.GeoDataFrame(base, geometry=grids.geometry.to_numpy(), crs=grids.crs).sort_values("grid_code")


def _points_and_tracks(violations: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """One geometry type per layer: every violation as the point its case is placed at, and the
    tracks of those that are tracks (deviation, no permit …) beside them, keyed by ``violation_id``."""
    lines = violations.geom_type.isin(["LineString", "MultiLineString"]).to_numpy()
    tracks = publishable("violation_tracks", violations[lines])
    points = violations.set_geometry(violation_points(violations))
    return publishable("violations", points), tracks


def _sorted(frame: pd.DataFrame, *keys: str) -> pd.DataFrame:
    cols = [k for k in keys if k in frame.columns]
    return frame.sort_values(cols, kind="stable").reset_index(drop=True) if cols else frame.reset_index(drop=True)


def _with_cases(violations: gpd.GeoDataFrame, cases: pd.DataFrame) -> gpd.GeoDataFrame:
    """Violations keep the truck check's ``violation_id`` and gain the ``case_id``, ``grid_code``
    and ``street_code`` of the case each became (missing where a violation made no case)."""
    link = ["case_id", "grid_code", "street_code"]
    if "violation_id" not in cases.columns:
        return violations.assign(**{c: pd.NA for c in link})
    made = pd.DataFrame(cases.loc[cases["violation_id"].notna(), ["violation_id", *link]])
    return violations.drop(columns=[c for c in link if c in violations.columns]).merge(
        made.drop_duplicates("violation_id"), on="violation_id", how="left")


def _release_sources(results: NightlyResults) -> None:
    """Release from *results* what no product reads once the layers are built (each layer has its own copy): the
    cases, the hot spots and the camera coverage and reachability frames. Released before the GeoPackage and PNG
    map processes fork, they are not shared with them (a city's: ~230 MB of the run's pages)."""
    results.cases = no_rows(results.cases)  # a zero-row slice would keep every column and geometry alive
    results.hotspots = None
    coverage = results.coverage
    coverage.viewsheds = coverage.grid_coverage = coverage.blind_spots = coverage.reachability = None


def write_products(work: Path, results: NightlyResults, *, date: dt.date, options: NightlyOptions,
                   record: RunRecord) -> dict[str, pd.DataFrame]:
    """Write every product into *work*; return the published layers (for the store). The frames of *results* only
    the layers read are released once the layers are built (:func:`_release_sources`): the caller keeps no other
    reference to them, so that their memory goes back before the product processes fork."""
    grids = results.gridset.grids
    crs = grids.crs
    phone = options.include_staff_phone
    layers: dict[str, pd.DataFrame] = {}
    layers["grid_responsibility"] = publishable("grid_responsibility", grid_responsibility(results, date),
                                                include_staff_phone=phone, reach_column=options.reach_column)
    cases = results.cases.to_crs(crs)
    open_cases = results.tables["open_cases"]
    if "case_id" in open_cases.columns:
        stage = open_cases.set_index("case_id")
        for col in ("stage", "light"):
            if col in stage.columns:
                cases[col] = cases["case_id"].map(stage[col])
    layers["assigned_cases"] = _sorted(publishable("assigned_cases", cases), "reported_at", "case_id")
    layers["rejects"] = _sorted(publishable("rejects", results.rejects), "step", "record_id", "reason_code")
    truck = results.truck_result
    if truck is not None:
        violations = _sorted(_with_cases(truck.violations.to_crs(crs), cases), "start", "vehicle_id")
        layers["violations"], layers["violation_tracks"] = _points_and_tracks(violations)
    hot = gpd.GeoDataFrame(results.hotspots, geometry="geometry", crs=crs)
    layers["hotspots"] = _sorted(publishable("hotspots", hot), "grid_code")
    coverage = results.coverage
    if coverage.viewsheds is not None:
        layers["camera_viewsheds"] = _sorted(publishable("camera_viewsheds", coverage.viewsheds.to_crs(crs)), "camera_id")
    if coverage.blind_spots is not None:
        layers["blind_spots"] = publishable("blind_spots", coverage.blind_spots.to_crs(crs))
    if coverage.reachability is not None:
        reach = gpd.GeoDataFrame(coverage.reachability, geometry="geometry", crs=crs)
        reach = reach.rename(columns={"reachable": options.reach_column, "time_min": "travel_min"})
        layers["reachability"] = _sorted(publishable("reachability", reach, reach_column=options.reach_column),
                                         "grid_code")

    _release_sources(results)
    streets = nightly_maps.street_outlines(grids)
    gpkg = work / "responsibility_map.gpkg"
    # the GeoPackage (a city's: ~20 CPU-s) is written in a forked process where the PNG maps are too, started
    # before them (no thread of theirs is running at the fork)
    job = start_job(lambda _: _write_gpkg(gpkg, layers, date), record, "GeoPackage") if map_processes(2) else None
    try:
        _tables_and_maps(work, gpkg if job is None else None, layers, results, date, streets)
        if job is not None:
            job.result()
    finally:
        if job is not None:
            job.cancel()
    return layers


def _write_gpkg(path: Path, layers: dict[str, pd.DataFrame], date: dt.date) -> None:
    stamp = f"{date.isoformat()}T00:00:00.000Z"
    write_gpkg_layers(path, layers, current_date=stamp, geometry_types=PRODUCT_GEOMETRY,
                      shared_geometry=SHARED_GEOMETRY)
    style_gpkg(path, update_time=stamp)
    relate_gpkg(path, update_time=stamp)


def _tables_and_maps(work: Path, gpkg: Path | None, layers: dict[str, pd.DataFrame], results: NightlyResults,
                     date: dt.date, streets: gpd.GeoDataFrame) -> None:
    """The KPI tables, the maps and the web map (and the GeoPackage at *gpkg*, unless written elsewhere)."""
    grids = results.gridset.grids
    # the PNG maps are drawn in forked processes (png_maps) while this one writes the tables and the web map
    # (and the GeoPackage): the night's longest step uses both cores
    with png_maps(work, layers, grids, streets, date):
        if gpkg is not None:
            _write_gpkg(gpkg, layers, date)
        kpi_dir = work / "kpi"
        kpi_dir.mkdir()
        for name, table in sorted(results.tables.items()):
            frame = pd.DataFrame(table)
            if name == "open_cases":
                frame = _sorted(publishable("assigned_cases", frame), "light", "case_id")
            gio.write_csv(gio.with_names(frame, grids), kpi_dir / f"{name}.csv", float_format="%.6g")  # BOM: Excel
        write_maps(work, layers, results, date=date, streets=streets, pngs=False)
