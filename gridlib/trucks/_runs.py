"""Run-length helpers on boolean masks over fixes sorted by (vehicle, time)."""

from __future__ import annotations

import numpy as np


def runs(mask: np.ndarray, breaks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return first and last positions (inclusive) of the runs of True in *mask*.

    A run never continues across a position where *breaks* is True (a new vehicle,
    a gap): such a position starts a new run.

    >>> m = np.array([0, 1, 1, 0, 1, 1, 1], bool)
    >>> b = np.array([1, 0, 0, 0, 1, 0, 1], bool)
    >>> runs(m, b)
    (array([1, 4, 6]), array([2, 5, 6]))
    """
    mask = np.asarray(mask, dtype=bool)
    n = len(mask)
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    prev = np.zeros(n, dtype=bool)
    prev[1:] = mask[:-1]
    start = mask & (~prev | breaks)
    nxt = np.zeros(n, dtype=bool)
    nxt[:-1] = mask[1:] & ~breaks[1:]
    end = mask & ~nxt
    return np.flatnonzero(start), np.flatnonzero(end)


def run_ids(starts: np.ndarray, ends: np.ndarray, n: int) -> np.ndarray:
    """Label each position with the number of the run covering it, −1 elsewhere.

    >>> run_ids(np.array([1, 4]), np.array([2, 5]), 7).tolist()
    [-1, 0, 0, -1, 1, 1, -1]
    """
    out = np.full(n, -1, dtype=np.int64)
    if len(starts):
        lengths = ends - starts + 1
        pos = np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths) + np.arange(lengths.sum())
        out[pos] = np.repeat(np.arange(len(starts)), lengths)
    return out


def forward_fill(state: np.ndarray, breaks: np.ndarray, initial: int) -> np.ndarray:
    """Replace zeros in *state* by the last non-zero value before them (hysteresis memory).

    At each position where *breaks* is True a zero becomes *initial* first.

    >>> forward_fill(np.array([1, 0, 0, -1, 0, 0]), np.array([1, 0, 0, 0, 1, 0], bool), -1).tolist()
    [1, 1, 1, -1, -1, -1]
    """
    state = np.where(breaks & (state == 0), initial, state)
    idx = np.where(state != 0, np.arange(len(state)), 0)
    np.maximum.accumulate(idx, out=idx)
    return state[idx]


def group_extent(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum and maximum of ``values[lo[i]:hi[i] + 1]`` for every i (a sparse table, level by level).

    Memory stays at a few arrays of ``len(values)``: each level is built from the last one,
    answering the queries whose window length falls in it.

    >>> v = np.array([3., 1., 4., 1., 5., 9., 2.])
    >>> group_extent(v, np.array([0, 2, 4]), np.array([2, 6, 4]))
    (array([1., 1., 5.]), array([4., 9., 5.]))
    """
    n = len(values)
    q = len(lo)
    out_min = np.empty(q, dtype=values.dtype)
    out_max = np.empty(q, dtype=values.dtype)
    if q == 0:
        return out_min, out_max
    length = hi - lo + 1
    level = np.floor(np.log2(length)).astype(np.int64)
    mn = values.copy()
    mx = values.copy()
    for k in range(int(level.max()) + 1):
        sel = np.flatnonzero(level == k)
        if len(sel):
            a = lo[sel]
            b = hi[sel] - (1 << k) + 1
            out_min[sel] = np.minimum(mn[a], mn[b])
            out_max[sel] = np.maximum(mx[a], mx[b])
        step = 1 << k
        if step < n:
            np.minimum(mn[:-step], mn[step:], out=mn[:-step])
            np.maximum(mx[:-step], mx[step:], out=mx[:-step])
    return out_min, out_max


def trim(starts: np.ndarray, ends: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shrink each run to its first and last position where *keep* is True; runs without one go.

    >>> trim(np.array([0, 4]), np.array([3, 6]), np.array([0, 1, 1, 0, 0, 0, 0], bool))
    (array([1]), array([2]))
    """
    n = len(keep)
    pos = np.arange(n)
    prv = np.where(keep, pos, -1)
    np.maximum.accumulate(prv, out=prv)
    nxt = np.where(keep, pos, n)
    nxt = np.minimum.accumulate(nxt[::-1])[::-1]
    first = nxt[starts] if len(starts) else starts
    last = prv[ends] if len(ends) else ends
    ok = first <= ends
    return first[ok], last[ok]
