"""Grid quality figures on real data: the demo area and the bundled Helsinki network.

    python scripts/grid_figures.py            # with the road-class-aware default (split_by="auto")
    python scripts/grid_figures.py --legacy   # every road given bounds a grid (split_by=None)

Prints, per area: grid count, median area, share of grids within 0.5–2× the target,
gap / overlap (m²) of the grids against their parents, near misses (vertex/grid pairs
closer than 2 mm without a shared vertex, ``gl.grid.build.near_misses``) and the largest
deviation of a parent's grids from that parent as the build cleaned it (m² of symmetric
difference: 0 when the grids tile every parent exactly).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout

import gridlib as gl  # noqa: E402
from gridlib.grid.build import clean_parents, near_misses  # noqa: E402

TARGET = 10_000.0


def helsinki_inputs() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Two communities (west and east halves of the road extent) and all Helsinki OSM roads."""
    roads = gl.datasets.helsinki_roads()
    metric = gl.crs.metric_crs_for(roads)
    r = roads.to_crs(metric)
    x0, y0, x1, y1 = np.r_[np.floor(r.total_bounds[:2]), np.ceil(r.total_bounds[2:])]
    xm = round((x0 + x1) / 2)
    parents = gpd.GeoDataFrame({"code": ["410105001001", "410105001002"], "name": ["west", "east"]},
                               geometry=[shapely.box(x0, y0, xm, y1), shapely.box(xm, y0, x1, y1)], crs=metric)
    return parents, roads


# the road classes the demo grids were bounded by before split_by (issue 19): every one of them bounded
LEGACY_DEMO_ROADS = ("motorway", "trunk", "primary", "secondary", "tertiary", "residential", "unclassified",
                     "living_street", "pedestrian")


def demo_inputs(legacy: bool = False):
    """The demo communities, non-tunnel roads (legacy: only the old block-road classes) and water."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipelines"))
    import make_demo_grids

    comm, roads, water = make_demo_grids.inputs()
    if legacy:
        roads = roads[roads["kind_detail"].isin(LEGACY_DEMO_ROADS)]
    return comm, roads, water


def figures(grids: gpd.GeoDataFrame, parents: gpd.GeoDataFrame) -> dict[str, float]:
    a = grids.geometry.area.to_numpy()
    p = parents.to_crs(grids.crs)
    # against the parents as given (not as cleaned by the build): slivers between them count as gap
    pu, gu = shapely.union_all(p.geometry.values), shapely.union_all(grids.geometry.values)
    return {"grids": len(grids), "median": float(np.median(a)),
            "within": float(np.mean((a >= 0.5 * TARGET) & (a <= 2 * TARGET))),
            "gap": float(shapely.area(shapely.difference(pu, gu))),
            "outside+overlap": float(a.sum() - shapely.area(gu)) + float(shapely.area(shapely.difference(gu, pu))),
            "near_misses": len(near_misses(grids.geometry.values)[0]),
            "parent_deviation": parent_deviation(grids, p)}


def parent_deviation(grids: gpd.GeoDataFrame, parents: gpd.GeoDataFrame) -> float:
    """Largest symmetric difference (m²) between a parent (as cleaned by the build) and the union of its grids."""
    codes = parents["code"].to_numpy(dtype=object)
    clean = clean_parents(parents.geometry.values, codes)
    by_code = grids.groupby("community_code").geometry.apply(lambda g: shapely.union_all(g.values))
    mine = by_code.reindex(codes).to_numpy(dtype=object)
    mine[shapely.is_missing(mine)] = shapely.Polygon()
    return float(shapely.area(shapely.symmetric_difference(mine, clean)).max(initial=0.0))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--legacy", action="store_true", help="old behaviour: every given road bounds grids")
    args = ap.parse_args()
    kw = {"split_by": None} if args.legacy else {}
    comm, roads, water = demo_inputs(legacy=args.legacy)
    f = figures(gl.grid.build(comm, roads, water, target_area=TARGET, **kw), comm)
    print("demo     ", {k: round(v, 3) for k, v in f.items()})
    parents, hroads = helsinki_inputs()
    f = figures(gl.grid.build(parents, hroads, target_area=TARGET, **kw), parents)
    print("helsinki ", {k: round(v, 3) for k, v in f.items()})


if __name__ == "__main__":
    main()
