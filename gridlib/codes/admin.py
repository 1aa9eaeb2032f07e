"""GB/T 2260 administrative division codes (provinces, prefectures, counties) as data.

The list is the whole GB/T 2260 county-level list as of 2025-12-31 (see
``data/SOURCE.md``), plus the statistical codes of Zhengzhou's development zones
(410171–410173), which city systems use although GB/T 2260 does not list them.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd

from gridlib.codes.catalogue import data_path

#: date of the shipped GB/T 2260 list (codes abolished before it are rejected)
LIST_DATE = "2025-12-31"


@functools.cache
def _divisions() -> pd.DataFrame:
    return pd.read_csv(data_path("gbt2260.csv"), dtype=str, keep_default_na=False)


def divisions(level: str | None = None) -> pd.DataFrame:
    """The administrative divisions shipped with gridlib.

    Parameters
    ----------
    level : {"province", "prefecture", "county"}, optional

    Returns
    -------
    DataFrame
        Columns ``code`` (6 digits), ``name``, ``level``, ``source``.

    Examples
    --------
    >>> import gridlib as gl
    >>> d = gl.codes.divisions("county")
    >>> d.set_index("code").loc["410105", "name"]
    '金水区'
    >>> len(gl.codes.divisions("province"))
    34
    """
    df = _divisions()
    if level is not None:
        if level not in ("province", "prefecture", "county"):
            raise ValueError(f"unknown level {level!r}")
        df = df[df["level"] == level]
    return df.reset_index(drop=True).copy()


def county_name(code: str) -> str | None:
    """Chinese name of a 6-digit county-level code, or ``None`` if it is not listed.

    >>> county_name("310115")
    '浦东新区'
    >>> county_name("410199") is None
    True
    """
    df = _divisions()
    hit = df[(df["code"] == str(code)) & (df["level"] == "county")]
    return None if hit.empty else str(hit["name"].iloc[0])


@functools.cache
def county_table() -> np.ndarray:
    """Boolean table of length 10**6: ``table[int(code)]`` is True for a listed county."""
    table = np.zeros(10**6, dtype=bool)
    df = _divisions()
    table[df.loc[df["level"] == "county", "code"].astype(int).to_numpy()] = True
    return table
