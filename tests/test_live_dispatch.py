"""Dispatcher due times: a request group's due times are each case's own, whatever the group (no frames per case)."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

import gridlib as gl
from gridlib.cases.calendar import WorkCalendar
from gridlib.cases.limits import resolve_limits
from gridlib.cases.model import PUBLIC_SOURCES
from gridlib.live.dispatch import CHAIN, Dispatcher

# the default table plus limits in working time on steps that others start from (arrive, file, dispatch)
_EXTRA = pd.DataFrame({"stage": ["arrive", "file", "verify", "dispatch", "arrive"],
                       "class_code": ["06", "0601", "*", "07", "08"], "urgency": ["*", "urgent", "urgent", "normal", "*"],
                       "value": ["0.5", "2", "3", "1.5", "0.3333"],
                       "unit": ["work_hour", "work_day", "work_hour", "work_hour", "minute"]})
_TABLE = pd.concat([gl.cases.load_limits().drop(columns="basis"), _EXTRA], ignore_index=True)
_D = Dispatcher(None, None, limits=_TABLE)
_PANDAS = {"minute": "min", "hour": "h", "day": "D"}
_CASE = st.tuples(st.integers(0, 2 * 365 * 86400), st.sampled_from(["06012", "0601", "07001", "08003", "", None]),
                  st.sampled_from([None, "normal", "urgent"]), st.sampled_from([None, "hotline_12345", "supervisor", "media"]))


def _case(c):
    return (pd.Timestamp("2025-12-20") + pd.Timedelta(seconds=c[0]), *c[1:])


@settings(max_examples=60, deadline=None)
@given(cases=st.lists(_CASE, min_size=1, max_size=8))
def test_a_group_gets_each_cases_own_due_times(cases):
    cases = [_case(c) for c in cases]
    group = _D.due_many(cases)
    assert group == [_D.due(t, class_code=c, urgency=u, source=s) for t, c, u, s in cases]
    cal = WorkCalendar.china()
    for (t, c, u, s), due in zip(cases, group, strict=True):
        limits = _D.step_limits(c, u)
        assert ("verify" in due) == (s in PUBLIC_SOURCES and "verify" in limits)    # public reports only
        # the same most specific rows resolve_limits finds, and each step due its limit after the step it follows
        one = pd.DataFrame({"class_code": [c or ""], "urgency": [u or "normal"]})
        for step, after in CHAIN:
            value, unit = resolve_limits(one, _TABLE, step)
            assert limits.get(step) == ((float(value[0]), unit[0]) if unit[0] else None)
            if step not in due:
                assert step == "verify"
                continue
            begin = pd.Timestamp(due[after]) if after in due else t
            if step not in limits:
                expected = begin
            elif limits[step][1] in _PANDAS:        # calendar units: Timedelta arithmetic (no float seconds)
                expected = begin + pd.Timedelta(limits[step][0], _PANDAS[limits[step][1]])
            else:
                expected = cal.add(begin, limits[step][0], limits[step][1])
            assert pd.Timestamp(due[step]) == expected, (step, due)


def test_the_dispatch_block_of_a_group():
    cases = [(pd.Timestamp("2026-11-20 16:58"), "05001", None, "supervisor"),
             (pd.Timestamp("2026-11-20 16:58"), "08003", "urgent", "hotline_12345")]
    blocks = _D.dispatch_many([0.0, 0.0], [0.0, 0.0], 4547, cases)
    assert [b["due"] for b in blocks] == _D.due_many(cases)
    assert blocks[0]["arrive_limit_minutes"] == 10.0 and blocks[1]["arrive_limit_minutes"] == 0.33
    assert blocks[0]["due"]["dispose"] == "2026-11-23T17:04:00"           # 1 working day: Friday → Monday
    assert "verify" not in blocks[0]["due"]                                  # public reports only are verified:
    assert blocks[1]["due"]["verify"] == "2026-11-23T10:58:00"              # 3 working hours, Friday → Monday
    assert blocks[1]["limits"]["arrive"] == {"value": 0.3333, "unit": "minute"} and blocks[0]["teams"] == []


def test_a_few_points_are_ranked_as_many_are():
    # Dispatcher._rank_few (plain Python per team, for a request's case or two) against the array path of
    # network.arrival_times (more than _FEW points): the same minutes, walks and order, ties included
    import geopandas as gpd
    import numpy as np
    from shapely import LineString, Point

    lines = [LineString([(x, 0), (x, 3000)]) for x in range(0, 3001, 500)] + \
            [LineString([(0, y), (3000, y)]) for y in range(0, 3001, 750)]
    roads = gpd.GeoDataFrame({"highway": ["residential"] * len(lines), "oneway": ["yes" if k % 3 == 0 else "no"
                              for k in range(len(lines))]}, geometry=lines, crs=4547)
    bases = gpd.GeoDataFrame({"base_id": [f"b{k}" for k in range(5)]},
                             geometry=[Point(0, 0), Point(3000, 3000), Point(1500, 1500), Point(500, 2250),
                                       Point(1500, 1500)], crs=4547)   # two teams at one base: a tie
    d = Dispatcher(roads, bases)
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-200, 3200, 40), rng.uniform(-200, 3200, 40)
    x[:5], y[:5] = [500.0, 0.0, 1500.0, 3000.0, 250.0], [750.0, 0.0, 1500.0, 3000.0, 750.0]   # on nodes, segments
    many = d.rank_many(x, y, 4547)
    assert [d.rank_many([a], [b], 4547)[0] for a, b in zip(x, y, strict=True)] == many
    assert [r for k in range(0, 40, 2) for r in d.rank_many(x[k:k + 2], y[k:k + 2], 4547)] == many
    assert all(len(r) == 5 for r in many) and len({r[0]["base_id"] for r in many}) >= 3


def test_the_minute_table_gives_the_calendars_deadlines_to_the_nanosecond():
    # Dispatcher._minute_due: a deadline from the (unit, limit, minute) table, checked against the calendar for
    # every second of minutes at the working day's edges, its break, a weekend, a holiday and an adjusted workday
    d = Dispatcher(None, None)
    cal = d.calendar
    days = ["2026-11-20", "2026-11-21", "2026-10-01", "2026-09-28", "2026-12-31"]   # Fri, Sat, holiday, workday
    minutes = ["00:00", "08:29", "08:30", "11:59", "12:00", "13:29", "13:30", "17:29", "17:30", "23:59"]
    used = 0
    for day in days:
        for minute in minutes:
            start = pd.Timestamp(f"{day} {minute}").value
            begins = [start + s * 1_000_000_000 for s in range(0, 60, 7)] + [start + 59_000_000_000]
            for value, unit in ((1.0, "work_day"), (2.5, "work_day"), (0.5, "work_hour"), (3.0, "work_hour"),
                                (0.0, "work_hour")):
                want = cal.add_ns(begins, [value] * len(begins), unit)
                got = [d._minute_due(b, value, unit) for b in begins]
                used += sum(g is not None for g in got)
                assert [w if g is None else g for g, w in zip(got, want, strict=True)] == want, (day, minute, value, unit)
    assert used > 0.9 * len(days) * len(minutes) * 5 * 10       # nearly every begin from the table
    # a begin off the whole second, or a limit of no whole seconds, is left to the calendar
    assert d._minute_due(pd.Timestamp("2026-11-20 09:00:00.5").value, 1.0, "work_day") is None
    assert d._minute_due(pd.Timestamp("2026-11-20 09:00").value, 1e-4, "work_hour") is None
