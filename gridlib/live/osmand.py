"""The OsmAnd protocol (what Traccar Client sends): query or form parameters → :class:`~gridlib.live.fix.Fix`.

``id, lat, lon, timestamp, speed, bearing, altitude, accuracy`` (``location=lat,lon`` is accepted
for ``lat``/``lon``); speed in knots, timestamp Unix seconds (milliseconds when it has more than
11 digits) or ISO 8601 (read as UTC without an offset). A bad value raises
:class:`~gridlib.live.fix.FixRejected` with its ``reason_code``.

>>> import datetime as dt
>>> now = dt.datetime(2026, 11, 26, 8, tzinfo=dt.timezone.utc)
>>> fix = parse({"id": "T1", "lat": "31.24", "lon": "121.5", "timestamp": "1795651200", "speed": "10"}, now=now)
>>> fix.device_id, fix.time.isoformat(), round(fix.speed_kmh, 2)
('T1', '2026-11-26T00:00:00+00:00', 18.52)
>>> parse({"id": "T1", "lat": "x", "lon": "121.5", "timestamp": "1795651200"})
Traceback (most recent call last):
...
gridlib.live.fix.FixRejected: lat 'x' is not a number
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

from gridlib.live.fix import Fix, FixRejected, check_position

__all__ = ["parse", "KNOT_KMH"]

KNOT_KMH = 1.852
# a fix further than this from the server's clock is refused (terminals with a reset RTC send 2000-01-01)
_MAX_SKEW = dt.timedelta(days=366)


def _number(params: Mapping[str, str], name: str, *, code: str, lo: float = -math.inf,
            hi: float = math.inf) -> float | None:
    raw = params.get(name)
    if raw is None or str(raw).strip() == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise FixRejected(code, f"{name} {raw!r} is not a number", name) from None
    if not math.isfinite(value):
        raise FixRejected(code, f"{name} {raw!r} is not a finite number", name)
    if not lo <= value <= hi:
        raise FixRejected("bad_number" if code == "bad_number" else "coordinate_out_of_range",
                          f"{name} {value:g} is outside [{lo:g}, {hi:g}]", name)
    return value


def _time(raw: str | None, now: dt.datetime) -> dt.datetime:
    if raw is None or str(raw).strip() == "":
        raise FixRejected("missing_time", "timestamp is missing", "timestamp")
    text = str(raw).strip()
    try:
        if text.lstrip("-").isdigit():
            seconds = int(text) / (1000 if len(text.lstrip("-")) > 11 else 1)
            t = dt.datetime.fromtimestamp(seconds, dt.UTC)
        else:
            t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            t = t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise FixRejected("unparseable_time", f"timestamp {text!r} is neither Unix seconds nor ISO 8601",
                          "timestamp") from None
    if abs(t - now) > _MAX_SKEW:
        raise FixRejected("time_out_of_range", f"timestamp {t.isoformat()} is more than a year from now",
                          "timestamp")
    return t


def parse(params: Mapping[str, str], *, now: dt.datetime | None = None) -> Fix:
    """Read one OsmAnd request's parameters.

    Parameters
    ----------
    params : mapping of str
        Query (GET) or form (POST) parameters.
    now : datetime, optional
        The server clock (tz-aware); fixes more than a year away are refused. Default: now.

    Returns
    -------
    Fix

    Raises
    ------
    FixRejected
        With ``reason_code`` (``missing_id``, ``missing_coordinate``, ``non_numeric_coordinate``,
        ``coordinate_out_of_range``, ``missing_time``, ``unparseable_time``, ``time_out_of_range``,
        ``bad_number``), ``field`` and ``reason``.

    Examples
    --------
    >>> import datetime as dt
    >>> fix = parse({"id": "phone1", "lat": "31.24", "lon": "121.5", "timestamp": "1763596800", "speed": "10"},
    ...             now=dt.datetime(2025, 11, 20, tzinfo=dt.UTC))
    >>> fix.device_id, round(fix.speed_kmh, 2), fix.local_time.isoformat()
    ('phone1', 18.52, '2025-11-20T08:00:00')
    """
    now = now or dt.datetime.now(dt.UTC)
    device = str(params.get("id") or params.get("deviceid") or "").strip()
    if not device:
        raise FixRejected("missing_id", "id is missing", "id")
    values = dict(params)
    if (values.get("lat") in (None, "") or values.get("lon") in (None, "")) and values.get("location"):
        lat_text, _, lon_text = str(values["location"]).partition(",")
        values["lat"], values["lon"] = lat_text, lon_text
    lat = _number(values, "lat", code="non_numeric_coordinate", lo=-90, hi=90)
    lon = _number(values, "lon", code="non_numeric_coordinate", lo=-180, hi=180)
    if lat is None or lon is None:
        field = "lat" if lat is None else "lon"
        raise FixRejected("missing_coordinate", f"{field} is missing", field)
    check_position(lon, lat)
    t = _time(values.get("timestamp"), now)
    speed = _number(values, "speed", code="bad_number", lo=0, hi=500 / KNOT_KMH)
    bearing = _number(values, "bearing", code="bad_number", lo=0, hi=360)
    altitude = _number(values, "altitude", code="bad_number", lo=-500, hi=10000)
    accuracy = _number(values, "accuracy", code="bad_number", lo=0, hi=1e6)
    return Fix(device, t, lon, lat, "osmand", None if speed is None else speed * KNOT_KMH, bearing, altitude, accuracy)

