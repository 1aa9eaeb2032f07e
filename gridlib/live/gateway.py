"""JT/T 808 gateway over TCP (asyncio) with a durable fix table: a fix is acknowledged only once stored.

:class:`FixStore` is a SQLite file (WAL, ``synchronous=FULL``) with two tables: ``terminals``
(terminal number → vehicle, auth code, whether it reports GCJ-02, and ``kind``: ``truck``, or
``team`` for an enforcement team's device, whose ``vehicle_id`` is then the team code, the
``base_id`` of ``team_bases``; see :mod:`gridlib.live.teams`) and ``fixes`` (the
:class:`~gridlib.live.fix.Fix` fields plus ``vehicle_id`` and ``received_at``; ``local_time`` is the
naive UTC+8 time ``gl.trucks.read_fixes`` reads as ``time``).

**Group commit.** ``await FixStore.add_async(fixes)`` hands the fixes to one writer thread (its own
SQLite connection) and returns once the transaction holding them has committed. The writer takes
everything queued while the previous transaction was committing into the next one, and at load
starts a transaction no sooner than ``commit_interval_ms`` (5) after the previous one started, so
the cost of a commit (one fsync, ~0.2 ms of CPU) is shared by all connections' fixes of those few
milliseconds, while a lone fix is committed at once. The gateway sends each acknowledgement only after its
fixes' transaction committed — the durability contract of one commit per message, at a
fraction of the cost. :meth:`FixStore.subscribe` callbacks get every committed batch.

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
import queue
import secrets
import sqlite3
import threading
import time
import weakref
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gridlib.live import jt808
from gridlib.live.fix import Fix, FixRejected, from_jt808, from_jt808_values

__all__ = ["FixStore", "Jt808Gateway", "FIX_COLUMNS"]

log = logging.getLogger(__name__)

_UTC8 = dt.timedelta(hours=8)

FIX_COLUMNS = ("device_id", "vehicle_id", "time", "local_time", "lon", "lat", "source", "speed_kmh", "heading",
               "altitude_m", "accuracy_m", "alarm", "status", "mileage_km", "satellites", "signal", "received_at")
_INSERT = f"INSERT INTO fixes VALUES ({', '.join('?' * len(FIX_COLUMNS))})"
_MESSAGE_KEYS: dict[int, str] = {}     # message id → its counter's name
_LAST_KEYS = ("vehicle_id", "device_id", "time", "lon", "lat", "speed_kmh", "source")
_LAST_SQL = ("SELECT vehicle_id, device_id, max(time), lon, lat, speed_kmh, source "
             "FROM fixes GROUP BY vehicle_id ORDER BY vehicle_id")


def _row(fix: Fix, vehicle: str, received_at: str) -> tuple:
    """The ``fixes`` row of one fix, in :data:`FIX_COLUMNS` order (``Fix.as_record`` without its ``asdict``).

    >>> from gridlib.live.fix import Fix
    >>> f = Fix("1", dt.datetime(2026, 11, 20, tzinfo=dt.UTC), 121.5, 31.2, "jt808", 30.0, satellites=9)
    >>> rec = dict(f.as_record(), vehicle_id="沪A1", received_at="now")
    >>> _row(f, "沪A1", "now") == tuple(rec[c] for c in FIX_COLUMNS)
    True
    """
    t = fix.time
    if t.tzinfo is dt.UTC:      # the protocols' times; the fixes of one second share their texts
        texts = _TEXTS.get(t)
        if texts is None:
            if len(_TEXTS) >= 1 << 16:
                _TEXTS.clear()
            texts = _TEXTS[t] = (t.isoformat(), (t + _UTC8).replace(tzinfo=None).isoformat())
    else:                       # not cached: an equal instant at another offset has another text
        texts = (t.isoformat(), fix.local_time.isoformat())
    return (fix.device_id, vehicle, *texts, fix.lon, fix.lat,
            fix.source, fix.speed_kmh, fix.heading, fix.altitude_m, fix.accuracy_m, fix.alarm, fix.status,
            fix.mileage_km, fix.satellites, fix.signal, received_at)


_TEXTS: dict[dt.datetime, tuple[str, str]] = {}     # UTC fix time → (its ISO text, the local time's), _row


#: What a terminal (or OsmAnd device) is registered as: a muck truck's, or an enforcement team's.
KINDS = ("truck", "team")
_TERMINAL_COLUMNS = "terminal, vehicle_id, auth_code, gcj02, registered_at, kind"
_UPSERT_TERMINAL = f"INSERT OR REPLACE INTO terminals ({_TERMINAL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"


def _terminal_row(terminal: str, vehicle_id: str, gcj02: bool = False, kind: str = "truck") -> tuple:
    """A ``terminals`` row with a new auth code (its third field); *kind* ``truck`` or ``team``."""
    if kind not in KINDS:
        raise ValueError(f"terminal {terminal}: kind must be one of {KINDS}, got {kind!r}")
    return (terminal, vehicle_id, secrets.token_hex(8), int(gcj02), dt.datetime.now(dt.UTC).isoformat(), kind)


def _terminal_info(row: tuple) -> dict[str, Any]:
    """The cached form of a ``terminals`` row (as :func:`_terminal_row` orders it)."""
    return {"vehicle_id": row[1], "auth_code": row[2], "gcj02": bool(row[3]), "kind": row[5] or "truck"}


def _connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA busy_timeout=10000")     # the writer thread and register() may meet
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")       # per connection: every commit is fsync-ed
    return db


class _GroupWriter:
    """The writer thread of :meth:`FixStore.add_async` for one event loop. It holds the store only weakly, while
    it commits: a store nobody keeps is collected, and its finalizer ends the thread (:func:`_stop_writers`)."""

    def __init__(self, store: FixStore, loop: asyncio.AbstractEventLoop, max_rows: int, window_s: float,
                 interval_s: float = 0.0) -> None:
        self.path, self.store = store.path, weakref.ref(store)
        self.loop, self.max_rows, self.window_s = loop, max_rows, window_s
        self.interval_s = interval_s
        self.last_start = -float("inf")     # when the latest transaction started (time.monotonic())
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="fixstore-writer", daemon=True)
        self.thread.start()

    def submit(self, fixes: list[tuple[Fix, str]], terminals: list[tuple] | None = None) -> asyncio.Future:
        fut = self.loop.create_future()
        self.queue.put((fixes, terminals or [], fut))
        return fut

    def submit_call(self, fixes: list[tuple[Fix, str]], terminals: list[tuple],
                    done: Callable[[BaseException | None], None]) -> None:
        """:meth:`submit` for the gateway's per-message path: ``done(error)`` is called on the loop once the
        transaction committed (error None) or failed, without a future (and its scheduled callback) per message."""
        self.queue.put((fixes, terminals, done))

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join()

    def _take(self, first: tuple) -> tuple[list[tuple], bool]:
        """*first* and whatever else is queued (within the window, and until ``interval_s`` after the previous
        transaction started), up to ``max_rows`` fixes."""
        batch, n = [first], len(first[0]) + len(first[1])
        deadline = max(time.monotonic() + self.window_s, self.last_start + self.interval_s)
        while n < self.max_rows:
            try:
                wait = deadline - time.monotonic()
                item = self.queue.get(timeout=wait) if wait > 0 else self.queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
            n += len(item[0]) + len(item[1])
        return batch, False

    def _run(self) -> None:
        db = _connect(self.path)
        try:
            stop = False
            while not stop:
                first = self.queue.get()
                if first is None:
                    break
                batch, stop = self._take(first)
                store = self.store()
                if store is None:           # collected: nobody waits for these
                    break
                self._commit(store, db, batch)
                store = None                # not held while waiting for the next batch
        finally:
            db.close()

    def _commit(self, store: FixStore, db: sqlite3.Connection, batch: list[tuple]) -> None:
        """One grouped transaction of *batch*; its callers are released on the loop."""
        fixes = [pair for item in batch for pair in item[0]]
        terminals = [row for item in batch for row in item[1]]
        self.last_start = time.monotonic()
        err: BaseException | None = None
        try:
            store._insert(db, fixes, terminals)
        except Exception as exc:  # noqa: BLE001 - handed to every waiting connection
            err = exc
        try:
            self.loop.call_soon_threadsafe(store._settle, batch, fixes, terminals, err)
        except RuntimeError:        # the loop is closed: nobody waits for these
            pass


def _stop_writers(writers: dict[asyncio.AbstractEventLoop, _GroupWriter]) -> None:
    """End the writer threads of a store that was collected without :meth:`FixStore.close` (not waited for)."""
    for writer in writers.values():
        writer.queue.put(None)


class FixStore:
    """Durable terminals and fixes tables in one SQLite file.

    Parameters
    ----------
    path : str or Path
    max_batch : int
        At most this many fixes in one grouped transaction (:meth:`add_async`).
    window_ms : float
        How long a grouped transaction waits for more fixes after its first (0: it takes
        what queued up during the previous commit and commits at once).
    commit_interval_ms : float
        At load, a grouped transaction starts at least this long after the previous one started
        (it gathers what comes meanwhile): at most ``1000 / commit_interval_ms`` fsync-ed commits a
        second, whose fixed cost (~0.2 ms of CPU each, most of a small transaction's) is then shared by
        more fixes; a fix arriving after a quiet spell is committed at once. 0: commit as soon as the
        previous commit ended.

    >>> import os, tempfile
    >>> store = FixStore(os.path.join(tempfile.mkdtemp(), "fixes.sqlite"))
    >>> len(store.register("13800138000", "沪D12345")), store.terminal("13800138000")["vehicle_id"]
    (16, '沪D12345')
    """

    TERMINAL_TTL_S = 30.0

    def __init__(self, path: str | Path, *, max_batch: int = 5000, window_ms: float = 0.0,
                 commit_interval_ms: float = 5.0) -> None:
        self.path = str(path)
        self.db = _connect(self.path)
        self.db.execute("CREATE TABLE IF NOT EXISTS terminals (terminal TEXT PRIMARY KEY, vehicle_id TEXT, "
                        "auth_code TEXT, gcj02 INTEGER DEFAULT 0, registered_at TEXT, kind TEXT DEFAULT 'truck')")
        if "kind" not in {r[1] for r in self.db.execute("PRAGMA table_info(terminals)")}:   # a file from before teams
            self.db.execute("ALTER TABLE terminals ADD COLUMN kind TEXT DEFAULT 'truck'")
        cols = ", ".join(f"{c} {'REAL' if c in ('lon', 'lat') else ''}".strip() for c in FIX_COLUMNS)
        self.db.execute(f"CREATE TABLE IF NOT EXISTS fixes ({cols})")
        self.max_batch, self.window_s, self.interval_s = max_batch, window_ms / 1000, commit_interval_ms / 1000
        self.transactions = 0               # commits of fixes (sync and grouped)
        self.lag_s = 0.0                    # receipt time - fix time of the newest fix of the last commit
        self.commit_ms: deque[tuple[int, float]] = deque(maxlen=100_000)   # (fixes, ms) of recent commits
        self._subscribers: list[Callable[[list[tuple[Fix, str]]], Any]] = []
        self._terminals: dict[str, tuple[float, dict[str, Any] | None]] = {}
        self._writers: dict[asyncio.AbstractEventLoop, _GroupWriter] = {}   # one writer thread per event loop
        # the latest fix (by fix time) of each vehicle, as _LAST_SQL gives it: loaded once, updated on commit
        self._last_lock = threading.Lock()
        self._last: dict[str, tuple] = {row[0]: row for row in self.db.execute(_LAST_SQL)}
        # a store dropped without close() ends its writer threads (each holds it only weakly): left alive, they
        # keep a nightly run in this process from forking (gridlib.nightly.forks)
        weakref.finalize(self, _stop_writers, self._writers)

    def register(self, terminal: str, vehicle_id: str, *, gcj02: bool = False, kind: str = "truck") -> str:
        """Record (or re-record) *terminal* as carried by *vehicle_id*; return its new auth code.

        ``kind="team"`` registers an enforcement team's device (a JT/T 808 terminal or an OsmAnd
        phone id) with *vehicle_id* = its team code (``base_id``): its fixes are stored like any
        other, but go to :class:`gridlib.live.teams.TeamTracker`, not to the truck monitor. A team
        terminal that later registers itself (0x0100) stays the team's.

        >>> import os, tempfile
        >>> store = FixStore(os.path.join(tempfile.mkdtemp(), "fixes.sqlite"))
        >>> _ = store.register("phone-7", "B31010101801", kind="team")
        >>> store.terminal("phone-7")["kind"], store.terminal("phone-7")["vehicle_id"]
        ('team', 'B31010101801')
        """
        row = _terminal_row(terminal, vehicle_id, gcj02, kind)
        self.db.execute(_UPSERT_TERMINAL, row)
        self._terminals[terminal] = (time.monotonic() + self.TERMINAL_TTL_S, _terminal_info(row))
        return row[2]

    def register_many(self, terminals: list[tuple[str, str]], *, gcj02: bool = False,
                      kind: str = "truck") -> dict[str, str]:
        """:meth:`register` ``(terminal, vehicle_id)`` pairs in one transaction (a fleet's list); their auth codes.

        >>> import os, tempfile
        >>> store = FixStore(os.path.join(tempfile.mkdtemp(), "fixes.sqlite"))
        >>> codes = store.register_many([("13800138000", "沪D1"), ("13800138001", "沪D2")])
        >>> store.terminal("13800138001")["auth_code"] == codes["13800138001"]
        True
        """
        return self.register_rows([(t, v, kind, gcj02) for t, v in terminals])

    def register_rows(self, terminals: list[tuple[str, str, str, bool]]) -> dict[str, str]:
        """:meth:`register` ``(terminal, vehicle_id, kind, gcj02)`` rows in one transaction; their auth codes.

        >>> import os, tempfile
        >>> store = FixStore(os.path.join(tempfile.mkdtemp(), "fixes.sqlite"))
        >>> _ = store.register_rows([("13800138000", "沪D1", "truck", False), ("phone-1", "B1", "team", True)])
        >>> [(t["terminal"], t["kind"], t["gcj02"]) for t in store.terminals()]
        [('13800138000', 'truck', False), ('phone-1', 'team', True)]
        """
        rows = [_terminal_row(t, v, gcj02, kind) for t, v, kind, gcj02 in terminals]
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(_UPSERT_TERMINAL, rows)
        expires = time.monotonic() + self.TERMINAL_TTL_S
        for row in rows:
            self._terminals[row[0]] = (expires, _terminal_info(row))
        return {row[0]: row[2] for row in rows}

    def terminals(self) -> list[dict[str, Any]]:
        """Every registered device by terminal number: ``terminal``, ``vehicle_id``, ``auth_code``, ``gcj02``,
        ``kind`` and ``registered_at`` (UTC, ISO 8601).

        >>> import os, tempfile
        >>> store = FixStore(os.path.join(tempfile.mkdtemp(), "fixes.sqlite"))
        >>> _ = store.register("13800138000", "沪D1")
        >>> [(t["terminal"], t["vehicle_id"], t["kind"]) for t in store.terminals()]
        [('13800138000', '沪D1', 'truck')]
        """
        rows = self.db.execute(f"SELECT {_TERMINAL_COLUMNS} FROM terminals ORDER BY terminal").fetchall()
        return [{"terminal": r[0], **_terminal_info(r), "registered_at": r[4]} for r in rows]

    def terminal(self, terminal: str) -> dict[str, Any] | None:
        """The terminals row of *terminal*, or None.

        A row (or its absence) is kept in memory for ``TERMINAL_TTL_S`` seconds (a location
        message must not cost a query); :meth:`register` updates it at once, a row changed by
        another process is seen within that time.
        """
        found = self._terminal(terminal)
        return None if found is None else dict(found)

    def kind(self, terminal: str) -> str | None:
        """The registered kind (``"truck"`` or ``"team"``) of *terminal*, None when it is not registered; from the
        same cache as :meth:`terminal`, without copying the row (one call per fix on the monitor's path).

        >>> import os, tempfile
        >>> store = FixStore(os.path.join(tempfile.mkdtemp(), "fixes.sqlite"))
        >>> _ = store.register("phone-1", "B1", kind="team")
        >>> store.kind("phone-1"), store.kind("13800138000")
        ('team', None)
        """
        found = self._terminal(terminal)
        return None if found is None else found["kind"]

    def _terminal(self, terminal: str) -> dict[str, Any] | None:
        """:meth:`terminal` without the copy (the gateway's per-message path; do not change the dict)."""
        now = time.monotonic()
        cached = self._terminals.get(terminal)
        if cached is None or cached[0] < now:
            row = self.db.execute(f"SELECT {_TERMINAL_COLUMNS} FROM terminals WHERE terminal = ?",
                                  (terminal,)).fetchone()
            found = None if row is None else _terminal_info(row)
            cached = self._terminals[terminal] = (now + self.TERMINAL_TTL_S, found)
        return cached[1]

    def subscribe(self, callback: Callable[[list[tuple[Fix, str]]], Any]) -> None:
        """Call ``callback(pairs)`` with the ``(Fix, vehicle_id)`` pairs of every commit, after it committed.

        Fixes stored by :meth:`add` are handed over in the caller's thread once ``add`` committed;
        those of :meth:`add_async` on the event loop, after the acknowledgements of that commit
        were released. A callback must be quick (hand the pairs on); one that raises is logged,
        never undoes or refuses the stored fixes, and does not stop the others.

        >>> import os, tempfile
        >>> from gridlib.live.fix import Fix
        >>> store, seen = FixStore(os.path.join(tempfile.mkdtemp(), "f.sqlite")), []
        >>> store.subscribe(seen.append)
        >>> store.add([(Fix("1", dt.datetime(2026, 11, 20, tzinfo=dt.UTC), 121.5, 31.2, "jt808"), "沪A1")])
        >>> [(fix.device_id, vehicle) for fix, vehicle in seen[0]]
        [('1', '沪A1')]
        """
        self._subscribers.append(callback)

    def _notify(self, fixes: list[tuple[Fix, str]]) -> None:
        for callback in list(self._subscribers):
            try:
                callback(fixes)
            except Exception:  # noqa: BLE001 - one bad subscriber must not stop the store
                log.exception("fix subscriber %r failed", callback)

    def _insert(self, db: sqlite3.Connection, fixes: list[tuple[Fix, str]], terminals: list[tuple] = ()) -> None:
        t = time.perf_counter()
        received = dt.datetime.now(dt.UTC)
        now = received.isoformat()
        rows = [_row(fix, vehicle, now) for fix, vehicle in fixes]
        with db:
            db.execute("BEGIN")
            db.executemany(_INSERT, rows)
            if terminals:
                db.executemany(_UPSERT_TERMINAL, terminals)
        self._remember_last(rows)
        if fixes:   # every source (JT/T 808, OsmAnd, add()): how far behind its clock the newest fix stored is
            self.lag_s = (received - max(fix.time for fix, _ in fixes)).total_seconds()
        self.transactions += 1
        self.commit_ms.append((len(rows), (time.perf_counter() - t) * 1000))

    def add(self, fixes: list[tuple[Fix, str]]) -> None:
        """Store ``(fix, vehicle_id)`` pairs in one transaction; returns once they are on disk."""
        self._insert(self.db, fixes)
        self._notify(fixes)

    async def register_async(self, terminal: str, vehicle_id: str, *, gcj02: bool = False,
                             kind: str = "truck") -> str:
        """:meth:`register` through the group commit (the event loop does not wait for a commit of its own).

        >>> import asyncio, os, tempfile
        >>> store = FixStore(os.path.join(tempfile.mkdtemp(), "f.sqlite"))
        >>> code = asyncio.run(store.register_async("13800138000", "沪D1"))
        >>> store.terminal("13800138000")["auth_code"] == code
        True
        >>> store.close()
        """
        row = _terminal_row(terminal, vehicle_id, gcj02, kind)
        await self._writer_for_loop().submit([], [row])
        return row[2]

    def _writer_for_loop(self) -> _GroupWriter:
        loop = asyncio.get_running_loop()
        writer = self._writers.get(loop)
        if writer is None:
            for old in [w for w in self._writers.values() if w.loop.is_closed()]:
                old.stop()
                del self._writers[old.loop]
            writer = self._writers[loop] = _GroupWriter(self, loop, self.max_batch, self.window_s, self.interval_s)
        return writer

    async def add_async(self, fixes: list[tuple[Fix, str]]) -> None:
        """Store ``(fix, vehicle_id)`` pairs by group commit; returns once their transaction committed.

        The fixes share a transaction with those other callers handed in meanwhile (at most
        ``max_batch`` fixes, gathered for ``window_ms`` after the first; 0: only what queued up
        while the previous commit was running). Raises what the commit raised.

        >>> import asyncio, os, tempfile
        >>> from gridlib.live.fix import Fix
        >>> store = FixStore(os.path.join(tempfile.mkdtemp(), "f.sqlite"))
        >>> fix = Fix("1", dt.datetime(2026, 11, 20, tzinfo=dt.UTC), 121.5, 31.2, "jt808")
        >>> async def three():
        ...     await asyncio.gather(*(store.add_async([(fix, f"沪A{i}")]) for i in range(3)))
        >>> asyncio.run(three())
        >>> store.db.execute("SELECT count(*) FROM fixes").fetchone()[0], store.transactions <= 3
        (3, True)
        >>> store.close()
        """
        if not fixes:
            return
        await self._writer_for_loop().submit(fixes)

    def _settle(self, batch: list[tuple], fixes: list[tuple[Fix, str]], terminals: list[tuple],
                err: BaseException | None) -> None:
        """On the loop: release the waiting callers of one grouped commit, then tell the subscribers."""
        if err is None:
            expires = time.monotonic() + self.TERMINAL_TTL_S
            for row in terminals:
                self._terminals[row[0]] = (expires, _terminal_info(row))
        for *_, fut in batch:
            if not isinstance(fut, asyncio.Future):     # a gateway connection's answer (submit_call)
                try:
                    fut(err)
                except Exception:  # noqa: BLE001 - as the loop would log a failed callback; the others go on
                    log.exception("answering a stored message failed")
            elif not fut.done():
                fut.set_exception(err) if err is not None else fut.set_result(None)
        if err is None and fixes and self._subscribers:
            asyncio.get_running_loop().call_soon(self._notify, fixes)  # after the woken connections ack

    def rows(self, since_local: str | None = None, *, trucks_only: bool = False) -> list[tuple[Any, ...]]:
        """Stored ``(vehicle_id, local_time, lon, lat)`` rows in the order they were stored (optionally only
        fixes with ``local_time >= since_local``, naive UTC+8 ISO text): what a restarted service replays.
        *trucks_only*: without the fixes of devices registered as teams (what the truck monitor replays)."""
        sql = "SELECT vehicle_id, local_time, lon, lat FROM fixes"
        where, args = [], []
        if since_local is not None:
            where.append("local_time >= ?")
            args.append(since_local)
        if trucks_only:
            where.append("device_id NOT IN (SELECT terminal FROM terminals WHERE kind = 'team')")
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self.db.execute(sql + " ORDER BY rowid", tuple(args)).fetchall()

    def _remember_last(self, rows: list[tuple]) -> None:
        """Update the latest fix per vehicle with committed ``fixes`` rows (a later fix time wins; on a tie
        the one stored first stays, as SQLite's ``max()`` keeps the first row it met)."""
        last = self._last
        with self._last_lock:
            for row in rows:
                vehicle, time_ = row[1], row[2]
                seen = last.get(vehicle)
                if seen is None or time_ > seen[2]:
                    last[vehicle] = (vehicle, row[0], time_, row[4], row[5], row[7], row[6])

    def last_positions(self) -> list[dict[str, Any]]:
        """The latest fix (by fix time) of each vehicle, ordered by vehicle.

        Served from memory (the live page polls it every second): loaded from the ``fixes`` table when
        the store opens and updated as each transaction commits, so it equals the ``GROUP BY`` over the
        table (fixes written to the file by another process are not seen).

        >>> import os, tempfile
        >>> from gridlib.live.fix import Fix
        >>> path = os.path.join(tempfile.mkdtemp(), "f.sqlite")
        >>> store = FixStore(path)
        >>> t = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
        >>> store.add([(Fix("1", t, 121.5, 31.2, "jt808"), "沪A1"), (Fix("1", t - dt.timedelta(seconds=9), 121.4, 31.2,
        ...            "jt808"), "沪A1")])
        >>> [(p["vehicle_id"], p["lon"]) for p in store.last_positions()]
        [('沪A1', 121.5)]
        >>> store.close(); FixStore(path).last_positions() == store.last_positions()
        True
        """
        with self._last_lock:
            rows = sorted(self._last.values())
        return [dict(zip(_LAST_KEYS, row, strict=True)) for row in rows]

    def close(self) -> None:
        """Commit what is queued, stop the writer thread and close the file."""
        for writer in self._writers.values():
            writer.stop()
        self._writers.clear()
        self.db.close()


@dataclass
class _Pending:
    """A location (or registration) message whose answer waits for the commit of its fixes (or terminal row)."""

    msg: jt808.Message
    fixes: list[tuple[Fix, str]]
    vehicle: str | None = None      # a registration of msg.terminal as this vehicle
    code: str = ""                  # its auth code, once committed


class Jt808Gateway:
    """The JT/T 808 side of the live service; ``counters`` feed ``/metrics``.

    >>> import os, tempfile
    >>> gw = Jt808Gateway(FixStore(os.path.join(tempfile.mkdtemp(), "fixes.sqlite")), auth=False)
    >>> gw.auth, dict(gw.counters)
    (False, {})
    """

    def __init__(self, store: FixStore, *, auth: bool = True, group_commit: bool = True) -> None:
        self.store, self.auth, self.group_commit = store, auth, group_commit
        self.counters: Counter[str] = Counter()
        self.drops: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self._protocols: set[_Connection] = set()
        self.ack_ms: deque[float] = deque(maxlen=100_000)  # read → location ACKs ready, ms (recent reads)

    async def start(self, host: str = "127.0.0.1", port: int = 7808) -> asyncio.Server:
        """Listen; return the server (its port is ``server.sockets[0].getsockname()[1]``)."""
        loop = asyncio.get_running_loop()
        return await loop.create_server(lambda: _Connection(self), host, port, backlog=1024)

    def _read(self, conn: _Connection, chunk: bytes) -> list[bytes | _Pending]:
        """The answers (or pending answers) to the whole messages *chunk* completes; drops counted by reason."""
        decoder = conn.decoder
        before = dict(decoder.drops) if decoder.drops else {}
        replies: list[bytes | _Pending] = []
        for msg in decoder.feed(chunk):
            whole = conn.parts.add(msg)
            if whole is not None:
                replies += self._handle(whole, conn.state)
        if decoder.drops != before:
            self.drops.update(Counter(decoder.drops) - Counter(before))
        return replies

    def _reply(self, msg: jt808.Message, state: dict, msg_id: int, body: bytes) -> bytes:
        state["serial"] = (state["serial"] + 1) & 0xFFFF
        return jt808.encode(msg_id, msg.phone, state["serial"], body, version=msg.version)

    def _ack(self, msg: jt808.Message, state: dict, result: int) -> bytes:
        state["serial"] = serial = (state["serial"] + 1) & 0xFFFF
        return jt808.platform_response(msg.phone, serial, msg.serial, msg.msg_id, result, version=msg.version)

    def _store_start(self, pending: list[_Pending], done: Callable[[BaseException | None], None]) -> None:
        """Start storing the fixes and registrations of one read in one transaction (group commit: handed to the
        writer thread); ``done(error)`` is called on the loop once they are committed (error None) or failed."""
        if len(pending) == 1 and pending[0].vehicle is None and self.group_commit:    # one location message
            self.store._writer_for_loop().submit_call(pending[0].fixes, [], done)
            return
        fixes = [pair for p in pending for pair in p.fixes]
        regs = [p for p in pending if p.vehicle is not None]
        error: BaseException | None = None
        try:
            if self.group_commit:
                rows = [self._registration_row(p) for p in regs]   # reads the terminals table: may fail too
                for p, row in zip(regs, rows, strict=True):
                    p.code = row[2]         # answered only if the commit holding the row succeeds
                self.store._writer_for_loop().submit_call(fixes, rows, done)
                return
            if fixes:
                self.store.add(fixes)
            for p in regs:
                row = self._registration_row(p)
                p.code = self.store.register(row[0], row[1], gcj02=bool(row[3]), kind=row[5])
        except (sqlite3.Error, OSError) as exc:
            error = exc
        asyncio.get_running_loop().call_soon(done, error)     # stored (or failed) already, in this thread

    def _store_result(self, pending: list[_Pending], error: BaseException | None) -> int:
        """The result code of the answers to *pending* once :meth:`_store_start` is done (with *error* or None)."""
        if error is not None:
            if not isinstance(error, (sqlite3.Error, OSError)):
                raise error
            n = sum(len(p.fixes) for p in pending)
            log.exception("storing %d fixes failed; their messages are answered 1 (failure)", n)
            self.counters["store_errors"] += 1
            return 1
        self.counters["fixes_in"] += len(pending[0].fixes) if len(pending) == 1 else sum(len(p.fixes) for p in pending)
        return 0

    def _registration_row(self, pending: _Pending) -> tuple:
        """The ``terminals`` row of a terminal's own registration (0x0100): the plate it sends becomes its vehicle,
        but a terminal registered beforehand as a team's keeps its team code and kind, and a GCJ-02 terminal
        stays GCJ-02 (both are the operator's registration, which the terminal cannot know)."""
        before = self.store.terminal(pending.msg.terminal)
        if before is not None and before["kind"] == "team":
            return _terminal_row(pending.msg.terminal, before["vehicle_id"], before["gcj02"], "team")
        return _terminal_row(pending.msg.terminal, pending.vehicle or pending.msg.terminal,
                             bool(before and before["gcj02"]))

    def _answer(self, pending: _Pending, state: dict, result: int) -> bytes:
        if pending.vehicle is None or result != 0:     # a failed registration: general response "failure"
            return self._ack(pending.msg, state, result)
        return self._reply(pending.msg, state, jt808.REGISTER_RESPONSE,
                           jt808.encode_register_response(pending.msg.serial, 0, pending.code))

    def _handle(self, msg: jt808.Message, state: dict) -> list[bytes | _Pending]:
        key = _MESSAGE_KEYS.get(msg.msg_id)
        if key is None:
            key = _MESSAGE_KEYS.setdefault(msg.msg_id, f"messages_{msg.msg_id:04x}")
        self.counters[key] += 1
        terminal = msg.terminal
        try:
            if msg.msg_id == jt808.REGISTER:
                reg = jt808.decode_registration(msg.body, msg.version)
                return [_Pending(msg, [], reg.plate or terminal)]     # answered once the row is committed
            if msg.msg_id == jt808.AUTH:
                row = self.store.terminal(terminal)
                ok = row is not None and jt808.decode_auth(msg.body, msg.version) == row["auth_code"]
                if ok:
                    state["authenticated"].add(terminal)
                return [self._ack(msg, state, 0 if ok else 1)]
            if msg.msg_id in (jt808.HEARTBEAT, jt808.TERMINAL_RESPONSE):
                return [self._ack(msg, state, 0)] if msg.msg_id == jt808.HEARTBEAT else []
            if msg.msg_id in (jt808.LOCATION, jt808.BATCH_LOCATION):
                good = self._locations(msg, state, terminal)
                return [_Pending(msg, good) if good else self._ack(msg, state, 1 if good is None else 0)]
        except jt808.FrameError as exc:
            self.drops[exc.reason] += 1
            return [self._ack(msg, state, 2)]
        return [self._ack(msg, state, 3)]

    def _locations(self, msg: jt808.Message, state: dict, terminal: str) -> list[tuple[Fix, str]] | None:
        """The good fixes of a location message (None: refused, the terminal has not authenticated)."""
        single = msg.msg_id == jt808.LOCATION
        # a single location is read into its fields, without the Location object (the per-fix path)
        values = jt808.location_values(msg.body) if single else None
        locations = () if single else jt808.decode_batch_location(msg.body)[1]
        row = self.store._terminal(terminal)
        if self.auth and terminal not in state["authenticated"]:
            self.rejected["unauthenticated"] += 1 if single else len(locations)
            return None
        vehicle = row["vehicle_id"] if row else terminal
        gcj02 = bool(row and row["gcj02"])
        if single:
            try:
                return [(from_jt808_values(terminal, values, gcj02=gcj02), vehicle)]
            except FixRejected as exc:
                self.rejected[exc.reason_code] += 1
                return []
        good = []
        for loc in locations:
            try:
                good.append((from_jt808(terminal, loc, gcj02=gcj02), vehicle))
            except FixRejected as exc:
                self.rejected[exc.reason_code] += 1
        return good     # acknowledged once durably stored (see _connection)

    async def close(self, timeout_s: float = 5.0) -> None:
        """Close every connection: a message being stored is still answered; stop what is left after *timeout_s*."""
        conns = list(self._protocols)
        for conn in conns:
            conn.close()
        waiting = [conn.finished for conn in conns if not conn.finished.done()]
        if waiting:
            _, late = await asyncio.wait(waiting, timeout=timeout_s)
            if late:
                for conn in conns:
                    if not conn.finished.done():
                        conn.transport.abort()
                await asyncio.wait(late, timeout=1.0)


class _Connection(asyncio.Protocol):
    """One terminal connection (an asyncio protocol: no stream reader, task or drain per message).

    A read's messages are answered in order; a read with locations (or a registration) is answered
    once its transaction committed, and the bytes that arrive meanwhile wait, unread, until then
    (as a terminal that waits for its acknowledgement sends nothing anyway).
    """

    _INBOX_LIMIT = 1 << 18      # stop reading the socket beyond this many waiting bytes

    def __init__(self, gateway: Jt808Gateway) -> None:
        self.gw = gateway
        self.decoder, self.parts = jt808.StreamDecoder(), jt808.Reassembler()
        self.state: dict[str, Any] = {"authenticated": set(), "serial": 0}
        self.transport: asyncio.Transport | None = None
        self.waiting: tuple[list, list[_Pending], float] | None = None
        self.inbox = bytearray()
        self.closing = False        # close once the answers in flight are written
        self.finished: asyncio.Future = asyncio.get_running_loop().create_future()
        self._paused: set[str] = set()
        self._eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport      # type: ignore[assignment]
        self.gw._protocols.add(self)
        self.gw.counters["connections"] += 1

    def data_received(self, data: bytes) -> None:
        if self.waiting is not None or self.closing:
            self.inbox += data
            if len(self.inbox) > self._INBOX_LIMIT:
                self._pause("inbox")
            return
        self._process(data)

    def _process(self, data: bytes) -> None:
        t_read = time.perf_counter()
        replies = self.gw._read(self, data)
        pending = [r for r in replies if isinstance(r, _Pending)]
        if not pending:
            if len(replies) == 1:
                self.transport.write(replies[0])
            elif replies:
                self.transport.writelines(replies)
            return
        self.waiting = (replies, pending, t_read)
        self.gw._store_start(pending, self._stored)

    def _stored(self, error: BaseException | None) -> None:
        replies, pending, t_read = self.waiting
        self.waiting = None
        gw, state = self.gw, self.state
        result = gw._store_result(pending, error)
        replies = [gw._answer(r, state, result) if isinstance(r, _Pending) else r for r in replies]
        gw.ack_ms.append((time.perf_counter() - t_read) * 1000)
        transport = self.transport
        if transport.is_closing():
            return
        if len(replies) == 1:       # one message per read: the usual case
            transport.write(replies[0])
        else:
            transport.writelines(replies)
        if self.closing:
            transport.close()
        elif self.inbox:
            data = bytes(self.inbox)
            self.inbox.clear()
            self._resume("inbox")
            self._process(data)
        elif self._eof:
            transport.close()

    def eof_received(self) -> bool:
        if self.waiting is not None:
            self._eof = True
            return True             # keep the socket to write the answers in flight, then close
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.gw._protocols.discard(self)
        if not self.finished.done():
            self.finished.set_result(None)

    def pause_writing(self) -> None:
        self._pause("writing")

    def resume_writing(self) -> None:
        self._resume("writing")

    def _pause(self, why: str) -> None:
        if not self._paused:
            self.transport.pause_reading()
        self._paused.add(why)

    def _resume(self, why: str) -> None:
        if why in self._paused:
            self._paused.discard(why)
            if not self._paused and not self.transport.is_closing():
                self.transport.resume_reading()

    def close(self) -> None:
        """Close now, or once the answers being stored are written."""
        if self.waiting is None:
            self.transport.close()
        else:
            self.closing = True
