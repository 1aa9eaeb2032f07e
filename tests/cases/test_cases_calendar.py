"""Work calendar: deadlines and elapsed working time across weekends, holidays, 调休 and midnight."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridlib.cases.calendar import CALENDAR_DIR, WorkCalendar, normalise_unit
from gridlib.errors import InputError

CAL = WorkCalendar.china()  # 08:30-12:00, 13:30-17:30 (7.5 h)


def ts(text):
    return pd.Timestamp(text)


def test_bundled_schedules_match_the_state_council_notices():
    # 2026 notice: 春节 15–23 Feb off, 14 and 28 Feb (Saturdays) working; 国庆 1–7 Oct off, 20 Sep and 10 Oct working
    days = ["2026-02-14", "2026-02-15", "2026-02-23", "2026-02-24", "2026-02-28", "2026-09-20", "2026-10-07",
            "2026-10-08", "2026-10-10", "2026-10-11"]
    assert CAL.is_working_day(days).tolist() == [True, False, False, True, True, True, False, True, True, False]
    # 2025: 春节 28 Jan–4 Feb off, 26 Jan (Sun) and 8 Feb (Sat) working
    assert CAL.is_working_day(["2025-01-26", "2025-01-28", "2025-02-04", "2025-02-08"]).tolist() == [True, False, False, True]
    # 2027 is provisional: statutory days only
    assert CAL.is_working_day(["2027-02-05", "2027-02-08", "2027-10-01", "2027-10-04"]).tolist() == [False, False, False, True]


def test_limit_crossing_a_weekend():
    # Friday 16:00 + 3 working hours: 1.5 h on Friday, 1.5 h on Monday morning
    assert CAL.add("2026-11-20 16:00", 3, "work_hour") == ts("2026-11-23 10:00")
    assert CAL.elapsed("2026-11-20 16:00", "2026-11-23 10:00", "work_hour") == pytest.approx(3.0)


def test_limit_crossing_a_holiday():
    # Wednesday 30 Sep 2026 17:00 + 1 working day: National Day 1–7 Oct, Thursday 8 Oct is working
    assert CAL.add("2026-09-30 17:00", 1, "work_day") == ts("2026-10-08 17:00")
    assert CAL.elapsed("2026-09-30 17:00", "2026-10-08 17:00", "work_day") == pytest.approx(1.0)


def test_adjusted_working_saturday_counts():
    # Friday 9 Oct 2026 17:00 + 2 working hours: 0.5 h Friday, then Saturday 10 Oct is a 调休 working day
    assert CAL.add("2026-10-09 17:00", 2, "work_hour") == ts("2026-10-10 10:00")
    # and an ordinary Saturday does not count
    assert CAL.add("2026-10-16 17:00", 2, "work_hour") == ts("2026-10-19 10:00")


def test_midnight_and_calendar_units():
    assert CAL.add("2026-11-20 23:50", 30, "minute") == ts("2026-11-21 00:20")
    assert CAL.add("2026-11-20 23:00", 2, "hour") == ts("2026-11-21 01:00")
    assert CAL.elapsed("2026-11-20 23:50", "2026-11-21 00:20", "minute") == pytest.approx(30.0)
    # working time started at night starts at 08:30 next working morning
    assert CAL.add("2026-11-19 23:59", 1, "work_hour") == ts("2026-11-20 09:30")
    assert CAL.elapsed("2026-11-19 23:00", "2026-11-20 08:30", "work_hour") == 0.0


def test_lunch_break_and_exact_end():
    assert CAL.add("2026-11-20 11:00", 1, "work_hour") == ts("2026-11-20 12:00")  # earliest moment, not 13:30
    assert CAL.add("2026-11-20 11:30", 1, "work_hour") == ts("2026-11-20 14:00")
    assert CAL.add("2026-11-20 12:30", 0, "work_hour") == ts("2026-11-20 12:30")


def test_vectorised_with_missing_values_and_series_index():
    start = pd.Series(pd.to_datetime(["2026-11-20 16:00", None, "2026-10-09 17:00"]), index=[5, 6, 7])
    out = CAL.add(start, [3, 3, 2], "work_hour")
    assert list(out.index) == [5, 6, 7]
    assert out[5] == ts("2026-11-23 10:00") and pd.isna(out[6]) and out[7] == ts("2026-10-10 10:00")
    el = CAL.elapsed(start, out, "work_hour")
    assert el[5] == pytest.approx(3) and np.isnan(el[6]) and el[7] == pytest.approx(2)


@settings(max_examples=60, deadline=None)
@given(
    minutes=st.integers(0, 2 * 365 * 24 * 60),
    hours=st.floats(0, 200, allow_nan=False),
)
def test_add_then_elapsed_round_trips(minutes, hours):
    start = pd.Timestamp("2025-01-01") + pd.Timedelta(minutes=minutes)
    end = CAL.add(start, hours, "work_hour")
    assert end >= start
    assert CAL.elapsed(start, end, "work_hour") == pytest.approx(hours, abs=1e-6)
    # the deadline is the earliest such moment: a minute earlier is not enough (when any work is needed)
    if hours > 0.02:
        assert CAL.elapsed(start, end - pd.Timedelta(minutes=1), "work_hour") < hours


def test_elapsed_is_additive():
    a, b, c = ts("2026-02-10 10:00"), ts("2026-02-26 15:00"), ts("2026-03-02 09:00")
    assert CAL.elapsed(a, b, "work_hour") + CAL.elapsed(b, c, "work_hour") == pytest.approx(CAL.elapsed(a, c, "work_hour"))
    assert CAL.elapsed(c, a, "work_hour") == pytest.approx(-CAL.elapsed(a, c, "work_hour"))


def test_custom_calendar_files_and_hours(tmp_path, caplog):
    f = tmp_path / "x_2026.csv"
    f.write_text("date,kind\n2026-11-23,holiday\n2026-11-21,workday\n")
    cal = WorkCalendar.load(f, hours="09:00-17:00")
    assert cal.seconds_per_day == 8 * 3600
    assert cal.add("2026-11-20 16:00", 2, "work_hour") == ts("2026-11-21 10:00")  # Saturday works, Monday off
    assert cal.add("2026-11-21 16:00", 2, "work_hour") == ts("2026-11-24 10:00")
    with caplog.at_level("WARNING"):
        cal.add("2031-06-02 09:00", 1, "work_hour")
    assert "2031" in caplog.text


@pytest.mark.parametrize("bad", ["date,kind\n2026-13-01,holiday\n", "date,kind\n2026-01-01,vacation\n", "day,kind\n"])
def test_bad_calendar_files_are_refused(tmp_path, bad):
    f = tmp_path / "bad.csv"
    f.write_text(bad)
    with pytest.raises(InputError):
        WorkCalendar.load(f)


def test_units_and_errors():
    assert normalise_unit("工作日") == "work_day" and normalise_unit("work-hour") == "work_hour"
    with pytest.raises(InputError):
        normalise_unit("fortnight")
    with pytest.raises(InputError):
        CAL.add("2026-11-20", -1, "hour")
    with pytest.raises(InputError):
        WorkCalendar(hours="17:00-09:00")
    with pytest.raises(InputError):
        CAL.add(pd.Timestamp("2026-11-20", tz="Asia/Shanghai"), 1, "hour")
    assert (CALENDAR_DIR / "SOURCE.md").exists()


@settings(max_examples=40, deadline=None)
@given(minutes=st.lists(st.integers(0, 3 * 365 * 24 * 60), min_size=1, max_size=6),
       hours=st.floats(0.01, 120, allow_nan=False), unit=st.sampled_from(["work_hour", "work_day", "minute"]))
def test_every_input_form_gives_the_same_deadline_and_the_day_table_grows_consistently(minutes, hours, unit):
    # datetime64[ns] arrays and pd.Timestamp skip pd.to_datetime; the day table is kept and widened: a fresh
    # calendar (table built for these starts only) and the shared one (widened over many calls) agree. (A zero
    # working-time limit started outside working hours is not asked: its deadline depends on the earliest start
    # of the call, the start itself or the next working morning, as it always did.)
    starts = pd.Timestamp("2024-12-01") + pd.to_timedelta(minutes, unit="min")
    fresh = WorkCalendar.load(CALENDAR_DIR)
    arr = CAL.add(starts.to_numpy(dtype="datetime64[ns]"), hours, unit)
    assert arr.dtype == np.dtype("datetime64[ns]")
    assert arr.tolist() == CAL.add(pd.Series(starts), hours, unit).to_numpy().tolist()
    assert arr.tolist() == fresh.add(list(starts.astype(str)), hours, unit).tolist()
    for t, end in zip(starts, arr, strict=True):
        assert CAL.add(t, hours, unit) == pd.Timestamp(end) == fresh.add(str(t), hours, unit)
