"""Truck alerts: opened, updated, closed and withdrawn as the live check's episodes change; stored and streamed.

:class:`AlertBook` keeps the alerts of the nights a :class:`~gridlib.live.monitor.TruckMonitor`
watches. :meth:`AlertBook.reconcile` matches a night's episodes (the batch detectors' rows) to
the alerts of the same vehicle and type by overlapping time and raises one event per change.
Every event is a full alert row (:data:`ALERT_COLUMNS`: vehicle, permit, company, type, start and
end of the episode in China time, status, position of its first fix, grid, community, street,
district and responsible unit/team, the service's ``opened_at``/``closed_at`` wall-clock times)
plus ``seq`` and ``event``. Events are appended to the store's ``alerts`` layer *before* they
are published, so a restarted service (:meth:`AlertBook.load`) knows every alert it raised and
never raises one twice. Alerts carry no personal data: vehicle plate, permit, company and place.

:func:`gridlib.live.alert_routes.add_alert_routes` serves them: ``GET /v1/alerts?since=`` and the Server-Sent Events
stream ``GET /v1/alerts/stream`` (each event's ``id`` is its ``seq``; ``Last-Event-ID`` or
``since`` resumes).

>>> book = AlertBook()
>>> found = pd.DataFrame({"vehicle_id": ["V1"], "type": ["deviation"], "start": [np.datetime64("2026-11-20T22:10")],
...                       "end": [np.datetime64("2026-11-20T22:14")], "permit_id": ["P1"], "company": ["K"],
...                       "detail": ["off route"], "geometry": [shapely.points(121.5, 31.24)]})
>>> [(e["event"], e["status"]) for e in book.reconcile(20412, ["V1"], found, {"V1": np.datetime64("2026-11-20T22:14")})]
[('opened', 'open')]
>>> [(e["event"], e["end"]) for e in book.reconcile(20412, ["V1"], found, {"V1": np.datetime64("2026-11-20T22:15")})]
[('closed', '2026-11-20T22:14:00')]
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import shapely

from gridlib.errors import LockError

__all__ = ["AlertBook", "ALERT_LAYER", "ALERT_COLUMNS", "PLACE_COLUMNS", "grid_locator"]

log = logging.getLogger(__name__)

ALERT_LAYER = "alerts"
#: Where an alert is: the columns a locator fills (from ``gl.assign``, as ``/v1/grids/at`` answers).
PLACE_COLUMNS = ("grid_code", "community_code", "street_code", "street_name", "district_code",
                 "responsible_unit", "responsible_team")
#: Columns of the ``alerts`` layer: one row per alert event (the alert's state after it).
ALERT_COLUMNS = ("seq", "event", "alert_id", "status", "vehicle_id", "permit_id", "company", "type", "night", "start",
                 "end", "duration_s", "lon", "lat", *PLACE_COLUMNS, "detail", "opened_at", "closed_at", "emitted_at",
                 "case_id")
_NUMBERS = ("seq", "duration_s", "lon", "lat")
_QUOTED = ", ".join(f'"{c}"' for c in ALERT_COLUMNS)    # "end" is an SQL keyword
_EPOCH = np.datetime64("1970-01-01", "D")


def _iso(t: Any) -> str:
    return str(np.datetime64(t, "s")).replace(" ", "T")


def _isos(values: pd.Series) -> list[str]:
    """:func:`_iso` of every value of a column of times, vectorised.

    >>> _isos(pd.Series(pd.to_datetime(["2026-11-20 22:00:05.7", None]))) == [_iso(np.datetime64("2026-11-20T22:00:05")),
    ...                                                                        _iso(np.datetime64("NaT"))]
    True
    """
    return np.datetime_as_string(np.asarray(values, dtype="datetime64[ns]").astype("datetime64[s]"), unit="s").tolist()


def _now() -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).replace(tzinfo=None).isoformat(timespec="milliseconds")


def _seconds(start: str, end: str) -> int:
    return int((np.datetime64(end, "s") - np.datetime64(start, "s")).astype("int64"))


def _night_text(night: int) -> str:
    return str(_EPOCH + np.timedelta64(int(night), "D"))


def _clean(value: Any) -> Any:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


class AlertBook:
    """The alerts of the watched nights, their event log, the ``alerts`` layer and the live listeners.

    Parameters
    ----------
    store : Store, optional
        Events are appended to its ``alerts`` layer before they are published.
    locate : callable, optional
        ``locate(lon, lat, types) -> list of dicts`` with :data:`PLACE_COLUMNS` for arrays of positions
        and the alerts' types (see :func:`grid_locator`).
    case_id_for : callable, optional
        ``case_id_for(alert) -> str or None``: the id of the case a new alert becomes, kept in its
        ``case_id`` column (see :mod:`gridlib.live.alert_cases`); None leaves it empty.

    Attributes
    ----------
    on_stored : list of callables
        Each is called with the events just stored, before they are published.

    Examples
    --------
    >>> book = AlertBook()
    >>> book.open_count(), book.seq
    (0, 0)
    """

    def __init__(self, store: Any = None, locate: Callable[[np.ndarray, np.ndarray], list[dict]] | None = None, *,
                 case_id_for: Callable[[dict[str, Any]], str | None] | None = None) -> None:
        self.store, self.locate, self.case_id_for = store, locate, case_id_for
        self.on_stored: list[Callable[[list[dict[str, Any]]], None]] = []
        self.alerts: dict[str, dict[str, Any]] = {}
        self.last_event: dict[str, dict[str, Any]] = {}     # alert id → its latest event
        self.events: list[dict[str, Any]] = []
        self.seq = 0
        self.counts: Counter[str] = Counter()
        self._by_key: dict[tuple[str, int, str], list[str]] = {}
        self._by_vehicle: dict[tuple[str, int], set[str]] = {}
        self._unsaved: list[dict[str, Any]] = []
        self._listeners: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = set()
        self._lock = threading.Lock()
        self._layer_exists = store is not None and ALERT_LAYER in store.layers()

    # ---- state -------------------------------------------------------------------------------------------
    def load(self) -> int:
        """Load the stored events (a restart): the alerts' latest states and the event log. Returns the count."""
        if not self._layer_exists:
            return 0
        frame = self.store.read_layer(ALERT_LAYER).sort_values("seq", kind="stable")
        for row in frame.to_dict("records"):
            event = {c: _clean(row.get(c)) for c in ALERT_COLUMNS}
            event["seq"] = int(event["seq"])
            self._apply(event)
            self.events.append(event)
        self.seq = max([e["seq"] for e in self.events], default=0)
        return len(frame)

    def _apply(self, event: dict[str, Any]) -> None:
        alert = {k: v for k, v in event.items() if k not in ("seq", "event", "emitted_at")}
        aid, night = alert["alert_id"], self._night(alert["night"])
        key = (alert["vehicle_id"], night, alert["type"])
        if aid not in self.alerts:
            self._by_key.setdefault(key, []).append(aid)
            self._by_vehicle.setdefault((alert["vehicle_id"], night), set()).add(alert["type"])
        self.alerts[aid] = alert
        self.last_event[aid] = event
        if alert["status"] == "withdrawn" and aid in self._by_key.get(key, []):
            self._by_key[key].remove(aid)
        self.counts[event["event"]] += 1

    @staticmethod
    def _night(text: str) -> int:
        return int((np.datetime64(text, "D") - _EPOCH).astype(int))

    def latest_night(self) -> int | None:
        """The latest night an alert belongs to (None without alerts)."""
        return max((self._night(a["night"]) for a in self.alerts.values()), default=None)

    def forget_before(self, night: int) -> list[dict[str, Any]]:
        """Close the alerts of nights before *night* still open (their night is over: the nightly run reports
        them ending at their last fix) and drop those nights' matching state; returns the ``closed`` events.

        >>> book = AlertBook()
        >>> found = pd.DataFrame({"vehicle_id": ["V1"], "type": ["no_permit"], "start": [np.datetime64("2026-11-20T23:00")],
        ...                       "end": [np.datetime64("2026-11-21T05:00")], "geometry": [shapely.points(121.5, 31.24)]})
        >>> _ = book.reconcile(20412, ["V1"], found, {"V1": np.datetime64("2026-11-21T05:00")})
        >>> [(e["event"], e["end"]) for e in book.forget_before(20413)], book.open_count()
        ([('closed', '2026-11-21T05:00:00')], 0)
        """
        old = sorted((a for a in self.alerts.values() if a["status"] == "open" and self._night(a["night"]) < night),
                     key=lambda a: (a["start"], a["alert_id"]))
        events = self._emit([("closed", {**a}, None) for a in old], pd.DataFrame(), {}, _now()) if old else []
        for key in [k for k in self._by_key if k[1] < night]:
            del self._by_key[key]
        for key in [k for k in self._by_vehicle if k[1] < night]:
            del self._by_vehicle[key]
        return events

    def open_count(self) -> int:
        """Alerts now open."""
        return sum(a["status"] == "open" for a in self.alerts.values())

    # ---- the diff ----------------------------------------------------------------------------------------
    def reconcile(self, night: int, vehicles: list[str], found: pd.DataFrame, last: dict[str, Any],
                  settle_s: float = 0.0) -> list[dict[str, Any]]:
        """Match *found* episodes (detector rows of *vehicles*' night *night*) to their alerts; store and publish.

        *last* is each vehicle's last (kept) fix time: an episode ending less than *settle_s* before it
        is still open (the detectors look that far ahead: a fix is known to be parked only once the
        dwell after it is complete, so the end of a stop or of a drive can still move).
        """
        now = _now()
        groups: dict[tuple[str, str], list[int]] = {}
        if len(found):
            order = np.lexsort((found["start"].to_numpy(), found["type"].to_numpy(), found["vehicle_id"].to_numpy()))
            vids, types = found["vehicle_id"].to_numpy(dtype=object), found["type"].to_numpy(dtype=object)
            for i in order.tolist():
                groups.setdefault((vids[i], types[i]), []).append(i)
        for v in vehicles:
            for typ in self._by_vehicle.get((v, night), ()):
                groups.setdefault((v, typ), [])
        starts = _isos(found["start"]) if len(found) else None      # ISO texts, converted once per tick
        ends = _isos(found["end"]) if len(found) else None
        end_s = np.asarray(found["end"], dtype="datetime64[ns]").astype("datetime64[s]") if len(found) else None
        settle = max(settle_s, 1)
        changes: list[tuple[str, dict[str, Any], int | None]] = []   # (event, alert, row of found)
        reserved: set[str] = set()
        for (v, typ), rows in sorted(groups.items()):
            ids = sorted(self._by_key.get((v, night, typ), []), key=lambda a: self.alerts[a]["start"])
            free = list(ids)
            if v in last and rows:      # open: the episode ends less than the settle time before the last fix
                opens = ((np.datetime64(last[v], "s") - end_s[rows]).astype("int64") < settle).tolist()
            else:
                opens = [False] * len(rows)
            for i, open_ in zip(rows, opens, strict=True):
                s, e = starts[i], ends[i]
                status = "open" if open_ else "closed"
                hit = next((a for a in free if self.alerts[a]["start"] <= e and s <= self.alerts[a]["end"]), None)
                if hit is None:
                    alert = self._new(found, i, night, s, e, now, reserved)
                    changes.append(("opened", alert, i))
                    if status == "closed":
                        changes.append(("closed", alert, None))
                    continue
                free.remove(hit)
                old = self.alerts[hit]
                if (old["start"], old["end"], old["status"]) == (s, e, status):
                    continue
                alert = {**old, "start": s, "end": e, "duration_s": _seconds(s, e)}
                alert["detail"] = _clean(found["detail"].iloc[i]) if "detail" in found else old["detail"]
                if (s, status) == (old["start"], "open") and old["status"] == "open":
                    self.alerts[hit] = alert      # an open alert's end follows its last fix: no event, nothing stored
                    continue
                event = ("closed" if status == "closed" and old["status"] == "open" else
                         "reopened" if status == "open" and old["status"] == "closed" else "updated")
                changes.append((event, alert, i if s != old["start"] else None))
            for a in free:
                changes.append(("withdrawn", {**self.alerts[a]}, None))
        return self._emit(changes, found, last, now)

    def _new(self, found: pd.DataFrame, i: int, night: int, s: str, e: str, now: str,
             reserved: set[str]) -> dict[str, Any]:
        row = found.iloc[i]
        base = f"{row['vehicle_id']}-{row['type']}-{s.replace('-', '').replace(':', '')}"
        aid, k = base, 1
        while aid in self.alerts or aid in reserved:
            k += 1
            aid = f"{base}-{k}"
        alert = {c: None for c in ALERT_COLUMNS if c not in ("seq", "event", "emitted_at")}
        alert.update(alert_id=aid, vehicle_id=str(row["vehicle_id"]), type=str(row["type"]),
                     permit_id=_clean(row.get("permit_id")), company=_clean(row.get("company")),
                     night=_night_text(night), start=s, end=e, opened_at=now,
                     duration_s=_seconds(s, e),
                     detail=_clean(row.get("detail")))
        alert["case_id"] = self.case_id_for(alert) if self.case_id_for is not None else None
        reserved.add(aid)      # two new episodes of one tick never share an id
        return alert

    def _emit(self, changes: list[tuple[str, dict[str, Any], int | None]], found: pd.DataFrame,
              last: dict[str, Any], now: str) -> list[dict[str, Any]]:
        placed = [(a, i) for ev, a, i in changes if i is not None]
        if placed:  # the position of the episode's first fix, and its place, for new alerts and moved starts
            geoms = found["geometry"].to_numpy()[[i for _, i in placed]]
            first = np.where(shapely.get_type_id(geoms) == 0, geoms, shapely.get_point(geoms, 0))
            lon, lat = shapely.get_x(first), shapely.get_y(first)
            places = (self.locate(lon, lat, [a["type"] for a, _ in placed]) if self.locate is not None
                      else [{} for _ in placed])
            for (alert, _), x, y, place in zip(placed, lon, lat, places, strict=True):
                alert.update(lon=round(float(x), 7), lat=round(float(y), 7))
                alert.update({c: place.get(c) for c in PLACE_COLUMNS})
        events = []
        for event, alert, _ in changes:
            status = {"opened": "open", "reopened": "open", "closed": "closed", "withdrawn": "withdrawn"}.get(
                event, alert["status"])
            alert = {**alert, "status": status}
            if event == "closed":
                alert["closed_at"] = now
            elif event == "reopened":
                alert["closed_at"] = None
            self.seq += 1
            events.append({"seq": self.seq, "event": event, **alert, "emitted_at": now})
        for e in events:
            self._apply(e)
        self.events += events
        self._store(events)
        return events

    # ---- storing and publishing --------------------------------------------------------------------------
    def create_layer(self) -> None:
        """Create the empty ``alerts`` layer now (a GeoPackage then appends with one small transaction, instead
        of the whole-store copy that creating a layer takes, when the first alert is due)."""
        if self.store is not None and not self._layer_exists:
            _append(self.store, [], False)
            self._layer_exists = True
        elif self._layer_exists:
            _add_case_id_column(self.store)

    def _store(self, events: list[dict[str, Any]]) -> None:
        """Append the events to the ``alerts`` layer, then publish them (later, if the store is busy)."""
        self._unsaved += events
        if not self._unsaved:
            return
        if self.store is not None:
            try:
                _append(self.store, self._unsaved, self._layer_exists)
                self._layer_exists = True
            except LockError:
                log.warning("alerts: the store is locked; %d events wait for the next tick", len(self._unsaved))
                return
        done, self._unsaved = self._unsaved, []
        for hook in self.on_stored:
            try:
                hook(done)
            except Exception:      # a failing consumer must not stop the alerts
                log.exception("alerts: an on_stored hook failed")
        with self._lock:
            listeners = list(self._listeners)
        for loop, queue in listeners:
            for e in done:
                loop.call_soon_threadsafe(queue.put_nowait, e)

    def listen(self) -> asyncio.Queue:
        """A queue that receives every event published from now on (call from the event loop)."""
        queue: asyncio.Queue = asyncio.Queue()
        with self._lock:
            self._listeners.add((asyncio.get_running_loop(), queue))
        return queue

    def unlisten(self, queue: asyncio.Queue) -> None:
        with self._lock:
            self._listeners = {(lp, q) for lp, q in self._listeners if q is not queue}

    def since(self, seq: int) -> list[dict[str, Any]]:
        """Published events after *seq*."""
        unsaved = {e["seq"] for e in self._unsaved}
        return [e for e in self.events[:] if e["seq"] > seq and e["seq"] not in unsaved]


def _append(store: Any, events: list[dict[str, Any]], exists: bool) -> None:
    """Append alert events to the ``alerts`` layer in one transaction under the store's write lock."""
    from gridlib.store.gpkg import GpkgStore

    rows = [tuple(_clean(e.get(c)) for c in ALERT_COLUMNS) for e in events]
    if exists and isinstance(store, GpkgStore):
        with store.lock("write"):      # like the case log: no whole-store transaction is copying the file now
            con = sqlite3.connect(store.path, timeout=10)
            try:
                with con:
                    con.executemany(f"INSERT INTO {ALERT_LAYER} ({_QUOTED}) "
                                    f"VALUES ({', '.join('?' * len(ALERT_COLUMNS))})", rows)
            finally:
                con.close()
        return
    frame = pd.DataFrame(rows, columns=list(ALERT_COLUMNS))
    for c in ALERT_COLUMNS:
        frame[c] = frame[c].astype(float) if c in _NUMBERS else frame[c].astype(object if rows else "string")
    store.write_layer(ALERT_LAYER, frame, mode="append")


def _add_case_id_column(store: Any) -> None:
    """Give an ``alerts`` layer stored before alerts had a ``case_id`` (a GeoPackage) that column, empty."""
    from gridlib.store.gpkg import GpkgStore

    if not isinstance(store, GpkgStore):
        return
    con = sqlite3.connect(store.path, timeout=10)
    try:
        if "case_id" not in {r[1] for r in con.execute(f"PRAGMA table_info({ALERT_LAYER})")}:
            with store.lock("write"), con:
                con.execute(f"ALTER TABLE {ALERT_LAYER} ADD COLUMN case_id TEXT")
    finally:
        con.close()


def grid_locator(ctx: dict[str, Any], deductions: pd.DataFrame | str | None = None
                 ) -> Callable[..., list[dict[str, Any]]]:
    """``locate(lon, lat, types=None)`` over the live app's context: the grid, street and responsible unit of
    WGS-84 positions, assigned as the case each alert becomes is assigned.

    An alert of a type that is a case (:func:`gridlib.trucks.cases.case_classes` of *deductions*) is placed
    as an ``event`` of that type's ``class_code``, through the intake's own
    :class:`~gridlib.assignment.PreparedAssign` (``ctx["assigner"]``: grids, responsibility, road sections,
    components and frontage zones) — so the alert, its live case and the nightly run's case of the same
    violation name the same unit. Other types (and positions without a type) are an ``event`` with no class.

    >>> import os, tempfile, geopandas as gpd
    >>> from shapely import box
    >>> import gridlib as gl
    >>> from gridlib.live.app import load_context
    >>> store = gl.store.open(os.path.join(tempfile.mkdtemp(), "grids.gpkg"))
    >>> parents = gpd.GeoDataFrame({"code": ["410105001003"], "name": ["demo"]},
    ...                            geometry=[box(500000, 3850000, 500300, 3850200)], crs=4547)
    >>> _ = gl.grid.import_edition(gl.grid.build(parents), store, effective_date="2026-01-01")
    >>> locate = grid_locator(load_context(store, "2026-06-01"))
    >>> lon, lat = gl.crs.transform_xy(4547, 4326, np.array([500100.0, 0.0]), np.array([3850100.0, 0.0]))
    >>> [p["grid_code"] is not None for p in locate(lon, lat, ["unpermitted_stop", "deviation"])]
    [True, False]
    """
    from gridlib.trucks.cases import case_classes

    class_of = case_classes(deductions)["class_code"].to_dict()

    def locate(lon: np.ndarray, lat: np.ndarray, types: Sequence[str | None] | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [dict.fromkeys(PLACE_COLUMNS) for _ in range(len(lon))]
        if not len(lon):
            return out
        kinds = types if types is not None else [None] * len(lon)
        records = [{"case_id": str(i), "lon": float(x), "lat": float(y), "kind": "event",
                    "class_code": class_of.get(t, "")}
                   for i, (x, y, t) in enumerate(zip(lon, lat, kinds, strict=True))]
        done, _ = ctx["assigner"].records(records)
        for row in done:
            out[int(row["case_id"])] = {c: _clean(row.get(c)) for c in PLACE_COLUMNS}
        return out

    return locate
