"""JT/T 808 gateway over real loopback TCP, with a real SQLite fix store."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3

import pytest

from gridlib.live import jt808 as j
from gridlib.live.gateway import FixStore, Jt808Gateway

T0 = dt.datetime(2026, 11, 20, 8, 30, 0, tzinfo=j.TZ_BEIJING)
PHONE = "13800138000"


async def _exchange(reader, writer, frame: bytes) -> j.Message:
    writer.write(frame)
    await writer.drain()
    dec = j.StreamDecoder()
    while True:
        got = dec.feed(await asyncio.wait_for(reader.read(4096), 5))
        if got:
            return got[0]


def _run(store, auth, script):
    async def main():
        gw = Jt808Gateway(store, auth=auth)
        server = await gw.start("127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return gw, await script(reader, writer)
        finally:
            writer.close()
            await gw.close()
            server.close()
            await server.wait_closed()
    return asyncio.run(main())


@pytest.mark.parametrize("version", [None, 1])
def test_register_auth_locate_ack_after_store(tmp_path, version, fix_stores):
    store = fix_stores(tmp_path / "live.sqlite")

    async def script(reader, writer):
        reg = j.encode_registration(j.Registration(31, 115, "GL", "M", "D1", 2, "沪A12345"), version)
        r = await _exchange(reader, writer, j.encode(j.REGISTER, PHONE, 1, reg, version=version))
        serial, result, code = j.decode_register_response(r.body)
        assert (r.msg_id, r.version, serial, result) == (j.REGISTER_RESPONSE, version, 1, 0) and code
        r = await _exchange(reader, writer, j.encode(j.AUTH, PHONE, 2, j.encode_auth(code, version), version=version))
        assert j.decode_general_response(r.body) == (2, j.AUTH, 0)
        # garbage and a damaged frame first: dropped, counted, connection stays up
        writer.write(b"\x01\x02" + j.encode(j.HEARTBEAT, PHONE, 3)[:-2] + b"\x00\x7e")
        loc = j.encode_location(j.Location(121.5, 31.24, T0, 30.0, mileage_km=5.0, satellites=9, signal=20))
        r = await _exchange(reader, writer, j.encode(j.LOCATION, PHONE, 4, loc, version=version))
        assert j.decode_general_response(r.body) == (4, j.LOCATION, 0)
        rows = fix_stores(store.path).db.execute("SELECT vehicle_id, local_time, satellites FROM fixes").fetchall()
        assert rows == [("沪A12345", "2026-11-20T08:30:00", 9)]     # on disk when the ACK arrived
        batch = j.encode_batch_location([j.Location(121.5, 31.24, T0 + dt.timedelta(seconds=s)) for s in (10, 20)])
        r = await _exchange(reader, writer, j.encode(j.BATCH_LOCATION, PHONE, 5, batch, version=version))
        assert j.decode_general_response(r.body) == (5, j.BATCH_LOCATION, 0)
        r = await _exchange(reader, writer, j.encode(j.HEARTBEAT, PHONE, 6, version=version))
        assert j.decode_general_response(r.body) == (6, j.HEARTBEAT, 0)

    gw, _ = _run(store, True, script)
    assert gw.counters["fixes_in"] == 3 and sum(gw.drops.values()) >= 2
    assert [p["vehicle_id"] for p in store.last_positions()] == ["沪A12345"]


def test_unauthenticated_fixes_refused_when_auth_on_and_kept_when_off(tmp_path, fix_stores):
    loc = j.encode_location(j.Location(121.5, 31.24, T0))

    async def script(reader, writer):
        r = await _exchange(reader, writer, j.encode(j.LOCATION, PHONE, 9, loc))
        bad = await _exchange(reader, writer, j.encode(j.AUTH, PHONE, 10, j.encode_auth("wrong")))
        return j.decode_general_response(r.body)[2], j.decode_general_response(bad.body)[2]

    on = fix_stores(tmp_path / "on.sqlite")
    gw, results = _run(on, True, script)
    assert results == (1, 1) and gw.rejected["unauthenticated"] == 1
    assert on.db.execute("SELECT count(*) FROM fixes").fetchone()[0] == 0
    off = fix_stores(tmp_path / "off.sqlite")
    gw, results = _run(off, False, script)
    assert results[0] == 0
    assert off.db.execute("SELECT vehicle_id FROM fixes").fetchall() == [(PHONE,)]


def test_bad_body_answered_with_message_error(tmp_path, fix_stores):
    async def script(reader, writer):
        r = await _exchange(reader, writer, j.encode(j.LOCATION, PHONE, 3, b"\x00" * 10))
        return j.decode_general_response(r.body)

    gw, result = _run(fix_stores(tmp_path / "x.sqlite"), False, script)
    assert result == (3, j.LOCATION, 2) and gw.drops["bad_body"] == 1


def _fix_in_file(path, phone: str, local_time: str) -> bool:
    con = sqlite3.connect(path)         # another connection: sees only what was committed
    try:
        return con.execute("SELECT count(*) FROM fixes WHERE device_id = ? AND local_time = ?",
                           (phone, local_time)).fetchone()[0] == 1
    finally:
        con.close()


def test_group_commit_acks_only_committed_fixes_and_shares_transactions(tmp_path, fix_stores):
    """40 terminals report at once: fewer transactions than reports, every ACK finds its row in the file,
    every subscriber call comes after the commit and sees each fix once."""
    store = fix_stores(tmp_path / "group.sqlite", window_ms=20)
    seen, not_yet_in_file = [], []

    def subscriber(pairs):
        for fix, vehicle in pairs:
            if not _fix_in_file(store.path, fix.device_id, fix.local_time.isoformat()):
                not_yet_in_file.append(fix)
            seen.append((fix.device_id, vehicle, fix.local_time.isoformat()))
    store.subscribe(subscriber)

    async def terminal(port, i):
        phone = f"1390000{i:04d}"
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        missing = []
        for k in range(5):
            t = T0 + dt.timedelta(seconds=10 * k)
            body = j.encode_location(j.Location(121.5 + i / 1e4, 31.24, t, 20.0))
            r = await _exchange(reader, writer, j.encode(j.LOCATION, phone, 100 + k, body))
            assert j.decode_general_response(r.body) == (100 + k, j.LOCATION, 0)
            if not _fix_in_file(store.path, phone, t.replace(tzinfo=None).isoformat()):
                missing.append(k)
        writer.close()
        return missing

    async def main():
        gw = Jt808Gateway(store, auth=False)
        server = await gw.start("127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            return gw, await asyncio.gather(*(terminal(port, i) for i in range(40)))
        finally:
            await gw.close()
            server.close()
            await server.wait_closed()

    gw, missing = asyncio.run(main())
    assert all(m == [] for m in missing)                      # no ACK before its row was committed
    assert gw.counters["fixes_in"] == 200 and store.transactions < 200
    assert not_yet_in_file == [] and len(seen) == len(set(seen)) == 200
    stored = store.db.execute("SELECT device_id, vehicle_id, local_time FROM fixes").fetchall()
    assert sorted(stored) == sorted(seen)
    store.close()


def test_failed_commit_is_answered_failure_and_not_published(tmp_path, fix_stores):
    store = fix_stores(tmp_path / "broken.sqlite")
    published = []
    store.subscribe(published.append)
    other = sqlite3.connect(store.path)
    other.execute("DROP TABLE fixes")       # the next insert fails: a real storage error
    other.close()
    loc = j.encode_location(j.Location(121.5, 31.24, T0))

    async def script(reader, writer):
        r = await _exchange(reader, writer, j.encode(j.LOCATION, PHONE, 21, loc))
        return j.decode_general_response(r.body)

    gw, result = _run(store, False, script)
    assert result == (21, j.LOCATION, 1) and gw.counters["store_errors"] == 1 and published == []
    assert gw.counters["fixes_in"] == 0


def test_subscribe_add_sync_and_async(tmp_path, fix_stores):
    from gridlib.live.fix import Fix

    store = fix_stores(tmp_path / "sub.sqlite")
    got = []
    store.subscribe(lambda pairs: got.append([(f.device_id, v) for f, v in pairs]))
    store.subscribe(lambda pairs: 1 / 0)        # a failing subscriber is logged, the others still run
    fix = Fix("7", dt.datetime(2026, 11, 20, tzinfo=dt.UTC), 121.5, 31.2, "osmand")
    store.add([(fix, "沪A1"), (fix, "沪A2")])

    async def grouped():
        await store.add_async([(fix, "沪A3")])
        await asyncio.sleep(0)          # subscribers run right after the waiting callers were released
    asyncio.run(grouped())
    assert got == [[("7", "沪A1"), ("7", "沪A2")], [("7", "沪A3")]]
    store.close()


def test_add_async_from_two_event_loops_at_once(tmp_path, fix_stores):
    """The HTTP app and the gateway may run on different loops: each gets its own writer thread on the same file."""
    import threading

    from gridlib.live.fix import Fix

    store = fix_stores(tmp_path / "two.sqlite")
    fix = Fix("7", dt.datetime(2026, 11, 20, tzinfo=dt.UTC), 121.5, 31.2, "osmand")

    def feed(name):
        async def main():
            await asyncio.gather(*(store.add_async([(fix, f"{name}{i}")]) for i in range(50)))
        asyncio.run(main())

    threads = [threading.Thread(target=feed, args=(name,)) for name in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    rows = sorted(r[0] for r in store.db.execute("SELECT vehicle_id FROM fixes"))
    assert rows == sorted(f"{n}{i}" for n in "AB" for i in range(50))
    store.close()


def test_registrations_are_group_committed_and_answered_after_the_commit(tmp_path, fix_stores):
    store = fix_stores(tmp_path / "reg.sqlite", window_ms=20)

    async def terminal(port, i):
        phone = f"1390000{i:04d}"
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        reg = j.encode_registration(j.Registration(31, 115, "GL", "M", f"D{i}", 2, f"沪B{i:05d}"))
        r = await _exchange(reader, writer, j.encode(j.REGISTER, phone, 1, reg))
        serial, result, code = j.decode_register_response(r.body)
        other = sqlite3.connect(store.path)
        in_file = other.execute("SELECT vehicle_id, auth_code FROM terminals WHERE terminal = ?", (phone,)).fetchall()
        other.close()
        r = await _exchange(reader, writer, j.encode(j.AUTH, phone, 2, j.encode_auth(code)))
        writer.close()
        return (serial, result), in_file == [(f"沪B{i:05d}", code)], j.decode_general_response(r.body)[2]

    async def main():
        gw = Jt808Gateway(store, auth=True)
        server = await gw.start("127.0.0.1", 0)
        try:
            return await asyncio.gather(*(terminal(server.sockets[0].getsockname()[1], i) for i in range(30)))
        finally:
            await gw.close()
            server.close()

    out = asyncio.run(main())
    assert all(o == ((1, 0), True, 0) for o in out)      # answered with the code that is in the file; auth ok
    assert store.transactions < 30
    store.close()


def test_failed_registration_commit_is_answered_failure(tmp_path, fix_stores):
    store = fix_stores(tmp_path / "noreg.sqlite")
    other = sqlite3.connect(store.path)
    other.execute("DROP TABLE terminals")
    other.close()
    reg = j.encode_registration(j.Registration(31, 115, "GL", "M", "D1", 2, "沪A12345"))

    async def script(reader, writer):
        r = await _exchange(reader, writer, j.encode(j.REGISTER, PHONE, 8, reg))
        return r.msg_id, j.decode_general_response(r.body)

    gw, result = _run(store, True, script)
    assert result == (j.PLATFORM_RESPONSE, (8, j.REGISTER, 1)) and gw.counters["store_errors"] == 1


def test_last_positions_from_memory_equal_the_group_by_also_after_restart(tmp_path, fix_stores):
    """The live page's vehicle list is kept in memory; it must equal the GROUP BY over the table it replaces."""
    import random

    from gridlib.live.fix import Fix
    from gridlib.live.gateway import _LAST_KEYS, _LAST_SQL

    def group_by(store):
        return [dict(zip(_LAST_KEYS, row, strict=True)) for row in store.db.execute(_LAST_SQL)]

    rng = random.Random(7)
    t0 = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)

    def fixes(n):      # out of order, several vehicles, sub-second times
        return [(Fix(f"T{v}", t0 + dt.timedelta(seconds=rng.randrange(0, 3600), microseconds=rng.randrange(0, 10**6)),
                     121.5 + rng.random() / 100, 31.2 + rng.random() / 100, "jt808", rng.random() * 60), f"沪A{v}")
                for v in (rng.randrange(12) for _ in range(n))]

    path = tmp_path / "last.sqlite"
    store = fix_stores(path)
    assert store.last_positions() == [] == group_by(store)
    for _ in range(5):
        store.add(fixes(40))

    async def grouped():
        await asyncio.gather(*(store.add_async(fixes(3)) for _ in range(30)))
    asyncio.run(grouped())
    before = store.last_positions()
    assert len(before) == 12 and before == group_by(store)
    store.close()
    store = fix_stores(path)          # restart: loaded from the table
    assert store.last_positions() == before
    store.add(fixes(50))
    assert store.last_positions() == group_by(store) != before
    store.close()


def test_a_store_dropped_without_close_ends_its_writer_thread(tmp_path):
    """A FixStore nobody keeps is collected and its writer thread ends: left alive, it would keep a nightly run
    in this process from forking (gridlib.nightly.forks)."""
    import gc

    from gridlib.live.fix import Fix

    store = FixStore(tmp_path / "dropped.sqlite")
    fix = Fix("7", dt.datetime(2026, 11, 20, tzinfo=dt.UTC), 121.5, 31.2, "osmand")
    asyncio.run(store.add_async([(fix, "沪A1")]))
    (thread,) = [w.thread for w in store._writers.values()]
    assert thread.is_alive() and thread.name == "fixstore-writer"
    del store
    gc.collect()
    thread.join(10)
    assert not thread.is_alive()
    with sqlite3.connect(tmp_path / "dropped.sqlite") as con:
        assert con.execute("SELECT vehicle_id FROM fixes").fetchall() == [("沪A1",)]
