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
import warnings as _warnings
from typing import Any

import numpy as np
import pandas as pd

from gridlib.cases.model import (  # noqa: F401  (re-exported: the model's names live here for callers)
    END_COLUMNS,
    EVENT_STAGES,
    KINDS,
    MAX_COUNT,
    MAX_EXTENSION_HOURS,
    PERSONAL,
    PUBLIC_SOURCES,
    REQUIRED,
    SOURCES,
    STAGE_COLUMNS,
    STATUSES,
    STRING_COLUMNS,
    TIME_COLUMNS,
    URGENCIES,
)
from gridlib.cases.validate import flag_problems
from gridlib.errors import InputError
from gridlib.io import invalid_row_rejects, load_table
from gridlib.rejects import Rejects, counts, looks_personal
from gridlib.times import parse_times as _parse_times
from gridlib.times import reject_times
from gridlib.types import TableSource, TimeLike

log = logging.getLogger(__name__)


_TRUE = {"true", "1", "yes", "y", "t", "是"}
_FALSE = {"false", "0", "no", "n", "f", "否", ""}
#: Chinese values of the log's vocabularies (exports from Chinese platforms) → the model's values.
VALUE_ALIASES: dict[str, dict[str, str]] = {
    "kind": {"事件": "event", "部件": "component"},
    "urgency": {"一般": "normal", "普通": "normal", "紧急": "urgent"},
    "source": {"监督员": "supervisor", "监督员上报": "supervisor", "12345": "hotline_12345",
               "12345热线": "hotline_12345", "12319": "hotline_12319", "12319热线": "hotline_12319",
               "视频": "camera", "视频监控": "camera", "领导批示": "leader", "媒体": "media",
               "媒体曝光": "media", "渣土车监管": "truck_monitoring"},
}


def map_values(frame: pd.DataFrame) -> pd.DataFrame:
    """Replace Chinese values of ``kind``, ``urgency`` and ``source`` by the model's (:data:`VALUE_ALIASES`).

    >>> map_values(pd.DataFrame({"kind": ["事件", "部件", "event"]}))["kind"].tolist()
    ['event', 'component', 'event']
    """
    found = [c for c in VALUE_ALIASES if c in frame.columns]
    if not found:
        return frame
    out = frame.copy()
    for col in found:
        text = out[col].astype("string").str.strip()
        out[col] = text.replace(VALUE_ALIASES[col]).where(text.isin(VALUE_ALIASES[col].keys()), out[col])
    return out


#: Every column of the flat log (what a header alias may be renamed to).
LOG_COLUMNS = (*REQUIRED, *TIME_COLUMNS, *STRING_COLUMNS, "rework_count", "return_count", "extension_hours",
               "parked", "lon", "lat", *PERSONAL)


def read_values(frame: pd.DataFrame) -> pd.DataFrame:
    """Deprecated name of :func:`map_values` (``read_*`` readers return ``(accepted, rejects)``)."""
    _warnings.warn("gridlib.cases.log.read_values is deprecated; use map_values", DeprecationWarning, stacklevel=2)
    return map_values(frame)


def _read_table(source: Any, *, wanted: Any = LOG_COLUMNS, columns: dict[str, str] | None = None,
                sheet: str | int | None = None, header_row: int = 1, encoding: str | None = None) -> pd.DataFrame:
    table = load_table(source, columns=columns, wanted=wanted, sheet=sheet, header_row=header_row, encoding=encoding)
    if "geometry" not in table:
        return table
    if "lon" not in table and getattr(table, "crs", None) is not None:
        pts = table.geometry.to_crs("EPSG:4326")
        table["lon"], table["lat"] = pts.x, pts.y
    return pd.DataFrame(table.drop(columns="geometry"))


def parse_times(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse times with :func:`gridlib.times.parse_times`; return (times, refused mask).

    Offsets such as ``+08``, ``+08:00`` or ``Z`` are converted to China time and dropped.

    >>> t, bad = parse_times(pd.Series(["2026-10-08 09:00", "2026-10-08T01:00Z", "soon", None]))
    >>> [str(x) for x in t], bad.tolist()
    (['2026-10-08 09:00:00', '2026-10-08 09:00:00', 'NaT', 'NaT'], [False, False, True, False])
    """
    t, code = _parse_times(values)
    return t, pd.Series(~np.equal(code, None), index=values.index)


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


def _numbers(df: pd.DataFrame, col: str, rejects: Rejects, *, integer: bool, upper: float) -> pd.Series:
    """A count or amount column: finite, non-negative, at most *upper* (integers for counts)."""
    if col not in df:
        return pd.Series(0.0, index=df.index)
    raw = df[col]
    text = raw.astype("string").str.strip()
    values = pd.to_numeric(text, errors="coerce").astype("float64")
    present = text.notna() & (text != "")
    bad = present & (values.isna() | ~np.isfinite(values) | (values < 0) | (values > upper))
    if integer:
        bad |= present & values.notna() & (values % 1 != 0)
    kind = "a non-negative integer" if integer else "a non-negative number"
    rejects.add(bad, "bad_number", f"{col} must be {kind} up to {upper:g}, got '" + text.fillna("") + "'", field=col)
    return values.where(~bad.to_numpy(dtype=bool)).fillna(0.0)


def normalise(raw: pd.DataFrame, *, window: tuple[TimeLike, TimeLike] | None = None) -> tuple[pd.DataFrame, Rejects]:
    """Coerce a raw flat table to the log model; return (table, rejects so far).

    Parsing problems (times, numbers, vocabularies) become rejects; the semantic checks are in
    :mod:`gridlib.cases.validate`.

    >>> raw = pd.DataFrame({"case_id": ["a"], "class_code": ["06012"], "kind": ["event"],
    ...                     "reported_at": ["2026-10-08 09:00"], "extension_hours": ["inf"]})
    >>> normalise(raw)[1].codes.tolist()
    ['bad_number']
    """
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise InputError(f"case log lacks required column(s) {missing}; see docs/conventions.md 'Time and the case log'")
    df = raw.drop(columns=[c for c in PERSONAL if c in raw.columns]).copy()
    rejects = Rejects(df.index)
    flag = rejects.add
    for col in STRING_COLUMNS:
        if col in df:
            df[col] = df[col].astype("string").str.replace("\x00", "", regex=False).str.strip().replace("", pd.NA)
    df = map_values(df)
    flag(df["case_id"].isna(), "missing_id", "missing case_id", field="case_id")
    flag(looks_personal(df["case_id"]), "personal_data_id",
         "case_id looks like a phone or ID-card number: '" + df["case_id"].fillna("") + "'", field="case_id")
    times = {}
    for col in TIME_COLUMNS:
        if col in df:
            parsed, code = _parse_times(df[col]) if window is None else _parse_times(df[col], window=window)
            times[col] = (parsed, code)
            df[col] = parsed
        else:
            df[col] = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns]")
    for col, (parsed, code) in times.items():
        reject_times(rejects, raw[col], parsed, code, col, required=col == "reported_at")
    flag(df["class_code"].isna(), "missing_value", "missing class_code", field="class_code")
    for col in ("rework_count", "return_count"):
        df[col] = _numbers(df, col, rejects, integer=True, upper=MAX_COUNT).round().astype("int64")
    df["extension_hours"] = _numbers(df, "extension_hours", rejects, integer=False,
                                     upper=MAX_EXTENSION_HOURS).astype(float)
    if "parked" in df:
        parked, bad = _to_bool(df["parked"])
        flag(bad, "unknown_value", "parked must be true/false, got '" + df["parked"].astype("string").fillna("") + "'",
             field="parked")
        df["parked"] = parked
    else:
        df["parked"] = False
    if "urgency" in df:
        df["urgency"] = df["urgency"].fillna("normal")
        flag(~df["urgency"].isin(URGENCIES), "unknown_value",
             "unknown urgency '" + df["urgency"].astype("string") + "' (normal | urgent)", field="urgency")
    else:
        df["urgency"] = pd.Series("normal", index=df.index, dtype="string")
    if "status" in df:
        flag(df["status"].notna() & ~df["status"].isin(STATUSES), "unknown_value",
             "unknown status '" + df["status"].astype("string").fillna("") + "' (" + " | ".join(STATUSES) + ")",
             field="status")
    if "source" in df:
        flag(df["source"].notna() & ~df["source"].isin(SOURCES), "unknown_value",
             "unknown source '" + df["source"].astype("string").fillna("") + "' (" + " | ".join(SOURCES) + ")",
             field="source")
    for col in ("lon", "lat"):
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    return df, rejects


def read_log(source: TableSource, *, validate: bool = True, columns: dict[str, str] | None = None,
             sheet: str | int | None = None, header_row: int = 1,
             encoding: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read a flat case log (CSV, Parquet, GeoPackage/GeoJSON or a DataFrame) into the log model.

    Parameters
    ----------
    source
        Path or DataFrame with the columns of ``docs/conventions.md``.
    validate
        Run the checks of :func:`gridlib.cases.validate_log` (stage order, closed without disposal,
        absurd durations, status consistency, duplicate ids). On by default.
    columns
        ``{"源列": "gridlib_name"}`` renames first; otherwise common Chinese headers
        (案件编号, 事部件编码, 类别, 上报时间, 结案时间, 经度, 纬度 …; :data:`gridlib.io.COLUMN_ALIASES`)
        are recognised, and Chinese values of ``kind``/``urgency``/``source`` (事件, 部件, 紧急 …;
        :data:`VALUE_ALIASES`) are read as the model's.
    sheet, header_row, encoding
        How to read the file (``.xlsx`` sheet and 1-based header row, CSV encoding); see
        :func:`gridlib.io.open_table`.

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
    raw = _read_table(source, columns=columns, sheet=sheet, header_row=header_row, encoding=encoding)
    df, found = normalise(raw)
    if validate:
        df, found, warnings = flag_problems(df, found)
    else:
        warnings = pd.DataFrame({"case_id": pd.Series(dtype="string"), "warning": pd.Series(dtype="string")})
    out, rejects = found.split(df, raw)
    extra = invalid_row_rejects(raw)  # CSV rows with too few / too many fields
    if len(extra):
        rejects = pd.concat([rejects, extra])
    out = out.copy()
    status = derive_status(out)
    out["status"] = out["status"].fillna(status) if "status" in out else status
    out = out.sort_values("case_id", kind="stable").reset_index(drop=True)
    out.attrs["warnings"] = warnings.to_dict("records")
    if len(rejects):
        # codes only: the reason may quote personal data
        log.warning("case log: %d of %d rows rejected %s", len(rejects), len(raw), counts(rejects))
    return out, rejects


def read_event_log(
    source: TableSource, *, case: str = "case_id", stage: str = "stage", time: str = "time", hours: str = "hours",
    validate: bool = True, columns: dict[str, str] | None = None, sheet: str | int | None = None,
    header_row: int = 1, encoding: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read an event log (one row per stage transition) into the same model as :func:`read_log`.

    Stage names may be English (``reported``, ``filed``, ``dispatched``, ``disposed``,
    ``checked``, ``closed``, ``returned``, ``rework``, ``extension``, ``parked`` …) or Chinese
    (上报, 立案, 派遣, 处置, 核查, 结案, 回退, 返工, 延期, 挂账 …). First occurrences are kept for
    reporting, filing, dispatch, arrival and video; last ones for disposal, feedback, check and
    closure (after a 返工 the final disposal counts). ``returned``/``rework`` events are counted,
    ``extension`` events add their *hours* column. Any other column is a case attribute
    (first non-empty value per case). Headers and *columns*, *sheet*, *header_row*,
    *encoding* as in :func:`read_log` (环节 → stage, 操作时间 → time).

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
    raw = _read_table(source, wanted=(case, stage, time, hours, *LOG_COLUMNS), columns=columns, sheet=sheet,
                      header_row=header_row, encoding=encoding)
    for col in (case, stage, time):
        if col not in raw:
            raise InputError(f"event log lacks column {col!r} (set case=, stage=, time=)")
    ev = raw.copy()
    ev["_case"] = ev[case].astype("string").str.strip().replace("", pd.NA)
    ev["_stage"] = ev[stage].astype("string").str.strip()
    ev["_key"] = ev["_stage"].str.lower().where(~ev["_stage"].isin(EVENT_STAGES.keys()), ev["_stage"])
    ev["_t"], bad_t = parse_times(ev[time])
    found = Rejects(ev.index)
    found.add(ev["_case"].isna(), "missing_id", "missing case id", field=case)
    found.add(~ev["_key"].isin(EVENT_STAGES.keys()), "unknown_value", "unknown stage '" + ev["_stage"].fillna("") + "'",
              field=stage)
    found.add(bad_t | ev["_t"].isna(), "unparseable_time",
              "missing or unparseable time '" + ev[time].astype("string").fillna("") + "'", field=time)
    reason = pd.Series(found.ok, index=ev.index).map({True: pd.NA, False: "x"})
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
    if len(case_rejects):
        keyed = case_rejects.drop_duplicates("case_id").set_index(case_rejects.drop_duplicates("case_id")["case_id"]
                                                                   .astype("string"))
        dropped = (ev["_case"].isin(keyed.index) & pd.Series(found.ok, index=ev.index)).to_numpy()
        who = ev["_case"].where(dropped)
        key = who.map(keyed["reason_code"]).astype("string") + "|" + who.map(keyed["field"]).astype("string").fillna("")
        for pair in key[dropped].unique():
            code, field = str(pair).split("|", 1)
            found.add(dropped & key.eq(pair).fillna(False).to_numpy(dtype=bool), code,
                      "case rejected: " + who.map(keyed["reason"]).fillna(""), field=field or None)
    rejects = found.frame(ev.drop(columns=["_case", "_stage", "_key", "_t"]))
    return case_log, rejects.sort_index()


def with_live_cases(cases: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """The flat case table *cases* followed by one row per live case of the *events* log, for ``read_log``.

    What the nightly run reads as its ``cases`` input when the store holds a ``case_events``
    layer: the live cases go through the same reader, validation, assignment and indicators
    as the imported ones; a live case whose id repeats an imported one is a ``duplicate_id``
    reject (the imported row is kept). Event rows the event reader refuses (none, when
    written by :class:`CaseLog`) are logged by reason code.

    >>> flat = pd.DataFrame({"case_id": ["a"], "class_code": ["06012"], "kind": ["event"],
    ...                      "reported_at": ["2026-11-20 08:00"]})
    >>> events = pd.DataFrame({"case_id": ["K1", "K1"], "stage": ["reported", "filed"],
    ...                        "time": ["2026-11-20T09:00:00", "2026-11-20T09:03:00"],
    ...                        "class_code": ["06012", None], "kind": ["event", None]})
    >>> read_log(with_live_cases(flat, events))[0][["case_id", "status"]].values.tolist()
    [['K1', 'filed'], ['a', 'reported']]
    """
    live, rejects = read_event_log(events)
    if len(rejects):
        log.warning("case_events: %d event rows refused %s", len(rejects), counts(rejects))
    live = live.drop(columns=["status"], errors="ignore")   # read_log derives it from the time stamps
    return pd.concat([cases, live], ignore_index=True)
