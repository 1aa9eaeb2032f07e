"""Latency of ``POST /v1/cases`` under an open-loop load over loopback, beside one PostGIS ``ST_Covers`` query per request.

    python benchmarks/bench_live_intake.py                       # 200 and 500 req/s, then ramp (< 2 min)
    python benchmarks/bench_live_intake.py --seconds 3 --no-ramp # shorter

Builds the demo store (:func:`gridlib.live.demo.demo_store`, 300 cases) in a temporary folder,
starts ``gridlib serve`` on it in a subprocess (one process: uvicorn, the JT/T 808 port idle) and
drives it open loop: requests are sent on a fixed schedule (``--rates``, each for ``--seconds``)
over a pool of keep-alive HTTP/1.1 connections (raw asyncio sockets), whatever the server's
answers take; a request's latency runs from its scheduled time to the end of its answer, so
queueing counts (no coordinated omission). Every request is a new case (distinct ``case_id``,
the demo cases' points and classes, reported a second apart): grid, responsibility, dispatch
and the durable case-log write; a point outside the grids is answered 422 and counts as an
answer. Before the fixed rates, the rate is raised from ``--ramp-start`` (x1.5) while the service
keeps up (achieved >= 95 % of offered, p99 <= 100 ms, no errors or time-outs): the highest rate
it kept up with is "sustainable" (an overloaded run leaves a backlog, so the fixed rates come last).

Beside it, in the same run, the usual way: the same grids in a throwaway PostGIS cluster
(:func:`gridlib.testing.throwaway_postgis`, as the tests' ``postgis_url``) and one
``ST_Covers`` query per request through psycopg (async, a pool of connections), at the same
rates and schedule — the lookup alone, without HTTP, responsibility or a write. And the floor
of the HTTP stack on the machine: ``GET /v1/health`` of the same server at the same rates.
Prints a table and appends one JSON line to benchmarks/results/bench_live_intake.jsonl.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gridlib as gl  # noqa: E402
from gridlib.live.demo import demo_store  # noqa: E402

SUSTAINED = 0.95          # achieved / offered
P99_LIMIT_MS = 100.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _summary(lat_ms: list[float], errors: int, offered: float, wall_s: float) -> dict[str, float]:
    a = np.asarray(lat_ms) if lat_ms else np.array([np.nan])
    return {"offered_rps": offered, "achieved_rps": round(len(lat_ms) / wall_s, 1), "n": len(lat_ms),
            "errors": errors, "p50_ms": round(float(np.nanpercentile(a, 50)), 2),
            "p99_ms": round(float(np.nanpercentile(a, 99)), 2), "max_ms": round(float(np.nanmax(a)), 2)}


async def _open_loop(rate: float, seconds: float, send, pool: asyncio.Queue) -> dict[str, float]:
    """Fire ``send(i, conn)`` at *rate* per second for *seconds*, open loop; latency from the scheduled time."""
    n = int(rate * seconds)
    lat, errors = [], 0
    start = time.perf_counter() + 0.05

    async def one(i: int, due: float) -> None:
        nonlocal errors
        conn = await pool.get()
        try:
            ok = await send(i, conn)
            pool.put_nowait(conn)
        except Exception:  # noqa: BLE001 - counted, the run goes on; the connection is replaced
            ok = False
            pool.put_nowait(await _reopen(conn))
        except asyncio.CancelledError:
            pool.put_nowait(await _reopen(conn))
            raise
        if ok:
            lat.append((time.perf_counter() - due) * 1000)
        else:
            errors += 1

    tasks = []
    for i in range(n):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    _, late = await asyncio.wait(tasks, timeout=max(10.0, seconds * 3))
    for task in late:          # not answered in time: counted as errors, the connection is dropped
        task.cancel()
    return _summary(lat, errors + len(late), rate, time.perf_counter() - start)


async def _reopen(conn):
    """A fresh connection for one left in an unknown state (an HTTP answer half read); psycopg's recover."""
    return await conn.reopen() if isinstance(conn, Http) else conn


class Http:
    """A keep-alive HTTP/1.1 connection over asyncio streams (enough for JSON POSTs with Content-Length)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Http:
        conn = cls(*await asyncio.open_connection("127.0.0.1", port))
        conn.port = port
        return conn

    async def reopen(self) -> Http:
        self.close()
        return await Http.open(self.port)

    async def post(self, path: str, body: bytes | None) -> int:
        """POST *body* (None: a GET) and read the answer; its status."""
        if body is None:
            self.writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        else:
            self.writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                              f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


def _cpu_s(pid: int) -> float:
    """CPU time (user + system) of process *pid* so far, seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _run(args: argparse.Namespace, port: int, pg_url: str | None, points: np.ndarray) -> dict:
    out: dict[str, list] = {"serve": [], "postgis": [], "health": [], "ramp": []}

    async def measured(rate: float, seconds: float, send, pool: asyncio.Queue) -> dict[str, float]:
        """An open-loop run, with the server's CPU time per answer and the machine's load average beside it."""
        cpu = _cpu_s(args.server_pid)
        run = await _open_loop(rate, seconds, send, pool)
        if send is not st_covers:
            run["server_cpu_ms_per_req"] = round((_cpu_s(args.server_pid) - cpu) * 1000 / max(run["n"], 1), 2)
        run["load_avg_1min"] = round(os.getloadavg()[0], 2)
        return run

    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(args.connections):
        pool.put_nowait(await Http.open(port))
    counter = iter(range(10**9))

    async def post_case(i: int, conn: Http) -> bool:
        lon, lat, code, kind = points[i % len(points)]
        k = next(counter)      # a new case, reported a second after the last one
        reported = (dt.datetime(2026, 11, 20, 8) + dt.timedelta(seconds=k)).isoformat(sep=" ")
        body = json.dumps({"case_id": f"BENCH{k:07d}", "lon": lon, "lat": lat, "class_code": code, "kind": kind,
                           "reported_at": reported}).encode()
        return await conn.post("/v1/cases", body) < 500    # a demo point outside the grids is a 422 answer

    async def health(i: int, conn: Http) -> bool:
        return await conn.post("/v1/health", None) == 200

    pg_pool: asyncio.Queue | None = None
    if pg_url:
        import psycopg

        pg_pool = asyncio.Queue()
        for _ in range(args.connections):
            pg_pool.put_nowait(await psycopg.AsyncConnection.connect(pg_url, autocommit=True))

    async def st_covers(i: int, con) -> bool:
        lon, lat, *_ = points[i % len(points)]
        cur = await con.execute(
            "SELECT grid_code FROM bench.grids WHERE ST_Covers(geom, ST_Transform(ST_SetSRID(ST_MakePoint(%s, %s), "
            "4326), %s)) ORDER BY grid_code LIMIT 1", (lon, lat, args.srid))
        await cur.fetchone()       # a demo point outside the grids is an answer (no row) too
        return True

    async def fresh(pool: asyncio.Queue) -> asyncio.Queue:
        """Reopen the pool's HTTP connections (the server drops a keep-alive connection idle for 5 s)."""
        conns = [pool.get_nowait() for _ in range(pool.qsize())]
        for conn in conns:
            pool.put_nowait(await _reopen(conn))
        return pool

    def kept(run: dict[str, float]) -> bool:
        return run["achieved_rps"] >= SUSTAINED * run["offered_rps"] and run["p99_ms"] <= P99_LIMIT_MS \
            and not run["errors"]

    # warm-up: every demo point and class once (a class's first case works out its rule and step limits)
    await measured(60, len(points) / 60, post_case, pool)
    if args.floor:          # the HTTP stack alone on this machine: GET /v1/health, before the cases load it
        out["health"] = [await measured(rate, args.seconds, health, await fresh(pool)) for rate in args.rates]
    if pg_pool is not None:
        await measured(50, 1.0, st_covers, pg_pool)
        out["postgis"] = [await measured(rate, args.seconds, st_covers, pg_pool) for rate in args.rates]
    # the highest sustainable rate of POST /v1/cases: from --ramp-start up by x1.5 while it keeps up (an
    # overloaded run leaves a backlog in the server, so the overloading fixed rates come last)
    rate = args.ramp_start
    for _ in range(args.ramp_steps if args.ramp else 0):
        if rate >= min(args.rates) or rate > args.max_rate:
            break
        run = await measured(rate, args.seconds, post_case, await fresh(pool))
        out["ramp"].append(run)
        if not kept(run):
            break
        rate = round(rate * 1.5)
    out["serve"] = [await measured(rate, args.seconds, post_case, await fresh(pool)) for rate in args.rates]
    while not pool.empty():
        pool.get_nowait().close()
    if pg_pool is not None:
        while not pg_pool.empty():
            await pg_pool.get_nowait().close()
    return out


def _load_postgis(url: str, store) -> int:
    """The store's grids (the edition served) into schema ``bench`` of a PostGIS database; their SRID."""
    import pandas as pd
    import psycopg

    grids = gl.grid.GridSet.from_store(store, at=pd.Timestamp("2026-11-20")).grids
    srid = int(grids.crs.to_epsg())
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        con.execute("CREATE SCHEMA bench")
        con.execute(f"CREATE TABLE bench.grids (grid_code text, geom geometry(Polygon, {srid}))")
        with con.cursor().copy("COPY bench.grids (grid_code, geom) FROM STDIN") as copy:
            for code, wkb in zip(grids["grid_code"], grids.geometry.to_wkb(hex=True), strict=True):
                copy.write_row((code, f"SRID={srid};{wkb}"))
        con.execute("CREATE INDEX ON bench.grids USING gist (geom)")
        con.execute("ANALYZE bench.grids")
    return srid


def _git_head() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", type=float, nargs="+", default=[200, 500])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--max-rate", type=float, default=3000)
    parser.add_argument("--no-ramp", dest="ramp", action="store_false")
    parser.add_argument("--ramp-steps", type=int, default=5)
    parser.add_argument("--ramp-start", type=float, default=25)
    parser.add_argument("--no-postgis", dest="postgis", action="store_false")
    parser.add_argument("--no-floor", dest="floor", action="store_false", help="skip GET /v1/health at each rate")
    parser.add_argument("--note", default=None, help="free text kept with the result line (e.g. the machine's load)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    load_start = os.getloadavg()[0]
    t0 = time.perf_counter()
    store = demo_store(work, n_cases=300)
    cases, _ = gl.cases.read_log(store.read_layer("cases"))
    points = [(float(x), float(y), str(c), str(k)) for x, y, c, k in
              cases.dropna(subset=["lon", "lat"])[["lon", "lat", "class_code", "kind"]].to_numpy()]
    build_s = time.perf_counter() - t0
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "gridlib.cli", "serve", "--store", str(work / "store.gpkg"),
                             "--http-port", str(port), "--jt808-port", str(_free_port()), "--fixes",
                             str(work / "fixes.sqlite")], env=env)
    try:
        import http.client

        t0 = time.perf_counter()
        while True:
            if proc.poll() is not None:
                raise SystemExit("gridlib serve exited early")
            try:
                con = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                con.request("GET", "/v1/health")
                if con.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        startup_s = time.perf_counter() - t0
        args.server_pid = proc.pid
        if args.postgis:
            from gridlib.testing import throwaway_postgis

            with throwaway_postgis() as url:
                args.srid = _load_postgis(url, store)
                runs = asyncio.run(_run(args, port, url, points))
        else:
            runs = asyncio.run(_run(args, port, None, points))
    finally:
        proc.send_signal(signal.SIGTERM)     # it would finish an overload's backlog first: not waited for
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
    sustainable = [r["offered_rps"] for r in runs["serve"] + runs["ramp"] if r["achieved_rps"] >= SUSTAINED *
                   r["offered_rps"] and r["p99_ms"] <= P99_LIMIT_MS and not r["errors"]]
    result = {"bench": "live_intake_open_loop", "build_s": round(build_s, 1), "startup_s": round(startup_s, 2),
              "seconds_per_rate": args.seconds, "connections": args.connections, "cpus": os.cpu_count(),
              "load_avg": os.getloadavg()[0], "load_avg_start": load_start, "git": _git_head(),
              "serve": runs["serve"], "postgis_st_covers": runs["postgis"],
              "get_health": runs["health"], "ramp": runs["ramp"],
              "highest_sustainable_rps": max(sustainable) if sustainable else None}
    if args.note:
        result["note"] = args.note
    print(f"{'rate/s':>7} | {'POST /v1/cases  p50':>19} {'p99':>8} {'max':>8} {'got/s':>7} {'err':>4} | "
          f"{'PostGIS ST_Covers p50':>21} {'p99':>8} {'got/s':>7} | {'GET /v1/health p50':>18} {'p99':>8} {'got/s':>7}")
    nan = {"p50_ms": float("nan"), "p99_ms": float("nan"), "achieved_rps": float("nan")}
    for k, s in enumerate(runs["serve"]):
        p = runs["postgis"][k] if k < len(runs["postgis"]) else nan
        h = runs["health"][k] if k < len(runs["health"]) else nan
        print(f"{s['offered_rps']:>7.0f} | {s['p50_ms']:>16.2f} ms {s['p99_ms']:>8.2f} {s['max_ms']:>8.2f} "
              f"{s['achieved_rps']:>7.1f} {s['errors']:>4} | {p['p50_ms']:>18.2f} ms {p['p99_ms']:>8.2f} "
              f"{p['achieved_rps']:>7.1f} | {h['p50_ms']:>15.2f} ms {h['p99_ms']:>8.2f} {h['achieved_rps']:>7.1f}")
    for s in runs["ramp"]:
        print(f"{s['offered_rps']:>7.0f} | {s['p50_ms']:>16.2f} ms {s['p99_ms']:>8.2f} {s['max_ms']:>8.2f} "
              f"{s['achieved_rps']:>7.1f} {s['errors']:>4} | (ramp, run first: POST /v1/cases only)")
    print("server CPU per POST /v1/cases (ms): " + ", ".join(
        f"{s['offered_rps']:.0f}/s: {s['server_cpu_ms_per_req']}" for s in runs["ramp"] + runs["serve"])
          + f"; load average (1 min) {load_start:.1f} at start, {result['load_avg']:.1f} at end on {os.cpu_count()} CPUs")
    print(f"highest sustainable rate (achieved >= {SUSTAINED:.0%}, p99 <= {P99_LIMIT_MS:.0f} ms, no errors): "
          f"{result['highest_sustainable_rps']} req/s")
    out = Path(__file__).parent / "results" / "bench_live_intake.jsonl"
    out.parent.mkdir(exist_ok=True)
    with out.open("a") as f:
        f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
