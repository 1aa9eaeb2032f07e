"""The whole ``gl.assign`` call vs ``geopandas.sjoin(within)`` + an attribute merge, on the demo grids.

    python benchmarks/bench_assign.py            # 300,000 points over the demo grids
    python benchmarks/bench_assign.py --quick    # 50,000 points
    python benchmarks/bench_assign.py --grids city-quick --points 299000   # one Zhengzhou district (~23k grids)
    python benchmarks/bench_assign.py --grids city --points 299000         # the whole city (built once, cached)

The city grids are ``benchmarks/_city.py``'s (``gl.grid.build`` over the Zhengzhou districts at
10,000 m², cached under ``benchmarks/results/`` as ``bench_nightly.py`` caches them).

The anchor does the least a user would write to get the same levels: a spatial join of the
points on the grids (geopandas at its best: its STRtree, cached on the grid frame when warm) and
a merge of the grids' code and name columns. ``gl.assign`` does more (exact ``covers`` with
the smallest code on shared edges, distance to the boundary, near-boundary flags, class and kind
checks, the responsibility rule and unit, rejects), so the ratio is the price of that, or the
lack of one. Both are timed as the user calls them, warm (second call on the same grid frame)
and cold (a fresh copy of the grid frame: geopandas builds its STRtree, gridlib its GridIndex and
edge table). Each side runs ``--repeat`` times cold (a fresh copy each time) and warm, the two sides
alternated so that both meet the same load; the best wall and the best CPU time count. Ratios from one
run, wall and CPU (the machine is shared; CPU time of these single-threaded calls depends less on the
neighbours). One JSON line goes to
``benchmarks/results/bench_assign.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # _city

from bench_index import _git_rev  # noqa: E402

import gridlib as gl  # noqa: E402
from gridlib.datasets import demo_grids  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def timed(fn, repeat: int = 1) -> tuple[float, float, object]:
    """Best wall time and best CPU time of *repeat* runs (each the least disturbed by the machine's other
    load, which inflates CPU time too), and the result."""
    best, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        best, cpu = min(best, time.perf_counter() - t), min(cpu, time.process_time() - c)
    return best, cpu, out


def alternated(ours, theirs, repeat: int) -> tuple[tuple[float, float, object], tuple[float, float, object]]:
    """:func:`timed` of two calls, run alternately (ours, theirs, ours, ...) so that both meet the same load.
    *ours* and *theirs* take the repetition's number (a cold run makes its fresh grid frame from it)."""
    a = b = (float("inf"), float("inf"), None)
    for k in range(repeat):
        ra, rb = timed(lambda k=k: ours(k)), timed(lambda k=k: theirs(k))
        a = (min(a[0], ra[0]), min(a[1], ra[1]), ra[2])
        b = (min(b[0], rb[0]), min(b[1], rb[1]), rb[2])
    return a, b


def random_cases(grids: gpd.GeoDataFrame, n: int, seed: int = 1) -> gpd.GeoDataFrame:
    """*n* cases uniformly over the grids' bounds (some fall outside), real 2026 class codes."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = grids.total_bounds
    cat = gl.codes.catalogue("gbt47678-2026")
    pick = rng.integers(0, len(cat), n)
    return gpd.GeoDataFrame({
        "case_id": np.char.add("c", np.arange(n).astype(str)),
        "class_code": cat["class_code"].to_numpy()[pick],
        "kind": cat["kind"].to_numpy()[pick],
    }, geometry=shapely.points(rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)), crs=grids.crs)


def anchor(points: gpd.GeoDataFrame, grids: gpd.GeoDataFrame) -> pd.DataFrame:
    """geopandas: the grid of each point (sjoin within, its STRtree) and the grid's levels (a merge)."""
    joined = gpd.sjoin(points, grids[["grid_code", "geometry"]], predicate="within", how="left")
    levels = pd.DataFrame(grids.drop(columns=grids.geometry.name))
    return joined.drop(columns="index_right").merge(levels, on="grid_code", how="left")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="50,000 points instead of 300,000")
    ap.add_argument("--points", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3,
                    help="cold and warm runs of each side, alternated (the best wall and the best CPU time count)")
    ap.add_argument("--grids", choices=["demo", "city-quick", "city"], default="demo",
                    help="the demo grids, or benchmarks/_city.py's Zhengzhou grids (one district, or the city)")
    args = ap.parse_args()
    n = args.points or (50_000 if args.quick else 300_000)

    if args.grids == "demo":
        grids = demo_grids()
    else:
        import _city

        grids, build_s = _city.city_grids(quick=args.grids == "city-quick")
        if build_s:
            print(f"built the {args.grids} grids in {build_s:.0f} s (cached for the next run)")
    cases = random_cases(grids, n)
    print(f"{args.grids} grids: {len(grids):,} grids ({grids.crs.to_string()}), {n:,} random cases over their bounds")

    # cold: a fresh copy of the grid frame, so neither side has its index yet. Cold means a new grid
    # frame, not a new interpreter: gridlib.assignment is imported (lazily, by gl.assign) before the
    # clock starts, as geopandas' sjoin is by `import geopandas`. Copies made before the clock starts.
    assign = gl.assign
    ours_cold = [grids.copy() for _ in range(args.repeat)]
    theirs_cold = [grids.copy() for _ in range(args.repeat)]
    (t_cold, c_cold, (done, rejects)), (t_acold, c_acold, _) = alternated(
        lambda k: assign(cases, ours_cold[k]), lambda k: anchor(cases, theirs_cold[k]), args.repeat)
    # warm: the same grid frame again (gridlib's index cache, geopandas' cached sindex)
    warm_ours, warm_theirs = ours_cold[-1], theirs_cold[-1]
    del ours_cold[:-1], theirs_cold[:-1]
    (t_warm, c_warm, (done, rejects)), (t_awarm, c_awarm, joined) = alternated(
        lambda k: assign(cases, warm_ours), lambda k: anchor(cases, warm_theirs), args.repeat)

    # the same answer where sjoin(within) has exactly one (points on shared edges: within finds none)
    theirs = pd.Series(joined["grid_code"].to_numpy(), index=joined["case_id"].to_numpy())
    theirs = theirs[~theirs.index.duplicated(keep=False)].dropna()
    ours = pd.Series(done["grid_code"].to_numpy(), index=done["case_id"].to_numpy())
    both = theirs.index.intersection(ours.index)
    agree = bool((theirs[both] == ours[both]).all())

    res = {
        "bench": "assign", "grid_set": args.grids, "grids": len(grids), "points": n, "assigned": len(done), "rejected": len(rejects),
        "assign_cold_s": t_cold, "assign_cold_cpu_s": c_cold, "anchor_cold_s": t_acold, "anchor_cold_cpu_s": c_acold,
        "assign_warm_s": t_warm, "assign_warm_cpu_s": c_warm, "anchor_warm_s": t_awarm,
        "anchor_warm_cpu_s": c_awarm,
        "ratio_warm": t_awarm / t_warm, "cpu_ratio_warm": c_awarm / c_warm,
        "ratio_cold": t_acold / t_cold, "cpu_ratio_cold": c_acold / c_cold,
        "agree_with_sjoin": agree, "compared": len(both),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_avg_1min": os.getloadavg()[0], "git": _git_rev(),
    }
    print(f"warm: gl.assign {t_warm:.2f} s wall / {c_warm:.2f} s CPU vs sjoin(within) + merge {t_awarm:.2f} s / "
          f"{c_awarm:.2f} s -> gl.assign is {res['ratio_warm']:.2f}x the anchor's speed wall, "
          f"{res['cpu_ratio_warm']:.2f}x CPU")
    print(f"cold: gl.assign {t_cold:.2f} s wall / {c_cold:.2f} s CPU (GridIndex + edges built) vs "
          f"{t_acold:.2f} s / {c_acold:.2f} s (STRtree built) -> {res['ratio_cold']:.2f}x wall, "
          f"{res['cpu_ratio_cold']:.2f}x CPU")
    print(f"{len(done):,} assigned, {len(rejects):,} rejected; same grid as sjoin on all {len(both):,} points "
          f"it places once: {agree}; peak RSS {res['peak_rss_mb']:,.0f} MB; load average {res['load_avg_1min']:.1f}")
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "bench_assign.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(res) + "\n")
    if not agree:
        raise SystemExit("gl.assign and sjoin disagree on a point that sjoin places in exactly one grid")


if __name__ == "__main__":
    main()
