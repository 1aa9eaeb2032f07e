"""Limits as data: the most specific row wins; bad tables are refused with the row named."""

import pandas as pd
import pytest

import gridlib as gl
from gridlib.errors import InputError

TABLE = pd.DataFrame({
    "stage": ["dispose", "dispose", "dispose", "dispose"],
    "class_code": ["*", "01", "01037", "01037"],
    "urgency": ["*", "*", "*", "urgent"],
    "value": ["3", "2", "30", "4"],
    "unit": ["work_day", "work_day", "minute", "工作时"],
})


def test_most_specific_limit_wins():
    log = pd.DataFrame({
        "class_code": ["06012", "01001", "01037", "01037"], "urgency": ["normal", "urgent", "normal", "urgent"],
        "dispatched_at": pd.to_datetime(["2026-11-20 09:00"] * 4),
    })
    d = gl.cases.deadlines(log, TABLE, stages=("dispose",))["dispose_deadline"].tolist()
    assert d == [pd.Timestamp("2026-11-25 09:00"),  # * : 3 working days, Fri → Wed
                 pd.Timestamp("2026-11-24 09:00"),  # big class 01: 2 working days
                 pd.Timestamp("2026-11-20 09:30"),  # exact class: 30 minutes
                 pd.Timestamp("2026-11-20 14:30")]  # exact class and urgency: 4 working hours over lunch


def test_no_matching_row_means_no_deadline():
    log = pd.DataFrame({"class_code": ["06012"], "urgency": ["normal"], "filed_at": pd.to_datetime(["2026-11-20 09:00"])})
    assert pd.isna(gl.cases.deadlines(log, TABLE, stages=("close",))["close_deadline"].iloc[0])


@pytest.mark.parametrize("change, message", [
    ({"stage": "repair"}, "unknown stage"),
    ({"unit": "fortnight"}, "unknown time unit"),
    ({"value": "-1"}, "non-negative"),
])
def test_bad_tables_are_refused(change, message):
    bad = TABLE.copy()
    for k, v in change.items():
        bad.loc[1, k] = v
    with pytest.raises(InputError, match=message):
        gl.cases.load_limits(bad)


def test_duplicate_rows_are_refused(tmp_path):
    path = tmp_path / "limits.csv"
    pd.concat([TABLE, TABLE.iloc[[0]]]).to_csv(path, index=False)
    with pytest.raises(InputError, match="more than one row"):
        gl.cases.load_limits(path)


def test_default_table_is_labelled():
    lim = gl.cases.load_limits()
    assert lim["basis"].str.contains("Minghu").sum() == 4
    assert lim.loc[lim["stage"].isin(["dispose", "close"]), "basis"].str.startswith("ILLUSTRATIVE").all()
