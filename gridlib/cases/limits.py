"""Time limits as data, and deadlines on a work calendar.

A limits table has one row per (``stage``, ``class_code``, ``urgency``) with ``value`` and
``unit`` (minute | hour | day | work_hour | work_day) and a ``basis`` saying where the figure
comes from. ``class_code`` may be an exact code, a big-class prefix (``06`` matches every
``06xxx``/``06xx``) or ``*``; ``urgency`` is ``normal``, ``urgent`` or ``*``. The most specific
row wins: exact class before prefix before ``*``, then exact urgency before ``*``.

Stages (start → end column of the case log; a start in brackets is used when the first is
missing — public reports are filed after their verification, supervisors' reports directly):

======== ========================== ====================== ========
stage     from                       to                     中文
======== ========================== ====================== ========
verify    reported_at                verified_at            核实
file      verified_at (reported_at)  filed_at               立案
dispatch  filed_at                   dispatched_at          派遣
arrive    dispatched_at              arrived_at             到场
video     arrived_at                 video_at               视频回传
dispose   dispatched_at              disposed_at            处置
check     feedback_at (disposed_at)  checked_at             核查
close     filed_at                   closed_at              结案
======== ========================== ====================== ========

The bundled default (``data/limits_default.csv``) holds the Minghu 15-minute standard for
file/dispatch/arrive/video, the Taiyuan rules for verify/check, and **illustrative** disposal
and closure limits (CJ/T 315's per-class values were not obtained; STANDARDS.md §4.2).
Granted extensions (``extension_hours``, 延期) move the dispose and close deadlines, counted
in working hours when the limit is in working units and in calendar hours otherwise.

>>> import pandas as pd
>>> from gridlib.cases.log import read_log
>>> log, _ = read_log(pd.DataFrame({"case_id": ["a"], "class_code": ["06012"], "kind": ["event"],
...     "reported_at": ["2026-10-09 16:00"], "filed_at": ["2026-10-09 16:02"], "dispatched_at": ["2026-10-09 16:03"]}))
>>> d = deadlines(log)
>>> str(d["file_deadline"].iloc[0]), str(d["dispose_deadline"].iloc[0])  # Saturday 10 Oct 2026 is a working day
('2026-10-09 16:05:00', '2026-10-10 16:03:00')
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd

from gridlib.cases.calendar import WorkCalendar, normalise_unit
from gridlib.errors import InputError

DEFAULT_LIMITS = Path(__file__).parent / "data" / "limits_default.csv"
#: stage → (start column, fallback start column, end column, Chinese name)
STAGES: dict[str, tuple[str, str | None, str, str]] = {
    "verify": ("reported_at", None, "verified_at", "核实"),
    "file": ("verified_at", "reported_at", "filed_at", "立案"),
    "dispatch": ("filed_at", None, "dispatched_at", "派遣"),
    "arrive": ("dispatched_at", None, "arrived_at", "到场"),
    "video": ("arrived_at", None, "video_at", "视频回传"),
    "dispose": ("dispatched_at", None, "disposed_at", "处置"),
    "check": ("feedback_at", "disposed_at", "checked_at", "核查"),
    "close": ("filed_at", None, "closed_at", "结案"),
}
EXTENDED_STAGES = ("dispose", "close")


def load_limits(source: str | Path | pd.DataFrame | None = None) -> pd.DataFrame:
    """Read and check a limits table (CSV path or DataFrame); ``None`` gives the bundled default.

    >>> lim = load_limits()
    >>> lim.loc[lim["stage"] == "dispatch", ["value", "unit"]].values.tolist()
    [[1.0, 'minute']]
    """
    if source is None:
        return _default_limits().copy()
    table = source.copy() if isinstance(source, pd.DataFrame) else pd.read_csv(source, dtype=str, comment="#")
    missing = {"stage", "value", "unit"} - set(table.columns)
    if missing:
        raise InputError(f"limits table lacks column(s) {sorted(missing)} (stage, class_code, urgency, value, unit)")
    table = table.copy()
    for col in ("class_code", "urgency"):
        table[col] = table[col].astype("string").str.strip().fillna("*").replace("", "*") if col in table else "*"
    table["stage"] = table["stage"].astype("string").str.strip().str.lower()
    for i, row in enumerate(table.itertuples(index=False)):  # a limits table has tens of rows
        where = f"limits row {i + 2} ({row.stage}, {row.class_code}, {row.urgency})"
        if row.stage not in STAGES:
            raise InputError(f"{where}: unknown stage; use one of {', '.join(STAGES)}")
        try:
            normalise_unit(row.unit)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
    table["unit"] = [normalise_unit(u) for u in table["unit"]]
    table["value"] = pd.to_numeric(table["value"], errors="coerce").astype(float)
    if table["value"].isna().any() or (table["value"] < 0).any():
        i = int(np.flatnonzero((table["value"].isna() | (table["value"] < 0)).to_numpy())[0])
        raise InputError(f"limits row {i + 2}: value must be a non-negative number")
    dup = table.duplicated(["stage", "class_code", "urgency"], keep=False)
    if dup.any():
        r = table[dup].iloc[0]
        raise InputError(f"limits table has more than one row for ({r['stage']}, {r['class_code']}, {r['urgency']})")
    if "basis" not in table:
        table["basis"] = ""
    return table.reset_index(drop=True)


def limit_keys(log: pd.DataFrame) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Factorize (class_code, urgency) pairs: per-case code and the distinct pairs."""
    n = len(log)
    cls = log["class_code"].astype("string").fillna("") if "class_code" in log else pd.Series([""] * n, dtype="string")
    urg = log["urgency"].astype("string").fillna("normal") if "urgency" in log else pd.Series(["normal"] * n, dtype="string")
    c_codes, c_uniques = pd.factorize(cls)
    u_codes, u_uniques = pd.factorize(urg)
    codes, pair_ids = pd.factorize(c_codes.astype(np.int64) * max(len(u_uniques), 1) + u_codes)
    pairs = [(str(c_uniques[p // max(len(u_uniques), 1)]), str(u_uniques[p % max(len(u_uniques), 1)])) for p in pair_ids]
    return codes, pairs


@functools.lru_cache(maxsize=1)
def _default_limits() -> pd.DataFrame:
    return load_limits(DEFAULT_LIMITS)


def stage_rows(limits: pd.DataFrame, stage: str) -> dict[tuple[str, str], tuple[float, str]]:
    """The rows of one *stage* of a limits table: ``{(class_code, urgency): (value, unit)}``.

    >>> stage_rows(load_limits(), "dispatch")
    {('*', '*'): (1.0, 'minute')}
    """
    rows = limits[limits["stage"] == stage]
    return {(r.class_code, r.urgency): (float(r.value), r.unit) for r in rows.itertuples(index=False)}


def match_limit(rows: dict[tuple[str, str], tuple[float, str]], class_code: str, urgency: str
                ) -> tuple[float, str] | None:
    """The (value, unit) of the most specific of a stage's *rows* (:func:`stage_rows`) for a class and urgency.

    Exact class before big-class prefix before ``*``, then exact urgency before ``*``; None if no row matches.

    >>> match_limit(stage_rows(load_limits(), "dispose"), "06012", "urgent")
    (2.0, 'hour')
    """
    for key in ((class_code, urgency), (class_code, "*"), (class_code[:2], urgency), (class_code[:2], "*"),
                ("*", urgency), ("*", "*")):
        if key in rows:
            return rows[key]
    return None


def _resolve_pairs(limits: pd.DataFrame, stage: str, pairs: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """(value, unit) per distinct (class, urgency) pair, plus a last slot for 'no pair'."""
    table = stage_rows(limits, stage)
    value_u = np.full(len(pairs) + 1, np.nan)
    unit_u = np.full(len(pairs) + 1, "", dtype=object)
    for i, (cls, urg) in enumerate(pairs):  # distinct pairs: bounded by the class catalogue
        hit = match_limit(table, cls, urg)
        if hit is not None:
            value_u[i], unit_u[i] = hit
    return value_u, unit_u


def resolve_limits(
    log: pd.DataFrame, limits: pd.DataFrame, stage: str, keys: tuple[np.ndarray, list] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per case, the (value, unit) of *stage* from the most specific matching row (NaN/'' if none).

    The match is made once per distinct (class, urgency) pair, then spread to the cases.
    """
    codes, pairs = keys if keys is not None else limit_keys(log)
    value_u, unit_u = _resolve_pairs(limits, stage, pairs)
    return value_u[codes], unit_u[codes]


def stage_start(log: pd.DataFrame, stage: str) -> pd.Series:
    """The time the clock of *stage* starts for each case."""
    start, fallback, _end, _zh = STAGES[stage]
    s = log[start] if start in log else pd.Series(pd.NaT, index=log.index, dtype="datetime64[ns]")
    if fallback is not None and fallback in log:
        s = s.fillna(log[fallback])
    return s


def deadlines(
    log: pd.DataFrame, limits: pd.DataFrame | str | Path | None = None, calendar: WorkCalendar | None = None,
    stages: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """Deadline of each stage for each case: ``<stage>_deadline`` columns, same index as *log*.

    A deadline is missing (NaT) when the stage's clock has not started or no limit applies.
    Work-unit limits run on *calendar* (the bundled China calendar by default); one
    vectorised :meth:`WorkCalendar.add` call per unit present.

    >>> import pandas as pd
    >>> log = pd.DataFrame({"class_code": ["06012"], "urgency": ["normal"], "extension_hours": [3.0],
    ...                     "filed_at": pd.to_datetime(["2026-11-20 09:00"]), "dispatched_at": pd.to_datetime(["2026-11-20 10:00"])})
    >>> str(deadlines(log, stages=("dispose",))["dispose_deadline"].iloc[0])  # 1 work day + 3 work hours: Fri → Mon, lunch skipped
    '2026-11-23 14:30:00'
    """
    table = load_limits(limits) if not isinstance(limits, pd.DataFrame) or "basis" not in limits else limits
    cal = calendar if calendar is not None else WorkCalendar.china()
    out = pd.DataFrame(index=log.index)
    ext_h = log["extension_hours"].to_numpy(dtype=float) if "extension_hours" in log else np.zeros(len(log))
    codes, pairs = limit_keys(log)
    for stage in stages or tuple(STAGES):
        value_u, unit_u = _resolve_pairs(table, stage, pairs)
        start = stage_start(log, stage).to_numpy(dtype="datetime64[ns]")
        result = np.full(len(log), np.datetime64("NaT"), dtype="datetime64[ns]")
        for u in sorted(set(unit_u) - {""}):  # a few units, each one vectorised call
            sel = (unit_u == u)[codes]
            every = bool(sel.all())
            amount = value_u[codes] if every else value_u[codes[sel]]
            if stage in EXTENDED_STAGES:
                per_unit = {"minute": 1 / 60, "hour": 1.0, "day": 24.0, "work_hour": 1.0,
                            "work_day": cal.seconds_per_day / 3600.0}[u]
                amount = amount + (ext_h if every else ext_h[sel]) / per_unit
            if every:
                result = cal.add(start, amount, u)
            else:
                result[sel] = cal.add(start[sel], amount, u)
        out[f"{stage}_deadline"] = result
    return out
