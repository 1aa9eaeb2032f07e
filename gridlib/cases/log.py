"""The case log: one row per case with the time stamps of the closed loop.

Columns are those of ``docs/conventions.md`` ("Time and the case log"). Two readers give
the same model:

* :func:`read_log` — a flat table (CSV, Parquet or a DataFrame), one row per case;
* :func:`read_event_log` — one row per stage transition, as workflow systems export.

Both return ``(log, rejects)``: every input row is either in the log or in ``rejects``
with a ``reason``; warnings (kept rows with something odd) are in ``log.attrs["warnings"]``
as a list of ``{"case_id", "warning"}`` records (``pd.DataFrame(log.attrs["warnings"])``).
Personal data (``reporter_name``, ``reporter_phone``) is dropped from the log.

>>> import pandas as pd
>>> raw = pd.DataFrame({"case_id": ["a", "b"], "class_code": ["06012", "0101"], "kind": ["event", "component"],
...                     "reported_at": ["2026-10-08 09:00", "2026-10-08 09:00"],
...                     "filed_at": ["2026-10-08 09:03", "2026-10-08 08:00"]})
>>> log, rejects = read_log(raw)
>>> log["status"].tolist(), rejects["reason"].tolist()
(['filed'], ['stage out of order: filed_at (2026-10-08 08:00:00) is before reported_at (2026-10-08 09:00:00)'])
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from gridlib.cases.schema import (
    EVENT_STAGES,
    PERSONAL,
    REQUIRED,
    STATUSES,
    STRING_COLUMNS,
    TIME_COLUMNS,
    URGENCIES,
    Reasons,
)
from gridlib.cases.validate import validate as validate_log
from gridlib.errors import InputError
from gridlib.io import read_table

log = logging.getLogger(__name__)

_TRUE = {"true", "1", "yes", "y", "t", "是"}
_FALSE = {"false", "0", "no", "n", "f", "否", ""}


def _read_table(source: Any) -> pd.DataFrame:
    table = read_table(source)
    if "geometry" not in table:
        return table
    if "lon" not in table and getattr(table, "crs", None) is not None:
        pts = table.geometry.to_crs("EPSG:4326")
        table["lon"], table["lat"] = pts.x, pts.y
    return pd.DataFrame(table.drop(columns="geometry"))


def parse_times(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse ISO 8601 times to naive ``datetime64[ns]``; return (times, unparseable mask).

    Offsets such as ``+08:00`` or ``Z`` are converted to China time and dropped.

    >>> t, bad = parse_times(pd.Series(["2026-10-08 09:00", "2026-10-08T01:00Z", "soon", None]))
    >>> [str(x) for x in t], bad.tolist()
    (['2026-10-08 09:00:00', '2026-10-08 09:00:00', 'NaT', 'NaT'], [False, False, True, False])
    """
    if pd.api.types.is_datetime64_any_dtype(values):
        t = values
        if getattr(t.dt, "tz", None) is not None:
            t = t.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None)
        return t.astype("datetime64[ns]"), pd.Series(False, index=values.index)
    text = values.astype("string").str.strip()
    present = text.notna() & (text != "")
    aware = text.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True, na=False)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    naive_rows = present & ~aware
    if naive_rows.any():
        out[naive_rows] = pd.to_datetime(text[naive_rows], format="ISO8601", errors="coerce").astype("datetime64[ns]")
    if aware.any():
        conv = pd.to_datetime(text[aware], format="ISO8601", errors="coerce", utc=True)
        out[aware] = conv.dt.tz_convert("Asia/Shanghai").dt.tz_localize(None).astype("datetime64[ns]")
    return out, present & out.isna()


def derive_status(log: pd.DataFrame) -> pd.Series:
    """Status implied by the time stamps (the latest stage reached).

    >>> derive_status(pd.DataFrame({"reported_at": pd.to_datetime(["2026-10-08"] * 2),
    ...                             "dispatched_at": pd.to_datetime(["2026-10-08", None])})).tolist()
    ['disposing', 'reported']
    """
    status = pd.Series("reported", index=log.index, dtype="string")
    order = [
        ("filed_at", "filed"), ("dispatched_at", "disposing"), ("disposed_at", "checking"),
        ("feedback_at", "checking"), ("checked_at", "checking"), ("closed_at", "closed"),
        ("not_filed_at", "not_filed"), ("cancelled_at", "cancelled"),
    ]
    for col, value in order:
        if col in log:
            status = status.mask(log[col].notna(), value)
    return status


def _to_bool(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_bool_dtype(values):
        return values.fillna(False).astype(bool), pd.Series(False, index=values.index)
    text = values.astype("string").str.strip().str.lower().fillna("")
    bad = ~text.isin(_TRUE | _FALSE)
    return text.isin(_TRUE), bad


def normalise(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """Coerce a raw flat table to the log model; return (table, reason per row or NA).

    Parsing problems become reasons; the semantic checks are in :mod:`gridlib.cases.validate`.
    """
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise InputError(f"case log lacks required column(s) {missing}; see docs/conventions.md 'Time and the case log'")
    df = raw.drop(columns=[c for c in PERSONAL if c in raw.columns]).copy()
    reasons = Reasons(df.index)
    flag = reasons.add
    for col in STRING_COLUMNS:
        if col in df:
            df[col] = df[col].astype("string").str.strip().replace("", pd.NA)
    for col in TIME_COLUMNS:
        if col in df:
            df[col], bad = parse_times(df[col])
            flag(bad, f"unparseable {col} '", raw[col], "'")
        else:
            df[col] = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]")
    flag(df["case_id"].isna(), "missing case_id")
    flag(df["reported_at"].isna(), "missing reported_at")
    flag(df["class_code"].isna(), "missing class_code")
    for col in ("rework_count", "return_count"):
        values = pd.to_numeric(df[col], errors="coerce") if col in df else pd.Series(0.0, index=df.index)
        if col in df:
            flag(df[col].notna() & (values.isna() | (values < 0) | (values % 1 != 0)),
                 f"{col} must be a non-negative integer, got '", df[col], "'")
        df[col] = values.fillna(0).clip(lower=0).round().astype("int64")
    ext = pd.to_numeric(df["extension_hours"], errors="coerce") if "extension_hours" in df else pd.Series(0.0, index=df.index)
    if "extension_hours" in df:
        flag(df["extension_hours"].notna() & (ext.isna() | (ext < 0)),
             "extension_hours must be a non-negative number, got '", df["extension_hours"], "'")
    df["extension_hours"] = ext.fillna(0.0).clip(lower=0.0).astype(float)
    if "parked" in df:
        parked, bad = _to_bool(df["parked"])
        flag(bad, "parked must be true/false, got '", df["parked"], "'")
        df["parked"] = parked
    else:
        df["parked"] = False
    if "urgency" in df:
        df["urgency"] = df["urgency"].fillna("normal")
        flag(~df["urgency"].isin(URGENCIES), "unknown urgency '", df["urgency"], "' (normal | urgent)")
    else:
        df["urgency"] = pd.Series("normal", index=df.index, dtype="string")
    if "status" in df:
        flag(df["status"].notna() & ~df["status"].isin(STATUSES), "unknown status '", df["status"],
             "' (" + " | ".join(STATUSES) + ")")
    for col in ("lon", "lat"):
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    return df, reasons.series


def read_log(source: Any, *, validate: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a flat case log (CSV, Parquet, GeoPackage/GeoJSON or a DataFrame) into the log model.

    Parameters
    ----------
    source
        Path or DataFrame with the columns of ``docs/conventions.md``.
    validate
        Run :func:`gridlib.cases.validate.validate` (stage order, closed without disposal,
        absurd durations, status consistency, duplicate ids). On by default.

    Returns
    -------
    (log, rejects)
        ``log`` with typed columns (times ``datetime64[ns]``, counts ``int64``, ``parked`` bool,
        a ``status`` filled from the time stamps where missing), sorted by ``case_id``;
        ``rejects`` = the original rows of the refused cases plus ``reason``.

    Examples
    --------
    >>> raw = pd.DataFrame({"case_id": ["x"], "class_code": ["06012"], "kind": ["event"],
    ...                     "reported_at": ["2026-10-08 09:00"], "status": ["lost"]})
    >>> print(read_log(raw)[1]["reason"].iloc[0])
    unknown status 'lost' (reported | filed | dispatched | disposing | checking | closed | cancelled | not_filed)
    """
    raw = _read_table(source)
    df, reason = normalise(raw)
    if validate:
        df, reason, warnings = validate_log(df, reason)
    else:
        warnings = pd.DataFrame({"case_id": pd.Series(dtype="string"), "warning": pd.Series(dtype="string")})
    bad = reason.notna()
    rejects = raw[bad.to_numpy()].copy()
    rejects["reason"] = reason[bad].to_numpy()
    out = df[~bad.to_numpy()].copy()
    status = derive_status(out)
    out["status"] = out["status"].fillna(status) if "status" in out else status
    out = out.sort_values("case_id", kind="stable").reset_index(drop=True)
    out.attrs["warnings"] = warnings.to_dict("records")
    if len(rejects):
        log.warning("case log: %d of %d rows rejected (first: %s)", len(rejects), len(raw), rejects["reason"].iloc[0])
    return out, rejects


def read_event_log(
    source: Any, *, case: str = "case_id", stage: str = "stage", time: str = "time", hours: str = "hours",
    validate: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read an event log (one row per stage transition) into the same model as :func:`read_log`.

    Stage names may be English (``reported``, ``filed``, ``dispatched``, ``disposed``,
    ``checked``, ``closed``, ``returned``, ``rework``, ``extension``, ``parked`` …) or Chinese
    (上报, 立案, 派遣, 处置, 核查, 结案, 回退, 返工, 延期, 挂账 …). First occurrences are kept for
    reporting, filing, dispatch, arrival and video; last ones for disposal, feedback, check and
    closure (after a 返工 the final disposal counts). ``returned``/``rework`` events are counted,
    ``extension`` events add their *hours* column. Any other column is a case attribute
    (first non-empty value per case).

    Returns
    -------
    (log, rejects)
        ``rejects`` holds event rows: those unusable on their own (unknown stage, bad time,
        no case id) and all events of cases that fail validation, each with a ``reason``.

    Examples
    --------
    >>> ev = pd.DataFrame({"case_id": ["a", "a", "a", "a"], "stage": ["上报", "立案", "返工", "结案"],
    ...                    "time": ["2026-10-08 09:00", "2026-10-08 09:04", "2026-10-08 12:00", "2026-10-08 15:00"],
    ...                    "class_code": ["06012", None, None, None], "kind": ["event", None, None, None]})
    >>> log, rejects = read_event_log(ev)
    >>> log[["case_id", "rework_count"]].values.tolist(), rejects["reason"].iloc[0]
    ([], 'case rejected: closed without disposal (closed_at set, disposed_at missing)')
    """
    raw = _read_table(source)
    for col in (case, stage, time):
        if col not in raw:
            raise InputError(f"event log lacks column {col!r} (set case=, stage=, time=)")
    ev = raw.copy()
    ev["_case"] = ev[case].astype("string").str.strip().replace("", pd.NA)
    ev["_stage"] = ev[stage].astype("string").str.strip()
    ev["_key"] = ev["_stage"].str.lower().where(~ev["_stage"].isin(EVENT_STAGES.keys()), ev["_stage"])
    ev["_t"], bad_t = parse_times(ev[time])
    reason = pd.Series(pd.NA, index=ev.index, dtype="string")
    reason = reason.mask(ev["_case"].isna(), "missing case id")
    reason = reason.mask(reason.isna() & ~ev["_key"].isin(EVENT_STAGES.keys()), "unknown stage '" + ev["_stage"].fillna("") + "'")
    reason = reason.mask(reason.isna() & (bad_t | ev["_t"].isna()), "missing or unparseable time '" + ev[time].astype("string").fillna("") + "'")
    good = ev[reason.isna()].sort_values(["_case", "_t"], kind="stable")
    target = good["_key"].map({k: v[0] for k, v in EVENT_STAGES.items()})
    how = good["_key"].map({k: v[1] for k, v in EVENT_STAGES.items()})
    cases = pd.Index(good["_case"].unique(), name="case_id")
    flat = pd.DataFrame(index=cases)
    for col in TIME_COLUMNS:
        sel = target == col
        agg = "min" if (how[sel] == "first").all() else "max"
        flat[col] = good.loc[sel].groupby("_case")["_t"].agg(agg).reindex(cases)
    for col in ("return_count", "rework_count"):
        flat[col] = good.loc[target == col].groupby("_case").size().reindex(cases).fillna(0).astype("int64")
    sel = target == "extension_hours"
    ext = pd.to_numeric(good.loc[sel, hours], errors="coerce") if hours in good else pd.Series(np.nan, index=good.index[sel])
    flat["extension_hours"] = ext.groupby(good.loc[sel, "_case"]).sum().reindex(cases).fillna(0.0)
    flat["parked"] = good.loc[target == "parked"].groupby("_case").size().reindex(cases).fillna(0) > 0
    attrs = [c for c in raw.columns if c not in (case, stage, time, hours) and c not in flat.columns]
    if attrs:
        firsts = good.groupby("_case")[attrs].first().reindex(cases)
        flat = flat.join(firsts)
    flat = flat.reset_index()
    for col in REQUIRED:
        if col not in flat:
            flat[col] = pd.NA
    case_log, case_rejects = read_log(flat, validate=validate)
    rejects = ev[reason.notna()].drop(columns=["_case", "_stage", "_key", "_t"])
    rejects["reason"] = reason[reason.notna()]
    if len(case_rejects):
        why = pd.Series(case_rejects["reason"].to_numpy(), index=case_rejects["case_id"].astype("string"))
        dropped = ev["_case"].isin(why.index) & reason.isna()
        more = ev[dropped].drop(columns=["_case", "_stage", "_key", "_t"])
        more["reason"] = "case rejected: " + ev.loc[dropped, "_case"].map(why)
        rejects = pd.concat([rejects, more])
    return case_log, rejects.sort_index()
