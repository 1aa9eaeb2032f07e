"""A hand-made case log whose every indicator was computed by hand (see test_cases_indicators.py).

Calendar: bundled China calendar, 08:30-12:00 / 13:30-17:30; November 2026 has no holidays.
Limits: bundled defaults (file 5 min, dispatch 1 min, verify/check 1 h, dispose 1 work day
(urgent 2 h), close 2 work days (urgent 4 h)).
"""

import pandas as pd

from gridlib.cases import read_log

AT = "2026-11-30 23:59"

ROWS = [
    # c1: everything on time
    dict(case_id="c1", source="supervisor", street_code="S1", reported_at="2026-11-02 09:00", filed_at="2026-11-02 09:04",
         dispatched_at="2026-11-02 09:05", disposed_at="2026-11-02 15:00", feedback_at="2026-11-02 15:10",
         checked_at="2026-11-02 15:40", closed_at="2026-11-02 16:00"),
    # c2: public report, verified; late at every step; reworked once, returned once
    dict(case_id="c2", source="hotline_12345", street_code="S1", reported_at="2026-11-03 09:00",
         verified_at="2026-11-03 09:30", filed_at="2026-11-03 09:40", dispatched_at="2026-11-03 09:45",
         disposed_at="2026-11-05 10:00", checked_at="2026-11-05 12:00", closed_at="2026-11-05 13:00",
         rework_count="1", return_count="1"),
    # c3: dispatched, never disposed: overdue for disposal and closure
    dict(case_id="c3", source="supervisor", street_code="S1", reported_at="2026-11-10 09:00", filed_at="2026-11-10 09:02",
         dispatched_at="2026-11-10 09:03"),
    # c4: dispatched on the last day: nothing due yet
    dict(case_id="c4", source="supervisor", street_code="S2", reported_at="2026-11-30 10:00", filed_at="2026-11-30 10:01",
         dispatched_at="2026-11-30 10:02"),
    # c5: not filed (不立案)
    dict(case_id="c5", source="supervisor", street_code="S2", reported_at="2026-11-05 09:00", not_filed_at="2026-11-05 09:10"),
    # c6: camera report, filed then cancelled (作废)
    dict(case_id="c6", source="camera", street_code="S2", reported_at="2026-11-06 09:00", filed_at="2026-11-06 09:03",
         cancelled_at="2026-11-06 10:00"),
    # c7: parked (挂账)
    dict(case_id="c7", source="supervisor", street_code="S2", reported_at="2026-11-09 09:00", filed_at="2026-11-09 09:03",
         dispatched_at="2026-11-09 09:04", parked="true"),
    # c8: reported in October, filed late in November
    dict(case_id="c8", source="supervisor", street_code="S2", reported_at="2026-10-31 09:00", filed_at="2026-11-02 09:00",
         dispatched_at="2026-11-02 09:01", disposed_at="2026-11-02 10:00", checked_at="2026-11-02 10:30",
         closed_at="2026-11-02 11:00"),
    # c9: urgent; disposed 57 min after its 2 h limit but within a 2 h extension (延期); no street code
    dict(case_id="c9", source="supervisor", urgency="urgent", reported_at="2026-11-12 09:00", filed_at="2026-11-12 09:02",
         dispatched_at="2026-11-12 09:03", disposed_at="2026-11-12 12:00", checked_at="2026-11-12 12:30",
         closed_at="2026-11-12 12:40", extension_hours="2"),
]


def hand_raw() -> pd.DataFrame:
    raw = pd.DataFrame(ROWS)
    raw["class_code"] = "06012"
    raw["kind"] = "event"
    return raw


def hand_log() -> pd.DataFrame:
    log, rejects = read_log(hand_raw())
    assert rejects.empty, rejects
    return log


def flat_to_events(flat: pd.DataFrame) -> pd.DataFrame:
    """Expand the hand-made flat log into an event log as a workflow system would export it."""
    names = {"reported_at": "上报", "verified_at": "核实", "filed_at": "立案", "dispatched_at": "派遣",
             "disposed_at": "处置", "feedback_at": "反馈", "checked_at": "核查", "closed_at": "结案",
             "cancelled_at": "作废", "not_filed_at": "不立案"}
    events = []
    for col, stage in names.items():
        part = flat[["case_id", col]].dropna().rename(columns={col: "time"})
        part["stage"] = stage
        events.append(part)
    ev = pd.concat(events, ignore_index=True)
    attrs = flat[["case_id", "class_code", "kind", "source", "urgency", "street_code"]]
    ev = ev.merge(attrs, on="case_id")
    extra = [{"case_id": "c2", "stage": "返工", "time": "2026-11-05 11:00"},
             {"case_id": "c2", "stage": "disposed", "time": "2026-11-04 10:00"},  # first disposal, before the rework
             {"case_id": "c2", "stage": "回退", "time": "2026-11-03 09:44"},
             {"case_id": "c7", "stage": "挂账", "time": "2026-11-09 10:00"},
             {"case_id": "c9", "stage": "延期", "time": "2026-11-12 10:00", "hours": 2}]
    return pd.concat([ev, pd.DataFrame(extra)], ignore_index=True)
