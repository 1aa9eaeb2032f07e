"""gridlib's map matching against Leuven.MapMatching on the same traces and the same graph.

    python benchmarks/compare_mapmatching.py            # 20 trucks, one hour each at 10 s
    python benchmarks/compare_mapmatching.py --quick    # 5 trucks

Simulated trucks (``gl.trucks.simulate.simulate_fleet``, σ = 10 m GPS noise, no planted
deviations) drive shortest road paths on the bundled Lujiazui network, so the truth is
known: a moving fix is matched correctly when its matched point lies on the truck's route
line (within 1 m). Both matchers get the same road graph (``gl.network.build_graph`` on the
drivable roads, one-ways ignored, as the simulator ignores them), the same fixes (moving
fixes of each truck's first trip) and comparable settings (50 m search radius, σ = 10 m,
5 candidates; Leuven with non-emitting states, without which it cannot cross the several short
segments a truck passes between two fixes). Reported per matcher: share of fixes matched,
share matched onto the true route (within 1 m: the route's own segment) and within 20 m (the
same road or its other carriageway: Lujiazui's avenues are dual carriageways 10–25 m apart and
the noise is 10 m), CPU time per fix; and how often the two pick the same segment.

Leuven.MapMatching (``pip install leuvenmapmatching``, Apache-2.0) is the comparison only;
gridlib does not depend on it. Writes one JSON line to benchmarks/results/compare_mapmatching.jsonl.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gridlib as gl  # noqa: E402
from gridlib.network import build_graph  # noqa: E402
from gridlib.trucks.matching import map_match  # noqa: E402
from gridlib.trucks.simulate import simulate_fleet  # noqa: E402

RADIUS_M, SIGMA_M, BETA_M, K = 50.0, 10.0, 30.0, 5


def traces(n_trucks: int) -> tuple[list[np.ndarray], list[shapely.LineString], object]:
    """Moving fixes of each truck's first trip (metric), its true route, and the road graph."""
    roads = gl.datasets.demo_roads()
    roads = roads[roads["kind"].isin(["major_road", "minor_road", "highway"])].reset_index(drop=True)
    graph = build_graph(roads, oneway_col=None)
    fleet = simulate_fleet(roads, n_trucks, seed=11, hours=("08:00", "09:00"))
    check = gl.trucks.check(fleet.fixes, fleet.permits, fleet.sites)
    fx, moving = check.fixes, ~check.per_fix["stationary"]
    routes = fleet.permits.set_index("vehicle_id").to_crs(graph.crs).geometry
    out, truth = [], []
    for v, vid in enumerate(fx.vehicle_ids):  # per truck, a handful
        trip = check.trips[check.trips["vehicle_id"] == vid].iloc[0]
        t0 = np.datetime64(trip["start"], "s").astype(np.int64)
        t1 = np.datetime64(trip["end"], "s").astype(np.int64)
        sel = (fx.vehicle == v) & moving & (fx.t >= t0) & (fx.t <= t1)
        out.append(np.column_stack(gl.crs.transform_xy(4326, graph.crs, fx.lon[sel], fx.lat[sel])))
        truth.append(routes[vid])
    return out, truth, graph


def gridlib_match(graph, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = map_match(graph, xy[:, 0], xy[:, 1], radius_m=RADIUS_M, sigma_m=SIGMA_M, beta_m=BETA_M,
                  max_candidates=K, directed=False)
    return m.segment, np.column_stack([m.x, m.y])


def leuven_map(graph):
    from leuvenmapmatching.map.inmem import InMemMap

    con = InMemMap("lujiazui", use_latlon=False, use_rtree=False, index_edges=True)
    for i, (x, y) in enumerate(graph.xy):
        con.add_node(int(i), (float(x), float(y)))
    for u, v in zip(graph.seg_u.tolist(), graph.seg_v.tolist(), strict=True):
        con.add_edge(u, v)
        con.add_edge(v, u)
    return con


def leuven_match(con, graph, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from leuvenmapmatching.matcher.distance import DistanceMatcher

    matcher = DistanceMatcher(con, max_dist=RADIUS_M, obs_noise=SIGMA_M, dist_noise=BETA_M,
                              non_emitting_states=True, max_lattice_width=K)
    matcher.match([tuple(p) for p in xy.tolist()])
    seg_of = {}
    for s, (u, v) in enumerate(zip(graph.seg_u.tolist(), graph.seg_v.tolist(), strict=True)):
        seg_of[(u, v)] = seg_of[(v, u)] = s
    seg = np.full(len(xy), -1, dtype=np.int64)
    pts = np.full((len(xy), 2), np.nan)
    for m in matcher.lattice_best:
        if m.obs_ne != 0:  # a non-emitting state: the path between two observations
            continue
        k = m.obs
        if m.edge_m.l2 is not None:
            seg[k] = seg_of.get((m.edge_m.l1, m.edge_m.l2), -1)
        pts[k] = m.edge_m.pi
    return seg, pts


def score(pts: np.ndarray, route: shapely.LineString) -> np.ndarray:
    """Distance of each matched point to the true route (inf where unmatched)."""
    ok = np.isfinite(pts[:, 0])
    d = np.full(len(pts), np.inf)
    d[ok] = shapely.distance(shapely.points(pts[ok]), route)
    return d


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n = 5 if args.quick else 20
    tr, truth, graph = traces(n)
    fixes = sum(len(t) for t in tr)
    print(f"{n} trucks, {fixes:,} moving fixes; graph {graph.n_nodes:,} nodes, {len(graph.seg_u):,} segments")

    c0 = time.process_time()
    ours = [gridlib_match(graph, xy) for xy in tr]
    g_cpu = time.process_time() - c0
    con = leuven_map(graph)
    c0 = time.process_time()
    theirs = [leuven_match(con, graph, xy) for xy in tr]
    l_cpu = time.process_time() - c0

    g_d = np.concatenate([score(p, r) for (_, p), r in zip(ours, truth, strict=True)])
    l_d = np.concatenate([score(p, r) for (_, p), r in zip(theirs, truth, strict=True)])
    # on the route's own segment; or within 20 m: its road or that road's other carriageway
    g_on, l_on = g_d <= 1.0, l_d <= 1.0
    g_near, l_near = g_d <= 20.0, l_d <= 20.0
    g_matched = np.concatenate([s >= 0 for s, _ in ours])
    l_matched = np.concatenate([np.isfinite(p[:, 0]) for _, p in theirs])
    same = np.concatenate([(a == b) & (a >= 0) for (a, _), (b, _) in zip(ours, theirs, strict=True)])
    both = g_matched & l_matched
    print(f"gridlib: {g_matched.mean():.1%} matched, {g_on.mean():.1%} on the true route (1 m), "
          f"{g_near.mean():.1%} within 20 m, "
          f"{g_cpu / fixes * 1e3:.2f} ms CPU per fix")
    print(f"Leuven.MapMatching: {l_matched.mean():.1%} matched, {l_on.mean():.1%} on the true route (1 m), "
          f"{l_near.mean():.1%} within 20 m, "
          f"{l_cpu / fixes * 1e3:.2f} ms CPU per fix")
    print(f"same segment where both matched: {same[both].mean():.1%}; CPU ratio {l_cpu / g_cpu:.1f}x")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    with open(out / "compare_mapmatching.jsonl", "a") as fh:
        fh.write(json.dumps({
            "when": time.strftime("%Y-%m-%dT%H:%M:%S"), "trucks": n, "fixes": fixes,
            "gridlib_matched": round(float(g_matched.mean()), 4), "gridlib_on_route": round(float(g_on.mean()), 4),
            "gridlib_within_20m": round(float(g_near.mean()), 4),
            "gridlib_cpu_s": round(g_cpu, 3), "leuven_matched": round(float(l_matched.mean()), 4),
            "leuven_on_route": round(float(l_on.mean()), 4),
            "leuven_within_20m": round(float(l_near.mean()), 4), "leuven_cpu_s": round(l_cpu, 3),
            "same_segment": round(float(same[both].mean()), 4), "ratio_cpu": round(l_cpu / g_cpu, 1),
        }) + "\n")


if __name__ == "__main__":
    main()
