"""Helpers shared by the command modules: option values checked into one clear line (exit 2)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from gridlib.errors import InputError

__all__ = ["parse_day", "existing_store", "gpkg_path"]

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_day(text: str, option: str = "--date") -> dt.date:
    """A day given as YYYY-MM-DD; anything else is an :class:`InputError` naming the option.

    >>> parse_day("2026-11-21")
    datetime.date(2026, 11, 21)
    >>> parse_day("21/11/2026")
    Traceback (most recent call last):
    ...
    gridlib.errors.InputError: --date '21/11/2026': expected a day as YYYY-MM-DD, e.g. 2026-11-21
    """
    text = str(text).strip()
    try:
        if not _DAY.fullmatch(text):
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{option} {text!r}: expected a day as YYYY-MM-DD, e.g. 2026-11-21") from None


def existing_store(url: str, option: str = "--store") -> str:
    """*url* if it is a database URL or an existing file; a missing GeoPackage is an :class:`InputError`.

    (Opening a missing ``.gpkg`` would create an empty store, and the command would then complain
    that it lacks layers.)

    >>> existing_store("postgresql://gridlib@localhost/gridlib")
    'postgresql://gridlib@localhost/gridlib'
    >>> existing_store("/no/such/store.gpkg")
    Traceback (most recent call last):
    ...
    gridlib.errors.InputError: --store /no/such/store.gpkg: no such file
    """
    if "://" in url or "=" in url:  # a URL or a keyword DSN
        return url
    if not Path(url).exists():
        raise InputError(f"{option} {url}: no such file")
    return url


def gpkg_path(path: Path, option: str = "--out") -> Path:
    """*path* as a GeoPackage path: ``.gpkg`` added when it has no suffix, another suffix refused.

    >>> gpkg_path(Path("val_report")), gpkg_path(Path("out/report.GPKG"))
    (PosixPath('val_report.gpkg'), PosixPath('out/report.GPKG'))
    >>> gpkg_path(Path("report.shp"), "--report")
    Traceback (most recent call last):
    ...
    gridlib.errors.InputError: --report report.shp: this writes a GeoPackage; give a path ending in .gpkg
    """
    path = Path(path)
    if path.suffix.lower() == ".gpkg":
        return path
    if path.suffix == "":
        return path.with_name(path.name + ".gpkg")
    raise InputError(f"{option} {path}: this writes a GeoPackage; give a path ending in .gpkg")
