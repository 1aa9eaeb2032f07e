"""Tick cost of the live truck monitor (``gridlib.live.monitor.TruckMonitor``) for N vehicles, in process.

    python benchmarks/bench_live_monitor.py                    # N = 20, 100, 400
    python benchmarks/bench_live_monitor.py --n 20 100 --hours 2

Builds the demo store (``gl.demo.generate`` seed 1, 20 trucks, + ``gl.nightly.load_demo_store``)
in a temporary folder. N vehicles are the demo's 20 trucks copied N/20 times under new plates,
each copy with a copy of its permit (so every vehicle is checked against a corridor, hours and
sites). Each vehicle's night is filled up to 22:00 + ``--hours`` (the state a tick works on),
then three ticks are timed:

- ``all``: every vehicle got one new fix (the worst case: one batch-check pass over all N nights);
- ``tenth``: one vehicle in ten got a new fix (a fleet reporting every 10 s with 1-s ticks ...);
- ``one``: a single vehicle got a new fix (the fixed cost of a tick).

Each figure is the median of ``--repeat`` ticks (wall ``tick_s`` and process CPU ``tick_cpu_ms``, the
robust figure on a shared machine). The monitor re-runs the batch check's steps on a trailing
window of each vehicle with new fixes (from its latest reset, see ``gridlib.live.monitor``), so
a tick grows with the vehicles checked, not with the hours of night they already have;
``fixes_checked`` is the fixes the ``all`` ticks ran on. Writes one JSON line per N to
benchmarks/results/bench_live_monitor.jsonl.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gridlib as gl  # noqa: E402
from gridlib.live.monitor import TruckMonitor  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _fleet(layers: dict, copies: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    fixes, permits = [], []
    for k in range(copies):
        f, p = layers["truck_fixes"].copy(), layers["truck_permits"].copy()
        f["vehicle_id"] = f["vehicle_id"] + f"-{k}"
        p["vehicle_id"] = p["vehicle_id"] + f"-{k}"
        p["permit_id"] = p["permit_id"] + f"-{k}"
        fixes.append(f)
        permits.append(p)
    return pd.concat(fixes, ignore_index=True), pd.concat(permits, ignore_index=True)


def _rows(frame: pd.DataFrame) -> list[tuple]:
    times = pd.to_datetime(frame["time"]).dt.strftime("%Y-%m-%dT%H:%M:%S")
    return list(zip(frame["vehicle_id"], times, frame["lon"], frame["lat"], strict=True))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, nargs="+", default=[20, 100, 400])
    parser.add_argument("--hours", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    gl.demo.generate(work / "demo", seed=1, n_cases=60, n_trucks=20, n_extra_cameras=0)
    store = gl.store.open(str(work / "store.gpkg"))
    gl.nightly.load_demo_store(store, work / "demo")
    layers = {k: store.read_layer(k) for k in ("truck_fixes", "truck_permits", "truck_sites", "roads")}
    cut = pd.Timestamp("2026-11-20 22:00") + pd.Timedelta(hours=args.hours)
    RESULTS.mkdir(exist_ok=True)
    for n in args.n:
        fixes, permits = _fleet(layers, max(1, n // 20))
        t = pd.to_datetime(fixes["time"])
        before, after = fixes[t < cut], fixes[t >= cut].sort_values("time", kind="stable")
        monitor = TruckMonitor(permits, layers["truck_sites"], roads=layers["roads"])
        t0 = time.perf_counter()
        monitor.add_rows(_rows(before))
        monitor.tick()
        fill_s = time.perf_counter() - t0
        nxt = after.groupby("vehicle_id", sort=True).head(args.repeat * 3)
        by_vehicle = {v: g for v, g in nxt.groupby("vehicle_id", sort=True)}
        vehicles = sorted(by_vehicle)
        # a few warm ticks: the resets settle as the first fixes after the fill come in
        for r in range(2):
            monitor.add_rows(_rows(after.groupby("vehicle_id", sort=True).nth(r)))
            monitor.tick()
        after = after[after.groupby("vehicle_id", sort=True).cumcount() >= 2]
        figures = {}
        for name, chosen in (("all", vehicles), ("tenth", vehicles[::10]), ("one", vehicles[:1])):
            spent, cpu, checked = [], [], []
            for r in range(args.repeat):
                step = [by_vehicle[v].iloc[[r * 3 + ("all", "tenth", "one").index(name)]]
                        for v in chosen if len(by_vehicle[v]) > r * 3 + 2]
                monitor.add_rows(_rows(pd.concat(step)))
                t0, c0, f0 = time.perf_counter(), time.process_time(), monitor.stats.get("fixes_checked", 0)
                monitor.tick()
                spent.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
                checked.append(monitor.stats.get("fixes_checked", 0) - f0)
            figures[name] = {"vehicles": len(chosen), "tick_s": round(statistics.median(spent), 3),
                             "tick_cpu_ms": round(1000 * statistics.median(cpu), 1),
                             "fixes_checked": int(statistics.median(checked))}
        result = {"bench": "live_monitor", "vehicles": int(before["vehicle_id"].nunique()),
                  "fixes_in_state": len(before), "hours": args.hours, "first_fill_s": round(fill_s, 2), **figures,
                  "fixes_per_s_all": round(len(before) / figures["all"]["tick_s"]) if figures["all"]["tick_s"] else None,
                  "load_avg": [round(x, 2) for x in os.getloadavg()], "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        print(json.dumps(result, ensure_ascii=False))
        with open(RESULTS / "bench_live_monitor.jsonl", "a") as fh:
            fh.write(json.dumps(result, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
