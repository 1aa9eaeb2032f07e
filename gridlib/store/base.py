"""The store interface shared by the GeoPackage and PostGIS stores."""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import quote, unquote

import geopandas as gpd
import numpy as np
import pandas as pd

from gridlib.errors import StoreError

MODES = ("replace", "append", "create")


_URL_START = re.compile(r"postgres(?:ql)?://", re.IGNORECASE)
# a keyword DSN's password: a quoted value ('...' with \' escapes) or everything up to the next keyword
_KEYWORD_PASSWORD = re.compile(
    r"(?<![?&\w])(password\s*=\s*)('(?:[^'\\]|\\.)*'?|.*?)(?=\s+\w+\s*=|\n|$)", re.IGNORECASE
)
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&\s\"']*", re.IGNORECASE)


def _mask_urls(text: str) -> str:
    """Mask ``user:password@`` in every postgres URL of *text* (the password may hold ``@ : / #`` and spaces)."""
    out, pos = [], 0
    for match in _URL_START.finditer(text):
        if match.start() < pos:
            continue
        start = match.end()
        line_end = text.find("\n", start)
        line_end = len(text) if line_end < 0 else line_end
        at = text.rfind("@", start, line_end)
        colon = text.find(":", start, line_end)
        user = text[start:colon] if colon >= 0 else ""
        if at < 0 or colon < 0 or colon > at or any(c in user for c in "/@ \"'"):
            continue
        out.append(text[pos : colon + 1] + "***")
        pos = at
    out.append(text[pos:])
    return "".join(out)


def _passwords_of(dsn: str) -> set[str]:
    """The password of a connection string in every form it may be quoted in (raw, %-decoded, its words)."""
    found: set[str] = set()
    try:
        from psycopg.conninfo import conninfo_to_dict

        password = conninfo_to_dict(dsn).get("password")
        if password:
            found.add(str(password))
    except Exception:  # noqa: BLE001 - an unparseable DSN is masked by the textual rules below
        pass
    start = _URL_START.search(dsn)
    if start:
        rest = dsn[start.end() :]
        userinfo = rest[: rest.rfind("@")] if "@" in rest else ""
        if ":" in userinfo:
            found.add(userinfo.split(":", 1)[1])
    for match in _KEYWORD_PASSWORD.finditer(dsn):
        found.add(match.group(2).strip("'"))
    for match in _QUERY_PASSWORD.finditer(dsn):
        found.add(match.group(0).split("=", 1)[1])
    forms = set()
    for password in found:
        forms |= {password, unquote(password), quote(password, safe=""), quote(unquote(password), safe="")}
        forms |= set(re.split(r"[\s@:/#'\"]+", unquote(password)))
    return {form for form in forms if len(form) >= 3}


def mask_dsn(text: str, dsn: str | None = None) -> str:
    """Hide passwords of database URLs and keyword DSNs in *text* (a DSN or a message quoting one).

    Passwords may contain ``@ : / # %``, spaces and quotes. Give the connection
    string as *dsn* when *text* is a message about it (psycopg's errors may quote
    pieces of the DSN): every form of that password is then masked wherever it appears.

    >>> mask_dsn("postgresql://u:secret@h:5432/db")
    'postgresql://u:***@h:5432/db'
    >>> mask_dsn("postgresql://postgres:p@ssW0rd X@127.0.0.1:1/relia")
    'postgresql://postgres:***@127.0.0.1:1/relia'
    >>> mask_dsn("host=h password='a b\\\\'c' dbname=x")
    'host=h password=*** dbname=x'
    >>> mask_dsn('missing "=" after "W0rdY" in connection info string', "host=h password=pass W0rdY")
    'missing "=" after "***" in connection info string'
    """
    text = str(text)
    if dsn:
        for form in sorted(_passwords_of(str(dsn)), key=len, reverse=True):
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(form)}(?![A-Za-z0-9])", "***", text)
    text = _mask_urls(text)
    text = _QUERY_PASSWORD.sub(r"\1***", text)
    return _KEYWORD_PASSWORD.sub(lambda m: m.group(1) + "***" if m.group(2) != "***" else m.group(0), text)


MAX_NAME_BYTES = 63  # PostgreSQL truncates longer identifiers silently (NAMEDATALEN - 1)


def check_name(name: object, what: str = "layer", layer: str | None = None) -> str:
    """Refuse a layer or column name that a store cannot keep exactly (same rule in every store).

    A name must be a non-empty string without NUL bytes and at most 63 bytes of
    UTF-8: PostgreSQL truncates longer identifiers silently, so two long names
    would become one table or column. Any other character (``%``, quotes,
    spaces, Chinese) is fine.

    >>> check_name("结案率(%)", "column")
    '结案率(%)'
    >>> check_name("N" * 70)
    Traceback (most recent call last):
    ...
    gridlib.errors.StoreError: layer name 'NNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNN' is 70 bytes long; stores keep names of at most 63 bytes (UTF-8), as PostgreSQL truncates longer ones
    """
    where = f" of layer {layer!r}" if layer is not None else ""
    if not isinstance(name, str) or not name:
        raise StoreError(f"{what} name {name!r}{where} is empty or not text; give every {what} a name")
    if "\0" in name:
        raise StoreError(f"{what} name {name!r}{where} contains a NUL byte")
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        raise StoreError(
            f"{what} name {name!r}{where} is {size} bytes long; stores keep names of at most "
            f"{MAX_NAME_BYTES} bytes (UTF-8), as PostgreSQL truncates longer ones"
        )
    return name


def check_columns(frame: pd.DataFrame, layer: str) -> None:
    """Apply :func:`check_name` to every column of *frame* and refuse duplicates."""
    names = [c for c in frame.columns if not (isinstance(frame, gpd.GeoDataFrame) and c == frame.geometry.name)]
    for column in names:
        check_name(column, "column", layer)
    dup = sorted({c for c in names if names.count(c) > 1})
    if dup:
        raise StoreError(f"layer {layer!r}: duplicate column name(s) {dup}")


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
    for column, value in where.items():
        check_name(column, "column")
        values = value if isinstance(value, list | tuple | set | frozenset) else [value]
        for v in values:
            if isinstance(v, float | np.floating) and not math.isfinite(v):
                raise StoreError(f"where={{{column!r}: {v!r}}}: cannot filter on a non-finite number; "
                                 "use None for missing values")
    return where


def check_columns_exist(layer: str, present: list[str], where: Mapping[str, Any],
                        columns: list[str] | None) -> None:
    """Refuse ``where=`` or ``columns=`` naming columns the layer does not have (every store alike)."""
    unknown = sorted((set(where) | set(columns or [])) - set(present))
    if unknown:
        raise StoreError(f"layer {layer!r} has no column(s) {unknown}; its columns are {present}")


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

    def read_layer_batches(self, name: str, rows: int = 1_000_000) -> Iterator[pd.DataFrame | gpd.GeoDataFrame]:
        """Read layer *name* as consecutive frames of up to *rows* rows, in :meth:`read_layer`'s order (a reader
        keeping a compact form of each holds less than the whole layer at once). At least one frame, maybe empty.

        This base form yields the whole layer once; :class:`~gridlib.store.GpkgStore` reads it in batches.

        Examples
        --------
        >>> import os, tempfile, pandas as pd
        >>> import gridlib.store
        >>> store = gridlib.store.open(os.path.join(tempfile.mkdtemp(), "s.gpkg"))
        >>> store.write_layer("a", pd.DataFrame({"n": [1, 2, 3]}))
        >>> [part["n"].tolist() for part in store.read_layer_batches("a", rows=2)]
        [[1, 2], [3]]
        """
        yield self.read_layer(name)

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
        return f"{type(self).__name__}({mask_dsn(self.url, self.url)!r})"


def iter_chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))
