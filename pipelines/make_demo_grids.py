"""Build the demo area's unit grids and a deliberately edited second edition.

    python pipelines/make_demo_grids.py [--out-dir data/grids] [--png FILE]

Input: ``data/admin/lujiazui_admin.gpkg`` (communities, streets, districts),
``data/roads/`` (OSM roads) and ``data/context/`` (water). Output, byte-identical
for identical input:

- ``lujiazui_grids.gpkg`` layer ``grids``: edition 1, built by ``gl.grid.build``;
- ``lujiazui_grids_edited.gpkg`` layer ``grids``: edition 2, the same grids with a few
  split, a few pairs merged and a few recoded, as a planner would redraw them.

Both are in the metric CRS CGCS2000 / 3-degree Gauss–Krüger CM 120°E (EPSG:4550).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
import shapely.ops

import gridlib as gl
from gridlib import datasets
from gridlib.grid.build import bounding_roads

FIXED_TIMESTAMP = "2026-01-01T00:00:00Z"
WATER_KINDS = ("river", "riverbank", "water", "canal")


def inputs() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Communities (with street and district names), roads (tunnels left out) and water of the demo area.

    Which roads bound grids is ``gl.grid.build``'s default ``split_by="auto"`` on the
    Tilezen ``kind_detail`` class: motorway … tertiary, residential and unclassified bound
    grids; links, service roads, living streets, pedestrian streets, footways and piers run
    inside them.
    """
    comm = datasets.demo_admin("community")
    streets = datasets.demo_admin("street").set_index("code")["name"]
    districts = datasets.demo_admin("district").set_index("code")["name"]
    comm = comm.assign(street_name=comm["code"].str[:9].map(streets).fillna(""),
                       district_name=comm["code"].str[:6].map(districts).fillna(""))
    roads = datasets.demo_roads()
    tunnel = roads["is_tunnel"].astype("boolean").fillna(False).to_numpy()
    roads = roads[~tunnel]
    water = datasets.demo_water(polygons=True)
    water = water[water["kind"].isin(WATER_KINDS)]
    return comm, roads, water


def _next_codes(community: str, used: set[str], n: int) -> list[str]:
    out, seq = [], 1
    while len(out) < n:
        code = f"{community}{seq:03d}"
        if code not in used:
            out.append(code)
            used.add(code)
        seq += 1
    return out


def edit(grids: gpd.GeoDataFrame, n_split: int = 4, n_merge: int = 3, n_recode: int = 3) -> gpd.GeoDataFrame:
    """A planner's redraw: split the largest grids, merge the smallest into a neighbour, recode a few.

    Deterministic: grids are chosen by area and code, never at random. New codes
    take the first free sequence numbers above the community's highest code, so
    an old code is never reused for a different patch.
    """
    g = grids.sort_values("grid_code").reset_index(drop=True)
    geoms = g.geometry.values.copy()
    codes = g["grid_code"].to_numpy(dtype=object).copy()
    used = set(codes)
    area = shapely.area(geoms)
    top = {c: max(int(x[-3:]) for x in codes if x[:12] == c) for c in set(g["community_code"])}
    for c in top:
        used |= {f"{c}{s:03d}" for s in range(1, top[c] + 1)}
    new_rows = []
    drop = set()
    # split: the largest grids, along the short axis through the centroid
    for i in np.argsort(-area, kind="stable")[:n_split]:
        env = shapely.oriented_envelope(geoms[i])
        ring = np.asarray(env.exterior.coords)
        e1, e2 = ring[1] - ring[0], ring[3] - ring[0]
        long_axis = e1 if np.hypot(*e1) >= np.hypot(*e2) else e2
        cx, cy = geoms[i].centroid.coords[0]
        nrm = np.array([-long_axis[1], long_axis[0]]) / np.hypot(*long_axis) * 1e4
        cut = shapely.LineString([(cx - nrm[0], cy - nrm[1]), (cx + nrm[0], cy + nrm[1])])
        parts = np.asarray(shapely.ops.split(geoms[i], cut).geoms, dtype=object)
        parts = parts[np.lexsort((shapely.bounds(parts)[:, 0], -shapely.bounds(parts)[:, 3]))]
        for code, part in zip(_next_codes(codes[i][:12], used, len(parts)), parts, strict=True):
            new_rows.append((code, part, i))
        drop.add(i)
    # merge: the smallest grids into the same-community neighbour sharing the longest edge
    tree = shapely.STRtree(geoms)
    merged = 0
    for i in np.argsort(area, kind="stable"):
        if merged == n_merge or i in drop:
            continue
        cand = [j for j in tree.query(geoms[i], predicate="intersects")
                if j != i and j not in drop and codes[j][:12] == codes[i][:12]]
        shared = [shapely.length(shapely.intersection(geoms[i].boundary, geoms[j].boundary)) for j in cand]
        if not cand or max(shared) <= 0:
            continue
        j = cand[int(np.argmax(shared))]
        keep, gone = sorted([i, j], key=lambda k: codes[k])
        geoms[keep] = gl.grid.union_coverage([geoms[i], geoms[j]])
        drop.add(gone)
        merged += 1
    # recode: the first grids (by code) of the last communities get fresh sequence numbers
    recoded = 0
    for c in sorted(top, reverse=True):
        if recoded == n_recode:
            break
        i = next(k for k in range(len(codes)) if codes[k][:12] == c and k not in drop)
        codes[i] = _next_codes(c, used, 1)[0]
        recoded += 1
    keep_idx = [k for k in range(len(codes)) if k not in drop]
    rows = g.iloc[keep_idx].copy()
    rows["grid_code"] = codes[keep_idx]
    rows = rows.set_geometry(list(geoms[keep_idx]), crs=g.crs)
    extra = g.iloc[[k for _, _, k in new_rows]].copy()
    extra["grid_code"] = [c for c, _, _ in new_rows]
    extra = extra.set_geometry([p for _, p, _ in new_rows], crs=g.crs)
    out = pd.concat([rows, extra], ignore_index=True)
    out = gpd.GeoDataFrame(out, geometry="geometry", crs=g.crs)
    out["geometry"] = shapely.normalize(gl.grid.node_coverage(out.geometry.values))
    out["area_m2"] = out.geometry.area
    return out.sort_values("grid_code", kind="stable").reset_index(drop=True)


def write(gdf: gpd.GeoDataFrame, path: Path) -> None:
    """Write layer ``grids`` byte-identically for identical input (fixed GeoPackage timestamps)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.gpkg")
    tmp.unlink(missing_ok=True)
    os.environ["OGR_CURRENT_DATE"] = FIXED_TIMESTAMP
    try:
        pyogrio.write_dataframe(gdf, tmp, layer="grids", driver="GPKG", promote_to_multi=False)
    finally:
        os.environ.pop("OGR_CURRENT_DATE", None)
    tmp.replace(path)


def plot(grids: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, comm: gpd.GeoDataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 8))
    grids.plot(ax=ax, column="area_m2", cmap="viridis", vmin=0, vmax=20_000, edgecolor="white", linewidth=0.3,
               legend=True, legend_kwds={"label": "grid area (m²)", "shrink": 0.6})
    comm.to_crs(grids.crs).boundary.plot(ax=ax, color="black", linewidth=1.2)
    roads = bounding_roads(roads)
    roads.to_crs(grids.crs).clip(grids.total_bounds).plot(ax=ax, color="#e34a33", linewidth=0.5)
    ax.set_title(f"Lujiazui demo unit grids: {len(grids)} grids; black = communities, red = bounding roads")
    ax.set_axis_off()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=datasets.data_dir() / "grids")
    parser.add_argument("--png", type=Path, default=None, help="also draw the grids to this PNG")
    args = parser.parse_args(argv)
    comm, roads, water = inputs()
    grids = gl.grid.build(comm, roads, water, target_area=10_000, seed=0)
    report = gl.grid.check_coverage(grids, comm)
    errors = report[report["severity"] == "error"]
    if len(errors):
        raise SystemExit(f"the built grids fail validation: {errors['rule'].value_counts().to_dict()}")
    edited = edit(grids)
    write(grids, args.out_dir / "lujiazui_grids.gpkg")
    write(edited, args.out_dir / "lujiazui_grids_edited.gpkg")
    if args.png:
        plot(grids, roads, comm, args.png)
    changes = gl.grid.diff(grids, edited)["change"].value_counts().to_dict()
    print(f"grids: {len(grids)}; edited: {len(edited)}; changes: {changes}; "
          f"warnings: {report['rule'].value_counts().to_dict()}")


if __name__ == "__main__":
    main()
