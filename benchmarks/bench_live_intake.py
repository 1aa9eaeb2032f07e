"""Latency of ``POST /v1/cases`` (assignment + dispatch + case-log write) over loopback HTTP, on the demo store.

    python benchmarks/bench_live_intake.py               # 300 cases, one after another
    python benchmarks/bench_live_intake.py --n 100       # fewer

Builds the demo store (``gl.demo.generate`` seed 1 + ``gl.nightly.load_demo_store``) in a
temporary folder, serves ``gridlib.live.app.create_app`` with uvicorn in a thread on
127.0.0.1 and posts the demo cases' points (distinct ids) one after another over one
keep-alive connection. Prints p50/p95/max of the request latency, and beside it the
in-process cost of the parts: ``gl.assign`` for one case (``assign_cases``), the
dispatch block (``Dispatcher.dispatch``: the nearest-segment snap, the per-team read of
the start-up distance matrix and the due times) and the case-log append (one SQLite
transaction under the store's write lock). Writes one JSON line to
benchmarks/results/bench_live_intake.jsonl. Not a throughput test (one client, sequential).
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gridlib as gl  # noqa: E402
from gridlib.live.app import assign_cases, create_app  # noqa: E402
from gridlib.live.caselog import reported_row  # noqa: E402
from gridlib.live.gateway import FixStore  # noqa: E402


def _pct(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"p50_ms": round(float(np.percentile(a, 50)), 2), "p95_ms": round(float(np.percentile(a, 95)), 2),
            "max_ms": round(float(a.max()), 2), "n": len(a)}


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    gl.demo.generate(work / "demo", seed=1, n_cases=max(args.n, 60), n_trucks=3, n_extra_cameras=0)
    store = gl.store.open(str(work / "store.gpkg"))
    gl.nightly.load_demo_store(store, work / "demo")
    cases, _ = gl.cases.read_log(store.read_layer("cases"))
    t0 = time.perf_counter()
    app = create_app(store, FixStore(work / "fixes.sqlite"), at="2026-11-20")
    startup_s = time.perf_counter() - t0
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    con = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    latencies, statuses = [], []
    pts = cases.dropna(subset=["lon", "lat"])[["lon", "lat", "class_code"]].to_numpy()  # planted bad rows out
    try:
        for i in range(args.n):
            lon, lat, code = pts[i % len(pts)]
            body = json.dumps({"case_id": f"BENCH{i:06d}", "lon": float(lon), "lat": float(lat),
                               "class_code": str(code), "reported_at": "2026-11-20 10:00"})
            t = time.perf_counter()
            con.request("POST", "/v1/cases", body, {"Content-Type": "application/json"})
            resp = con.getresponse()
            resp.read()
            latencies.append((time.perf_counter() - t) * 1000)
            statuses.append(resp.status)
    finally:
        con.close()
        server.should_exit = True
        thread.join(30)
    ctx, log = app.state.ctx, app.state.caselog
    part_assign, part_dispatch, part_append = [], [], []
    for i in range(min(args.n, 50)):
        lon, lat, code = pts[i % len(pts)]
        t = time.perf_counter()
        done, bad = assign_cases(ctx, [{"case_id": f"P{i}", "lon": float(lon), "lat": float(lat), "class_code": str(code)}])
        part_assign.append((time.perf_counter() - t) * 1000)
        assert done, bad
        d = done[0]
        t = time.perf_counter()
        ctx["dispatcher"].dispatch(d["_x"], d["_y"], d["_crs"], "2026-11-20 10:00", class_code=str(code))
        part_dispatch.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        log.append([reported_row({"case_id": f"P{i}", "class_code": str(code), "lon": float(lon), "lat": float(lat)},
                                 "2026-11-20T10:00:00")])
        part_append.append((time.perf_counter() - t) * 1000)
    result = {"bench": "live_intake", "startup_s": round(startup_s, 2), "ok": statuses.count(200),
              "post_cases": _pct(latencies), "assign_one": _pct(part_assign), "dispatch_one": _pct(part_dispatch),
              "append_one": _pct(part_append), "teams": len(ctx["dispatcher"].teams),
              "graph_nodes": int(ctx["dispatcher"].node_times.shape[0])}
    print(json.dumps(result, indent=1))
    out = Path(__file__).parent / "results" / "bench_live_intake.jsonl"
    out.parent.mkdir(exist_ok=True)
    with out.open("a") as f:
        f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
