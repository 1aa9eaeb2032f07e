"""Scale-out of :func:`gridlib.assignment.assign` on Dask (dask-geopandas), optional.

The GridIndex is built once on the client and shipped to the workers once
(``client.scatter(..., broadcast=True)`` when a distributed client is running,
otherwise a single shared graph node); every partition is then assigned with
the in-memory code path, so the results are identical to ``gl.assign`` on the
whole frame. Needs ``pip install gridlib[dask]``.

>>> import gridlib.dask
>>> callable(gridlib.dask.assign)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from gridlib.errors import InputError
from gridlib.rejects import REJECT_COLUMNS

__all__ = ["assign"]

_FLAG = "_gridlib_assigned"


def _require_dask():
    try:
        import dask
        import dask.dataframe as dd
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise InputError("Dask is not installed: pip install 'gridlib[dask]'") from exc
    return dask, dd


def _combined(part: pd.DataFrame, shared: tuple, kwargs: dict) -> pd.DataFrame:
    from gridlib.assignment import assign as assign_frame

    gridset, indexes = shared
    if isinstance(part, gpd.GeoDataFrame):
        geom = part.geometry.name
    else:
        geom = None
    done, rejects = assign_frame(part, gridset, index=indexes, **kwargs)
    done = pd.DataFrame(done)
    done[_FLAG] = True
    done["reason"] = None
    rejects = pd.DataFrame(rejects)
    rejects[_FLAG] = False
    for frame in (done, rejects):  # the two sides carry geometries in different CRSs
        for col in frame.columns:
            if isinstance(frame[col].dtype, gpd.array.GeometryDtype):
                frame[col] = np.asarray(frame[col].array, dtype=object)
    out = pd.concat([done, rejects], sort=False)
    if geom is not None and geom != "geometry" and geom in out:
        out = out.rename(columns={geom: "geometry"})
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].astype(object)
    return out.sort_index(kind="stable")


def assign(
    cases: Any,
    gridset: Any,
    **kwargs: Any,
) -> tuple[Any, Any]:
    """Assign a dask (or dask-geopandas) frame of cases; same keywords as :func:`gridlib.assignment.assign`.

    Parameters
    ----------
    cases : dask.dataframe.DataFrame or dask_geopandas.GeoDataFrame
        Case rows with ``lon``/``lat`` or a point geometry, partitioned any way.
    gridset : GridSet, GeoDataFrame or sequence of them
        As for :func:`gridlib.assignment.assign`.
    **kwargs
        Passed on (rules, components, zones, roads, responsibility, when, ...).

    Returns
    -------
    assigned : dask_geopandas.GeoDataFrame
        Lazily assigned cases (metric CRS of the grids).
    rejects : dask.dataframe.DataFrame
        Lazily rejected rows with ``reason``. Compute both together
        (``dask.compute(assigned, rejects)``) so the work is done once.

    Examples
    --------
    >>> import dask_geopandas, geopandas as gpd, shapely, dask
    >>> grids = gpd.GeoDataFrame({"grid_code": ["a"]}, geometry=[shapely.box(0, 0, 10, 10)], crs=4547)
    >>> cases = gpd.GeoDataFrame({"case_id": ["1", "2"]}, geometry=shapely.points([(1, 1), (20, 1)]), crs=4547)
    >>> done, rejects = assign(dask_geopandas.from_geopandas(cases, npartitions=2), grids)
    >>> d, r = dask.compute(done, rejects, scheduler="sync")
    >>> d.grid_code.tolist(), r.reason.tolist()
    (['a'], ['outside grid coverage'])
    """
    dask, dd = _require_dask()
    import dask_geopandas

    from gridlib.assignment import grids_of, index_for, metric_crs_of_grids

    if not hasattr(cases, "map_partitions"):
        raise InputError("gridlib.dask.assign needs a dask DataFrame; use gl.assign for pandas frames")
    kwargs.pop("index", None)
    editions = list(gridset) if isinstance(gridset, Sequence) else [gridset]
    metric = metric_crs_of_grids(grids_of(editions[-1]))
    indexes = [index_for(grids_of(g), metric) for g in editions]
    shared_value = (gridset, indexes if len(indexes) > 1 else indexes[0])
    try:
        from distributed import get_client

        shared = get_client().scatter([shared_value], broadcast=True, hash=False)[0]
    except (ImportError, ValueError):
        shared = dask.delayed(shared_value, pure=True)

    sample = cases.get_partition(0).head(50, compute=True) if cases.npartitions else cases._meta
    meta = _combined(sample, shared_value, kwargs).iloc[:0]
    combined = cases.map_partitions(_combined, shared, kwargs, meta=meta, align_dataframes=False)

    # the rejects model's columns (reason_code, field, reason) belong to the rejects only
    _reject_columns = [c for c in REJECT_COLUMNS if c not in cases.columns and c in meta.columns]

    def _assigned(part: pd.DataFrame) -> gpd.GeoDataFrame:
        part = part[part[_FLAG].astype(bool)].drop(columns=[_FLAG, *_reject_columns])
        part = part.astype({"near_boundary": bool, "near_street_boundary": bool, "distance_to_boundary_m": float})
        return gpd.GeoDataFrame(part, geometry="geometry", crs=metric)

    def _rejected(part: pd.DataFrame) -> pd.DataFrame:
        part = part[~part[_FLAG].astype(bool)].drop(columns=[_FLAG])
        extra = [c for c in part.columns if c not in cases.columns and c not in REJECT_COLUMNS]
        return part.drop(columns=extra)

    assigned = combined.map_partitions(_assigned, meta=_assigned(meta))
    assigned = dask_geopandas.from_dask_dataframe(assigned) if not isinstance(
        assigned, dask_geopandas.GeoDataFrame) else assigned
    rejects = combined.map_partitions(_rejected, meta=_rejected(meta))
    return assigned, rejects


