"""Minting new component identifiers without reuse or collision."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import pandas as pd

from gridlib.codes.admin import LIST_DATE, county_table
from gridlib.codes.catalogue import CLASS_DIGITS, DEFAULT_EDITION, check_edition
from gridlib.codes.query import lookup
from gridlib.codes.validate import check_codes
from gridlib.errors import CodeError

log = logging.getLogger(__name__)

MAX_SEQUENCE = 999_999


def mint_component_ids(
    county: str,
    class_code: str | int,
    existing: Iterable[object] | pd.Series,
    n: int,
    edition: str = DEFAULT_EDITION,
) -> list[str]:
    """The next ``n`` free component identifiers for one (county, class).

    New sequences continue after the highest sequence already used for that county
    and class, so an identifier that was retired (a hole in the sequence) is never
    handed out again. Deterministic: the same ``existing`` gives the same result.

    Parameters
    ----------
    county : str
        6-digit GB/T 2260 county code.
    class_code : str or int
        Component class of ``edition`` (a lost leading zero is restored).
    existing : iterable or Series
        Identifiers already issued (any counties and classes; messy values are
        normalised the same way as :func:`gridlib.codes.check_codes` does, and
        invalid ones are ignored).
    n : int
        How many to mint.
    edition : str
        ``gbt47678-2026`` (17 digits) or ``cjt214-2007`` (16 digits).

    Returns
    -------
    list of str

    Raises
    ------
    CodeError
        Unknown county or class, or the 6-digit sequence space (999999) is exhausted.

    Examples
    --------
    >>> import gridlib as gl
    >>> gl.codes.mint_component_ids("410105", "01004", ["41010501004000045", "41010501004000007"], 2)
    ['41010501004000046', '41010501004000047']
    >>> gl.codes.mint_component_ids("410105", "0102", [], 1, edition="cjt214-2007")
    ['4101050102000001']
    """
    check_edition(edition)
    if not isinstance(n, int | np.integer) or n < 0:
        raise CodeError(f"n must be a non-negative integer, not {n!r}")
    county = str(county)
    if len(county) != 6 or not county.isdigit() or not county_table()[int(county)]:
        raise CodeError(f"county {county!r} not in the GB/T 2260 list (as of {LIST_DATE})")
    cls = lookup(class_code, edition=edition, kind="component")["class_code"]
    prefix = county + cls
    width = 6 + CLASS_DIGITS[edition] + 6
    ex = existing if isinstance(existing, pd.Series) else pd.Series(list(existing), dtype=object)
    top = 0
    if len(ex):
        res = check_codes(ex, kind="component", edition=edition, check_county=False,
                       check_catalogue=False, log_summary=False)
        ok = res["normalized"][res["valid"]]
        mine = ok[ok.str.startswith(prefix)]
        if len(mine):
            top = int(mine.str.slice(width - 6).astype("int64").max())
        skipped = int((~res["valid"]).sum())
        if skipped:
            log.warning("mint_component_ids: ignored %d invalid existing identifiers", skipped)
    if top + n > MAX_SEQUENCE:
        raise CodeError(
            f"sequence space of {prefix} exhausted: highest used {top:06d}, {n} more requested (max {MAX_SEQUENCE})"
        )
    return [f"{prefix}{s:06d}" for s in range(top + 1, top + n + 1)]
