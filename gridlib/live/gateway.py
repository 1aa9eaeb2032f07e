"""JT/T 808 gateway over TCP (asyncio) with a durable fix table: a fix is acknowledged only once stored.

:class:`FixStore` is a SQLite file (WAL, ``synchronous=FULL``) with two tables: ``terminals``
(terminal number → vehicle, auth code, whether it reports GCJ-02) and ``fixes`` (the
:class:`~gridlib.live.fix.Fix` fields plus ``vehicle_id`` and ``received_at``; ``local_time`` is the
naive UTC+8 time ``gl.trucks.read_fixes`` reads as ``time``).

:class:`Jt808Gateway` answers registration (0x8100 with an auth code), authentication,
heartbeat, location and batch location (0x8001 with the terminal's serial and message id).
With ``auth=True`` a location from a terminal that has not authenticated on this connection
is answered with result 1 (failure) and not stored; with ``auth=False`` an unknown terminal's
fixes are stored under its terminal number. A bad frame is dropped and counted; the
connection stays up.

>>> import tempfile, os
>>> store = FixStore(os.path.join(tempfile.mkdtemp(), "live.sqlite"))
>>> code = store.register("13800138000", "沪A12345")
>>> store.terminal("13800138000")["vehicle_id"], store.terminal("13800138000")["auth_code"] == code
('沪A12345', True)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gridlib.live import jt808
from gridlib.live.fix import Fix, FixRejected, from_jt808

__all__ = ["FixStore", "Jt808Gateway", "FIX_COLUMNS"]

log = logging.getLogger(__name__)

FIX_COLUMNS = ("device_id", "vehicle_id", "time", "local_time", "lon", "lat", "source", "speed_kmh", "heading",
               "altitude_m", "accuracy_m", "alarm", "status", "mileage_km", "satellites", "signal", "received_at")


class FixStore:
    """Durable terminals and fixes tables in one SQLite file.

    >>> import os, tempfile
    >>> store = FixStore(os.path.join(tempfile.mkdtemp(), "fixes.sqlite"))
    >>> len(store.register("13800138000", "沪D12345")), store.terminal("13800138000")["vehicle_id"]
    (16, '沪D12345')
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE IF NOT EXISTS terminals (terminal TEXT PRIMARY KEY, vehicle_id TEXT, "
                        "auth_code TEXT, gcj02 INTEGER DEFAULT 0, registered_at TEXT)")
        cols = ", ".join(f"{c} {'REAL' if c in ('lon', 'lat') else ''}".strip() for c in FIX_COLUMNS)
        self.db.execute(f"CREATE TABLE IF NOT EXISTS fixes ({cols})")
        self._subscribers: list[Callable[[list[tuple[Fix, str]]], None]] = []

    def subscribe(self, callback: Callable[[list[tuple[Fix, str]]], None]) -> None:
        """Call ``callback(pairs)`` with the ``(fix, vehicle_id)`` pairs of every :meth:`add`, after their commit.

        The callback runs in the thread that stored the fixes and must be quick (hand the pairs on);
        an exception in it is logged, never undoes or refuses the stored fixes.

        >>> import os, tempfile, datetime as dt
        >>> store = FixStore(os.path.join(tempfile.mkdtemp(), "fixes.sqlite"))
        >>> seen = []
        >>> store.subscribe(seen.extend)
        >>> store.add([(Fix("T1", dt.datetime(2026, 11, 20, tzinfo=dt.UTC), 121.5, 31.24, "osmand"), "V1")])
        >>> [(f.device_id, v) for f, v in seen]
        [('T1', 'V1')]
        """
        self._subscribers.append(callback)

    def register(self, terminal: str, vehicle_id: str, *, gcj02: bool = False) -> str:
        """Record (or re-record) *terminal* as carried by *vehicle_id*; return its new auth code."""
        code = secrets.token_hex(8)
        now = dt.datetime.now(dt.UTC).isoformat()
        self.db.execute("INSERT OR REPLACE INTO terminals VALUES (?, ?, ?, ?, ?)",
                        (terminal, vehicle_id, code, int(gcj02), now))
        return code

    def terminal(self, terminal: str) -> dict[str, Any] | None:
        """The terminals row of *terminal*, or None."""
        row = self.db.execute("SELECT vehicle_id, auth_code, gcj02 FROM terminals WHERE terminal = ?",
                              (terminal,)).fetchone()
        return None if row is None else {"vehicle_id": row[0], "auth_code": row[1], "gcj02": bool(row[2])}

    def add(self, fixes: list[tuple[Fix, str]]) -> None:
        """Store ``(fix, vehicle_id)`` pairs in one transaction; returns once they are on disk."""
        now = dt.datetime.now(dt.UTC).isoformat()
        rows = []
        for fix, vehicle in fixes:
            rec = fix.as_record()
            rec["vehicle_id"], rec["received_at"] = vehicle, now
            rows.append(tuple(rec[c] for c in FIX_COLUMNS))
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(f"INSERT INTO fixes VALUES ({', '.join('?' * len(FIX_COLUMNS))})", rows)
        for callback in self._subscribers:  # only once committed: a subscriber never sees a fix that may be lost
            try:
                callback(fixes)
            except Exception:
                log.exception("fix subscriber %r failed", callback)

    def rows(self, since_local: str | None = None) -> list[tuple[Any, ...]]:
        """Stored ``(vehicle_id, local_time, lon, lat)`` rows in the order they were stored (optionally only
        fixes with ``local_time >= since_local``, naive UTC+8 ISO text): what a restarted service replays."""
        sql = "SELECT vehicle_id, local_time, lon, lat FROM fixes"
        args: tuple[Any, ...] = ()
        if since_local is not None:
            sql, args = sql + " WHERE local_time >= ?", (since_local,)
        return self.db.execute(sql + " ORDER BY rowid", args).fetchall()

    def last_positions(self) -> list[dict[str, Any]]:
        """The latest fix (by fix time) of each vehicle."""
        cur = self.db.execute("SELECT vehicle_id, device_id, max(time), lon, lat, speed_kmh, source "
                              "FROM fixes GROUP BY vehicle_id ORDER BY vehicle_id")
        keys = ("vehicle_id", "device_id", "time", "lon", "lat", "speed_kmh", "source")
        return [dict(zip(keys, row, strict=True)) for row in cur]

    def close(self) -> None:
        self.db.close()


class Jt808Gateway:
    """The JT/T 808 side of the live service; ``counters`` feed ``/metrics``.

    >>> import os, tempfile
    >>> gw = Jt808Gateway(FixStore(os.path.join(tempfile.mkdtemp(), "fixes.sqlite")), auth=False)
    >>> gw.auth, dict(gw.counters)
    (False, {})
    """

    def __init__(self, store: FixStore, *, auth: bool = True) -> None:
        self.store, self.auth = store, auth
        self.counters: Counter[str] = Counter()
        self.drops: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self._connections: set[asyncio.Task] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 7808) -> asyncio.Server:
        """Listen; return the server (its port is ``server.sockets[0].getsockname()[1]``)."""
        return await asyncio.start_server(self._connection, host, port)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        decoder, parts = jt808.StreamDecoder(), jt808.Reassembler()
        state = {"authenticated": set(), "serial": 0}
        self.counters["connections"] += 1
        try:
            while chunk := await reader.read(65536):
                before = Counter(decoder.drops)
                for msg in decoder.feed(chunk):
                    whole = parts.add(msg)
                    if whole is not None:
                        for reply in self._handle(whole, state):
                            writer.write(reply)
                self.drops.update(Counter(decoder.drops) - before)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            if task is not None:
                self._connections.discard(task)

    def _reply(self, msg: jt808.Message, state: dict, msg_id: int, body: bytes) -> bytes:
        state["serial"] = (state["serial"] + 1) & 0xFFFF
        return jt808.encode(msg_id, msg.phone, state["serial"], body, version=msg.version)

    def _ack(self, msg: jt808.Message, state: dict, result: int) -> bytes:
        return self._reply(msg, state, jt808.PLATFORM_RESPONSE,
                           jt808.encode_general_response(msg.serial, msg.msg_id, result))

    def _handle(self, msg: jt808.Message, state: dict) -> list[bytes]:
        self.counters[f"messages_{msg.msg_id:04x}"] += 1
        terminal = msg.terminal
        try:
            if msg.msg_id == jt808.REGISTER:
                reg = jt808.decode_registration(msg.body, msg.version)
                vehicle = reg.plate or terminal
                code = self.store.register(terminal, vehicle)
                return [self._reply(msg, state, jt808.REGISTER_RESPONSE,
                                    jt808.encode_register_response(msg.serial, 0, code))]
            if msg.msg_id == jt808.AUTH:
                row = self.store.terminal(terminal)
                ok = row is not None and jt808.decode_auth(msg.body, msg.version) == row["auth_code"]
                if ok:
                    state["authenticated"].add(terminal)
                return [self._ack(msg, state, 0 if ok else 1)]
            if msg.msg_id in (jt808.HEARTBEAT, jt808.TERMINAL_RESPONSE):
                return [self._ack(msg, state, 0)] if msg.msg_id == jt808.HEARTBEAT else []
            if msg.msg_id in (jt808.LOCATION, jt808.BATCH_LOCATION):
                return [self._ack(msg, state, self._locations(msg, state))]
        except jt808.FrameError as exc:
            self.drops[exc.reason] += 1
            return [self._ack(msg, state, 2)]
        return [self._ack(msg, state, 3)]

    def _locations(self, msg: jt808.Message, state: dict) -> int:
        terminal = msg.terminal
        locations = ([jt808.decode_location(msg.body)] if msg.msg_id == jt808.LOCATION
                     else jt808.decode_batch_location(msg.body)[1])
        row = self.store.terminal(terminal)
        if self.auth and terminal not in state["authenticated"]:
            self.rejected["unauthenticated"] += len(locations)
            return 1
        vehicle = row["vehicle_id"] if row else terminal
        good = []
        for loc in locations:
            try:
                good.append((from_jt808(terminal, loc, gcj02=bool(row and row["gcj02"])), vehicle))
            except FixRejected as exc:
                self.rejected[exc.reason_code] += 1
        if good:
            self.store.add(good)        # durable before the acknowledgement goes out
            self.counters["fixes_in"] += len(good)
        return 0

    async def close(self) -> None:
        """Let open connections finish their current message, then stop them."""
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
