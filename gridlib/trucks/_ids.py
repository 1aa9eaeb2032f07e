"""Vehicle ids as integer codes sorted as text, shared by the fixes' reader and the check's vehicle groups."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["factorize_sorted", "vehicle_codes"]


def factorize_sorted(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes (−1 for missing) and unique values as ``str``, sorted as text (the permits' ids are looked up in
    them by ``searchsorted``: integer ids sorted as numbers, 9 before 10, are not sorted as text);
    categoricals reuse their codes.

    >>> codes, ids = factorize_sorted(pd.Series([10, 9, None, 10], dtype=object))
    >>> codes.tolist(), ids.tolist()
    ([0, 1, -1, 0], ['10', '9'])
    """
    if isinstance(col.dtype, pd.CategoricalDtype):
        values = np.asarray(col.cat.categories, dtype=object).astype(str)
        codes = col.cat.codes.to_numpy().astype(np.int64)
    else:
        codes, uniques = pd.factorize(col, sort=True, use_na_sentinel=True)
        values = np.asarray(uniques, dtype=object).astype(str)
    if (values[1:] > values[:-1]).all():  # sorted and distinct as text
        return codes, values
    uniques, inv = np.unique(values, return_inverse=True)  # not sorted as text, or equal as text (1 and "1")
    return np.where(codes >= 0, inv.reshape(-1)[np.maximum(codes, 0)], -1), uniques


def vehicle_codes(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """:func:`factorize_sorted` with a blank id (empty, or spaces only) coded −1, as a missing one: the fixes'
    reader rejects both as ``missing_id``, and neither is a vehicle.

    >>> codes, ids = vehicle_codes(pd.Series(["B", " ", None, "A"]))
    >>> codes.tolist(), ids.tolist()
    ([2, -1, -1, 1], [' ', 'A', 'B'])
    """
    codes, ids = factorize_sorted(col)
    blank = np.char.strip(ids.astype(str)) == ""
    if blank.any():
        codes = np.where((codes >= 0) & blank[np.maximum(codes, 0)], -1, codes)
    return codes, ids
