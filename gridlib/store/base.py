"""The store interface shared by the GeoPackage and PostGIS stores."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any

import geopandas as gpd
import pandas as pd

from gridlib.errors import StoreError

MODES = ("replace", "append", "create")


def mask_dsn(text: str) -> str:
    """Hide the password of a database URL or keyword DSN.

    >>> mask_dsn("postgresql://u:secret@h:5432/db")
    'postgresql://u:***@h:5432/db'
    >>> mask_dsn("host=h password=secret dbname=x")
    'host=h password=*** dbname=x'
    """
    text = re.sub(r"(postgres(?:ql)?://[^:/@\s]+):[^@\s]*@", r"\1:***@", text)
    return re.sub(r"(password\s*=\s*)(\S+)", r"\1***", text)


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise StoreError(f"unknown write mode {mode!r}; use one of {', '.join(MODES)}")


def check_where(where: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A ``where`` filter is a mapping column → value (or a list of values, or None for NULL)."""
    if where is None:
        return {}
    if not isinstance(where, Mapping):
        raise StoreError(
            "where= must be a mapping of column to value, e.g. {'street_code': '310115005'}; "
            "values are always passed as parameters, never formatted into SQL"
        )
    return where


class Store(ABC):
    """A place to keep named layers (GeoDataFrames or plain tables).

    Every write is all-or-nothing. Inside ``with store.transaction():`` several
    writes and drops become one all-or-nothing unit: if the block raises,
    the store is left exactly as before.

    Examples
    --------
    >>> import os, tempfile, pandas as pd
    >>> import gridlib.store
    >>> store = gridlib.store.open(os.path.join(tempfile.mkdtemp(), "s.gpkg"))
    >>> store.write_layer("a", pd.DataFrame({"n": [1]}))
    >>> try:
    ...     with store.transaction():
    ...         store.write_layer("b", pd.DataFrame({"n": [2]}))
    ...         store.drop_layer("a")
    ...         raise RuntimeError("something failed half-way")
    ... except RuntimeError:
    ...     pass
    >>> store.layers(), store.read_layer("a")["n"].tolist()   # left exactly as before
    (['a'], [1])
    """

    url: str

    @abstractmethod
    def write_layer(self, name: str, frame: pd.DataFrame, mode: str = "replace") -> None:
        """Write *frame* as layer *name*; ``mode`` is replace, append or create (fails if it exists)."""

    @abstractmethod
    def read_layer(
        self,
        name: str,
        where: Mapping[str, Any] | None = None,
        bbox: tuple[float, float, float, float] | None = None,
        columns: list[str] | None = None,
    ) -> pd.DataFrame | gpd.GeoDataFrame:
        """Read layer *name*, optionally filtered by column values and a bbox (in the layer's CRS)."""

    @abstractmethod
    def layers(self) -> list[str]:
        """Names of the layers in the store, sorted."""

    @abstractmethod
    def drop_layer(self, name: str, missing_ok: bool = False) -> None:
        """Remove layer *name*."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Store]:
        """All-or-nothing block of writes."""

    @abstractmethod
    def lock(self, name: str = "write") -> AbstractContextManager[None]:
        """Exclusive lock across processes; raises :class:`~gridlib.errors.LockError` when held elsewhere."""

    def has_layer(self, name: str) -> bool:
        """Return True when layer *name* exists."""
        return name in self.layers()

    def close(self) -> None:  # noqa: B027 - optional for stores that hold no connection
        """Release resources (a database connection)."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({mask_dsn(self.url)!r})"


def iter_chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))
