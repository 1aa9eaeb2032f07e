"""Writing a night's products atomically and deterministically.

Products are written into a fresh hidden directory; when everything is
complete, the public path ``<out>/<date>`` (a symbolic link) is switched to it
with one atomic ``rename``. A crash or kill before that leaves the previous
products exactly as they were. Older runs of the same date are removed after
the switch; what a killed run left (its folder, a temporary link) is removed by
the next run, which logs it (:func:`clean_orphans`).

GeoPackages are written with GDAL's ``OGR_CURRENT_DATE`` pinned to the run
date, PNGs without timestamps and JSON/CSV with sorted, stable content, so the
same inputs give byte-identical files.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import shapely

from gridlib.io import process_umask
from gridlib.nightly.forks import release_free_memory

if TYPE_CHECKING:
    from gridlib.store.base import Store

log = logging.getLogger(__name__)

__all__ = ["TILE_CACHE", "INDEX_CACHE", "atomic_products_dir", "edition_cache_build", "clean_orphans", "clean_store_temps", "write_private", "write_gpkg_layers", "FrameDigest", "frame_digest", "file_digest", "dump_json"]


TILE_CACHE = "tiles"
"""The folder in ``out_dir/.runs`` that keeps the grid edition's tiles between nights; never a run's folder."""

INDEX_CACHE = ".gridindex"
"""The folder in ``out_dir`` (beside ``.runs``, which holds the edition's tiles) that keeps the grid edition's
:class:`~gridlib.index.GridIndex` between nights."""


def _tree_bytes(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if not p.is_dir() or p.is_symlink())


def _try_hold(path: Path) -> int | None:
    """An fd holding an exclusive ``flock`` on *path*, or ``None`` if a live process holds it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


@contextmanager
def _publish_lock(out: Path) -> Iterator[None]:
    """One publisher / cleaner at a time per output folder (blocking)."""
    with open(out / ".publish.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _clean_orphans(out: Path) -> list[tuple[str, int]]:
    """Remove what killed runs left in *out*; the caller holds the publish lock.

    A run holds an ``flock`` on its own folder in ``.runs/`` from creation until it is published or
    removed; the kernel drops that lock when the process dies, even by ``kill -9``. So a folder no
    link in *out* points to and whose lock can be taken belongs to no live run. Temporary links
    (``.<run>.link``) exist only inside the publish lock, which we hold: any found is an orphan.
    """
    runs = out / ".runs"
    removed: list[tuple[str, int]] = []
    for link in sorted(out.glob(".*.link")):
        if link.is_symlink():
            link.unlink()
            removed.append((link.name, 0))
    live = {p.resolve() for p in out.iterdir() if p.is_symlink()}
    if not runs.is_dir():
        return removed
    cache = runs / TILE_CACHE
    builds = [b for c in (cache, out / INDEX_CACHE) if c.is_dir() and not c.is_symlink() for b in sorted(c.glob(".build-*"))]
    for folder in [*sorted(runs.iterdir()), *builds]:
        if folder == cache or folder.is_symlink() or not folder.is_dir() or folder.resolve() in live:
            continue
        fd = _try_hold(folder)
        if fd is None:
            continue  # a live run is filling it
        try:
            size = _tree_bytes(folder)
            shutil.rmtree(folder, ignore_errors=True)
            removed.append((str(folder.relative_to(out)), size))
        finally:
            os.close(fd)
    return removed


@contextmanager
def edition_cache_build(cache: Path, name: str) -> Iterator[Path]:
    """Yield an empty folder to build ``cache/name`` in; it appears there by one rename only on success.

    The build folder ``cache/.build-<name>.<random>`` is ``flock``-ed while it is filled, so
    :func:`clean_orphans` removes it only when the process that made it has died. When a concurrent
    run finished the same build first, its folder is kept (both built the same bytes).

    >>> import tempfile, pathlib
    >>> cache = pathlib.Path(tempfile.mkdtemp())
    >>> with edition_cache_build(cache, "E1-abc") as tmp:
    ...     _ = (tmp / "grids.pmtiles").write_bytes(b"x")
    >>> sorted(p.name for p in cache.iterdir())
    ['E1-abc']
    """
    cache.mkdir(parents=True, exist_ok=True)
    folder = cache / name
    tmp = Path(tempfile.mkdtemp(prefix=f".build-{name}.", dir=cache))
    held = _try_hold(tmp)
    try:
        yield tmp
        try:
            os.replace(tmp, folder)
        except OSError:
            if not folder.is_dir():
                raise
    finally:
        if held is not None:
            os.close(held)
        shutil.rmtree(tmp, ignore_errors=True)


def _log_removed(removed: list[tuple[str, int]], where: object) -> None:
    if removed:
        total = sum(size for _, size in removed)
        log.warning("removed %d orphan(s) left by killed runs in %s, %d bytes: %s", len(removed), where, total,
                    ", ".join(f"{name} ({size} bytes)" for name, size in removed))


def clean_orphans(out_dir: str | os.PathLike[str]) -> list[tuple[str, int]]:
    """Remove run folders and temporary links that killed runs left in *out_dir*; log and return them.

    A folder in ``out_dir/.runs`` is removed only when no link in *out_dir* points to it and
    no live run holds its lock (see :func:`atomic_products_dir`), so the published products and
    the folders of runs still going on are never touched. Called at the start of every run.

    Returns
    -------
    list of (str, int)
        What was removed (path relative to *out_dir*) and its size in bytes.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> (out / ".runs" / "2026-11-21.killed").mkdir(parents=True)
    >>> _ = (out / ".runs" / "2026-11-21.killed" / "a.png").write_bytes(b"12345")
    >>> clean_orphans(out)
    [('.runs/2026-11-21.killed', 5)]
    """
    out = Path(out_dir)
    if not out.is_dir():
        return []
    with _publish_lock(out):
        removed = _clean_orphans(out)
    _log_removed(removed, out)
    return removed


def clean_store_temps(store: Store) -> list[tuple[str, int]]:
    """Remove the temporary copies (``.<file>.*.tmp.gpkg``) killed writers left beside a GeoPackage store.

    A copy is in use only while its writer holds the store's write lock (``GpkgStore.transaction``);
    if that lock can be taken, no writer is live and every copy is an orphan. If a writer holds it,
    nothing is removed. Other stores have no such files (returns ``[]``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import gridlib as gl
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "store.gpkg"
    >>> store = gl.store.open(path)
    >>> _ = (path.parent / ".store.gpkg.k1ll3d.tmp.gpkg").write_bytes(b"x" * 7)
    >>> clean_store_temps(store)
    [('.store.gpkg.k1ll3d.tmp.gpkg', 7)]
    """
    from gridlib.errors import LockError
    from gridlib.store.gpkg import GpkgStore

    if not isinstance(store, GpkgStore):
        return []
    path = Path(store.path)
    removed: list[tuple[str, int]] = []
    try:
        with store.lock("write"):
            for tmp in sorted(path.parent.glob(f".{glob.escape(path.name)}.*.tmp.gpkg")):
                size = tmp.lstat().st_size
                tmp.unlink(missing_ok=True)
                removed.append((tmp.name, size))
    except LockError:
        log.info("store %s is being written by another process; its temporary copies are left alone", path)
    except PermissionError as exc:  # a read-only store folder: the night only reads the store
        log.info("temporary copies beside %s not checked: %s", path, exc.strerror)
    _log_removed(removed, path.parent)
    return removed


@contextmanager
def atomic_products_dir(out_dir: str | os.PathLike[str], name: str) -> Iterator[Path]:
    """Yield an empty directory to fill; publish it as ``out_dir/name`` only on success.

    The directory is ``out_dir/.runs/<name>.<random>``; this run holds an ``flock`` on it
    until it is published or removed, which tells :func:`clean_orphans` it is in use.
    Orphans of killed runs are cleaned first.

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_products_dir(out, "2026-11-21") as d:
    ...     _ = (d / "a.txt").write_text("x")
    >>> (out / "2026-11-21" / "a.txt").read_text()
    'x'
    """
    out = Path(out_dir)
    runs = out / ".runs"
    runs.mkdir(parents=True, exist_ok=True)
    public = out / name
    with _publish_lock(out):  # so a cleaner never sees our folder before we hold its lock
        removed = _clean_orphans(out)
        work = Path(tempfile.mkdtemp(prefix=f"{name}.", dir=runs))
        held = _try_hold(work)
    _log_removed(removed, out)
    try:
        os.chmod(work, 0o777 & ~process_umask())  # mkdtemp gives 0700; a plain mkdir() would give this
        try:
            yield work
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        # one publisher at a time per output folder; the temporary link name is unique to this run
        with _publish_lock(out):
            if public.exists() and not public.is_symlink():
                shutil.rmtree(work, ignore_errors=True)
                raise FileExistsError(f"{public} exists and is not a gridlib products link; move it away first")
            previous = public.resolve() if public.is_symlink() else None
            link_tmp = out / f".{work.name}.link"
            link_tmp.unlink(missing_ok=True)
            os.symlink(os.path.relpath(work, out), link_tmp)
            os.replace(link_tmp, public)
            if previous is not None and previous != work.resolve():
                shutil.rmtree(previous, ignore_errors=True)
    finally:
        if held is not None:
            os.close(held)

def _slices(frame: pd.DataFrame) -> list[tuple[int, int]]:
    """The rows of each record batch that ``pa.Table.from_pandas(frame)`` streams to GDAL: a new one wherever a
    column backed by Arrow starts a chunk (a layer read from a store comes in GDAL's batches; numpy columns are
    one chunk)."""
    cuts = {0, len(frame)}
    for name in frame.columns:
        to_arrow = getattr(frame[name].array, "__arrow_array__", None)
        chunked = to_arrow() if to_arrow is not None else None
        if isinstance(chunked, pa.ChunkedArray):
            cuts.update(np.cumsum([len(c) for c in chunked.chunks]).tolist())
    ends = sorted(c for c in cuts if 0 <= c <= len(frame))
    return list(zip(ends[:-1], ends[1:], strict=True))


def _arrow_plan(frame: pd.DataFrame, geom: str | None) -> tuple[pa.Schema, list[str]] | None:
    """The Arrow schema pyogrio's ``write_dataframe(use_arrow=True)`` gives *frame* (geometry as WKB) and the
    object columns it writes as text, both decided on whole columns so that every slice converts alike; ``None``
    where its conversion is not one this writer repeats (a datetime with a time zone other than UTC, values
    written as text datetimes)."""
    as_text, whole = [], {}
    for name, dtype in frame.dtypes.items():
        if name == geom:
            continue
        if dtype == "object":
            kind = pd.api.types.infer_dtype(frame[name])
            if kind == "datetime":
                return None
            if kind != "string":
                try:  # the whole column's type: a first slice of ints in a column of ints and floats is not it
                    whole[name] = pa.Schema.from_pandas(frame[[name]], preserve_index=False).field(0)
                except pa.ArrowInvalid:
                    as_text.append(name)
        elif isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) != "UTC":
            return None
    first = next(_batches(frame, geom, None, as_text)).schema
    fields = []
    for field in first.remove_metadata():
        if field.name == geom:
            field = field.with_type(pa.binary())
        elif field.name in whole:
            field = whole[field.name]
        elif pa.types.is_null(field.type):  # none in the first slice: the type of the whole column
            field = pa.Schema.from_pandas(frame[[field.name]].astype("string") if field.name in as_text
                                          else frame[[field.name]], preserve_index=False).field(0)
        if pa.types.is_null(field.type):  # as pyogrio: GDAL has no null type
            field = field.with_type(pa.string())
        elif pa.types.is_dictionary(field.type) and pa.types.is_null(field.type.value_type):
            field = field.with_type(pa.dictionary(field.type.index_type, pa.string()))
        fields.append(field)
    return pa.schema(fields), as_text


def _batches(frame: pd.DataFrame, geom: str | None, schema: pa.Schema | None,
             as_text: list[str]) -> Iterator[pa.RecordBatch]:
    for start, end in _slices(frame):
        part = pd.DataFrame(frame.iloc[start:end], copy=False)
        if geom is not None:
            part[geom] = shapely.to_wkb(np.asarray(frame[geom].values[start:end]))
        for name in as_text:
            part[name] = part[name].astype("string")
        yield from pa.Table.from_pandas(part, schema=schema, preserve_index=False).combine_chunks().to_batches()
        del part


def _write_layer(path: Path, name: str, frame: pd.DataFrame, geometry_type: str | None) -> None:
    """``pyogrio.write_dataframe(frame, path, layer=name, driver="GPKG", geometry_type=geometry_type,
    use_arrow=True)``, the same file, but with *frame* converted to Arrow (its geometry to WKB) one record batch at
    a time as GDAL writes it, not as one table: a city's 736k grids as one Arrow table with their WKB held the
    GeoPackage writer ~370 MB above its layers. The batches are those the whole table would give
    (:func:`_slices`): GDAL commits each in a transaction of its own, counted in the file's header. A frame
    pyogrio would convert otherwise (mixed geometry types or dimensions, dates as text) or of one batch is given
    to it whole."""
    geom = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    kind, crs = geometry_type, None
    if geom is not None:
        geoms = frame.geometry
        present = geoms[~shapely.is_missing(np.asarray(geoms.values))]
        if geometry_type is None:
            kinds = pd.unique(present.geom_type)
            kind = kinds[0] if len(kinds) == 1 else None
        if geoms.crs:
            epsg = geoms.crs.to_epsg()
            crs = f"EPSG:{epsg}" if epsg else geoms.crs.to_wkt("WKT1_GDAL")
        # pyogrio types a layer from every geometry, empty ones included (promoted to multi, or "Unknown"): a layer
        # with an empty or 3D geometry is given to it whole
        if kind is None or present.is_empty.any() or present.has_z.any():
            kind = None
    plan = (_arrow_plan(frame, geom) if len(_slices(frame)) > 1 and (geom is None or kind is not None)
            else None)
    if plan is None:
        pyogrio.write_dataframe(frame, path, layer=name, driver="GPKG", append=False, geometry_type=geometry_type,
                                use_arrow=True)
        return
    schema, as_text = plan
    stream = pa.RecordBatchReader.from_batches(schema, _batches(frame, geom, schema, as_text))
    pyogrio.write_arrow(stream, path, layer=name, driver="GPKG", geometry_name=geom, geometry_type=kind, crs=crs,
                        append=False)


def _shared_rows(frame: pd.DataFrame, base: pd.DataFrame | None, key: str) -> np.ndarray | None:
    """For each row of *frame*, the row of *base* with the same *key* and exactly the same geometry (and CRS);
    ``None`` unless every row has one (then *frame*'s geometry is *base*'s, and need not be written again)."""
    if (base is None or not isinstance(frame, gpd.GeoDataFrame) or not isinstance(base, gpd.GeoDataFrame)
            or not len(frame) or key not in frame.columns or key not in base.columns or frame.crs != base.crs
            or frame.geometry.name != base.geometry.name or not base[key].is_unique):
        return None
    rows = pd.Index(base[key]).get_indexer(frame[key])
    if (rows < 0).any():
        return None
    same = shapely.equals_exact(np.asarray(base.geometry.values)[rows], np.asarray(frame.geometry.values), 0.0)
    return rows if same.all() else None


def _write_view(path: Path, name: str, frame: gpd.GeoDataFrame, base: str, rows: np.ndarray) -> None:
    """*frame* as its attributes in the table ``<name>__attributes`` (not a layer of its own) and the spatial
    view *name* joining them to the geometry of the layer *base* (row ``rows[i]`` for row ``i``), in row order.

    The view's feature ids are *base*'s, so GDAL (and QGIS) use *base*'s spatial index for it. The attribute
    table stays registered as GDAL wrote it until :func:`_unlist` (GDAL registers no more tables it writes into a
    file that holds unregistered ones)."""
    values = f"{name}__attributes"
    attrs = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    attrs.insert(0, "base_fid", rows.astype("int64") + 1)  # GDAL numbers a written layer's rows from 1
    _write_layer(path, values, attrs, None)
    con = sqlite3.connect(path)
    try:
        with con:
            (geom, kind, srs, z, m), = con.execute(
                "SELECT column_name, geometry_type_name, srs_id, z, m FROM gpkg_geometry_columns "
                "WHERE table_name = ?", (base,)).fetchall()
            (last_change,), = con.execute("SELECT last_change FROM gpkg_contents WHERE table_name = ?", (base,))
            cols = ", ".join(f"a.{_ident(c)} AS {_ident(c)}" for c in attrs.columns[1:])
            con.execute(f"CREATE VIEW {_ident(name)} AS SELECT b.fid AS fid, {cols}, b.{_ident(geom)} AS "
                        f"{_ident(geom)} FROM {_ident(values)} a JOIN {_ident(base)} b ON b.fid = a.base_fid "
                        "ORDER BY a.fid")
            x0, y0, x1, y1 = (float(v) for v in frame.total_bounds)
            con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change, "
                        "min_x, min_y, max_x, max_y, srs_id) VALUES (?, 'features', ?, '', ?, ?, ?, ?, ?, ?)",
                        (name, name, last_change, x0, y0, x1, y1, srs))
            con.execute("INSERT INTO gpkg_geometry_columns VALUES (?, ?, ?, ?, ?, ?)", (name, geom, kind, srs, z, m))
    finally:
        con.close()


def _unlist(path: Path, tables: list[str]) -> None:
    """Remove *tables* from the GeoPackage's list of layers (they stay, read through views)."""
    con = sqlite3.connect(path)
    try:
        with con:
            for table in ("gpkg_contents", "gpkg_ogr_contents"):
                con.executemany(f"DELETE FROM {table} WHERE table_name = ?", [(t,) for t in tables])
    finally:
        con.close()


def _ident(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def write_gpkg_layers(path: Path, layers: dict[str, pd.DataFrame], *, current_date: str,
                      geometry_types: dict[str, str] | None = None,
                      shared_geometry: dict[str, tuple[str, str]] | None = None) -> None:
    """Write several layers into a new GeoPackage, sorted by name, with a pinned GDAL date.

    A layer without any geometry (an empty night) gets its type from *geometry_types*, not "Unknown".
    A layer named in *shared_geometry* as ``{layer: (base, key)}`` whose every row has exactly the geometry of
    the *base* layer's row with the same *key* (the night's hotspots and reachability: the grids of
    ``grid_responsibility``) is written as a spatial view of its attributes joined to *base*'s geometry: the
    same layer to GDAL and QGIS (same rows, columns and geometry, *base*'s spatial index), without a second
    copy of a city's 756k grid polygons and their index.

    Examples
    --------
    >>> import tempfile, pandas as pd, geopandas as gpd, pyogrio
    >>> from pathlib import Path
    >>> from shapely import Point
    >>> path = Path(tempfile.mkdtemp()) / "products.gpkg"
    >>> write_gpkg_layers(path, {"zeta": pd.DataFrame({"n": [1]}),
    ...     "alpha": gpd.GeoDataFrame({"n": [2]}, geometry=[Point(0, 0)], crs=4550)}, current_date="2026-11-20T00:00:00Z")
    >>> pyogrio.list_layers(path)[:, 0].tolist()   # written in name order
    ['alpha', 'zeta']
    >>> empty = gpd.GeoDataFrame({"n": []}, geometry=gpd.GeoSeries([], crs=4550))
    >>> write_gpkg_layers(path, {"violations": empty}, current_date="2026-11-20T00:00:00Z",
    ...                   geometry_types={"violations": "Point"})
    >>> pyogrio.read_info(path, layer="violations")["geometry_type"]
    'Point'
    >>> from shapely import box
    >>> grids = gpd.GeoDataFrame({"grid_code": ["G1", "G2"]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs=4550)
    >>> hot = grids.iloc[::-1].assign(z=[2.5, -1.0])
    >>> write_gpkg_layers(path, {"grids": grids, "hot": hot}, current_date="2026-11-20T00:00:00Z",
    ...                   shared_geometry={"hot": ("grids", "grid_code")})
    >>> back = gpd.read_file(path, layer="hot")
    >>> back.drop(columns="geometry").equals(hot.drop(columns="geometry").reset_index(drop=True))
    True
    >>> bool(back.geometry.geom_equals_exact(hot.geometry.reset_index(drop=True), 0).all())
    True
    """
    shared = shared_geometry or {}
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": current_date})
    try:
        written: set[str] = set()
        views: list[str] = []
        for name in sorted(layers):
            frame = layers[name].reset_index(drop=True)
            kind = None
            if not isinstance(frame, gpd.GeoDataFrame):
                frame = pd.DataFrame(frame)
            elif not frame.geometry.notna().any():
                kind = (geometry_types or {}).get(name)
            written.add(name)
            if name in shared and shared[name][0] in written:  # a view in its place in the layer order
                base, key = shared[name]
                rows = _shared_rows(frame, layers[base], key)
                if rows is not None:
                    _write_view(path, name, frame, base, rows)
                    views.append(f"{name}__attributes")
                    release_free_memory()
                    continue
            _write_layer(path, name, frame, kind)
            # each layer's memory (its Arrow table, its WKB) given back before the next is built: a city's writer
            # held ~170 MB of earlier layers under the 736k grids' table
            release_free_memory()
        if views:
            _unlist(path, views)
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})


_DIGEST_ROWS = 500_000


class FrameDigest:
    """:func:`frame_digest` of a table without a geometry given in consecutive parts (:meth:`update`): the same
    bytes fed to the same hash, and never the whole table at once.

    >>> a = pd.DataFrame({"x": [1, 2, 3], "t": ["a", "b", None]})
    >>> d = FrameDigest(a.columns)
    >>> d.update(a.iloc[:2]); d.update(a.iloc[2:])
    >>> d.hexdigest() == frame_digest(a)
    True
    """

    def __init__(self, columns: pd.Index) -> None:
        self._hash = hashlib.sha256(json.dumps([str(c) for c in columns]).encode())
        self._rows = 0

    def update(self, part: pd.DataFrame) -> None:
        """Add the next rows (a frame with the columns given, without a geometry)."""
        self._rows += len(part)
        if not len(part.columns):
            return
        # values hashed as they are (numbers and times by their bits, text as text); a text copy of every value
        # took 87 s of CPU for a city's 9.5 M fixes. Only an object column pandas cannot hash is hashed as text.
        # _DIGEST_ROWS rows at a time: the text copy of a city's 9.5 M truck fixes made the night's memory peak
        for start in range(0, len(part), _DIGEST_ROWS):
            rows = part.iloc[start:start + _DIGEST_ROWS]
            try:
                hashed = pd.util.hash_pandas_object(rows, index=False)
            except TypeError:
                hashed = pd.util.hash_pandas_object(rows.astype(str), index=False)
            self._hash.update(hashed.to_numpy().tobytes())

    def hexdigest(self) -> str:
        """The digest of the rows given so far."""
        h = self._hash.copy()
        h.update(str(self._rows).encode())
        return h.hexdigest()


def frame_digest(frame: pd.DataFrame) -> str:
    """A content hash of a (Geo)DataFrame: values, column names and geometry (as WKB).

    >>> a = pd.DataFrame({"x": [1, 2]})
    >>> frame_digest(a) == frame_digest(a.copy()), frame_digest(a) == frame_digest(a.iloc[:1])
    (True, False)
    """
    digest = FrameDigest(frame.columns)
    if isinstance(frame, gpd.GeoDataFrame):
        geoms = np.asarray(frame.geometry.values)
        for start in range(0, len(geoms), _DIGEST_ROWS):
            wkb = shapely.to_wkb(geoms[start:start + _DIGEST_ROWS])
            digest._hash.update(b"".join(b if b is not None else b"\0" for b in wkb))
        frame = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    digest.update(frame)
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (hex), read in 1 MiB blocks.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.txt")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(b"abc")
    >>> file_digest(path)
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
    """
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_private(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write *frame* as CSV only its owner can read: file mode 0600, folders it creates 0700, atomically.

    For files that hold personal data and are never published (the operator's full rejects).

    Examples
    --------
    >>> import stat, tempfile
    >>> from pathlib import Path
    >>> path = write_private(pd.DataFrame({"reason": ["unknown urgency 'x'"]}),
    ...                      Path(tempfile.mkdtemp()) / ".private" / "2026-11-21" / "rejects.csv")
    >>> oct(stat.S_IMODE(path.stat().st_mode)), oct(stat.S_IMODE(path.parent.stat().st_mode))
    ('0o600', '0o700')
    """
    path = Path(path)
    missing = [d for d in (path.parent, *path.parent.parents) if not d.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            frame.to_csv(f, index=False, lineterminator="\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def dump_json(data: Any, path: Path) -> None:
    """Write stable JSON (sorted keys, UTF-8, trailing newline).

    Examples
    --------
    >>> import os, tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "m.json"
    >>> dump_json({"b": 1, "a": "网格"}, path)
    >>> path.read_text(encoding="utf-8")
    '{\\n  "a": "网格",\\n  "b": 1\\n}\\n'
    """
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True, default=str) + "\n",
                    encoding="utf-8")
