"""The live case-event log: intake cases and their workflow stages, kept in the store's ``case_events`` layer.

One row per stage transition, the form :func:`gridlib.cases.read_event_log` reads (``case_id``,
``stage``, ``time`` and ``hours``; every other column is a case attribute, filled on the
``reported`` row written at intake: class, kind, source, urgency, WGS-84 ``lon``/``lat`` and
the assignment at intake). Times are naive China time, ``YYYY-MM-DDTHH:MM:SS``.

:meth:`CaseLog.check_event` refuses an event the log could not use, with a ``reason_code``
from :data:`gridlib.rejects.CODES`: an unknown stage, a missing or unreadable time, a time
before the case's latest event (out of order) or in the future, an event after the case
ended, and anything else :func:`gridlib.cases.read_event_log` would reject the case for (the
case's events plus the new one are read with it before anything is stored). Only accepted
rows are appended, all of one request in one transaction (:meth:`CaseLog.append`).

Teams (:mod:`gridlib.live.teams`): a ``dispatched`` or ``arrived`` event may name the team
(``team_id``, a ``base_id`` of ``team_bases``); the ``reported`` row keeps the first team of
the intake's dispatch ranking (``dispatch_team``); an ``arrived`` event stamped from a team's
GPS fix carries its evidence: ``stamped_by = "auto"``, ``fix_time`` (naive China time) and
``distance_m`` (fix to case, metres). ``read_event_log`` reads them as case attributes (first
non-empty value per case). A ``case_events`` layer written before these columns existed gets
them (empty) when the service starts.

In a GeoPackage store the rows are inserted with one SQLite transaction under the store's
write lock (a whole-store ``transaction()`` copies the file, which a per-request write cannot
afford); elsewhere (PostGIS) ``write_layer(..., mode="append")``. Both are all-or-nothing, and
:meth:`CaseLog.append` returns only once the rows are durably committed (``synchronous=FULL``:
the journal and the file are fsynced), so the service acknowledges a case only after that.

The GeoPackage connection is opened once and kept (a fresh connection re-reads the GeoPackage
schema on its first statement), with the file in write-ahead-log mode (``journal_mode=WAL``,
``synchronous=FULL``: a commit appends to the ``-wal`` file and fsyncs it once, where the rollback
journal fsyncs three times; 33-45 ms → a few ms per commit on a loaded disk). GDAL and every SQLite
reader read a WAL GeoPackage (they see every committed row). Three guards make the kept connection
safe:

- GDAL links its own SQLite, and a connection closing deletes the ``-wal`` file when it gets the
  database's exclusive lock — which it always gets in the serving process (POSIX locks are per
  process), so a pyogrio read there would unlink the log under the kept connection and later
  commits would go to an unlinked file. The case log therefore holds an *open file description*
  read lock (``F_OFD_SETLK``, owned by its own descriptor, not the process) on a byte of
  SQLite's shared-lock range: no connection, in this process or another, gets the exclusive lock
  while the service runs, so none deletes the log.
- For the same reason GDAL's SQLite, opening the ``-shm`` file (the WAL index) where it sees no lock on
  its "dead man switch" byte, would truncate and rebuild it under the kept connection's mapping (a thread
  touching it meanwhile dies of SIGBUS): the case log holds an OFD read lock on that byte too.
- A whole-store ``transaction()`` (a nightly run, an import) checkpoints the log into the file
  before copying it (:mod:`gridlib.store.gpkg`), removes the old file's ``-shm`` and renames a new file
  into place; the case log notices the new file under the write lock before its next write and reopens
  on it (closing the old connection while still holding its lock, so it cannot delete the new file's
  ``-wal``).

>>> import os, tempfile
>>> import gridlib as gl
>>> store = gl.store.open(os.path.join(tempfile.mkdtemp(), "s.gpkg"))
>>> log = CaseLog(store)
>>> log.append([reported_row({"case_id": "K1", "class_code": "06012", "kind": "event", "lon": 121.5,
...                           "lat": 31.24}, "2026-11-20T09:00:00")])
>>> row, problem = log.check_event("K1", {"stage": "立案", "time": "2026-11-20 09:03"})
>>> log.append([row]); problem is None, row["stage"]
(True, 'filed')
>>> log.check_event("K1", {"stage": "dispatched", "time": "2026-11-20 09:01"})[1]["reason_code"]
'time_order'
>>> cases, _ = gl.cases.read_event_log(store.read_layer("case_events"))
>>> cases[["case_id", "status"]].values.tolist()
[['K1', 'filed']]
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import math
import os
import re
import sqlite3
import struct
import threading
from typing import Any

import numpy as np
import pandas as pd

from gridlib.cases.log import read_event_log, with_live_cases  # noqa: F401  (re-exported: it lived here)
from gridlib.cases.model import EVENT_STAGES, MAX_EXTENSION_HOURS
from gridlib.errors import LockError
from gridlib.times import parse_times

__all__ = ["CaseLog", "EVENT_LAYER", "EVENT_COLUMNS", "reported_row", "now_china", "with_live_cases"]

log = logging.getLogger(__name__)

EVENT_LAYER = "case_events"
#: Columns of the ``case_events`` layer (text unless in ``_NUMBERS``).
EVENT_COLUMNS = ("case_id", "stage", "time", "hours", "class_code", "kind", "source", "urgency", "component_id",
                 "lon", "lat", "grid_code", "community_code", "street_code", "district_code", "responsible_unit",
                 "responsible_team", "received_at", "team_id", "dispatch_team", "stamped_by", "fix_time",
                 "distance_m")
_NUMBERS = ("hours", "lon", "lat", "distance_m")
#: An open-file-description read lock on the last byte of SQLite's shared-lock range (``SHARED_FIRST`` =
#: 2**30 + 2, 510 bytes): SQLite's exclusive lock on the database (a write lock over the range) is then refused
#: to every connection, so none removes the ``-wal`` file while the case log keeps its connection.
_GUARD = struct.pack("hh4xqqi4x", fcntl.F_RDLCK, os.SEEK_SET, 2**30 + 2 + 509, 1, 0)
#: An open-file-description read lock on the ``-shm`` file's "dead man switch" byte (``UNIX_SHM_DMS`` = 128 in
#: SQLite's unix VFS): a connection that opens the shared memory while no other holds that byte truncates the
#: file to 3 bytes and builds the WAL index again. GDAL's own SQLite in this process sees no lock of Python's
#: SQLite (POSIX locks are per process), so without this it truncated the ``-shm`` file the case log's
#: connection has mapped, and a thread touching the mapping meanwhile died of SIGBUS.
_SHM_GUARD = struct.pack("hh4xqqi4x", fcntl.F_RDLCK, os.SEEK_SET, 128, 1, 0)
_INSERT = f"INSERT INTO {EVENT_LAYER} ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
#: Event fields a client may send to ``POST /v1/cases/{case_id}/events``.
EVENT_FIELDS = ("stage", "time", "hours", "team_id")
#: Stages that may name a team (``team_id``).
TEAM_STAGES = ("dispatched", "arrived")
#: Stage column → the English stage name stored (Chinese names are accepted and stored in English).
_ENGLISH = {col: name for name, (col, _how) in EVENT_STAGES.items() if name.isascii()}
_ENDS = ("closed_at", "cancelled_at", "not_filed_at")
_UTC8 = dt.timedelta(hours=8)
#: A client clock may run this far ahead of the server's.
FUTURE_SLACK = pd.Timedelta(minutes=10)
_SLACK = FUTURE_SLACK.to_pytimedelta()


def now_china() -> pd.Timestamp:
    """The current time, naive China time, to the second.

    >>> now_china().tzinfo is None
    True
    """
    # China has kept UTC+8 without daylight saving since 1991: a fixed offset, no tz database per call
    return pd.Timestamp((dt.datetime.now(dt.UTC) + _UTC8).replace(tzinfo=None, microsecond=0))


def _now_iso() -> str:
    """``now_china().isoformat()``, without a Timestamp."""
    return (dt.datetime.now(dt.UTC) + _UTC8).replace(tzinfo=None, microsecond=0).isoformat()


def _reject(code: str, reason: str, field: str | None = None, case_id: Any = None) -> dict[str, Any]:
    return {"case_id": case_id, "reason_code": code, "field": field, "reason": reason}


#: The ISO forms a client sends most (``2026-11-20 09:00``, ``2026-11-20T09:00:00+08:00``, ``…Z``).
_ISO = re.compile(r"(\d{4})-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:\d{2})?")
_CHINA = dt.timezone(dt.timedelta(hours=8))


def _iso_time(value: Any) -> pd.Timestamp | None:
    """*value* as naive China time when it is one of the plain ISO forms of years 1992–2098 (what
    :func:`gridlib.times.parse_times` gives for it, without its column machinery), else None."""
    if not isinstance(value, str) or not (m := _ISO.fullmatch(value.strip())) or not 1992 <= int(m[1]) <= 2098:
        return None   # China kept no daylight saving from 1992; a window's edge is years away
    try:
        t = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if t.tzinfo is not None:
        t = t.astimezone(_CHINA).replace(tzinfo=None)
    return pd.Timestamp(t)


def parse_time(value: Any, field: str, case_id: Any) -> tuple[pd.Timestamp | None, dict | None]:
    """One client time (ISO 8601, with or without offset; epoch seconds) → naive China time, or a reject.

    >>> parse_time("2026-11-20T01:00:00Z", "time", "K1")[0]
    Timestamp('2026-11-20 09:00:00')
    >>> parse_time("soon", "time", "K1")[1]["reason_code"]
    'unparseable_time'
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, _reject("missing_time", f"{field} is missing", field, case_id)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None, _reject("unparseable_time", f"{field} {value!r} is not a time", field, case_id)
    t = _iso_time(value)
    if t is None:
        times, code = parse_times(pd.Series([str(value)], dtype="string"))   # epoch seconds as digits
        if code[0] is not None or pd.isna(times.iloc[0]):
            return None, _reject(code[0] or "unparseable_time", f"{field} {value!r} cannot be read as a time", field,
                                 case_id)
        t = pd.Timestamp(times.iloc[0]).floor("s")     # (the quick ISO forms have whole seconds)
    if t > (dt.datetime.now(dt.UTC) + _UTC8).replace(tzinfo=None, microsecond=0) + _SLACK:   # now_china() + slack
        return None, _reject("time_out_of_range", f"{field} {t.isoformat()} is in the future (China time)", field,
                             case_id)
    return t, None


def reported_row(case: dict[str, Any], reported_at: str) -> dict[str, Any]:
    """The ``reported`` row of a new case: its attributes and the assignment at intake.

    >>> reported_row({"case_id": "K1", "class_code": "06012", "lon": 121.5, "lat": 31.2}, "2026-11-20T09:00:00")["stage"]
    'reported'
    """
    row = {c: case.get(c) for c in EVENT_COLUMNS}
    teams = (case.get("dispatch") or {}).get("teams") or []
    row.update(case_id=str(case["case_id"]), stage="reported", time=reported_at, hours=None,
               kind=case.get("kind") or "event", urgency=case.get("urgency") or "normal",
               received_at=_now_iso(), team_id=None, stamped_by=None, fix_time=None, distance_m=None,
               dispatch_team=teams[0].get("base_id") if teams else None)
    return row


class CaseLog:
    """The live cases: their events in memory (for validation) and in the store's ``case_events`` layer.

    Parameters
    ----------
    store : Store
        The gridlib store the service runs on; existing ``case_events`` rows are loaded.

    Examples
    --------
    >>> import os, tempfile
    >>> import gridlib as gl
    >>> store = gl.store.open(os.path.join(tempfile.mkdtemp(), "s.gpkg"))
    >>> CaseLog(store).append([reported_row({"case_id": "K1", "class_code": "06012"}, "2026-11-20T09:00:00")])
    >>> log = CaseLog(store)                       # a restarted service sees the stored cases
    >>> "K1" in log, "K2" in log
    (True, False)
    >>> log.check_event("K1", {"stage": "closed", "time": "2026-11-20 09:30"})[1]["reason"]
    'case rejected: closed without disposal (closed_at set, disposed_at missing)'
    """

    def __init__(self, store: Any) -> None:
        self.store = store
        self.events: dict[str, list[dict[str, Any]]] = {}
        #: Known team codes: when set, a ``team_id`` an event names must be one of them.
        self.team_ids: set[str] | None = None
        #: Called with the rows of every :meth:`append`, after they were stored (e.g. the team tracker).
        self.on_append: list[Any] = []
        self._con: sqlite3.Connection | None = None      # the kept GeoPackage connection (see the module notes)
        self._file: tuple[int, int] | None = None        # (device, inode) of the file it was opened on
        self._guard: int | None = None                   # descriptor holding the OFD lock on that file
        self._shm_guard: int | None = None               # and the one on its -shm file (WAL mode only)
        self._mutex = threading.RLock()                  # appends come from the intake and the monitor threads
        self._exists = EVENT_LAYER in store.layers()
        if self._exists:
            frame = store.read_layer(EVENT_LAYER)
            if missing := [c for c in EVENT_COLUMNS if c not in frame.columns]:
                frame = self._add_columns(frame, missing)
            for row in frame.to_dict("records"):
                self.events.setdefault(str(row["case_id"]), []).append(
                    {c: _none(row.get(c)) for c in EVENT_COLUMNS})

    def _add_columns(self, frame: pd.DataFrame, missing: list[str]) -> pd.DataFrame:
        """Rewrite a ``case_events`` layer of an older release with the columns it lacks (empty), once."""
        log.info("case_events: adding columns %s", missing)
        frame = frame.reindex(columns=list(EVENT_COLUMNS))
        for c in EVENT_COLUMNS:
            frame[c] = frame[c].astype(float) if c in _NUMBERS else frame[c].astype(object)
        self.store.write_layer(EVENT_LAYER, frame, mode="replace")
        return frame

    def __contains__(self, case_id: object) -> bool:
        return str(case_id) in self.events

    def __len__(self) -> int:
        return len(self.events)

    def check_event(self, case_id: str, body: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """``(row, None)`` for an event the log accepts for *case_id*, else ``(None, reject)``.

        The caller checks that the case exists (404 otherwise).
        """
        if not isinstance(body, dict):
            return None, _reject("inconsistent_record", "an event is a JSON object {stage, time[, hours]}",
                                 case_id=case_id)
        unknown = sorted(set(body) - set(EVENT_FIELDS))
        if unknown:
            return None, _reject("extra_fields", f"unknown fields {unknown}; an event has {list(EVENT_FIELDS)}",
                                 unknown[0], case_id)
        raw = body.get("stage")
        name = raw.strip() if isinstance(raw, str) else ""
        key = name if name in EVENT_STAGES else name.lower()
        if key not in EVENT_STAGES:
            return None, _reject("unknown_value", f"unknown stage {raw!r}; use one of "
                                 f"{', '.join(s for s in EVENT_STAGES if s.isascii() and s != 'reported')}",
                                 "stage", case_id)
        column = EVENT_STAGES[key][0]
        if column == "reported_at":
            return None, _reject("unknown_value", "the report is recorded by POST /v1/cases, not as an event",
                                 "stage", case_id)
        t, problem = parse_time(body.get("time"), "time", case_id)
        if problem:
            return None, problem
        hours = body.get("hours")
        if column == "extension_hours":
            if isinstance(hours, bool) or not isinstance(hours, int | float) or not math.isfinite(hours) \
                    or not 0 <= hours <= MAX_EXTENSION_HOURS:
                return None, _reject("bad_number", f"an extension needs hours, a number in [0, "
                                     f"{MAX_EXTENSION_HOURS}], got {hours!r}", "hours", case_id)
        elif hours is not None:
            return None, _reject("inconsistent_record", "hours belong to extension events only", "hours", case_id)
        team = body.get("team_id")
        stage = _ENGLISH.get(column, key)
        if team is not None:
            if stage not in TEAM_STAGES:
                return None, _reject("inconsistent_record", f"team_id belongs to {' and '.join(TEAM_STAGES)} events "
                                     "only", "team_id", case_id)
            if not isinstance(team, str) or not team.strip():
                return None, _reject("unknown_value", f"team_id {team!r} is not a team code", "team_id", case_id)
            team = team.strip()
            if self.team_ids is not None and team not in self.team_ids:
                return None, _reject("unknown_value", f"unknown team {team!r} (the base_id of a team base)",
                                     "team_id", case_id)
        past = self.events[case_id]
        ended = [e for e in past if EVENT_STAGES[e["stage"]][0] in _ENDS]
        if ended:
            return None, _reject("inconsistent_record", f"the case ended ({ended[0]['stage']} at "
                                 f"{ended[0]['time']}); no stage may follow", "stage", case_id)
        latest = max(pd.Timestamp(e["time"]) for e in past)
        if t < latest:
            return None, _reject("time_order", f"{key} at {t.isoformat()} is before the case's latest event "
                                 f"({latest.isoformat()}): events are appended in time order", "time", case_id)
        row = {c: None for c in EVENT_COLUMNS}
        row.update(case_id=case_id, stage=stage, time=t.isoformat(), team_id=team,
                   hours=float(hours) if hours is not None else None, received_at=now_china().isoformat())
        _, rejects = read_event_log(pd.DataFrame([*past, row], columns=list(EVENT_COLUMNS)))
        if len(rejects):
            first = rejects.iloc[-1]
            field = first.get("field")
            return None, _reject(str(first["reason_code"]), str(first["reason"]),
                                 field if isinstance(field, str) and field else "stage", case_id)
        return row, None

    def append(self, rows: list[dict[str, Any]]) -> None:
        """Store *rows* (all or none) and add them to the in-memory log.

        Raises :class:`gridlib.errors.LockError` when another writer holds the store (nothing stored).
        """
        if not rows:
            return
        from gridlib.store.gpkg import GpkgStore

        clean = [_clean(r) for r in rows]
        if self._exists and isinstance(self.store, GpkgStore):
            values = [tuple(r.values()) for r in clean]
            # no whole-store transaction is copying the file now, and no other writer of this process is inserting
            with self._mutex, self.store.lock("write"):
                con = self._connection()
                try:
                    con.execute("BEGIN IMMEDIATE")
                    con.executemany(_INSERT, values)
                    con.execute("COMMIT")           # durable on return (synchronous=FULL)
                except BaseException:
                    self.close()                    # rolls back what is not committed; the next write reopens
                    raise
        else:
            frame = pd.DataFrame(rows, columns=list(EVENT_COLUMNS))
            for c in EVENT_COLUMNS:
                frame[c] = frame[c].astype(float) if c in _NUMBERS else frame[c].astype(object)
            self.store.write_layer(EVENT_LAYER, frame, mode="append")
            self._exists = True
        for r in clean:
            self.events.setdefault(str(r["case_id"]), []).append(r)
        for hook in list(self.on_append):
            try:
                hook(rows)
            except Exception:  # noqa: BLE001 - the rows are stored; a failing hook must not undo the answer
                log.exception("case log hook %r failed", hook)

    def _connection(self) -> sqlite3.Connection:
        """The kept GeoPackage connection, (re)opened when none is open or the store's file was replaced
        since (called under the store's write lock: no one replaces the file meanwhile)."""
        st = os.stat(self.store.path)
        if self._con is not None and self._file != (st.st_dev, st.st_ino):
            self.close(keep_log=True)      # it reads the old, unlinked file: nothing of it is used again
        if self._con is None:
            guard, con = os.open(self.store.path, os.O_RDWR | os.O_CLOEXEC), None
            try:
                con = sqlite3.connect(self.store.path, timeout=10, isolation_level=None, check_same_thread=False)
                # WAL first (switching needs the exclusive lock the guard then withholds); if a reader holds the
                # file now the mode stays as it is (still durable, slower) and the next reopen tries again
                try:
                    con.execute("PRAGMA journal_mode=WAL")
                except sqlite3.OperationalError:
                    pass
                con.execute("PRAGMA synchronous=FULL")
                try:
                    fcntl.fcntl(guard, fcntl.F_OFD_SETLK, _GUARD)
                except OSError as exc:      # a writer outside gridlib holds the file, or no OFD locks here
                    raise LockError(f"{self.store.path}: cannot hold the case log's lock on the file ({exc}); "
                                    "nothing was stored") from exc
            except BaseException:
                os.close(guard)
                if con is not None:
                    con.close()
                raise
            if os.fstat(guard).st_ino != st.st_ino:
                os.close(guard)
                con.close()
                raise RuntimeError(f"{self.store.path} was replaced while the store's write lock was held")
            self._con, self._file, self._guard = con, (st.st_dev, st.st_ino), guard
            self._shm_guard = _hold_shm(self.store.path, con)
        return self._con

    def close(self, keep_log: bool = False) -> None:
        """Close the kept GeoPackage connection (rolling back a write in progress); the next append reopens it.

        Without *keep_log* the lock that keeps the ``-wal`` file alive goes first, so that, when no one
        else has the file open, SQLite checkpoints the log into the file and removes it. With it (the
        file was replaced) the lock goes last: the old connection must not remove the new file's log.

        >>> import os, tempfile
        >>> import gridlib as gl
        >>> log = CaseLog(gl.store.open(os.path.join(tempfile.mkdtemp(), "s.gpkg")))
        >>> log.close()
        """
        with self._mutex:                    # not while another thread writes
            con, guards = self._con, [g for g in (self._guard, self._shm_guard) if g is not None]
            self._con, self._file, self._guard, self._shm_guard = None, None, None, None
            try:
                if not keep_log:
                    while guards:
                        os.close(guards.pop())
                if con is not None:
                    con.close()
            finally:
                for guard in guards:
                    os.close(guard)


def _hold_shm(path: str | os.PathLike[str], con: sqlite3.Connection) -> int | None:
    """A descriptor holding :data:`_SHM_GUARD` on *path*'s ``-shm`` file once *con* has mapped it (WAL mode), or
    None (another journal mode; no OFD locks here: then only a GDAL read in this process can disturb it)."""
    if con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        return None
    con.execute("SELECT 1 FROM sqlite_master LIMIT 1")     # a read maps the WAL index (creates -shm)
    try:
        fd = os.open(f"{os.fspath(path)}-shm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _SHM_GUARD)
    except OSError as exc:
        log.warning("%s-shm: cannot hold the case log's lock on the WAL index (%s)", path, exc)
        os.close(fd)
        return None
    return fd


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    """*row* as stored: every event column in order, missing values None, numpy scalars as Python values
    (:func:`_none` per value; text, whole numbers and None as they are, without the call)."""
    return {c: v if (v := row.get(c)) is None or type(v) is str or type(v) is int else _none(v) for c in EVENT_COLUMNS}


def _none(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value
