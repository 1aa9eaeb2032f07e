"""Work calendar: working hours, weekends, public holidays and adjusted working days (调休).

Time limits in digital urban management are often counted in 工作时 / 工作日 (working
hours / working days). :class:`WorkCalendar` turns timestamps into cumulative *working
seconds* with numpy — one pass over the array, no per-case loop — so adding a limit to a
million start times or measuring a million elapsed working times costs a few array
operations.

Units understood everywhere in :mod:`gridlib.cases`:

========== ======================================================
unit        meaning
========== ======================================================
minute      calendar minutes (分钟)
hour        calendar hours (小时)
day         calendar days of 24 h (天 / 自然日)
work_hour   hours of working time (工作时)
work_day    working days; one working day = the working hours of one
            day (7.5 h with the default hours), counted in working time (工作日)
========== ======================================================

>>> cal = WorkCalendar.china()
>>> str(cal.add("2026-09-30 16:30", 2, "work_hour"))  # 1 h on 30 Sep, National Day 1–7 Oct, 1 h on 8 Oct
'2026-10-08 09:30:00'
"""

from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gridlib.errors import InputError
from gridlib.types import ArrayLike, TimesLike

log = logging.getLogger(__name__)

CALENDAR_DIR = Path(__file__).parent / "data" / "calendar"
DEFAULT_HOURS = "08:30-12:00,13:30-17:30"
_DAY = 86400.0
_WARNED: set[int] = set()  # years already warned about, so a nightly run logs each once
#: A day table longer than this (about 55 years) is not kept (:meth:`WorkCalendar._table`).
_MAX_TABLE_DAYS = 20_000

_UNIT_ALIASES = {
    "minute": "minute", "minutes": "minute", "min": "minute", "分钟": "minute",
    "hour": "hour", "hours": "hour", "h": "hour", "小时": "hour",
    "day": "day", "days": "day", "d": "day", "天": "day", "自然日": "day",
    "work_hour": "work_hour", "work_hours": "work_hour", "workhour": "work_hour", "工作时": "work_hour",
    "工作小时": "work_hour",
    "work_day": "work_day", "work_days": "work_day", "workday": "work_day", "工作日": "work_day",
    "工作天": "work_day",
}
UNITS = ("minute", "hour", "day", "work_hour", "work_day")


def normalise_unit(unit: str) -> str:
    """Return the canonical name of a time unit (``work-hour`` → ``work_hour``, ``工作日`` → ``work_day``).

    >>> normalise_unit("Work-Day")
    'work_day'
    """
    key = str(unit).strip().lower().replace("-", "_").replace(" ", "_")
    if key not in _UNIT_ALIASES:
        raise InputError(f"unknown time unit {unit!r}; use one of {', '.join(UNITS)}")
    return _UNIT_ALIASES[key]


def _parse_hours(hours: str | Iterable[tuple[str, str]]) -> np.ndarray:
    """Parse ``"08:30-12:00,13:30-17:30"`` into an (n, 2) array of seconds after midnight."""
    pairs = [p.split("-") for p in hours.split(",")] if isinstance(hours, str) else list(hours)
    out = []
    for pair in pairs:
        if len(pair) != 2:
            raise InputError(f"working hours must look like '08:30-12:00,13:30-17:30', got {hours!r}")
        secs = []
        for text in pair:
            m = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", str(text))
            if not m or int(m.group(1)) > 24 or int(m.group(2)) > 59:
                raise InputError(f"bad time of day {text!r} in working hours {hours!r}")
            secs.append(int(m.group(1)) * 3600 + int(m.group(2)) * 60)
        out.append(secs)
    arr = np.array(sorted(out), dtype=float).reshape(-1, 2)
    if len(arr) == 0 or np.any(arr[:, 1] <= arr[:, 0]) or np.any(arr[1:, 0] < arr[:-1, 1]) or arr[-1, 1] > _DAY:
        raise InputError(f"working hours {hours!r} must be non-empty, increasing and within one day")
    return arr


def _year(day: int) -> int:
    """The year of day number *day* (days since 1970-01-01)."""
    return int(np.datetime64(day, "D").astype("datetime64[Y]").astype(np.int64)) + 1970


def to_seconds(values: ArrayLike) -> tuple[np.ndarray, str | pd.Index | None]:
    """Naive timestamps → float seconds since 1970 (NaN for missing) and a template to shape results."""
    if isinstance(values, pd.Timestamp) and values.tz is None:      # the common cases, without pd.to_datetime
        return np.array([values.value / 1e9]), "scalar"
    if isinstance(values, np.ndarray) and values.dtype == np.dtype("datetime64[ns]"):
        ns = values.view(np.int64).astype(float)
        ns[np.isnat(values)] = np.nan
        return ns / 1e9, None
    scalar = np.ndim(values) == 0 and not isinstance(values, pd.Series)
    idx = pd.DatetimeIndex(pd.to_datetime(np.atleast_1d(values) if scalar else values))
    if idx.tz is not None:
        raise InputError("times must be naive local China time (UTC+8); got time-zone-aware values")
    ns = idx.as_unit("ns").asi8.astype(float)
    ns[idx.isna()] = np.nan
    template: Any = "scalar" if scalar else (values.index if isinstance(values, pd.Series) else None)
    return ns / 1e9, template


def from_seconds(seconds: np.ndarray, template: str | pd.Index | None) -> pd.Timestamp | pd.Series | np.ndarray:
    """Float seconds (NaN = missing) → datetime64[ns] shaped like the input of :func:`to_seconds`."""
    us = np.round(seconds * 1e6)
    missing = np.isnan(us)
    if missing.any():
        ns = np.where(missing, np.iinfo(np.int64).min, np.nan_to_num(us) * 1000).astype(np.int64)
    else:
        ns = (us * 1000).astype(np.int64)
    out = ns.view("datetime64[ns]")
    if isinstance(template, str):
        return pd.Timestamp(out[0])
    if template is not None:
        return pd.Series(out, index=template)
    return out


def _shape(values: np.ndarray, template: Any) -> Any:
    if isinstance(template, str):
        return float(values[0])
    if template is not None:
        return pd.Series(values, index=template)
    return values


@dataclass(frozen=True)
class WorkCalendar:
    """Working days and hours: weekends, public holidays and adjusted working days.

    Parameters
    ----------
    holidays
        Dates that are days off (放假), whatever the weekday.
    workdays
        Weekend dates that are working days (调休上班).
    hours
        Working hours of a working day, ``"08:30-12:00,13:30-17:30"`` by default (an
        illustrative office day of 7.5 h; set the city's own).
    weekend
        Weekday numbers of the rest days (Monday = 0), Saturday and Sunday by default.
    years
        Years for which holidays are known; computations that reach other years log a warning
        and use the plain weekday rule there.

    Examples
    --------
    >>> cal = WorkCalendar(hours="09:00-12:00,13:00-17:00")
    >>> cal.elapsed("2026-11-20 16:00", "2026-11-23 10:00", "work_hour")  # Fri 16:00 → Mon 10:00
    2.0
    """

    holidays: frozenset = frozenset()
    workdays: frozenset = frozenset()
    hours: str = DEFAULT_HOURS
    weekend: tuple[int, ...] = (5, 6)
    years: frozenset = frozenset()
    _intervals: np.ndarray = field(init=False, repr=False, compare=False)
    _holiday_days: np.ndarray = field(init=False, repr=False, compare=False)
    _workday_days: np.ndarray = field(init=False, repr=False, compare=False)
    _days: list = field(init=False, repr=False, compare=False)
    _per_day: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "holidays", frozenset(pd.to_datetime(list(self.holidays)).normalize()))
        object.__setattr__(self, "workdays", frozenset(pd.to_datetime(list(self.workdays)).normalize()))
        object.__setattr__(self, "_intervals", _parse_hours(self.hours))
        object.__setattr__(self, "_per_day", float(np.sum(self._intervals[:, 1] - self._intervals[:, 0])))
        # day numbers (days since 1970-01-01) of the holidays and adjusted working days, once: _working is hot
        for name, days in (("_holiday_days", self.holidays), ("_workday_days", self.workdays)):
            object.__setattr__(self, name, np.array(sorted(days), dtype="datetime64[D]").astype(np.int64))
        # the day table (first day, working seconds per day, cumulative before each day) of whole years, built
        # once and widened when a computation reaches past it: a deadline is then a few lookups in it
        object.__setattr__(self, "_days", [None])

    # -- construction -------------------------------------------------------------------
    @classmethod
    def load(cls, *paths: str | Path, hours: str = DEFAULT_HOURS, weekend: tuple[int, ...] = (5, 6)) -> WorkCalendar:
        """Load calendar CSV files (``date,kind[,name_zh,name]``; kind = holiday | workday).

        A directory loads every ``*.csv`` in it. See ``gridlib/cases/data/calendar/SOURCE.md``.

        >>> WorkCalendar.load(CALENDAR_DIR / "cn_2026.csv").is_working_day(["2026-10-10"]).tolist()
        [True]
        """
        files: list[Path] = []
        for p in paths:
            p = Path(p)
            if p.is_dir():
                files.extend(sorted(p.glob("*.csv")))
            elif p.exists():
                files.append(p)
            else:
                raise InputError(f"calendar file {p} does not exist")
        if not files:
            raise InputError(f"no calendar files found in {', '.join(map(str, paths))}")
        holidays, workdays, years = set(), set(), set()
        for f in files:
            table = pd.read_csv(f, dtype=str, comment="#")
            missing = {"date", "kind"} - set(table.columns)
            if missing:
                raise InputError(f"calendar file {f}: missing column(s) {sorted(missing)}")
            dates = pd.to_datetime(table["date"], format="%Y-%m-%d", errors="coerce")
            kind = table["kind"].str.strip().str.lower()
            bad = dates.isna() | ~kind.isin(["holiday", "workday"])
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise InputError(
                    f"calendar file {f}, row {row + 2}: need an ISO date and kind holiday|workday, "
                    f"got {table['date'].iloc[row]!r}, {table['kind'].iloc[row]!r}"
                )
            holidays.update(dates[kind == "holiday"])
            workdays.update(dates[kind == "workday"])
            years.update(int(y) for y in dates.dt.year.unique())
            m = re.search(r"(\d{4})", f.stem)
            if m:
                years.add(int(m.group(1)))
        return cls(frozenset(holidays), frozenset(workdays), hours=hours, weekend=weekend, years=frozenset(years))

    @classmethod
    def china(cls, hours: str = DEFAULT_HOURS) -> WorkCalendar:
        """The bundled China calendar (State Council schedules 2025–2026, statutory days 2027).

        >>> sorted(WorkCalendar.china().years)
        [2025, 2026, 2027]
        """
        return _bundled(cls, hours)

    # -- queries ------------------------------------------------------------------------
    @property
    def seconds_per_day(self) -> float:
        """Working seconds in one working day."""
        return self._per_day

    def is_working_day(self, dates: TimesLike) -> np.ndarray:
        """Boolean array: is each date a working day?

        >>> WorkCalendar.china().is_working_day(["2026-10-01", "2026-10-09", "2026-10-10"]).tolist()
        [False, True, True]
        """
        days = pd.DatetimeIndex(pd.to_datetime(np.atleast_1d(dates))).normalize()
        return self._working(days.values.astype("datetime64[D]").astype(np.int64))

    def _working(self, day_numbers: np.ndarray) -> np.ndarray:
        """Working-day flags for integer day numbers (days since 1970-01-01)."""
        if len(day_numbers):
            self._warn_unknown(int(day_numbers.min()), int(day_numbers.max()))
        return self._flags(day_numbers)

    def _flags(self, day_numbers: np.ndarray) -> np.ndarray:
        weekday = (day_numbers + 3) % 7  # 1970-01-01 was a Thursday
        working = ~np.isin(weekday, self.weekend)
        if self.holidays:
            working &= ~np.isin(day_numbers, self._holiday_days)
        if self.workdays:
            working |= np.isin(day_numbers, self._workday_days)
        return working

    def _warn_unknown(self, first: int, last: int) -> None:
        """Log once per year the years between day numbers *first* and *last* that have no holiday data."""
        if not self.years:
            return
        span_years = range(_year(first), _year(last) + 1)
        if all(y in self.years or y in _WARNED for y in span_years):
            return
        unknown = sorted(set(span_years) - set(self.years) - _WARNED)
        _WARNED.update(unknown)
        log.warning("work calendar has no holiday data for %s; using Monday–Friday there", unknown)

    def _table(self, first_day: int, last_day: int) -> tuple[np.ndarray, np.ndarray]:
        """Per-day working seconds and cumulative working seconds before each day (from *first_day*).

        A slice of the calendar's day table of whole years (:attr:`_days`), widened when needed; the
        cumulative seconds are whole numbers, so the slice's are exactly what a table built from
        *first_day* holds.
        """
        self._warn_unknown(first_day, last_day)
        table = self._days[0]
        if table is None or first_day < table[0] or last_day >= table[0] + len(table[1]):
            lo, hi = first_day, last_day
            if table is not None:
                lo, hi = min(lo, table[0]), max(hi, table[0] + len(table[1]) - 1)
            lo = int(np.datetime64(_year(lo) - 1970, "Y").astype("datetime64[D]").astype(np.int64))
            hi = int(np.datetime64(_year(hi) - 1969, "Y").astype("datetime64[D]").astype(np.int64)) - 1
            if hi - lo > _MAX_TABLE_DAYS:      # an odd span: worked out for this call only
                lo, hi = first_day, last_day
            days = np.arange(lo, hi + 1, dtype=np.int64)
            daily = self._flags(days) * self.seconds_per_day
            new = (lo, daily, np.concatenate([[0.0], np.cumsum(daily)[:-1]]))
            if hi - lo <= _MAX_TABLE_DAYS:
                self._days[0] = new
            table = new
        lo, daily, before = table
        i, j = first_day - lo, last_day - lo + 1
        return daily[i:j], before[i:j] - before[i]

    def _within(self, sec_of_day: np.ndarray) -> np.ndarray:
        """Working seconds from midnight to a time of day on a working day."""
        out = np.zeros_like(sec_of_day)
        for start, end in self._intervals:
            out += np.minimum(np.maximum(sec_of_day - start, 0.0), end - start)   # np.clip, without its overhead
        return out

    def _cumulative(self, secs: np.ndarray, first_day: int, daily: np.ndarray, before: np.ndarray) -> np.ndarray:
        day = np.floor(secs / _DAY)
        i = (day - first_day).astype(np.int64)
        return before[i] + self._within(secs - day * _DAY) * (daily[i] > 0)

    def elapsed(self, start: TimesLike, end: TimesLike, unit: str = "work_hour") -> Any:
        """Time from *start* to *end* in *unit* (negative when end is earlier; NaN if either is missing).

        Vectorised: *start* and *end* may be scalars, arrays or Series of naive timestamps.

        >>> cal = WorkCalendar.china()
        >>> cal.elapsed("2026-10-09 17:00", "2026-10-10 09:00", "work_hour")  # adjusted working Saturday
        1.0
        >>> cal.elapsed("2026-10-09 23:00", "2026-10-10 01:00", "hour")  # across midnight
        2.0
        """
        unit = normalise_unit(unit)
        s, template = to_seconds(start)
        e, template_e = to_seconds(end)
        if isinstance(template, str) and not isinstance(template_e, str):
            template = template_e
        s, e = np.broadcast_arrays(s, e)
        if unit in ("minute", "hour", "day"):
            return _shape((e - s) / {"minute": 60.0, "hour": 3600.0, "day": _DAY}[unit], template)
        ok = ~(np.isnan(s) | np.isnan(e))
        out = np.full(s.shape, np.nan)
        if ok.any():
            lo = np.floor(np.minimum(s[ok], e[ok]).min() / _DAY)
            hi = np.floor(np.maximum(s[ok], e[ok]).max() / _DAY)
            daily, before = self._table(int(lo), int(hi))
            work = self._cumulative(e[ok], int(lo), daily, before) - self._cumulative(s[ok], int(lo), daily, before)
            out[ok] = work / (3600.0 if unit == "work_hour" else self.seconds_per_day)
        return _shape(out, template)

    def add(self, start: TimesLike, duration: ArrayLike, unit: str = "work_hour") -> Any:
        """The moment *duration* (in *unit*) after *start*: a deadline.

        In working units the clock only runs during working hours of working days: a
        limit started after hours starts the next working morning, and the deadline is the
        earliest moment the working time is used up (e.g. 12:00, not 13:30).

        >>> cal = WorkCalendar.china()
        >>> str(cal.add("2026-11-20 16:30", 1, "work_day"))  # Friday → Monday
        '2026-11-23 16:30:00'
        >>> str(cal.add("2026-11-20 23:50", 30, "minute"))
        '2026-11-21 00:20:00'
        """
        unit = normalise_unit(unit)
        s, template = to_seconds(start)
        d = np.asarray(duration, dtype=float)
        s, d = np.broadcast_arrays(s, d)
        if np.any(d[~np.isnan(d)] < 0):
            raise InputError("durations must not be negative")
        if unit in ("minute", "hour", "day"):
            return from_seconds(s + d * {"minute": 60.0, "hour": 3600.0, "day": _DAY}[unit], template)
        need = d * (3600.0 if unit == "work_hour" else self.seconds_per_day)
        ok = ~(np.isnan(s) | np.isnan(need))
        out = np.full(s.shape, np.nan)
        if ok.any():
            if self.seconds_per_day <= 0:
                raise InputError("the work calendar has no working hours")
            first = int(np.floor(s[ok].min() / _DAY))
            last_start = int(np.floor(s[ok].max() / _DAY))
            extra = int(np.ceil(need[ok].max() / self.seconds_per_day * 7 / 5)) + 31
            while True:
                daily, before = self._table(first, last_start + extra)
                target = self._cumulative(s[ok], first, daily, before) + need[ok]
                ends = before + daily
                if target.max(initial=0.0) <= ends[-1]:
                    break
                extra *= 2
            day = np.searchsorted(ends, target, side="left")
            rest = target - before[day]
            lengths = self._intervals[:, 1] - self._intervals[:, 0]
            cum_end = np.cumsum(lengths)
            k = np.minimum(np.searchsorted(cum_end, rest, side="left"), len(lengths) - 1)
            sec_of_day = self._intervals[k, 0] + rest - (cum_end[k] - lengths[k])
            out[ok] = np.maximum((first + day) * _DAY + sec_of_day, s[ok])
        return from_seconds(out, template)

    def add_ns(self, starts: Sequence[int], durations: Sequence[float], unit: str = "work_hour") -> list[int]:
        """:meth:`add` for a few naive start times as nanoseconds since 1970: the deadlines as nanoseconds, bit for
        bit what :meth:`add` gives for them as ``datetime64[ns]``.

        Plain Python arithmetic per time in working units (the same floating-point operations in the same order),
        for a live case's one or two deadlines, where :meth:`add`'s array set-up costs more than the arithmetic;
        other units and missing durations go to :meth:`add`.

        >>> cal = WorkCalendar.china()
        >>> t = pd.Timestamp("2026-11-20 16:30:07").value
        >>> [str(pd.Timestamp(ns)) for ns in cal.add_ns([t, t], [1, 2.5], "work_day")]     # Friday → Monday
        ['2026-11-23 16:30:07', '2026-11-25 11:15:07']
        """
        unit = normalise_unit(unit)
        if unit in ("minute", "hour", "day") or any(not math.isfinite(d) for d in durations):
            start = np.asarray(starts, dtype=np.int64).view("datetime64[ns]")
            return self.add(start, np.asarray(durations, dtype=float), unit).view(np.int64).tolist()
        if any(d < 0 for d in durations):
            raise InputError("durations must not be negative")
        if self.seconds_per_day <= 0:
            raise InputError("the work calendar has no working hours")
        per = 3600.0 if unit == "work_hour" else self.seconds_per_day
        lengths = self._intervals[:, 1] - self._intervals[:, 0]
        cum_end = np.cumsum(lengths)
        out = []
        for ns, duration in zip(starts, durations, strict=True):
            s = float(ns) / 1e9                         # to_seconds
            need = float(duration) * per
            first = math.floor(s / _DAY)
            extra = math.ceil(need / self.seconds_per_day * 7 / 5) + 31
            while True:
                daily, before = self._table(first, first + extra)
                day_f = float(math.floor(s / _DAY))     # _cumulative, for one time
                i = int(day_f - first)
                within = 0.0
                for a, b in self._intervals.tolist():
                    within += min(max(s - day_f * _DAY - a, 0.0), b - a)
                target = float(before[i]) + within * (1.0 if daily[i] > 0 else 0.0) + need
                ends = before + daily
                if max(target, 0.0) <= ends[-1]:
                    break
                extra *= 2
            day = int(np.searchsorted(ends, target, side="left"))
            rest = target - float(before[day])
            k = min(int(np.searchsorted(cum_end, rest, side="left")), len(lengths) - 1)
            sec_of_day = float(self._intervals[k, 0]) + rest - (float(cum_end[k]) - float(lengths[k]))
            end = max((first + day) * _DAY + sec_of_day, s)
            out.append(int(float(round(end * 1e6)) * 1000))      # from_seconds
        return out


@functools.lru_cache(maxsize=8)
def _bundled(cls: type[WorkCalendar], hours: str) -> WorkCalendar:
    """The bundled calendar, read once per process (calendars are immutable)."""
    return cls.load(CALENDAR_DIR, hours=hours)
