"""OsmAnd protocol parameters → Fix, and every bad value → its reject code."""

from __future__ import annotations

import datetime as dt

import pytest

from gridlib.live import jt808, osmand
from gridlib.live.fix import FixRejected, from_jt808
from gridlib.rejects import CODES

NOW = dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC)
GOOD = {"id": "867000000000001", "lat": "31.2400", "lon": "121.5000", "timestamp": "1795654800",
        "speed": "5.4", "bearing": "90", "altitude": "12.5", "accuracy": "8"}


def test_good_request_and_same_record_as_jt808():
    fix = osmand.parse(GOOD, now=NOW)
    assert fix.time == dt.datetime(2026, 11, 26, 1, 0, tzinfo=dt.UTC)
    assert fix.speed_kmh == pytest.approx(5.4 * 1.852)
    assert (fix.heading, fix.altitude_m, fix.accuracy_m, fix.source) == (90.0, 12.5, 8.0, "osmand")
    loc = jt808.Location(121.5, 31.24, fix.time.astimezone(jt808.TZ_BEIJING), 10.0)
    other = from_jt808("13800138000", jt808.decode_location(jt808.encode_location(loc)))
    assert set(other.as_record()) == set(fix.as_record())
    assert (other.lon, other.lat, other.time, other.local_time) == (fix.lon, fix.lat, fix.time, fix.local_time)
    assert fix.local_time == dt.datetime(2026, 11, 26, 9, 0)


@pytest.mark.parametrize("text,expect", [
    ("1795654800000", dt.datetime(2026, 11, 26, 1, 0, tzinfo=dt.UTC)),     # milliseconds
    ("2026-11-26T09:00:00+08:00", dt.datetime(2026, 11, 26, 1, 0, tzinfo=dt.UTC)),
    ("2026-11-26T01:00:00Z", dt.datetime(2026, 11, 26, 1, 0, tzinfo=dt.UTC)),
    ("2026-11-26 01:00:00", dt.datetime(2026, 11, 26, 1, 0, tzinfo=dt.UTC)),
])
def test_time_forms(text, expect):
    assert osmand.parse({**GOOD, "timestamp": text}, now=NOW).time == expect


def test_location_parameter():
    params = {k: v for k, v in GOOD.items() if k not in ("lat", "lon")} | {"location": "31.24,121.5"}
    fix = osmand.parse(params, now=NOW)
    assert (fix.lat, fix.lon) == (31.24, 121.5)


@pytest.mark.parametrize("change,code,field", [
    ({"id": ""}, "missing_id", "id"),
    ({"lat": ""}, "missing_coordinate", "lat"),
    ({"lon": "abc"}, "non_numeric_coordinate", "lon"),
    ({"lat": "nan"}, "non_numeric_coordinate", "lat"),
    ({"lat": "91"}, "coordinate_out_of_range", "lat"),
    ({"lon": "-181"}, "coordinate_out_of_range", "lon"),
    ({"timestamp": ""}, "missing_time", "timestamp"),
    ({"timestamp": "yesterday"}, "unparseable_time", "timestamp"),
    ({"timestamp": "99999999999999999999"}, "unparseable_time", "timestamp"),
    ({"timestamp": "946684800"}, "time_out_of_range", "timestamp"),
    ({"speed": "-1"}, "bad_number", "speed"),
    ({"speed": "inf"}, "bad_number", "speed"),
    ({"bearing": "361"}, "bad_number", "bearing"),
    ({"accuracy": "x"}, "bad_number", "accuracy"),
])
def test_bad_values_rejected_with_code(change, code, field):
    with pytest.raises(FixRejected) as info:
        osmand.parse({**GOOD, **change}, now=NOW)
    assert (info.value.reason_code, info.value.field) == (code, field)
    assert info.value.reason_code in CODES and info.value.reason


def test_jt808_unpositioned_and_gcj02():
    t = dt.datetime(2026, 11, 20, 8, 0, tzinfo=jt808.TZ_BEIJING)
    with pytest.raises(FixRejected) as info:
        from_jt808("1", jt808.Location(121.5, 31.24, t, status=0))
    assert info.value.reason_code == "missing_coordinate"
    wgs = from_jt808("1", jt808.Location(121.5, 31.24, t))
    gcj = from_jt808("1", jt808.Location(121.5, 31.24, t), gcj02=True)
    assert 300 < abs(wgs.lon - gcj.lon) * 95000 + abs(wgs.lat - gcj.lat) * 111000 < 1000   # GCJ-02 offset, metres
