"""CPU cost of the JT/T 808 gateway's per-fix path alone, in process: fixes per CPU-second.

    python benchmarks/bench_live_gateway_cpu.py                 # 1,000 terminals x 10 reports
    python benchmarks/bench_live_gateway_cpu.py --profile       # + the top functions (cProfile)

No TCP and no monitor: each terminal is a ``_Connection`` of a ``Jt808Gateway`` (auth off) over a
``FixStore`` (SQLite WAL, group commit, ``synchronous=FULL``) with an in-memory transport; every
terminal sends one 0x0200 report (mileage, signal, satellites items) per round and the next round
starts when all were acknowledged (stored). The figure is process CPU time (event loop + writer
thread) per fix, robust on a shared machine where wall time is not: what frame decoding, the per-fix
objects and the durable store cost before sockets and checks. One JSON line goes to
benchmarks/results/bench_live_gateway_cpu.jsonl.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
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


async def run(terminals: int, rounds: int, profile: bool) -> dict:
    store = FixStore(os.path.join(tempfile.mkdtemp(), "fixes.sqlite"))
    gw = Jt808Gateway(store, auth=False)
    conns = []
    for _ in range(terminals):
        c = _Connection(gw)
        c.connection_made(_Transport())
        conns.append(c)
    t0 = dt.datetime(2026, 11, 20, 22, 0, tzinfo=j.TZ_BEIJING)
    frames = [[j.encode(j.LOCATION, f"1390000{k:05d}", r, j.encode_location(j.Location(
        121.5 + k * 1e-4, 31.2 + r * 1e-4, t0 + dt.timedelta(seconds=10 * r), speed_kmh=30.0, mileage_km=12.5,
        signal=20, satellites=9))) for r in range(rounds)] for k in range(terminals)]
    prof = cProfile.Profile()
    c0, w0 = time.process_time(), time.perf_counter()
    if profile:
        prof.enable()
    for r in range(rounds):
        for k, c in enumerate(conns):
            c.data_received(frames[k][r])
        while any(c.waiting is not None for c in conns):
            await asyncio.sleep(0.001)
    prof.disable()
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    n = terminals * rounds
    stored = store.db.execute("SELECT count(*) FROM fixes").fetchone()[0]
    result = {"bench": "live_gateway_cpu", "terminals": terminals, "rounds": rounds, "fixes": n, "stored": stored,
              "transactions": store.transactions, "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
              "fixes_per_cpu_s": round(n / cpu), "profiled": profile,
              "load_avg": [round(x, 2) for x in os.getloadavg()], "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    store.close()
    if profile:
        pstats.Stats(prof).sort_stats("tottime").print_stats(20)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--terminals", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run(args.terminals, args.rounds, args.profile))
    print(json.dumps(result))
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "bench_live_gateway_cpu.jsonl", "a") as fh:
        fh.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
