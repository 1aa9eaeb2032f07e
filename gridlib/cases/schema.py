"""The case log's model: its columns and vocabularies, and the first-reason collector its checks share.

:mod:`gridlib.cases.log` (readers) and :mod:`gridlib.cases.validate` (checks) both build on this
module, so neither imports the other's internals.

>>> STAGE_COLUMNS[0], STAGE_COLUMNS[-1], "hotline_12345" in PUBLIC_SOURCES
('reported_at', 'closed_at', True)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["REQUIRED", "STAGE_COLUMNS", "END_COLUMNS", "TIME_COLUMNS", "STATUSES", "SOURCES", "PUBLIC_SOURCES",
           "KINDS", "URGENCIES", "PERSONAL", "STRING_COLUMNS", "EVENT_STAGES", "Reasons", "as_mask"]

REQUIRED = ("case_id", "class_code", "kind", "reported_at")
#: Stage time stamps in the order of the closed loop (上报 → 核实 → 立案 → 派遣 → 到场 → 视频 → 处置 → 反馈 → 核查 → 结案).
STAGE_COLUMNS = (
    "reported_at", "verified_at", "filed_at", "dispatched_at", "arrived_at", "video_at",
    "disposed_at", "feedback_at", "checked_at", "closed_at",
)
END_COLUMNS = ("cancelled_at", "not_filed_at")
TIME_COLUMNS = STAGE_COLUMNS + END_COLUMNS
STATUSES = ("reported", "filed", "dispatched", "disposing", "checking", "closed", "cancelled", "not_filed")
SOURCES = ("supervisor", "hotline_12345", "hotline_12319", "camera", "leader", "media", "truck_monitoring")
#: Sources through which the public reports (监督举报): counted as 漏报 of the supervisors.
PUBLIC_SOURCES = ("hotline_12345", "hotline_12319", "media")
KINDS = ("component", "event")
URGENCIES = ("normal", "urgent")
PERSONAL = ("reporter_name", "reporter_phone")
STRING_COLUMNS = (
    "case_id", "class_code", "kind", "source", "urgency", "status", "component_id", "description",
    "street_code", "community_code", "grid_code", "responsible_unit",
)
#: Event-log stage names (English and Chinese) → flat-log column; first or last occurrence kept.
EVENT_STAGES: dict[str, tuple[str, str]] = {
    "reported": ("reported_at", "first"), "上报": ("reported_at", "first"),
    "verified": ("verified_at", "first"), "核实": ("verified_at", "first"),
    "filed": ("filed_at", "first"), "立案": ("filed_at", "first"),
    "dispatched": ("dispatched_at", "first"), "派遣": ("dispatched_at", "first"),
    "arrived": ("arrived_at", "first"), "到场": ("arrived_at", "first"),
    "video": ("video_at", "first"), "视频": ("video_at", "first"),
    "disposed": ("disposed_at", "last"), "处置": ("disposed_at", "last"),
    "feedback": ("feedback_at", "last"), "反馈": ("feedback_at", "last"),
    "checked": ("checked_at", "last"), "核查": ("checked_at", "last"),
    "closed": ("closed_at", "last"), "结案": ("closed_at", "last"),
    "cancelled": ("cancelled_at", "first"), "作废": ("cancelled_at", "first"),
    "not_filed": ("not_filed_at", "first"), "不立案": ("not_filed_at", "first"),
    "returned": ("return_count", "count"), "回退": ("return_count", "count"),
    "rework": ("rework_count", "count"), "返工": ("rework_count", "count"),
    "extension": ("extension_hours", "sum"), "延期": ("extension_hours", "sum"),
    "parked": ("parked", "any"), "挂账": ("parked", "any"),
}


def as_mask(mask: Any) -> np.ndarray:
    """A boolean numpy mask; missing values (pd.NA from comparisons with missing data) are False.

    >>> as_mask(pd.Series([True, pd.NA, False], dtype="boolean")).tolist()
    [True, False, False]
    """
    if isinstance(mask, pd.Series):
        return mask.fillna(False).to_numpy(dtype=bool)
    return np.asarray(mask, dtype=bool)


class Reasons:
    """The first reason per row; text is built only for the rows a rule hits (fast on clean logs).

    (To be replaced by :class:`gridlib.rejects.Rejects`, which adds machine-readable codes.)

    >>> r = Reasons(pd.RangeIndex(2))
    >>> r.add([True, True], "missing case_id")
    >>> r.add([False, True], "later rule")
    >>> r.series.tolist()
    ['missing case_id', 'missing case_id']
    """

    def __init__(self, index: pd.Index, start: pd.Series | None = None) -> None:
        self.series = start.copy() if start is not None else pd.Series(pd.NA, index=index, dtype="string")

    def add(self, mask: Any, prefix: str, values: pd.Series | None = None, suffix: str = "") -> None:
        """Give rows in *mask* without a reason yet ``prefix + value + suffix``."""
        m = as_mask(mask) & self.series.isna().to_numpy()
        if not m.any():
            return
        if values is None:
            self.series[m] = prefix
        else:
            self.series[m] = (prefix + values[m].astype("string").fillna("") + suffix).to_numpy()
