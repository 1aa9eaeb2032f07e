"""City extension classes: read a table of local classes, check it, register it in the catalogue.

A city adds its own classes (extension 大类 21–99, or extension 小类 inside a standard 大类) once
per process; :func:`gridlib.codes.catalogue`, :func:`~gridlib.codes.lookup`,
:func:`~gridlib.codes.search` and :func:`~gridlib.codes.check_codes` then see them.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from gridlib.codes.catalogue import (
    CLASS_DIGITS,
    COLUMNS,
    DEFAULT_EDITION,
    KINDS,
    MINOR_DIGITS,
    check_edition,
    register_extensions,
)
from gridlib.codes.validate import check_codes
from gridlib.errors import CodeError, InputError

__all__ = ["load_extensions"]


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
    src = src.reset_index(drop=True)
    width = CLASS_DIGITS[edition]
    res = check_codes(src["class_code"], kind="class", edition=edition, check_catalogue=False, log_summary=False)
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
    return register_extensions(pd.DataFrame(rows, columns=[*COLUMNS, "_where"]), edition)
