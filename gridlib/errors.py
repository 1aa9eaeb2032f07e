"""Errors raised by gridlib.

Every error names the offending record (when there is one) and the rule it broke.
Batch operations do not raise for bad records: they return them as rejects with a
``reason`` instead; these exceptions are for calls that cannot go on at all.
"""

from __future__ import annotations


class GridlibError(Exception):
    """Base class of every error gridlib raises on purpose.

    Examples
    --------
    >>> from gridlib.errors import InputError, StoreError
    >>> issubclass(InputError, GridlibError), issubclass(StoreError, GridlibError)
    (True, True)
    """


class InputError(GridlibError, ValueError):
    """Input data cannot be used (missing column, unknown format, no CRS, ...).

    Examples
    --------
    >>> import pandas as pd
    >>> from gridlib.cases import fifteen_minute
    >>> try:
    ...     fifteen_minute(pd.DataFrame({"case_id": ["a"]}))
    ... except InputError as e:
    ...     print(e)
    fifteen_minute needs column(s) ['arrived_at', 'dispatched_at', ...]
    >>> issubclass(InputError, ValueError)   # callers may catch ValueError
    True
    """


class CRSError(GridlibError, ValueError):
    """A coordinate reference system is missing, unknown or unsuitable.

    Examples
    --------
    >>> from gridlib.crs import resolve_crs
    >>> try:
    ...     resolve_crs("EPSG:999999")
    ... except CRSError as e:
    ...     print(type(e).__name__, isinstance(e, ValueError))
    CRSError True
    """


class CodeError(GridlibError, ValueError):
    """A grid, component or event code is malformed or unknown.

    Examples
    --------
    >>> raise CodeError("grid code '31011500101' must have 14 digits")
    Traceback (most recent call last):
    ...
    gridlib.errors.CodeError: grid code '31011500101' must have 14 digits
    """


class ValidationError(GridlibError):
    """Data failed validation; ``report`` holds one row per problem when available.

    Examples
    --------
    >>> import pandas as pd
    >>> e = ValidationError("2 grids overlap", report=pd.DataFrame({"grid_code": ["a", "b"]}))
    >>> str(e), len(e.report)
    ('2 grids overlap', 2)
    """

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report


class StoreError(GridlibError):
    """A store (GeoPackage or PostGIS) operation failed; nothing was changed.

    Examples
    --------
    >>> import os, tempfile
    >>> import gridlib.store
    >>> store = gridlib.store.open(os.path.join(tempfile.mkdtemp(), "s.gpkg"))
    >>> try:
    ...     store.read_layer("nope")
    ... except StoreError as e:
    ...     print(type(e).__name__)
    StoreError
    """


class LockError(StoreError):
    """Another process holds the lock on this store (for example a concurrent import).

    Examples
    --------
    >>> issubclass(LockError, StoreError)
    True
    """


class FreshnessError(GridlibError):
    """A run with ``strict`` found stale or missing inputs; ``warnings`` lists them and nothing was published.

    The ``gridlib`` command exits 3 on it (``gridlib nightly --strict``).

    Examples
    --------
    >>> e = FreshnessError("stale inputs", warnings=[{"code": "no_new_cases", "message": "no cases reported"}])
    >>> isinstance(e, GridlibError), e.warnings[0]["code"]
    (True, 'no_new_cases')
    """

    def __init__(self, message: str, warnings: list[dict[str, str]] | None = None) -> None:
        super().__init__(message)
        self.warnings = list(warnings or [])
