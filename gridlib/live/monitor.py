"""Live muck-truck compliance: the batch truck check run on a trailing window of each vehicle's night.

:class:`TruckMonitor` holds, per vehicle, the fixes of its current *night* — the window the
nightly run checks, 12:00 one day to 12:00 the next, local China time (UTC+8) — and, on each
:meth:`~TruckMonitor.tick`, runs the steps of :func:`gridlib.trucks.check` (the batch reader
:func:`~gridlib.trucks.fixes.read_fixes`, :func:`~gridlib.trucks.clean.clean`,
:func:`~gridlib.trucks.detectors.vehicle_day` and every detector of
:data:`~gridlib.trucks.detectors.DETECTORS`, with the same permits, sites, roads and
:class:`~gridlib.trucks.thresholds.Thresholds`) once over all the vehicles that got new fixes.
Out-of-order fixes are sorted into place and repeated times dropped exactly as the batch check
does (the first stored is kept), because it is the batch check's code on the same fixes in the
order they were stored.

A tick does not re-check whole nights: each vehicle night keeps *resets* (:class:`_Night`), fixes
where the whole night and a trailing window provably agree (:func:`_resets`: no stop, corridor
excursion, run of a detector or burst of impossible jumps reaches across, and every dwell window
over it is complete). The check runs from the latest reset's window start (about two dwell
times and a few dozen fixes before the newest fix while the truck drives; longer while an
episode or a stop is open), and the episodes that ended before the reset are kept from earlier
ticks. A late fix drops the resets it could change and re-opens the window from before its time.

Most ticks do not even check that window: a vehicle whose new fix provably changes none of its
episodes takes the *fast step* (:meth:`TruckMonitor._fast`): it keeps the episodes of its last check and
only its last fix moves (several new fixes in one tick are stepped one after the other). That is a fix driving on, inside its corridor and hours, no stop forming, no
silence, no impossible jump near it; or a fix of a truck parked in a calm, approved stop that still fits
the stop radius with it. About nine in ten fixes of a night take it, and
``TruckMonitor(fast=False)`` (the tests' oracle) re-checks every window instead.

The episodes found are diffed against the alerts of that night (:mod:`gridlib.live.alerts`):
an episode that no alert overlaps opens one; an alert whose episode changed is ``updated``
(its start or end moved), ``closed`` (its episode now ends before the vehicle's last fix) or
``reopened`` (a closed episode grew again, e.g. a no-permit run after a parked spell); an alert
whose episode vanished (later fixes showed its evidence was an impossible jump) is
``withdrawn``. After the last fix of a feed the alerts that are not withdrawn are exactly the
batch check's violations (vehicle, type, start, end); those still ``open`` are the episodes
that end at their vehicle's last fix.

>>> import geopandas as gpd, pandas as pd, datetime as dt
>>> from shapely.geometry import LineString
>>> from gridlib.live.fix import Fix
>>> permits = gpd.GeoDataFrame({"permit_id": ["P1"], "vehicle_id": ["V1"], "company": ["K"],
...     "valid_from": ["2026-11-20"], "valid_to": ["2026-11-20"], "hours": ["22:00-06:00"]},
...     geometry=[LineString([(121.48, 31.24), (121.52, 31.24)])], crs=4326)
>>> monitor = TruckMonitor(permits)
>>> t0 = dt.datetime(2026, 11, 20, 13, 50, tzinfo=dt.UTC)          # 21:50 in China, before the permit's hours
>>> monitor.add([(Fix("T1", t0 + dt.timedelta(seconds=20 * i), 121.48 + i * 0.0006, 31.24, "osmand"), "V1")
...              for i in range(10)])
>>> [(e["event"], e["type"], e["start"], e["status"]) for e in monitor.tick()]
[('opened', 'outside_hours', '2026-11-20T21:50:00', 'open')]
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyproj
import shapely

from gridlib.crs import WGS84, metric_crs, to_crs, transform_xy
from gridlib.live.alerts import AlertBook
from gridlib.live.fix import Fix
from gridlib.times import WINDOW as TIME_WINDOW
from gridlib.trucks.clean import clean
from gridlib.trucks.detectors import (
    DETECTORS,
    SPEED_COLUMNS,
    CheckContext,
    VehicleDay,
    vehicle_day,
)
from gridlib.trucks.fixes import Fixes, read_fixes
from gridlib.trucks.route import (
    assign_permits,
    keep_route_table,
    permits_metric_crs,
    read_permits,
    read_sites,
    route_distance,
)
from gridlib.trucks.thresholds import Thresholds
from gridlib.trucks.trips import site_tree, stationary
from gridlib.types import LayerSource

__all__ = ["TruckMonitor", "NIGHT_START_S", "night_of"]

log = logging.getLogger(__name__)

#: A night starts at 12:00 local time (the nightly run's truck window: 12:00 the day before to 12:00).
NIGHT_START_S = 12 * 3600
_DAY = 86400
#: A stored fix: local epoch seconds, WGS84 degrees and metres in the monitor's metric CRS (transformed once, when
#: the fix is integrated, by the batch reader :func:`~gridlib.trucks.fixes.read_fixes`: a tick does not re-read it).
_FIX_DTYPE = np.dtype([("t", "i8"), ("lon", "f8"), ("lat", "f8"), ("x", "f8"), ("y", "f8")])


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    """``np.concatenate`` of fix records (read-only), as one ``bytes.join`` of their buffers (structured arrays pay a
    dtype promotion each in ``np.concatenate``; ~15 times faster for a tick's thousand tails).

    >>> a = np.array([(1, 121.5, 31.2, 0.0, 0.0)], dtype=_FIX_DTYPE)
    >>> bool((_concat([a, a[:0], a]) == np.concatenate([a, a])).all()), bool((_concat([a[::-1]]) == a).all())
    (True, True)
    """
    try:
        return np.frombuffer(b"".join(parts), dtype=_FIX_DTYPE)
    except (BufferError, TypeError, ValueError):        # a part not contiguous
        return np.frombuffer(b"".join(np.ascontiguousarray(p) for p in parts), dtype=_FIX_DTYPE)


def night_of(t: np.ndarray | int) -> np.ndarray | int:
    """The night (days since 1970-01-01, of the night's 12:00 start) of local epoch seconds *t*.

    >>> night_of(np.array([0, 12 * 3600, 36 * 3600 - 1]))     # 1970-01-01 00:00, 12:00, 01-02 11:59:59
    array([-1,  0,  0])
    """
    return (np.asarray(t) - NIGHT_START_S) // _DAY


#: Episode columns the alerts use (:meth:`AlertBook.reconcile`); the frozen episodes of a night keep only these.
_KEPT = ("vehicle_id", "type", "start", "end", "permit_id", "company", "detail", "geometry")
#: A stretch of this many consecutive possible segments (in stored fixes, repeated times dropped) is a firewall
#: for :func:`~gridlib.trucks.clean.clean`: a burst it drops has at most 5 fixes between two impossible
#: segments, and dropping one joins its neighbours by a possible segment, so no burst reaches across it.
_CLEAN_K = 16
#: A vehicle's reset moves only when it can move this far (seconds): fewer resets to keep.
_RESET_STEP_S = 120
#: Resets kept per vehicle night (a fix later than all but the oldest falls back to the whole night).
_MAX_RESETS = 64
_NO_RESET = np.iinfo(np.int64).min
#: The fast step (:meth:`TruckMonitor._fast`) looks at this many stored fixes before a vehicle's new fix ...
_TAIL = 48
#: ... and takes at most this many steps (+ up to as many more, by vehicle) before a check moves the reset on.
_FAST_STEPS = 40
#: Metres kept clear of the stop diameter and the corridor's return line where the fast step reasons about a stop
#: (the batch check measures stops in float32 offsets and a stop's mean with its own sums).
_MARGIN_M = 0.1
#: The dwell that counts at the end of a vehicle's data (what :func:`~gridlib.trucks.trips.stationary` uses).
_TAIL_DWELL_S = float(stationary.__kwdefaults__["tail_dwell_s"])


_T_MIN, _T_MAX = (int(np.datetime64(w, "s").astype("int64")) for w in TIME_WINDOW)


def _plainly_valid(vid: np.ndarray, t: np.ndarray, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Per fix: True where :func:`~gridlib.trucks.fixes.read_fixes` surely accepts it (a non-blank vehicle id, a time
    inside :data:`gridlib.times.WINDOW`, finite in-range WGS84 coordinates, not (0, 0)): a tick whose new fixes are
    all such skips the reader's frames (~10 ms); one with any other fix is read by the reader (and its rejects).

    >>> _plainly_valid(np.array(["A", " ", "A", "A"], dtype=object), np.full(4, 1_795_000_000),
    ...                np.array([121.5, 121.5, 0.0, np.nan]), np.array([31.2, 31.2, 0.0, 31.2])).tolist()
    [True, False, False, False]
    """
    with np.errstate(invalid="ignore"):
        ok = (np.abs(lon) <= 180.0) & (np.abs(lat) <= 90.0) & ~((lon == 0) & (lat == 0)) & (t >= _T_MIN) & (t < _T_MAX)
    blank = [v for v in set(vid.tolist()) if not str(v).strip()]
    if blank:
        ok &= ~np.isin(vid, np.array(blank, dtype=object))
    return ok


def _suffix_diagonal(x: np.ndarray, y: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Per point: the diagonal of the bounding box of it and the points after it in its group (*group* sorted).

    >>> _suffix_diagonal(np.array([0.0, 3.0, 0.0, 5.0, 1.0]), np.array([0.0, 4.0, 0.0, 0.0, 0.0]),
    ...                  np.array([0, 0, 1, 1, 1])).tolist()
    [5.0, 0.0, 5.0, 4.0, 0.0]
    """
    out = np.zeros(len(x))
    if not len(x):
        return out
    ext = []
    for v in (x - x.min(), y - y.min()):
        off = group * (2.0 * float(v.max()) + 1.0)      # groups apart: an accumulation never reaches across
        ext.append(np.maximum.accumulate((v - off)[::-1])[::-1] - np.minimum.accumulate((v + off)[::-1])[::-1]
                   + 2 * off)
    return np.hypot(ext[0], ext[1])


class _Night:
    """One vehicle night: its stored fixes sorted by time (arrival order among equal times), its resets and the
    episodes frozen before them.

    A reset ``(reset_t, window_t, guard_t, n_frozen)`` says: the batch check of the whole night and of only the
    fixes from ``window_t`` on find the same episodes from the fix at ``reset_t`` on, every episode of the night
    ends before that fix or starts at it or later, and the first ``n_frozen`` episodes are those ending before it.
    It stays true for any fix stored later with a time after ``guard_t``; an earlier (late) fix drops it.

    >>> n = _Night()
    >>> _ = n.add(np.array([(10, 121.5, 31.2, 0, 0), (30, 121.5, 31.2, 0, 0)], dtype=_FIX_DTYPE))
    >>> n.push(30, 10, 30, [("V", "no_permit")])
    >>> n.add(np.array([(20, 121.6, 31.2, 0, 0)], dtype=_FIX_DTYPE)), n.raw["t"].tolist(), n.reset_t == _NO_RESET
    (1, [10, 20, 30], True)
    """

    __slots__ = ("buf", "n", "last_t", "resets", "frozen", "start", "tip_n", "found", "found_end", "skipped", "cap",
                 "stop", "approved")

    def __init__(self, cap: int = 0) -> None:
        self.buf = np.zeros(8, dtype=_FIX_DTYPE)      # the fixes are buf[:n]; appended in place (amortised growth)
        self.n = 0
        self.last_t = _NO_RESET     # the latest stored fix's time
        self.start = -1         # position of the latest reset's window start in buf, -1: to be found
        self.resets: list[tuple[int, int, int, int]] = []
        self.frozen: list[tuple] = []
        # the fast step (TruckMonitor._fast): the episodes `found` (rows of _KEPT) of the whole night on the fixes
        # buf[:tip_n], whose last one was kept and moving (stop None) or parked in the stop `stop`
        # [first fix's time, permit, sum x, sum y, fixes, xmin, xmax, ymin, ymax]; tip_n -1: nothing to go on
        self.tip_n = -1
        self.found: list[tuple] = []
        self.found_end: list[int] = []     # their ends, local epoch seconds
        self.stop: list | None = None
        # what TruckMonitor._approved learnt of `stop`: (stop, permit, box within a site approved for the permit or
        # None, box not within any or None), boxes (xmin, ymin, xmax, ymax); valid while `stop` is that same list
        self.approved: tuple | None = None
        self.skipped = 0        # fast steps while moving since the last check; at `cap` a check moves the reset on
        self.cap = cap

    @property
    def raw(self) -> np.ndarray:
        return self.buf[:self.n]

    @property
    def reset_t(self) -> int:
        return self.resets[-1][0] if self.resets else _NO_RESET

    def add(self, chunk: np.ndarray, t0: int | None = None) -> int:
        """Store new fixes (in arrival order; *t0*: the time of a single one, if known); drop the resets a late fix
        may change. Returns 1 if it dropped any."""
        k = len(chunk)
        if k == 1:
            c, t0 = chunk, int(chunk["t"][0]) if t0 is None else t0
            t1 = t0
        else:
            c = chunk[np.argsort(chunk["t"], kind="stable")]
            t0, t1 = int(c["t"][0]), int(c["t"][-1])
        n, buf = self.n, self.buf
        if not n or t0 >= self.last_t:
            if n + k > len(buf):
                grown = np.zeros(max(2 * len(buf), n + k), dtype=_FIX_DTYPE)
                grown[:n] = buf[:n]
                self.buf = buf = grown
            buf[n:n + k] = c
            self.last_t = t1
        else:   # after the fixes of equal time already stored: the batch reader keeps the first stored
            raw = buf[:n]
            self.buf = np.insert(raw, np.searchsorted(raw["t"], c["t"], side="right"), c)
            self.start = -1
            self.tip_n = -1
            self.last_t = max(self.last_t, t1)
        self.n = n + k
        return self._drop_resets(t0) if self.resets else 0

    def add_one(self, rows: np.ndarray, i: int, t0: int) -> int:
        """:meth:`add` of the single fix ``rows[i]`` (its time *t0*): appended in place, one record assignment (the
        per-fix path of a tick)."""
        n = self.n
        if n and t0 < self.last_t:
            return self.add(rows[i:i + 1], t0)
        buf = self.buf
        if n >= len(buf):
            grown = np.zeros(2 * len(buf), dtype=_FIX_DTYPE)
            grown[:n] = buf[:n]
            self.buf = buf = grown
        buf[n] = rows[i]
        self.last_t = t0
        self.n = n + 1
        return self._drop_resets(t0) if self.resets else 0

    def _drop_resets(self, t0: int) -> int:
        """Drop the resets a fix at *t0* may change (their guard is not before it); 1 if any was dropped."""
        dropped = 0
        while self.resets and self.resets[-1][2] >= t0:
            self.resets.pop()
            dropped = 1
            self.start = -1
        if dropped:
            del self.frozen[self.resets[-1][3] if self.resets else 0:]
        return dropped

    def window(self) -> np.ndarray:
        """The fixes the next check runs on: from the latest reset's window start (all without a reset)."""
        raw = self.buf[:self.n]
        if not self.resets:
            return raw
        if self.start < 0:      # fixes appended later are not earlier than the window start: it stays put
            self.start = int(np.searchsorted(raw["t"], self.resets[-1][1], side="left"))
        return raw[self.start:]

    def frozen_rows(self) -> list[tuple]:
        return self.frozen

    def push(self, reset_t: int, window_t: int, guard_t: int, rows: list[tuple]) -> None:
        """A new reset, with the episodes (rows of :data:`_KEPT`) that end before it and after the last one."""
        self.frozen += rows
        self.resets.append((reset_t, window_t, guard_t, len(self.frozen)))
        self.start = -1
        if len(self.resets) > _MAX_RESETS:
            del self.resets[0]


def _speed_limits(roads: Any) -> np.ndarray:
    """The usable speed limits of *roads* as :func:`~gridlib.trucks.detectors.speeding` reads them.

    >>> _speed_limits(pd.DataFrame({"maxspeed": ["50", "x", "60 km/h"]})).tolist(), len(_speed_limits(None))
    ([50.0, 60.0], 0)
    """
    if roads is None or not len(roads):
        return np.zeros(0)
    col = next((c for c in SPEED_COLUMNS if c in roads.columns), None)
    if col is None:
        return np.zeros(0)
    limit = pd.to_numeric(roads[col].astype("string").str.extract(r"(\d+(?:\.\d+)?)")[0], errors="coerce").to_numpy()
    return limit[np.isfinite(limit)].astype("float64")


def _resets(raw: Fixes, fx: Fixes, day: VehicleDay, th: Thresholds, old: np.ndarray, speed_floor: float,
            zone_of: np.ndarray | None) -> dict[int, tuple[int, int, int]]:
    """The latest fix of each vehicle where the checks of the whole night and of a trailing window agree.

    *raw* are the window's fixes as read (before :func:`~gridlib.trucks.clean.clean`), *fx* and *day* the
    cleaned fixes and what the detectors saw; *old* is each vehicle's current reset time. A fix ``r`` qualifies
    (it is then a reset with window start ``w`` and guard ``g``, see :class:`_Night`) when

    - its state is the same whatever came before: the fix before it is in no dwell window (so no stop reaches
      across), on its corridor or with no permit (the deviation hysteresis is reset), not in a run of
      ``no_permit``, ``outside_hours``, speeding or a restricted zone (or ``r`` starts a new run after a gap
      or a permit change), and the silence before ``r`` is none;
    - that state is final: every dwell window over ``r - 1`` is complete, and the stored fixes around ``r`` and
      up to the guard have no impossible segment for ``_CLEAN_K`` fixes either side (so cleaning cannot change);
    - the window from ``w`` sees the same from ``r - 1`` on: no dwell window of the fixes before ``w`` reaches
      ``r - 1``, ``r - 3`` is in the window, and cleaning cannot differ at ``w`` (no impossible segment
      ``_CLEAN_K`` fixes either side of it);
    - ``r - 3`` is at or after the vehicle's current reset (the current window agrees with the whole night there).

    Returns ``{vehicle code: (reset_t, window_t, guard_t)}`` for the vehicles with such a fix.
    """
    n = len(fx)
    if n < 4 or day.movement.dwell is None:
        return {}
    t, j = fx.t, np.arange(n)
    starts = fx.vehicle_starts()
    vstart = np.maximum.accumulate(np.where(starts, j, 0))
    vend = (np.r_[np.flatnonzero(starts)[1:], n] - 1)[np.cumsum(starts) - 1]
    dwell = int(np.ceil(th.min_dwell_s))
    p1, p2, p3 = np.maximum(j - 1, 0), np.maximum(j - 2, 0), np.maximum(j - 3, 0)
    mv = day.movement
    ok = (j - vstart >= 3) & ~mv.dwell[p1] & (t[vend] >= t[p1] + dwell + 1) & (t[p3] >= old[fx.vehicle])
    gap = mv.gap_before
    brk = gap | day.permit_change
    dist, corridor = day.route_distance_m, day.corridor_m
    with np.errstate(invalid="ignore"):
        calm = np.isnan(dist) | day.at_site | (dist <= th.return_ratio * corridor)
    pof = day.permit_of
    ok &= calm[p1] | brk
    ok &= (pof[p1] >= 0) | gap
    ok &= ~((pof[p1] >= 0) & ~day.in_hours[p1]) | brk
    if np.isfinite(speed_floor):
        if fx.speed is not None:
            v = fx.speed
        else:
            v = np.zeros(n)
            v[1:] = np.hypot(np.diff(fx.x), np.diff(fx.y)) / np.maximum(np.diff(t).astype("float64"), 1.0) * 3.6
            v[starts] = 0.0
        ok &= ~day.moving[p1] | ~(v[p1] > speed_floor) | gap
    if zone_of is not None:
        ok &= (zone_of[p1] < 0) | gap
    ok &= ~(((t - t[p1]) >= th.silence_s) & (np.hypot(fx.x - fx.x[p1], fx.y - fx.y[p1]) >= th.silence_min_m))
    window_t = np.minimum(t[p3], t[p2] - dwell - 1)
    # cleaning: the stored fixes with repeated times dropped, and their impossible segments
    same = np.zeros(len(raw), dtype=bool)
    same[1:] = (raw.vehicle[1:] == raw.vehicle[:-1]) & (raw.t[1:] == raw.t[:-1])
    dd = np.flatnonzero(~same)
    dv, dt_ = raw.vehicle[dd].astype(np.int64), raw.t[dd]
    nd = len(dd)
    cont = dv[1:] == dv[:-1]
    step = np.hypot(np.diff(raw.x[dd]), np.diff(raw.y[dd]))
    bad = cont & (step > th.min_jump_m) & (step > th.max_speed_kmh / 3.6 * np.maximum(np.diff(dt_).astype("float64"), 1.0))
    cum = np.r_[0, np.cumsum(bad)]                 # impossible segments before position k (segment k joins k, k + 1)
    dfirst = np.r_[True, ~cont]
    dstart = np.maximum.accumulate(np.where(dfirst, np.arange(nd), 0))
    dend = (np.r_[np.flatnonzero(dfirst)[1:], nd] - 1)[np.cumsum(dfirst) - 1]
    t0 = int(dt_.min())
    span = int(dt_.max()) - t0 + 2 * dwell + 10
    key = dv * span + (dt_ - t0)
    base = fx.vehicle.astype(np.int64) * span
    w = np.searchsorted(key, base + np.maximum(window_t - t0, 0), side="left")
    pj = np.searchsorted(key, base + (t - t0), side="left")
    q = np.searchsorted(key, base + (t[p1] + dwell - t0), side="left")
    hi = np.maximum(pj, q)
    K = _CLEAN_K
    pj = np.minimum(pj, nd - 1)
    ok &= (w - K >= dstart[pj]) & (hi + K <= dend[pj])
    lo_w, hi_w = np.clip(w - K, 0, nd - 1), np.clip(w + K, 0, nd - 1)
    lo_r, hi_r = np.clip(pj - K, 0, nd - 1), np.clip(hi + K, 0, nd - 1)
    ok &= (cum[hi_w] == cum[lo_w]) & (cum[hi_r] == cum[lo_r])
    cand = np.flatnonzero(ok)
    if not len(cand):
        return {}
    veh = fx.vehicle[cand]
    cand = cand[np.r_[veh[1:] != veh[:-1], True]]
    guard = dt_[hi_r[cand]]
    return {int(fx.vehicle[r]): (int(t[r]), int(window_t[r]), int(g)) for r, g in zip(cand, guard, strict=True)}


class TruckMonitor:
    """Per-vehicle night state and the alerts it raises; fed by :meth:`add`, advanced by :meth:`tick`.

    Parameters
    ----------
    permits, sites : path or GeoDataFrame
        As :func:`gridlib.trucks.check` takes them (read with the same readers).
    roads, zones : GeoDataFrame, optional
        As :func:`gridlib.trucks.check` takes them.
    thresholds : Thresholds, optional
        Default :class:`~gridlib.trucks.thresholds.Thresholds()` (what the nightly run uses).
    metric : CRS, optional
        Metric CRS for distances; default the Gauss–Krüger zone of the permits' routes.
    book : AlertBook, optional
        Where alerts are kept (and stored); default an in-memory :class:`~gridlib.live.alerts.AlertBook`.
    keep_nights : int
        Nights kept per vehicle (the latest seen and the ones before it); a fix of an older night
        is counted in ``stats["too_old"]`` and left to the nightly run.
    grid_index : GridIndex, optional
        The live grid edition's :class:`~gridlib.index.GridIndex`: every fix is located in it when
        it is integrated (one vectorised lookup per tick), the grid of each vehicle's latest fix is
        kept in :attr:`grids` and fixes outside every grid are counted in ``stats["outside_grid"]``.
    fast : bool
        Take the fast step (:meth:`_fast`, fixes counted in ``stats["fast"]``, those of a vehicle's several new
        fixes in a tick also in ``stats["fast_chained"]``): a vehicle whose new fixes provably change none of its
        episodes skips the re-check of its window. False re-checks every vehicle with a new fix
        (the same alerts, at about twice the CPU per fix; the fast step's oracle in the tests).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import LineString
    >>> permits = gpd.GeoDataFrame({"permit_id": ["P1"], "vehicle_id": ["V1"], "company": ["K"],
    ...     "valid_from": ["2026-11-20"], "valid_to": ["2026-11-20"], "hours": ["22:00-06:00"]},
    ...     geometry=[LineString([(121.48, 31.24), (121.52, 31.24)])], crs=4326)
    >>> TruckMonitor(permits).ctx.metric.to_epsg()
    4550
    """

    def __init__(self, permits: LayerSource, sites: LayerSource | None = None, *, roads: Any = None,
                 zones: Any = None, thresholds: Thresholds | None = None, metric: Any = None,
                 book: AlertBook | None = None, keep_nights: int = 2, grid_index: Any = None,
                 fast: bool = True) -> None:
        permits_ok, self.permit_rejects = read_permits(permits)
        sites_ok = read_sites(sites)[0] if sites is not None else None
        if metric is None:      # the batch check's rule (gl.trucks.route.permits_metric_crs)
            metric = permits_metric_crs(permits_ok) or metric_crs(121.5, 31.2)
        self.ctx = CheckContext.prepare(permits_ok, sites_ok, pyproj.CRS.from_user_input(metric), roads=roads,
                                        zones=zones, thresholds=thresholds or Thresholds())
        # every tick measures fixes against the same routes: cut and hash them once, at the width vehicle_day uses
        corridor = self.ctx.permits["corridor_m"].to_numpy(dtype="float64")
        keep_route_table(self.ctx.routes_m, max(30.0, float(corridor.max()) if len(corridor) else 0.0))
        self.book = book if book is not None else AlertBook()
        self.keep_nights = keep_nights
        self.fast = fast
        self.grid_index = grid_index
        #: vehicle → (local epoch seconds, grid code or None) of its latest fix (with ``grid_index``)
        self.grids: dict[str, tuple[int, str | None]] = {}
        self._lock = threading.Lock()
        self._pending: list[tuple[str, int, float, float]] = []
        self._fixes: dict[tuple[str, int], _Night] = {}       # (vehicle, night) → its fixes and resets
        limits = _speed_limits(roads)
        self._speed_floor = (float(limits.min()) + self.ctx.thresholds.speed_tolerance_kmh if len(limits)
                             else np.inf)
        self._zone_shapes: list[Any] | None = None     # see _zones_m
        self._latest_night: int | None = None
        self._expired: list[dict[str, Any]] = []
        self.stats: dict[str, float] = {"fixes": 0, "too_old": 0, "ticks": 0, "tick_s": 0.0, "last_tick_s": 0.0,
                                        "vehicles_checked": 0, "fixes_checked": 0, "reopened": 0,
                                        "located": 0, "outside_grid": 0, "rejected": 0, "fast": 0,
                                        "fast_chained": 0}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # ---- input -------------------------------------------------------------------------------------------
    def add(self, pairs: Iterable[tuple[Fix, str]]) -> None:
        """Take ``(fix, vehicle_id)`` pairs already stored (the :meth:`FixStore.subscribe` callback); cheap."""
        rows = [(str(v), _local_s(f), f.lon, f.lat) for f, v in pairs]
        with self._lock:
            self._pending.extend(rows)

    def add_rows(self, rows: Iterable[tuple[Any, Any, float, float]]) -> None:
        """Take stored ``(vehicle_id, local_time, lon, lat)`` rows (:meth:`FixStore.rows`), e.g. at a restart."""
        rows = list(rows)
        if not rows:
            return
        t = pd.to_datetime(pd.Series([r[1] for r in rows]), format="ISO8601").to_numpy("datetime64[s]")
        t = t.astype("int64")
        with self._lock:
            self._pending.extend((str(r[0]), int(ti), float(r[2]), float(r[3])) for r, ti in zip(rows, t, strict=True))

    # ---- the tick ----------------------------------------------------------------------------------------
    def tick(self) -> list[dict[str, Any]]:
        """Check every vehicle night with new fixes (one batch-check pass per night) and update the alerts.

        Returns the alert events raised (also kept and stored by the :class:`AlertBook`).
        """
        started = time.perf_counter()
        with self._lock:
            pending, self._pending = self._pending, []
        if not pending:
            return []
        vid = np.array([p[0] for p in pending], dtype=object)
        arr = np.zeros(len(pending), dtype=_FIX_DTYPE)      # built once for both steps
        arr["t"] = np.fromiter((p[1] for p in pending), dtype=np.int64, count=len(pending))
        arr["lon"] = np.fromiter((p[2] for p in pending), dtype=np.float64, count=len(pending))
        arr["lat"] = np.fromiter((p[3] for p in pending), dtype=np.float64, count=len(pending))
        dirty = self._integrate(vid, arr)
        if self.grid_index is not None:
            self._locate(vid, arr)
        events, self._expired = self._expired, []
        for night in sorted({n for _, n in dirty}):
            keys = sorted(k for k in dirty if k[1] == night)
            vehicles, found, last = self._evaluate(keys)
            events += self.book.reconcile(night, vehicles, found, last,
                                         settle_s=self.ctx.thresholds.min_dwell_s)
        spent = time.perf_counter() - started
        self.stats["ticks"] += 1
        self.stats["tick_s"] += spent
        self.stats["last_tick_s"] = spent
        self.stats["vehicles_checked"] += len(dirty)
        return events

    def _integrate(self, vid: np.ndarray, arr: np.ndarray) -> set[tuple[str, int]]:
        nights = night_of(arr["t"])
        latest = int(nights.max())
        if self._latest_night is None or latest > self._latest_night:
            self._latest_night = latest
            oldest = latest - self.keep_nights + 1
            for key in [k for k in self._fixes if k[1] < oldest]:
                del self._fixes[key]
            self._expired += self.book.forget_before(oldest)
        oldest = self._latest_night - self.keep_nights + 1
        keep = nights >= oldest
        self.stats["too_old"] += int((~keep).sum())
        self.stats["fixes"] += int(keep.sum())
        dirty: set[tuple[str, int]] = set()
        if not keep.any():
            return dirty
        keep &= self._read(vid, arr, keep)
        if not keep.any():
            return dirty
        # one stable group-by (vehicle, night) in numpy (pandas' MultiIndex costs ms on a tick of a few fixes);
        # arrival order is kept inside each group
        kv, kn = vid[keep], nights[keep]
        names, inv = np.unique(kv, return_inverse=True)
        codes = inv.astype(np.int64) * (int(kn.max() - kn.min()) + 1) + (kn - kn.min())
        order = np.argsort(codes, kind="stable")
        bounds = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0, True])
        sel = arr[keep][order]
        sel_t = sel["t"].tolist()
        first = order[bounds[:-1]]                  # the (vehicle, night) of each run, read once (not per run)
        vehicles = names[inv[first]].tolist()
        group_nights = kn[first].tolist()
        reopened = 0
        fixes = self._fixes
        for a, b, v, n in zip(bounds[:-1].tolist(), bounds[1:].tolist(), vehicles, group_nights, strict=True):
            k = (str(v), n)
            night = fixes.get(k)
            if night is None:
                night = fixes[k] = _Night(_FAST_STEPS + zlib.crc32(k[0].encode()) % _FAST_STEPS)
            reopened += night.add_one(sel, a, sel_t[a]) if b - a == 1 else night.add(sel[a:b])
            dirty.add(k)
        self.stats["reopened"] += reopened
        return dirty

    def _read(self, vid: np.ndarray, arr: np.ndarray, keep: np.ndarray) -> np.ndarray:
        """The new fixes the batch reader accepts (:func:`~gridlib.trucks.fixes.read_fixes`, read once, when they
        come in); sets their metric ``x``/``y`` in *arr*. A window of accepted fixes is then what the reader
        returns for it (its rules are per fix), so a tick builds its :class:`Fixes` without re-reading them."""
        idx = np.flatnonzero(keep)
        ok = np.zeros(len(arr), dtype=bool)
        lon, lat = arr["lon"][idx], arr["lat"][idx]
        if _plainly_valid(vid[idx], arr["t"][idx], lon, lat).all():    # what the reader accepts, without its frames
            metric = self.ctx.metric
            x, y = (lon, lat) if metric.is_geographic else transform_xy(WGS84, metric, lon, lat)
            arr["x"][idx], arr["y"][idx] = x, y
            ok[idx] = True
            return ok
        frame = pd.DataFrame({"vehicle_id": vid[idx], "time": arr["t"][idx].astype("datetime64[s]"),
                              "lon": lon, "lat": lat})
        fx, _ = read_fixes(frame, metric=self.ctx.metric)
        ok[idx[fx.row]] = True
        arr["x"][idx[fx.row]] = fx.x
        arr["y"][idx[fx.row]] = fx.y
        self.stats["rejected"] += len(idx) - len(fx)
        return ok

    def _window_fixes(self, keys: list[tuple[str, int]], parts: list[np.ndarray]) -> Fixes:
        """The :class:`Fixes` :func:`~gridlib.trucks.fixes.read_fixes` reads from the windows *parts* of *keys*
        (one night, keys sorted by vehicle): their fixes were accepted and transformed when they came in
        (:meth:`_read`) and each window is sorted by time, so this is that reader's output, built from the arrays.

        Checked against the reader in ``tests/test_live_monitor.py`` (``test_window_fixes_equal_the_reader``)."""
        lengths = np.array([len(p) for p in parts], dtype=np.int64)
        present = lengths > 0
        arr = _concat(parts)
        n = len(arr)
        return Fixes(vehicle=np.repeat(np.arange(int(present.sum()), dtype=np.int32), lengths[present]),
                     vehicle_ids=np.array([k[0] for k, p in zip(keys, present, strict=True) if p], dtype=object),
                     t=arr["t"].copy(), lon=arr["lon"].copy(), lat=arr["lat"].copy(), x=arr["x"].copy(),
                     y=arr["y"].copy(), row=np.arange(n, dtype=np.int64), crs=self.ctx.metric)

    def _locate(self, vid: np.ndarray, arr: np.ndarray) -> None:
        """Locate every new fix in the grid (one vectorised lookup); keep each vehicle's latest fix's grid."""
        x, y = transform_xy(WGS84, self.grid_index.crs, arr["lon"], arr["lat"])
        codes = self.grid_index.codes(x, y)
        self.stats["located"] += len(codes)
        self.stats["outside_grid"] += int(pd.isna(codes).sum())
        order = np.argsort(arr["t"], kind="stable")        # in time order: the latest (last stored of equal) wins
        grids = self.grids
        for vehicle, t, code in zip(vid[order].tolist(), arr["t"][order].tolist(),
                                    np.asarray(codes, dtype=object)[order].tolist(), strict=True):
            seen = grids.get(vehicle)
            if seen is None or t >= seen[0]:
                grids[vehicle] = (t, code if isinstance(code, str) else None)     # NaN: no grid

    def _evaluate(self, keys: list[tuple[str, int]]) -> tuple[list[str], pd.DataFrame, dict[str, np.datetime64]]:
        """The vehicles to reconcile among *keys* (one night), their episodes and last fix, as the batch check finds
        them.

        A vehicle night whose new fixes provably change none of its episodes (:meth:`_fast`) keeps the episodes
        of its last check, and is reconciled only if one of them now opens or closes (the new fixes moved its last
        fix across the settle time after the episode's end: nothing else of its alerts can change); the others are
        checked (:meth:`_check`).
        """
        nights = [self._fixes[k] for k in keys]
        fast, counted = self._fast(keys, nights) if self.fast else ({}, [])
        vehicles: list[str] = []
        last: dict[str, np.datetime64] = {}
        parts: list[pd.DataFrame] = []
        if fast:
            rows: list[tuple] = []
            settle = max(self.ctx.thresholds.min_dwell_s, 1)       # as AlertBook.reconcile tells open from closed
            for i, (t_new, t_prev) in fast.items():
                night = nights[i]
                if any((t_prev - e < settle) != (t_new - e < settle) for e in night.found_end):
                    rows += night.found
                    last[keys[i][0]] = np.datetime64(t_new, "s")
                    vehicles.append(keys[i][0])
            self.stats["fast"] += sum(counted)
            self.stats["fast_chained"] += sum(c for c in counted if c > 1)
            if rows:
                parts.append(pd.DataFrame.from_records(rows, columns=list(_KEPT)))
        slow = [i for i in range(len(keys)) if i not in fast]
        if slow:
            window, checked = self._check([keys[i] for i in slow], [nights[i] for i in slow])
            last.update(checked)
            parts.append(window)
            vehicles += [keys[i][0] for i in slow]
        if not parts:
            return vehicles, pd.DataFrame(columns=list(_KEPT)), last
        return vehicles, (parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)), last

    def _fast(self, keys: list[tuple[str, int]], nights: list[_Night]) -> tuple[dict[int, tuple[int, int]], list[int]]:
        """The nights (positions in *keys*: their last fix's time and the time of their last fix before this tick)
        whose new fixes change none of their episodes, and how many fixes each of them stepped over.

        The new fixes of a night are stepped one after the other (:meth:`_fast_step`, vectorised over the nights):
        fix ``j``'s step takes the night as the fixes ``buf[:j + 1]``, its "previous fix" is fix ``j - 1`` and what it
        goes on is what the step of fix ``j - 1`` left (the episodes, unchanged; fix ``j - 1`` kept, moving or parked
        in the stop that gained it) — exactly what it goes on when each fix comes in a tick of its own. A night whose
        fix fails a step (or that reaches its ``cap`` of moving steps) is left to the check (:meth:`_check`), which
        re-checks its window whatever the steps left (it sets ``found``, ``tip_n``, ``stop`` and ``skipped`` anew).
        The alerts of a stepped night change only if an episode opens or closes between the two times returned
        (:meth:`_evaluate`): a fix's time only grows along the chain (strictly, the steps require it), so an episode
        that flips at no step flips between none.
        """
        active = [i for i, nt in enumerate(nights)
                  if nt.tip_n >= 2 and nt.n > nt.tip_n and (nt.stop is not None or nt.skipped < nt.cap)]
        first = {i: (int(nights[i].buf["t"][nights[i].tip_n - 1]), nights[i].tip_n) for i in active}
        out: dict[int, tuple[int, int]] = {}
        counted: list[int] = []
        while active:
            nxt = []
            for i in self._fast_step(keys, nights, active):
                nt = nights[i]
                nt.tip_n += 1
                nt.skipped += nt.stop is None
                if nt.tip_n == nt.n:
                    out[i] = (int(nt.buf["t"][nt.n - 1]), first[i][0])
                    counted.append(nt.n - first[i][1])
                elif nt.stop is not None or nt.skipped < nt.cap:
                    nxt.append(i)
            active = nxt
        return out, counted

    def _fast_step(self, keys: list[tuple[str, int]], nights: list[_Night], cand: list[int]) -> list[int]:
        """The nights among *cand* whose next new fix (the one at ``tip_n``) changes none of their episodes; the stop
        of a parked one gains it (the caller moves ``tip_n`` on).

        The night's last check (or fast step) found the episodes of its fixes ``buf[:tip_n]``, the last of them
        kept and moving or parked (:class:`_Night`); one fix came after it, later. The batch check of the night
        with that fix appended finds the same episodes (and the new fix becomes the vehicle's last) when the new fix

        - opens no silence and no gap (``dt < gap_s``, and not ``dt >= silence_s`` with a jump ``>= silence_min_m``);
        - changes no cleaning: the stored fixes of the tail (the last :data:`_TAIL`, which reach back over
          ``min_dwell_s`` before the previous fix or hold the whole night) have strictly increasing times and no
          impossible segment, the new one included (a dropped burst is bridged by a possible segment, so no
          impossible segment ever reaches the new fix and no fix before it changes);
        - is in no restricted zone;

        and, after a moving fix, when no dwell window can end at the new fix (it is more than ``2 * stop_radius_m``
        from every fix whose window would end at it: those after ``t_prev - min_dwell_s`` and at least the tail
        dwell before it, or that window is wider than ``2 * stop_radius_m`` + :data:`_MARGIN_M`) while the windows
        that ended at the previous fix (the tail rule) held no dwell (that fix was in none): every dwell flag,
        so every stop, stays and the new fix is moving. It must then be in no episode: a permit and inside
        its hours (no ``no_permit``/``outside_hours`` run reaches it), within ``return_ratio`` of its corridor
        (its deviation state is "back inside": the off-route runs end where they ended) and not faster than the
        slowest speed limit + tolerance;

        or, after a parked fix, when the new fix joins its stop: the stop with it still fits in ``2 *
        stop_radius_m`` (less :data:`_MARGIN_M`), so every window over the stop stays still, the stop (one whole
        dwell run) stays one piece and gains the new fix, parked; no window from before the stop reaches it; its
        permit is the stop's (one for the whole stop); the stop's new mean is within ``return_ratio`` of the
        corridor (less the margin) or there is no permit, so all its fixes stay "inside"; and the stop's box, or
        else its new mean (grown by the margin), lies within a site approved for it, so it stays approved (no
        ``unpermitted_stop``: :func:`~gridlib.trucks.detectors.approved_stops` matches the stop's mean). A run of
        ``no_permit``/``outside_hours`` that reaches the new fix is trimmed to its moving fixes and ends where it
        ended; speeding counts moving fixes only.

        Every run of a detector then ends where it ended, and the new fix starts none.
        """
        th = self.ctx.thresholds
        ends = [nights[i].tip_n + 1 for i in cand]      # the night up to and with the new fix: buf[:end]
        parts = [nights[i].buf[max(0, e - _TAIL):e] for i, e in zip(cand, ends, strict=True)]
        lengths = np.array([len(q) for q in parts], dtype=np.int64)
        whole = np.array([e <= _TAIL for e in ends])
        stops = [nights[i].stop for i in cand]
        parked = np.array([st is not None for st in stops])
        stop = np.zeros((len(cand), 9))
        if parked.any():
            at = np.flatnonzero(parked)
            stop[at] = np.array([stops[i] for i in at.tolist()], dtype=np.float64)
        arr = _concat(parts)
        t, x, y = arr["t"], arr["x"], arr["y"]
        m = len(cand)
        g = np.repeat(np.arange(m), lengths)
        end = np.cumsum(lengths) - 1                 # the new fix
        prev = end - 1
        tn, tp = t[end], t[prev]
        xn, yn = x[end], y[end]
        dt_ = tn - tp
        step = np.hypot(xn - x[prev], yn - y[prev])
        ok = (dt_ > 0) & (dt_ < th.gap_s) & ~((dt_ >= th.silence_s) & (step >= th.silence_min_m))
        # cleaning: strictly increasing times, no impossible segment (clean's own test) in the tail
        same = g[1:] == g[:-1]
        d = np.hypot(x[1:] - x[:-1], y[1:] - y[:-1])
        seg_dt = (t[1:] - t[:-1]).astype("float64")
        bad = same & ((t[1:] <= t[:-1]) | ((d > th.min_jump_m) & (d > th.max_speed_kmh / 3.6 * np.maximum(seg_dt, 1.0))))
        ok &= np.bincount(g[:-1][bad], minlength=m) == 0
        # stops: the fixes whose dwell window would end at the new fix (all of them: moving; those before the stop:
        # parked) are farther than 2R from it
        dwell = int(np.ceil(th.min_dwell_s))
        tail_s = min(float(th.min_dwell_s), _TAIL_DWELL_S)
        radius = th.stop_radius_m
        ok &= whole | (t[end - lengths + 1] <= tp - dwell)
        ends_at_new = (t > tp[g] - dwell) & ((tn[g] - t) >= tail_s) & (np.arange(len(t)) != end[g])
        ends_at_new &= ~parked[g] | (t < stop[g, 0])
        near = ends_at_new & (np.hypot(xn[g] - x, yn[g] - y) <= 2.0 * radius)
        if near.any():      # ... or their window to it is wider than 2R (its box, with the margin): no stop either
            near &= ~(_suffix_diagonal(x, y, g) > 2.0 * radius + _MARGIN_M)
        ok &= np.bincount(g[near], minlength=m) == 0
        # parked: the stop with the new fix fits (its box, less the margin) and lasts the tail dwell
        x0, x1 = np.minimum(stop[:, 5], xn), np.maximum(stop[:, 6], xn)
        y0, y1 = np.minimum(stop[:, 7], yn), np.maximum(stop[:, 8], yn)
        fits = (np.hypot(x1 - x0, y1 - y0) <= 2.0 * radius - _MARGIN_M) & ((tn - stop[:, 0]) >= tail_s)
        ok &= ~parked | fits
        for zone in self._zones_m():
            ok &= ~shapely.contains_xy(zone, xn, yn)
        if not ok.any():
            return []
        # the new fix's permit and hours, its corridor (moving) or the stop's mean's (parked), its speed
        sel = np.flatnonzero(ok)
        ids = np.array([keys[cand[i]][0] for i in sel.tolist()], dtype=object)
        order = np.argsort(ids, kind="stable")
        code = np.empty(len(sel), dtype=np.int32)
        code[order] = np.arange(len(sel), dtype=np.int32)
        permits = self.ctx.permits
        permit, in_hours = assign_permits(
            code, tn[sel], self.ctx.permit_vehicles(ids[order]), permits["valid_from"].to_numpy(dtype="datetime64[D]"),
            permits["valid_to"].to_numpy(dtype="datetime64[D]"), permits["hours_start_s"].to_numpy(dtype=np.int64),
            permits["hours_end_s"].to_numpy(dtype=np.int64))
        pk = parked[sel]
        cnt = stop[sel, 4] + 1
        mx, my = (stop[sel, 2] + xn[sel]) / cnt, (stop[sel, 3] + yn[sel]) / cnt
        good = np.where(pk, permit == stop[sel, 1], (permit >= 0) & in_hours)
        margin = np.where(pk, _MARGIN_M, 0.0)
        with_permit = good & (permit >= 0)
        corridor_p = permits["corridor_m"].to_numpy(dtype="float64")
        if with_permit.any():
            cell = max(30.0, float(corridor_p.max()))
            dist = route_distance(np.where(pk, mx, xn[sel]), np.where(pk, my, yn[sel]), np.where(with_permit, permit, -1),
                                  self.ctx.routes_m, cell_m=cell)
            with np.errstate(invalid="ignore"):
                inside = dist <= th.return_ratio * corridor_p[np.maximum(permit, 0)] - margin
            good &= ~with_permit | inside
        if pk.any():
            ask = pk & good     # the others fail already
            if ask.any():
                approved = self._approved(ask, np.column_stack([x0, y0, x1, y1])[sel], permit,
                                          [nights[cand[i]] for i in sel.tolist()])
                again = np.flatnonzero(ask & ~approved)
                if len(again):      # the stop's box reaches out of its sites (a truck parked at a site's edge)
                    approved[again] = self._approved_box(np.column_stack([mx, my, mx, my])[again], permit[again])
                good &= ~pk | approved
        if np.isfinite(self._speed_floor):
            v = step[sel] / np.maximum(dt_[sel].astype("float64"), 1.0) * 3.6
            good &= pk | ~(v > self._speed_floor)
        gi = sel[good]
        for i, (xi, yi, x0i, x1i, y0i, y1i) in zip(gi.tolist(), np.column_stack([xn, yn, x0, x1, y0, y1])[gi].tolist(),
                                                   strict=True):
            st = stops[i]
            if st is not None:       # the stop gains the new fix
                st[2:] = [st[2] + xi, st[3] + yi, st[4] + 1, x0i, x1i, y0i, y1i]
        return [cand[i] for i in gi.tolist()]

    def _approved(self, ask: np.ndarray, boxes: np.ndarray, permit: np.ndarray, nights: list[_Night]) -> np.ndarray:
        """:meth:`_approved_box` where *ask* (parked nights whose stop with the new fix fits; elsewhere False), answered
        from each night's cache when it can be (the sites and permits are fixed): a box inside one found within a site
        approved for the same permit is within it too; a box around one found within none is within none. A parked
        truck's stop is asked about again only when its box grew (GPS jitter: less and less often)."""
        out = np.zeros(len(boxes), dtype=bool)
        rows = np.flatnonzero(ask).tolist()
        query = []
        for i, box, p in zip(rows, boxes[rows].tolist(), permit[rows].tolist(), strict=True):
            night = nights[i]
            known = night.approved
            if known is None or known[0] is not night.stop or known[1] != p:
                query.append(i)
                continue
            yes, no = known[2], known[3]
            if yes is not None and yes[0] <= box[0] and yes[1] <= box[1] and box[2] <= yes[2] and box[3] <= yes[3]:
                out[i] = True
            elif not (no is not None and box[0] <= no[0] and box[1] <= no[1] and no[2] <= box[2] and no[3] <= box[3]):
                query.append(i)
        if not query:
            return out
        found = self._approved_box(boxes[query], permit[query])
        out[query] = found
        for i, box, ok in zip(query, boxes[query].tolist(), found.tolist(), strict=True):
            night, p = nights[i], int(permit[i])
            known = night.approved
            if known is None or known[0] is not night.stop or known[1] != p:
                known = (night.stop, p, None, None)
            night.approved = (*known[:2], box, known[3]) if ok else (*known[:3], box)
        return out

    def _approved_box(self, boxes: np.ndarray, permit: np.ndarray) -> np.ndarray:
        """Per box ``(xmin, ymin, xmax, ymax)`` (grown by :data:`_MARGIN_M`): True if it lies within a site (grown by
        ``site_buffer_m``, as :func:`~gridlib.trucks.detectors.approved_stops` matches them) approved for *permit*:
        a parking, the permit's origin or destination, any site without a permit. Every point of it, the stop's
        mean included, is then in an approved site."""
        sites = self.ctx.sites_m
        out = np.zeros(len(boxes), dtype=bool)
        if sites is None or not len(sites) or not len(boxes):
            return out
        geoms = shapely.box(boxes[:, 0] - _MARGIN_M, boxes[:, 1] - _MARGIN_M, boxes[:, 2] + _MARGIN_M,
                            boxes[:, 3] + _MARGIN_M)
        bi, si = site_tree(sites, self.ctx.thresholds.site_buffer_m).query(geoms, predicate="within")
        sid = sites["site_id"].to_numpy(dtype=object)[si]
        pp = permit[bi]
        ok = (sites["kind"].to_numpy(dtype=object)[si] == "parking") | (pp < 0)
        permits = self.ctx.permits
        if len(permits):
            o = permits["origin_site"].to_numpy(dtype=object)[np.maximum(pp, 0)]
            dd = permits["destination_site"].to_numpy(dtype=object)[np.maximum(pp, 0)]
            ok |= (pp >= 0) & ((o == sid) | (dd == sid))
        out[bi[ok]] = True
        return out

    def _zones_m(self) -> list[Any]:
        """The restricted zones' polygons in the metric CRS (none without zones), projected at the first tick that
        asks and kept: the zones are fixed with the monitor's context."""
        if self._zone_shapes is None:
            zones = self.ctx.zones
            self._zone_shapes = ([] if zones is None or not len(zones)
                                 else list(to_crs(zones, self.ctx.metric).geometry.values))
        return self._zone_shapes

    def _check(self, keys: list[tuple[str, int]], nights: list[_Night]) -> tuple[pd.DataFrame, dict[str, np.datetime64]]:
        """The batch check's steps over the trailing windows of *keys* (one night): episodes, last fix per vehicle.

        Each vehicle night is checked from its window start (:class:`_Night`); the episodes that end before
        its reset fix are kept from earlier ticks, the window's episodes from the reset fix on are new.
        After the run each vehicle's reset moves up to the latest fix where :func:`_resets` proves that the
        batch check on the whole night and on the fixes from the new window start agree from that fix on.
        """
        th = self.ctx.thresholds
        raw = self._window_fixes(keys, [n.window() for n in nights])
        self.stats["fixes_checked"] += len(raw)
        fx, _ = clean(raw, max_speed_kmh=th.max_speed_kmh, min_jump_m=th.min_jump_m)
        last: dict[str, np.datetime64] = {}
        if len(fx):
            ends = np.r_[np.flatnonzero(fx.vehicle_starts())[1:], len(fx)] - 1
            last = dict(zip(fx.vehicle_ids[fx.vehicle[ends]].tolist(), fx.times(ends), strict=True))
        window = pd.DataFrame(columns=list(_KEPT))
        if len(fx):
            day = vehicle_day(fx, self.ctx, trips=False)     # no detector reads the trips table
            found = [p for p in (detector(day, th) for detector in DETECTORS.values()) if len(p)]
            if found:
                window = pd.concat(found, ignore_index=True)[list(_KEPT)]
        by_vehicle = dict(zip([k[0] for k in keys], nights, strict=True))
        # the window's episodes from each vehicle's reset fix on (earlier ones are known: kept in the night)
        reset_of = window["vehicle_id"].map({v: n.reset_t for v, n in by_vehicle.items()}).to_numpy("int64")
        start_s = window["start"].to_numpy("datetime64[s]").astype("int64")
        window = window[start_s >= reset_of]
        kept = [r for n in nights for r in n.frozen_rows()]      # before _advance freezes some of the window's
        if len(fx):
            self._advance(by_vehicle, raw, fx, day, window)
        if kept:
            window = pd.concat([pd.DataFrame.from_records(kept, columns=list(_KEPT)), window], ignore_index=True)
        # what the fast step goes on (:meth:`_fast`): the night's episodes, and its last fix if kept and moving
        per: dict[str, list[tuple]] = {}
        per_end: dict[str, list[int]] = {}
        ends_s = np.asarray(window["end"], dtype="datetime64[ns]").astype("datetime64[s]").astype(np.int64).tolist()
        for r, e_s in zip(window.itertuples(index=False, name=None), ends_s, strict=True):
            per.setdefault(r[0], []).append(r)
            per_end.setdefault(r[0], []).append(e_s)
        for v, night in by_vehicle.items():
            night.found, night.skipped, night.tip_n, night.stop = per.get(v, []), 0, -1, None
            night.found_end = per_end.get(v, [])
        if len(fx):
            self._tips(by_vehicle, fx, day, ends)
        return window, last

    def _tips(self, by_vehicle: dict[str, _Night], fx: Fixes, day: VehicleDay, ends: np.ndarray) -> None:
        """After a check: what the fast step of each night goes on (:class:`_Night`), where its last stored fix was
        kept and is in no dwell window, or parked in a stop that is one whole dwell run, under one permit, calm
        (inside ``return_ratio`` of its corridor, or without a permit) and approved."""
        th, mv = self.ctx.thresholds, day.movement
        still = mv.stationary[ends]
        n_fixes = day.stops["n_fixes"].to_numpy()
        approved = day.stops["approved"].to_numpy()
        starts = fx.vehicle_starts()
        for v, e, parked in zip(fx.vehicle_ids[fx.vehicle[ends]].tolist(), ends.tolist(), still.tolist(), strict=True):
            night = by_vehicle[v]
            if int(fx.t[e]) != int(night.buf["t"][night.n - 1]):
                continue
            if not parked:
                if not mv.dwell[e]:     # in no dwell window: not in the piece of a split run dropped as too short
                    night.tip_n = night.n
                continue
            k = int(mv.stop_of[e])
            s0 = e - int(n_fixes[k]) + 1
            whole_run = starts[s0] or not mv.dwell[s0 - 1] or (
                np.hypot(fx.x[s0] - fx.x[s0 - 1], fx.y[s0] - fx.y[s0 - 1]) > 2.0 * th.stop_radius_m)
            p = int(day.permit_of[e])
            one_permit = bool((day.permit_of[s0:e + 1] == p).all())
            calm = p < 0 or bool(day.route_distance_m[e] <= th.return_ratio * day.corridor_m[e])
            if whole_run and one_permit and calm and approved[k]:
                xs, ys = fx.x[s0:e + 1], fx.y[s0:e + 1]
                night.stop = [int(fx.t[s0]), p, float(xs.sum()), float(ys.sum()), e - s0 + 1,
                              float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max())]
                night.tip_n = night.n

    def _advance(self, by_vehicle: dict[str, _Night], raw: Fixes, fx: Fixes, day: VehicleDay,
                 window: pd.DataFrame) -> None:
        """Move each vehicle's reset to the latest proven fix; freeze the episodes that end before it."""
        old = np.array([by_vehicle[v].reset_t for v in fx.vehicle_ids], dtype=np.int64)
        zone_of = None
        if self.ctx.zones is not None and len(self.ctx.zones):
            zone_of = np.full(len(fx), -1)      # inside any zone (0) or none (-1), as restricted_zones tests it
            for g in to_crs(self.ctx.zones, self.ctx.metric).geometry.values:
                zone_of[shapely.contains_xy(g, fx.x, fx.y)] = 0
        found = _resets(raw, fx, day, self.ctx.thresholds, old, self._speed_floor, zone_of)
        if not found:
            return
        rows: list[tuple] | None = None     # the window's episodes as rows, built once if any night moves
        of_vehicle: dict[str, list[int]] = {}
        for code, (reset_t, win_t, guard_t) in found.items():
            v = fx.vehicle_ids[code]
            night = by_vehicle[v]
            if night.resets and reset_t < night.reset_t + _RESET_STEP_S:
                continue
            if rows is None:
                rows = list(window.itertuples(index=False, name=None))
                end_s = window["end"].to_numpy("datetime64[s]").astype("int64").tolist()
                for i, w in enumerate(window["vehicle_id"].tolist()):
                    of_vehicle.setdefault(w, []).append(i)
            night.push(reset_t, win_t, guard_t, [rows[i] for i in of_vehicle.get(v, ()) if end_s[i] < reset_t])

    # ---- running -----------------------------------------------------------------------------------------
    def start(self, interval_s: float = 0.2) -> None:
        """Tick every *interval_s* seconds in a background thread (off the event loop) until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            self._warm_up()
            while not self._stop.wait(interval_s):
                try:
                    self.tick()
                except Exception:
                    log.exception("truck monitor tick failed")

        self._thread = threading.Thread(target=loop, name="truck-monitor", daemon=True)
        self._thread.start()

    def _warm_up(self) -> None:
        """Pay this thread's one-off costs (its PROJ context, the locator's first call) before the first fix."""
        lon, lat = np.array([121.5]), np.array([31.2])
        transform_xy(WGS84, self.ctx.metric, lon, lat)
        if self.book.locate is not None:
            self.book.locate(lon, lat)

    def stop(self) -> None:
        """Stop ticking, then run a last tick so every stored fix is checked."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.tick()

    def restore(self, fixstore: Any) -> list[dict[str, Any]]:
        """Rebuild the vehicle nights from the durable fixes of *fixstore* (after the stored alerts were loaded
        into the book) and reconcile: only what changed while the service was down raises events."""
        latest = self.book.latest_night()
        row = fixstore.db.execute("SELECT max(local_time) FROM fixes").fetchone()
        if row is None or row[0] is None:
            return []
        newest = int(night_of(int(pd.Timestamp(row[0]).floor("s").value // 10**9)))
        if latest is not None:
            newest = max(newest, latest)
        since = pd.Timestamp(0, unit="s") + pd.Timedelta(seconds=(newest - self.keep_nights + 1) * _DAY + NIGHT_START_S)
        self.add_rows(fixstore.rows(since.isoformat(), trucks_only=True))   # not the teams' devices
        return self.tick()


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_SECOND = dt.timedelta(seconds=1)
_UTC8_S = 8 * 3600


def _local_s(fix: Fix) -> int:
    """Local (UTC+8) epoch seconds of a fix, truncated to the second as the batch reader does.

    Integer arithmetic on the tz-aware time (this runs on the event loop for every stored fix).

    >>> t = dt.datetime(2026, 11, 20, 0, 0, 5, 999_999, tzinfo=dt.UTC)
    >>> f = Fix("1", t, 121.5, 31.2, "jt808")
    >>> _local_s(f) == int(np.datetime64(f.local_time, "s").astype("int64"))
    True
    """
    t = fix.time
    if t.tzinfo is None:
        return int(np.datetime64(fix.local_time, "s").astype("int64"))
    found = _LOCAL_S.get(t)     # the fixes of one second share it (an equal instant: the same seconds)
    if found is None:
        if len(_LOCAL_S) >= 1 << 16:
            _LOCAL_S.clear()
        found = _LOCAL_S[t] = (t - _EPOCH) // _SECOND + _UTC8_S
    return found


_LOCAL_S: dict[dt.datetime, int] = {}       # tz-aware fix time → local epoch seconds (_local_s)


def monitor_from_store(store: Any, *, book: AlertBook | None = None, **kwargs: Any) -> TruckMonitor | None:
    """A :class:`TruckMonitor` over the store's ``truck_permits``, ``truck_sites`` and ``roads``, the layers the
    nightly run passes to :func:`gridlib.trucks.check` (default thresholds, no zones); None without permits."""
    layers = set(store.layers())
    if "truck_permits" not in layers:
        return None
    read: Callable[[str], Any] = lambda name: store.read_layer(name) if name in layers else None  # noqa: E731
    return TruckMonitor(read("truck_permits"), read("truck_sites"), roads=read("roads"), book=book, **kwargs)


def attach_monitor(app: Any, store: Any, fixes: Any, *, interval_s: float = 0.2,
                   deductions: Any = None) -> TruckMonitor | None:
    """Watch *fixes* (a :class:`~gridlib.live.gateway.FixStore`) with a monitor over *store*, serve its alerts on
    *app* (:func:`gridlib.live.alert_routes.add_alert_routes`) and start ticking; None when the store has no permits.

    Alerts whose type is a case (in *deductions*, default the bundled table) become intake cases as they
    open (:mod:`gridlib.live.alert_cases`).
    Fixes of devices registered as teams (``kind="team"``, :mod:`gridlib.live.teams`) are left out.
    The stored alerts are loaded and the vehicle nights rebuilt from the durable fixes before the monitor
    subscribes to new ones, so a restarted service continues where it stopped. Stop it with
    :meth:`TruckMonitor.stop` (and set ``app.state.alerts_stopping`` to end open streams).
    """
    from gridlib.live.alert_cases import AlertCases
    from gridlib.live.alert_routes import add_alert_routes
    from gridlib.live.alerts import grid_locator

    cases = (AlertCases(app.state.take_cases, app.state.caselog, deductions=deductions)
             if hasattr(app.state, "take_cases") else None)
    book = AlertBook(store, grid_locator(app.state.ctx, deductions),   # alert, live case and nightly agree
                     case_id_for=cases.case_id_for if cases else None)
    book.load()
    book.create_layer()
    if cases is not None:       # alerts of case types become intake cases (gridlib.live.alert_cases)
        cases.catch_up(book.alerts.values())
        book.on_stored.append(cases.on_events)
        app.state.alert_cases = cases
    add_alert_routes(app, book)
    monitor = monitor_from_store(store, book=book, grid_index=app.state.ctx["index"])
    if monitor is None:
        return None
    from gridlib.live.teams import truck_pairs

    monitor.restore(fixes)
    fixes.subscribe(lambda pairs: monitor.add(truck_pairs(fixes, pairs)))   # a team's device is no muck truck
    monitor.start(interval_s)
    app.state.monitor = monitor
    return monitor
