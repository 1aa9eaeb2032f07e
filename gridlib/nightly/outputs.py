"""Writing a night's products atomically and deterministically.

Products are written into a fresh hidden directory; when everything is
complete, the public path ``<out>/<date>`` (a symbolic link) is switched to it
with one atomic ``rename``. A crash or kill before that leaves the previous
products exactly as they were. Older runs of the same date are removed after
the switch.

GeoPackages are written with GDAL's ``OGR_CURRENT_DATE`` pinned to the run
date, PNGs without timestamps and JSON/CSV with sorted, stable content, so the
same inputs give byte-identical files.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from gridlib.io import process_umask

__all__ = ["atomic_products_dir", "write_gpkg_layers", "frame_digest", "file_digest", "dump_json"]


@contextmanager
def atomic_products_dir(out_dir: str | os.PathLike[str], name: str) -> Iterator[Path]:
    """Yield an empty directory to fill; publish it as ``out_dir/name`` only on success.

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
    work = Path(tempfile.mkdtemp(prefix=f"{name}.", dir=runs))
    os.chmod(work, 0o777 & ~process_umask())  # mkdtemp gives 0700; a plain mkdir() would give this
    public = out / name
    try:
        yield work
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    # one publisher at a time per output folder; the temporary link name is unique to this run
    with open(runs / ".publish.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
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
            fcntl.flock(lock, fcntl.LOCK_UN)


def write_gpkg_layers(path: Path, layers: dict[str, pd.DataFrame], *, current_date: str) -> None:
    """Write several layers into a new GeoPackage, sorted by name, with a pinned GDAL date.

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
    """
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": current_date})
    try:
        for name in sorted(layers):
            frame = layers[name].reset_index(drop=True)
            if not isinstance(frame, gpd.GeoDataFrame):
                frame = pd.DataFrame(frame)
            pyogrio.write_dataframe(frame, path, layer=name, driver="GPKG", append=False)
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": None})


def frame_digest(frame: pd.DataFrame) -> str:
    """A content hash of a (Geo)DataFrame: values, column names and geometry (as WKB).

    >>> a = pd.DataFrame({"x": [1, 2]})
    >>> frame_digest(a) == frame_digest(a.copy()), frame_digest(a) == frame_digest(a.iloc[:1])
    (True, False)
    """
    h = hashlib.sha256()
    h.update(json.dumps([str(c) for c in frame.columns]).encode())
    if isinstance(frame, gpd.GeoDataFrame):
        attrs = pd.DataFrame(frame.drop(columns=frame.geometry.name))
        wkb = shapely.to_wkb(np.asarray(frame.geometry.values))
        h.update(b"".join(b if b is not None else b"\0" for b in wkb))
    else:
        attrs = frame
    if len(attrs.columns):
        h.update(pd.util.hash_pandas_object(attrs.astype(str), index=False).to_numpy().tobytes())
    h.update(str(len(frame)).encode())
    return h.hexdigest()


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
