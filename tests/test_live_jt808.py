"""JT/T 808 codec: frames from Traccar's decoder tests, 2013/2019 round trips, fuzzed streams."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridlib.live import jt808 as j

# Frames quoted in traccar/traccar src/test/java/org/traccar/protocol/Jt808ProtocolDecoderTest.java
TRACCAR_LOCATION = ("7e02000032000000000000022500000000000c0002000000000000000000710000014626061510572501"
                    "040000006430011f31010ce10200722b04ab560000487e")
TRACCAR_LOCATION_2 = ("7e02000048051160004464000d00000000000c00020159885e06cbf344000000000000200807180722010400"
                      "00000130011c310109e4020063e50100e60100e7080000000000000000ee0a01cc01262c009a6743001e7e")
TRACCAR_REGISTER_2019 = ("7e0100405c010000086649607758216452180000000000000000000000000000004d44333030000000000000"
                         "0000000000000000000000000000000000000038363634393630373735383231363400000000000000000000"
                         "000000000004000000000000000000000000000000007a7e")
T0 = dt.datetime(2026, 11, 20, 8, 30, 15, tzinfo=j.TZ_BEIJING)


def test_traccar_location_frame():
    msg = j.decode_frame(bytes.fromhex(TRACCAR_LOCATION))
    assert (msg.msg_id, msg.version, msg.serial, msg.total) == (j.LOCATION, None, 0x0225, 0)
    loc = j.decode_location(msg.body)
    assert loc.time == dt.datetime(2026, 6, 15, 10, 57, 25, tzinfo=j.TZ_BEIJING)
    assert (loc.mileage_km, loc.signal, loc.satellites, loc.altitude_m, loc.direction) == (10.0, 31, 12, 113, 326)
    assert loc.positioned


def test_traccar_location_with_position():
    msg = j.decode_frame(bytes.fromhex(TRACCAR_LOCATION_2))
    assert msg.terminal == "51160004464"
    loc = j.decode_location(msg.body)
    assert (loc.lat, loc.lon) == (0x0159885E / 1e6, 0x06CBF344 / 1e6)
    assert loc.time == dt.datetime(2020, 8, 7, 18, 7, 22, tzinfo=j.TZ_BEIJING)
    assert (loc.mileage_km, loc.signal, loc.satellites) == (0.1, 28, 9)


def test_traccar_registration_2019():
    msg = j.decode_frame(bytes.fromhex(TRACCAR_REGISTER_2019))
    assert (msg.msg_id, msg.version, msg.phone, msg.serial) == (j.REGISTER, 1, "00000866496077582164", 0x5218)
    reg = j.decode_registration(msg.body, msg.version)
    assert (reg.model, reg.device_id, reg.plate_color) == ("MD300", "866496077582164", 4)
    # our encoder rebuilds the same bytes
    assert j.encode_message(msg).hex() == TRACCAR_REGISTER_2019


@pytest.mark.parametrize("version", [None, 1])
def test_round_trip_every_message(version):
    phone = "13912345678" if version is None else "8613912345678"
    loc = j.Location(-121.5, -31.24, T0, 42.3, 359, -5, alarm=0x1, status=0xF, mileage_km=1.5, signal=3, satellites=11)
    bodies = {
        j.REGISTER: j.encode_registration(j.Registration(31, 115, "GL", "M", "D1", 1, "沪A1"), version),
        j.AUTH: j.encode_auth("code-1", version, imei="1" * 15, software="v1"),
        j.HEARTBEAT: b"",
        j.LOCATION: j.encode_location(loc),
        j.BATCH_LOCATION: j.encode_batch_location([loc, loc], kind=1),
        j.PLATFORM_RESPONSE: j.encode_general_response(65535, j.LOCATION, 0),
        j.REGISTER_RESPONSE: j.encode_register_response(4, 0, "auth"),
    }
    for serial, (msg_id, body) in enumerate(bodies.items()):
        frame = j.encode(msg_id, phone, serial, body, version=version)
        assert frame.count(0x7e) == 2
        msg = j.decode_frame(frame)
        assert (msg.msg_id, msg.terminal, msg.serial, msg.body, msg.version) == (msg_id, phone, serial, body, version)
    assert j.decode_location(bodies[j.LOCATION]) == loc
    assert j.decode_batch_location(bodies[j.BATCH_LOCATION]) == (1, [loc, loc])
    assert j.decode_registration(bodies[j.REGISTER], version).plate == "沪A1"
    assert j.decode_auth(bodies[j.AUTH], version) == "code-1"


def test_escaping_in_frame():
    body = bytes([0x7e, 0x7d, 0x01, 0x02])
    frame = j.encode(j.LOCATION, "1", 0x7e7d, body)
    assert frame[1:-1].count(0x7e) == 0
    assert j.decode_frame(frame).body == body and j.decode_frame(frame).serial == 0x7e7d


def test_subpackages_reassembled_in_any_order():
    body = bytes(range(256)) * 9           # 2304 bytes: three packages
    frames = j.split(j.BATCH_LOCATION, "1", 65534, body, version=1)
    assert len(frames) == 3
    msgs = [j.decode_frame(f) for f in frames]
    assert [(m.total, m.seq) for m in msgs] == [(3, 1), (3, 2), (3, 3)]
    r = j.Reassembler()
    assert r.add(msgs[2]) is None and r.add(msgs[0]) is None
    whole = r.add(msgs[1])
    assert whole.body == body and whole.serial == 65534 and whole.total == 0


def _stream(n=4):
    return [j.encode(j.LOCATION, "13800138000", i, j.encode_location(j.Location(121.5, 31.2, T0))) for i in range(n)]


@pytest.mark.parametrize("damage,reason", [
    (lambda f: f[:-2] + bytes([f[-2] ^ 1]) + f[-1:], "check_code"),
    (lambda f: f[:5] + b"\x7d\x05" + f[5:], "bad_escape"),
    (lambda f: f[:3] + bytes([f[3] ^ 0x01]) + f[4:], None),   # length bit: length or check code
    (lambda f: f[:8] + b"\x7e", "truncated"),
    (lambda f: f[:-1] + bytes(3000), "too_long"),
])
def test_one_bad_frame_costs_only_itself(damage, reason):
    frames = _stream()
    wire = frames[0] + damage(frames[1]) + frames[2] + frames[3]
    s = j.StreamDecoder()
    got = s.feed(wire)
    assert [m.serial for m in got] == [0, 2, 3]
    _account(s, wire, got)
    assert sum(s.drops.values()) == 1
    if reason:
        assert reason in s.drops


def _account(s: j.StreamDecoder, wire: bytes, msgs: list[j.Message]) -> None:
    used = sum(len(j.encode_message(m)) for m in msgs)
    assert used + s.dropped_bytes + s.pending == len(wire)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), st.lists(st.integers(1, 200), max_size=30))
def test_random_bytes_never_raise_and_every_byte_is_accounted(data, cuts):
    s = j.StreamDecoder()
    msgs, pos = [], 0
    for c in cuts:
        msgs += s.feed(data[pos:pos + c])
        pos += c
    msgs += s.feed(data[pos:])
    whole = j.StreamDecoder()
    assert [m for m in whole.feed(data)] == msgs         # chunking never changes the result
    # how junk splits into runs depends on the chunks; the bytes dropped and frame drops do not
    assert whole.dropped_bytes == s.dropped_bytes
    assert {k: v for k, v in whole.drops.items() if k != "junk"} == {k: v for k, v in s.drops.items() if k != "junk"}
    _account(s, data, msgs)
    assert s.pending <= 2 * (17 + 4 + j.MAX_BODY + 1) + 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 60), st.binary(min_size=1, max_size=8)), min_size=1,
                max_size=12))
def test_damaged_streams_keep_every_intact_frame(plan):
    """Frames either intact or damaged (cut, flipped bit, inserted bytes): every intact frame comes out."""
    wire, expect = b"", []
    for i, (intact, at, junk) in enumerate(plan):
        f = j.encode(j.LOCATION, "1", i, j.encode_location(j.Location(121.5, 31.2, T0)), version=1 if i % 2 else None)
        if intact:
            wire += f
            expect.append(i)
        else:
            at = 1 + at % (len(f) - 2)
            wire += f[:at] + junk.replace(b"\x7e", b"\x00") + b"\x7d\x03" + f[at:]   # a bad escape at least
    s = j.StreamDecoder()
    got = s.feed(wire)
    assert [m.serial for m in got] == expect
    assert sum(s.drops.values()) >= len(plan) - len(expect)
    assert s.dropped_bytes + sum(len(j.encode_message(m)) for m in got) + s.pending == len(wire)
