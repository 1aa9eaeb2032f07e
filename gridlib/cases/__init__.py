"""Case workflow and indicators: the case log, time limits on a work calendar, the standard rates.

>>> import gridlib as gl
>>> round(gl.cases.rate("closure_rate", {"closed": 23974, "due_closure": 24932}) * 100, 2)  # 连云港 2017-04
96.16

Modules: :mod:`~gridlib.cases.log` (model and readers), :mod:`~gridlib.cases.validate`,
:mod:`~gridlib.cases.calendar` (work calendar), :mod:`~gridlib.cases.limits` (limits, deadlines),
:mod:`~gridlib.cases.indicators`, :mod:`~gridlib.cases.fifteen` (Minghu 15 minutes),
:mod:`~gridlib.cases.status` (open cases, traffic light), :mod:`~gridlib.cases.scores`.
"""

from typing import Any

from gridlib.cases.calendar import WorkCalendar
from gridlib.cases.fifteen import MINGHU_STEPS, fifteen_minute
from gridlib.cases.indicators import (
    DEPRECATED_RATE_FUNCTIONS,
    LABELS_ZH,
    RATES,
    Rate,
    add_rates,
    case_flags,
    indicators,
    rate,
    ratio,
)
from gridlib.cases.limits import STAGES, deadlines, load_limits
from gridlib.cases.log import derive_status, read_event_log, read_log
from gridlib.cases.scores import band_points, grade, scores
from gridlib.cases.status import light, open_cases, overdue
from gridlib.cases.validate import (  # validate: deprecated alias, not in __all__
    validate,  # noqa: F401
    validate_log,
)

__all__ = [
    "LABELS_ZH", "MINGHU_STEPS", "RATES", "STAGES", "Rate", "WorkCalendar", "add_rates", "band_points",
    "case_flags", "deadlines", "derive_status", "fifteen_minute", "grade", "indicators", "light", "load_limits",
    "open_cases", "overdue", "rate", "ratio", "read_event_log", "read_log", "scores", "validate_log",
]


def __getattr__(name: str) -> Any:
    # gl.cases.closure_rate(...) and the other per-rate functions of 0.x: deprecated aliases of rate()
    if name in DEPRECATED_RATE_FUNCTIONS:
        return DEPRECATED_RATE_FUNCTIONS[name]
    raise AttributeError(f"module 'gridlib.cases' has no attribute {name!r}")
