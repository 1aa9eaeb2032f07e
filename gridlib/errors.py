"""Errors raised by gridlib.

Every error names the offending record (when there is one) and the rule it broke.
Batch operations do not raise for bad records: they return them as rejects with a
``reason`` instead; these exceptions are for calls that cannot go on at all.
"""

from __future__ import annotations


class GridlibError(Exception):
    """Base class of every error gridlib raises on purpose."""


class InputError(GridlibError, ValueError):
    """Input data cannot be used (missing column, unknown format, no CRS, ...)."""


class CRSError(GridlibError, ValueError):
    """A coordinate reference system is missing, unknown or unsuitable."""


class CodeError(GridlibError, ValueError):
    """A grid, component or event code is malformed or unknown."""


class ValidationError(GridlibError):
    """Data failed validation; ``report`` holds one row per problem when available."""

    def __init__(self, message: str, report: object | None = None) -> None:
        super().__init__(message)
        self.report = report


class StoreError(GridlibError):
    """A store (GeoPackage or PostGIS) operation failed; nothing was changed."""


class LockError(StoreError):
    """Another process holds the lock on this store (for example a concurrent import)."""
