"""The nightly responsibility-map run at city scale (issue 10, item 7).

    python benchmarks/bench_nightly.py            # Zhengzhou: ~756k grids, 50k new cases, 10M truck fixes, 5k cameras
    python benchmarks/bench_nightly.py --quick    # one district (惠济区, ~23k grids), a couple of minutes

Three phases, timed apart (wall and CPU seconds; the machine is shared, the load average is recorded):

1. **inputs** — the synthetic city (``benchmarks/_city.py``: grids built once and cached under
   ``benchmarks/results/``, lattice roads, cameras, buildings, cases copied from the demo log's
   templates, a simulated muck-truck fleet, responsibility, team bases);
2. **setup: load the store** — a fresh GeoPackage store (``gl.store.open``): the grid edition imported
   with ``gl.grid.import_edition`` (validated) and every input layer written;
3. **the run** — ``gl.nightly.run_nightly`` in a fresh process reading that store, so the peak RSS
   (``resource.getrusage``) is the run's own. Per-step wall seconds come from ``manifest["steps"]``;
   per-step CPU seconds are taken by wrapping ``RunRecord.step`` in the child, and include the processes
   the run forks (the PNG maps). Memory: the peak RSS of the run's process, of its largest forked process,
   and the summed PSS and RSS of the whole process tree sampled about once a second by this process.
   Targets (issue 19, item 4): under 90 s wall on 2 cores and under 3 GB.

The grid edition's web-map tiles (``OUT/.runs/tiles``) are kept between runs of this script, as between
nights, unless ``--rebuild-tiles``; a run that builds them shows the part "edition tiles".

Baseline ("what a user would otherwise do") for the case-assignment step, in the same child after the
run, on the same case log: ``geopandas.sjoin(points, grids, predicate="within")`` plus a merge of the
responsibility table by community and street, against ``gl.assign`` (which also measures distance to the
boundary, flags near-boundary cases and applies the responsibility rules). Ratio of CPU seconds.

Prints a summary table and appends one JSON line to ``benchmarks/results/bench_nightly.jsonl``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _city  # noqa: E402

import gridlib as gl  # noqa: E402

DATE = "2026-11-21"


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    """CPU seconds of this process and of its ended children (the run's forked map processes)."""
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + c.ru_utime + c.ru_stime


class Timer:
    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def __enter__(self) -> Timer:
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self._w, time.process_time() - self._c


def make_inputs(scale: _city.Scale, folder: Path) -> dict:
    """Write every synthetic layer to *folder* (Parquet); the truck fleet is reused when present."""
    rng = np.random.default_rng(2026)
    grids, build_s = _city.city_grids(scale.quick)
    metric = grids.crs
    outline = _city.districts(scale.quick).to_crs(metric).union_all()
    sigma = 3_000.0 if scale.quick else 8_000.0
    centre = _city.centre_xy(outline, metric, scale.quick)
    roads = _city.roads(outline, metric, scale.quick, centre)
    cams, buildings = _city.cameras_and_buildings(roads, scale.cameras, rng, centre, sigma)
    templates = _city.case_templates(DATE, _city.RESULTS / "nightly_demo_templates")
    cases = _city.cases(grids, templates, scale, DATE, rng, centre, sigma)
    folder.mkdir(parents=True, exist_ok=True)
    roads.to_crs(4326).to_parquet(folder / "roads.parquet")
    cams.to_crs(4326).to_parquet(folder / "cameras.parquet")
    buildings.to_crs(4326).to_parquet(folder / "buildings.parquet")
    cases.to_parquet(folder / "cases.parquet")
    _city.responsibility(grids).to_parquet(folder / "responsibility.parquet")
    _city.team_bases(grids).to_crs(4326).to_parquet(folder / "team_bases.parquet")
    fleet_path = folder / f"truck_fixes_{scale.trucks}.parquet"
    if not fleet_path.exists():
        from gridlib.trucks.simulate import simulate_fleet

        prev = (np.datetime64(DATE) - np.timedelta64(1, "D")).astype(str)
        fleet = simulate_fleet(roads.to_crs(4326), scale.trucks, date=prev, hours=("22:00", "06:00"), seed=2026,
                               interval_s=scale.trucks_interval_s, deviation_share=0.2, dumping_share=0.05,
                               silence_share=0.05, no_permit_share=0.02, late_share=0.1)
        fleet.permits.to_parquet(folder / "truck_permits.parquet")
        fleet.sites.to_parquet(folder / "truck_sites.parquet")
        fleet.fixes.to_parquet(fleet_path)
    return {"grids": len(grids), "grid_build_s": round(build_s, 1), "roads": len(roads),
            "road_km": round(float(roads.length.sum()) / 1000), "cameras": len(cams), "buildings": len(buildings),
            "cases": len(cases), "new_cases": scale.new_cases, "trucks": scale.trucks}


def load_store(scale: _city.Scale, folder: Path, store_path: Path) -> dict:
    import geopandas as gpd
    import pandas as pd

    for p in (store_path, store_path.with_suffix(".gpkg-journal")):
        p.unlink(missing_ok=True)
    grids, _ = _city.city_grids(scale.quick)
    store = gl.store.open(str(store_path))
    rows = {}
    with store.transaction():
        gl.grid.import_edition(grids, store, effective_date="2026-01-01",
                               source_name="synthetic Zhengzhou grids (benchmarks/_city.py)")
        del grids
        for name in ("cases", "responsibility"):
            frame = pd.read_parquet(folder / f"{name}.parquet")
            store.write_layer(name, frame)
            rows[name] = len(frame)
        for name in ("roads", "buildings", "cameras", "team_bases", "truck_permits", "truck_sites"):
            frame = gpd.read_parquet(folder / f"{name}.parquet")
            store.write_layer(name, frame)
            rows[name] = len(frame)
        fixes = pd.read_parquet(folder / f"truck_fixes_{scale.trucks}.parquet")
        store.write_layer("truck_fixes", fixes)
        rows["truck_fixes"] = len(fixes)
    return rows


def _setup(quick: bool, folder: str, store_path: str) -> dict:
    scale = _city.QUICK if quick else _city.FULL
    out: dict = {}
    with Timer() as t:
        out["inputs"] = make_inputs(scale, Path(folder))
    out["inputs_s"], out["inputs_cpu_s"] = round(t.wall, 1), round(t.cpu, 1)
    with Timer() as t:
        out["store_rows"] = load_store(scale, Path(folder), Path(store_path))
    out["store_load_s"], out["store_load_cpu_s"] = round(t.wall, 1), round(t.cpu, 1)
    out["store_mb"] = round(Path(store_path).stat().st_size / 2**20)
    out["setup_peak_mb"] = round(peak_mb())
    return out


def _child(store_path: str, out_dir: str, q: mp.SimpleQueue) -> None:

    import gridlib as gl
    from gridlib.nightly import record as record_mod

    cpu: dict[str, float] = {}
    original = record_mod.RunRecord.step

    @contextlib.contextmanager
    def timed_step(self, name):
        w0, c0 = time.perf_counter(), cpu_s()
        with original(self, name) as st:
            yield st
        cpu[name] = cpu.get(name, 0.0) + cpu_s() - c0
        # sent as each step ends, so the figures survive a run stopped by the RSS guard or --max-seconds
        q.put(("step", {"name": name, "seconds": time.perf_counter() - w0, "cpu_s": cpu_s() - c0,
                        "rows_in": st.rows_in, "rows_out": st.rows_out, "rejected": st.rejected,
                        "peak_mb": peak_mb()}))

    record_mod.RunRecord.step = timed_step
    # parts of the products step, timed apart (module globals, so the pipeline calls these wrappers)
    from gridlib.nightly import maps as maps_mod
    from gridlib.nightly import products as products_mod

    def sub_timed(module, attr: str, label: str) -> None:
        fn = getattr(module, attr)

        def wrapper(*args, **kwargs):
            w0, c0 = time.perf_counter(), time.process_time()
            out = fn(*args, **kwargs)
            q.put(("sub", {"name": label, "seconds": time.perf_counter() - w0, "cpu_s": time.process_time() - c0,
                           "peak_mb": peak_mb()}))
            return out

        setattr(module, attr, wrapper)

    for module, attr, label in ((products_mod, "grid_responsibility", "products: grid_responsibility table"),
                                (products_mod, "write_gpkg_layers", "products: responsibility_map.gpkg"),
                                (products_mod, "style_gpkg", "products: gpkg styles"),
                                (products_mod, "relate_gpkg", "products: gpkg relations"),
                                (maps_mod, "_overview", "products: overview.png"),
                                (maps_mod, "_street_map", "products: street PNG"),
                                (maps_mod, "street_outlines", "products: dissolve grids to streets"),
                                (maps_mod, "_web_map", "products: webmap.html"),
                                (maps_mod, "_tiled_web_map", "products: webmap/ (tiled; includes the edition tiles when built)"),
                                (maps_mod, "_edition_tiles", "products: edition tiles (built once per edition)"),
                                (maps_mod, "write_grid_attributes", "products: webmap/grid_attributes.json")):
        sub_timed(module, attr, label)
    load0 = os.getloadavg()
    store = gl.store.open(store_path)
    c0 = cpu_s()
    with Timer() as t:
        manifest = gl.nightly.run_nightly(store, DATE, out_dir)
    run_peak = peak_mb()
    # CPU of the run's process and of the processes it forked (PNG maps), which ended inside the run
    out = {"run_s": t.wall, "run_cpu_s": cpu_s() - c0, "run_main_cpu_s": t.cpu, "run_peak_mb": run_peak,
           "forked_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, "load_before": load0,
           "load_after": os.getloadavg(), "steps": manifest["steps"], "step_cpu_s": cpu}
    q.put(("run", out))

    _baseline(store_path, q)


def _baseline(store_path: str, q: mp.SimpleQueue) -> None:
    """The case-assignment step as a user would write it, against ``gl.assign``, on the store's case log."""
    import geopandas as gpd
    import pandas as pd

    import gridlib as gl

    store = gl.store.open(store_path)
    raw = store.read_layer("cases")
    gridset = gl.grid.GridSet.from_store(store, at=pd.Timestamp(DATE))
    resp = store.read_layer("responsibility")
    log_frame, _ = gl.cases.read_log(raw)
    with Timer() as tg:  # cold: builds the grid index, as the run's first assignment does
        assigned, rejects = gl.assign(log_frame, gridset, responsibility=resp)
    with Timer() as tw:  # warm: the index is cached on the GridSet
        gl.assign(log_frame, gridset, responsibility=resp)
    grids = gridset.grids[["grid_code", "community_code", "street_code", "geometry"]]
    with Timer() as tb:
        pts = gpd.GeoDataFrame(raw, geometry=gpd.points_from_xy(pd.to_numeric(raw["lon"], errors="coerce"),
                                                               pd.to_numeric(raw["lat"], errors="coerce")),
                               crs=4326).to_crs(grids.crs)
        joined = gpd.sjoin(pts, grids, how="left", predicate="within")
        joined = joined[~joined.index.duplicated()]
        comm = resp[resp["level"] == "community"][["code", "unit"]].rename(columns={"code": "community_code"})
        joined = joined.merge(comm, on="community_code", how="left")
    q.put(("baseline", {"cases": len(raw), "gridlib_assign_s": tg.wall, "gridlib_assign_cpu_s": tg.cpu,
                        "gridlib_warm_assign_s": tw.wall, "gridlib_warm_assign_cpu_s": tw.cpu,
                        "gridlib_assigned": len(assigned), "gridlib_rejected": len(rejects),
                        "sjoin_s": tb.wall, "sjoin_cpu_s": tb.cpu, "sjoin_matched": int(joined["grid_code"].notna().sum()),
                        "child_peak_mb": peak_mb()}))


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024
    except (OSError, StopIteration):
        return 0.0


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children", encoding="ascii") as fh:
                todo += [int(c) for c in fh.read().split()]
        except OSError:
            pass
    return out


def tree_mb(pid: int) -> tuple[float, float, dict[int, dict[str, float]]]:
    """Summed PSS and RSS (MB) of *pid* and its descendants (the run's forked processes share pages with it
    copy-on-write: PSS counts a shared page once, split between the processes sharing it; RSS once per process),
    and per process its name, RSS, PSS and USS (its private pages: what ending it would free)."""
    pss = rss = 0.0
    each: dict[int, dict[str, float]] = {}
    for p in _descendants(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup", encoding="ascii") as fh:
                mine: dict = {"rss": 0.0, "pss": 0.0, "uss": 0.0}
                for line in fh:
                    if line.startswith(("Pss:", "Rss:", "Private_Clean:", "Private_Dirty:")):
                        kb = int(line.split()[1]) / 1024
                        key = {"Pss:": "pss", "Rss:": "rss"}.get(line.split()[0], "uss")
                        mine[key] += kb
                with open(f"/proc/{p}/comm", encoding="utf-8") as fh:  # forked parts name themselves "gl: …"
                    mine["name"] = fh.read().strip()
                each[p] = mine
                pss += mine["pss"]
                rss += mine["rss"]
        except OSError:
            continue
    return pss, rss, each


def run_in_child(store_path: Path, out_dir: Path, deadline_s: float | None, max_rss_mb: float,
                 baseline_only: bool = False) -> dict:
    ctx = mp.get_context("spawn")
    # a SimpleQueue writes each message at once (no feeder thread), so the steps the run computes in its own
    # forked processes (truck compliance, camera coverage, reachability) report from there too
    q = ctx.SimpleQueue()
    if baseline_only:
        p = ctx.Process(target=_baseline, args=(str(store_path), q))
    else:
        p = ctx.Process(target=_child, args=(str(store_path), str(out_dir), q))
    t0 = time.perf_counter()
    p.start()
    got: dict = {"steps": [], "subs": []}
    while not ({"baseline"} if baseline_only else {"run", "baseline"}) <= got.keys():
        try:
            if q.empty() and not p.join(timeout=1) and q.empty():
                raise TimeoutError
            kind, value = q.get()
            if kind in ("step", "sub"):
                got[kind + "s"].append(value)
                print(f"  {value['name']:40s} {value['seconds']:8.1f} s wall {value['cpu_s']:8.1f} s CPU "
                      f"(peak {value['peak_mb']:,.0f} MB)", flush=True)
            else:
                got[kind] = value
        except TimeoutError:
            if not p.is_alive():
                got["error"] = f"the run process ended with exit code {p.exitcode} before finishing"
                break
            rss = rss_mb(p.pid)
            got["max_rss_seen_mb"] = max(got.get("max_rss_seen_mb", 0.0), rss)
            pss_tree, rss_tree, each = tree_mb(p.pid)
            if pss_tree > got.get("max_tree_pss_mb", 0.0):  # who holds the memory at the tree's peak
                got["tree_peak"] = {"at_s": round(time.perf_counter() - t0, 1), "processes": [
                    {"name": m["name"], "pss_mb": round(m["pss"]), "uss_mb": round(m["uss"])} for m in each.values()]}
            got["max_tree_pss_mb"] = max(got.get("max_tree_pss_mb", 0.0), pss_tree)
            got["max_tree_rss_mb"] = max(got.get("max_tree_rss_mb", 0.0), rss_tree)
            for pid, m in each.items():  # the run's own process, and the largest of the processes it forks
                who = "run" if pid == p.pid else "forked"
                for k, v in m.items():
                    if k == "name":
                        continue
                    got[f"max_{who}_{k}_mb"] = max(got.get(f"max_{who}_{k}_mb", 0.0), v)
            elapsed = time.perf_counter() - t0
            if rss > max_rss_mb or (deadline_s is not None and elapsed > deadline_s):
                p.terminate()
                why = f"RSS {rss:,.0f} MB > --max-rss-mb {max_rss_mb:,.0f}" if rss > max_rss_mb else "--max-seconds"
                got["error"] = f"run stopped after {elapsed:.0f} s: {why}"
                break
    got["elapsed_s"] = time.perf_counter() - t0
    p.join()
    return got


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one district instead of the whole city")
    ap.add_argument("--max-seconds", type=float, default=None, help="stop the run after this many seconds")
    ap.add_argument("--max-rss-mb", type=float, default=8000.0,
                    help="stop the run when its RSS passes this (the machine is shared); default 8000")
    ap.add_argument("--reuse-store", action="store_true",
                    help="skip inputs and store loading when the store from an earlier run exists")
    ap.add_argument("--rebuild-tiles", action="store_true",
                    help="build the edition's web-map tiles again (kept from the last run otherwise, as a night would)")
    ap.add_argument("--assign-baseline-only", action="store_true",
                    help="with --reuse-store: only the gl.assign vs geopandas.sjoin comparison, no nightly run")
    args = ap.parse_args(argv)
    tag = "quick" if args.quick else "city"
    folder = _city.RESULTS / f"nightly_inputs_{tag}"
    store_path = _city.RESULTS / f"nightly_{tag}.gpkg"
    out_dir = _city.RESULTS / f"nightly_out_{tag}"
    # a fresh output folder, except the grid edition's tiles and grid index, which a night builds only when the
    # edition changes (out_dir/.runs/tiles and out_dir/.gridindex)
    from gridlib.nightly.outputs import INDEX_CACHE, TILE_CACHE

    kept = {name: folder for name, folder in (("tiles", out_dir / ".runs" / TILE_CACHE),
                                                ("gridindex", out_dir / INDEX_CACHE))
            if folder.is_dir() and not (name == "tiles" and args.rebuild_tiles)}
    for name, folder in kept.items():
        shutil.rmtree(_city.RESULTS / f".{name}_{tag}", ignore_errors=True)
        folder.rename(_city.RESULTS / f".{name}_{tag}")
    shutil.rmtree(out_dir, ignore_errors=True)
    for name, folder in kept.items():
        folder.parent.mkdir(parents=True, exist_ok=True)
        (_city.RESULTS / f".{name}_{tag}").rename(folder)
    result: dict = {"bench": "nightly", "when": time.strftime("%Y-%m-%dT%H:%M:%S"), "quick": args.quick,
                    "assign_baseline_only": args.assign_baseline_only,
                    "date": DATE, "cpus": os.cpu_count(), "load_start": [round(x, 2) for x in os.getloadavg()]}

    if args.reuse_store and store_path.exists():
        result["setup"] = "reused the store of an earlier run (its load time is in that run's JSON line)"
        print(result["setup"], flush=True)
    else:
        # in a child process, so the parent stays small while the run's process works
        with mp.get_context("spawn").Pool(1) as pool:
            result.update(pool.apply(_setup, (args.quick, str(folder), str(store_path))))
        print(f"inputs: {result['inputs']} in {result['inputs_s']:.0f} s wall / {result['inputs_cpu_s']:.0f} s CPU\n"
              f"store loaded in {result['store_load_s']:.0f} s wall / {result['store_load_cpu_s']:.0f} s CPU "
              f"({result['store_mb']} MB), setup peak RSS {result['setup_peak_mb']:,} MB", flush=True)

    got = run_in_child(store_path, out_dir, args.max_seconds, args.max_rss_mb, args.assign_baseline_only)
    run = got.get("run", {})
    if "error" in got:
        result["error"] = got["error"]
    result["run_max_rss_seen_mb"] = round(got.get("max_rss_seen_mb", 0.0))
    result["run_max_tree_pss_mb"] = round(got.get("max_tree_pss_mb", 0.0))
    result["run_max_tree_rss_mb"] = round(got.get("max_tree_rss_mb", 0.0))
    result["tree_peak"] = got.get("tree_peak")
    # sampled once a second: the run's process and the largest forked one, each by RSS, PSS and USS
    result["sampled_max_mb"] = {f"{who}_{k}": round(got.get(f"max_{who}_{k}_mb", 0.0))
                                for who in ("run", "forked") for k in ("rss", "pss", "uss")}
    result["steps"] = [{k: (round(v, 2) if isinstance(v, float) else v) for k, v in st.items()} for st in got["steps"]]
    result["product_parts"] = [{k: round(v, 2) if isinstance(v, float) else v for k, v in st.items()}
                               for st in got["subs"]]
    if run:
        result.update({"run_s": round(run["run_s"], 1), "run_cpu_s": round(run["run_cpu_s"], 1),
                       "run_main_cpu_s": round(run["run_main_cpu_s"], 1), "run_peak_mb": round(run["run_peak_mb"]),
                       "forked_peak_mb": round(run["forked_peak_mb"]),
                       "load_during": [round(x, 2) for x in run["load_after"]],
                       "manifest_steps": [{"name": m["name"], "seconds": m["seconds"]} for m in run["steps"]],
                       "grid_index": next((m.get("notes", {}).get("grid_index") for m in run["steps"]
                                           if m["name"] == "assign cases"), None)})
    elif not args.assign_baseline_only:
        result["run_s_until_stopped"] = round(got["elapsed_s"], 1)
    if "baseline" in got:
        b = got["baseline"]
        result["assign_baseline"] = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in b.items()}
        result["assign_ratio_cpu_sjoin_over_gridlib"] = round(b["sjoin_cpu_s"] / b["gridlib_assign_cpu_s"], 2)
        if "gridlib_warm_assign_cpu_s" in b:
            result["assign_ratio_cpu_sjoin_over_gridlib_warm"] = round(
                b["sjoin_cpu_s"] / b["gridlib_warm_assign_cpu_s"], 2)
    result["load_end"] = [round(x, 2) for x in os.getloadavg()]
    result["children_peak_mb"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)

    print(f"\nnightly run, {'district (quick)' if args.quick else 'city'} scale — load average "
          f"{result['load_start'][0]:.1f} at start, {result['load_end'][0]:.1f} at end, {result['cpus']} cores")
    print(f"{'phase / step':32s} {'wall s':>9s} {'CPU s':>9s} {'rows in':>11s} {'rows out':>11s} {'rejected':>9s}")
    if "inputs_s" in result:
        print(f"{'inputs (synthetic city)':32s} {result['inputs_s']:9.1f} {result['inputs_cpu_s']:9.1f}")
        print(f"{'setup: load the GeoPackage store':32s} {result['store_load_s']:9.1f} {result['store_load_cpu_s']:9.1f}")
    for st in result["steps"]:
        print(f"  {st['name']:30s} {st['seconds']:9.1f} {st['cpu_s']:9.1f} {st['rows_in']:11,} {st['rows_out']:11,} "
              f"{st['rejected']:9,}")
    parts: dict[str, list[float]] = {}
    for st in result["product_parts"]:
        acc = parts.setdefault(st["name"], [0, 0.0, 0.0])
        acc[0] += 1
        acc[1] += st["seconds"]
        acc[2] += st["cpu_s"]
    for name, (n, wall, cpu) in parts.items():
        label = name.removeprefix("products: ") + (f" (x{n})" if n > 1 else "")
        print(f"    {label:28s} {wall:9.1f} {cpu:9.1f}")
    if run:
        print(f"{'the nightly run (end to end)':32s} {result['run_s']:9.1f} {result['run_cpu_s']:9.1f}")
        print(f"CPU: {result['run_cpu_s']:.1f} s, of which {result['run_cpu_s'] - result['run_main_cpu_s']:.1f} s in the "
              f"forked map processes; load average {result['load_start'][0]:.1f} -> {result['load_end'][0]:.1f}")
        print(f"peak RSS: setup {result.get('setup_peak_mb', 0):,} MB, run {result['run_peak_mb']:,} MB (its process), "
              f"{result['forked_peak_mb']:,} MB (largest forked map process); sampled each second over the run's "
              f"process tree: PSS {result['run_max_tree_pss_mb']:,} MB, RSS {result['run_max_tree_rss_mb']:,} MB "
              f"(targets, issue 19.4: under 90 s wall, under 3,000 MB)")
        if result["tree_peak"]:
            peak = result["tree_peak"]
            print(f"at the tree's peak ({peak['at_s']:.0f} s after start), PSS / USS MB: " + "; ".join(
                f"{q['name']} {q['pss_mb']:,} / {q['uss_mb']:,}" for q in peak["processes"]))
        m = result["sampled_max_mb"]
        print(f"sampled per process (max RSS / PSS / USS MB): run {m['run_rss']:,} / {m['run_pss']:,} / "
              f"{m['run_uss']:,}; largest forked {m['forked_rss']:,} / {m['forked_pss']:,} / {m['forked_uss']:,}")
    elif not args.assign_baseline_only:
        print(f"the run did NOT finish: stopped {result['run_s_until_stopped']:.0f} s after start, "
              f"max RSS seen {result['run_max_rss_seen_mb']:,} MB")
    if "assign_baseline" in result:
        b = result["assign_baseline"]
        print(f"assign {b['cases']:,} cases: gl.assign {b['gridlib_assign_cpu_s']:.1f} s CPU "
              f"({b['gridlib_assign_s']:.1f} wall) vs geopandas.sjoin+merge {b['sjoin_cpu_s']:.1f} s CPU "
              f"({b['sjoin_s']:.1f} wall): ratio sjoin/gridlib {result['assign_ratio_cpu_sjoin_over_gridlib']}")
        if "gridlib_warm_assign_cpu_s" in b:
            print(f"  gl.assign again with the grid index already built: {b['gridlib_warm_assign_cpu_s']:.1f} s CPU, "
                  f"ratio sjoin/gridlib {result['assign_ratio_cpu_sjoin_over_gridlib_warm']}")
    if "error" in result:
        print("ERROR:", result["error"])
    with open(_city.RESULTS / "bench_nightly.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(result, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
