"""The PostGIS store (psycopg 3): layers as tables, bulk load with COPY, GiST indexes.

Identifiers are always composed with :mod:`psycopg.sql` and values always
passed as parameters. Every write runs in a transaction; inside
``with store.transaction():`` several writes commit or roll back together.
A registry table (``gridlib_meta.layers``) remembers each layer's pandas
dtypes, so a layer reads back with the types it was written with.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from gridlib.errors import LockError, StoreError
from gridlib.store.base import (
    Store,
    check_columns,
    check_columns_exist,
    check_mode,
    check_name,
    check_where,
    mask_dsn,
)

__all__ = ["PostgisStore", "init_db", "sql_dir"]

log = logging.getLogger(__name__)

_COPY_CHUNK_ROWS = 50_000
_GEOM = "geom"

# pandas dtype kind -> PostgreSQL type
_PG_TYPES = {"i": "bigint", "u": "bigint", "f": "double precision", "b": "boolean", "M": "timestamp"}


def sql_dir() -> Path:
    """The folder of numbered migration files (``sql/`` at the top of the checkout).

    Examples
    --------
    >>> d = sql_dir()
    >>> d.name, (d / "001_init.sql").is_file()
    ('sql', True)
    """
    return Path(__file__).resolve().parents[2] / "sql"


def _index_name(schema: str, layer: str) -> str:
    """A GiST index name unique per layer and short enough for PostgreSQL (long layer names share prefixes)."""
    digest = hashlib.sha1(f"{schema}.{layer}".encode()).hexdigest()[:16]
    return f"gist_{digest}"


def _ident(name: str):
    """An identifier for a query run with parameters: ``%`` doubled so psycopg takes none as a placeholder."""
    from psycopg import sql

    return sql.SQL(sql.Identifier(name).as_string(None).replace("%", "%%"))


def _connect(url: str):
    import psycopg

    try:
        return psycopg.connect(url, autocommit=True)
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to {mask_dsn(url, url)}: {mask_dsn(str(exc), url).strip()}") from None


def init_db(url: str, *, directory: Path | None = None) -> list[str]:
    """Apply the numbered ``sql/NNN_*.sql`` files not applied yet, in order; return their names.

    Each file runs in its own transaction together with its entry in
    ``gridlib_meta.schema_migrations``, so a failing migration leaves nothing behind.

    Examples
    --------
    >>> [p.name for p in sorted(sql_dir().glob("[0-9][0-9][0-9]_*.sql"))][:1]   # what it applies
    ['001_init.sql']
    >>> init_db("postgresql://gridlib@localhost:5432/gridlib")  # needs a PostGIS server  # doctest: +SKIP
    ['001_init.sql', '100_assign.sql']
    >>> init_db("postgresql://nobody@127.0.0.1:1/none")   # nothing listens on port 1
    Traceback (most recent call last):
    ...
    gridlib.errors.StoreError: cannot connect to postgresql://nobody@127.0.0.1:1/none: ...
    """
    from psycopg import sql

    files = sorted((directory or sql_dir()).glob("[0-9][0-9][0-9]_*.sql"))
    if not files:
        raise StoreError(f"no migration files in {directory or sql_dir()}")
    applied: list[str] = []
    with _connect(url) as con:
        con.execute("SELECT pg_advisory_lock(hashtext('gridlib_migrations'))")
        try:
            done: set[str] = set()
            exists = con.execute("SELECT to_regclass('gridlib_meta.schema_migrations')").fetchone()[0]
            if exists:
                done = {r[0] for r in con.execute("SELECT version FROM gridlib_meta.schema_migrations")}
            for path in files:
                if path.name in done:
                    continue
                with con.transaction():
                    con.execute(sql.SQL(path.read_text(encoding="utf-8")))  # trusted, shipped SQL
                    con.execute("INSERT INTO gridlib_meta.schema_migrations (version) VALUES (%s)", (path.name,))
                applied.append(path.name)
                log.info("applied migration %s", path.name)
        finally:
            con.execute("SELECT pg_advisory_unlock(hashtext('gridlib_migrations'))")
    return applied


def _escape_copy(values: pd.Series) -> pd.Series:
    """Escape text for COPY's text format (backslash, tab, newline, carriage return)."""
    return (
        values.str.replace("\\", "\\\\", regex=False)
        .str.replace("\t", "\\t", regex=False)
        .str.replace("\n", "\\n", regex=False)
        .str.replace("\r", "\\r", regex=False)
    )


def _column_text(series: pd.Series, kind: str) -> pd.Series:
    """One column as COPY text, NULL as \\N — built with vectorised pandas string ops."""
    null = series.isna().to_numpy()
    if kind == "b":
        text = pd.Series(np.where(series.fillna(False).astype(bool).to_numpy(), "t", "f"), index=series.index)
    elif kind == "M":
        values = pd.to_datetime(series)
        if getattr(values.dt, "tz", None) is not None:
            text = values.dt.strftime("%Y-%m-%d %H:%M:%S.%f%z")
        else:
            text = values.dt.strftime("%Y-%m-%d %H:%M:%S.%f")
    elif kind == "f":
        text = pd.Series([repr(float(v)) for v in series.to_numpy(dtype="float64")], index=series.index)
    elif kind in "iu":
        text = series.astype("Int64").astype(str)
    else:
        text = _escape_copy(series.astype(str))
    text = text.astype(object)
    text[null] = "\\N"
    return text


def _dtype_name(series: pd.Series) -> str:
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        return f"datetime64[ns, {dtype.tz}]"
    if pd.api.types.is_datetime64_dtype(dtype):
        return "datetime64[ns]"
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean" if isinstance(dtype, pd.BooleanDtype) else "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "Int64" if isinstance(dtype, pd.api.extensions.ExtensionDtype) else "int64"
    if pd.api.types.is_float_dtype(dtype):
        return "float64"
    return "str"


def _pg_type(dtype_name: str) -> str:
    if dtype_name.startswith("datetime64[ns, "):
        return "timestamptz"
    if dtype_name == "datetime64[ns]":
        return "timestamp"
    return {"bool": "boolean", "boolean": "boolean", "int64": "bigint", "Int64": "bigint",
            "float64": "double precision"}.get(dtype_name, "text")


def _kind(dtype_name: str) -> str:
    if dtype_name.startswith("datetime64"):
        return "M"
    return {"bool": "b", "boolean": "b", "int64": "i", "Int64": "i", "float64": "f"}.get(dtype_name, "O")


def _geometry_type(geoms: np.ndarray) -> str:
    types = set(shapely.get_type_id(geoms[~shapely.is_missing(geoms)]).tolist())
    names = {0: "Point", 1: "LineString", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString", 6: "MultiPolygon"}
    if len(types) == 1 and next(iter(types)) in names:
        return names[next(iter(types))]
    return "Geometry"


class PostgisStore(Store):
    """Layers as tables in one PostgreSQL schema (default ``gridlib``).

    Parameters
    ----------
    url : str
        ``postgresql://user[:password]@host:port/dbname``. Run ``gridlib db init URL`` once first.
    schema : str
        Schema holding the layer tables.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> store = PostgisStore("postgresql://gridlib@localhost:5432/gridlib")  # needs a PostGIS server  # doctest: +SKIP
    >>> store.write_layer("pts", gpd.GeoDataFrame({"n": [1]}, geometry=[Point(0, 0)], crs=4547))  # doctest: +SKIP
    >>> PostgisStore("postgresql://nobody@127.0.0.1:1/none")   # nothing listens on port 1
    Traceback (most recent call last):
    ...
    gridlib.errors.StoreError: cannot connect to postgresql://nobody@127.0.0.1:1/none: ...
    """

    def __init__(self, url: str, *, schema: str = "gridlib") -> None:
        self.url = url
        self.schema = schema
        self._con = _connect(url)
        ready = self._con.execute("SELECT to_regclass('gridlib_meta.layers')").fetchone()[0]
        if ready is None:
            self._con.close()
            raise StoreError(f"{mask_dsn(url, url)} is not a gridlib store yet: run `gridlib db init {mask_dsn(url, url)}`")
        from psycopg import sql

        self._con.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))

    def close(self) -> None:
        self._con.close()

    @property
    def connection(self):
        """The psycopg connection (for in-database analyses such as assignment)."""
        return self._con

    # ------------------------------------------------------------ transactions and locks
    @contextmanager
    def transaction(self) -> Iterator[PostgisStore]:
        with self._con.transaction():
            yield self

    @contextmanager
    def lock(self, name: str = "write") -> Iterator[None]:
        """A session-level advisory lock keyed by schema and *name*; LockError when held elsewhere."""
        key = f"gridlib:{self.schema}:{name}"
        got = self._con.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()[0]
        if not got:
            raise LockError(f"another session holds the {name!r} lock on {mask_dsn(self.url, self.url)} (schema {self.schema})")
        try:
            yield
        finally:
            self._con.execute("SELECT pg_advisory_unlock(hashtext(%s))", (key,))

    # ------------------------------------------------------------ interface
    def layers(self) -> list[str]:
        rows = self._con.execute(
            "SELECT layer_name FROM gridlib_meta.layers WHERE schema_name = %s ORDER BY layer_name", (self.schema,)
        ).fetchall()
        return [r[0] for r in rows]

    def _table(self, name: str):
        from psycopg import sql

        return sql.Identifier(self.schema, name)

    def write_layer(self, name: str, frame: pd.DataFrame, mode: str = "replace") -> None:
        from psycopg import sql

        check_mode(mode)
        check_name(name)
        check_columns(frame, name)
        data = frame.reset_index(drop=True)
        is_geo = isinstance(data, gpd.GeoDataFrame)
        srid = None
        geom_type = None
        if is_geo:
            if data.crs is None:
                raise StoreError(f"layer {name!r}: refusing to store a GeoDataFrame without a CRS")
            srid = pyproj.CRS(data.crs).to_epsg()
            if srid is None:
                raise StoreError(f"layer {name!r}: its CRS has no EPSG code; reproject to an EPSG CRS first")
            geom_col = data.geometry.name
            geoms = data.geometry.values
            attrs = pd.DataFrame(data.drop(columns=geom_col))
            geom_type = _geometry_type(np.asarray(geoms))
        else:
            attrs = pd.DataFrame(data)
        if _GEOM in attrs.columns:
            raise StoreError(f"layer {name!r}: the column name {_GEOM!r} is reserved for geometry")
        columns = [{"name": str(c), "dtype": _dtype_name(attrs[c])} for c in attrs.columns]
        with self._con.transaction():
            existing = self._con.execute(
                "SELECT columns, srid FROM gridlib_meta.layers WHERE schema_name = %s AND layer_name = %s",
                (self.schema, name),
            ).fetchone()
            if existing and mode == "create":
                raise StoreError(f"layer {name!r} already exists in schema {self.schema} (mode='create')")
            append = mode == "append" and existing is not None
            if append:
                if [c["name"] for c in existing[0]] != [c["name"] for c in columns] or existing[1] != srid:
                    raise StoreError(
                        f"layer {name!r}: cannot append — columns/SRID differ from the stored layer "
                        f"({[c['name'] for c in existing[0]]}, {existing[1]})"
                    )
                columns = existing[0]
            else:
                self._con.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self._table(name)))
                defs = [sql.SQL("fid bigserial PRIMARY KEY")]
                defs += [sql.SQL("{} {}").format(sql.Identifier(c["name"]), sql.SQL(_pg_type(c["dtype"])))
                         for c in columns]
                if is_geo:
                    defs.append(sql.SQL("{} geometry({}, {})").format(
                        sql.Identifier(_GEOM), sql.SQL(geom_type), sql.Literal(srid)))
                self._con.execute(sql.SQL("CREATE TABLE {} ({})").format(self._table(name), sql.SQL(", ").join(defs)))
            self._copy(name, attrs, columns, geoms if is_geo else None, srid)
            if is_geo and not append:
                self._con.execute(sql.SQL("CREATE INDEX {} ON {} USING gist ({})").format(
                    sql.Identifier(_index_name(self.schema, name)), self._table(name), sql.Identifier(_GEOM)))
            self._con.execute(sql.SQL("ANALYZE {}").format(self._table(name)))
            count = self._con.execute(sql.SQL("SELECT count(*) FROM {}").format(self._table(name))).fetchone()[0]
            self._con.execute(
                """INSERT INTO gridlib_meta.layers
                   (schema_name, layer_name, geometry_column, geometry_type, srid, columns, row_count, updated_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, now())
                   ON CONFLICT (schema_name, layer_name) DO UPDATE SET
                     geometry_column = EXCLUDED.geometry_column, geometry_type = EXCLUDED.geometry_type,
                     srid = EXCLUDED.srid, columns = EXCLUDED.columns, row_count = EXCLUDED.row_count,
                     updated_at = now()""",
                (self.schema, name, _GEOM if is_geo else None, geom_type, srid, json.dumps(columns), count),
            )

    def _copy(self, name: str, attrs: pd.DataFrame, columns: list[dict], geoms, srid: int | None) -> None:
        from psycopg import sql

        targets = [sql.Identifier(c["name"]) for c in columns]
        if geoms is not None:
            targets.append(sql.Identifier(_GEOM))
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(self._table(name), sql.SQL(", ").join(targets))
        n = len(attrs)
        with self._con.cursor() as cur, cur.copy(statement) as copy:
            for start in range(0, n, _COPY_CHUNK_ROWS):
                part = attrs.iloc[start:start + _COPY_CHUNK_ROWS]
                cols = [_column_text(part[c["name"]], _kind(c["dtype"])) for c in columns]
                if geoms is not None:
                    chunk = np.asarray(geoms[start:start + _COPY_CHUNK_ROWS])
                    wkb = shapely.to_wkb(shapely.set_srid(chunk, srid), hex=True, include_srid=True)
                    g = pd.Series(wkb, index=part.index, dtype=object)
                    g[shapely.is_missing(chunk)] = "\\N"
                    cols.append(g)
                if not cols:
                    raise StoreError(f"layer {name!r}: nothing to store (no columns)")
                lines = cols[0].astype(str)
                for col in cols[1:]:
                    lines = lines + "\t" + col.astype(str)
                copy.write(("\n".join(lines.tolist()) + "\n").encode("utf-8"))

    def read_layer(
        self,
        name: str,
        where: Mapping[str, Any] | None = None,
        bbox: tuple[float, float, float, float] | None = None,
        columns: list[str] | None = None,
    ) -> pd.DataFrame | gpd.GeoDataFrame:
        from psycopg import sql

        where = check_where(where)
        meta = self._con.execute(
            "SELECT columns, geometry_column, srid FROM gridlib_meta.layers WHERE schema_name = %s AND layer_name = %s",
            (self.schema, name),
        ).fetchone()
        if meta is None:
            raise StoreError(f"no layer {name!r} in schema {self.schema}; layers are {self.layers()}")
        stored, geom_col, srid = meta
        wanted = [c for c in stored if columns is None or c["name"] in columns]
        check_columns_exist(name, [c["name"] for c in stored], where, columns)
        select = [_ident(c["name"]) for c in wanted]
        if geom_col:
            select.append(sql.SQL("ST_AsBinary({})").format(_ident(geom_col)))
        clauses, params = [], []
        for column, value in where.items():
            if value is None:
                clauses.append(sql.SQL("{} IS NULL").format(_ident(column)))
            elif isinstance(value, list | tuple | set | frozenset):
                clauses.append(sql.SQL("{} = ANY(%s)").format(_ident(column)))
                params.append(list(value))
            else:
                clauses.append(sql.SQL("{} = %s").format(_ident(column)))
                params.append(value.item() if isinstance(value, np.generic) else value)
        if bbox is not None:
            if not geom_col:
                raise StoreError(f"layer {name!r} has no geometry; bbox= does not apply")
            clauses.append(sql.SQL("{} && ST_MakeEnvelope(%s, %s, %s, %s, %s)").format(_ident(geom_col)))
            params.extend([*map(float, bbox), srid])
        query = sql.SQL("SELECT {} FROM {}").format(
            sql.SQL(", ").join(select) if select else sql.SQL("NULL"), sql.SQL(".").join([_ident(self.schema), _ident(name)]))
        if clauses:
            query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses)
        query += sql.SQL(" ORDER BY fid")
        try:
            rows = self._con.execute(query, params).fetchall()
        except Exception as exc:
            raise StoreError(f"reading layer {name!r} failed: {exc}") from exc
        names = [c["name"] for c in wanted]
        records = list(zip(*rows, strict=True)) if rows else [[] for _ in range(len(names) + bool(geom_col))]
        frame = pd.DataFrame({n: _restore(pd.Series(list(records[i]), dtype=object), c["dtype"])
                              for i, (n, c) in enumerate(zip(names, wanted, strict=True))},
                             index=pd.RangeIndex(len(rows)))
        if not geom_col:
            return frame
        geoms = shapely.from_wkb(np.array(records[-1], dtype=object))
        return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=srid), crs=srid)

    def drop_layer(self, name: str, missing_ok: bool = False) -> None:
        from psycopg import sql

        with self._con.transaction():
            if name not in self.layers():
                if missing_ok:
                    return
                raise StoreError(f"no layer {name!r} in schema {self.schema}")
            self._con.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self._table(name)))
            self._con.execute("DELETE FROM gridlib_meta.layers WHERE schema_name = %s AND layer_name = %s",
                              (self.schema, name))


def _restore(values: pd.Series, dtype_name: str) -> pd.Series:
    """Give a column read from PostgreSQL back the pandas dtype it was written with."""
    if dtype_name.startswith("datetime64[ns, "):
        tz = dtype_name[len("datetime64[ns, "):-1]
        return pd.to_datetime(values, utc=True).dt.tz_convert(tz).astype(dtype_name)
    if dtype_name == "datetime64[ns]":
        return pd.to_datetime(values).astype("datetime64[ns]")
    if dtype_name in ("int64", "bool", "float64"):
        if dtype_name != "float64" and values.isna().any():
            return values.astype("Int64" if dtype_name == "int64" else "boolean")
        return values.astype(dtype_name)
    if dtype_name in ("Int64", "boolean"):
        return values.astype(dtype_name)
    return values.astype("str")
