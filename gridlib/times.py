"""One time parser for every reader.

Every reader (``io.read_points``, ``cases.read_log``, ``trucks.read_fixes`` …) turns a column
of times into the same thing: **naive ``datetime64[ns]`` in China time (Asia/Shanghai)**.

* ISO 8601 with any offset form (``Z``, ``+08``, ``+0800``, ``+08:00``) is converted to
  China time; mixed offsets in one column are fine.
* Naive times are taken as China time (or the zone given with ``tz=``).
* Integers (or digit strings) are epoch times: milliseconds when their magnitude is at
  least 1e11 (1973 in ms, year 5138 in seconds), seconds otherwise.
* Day/month forms: ``21/11/2026`` is read day-first (21 cannot be a month), ``11/21/2026``
  month-first; ``03/04/2026`` is ambiguous and becomes ``ambiguous_time`` unless a
  ``format=`` is given. ``2026/11/21`` is year-first.
* Times outside the sane window (default 1990 to 2100, e.g. ``0001-01-01`` or year 9999)
  are ``time_out_of_range``; anything else unreadable is ``unparseable_time``.

Per-row problems are returned as reject codes (:data:`gridlib.rejects.CODES`), never raised.

>>> import pandas as pd
>>> t, code = parse_times(pd.Series(["2026-11-20 22:00:00+08", "2026-11-20T14:00:00Z", "1795183200000",
...                                  "03/04/2026", "0001-01-01", None]))
>>> [str(v) for v in t], code.tolist()
(['2026-11-20 22:00:00', '2026-11-20 22:00:00', '2026-11-20 22:00:00', 'NaT', 'NaT', 'NaT'], [None, None, None, 'ambiguous_time', 'time_out_of_range', None])
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from gridlib.rejects import Rejects
from gridlib.types import TimeLike

__all__ = ["CHINA_TZ", "WINDOW", "parse_times", "reject_times"]

CHINA_TZ = "Asia/Shanghai"
#: The sane window for any time a reader accepts (inclusive start, exclusive end).
WINDOW = ("1990-01-01", "2100-01-01")

_DMY = r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})(.*)$"
#: The plain form of nearly every log: YYYY-MM-DD HH:MM[:SS], with a space or a T.
_PLAIN = r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2})?"


def _to_china(t: pd.Series, tz: str) -> pd.Series:
    """Aware → China naive; naive (in *tz*) → China naive (times a nanosecond clock cannot hold → NaT)."""
    lo, hi = pd.Timestamp("1678-01-01"), pd.Timestamp("2261-12-31")
    if getattr(t.dt, "tz", None) is not None:
        lo, hi = lo.tz_localize("UTC"), hi.tz_localize("UTC")
    t = t.where((t > lo) & (t < hi))
    if getattr(t.dt, "tz", None) is not None:
        return t.dt.tz_convert(CHINA_TZ).dt.tz_localize(None).astype("datetime64[ns]")
    if tz != CHINA_TZ:
        t = t.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").dt.tz_convert(CHINA_TZ).dt.tz_localize(None)
    return t.astype("datetime64[ns]")


def _epoch(values: pd.Series) -> pd.Series:
    v = pd.to_numeric(values, errors="coerce").astype("float64")
    ms = v.abs() >= 1e11
    seconds = v.where(~ms, v / 1000.0)
    ok = seconds.abs() < 4e9  # beyond ~2096 either way: out of range, left NaT
    out = pd.to_datetime(seconds.where(ok), unit="s", utc=True, errors="coerce")
    return out.dt.tz_convert(CHINA_TZ).dt.tz_localize(None).astype("datetime64[ns]")


def parse_times(values: pd.Series, *, tz: str = CHINA_TZ, format: str | None = None,
                window: tuple[TimeLike, TimeLike] | None = WINDOW) -> tuple[pd.Series, np.ndarray]:
    """Parse a column of times to naive China time; return ``(times, code)``.

    Parameters
    ----------
    values : pandas.Series
        Text, numbers (epoch) or datetimes.
    tz : str
        Zone of naive times (default China time).
    format : str, optional
        A strftime format for every value (resolves day/month order).
    window : (start, end) or None
        Times outside it are ``time_out_of_range`` (None: no window).

    Returns
    -------
    times : pandas.Series
        ``datetime64[ns]``, naive, China time; NaT where missing or refused.
    code : numpy.ndarray
        ``None`` or a reject code (``unparseable_time``, ``ambiguous_time``, ``time_out_of_range``)
        per value; a missing value has no code (whether it is required is the reader's rule).

    Examples
    --------
    >>> t, code = parse_times(pd.Series(["21/11/2026", "2026-11-21 08:00+0800", "soon"]))
    >>> [str(v) for v in t], code.tolist()
    (['2026-11-21 00:00:00', '2026-11-21 08:00:00', 'NaT'], [None, None, 'unparseable_time'])
    """
    index = values.index
    n = len(values)
    code = np.full(n, None, dtype=object)
    if pd.api.types.is_datetime64_any_dtype(values):
        out = _to_china(values, tz)
    elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        out = _epoch(values)
        code[(values.notna() & out.isna()).to_numpy()] = "time_out_of_range"
    else:
        text = values.astype("string").str.strip().str.replace("\x00", "", regex=False)
        present = (text.notna() & (text != "")).to_numpy()
        out = pd.Series(pd.NaT, index=index, dtype="datetime64[ns]")
        if format is not None:
            parsed = pd.to_datetime(text, format=format, errors="coerce")
            out[:] = _to_china(parsed, tz).to_numpy()
        else:
            # nearly every log writes YYYY-MM-DD HH:MM[:SS]: those rows are parsed at once, the rest by the rules
            match = present & text.str.fullmatch(_PLAIN, na=False).to_numpy()
            year = np.zeros(n, dtype=np.int64)     # a matching row starts with its four year digits
            year[match] = pc.cast(pc.utf8_slice_codeunits(pa.array(text[match], type=pa.string()), 0, 4),
                                  pa.int64()).to_numpy()
            plain = match & (year >= 1900) & (year <= 2200)
            if plain.any():
                parsed = pd.to_datetime(text[plain], format="ISO8601", errors="coerce")
                out.iloc[np.flatnonzero(plain)] = _to_china(parsed, tz).to_numpy()
            rest = np.flatnonzero(present & ~plain)
            if len(rest):
                sub, sub_code = _parse_text(text.iloc[rest], tz)
                out.iloc[rest] = sub.to_numpy()
                code[rest] = sub_code
        failed = present & out.isna().to_numpy() & np.equal(code, None)
        if failed.any():
            code[failed] = "unparseable_time"
    if window is not None:
        lo, hi = pd.Timestamp(window[0]), pd.Timestamp(window[1])
        outside = (out.notna() & ((out < lo) | (out >= hi))).to_numpy() & np.equal(code, None)
        code[outside] = "time_out_of_range"
    out = out.mask(~np.equal(code, None))
    return out.astype("datetime64[ns]"), code


def _parse_text(text: pd.Series, tz: str) -> tuple[pd.Series, np.ndarray]:
    """:func:`parse_times` of present, stripped text in any of its forms (epoch digits, d/m/y, ISO with offsets)."""
    index = text.index
    present = np.ones(len(text), dtype=bool)
    code = np.full(len(text), None, dtype=object)
    out = pd.Series(pd.NaT, index=index, dtype="datetime64[ns]")
    digits = text.str.fullmatch(r"-?\d{9,14}(?:\.\d+)?", na=False).to_numpy()
    if digits.any():
        out[digits] = _epoch(text[digits]).to_numpy()
    dmy = text.str.extract(_DMY)
    is_dmy = dmy[0].notna().to_numpy() & ~digits
    year = pd.to_numeric(text.str.extract(r"^(\d{4})-")[0], errors="coerce").to_numpy()
    far = present & ((year < 1900) | (year > 2200))
    code[far] = "time_out_of_range"
    iso = present & ~digits & ~is_dmy & ~far
    if iso.any():
        t = text[iso].str.replace(r"(?<=[0-9])/(?=[0-9])", "-", regex=True)
        t = t.str.replace(r"[Zz]$", "+00:00", regex=True)
        t = t.str.replace(r"([+-]\d{2})(\d{2})$", r"\1:\2", regex=True)
        t = t.str.replace(r"(:\d{2}(?:\.\d+)?)\s*([+-]\d{2})$", r"\1\2:00", regex=True)
        aware = t.str.contains(r"[+-]\d{2}:\d{2}$", regex=True, na=False).to_numpy()
        idx = np.flatnonzero(iso)
        if (~aware).any():
            naive = pd.to_datetime(t[~aware], format="ISO8601", errors="coerce")
            out.iloc[idx[~aware]] = _to_china(naive, tz).to_numpy()
        if aware.any():
            conv = pd.to_datetime(t[aware], format="ISO8601", errors="coerce", utc=True)
            out.iloc[idx[aware]] = _to_china(conv, tz).to_numpy()
    if is_dmy.any():
        a = pd.to_numeric(dmy[0], errors="coerce")
        b = pd.to_numeric(dmy[1], errors="coerce")
        ambiguous = is_dmy & ((a <= 12) & (b <= 12) & (a != b)).fillna(False).to_numpy(dtype=bool)
        code[ambiguous] = "ambiguous_time"
        day_first = (a > 12).fillna(False).to_numpy(dtype=bool)
        day = np.where(day_first, a, b)
        month = np.where(day_first, b, a)
        use = is_dmy & ~ambiguous
        iso_text = (dmy[2] + "-" + pd.Series(month, index=index).astype("Int64").astype("string").str.zfill(2)
                    + "-" + pd.Series(day, index=index).astype("Int64").astype("string").str.zfill(2)
                    + dmy[3].fillna(""))
        if use.any():
            parsed = pd.to_datetime(iso_text[use], format="ISO8601", errors="coerce")
            out.iloc[np.flatnonzero(use)] = _to_china(parsed, tz).to_numpy()
    return out, code


def reject_times(rejects: Rejects, raw: pd.Series, parsed: pd.Series, code: np.ndarray, column: str, *,
                 required: bool = False) -> None:
    """Add the time problems of one column to *rejects* (reason quotes the raw value).

    >>> raw = pd.Series(["2026-11-20 09:00", "soon", None])
    >>> r = Rejects(raw.index)
    >>> reject_times(r, raw, *parse_times(raw), "reported_at", required=True)
    >>> r.codes.tolist()
    [None, 'unparseable_time', 'missing_time']
    """
    coded = ~pd.isna(code)  # code holds None or a code string
    text = None  # the raw values as text, only when a reason quotes them (formatting 100k times: 0.1 s)
    for c in ("ambiguous_time", "time_out_of_range", "unparseable_time") if coded.any() else ():
        hit = np.equal(code, c)
        if hit.any():
            if text is None:
                text = raw.astype("string").fillna("")
            word = {"ambiguous_time": "ambiguous", "time_out_of_range": "out of range",
                    "unparseable_time": "unparseable"}[c]
            rejects.add(hit, c, f"{word} {column} '" + text + "'", field=column)
    if required:
        rejects.add(parsed.isna().to_numpy() & ~coded, "missing_time", f"missing {column}", field=column)
