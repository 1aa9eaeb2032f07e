"""Open cases and lights, the 15-minute standard, and scores."""

import numpy as np
import pandas as pd
import pytest

import gridlib as gl
from gridlib.errors import InputError

from .case_fixtures import hand_log


@pytest.fixture(scope="module")
def log():
    return hand_log()


def test_open_cases_on_a_given_evening(log):
    oc = gl.cases.open_cases(log, at="2026-11-10 18:00").set_index("case_id")
    # open: c3 (dispatched 10 Nov 09:03) and c7 (parked); closed, cancelled, not-filed and future cases are not
    assert sorted(oc.index) == ["c3", "c7"]
    c3 = oc.loc["c3"]
    # 1 work day = 7.5 h; used 09:03-12:00 + 13:30-17:30 = 6 h 57 min
    assert c3["stage"] == "dispose" and c3["stage_zh"] == "处置" and c3["limit_unit"] == "work_day"
    assert c3["used_share"] == pytest.approx(417 / 450) and c3["light"] == "yellow"
    assert c3["deadline"] == pd.Timestamp("2026-11-11 09:03") and c3["overdue_hours"] == 0
    assert oc.loc["c7", "parked"] and oc.loc["c7", "light"] == "red"


def test_lights_and_overdue_list(log):
    oc = gl.cases.open_cases(log, at="2026-11-11 10:03")
    c3 = oc.set_index("case_id").loc["c3"]
    assert c3["light"] == "red" and c3["overdue_hours"] == pytest.approx(1.0)
    red = gl.cases.overdue(log, at="2026-11-11 10:03")
    assert set(red["case_id"]) == {"c3", "c7"} and (red["light"] == "red").all()
    assert oc["used_share"].is_monotonic_decreasing


def test_each_stage_is_found():
    rows = pd.DataFrame({
        "case_id": ["v", "f", "d", "k", "z"], "class_code": ["06012"] * 5,
        "source": ["hotline_12345", "supervisor", "supervisor", "supervisor", "supervisor"],
        "reported_at": pd.to_datetime(["2026-11-20 09:00"] * 5),
        "filed_at": pd.to_datetime([None, None, "2026-11-20 09:01", "2026-11-20 09:01", "2026-11-20 09:01"]),
        "dispatched_at": pd.to_datetime([None, None, None, "2026-11-20 09:02", "2026-11-20 09:02"]),
        "disposed_at": pd.to_datetime([None, None, None, "2026-11-20 09:30", "2026-11-20 09:30"]),
        "checked_at": pd.to_datetime([None, None, None, None, "2026-11-20 09:40"]),
    })
    oc = gl.cases.open_cases(rows, at="2026-11-20 09:45").set_index("case_id")
    assert oc["stage"].to_dict() == {"v": "verify", "f": "file", "d": "dispatch", "k": "check", "z": "close"}
    assert oc.loc["k", "used_share"] == pytest.approx(0.25)  # 15 of 60 minutes since disposal
    assert oc.loc["f", "light"] == "red" and oc.loc["v", "light"] == "green"


def test_light_thresholds():
    assert gl.cases.light([0.0, 0.79, 0.8, 1.0, 1.2, np.inf]).tolist() == ["green", "green", "yellow", "yellow", "red", "red"]


def test_fifteen_minute_per_case_and_summary(log):
    extra = log.copy()
    extra["arrived_at"] = extra["dispatched_at"] + pd.Timedelta(minutes=8)
    extra.loc[extra["case_id"] == "c3", "arrived_at"] = extra["dispatched_at"] + pd.Timedelta(minutes=12)
    extra["video_at"] = extra["arrived_at"] + pd.Timedelta(minutes=2)
    per_case, summary = gl.cases.fifteen_minute(extra, by="street_code")
    c = per_case.set_index("case_id")
    assert c.loc["c1", "file_min"] == 4 and c.loc["c1", "chain_ok"]
    assert not c.loc["c3", "arrive_ok"] and not c.loc["c3", "chain_ok"]
    assert pd.isna(c.loc["c5", "chain_ok"])  # not filed: the chain was never run
    s1 = summary[(summary["street_code"] == "S1") & (summary["step"] == "arrive")].iloc[0]
    assert (s1["n"], s1["compliant"]) == (3, 2) and s1["median_min"] == 8 and s1["p90_min"] == pytest.approx(11.2)
    assert summary["step"].drop_duplicates().tolist() == ["file", "dispatch", "arrive", "video", "chain"]
    with pytest.raises(InputError):
        gl.cases.fifteen_minute(log.drop(columns=["video_at"]))


def test_scores_regions_with_area_classes_and_fixed_weights():
    grids = pd.DataFrame({"grid_code": ["g1", "g2"], "area_class": [1, 2], "filed": [3, 3],
                          "public_report_rate": [0.1, 0.1], "closure_rate": [1.0, 1.0], "ontime_closure_rate": [0.5, 0.5]})
    s = gl.cases.scores(grids, "region", area_class="area_class").set_index("grid_code")
    # 一类: 3 filed → 75 points; 二类: 3 filed → 90 points. 0.1*90 + 0.2*pts + 0.3*100 + 0.4*50
    assert s.loc["g1", "score"] == pytest.approx(9 + 15 + 30 + 20)
    assert s.loc["g2", "score"] == pytest.approx(9 + 18 + 30 + 20)
    assert s["grade"].tolist() == ["C", "B"]


def test_supervisor_missed_rate_counts_against():
    people = pd.DataFrame({"valid_report_rate": [0.9, 0.9], "missed_report_rate": [0.0, 0.5],
                           "ontime_verification_rate": [1.0, 1.0], "ontime_check_rate": [1.0, 1.0]})
    s = gl.cases.scores(people, "supervisor")
    assert s["score"].tolist() == [96.0, 86.0]  # the implementation's bug would have ranked the second higher


def test_scores_from_indicators_and_errors(log):
    k = gl.cases.indicators(log, by="street_code", period="2026-11", at="2026-11-30 23:59")
    s = gl.cases.scores(k, "department")
    assert s["grade"].notna().any() and set(s["grade"].dropna()) <= set("ABCDE")
    with pytest.raises(InputError, match="accepted"):
        gl.cases.scores(k, "acceptor")
    with pytest.raises(InputError):
        gl.cases.scores(k, "mayor")
    assert gl.cases.grade([90, 89.99, 40, 39.9]).tolist() == ["A", "B", "D", "E"]
