"""Frames emptied without holding on to what they held (private to :mod:`gridlib.nightly`)."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd


def no_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """*frame*'s columns and dtypes without its rows, sharing no buffer with it: a zero-row slice of an
    Arrow-backed column keeps the column's whole buffers alive (a city's raw case log: ~30 MB).

    >>> raw = pd.DataFrame({"case_id": pd.array(["a", "b"], dtype="string[pyarrow]"), "n": [1, 2]})
    >>> empty = no_rows(raw)
    >>> len(empty), empty.dtypes.equals(raw.dtypes)
    (0, True)
    """
    columns = {name: pd.array([], dtype=dtype) for name, dtype in frame.dtypes.items()}
    if isinstance(frame, gpd.GeoDataFrame):
        return gpd.GeoDataFrame(columns, geometry=frame.geometry.name, crs=frame.crs)
    return pd.DataFrame(columns)
