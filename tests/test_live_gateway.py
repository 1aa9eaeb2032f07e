"""JT/T 808 gateway over real loopback TCP, with a real SQLite fix store."""

from __future__ import annotations

import asyncio
import datetime as dt

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
def test_register_auth_locate_ack_after_store(tmp_path, version):
    store = FixStore(tmp_path / "live.sqlite")

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
        rows = FixStore(store.path).db.execute("SELECT vehicle_id, local_time, satellites FROM fixes").fetchall()
        assert rows == [("沪A12345", "2026-11-20T08:30:00", 9)]     # on disk when the ACK arrived
        batch = j.encode_batch_location([j.Location(121.5, 31.24, T0 + dt.timedelta(seconds=s)) for s in (10, 20)])
        r = await _exchange(reader, writer, j.encode(j.BATCH_LOCATION, PHONE, 5, batch, version=version))
        assert j.decode_general_response(r.body) == (5, j.BATCH_LOCATION, 0)
        r = await _exchange(reader, writer, j.encode(j.HEARTBEAT, PHONE, 6, version=version))
        assert j.decode_general_response(r.body) == (6, j.HEARTBEAT, 0)

    gw, _ = _run(store, True, script)
    assert gw.counters["fixes_in"] == 3 and sum(gw.drops.values()) >= 2
    assert [p["vehicle_id"] for p in store.last_positions()] == ["沪A12345"]


def test_unauthenticated_fixes_refused_when_auth_on_and_kept_when_off(tmp_path):
    loc = j.encode_location(j.Location(121.5, 31.24, T0))

    async def script(reader, writer):
        r = await _exchange(reader, writer, j.encode(j.LOCATION, PHONE, 9, loc))
        bad = await _exchange(reader, writer, j.encode(j.AUTH, PHONE, 10, j.encode_auth("wrong")))
        return j.decode_general_response(r.body)[2], j.decode_general_response(bad.body)[2]

    on = FixStore(tmp_path / "on.sqlite")
    gw, results = _run(on, True, script)
    assert results == (1, 1) and gw.rejected["unauthenticated"] == 1
    assert on.db.execute("SELECT count(*) FROM fixes").fetchone()[0] == 0
    off = FixStore(tmp_path / "off.sqlite")
    gw, results = _run(off, False, script)
    assert results[0] == 0
    assert off.db.execute("SELECT vehicle_id FROM fixes").fetchall() == [(PHONE,)]


def test_bad_body_answered_with_message_error(tmp_path):
    async def script(reader, writer):
        r = await _exchange(reader, writer, j.encode(j.LOCATION, PHONE, 3, b"\x00" * 10))
        return j.decode_general_response(r.body)

    gw, result = _run(FixStore(tmp_path / "x.sqlite"), False, script)
    assert result == (3, j.LOCATION, 2) and gw.drops["bad_body"] == 1
