"""Enforcement teams on the live service: live dispatch origins and arrivals measured from their GPS fixes.

A team's device — a JT/T 808 terminal or a phone running an OsmAnd client (Traccar Client) — is
registered in the same ``terminals`` table as the trucks' terminals, as ``kind="team"`` with the
team code (the ``base_id`` of ``team_bases``) as its vehicle:
``FixStore.register(terminal, "B31010101801", kind="team")``. Its fixes come in through the same
paths (the JT/T 808 gateway, ``/v1/osmand``) and are stored in the same ``fixes`` table under the
team code; they are **not** handed to the truck monitor (:func:`truck_pairs`).

:class:`TeamTracker` keeps each team's last fix in memory (a :meth:`FixStore.subscribe` callback)
and does two things with it:

* **Dispatch from live positions.** It is the :attr:`~gridlib.live.dispatch.Dispatcher.live_origins`
  of the service's dispatcher: a team whose last fix is at most
  :data:`~gridlib.live.dispatch.MAX_FIX_AGE_S` (600 s) old is ranked by network travel time from
  that position, the others from their bases; each ranked team says ``from`` (``live`` | ``base``)
  and its ``fix_time``.
* **Arrival stamped.** When a fix of the team *assigned* to an open dispatched case comes within
  ``arrive_m`` (default :data:`ARRIVE_M` = 50 m, measured in the grids' metric CRS) of the case,
  an ``arrived`` event is appended to the case-event log at the fix's time, with its evidence:
  ``team_id``, ``stamped_by = "auto"``, ``fix_time`` and ``distance_m``. The assigned team is
  the ``team_id`` of the case's latest ``dispatched`` event when it names one, else the first
  team of the dispatch ranking the case got at intake (``dispatch_team`` on its ``reported``
  row). A case is *open* for this from its latest ``dispatched`` event until an ``arrived``
  event follows it (posted or stamped) or the case ends; only fixes taken at or after that
  ``dispatched`` event count. So "10 minutes to arrive" is measured from the dispatch to the
  first fix on the scene, not self-reported.

Only the fixes of teams that have an open case are checked, in a worker thread (the event loop
only updates the last fixes): one vectorised distance computation per batch of fixes against
that team's open cases. The same thread routes the teams' new positions for the dispatcher
(:meth:`~gridlib.live.dispatch.Dispatcher.refresh_live`), so case intake only reads them.

>>> ARRIVE_M, MAX_FIX_AGE_S
(50.0, 600.0)
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyproj

from gridlib.crs import WGS84, transform_xy
from gridlib.errors import LockError
from gridlib.live.dispatch import MAX_FIX_AGE_S
from gridlib.live.fix import Fix

__all__ = ["TeamTracker", "attach_teams", "truck_pairs", "ARRIVE_M"]

log = logging.getLogger(__name__)

#: Default arrival distance (m): a fix of the assigned team this close to the case stamps its arrival.
ARRIVE_M = 50.0
_UTC8 = dt.timedelta(hours=8)
_ENDS = ("closed", "cancelled", "not_filed")
_RETRIES = 5


def _is_team(fixes: Any, device_id: str) -> bool:
    return fixes.kind(device_id) == "team"


def truck_pairs(fixes: Any, pairs: Iterable[tuple[Fix, str]]) -> list[tuple[Fix, str]]:
    """The ``(fix, vehicle_id)`` pairs not from devices registered as teams in *fixes* (a :class:`FixStore`).

    What the truck monitor is fed: a team's patrol car is no muck truck. One cached terminal lookup per fix.

    >>> import os, tempfile
    >>> from gridlib.live.gateway import FixStore
    >>> fixes = FixStore(os.path.join(tempfile.mkdtemp(), "f.sqlite"))
    >>> _ = fixes.register("phone-1", "B1", kind="team")
    >>> t = dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC)
    >>> [v for _, v in truck_pairs(fixes, [(Fix("phone-1", t, 121.5, 31.24, "osmand"), "B1"),
    ...                                    (Fix("13800000009", t, 121.6, 31.2, "jt808"), "沪D1")])]
    ['沪D1']
    """
    return [p for p in pairs if not _is_team(fixes, p[0].device_id)]


def _china(t: dt.datetime) -> dt.datetime:
    return (t.astimezone(dt.UTC) + _UTC8).replace(tzinfo=None)


class TeamTracker:
    """The last fix of every team and the arrival check of its open dispatched cases.

    Parameters
    ----------
    fixes : FixStore
        Where devices are registered (``kind="team"``) and fixes stored.
    caselog : CaseLog
        The live case-event log (``app.state.caselog``): open dispatched cases are read from it,
        ``arrived`` events appended to it.
    metric : CRS-like
        Metric CRS for the arrival distance (the grids' CRS or its Gauss–Krüger zone).
    teams : iterable of str, optional
        The known team codes (``base_id`` of ``team_bases``).
    arrive_m : float
        Arrival distance in metres (default :data:`ARRIVE_M`).
    max_age_s : float
        Fixes older than this are not "fresh" in :meth:`positions` (the dispatcher applies its own
        :attr:`~gridlib.live.dispatch.Dispatcher.max_fix_age_s`, the same default).

    Examples
    --------
    >>> import os, tempfile
    >>> import gridlib as gl
    >>> from gridlib.live.caselog import CaseLog, reported_row
    >>> from gridlib.live.gateway import FixStore
    >>> work = tempfile.mkdtemp()
    >>> log = CaseLog(gl.store.open(os.path.join(work, "s.gpkg")))
    >>> log.append([reported_row({"case_id": "K1", "class_code": "06012", "lon": 121.5, "lat": 31.24,
    ...                           "dispatch": {"teams": [{"base_id": "B1"}]}}, "2026-11-20T09:00:00")])
    >>> fixes = FixStore(os.path.join(work, "f.sqlite"))
    >>> _ = fixes.register("13900000001", "B1", kind="team")
    >>> tracker = TeamTracker(fixes, log, 4550, teams=["B1"])
    >>> log.append([log.check_event("K1", {"stage": "dispatched", "time": "2026-11-20 09:02"})[0]])
    >>> tracker.assigned()
    {'K1': 'B1'}
    >>> def fix(minute, lon):
    ...     t = dt.datetime(2026, 11, 20, 1, minute, tzinfo=dt.UTC)
    ...     return [(Fix("13900000001", t, lon, 31.24, "osmand"), "B1")]
    >>> tracker.on_fixes(fix(5, 121.502)); tracker.check()          # about 190 m away: not arrived
    []
    >>> tracker.on_fixes(fix(9, 121.5003)); [(e["stage"], e["time"], e["distance_m"]) for e in tracker.check()]
    [('arrived', '2026-11-20T09:09:00', 28.6)]
    >>> tracker.assigned()
    {}
    """

    def __init__(self, fixes: Any, caselog: Any, metric: Any, *, teams: Iterable[str] | None = None,
                 arrive_m: float = ARRIVE_M, max_age_s: float = MAX_FIX_AGE_S) -> None:
        if not arrive_m > 0:
            raise ValueError(f"arrive_m must be a positive distance in metres, got {arrive_m!r}")
        self.fixes, self.caselog = fixes, caselog
        self.metric = pyproj.CRS.from_user_input(metric)
        self.teams = sorted(set(teams)) if teams is not None else None
        self.arrive_m, self.max_age_s = float(arrive_m), float(max_age_s)
        self.last: dict[str, tuple[Fix, str]] = {}           # team → (its latest fix by fix time, vehicle id)
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._open: dict[str, tuple[str, float, float, np.datetime64]] = {}   # case → (team, x, y, dispatched)
        self._busy: Counter[str] = Counter()                 # team → its open cases
        self._queue: list[tuple[str, float, float, dt.datetime]] = []
        self._wake = threading.Event()
        self._stop = False
        self._thread: threading.Thread | None = None
        #: The service's :class:`~gridlib.live.dispatch.Dispatcher`: rerouted from new team fixes in the worker thread.
        self.dispatcher: Any = None
        for case_id in list(caselog.events):
            self._index(case_id)
        caselog.on_append.append(self.on_rows)

    # ---- fixes ------------------------------------------------------------------------------------------
    def on_fixes(self, pairs: Iterable[tuple[Fix, str]]) -> None:
        """The :meth:`FixStore.subscribe` callback: keep the teams' last fixes, queue those of busy teams. Cheap."""
        queued = False
        with self._lock:
            for fix, team in pairs:
                if not _is_team(self.fixes, fix.device_id):
                    continue
                queued = queued or self.dispatcher is not None     # its new position is routed in the thread
                self.counts["fixes"] += 1
                kept = self.last.get(team)
                if kept is None or fix.time >= kept[0].time:
                    self.last[team] = (fix, team)
                if self._busy.get(team):
                    self._queue.append((team, fix.lon, fix.lat, fix.time))
                    queued = True
        if queued:
            self._wake.set()

    def origins(self) -> dict[str, tuple[float, float, dt.datetime]]:
        """``{team: (lon, lat, time)}`` of every team's last fix: the dispatcher's ``live_origins``."""
        with self._lock:
            return {team: (f.lon, f.lat, f.time) for team, (f, _) in self.last.items()}

    def positions(self, now: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Each known team (and each team with a fix) with its last fix, whether it is fresh, and its open cases.

        ``fix_time`` is naive China time; ``age_s`` by the server clock (or *now*).
        """
        now = now or dt.datetime.now(dt.UTC)
        with self._lock:
            last = dict(self.last)
            cases: dict[str, list[str]] = {}
            for cid, (team, *_) in sorted(self._open.items()):
                cases.setdefault(team, []).append(cid)
        out = []
        for team in sorted(set(self.teams or []) | set(last)):
            fix = last[team][0] if team in last else None
            age = None if fix is None else round((now - fix.time).total_seconds(), 1)
            out.append({"team_id": team, "device_id": fix.device_id if fix else None,
                        "lon": fix.lon if fix else None, "lat": fix.lat if fix else None,
                        "fix_time": _china(fix.time).isoformat() if fix else None, "age_s": age,
                        "fresh": age is not None and age <= self.max_age_s,
                        "speed_kmh": fix.speed_kmh if fix else None, "source": fix.source if fix else None,
                        "dispatched_cases": cases.get(team, [])})
        return out

    def restore(self) -> None:
        """Load each team's last stored fix (a restarted service) and check it against the open cases."""
        rows = self.fixes.db.execute(
            "SELECT f.vehicle_id, f.device_id, max(f.time), f.lon, f.lat, f.source, f.speed_kmh FROM fixes f "
            "JOIN terminals t ON f.device_id = t.terminal WHERE t.kind = 'team' GROUP BY f.vehicle_id").fetchall()
        pairs = [(Fix(r[1], dt.datetime.fromisoformat(r[2]), float(r[3]), float(r[4]), r[5], r[6]), r[0])
                 for r in rows]
        self.on_fixes(pairs)

    # ---- open dispatched cases ------------------------------------------------------------------------
    def on_rows(self, rows: list[dict[str, Any]]) -> None:
        """The case log's ``on_append`` hook: re-read the open state of the cases the rows belong to."""
        for case_id in {str(r["case_id"]) for r in rows}:
            self._index(case_id)

    def _index(self, case_id: str) -> None:
        """Whether *case_id* waits for its assigned team (and which, where, since when), from its events."""
        events = self.caselog.events.get(case_id, [])
        lon = lat = suggested = team = since = None
        waiting = False
        for e in events:
            stage = e["stage"]
            if stage == "reported":
                lon, lat, suggested = e.get("lon"), e.get("lat"), e.get("dispatch_team")
            elif stage == "dispatched":
                team, since, waiting = e.get("team_id") or suggested, e["time"], True
            elif stage == "arrived" or stage in _ENDS:
                waiting = False
        entry = None
        if waiting and team and lon is not None and lat is not None:
            x, y = transform_xy(WGS84, self.metric, np.array([lon]), np.array([lat]))
            entry = (str(team), float(x[0]), float(y[0]), np.datetime64(since, "s"))
        with self._lock:
            old = self._open.pop(case_id, None)
            if old is not None:
                self._busy[old[0]] -= 1
            if entry is not None:
                self._open[case_id] = entry
                self._busy[entry[0]] += 1

    def assigned(self) -> dict[str, str]:
        """``{case_id: team}`` of the dispatched cases waiting for their team's arrival."""
        with self._lock:
            return {cid: entry[0] for cid, entry in sorted(self._open.items())}

    # ---- the arrival check ----------------------------------------------------------------------------
    def check(self) -> list[dict[str, Any]]:
        """Check the queued fixes against their teams' open cases; stamp and return the ``arrived`` rows."""
        with self._lock:
            queue, self._queue = self._queue, []
            cases = list(self._open.items())
        if not queue or not cases:
            return []
        fx = pd.DataFrame(queue, columns=["team", "lon", "lat", "t"])
        fx["x"], fx["y"] = transform_xy(WGS84, self.metric, fx["lon"].to_numpy(float), fx["lat"].to_numpy(float))
        fx["t"] = pd.to_datetime(fx["t"], utc=True).dt.tz_localize(None) + _UTC8
        open_ = pd.DataFrame([(cid, *entry) for cid, entry in cases], columns=["case_id", "team", "cx", "cy", "since"])
        pairs = fx.merge(open_, on="team")
        pairs["distance_m"] = np.hypot(pairs["x"] - pairs["cx"], pairs["y"] - pairs["cy"])
        hits = pairs[(pairs["distance_m"] <= self.arrive_m) & (pairs["t"] >= pairs["since"])]
        hits = hits.sort_values(["case_id", "t", "distance_m"], kind="stable").drop_duplicates("case_id")
        stamped = []
        for hit in hits.itertuples(index=False):
            row = self._stamp(hit)
            if row is not None:
                stamped.append(row)
        return stamped

    def _stamp(self, hit: Any) -> dict[str, Any] | None:
        fix_time = pd.Timestamp(hit.t)
        body = {"stage": "arrived", "time": fix_time.floor("s").isoformat(), "team_id": hit.team}
        for attempt in range(_RETRIES):
            row, problem = self.caselog.check_event(hit.case_id, body)
            if problem is not None:
                self.counts["refused"] += 1
                log.warning("case %s: arrival of team %s not stamped: %s", hit.case_id, hit.team, problem["reason"])
                return None
            row.update(stamped_by="auto", fix_time=fix_time.isoformat(), distance_m=round(float(hit.distance_m), 1))
            try:
                self.caselog.append([row])
            except LockError:
                self.counts["retried"] += 1
                time.sleep(0.05 * (attempt + 1))
                continue
            self.counts["arrived"] += 1
            return row
        log.warning("case %s: store locked; the arrival of team %s waits for its next fix", hit.case_id, hit.team)
        return None

    # ---- running ----------------------------------------------------------------------------------------
    def start(self) -> None:
        """Run :meth:`check` in a background thread whenever fixes of busy teams came in, until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop = False

        def loop() -> None:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stop:
                    break
                try:
                    self.check()
                    if self.dispatcher is not None:
                        self.dispatcher.refresh_live()
                except Exception:
                    log.exception("team arrival check failed")

        self._thread = threading.Thread(target=loop, name="team-arrivals", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, then check what is queued."""
        if self._thread is not None:
            self._stop = True
            self._wake.set()
            self._thread.join()
            self._thread = None
        self.check()


def attach_teams(app: Any, fixes: Any, *, arrive_m: float = ARRIVE_M, max_age_s: float = MAX_FIX_AGE_S,
                 start: bool = True) -> TeamTracker:
    """Track the teams' devices of *fixes* on the live *app* (:func:`gridlib.live.app.create_app`).

    The tracker becomes the dispatcher's live origins, watches the case log, loads the teams' last stored
    fixes, subscribes to new ones and serves ``GET /v1/teams``; ``app.state.teams`` holds it. Stop it
    with :meth:`TeamTracker.stop`.

    >>> import os, tempfile, geopandas as gpd
    >>> from shapely import Point, box
    >>> import gridlib as gl
    >>> from gridlib.live.app import create_app
    >>> from gridlib.live.gateway import FixStore
    >>> store = gl.store.open(os.path.join(tempfile.mkdtemp(), "grids.gpkg"))
    >>> parents = gpd.GeoDataFrame({"code": ["410105001003"], "name": ["demo"]},
    ...                            geometry=[box(500000, 3850000, 500300, 3850200)], crs=4547)
    >>> _ = gl.grid.import_edition(gl.grid.build(parents), store, effective_date="2026-01-01")
    >>> store.write_layer("team_bases", gpd.GeoDataFrame({"base_id": ["B1"]}, geometry=[Point(500100, 3850100)],
    ...                                                  crs=4547))
    >>> fixes = FixStore(os.path.join(tempfile.mkdtemp(), "fixes.sqlite"))
    >>> app = create_app(store, fixes, at="2026-06-01")
    >>> tracker = attach_teams(app, fixes, start=False)
    >>> tracker.teams, [r.path for r in app.routes if r.path == "/v1/teams"]
    (['B1'], ['/v1/teams'])
    """
    from gridlib.assignment import metric_crs_of_grids

    ctx = app.state.ctx
    dispatcher = ctx["dispatcher"]
    codes = [t["base_id"] for t in dispatcher.teams]
    if ctx.get("team_bases") is not None and "base_id" in ctx["team_bases"].columns:
        codes += [str(c) for c in ctx["team_bases"]["base_id"]]
    tracker = TeamTracker(fixes, app.state.caselog, metric_crs_of_grids(ctx["gridset"].grids), teams=codes,
                          arrive_m=arrive_m, max_age_s=max_age_s)
    app.state.caselog.team_ids = set(tracker.teams or [])
    dispatcher.live_origins, dispatcher.max_fix_age_s = tracker.origins, max_age_s
    tracker.dispatcher = dispatcher
    tracker.restore()
    fixes.subscribe(tracker.on_fixes)
    if start:
        tracker.start()
    app.state.teams = tracker

    @app.get("/v1/teams", description=(
        "The enforcement teams: each team's last GPS fix (from devices registered as kind='team'), its time "
        "(naive China time), age and whether it is fresh enough to rank the team from (else its base), and the "
        "dispatched cases waiting for its arrival."))
    def teams() -> list[dict[str, Any]]:
        return tracker.positions()

    return tracker
