"""The component and event class catalogue of both editions, shipped as CSV data.

Editions
--------
``gbt47678-2026``
    GB/T 47678.5-2026 城市运行管理服务平台 第5部分：管理部件和事项 (the default):
    153 component classes and 250 事项 (matters, ``kind="event"``), 5-digit class
    codes (大类 2 + 小类 3). 事项 01xxx–05xxx mirror the component classes.
``cjt214-2007``
    CJ/T 214-2007: 85 component classes and the event classes known from
    implementations, 4-digit class codes (大类 2 + 小类 2).

Every row carries the STANDARDS.md evidence marker (``confidence``) and a
``status`` (``listed``, ``single_source``, ``conflict``, ``uncertain``); codes
that the sources miss are listed by :func:`gaps`, never invented.

City extension classes are added with :func:`gridlib.codes.load_extensions` and are then seen
by :func:`catalogue`, :func:`lookup`, :func:`search` and
:func:`gridlib.codes.check_codes` for the rest of the process.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Literal

import numpy as np
import pandas as pd

from gridlib.errors import CodeError, InputError

Edition = Literal["gbt47678-2026", "cjt214-2007"]
Kind = Literal["component", "event"]

DEFAULT_EDITION: str = "gbt47678-2026"
EDITIONS: tuple[str, ...] = ("gbt47678-2026", "cjt214-2007")
#: digits of a class code (大类 + 小类) per edition
CLASS_DIGITS: dict[str, int] = {"gbt47678-2026": 5, "cjt214-2007": 4}
#: digits of the 小类 part per edition
MINOR_DIGITS: dict[str, int] = {"gbt47678-2026": 3, "cjt214-2007": 2}
KINDS: tuple[str, ...] = ("component", "event")

COLUMNS = [
    "edition", "kind", "major_code", "minor_code", "class_code", "name_zh", "name_en",
    "name_en_source", "major_name_zh", "major_name_en", "confidence", "status", "note",
]

# edition -> DataFrame of registered extension rows (same columns, status "extension")
_EXTENSIONS: dict[str, pd.DataFrame] = {}


def data_path(name: str) -> str:
    """Path of a data file bundled with :mod:`gridlib.codes` (catalogues, rules, crosswalks).

    >>> data_path("responsibility_rules.csv").endswith("responsibility_rules.csv")
    True
    """
    return str(resources.files("gridlib.codes").joinpath("data", name))


def check_edition(edition: str) -> str:
    """Return ``edition`` if known, else raise :class:`~gridlib.errors.CodeError`.

    >>> check_edition("cjt214-2007")
    'cjt214-2007'
    """
    if edition not in EDITIONS:
        raise CodeError(f"unknown edition {edition!r}; expected one of {', '.join(EDITIONS)}")
    return edition


def check_kind(kind: str | None) -> None:
    """Raise :class:`~gridlib.errors.CodeError` unless *kind* is ``None``, ``"component"`` or ``"event"``.

    >>> check_kind("event")
    """
    if kind is not None and kind not in KINDS:
        raise CodeError(f"unknown kind {kind!r}; expected 'component' or 'event'")


@functools.cache
def _standard(edition: str) -> pd.DataFrame:
    df = pd.read_csv(data_path(f"catalogue_{edition}.csv"), dtype=str, keep_default_na=False)
    return df[COLUMNS]


@functools.cache
def _gaps() -> pd.DataFrame:
    return pd.read_csv(data_path("gaps.csv"), dtype=str, keep_default_na=False)


def catalogue(edition: str = DEFAULT_EDITION, kind: str | None = None) -> pd.DataFrame:
    """The class catalogue of one edition as a DataFrame (one row per class).

    Parameters
    ----------
    edition : {"gbt47678-2026", "cjt214-2007"}
        Standard edition; GB/T 47678.5-2026 by default.
    kind : {"component", "event"}, optional
        Only component classes or only event classes (the 2026 管理事项 are events).

    Returns
    -------
    DataFrame
        Columns ``edition, kind, major_code, minor_code, class_code, name_zh, name_en,
        name_en_source, major_name_zh, major_name_en, confidence, status, note``; codes
        are strings with their leading zeros. Registered city extensions are included
        with ``status == "extension"``.

    Examples
    --------
    >>> import gridlib as gl
    >>> len(gl.codes.catalogue(kind="component")), len(gl.codes.catalogue(kind="event"))
    (153, 250)
    >>> gl.codes.catalogue("cjt214-2007", kind="component").name_zh.iloc[0]
    '上水井盖'
    """
    check_edition(edition)
    check_kind(kind)
    df = _standard(edition)
    ext = _EXTENSIONS.get(edition)
    if ext is not None and len(ext):
        df = pd.concat([df, ext[COLUMNS]], ignore_index=True)
    if kind is not None:
        df = df[df["kind"] == kind]
    return df.reset_index(drop=True).copy()


def gaps(edition: str = DEFAULT_EDITION) -> pd.DataFrame:
    """Class codes the sources are known to miss (gaps or deletions), with the reason.

    >>> import gridlib as gl
    >>> sorted(set(gl.codes.gaps().class_code))[:3]
    ['01016', '05001', '05004']
    """
    check_edition(edition)
    g = _gaps()
    return g[g["edition"] == edition].reset_index(drop=True).copy()


@functools.cache
def class_rows(edition: str) -> dict[tuple[str | None, str], pd.Series]:
    """(kind, class_code) → catalogue row; kind None → the component row when both exist.

    >>> class_rows(DEFAULT_EDITION)[(None, "06012")].name_zh
    '道路不洁'
    """
    cat = catalogue(edition).sort_values("kind", kind="stable", ascending=False)  # events first…
    index: dict[tuple[str | None, str], pd.Series] = {}
    for _, r in cat.iterrows():  # a few hundred rows, once per edition
        index[(r["kind"], r["class_code"])] = r
        index[(None, r["class_code"])] = r  # …so components overwrite them here
    return index


def search(text: str, edition: str | None = DEFAULT_EDITION, kind: str | None = None) -> pd.DataFrame:
    """Classes whose code, Chinese or English name contains ``text`` (case-insensitive).

    Parameters
    ----------
    text : str
        Substring, e.g. ``"井盖"``, ``"manhole"`` or ``"0601"``.
    edition : str or None
        One edition, or ``None`` for both.
    kind : {"component", "event"}, optional

    Examples
    --------
    >>> import gridlib as gl
    >>> gl.codes.search("井盖", kind="component").class_code.tolist()[:3]
    ['01001', '01002', '01003']
    >>> gl.codes.search("dirty road").name_zh.tolist()
    ['道路不洁']
    """
    text = str(text).strip()
    if not text:
        raise InputError("search text is empty")
    editions = EDITIONS if edition is None else (check_edition(edition),)
    frames = [catalogue(e, kind) for e in editions]
    df = pd.concat(frames, ignore_index=True)
    needle = text.lower()
    hay = df["class_code"] + "\n" + df["name_zh"].str.lower() + "\n" + df["name_en"].str.lower()
    return df[hay.str.contains(needle, regex=False)].reset_index(drop=True)


def register_extensions(rows: pd.DataFrame, edition: str = DEFAULT_EDITION) -> pd.DataFrame:
    """Add city extension classes (catalogue rows, already checked for form and range) to *edition*.

    *rows* has the catalogue columns plus ``_where`` (where each row came from, for messages).
    A class registered again with the same name is a no-op; a clash with a standard class, an
    earlier extension or another row raises :class:`~gridlib.errors.CodeError` naming both.
    :func:`gridlib.codes.load_extensions` reads and checks a table, then calls this.

    >>> row = dict.fromkeys(COLUMNS, "")
    >>> row.update(edition=DEFAULT_EDITION, kind="event", major_code="21", minor_code="002",
    ...            class_code="21002", name_zh="占道晾晒", status="extension", _where="example")
    >>> register_extensions(pd.DataFrame([row])).class_code.tolist()
    ['21002']
    >>> clear_extensions()
    """
    check_edition(edition)
    new = rows.reset_index(drop=True)
    std = _standard(edition)
    previous = _EXTENSIONS.get(edition, pd.DataFrame(columns=[*COLUMNS, "_where"]))
    seen: dict[tuple[str, str], str] = {}
    for _, r in std.iterrows():
        seen[(r["kind"], r["class_code"])] = f"standard class {r['class_code']} {r['name_zh']} ({edition})"
    registered = {(r["kind"], r["class_code"]): r["name_zh"] for _, r in previous.iterrows()}
    for _, r in previous.iterrows():
        seen[(r["kind"], r["class_code"])] = f"{r['_where']} ({r['class_code']} {r['name_zh']}, already registered)"
    fresh = np.ones(len(new), dtype=bool)
    for i, r in new.iterrows():
        key = (r["kind"], r["class_code"])
        if registered.get(key) == r["name_zh"]:  # the same class loaded again: nothing to do
            fresh[i] = False
            continue
        if key in seen:
            raise CodeError(f"{r['_where']} ({r['class_code']} {r['name_zh']}) clashes with {seen[key]}")
        seen[key] = f"{r['_where']} ({r['class_code']} {r['name_zh']})"
    added = new[fresh]
    _EXTENSIONS[edition] = pd.concat([previous, added], ignore_index=True) if len(previous) else added
    lookup_tables.cache_clear()
    class_rows.cache_clear()
    return new[COLUMNS].reset_index(drop=True)


def clear_extensions(edition: str | None = None) -> None:
    """Forget registered city extensions (of one edition, or all).

    >>> clear_extensions()
    """
    if edition is None:
        _EXTENSIONS.clear()
    else:
        _EXTENSIONS.pop(check_edition(edition), None)
    lookup_tables.cache_clear()
    class_rows.cache_clear()


@functools.cache
def lookup_tables(edition: str) -> dict[str, np.ndarray]:
    """Dense status tables indexed by the integer class code (0 unknown, 1 class, 2 gap), per kind.

    >>> int(lookup_tables("gbt47678-2026")["any"][6012])
    1
    """
    size = 10 ** CLASS_DIGITS[edition]
    cat = catalogue(edition)
    gp = gaps(edition)
    out = {}
    for kind in (*KINDS, "any"):
        table = np.zeros(size, dtype=np.int8)
        g = gp if kind == "any" else gp[gp["kind"] == kind]
        table[g["class_code"].astype(int).to_numpy()] = 2
        c = cat if kind == "any" else cat[cat["kind"] == kind]
        table[c["class_code"].astype(int).to_numpy()] = 1
        out[kind] = table
    return out
