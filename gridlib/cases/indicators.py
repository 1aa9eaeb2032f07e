"""Performance indicators (绩效评价, STANDARDS.md §5): base counts and rates, by any columns and period.

Every rate is a row of :data:`RATES` (counts in, :func:`rate` computes it) (so published figures can be checked) and a
fraction in [0, 1]; a zero denominator gives NaN — "not measurable", never 0 % or 100 %.

>>> c = {"closed": 23974, "closed_on_time": 22345, "due_closure": 24932}   # 连云港 2017-04
>>> round(rate("closure_rate", c) * 100, 2), round(rate("ontime_closure_rate", c) * 100, 2)
(96.16, 89.62)

How the counts are defined for a period P evaluated at the moment *as_of*
(the end of P, or earlier when the log does not reach that far — see :func:`indicators`):

Report cohort — cases **reported** in P (上报):

* ``reported`` 上报数; ``supervisor_reported`` 监督员上报数 (source ``supervisor``);
* ``valid_reported`` 有效上报数: supervisor reports filed by *as_of*;
* ``cancelled`` 作废数 and ``not_filed`` 不立案数 by *as_of*;
* ``due_verification`` 应核实数: public reports (12345, 12319, media) verified by *as_of*
  or whose verification deadline has passed; ``verified_on_time`` 按时核实数.

Filing cohort — cases **filed** in P (立案), less those cancelled by *as_of* and parked (挂账)
cases for the due counts:

* ``filed`` 立案数; ``filed_on_time`` 按时立案数; ``filed_cancelled`` (filed, then 作废);
* ``public_filed`` 监督举报核实数 = 漏报数: filed cases that came from public reports (in a
  flat case log the two counts coincide);
* ``due_dispatch`` 应派遣数 (dispatched, or dispatch deadline passed), ``dispatched`` 派遣数,
  ``dispatched_on_time`` 按时派遣数, ``accurate_dispatch`` 准确派遣数 (dispatched and never
  returned, 回退 = 0);
* ``due_disposal`` 应处置数 (disposed, or disposal deadline passed), ``disposed`` 处置数,
  ``disposed_on_time`` 按期处置数;
* ``due_check`` 应核查数, ``checked`` 核查数, ``checked_on_time`` 按时核查数;
* ``due_closure`` 应结案数 (closed, or closure deadline passed — the implementation's
  "处置数 + 超时未处置数" made exact), ``closed`` 结案数, ``closed_on_time`` 按期结案数;
* ``rework`` 返工数: cases due for closure that were sent back at least once; ``parked`` 挂账数,
  ``extended`` 延期数.

Hence on-time ≤ done ≤ due for every pair, and every rate lies in [0, 1].
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gridlib.cases.calendar import WorkCalendar
from gridlib.cases.limits import deadlines, load_limits
from gridlib.cases.model import PUBLIC_SOURCES, TIME_COLUMNS
from gridlib.errors import InputError
from gridlib.types import ArrayLike, PeriodLike, TableSource, TimeLike

#: Chinese labels of the indicator columns, for reports.
LABELS_ZH = {
    "reported": "上报数", "supervisor_reported": "监督员上报数", "valid_reported": "有效上报数",
    "cancelled": "作废数", "not_filed": "不立案数", "due_verification": "应核实数", "verified_on_time": "按时核实数",
    "filed": "立案数", "filed_on_time": "按时立案数", "filed_cancelled": "立案后作废数", "public_filed": "监督举报核实数",
    "due_dispatch": "应派遣数", "dispatched": "派遣数", "dispatched_on_time": "按时派遣数", "accurate_dispatch": "准确派遣数",
    "due_disposal": "应处置数", "disposed": "处置数", "disposed_on_time": "按期处置数",
    "due_check": "应核查数", "checked": "核查数", "checked_on_time": "按时核查数",
    "due_closure": "应结案数", "closed": "结案数", "closed_on_time": "按期结案数",
    "rework": "返工数", "parked": "挂账数", "extended": "延期数",
    "disposal_rate": "处置率", "ontime_disposal_rate": "按期处置率", "closure_rate": "结案率",
    "ontime_closure_rate": "按期结案率", "rework_rate": "返工率", "ontime_check_rate": "按时核查率",
    "ontime_verification_rate": "按时核实率", "valid_report_rate": "有效上报率", "missed_report_rate": "漏报率",
    "public_report_rate": "监督举报率", "ontime_filing_rate": "按时立案率", "accurate_filing_rate": "准确立案率",
    "closed_ontime_share": "按时结案率(值班长)", "ontime_dispatch_rate": "按时派遣率",
    "accurate_dispatch_rate": "准确派遣率", "mean_disposal_hours": "平均处置时长(时)",
    "mean_closure_hours": "平均结案时长(时)",
}
REPORT_COUNTS = ("reported", "supervisor_reported", "valid_reported", "cancelled", "not_filed",
                 "due_verification", "verified_on_time")
FILED_COUNTS = ("filed", "filed_on_time", "filed_cancelled", "public_filed", "due_dispatch", "dispatched",
                "dispatched_on_time", "accurate_dispatch", "due_disposal", "disposed", "disposed_on_time",
                "due_check", "checked", "checked_on_time", "due_closure", "closed", "closed_on_time", "rework",
                "parked", "extended")
COUNTS = REPORT_COUNTS + FILED_COUNTS
_SUMS = ("_disposal_hours", "_closure_hours")


def ratio(numerator: ArrayLike, denominator: ArrayLike) -> Any:
    """numerator / denominator as a fraction; NaN where the denominator is 0.

    Raises :class:`~gridlib.errors.InputError` for negative counts or a numerator larger
    than its denominator (a rate above 100 % means the counts are wrong).

    >>> ratio(3, 4), ratio(0, 0)
    (0.75, nan)
    """
    num = np.asarray(numerator, dtype=float)
    den = np.asarray(denominator, dtype=float)
    if np.any(num < 0) or np.any(den < 0):
        raise InputError("counts must not be negative")
    if np.any(num > den):
        raise InputError("a numerator exceeds its denominator (rate above 100 %): check the counts")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    if isinstance(numerator, pd.Series):
        return pd.Series(out, index=numerator.index)
    return float(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class Rate:
    """One rate of the standard: ``(numerator − subtract) / denominator`` over base counts.

    ``note`` says which definition it is where regions differ (STANDARDS §5.2).

    >>> RATES["ontime_closure_rate"].denominator, RATES["ontime_closure_rate"].name_zh
    ('due_closure', '按期结案率')
    """

    numerator: str
    denominator: str
    name_zh: str
    subtract: str | None = None
    note: str = ""


#: Every standard rate by column name, as counts: the one table behind :func:`rate` and :func:`add_rates`.
RATES: dict[str, Rate] = {
    "disposal_rate": Rate("disposed", "due_disposal", "处置率"),
    "ontime_disposal_rate": Rate("disposed_on_time", "due_disposal", "按期处置率"),
    "closure_rate": Rate("closed", "due_closure", "结案率"),
    "ontime_closure_rate": Rate("closed_on_time", "due_closure", "按期结案率",
                                note="the denominator is 应结案数, not 结案数"),
    "rework_rate": Rate("rework", "due_closure", "返工率", note="the implementation's denominator (STANDARDS §5.2)"),
    "ontime_check_rate": Rate("checked_on_time", "due_check", "按时核查率"),
    "ontime_verification_rate": Rate("verified_on_time", "due_verification", "按时核实率"),
    "valid_report_rate": Rate("valid_reported", "supervisor_reported", "有效上报率", note="supervisor reports"),
    "missed_report_rate": Rate("public_filed", "filed", "漏报率",
                               note="漏报数 = filed cases found by the public instead of a supervisor"),
    "public_report_rate": Rate("public_filed", "filed", "监督举报率", note="same count as 漏报数 in a flat case log"),
    "ontime_filing_rate": Rate("filed_on_time", "filed", "按时立案率"),
    "accurate_filing_rate": Rate("filed", "filed", "准确立案率", subtract="filed_cancelled",
                                 note="(立案数 − 立案后作废数) / 立案数"),
    "closed_ontime_share": Rate("closed_on_time", "closed", "按时结案率(值班长)",
                                note="按时结案数 / 结案数 — not the region's 按期结案率"),
    "ontime_dispatch_rate": Rate("dispatched_on_time", "due_dispatch", "按时派遣率"),
    "accurate_dispatch_rate": Rate("accurate_dispatch", "due_dispatch", "准确派遣率",
                                   note="准确派遣数 = dispatched cases never returned (回退)"),
}


def rate(name: str, counts: Mapping[str, ArrayLike] | pd.DataFrame) -> float | np.ndarray | pd.Series:
    """The rate *name* of :data:`RATES` from base counts (scalars, arrays or a table's columns).

    Parameters
    ----------
    name : str
        A key of :data:`RATES`, e.g. ``"closure_rate"``.
    counts : mapping or DataFrame
        The rate's counts by name (``closed``, ``due_closure`` …).

    Returns
    -------
    float, numpy.ndarray or pandas.Series
        Fractions in [0, 1]; NaN where the denominator is 0.

    Examples
    --------
    >>> round(rate("closure_rate", {"closed": 23974, "due_closure": 24932}) * 100, 2)   # 连云港 2017-04
    96.16
    >>> rate("accurate_filing_rate", {"filed": 50, "filed_cancelled": 1})
    0.98
    """
    try:
        spec = RATES[name]
    except KeyError:
        raise InputError(f"unknown rate {name!r}; the rates are {sorted(RATES)}") from None
    needed = [c for c in (spec.numerator, spec.denominator, spec.subtract) if c]
    missing = [c for c in needed if c not in counts]
    if missing:
        raise InputError(f"{name} needs count(s) {missing}")
    numerator = counts[spec.numerator]
    if spec.subtract:
        kept = np.asarray(numerator, dtype=float) - np.asarray(counts[spec.subtract], dtype=float)
        if np.any(kept < 0):
            raise InputError(f"{name}: more {spec.subtract} than {spec.numerator}: check the counts")
        numerator = pd.Series(kept, index=numerator.index) if isinstance(numerator, pd.Series) else kept
    return ratio(numerator, counts[spec.denominator])


def _deprecated_rate(name: str) -> Any:
    """The 0.x one-function-per-rate API, kept for one release: ``closure_rate(closed, due)``."""
    spec = RATES[name]

    def old(numerator: Any, denominator: Any) -> Any:
        warnings.warn(f"gl.cases.{name}(...) is deprecated; use gl.cases.rate({name!r}, counts)",
                      DeprecationWarning, stacklevel=2)
        if spec.subtract:
            return rate(name, {spec.numerator: numerator, spec.subtract: denominator})
        return rate(name, {spec.numerator: numerator, spec.denominator: denominator})

    old.__name__ = old.__qualname__ = name
    old.__doc__ = f"Deprecated: ``gl.cases.rate({name!r}, counts)``."
    return old


#: Old per-rate functions (deprecated aliases of :func:`rate`), by name.
DEPRECATED_RATE_FUNCTIONS = {name: _deprecated_rate(name) for name in RATES}


def period_bounds(period: PeriodLike) -> tuple[pd.Timestamp, pd.Timestamp, str] | None:
    """A fixed period → (start, end exclusive, label); None for a frequency string.

    >>> period_bounds("2026-11")[2], period_bounds("M")
    ('2026-11', None)
    """
    if isinstance(period, tuple | list):
        if len(period) != 2:
            raise InputError(f"period pair must be (start, end), got {period!r}")
        start, end = pd.Timestamp(period[0]), pd.Timestamp(period[1])
        if end <= start:
            raise InputError(f"period end {end} is not after its start {start}")
        return start, end, f"{start:%Y-%m-%d %H:%M}/{end:%Y-%m-%d %H:%M}"
    if isinstance(period, pd.Period):
        return period.start_time, (period + 1).start_time, str(period)
    text = str(period).strip()
    try:
        p = pd.Period(text)
    except ValueError:
        try:
            pd.Period("2026-01-01", freq=text)
        except ValueError as exc:
            raise InputError(f"cannot read period {period!r}: use '2026-10', '2026-10-08', '2026', "
                             "a (start, end) pair or a pandas frequency such as 'D', 'W', 'M'") from exc
        return None
    return p.start_time, (p + 1).start_time, str(p)


def _as_of_cap(log: pd.DataFrame, at: Any) -> pd.Timestamp:
    if at is not None:
        return pd.Timestamp(at)
    latest = max((log[c].max() for c in TIME_COLUMNS if c in log and log[c].notna().any()), default=pd.NaT)
    if pd.isna(latest):
        raise InputError("the case log has no time stamps; pass at=")
    return latest


def _assign_periods(times: pd.Series, period: Any, cap: pd.Timestamp) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """Per case: period code (int64), inside mask, as-of moment (ns floats); and codes → labels."""
    n = len(times)
    if period is None:
        return (np.zeros(n, np.int64), times.notna().to_numpy(), np.full(n, float(cap.value)),
                lambda codes: np.full(len(codes), "all", dtype=object))
    bounds = period_bounds(period)
    if bounds is not None:
        start, end, text = bounds
        inside = ((times >= start) & (times < end)).to_numpy()
        return (np.zeros(n, np.int64), inside, np.full(n, float(min(end, cap).value)),
                lambda codes: np.full(len(codes), text, dtype=object))
    try:
        per = times.dt.to_period(period)
    except (ValueError, TypeError) as exc:
        raise InputError(f"cannot use {period!r} as a period or a pandas frequency") from exc
    freq = per.dt.freq
    ordinals = per.array.asi8
    ends = (per + 1).dt.start_time.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(float)
    as_of = np.minimum(ends, float(cap.value))

    def labels(codes: np.ndarray) -> np.ndarray:
        return pd.PeriodIndex.from_ordinals(codes, freq=freq).astype(str).to_numpy(dtype=object)

    return ordinals, times.notna().to_numpy(), as_of, labels


def _ns(series: pd.Series) -> np.ndarray:
    arr = series.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(float)
    arr[series.isna().to_numpy()] = np.nan
    return arr


def _flags(log: pd.DataFrame, period: Any, limits: Any, calendar: WorkCalendar | None, at: Any) -> dict[str, Any]:
    """Per-case flags of both cohorts as numpy arrays, with period codes and masks."""
    for col in ("reported_at", "filed_at"):
        if col not in log:
            raise InputError(f"case log lacks {col}; read it with gl.cases.read_log")
    n = len(log)
    cap = _as_of_cap(log, at)
    table = load_limits(limits) if not isinstance(limits, pd.DataFrame) or "basis" not in limits else limits
    dl = deadlines(log, table, calendar)
    col = {c: _ns(log[c]) if c in log else np.full(n, np.nan) for c in TIME_COLUMNS}
    dlv = {c: _ns(dl[c]) for c in dl.columns}

    def by(t: np.ndarray, as_of: np.ndarray) -> np.ndarray:
        return t <= as_of  # NaN compares False

    source = log["source"].astype("string") if "source" in log else pd.Series(pd.NA, index=log.index, dtype="string")
    public = source.isin(PUBLIC_SOURCES).to_numpy(dtype=bool)
    supervisor = (source == "supervisor").fillna(False).to_numpy(dtype=bool)

    r_code, r_in, r_asof, labels = _assign_periods(log["reported_at"], period, cap)
    r_in = r_in & by(col["reported_at"], r_asof)
    rep: dict[str, np.ndarray] = {"reported": r_in, "supervisor_reported": r_in & supervisor}
    rep["valid_reported"] = rep["supervisor_reported"] & by(col["filed_at"], r_asof)
    rep["cancelled"] = r_in & by(col["cancelled_at"], r_asof)
    rep["not_filed"] = r_in & by(col["not_filed_at"], r_asof)
    verified = by(col["verified_at"], r_asof)
    rep["due_verification"] = r_in & public & (verified | by(dlv["verify_deadline"], r_asof))
    rep["verified_on_time"] = rep["due_verification"] & verified & (col["verified_at"] <= dlv["verify_deadline"])

    f_code, f_in, f_asof, _ = _assign_periods(log["filed_at"], period, cap)
    f_in = f_in & by(col["filed_at"], f_asof)
    parked = log["parked"].fillna(False).to_numpy(dtype=bool) if "parked" in log else np.zeros(n, bool)
    cancelled = by(col["cancelled_at"], f_asof)
    active = f_in & ~cancelled & ~parked
    fil: dict[str, np.ndarray] = {
        "filed": f_in, "filed_on_time": f_in & (col["filed_at"] <= dlv["file_deadline"]),
        "filed_cancelled": f_in & cancelled, "public_filed": f_in & public,
    }
    for stage, done_col, due, done, ontime in (
        ("dispatch", "dispatched_at", "due_dispatch", "dispatched", "dispatched_on_time"),
        ("dispose", "disposed_at", "due_disposal", "disposed", "disposed_on_time"),
        ("check", "checked_at", "due_check", "checked", "checked_on_time"),
        ("close", "closed_at", "due_closure", "closed", "closed_on_time"),
    ):
        is_done = active & by(col[done_col], f_asof)
        fil[due] = is_done | (active & by(dlv[f"{stage}_deadline"], f_asof))
        fil[done] = is_done
        fil[ontime] = is_done & (col[done_col] <= dlv[f"{stage}_deadline"])
    returns = log["return_count"].to_numpy() if "return_count" in log else np.zeros(n)
    reworks = log["rework_count"].to_numpy() if "rework_count" in log else np.zeros(n)
    fil["accurate_dispatch"] = fil["dispatched"] & (returns == 0)
    fil["rework"] = fil["due_closure"] & (reworks > 0)
    fil["parked"] = f_in & parked
    ext = log["extension_hours"].to_numpy(dtype=float) if "extension_hours" in log else np.zeros(n)
    fil["extended"] = f_in & (ext > 0)
    fil["_disposal_hours"] = np.where(fil["disposed"], (col["disposed_at"] - col["dispatched_at"]) / 3.6e12, 0.0)
    fil["_closure_hours"] = np.where(fil["closed"], (col["closed_at"] - col["filed_at"]) / 3.6e12, 0.0)
    return {"rep": rep, "fil": fil, "r_code": r_code, "r_in": r_in, "f_code": f_code, "f_in": f_in, "labels": labels}


def case_flags(
    log: pd.DataFrame, *, period: PeriodLike | None = None, limits: TableSource | None = None, calendar: WorkCalendar | None = None,
    at: TimeLike | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-case 0/1 flags behind every count: (report-cohort flags, filing-cohort flags).

    Each frame has a ``period`` column (NA for cases outside the period) and one column per
    count in :data:`REPORT_COUNTS` / :data:`FILED_COUNTS`. Useful to see *which* cases make a
    number; :func:`indicators` sums them.

    >>> from gridlib.cases.log import read_log
    >>> log, _ = read_log(pd.DataFrame({"case_id": ["a"], "class_code": ["06012"], "kind": ["event"],
    ...     "reported_at": ["2026-10-08 09:00"], "filed_at": ["2026-10-08 09:07"]}))
    >>> rep, fil = case_flags(log, period="2026-10")
    >>> fil[["period", "filed", "filed_on_time"]].values.tolist()
    [['2026-10', True, False]]
    """
    f = _flags(log, period, limits, calendar, at)
    frames = []
    for family, code, inside in (("rep", "r_code", "r_in"), ("fil", "f_code", "f_in")):
        label = pd.Series(pd.NA, index=log.index, dtype="object")
        label[f[inside]] = f["labels"](f[code][f[inside]])
        frame = pd.DataFrame({"period": label.astype("string"), **f[family]}, index=log.index)
        frames.append(frame.drop(columns=[c for c in frame if c.startswith("_")]))
    return frames[0], frames[1]


def _group_codes(log: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, int]:
    """One int code per case for the combination of *keys* (missing values are a group)."""
    code = np.zeros(len(log), np.int64)
    for k in keys:
        c, uniques = pd.factorize(log[k], use_na_sentinel=False)
        code, _ = pd.factorize(code * (len(uniques) + 1) + c)
    return code, int(code.max(initial=-1)) + 1


def add_rates(table: pd.DataFrame) -> pd.DataFrame:
    """Add every rate of :data:`RATES` whose counts are present (in place, also returned).

    >>> add_rates(pd.DataFrame({"closed": [23974], "due_closure": [24932]}))["closure_rate"].round(4).tolist()
    [0.9616]
    """
    for name, spec in RATES.items():
        if all(c in table for c in (spec.numerator, spec.denominator, spec.subtract) if c):
            table[name] = rate(name, table)
    return table


def indicators(
    log: pd.DataFrame, *, by: str | Sequence[str] | None = None, period: PeriodLike | None = None, limits: TableSource | None = None,
    calendar: WorkCalendar | None = None, at: TimeLike | None = None,
) -> pd.DataFrame:
    """Base counts and rates per group (STANDARDS.md §5), one row per group.

    Parameters
    ----------
    log
        A case log from :func:`gridlib.cases.read_log` / :func:`~gridlib.cases.read_event_log`
        (assignment columns such as ``street_code`` added by ``gl.assign`` where wanted).
    by
        Column name(s) to group by, e.g. ``"street_code"`` or ``["street_code", "source"]``.
        Missing values form their own group, so counts add up across groupings.
    period
        ``None`` (all cases), a period string (``"2026-10"``, ``"2026-10-08"``, ``"2026"``),
        a ``(start, end)`` pair (end exclusive), or a pandas frequency (``"D"``, ``"W"``,
        ``"M"``) for a time series with one row per group and period.
    limits, calendar
        Limits table (path or DataFrame; default :data:`gridlib.cases.limits.DEFAULT_LIMITS`)
        and :class:`~gridlib.cases.calendar.WorkCalendar` (default: bundled China calendar).
    at
        The moment the log was extracted. Each period is evaluated at its end, or at *at*
        when earlier (a month still running is counted "to date"). Default: the latest
        time stamp in the log.

    Returns
    -------
    DataFrame
        *by* columns, ``period`` (when a period is given), every count of the module
        docstring, every rate (fractions, NaN for a zero denominator), ``mean_disposal_hours``
        (dispatch → disposal) and ``mean_closure_hours`` (filing → closure) in calendar hours.
        Chinese labels: :data:`LABELS_ZH`.

    Examples
    --------
    >>> from gridlib.cases.log import read_log
    >>> log, _ = read_log(pd.DataFrame({
    ...     "case_id": ["a", "b"], "class_code": ["06012", "06012"], "kind": ["event", "event"],
    ...     "reported_at": ["2026-10-08 09:00", "2026-10-08 10:00"], "filed_at": ["2026-10-08 09:03", "2026-10-08 10:04"],
    ...     "dispatched_at": ["2026-10-08 09:04", "2026-10-08 10:05"], "disposed_at": ["2026-10-08 11:00", None],
    ...     "checked_at": ["2026-10-08 11:30", None], "closed_at": ["2026-10-08 12:00", None]}))
    >>> k = indicators(log, period="2026-10", at="2026-10-31")
    >>> k[["filed", "due_closure", "closed", "closed_on_time"]].values.tolist(), float(k["closure_rate"].iloc[0])
    ([[2, 2, 1, 1]], 0.5)
    """
    keys = [by] if isinstance(by, str) else list(by or [])
    missing = [k for k in keys if k not in log]
    if missing:
        raise InputError(f"cannot group by {missing}: not columns of the case log (have {sorted(map(str, log.columns))})")
    f = _flags(log, period, limits, calendar, at)
    kcode, _ = _group_codes(log, keys)
    r_rows, f_rows = np.flatnonzero(f["r_in"]), np.flatnonzero(f["f_in"])
    rows = np.concatenate([r_rows, f_rows])
    pcode = np.concatenate([f["r_code"][r_rows], f["f_code"][f_rows]])
    pid, p_uniques = pd.factorize(pcode)
    gid, g_uniques = pd.factorize(kcode[rows] * max(len(p_uniques), 1) + pid)
    ngroups = len(g_uniques)
    first = np.unique(gid, return_index=True)[1]  # first row of each group, groups 0..n-1 in order
    out = pd.DataFrame({k: log[k].iloc[rows[first]].to_numpy() for k in keys})
    if period is not None:
        out["period"] = f["labels"](pcode[first])
        out["_order"] = pcode[first]
    split = len(r_rows)
    for family, counts, part in (("rep", REPORT_COUNTS, gid[:split]), ("fil", FILED_COUNTS + _SUMS, gid[split:])):
        sel = r_rows if family == "rep" else f_rows
        for c in counts:
            values = f[family][c][sel].astype(float)
            total = np.bincount(part, weights=values, minlength=ngroups)
            out[c] = total.round().astype("int64") if c in COUNTS else total
    out = add_rates(out)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["mean_disposal_hours"] = np.where(out["disposed"] > 0, out["_disposal_hours"] / out["disposed"].clip(lower=1), np.nan)
        out["mean_closure_hours"] = np.where(out["closed"] > 0, out["_closure_hours"] / out["closed"].clip(lower=1), np.nan)
    order = keys + (["_order"] if period is not None else [])
    if order:
        out = out.sort_values(order, kind="stable", na_position="last")
    return out.drop(columns=[c for c in out if c.startswith("_")]).reset_index(drop=True)
