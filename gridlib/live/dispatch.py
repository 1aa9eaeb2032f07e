"""Dispatch for live case intake: teams ranked by network travel time, and the due time of each step.

:class:`Dispatcher` builds the road graph and runs **one** Dijkstra per team base at start-up
(:func:`gridlib.network.travel_times` with ``min_only=False``: a teams × nodes matrix of
seconds, the same routing the nightly reachability uses). A request then only snaps the case
to its nearest road segment (an STRtree lookup) and reads the matrix at that segment's two
ends (:func:`gridlib.network.arrival_times`, the arrival rule of ``nearest_base``): O(teams) work, no
graph search.

**Live origins.** With :attr:`Dispatcher.live_origins` set (by :func:`gridlib.live.teams.attach_teams`:
the last GPS fix of each team's registered devices), a team whose last fix is at most
:data:`MAX_FIX_AGE_S` (10 min) old by the server clock is ranked from that position instead of
its base; the others from their bases. Each team in the answer says which: ``from`` (``live`` |
``base``) and ``fix_time`` (its last fix, naive China time, also when too old to be used). A
live origin costs one Dijkstra when the team has moved (all moved teams in one multi-source run,
:func:`gridlib.network.travel_times`), done by :meth:`Dispatcher.refresh_live` in the team tracker's
thread as the fixes arrive; a request routes a team itself only when no fresh position of it is
routed yet (its first fix, or one after a silence).

The due times of the case's chain come from the case-limits table
(:func:`gridlib.cases.load_limits`, most specific row for the case's class and urgency) on the
work calendar (:class:`gridlib.cases.WorkCalendar`, for work-hour / work-day limits). Only the
report time is known at intake, so each step is due its limit after the previous step's due
time — the latest schedule that still meets every limit:

======== ==============================================================
step      due
======== ==============================================================
verify    reported + verify limit (public reports: hotline, media only)
file      verified (due) or reported + file limit (5 min)
dispatch  file due + dispatch limit (1 min)
arrive    dispatch due + arrive limit (10 min)
video     arrive due + video limit (3 min: the scene sent back, 回传)
dispose   dispatch due + dispose limit (work days where the table says so)
close     file due + close limit
======== ==============================================================

>>> import geopandas as gpd
>>> from shapely import LineString, Point
>>> roads = gpd.GeoDataFrame({"highway": ["residential"]}, geometry=[LineString([(0, 0), (2000, 0)])], crs=4547)
>>> bases = gpd.GeoDataFrame({"base_id": ["west", "east"], "name": ["W", "E"]},
...                          geometry=[Point(0, 0), Point(2000, 0)], crs=4547)
>>> d = Dispatcher(roads, bases)
>>> [(t["base_id"], t["minutes"]) for t in d.rank(500.0, 0.0, 4547)]   # 20 km/h: 3 min per km
[('west', 1.5), ('east', 4.5)]
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import threading
from collections.abc import Callable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gridlib import network
from gridlib.cases.calendar import WorkCalendar
from gridlib.cases.limits import load_limits, match_limit, stage_rows
from gridlib.cases.model import PUBLIC_SOURCES
from gridlib.types import ArrayLike, CRSLike, TimeLike

__all__ = ["Dispatcher", "CHAIN", "MAX_FIX_AGE_S"]

#: A team's last fix older than this (seconds, by the server clock) is not used as its origin: the base is.
MAX_FIX_AGE_S = 600.0
_UTC8 = dt.timedelta(hours=8)

#: (step, the step whose due time starts its clock) in the order of the chain; ``None`` = reported_at.
CHAIN: tuple[tuple[str, str | None], ...] = (
    ("verify", None), ("file", "verify"), ("dispatch", "file"), ("arrive", "dispatch"),
    ("video", "arrive"), ("dispose", "dispatch"), ("close", "file"),
)
#: steps no other step starts from: their working-time deadlines are computed together
_LEAVES = {step for step, _ in CHAIN} - {after for _, after in CHAIN if after}
#: calendar units as pandas Timedelta units (same arithmetic as WorkCalendar.add, without its array set-up)
_CALENDAR_UNITS = {"minute": "min", "hour": "h", "day": "D"}
_EPOCH = dt.datetime(1970, 1, 1)
#: Up to this many deadlines of one unit are worked out one by one (:meth:`WorkCalendar.add_ns`), more in one array.
_FEW = 8


@functools.lru_cache(maxsize=256)
def _delta_ns(value: float, unit: str) -> int:
    """A calendar-unit limit in nanoseconds (``pd.Timedelta``'s rounding)."""
    return pd.Timedelta(value, _CALENDAR_UNITS[unit]).value


def _ns(t: Any) -> int:
    """A naive time as nanoseconds since 1970 (``pd.Timestamp``'s reading of it)."""
    return (t if isinstance(t, pd.Timestamp) else pd.Timestamp(t)).value


def _iso(ns: int) -> str:
    """``pd.Timestamp(ns).isoformat()``, through :mod:`datetime` for whole seconds (the common case)."""
    if ns % 1_000_000_000:
        return pd.Timestamp(ns).isoformat()
    return (_EPOCH + dt.timedelta(seconds=ns // 1_000_000_000)).isoformat()


class Dispatcher:
    """Ranks team bases by network travel time to a point and projects a case's step deadlines.

    Parameters
    ----------
    roads : GeoDataFrame or None
        Road centre-lines (the store's ``roads`` layer); ``None``: no ranking, deadlines only.
    bases : GeoDataFrame or None
        Team bases with ``base_id`` (and ``name``, ``street_code`` if present).
    limits : path or DataFrame, optional
        Case-limits table (default the bundled one, :func:`gridlib.cases.load_limits`).
    calendar : WorkCalendar, optional
        Work calendar (default :meth:`WorkCalendar.china`).
    access_speed_kmh : float
        Walking speed between a point and the road, as in :func:`gridlib.network.nearest_base`.

    Examples
    --------
    >>> d = Dispatcher(None, None)
    >>> due = d.due("2026-11-20 16:58", class_code="06012")
    >>> due["file"], due["arrive"], due["dispose"]      # dispose: 1 working day, Friday → Monday
    ('2026-11-20T17:03:00', '2026-11-20T17:14:00', '2026-11-23T17:04:00')
    """

    def __init__(self, roads: gpd.GeoDataFrame | None, bases: gpd.GeoDataFrame | None, *, limits: Any = None,
                 calendar: WorkCalendar | None = None, access_speed_kmh: float = 5.0) -> None:
        self.limits = load_limits(limits)
        self._rows = {step: stage_rows(self.limits, step) for step, _ in CHAIN}    # the table split by step, once
        self._by_crs: dict[int, tuple[Any, pyproj.Transformer | None]] = {}      # id(crs) → (crs, to the graph)
        self.calendar = calendar if calendar is not None else WorkCalendar.china()
        #: (unit, value, minute start) → (the deadline of the minute's start, 1 if it moves with the begin in
        #: the minute else 0), or None: worked out per begin (:meth:`_minute_due`)
        self._minutes: dict[tuple[str, float, int], tuple[int, int] | None] = {}
        self.access_speed_kmh = access_speed_kmh
        #: ``() -> {base_id: (lon, lat, time)}``: each team's last fix (WGS-84, tz-aware time); None: bases only.
        self.live_origins: Callable[[], dict[str, tuple[float, float, dt.datetime]]] | None = None
        self.max_fix_age_s = MAX_FIX_AGE_S
        self.clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
        self.live_runs = 0          # Dijkstra runs for live origins (one per batch of moved teams)
        self._live_lock = threading.Lock()
        self.graph = None
        self.node_times = np.empty((0, 0))
        self.teams: list[dict[str, Any]] = []
        if roads is not None and bases is not None and len(roads) and len(bases):
            self.graph = network.build_graph(roads)
            times, _ = network.travel_times(self.graph, bases, access_speed_kmh=access_speed_kmh, min_only=False)
            self.node_times = np.ascontiguousarray(times.T)          # nodes × teams: one row read per end
            keep = [c for c in ("base_id", "name", "street_code") if c in bases.columns]
            ids = bases["base_id"] if "base_id" in bases.columns else pd.Series(bases.index.astype(str))
            frame = pd.DataFrame(bases[keep]).assign(base_id=ids.astype(str).to_numpy())
            self.teams = [{k: (None if pd.isna(v) else str(v)) for k, v in row.items()}
                          for row in frame.to_dict("records")]
        self._live_times = np.full_like(self.node_times, np.inf)     # nodes × teams, from each team's live fix
        self._live_at: list[tuple[float, float] | None] = [None] * len(self.teams)   # the fix each column is from
        self._live_fix: list[dt.datetime | None] = [None] * len(self.teams)          # and that fix's time
        # each live origin's road segment, fraction along it and walk to it (s): a case on the same segment
        # is reached along it, not only through its ends
        self._live_seg = np.full(len(self.teams), -1, dtype=np.int64)
        self._live_frac = np.zeros(len(self.teams))
        self._live_walk = np.zeros(len(self.teams))
        #: for :meth:`_rank_few`: the graph's segment ends, drive times and snap segments, and the nodes × teams
        #: times, as Python lists
        g = self.graph
        self._lists: tuple[list[Any], ...] = () if g is None else (
            g.seg_u.tolist(), g.seg_v.tolist(), g.t_fwd.tolist(), g.t_bwd.tolist(), g.snap_segments.tolist(),
            self.node_times.tolist())
        if g is not None:
            g.tree      # noqa: B018 - the segments' STRtree now, not at the first case

    def _plan(self, now: dt.datetime) -> tuple[list[Any], list[tuple[int, float, float, dt.datetime]]]:
        """Each team's last fix time (or None) and the fresh fixes whose column is not computed yet."""
        times: list[Any] = [None] * len(self.teams)
        moved = []
        last = self.live_origins() if self.live_origins is not None and self.graph is not None else None
        for i, team in enumerate(self.teams):
            fix = (last or {}).get(team["base_id"])
            if fix is None:
                continue
            times[i] = fix[2]
            if self._fresh(fix[2], now) and self._live_at[i] != (fix[0], fix[1]):
                moved.append((i, fix[0], fix[1], fix[2]))
        return times, moved

    def _fresh(self, t: dt.datetime | None, now: dt.datetime) -> bool:
        return t is not None and (now - t).total_seconds() <= self.max_fix_age_s

    def _compute(self, moved: list[tuple[int, float, float, dt.datetime]]) -> tuple[Any, ...]:
        """One multi-source Dijkstra from the *moved* teams' fixes (no lock held)."""
        gx, gy = self._to_graph("EPSG:4326").transform([m[1] for m in moved], [m[2] for m in moved])
        points = gpd.GeoSeries(gpd.points_from_xy(gx, gy), crs=self.graph.crs)
        rows, _ = network.travel_times(self.graph, points, access_speed_kmh=self.access_speed_kmh, min_only=False)
        seg, frac, dist = network.snap_points(self.graph, np.column_stack([gx, gy]))
        return moved, rows, seg, frac, dist

    def _install(self, computed: tuple[Any, ...]) -> None:
        moved, rows, seg, frac, dist = computed
        for k, (i, lon, lat, t) in enumerate(moved):
            if self._live_fix[i] is not None and self._live_fix[i] > t:
                continue            # a newer fix was installed meanwhile
            self._live_times[:, i] = rows[k]
            self._live_at[i], self._live_fix[i] = (lon, lat), t
            self._live_seg[i], self._live_frac[i] = seg[k], frac[k]
            self._live_walk[i] = dist[k] / (self.access_speed_kmh / 3.6)
        self.live_runs += 1

    def refresh_live(self) -> int:
        """Route from the teams' new fresh fixes now, off the request path (the team tracker's thread calls this
        when team fixes arrive); the number of teams rerouted. Requests only read the result.

        >>> Dispatcher(None, None).refresh_live()
        0
        """
        with self._live_lock:
            _, moved = self._plan(self.clock())
        if not moved:
            return 0
        computed = self._compute(moved)       # the Dijkstra runs while requests go on with the previous columns
        with self._live_lock:
            self._install(computed)
        return len(moved)

    def _live(self) -> tuple[np.ndarray, list[Any]]:
        """Which teams start from a live fix (bool per team) and the fix time to show for each (the fix routed
        from for live teams, else the last fix or None). A team whose fresh fix is not routed yet uses its
        previous column while that is fresh too, else is routed here. Call under ``_live_lock``."""
        now = self.clock()
        times, moved = self._plan(now)
        if not moved and all(t is None for t in times):     # no team has a fix: every team from its base
            return np.zeros(len(self.teams), dtype=bool), times
        late = [m for m in moved if not self._fresh(self._live_fix[m[0]], now)]
        if late:
            self._install(self._compute(late))
        fresh = np.array([t is not None and self._fresh(t, now) and self._fresh(self._live_fix[i], now)
                          for i, t in enumerate(times)], dtype=bool)
        return fresh, [self._live_fix[i] if fresh[i] else t for i, t in enumerate(times)]

    def _along(self, snap: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
        """Points × teams: the time from each live origin straight along its segment to points on the same
        segment (walks included), inf elsewhere; *snap* is the points' nearest segments. Call under ``_live_lock``."""
        g = self.graph
        seg, frac, dist = snap
        same = seg[:, None] == self._live_seg[None, :]
        ahead = frac[:, None] - self._live_frac[None, :]
        s = np.maximum(seg, 0)[:, None]
        drive = np.where(ahead >= 0, network.share_time(ahead, g.t_fwd[s]), network.share_time(-ahead, g.t_bwd[s]))
        walk = (dist / (self.access_speed_kmh / 3.6))[:, None] + self._live_walk[None, :]
        return np.where(same, drive + walk, np.inf)

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one Dispatcher per process; few CRSs
    def _to_graph(self, crs: Any) -> pyproj.Transformer:
        return pyproj.Transformer.from_crs(crs, self.graph.crs, always_xy=True)

    def _graph_xy(self, x: np.ndarray, y: np.ndarray, crs: Any) -> tuple[np.ndarray, np.ndarray]:
        """(*x*, *y*) in *crs* → the road graph's CRS. The transformer is looked up by the *crs* object's identity:
        comparing or hashing a pyproj CRS writes its WKT (~0.1 ms), and a service passes the same object each time."""
        hit = self._by_crs.get(id(crs))
        if hit is None or hit[0] is not crs:
            if len(self._by_crs) > 64:
                self._by_crs.clear()
            hit = self._by_crs[id(crs)] = (crs, None if crs == self.graph.crs else self._to_graph(crs))
        return (x, y) if hit[1] is None else hit[1].transform(x, y)

    def rank(self, x: float, y: float, crs: CRSLike) -> list[dict[str, Any]]:
        """Teams ordered by travel time (minutes, ``None`` if unreachable) to the point (*x*, *y*) in *crs*.

        Each team carries ``base_id``, ``name``, ``street_code``, ``minutes``, ``access_m``
        (the walk between the point and the road), ``from`` (``base`` or ``live``: the origin used)
        and ``fix_time`` (the team's last fix, naive China time, or None).

        >>> import datetime as dt, geopandas as gpd
        >>> from shapely import LineString, Point
        >>> roads = gpd.GeoDataFrame(geometry=[LineString([(0, 0), (2000, 0)])], crs=4547)
        >>> d = Dispatcher(roads, gpd.GeoDataFrame({"base_id": ["west", "east"]},
        ...                                        geometry=[Point(0, 0), Point(2000, 0)], crs=4547))
        >>> lon, lat = pyproj.Transformer.from_crs(4547, 4326, always_xy=True).transform(600.0, 0.0)
        >>> t = dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC)
        >>> d.live_origins, d.clock = (lambda: {"east": (lon, lat, t)}), (lambda: t + dt.timedelta(minutes=2))
        >>> [(r["base_id"], r["minutes"], r["from"], r["fix_time"]) for r in d.rank(500.0, 0.0, 4547)]
        [('east', 0.3, 'live', '2026-11-20T09:00:00'), ('west', 1.5, 'base', None)]
        >>> d.clock = lambda: t + dt.timedelta(minutes=11)          # older than MAX_FIX_AGE_S: from its base
        >>> [(r["base_id"], r["from"]) for r in d.rank(500.0, 0.0, 4547)]
        [('west', 'base'), ('east', 'base')]
        """
        return self.rank_many([x], [y], crs)[0]

    def rank_many(self, x: ArrayLike, y: ArrayLike, crs: CRSLike) -> list[list[dict[str, Any]]]:
        """:meth:`rank` of many points at once (one nearest-segment query for all)."""
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if self.graph is None:
            return [[] for _ in range(len(x))]
        gx, gy = self._graph_xy(x, y, crs)
        if len(x) <= _FEW:
            with self._live_lock:
                fresh, fix_times = self._live()
            if not fresh.any():     # every team from its base: per point in plain Python
                few = self._rank_few(np.asarray(gx, dtype=float).tolist(), np.asarray(gy, dtype=float).tolist(),
                                     [self._fix_iso(t) for t in fix_times])
                if few is not None:
                    return few
        xy = np.column_stack([gx, gy])
        snap = network.snap_points(self.graph, xy)          # once for the bases' and the live origins' times
        time, access = network.arrival_times(self.graph, self.node_times, xy, access_speed_kmh=self.access_speed_kmh,
                                             snap=snap)
        with self._live_lock:
            fresh, fix_times = self._live()
            if fresh.any():
                live, _ = network.arrival_times(self.graph, self._live_times, xy, access_speed_kmh=self.access_speed_kmh,
                                                snap=snap)
                time = np.where(fresh[None, :], np.minimum(live, self._along(snap)), time)
        origin = np.where(fresh, "live", "base")
        fixed = [self._fix_iso(t) for t in fix_times]
        minutes = np.asarray(time, dtype=float).reshape(len(x), len(self.teams)) / 60.0
        key = np.where(np.isfinite(minutes), minutes, np.inf)
        # per case, the teams by time (ties by position); then plain Python values, not numpy scalars per team
        orders = np.argsort(key, axis=-1, kind="stable").tolist()
        origin, walks = origin.tolist(), access.tolist()
        out = []
        for row, order, walk in zip(minutes.tolist(), orders, walks, strict=True):
            walk = round(walk, 1)
            out.append([{**self.teams[i], "minutes": round(row[i], 2) if math.isfinite(row[i]) else None,
                         "access_m": walk, "from": origin[i], "fix_time": fixed[i]} for i in order])
        return out

    @staticmethod
    def _fix_iso(t: dt.datetime | None) -> str | None:
        """A fix time as naive China time (ISO), or None."""
        return None if t is None else (t.astimezone(dt.UTC) + _UTC8).replace(tzinfo=None).isoformat()

    def _rank_few(self, gx: list[float], gy: list[float], fixed: list[str | None]) -> list[list[dict[str, Any]]] | None:
        """:meth:`rank_many` for a few points (in the graph's CRS) when every team starts from its base: the
        nearest segment from the STRtree, then :func:`gridlib.network.arrival_times`' arithmetic per team in
        plain Python (the same operations in the same order). None when a point is not finite.

        The points' nearest segments, positions along them and distances come from one shapely call each for
        all the points (the same GEOS operation per point as a call per point)."""
        if not all(math.isfinite(v) for v in (*gx, *gy)):
            return None
        g = self.graph
        seg_u, seg_v, t_fwd, t_bwd, _, node_rows = self._lists
        per_s = self.access_speed_kmh / 3.6
        pts = shapely.points(np.column_stack([gx, gy]))
        which, nearest = g.tree.query_nearest(pts, all_matches=False)
        if len(which) != len(gx):
            return None
        segs = np.empty(len(gx), dtype=np.int64)
        segs[which] = g.snap_segments[nearest]
        lines = g.segments[segs]
        fracs = shapely.line_locate_point(lines, pts, normalized=True).tolist()
        dists = shapely.distance(lines, pts).tolist()
        out = []
        for seg, frac, dist in zip(segs.tolist(), fracs, dists, strict=True):
            if not (math.isfinite(frac) and math.isfinite(dist)):
                return None
            to_u = frac * t_fwd[seg] if frac > 0 else 0.0           # network.share_time
            to_v = (1 - frac) * t_bwd[seg] if 1 - frac > 0 else 0.0
            walk_s = dist / per_s
            at_u, at_v = node_rows[seg_u[seg]], node_rows[seg_v[seg]]
            minutes = []
            for a, b in zip(at_u, at_v, strict=True):
                via_u, via_v = a + to_u, b + to_v
                minutes.append(((via_v if via_v < via_u else via_u) + walk_s) / 60.0)
            key = [m if math.isfinite(m) else math.inf for m in minutes]
            walk = round(dist, 1)
            out.append([{**self.teams[i], "minutes": round(minutes[i], 2) if math.isfinite(minutes[i]) else None,
                         "access_m": walk, "from": "base", "fix_time": fixed[i]}
                        for i in sorted(range(len(key)), key=key.__getitem__)])
        return out

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - bounded by the class catalogue × urgencies
    def step_limits(self, class_code: str | None, urgency: str | None) -> dict[str, tuple[float, str]]:
        """``{step: (value, unit)}`` of the chain's steps for a class and urgency (steps without a limit left out).

        The most specific row of the limits table, as :func:`gridlib.cases.limits.resolve_limits` finds it
        (on the table's rows per step, split once: no frame work for a class's first case).
        """
        cls, urg = "" if class_code is None else str(class_code), urgency or "normal"
        out = {}
        for step, _ in CHAIN:
            hit = match_limit(self._rows[step], cls, urg)
            if hit is not None and hit[1]:
                out[step] = (float(hit[0]), str(hit[1]))
        return out

    def due(self, reported_at: TimeLike, *, class_code: str | None = None, urgency: str | None = None,
            source: str | None = None) -> dict[str, str]:
        """Due time (ISO, naive China time) of each step of the chain, projected from *reported_at*."""
        return self.due_many([(reported_at, class_code, urgency, source)])[0]

    def due_many(self, cases: list[tuple[TimeLike, str | None, str | None, str | None]]) -> list[dict[str, str]]:
        """:meth:`due` of many cases ``(reported_at, class_code, urgency, source)``: each step of all of them at
        once (nanoseconds since 1970), working-time steps in one calendar call per step and unit (the chain's
        leaves, which no step starts from, in one call per unit)."""
        return [{step: _iso(ns) for step, ns in due.items()} for due in self._due_ns(cases)]

    def _due_ns(self, cases: list[tuple[Any, str | None, str | None, str | None]]) -> list[dict[str, int]]:
        """Per case ``{step: due time}`` in nanoseconds since 1970 (naive China time), in chain order."""
        start = [_ns(c[0]) for c in cases]
        limits = [self.step_limits(c[1], c[2]) for c in cases]
        due: list[dict[str, int]] = [{} for _ in cases]
        later: dict[str, list[tuple[int, str, int, float]]] = {}      # work unit → the leaves in it
        for step, after in CHAIN:
            work: dict[str, list[tuple[int, str, int, float]]] = {}
            for k, case in enumerate(cases):
                begin = start[k] if after is None else due[k].get(after, start[k])
                lim = limits[k].get(step)
                if step == "verify" and (lim is None or case[3] not in PUBLIC_SOURCES):
                    continue        # only public reports are verified (when the table has a limit for it)
                if lim is None:
                    due[k][step] = begin        # no limit: the step may take no time in the projection
                elif lim[1] in _CALENDAR_UNITS:
                    due[k][step] = begin + _delta_ns(*lim)
                else:
                    (later if step in _LEAVES else work).setdefault(lim[1], []).append((k, step, begin, lim[0]))
            self._work_due(work, due)
        self._work_due(later, due)
        return [{step: d[step] for step, _ in CHAIN if step in d} for d in due]

    def _work_due(self, work: dict[str, list[tuple[int, str, int, float]]], due: list[dict[str, int]]) -> None:
        """Working-time due times of the ``(case, step, begin, value)`` of each unit: from the minute table
        (:meth:`_minute_due`) where it holds, the rest in one calendar call per unit."""
        for unit, items in sorted(work.items()):
            rest = []
            for item in items:
                end = self._minute_due(item[2], item[3], unit)
                if end is None:
                    rest.append(item)
                else:
                    due[item[0]][item[1]] = end
            if not rest:
                continue
            if len(rest) <= _FEW:      # a request's case or two: per time, without the array set-up
                ends = self.calendar.add_ns([i[2] for i in rest], [i[3] for i in rest], unit)
            else:
                ends = self.calendar.add(np.array([i[2] for i in rest], dtype=np.int64).view("datetime64[ns]"),
                                         np.array([i[3] for i in rest]), unit).view(np.int64).tolist()
            for (k, step, _, _), end in zip(rest, ends, strict=True):
                due[k][step] = end

    def _minute_due(self, begin: int, value: float, unit: str) -> int | None:
        """``calendar.add_ns([begin], [value], unit)[0]`` from a table per (unit, value, minute), or None when the
        table cannot vouch for it (then the calendar works it out).

        The calendar's working hours start and end on whole minutes and its days are whole, so a minute is all
        working time or none; for a begin on a whole second and a limit of whole seconds, its arithmetic is
        exact (integers in floats). Where the deadlines of the minute's start and end are exactly a minute
        apart, the begin's minute is working time and its deadlines do not cross a break: the deadline of a
        begin in the minute is the minute start's plus the same offset, bit for bit; where they are the same
        (a minute off work), every begin in the minute has that deadline (deadlines never fall as the begin
        rises). Live cases cluster in
        minutes (a report time, then the chain's due times a whole limit later): one calendar call per
        minute, not per case.
        """
        if begin % 1_000_000_000 or not self._whole_limit(value):
            return None
        minute = begin - begin % 60_000_000_000
        key = (unit, value, minute)
        hit = self._minutes.get(key, False)
        if hit is False:
            if len(self._minutes) > 100_000:
                self._minutes.clear()
            a, b = self.calendar.add_ns([minute, minute + 60_000_000_000], [value, value], unit)
            hit = self._minutes[key] = (a, 1) if b - a == 60_000_000_000 else (a, 0) if b == a else None
        return None if hit is None else hit[0] + hit[1] * (begin - minute)

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one Dispatcher per process; few limit values
    def _whole_limit(self, value: float) -> bool:
        """Whether a working-time limit is whole seconds in every working unit, and the minute table may be used."""
        if not (math.isfinite(value) and value >= 0) or self.calendar.seconds_per_day % 60:
            return False
        return all((float(value) * per).is_integer() for per in (3600.0, float(self.calendar.seconds_per_day)))

    def dispatch(self, x: float, y: float, crs: CRSLike, reported_at: TimeLike, *, class_code: str | None = None,
                 urgency: str | None = None, source: str | None = None) -> dict[str, Any]:
        """The ``dispatch`` block of a case answer: ranked teams, arrival check, due times, limits."""
        return self.dispatch_many([x], [y], crs, [(reported_at, class_code, urgency, source)])[0]

    def dispatch_many(self, x: ArrayLike, y: ArrayLike, crs: CRSLike,
                      cases: list[tuple[TimeLike, str | None, str | None, str | None]]
                      ) -> list[dict[str, Any]]:
        """:meth:`dispatch` of many cases at points (*x*, *y*) in *crs*, ``(reported_at, class_code, urgency,
        source)`` each: one nearest-segment query and one calendar call per unit for all."""
        out = []
        for teams, due, (_, class_code, urgency, _) in zip(self.rank_many(x, y, crs), self._due_ns(cases), cases,
                                                           strict=True):
            allowed = (due["arrive"] - due["dispatch"]) / 1e9 / 60.0
            first = teams[0]["minutes"] if teams else None
            out.append({
                "teams": teams,
                "arrive_limit_minutes": round(allowed, 2),
                "first_within_arrive_limit": None if first is None else bool(first <= allowed),
                "due": {step: _iso(ns) for step, ns in due.items()},
                "limits": {k: {"value": v, "unit": u} for k, v, u in
                           ((s, *lim) for s, lim in self.step_limits(class_code, urgency).items())},
            })
        return out
