"""Simulated JT/T 808 terminals: drive GPS fixes (e.g. ``simulate_fleet`` trips) into a gateway over TCP.

Each vehicle gets one asyncio TCP connection that registers (0x0100, its plate as the vehicle),
authenticates (0x0102) and then sends its fixes as location reports (0x0200, or 0x0704 batches
of ``batch`` fixes) on the fixes' own clock, ``speedup`` times faster than real time. Like a real
terminal it waits for the platform's general response (0x8001) to each report, matched by serial
and message id, before it sends the next one, and resends a report that is not acknowledged within
``ack_timeout_s``. The acknowledgement latency of every report is recorded.

Real terminals do not report in step: each vehicle's clock is shifted by a random phase within
its reporting interval (``spread=True``), so 5,000 vehicles at 10 s give 500 reports a second,
not 5,000 every tenth second. The fix time in a report stays the fix's own time.

:func:`fleet_fixes` makes a fleet whose vehicles all drive from a given start time on; the CLI
``gridlib trucks simulate-terminals`` runs both against a running ``gridlib serve``.

>>> import asyncio, os, tempfile
>>> from gridlib.live.gateway import FixStore, Jt808Gateway
>>> fixes = pd.DataFrame({"vehicle_id": ["沪D1"] * 3, "lon": [121.5, 121.501, 121.502], "lat": [31.2] * 3,
...                       "time": pd.date_range("2026-11-20 08:00", periods=3, freq="10s")})
>>> async def demo():
...     store = FixStore(os.path.join(tempfile.mkdtemp(), "f.sqlite"))
...     gw = Jt808Gateway(store)
...     server = await gw.start("127.0.0.1", 0)
...     fleet = TerminalFleet(fixes, "127.0.0.1", server.sockets[0].getsockname()[1])
...     await fleet.connect()
...     stats = await fleet.drive(speedup=100)
...     await fleet.close(); await gw.close(); server.close(); store.close()
...     return stats.acked, stats.failed
>>> asyncio.run(demo())
(3, 0)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gridlib.errors import InputError
from gridlib.live import jt808

__all__ = ["TerminalFleet", "DriveStats", "fleet_fixes", "simulated_fleet", "phone_of"]

_EARTH_M = 6_371_008.8


def phone_of(index: int, base: int = 10_000_000_000) -> str:
    """The terminal number (11 digits, like a SIM number) of simulated terminal *index*.

    >>> phone_of(7)
    '10000000007'
    """
    return str(base + index)


def fleet_fixes(n_vehicles: int, *, start: str = "2026-11-20 07:00", span_s: float = 3600, interval_s: int = 10,
                seed: int = 0, roads: Any = None) -> tuple[pd.DataFrame, pd.Timestamp]:
    """A ``simulate_fleet`` fleet on the demo roads in which every vehicle reports from *start* for *span_s*.

    ``simulate_fleet`` starts shifts within the first half hour of the permitted hours and ends
    them in the last 20 minutes, so the hours asked for are *start* − 30 min to *start* + *span_s*
    + 20 min; the fixes returned are those from *start* on. Returns ``(fixes, start)``
    (:func:`simulated_fleet` gives the fleet's permits and sites too).

    >>> fixes, t0 = fleet_fixes(3, span_s=60, seed=1)
    >>> fixes["vehicle_id"].nunique(), bool((fixes["time"] >= t0).all()), int(fixes.groupby("vehicle_id").size().min())
    (3, True, 7)
    """
    fleet, t0 = simulated_fleet(n_vehicles, start=start, span_s=span_s, interval_s=interval_s, seed=seed, roads=roads)
    return fleet.fixes, t0


def simulated_fleet(n_vehicles: int, *, start: str = "2026-11-20 07:00", span_s: float = 3600,
                    interval_s: int = 10, seed: int = 0, roads: Any = None) -> tuple[Any, pd.Timestamp]:
    """:func:`fleet_fixes` with the whole :class:`~gridlib.trucks.simulate.Fleet` (its ``fixes`` cut to *start* on):
    the permits (corridors, hours) and sites a live monitor checks the fixes against. Returns ``(fleet, start)``.

    >>> fleet, t0 = simulated_fleet(3, span_s=60, seed=1)
    >>> sorted(fleet.permits["vehicle_id"]) == sorted(fleet.fixes["vehicle_id"].unique())
    True
    """
    from dataclasses import replace

    from gridlib import datasets
    from gridlib.trucks.simulate import simulate_fleet

    t0 = pd.Timestamp(start)
    if not 0 < span_s <= 22 * 3600:
        raise InputError(f"the simulated span must be between 0 and 22 hours, got {span_s:g} s")
    h0 = (t0 - pd.Timedelta(minutes=30)).floor("min")
    h1 = (t0 + pd.Timedelta(seconds=span_s) + pd.Timedelta(minutes=21)).ceil("min")
    fleet = simulate_fleet(datasets.demo_roads() if roads is None else roads, n_vehicles,
                           date=h0.strftime("%Y-%m-%d"), interval_s=interval_s, seed=seed,
                           hours=(h0.strftime("%H:%M"), h1.strftime("%H:%M")))
    fixes = fleet.fixes
    keep = (fixes["time"] >= t0) & (fixes["time"] <= t0 + pd.Timedelta(seconds=span_s))
    return replace(fleet, fixes=fixes[keep.to_numpy()].reset_index(drop=True)), t0


@dataclass
class DriveStats:
    """What one :meth:`TerminalFleet.drive` did: reports sent and acknowledged, latencies, lag.

    >>> DriveStats(wall_s=10.0, due=50, sent=50, acked=50).summary()["fixes_per_s"]
    5.0
    """

    wall_s: float = 0.0
    due: int = 0                  # fixes whose (phase-shifted) time fell in the window
    sent: int = 0                 # fixes sent (acknowledged or not)
    acked: int = 0                # fixes acknowledged with result 0
    failed: int = 0               # fixes acknowledged with another result
    reports: int = 0              # location messages sent (a 0x0704 carries several fixes)
    resends: int = 0
    lost: int = 0                 # reports never acknowledged after all resends
    latencies_ms: list[float] = field(default_factory=list)
    behind_ms: list[float] = field(default_factory=list)   # how late each report left after its due time

    def summary(self) -> dict[str, Any]:
        """A flat dict of the figures (latency percentiles in ms, fixes per second).

        >>> DriveStats(wall_s=2.0, acked=10, latencies_ms=[1.0, 3.0]).summary()["ack_p50_ms"]
        2.0
        """
        lat, behind = np.asarray(self.latencies_ms), np.asarray(self.behind_ms)

        def pct(a: np.ndarray, q: float) -> float | None:
            return round(float(np.percentile(a, q)), 2) if len(a) else None

        return {"wall_s": round(self.wall_s, 2), "due": self.due, "sent": self.sent, "acked": self.acked,
                "failed": self.failed, "reports": self.reports, "resends": self.resends, "lost": self.lost,
                "offered_fixes_per_s": round(self.due / self.wall_s, 1) if self.wall_s else None,
                "fixes_per_s": round(self.acked / self.wall_s, 1) if self.wall_s else None,
                "ack_p50_ms": pct(lat, 50), "ack_p99_ms": pct(lat, 99),
                "ack_max_ms": round(float(lat.max()), 2) if len(lat) else None,
                "behind_p50_ms": pct(behind, 50), "behind_p99_ms": pct(behind, 99)}


class _Terminal:
    """One simulated terminal: its connection, fixes (seconds since the epoch) and cursor."""

    def __init__(self, phone: str, vehicle: str, t: np.ndarray, lon: np.ndarray, lat: np.ndarray,
                 speed: np.ndarray, heading: np.ndarray, phase: float) -> None:
        self.phone, self.vehicle, self.phase = phone, vehicle, phase
        self.t, self.lon, self.lat, self.speed, self.heading = t, lon, lat, speed, heading
        self.bodies = _location_bodies(t, lon, lat, speed, heading)
        self.cursor, self.serial = 0, 0
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.decoder = jt808.StreamDecoder()
        self.inbox: list[jt808.Message] = []
        self.acked: list[int] = []       # indexes of the fixes acknowledged with result 0

    def next_serial(self) -> int:
        self.serial = (self.serial + 1) & 0xFFFF
        return self.serial

    def body(self, k: int) -> bytes:
        """The 0x0200 body of fix *k* (equal to ``encode_location(self.location(k))``), packed for all fixes at once."""
        return self.bodies[_BODY_SIZE * k:_BODY_SIZE * (k + 1)]

    def batch_body(self, k: int, j: int) -> bytes:
        """The 0x0704 body of fixes *k* to *j* - 1 (equal to ``encode_batch_location`` of their locations)."""
        items = [self.body(i) for i in range(k, j)]
        return (j - k).to_bytes(2, "big") + b"\x00" + b"".join(len(i).to_bytes(2, "big") + i for i in items)

    def location(self, k: int) -> jt808.Location:
        when = dt.datetime.fromtimestamp(int(self.t[k]), jt808.TZ_BEIJING)
        return jt808.Location(float(self.lon[k]), float(self.lat[k]), when, round(float(self.speed[k]), 1),
                              int(self.heading[k]), 0, 0, 0x3, mileage_km=None, signal=20, satellites=12)

    async def receive(self, msg_id: int, serial: int, want: int = jt808.PLATFORM_RESPONSE) -> jt808.Message:
        """The next reply of type *want* answering (*serial*, *msg_id*); other frames are skipped."""
        assert self.reader is not None
        while True:
            while self.inbox:
                m = self.inbox.pop(0)
                if m.msg_id != want:
                    continue
                body = m.body
                if int.from_bytes(body[0:2], "big") == serial and (
                        want != jt808.PLATFORM_RESPONSE or int.from_bytes(body[2:4], "big") == msg_id):
                    return m
            chunk = await self.reader.read(65536)
            if not chunk:
                raise ConnectionError(f"terminal {self.phone}: the gateway closed the connection")
            self.inbox += self.decoder.feed(chunk)


_LOCATION_HEAD = struct.Struct(">IIIIhHH")
_DRAIN_ABOVE = 64 * 1024        # bytes waiting in a connection's write buffer before a report waits for it to drain
_EXTRA = bytes([0x30, 1, 20, 0x31, 1, 12])      # signal 20, 12 satellites (as location() says)


_BODY = np.dtype([("alarm", ">u4"), ("status", ">u4"), ("lat", ">u4"), ("lon", ">u4"), ("altitude", ">i2"),
                  ("speed", ">u2"), ("heading", ">u2"), ("time", "u1", 6), ("extra", "u1", len(_EXTRA))])
_BODY_SIZE = _BODY.itemsize


def _location_bodies(t: np.ndarray, lon: np.ndarray, lat: np.ndarray, speed: np.ndarray,
                     heading: np.ndarray) -> bytes:
    """The 0x0200 bodies (:data:`_LOCATION_HEAD`, BCD time, :data:`_EXTRA`) of fixes, :data:`_BODY_SIZE` bytes each,
    concatenated: packed once, so a report costs the client a slice (the load client is the benchmarks' overhead).

    Rounded as ``round`` rounds: half to even, the speed to 0.1 km/h first (exactly, as Python floats).

    >>> b = _location_bodies(np.array([1795134605]), np.array([121.5]), np.array([-31.25]), np.array([36.05]),
    ...                      np.array([90.7]))
    >>> b == _LOCATION_HEAD.pack(0, 0x7, 31_250_000, 121_500_000, 0, 360, 90) + bytes.fromhex("261120083005") + _EXTRA
    True
    """
    out = np.zeros(len(t), dtype=_BODY)
    lon, lat = np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)
    out["status"] = 0x3 | np.where(lat < 0, 0x4, 0) | np.where(lon < 0, 0x8, 0)
    out["lat"] = np.rint(np.abs(lat) * 1e6)
    out["lon"] = np.rint(np.abs(lon) * 1e6)
    out["speed"] = [round(round(s, 1) * 10) for s in np.asarray(speed, dtype=np.float64).tolist()]
    out["heading"] = np.asarray(heading).astype(np.int64)
    out["time"] = np.frombuffer(_bcd_times(t), dtype=np.uint8).reshape(-1, 6)
    out["extra"] = np.frombuffer(_EXTRA, dtype=np.uint8)
    return out.tobytes()


def _bcd_times(t: np.ndarray) -> bytes:
    """BCD[6] YYMMDDhhmmss (GMT+8) of epoch seconds *t*, concatenated (vectorised).

    >>> _bcd_times(np.array([1795134605])).hex()     # 2026-11-20 00:30:05 UTC
    '261120083005'
    """
    local = (np.asarray(t, dtype=np.int64) + 8 * 3600).astype("datetime64[s]")
    days = local.astype("datetime64[D]")
    months = local.astype("datetime64[M]")
    sec = (local - days).astype(np.int64)
    parts = np.stack([(local.astype("datetime64[Y]").astype(np.int64) + 1970) % 100,
                      months.astype(np.int64) % 12 + 1,
                      (days - months).astype(np.int64) + 1,
                      sec // 3600, sec // 60 % 60, sec % 60], axis=1)
    return ((parts // 10) << 4 | parts % 10).astype(np.uint8).tobytes()


def _speed_heading(t: np.ndarray, lon: np.ndarray, lat: np.ndarray, veh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Speed (km/h) and heading (degrees from north) from each fix to the next of the same vehicle."""
    dlon = np.radians(np.diff(lon)) * np.cos(np.radians(lat[:-1]))
    dlat = np.radians(np.diff(lat))
    dist = np.hypot(dlon, dlat) * _EARTH_M
    dt_s = np.maximum(np.diff(t).astype("float64"), 1.0)
    same = veh[1:] == veh[:-1]
    speed = np.r_[np.where(same, dist / dt_s * 3.6, 0.0), 0.0]
    heading = np.r_[np.where(same, np.degrees(np.arctan2(dlon, dlat)) % 360, 0.0), 0.0]
    return np.minimum(speed, 250.0), heading


class TerminalFleet:
    """Many simulated JT/T 808 terminals over TCP, one per vehicle of *fixes*.

    Parameters
    ----------
    fixes : pandas.DataFrame
        ``vehicle_id``, ``time`` (naive local UTC+8, as ``simulate_fleet`` and ``gl.trucks`` use),
        ``lon``, ``lat`` (WGS-84).
    host, port : str, int
        The gateway.
    version : int, optional
        None: 2013 headers; an int: 2019 headers with this protocol version.
    batch : int
        1: one 0x0200 per fix; more: 0x0704 batches of up to this many fixes, sent when the
        last of them is due.
    spread : bool
        Shift each vehicle's clock by a random phase within its reporting interval.
    ack_timeout_s, resends : float, int
        A report not acknowledged in time is sent again (same serial), at most *resends* times.
    phone_base : int
        Terminal numbers are ``phone_base + i``.

    Examples
    --------
    >>> import pandas as pd
    >>> fixes = pd.DataFrame({"vehicle_id": ["沪D1", "沪D1", "沪D2"], "lon": [121.50, 121.501, 121.51],
    ...                       "lat": [31.24, 31.24, 31.235], "time": pd.to_datetime(
    ...                           ["2026-11-20 07:00:00", "2026-11-20 07:00:10", "2026-11-20 07:00:00"])})
    >>> fleet = TerminalFleet(fixes, "127.0.0.1", 7808)   # connect() and drive() run it against a gateway
    >>> fleet.registrations()
    [('10000000000', '沪D1'), ('10000000001', '沪D2')]
    """

    def __init__(self, fixes: pd.DataFrame, host: str, port: int, *, version: int | None = None, batch: int = 1,
                 spread: bool = True, seed: int = 0, ack_timeout_s: float = 10.0, resends: int = 2,
                 phone_base: int = 10_000_000_000) -> None:
        missing = {"vehicle_id", "time", "lon", "lat"} - set(fixes.columns)
        if missing:
            raise InputError(f"the fixes lack column(s) {sorted(missing)}")
        if not 1 <= batch <= 60:
            raise InputError(f"batch must be 1..60 fixes, got {batch}")
        self.host, self.port, self.version, self.batch = host, port, version, batch
        self.ack_timeout_s, self.resends = ack_timeout_s, resends
        f = fixes.sort_values(["vehicle_id", "time"], kind="stable")
        veh = f["vehicle_id"].astype(str).to_numpy()
        local = pd.to_datetime(f["time"]).to_numpy().astype("datetime64[s]").astype(np.int64)
        t = local - 8 * 3600                        # naive UTC+8 -> seconds since the epoch
        lon, lat = f["lon"].to_numpy("float64"), f["lat"].to_numpy("float64")
        speed, heading = _speed_heading(t, lon, lat, veh)
        starts = np.flatnonzero(np.r_[True, veh[1:] != veh[:-1]]) if len(veh) else np.array([], int)
        ends = np.r_[starts[1:], len(veh)]
        rng = np.random.default_rng(seed)
        self.terminals: list[_Terminal] = []
        for i, (a, b) in enumerate(zip(starts, ends, strict=True)):
            gaps = np.diff(t[a:b])
            interval = float(np.median(gaps)) if len(gaps) else 10.0
            phase = float(rng.uniform(0, interval)) if spread else 0.0
            self.terminals.append(_Terminal(phone_of(i, phone_base), veh[a], t[a:b], lon[a:b], lat[a:b],
                                            speed[a:b], heading[a:b], phase))
        self.sim_now: float | None = None           # the simulated time reached (epoch seconds)

    @property
    def first_time(self) -> float:
        return float(min(term.t[0] for term in self.terminals if len(term.t)))

    def registrations(self) -> list[tuple[str, str]]:
        """``(terminal, vehicle_id)`` of every terminal, e.g. for :meth:`FixStore.register_many`."""
        return [(term.phone, term.vehicle) for term in self.terminals]

    async def connect(self, concurrency: int = 200, auth_codes: dict[str, str] | None = None) -> None:
        """Open every terminal's connection, register and authenticate it (*concurrency* at a time).

        A terminal with a code in *auth_codes* (terminal → code, as registered beforehand) only
        authenticates, as a registered terminal does when it reconnects.
        """
        gate = asyncio.Semaphore(concurrency)
        auth_codes = auth_codes or {}

        async def one(term: _Terminal) -> None:
            async with gate:
                term.reader, term.writer = await asyncio.open_connection(self.host, self.port)
                code = auth_codes.get(term.phone)
                if code is None:
                    code = await self._register(term)
                serial = term.next_serial()
                term.writer.write(jt808.encode(jt808.AUTH, term.phone, serial, jt808.encode_auth(code, self.version),
                                               version=self.version))
                r = await asyncio.wait_for(term.receive(jt808.AUTH, serial), self.ack_timeout_s)
                if jt808.decode_general_response(r.body)[2] != 0:
                    raise ConnectionError(f"terminal {term.phone}: authentication refused")

        await asyncio.gather(*(one(term) for term in self.terminals))

    async def _register(self, term: _Terminal) -> str:
        assert term.writer is not None
        reg = jt808.encode_registration(
            jt808.Registration(31, 115, "GL", "SIM", term.phone[-7:], 2, term.vehicle), self.version)
        serial = term.next_serial()
        term.writer.write(jt808.encode(jt808.REGISTER, term.phone, serial, reg, version=self.version))
        r = await asyncio.wait_for(term.receive(jt808.REGISTER, serial, jt808.REGISTER_RESPONSE), self.ack_timeout_s)
        _, result, code = jt808.decode_register_response(r.body)
        if result != 0:
            raise ConnectionError(f"terminal {term.phone}: registration refused (result {result})")
        return code

    async def drive(self, speedup: float = 1.0, duration: float | None = None, *, start: Any = None,
                    progress: Callable[[DriveStats], Any] | None = None, progress_s: float = 1.0,
                    grace_s: float = 0.5) -> DriveStats:
        """Send the fixes due in the next *duration* wall seconds (all remaining ones when None).

        The simulated clock starts at *start* (naive local time; default: where the previous
        drive stopped, or the first fix) and runs *speedup* times faster than the wall clock.
        A terminal behind its schedule sends at once (its lateness is in ``behind_ms``); from
        *grace_s* after the end of *duration* on no new report leaves and the fixes not sent yet
        are skipped (an overloaded gateway shows as ``acked`` < ``due``).
        *progress* is called with the running stats every *progress_s* seconds.
        """
        if speedup <= 0:
            raise InputError(f"speedup must be positive, got {speedup}")
        if start is not None:
            self.sim_now = float(pd.Timestamp(start).value // 10**9 - 8 * 3600)
        elif self.sim_now is None:
            self.sim_now = self.first_time
        sim0 = self.sim_now
        last = max(float(term.t[-1] + term.phase) for term in self.terminals) + 1
        sim_end = last if duration is None else sim0 + duration * speedup
        loop = asyncio.get_running_loop()
        wall0 = loop.time()
        wall_end = float("inf") if duration is None else wall0 + duration
        stats = DriveStats()

        async def one(term: _Terminal) -> None:
            shifted = term.t + term.phase
            term.cursor = int(np.searchsorted(shifted, sim0, side="left"))
            stop = int(np.searchsorted(shifted, sim_end, side="left"))
            stats.due += max(0, stop - term.cursor)
            while term.cursor < stop:
                k = term.cursor
                j = min(k + self.batch, stop)
                due = wall0 + (shifted[j - 1] - sim0) / speedup
                now = loop.time()
                if now < due:
                    await asyncio.sleep(due - now)
                else:
                    stats.behind_ms.append((now - due) * 1000)
                if loop.time() >= wall_end + grace_s:
                    break
                await self._report(term, k, j, stats)
                term.cursor = j

        ticker = None
        if progress is not None:
            async def tick() -> None:
                while True:
                    await asyncio.sleep(progress_s)
                    stats.wall_s = loop.time() - wall0
                    progress(stats)
            ticker = asyncio.ensure_future(tick())
        try:
            await asyncio.gather(*(one(term) for term in self.terminals))
        finally:
            if ticker is not None:
                ticker.cancel()
        stats.wall_s = loop.time() - wall0 if duration is None else duration
        self.sim_now = sim_end
        return stats

    async def _report(self, term: _Terminal, k: int, j: int, stats: DriveStats) -> None:
        assert term.writer is not None
        serial = term.next_serial()
        if self.batch == 1:
            msg_id, body = jt808.LOCATION, term.body(k)
        else:
            msg_id = jt808.BATCH_LOCATION
            body = term.batch_body(k, j)
        frame = jt808.encode(msg_id, term.phone, serial, body, version=self.version)
        stats.reports += 1
        stats.sent += j - k
        writer = term.writer
        for attempt in range(self.resends + 1):
            t_sent = time.perf_counter()
            writer.write(frame)
            if writer.transport.get_write_buffer_size() > _DRAIN_ABOVE:     # else drain() returns at once
                await writer.drain()
            try:        # a timeout, not wait_for: wait_for wraps every wait in a task of its own (a third of the
                async with asyncio.timeout(self.ack_timeout_s):        # client's CPU per report)
                    r = await term.receive(msg_id, serial)
            except TimeoutError:
                stats.resends += attempt < self.resends
                continue
            stats.latencies_ms.append((time.perf_counter() - t_sent) * 1000)
            if jt808.decode_general_response(r.body)[2] == 0:
                stats.acked += j - k
                term.acked.extend(range(k, j))
            else:
                stats.failed += j - k
            return
        stats.lost += 1

    def acknowledged(self) -> pd.DataFrame:
        """The fixes acknowledged so far: ``terminal``, ``vehicle_id``, ``time`` (naive UTC+8), ``lon``, ``lat``."""
        parts = []
        for term in self.terminals:
            idx = np.asarray(term.acked, dtype=np.int64)
            parts.append(pd.DataFrame({"terminal": term.phone, "vehicle_id": term.vehicle,
                                       "time": (term.t[idx] + 8 * 3600).astype("datetime64[s]"),
                                       "lon": term.lon[idx], "lat": term.lat[idx]}))
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    async def close(self) -> None:
        """Close every connection."""
        for term in self.terminals:
            if term.writer is not None:
                term.writer.close()
        await asyncio.gather(*(term.writer.wait_closed() for term in self.terminals if term.writer is not None),
                             return_exceptions=True)
