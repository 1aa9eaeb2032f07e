"""Benchmark: unit-grid generation and coverage validation at city scale (Zhengzhou).

    python benchmarks/bench_grid.py [--quick] [--districts 410108,410102]

Builds ~10,000 m² grids over Zhengzhou's 12 district polygons (≈7,555 km², no
street or community polygons exist, so placeholder levels are made) with
``gl.grid.build`` and validates them with ``gl.grid.check_coverage``. The baseline is
what a user would otherwise write with geopandas: a 100 m fishnet overlaid on
the districts (``geopandas.overlay``; no roads, no merging of edge slivers, no
codes) and, for validation, ``is_valid`` plus an overlap self-join
(``geopandas.sjoin(predicate="overlaps")``). ``--quick`` runs one district.

Prints wall and CPU times, the gridlib/baseline ratios (of CPU time: the test
machine is shared, so wall time depends on the neighbours), peak memory (RSS) and the
grid quality figures, and appends a JSON line to ``benchmarks/results/grid.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

import gridlib as gl
from gridlib import datasets


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def fishnet_overlay(districts: gpd.GeoDataFrame, side: float) -> gpd.GeoDataFrame:
    x0, y0, x1, y1 = districts.total_bounds
    xs = np.arange(np.floor(x0 / side) * side, x1, side)
    ys = np.arange(np.floor(y0 / side) * side, y1, side)
    gx, gy = np.meshgrid(xs, ys)
    cells = gpd.GeoDataFrame(geometry=shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + side, gy.ravel() + side),
                             crs=districts.crs)
    return gpd.overlay(cells, districts[["code", "geometry"]], how="intersection", keep_geom_type=True)


def naive_validate(grids: gpd.GeoDataFrame) -> int:
    invalid = int((~grids.is_valid).sum())
    pairs = gpd.sjoin(grids[["geometry"]], grids[["geometry"]], predicate="overlaps")
    return invalid + len(pairs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one district (惠济区 410108) only")
    parser.add_argument("--districts", default=None, help="comma-separated district codes to run")
    parser.add_argument("--no-baseline", action="store_true", help="skip the geopandas baseline")
    args = parser.parse_args(argv)
    d = datasets.zhengzhou_districts().rename(columns={"adcode": "code"})[["code", "name", "geometry"]]
    if args.quick:
        d = d[d["code"] == "410108"]
    elif args.districts:
        d = d[d["code"].isin(args.districts.split(","))]
    metric = gl.crs.metric_crs_for(d)
    dm = d.to_crs(metric)
    area_km2 = float(dm.area.sum() / 1e6)

    t, c = time.perf_counter(), time.process_time()
    grids = gl.grid.build(d, target_area=10_000)
    t_build, c_build = time.perf_counter() - t, time.process_time() - c
    rss_build = peak_rss_gb()
    print(f"build: {len(grids):,} grids in {t_build:.1f} s wall, {c_build:.1f} s CPU, peak {rss_build:.2f} GB",
          flush=True)

    t, c = time.perf_counter(), time.process_time()
    report = gl.grid.check_coverage(grids, d, target_area=10_000)
    t_validate, c_validate = time.perf_counter() - t, time.process_time() - c
    rss_validate = peak_rss_gb()
    print(f"validate: {t_validate:.1f} s wall, {c_validate:.1f} s CPU", flush=True)

    area = grids["area_m2"].to_numpy()
    pp = gl.grid.polsby_popper(grids.geometry)
    result = {
        "bench": "grid", "quick": args.quick, "districts": sorted(d["code"]), "area_km2": round(area_km2, 1),
        "grids": len(grids), "build_s": round(t_build, 2), "validate_s": round(t_validate, 2),
        "build_cpu_s": round(c_build, 2), "validate_cpu_s": round(c_validate, 2),
        "peak_rss_gb_after_build": round(rss_build, 2), "peak_rss_gb_after_validate": round(rss_validate, 2),
        "median_area_m2": round(float(np.median(area)), 1),
        "share_in_band": round(float(np.mean((area >= 5_000) & (area <= 20_000))), 4),
        "share_pp_ge_0_3": round(float(np.mean(pp >= 0.3)), 4),
        "pp_quartiles": [round(float(q), 3) for q in np.percentile(pp, [25, 50, 75])],
        "report": report["rule"].value_counts().to_dict(),
        "errors": int((report["severity"] == "error").sum()),
        "coverage_valid": bool(shapely.coverage_is_valid(grids.geometry.values)),
    }
    if not args.no_baseline:
        t, c = time.perf_counter(), time.process_time()
        naive = fishnet_overlay(dm.assign(code=dm["code"]), 100.0)
        result["baseline_build_s"] = round(time.perf_counter() - t, 2)
        result["baseline_build_cpu_s"] = round(time.process_time() - c, 2)
        result["baseline_grids"] = len(naive)
        print(f"baseline build: {result['baseline_build_s']} s wall", flush=True)
        t, c = time.perf_counter(), time.process_time()
        naive_validate(grids)
        result["baseline_validate_s"] = round(time.perf_counter() - t, 2)
        result["baseline_validate_cpu_s"] = round(time.process_time() - c, 2)
        # CPU-time ratios: the machine is shared, so wall time depends on the neighbours' load
        result["build_ratio_gridlib_over_geopandas"] = round(c_build / result["baseline_build_cpu_s"], 2)
        result["validate_ratio_gridlib_over_geopandas"] = round(c_validate / result["baseline_validate_cpu_s"], 2)
    result["peak_rss_gb"] = round(peak_rss_gb(), 2)
    for k, v in result.items():
        print(f"{k:40s} {v}")
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    with open(out / "grid.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(result, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
