"""Foundation benchmark: GCJ-02 conversion and point reading, gridlib vs the usual way, in one run.

    python benchmarks/bench_foundation.py [--quick]

- GCJ-02 → WGS84 for N points: gridlib's vectorised iterative inverse vs the per-point Python
  function most projects copy (the same formula with ``math``, iterated the same way).
- Reading N case points from a CSV table: ``gl.io.read_points`` (coordinates, ids, timestamps,
  study area, rejects with reasons) vs plain pandas + geopandas (to_numeric, points_from_xy,
  ``within`` the study area) that silently drops what it cannot parse.
Prints times, ratios and peak memory; appends a JSON line to benchmarks/results/bench_foundation.jsonl.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

import gridlib as gl

A, EE = 6378245.0, 0.00669342162296594323


def _delta_one(lon: float, lat: float) -> tuple[float, float]:
    x, y = lon - 105.0, lat - 35.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    dlat += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlat += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    dlat += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    dlon += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlon += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    dlon += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * math.pi
    magic = 1 - EE * math.sin(rad) ** 2
    dlat = (dlat * 180.0) / ((A * (1 - EE)) / (magic * math.sqrt(magic)) * math.pi)
    dlon = (dlon * 180.0) / (A / math.sqrt(magic) * math.cos(rad) * math.pi)
    return dlon, dlat


def gcj_to_wgs_loop(lons, lats):
    out = []
    for glon, glat in zip(lons, lats, strict=True):
        dlon, dlat = _delta_one(glon, glat)
        wlon, wlat = glon - dlon, glat - dlat
        for _ in range(30):
            dlon, dlat = _delta_one(wlon, wlat)
            ex, ey = wlon + dlon - glon, wlat + dlat - glat
            wlon, wlat = wlon - ex, wlat - ey
            if abs(ex) < 1e-12 and abs(ey) < 1e-12:
                break
        out.append((wlon, wlat))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 100_000 if args.quick else 1_000_000
    loop_n = n // 10
    rng = np.random.default_rng(0)
    results: dict[str, float] = {"n": n}

    lon, lat = rng.uniform(73, 135, n), rng.uniform(18, 53, n)
    glon, glat = gl.crs.wgs84_to_gcj02(lon, lat)
    t = time.perf_counter()
    wlon, wlat = gl.crs.gcj02_to_wgs84(glon, glat)
    results["gcj_gridlib_s"] = time.perf_counter() - t
    t = time.perf_counter()
    loop = gcj_to_wgs_loop(glon[:loop_n].tolist(), glat[:loop_n].tolist())
    results["gcj_loop_s_scaled"] = (time.perf_counter() - t) * n / loop_n
    assert np.allclose(np.array(loop), np.column_stack([wlon[:loop_n], wlat[:loop_n]]), atol=1e-9)
    results["gcj_ratio"] = results["gcj_loop_s_scaled"] / results["gcj_gridlib_s"]

    districts = gl.datasets.demo_admin("district")
    frame = pd.DataFrame({
        "case_id": np.arange(n).astype(str),
        "lon": rng.uniform(121.48, 121.52, n).round(6).astype(str),
        "lat": rng.uniform(31.226, 31.25, n).round(6).astype(str),
        "reported_at": (pd.Timestamp("2026-11-01") + pd.to_timedelta(rng.integers(0, 86_400 * 20, n), unit="s")
                        ).astype(str),
    })
    frame.loc[::997, "lon"] = "n/a"
    t = time.perf_counter()
    ok, bad = gl.io.read_points(frame, id="case_id", time="reported_at", area=districts)
    results["read_gridlib_s"] = time.perf_counter() - t
    t = time.perf_counter()
    x, y = pd.to_numeric(frame["lon"], errors="coerce"), pd.to_numeric(frame["lat"], errors="coerce")
    plain = gpd.GeoDataFrame(frame.assign(reported_at=pd.to_datetime(frame["reported_at"], errors="coerce")),
                             geometry=gpd.points_from_xy(x, y), crs=4326).dropna(subset=["reported_at"])
    plain = plain[plain.within(districts.union_all())]
    results["read_plain_s"] = time.perf_counter() - t
    results["read_ratio"] = results["read_plain_s"] / results["read_gridlib_s"]
    results["read_accepted"], results["read_rejected"] = len(ok), len(bad)
    results["plain_kept"] = len(plain)
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"GCJ-02 -> WGS84, {n:,} points: gridlib {results['gcj_gridlib_s']:.3f} s, per-point loop "
          f"{results['gcj_loop_s_scaled']:.1f} s (scaled from {loop_n:,}) -> {results['gcj_ratio']:.0f}x")
    print(f"read_points, {n:,} rows: gridlib {results['read_gridlib_s']:.2f} s ({len(ok):,} accepted, "
          f"{len(bad):,} rejected with reasons) vs plain geopandas {results['read_plain_s']:.2f} s "
          f"({len(plain):,} kept, the rest dropped silently) -> ratio {results['read_ratio']:.2f}")
    print(f"peak RSS {results['peak_rss_mb']:.0f} MB")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    with open(out / "bench_foundation.jsonl", "a") as f:
        f.write(json.dumps(results) + "\n")


if __name__ == "__main__":
    main()
