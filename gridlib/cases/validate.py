"""Validation of a case log: what is refused, what is only odd.

Rejected (the case cannot be measured honestly):

* a duplicate ``case_id`` (the first occurrence is kept);
* stages out of order — a stage time earlier than an earlier stage of the loop
  (上报 ≤ 核实 ≤ 立案 ≤ 派遣 ≤ 到场 ≤ 视频 ≤ 处置 ≤ 反馈 ≤ 核查 ≤ 结案), i.e. a negative duration;
* a closed case with no disposal (``closed_at`` set, ``disposed_at`` missing);
* both ``cancelled_at`` and ``closed_at``, or both ``not_filed_at`` and ``filed_at``;
* an absurd duration: any stage more than :data:`MAX_DAYS` days after ``reported_at``;
* a ``status`` that contradicts the time stamps (``closed`` without ``closed_at``,
  ``closed_at`` with another status, ``cancelled``/``not_filed`` without their time stamp);
* unknown ``status`` / ``urgency`` / ``source`` values, unparseable or out-of-window times,
  counts and hours that are not finite, non-negative numbers in their sane range (found while
  reading, :func:`gridlib.cases.log.normalise`).

Every reject has a ``reason_code`` from :data:`gridlib.rejects.CODES` and the ``field``.

Warned (kept, listed in ``log.attrs["warnings"]``): unknown ``kind``, a case
closed more than :data:`LONG_DAYS` days after filing, disposal or closure without dispatch,
a ``status`` that lags the time stamps (the time stamps are used).

>>> import pandas as pd
>>> from gridlib.cases.log import read_log
>>> raw = pd.DataFrame({"case_id": ["a", "b"], "class_code": ["06012"] * 2, "kind": ["event"] * 2,
...                     "reported_at": ["2026-10-08 09:00"] * 2, "source": ["supervisor", "wechat"]})
>>> log, rejects = read_log(raw)
>>> rejects[["case_id", "reason_code", "field"]].values.tolist()
[['b', 'unknown_value', 'source']]
"""

from __future__ import annotations

import warnings as _warnings

import numpy as np
import pandas as pd

from gridlib.cases.model import KINDS, STAGE_COLUMNS
from gridlib.rejects import Rejects

MAX_DAYS = 730
LONG_DAYS = 90
# index in STAGE_COLUMNS of the last stage a status allows
_STATUS_LAST_STAGE = {"reported": 1, "filed": 2, "dispatched": 5, "disposing": 6, "checking": 8}


def _as_mask(mask: pd.Series | np.ndarray) -> np.ndarray:
    if isinstance(mask, pd.Series):
        return mask.fillna(False).to_numpy(dtype=bool)
    return np.asarray(mask, dtype=bool)


def flag_problems(df: pd.DataFrame, rejects: Rejects | None = None) -> tuple[pd.DataFrame, Rejects, pd.DataFrame]:
    """The checks of :func:`validate_log` as a step of a reader: return (log, rejects builder, warnings).

    *rejects* (a :class:`gridlib.rejects.Rejects`) carries earlier problems (from parsing); the
    first reason of a row wins. Everything is vectorised over the rows.

    >>> from gridlib.cases.log import normalise
    >>> raw = pd.DataFrame({"case_id": ["a"], "class_code": ["06012"], "kind": ["event"],
    ...     "reported_at": ["2026-10-08 09:00"], "disposed_at": ["2026-10-08 09:30"], "closed_at": ["2028-10-08"]})
    >>> r = flag_problems(*normalise(raw))[1]
    >>> r.codes.tolist(), r.frame(raw)["reason"].tolist()
    (['time_out_of_range'], ['absurd duration: closed_at is 730.6 days after reported_at (more than 730)'])
    """
    rejects = Rejects(df.index) if rejects is None else rejects

    def flag(mask: pd.Series | np.ndarray, code: str, prefix: str, values: pd.Series | None = None,
             suffix: str = "", field: str | None = None) -> None:
        m = _as_mask(mask)
        if values is None:
            text: str | np.ndarray = prefix
        else:   # only the flagged rows' values become text (a log has 300k rows and few are flagged)
            text = np.full(len(m), None, dtype=object)
            if m.any():
                text[m] = (prefix + values[m].astype("string").fillna("") + suffix).to_numpy(dtype=object)
        rejects.add(m, code, text, field=field)

    flag(df["case_id"].duplicated(keep="first") & df["case_id"].notna(), "duplicate_id",
         "duplicate case_id (first occurrence kept)", field="case_id")

    times = np.column_stack([df[c].to_numpy(dtype="datetime64[ns]").astype(np.int64) for c in STAGE_COLUMNS]).astype(float)
    times[np.column_stack([df[c].isna().to_numpy() for c in STAGE_COLUMNS])] = np.nan
    filled = np.where(np.isnan(times), -np.inf, times)
    running = np.maximum.accumulate(filled, axis=1)
    prev_max = np.concatenate([np.full((len(df), 1), -np.inf), running[:, :-1]], axis=1)
    bad = ~np.isnan(times) & (times < prev_max)
    rows = bad.any(axis=1)
    if rows.any():
        first = bad.argmax(axis=1)
        # the earlier stage that holds the maximum before the offending one
        masked = np.where(np.arange(len(STAGE_COLUMNS))[None, :] < first[:, None], filled, -np.inf)
        before = masked.argmax(axis=1)
        names = np.array(STAGE_COLUMNS)
        idx = np.flatnonzero(rows)
        later_t = pd.Series(times[idx, first[idx]].astype(np.int64).view("datetime64[ns]")).astype("string")
        earlier_t = pd.Series(times[idx, before[idx]].astype(np.int64).view("datetime64[ns]")).astype("string")
        text = ("stage out of order: " + pd.Series(names[first[idx]], dtype="string") + " (" + later_t + ") is before "
                + pd.Series(names[before[idx]], dtype="string") + " (" + earlier_t + ")")
        full = pd.Series(pd.NA, index=df.index, dtype="string")
        full.iloc[idx] = text.to_numpy()
        rejects.add(rows, "time_order", full.to_numpy(dtype=object))

    flag(df["closed_at"].notna() & df["disposed_at"].isna(), "inconsistent_record",
         "closed without disposal (closed_at set, disposed_at missing)", field="closed_at")
    flag(df["closed_at"].notna() & df["cancelled_at"].notna(), "inconsistent_record",
         "both cancelled_at and closed_at are set", field="cancelled_at")
    flag(df["filed_at"].notna() & df["not_filed_at"].notna(), "inconsistent_record",
         "both not_filed_at and filed_at are set", field="not_filed_at")

    reported = df["reported_at"]
    for col in STAGE_COLUMNS[1:] + ("cancelled_at", "not_filed_at"):
        days = (df[col] - reported).dt.total_seconds() / 86400.0
        flag(days > MAX_DAYS, "time_out_of_range", f"absurd duration: {col} is ", days.round(1),
             f" days after reported_at (more than {MAX_DAYS})", field=col)
        if col in ("cancelled_at", "not_filed_at"):
            flag(days < 0, "time_order", f"{col} is before reported_at", field=col)

    if "status" in df:
        status = df["status"]
        flag((status == "closed") & df["closed_at"].isna(), "inconsistent_record",
             "status closed but closed_at is missing", field="status")
        flag((status == "cancelled") & df["cancelled_at"].isna(), "inconsistent_record",
             "status cancelled but cancelled_at is missing", field="status")
        flag((status == "not_filed") & df["not_filed_at"].isna(), "inconsistent_record",
             "status not_filed but not_filed_at is missing", field="status")
        flag(df["closed_at"].notna() & status.notna() & ~status.isin(["closed"]), "inconsistent_record",
             "closed_at is set but status is '", status, "'", field="status")
        allowed = status.map(_STATUS_LAST_STAGE)
        reached = pd.Series(-1, index=df.index)
        for i, col in enumerate(STAGE_COLUMNS[:-1]):
            reached = reached.mask(df[col].notna(), i)
        ahead = allowed.notna() & (reached > allowed.fillna(99))

    kept = rejects.ok
    warn = []

    def warning(mask: pd.Series, prefix: str, values: pd.Series | None = None, suffix: str = "") -> None:
        m = _as_mask(mask) & kept
        if m.any():
            text = prefix if values is None else prefix + values[m].astype("string").fillna("") + suffix
            warn.append(pd.DataFrame({"case_id": df["case_id"][m].to_numpy(), "warning": text}))

    warning(df["kind"].notna() & ~df["kind"].isin(KINDS), "unknown kind '", df["kind"], "'")
    warning((df["closed_at"] - df["filed_at"]).dt.total_seconds() / 86400.0 > LONG_DAYS,
            f"closed more than {LONG_DAYS} days after filing")
    warning(df["dispatched_at"].isna() & (df["disposed_at"].notna() | df["closed_at"].notna()),
            "disposed or closed without a dispatch time")
    if "status" in df:
        warning(ahead, "status '", df["status"], "' lags the stage time stamps")
    columns = {"case_id": pd.Series(dtype="string"), "warning": pd.Series(dtype="string")}
    warnings = pd.concat([pd.DataFrame(columns), *warn], ignore_index=True).astype("string")
    return df, rejects, warnings


def validate_log(log: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check a case log in the model; return ``(accepted, rejects)`` like every ``validate_*``.

    The rules of this module (stage order, closed without disposal, absurd durations, status
    consistency, duplicate ids; first reason wins). *log* has the model's typed columns, e.g.
    ``read_log(source, validate=False)[0]``; :func:`gridlib.cases.read_log` runs these checks itself.
    ``len(accepted) + len(rejects) == len(log)``.

    Returns
    -------
    accepted : DataFrame
        The kept cases (input order and index); what is only odd is listed in ``accepted.attrs["warnings"]``.
    rejects : DataFrame
        The refused rows plus ``reason_code``, ``field`` and ``reason``.

    Examples
    --------
    >>> from gridlib.cases.log import read_log
    >>> raw = pd.DataFrame({"case_id": ["a", "a", "b"], "class_code": ["06012"] * 3, "kind": ["event", "event", "thing"],
    ...     "reported_at": ["2026-10-08 09:00"] * 3, "closed_at": [None, None, "2026-10-09"]})
    >>> ok, bad = validate_log(read_log(raw, validate=False)[0])
    >>> ok.case_id.tolist(), bad[["case_id", "reason_code", "field"]].values.tolist()
    (['a'], [['a', 'duplicate_id', 'case_id'], ['b', 'inconsistent_record', 'closed_at']])
    >>> ok.attrs["warnings"]
    []
    """
    _, found, warnings = flag_problems(log)
    accepted, rejects = found.split(log)
    accepted = accepted.copy()
    accepted.attrs["warnings"] = warnings.to_dict("records")
    return accepted, rejects


def validate(df: pd.DataFrame, rejects: Rejects | None = None) -> tuple[pd.DataFrame, Rejects, pd.DataFrame]:
    """Deprecated: :func:`validate_log` returns ``(accepted, rejects)``; this returns (log, rejects builder, warnings).

    >>> import warnings
    >>> raw = pd.DataFrame({"case_id": ["a"], "class_code": ["06012"], "kind": ["event"],
    ...                     "reported_at": ["2026-10-08 09:00"]})
    >>> from gridlib.cases.log import normalise
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     len(validate(*normalise(raw))[1])
    0
    """
    _warnings.warn("gl.cases.validate is deprecated; use gl.cases.validate_log (returns (accepted, rejects))",
                   DeprecationWarning, stacklevel=2)
    return flag_problems(df, rejects)
