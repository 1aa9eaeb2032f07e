"""Columnar GPS fixes: numpy arrays sorted by (vehicle, time), int64 local epoch seconds.

A fleet-day is 10–15 million fixes, so fixes are never held as shapely points or
``Timestamp`` objects: :class:`Fixes` keeps one numpy array per column. Times are
*local* China Standard Time (UTC+8) seconds since 1970-01-01 00:00 local, so the
day is ``t // 86400`` and the time of day ``t % 86400`` with no time-zone work.

Input times may be naive local datetimes (the gridlib convention), tz-aware
datetimes (converted to UTC+8), ISO 8601 strings, or integers (Unix epoch seconds,
UTC by definition, converted to UTC+8).

>>> import pandas as pd
>>> df = pd.DataFrame({"vehicle_id": ["B", "A", "A", None],
...     "time": ["2026-11-20 08:00:10", "2026-11-20 08:00:00", "2026-11-20 08:00:10", "2026-11-20 08:00:00"],
...     "lon": [121.50, 121.50, 121.5005, 121.5], "lat": [31.24, 31.24, 31.24, 31.24]})
>>> fx, rejects = read_fixes(df)
>>> fx.vehicle_ids.tolist(), fx.vehicle.tolist(), fx.row.tolist(), rejects["reason"].tolist()
(['A', 'B'], [0, 0, 1], [1, 2, 0], ['missing vehicle_id'])
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyproj

from gridlib.crs import WGS84, metric_crs, resolve_crs, to_wgs84, transform_xy
from gridlib.errors import InputError
from gridlib.trucks._ids import vehicle_codes
from gridlib.types import ArrayLike, CRSLike

if TYPE_CHECKING:  # movingpandas is imported only when trajectories are converted
    import movingpandas as mpd
from gridlib.io import check_coordinates, invalid_row_rejects, load_table
from gridlib.rejects import Rejects
from gridlib.times import parse_times, reject_times

__all__ = ["Fixes", "read_fixes", "to_datetime64", "from_trajectories", "to_trajectories", "LOCAL_TZ"]

#: The zone of the naive local times gridlib uses (UTC+8, no DST).
LOCAL_TZ = "Asia/Shanghai"
_LOCAL_OFFSET_S = 8 * 3600


@dataclass
class Fixes:
    """GPS fixes as columns, sorted by (vehicle, t).

    Attributes
    ----------
    vehicle : numpy.ndarray of int32
        Code of each fix's vehicle, an index into ``vehicle_ids``.
    vehicle_ids : numpy.ndarray of object
        Sorted unique vehicle ids.
    t : numpy.ndarray of int64
        Local (UTC+8) epoch seconds.
    lon, lat : numpy.ndarray of float64
        WGS84 degrees.
    x, y : numpy.ndarray of float64
        Metres in ``crs`` (CGCS2000 Gauss–Krüger zone of the data).
    speed : numpy.ndarray of float64 or None
        Reported speed in km/h where the input had a ``speed`` column (NaN where missing).
    row : numpy.ndarray of int64
        Position of each fix in the input table, for evidence and rejects.
    crs : pyproj.CRS
        The metric CRS of ``x``/``y``.

    Examples
    --------
    >>> import pandas as pd
    >>> fx, _ = read_fixes(pd.DataFrame({"vehicle_id": ["B", "A", "A"],
    ...     "time": ["2026-11-20 08:00", "2026-11-20 08:00:10", "2026-11-20 08:00"],
    ...     "lon": [121.5, 121.5005, 121.5], "lat": 31.24}))
    >>> fx.vehicle_ids.tolist(), fx.vehicle.tolist(), fx.row.tolist(), fx.crs.to_epsg()
    (['A', 'B'], [0, 0, 1], [2, 1, 0], 4550)
    >>> round(float(fx.x[1] - fx.x[0]))   # metres east, in the CGCS2000 zone
    48
    """

    vehicle: np.ndarray
    vehicle_ids: np.ndarray
    t: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    x: np.ndarray
    y: np.ndarray
    row: np.ndarray
    crs: pyproj.CRS
    speed: np.ndarray | None = None
    reordered: int = field(default=0)

    def __len__(self) -> int:
        return len(self.t)

    def take(self, idx: np.ndarray) -> Fixes:
        """Return the fixes at integer positions or boolean mask *idx* (order kept)."""
        return replace(
            self,
            vehicle=self.vehicle[idx], t=self.t[idx], lon=self.lon[idx], lat=self.lat[idx],
            x=self.x[idx], y=self.y[idx], row=self.row[idx],
            speed=None if self.speed is None else self.speed[idx],
        )

    def vehicle_starts(self) -> np.ndarray:
        """Boolean array: True at the first fix of each vehicle."""
        new = np.ones(len(self), dtype=bool)
        new[1:] = self.vehicle[1:] != self.vehicle[:-1]
        return new

    def times(self, idx: np.ndarray | None = None) -> np.ndarray:
        """Naive local ``datetime64[s]`` of all fixes (or of positions *idx*)."""
        t = self.t if idx is None else self.t[idx]
        return t.astype("datetime64[s]")

    def to_frame(self) -> pd.DataFrame:
        """Return the fixes as a plain DataFrame (``vehicle_id``, ``time``, ``lon``, ``lat``, ``x``, ``y``...).

        >>> import pandas as pd
        >>> fx, _ = read_fixes(pd.DataFrame({"vehicle_id": ["A"], "time": ["2026-11-20 08:00"],
        ...     "lon": [121.5], "lat": [31.24]}))
        >>> fx.to_frame()[["vehicle_id", "time"]].to_dict("records")
        [{'vehicle_id': 'A', 'time': Timestamp('2026-11-20 08:00:00')}]
        """
        out = pd.DataFrame({
            "vehicle_id": self.vehicle_ids[self.vehicle],
            "time": self.times(),
            "lon": self.lon, "lat": self.lat, "x": self.x, "y": self.y, "row": self.row,
        })
        if self.speed is not None:
            out["speed"] = self.speed
        return out


def to_datetime64(values: ArrayLike) -> np.ndarray:
    """Convert times to naive local (UTC+8) ``datetime64[s]``; unparseable values become NaT.

    >>> to_datetime64(pd.Series(["2026-11-20T08:00:00+00:00", "2026-11-20 08:00", "x"])).tolist()
    [datetime.datetime(2026, 11, 20, 16, 0), datetime.datetime(2026, 11, 20, 8, 0), None]
    >>> to_datetime64(np.array([0, 1795183200000])).tolist()   # Unix epoch seconds (or ms) are UTC
    [datetime.datetime(1970, 1, 1, 8, 0), datetime.datetime(2026, 11, 20, 22, 0)]
    """
    s = pd.Series(values) if not isinstance(values, pd.Series) else values
    parsed, _ = parse_times(s, window=None)
    return parsed.to_numpy(dtype="datetime64[s]")


def read_fixes(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    crs: CRSLike = "EPSG:4326",
    metric: CRSLike | None = None,
    vehicle: str = "vehicle_id",
    time: str = "time",
    x: str = "lon",
    y: str = "lat",
    columns: dict[str, str] | None = None,
    sheet: str | int | None = None,
    header_row: int = 1,
    encoding: str | None = None,
    copy: bool = True,
) -> tuple[Fixes, pd.DataFrame]:
    """Read GPS fixes into a :class:`Fixes` and a rejects table.

    Parameters
    ----------
    source : path or DataFrame
        CSV/Parquet/GeoParquet/any OGR layer, or a (Geo)DataFrame with ``vehicle_id``,
        ``time`` and ``lon``/``lat`` (or a point geometry); ``speed`` (km/h) is optional.
    crs : optional
        CRS of the coordinates; ``"gcj02"``/``"bd09"`` are converted to WGS84.
        A GeoDataFrame's own CRS is used when it has one.
    metric : optional
        Metric CRS for distances; by default the Gauss–Krüger zone of the fixes' median.
    vehicle, time, x, y : str
        Column names.
    columns : dict, optional
        ``{"源列": "gridlib_name"}`` renames first; otherwise common headers (车牌号, 定位时间,
        经度, 纬度, 速度 …; :data:`gridlib.io.COLUMN_ALIASES`) are recognised.
    sheet, header_row, encoding : optional
        How to read the file (``.xlsx`` sheet and header row, CSV encoding); see :func:`gridlib.io.open_table`.
    copy : bool
        ``False`` lets the fixes share a DataFrame's float ``lon``/``lat`` when every row is kept in its place
        (read-only; saves their copy, a city night's: 150 MB): the frame must then not be changed while the
        fixes are used. By default the fixes own their coordinates.

    Returns
    -------
    fixes : Fixes
        Valid fixes, sorted by (vehicle, time) with a stable sort.
    rejects : pandas.DataFrame
        Rejected input rows with ``reason_code``, ``field`` and ``reason`` (codes
        ``missing_id``, ``missing_time``, ``unparseable_time``, ``missing_coordinate``,
        ``non_numeric_coordinate``, ``coordinate_out_of_range`` … from :data:`gridlib.rejects.CODES`).

    Examples
    --------
    >>> import pandas as pd
    >>> fx, bad = read_fixes(pd.DataFrame({"vehicle_id": ["A", "A"], "time": ["2026-11-20 08:00", "bad"],
    ...     "lon": [121.5, 121.5], "lat": [31.24, 31.24]}))
    >>> len(fx), bad["reason_code"].tolist(), fx.crs.to_epsg()
    (1, ['unparseable_time'], 4550)
    """

    # a frame is only read from (rejects are copies), so a caller's frame is not copied whole
    frame = load_table(source, columns=columns, wanted=(vehicle, time, x, y, "speed"), sheet=sheet,
                       header_row=header_row, encoding=encoding, copy=False)
    for col in (vehicle, time):
        if col not in frame.columns:
            raise InputError(f"fixes: required column {col!r} is missing; columns are {list(frame.columns)}")
    src_crs, scheme = resolve_crs(crs)
    geo_crs = getattr(frame, "crs", None) if hasattr(frame, "geometry") else None
    if x in frame.columns and y in frame.columns:
        xs, ys = _numbers(frame[x]), _numbers(frame[y])
    elif geo_crs is not None or hasattr(frame, "geometry"):
        import shapely

        geoms = frame.geometry.values
        xs = np.asarray(shapely.get_x(geoms), dtype="float64")
        ys = np.asarray(shapely.get_y(geoms), dtype="float64")
        if geo_crs is not None:
            src_crs, scheme = pyproj.CRS.from_user_input(geo_crs), None
    else:
        raise InputError(f"fixes: no {x!r}/{y!r} columns and no point geometry; columns are {list(frame.columns)}")
    if not src_crs.is_geographic:
        xs, ys = transform_xy(src_crs, WGS84, xs, ys)
    elif scheme is not None:
        xs, ys = to_wgs84(xs, ys, scheme)

    found = Rejects(frame.index)
    codes, uniques = vehicle_codes(frame[vehicle])
    found.add(codes < 0, "missing_id", f"missing {vehicle}", field=vehicle)
    raw_time = frame[time]
    parsed, time_codes = parse_times(raw_time)
    reject_times(found, raw_time, parsed, time_codes, time, required=True)
    dt = parsed.to_numpy(dtype="datetime64[s]")
    if x in frame.columns and y in frame.columns:
        missing = frame[x].isna().to_numpy() | frame[y].isna().to_numpy()
        for col in (x, y):
            if frame[col].dtype == object or pd.api.types.is_string_dtype(frame[col]):
                missing |= frame[col].astype("string").str.strip().fillna("").eq("").to_numpy()
        found.add(missing, "missing_coordinate", "missing coordinate", field=f"{x},{y}")
    check_coordinates(xs, ys, WGS84, found, field=f"{x},{y}")
    found.add((xs == 0) & (ys == 0), "coordinate_out_of_range", "coordinate at (0, 0)", field=f"{x},{y}")

    ok = found.ok
    rejects = found.frame(frame)
    extra = invalid_row_rejects(frame)  # CSV rows with too few / too many fields
    if len(extra):
        rejects = pd.concat([rejects, extra])

    rows = np.flatnonzero(ok).astype("int64")
    codes = codes[rows]
    # vehicles left after the rejects, renumbered densely (a bincount, not a sort of every fix)
    present = np.bincount(codes, minlength=len(uniques)) > 0 if len(codes) else np.zeros(len(uniques), bool)
    vehicle_ids = uniques[present]
    codes = (np.cumsum(present) - 1)[codes]
    t = dt[rows].astype("int64")
    del parsed, time_codes, dt  # a city's 9.5 M times, three times over: not held through the sort and transform
    order = _vehicle_time_order(codes, t)
    if order is None:  # already sorted, the usual case for tracker exports
        reordered = 0
    else:
        reordered = int(np.count_nonzero(order[1:] < order[:-1]))
        rows, codes, t = rows[order], codes[order], t[order]
    # with copy=False and every row kept in its place (the usual night): the input's coordinates themselves, not
    # a copy (a city's: 150 MB at the check's peak); fixes never write into them
    same_rows = not copy and order is None and len(rows) == len(xs)
    lon, lat = (xs, ys) if same_rows else (xs[rows], ys[rows])
    if metric is None:
        if len(rows):
            metric = metric_crs(float(np.median(lon)), float(np.median(lat)))
        else:
            metric = WGS84
    metric = pyproj.CRS.from_user_input(metric)
    if metric.is_geographic:
        mx, my = lon.copy(), lat.copy()
    else:
        mx, my = transform_xy(WGS84, metric, lon, lat)
    speed = None
    if "speed" in frame.columns:
        speed = pd.to_numeric(frame["speed"], errors="coerce").to_numpy(dtype="float64")[rows]
    fixes = Fixes(
        vehicle=codes.astype("int32"), vehicle_ids=vehicle_ids.astype(object), t=t,
        lon=lon, lat=lat, x=np.asarray(mx, dtype="float64"), y=np.asarray(my, dtype="float64"),
        row=rows, crs=metric, speed=speed, reordered=reordered,
    )
    return fixes, rejects


def _numbers(col: pd.Series) -> np.ndarray:
    """A column as float64, unparseable values NaN (float columns pass through uncopied)."""
    if col.dtype == np.float64:
        return col.to_numpy()
    return pd.to_numeric(col, errors="coerce").to_numpy(dtype="float64")


def _vehicle_time_order(codes: np.ndarray, t: np.ndarray) -> np.ndarray | None:
    """Stable order by (vehicle, time), or None when the fixes are in that order already."""
    if len(t) < 2:
        return None
    same = codes[1:] == codes[:-1]
    if ((codes[1:] > codes[:-1]) | (same & (t[1:] >= t[:-1]))).all():
        return None
    span = int(t.max() - t.min()) + 1
    if span < (1 << 40) and int(codes.max()) < (1 << 22):  # one int64 key sorts faster than lexsort
        return np.argsort((codes.astype(np.int64) << 40) | (t - t.min()), kind="stable")
    return np.lexsort((t, codes))


def to_trajectories(fixes: Fixes, *, split: np.ndarray | None = None) -> Any:
    """Return a movingpandas ``TrajectoryCollection`` of the fixes (one trajectory per vehicle).

    Parameters
    ----------
    fixes : Fixes
    split : numpy.ndarray of int, optional
        A segment number per fix (for example trip ids); trajectories are then
        ``<vehicle>_<segment>`` and fixes with a negative number are left out.

    Examples
    --------
    >>> import pandas as pd
    >>> fx, _ = read_fixes(pd.DataFrame({"vehicle_id": ["A", "A"], "time": ["2026-11-20 08:00", "2026-11-20 08:01"],
    ...     "lon": [121.5, 121.501], "lat": [31.24, 31.24]}))
    >>> tc = to_trajectories(fx)
    >>> len(tc), tc.trajectories[0].id
    (1, 'A')
    """
    import geopandas as gpd
    import movingpandas as mpd

    vid = fixes.vehicle_ids[fixes.vehicle]
    keep = np.ones(len(fixes), dtype=bool)
    if split is not None:
        keep = split >= 0
        vid = np.char.add(np.char.add(vid.astype(str), "_"), split.astype(str))
    df = gpd.GeoDataFrame(
        {"traj_id": vid[keep], "t": fixes.times()[keep], "vehicle_id": fixes.vehicle_ids[fixes.vehicle][keep]},
        geometry=gpd.points_from_xy(fixes.lon[keep], fixes.lat[keep]), crs=WGS84,
    )
    return mpd.TrajectoryCollection(df, "traj_id", t="t")


def from_trajectories(collection: mpd.TrajectoryCollection | mpd.Trajectory, *, vehicle: str | None = None) -> tuple[Fixes, pd.DataFrame]:
    """Read a movingpandas ``TrajectoryCollection`` (or one ``Trajectory``) into :class:`Fixes`.

    The vehicle id is the trajectory id, or the column *vehicle* when given.

    >>> import pandas as pd
    >>> fx, _ = read_fixes(pd.DataFrame({"vehicle_id": ["A", "A"], "time": ["2026-11-20 08:00", "2026-11-20 08:01"],
    ...     "lon": [121.5, 121.501], "lat": [31.24, 31.24]}))
    >>> back, rejects = from_trajectories(to_trajectories(fx))
    >>> back.vehicle_ids.tolist(), back.t.tolist() == fx.t.tolist(), len(rejects)
    (['A'], True, 0)
    """
    import movingpandas as mpd

    trajs = [collection] if isinstance(collection, mpd.Trajectory) else list(collection.trajectories)
    if not trajs:
        raise InputError("the trajectory collection is empty")
    parts = []
    for tr in trajs:  # one frame per trajectory, not per fix
        df = tr.df
        part = pd.DataFrame({
            "vehicle_id": df[vehicle].to_numpy() if vehicle else np.full(len(df), str(tr.id), dtype=object),
            "time": df.index.to_numpy(),
        })
        geo = df.geometry.to_crs(WGS84) if df.crs is not None else df.geometry
        part["lon"] = geo.x.to_numpy()
        part["lat"] = geo.y.to_numpy()
        parts.append(part)
    return read_fixes(pd.concat(parts, ignore_index=True))
