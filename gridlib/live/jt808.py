"""JT/T 808 (道路运输车辆卫星定位系统终端通讯协议) codec, 2013 and 2019 editions. Pure: bytes in, bytes out.

A frame on the wire is ``0x7e | header | body | check code | 0x7e`` where everything
between the flags is escaped (``0x7e`` → ``0x7d 0x02``, ``0x7d`` → ``0x7d 0x01``) and
the check code is the XOR of header and body bytes.

Header (big-endian)::

    message id      WORD
    body properties WORD   bits 0-9 body length, 10-12 encryption, 13 sub-packaged,
                           14 version flag (2019), 15 reserved
    protocol ver.   BYTE   2019 only
    terminal phone  BCD[6] (2013) / BCD[10] (2019)
    serial number   WORD
    packet total    WORD   only when sub-packaged
    packet seq      WORD   (1-based)

Messages handled here: terminal general response 0x0001, heartbeat 0x0002,
registration 0x0100 → 0x8100, authentication 0x0102, location report 0x0200,
batch location 0x0704 and the platform general response 0x8001.

>>> frame = encode(HEARTBEAT, "13800138000", 7)
>>> frame.hex()
'7e000200000138001380000007af7e'
>>> msg = decode_frame(frame)
>>> msg.msg_id == HEARTBEAT, msg.phone, msg.terminal, msg.serial, msg.version
(True, '013800138000', '13800138000', 7, None)
>>> s = StreamDecoder()
>>> [m.serial for m in s.feed(b"junk" + frame + frame[:5])], s.feed(frame[5:])[0].serial, s.drops
([7], 7, {'junk': 1})
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields

__all__ = [
    "TERMINAL_RESPONSE", "HEARTBEAT", "REGISTER", "AUTH", "LOCATION", "BATCH_LOCATION",
    "PLATFORM_RESPONSE", "REGISTER_RESPONSE", "DROP_REASONS", "FrameError", "Message", "Location",
    "Registration", "escape", "unescape", "check_code", "encode", "encode_message", "decode_frame",
    "split", "Reassembler", "StreamDecoder", "decode_location", "location_values", "encode_location",
    "decode_batch_location", "encode_batch_location", "decode_registration", "encode_registration",
    "encode_register_response", "decode_register_response", "decode_auth", "encode_auth",
    "encode_general_response", "decode_general_response", "platform_response", "MAX_BODY", "TZ_BEIJING",
]

TERMINAL_RESPONSE = 0x0001
HEARTBEAT = 0x0002
REGISTER = 0x0100
AUTH = 0x0102
LOCATION = 0x0200
BATCH_LOCATION = 0x0704
PLATFORM_RESPONSE = 0x8001
REGISTER_RESPONSE = 0x8100

#: Largest body one frame carries (10 bits of the body properties).
MAX_BODY = 0x3FF
#: Terminal times are BCD in GMT+8.
TZ_BEIJING = dt.timezone(dt.timedelta(hours=8))
#: Why the stream decoder dropped bytes; every drop counts under exactly one reason.
DROP_REASONS = {
    "junk": "bytes outside any 0x7e ... 0x7e frame",
    "truncated": "the frame is shorter than its header and check code",
    "bad_escape": "0x7d followed by something other than 0x01 or 0x02",
    "check_code": "the XOR check code does not match",
    "length": "the body length in the header differs from the body carried",
    "bad_header": "the terminal number is not BCD digits, or a sub-package number is impossible",
    "too_long": "no closing 0x7e within the longest frame the protocol allows",
}
_HEADER_2013 = 12
_HEADER_2019 = 17
# longest escaped content between the flags: 2019 header + sub-package fields + body + check, all doubled
_MAX_ESCAPED = 2 * (_HEADER_2019 + 4 + MAX_BODY + 1)


class FrameError(ValueError):
    """A frame or body that cannot be read; ``reason`` is a key of :data:`DROP_REASONS` or ``bad_body``.

    >>> try:
    ...     decode_frame(bytes.fromhex("7e000200000138001380000007b97e"))
    ... except FrameError as e:
    ...     print(e.reason)
    check_code
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Message:
    """One decoded frame (or a reassembled message).

    ``version`` is ``None`` for a 2013 header, the protocol version byte for 2019.
    ``total``/``seq`` are 0 unless the frame is one sub-package of a longer message.
    ``phone`` keeps the BCD digits as sent; ``terminal`` drops leading zeros.

    >>> Message(HEARTBEAT, "13800138000", 7, b"").terminal
    '13800138000'
    """

    msg_id: int
    phone: str
    serial: int
    body: bytes
    version: int | None = None
    encryption: int = 0
    total: int = 0
    seq: int = 0

    @property
    def terminal(self) -> str:
        return self.phone.lstrip("0") or "0"


def frozen_constructor(cls: type) -> Callable[..., object]:
    """A constructor of the frozen dataclass *cls* from all its fields, in order: the same object as ``cls(*values)``
    without the generated ``__init__``'s one ``object.__setattr__`` per field (the per-fix hot path; a third of
    the time).

    >>> frozen_constructor(Message)(HEARTBEAT, "1", 7, b"", None, 0, 0, 0) == Message(HEARTBEAT, "1", 7, b"")
    True
    """
    names = [f.name for f in fields(cls)]
    args = ", ".join(f"v{i}" for i in range(len(names)))
    values = ", ".join(f"{name!r}: v{i}" for i, name in enumerate(names))
    scope = {"new": object.__new__, "set_": object.__setattr__, "cls": cls}
    # one dict display and one __dict__ assignment (as dataclasses builds __init__, from generated text)
    exec(f"def make({args}):\n    obj = new(cls)\n    set_(obj, '__dict__', {{{values}}})\n    return obj", scope)
    make = scope["make"]
    return make


_message = frozen_constructor(Message)


# --------------------------------------------------------------------------- framing
def escape(data: bytes) -> bytes:
    """Escape 0x7d and 0x7e for the wire.

    >>> escape(bytes([0x30, 0x7e, 0x08, 0x7d, 0x55])).hex()
    '307d02087d0155'
    """
    return data.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")


def unescape(data: bytes) -> bytes:
    """Undo :func:`escape`; raise :class:`FrameError` (``bad_escape``) on a stray 0x7d.

    >>> unescape(bytes.fromhex("307d02087d0155")).hex()
    '307e087d55'
    """
    data = bytes(data)
    n = data.count(b"\x7d")
    if not n:
        return data
    # every 0x7d must open a pair 7d01 / 7d02 (they cannot overlap); then the pairs are exactly those matches
    if n != data.count(b"\x7d\x01") + data.count(b"\x7d\x02"):
        raise FrameError("bad_escape", "0x7d must be followed by 0x01 or 0x02")
    return data.replace(b"\x7d\x02", b"\x7e").replace(b"\x7d\x01", b"\x7d")


def check_code(data: bytes) -> int:
    """XOR of all bytes.

    >>> check_code(bytes([1, 2, 4]))
    7
    """
    value = 0
    for b in data:      # a plain loop: faster than struct words or numpy for frames of tens of bytes
        value ^= b
    return value


def _bcd_encode(digits: str, n: int) -> bytes:
    found = _BCD_CACHE.get((digits, n))
    if found is not None:
        return found
    if not digits.isdigit() or len(digits) > 2 * n:
        raise ValueError(f"terminal number {digits!r} is not at most {2 * n} digits")
    if len(_BCD_CACHE) >= _CACHE_MAX:
        _BCD_CACHE.clear()
    found = _BCD_CACHE[(digits, n)] = bytes.fromhex(digits.rjust(2 * n, "0"))
    return found


#: Entries of each small hot-path cache (terminal numbers, times) before it starts over.
_CACHE_MAX = 1 << 16
_BCD_CACHE: dict[tuple[str, int], bytes] = {}


def _bcd_decode(raw: bytes, what: str) -> str:
    text = raw.hex()
    if not text.isdigit():
        raise FrameError("bad_header", f"{what} {text} is not BCD")
    return text


def encode_message(msg: Message) -> bytes:
    """The frame (flags, escaping, check code) of a :class:`Message`.

    >>> encode_message(Message(HEARTBEAT, "13800138000", 7, b"")) == encode(HEARTBEAT, "13800138000", 7)
    True
    """
    return encode(msg.msg_id, msg.phone, msg.serial, msg.body, version=msg.version,
                  encryption=msg.encryption, total=msg.total, seq=msg.seq)


def encode(msg_id: int, phone: str, serial: int, body: bytes = b"", *, version: int | None = None,
           encryption: int = 0, total: int = 0, seq: int = 0) -> bytes:
    """Build one frame.

    Parameters
    ----------
    msg_id : int
    phone : str
        Terminal number, digits (left-padded with zeros to 12 or 20 digits).
    serial : int
        Message serial number (0-65535).
    body : bytes
        At most :data:`MAX_BODY` bytes (use :func:`split` for longer ones).
    version : int, optional
        ``None``: 2013 header; an int: 2019 header with this protocol version byte.
    total, seq : int
        Sub-package total and 1-based sequence number (0: not split).

    >>> encode(HEARTBEAT, "1", 1, version=1).hex()
    '7e0002400001000000000000000000010001437e'
    """
    if len(body) > MAX_BODY:
        raise ValueError(f"body of {len(body)} bytes exceeds {MAX_BODY}; split it into sub-packages")
    props = len(body) | (encryption & 0x7) << 10
    if total:
        props |= 0x2000
    if version is not None:
        props |= 0x4000
    if version is not None:
        head = _WORD2.pack(msg_id, props) + bytes((version & 0xFF,)) + _bcd_encode(phone, 10)
    else:
        head = _WORD2.pack(msg_id, props) + _bcd_encode(phone, 6)
    if total:
        head += _WORD3.pack(serial & 0xFFFF, total, seq)
    else:
        head += _WORD1.pack(serial & 0xFFFF)
    content = head + body
    return b"\x7e" + escape(content + bytes((check_code(content),))) + b"\x7e"


_WORD1, _WORD2, _WORD3 = struct.Struct(">H"), struct.Struct(">HH"), struct.Struct(">HHH")


def decode_frame(frame: bytes) -> Message:
    """Read one frame, with or without its 0x7e flags; raise :class:`FrameError` if it is bad.

    >>> decode_frame(bytes.fromhex("7e000200000138001380000007af7e")).serial
    7
    >>> decode_frame(bytes.fromhex("7e000200000138001380000007b97e"))
    Traceback (most recent call last):
    ...
    gridlib.live.jt808.FrameError: check code 0xb9, computed 0xaf
    """
    if frame[:1] == b"\x7e":
        frame = frame[1:]
    if frame[-1:] == b"\x7e":
        frame = frame[:-1]
    data = unescape(frame)
    if len(data) < _HEADER_2013 + 1:
        raise FrameError("truncated", f"{len(data)} bytes is shorter than the shortest header")
    if check_code(data):        # the XOR of content and check code is 0 exactly when the check code matches
        check, computed = data[-1], check_code(data[:-1])
        raise FrameError("check_code", f"check code {check:#04x}, computed {computed:#04x}")
    content = data[:-1]
    msg_id, props = _WORD2.unpack_from(content)
    length, encryption = props & 0x3FF, (props >> 10) & 0x7
    if props & 0x4000:
        if len(content) < _HEADER_2019:
            raise FrameError("truncated", f"{len(content)} bytes is shorter than a 2019 header")
        version: int | None = content[4]
        raw_phone, pos = content[5:15], 15
    else:
        version = None
        raw_phone, pos = content[4:10], 10
    phone = _PHONES.get(raw_phone)
    if phone is None:
        phone = _bcd_decode(raw_phone, "terminal number")
        if len(_PHONES) >= _CACHE_MAX:
            _PHONES.clear()
        _PHONES[bytes(raw_phone)] = phone
    serial, = _WORD1.unpack_from(content, pos)
    pos += 2
    total = seq = 0
    if props & 0x2000:
        if len(content) < pos + 4:
            raise FrameError("truncated", "the sub-package fields are missing")
        total, seq = _WORD2.unpack_from(content, pos)
        pos += 4
        if not 1 <= seq <= total:
            raise FrameError("bad_header", f"sub-package {seq} of {total}")
    if len(content) - pos != length:
        raise FrameError("length", f"header says {length} body bytes, frame carries {len(content) - pos}")
    return _message(msg_id, phone, serial, bytes(content[pos:]), version, encryption, total, seq)


_PHONES: dict[bytes, str] = {}      # BCD terminal number → its digits (decode_frame)


def split(msg_id: int, phone: str, first_serial: int, body: bytes, *, version: int | None = None,
          max_body: int = MAX_BODY) -> list[bytes]:
    """Frames of a message, sub-packaged when the body is longer than *max_body*.

    Each package takes the next serial number.

    >>> frames = split(LOCATION, "1", 10, bytes(30), max_body=12)
    >>> r = Reassembler()
    >>> [r.add(decode_frame(f)) for f in frames][-1].body == bytes(30), len(frames)
    (True, 3)
    """
    if len(body) <= max_body:
        return [encode(msg_id, phone, first_serial, body, version=version)]
    chunks = [body[i:i + max_body] for i in range(0, len(body), max_body)]
    return [encode(msg_id, phone, (first_serial + i) & 0xFFFF, chunk, version=version, total=len(chunks), seq=i + 1)
            for i, chunk in enumerate(chunks)]


@dataclass
class Reassembler:
    """Joins sub-packages into whole messages (per terminal and message id).

    A new first package of the same message restarts it; incomplete messages are kept
    up to ``max_pending`` (the oldest is forgotten beyond that).

    >>> r = Reassembler()
    >>> parts = [decode_frame(f) for f in split(LOCATION, "1", 1, bytes(20), max_body=8)]
    >>> [r.add(p) is None for p in parts]
    [True, True, False]
    """

    max_pending: int = 64
    _pending: dict[tuple[str, int, int], dict[int, Message]] = field(default_factory=dict)

    def add(self, msg: Message) -> Message | None:
        """The whole message once its last package arrived, the message itself if not split, else None."""
        if not msg.total:
            return msg
        first_serial = (msg.serial - (msg.seq - 1)) & 0xFFFF
        key = (msg.phone, msg.msg_id, first_serial)
        parts = self._pending.setdefault(key, {})
        parts[msg.seq] = msg
        if len(parts) < msg.total:
            while len(self._pending) > self.max_pending:
                self._pending.pop(next(iter(self._pending)))
            return None
        del self._pending[key]
        body = b"".join(parts[i].body for i in range(1, msg.total + 1))
        first = parts[1]
        return Message(msg.msg_id, msg.phone, first.serial, body, msg.version, msg.encryption)


@dataclass
class StreamDecoder:
    """Incremental decoder for a TCP byte stream.

    ``feed(chunk)`` returns the whole frames completed by *chunk*. A bad frame is dropped,
    counted in ``drops`` by reason (:data:`DROP_REASONS`) and its bytes in ``dropped_bytes``;
    decoding resumes at the next 0x7e. The closing flag of a bad frame is kept as the possible
    opening flag of the next one, so one damaged frame never takes a good one with it.

    >>> s = StreamDecoder()
    >>> frame = encode(HEARTBEAT, "1", 3)
    >>> [m.serial for m in s.feed(frame[:4])], [m.serial for m in s.feed(frame[4:])], s.pending
    ([], [3], 0)
    """

    drops: dict[str, int] = field(default_factory=dict)
    dropped_bytes: int = 0
    frames: int = 0
    _buf: bytearray = field(default_factory=bytearray)

    def _drop(self, reason: str, n: int) -> None:
        self.drops[reason] = self.drops.get(reason, 0) + 1
        self.dropped_bytes += n
        del self._buf[:n]

    @property
    def pending(self) -> int:
        """Bytes held for a frame not yet complete."""
        return len(self._buf)

    def feed(self, chunk: bytes) -> list[Message]:
        buf = self._buf
        if not buf and chunk[:1] == b"\x7e" and chunk.find(0x7e, 1) == len(chunk) - 1 > 1 \
                and len(chunk) <= _MAX_ESCAPED + 2:   # exactly one whole frame (a terminal's usual read)
            try:
                msg = decode_frame(chunk[1:-1])
            except FrameError as exc:
                self._drop(exc.reason, len(chunk) - 1)   # as below: the closing flag may open the next frame
                buf += b"\x7e"
                return []
            self.frames += 1
            return [msg]
        buf += chunk
        out: list[Message] = []
        while buf:
            start = buf.find(0x7e)
            if start < 0:
                self._drop("junk", len(buf))
                break
            if start > 0:
                self._drop("junk", start)
            end = buf.find(0x7e, 1)
            if end < 0:
                if len(buf) > _MAX_ESCAPED + 1:
                    self._drop("too_long", len(buf))
                break
            if end > _MAX_ESCAPED + 1:
                self._drop("too_long", end)
                continue
            if end == 1:        # "7e7e": the first flag closed nothing; the second opens the frame
                self.dropped_bytes += 1
                del buf[:1]
                continue
            try:
                msg = decode_frame(bytes(buf[1:end]))
            except FrameError as exc:
                self._drop(exc.reason, end)
                continue
            del buf[:end + 1]
            self.frames += 1
            out.append(msg)
        return out


# --------------------------------------------------------------------------- bodies
# value of a BCD byte (two decimal digits), -1 where a nibble is not a digit
_BCD_BYTE = tuple((b >> 4) * 10 + (b & 0xF) if b >> 4 <= 9 and b & 0xF <= 9 else -1 for b in range(256))


def _bcd_time(raw: bytes) -> dt.datetime:
    """BCD[6] YYMMDDhhmmss in GMT+8 (YY < 69: 20YY, else 19YY, as ``strptime``'s ``%y``); no strptime: hot path.

    >>> _bcd_time(bytes.fromhex("261120083005")).isoformat()
    '2026-11-20T08:30:05+08:00'
    """
    found = _TIMES.get(raw)
    if found is not None:
        return found
    try:
        if len(raw) != 6:
            raise ValueError(raw)
        yy, month, day, hour, minute, second = (_BCD_BYTE[b] for b in raw)
        if min(yy, month, day, hour, minute, second) < 0:
            raise ValueError(raw)
        found = dt.datetime(yy + (2000 if yy < 69 else 1900), month, day, hour, minute, second, tzinfo=TZ_BEIJING)
    except ValueError:
        raise FrameError("bad_body", f"time {bytes(raw).hex()} is not BCD YYMMDDhhmmss") from None
    if len(_TIMES) >= _CACHE_MAX:
        _TIMES.clear()
    _TIMES[bytes(raw)] = found      # the fixes of one second share their time (datetimes are immutable)
    return found


_TIMES: dict[bytes, dt.datetime] = {}


def _time_bcd(t: dt.datetime) -> bytes:
    if t.tzinfo is not None:
        t = t.astimezone(TZ_BEIJING)
    return bytes.fromhex(f"{t.year % 100:02d}{t.month:02d}{t.day:02d}{t.hour:02d}{t.minute:02d}{t.second:02d}")


@dataclass(frozen=True)
class Location:
    """A location report body (0x0200), in plain units.

    ``time`` is tz-aware (GMT+8, as the terminal sends it). Latitude/longitude are
    signed degrees (status bits 2/3 give south/west). ``extra`` holds additional items
    not decoded here, by id.

    >>> import datetime as dt
    >>> loc = Location(121.5, 31.24, dt.datetime(2026, 11, 20, 8, 0, tzinfo=TZ_BEIJING), speed_kmh=36.5)
    >>> loc.positioned, loc.speed_kmh
    (True, 36.5)
    """

    lon: float
    lat: float
    time: dt.datetime
    speed_kmh: float = 0.0
    direction: int = 0
    altitude_m: int = 0
    alarm: int = 0
    status: int = 0x2          # bit 1: positioned
    mileage_km: float | None = None
    signal: int | None = None
    satellites: int | None = None
    extra: tuple[tuple[int, bytes], ...] = ()

    @property
    def positioned(self) -> bool:
        return bool(self.status & 0x2)


_LOCATION_HEAD = struct.Struct(">IIIIhHH")     # alarm, status, lat, lon, altitude, speed, direction
# the usual body: the head, BCD time, then mileage (0x01, 4 bytes), signal (0x30, 1) and satellites (0x31, 1) items
_LOCATION_USUAL = struct.Struct(">IIIIhHH6s2sI2sB2sB")
_USUAL_ITEMS = (b"\x01\x04", b"\x30\x01", b"\x31\x01")
_location = frozen_constructor(Location)


def location_values(body: bytes) -> tuple:
    """The fields of a 0x0200 body in :class:`Location` order (``lon, lat, time, speed_kmh, direction, altitude_m,
    alarm, status, mileage_km, signal, satellites, extra``) without building the object (the gateway's per-fix path).
    The usual body (mileage, signal and satellites items, in that order) is read with one ``struct`` call.

    >>> import datetime as dt
    >>> loc = Location(121.5, 31.24, dt.datetime(2026, 11, 20, 8, 0, tzinfo=TZ_BEIJING), 36.5, 90, 12,
    ...                mileage_km=1234.5, signal=20, satellites=9)
    >>> location_values(encode_location(loc)) == tuple(getattr(loc, f.name) for f in fields(Location))
    True
    """
    if len(body) == 40:
        (alarm, status, lat_e6, lon_e6, altitude, speed_dkmh, direction, raw_time, i1, mileage, i2, signal, i3,
         satellites) = _LOCATION_USUAL.unpack(body)
        if (i1, i2, i3) == _USUAL_ITEMS:
            lat, lon = lat_e6 / 1e6, lon_e6 / 1e6
            if status & 0x4:
                lat = -lat
            if status & 0x8:
                lon = -lon
            time = _TIMES.get(raw_time)
            if time is None:
                time = _bcd_time(raw_time)
            return (lon, lat, time, speed_dkmh / 10, direction, altitude, alarm, status, mileage / 10, signal,
                    satellites, ())
    if len(body) < 28:
        raise FrameError("bad_body", f"location body of {len(body)} bytes, at least 28 needed")
    alarm, status, lat_e6, lon_e6, altitude, speed_dkmh, direction = _LOCATION_HEAD.unpack_from(body)
    lat, lon, speed = lat_e6 / 1e6, lon_e6 / 1e6, speed_dkmh / 10
    if status & 0x4:
        lat = -lat
    if status & 0x8:
        lon = -lon
    time = _bcd_time(body[22:28])
    mileage = signal = satellites = None
    extra = []
    pos = 28
    while pos < len(body):
        if pos + 2 > len(body):
            raise FrameError("bad_body", f"additional item header cut at byte {pos}")
        item, n = body[pos], body[pos + 1]
        value = body[pos + 2:pos + 2 + n]
        if len(value) != n:
            raise FrameError("bad_body", f"additional item {item:#04x} says {n} bytes, {len(value)} left")
        if item == 0x01 and n == 4:
            mileage = int.from_bytes(value, "big") / 10
        elif item == 0x30 and n == 1:
            signal = value[0]
        elif item == 0x31 and n == 1:
            satellites = value[0]
        else:
            extra.append((item, bytes(value)))
        pos += 2 + n
    return lon, lat, time, speed, direction, altitude, alarm, status, mileage, signal, satellites, tuple(extra)


def decode_location(body: bytes) -> Location:
    """Read a 0x0200 body (28 bytes + additional items).

    >>> import datetime as dt
    >>> loc = Location(121.5, 31.24, dt.datetime(2026, 11, 20, 8, 0, tzinfo=TZ_BEIJING), 36.5, 90, 12,
    ...                mileage_km=1234.5, signal=20, satellites=9)
    >>> decode_location(encode_location(loc)) == loc
    True
    """
    return _location(*location_values(body))


def encode_location(loc: Location) -> bytes:
    """The 0x0200 body of *loc* (inverse of :func:`decode_location`).

    >>> import datetime as dt
    >>> len(encode_location(Location(121.5, 31.24, dt.datetime(2026, 11, 20, 8, 0, tzinfo=TZ_BEIJING))))
    28
    """
    status = loc.status & ~0xC | (0x4 if loc.lat < 0 else 0) | (0x8 if loc.lon < 0 else 0)
    out = bytearray()
    out += loc.alarm.to_bytes(4, "big") + status.to_bytes(4, "big")
    out += round(abs(loc.lat) * 1e6).to_bytes(4, "big") + round(abs(loc.lon) * 1e6).to_bytes(4, "big")
    out += int(loc.altitude_m).to_bytes(2, "big", signed=True)
    out += round(loc.speed_kmh * 10).to_bytes(2, "big") + int(loc.direction).to_bytes(2, "big")
    out += _time_bcd(loc.time)
    if loc.mileage_km is not None:
        out += b"\x01\x04" + round(loc.mileage_km * 10).to_bytes(4, "big")
    if loc.signal is not None:
        out += bytes([0x30, 1, loc.signal])
    if loc.satellites is not None:
        out += bytes([0x31, 1, loc.satellites])
    for item, value in loc.extra:
        out += bytes([item, len(value)]) + value
    return bytes(out)


def decode_batch_location(body: bytes) -> tuple[int, list[Location]]:
    """Read a 0x0704 body: ``(kind, locations)``; kind 0 = regular batch, 1 = blind-area resend.

    >>> import datetime as dt
    >>> t = dt.datetime(2026, 11, 20, 8, 0, tzinfo=TZ_BEIJING)
    >>> kind, locs = decode_batch_location(encode_batch_location([Location(121.5, 31.2, t)] * 2, kind=1))
    >>> kind, len(locs)
    (1, 2)
    """
    if len(body) < 3:
        raise FrameError("bad_body", f"batch body of {len(body)} bytes, at least 3 needed")
    count, kind = int.from_bytes(body[0:2], "big"), body[2]
    pos, out = 3, []
    for i in range(count):
        n = int.from_bytes(body[pos:pos + 2], "big")
        item = body[pos + 2:pos + 2 + n]
        if pos + 2 > len(body) or len(item) != n:
            raise FrameError("bad_body", f"batch item {i + 1} of {count} is cut")
        out.append(decode_location(item))
        pos += 2 + n
    if pos != len(body):
        raise FrameError("bad_body", f"{len(body) - pos} bytes after the {count} batch items")
    return kind, out


def encode_batch_location(locations: Iterable[Location], *, kind: int = 0) -> bytes:
    """The 0x0704 body of *locations* (see :func:`decode_batch_location`).

    >>> import datetime as dt
    >>> body = encode_batch_location([Location(121.5, 31.2, dt.datetime(2026, 11, 20, 8, 0, tzinfo=TZ_BEIJING))])
    >>> int.from_bytes(body[:2], "big"), body[2]
    (1, 0)
    """
    items = [encode_location(loc) for loc in locations]
    return (len(items).to_bytes(2, "big") + bytes([kind])
            + b"".join(len(i).to_bytes(2, "big") + i for i in items))


@dataclass(frozen=True)
class Registration:
    """A registration body (0x0100); field widths differ between 2013 and 2019.

    >>> Registration(31, 115, "GRID", "M1", "T0001", 2, "沪A12345").plate
    '沪A12345'
    """

    province: int = 0
    city: int = 0
    maker: str = ""
    model: str = ""
    device_id: str = ""
    plate_color: int = 0
    plate: str = ""


# (maker, model, device id) widths
_REG_WIDTHS = {False: (5, 20, 7), True: (11, 30, 30)}


def _fixed(text: str, n: int) -> bytes:
    raw = text.encode("gbk")[:n]
    return raw + bytes(n - len(raw))


def _text(raw: bytes) -> str:
    return raw.rstrip(b"\x00").decode("gbk", errors="replace").strip()


def decode_registration(body: bytes, version: int | None = None) -> Registration:
    """Read a 0x0100 body (2013 layout when *version* is None, else 2019).

    >>> reg = Registration(31, 115, "GRID", "M1", "T0001", 2, "沪A12345")
    >>> decode_registration(encode_registration(reg, 1), 1) == reg
    True
    >>> decode_registration(encode_registration(reg)) == reg
    True
    """
    maker_n, model_n, dev_n = _REG_WIDTHS[version is not None]
    fixed = 4 + maker_n + model_n + dev_n + 1
    if len(body) < fixed:
        raise FrameError("bad_body", f"registration body of {len(body)} bytes, at least {fixed} needed")
    pos = 4
    parts = []
    for n in (maker_n, model_n, dev_n):
        parts.append(_text(body[pos:pos + n]))
        pos += n
    return Registration(int.from_bytes(body[0:2], "big"), int.from_bytes(body[2:4], "big"), *parts,
                        body[pos], _text(body[pos + 1:]))


def encode_registration(reg: Registration, version: int | None = None) -> bytes:
    """The 0x0100 body of *reg* (2013 layout when *version* is None, else 2019).

    >>> len(encode_registration(Registration(31, 115, "GRID", "M1", "T0001", 2, "A1"))) > 30
    True
    """
    maker_n, model_n, dev_n = _REG_WIDTHS[version is not None]
    return (reg.province.to_bytes(2, "big") + reg.city.to_bytes(2, "big") + _fixed(reg.maker, maker_n)
            + _fixed(reg.model, model_n) + _fixed(reg.device_id, dev_n) + bytes([reg.plate_color])
            + reg.plate.encode("gbk"))


def encode_register_response(serial: int, result: int, auth_code: str = "") -> bytes:
    """0x8100 body: the registration's serial, result (0 ok, 1 vehicle taken, 2 no such vehicle,
    3 terminal taken, 4 no such terminal) and, on success, the auth code.

    >>> decode_register_response(encode_register_response(5, 0, "abc"))
    (5, 0, 'abc')
    """
    return serial.to_bytes(2, "big") + bytes([result]) + (auth_code.encode("gbk") if result == 0 else b"")


def decode_register_response(body: bytes) -> tuple[int, int, str]:
    """``(serial, result, auth_code)`` of a 0x8100 body.

    >>> decode_register_response(encode_register_response(5, 0, "abc"))
    (5, 0, 'abc')
    """
    if len(body) < 3:
        raise FrameError("bad_body", "registration response shorter than 3 bytes")
    return int.from_bytes(body[0:2], "big"), body[2], _text(body[3:])


def encode_auth(code: str, version: int | None = None, *, imei: str = "", software: str = "") -> bytes:
    """0x0102 body: the auth code (2013), or its length, code, IMEI[15] and software version[20] (2019).

    >>> decode_auth(encode_auth("abc", 1, imei="861234567890123"), 1)
    'abc'
    >>> decode_auth(encode_auth("abc"))
    'abc'
    """
    raw = code.encode("gbk")
    if version is None:
        return raw
    return bytes([len(raw)]) + raw + _fixed(imei, 15) + _fixed(software, 20)


def decode_auth(body: bytes, version: int | None = None) -> str:
    """The auth code of a 0x0102 body.

    >>> decode_auth(encode_auth("abc"))
    'abc'
    """
    if version is None:
        return _text(body)
    if not body or len(body) < 1 + body[0]:
        raise FrameError("bad_body", "authentication body shorter than its code length")
    return _text(body[1:1 + body[0]])


def encode_general_response(serial: int, msg_id: int, result: int = 0) -> bytes:
    """0x8001 / 0x0001 body: the answered message's serial and id, and the result
    (0 ok, 1 failure, 2 message wrong, 3 not supported, 4 alarm confirmed).

    >>> decode_general_response(encode_general_response(9, LOCATION))
    (9, 512, 0)
    """
    return serial.to_bytes(2, "big") + msg_id.to_bytes(2, "big") + bytes([result])


def platform_response(phone: str, serial: int, answered_serial: int, answered_id: int, result: int = 0, *,
                      version: int | None = None) -> bytes:
    """The frame of a platform general response (0x8001): ``encode(PLATFORM_RESPONSE, phone, serial,
    encode_general_response(answered_serial, answered_id, result), version=version)``, from a cached header per
    terminal (one per acknowledged message: the gateway's per-fix path).

    >>> platform_response("13800138000", 3, 7, LOCATION, 0) == encode(PLATFORM_RESPONSE, "13800138000", 3,
    ...                                                          encode_general_response(7, LOCATION, 0))
    True
    """
    head = _ACK_HEADS.get((phone, version))
    if head is None:
        if len(_ACK_HEADS) >= _CACHE_MAX:
            _ACK_HEADS.clear()
        raw = encode(PLATFORM_RESPONSE, phone, 0, bytes(5), version=version)
        content = unescape(raw[1:-1])[:-8]         # message id, properties, version, phone (without serial, body)
        head = _ACK_HEADS[(phone, version)] = (escape(content), check_code(content))
    tail = _ACK_TAIL.pack(serial & 0xFFFF, answered_serial & 0xFFFF, answered_id & 0xFFFF, result)
    words = (serial ^ answered_serial ^ answered_id) & 0xFFFF
    tail += bytes(((words >> 8) ^ (words & 0xFF) ^ result ^ head[1],))
    if b"\x7d" in tail or b"\x7e" in tail:
        tail = escape(tail)
    return b"\x7e" + head[0] + tail + b"\x7e"


_ACK_TAIL = struct.Struct(">HHHB")
_ACK_HEADS: dict[tuple[str, int | None], tuple[bytes, int]] = {}     # (phone, version) → escaped head, its XOR


def decode_general_response(body: bytes) -> tuple[int, int, int]:
    """``(serial, msg_id, result)`` of a general response body.

    >>> decode_general_response(encode_general_response(7, LOCATION))
    (7, 512, 0)
    """
    if len(body) != 5:
        raise FrameError("bad_body", f"general response of {len(body)} bytes, 5 expected")
    return int.from_bytes(body[0:2], "big"), int.from_bytes(body[2:4], "big"), body[4]
