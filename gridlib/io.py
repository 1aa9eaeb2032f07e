"""Reading and writing files, with input normalisation and rejects.

Readers never drop a record silently: they return ``(accepted, rejects)`` where
``rejects`` holds the original rows (original index kept) plus a ``reason``,
and ``len(accepted) + len(rejects) == len(input)``. Declared offset systems
(``crs="gcj02"`` or ``"bd09"``) are converted to WGS84 explicitly.

Writers are atomic: they write a temporary file next to the target and
rename it into place, so a crash never leaves a half-written file.

>>> import pandas as pd
>>> df = pd.DataFrame({"id": ["a", "b", "c"], "lon": [121.50, None, 200.0], "lat": [31.24, 31.24, 31.2]})
>>> ok, bad = read_points(df, id="id")
>>> len(ok), bad["reason"].tolist()
(1, ['missing coordinate', 'coordinate out of range (lon=200, lat=31.2)'])
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gridlib.crs import WGS84, resolve_crs, to_wgs84
from gridlib.errors import CRSError, InputError

__all__ = [
    "read_points",
    "read_layer",
    "read_table",
    "write_gpkg",
    "write_geojson",
    "write_parquet",
    "write_csv",
    "write_any",
    "atomic_path",
    "REJECT_REASONS",
]

log = logging.getLogger(__name__)

#: Every reason a reader can give, for documentation and for counting rejects.
REJECT_REASONS = (
    "missing coordinate",
    "non-numeric coordinate",
    "coordinate out of range",
    "probably swapped lon/lat",
    "outside the study area",
    "duplicate id",
    "missing id",
    "unparseable timestamp",
    "missing timestamp",
    "empty geometry",
    "invalid geometry",
    "missing geometry",
)

_TABLE_SUFFIXES = {".csv", ".txt", ".tsv", ".parquet", ".pq"}


# ---------------------------------------------------------------- reading


def read_table(source: str | os.PathLike[str] | pd.DataFrame, **kwargs: Any) -> pd.DataFrame:
    """Read a file into a (Geo)DataFrame by its suffix; a DataFrame is returned as a copy.

    CSV columns are read as strings so codes keep their leading zeros and nothing
    is guessed; :func:`read_points` parses coordinates and times itself.

    >>> read_table(pd.DataFrame({"a": [1]}))["a"].tolist()
    [1]
    """
    if isinstance(source, pd.DataFrame):
        return source.copy()
    path = Path(source)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], **kwargs)
    if suffix == ".tsv":
        return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, na_values=[""], **kwargs)
    if suffix in (".parquet", ".pq"):
        try:
            return gpd.read_parquet(path, **kwargs)
        except (ValueError, KeyError):
            return pd.read_parquet(path, **kwargs)
    try:
        return gpd.read_file(path, engine="pyogrio", **kwargs)
    except Exception as exc:  # pyogrio raises its own error types per driver
        raise InputError(f"{path}: cannot read as a GIS layer ({exc})") from exc


def _reason_frame(index: pd.Index) -> pd.Series:
    return pd.Series(pd.array([None] * len(index), dtype="object"), index=index, dtype="object")


def _set_reason(reasons: pd.Series, mask: np.ndarray | pd.Series, text: str | pd.Series) -> None:
    """Record *text* for rows in *mask* that have no reason yet (the first problem wins)."""
    mask = np.asarray(mask, dtype=bool) & reasons.isna().to_numpy()
    if not mask.any():
        return
    if isinstance(text, pd.Series):
        reasons[mask] = text[mask].to_numpy()
    else:
        reasons[mask] = text


def _check_ids(frame: pd.DataFrame, id: str, reasons: pd.Series) -> None:
    """Reject rows whose id is missing or repeats an earlier row's (the first occurrence is kept)."""
    if id not in frame.columns:
        raise InputError(f"id column {id!r} not found; columns are {list(frame.columns)}")
    ids = frame[id]
    _set_reason(reasons, ids.isna().to_numpy(), "missing id")
    dup = ids.duplicated(keep="first").to_numpy() & ids.notna().to_numpy()
    if dup.any():
        text = pd.Series("", index=frame.index, dtype=object)
        text[dup] = "duplicate id " + ids[dup].astype(str).to_numpy().astype(object)
        _set_reason(reasons, dup, text)


def _fmt(values: np.ndarray) -> np.ndarray:
    return np.array([f"{v:g}" for v in values], dtype=object) if len(values) else np.array([], dtype=object)


def _area_union(area: Any) -> shapely.Geometry | None:
    if area is None:
        return None
    if isinstance(area, gpd.GeoDataFrame | gpd.GeoSeries):
        geom = shapely.union_all(area.to_crs(WGS84).geometry.values)
    else:
        geom = area
    if not isinstance(geom, shapely.Geometry) or geom.is_empty:
        raise InputError("area= must be a non-empty polygon (WGS84) or a GeoDataFrame/GeoSeries with a CRS")
    shapely.prepare(geom)
    return geom


def read_points(
    source: str | os.PathLike[str] | pd.DataFrame,
    *,
    x: str = "lon",
    y: str = "lat",
    crs: Any = "EPSG:4326",
    id: str | None = None,
    time: str | list[str] | None = None,
    area: Any = None,
    to_crs: Any = None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Read point records and split them into accepted points and rejects.

    Parameters
    ----------
    source : path or DataFrame
        CSV, Parquet/GeoParquet, GeoPackage, GeoJSON, Shapefile, or a (Geo)DataFrame.
        Points come from the ``x``/``y`` columns, or from the geometry when the
        source has one and lacks those columns.
    x, y : str
        Coordinate column names (longitude and latitude for geographic CRSs).
    crs : str, int or pyproj.CRS
        CRS of the coordinates; ``"gcj02"`` and ``"bd09"`` are converted to WGS84.
        A GeoDataFrame's own CRS wins over the default.
    id : str, optional
        Identifier column: missing or repeated ids are rejected (the first occurrence is kept).
    time : str or list of str, optional
        Timestamp column(s) parsed to ``datetime64``; unparseable values are rejected,
        empty values are kept as NaT.
    area : polygon or GeoDataFrame, optional
        Study area; points outside it are rejected (or flagged as swapped when the
        swapped pair falls inside).
    to_crs : optional
        Reproject accepted points to this CRS (for example ``gl.crs.metric_crs_for``).

    Returns
    -------
    accepted : geopandas.GeoDataFrame
        Valid points (WGS84 unless the input was projected or ``to_crs`` given),
        original columns kept, original index kept.
    rejects : pandas.DataFrame
        The rejected rows exactly as read, plus ``reason``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"lon": ["121.5", "31.24", "x"], "lat": ["31.24", "121.5", "31.2"]})
    >>> ok, bad = read_points(df)
    >>> len(ok), bad["reason"].tolist()
    (1, ['probably swapped lon/lat', 'non-numeric coordinate'])
    """
    frame = read_table(source)
    n = len(frame)
    src_crs, scheme = resolve_crs(crs)
    if isinstance(frame, gpd.GeoDataFrame) and frame.crs is not None and crs in (None, "EPSG:4326"):
        src_crs, scheme = pyproj.CRS.from_user_input(frame.crs), None
    reasons = _reason_frame(frame.index)
    use_geometry = x not in frame.columns or y not in frame.columns
    if use_geometry:
        if not isinstance(frame, gpd.GeoDataFrame):
            raise InputError(
                f"no coordinate columns {x!r}/{y!r} and no geometry; columns are {list(frame.columns)}"
            )
        geoms = frame.geometry.values
        _set_reason(reasons, shapely.is_missing(geoms), "missing geometry")
        _set_reason(reasons, shapely.is_empty(geoms), "empty geometry")
        not_point = shapely.get_type_id(geoms) != 0
        _set_reason(reasons, not_point & ~shapely.is_missing(geoms), "invalid geometry")
        usable = np.where(not_point | shapely.is_empty(geoms), None, geoms)
        xs, ys = shapely.get_x(usable), shapely.get_y(usable)
    else:
        raw_x, raw_y = frame[x], frame[y]
        missing = raw_x.isna().to_numpy() | raw_y.isna().to_numpy()
        if raw_x.dtype == object or pd.api.types.is_string_dtype(raw_x):
            missing |= raw_x.astype("string").str.strip().fillna("").eq("").to_numpy()
        if raw_y.dtype == object or pd.api.types.is_string_dtype(raw_y):
            missing |= raw_y.astype("string").str.strip().fillna("").eq("").to_numpy()
        xs = pd.to_numeric(raw_x, errors="coerce").to_numpy(dtype="float64")
        ys = pd.to_numeric(raw_y, errors="coerce").to_numpy(dtype="float64")
        _set_reason(reasons, missing, "missing coordinate")
        _set_reason(reasons, ~np.isfinite(xs) | ~np.isfinite(ys), "non-numeric coordinate")

    finite = np.isfinite(xs) & np.isfinite(ys)
    geographic = src_crs.is_geographic
    if geographic:
        in_range = finite & (np.abs(xs) <= 180) & (np.abs(ys) <= 90)
        swapped_ok = finite & (np.abs(ys) <= 180) & (np.abs(xs) <= 90)
        # lat beyond ±90 but the pair read the other way round is a valid position
        swapped = ~in_range & swapped_ok
        _set_reason(reasons, swapped, "probably swapped lon/lat")
        bad = finite & ~in_range
        if bad.any():
            text = pd.Series("", index=frame.index, dtype=object)
            text[bad] = "coordinate out of range (lon=" + _fmt(xs[bad]) + ", lat=" + _fmt(ys[bad]) + ")"
            _set_reason(reasons, bad, text)

    ok = reasons.isna().to_numpy()
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    if geographic:
        lon[ok], lat[ok] = to_wgs84(xs[ok], ys[ok], scheme)
        out_crs = WGS84 if scheme else src_crs
    else:
        lon[ok], lat[ok] = xs[ok], ys[ok]
        out_crs = src_crs

    region = _area_union(area)
    if region is not None:
        check_x, check_y = lon, lat
        if not out_crs.equals(WGS84):
            tr = pyproj.Transformer.from_crs(out_crs, WGS84, always_xy=True)
            check_x, check_y = tr.transform(lon, lat)
        inside = np.zeros(n, dtype=bool)
        inside[ok] = shapely.contains_xy(region, check_x[ok], check_y[ok])
        outside = ok & ~inside
        if geographic and outside.any():
            sx, sy = to_wgs84(ys[outside], xs[outside], scheme)
            swap_inside = np.zeros(n, dtype=bool)
            swap_inside[outside] = shapely.contains_xy(region, sx, sy)
            _set_reason(reasons, swap_inside, "probably swapped lon/lat")
        _set_reason(reasons, outside, "outside the study area")

    if id is not None:
        _check_ids(frame, id, reasons)

    parsed_times: dict[str, pd.Series] = {}
    for column in [time] if isinstance(time, str) else (time or []):
        if column not in frame.columns:
            raise InputError(f"time column {column!r} not found; columns are {list(frame.columns)}")
        raw = frame[column]
        if pd.api.types.is_datetime64_any_dtype(raw):
            parsed = raw
        else:
            parsed = pd.to_datetime(raw, errors="coerce", format="mixed")
        blank = raw.isna() | raw.astype("string").str.strip().fillna("").eq("")
        bad_time = parsed.isna() & ~blank
        if bad_time.any():
            text = pd.Series("", index=frame.index, dtype=object)
            text[bad_time.to_numpy()] = (
                f"unparseable timestamp in {column}: " + raw[bad_time].astype(str).to_numpy().astype(object)
            )
            _set_reason(reasons, bad_time.to_numpy(), text)
        parsed_times[column] = parsed

    ok = reasons.isna().to_numpy()
    rejects = frame.loc[~ok].copy()
    if isinstance(rejects, gpd.GeoDataFrame):
        rejects = pd.DataFrame(rejects)
    rejects["reason"] = reasons[~ok].to_numpy()
    rejects["reason"] = rejects["reason"].astype(object)

    accepted = pd.DataFrame(frame.loc[ok]).copy()
    if isinstance(frame, gpd.GeoDataFrame):
        accepted = accepted.drop(columns=frame.geometry.name)
    for column, parsed in parsed_times.items():
        accepted[column] = parsed[ok]
    if not use_geometry:
        accepted[x] = xs[ok] if not scheme else lon[ok]
        accepted[y] = ys[ok] if not scheme else lat[ok]
    geometry = gpd.points_from_xy(lon[ok], lat[ok], crs=out_crs)
    accepted = gpd.GeoDataFrame(accepted, geometry=geometry, crs=out_crs)
    if to_crs is not None:
        accepted = accepted.to_crs(to_crs)
    if len(rejects):
        log.info("read_points: %d accepted, %d rejected (%s)", len(accepted), len(rejects),
                 rejects["reason"].str.split(r" \(|:", regex=True).str[0].value_counts().to_dict())
    assert len(accepted) + len(rejects) == n
    return accepted, rejects


def open_layer(source: str | os.PathLike[str] | gpd.GeoDataFrame, layer: str | None = None, *,
                bbox: tuple[float, float, float, float] | None = None, where: str | None = None) -> gpd.GeoDataFrame:
    """Read a vector layer (or copy a GeoDataFrame) as it is: nothing rejected, nothing reprojected.

    >>> g = gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(0, 0)], crs=4326)
    >>> open_layer(g).equals(g)
    True
    """
    if isinstance(source, gpd.GeoDataFrame):
        return source.copy()
    path = Path(source)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    try:
        return gpd.read_file(path, layer=layer, bbox=bbox, where=where, engine="pyogrio")
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InputError(f"{path}: cannot read layer {layer!r} ({exc})") from exc


def declare_crs(frame: gpd.GeoDataFrame, crs: Any) -> tuple[gpd.GeoDataFrame, str | None]:
    """Apply a user's ``crs=`` to a layer; return it with the offset scheme still to convert, if any.

    >>> g = gpd.GeoDataFrame({"a": [1]}, geometry=[shapely.Point(121.5, 31.2)])
    >>> frame, scheme = declare_crs(g, "gcj02")
    >>> frame.crs.to_epsg(), scheme
    (4326, 'gcj02')
    """
    if crs is None:
        return frame, None
    target, scheme = resolve_crs(crs)
    if frame.crs is not None and not scheme and not pyproj.CRS(frame.crs).equals(target):
        log.warning("layer says its CRS is %s but crs=%s was given; using the given CRS", frame.crs, crs)
    return frame.set_crs(target, allow_override=True), scheme


def read_layer(
    source: str | os.PathLike[str] | gpd.GeoDataFrame,
    layer: str | None = None,
    *,
    crs: Any = None,
    bbox: tuple[float, float, float, float] | None = None,
    where: str | None = None,
    id: str | None = None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Read a vector layer (any OGR format) and reject empty or invalid geometries.

    Parameters
    ----------
    source : path or GeoDataFrame
    layer : str, optional
        Layer name for multi-layer sources (GeoPackage).
    crs : optional
        The layer's CRS when the file has none (a Shapefile without .prj), or
        ``"gcj02"``/``"bd09"`` for offset data, which are converted to WGS84.
        A file without a CRS and no ``crs=`` is an error.
    bbox, where : optional
        Passed to pyogrio to read a part of the layer.
    id : str, optional
        Identifier column: missing or repeated ids are rejected.

    Returns
    -------
    accepted : geopandas.GeoDataFrame
    rejects : pandas.DataFrame
        Rejected rows with ``reason`` (geometry kept as WKT in ``geometry_wkt``).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Polygon
    >>> bowtie = Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    >>> g = gpd.GeoDataFrame({"code": ["a", "b"]}, geometry=[bowtie, Polygon([(0, 0), (1, 0), (1, 1)])], crs=4547)
    >>> ok, bad = read_layer(g)
    >>> ok["code"].tolist(), bad["reason"].str.startswith("invalid geometry").tolist()
    (['b'], [True])
    """
    frame, scheme = declare_crs(open_layer(source, layer, bbox=bbox, where=where), crs)
    if frame.crs is None:
        raise CRSError(
            f"{source if not isinstance(source, gpd.GeoDataFrame) else 'the layer'} has no CRS "
            "(a Shapefile without .prj?); pass crs= to say which CRS it is in"
        )
    geoms = frame.geometry.values
    reasons = _reason_frame(frame.index)
    _set_reason(reasons, shapely.is_missing(geoms), "missing geometry")
    _set_reason(reasons, shapely.is_empty(geoms), "empty geometry")
    invalid = ~shapely.is_valid(geoms) & reasons.isna().to_numpy()
    if invalid.any():
        text = pd.Series("", index=frame.index, dtype=object)
        text[invalid] = "invalid geometry: " + np.asarray(shapely.is_valid_reason(geoms[invalid]), dtype=object)
        _set_reason(reasons, invalid, text)
    if id is not None:
        _check_ids(frame, id, reasons)
    ok = reasons.isna().to_numpy()
    rejects = pd.DataFrame(frame.loc[~ok].drop(columns=frame.geometry.name))
    rejects["geometry_wkt"] = shapely.to_wkt(geoms[~ok])
    rejects["reason"] = reasons[~ok].to_numpy().astype(object)
    accepted = frame.loc[ok].copy()
    if scheme:
        accepted = convert_offset(accepted, scheme)
    return accepted, rejects


def convert_offset(gdf: gpd.GeoDataFrame, scheme: str) -> gpd.GeoDataFrame:
    """Convert every vertex of *gdf* from an offset scheme to WGS84 (vectorised).

    >>> g = gpd.GeoDataFrame(geometry=[shapely.Point(121.5, 31.2)], crs=4326)
    >>> round(float(convert_offset(g, "gcj02").geometry.x.iloc[0]), 4)
    121.4956
    """
    geoms = gdf.geometry.values
    coords = shapely.get_coordinates(geoms)
    lon, lat = to_wgs84(coords[:, 0], coords[:, 1], scheme)
    out = gdf.copy()
    out[gdf.geometry.name] = shapely.set_coordinates(shapely.from_wkb(shapely.to_wkb(geoms)), np.column_stack([lon, lat]))
    return out.set_crs(WGS84, allow_override=True)


# ---------------------------------------------------------------- writing


@contextmanager
def atomic_path(path: str | os.PathLike[str], *, copy_existing: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to *path*; move it into place only on success.

    With ``copy_existing=True`` the temporary file starts as a copy of the
    current file (used to add a layer to a GeoPackage atomically).

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("done")
    >>> target.read_text()
    'done'
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp" + target.suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if copy_existing and target.exists():
            shutil.copyfile(target, tmp)
        else:
            tmp.unlink()
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _check_crs(gdf: gpd.GeoDataFrame) -> None:
    if isinstance(gdf, gpd.GeoDataFrame) and gdf.crs is None:
        raise CRSError("refusing to write a GeoDataFrame without a CRS; set one with .set_crs()")


def write_gpkg(gdf: gpd.GeoDataFrame, path: str | os.PathLike[str], layer: str) -> Path:
    """Write (or replace) one layer of a GeoPackage atomically; other layers are kept.

    >>> import geopandas as gpd, tempfile, pathlib
    >>> from shapely.geometry import Point
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "out.gpkg"
    >>> _ = write_gpkg(gpd.GeoDataFrame({"a": [1]}, geometry=[Point(0, 0)], crs=4326), p, "pts")
    >>> gpd.list_layers(p)["name"].tolist()
    ['pts']
    """
    _check_crs(gdf)
    with atomic_path(path, copy_existing=True) as tmp:
        gdf.to_file(tmp, layer=layer, driver="GPKG", engine="pyogrio", mode="w")
    return Path(path)


def write_geojson(gdf: gpd.GeoDataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a GeoJSON file atomically (reprojected to WGS84, as RFC 7946 requires).

    >>> import geopandas as gpd, tempfile, pathlib
    >>> from shapely.geometry import Point
    >>> p = write_geojson(gpd.GeoDataFrame({"a": [1]}, geometry=[Point(1, 2)], crs=4326),
    ...                   pathlib.Path(tempfile.mkdtemp()) / "x.geojson")
    >>> p.suffix
    '.geojson'
    """
    _check_crs(gdf)
    with atomic_path(path) as tmp:
        # name the layer after the target, not the temporary file, so the same data give the same bytes
        gdf.to_crs(WGS84).to_file(tmp, driver="GeoJSON", engine="pyogrio", layer=Path(path).stem, WRITE_BBOX="NO")
    return Path(path)


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write GeoParquet (GeoDataFrame) or Parquet (DataFrame) atomically.

    >>> import pandas as pd, tempfile, pathlib
    >>> p = write_parquet(pd.DataFrame({"a": [1]}), pathlib.Path(tempfile.mkdtemp()) / "x.parquet")
    >>> pd.read_parquet(p)["a"].tolist()
    [1]
    """
    _check_crs(frame)  # type: ignore[arg-type]
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return Path(path)


def write_csv(frame: pd.DataFrame, path: str | os.PathLike[str], *, geometry: str = "wkt") -> Path:
    """Write CSV atomically; a geometry column is written as WKT (or dropped with ``geometry=None``).

    >>> import pandas as pd, tempfile, pathlib
    >>> p = write_csv(pd.DataFrame({"a": [1]}), pathlib.Path(tempfile.mkdtemp()) / "x.csv")
    >>> p.read_text().splitlines()
    ['a', '1']
    """
    out = pd.DataFrame(frame).copy()
    if isinstance(frame, gpd.GeoDataFrame):
        name = frame.geometry.name
        if geometry == "wkt":
            out[name] = shapely.to_wkt(frame.geometry.values, rounding_precision=-1)
        else:
            out = out.drop(columns=name)
    with atomic_path(path) as tmp:
        out.to_csv(tmp, index=False, lineterminator="\n")
    return Path(path)


def write_any(frame: pd.DataFrame, path: str | os.PathLike[str], *, layer: str | None = None) -> Path:
    """Write by suffix: .gpkg (needs *layer*), .geojson/.json, .parquet, .csv.

    >>> import pandas as pd, tempfile, pathlib
    >>> write_any(pd.DataFrame({"a": [1]}), pathlib.Path(tempfile.mkdtemp()) / "x.csv").suffix
    '.csv'
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".gpkg":
        return write_gpkg(frame, path, layer or Path(path).stem)  # type: ignore[arg-type]
    if suffix in (".geojson", ".json"):
        return write_geojson(frame, path)  # type: ignore[arg-type]
    if suffix in (".parquet", ".pq"):
        return write_parquet(frame, path)
    if suffix == ".csv":
        return write_csv(frame, path)
    raise InputError(f"{path}: unknown output format {suffix!r}; use .gpkg, .geojson, .parquet or .csv")
