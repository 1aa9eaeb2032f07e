"""Indicators against hand-computed counts, the published Lianyungang figures, and properties."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gridlib as gl
from gridlib.cases import indicators
from gridlib.errors import InputError

from .case_fixtures import AT, hand_log

# Worked out by hand from case_fixtures.ROWS for November 2026 evaluated at AT (see the comments there).
NOVEMBER = {
    "reported": 8, "supervisor_reported": 6, "valid_reported": 5, "cancelled": 1, "not_filed": 1,
    "due_verification": 1, "verified_on_time": 1,
    "filed": 8, "filed_on_time": 6, "filed_cancelled": 1, "public_filed": 1,
    "due_dispatch": 6, "dispatched": 6, "dispatched_on_time": 5, "accurate_dispatch": 5,
    "due_disposal": 5, "disposed": 4, "disposed_on_time": 3,
    "due_check": 4, "checked": 4, "checked_on_time": 3,
    "due_closure": 5, "closed": 4, "closed_on_time": 3, "rework": 1, "parked": 1, "extended": 1,
}
NOVEMBER_RATES = {
    "disposal_rate": 4 / 5, "ontime_disposal_rate": 3 / 5, "closure_rate": 4 / 5, "ontime_closure_rate": 3 / 5,
    "rework_rate": 1 / 5, "ontime_check_rate": 3 / 4, "ontime_verification_rate": 1.0, "valid_report_rate": 5 / 6,
    "missed_report_rate": 1 / 8, "public_report_rate": 1 / 8, "ontime_filing_rate": 6 / 8,
    "accurate_filing_rate": 7 / 8, "closed_ontime_share": 3 / 4, "ontime_dispatch_rate": 5 / 6,
    "accurate_dispatch_rate": 5 / 6,
}


@pytest.fixture(scope="module")
def log():
    return hand_log()


def test_lianyungang_published_figures():
    c = {"closed": 23974, "closed_on_time": 22345, "due_closure": 24932}
    assert round(gl.cases.rate("closure_rate", c) * 100, 2) == 96.16
    assert round(gl.cases.rate("ontime_closure_rate", c) * 100, 2) == 89.62


def test_rates_zero_denominator_and_bad_counts():
    assert np.isnan(gl.cases.rate("closure_rate", {"closed": 0, "due_closure": 0}))
    out = gl.cases.rate("disposal_rate", pd.DataFrame({"disposed": [1, 0], "due_disposal": [2, 0]}))
    assert out.iloc[0] == 0.5 and np.isnan(out.iloc[1])
    with pytest.raises(InputError):
        gl.cases.rate("closure_rate", {"closed": 5, "due_closure": 4})
    with pytest.raises(InputError):
        gl.cases.rate("rework_rate", {"rework": -1, "due_closure": 4})
    with pytest.raises(InputError, match="needs count"):
        gl.cases.rate("rework_rate", {"rework": 1})
    with pytest.raises(InputError, match="unknown rate"):
        gl.cases.rate("happiness_rate", {})
    assert gl.cases.rate("accurate_filing_rate", {"filed": 8, "filed_cancelled": 1}) == 7 / 8


def test_old_rate_functions_are_deprecated_aliases():
    with pytest.warns(DeprecationWarning, match="rate\\('closure_rate'"):
        assert round(gl.cases.closure_rate(23974, 24932) * 100, 2) == 96.16
    with pytest.warns(DeprecationWarning):
        assert gl.cases.accurate_filing_rate(8, 1) == 7 / 8
    assert "closure_rate" not in gl.cases.__all__ and set(gl.cases.RATES) <= set(gl.cases.LABELS_ZH)
    with pytest.raises(AttributeError):
        gl.cases.no_such_rate  # noqa: B018


def test_hand_computed_november(log):
    k = indicators(log, period="2026-11", at=AT)
    assert len(k) == 1 and k["period"].iloc[0] == "2026-11"
    row = k.iloc[0]
    assert {c: int(row[c]) for c in NOVEMBER} == NOVEMBER
    for name, value in NOVEMBER_RATES.items():
        assert row[name] == pytest.approx(value), name
    # dispatch → disposal in calendar hours: c1 5h55, c2 48h15, c8 59 min, c9 2h57
    assert row["mean_disposal_hours"] == pytest.approx((355 + 2895 + 59 + 177) / 60 / 4)


def test_extension_moves_the_deadline(log):
    no_ext = log.assign(extension_hours=0.0)
    k = indicators(no_ext, period="2026-11", at=AT)
    assert int(k["disposed_on_time"].iloc[0]) == NOVEMBER["disposed_on_time"] - 1  # c9 late without its 延期


def test_by_street_conserves_counts(log):
    total = indicators(log, period="2026-11", at=AT)
    by = indicators(log, by="street_code", period="2026-11", at=AT)
    assert by["street_code"].isna().sum() == 1  # c9 has no street: its own group, not dropped
    for c in NOVEMBER:
        assert by[c].sum() == total[c].iloc[0], c
    s1 = by[by["street_code"] == "S1"].iloc[0]
    assert (s1["filed"], s1["due_closure"], s1["closed"], s1["closed_on_time"]) == (3, 3, 2, 1)


def test_period_forms_agree(log):
    a = indicators(log, period="2026-11", at=AT)
    b = indicators(log, period=("2026-11-01", "2026-12-01"), at=AT)
    assert a[list(NOVEMBER)].equals(b[list(NOVEMBER)])
    series = indicators(log, period="M", at=AT)
    assert series["period"].tolist() == ["2026-10", "2026-11"]
    nov = series[series["period"] == "2026-11"].iloc[0]
    assert {c: int(nov[c]) for c in NOVEMBER} == NOVEMBER
    oct_ = series[series["period"] == "2026-10"].iloc[0]
    # c8 was reported on 31 Oct and filed on 2 Nov: at the end of October it was not yet a valid report
    assert (oct_["reported"], oct_["valid_reported"], oct_["filed"]) == (1, 0, 0)
    assert np.isnan(oct_["closure_rate"])  # nothing due: missing, not 0 or 100 %


def test_as_of_counts_only_what_was_known(log):
    # on 10 Nov 12:00, c3 (dispatched 10 Nov 09:03) is not yet due, and c2's rework is in the past
    k = indicators(log, period="2026-11", at="2026-11-10 12:00")
    assert int(k["due_disposal"].iloc[0]) == 3  # c1, c2, c8 disposed
    assert int(k["filed"].iloc[0]) == 6  # c1, c2, c3, c6, c7, c8: c4 and c9 were filed later


def test_grouping_errors(log):
    with pytest.raises(InputError, match="street"):
        indicators(log, by="street")
    with pytest.raises(InputError):
        indicators(log, period="2026-13")


statuses = st.sampled_from(["open", "disposed", "closed", "cancelled"])


@settings(max_examples=12, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60 * 24 * 40), st.integers(0, 3000), st.integers(0, 3000), statuses,
                          st.sampled_from(["A", "B", None]), st.sampled_from(["supervisor", "hotline_12345", "camera"]),
                          st.integers(0, 2)), min_size=1, max_size=40))
def test_properties(rows):
    base = pd.Timestamp("2026-10-20")
    recs = []
    for i, (t0, d1, d2, status, street, source, rework) in enumerate(rows):
        rep = base + pd.Timedelta(minutes=t0)
        rec = {"case_id": f"k{i}", "class_code": "06012", "kind": "event", "reported_at": rep, "source": source,
               "street_code": street, "filed_at": rep + pd.Timedelta(minutes=3),
               "dispatched_at": rep + pd.Timedelta(minutes=4), "rework_count": rework}
        if status in ("disposed", "closed"):
            rec["disposed_at"] = rep + pd.Timedelta(minutes=4 + d1)
        if status == "closed":
            rec["checked_at"] = rec["disposed_at"] + pd.Timedelta(minutes=d2)
            rec["closed_at"] = rec["checked_at"] + pd.Timedelta(minutes=5)
        if status == "cancelled":
            rec["cancelled_at"] = rep + pd.Timedelta(minutes=30)
        recs.append(rec)
    log, rejects = gl.cases.read_log(pd.DataFrame(recs))
    assert rejects.empty
    at = "2026-12-05"
    total = indicators(log, period="2026-11", at=at)
    by = indicators(log, by=["street_code", "source"], period="2026-11", at=at)
    for c in NOVEMBER:
        assert by[c].sum() == (total[c].iloc[0] if len(total) else 0)
    for done, due in (("disposed", "due_disposal"), ("disposed_on_time", "disposed"), ("closed", "due_closure"),
                      ("closed_on_time", "closed"), ("checked_on_time", "checked"), ("rework", "due_closure"),
                      ("dispatched_on_time", "dispatched"), ("valid_reported", "supervisor_reported")):
        assert (by[done] <= by[due]).all(), (done, due)
    rates = by[list(NOVEMBER_RATES)].to_numpy(dtype=float)
    finite = rates[~np.isnan(rates)]
    assert ((finite >= 0) & (finite <= 1)).all()


def test_daily_series_adds_up_to_the_month_for_cohort_counts(log):
    daily = indicators(log, by="street_code", period="D", at=AT)
    month = indicators(log, by="street_code", period="2026-11", at=AT)
    nov = daily[daily["period"].str.startswith("2026-11")]
    for c in ("filed", "filed_on_time", "public_filed", "reported", "supervisor_reported"):
        assert nov[c].sum() == month[c].sum(), c
    assert indicators(log, period="2W", at=AT)["filed"].sum() == 8
