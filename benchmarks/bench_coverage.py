"""Camera viewsheds + road coverage: gridlib vs shapely per camera, on one synthetic district.

    python benchmarks/bench_coverage.py           # 2,000 cameras, 100,000 buildings, ~340 km of roads
    python benchmarks/bench_coverage.py --quick   # 300 cameras, 15,000 buildings

The district is 5 km × 5 km of ~150 m blocks (20 m streets, centre-lines with a vertex
every ~25 m and a little jitter) filled with ~4,000 buildings/km² (dense Chinese urban
core; 6-16 m footprints, some touching or overlapping), in EPSG:4547. Cameras stand
at the kerb of junctions and along streets: 1/3 domes (360°), the rest fixed 60-90°
cameras aimed along or across the street, 50-100 m range.

The "straightforward way" is what a GIS analyst writes with shapely: for each camera,
its FOV sector minus the shadow (convex hull of footprint + footprint projected away
from the camera) of each building within range, then roads ∩ union of viewsheds. It
runs on a subset of cameras; gridlib runs on the same subset (ratio) and on all.
Prints times, the ratio, the agreement of the two viewshed sets (IoU) and peak memory,
and writes one JSON line to benchmarks/results/bench_coverage.jsonl. A last part times
10-minute reachability of the district's 100 m grids from 20 bases against one networkx
multi-source Dijkstra with KD-tree snapping (the fair anchor; per-grid Dijkstra is printed too,
for reference only).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gridlib.coverage import grid_coverage, road_coverage, viewsheds  # noqa: E402

X0, Y0, CRS = 500_000.0, 3_800_000.0, 4547
BLOCK, STREET = 150.0, 20.0


def district(side_m: float, n_buildings: int, seed: int = 0) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    rng = np.random.default_rng(seed)
    n_blocks = int(side_m // BLOCK)
    ticks = np.arange(n_blocks + 1) * BLOCK
    # streets: straight-ish centre-lines with a vertex every ~25 m
    t = np.linspace(0, side_m, int(side_m // 25) + 1)
    lines = []
    for c in ticks:
        wob = rng.normal(0, 0.4, (2, len(t)))
        lines.append(np.c_[t + X0, c + Y0 + wob[0]])
        lines.append(np.c_[c + X0 + wob[1], t + Y0])
    roads = gpd.GeoDataFrame({"highway": np.where(np.arange(len(lines)) % 8 < 2, "primary", "residential")},
                             geometry=shapely.linestrings(lines), crs=CRS)
    # buildings: jittered lattice inside each block
    per_block = n_buildings / n_blocks**2
    k = int(np.ceil(np.sqrt(per_block)))
    inner = BLOCK - STREET
    pitch = inner / k
    bx, by, gx, gy = np.meshgrid(np.arange(n_blocks), np.arange(n_blocks), np.arange(k), np.arange(k), indexing="ij")
    cx = X0 + bx.ravel() * BLOCK + STREET / 2 + (gx.ravel() + 0.5) * pitch
    cy = Y0 + by.ravel() * BLOCK + STREET / 2 + (gy.ravel() + 0.5) * pitch
    keep = rng.permutation(len(cx))[:n_buildings]
    cx, cy = cx[keep] + rng.uniform(-2, 2, len(keep)), cy[keep] + rng.uniform(-2, 2, len(keep))
    w, h = rng.uniform(6, min(16, pitch + 2), len(keep)), rng.uniform(6, min(16, pitch + 2), len(keep))
    b = gpd.GeoDataFrame(geometry=shapely.box(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), crs=CRS)
    return roads, b


def cameras(n: int, side_m: float, seed: int = 1) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    n_blocks = int(side_m // BLOCK)
    along = rng.integers(0, 2, n).astype(bool)  # on a horizontal or a vertical street
    street = rng.integers(0, n_blocks + 1, n) * BLOCK
    pos = rng.uniform(0, side_m, n)
    junction = rng.random(n) < 0.3
    pos = np.where(junction, np.round(pos / BLOCK) * BLOCK, pos)
    kerb = rng.choice([-8.0, 8.0], n)
    x = np.where(along, pos, street + kerb) + X0
    y = np.where(along, street + kerb, pos) + Y0
    dome = rng.random(n) < 1 / 3
    heading = np.where(along, rng.choice([90.0, 270.0], n), rng.choice([0.0, 180.0], n)) + rng.normal(0, 20, n)
    return gpd.GeoDataFrame({
        "camera_id": np.char.add("cam", np.arange(n).astype(str)),
        "heading": np.where(dome, np.nan, heading % 360),
        "fov": np.where(dome, 360.0, rng.choice([60.0, 90.0], n)),
        "range_m": rng.uniform(50, 100, n),
    }, geometry=shapely.points(x, y), crs=CRS)


def sector(x: float, y: float, heading: float, fov: float, r: float) -> shapely.Geometry:
    if fov >= 360:
        return shapely.Point(x, y).buffer(r, quad_segs=90)
    a = np.radians(np.linspace(heading - fov / 2, heading + fov / 2, max(int(fov * 2), 2) + 1))
    return shapely.Polygon(np.r_[[[x, y]], np.c_[x + r * np.sin(a), y + r * np.cos(a)], [[x, y]]])


def straightforward(cams: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, roads: gpd.GeoDataFrame
                    ) -> tuple[list[shapely.Geometry], float]:
    """Shapely per camera: sector minus building shadows; then roads ∩ union of viewsheds."""
    tree = shapely.STRtree(buildings.geometry.values)
    out = []
    for cam in cams.itertuples():
        x, y = cam.geometry.x, cam.geometry.y
        view = sector(x, y, cam.heading if cam.fov < 360 else 0.0, cam.fov, cam.range_m)
        shadows = []
        for i in tree.query(cam.geometry.buffer(cam.range_m), predicate="intersects"):
            b = buildings.geometry.values[i]
            pts = np.asarray(b.exterior.coords)
            d = pts - [x, y]
            far = [x, y] + d * (4 * cam.range_m / np.maximum(np.hypot(d[:, 0], d[:, 1]), 1e-9))[:, None]
            shadows.append(shapely.MultiPoint(np.r_[pts, far]).convex_hull)
        if shadows:
            view = view.difference(shapely.union_all(shadows))
        out.append(view)
    covered = roads.geometry.intersection(shapely.union_all(out)).length.sum()
    return out, float(covered)


def reach_bench(roads: gpd.GeoDataFrame, side: float, n_grid_sub: int) -> dict:
    """10-minute reachability of 100 m grids from 20 bases: gridlib vs networkx per grid."""
    import networkx as nx

    from gridlib import network

    t = time.perf_counter()
    g = network.build_graph(roads)
    t_build = time.perf_counter() - t
    xs = np.arange(0, side, 100.0) + X0
    gx, gy = np.meshgrid(xs, xs - X0 + Y0)
    grids = gpd.GeoDataFrame(geometry=shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + 100, gy.ravel() + 100), crs=CRS)
    rng = np.random.default_rng(2)
    bases = gpd.GeoDataFrame({"base_id": np.arange(20)}, crs=CRS,
                             geometry=shapely.points(g.xy[rng.choice(np.unique(g.seg_u[g.snap_segments]), 20)]))
    t = time.perf_counter()
    reach = network.reachability(g, bases, grids, minutes=10)
    t_g = time.perf_counter() - t
    G = g.to_networkx()
    from scipy.spatial import cKDTree

    # the fair anchor, the whole workflow done the usual way at its best: snap bases and grid
    # centres to the nearest graph node (KD-tree), one networkx multi-source Dijkstra from the
    # bases (node → time), then each grid takes its node's time
    t = time.perf_counter()
    kd = cKDTree(g.xy)
    base_nodes = kd.query(shapely.get_coordinates(bases.geometry.values))[1]
    times = nx.multi_source_dijkstra_path_length(G, set(base_nodes.tolist()), weight="time_s")
    grid_nodes = kd.query(shapely.get_coordinates(shapely.centroid(grids.geometry.values)))[1]
    node_time = np.full(g.n_nodes, np.inf)
    node_time[list(times)] = list(times.values())
    reachable_nx = node_time[grid_nodes] <= 600.0
    t_m = time.perf_counter() - t
    # the naive way, for reference only: one Dijkstra per grid on the reversed graph
    centres = shapely.get_coordinates(shapely.centroid(grids.geometry.values[:n_grid_sub]))
    t = time.perf_counter()
    for c in centres:
        per = nx.single_source_dijkstra_path_length(G.reverse(copy=False), int(kd.query(c)[1]), weight="time_s")
        min((per.get(int(b), np.inf) for b in base_nodes), default=np.inf)
    t_n = (time.perf_counter() - t) / n_grid_sub * len(grids)
    agree = float((reachable_nx == reach.reachable.to_numpy()).mean())
    print(f"reachability: {len(grids):,} grids, 20 bases, graph {g.n_nodes:,} nodes built in {t_build:.2f} s; "
          f"gridlib {t_g:.2f} s vs networkx multi-source Dijkstra + KD-tree snapping {t_m:.2f} s -> "
          f"{t_m / t_g:.1f}x (grids agreeing on 10-min reach: {agree:.1%}; gridlib snaps to road segments, "
          f"the anchor to nodes); naive networkx per grid {t_n:.0f} s (extrapolated from {n_grid_sub}); "
          f"{int((~reach.reachable).sum()):,} grids beyond 10 min")
    return {"reach_grids": len(grids), "reach_gridlib_s": round(t_g, 3), "reach_nx_multisource_s": round(t_m, 3),
            "reach_ratio": round(t_m / t_g, 2), "reach_agreement": round(agree, 4),
            "reach_networkx_per_grid_s": round(t_n, 1),
            "graph_build_s": round(t_build, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n_cam, n_bld, side, subset = (300, 15_000, 2000.0, 60) if args.quick else (2000, 100_000, 5000.0, 150)
    t0 = time.perf_counter()
    roads, buildings = district(side, n_bld)
    cams = cameras(n_cam, side)
    print(f"district {side / 1000:.0f} km square: {len(buildings):,} buildings, "
          f"{roads.length.sum() / 1000:,.0f} km of roads, {len(cams):,} cameras (built in {time.perf_counter() - t0:.1f} s)")

    t, c = time.perf_counter(), time.process_time()
    vs = viewsheds(cams, buildings)
    t_vs = time.perf_counter() - t
    t = time.perf_counter()
    pieces = road_coverage(vs, roads)
    t_rc = time.perf_counter() - t
    cpu_all = time.process_time() - c
    share = pieces.length_m[pieces.covered].sum() / pieces.length_m.sum()
    k2 = pieces.length_m[pieces.k >= 2].sum() / pieces.length_m.sum()
    print(f"gridlib all {n_cam:,} cameras: viewsheds {t_vs:.2f} s + road coverage {t_rc:.2f} s = {t_vs + t_rc:.2f} s "
          f"(target < 30 s); road seen {share:.1%}, by >= 2 cameras {k2:.1%}, {len(pieces):,} pieces")

    xs = np.arange(0, side, 100.0)
    gx, gy = np.meshgrid(xs + X0, xs + Y0)
    grids = gpd.GeoDataFrame(geometry=shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + 100, gy.ravel() + 100), crs=CRS)
    t = time.perf_counter()
    gcov = grid_coverage(vs, roads, grids, buildings, pieces=pieces)
    t_gc = time.perf_counter() - t
    print(f"grid coverage of {len(grids):,} 100 m grids (road and open-area shares): {t_gc:.1f} s; "
          f"{int(gcov.blind.sum()):,} blind")

    sub = cams.iloc[:subset]
    t, c = time.perf_counter(), time.process_time()
    vs_sub = viewsheds(sub, buildings)
    road_coverage(vs_sub, roads)
    t_g, cpu_g = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    naive, _ = straightforward(sub, buildings, roads)
    t_n, cpu_n = time.perf_counter() - t, time.process_time() - c
    # cameras standing inside a footprint are wall-mounted for gridlib (moved out) but blind for
    # the shadow method, so compare the viewsheds of the others
    ok = (vs_sub.status == "ok").to_numpy()
    a, b = np.asarray(vs_sub.geometry.values)[ok], np.asarray(naive, dtype=object)[ok]
    iou = shapely.area(shapely.intersection(a, b)).sum() / shapely.area(shapely.union(a, b)).sum()
    p_ok = road_coverage(vs_sub[ok], roads)
    g_cov = p_ok.length_m[p_ok.covered].sum()
    naive_cov = float(roads.geometry.intersection(shapely.union_all(b)).length.sum())
    ratio = t_n / t_g
    est_naive_all = t_n / subset * n_cam
    ratio_all = est_naive_all / (t_vs + t_rc)
    ratio_cpu = (cpu_n / subset * n_cam) / cpu_all
    print(f"subset of {subset} cameras: gridlib {t_g:.2f} s, shapely per camera {t_n:.2f} s -> {ratio:.1f}x "
          f"(gridlib's fixed cost of indexing all {len(buildings):,} footprints dominates a small subset)")
    print(f"all {n_cam:,} cameras: shapely per camera {est_naive_all:.0f} s (extrapolated from the subset) vs gridlib "
          f"{t_vs + t_rc:.1f} s -> {ratio_all:.1f}x wall, {ratio_cpu:.1f}x CPU time (cpu {cpu_g:.2f} vs {cpu_n:.2f} s "
          f"on the subset)")
    print(f"agreement on the {ok.sum()} cameras not standing in a footprint: viewshed IoU {iou:.4f}; covered road "
          f"{g_cov:,.0f} m vs {naive_cov:,.0f} m ({(g_cov - naive_cov) / naive_cov:+.2%}); "
          f"{(~ok).sum()} cameras inside footprints are wall-mounted for gridlib, blind for the shadow method")
    net = reach_bench(roads, side, n_grid_sub=40 if args.quick else 100)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:,.0f} MB")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    with open(out / "bench_coverage.jsonl", "a") as f:
        f.write(json.dumps({
            "bench": "coverage", "quick": args.quick, "cameras": n_cam, "buildings": len(buildings),
            "road_km": round(roads.length.sum() / 1000, 1), "viewsheds_s": round(t_vs, 3),
            "road_coverage_s": round(t_rc, 3), "grid_coverage_s": round(t_gc, 2), "subset": subset, "gridlib_subset_s": round(t_g, 3),
            "shapely_subset_s": round(t_n, 3), "ratio_subset": round(ratio, 2), "ratio_all": round(ratio_all, 1),
            "ratio_all_cpu": round(ratio_cpu, 1),
            "iou": round(float(iou), 5), **net,
            "peak_rss_mb": round(peak), "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }) + "\n")


if __name__ == "__main__":
    main()
