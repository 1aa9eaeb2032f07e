"""The night's products: responsibility GeoPackage, KPI tables, PNG maps, web map, summary page.

Everything published goes through :func:`gridlib.nightly.schema.publishable`,
so only documented columns reach a file.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from gridlib.nightly.gpkg_styles import style_gpkg
from gridlib.nightly.maps import write_maps
from gridlib.nightly.outputs import write_gpkg_layers
from gridlib.nightly.schema import publishable

__all__: list[str] = []  # used by the pipeline only; the public entry point is run_nightly

def _responsible(grids: gpd.GeoDataFrame, responsibility: pd.DataFrame | None) -> pd.DataFrame:
    """For each grid, the most specific responsibility row: grid, then community, then street."""
    out = pd.DataFrame({"grid_code": grids["grid_code"].to_numpy()})
    columns = ["responsible_unit", "team", "person", "phone"]
    for col in columns:
        out[col] = pd.Series([None] * len(out), dtype=object)
    if responsibility is None or not len(responsibility):
        return out
    table = pd.DataFrame(responsibility).rename(columns={"unit": "responsible_unit"})
    for level, key in (("street", "street_code"), ("community", "community_code"), ("grid", "grid_code")):
        part = table[table["level"] == level].drop_duplicates("code", keep="first").set_index("code")
        if not len(part):
            continue
        codes = grids[key].astype(str).to_numpy()
        for col in columns:
            if col in part.columns:
                values = part[col].reindex(codes).to_numpy()
                found = pd.notna(values)
                out.loc[found, col] = values[found]
    return out


def grid_responsibility(results: dict[str, Any], date: dt.date) -> gpd.GeoDataFrame:
    """The responsibility map: one row per grid with who is responsible and what is happening."""
    grids = results["gridset"].grids
    cases = results["cases"]
    day_start = pd.Timestamp(date)
    base = grids[[c for c in ("grid_code", "community_code", "community_name", "street_code", "street_name",
                              "district_code", "district_name", "area_m2") if c in grids.columns]].copy()
    base = base.merge(_responsible(grids, results["responsibility"]), on="grid_code", how="left")
    base["new_cases"] = base["grid_code"].map(cases[cases["reported_at"] >= day_start].groupby("grid_code").size()).fillna(0).astype("int64")
    open_cases = results["tables"]["open_cases"]
    if "grid_code" in open_cases.columns:
        base["open_cases"] = base["grid_code"].map(open_cases.groupby("grid_code").size()).fillna(0).astype("int64")
        red = open_cases[open_cases["light"] == "red"]
        base["overdue_cases"] = base["grid_code"].map(red.groupby("grid_code").size()).fillna(0).astype("int64")
    hot = results["hotspots"]
    hot_cols = hot[["grid_code", "count", "z", "hotspot_class", "emerging_category"]].rename(
        columns={"count": "cases_30d", "z": "hotspot_z"})
    base = base.merge(hot_cols, on="grid_code", how="left")
    coverage = results["coverage"]
    if "grid_coverage" in coverage:
        gc = pd.DataFrame(coverage["grid_coverage"])
        gc["blind_road_m"] = gc["road_m"] - gc["covered_m"]
        cols = {"road_m": "road_length_m", "road_share": "camera_road_share", "blind_road_m": "blind_road_m"}
        base = base.merge(gc[["grid_code", *cols]].rename(columns=cols), on="grid_code", how="left")
    if "reachability" in coverage:
        rc = pd.DataFrame(coverage["reachability"])
        rc = rc.rename(columns={"reachable": "reachable_10min", "time_min": "travel_min"})
        base = base.merge(rc[[c for c in ("grid_code", "nearest_base", "travel_min", "reachable_10min")
                              if c in rc.columns]], on="grid_code", how="left")
    return gpd.GeoDataFrame(base, geometry=grids.geometry.to_numpy(), crs=grids.crs).sort_values("grid_code")


def _sorted(frame: pd.DataFrame, *keys: str) -> pd.DataFrame:
    cols = [k for k in keys if k in frame.columns]
    return frame.sort_values(cols, kind="stable").reset_index(drop=True) if cols else frame.reset_index(drop=True)


def write_products(work: Path, results: dict[str, Any], *, date: dt.date, options: Any, record: Any) -> dict[str, pd.DataFrame]:
    """Write every product into *work*; return the published layers (for the store)."""
    grids = results["gridset"].grids
    crs = grids.crs
    phone = options.include_staff_phone
    layers: dict[str, pd.DataFrame] = {}
    layers["grid_responsibility"] = publishable("grid_responsibility", grid_responsibility(results, date),
                                                include_staff_phone=phone)
    cases = results["cases"].to_crs(crs)
    open_cases = results["tables"]["open_cases"]
    if "case_id" in open_cases.columns:
        stage = open_cases.set_index("case_id")
        for col in ("stage", "light"):
            if col in stage.columns:
                cases[col] = cases["case_id"].map(stage[col])
    layers["assigned_cases"] = _sorted(publishable("assigned_cases", cases), "reported_at", "case_id")
    layers["rejects"] = _sorted(publishable("rejects", results["rejects"]), "step", "record_id", "reason")
    truck = results["truck_result"]
    if truck is not None:
        violations = truck.violations.to_crs(crs).copy()
        violations["violation_id"] = [f"V{i:05d}" for i in range(len(violations))]
        layers["violations"] = _sorted(publishable("violations", violations), "start", "vehicle_id")
    hot = gpd.GeoDataFrame(results["hotspots"], geometry="geometry", crs=crs)
    layers["hotspots"] = _sorted(publishable("hotspots", hot), "grid_code")
    coverage = results["coverage"]
    if "viewsheds" in coverage:
        layers["camera_viewsheds"] = _sorted(publishable("camera_viewsheds", coverage["viewsheds"].to_crs(crs)), "camera_id")
    if "blind_spots" in coverage:
        layers["blind_spots"] = publishable("blind_spots", coverage["blind_spots"].to_crs(crs))
    if "reachability" in coverage:
        reach = gpd.GeoDataFrame(coverage["reachability"], geometry="geometry", crs=crs)
        reach = reach.rename(columns={"reachable": "reachable_10min", "time_min": "travel_min"})
        layers["reachability"] = _sorted(publishable("reachability", reach), "grid_code")

    write_gpkg_layers(work / "responsibility_map.gpkg", layers, current_date=f"{date.isoformat()}T00:00:00.000Z")
    style_gpkg(work / "responsibility_map.gpkg", update_time=f"{date.isoformat()}T00:00:00.000Z")
    kpi_dir = work / "kpi"
    kpi_dir.mkdir()
    for name, table in sorted(results["tables"].items()):
        frame = pd.DataFrame(table)
        if name == "open_cases":
            frame = _sorted(publishable("assigned_cases", frame), "light", "case_id")
        frame.to_csv(kpi_dir / f"{name}.csv", index=False, lineterminator="\n", float_format="%.6g")
    write_maps(work, layers, results, date=date)
    return layers
