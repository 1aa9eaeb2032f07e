"""Run a frame function that returns ``(accepted, rejects)`` on every partition of a dask frame.

The machinery under :func:`gridlib.assignment.assign` (and :func:`gridlib.dask.assign`) for dask
(dask-geopandas) input: a shared value (the grids and their index) is shipped to the workers once
(``client.scatter(..., broadcast=True)`` when a distributed client runs, otherwise one shared graph
node), each partition goes through the in-memory function, and the two outputs come back as two
lazy frames. It knows nothing about assignment itself, so it sits below it in the module graph.
Dask is optional: ``pip install 'gridlib[dask]'``.

>>> import pandas as pd
>>> is_dask_frame(pd.DataFrame({"a": [1]}))
False
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from gridlib.errors import InputError
from gridlib.rejects import REJECT_COLUMNS
from gridlib.types import CRSLike

__all__ = ["is_dask_frame", "map_accepted_rejects"]

_FLAG = "_gridlib_assigned"

#: ``frame_function(partition, shared_value, **kwargs) -> (accepted, rejects)``
FrameFunction = Callable[..., tuple[pd.DataFrame, pd.DataFrame]]


def is_dask_frame(data: object) -> bool:
    """Whether *data* is a dask (or dask-geopandas) frame (duck-typed: dask need not be installed).

    >>> import pandas as pd
    >>> is_dask_frame(pd.DataFrame()), is_dask_frame([1, 2])
    (False, False)
    """
    return hasattr(data, "map_partitions") and hasattr(data, "npartitions")


def _require_dask() -> Any:
    try:
        import dask
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise InputError("Dask is not installed: pip install 'gridlib[dask]'") from exc
    return dask


def _combined(part: pd.DataFrame, shared: Any, function: FrameFunction, kwargs: dict[str, Any]) -> pd.DataFrame:
    geom = part.geometry.name if isinstance(part, gpd.GeoDataFrame) else None
    done, rejects = function(part, shared, **kwargs)
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


def map_accepted_rejects(
    cases: Any,
    function: FrameFunction,
    shared_value: Any,
    crs: CRSLike,
    /,
    **kwargs: Any,
) -> tuple[Any, Any]:
    """Apply ``function(partition, shared_value, **kwargs) -> (accepted, rejects)`` to every partition.

    Parameters
    ----------
    cases : dask.dataframe.DataFrame or dask_geopandas.GeoDataFrame
        The input, partitioned any way.
    function : callable
        The in-memory function; ``accepted`` is a GeoDataFrame in ``crs`` with ``near_boundary``,
        ``near_street_boundary`` and ``distance_to_boundary_m`` columns, ``rejects`` the rejected
        input rows with the rejects model's columns (:data:`gridlib.rejects.REJECT_COLUMNS`).
    shared_value : object
        Built once on the client and shipped to every worker once (the grids and their index).
    crs : CRS
        CRS of the accepted rows' geometry.
    **kwargs
        Passed on to ``function`` (the four parameters before are positional-only, so ``function``
        may take a ``crs`` keyword of its own).

    Returns
    -------
    accepted : dask_geopandas.GeoDataFrame
        Lazily accepted rows.
    rejects : dask.dataframe.DataFrame
        Lazily rejected rows. Compute both together (``dask.compute(accepted, rejects)``) so the
        work is done once.

    Examples
    --------
    >>> import dask, dask_geopandas, geopandas as gpd, pandas as pd, shapely
    >>> def inside(part, box, **kw):
    ...     ok = part.within(box)
    ...     done = part[ok].assign(near_boundary=False, near_street_boundary=False, distance_to_boundary_m=0.0)
    ...     return done, pd.DataFrame(part[~ok]).assign(reason_code="no_grid", field=None, reason="outside")
    >>> pts = gpd.GeoDataFrame({"id": [1, 2]}, geometry=shapely.points([(1, 1), (20, 1)]), crs=4547)
    >>> done, bad = map_accepted_rejects(dask_geopandas.from_geopandas(pts, npartitions=2), inside,
    ...                                  shapely.box(0, 0, 10, 10), 4547)
    >>> d, r = dask.compute(done, bad, scheduler="sync")
    >>> d.id.tolist(), r.reason.tolist()
    ([1], ['outside'])
    """
    dask = _require_dask()
    import dask_geopandas

    if not is_dask_frame(cases):
        raise InputError("map_accepted_rejects needs a dask DataFrame")
    try:
        from distributed import get_client

        shared = get_client().scatter([shared_value], broadcast=True, hash=False)[0]
    except (ImportError, ValueError):
        shared = dask.delayed(shared_value, pure=True)

    sample = cases.get_partition(0).head(50, compute=True) if cases.npartitions else cases._meta
    meta = _combined(sample, shared_value, function, kwargs).iloc[:0]
    combined = cases.map_partitions(_combined, shared, function, kwargs, meta=meta, align_dataframes=False)

    # the rejects model's columns (reason_code, field, reason) belong to the rejects only
    reject_columns = [c for c in REJECT_COLUMNS if c not in cases.columns and c in meta.columns]

    def _accepted(part: pd.DataFrame) -> gpd.GeoDataFrame:
        part = part[part[_FLAG].astype(bool)].drop(columns=[_FLAG, *reject_columns])
        part = part.astype({"near_boundary": bool, "near_street_boundary": bool, "distance_to_boundary_m": float})
        return gpd.GeoDataFrame(part, geometry="geometry", crs=crs)

    def _rejected(part: pd.DataFrame) -> pd.DataFrame:
        part = part[~part[_FLAG].astype(bool)].drop(columns=[_FLAG])
        extra = [c for c in part.columns if c not in cases.columns and c not in REJECT_COLUMNS]
        return part.drop(columns=extra)

    accepted = combined.map_partitions(_accepted, meta=_accepted(meta))
    if not isinstance(accepted, dask_geopandas.GeoDataFrame):
        accepted = dask_geopandas.from_dask_dataframe(accepted)
    rejects = combined.map_partitions(_rejected, meta=_rejected(meta))
    return accepted, rejects
