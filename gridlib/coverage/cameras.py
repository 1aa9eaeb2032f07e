"""Camera records: reading, presets and validation with rejects.

A camera has an id, a point location, a ``heading`` (degrees clockwise from
north, the centre of its view), a horizontal field of view ``fov`` in degrees
(360 for domes and PTZ cameras that turn) and a ``range_m`` in metres beyond
which it cannot identify anything useful. ``height_m`` and ``type`` are optional.
Missing ``fov``/``range_m`` are filled from the type preset (:data:`PRESETS`);
anything that still cannot be used goes to the rejects with a reason.

>>> import geopandas as gpd
>>> from shapely import Point
>>> cams = gpd.GeoDataFrame({"camera_id": ["a", "b"], "heading": [90.0, None], "fov": [60.0, None],
...     "range_m": [50.0, None], "type": ["bullet", "dome"]}, geometry=[Point(0, 0), Point(5, 5)], crs=4547)
>>> ok, bad = validate_cameras(cams)
>>> ok[["camera_id", "fov", "range_m"]].values.tolist(), len(bad)
([['a', 60.0, 50.0], ['b', 360.0, 60.0]], 0)
"""

from __future__ import annotations

import logging
from os import PathLike

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridlib import io as gio
from gridlib.errors import InputError
from gridlib.io import check_coordinates
from gridlib.rejects import Rejects

__all__ = ["PRESETS", "CAMERA_COLUMNS", "validate_cameras", "read_cameras"]

log = logging.getLogger(__name__)

CAMERA_COLUMNS = ("camera_id", "heading", "fov", "range_m")

#: Typical horizontal field of view (deg) and useful range (m) by camera type. A "fixed" bullet
#: camera with a standard lens sees about 60-90 degrees; domes and PTZ turn, so over time they see
#: all around. Ranges are the distance at which a person or a vendor's stall is still identifiable.
PRESETS: dict[str, tuple[float, float]] = {
    "bullet": (70.0, 80.0),
    "fixed": (70.0, 80.0),
    "box": (60.0, 100.0),
    "dome": (360.0, 60.0),
    "ptz": (360.0, 150.0),
    "fisheye": (360.0, 30.0),
    "electronic_eye": (50.0, 120.0),  # 电子眼 at signalised junctions: narrow, long lens
}

#: Longest useful range (m) a camera record may give; beyond it the value is a data error (a phone
#: number typed into the field …), not a lens: a reject, never a viewshed of the whole district.
MAX_RANGE_M = 2000.0


def validate_cameras(cameras: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Check and normalise camera records; return ``(accepted, rejects)``.

    Rules (a record failing any goes to ``rejects`` with the first reason):
    point geometry present; ``camera_id`` present and unique; ``fov`` in (0, 360] and
    ``range_m`` in (0, :data:`MAX_RANGE_M`] (after filling blanks from the ``type`` preset); ``heading`` present
    unless ``fov`` is 360 (a fixed camera needs a direction); ``height_m`` ≥ 0 when given.
    Headings are normalised to [0, 360). ``len(accepted) + len(rejects) == len(cameras)``.

    Parameters
    ----------
    cameras : GeoDataFrame
        Columns ``camera_id``, ``heading``, ``fov``, ``range_m`` (``heading``/``fov``/``range_m``
        may be absent when every row has a ``type`` with a preset), optional ``height_m``,
        ``type``; point geometry with a CRS.

    Returns
    -------
    accepted : GeoDataFrame
        The valid cameras in input order, ``heading``/``fov``/``range_m`` as float.
    rejects : DataFrame
        The original rows that failed, plus ``reason``.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> cams = gpd.GeoDataFrame({"camera_id": ["x", "y"], "heading": [None, 10.0], "fov": [90, 400],
    ...     "range_m": [50, 50]}, geometry=[Point(0, 0), Point(1, 1)], crs=4547)
    >>> ok, bad = validate_cameras(cams)
    >>> len(ok), bad["reason"].tolist()
    (0, ['missing heading for a fixed camera (fov 90 < 360)', 'fov 400 not in (0, 360]'])
    """
    if not isinstance(cameras, gpd.GeoDataFrame):
        raise InputError("cameras must be a GeoDataFrame with point geometry")
    if cameras.crs is None:
        raise InputError("cameras have no CRS; set one (e.g. EPSG:4326) before validating")
    if "camera_id" not in cameras.columns:
        raise InputError(f"cameras need a camera_id column; got {list(cameras.columns)}")
    n = len(cameras)
    out = cameras.copy()
    types = (
        out["type"].astype("string").str.strip().str.lower().fillna("")
        if "type" in out.columns else pd.Series("", index=out.index, dtype="string")
    )
    preset_fov = types.map(lambda t: PRESETS.get(t, (np.nan, np.nan))[0]).astype(float)
    preset_range = types.map(lambda t: PRESETS.get(t, (np.nan, np.nan))[1]).astype(float)
    for col in ("heading", "fov", "range_m", "height_m"):
        if col not in out.columns:
            out[col] = np.nan
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    out["fov"] = out["fov"].fillna(preset_fov)
    out["range_m"] = out["range_m"].fillna(preset_range)

    found = Rejects(out.index)

    def flag(mask: pd.Series | np.ndarray, code: str, text: pd.Series | str, field: str | None = None) -> None:
        found.add(mask, code, text, field=field)

    geom = out.geometry.values
    gname = out.geometry.name
    flag(shapely.is_missing(geom), "missing_geometry", "missing or empty geometry", gname)
    flag(shapely.is_empty(geom), "empty_geometry", "missing or empty geometry", gname)
    gtype = shapely.get_type_id(geom)
    flag(gtype != 0, "wrong_geometry_type", "geometry is not a point", gname)
    point = np.where(gtype == 0, geom, None)
    # the one coordinate check of every reader: both coordinates finite and in range (after projection too)
    check_coordinates(shapely.get_x(point).astype(float), shapely.get_y(point).astype(float), out.crs, found,
                      field=gname)
    ids = out["camera_id"]
    flag(ids.isna() | (ids.astype("string").str.strip() == ""), "missing_id", "missing camera_id", "camera_id")
    dup = ids.duplicated(keep="first") & ids.notna()
    flag(dup, "duplicate_id", "duplicate camera_id " + ids.astype("string"), "camera_id")
    fov, rng, head = out["fov"], out["range_m"], out["heading"]
    flag(fov.isna(), "missing_value", "missing fov (and no preset for this type)", "fov")
    flag((fov <= 0) | (fov > 360), "bad_number", "fov " + fov.map("{:g}".format).astype("string") + " not in (0, 360]",
         "fov")
    flag(rng.isna(), "missing_value", "missing range_m (and no preset for this type)", "range_m")
    flag(~(rng > 0) | ~np.isfinite(rng), "bad_number",
         "range_m " + rng.map("{:g}".format).astype("string") + " must be > 0", "range_m")
    flag(rng > MAX_RANGE_M, "bad_number",
         "range_m " + rng.map("{:g}".format).astype("string") + f" is beyond {MAX_RANGE_M:g} m", "range_m")
    flag(head.isna() & (fov < 360), "missing_value",
         "missing heading for a fixed camera (fov " + fov.map("{:g}".format).astype("string") + " < 360)", "heading")
    flag(~np.isfinite(head) & head.notna(), "bad_number", "heading is not finite", "heading")
    flag(out["height_m"] < 0, "bad_number",
         "height_m " + out["height_m"].map("{:g}".format).astype("string") + " is negative", "height_m")

    bad = ~found.ok
    rejects = found.frame(pd.DataFrame(cameras))
    accepted = out[~bad].copy()
    accepted["heading"] = np.mod(accepted["heading"].fillna(0.0), 360.0)
    if int(bad.sum()):
        log.info("cameras: %d accepted, %d rejected", len(accepted), int(bad.sum()))
    assert len(accepted) + len(rejects) == n
    return accepted, rejects


def read_cameras(
    source: str | PathLike[str] | gpd.GeoDataFrame,
    *,
    layer: str | None = None,
    crs: str | int | None = None,
    defaults: dict[str, object] | None = None,
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Read a camera layer (any vector file or a GeoDataFrame) and validate it.

    Parameters
    ----------
    source : path or GeoDataFrame
        GeoPackage, GeoJSON, Shapefile... with point geometry.
    layer : str, optional
        Layer name inside a multi-layer file.
    crs : str or int, optional
        CRS to assume when the file (or frame) declares none; ``"gcj02"``/``"bd09"`` say the
        coordinates are offset and are converted to WGS84 (for files and GeoDataFrames alike).
    defaults : dict, optional
        Values for columns that are missing or blank, e.g. ``{"type": "dome"}`` for OSM
        cameras that carry no direction.

    Returns
    -------
    (accepted, rejects) as :func:`validate_cameras`; rejects of the reading step come first.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import Point
    >>> g = gpd.GeoDataFrame({"camera_id": ["a"]}, geometry=[Point(121.5, 31.24)], crs=4326)
    >>> ok, bad = read_cameras(g, defaults={"type": "dome"})
    >>> ok[["fov", "range_m"]].values.tolist()
    [[360.0, 60.0]]
    """
    # files and frames go the same way: crs= (including "gcj02"/"bd09") honoured, vertices checked
    gdf, read_rejects = gio.read_layer(source, layer=layer if not isinstance(source, gpd.GeoDataFrame) else None,
                                       crs=crs)
    for col, value in (defaults or {}).items():
        gdf[col] = gdf[col].fillna(value) if col in gdf.columns else value
    accepted, rejects = validate_cameras(gdf)
    if len(read_rejects):
        rejects = pd.concat([pd.DataFrame(read_rejects), rejects], ignore_index=True)
    return accepted, rejects
