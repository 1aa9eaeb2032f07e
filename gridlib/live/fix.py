"""The fix record every live protocol produces, and the reject a bad one raises.

Times are tz-aware UTC; :attr:`Fix.local_time` gives the naive UTC+8 time the batch truck
tools (``gl.trucks.read_fixes``) use. Coordinates are WGS-84 degrees; speed km/h.

>>> import datetime as dt
>>> from gridlib.live import jt808
>>> loc = jt808.Location(121.5, 31.24, dt.datetime(2026, 11, 20, 8, 0, tzinfo=jt808.TZ_BEIJING), 36.0)
>>> fix = from_jt808("13800138000", loc)
>>> fix.device_id, fix.time.isoformat(), fix.local_time.isoformat(), fix.speed_kmh
('13800138000', '2026-11-20T00:00:00+00:00', '2026-11-20T08:00:00', 36.0)
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass
from typing import Any

from gridlib.live.jt808 import frozen_constructor
from gridlib.rejects import CODES

__all__ = ["Fix", "FixRejected", "from_jt808", "from_jt808_values", "check_position"]

_UTC8 = dt.timedelta(hours=8)


class FixRejected(ValueError):
    """A fix that cannot be accepted: ``reason_code`` from :data:`gridlib.rejects.CODES`, ``field``, ``reason``.

    >>> FixRejected("missing_coordinate", "no position", "lat").as_dict()
    {'reason_code': 'missing_coordinate', 'field': 'lat', 'reason': 'no position'}
    """

    def __init__(self, reason_code: str, reason: str, field: str | None = None) -> None:
        if reason_code not in CODES:
            raise KeyError(f"unknown reject code {reason_code!r}")
        super().__init__(reason)
        self.reason_code, self.reason, self.field = reason_code, reason, field

    def as_dict(self) -> dict[str, Any]:
        return {"reason_code": self.reason_code, "field": self.field, "reason": self.reason}


@dataclass(frozen=True)
class Fix:
    """One GPS fix from a terminal or phone (``source`` jt808 | osmand).

    >>> f = Fix("13800138000", dt.datetime(2026, 11, 20, 0, 0, tzinfo=dt.UTC), 121.5, 31.24, "osmand")
    >>> f.local_time
    datetime.datetime(2026, 11, 20, 8, 0)
    """

    device_id: str
    time: dt.datetime
    lon: float
    lat: float
    source: str
    speed_kmh: float | None = None
    heading: float | None = None
    altitude_m: float | None = None
    accuracy_m: float | None = None
    alarm: int | None = None
    status: int | None = None
    mileage_km: float | None = None
    satellites: int | None = None
    signal: int | None = None

    @property
    def local_time(self) -> dt.datetime:
        """Naive UTC+8 time (the gridlib convention for truck fixes)."""
        return (self.time.astimezone(dt.UTC) + _UTC8).replace(tzinfo=None)

    def as_record(self) -> dict[str, Any]:
        """A flat dict: the fields plus ``local_time`` (ISO text), ready for a table row."""
        out = asdict(self)
        out["time"] = self.time.isoformat()
        out["local_time"] = self.local_time.isoformat()
        return out


def check_position(lon: float, lat: float) -> None:
    """Raise :class:`FixRejected` unless lon/lat are finite and in range.

    >>> check_position(200.0, 31.0)
    Traceback (most recent call last):
    ...
    gridlib.live.fix.FixRejected: longitude 200.0 is outside [-180, 180]
    """
    for name, value, limit in (("lon", lon, 180.0), ("lat", lat, 90.0)):
        if not math.isfinite(value):
            raise FixRejected("non_numeric_coordinate", f"{name} {value} is not a finite number", name)
        if abs(value) > limit:
            word = "longitude" if name == "lon" else "latitude"
            raise FixRejected("coordinate_out_of_range", f"{word} {value} is outside [-{limit:g}, {limit:g}]", name)


def from_jt808(terminal: str, loc: Any, *, gcj02: bool = False) -> Fix:
    """The :class:`Fix` of a decoded JT/T 808 location (converted from GCJ-02 when the terminal reports it).

    A terminal without a position (status bit 1 clear) is rejected (``missing_coordinate``).

    >>> from gridlib.live.jt808 import TZ_BEIJING, Location
    >>> loc = Location(121.5, 31.24, dt.datetime(2026, 11, 20, 8, 0, tzinfo=TZ_BEIJING), status=0x2)
    >>> fix = from_jt808("13800138000", loc)
    >>> fix.source, fix.local_time.isoformat()
    ('jt808', '2026-11-20T08:00:00')
    """
    return from_jt808_values(terminal, (loc.lon, loc.lat, loc.time, loc.speed_kmh, loc.direction, loc.altitude_m,
                                        loc.alarm, loc.status, loc.mileage_km, loc.signal, loc.satellites), gcj02=gcj02)


def from_jt808_values(terminal: str, values: tuple, *, gcj02: bool = False) -> Fix:
    """:func:`from_jt808` of a location's fields in :class:`~gridlib.live.jt808.Location` order (as
    :func:`~gridlib.live.jt808.location_values` reads them; ``extra`` may follow), without the object.

    >>> from gridlib.live import jt808
    >>> loc = jt808.Location(121.5, 31.24, dt.datetime(2026, 11, 20, 8, 0, tzinfo=jt808.TZ_BEIJING), 36.0)
    >>> body = jt808.encode_location(loc)
    >>> from_jt808_values("1", jt808.location_values(body)) == from_jt808("1", jt808.decode_location(body))
    True
    """
    lon, lat, time, speed, direction, altitude, alarm, status, mileage, signal, satellites = values[:11]
    if not status & 0x2:
        raise FixRejected("missing_coordinate", f"terminal {terminal} reports no GNSS position (status {status:#x})")
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):     # NaN fails too; the check names the problem
        check_position(lon, lat)
    if gcj02:
        from gridlib.crs import gcj02_to_wgs84

        lon, lat = (float(v) for v in gcj02_to_wgs84(lon, lat))
    t = _UTC_OF.get(time)
    if t is None:
        if len(_UTC_OF) >= 1 << 16:
            _UTC_OF.clear()
        t = _UTC_OF[time] = time.astimezone(dt.UTC)     # the fixes of one second share it
    return _fix(terminal, t, lon, lat, "jt808", speed, float(direction), float(altitude), None, alarm, status,
                mileage, satellites, signal)


_UTC_OF: dict[dt.datetime, dt.datetime] = {}
_fix = frozen_constructor(Fix)
