"""gl.trucks.check on a fleet-day vs the usual movingpandas workflow.

    python benchmarks/bench_trucks.py            # 2,000 trucks x one day (06:00-22:00) at 10 s
    python benchmarks/bench_trucks.py --quick    # 200 trucks

The fleet is simulated (seeded) on the bundled Lujiazui road network
(``gl.trucks.simulate.simulate_fleet``): 300 shortest-path routes, trucks shuttling between a
construction and a disposal site, σ = 10 m GPS noise, with planted deviations (20 % of trucks),
dumping stops (5 %), GPS silences (5 %), expired permits (2 %) and late shifts (10 %).
The fixes are written to Parquet first; the gridlib run happens in a fresh process that reads
the Parquet, permits and sites and does the whole check (read, clean, stops and trips,
permits, route distance, deviation episodes, all violations, credit), so its peak RSS is
the check's own.

The baseline is the same chain done the usual way (see :func:`movingpandas_workflow`):
movingpandas' ``OutlierCleaner`` (cleaning), ``ObservationGapSplitter`` (trips) and
``TrajectoryStopDetector`` (stops), then every point's distance to its permit's route and the
runs beyond the corridor — still less than gridlib does (no hysteresis, sites or other
violations). The minimal chain of earlier runs (collection + gap splitter + distance, no
cleaning and no stops) is timed too. The baseline runs on a subset of trucks in the same
process and is compared as throughput (fixes per second), in CPU seconds (conservative: gridlib
works in threads, movingpandas on one core) and in wall seconds. gridlib also runs on that
same subset.
Writes one JSON line to benchmarks/results/bench_trucks.jsonl.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing as mp
import queue as queue_mod
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gridlib as gl  # noqa: E402
from gridlib.trucks.simulate import simulate_fleet  # noqa: E402


def _gridlib_run(folder: str, queue: mp.Queue) -> None:
    import gridlib as gl

    t0, c0 = time.perf_counter(), time.process_time()
    r = gl.trucks.check(f"{folder}/fixes.parquet", f"{folder}/permits.geojson", f"{folder}/sites.geojson")
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put({"seconds": seconds, "cpu": cpu, "peak_mb": peak_mb, "fixes": len(r.fixes) + len(r.rejects),
               "counts": r.counts(), "trips": len(r.trips), "stops": len(r.stops)})


def gridlib_in_child(folder: Path) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_gridlib_run, args=(str(folder), q))
    p.start()
    while True:
        try:
            out = q.get(timeout=5)
            break
        except queue_mod.Empty:
            if not p.is_alive():
                raise SystemExit(f"the gridlib run died (exit code {p.exitcode}); out of memory?") from None
    p.join()
    return out


def movingpandas_workflow(fixes: pd.DataFrame, permits, corridor_m: float = 50.0) -> dict:
    """The same chain the usual way: movingpandas for cleaning, trips and stops, geopandas for the route.

    Stages (CPU seconds each): ``build`` (GeoDataFrame in the metric CRS and a
    ``TrajectoryCollection``), ``clean`` (``OutlierCleaner``, 150 km/h — gridlib's impossible
    jumps), ``trips`` (``ObservationGapSplitter``, 10-minute gaps), ``stops``
    (``TrajectoryStopDetector``, 100 m diameter for 5 minutes — gridlib's 50 m radius) and
    ``route`` (every point's distance to its permit's route, runs beyond the corridor). It has
    no hysteresis, no site matching and none of the other violations, so it does less than
    gridlib. ``minimal`` is build + trips + route only: the comparison without cleaning and stops.
    """
    import geopandas as gpd
    import movingpandas as mpd

    cpu: dict[str, float] = {}
    wall0 = time.perf_counter()

    def stage(name: str, c0: float) -> float:
        now = time.process_time()
        cpu[name] = now - c0
        return now

    c = time.process_time()
    metric = gl.crs.metric_crs(121.5, 31.24)
    frame = fixes[["vehicle_id", "time"]].astype({"vehicle_id": str})
    frame["vid"] = frame["vehicle_id"]  # the splitter rewrites the trajectory id column
    gdf = gpd.GeoDataFrame(frame,
                           geometry=gpd.points_from_xy(fixes["lon"], fixes["lat"]), crs=4326).to_crs(metric)
    routes = permits.to_crs(metric).set_index("vehicle_id").geometry
    tc = mpd.TrajectoryCollection(gdf, "vehicle_id", t="time")
    c = stage("build", c)
    cleaned = mpd.OutlierCleaner(tc).clean(v_max=150, units=("km", "h"))
    c = stage("clean", c)
    trips = mpd.ObservationGapSplitter(cleaned).split(gap=pd.Timedelta(minutes=10))
    c = stage("trips", c)
    stops = mpd.TrajectoryStopDetector(trips).get_stop_segments(min_duration=pd.Timedelta(minutes=5),
                                                                max_diameter=100)
    c = stage("stops", c)

    def off_route_runs(collection) -> int:
        runs = 0
        for traj in collection.trajectories:
            vid = traj.df["vid"].iloc[0]
            d = traj.df.geometry.distance(routes[vid])
            off = (d > corridor_m).to_numpy()
            runs += int(np.count_nonzero(np.diff(np.r_[0, off.astype(int)]) == 1))
        return runs

    episodes = off_route_runs(trips)
    c = stage("route", c)
    wall = time.perf_counter() - wall0
    # the minimal comparison of earlier runs: no cleaning and no stops
    raw_trips = mpd.ObservationGapSplitter(tc).split(gap=pd.Timedelta(minutes=10))
    c = stage("trips_raw", c)
    off_route_runs(raw_trips)
    stage("route_raw", c)
    total = sum(cpu[k] for k in ("build", "clean", "trips", "stops", "route"))
    minimal = cpu["build"] + cpu["trips_raw"] + cpu["route_raw"]
    return {"wall": wall, "cpu": total, "cpu_minimal": minimal, "stages": cpu,
            "episodes": episodes, "stops": len(stops)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--vehicles", type=int, default=None)
    ap.add_argument("--subset", type=int, default=None, help="trucks in the movingpandas comparison")
    args = ap.parse_args()
    n = args.vehicles or (200 if args.quick else 2000)
    subset = args.subset or (10 if args.quick else 20)
    roads = gl.datasets.demo_roads()
    t0 = time.perf_counter()
    fleet = simulate_fleet(roads, n, seed=2026, deviation_share=0.2, dumping_share=0.05, silence_share=0.05,
                           no_permit_share=0.02, late_share=0.1)
    sim_s = time.perf_counter() - t0
    print(f"simulated {n:,} trucks, {len(fleet.fixes):,} fixes in {sim_s:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        fleet.fixes.to_parquet(folder / "fixes.parquet")
        fleet.permits.to_file(folder / "permits.geojson")
        fleet.sites.to_file(folder / "sites.geojson")
        vids = fleet.permits["vehicle_id"].iloc[:subset]
        sub = fleet.fixes[fleet.fixes["vehicle_id"].isin(vids)].reset_index(drop=True)
        sub["vehicle_id"] = sub["vehicle_id"].astype(str)
        sub_permits = fleet.permits[fleet.permits["vehicle_id"].isin(vids)]
        sites = fleet.sites
        del fleet  # keep the parent small while the child runs the full day
        gc.collect()
        full = gridlib_in_child(folder)

        t1, c1 = time.perf_counter(), time.process_time()
        gl.trucks.check(sub, sub_permits, sites)
        gl_sub_s, gl_sub_cpu = time.perf_counter() - t1, time.process_time() - c1
        mpd = movingpandas_workflow(sub, sub_permits)
    # the machine may be shared: CPU time is the conservative measure (gridlib's threads add CPU,
    # movingpandas uses one core); wall time is what a user waits, printed and recorded too
    full_rate = full["fixes"] / full["cpu"]
    full_wall_rate = full["fixes"] / full["seconds"]
    mpd_rate = len(sub) / mpd["cpu"]
    mpd_min_rate = len(sub) / mpd["cpu_minimal"]
    mpd_wall_rate = len(sub) / mpd["wall"]
    stages = ", ".join(f"{k} {v:.2f}" for k, v in mpd["stages"].items())
    print(f"gridlib full check: {full['fixes']:,} fixes in {full['seconds']:.1f} s wall ({full['cpu']:.1f} s CPU), "
          f"{full_wall_rate / 1e6:.2f} M fixes/s wall, {full_rate / 1e6:.2f} M per CPU-second, "
          f"peak RSS {full['peak_mb']:,.0f} MB")
    print(f"  violations: {full['counts']}, {full['trips']:,} trips, {full['stops']:,} stops")
    print(f"subset of {subset} trucks ({len(sub):,} fixes): gridlib {gl_sub_cpu:.2f} s CPU ({gl_sub_s:.2f} s wall); "
          f"movingpandas chain {mpd['cpu']:.2f} s CPU ({mpd['wall']:.2f} s wall) "
          f"[{mpd['episodes']} raw off-route runs, {mpd['stops']} stops; CPU s by stage: {stages}]")
    print(f"throughput ratio, gridlib full day / movingpandas chain (clean, trips, stops, route): "
          f"{full_rate / mpd_rate:.1f}x CPU, {full_wall_rate / mpd_wall_rate:.1f}x wall")
    print(f"  against the minimal chain (TrajectoryCollection + gap splitter + distance only; no cleaning, "
          f"no stops): {full_rate / mpd_min_rate:.1f}x CPU")
    print(f"  same subset, CPU: {mpd['cpu'] / gl_sub_cpu:.1f}x (minimal chain {mpd['cpu_minimal'] / gl_sub_cpu:.1f}x)")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    with open(out / "bench_trucks.jsonl", "a") as fh:
        fh.write(json.dumps({
            "when": time.strftime("%Y-%m-%dT%H:%M:%S"), "vehicles": n, "fixes": full["fixes"],
            "gridlib_s": round(full["seconds"], 2), "gridlib_cpu_s": round(full["cpu"], 2),
            "gridlib_fixes_per_cpu_s": round(full_rate), "gridlib_fixes_per_s": round(full_wall_rate),
            "peak_rss_mb": round(full["peak_mb"]), "subset_vehicles": subset, "subset_fixes": len(sub),
            "gridlib_subset_cpu_s": round(gl_sub_cpu, 3), "movingpandas_subset_cpu_s": round(mpd["cpu"], 3),
            "movingpandas_subset_wall_s": round(mpd["wall"], 3),
            "movingpandas_minimal_cpu_s": round(mpd["cpu_minimal"], 3),
            "movingpandas_stage_cpu_s": {k: round(v, 3) for k, v in mpd["stages"].items()},
            "ratio_throughput_cpu": round(full_rate / mpd_rate, 1),
            "ratio_throughput_wall": round(full_wall_rate / mpd_wall_rate, 1),
            "ratio_throughput_cpu_minimal": round(full_rate / mpd_min_rate, 1),
            "ratio_same_subset_cpu": round(mpd["cpu"] / gl_sub_cpu, 1),
            "counts": full["counts"],
        }, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
