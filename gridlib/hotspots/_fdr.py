"""The Benjamini–Hochberg step shared by :func:`gridlib.hotspots.fdr_bh` and the emerging hot-spot analysis."""

from __future__ import annotations

import numpy as np

__all__ = ["bh_into"]

_RANK_BLOCK = 1_048_576  # ranks divided by at once (all of a city's 8.8 M p-values' ranks: a 70 MB int64 array)


def bh_into(vals: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted *vals* (1-d, no ``nan``) written into *out* and returned; *out* may be *vals*
    itself (read before it is written).

    >>> p = np.array([0.01, 0.04, 0.03])
    >>> bh_into(p, p).round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    m = len(vals)
    # the same operations as ``vals[order] * m / ranks`` and so on, in place: an emerging hot-spot analysis adjusts
    # a city's 736k grids x 12 weeks at once, and each temporary was 70 MB (~430 MB at once, now ~150)
    order = np.argsort(vals, kind="stable")
    ranked = vals[order]
    ranked *= m
    for start in range(0, m, _RANK_BLOCK):
        ranked[start:start + _RANK_BLOCK] /= np.arange(start + 1, min(start + _RANK_BLOCK, m) + 1)
    np.minimum.accumulate(ranked[::-1], out=ranked[::-1])
    np.minimum(ranked, 1.0, out=ranked)
    out[order] = ranked
    return out
