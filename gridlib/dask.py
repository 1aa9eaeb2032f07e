"""Scale-out of :func:`gridlib.assignment.assign` on Dask (dask-geopandas), optional.

The GridIndex is built once on the client and shipped to the workers once
(``client.scatter(..., broadcast=True)`` when a distributed client is running,
otherwise a single shared graph node); every partition is then assigned with
the in-memory code path, so the results are identical to ``gl.assign`` on the
whole frame (``gl.assign`` itself hands dask frames to the same machinery,
:func:`gridlib.partitions.map_accepted_rejects`). Needs ``pip install gridlib[dask]``.

>>> import gridlib.dask
>>> callable(gridlib.dask.assign)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gridlib.assignment import assign as assign_cases
from gridlib.errors import InputError
from gridlib.partitions import is_dask_frame

if TYPE_CHECKING:
    import dask.dataframe as dd
    import geopandas as gpd

    from gridlib.grid.model import GridSet

__all__ = ["assign"]


def assign(
    cases: dd.DataFrame,
    gridset: GridSet | gpd.GeoDataFrame | Sequence[GridSet],
    **kwargs: Any,
) -> tuple[dd.DataFrame, dd.DataFrame]:
    """Assign a dask (or dask-geopandas) frame of cases; same keywords as :func:`gridlib.assignment.assign`.

    Parameters
    ----------
    cases : dask.dataframe.DataFrame or dask_geopandas.GeoDataFrame
        Case rows with ``lon``/``lat`` or a point geometry, partitioned any way.
    gridset : GridSet, GeoDataFrame or sequence of them
        As for :func:`gridlib.assignment.assign`.
    **kwargs
        Passed on (rules, components, zones, roads, responsibility, when, ...); ``index`` is
        ignored (the index is built once here and shipped to the workers).

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
    if not is_dask_frame(cases):
        raise InputError("gridlib.dask.assign needs a dask DataFrame; use gl.assign for pandas frames")
    kwargs.pop("index", None)
    return assign_cases(cases, gridset, **kwargs)
