"""Type aliases for gridlib's public signatures: what an argument takes, said once.

>>> from gridlib.types import CRSLike, LayerSource
>>> import typing
>>> "GeoDataFrame" in str(typing.get_args(LayerSource))
True
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from typing import TypeAlias

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyproj
import shapely

# Aliases are documented in docs/conventions.md; they are not functions, so they stay out of __all__.

#: Numbers or arrays of numbers (a scalar, a list, a numpy array or a pandas Series).
ArrayLike: TypeAlias = npt.ArrayLike
#: Anything ``pyproj.CRS.from_user_input`` takes (``"EPSG:4550"``, ``4326``, a CRS, WKT), and where a
#: reader says so also ``"gcj02"`` / ``"bd09"`` for offset (Amap/Baidu) coordinates.
CRSLike: TypeAlias = str | int | pyproj.CRS
#: A file path.
PathLike: TypeAlias = str | os.PathLike[str]
#: A point in time: ISO text, a date or datetime, a pandas Timestamp or numpy datetime64.
TimeLike: TypeAlias = str | dt.date | dt.datetime | pd.Timestamp | np.datetime64
#: A window of time: a pandas offset counted back (``"30D"``), a month (``"2026-11"``) or a ``(start, end)`` pair.
PeriodLike: TypeAlias = str | tuple[TimeLike, TimeLike]
#: Times: one :data:`TimeLike`, or an array, list, Series or DatetimeIndex of them.
TimesLike: TypeAlias = TimeLike | npt.ArrayLike | pd.Series | pd.DatetimeIndex
#: A table: a file (CSV, Parquet, GeoPackage, GeoJSON …) or a DataFrame.
TableSource: TypeAlias = PathLike | pd.DataFrame
#: A layer with geometry: a file or a GeoDataFrame.
LayerSource: TypeAlias = PathLike | gpd.GeoDataFrame
#: A GeoDataFrame or GeoSeries.
GeoFrame: TypeAlias = gpd.GeoDataFrame | gpd.GeoSeries
#: Polygons (or other geometries) in row order: a GeoSeries/GeoDataFrame, an array or a list of shapely geometries.
GeometriesLike: TypeAlias = gpd.GeoSeries | gpd.GeoDataFrame | npt.NDArray[np.object_] | Sequence[shapely.Geometry]
