"""The case-log model's vocabulary: columns, stages, statuses, sources (shared by reader and validation).

>>> STAGE_COLUMNS[0], STAGE_COLUMNS[-1]
('reported_at', 'closed_at')
"""

from __future__ import annotations

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
#: Upper bound of a sane rework/return count (a larger count is a typo or planted value).
MAX_COUNT = 1000
#: Upper bound of sane extension hours (ten years).
MAX_EXTENSION_HOURS = 24 * 3650
