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

City extension classes are added with :func:`load_extensions` and are then seen
by :func:`catalogue`, :func:`lookup`, :func:`search` and
:func:`gridlib.codes.validate` for the rest of the process.
"""

from __future__ import annotations

import functools
import os
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


def _check_kind(kind: str | None) -> None:
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
    _check_kind(kind)
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


def normalize_class_code(code: object, edition: str = DEFAULT_EDITION) -> str:
    """One class code as a string of the edition's width, restoring a lost leading zero.

    Accepts ``6012`` (an integer that lost its zero), ``"06012"`` and full-width digits;
    raises :class:`~gridlib.errors.CodeError` otherwise.

    >>> normalize_class_code(6012)
    '06012'
    >>> normalize_class_code("０１０１", "cjt214-2007")
    '0101'
    """
    from gridlib.codes.validate import validate

    check_edition(edition)
    res = validate(pd.Series([code], dtype=object), kind="class", edition=edition, check_catalogue=False,
                   log_summary=False)
    if not res["valid"].iloc[0]:
        raise CodeError(f"class code {code!r}: {res['reason'].iloc[0]}")
    return str(res["normalized"].iloc[0])


def lookup(class_code: object, edition: str = DEFAULT_EDITION, kind: str | None = None) -> pd.Series:
    """The catalogue row of one class code.

    Parameters
    ----------
    class_code : str or int
        5-digit (2026) or 4-digit (2007) class code; a lost leading zero is restored.
    edition : str
        Standard edition.
    kind : {"component", "event"}, optional
        In the 2026 edition codes 01xxx–05xxx exist both as a component class and as
        its 事项 ("…异常"); without ``kind`` the component row is returned. In the 2007
        edition component and event codes overlap entirely (0101 上水井盖 / 0101 私搭乱建),
        so there too ``kind`` selects, and the component row is the default.

    Raises
    ------
    CodeError
        If the code is malformed, a known gap, or not in the catalogue.

    Examples
    --------
    >>> import gridlib as gl
    >>> gl.codes.lookup("06012").name_zh
    '道路不洁'
    >>> gl.codes.lookup("01001", kind="event").name_zh
    '供水井盖异常'
    """
    _check_kind(kind)
    check_edition(edition)
    index = _row_index(edition)
    code = class_code if isinstance(class_code, str) and (None, class_code) in index else None
    if code is None:
        code = normalize_class_code(class_code, edition)
    row = index.get((kind, code))
    if row is None:
        g = gaps(edition)
        g = g[g["class_code"] == code]
        if kind is not None:
            g = g[g["kind"] == kind]
        if len(g):
            raise CodeError(f"class {code} ({edition}) is a gap: {g['reason'].iloc[0]}")
        what = f"{kind} class" if kind else "class"
        raise CodeError(f"unknown {what} {code} in edition {edition}")
    return row.copy()


@functools.cache
def _row_index(edition: str) -> dict[tuple[str | None, str], pd.Series]:
    """(kind, class_code) → catalogue row; kind None → the component row when both exist."""
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


def _extension_ranges(edition: str) -> tuple[int, int]:
    """(lowest extension 大类, lowest extension 小类) for an edition [INF convention]."""
    return 21, (900 if MINOR_DIGITS[edition] == 3 else 90)


def load_extensions(path_or_df: str | os.PathLike | pd.DataFrame, edition: str = DEFAULT_EDITION) -> pd.DataFrame:
    """Register a city's local classes for ``edition`` and return them as catalogue rows.

    A local class uses an extension 大类 (21–99) or an extension 小类 inside a standard
    大类 (90–99 in the 2007 edition, 900–999 in the 2026 edition; e.g. Beijing's 98 and
    the "其他…问题" 99). These ranges are a convention seen in implementations [INF].

    Parameters
    ----------
    path_or_df : path or DataFrame
        CSV (UTF-8) or DataFrame with columns ``class_code``, ``kind``, ``name_zh`` and
        optionally ``name_en``, ``major_name_zh``, ``note``.
    edition : str
        Edition the classes extend.

    Returns
    -------
    DataFrame
        The rows of the table in catalogue layout (``status == "extension"``). Loading
        the same class (same kind, code and name) again is a no-op.

    Raises
    ------
    CodeError
        A malformed code, a code outside the extension ranges, or a clash with a
        standard class, an earlier registered extension or another row of the file —
        the message names both rows.

    Examples
    --------
    >>> import pandas as pd, gridlib as gl
    >>> ext = pd.DataFrame({"class_code": ["21001"], "kind": ["event"], "name_zh": ["共享电单车乱停"]})
    >>> gl.codes.load_extensions(ext).class_code.tolist()
    ['21001']
    >>> gl.codes.lookup("21001", kind="event").name_zh
    '共享电单车乱停'
    >>> gl.codes.clear_extensions()
    """
    check_edition(edition)
    if isinstance(path_or_df, pd.DataFrame):
        src = path_or_df.copy()
        origin = "extension table"
    else:
        origin = os.fspath(path_or_df)
        try:
            src = pd.read_csv(origin, dtype=str, keep_default_na=False)
        except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read extension classes from {origin}: {exc}") from exc
    missing = [c for c in ("class_code", "kind", "name_zh") if c not in src.columns]
    if missing:
        raise InputError(f"{origin}: missing column(s) {', '.join(missing)}")
    from gridlib.codes.validate import validate

    src = src.reset_index(drop=True)
    width = CLASS_DIGITS[edition]
    res = validate(src["class_code"], kind="class", edition=edition, check_catalogue=False, log_summary=False)
    rows = []
    low_major, low_minor = _extension_ranges(edition)
    def text(value: object) -> str:
        return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value).strip()

    for i, r in src.iterrows():  # extension tables are tens of rows
        # a file row is named by its line (header + 1-based); a DataFrame row by its position
        where = f"{origin} row {i + 2}" if origin != "extension table" else f"{origin} row {i}"
        if not res["valid"].iloc[i]:
            raise CodeError(f"{where}: class code {r['class_code']!r}: {res['reason'].iloc[i]}")
        code = str(res["normalized"].iloc[i])
        kind = text(r["kind"])
        if kind not in KINDS:
            raise CodeError(f"{where}: kind {kind!r} is not 'component' or 'event'")
        name = text(r["name_zh"])
        if not name:
            raise CodeError(f"{where}: name_zh is empty")
        major, minor = int(code[:2]), int(code[2:])
        if major < low_major and minor < low_minor:
            raise CodeError(
                f"{where}: class {code} is not in an extension range (大类 {low_major}–99, "
                f"or 小类 {low_minor:0{width - 2}d}–{10 ** (width - 2) - 1} inside a standard 大类)"
            )
        rows.append({
            "edition": edition, "kind": kind, "major_code": code[:2], "minor_code": code[2:],
            "class_code": code, "name_zh": name,
            "name_en": text(r.get("name_en")),
            "name_en_source": "city extension" if text(r.get("name_en")) else "",
            "major_name_zh": text(r.get("major_name_zh")), "major_name_en": "",
            "confidence": "city", "status": "extension",
            "note": text(r.get("note")) or f"city extension from {where}",
            "_where": where,
        })
    new = pd.DataFrame(rows, columns=[*COLUMNS, "_where"])
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
    _row_index.cache_clear()
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
    _row_index.cache_clear()


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
