"""Case-log readers and validation: nothing dropped silently, every reject has a reason."""

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gridlib as gl
from gridlib.cases.schema import STAGE_COLUMNS
from gridlib.errors import InputError

from .case_fixtures import flat_to_events, hand_log, hand_raw


def base(**extra):
    row = {"case_id": "x", "class_code": "06012", "kind": "event", "reported_at": "2026-11-02 09:00",
           "filed_at": "2026-11-02 09:03", "dispatched_at": "2026-11-02 09:04", "disposed_at": "2026-11-02 11:00",
           "checked_at": "2026-11-02 11:30", "closed_at": "2026-11-02 12:00", "status": "closed"}
    row.update(extra)
    return row


def reason_of(**extra):
    log, rejects = gl.cases.read_log(pd.DataFrame([base(**extra)]))
    assert len(log) + len(rejects) == 1
    return rejects["reason"].iloc[0] if len(rejects) else None


def test_good_case_is_typed():
    log, rejects = gl.cases.read_log(pd.DataFrame([base(rework_count="2", parked="否", reporter_phone="13800000000")]))
    assert rejects.empty
    assert log["closed_at"].dtype == "datetime64[ns]" and log["rework_count"].iloc[0] == 2
    assert not log["parked"].iloc[0] and log["urgency"].iloc[0] == "normal"
    assert "reporter_phone" not in log  # personal data never enters the model


@pytest.mark.parametrize("extra, expected", [
    ({"disposed_at": "2026-11-02 09:01"}, "stage out of order: disposed_at (2026-11-02 09:01:00) is before dispatched_at"),
    ({"closed_at": "2026-11-02 11:10"}, "stage out of order: closed_at (2026-11-02 11:10:00) is before checked_at"),
    ({"disposed_at": None, "checked_at": None}, "closed without disposal"),
    ({"closed_at": "2029-01-01", }, "absurd duration: closed_at is"),
    ({"status": "finished"}, "unknown status 'finished'"),
    ({"status": "disposing"}, "closed_at is set but status is 'disposing'"),
    ({"status": "closed", "closed_at": None}, "status closed but closed_at is missing"),
    ({"filed_at": "yesterday"}, "unparseable filed_at 'yesterday'"),
    ({"reported_at": None}, "missing reported_at"),
    ({"rework_count": "-1"}, "rework_count must be a non-negative integer"),
    ({"extension_hours": "two"}, "extension_hours must be a non-negative number"),
    ({"urgency": "asap"}, "unknown urgency 'asap'"),
    ({"cancelled_at": "2026-11-02 13:00"}, "both cancelled_at and closed_at"),
])
def test_rejects_with_reasons(extra, expected):
    assert expected in (reason_of(**extra) or "")


def test_duplicates_keep_the_first_and_counts_conserve():
    raw = pd.DataFrame([base(), base(), base(case_id="y", status="bogus")])
    log, rejects = gl.cases.read_log(raw)
    assert log["case_id"].tolist() == ["x"]
    assert rejects["reason"].tolist() == ["duplicate case_id (first occurrence kept)", rejects["reason"].iloc[1]]
    assert len(log) + len(rejects) == len(raw)


def test_warnings_are_kept_rows():
    log, rejects = gl.cases.read_log(pd.DataFrame([base(source="wechat"), base(case_id="z", status="checking")]))
    assert rejects["case_id"].tolist() == ["z"]
    assert log.attrs["warnings"] == [{"case_id": "x", "warning": "unknown source 'wechat'"}]


def test_time_zone_offsets_become_china_time():
    log, _ = gl.cases.read_log(pd.DataFrame([base(reported_at="2026-11-02T01:00:00Z")]))
    assert log["reported_at"].iloc[0] == pd.Timestamp("2026-11-02 09:00")


def test_missing_required_column_is_an_error():
    with pytest.raises(InputError, match="class_code"):
        gl.cases.read_log(pd.DataFrame({"case_id": ["a"], "kind": ["event"], "reported_at": ["2026-11-02"]}))


def test_files_round_trip(tmp_path):
    raw = hand_raw()
    raw.to_csv(tmp_path / "cases.csv", index=False)
    log_csv, rej = gl.cases.read_log(tmp_path / "cases.csv")
    assert rej.empty and len(log_csv) == len(raw)
    pd.testing.assert_frame_equal(log_csv[list(STAGE_COLUMNS)], hand_log()[list(STAGE_COLUMNS)])


def test_event_log_gives_the_same_model():
    flat = hand_raw()
    events = flat_to_events(flat)
    log_ev, rejects = gl.cases.read_event_log(events)
    assert rejects.empty
    log_flat = hand_log()
    cols = list(STAGE_COLUMNS) + ["cancelled_at", "not_filed_at", "rework_count", "return_count", "extension_hours",
                                  "parked", "status", "case_id"]
    pd.testing.assert_frame_equal(log_ev[cols], log_flat[cols], check_dtype=False)
    k_ev = gl.cases.indicators(log_ev, period="2026-11", at="2026-11-30 23:59")
    k_flat = gl.cases.indicators(log_flat, period="2026-11", at="2026-11-30 23:59")
    pd.testing.assert_frame_equal(k_ev, k_flat)


def test_event_log_rejects_keep_every_row():
    events = flat_to_events(hand_raw())
    bad = pd.DataFrame([{"case_id": "c1", "stage": "teleported", "time": "2026-11-02 10:00"},
                        {"case_id": None, "stage": "立案", "time": "2026-11-02 10:00"},
                        {"case_id": "c3", "stage": "立案", "time": "later"},
                        {"case_id": "z", "stage": "上报", "time": "2026-11-02 10:00", "class_code": "06012", "kind": "event"},
                        {"case_id": "z", "stage": "结案", "time": "2026-11-02 11:00"}])
    allev = pd.concat([events, bad], ignore_index=True)
    log, rejects = gl.cases.read_event_log(allev)
    reasons = rejects["reason"].tolist()
    assert "unknown stage 'teleported'" in reasons and "missing case id" in reasons
    assert any(r.startswith("missing or unparseable time") for r in reasons)
    assert reasons.count("case rejected: closed without disposal (closed_at set, disposed_at missing)") == 2
    used = allev["case_id"].isin(log["case_id"]) & ~allev.index.isin(rejects.index)
    assert used.sum() + len(rejects) == len(allev)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(-600, 600)), min_size=len(STAGE_COLUMNS) - 1,
                max_size=len(STAGE_COLUMNS) - 1))
def test_order_rule_matches_a_direct_check(steps):
    """Random stage offsets: the case is refused for order exactly when a present stage precedes an earlier one."""
    t0 = pd.Timestamp("2026-11-02 09:00")
    row = {"case_id": "p", "class_code": "06012", "kind": "event", "reported_at": t0}
    times = [t0]
    for col, minutes in zip(STAGE_COLUMNS[1:], steps, strict=True):
        if minutes is not None:
            row[col] = t0 + pd.Timedelta(minutes=minutes)
            times.append(row[col])
    log, rejects = gl.cases.read_log(pd.DataFrame([row]))
    ordered = all(a <= b for a, b in zip(times, times[1:], strict=False))
    reason = rejects["reason"].iloc[0] if len(rejects) else ""
    assert reason.startswith("stage out of order") == (not ordered)
    if ordered and "closed_at" in row and "disposed_at" not in row:
        assert reason.startswith("closed without disposal")
    assert len(log) + len(rejects) == 1


def test_empty_cells_in_optional_columns_are_not_errors():
    raw = pd.DataFrame([base(status=None, source=None, urgency=None, kind=None, parked=None, rework_count=None),
                        base(case_id="y", status="closed", source="camera")])
    log, rejects = gl.cases.read_log(raw)
    assert rejects.empty
    assert log["status"].tolist() == ["closed", "closed"] and log["urgency"].tolist() == ["normal", "normal"]
    k = gl.cases.indicators(log, by="source", at="2026-11-30")
    assert k["closed"].sum() == 2 and k["source"].isna().sum() == 1
