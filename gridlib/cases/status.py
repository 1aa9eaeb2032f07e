"""Open cases at a moment: current stage, share of its time limit used, and the traffic light.

The light follows the implementation in STANDARDS.md §4.2: under 80 % of the stage's limit
used = ``green``, 80–100 % = ``yellow``, over 100 % (overdue) = ``red``. Time used is counted
in the unit of the stage's limit (working time for work-hour / work-day limits).

Stage a case waits in at *at* (only time stamps up to *at* count):

=========== ==================================================== =================
stage        when                                                 clock starts at
=========== ==================================================== =================
verify       public report (12345/12319/media), not yet verified   reported_at
file         not yet filed                                         reported_at
dispatch     filed, not dispatched                                 filed_at
dispose      dispatched, not disposed                              dispatched_at
check        disposed, not checked                                 feedback_at / disposed_at
close        checked, not closed                                   filed_at (closure limit)
=========== ==================================================== =================

Parked (挂账) cases are listed with ``parked=True``; their light is computed all the same.

>>> import pandas as pd
>>> log = pd.DataFrame({"case_id": ["a", "b"], "class_code": ["06012"] * 2, "urgency": ["normal"] * 2,
...     "reported_at": pd.to_datetime(["2026-11-20 09:00", "2026-11-20 09:00"]),
...     "filed_at": pd.to_datetime(["2026-11-20 09:02", "2026-11-20 09:03"]),
...     "dispatched_at": pd.to_datetime(["2026-11-20 09:03", "2026-11-20 09:04"]),
...     "closed_at": pd.to_datetime([None, None])})
>>> oc = open_cases(log, at="2026-11-20 15:00")
>>> oc[["case_id", "stage", "light"]].values.tolist()  # 4.5 of 7.5 working hours used
[['a', 'dispose', 'green'], ['b', 'dispose', 'green']]
>>> open_cases(log, at="2026-11-23 09:00")["light"].tolist()  # Monday morning: 7.5 h used minus 3 min
['yellow', 'yellow']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridlib.cases.calendar import WorkCalendar
from gridlib.cases.limits import (
    STAGES,
    deadlines,
    limit_keys,
    load_limits,
    resolve_limits,
    stage_start,
)
from gridlib.cases.model import PUBLIC_SOURCES
from gridlib.errors import InputError
from gridlib.types import ArrayLike, TableSource, TimeLike

LIGHTS = ("green", "yellow", "red")
_PASSTHROUGH = ("class_code", "kind", "source", "urgency", "street_code", "community_code", "grid_code",
                "responsible_unit", "lon", "lat")


def light(used_share: ArrayLike) -> np.ndarray:
    """Traffic light for shares of a limit used: green < 0.8 ≤ yellow ≤ 1.0 < red.

    >>> light([0.5, 0.8, 1.0, 1.01]).tolist()
    ['green', 'yellow', 'yellow', 'red']
    """
    u = np.asarray(used_share, dtype=float)
    return np.select([u > 1.0, u >= 0.8], ["red", "yellow"], "green").astype(object)


def open_cases(
    log: pd.DataFrame, *, at: TimeLike | None = None, limits: TableSource | None = None, calendar: WorkCalendar | None = None,
) -> pd.DataFrame:
    """Every case open at *at*, with its stage, deadline, share of the limit used and light.

    Parameters
    ----------
    log
        Case log (:func:`gridlib.cases.read_log`).
    at
        The moment (naive China time); default now in China.
    limits, calendar
        As for :func:`gridlib.cases.deadlines`.

    Returns
    -------
    DataFrame
        ``case_id``, the log's class/location/assignment columns, ``parked``, ``stage``,
        ``stage_zh``, ``stage_started_at``, ``deadline``, ``limit_unit``, ``used_share``,
        ``light`` and ``overdue_hours`` (calendar hours past the deadline, 0 if not overdue);
        sorted by ``used_share``, most urgent first. Cases whose stage has no limit get
        NaN shares and are sorted last.

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"case_id": ["a", "b"], "class_code": ["06012"] * 2, "urgency": ["normal"] * 2,
    ...     "reported_at": pd.to_datetime(["2026-11-20 09:00", "2026-11-20 09:00"]),
    ...     "filed_at": pd.to_datetime(["2026-11-20 09:02", "2026-11-20 09:03"]),
    ...     "dispatched_at": pd.to_datetime(["2026-11-20 09:03", None])})
    >>> oc = open_cases(log, at="2026-11-20 15:00")   # b has waited hours for dispatch
    >>> oc[["case_id", "stage", "deadline", "light"]].astype(str).values.tolist()
    [['b', 'dispatch', '2026-11-20 09:04:00', 'red'], ['a', 'dispose', '2026-11-23 09:03:00', 'green']]
    """
    at_ts = pd.Timestamp.now(tz="Asia/Shanghai").tz_localize(None) if at is None else pd.Timestamp(at)
    if at_ts.tzinfo is not None:
        raise InputError("at must be naive China time")

    def seen(col: str) -> pd.Series:
        if col not in log:
            return pd.Series(False, index=log.index)
        return (log[col] <= at_ts).fillna(False)

    ended = seen("closed_at") | seen("cancelled_at") | seen("not_filed_at")
    is_open = seen("reported_at") & ~ended
    view = log[is_open.to_numpy()]
    src = view["source"].astype("string") if "source" in view else pd.Series(pd.NA, index=view.index, dtype="string")
    v = {c: (view[c] <= at_ts).fillna(False).to_numpy() if c in view else np.zeros(len(view), bool)
         for c in ("verified_at", "filed_at", "dispatched_at", "disposed_at", "checked_at")}
    stage = np.select(
        [~v["filed_at"] & src.isin(PUBLIC_SOURCES).to_numpy() & ~v["verified_at"], ~v["filed_at"], ~v["dispatched_at"],
         ~v["disposed_at"], ~v["checked_at"]],
        ["verify", "file", "dispatch", "dispose", "check"], "close",
    ).astype(object)
    table = load_limits(limits)
    cal = calendar if calendar is not None else WorkCalendar.china()
    # "check" starts at feedback only when feedback has happened by `at`
    masked = view.copy()
    if "feedback_at" in masked:
        masked["feedback_at"] = masked["feedback_at"].where(masked["feedback_at"] <= at_ts)
    dl = deadlines(masked, table, cal)
    start = pd.Series(pd.NaT, index=view.index, dtype="datetime64[ns]")
    deadline = start.copy()
    unit = np.full(len(view), "", dtype=object)
    keys = limit_keys(view)
    for name in STAGES:
        sel = stage == name
        if not sel.any():
            continue
        start[sel] = stage_start(masked, name)[sel]
        deadline[sel] = dl[f"{name}_deadline"][sel]
        unit[sel] = resolve_limits(view, table, name, keys)[1][sel]
    used = np.full(len(view), np.nan)
    for u in pd.unique(unit[unit != ""]):
        sel = unit == u
        spent = cal.elapsed(start[sel].to_numpy(), np.full(int(sel.sum()), at_ts.to_datetime64()), u)
        allowed = cal.elapsed(start[sel].to_numpy(), deadline[sel].to_numpy(), u)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(allowed > 0, spent / np.where(allowed > 0, allowed, 1.0), np.where(spent > 0, np.inf, 0.0))
        used[sel] = share
    out = pd.DataFrame({"case_id": view["case_id"].to_numpy() if "case_id" in view else view.index.to_numpy()})
    for c in _PASSTHROUGH:
        if c in view:
            out[c] = view[c].to_numpy()
    out["parked"] = view["parked"].fillna(False).to_numpy(dtype=bool) if "parked" in view else False
    out["stage"] = stage
    out["stage_zh"] = pd.Series(stage).map({k: v[3] for k, v in STAGES.items()}).to_numpy()
    out["stage_started_at"] = start.to_numpy()
    out["deadline"] = deadline.to_numpy()
    out["limit_unit"] = unit
    out["used_share"] = used
    out["light"] = np.where(np.isnan(used), None, light(used))
    over = (at_ts - deadline).dt.total_seconds().to_numpy() / 3600.0
    out["overdue_hours"] = np.where(over > 0, over, 0.0)
    out = out.sort_values(["used_share", "case_id"], ascending=[False, True], na_position="last", kind="stable")
    return out.reset_index(drop=True)


def overdue(log: pd.DataFrame, *, at: TimeLike | None = None, limits: TableSource | None = None, calendar: WorkCalendar | None = None,
            include_yellow: bool = False) -> pd.DataFrame:
    """The red (overdue) open cases at *at* — and the yellow ones with ``include_yellow``.

    >>> log = pd.DataFrame({"case_id": ["a"], "class_code": ["06012"], "reported_at": pd.to_datetime(["2026-11-20 09:00"])})
    >>> overdue(log, at="2026-11-20 09:06")[["case_id", "stage", "light"]].values.tolist()
    [['a', 'file', 'red']]
    """
    oc = open_cases(log, at=at, limits=limits, calendar=calendar)
    keep = ["red", "yellow"] if include_yellow else ["red"]
    return oc[oc["light"].isin(keep)].reset_index(drop=True)
