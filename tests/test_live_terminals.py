"""The JT/T 808 terminal simulator against a real gateway on loopback TCP, its CLI and the benchmark's smoke run."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridlib.live.gateway import FixStore, Jt808Gateway
from gridlib.live.terminals import TerminalFleet, fleet_fixes

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fleet():
    return fleet_fixes(12, start="2026-11-20 07:00", span_s=120, interval_s=10, seed=3)


def _stored(store: FixStore) -> pd.DataFrame:
    rows = store.db.execute("SELECT device_id, vehicle_id, local_time, lon, lat FROM fixes").fetchall()
    out = pd.DataFrame(rows, columns=["terminal", "vehicle_id", "time", "lon", "lat"])
    out["time"] = pd.to_datetime(out["time"])
    return out


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """The same fixes (the wire carries 1e-6 degrees)."""
    key = ["terminal", "vehicle_id", "time"]
    a, b = (f.astype({"time": "datetime64[s]"}).sort_values(key).reset_index(drop=True) for f in (a, b))
    return (len(a) == len(b) and bool((a[key] == b[key]).all(axis=None))
            and np.allclose(a["lon"], b["lon"], rtol=0, atol=5.1e-7)
            and np.allclose(a["lat"], b["lat"], rtol=0, atol=5.1e-7))


@pytest.mark.parametrize(("batch", "version"), [(1, None), (4, 1)])
def test_fixes_stored_equal_fixes_sent(tmp_path, fleet, batch, version, fix_stores):
    fixes, t0 = fleet
    store = fix_stores(tmp_path / "sim.sqlite")

    async def main():
        gw = Jt808Gateway(store, auth=True)
        server = await gw.start("127.0.0.1", 0)
        sim = TerminalFleet(fixes, "127.0.0.1", server.sockets[0].getsockname()[1], batch=batch,
                            version=version, ack_timeout_s=5, resends=0)
        try:
            await sim.connect()
            first = await sim.drive(60, 1.0, start=t0)           # 60 simulated s, then the rest
            rest = await sim.drive(120)
            return gw, sim, first, rest
        finally:
            await sim.close()
            await gw.close()
            server.close()

    gw, sim, first, rest = asyncio.run(main())
    for stats in (first, rest):
        assert stats.lost == stats.failed == 0 and stats.acked == stats.sent > 0
        assert len(stats.latencies_ms) == stats.reports      # one ACK per report, matched by serial and id
    sent = sim.acknowledged()
    assert len(sent) == first.sent + rest.sent >= 0.9 * len(fixes)       # nothing twice
    assert _same(_stored(store), sent)
    assert gw.counters["messages_0704" if batch > 1 else "messages_0200"] == first.reports + rest.reports
    assert sorted(sent["terminal"].unique()) == sorted(t.phone for t in sim.terminals)
    store.close()


def test_unauthenticated_simulator_is_refused_when_registration_is_skipped(tmp_path, fleet, fix_stores):
    """A gateway with auth on refuses the reports of a terminal that did not authenticate on its connection."""
    fixes, t0 = fleet
    store = fix_stores(tmp_path / "noauth.sqlite")

    async def main():
        gw = Jt808Gateway(store, auth=True)
        server = await gw.start("127.0.0.1", 0)
        sim = TerminalFleet(fixes[fixes["vehicle_id"] == fixes["vehicle_id"].iloc[0]], "127.0.0.1",
                            server.sockets[0].getsockname()[1], ack_timeout_s=5, resends=0)
        term = sim.terminals[0]
        term.reader, term.writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        try:
            return await sim.drive(100, 0.5, start=t0)
        finally:
            await sim.close()
            await gw.close()
            server.close()

    stats = asyncio.run(main())
    assert stats.failed == stats.sent > 0 and stats.acked == 0
    assert store.db.execute("SELECT count(*) FROM fixes").fetchone()[0] == 0
    store.close()


def test_cli_simulate_terminals(tmp_path, fix_stores):
    store = fix_stores(tmp_path / "cli.sqlite")
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box = {}

    def serve():
        asyncio.set_event_loop(loop)

        async def start():
            box["gw"] = Jt808Gateway(store, auth=True)
            box["server"] = await box["gw"].start("127.0.0.1", 0)
            box["port"] = box["server"].sockets[0].getsockname()[1]
            started.set()
        loop.run_until_complete(start())
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(30)
    try:
        proc = subprocess.run([sys.executable, "-m", "gridlib.cli", "trucks", "simulate-terminals", "--port",
                               str(box["port"]), "--vehicles", "5", "--speedup", "30", "--duration", "2"],
                              capture_output=True, text=True, timeout=180, cwd=ROOT)
    finally:
        async def stop():
            await box["gw"].close()
            box["server"].close()
        asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
    assert proc.returncode == 0, proc.stderr
    n = store.db.execute("SELECT count(*), count(DISTINCT vehicle_id) FROM fixes").fetchone()
    assert proc.stdout.startswith(f"{n[0]:,} fixes sent") and f"{n[0]:,} acknowledged" in proc.stdout
    assert n[0] >= 5 * 5 and n[1] == 5               # 60 simulated s at 10 s: about 6 fixes per vehicle
    assert "terminals registered and authenticated" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "gridlib.cli", "trucks", "simulate-terminals", "--port",
                           str(box["port"]), "--vehicles", "2", "--duration", "1"],
                          capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert proc.returncode != 0 and "cannot drive terminals" in proc.stderr   # the gateway is gone
    store.close()


def test_benchmark_smoke(tmp_path):
    out = tmp_path / "bench.jsonl"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_live_trucks.py"), "--vehicles", "20",
                           "--base-s", "2", "--step-s", "1.5", "--steps", "8", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text().splitlines()[-1])
    assert result["vehicles"] == 20 and result["stored_equals_acked"] and result["stored"] > 0
    assert [p["speedup"] for p in result["phases"]] == [1.0, 8.0]
    assert result["transactions"] >= 1 and result["gateway_rss_mb"] > 0


def test_packed_bodies_equal_the_codec(fleet):
    from gridlib.live import jt808

    sim = TerminalFleet(fleet[0], "127.0.0.1", 1)
    for term in sim.terminals[:3]:
        for k in range(len(term.t)):
            assert term.body(k) == jt808.encode_location(term.location(k))
    term = sim.terminals[0]
    assert term.batch_body(1, 4) == jt808.encode_batch_location([term.location(k) for k in range(1, 4)])


def test_acks_are_matched_by_serial_and_message_id(fleet):
    """A server that answers with a stale serial and a wrong message id first: the simulator waits for the right
    ACK, and a report never acknowledged is resent, then counted lost."""
    from gridlib.live import jt808

    fixes, t0 = fleet
    one = fixes[fixes["vehicle_id"] == fixes["vehicle_id"].iloc[0]]
    seen = []

    async def handler(reader, writer):
        dec = jt808.StreamDecoder()
        while chunk := await reader.read(4096):
            for m in dec.feed(chunk):
                seen.append(m.serial)
                if len(seen) >= 3:      # from the third report on: never answered
                    continue
                wrong = [jt808.encode_general_response(m.serial - 1, m.msg_id),
                         jt808.encode_general_response(m.serial, jt808.HEARTBEAT)]
                for body in [*wrong, jt808.encode_general_response(m.serial, m.msg_id)]:
                    writer.write(jt808.encode(jt808.PLATFORM_RESPONSE, m.phone, 1, body))
                await writer.drain()

    async def main():
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        sim = TerminalFleet(one, "127.0.0.1", server.sockets[0].getsockname()[1], ack_timeout_s=0.3, resends=1,
                            spread=False)
        term = sim.terminals[0]
        term.reader, term.writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
        try:
            return await sim.drive(100, 0.25, start=t0, grace_s=0)   # 25 simulated s: 3 reports
        finally:
            await sim.close()
            server.close()

    stats = asyncio.run(main())
    assert stats.reports == 3 and stats.acked == 2 and len(stats.latencies_ms) == 2
    assert stats.resends == 1 and stats.lost == 1 and seen == [1, 2, 3, 3]   # the third sent twice, same serial
