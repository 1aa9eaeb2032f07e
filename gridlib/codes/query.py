"""Look up one class code in the catalogue of its edition (city extensions included).

Above :mod:`gridlib.codes.catalogue` (the data) and :mod:`gridlib.codes.validate` (the code
forms): a code is first brought to its canonical form, then found.
"""

from __future__ import annotations

import pandas as pd

from gridlib.codes.catalogue import DEFAULT_EDITION, check_edition, check_kind, class_rows, gaps
from gridlib.codes.validate import normalize_class_code
from gridlib.errors import CodeError

__all__ = ["lookup"]


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
    check_kind(kind)
    check_edition(edition)
    index = class_rows(edition)
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
