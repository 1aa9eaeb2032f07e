"""Case workflow and indicators: the case log, time limits on a work calendar, the standard rates.

>>> import gridlib as gl
>>> round(gl.cases.closure_rate(23974, 24932) * 100, 2)   # 连云港 2017-04, published 96.16 %
96.16

Modules: :mod:`~gridlib.cases.log` (model and readers), :mod:`~gridlib.cases.validate`,
:mod:`~gridlib.cases.calendar` (work calendar), :mod:`~gridlib.cases.limits` (limits, deadlines),
:mod:`~gridlib.cases.indicators`, :mod:`~gridlib.cases.fifteen` (Minghu 15 minutes),
:mod:`~gridlib.cases.status` (open cases, traffic light), :mod:`~gridlib.cases.scores`.
"""

from gridlib.cases.calendar import WorkCalendar
from gridlib.cases.fifteen import MINGHU_STEPS, fifteen_minute
from gridlib.cases.indicators import (
    LABELS_ZH,
    RATES,
    accurate_dispatch_rate,
    accurate_filing_rate,
    add_rates,
    case_flags,
    closed_ontime_share,
    closure_rate,
    disposal_rate,
    indicators,
    missed_report_rate,
    ontime_check_rate,
    ontime_closure_rate,
    ontime_dispatch_rate,
    ontime_disposal_rate,
    ontime_filing_rate,
    ontime_verification_rate,
    public_report_rate,
    ratio,
    rework_rate,
    valid_report_rate,
)
from gridlib.cases.limits import STAGES, deadlines, load_limits
from gridlib.cases.log import derive_status, read_event_log, read_log
from gridlib.cases.scores import band_points, grade, scores
from gridlib.cases.status import light, open_cases, overdue
from gridlib.cases.validate import validate

__all__ = [
    "LABELS_ZH", "MINGHU_STEPS", "RATES", "STAGES", "WorkCalendar", "accurate_dispatch_rate",
    "accurate_filing_rate", "add_rates", "band_points", "case_flags", "closed_ontime_share", "closure_rate",
    "deadlines", "derive_status", "disposal_rate", "fifteen_minute", "grade", "indicators", "light",
    "load_limits", "missed_report_rate", "ontime_check_rate", "ontime_closure_rate", "ontime_disposal_rate",
    "ontime_dispatch_rate", "ontime_filing_rate", "ontime_verification_rate", "open_cases", "overdue",
    "public_report_rate", "ratio", "read_event_log", "read_log", "rework_rate", "scores", "valid_report_rate",
    "validate",
]
