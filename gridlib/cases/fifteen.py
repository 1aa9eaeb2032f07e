"""Minghu's "15 minutes" (明湖 15 分钟): file within 5, dispatch within 1, arrive within 10, video within 3.

Per case, the minutes of each step and whether it met its limit; per group, the compliance
and the distribution (median, 90th percentile) of each step and of the whole chain — so a
district sees *which* step fails. Minutes are calendar minutes (the standard is about
real time on the street, not office hours).

>>> import pandas as pd
>>> log = pd.DataFrame({"case_id": ["a", "b"], "reported_at": pd.to_datetime(["2026-10-08 09:00", "2026-10-08 09:00"]),
...     "filed_at": pd.to_datetime(["2026-10-08 09:04", "2026-10-08 09:07"]),
...     "dispatched_at": pd.to_datetime(["2026-10-08 09:05", "2026-10-08 09:08"]),
...     "arrived_at": pd.to_datetime(["2026-10-08 09:12", "2026-10-08 09:20"]),
...     "video_at": pd.to_datetime(["2026-10-08 09:14", "2026-10-08 09:22"])})
>>> per_case, summary = fifteen_minute(log)
>>> per_case["chain_ok"].tolist()
[True, False]
>>> summary[["step", "n", "compliant", "compliance_rate"]].values.tolist()[0]
['file', 2, 1, 0.5]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from gridlib.errors import InputError

#: (step, start column, end column, limit in minutes, Chinese name)
MINGHU_STEPS: tuple[tuple[str, str, str, float, str], ...] = (
    ("file", "verified_at|reported_at", "filed_at", 5.0, "立案"),
    ("dispatch", "filed_at", "dispatched_at", 1.0, "派遣"),
    ("arrive", "dispatched_at", "arrived_at", 10.0, "到场"),
    ("video", "arrived_at", "video_at", 3.0, "视频回传"),
)


def fifteen_minute(
    log: pd.DataFrame, *, by: str | Sequence[str] | None = None,
    steps: Sequence[tuple[str, str, str, float, str]] = MINGHU_STEPS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Compliance with the Minghu 15-minute standard, per case and summarised.

    Parameters
    ----------
    log
        Case log with the stage time stamps (``reported_at``, ``filed_at``, ``dispatched_at``,
        ``arrived_at``, ``video_at``).
    by
        Optional grouping column(s) for the summary (e.g. ``responsible_unit``).
    steps
        (step, start column, end column, limit minutes, 中文) tuples; default :data:`MINGHU_STEPS`.
        A start written ``"a|b"`` uses column ``a`` and falls back to ``b`` where ``a`` is
        missing: filing is timed from verification for public reports, from the report otherwise.

    Returns
    -------
    (per_case, summary)
        ``per_case``: ``case_id``, *by*, ``<step>_min`` and ``<step>_ok`` (NA where the step
        was not reached), ``chain_min`` (first start → last end) and ``chain_ok`` (every step
        met; NA unless all steps were reached). For a public report the chain starts at its
        verification. ``summary``: one row per group and step
        (steps plus ``chain``) with ``n`` (cases that reached it), ``compliant``,
        ``compliance_rate``, ``median_min``, ``p90_min`` and ``limit_min``.

    Examples
    --------
    >>> import pandas as pd
    >>> t = lambda *s: pd.to_datetime(list(s))
    >>> log = pd.DataFrame({"case_id": ["a", "b"],
    ...     "reported_at": t("2026-11-20 09:00", "2026-11-20 10:00"),
    ...     "filed_at": t("2026-11-20 09:03", "2026-11-20 10:08"),
    ...     "dispatched_at": t("2026-11-20 09:04", "2026-11-20 10:09"),
    ...     "arrived_at": t("2026-11-20 09:12", "2026-11-20 10:15"),
    ...     "video_at": t("2026-11-20 09:14", None)})
    >>> per_case, summary = fifteen_minute(log)   # b was filed 3 minutes late, no video yet
    >>> per_case[["case_id", "file_min", "file_ok", "chain_ok"]].values.tolist()
    [['a', 3.0, True, True], ['b', 8.0, False, <NA>]]
    >>> summary.set_index("step").loc[["file", "arrive"], ["n", "compliance_rate", "limit_min"]].values.tolist()
    [[2.0, 0.5, 5.0], [2.0, 1.0, 10.0]]
    """
    keys = [by] if isinstance(by, str) else list(by or [])
    needed = {s[2] for s in steps} | {s[1] for s in steps if not any(c in log for c in s[1].split("|"))}
    missing = sorted(c for c in needed | set(keys) if c not in log)
    if missing:
        raise InputError(f"fifteen_minute needs column(s) {missing}")
    out = pd.DataFrame(index=log.index)
    if "case_id" in log:
        out["case_id"] = log["case_id"]
    for k in keys:
        out[k] = log[k]
    def begin(spec: str) -> pd.Series:
        cols = [c for c in spec.split("|") if c in log]
        out = log[cols[0]]
        for c in cols[1:]:
            out = out.fillna(log[c])
        return out

    oks = []
    for name, start, end, limit, _zh in steps:
        minutes = (log[end] - begin(start)).dt.total_seconds() / 60.0
        out[f"{name}_min"] = minutes
        ok = (minutes <= limit).astype("boolean").mask(minutes.isna())
        out[f"{name}_ok"] = ok
        oks.append(ok)
    chain = (log[steps[-1][2]] - begin(steps[0][1])).dt.total_seconds() / 60.0
    out["chain_min"] = chain
    every = pd.concat(oks, axis=1)
    out["chain_ok"] = every.all(axis=1).astype("boolean").mask(every.isna().any(axis=1))

    limits = {s[0]: s[3] for s in steps} | {"chain": float(sum(s[3] for s in steps))}
    long = []
    for name in [s[0] for s in steps] + ["chain"]:
        part = out[keys].copy()
        part["step"] = name
        part["minutes"] = out[f"{name}_min"].to_numpy()
        part["ok"] = out[f"{name}_ok"].astype("float").to_numpy()
        long.append(part[part["minutes"].notna().to_numpy()])
    data = pd.concat(long, ignore_index=True)
    group = keys + ["step"]
    g = data.groupby(group, dropna=False, sort=False)
    summary = pd.DataFrame({
        "n": g["minutes"].size(), "compliant": g["ok"].sum().astype("int64"),
        "median_min": g["minutes"].median(), "p90_min": g["minutes"].quantile(0.9),
    }).reset_index()
    summary["compliance_rate"] = np.where(summary["n"] > 0, summary["compliant"] / summary["n"].clip(lower=1), np.nan)
    summary["limit_min"] = summary["step"].map(limits)
    order = {name: i for i, name in enumerate(limits)}
    summary = summary.sort_values(keys + ["step"], key=lambda s: s.map(order) if s.name == "step" else s,
                                  kind="stable").reset_index(drop=True)
    cols = group + ["n", "compliant", "compliance_rate", "median_min", "p90_min", "limit_min"]
    return out.reset_index(drop=True), summary[cols]
