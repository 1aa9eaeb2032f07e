"""CPU cost of the JT/T 808 gateway's per-fix path, in process: fixes per CPU-second, alone or with the checks.

    python benchmarks/bench_live_gateway_cpu.py                 # 1,000 terminals x 10 reports, no checks
    python benchmarks/bench_live_gateway_cpu.py --profile       # + the top functions (cProfile)
    python benchmarks/bench_live_gateway_cpu.py --check         # + every fix located and checked (monitor)
    python benchmarks/bench_live_gateway_cpu.py --check --terminals 5000 --tick-every 1
    python benchmarks/bench_live_gateway_cpu.py --check --profile-ticks   # where a tick's time goes

No TCP: each terminal is a ``_Connection`` of a ``Jt808Gateway`` (auth off) over a ``FixStore``
(SQLite WAL, group commit, ``synchronous=FULL``) with an in-memory transport; every terminal sends
one 0x0200 report (mileage, signal, satellites items) per round and the next round starts when all
were acknowledged (stored). The figure is process CPU time (event loop + writer thread, + the
monitor's ticks with ``--check``) per fix, robust on a shared machine where wall time is not: what
frame decoding, the per-fix objects and the durable store cost before sockets. One JSON line goes to
benchmarks/results/bench_live_gateway_cpu.jsonl.

``--check`` runs what ``gridlib serve`` wires around the gateway (``attach_monitor``), in the same
process: the demo store (``gl.demo.generate`` seed 1 + ``gl.nightly.load_demo_store``), its 20
trucks copied under new plates up to ``--terminals`` vehicles each with a copy of its permit (as
``bench_live_monitor.py``); each terminal reports its truck's demo fixes in time order from 22:00 +
``--hours`` on (the monitor is first filled with the fixes before, uncounted: a tick works on
nights already under way). The store's subscriber hands every committed fix to a ``TruckMonitor``
(the teams filter included) with the demo grids' ``GridIndex``: each fix is located in the grid
and checked against its permit (corridor, hours, sites, speed, silence) by the batch detectors on
its trailing window. One tick runs after every ``--tick-every`` rounds (1: each tick sees one new
fix of every vehicle, as a 1-s tick with 1-s reports or a 10-s tick with 10-s reports). The CPU of
those ticks is counted with the gateway's; ``tick_cpu_ms`` is their median.
Before the timed part the loaded state is moved out of the collector's reach (``gc.freeze()``), as
``gridlib serve`` does; ``--no-gc-freeze`` measures without (calm, 1,000 terminals: 4,310/4,331 with vs
4,131/4,001 fixes per CPU-second without, two runs each).

Measured 2026-12-06 08:20-08:45 UTC on the shared 2-core VM (load average 6-10; CPU figures), before
(main at 4739b4d, this script copied in) and after the issue-17 branch ``gateway``:

==========================================================  ==============  ==============
run                                                         before          after
==========================================================  ==============  ==============
gateway + store alone, 1,000 terminals x 10                 8,680 fixes/s   11,300-12,100
``--check --terminals 1000 --rounds 6`` (fixes per CPU-s)   2,218           3,895-4,214
  its tick (1,000 vehicles, one new fix each), CPU          334 ms          149-163 ms
``--check --terminals 5000 --rounds 5`` (2 h of night)      --              3,848
  its tick (5,000 vehicles), CPU                            --              726 ms
==========================================================  ==============  ==============

Short of the issue's 5,000 fixes per CPU-second with the checks: per fix ~85 us go to the gateway
and its store, ~150 us to the tick (each new fix re-checks its vehicle's trailing window, ~70 fixes
from the latest reset, through the batch detectors: ``vehicle_day`` ~80 ms per 1,000 vehicles, of
which ``trips.detect`` ~45, the resets ~20, the detectors ~25, ``clean`` ~7) and ~30 ms per tick
whatever its size (pandas/geopandas frames of the detectors).

Measured 2026-12-06 10:37-11:20 UTC, same VM (load average 2-6, other agents running; CPU figures), before
and after the monitor's fast step (a vehicle whose one new fix provably changes none of its episodes is not
re-checked: ``TruckMonitor._fast``; ~94 % of the fixes here):

==========================================================  ==============  ==============
run                                                         before          after
==========================================================  ==============  ==============
``--check --terminals 1000 --rounds 6`` (fixes per CPU-s)   4,053           6,614 / 7,567
  its tick (1,000 vehicles, one new fix each), CPU          163 ms          74-84 ms
  fixes re-checked in the trailing windows, 6 ticks         433,550         29,100
``--check --terminals 5000 --rounds 5`` (fixes per CPU-s)   3,848 (08:45)   7,331
  its tick (5,000 vehicles), CPU                            726 ms (08:45)  285 ms
==========================================================  ==============  ==============

What is left per fix: ~80 us gateway and store, ~55-75 us monitor (its bookkeeping, the fast step's
vectorised tests, the grid lookup, and the window checks of the few vehicles that start or end a stop or
an episode, ~20 ms of pandas frames per tick that has any).

``--rate R`` spreads each round over time, R reports a second (a slice every millisecond), as reports arrive
over TCP: the writer then commits a few dozen fixes per transaction instead of a whole round's, so the
fixed cost of a small fsync-ed commit (~0.2 ms of CPU: 251 us for a 1-fix transaction, 10 us per fix
at 200 per transaction) shows as it does in ``gridlib serve`` (over TCP at 4,000 fixes/s the writer
committed 4.4 fixes per transaction before ``FixStore(commit_interval_ms=5)``).

Measured 2026-12-06 13:41-13:46 UTC, same VM, **loaded** (load average 5.6-6.8: the figures are CPU, but
caches and the other agents' processes weigh on them), main at 3c0dec0 (this script copied in) and the
issue-17 branch ``trucks`` (one run each unless two are given):

=====================================================================  ==============  ==============
run (fixes per CPU-second)                                             before (main)   after
=====================================================================  ==============  ==============
gateway + store alone, 1,000 terminals x 20, all at once               13,246          16,213
gateway + store alone, ``--rate 5000``                                 10,297          12,846
  same, ``--commit-interval-ms 0`` (no commit pacing)                  --              11,533
``--check --terminals 1000 --rounds 6``                                6,529           7,668 / 7,797
``--check --terminals 1000 --rounds 6 --rate 5000``                    5,695           6,332 / 6,525
  its tick (1,000 vehicles, one new fix each), CPU                     83-87 ms        76-80 ms
=====================================================================  ==============  ==============

With the checks, A/B at load 2-4 (the fleet cached, ``run()`` called directly): 6,843-7,233 before,
8,008-8,903 after. Per fix that is ~62 us for the gateway and store (decode, Fix, durable insert, ack)
and ~60-75 us for the monitor's tick, of which the window checks (``_check``: ``vehicle_day`` and the
detectors on the ~75 vehicles of a tick that start or end a stop or episode, ~30 ms of pandas/geopandas
frames per tick) are half and the fast step (~15 ms per 1,000 vehicles) a quarter: the next target.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import gc
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gridlib.live import jt808 as j  # noqa: E402
from gridlib.live.gateway import FixStore, Jt808Gateway, _Connection  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


class _Transport(asyncio.Transport):
    """Counts what the gateway writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def writelines(self, data) -> None:  # noqa: ANN001
        self.writes += 1

    def write(self, data) -> None:  # noqa: ANN001
        self.writes += 1

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


def _frame(k: int, r: int, lon: float, lat: float, t: dt.datetime, speed: float = 30.0) -> bytes:
    return j.encode(j.LOCATION, f"1390{k:07d}", r & 0xFFFF, j.encode_location(j.Location(
        lon, lat, t, speed_kmh=speed, mileage_km=12.5, signal=20, satellites=9)))


def _checked_fleet(terminals: int, rounds: int, hours: float) -> dict:
    """The demo fleet copied up to *terminals* vehicles: permits, sites, roads, grid index, the fixes before the
    timed part (to fill the monitor) and each terminal's frames of the timed part."""
    import pandas as pd

    import gridlib as gl
    from gridlib.assignment import index_for

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_live_monitor import _fleet, _rows

    work = Path(tempfile.mkdtemp())
    gl.demo.generate(work / "demo", seed=1, n_cases=60, n_trucks=20, n_extra_cameras=0)
    store = gl.store.open(str(work / "store.gpkg"))
    gl.nightly.load_demo_store(store, work / "demo")
    layers = {k: store.read_layer(k) for k in ("truck_fixes", "truck_permits", "truck_sites", "roads")}
    fixes, permits = _fleet(layers, -(-terminals // 20))
    vehicles = sorted(fixes["vehicle_id"].unique())[:terminals]
    fixes = fixes[fixes["vehicle_id"].isin(vehicles)]
    t = pd.to_datetime(fixes["time"])
    cut = pd.Timestamp("2026-11-20 22:00") + pd.Timedelta(hours=hours)
    before = fixes[t < cut]
    after = fixes[t >= cut].sort_values("time", kind="stable")
    frames = []
    for k, (_, g) in enumerate(after.groupby("vehicle_id", sort=True)):
        g = g.head(rounds)
        times = pd.to_datetime(g["time"]).dt.to_pydatetime()
        speeds = g["speed_kmh"].fillna(0).to_numpy() if "speed_kmh" in g else [30.0] * len(g)
        frames.append([_frame(k, r, lon, lat, ti.replace(tzinfo=j.TZ_BEIJING), float(sp))
                       for r, (lon, lat, ti, sp) in enumerate(zip(g["lon"], g["lat"], times, speeds, strict=True))])
    grids = gl.grid.GridSet.from_store(store, at=pd.Timestamp("2026-11-20"))
    return {"layers": layers, "permits": permits, "before": _rows(before), "frames": frames,
            "terminals": [(f"1390{k:07d}", v) for k, v in enumerate(vehicles)], "index": index_for(grids)}


async def run(terminals: int, rounds: int, profile: bool, check: bool = False, hours: float = 2.0,
              tick_every: int = 1, profile_ticks: bool = False, gc_freeze: bool = True, rate: float = 0.0,
              commit_interval_ms: float | None = None) -> dict:
    kwargs = {} if commit_interval_ms is None else {"commit_interval_ms": commit_interval_ms}
    store = FixStore(os.path.join(tempfile.mkdtemp(), "fixes.sqlite"), **kwargs)
    gw = Jt808Gateway(store, auth=False)
    conns = []
    for _ in range(terminals):
        c = _Connection(gw)
        c.connection_made(_Transport())
        conns.append(c)
    monitor, extra = None, {}
    if check:
        from gridlib.live.monitor import TruckMonitor
        from gridlib.live.teams import truck_pairs

        fleet = _checked_fleet(terminals, rounds, hours)
        frames = fleet["frames"]
        store.register_many(fleet["terminals"])
        monitor = TruckMonitor(fleet["permits"], fleet["layers"]["truck_sites"], roads=fleet["layers"]["roads"],
                               grid_index=fleet["index"])
        monitor.add_rows(fleet["before"])
        monitor.tick()
        store.subscribe(lambda pairs: monitor.add(truck_pairs(store, pairs)))    # as attach_monitor does
        rounds = min(rounds, min(len(f) for f in frames))
        extra = {"vehicles": len(frames), "hours_before": hours, "fixes_before": len(fleet["before"]),
                 "tick_every": tick_every}
    else:
        t0 = dt.datetime(2026, 11, 20, 22, 0, tzinfo=j.TZ_BEIJING)
        frames = [[_frame(k, r, 121.5 + k * 1e-4, 31.2 + r * 1e-4, t0 + dt.timedelta(seconds=10 * r))
                   for r in range(rounds)] for k in range(terminals)]
    if gc_freeze:
        gc.freeze()         # as `gridlib serve` does once its state is loaded
    prof = cProfile.Profile()
    ticks: list[float] = []
    checked0 = monitor.stats["fixes_checked"] if monitor else 0
    if monitor is not None:
        extra["fast0"], extra["chained0"] = monitor.stats["fast"], monitor.stats.get("fast_chained", 0)
    c0, w0 = time.process_time(), time.perf_counter()
    if profile:
        prof.enable()
    for r in range(rounds):
        if rate:        # spread over the round at *rate* reports per second, a slice every millisecond
            per_ms, t_round = max(1, round(rate / 1000)), time.perf_counter()
            for i in range(0, terminals, per_ms):
                for k in range(i, min(i + per_ms, terminals)):
                    conns[k].data_received(frames[k][r])
                await asyncio.sleep(max(0.0, t_round + (i + per_ms) / rate - time.perf_counter()))
        else:
            for k, c in enumerate(conns):
                c.data_received(frames[k][r])
        while any(c.waiting is not None for c in conns):
            await asyncio.sleep(0.001)
        if monitor is not None and ((r + 1) % tick_every == 0 or r == rounds - 1):
            await asyncio.sleep(0)          # the subscribers are called soon after the last acks
            t = time.process_time()
            if profile_ticks:
                prof.enable()
            monitor.tick()
            if profile_ticks:
                prof.disable()
            ticks.append(time.process_time() - t)
    prof.disable()
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    n = terminals * rounds
    stored = store.db.execute("SELECT count(*) FROM fixes").fetchone()[0]
    result = {"bench": "live_gateway_cpu", "check": check, "terminals": terminals, "rounds": rounds, "fixes": n,
              "stored": stored, "transactions": store.transactions, "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
              "fixes_per_cpu_s": round(n / cpu), "profiled": profile or profile_ticks, "gc_freeze": gc_freeze,
              "rate": rate, "fixes_per_transaction": round(n / max(store.transactions, 1), 1),
              "commit_interval_ms": commit_interval_ms, **extra}
    if monitor is not None:
        stats = monitor.stats
        fast0 = extra.get("fast0", 0)
        result.update({"fast_fixes": int(stats.get("fast", 0) - fast0),     # fast-stepped (TruckMonitor._fast)
                       "fast_chained": int(stats.get("fast_chained", 0) - extra.get("chained0", 0)),
                       "ticks": len(ticks), "tick_cpu_ms": round(1000 * sorted(ticks)[len(ticks) // 2], 1),
                       "tick_cpu_s_total": round(sum(ticks), 3), "monitor_fixes": int(stats["fixes"]),
                       "located": int(stats["located"]), "fixes_checked": int(stats["fixes_checked"] - checked0),
                       "alerts": len(monitor.book.alerts)})
        result["fast_share"] = round(result["fast_fixes"] / max(n, 1), 3)     # of the timed fixes
        del result["fast0"], result["chained0"]
    result.update({"load_avg": [round(x, 2) for x in os.getloadavg()], "at": time.strftime("%Y-%m-%dT%H:%M:%S")})
    store.close()
    if profile or profile_ticks:
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        if profile_ticks:
            pstats.Stats(prof).sort_stats("cumulative").print_stats(40)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--terminals", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-ticks", action="store_true", help="with --check: profile the monitor's ticks")
    parser.add_argument("--check", action="store_true", help="locate and check every fix (the truck monitor)")
    parser.add_argument("--hours", type=float, default=2.0, help="with --check: hours of night before the timed part")
    parser.add_argument("--tick-every", type=int, default=1, help="with --check: one tick per this many rounds")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="reports per second, each round spread over time as over TCP (0: all at once)")
    parser.add_argument("--commit-interval-ms", type=float, default=None,
                        help="FixStore commit_interval_ms (default: the FixStore's)")
    parser.add_argument("--note", default="", help="a remark kept in the result line (e.g. the machine's load)")
    parser.add_argument("--no-gc-freeze", action="store_true",
                        help="leave the loaded state in the collector's reach (gridlib serve freezes it)")
    args = parser.parse_args()
    result = asyncio.run(run(args.terminals, args.rounds, args.profile, args.check, args.hours, args.tick_every,
                             args.profile_ticks, gc_freeze=not args.no_gc_freeze, rate=args.rate,
                             commit_interval_ms=args.commit_interval_ms))
    if args.note:
        result["note"] = args.note
    print(json.dumps(result))
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "bench_live_gateway_cpu.jsonl", "a") as fh:
        fh.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
