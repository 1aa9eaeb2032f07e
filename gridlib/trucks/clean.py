"""Cleaning GPS fixes: duplicate times and impossible jumps, each with a reason.

Out-of-order fixes are not errors: :func:`gridlib.trucks.fixes.read_fixes` sorts them
into place and counts them (``Fixes.reordered``). Drift while parked is handled by
stop detection (:mod:`gridlib.trucks.trips`): fixes inside a dwell are not movement.

>>> import pandas as pd
>>> from gridlib.trucks.fixes import read_fixes
>>> df = pd.DataFrame({"vehicle_id": ["A"] * 5,
...     "time": pd.date_range("2026-11-20 08:00", periods=5, freq="10s").astype(str),
...     "lon": [121.5000, 121.5010, 121.6000, 121.5020, 121.5020],
...     "lat": [31.24] * 5})
>>> df.loc[4, "time"] = df.loc[3, "time"]
>>> fx, _ = read_fixes(df)
>>> kept, rejected = clean(fx)
>>> len(kept), rejected.reason.tolist()
(3, ['impossible jump', 'duplicate time'])
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridlib.trucks.fixes import Fixes

__all__ = ["clean"]

_BLOCK = 1 << 20  # segments measured at once


def clean(
    fixes: Fixes,
    *,
    max_speed_kmh: float = 150.0,
    min_jump_m: float = 100.0,
    max_burst: int = 5,
    passes: int = 2,
) -> tuple[Fixes, pd.DataFrame]:
    """Drop duplicate-time fixes and impossible jumps.

    Parameters
    ----------
    fixes : Fixes
        Sorted fixes from :func:`~gridlib.trucks.fixes.read_fixes`.
    max_speed_kmh : float
        A segment driven faster than this (over more than ``min_jump_m``) is impossible.
    min_jump_m : float
        Ignore implied speeds over shorter distances (1-second jitter).
    max_burst : int
        A burst is up to this many consecutive fixes entered and left by impossible
        segments while the fixes on either side of it are consistent with each other;
        the burst is dropped.
    passes : int
        Sweeps over burst lengths 1..``max_burst`` (nested bursts need more than one).
        The first and last fix of a vehicle are dropped only when their one segment is
        impossible and the next one is not.

    Returns
    -------
    kept : Fixes
    rejected : pandas.DataFrame
        ``row`` (input position), ``vehicle_id``, ``time`` and ``reason``
        (``duplicate time`` or ``impossible jump``), in input order.

    Examples
    --------
    >>> import pandas as pd
    >>> from gridlib.trucks import read_fixes
    >>> fx, _ = read_fixes(pd.DataFrame({"vehicle_id": "A",
    ...     "time": ["2026-11-20 08:00:00", "2026-11-20 08:00:00", "2026-11-20 08:00:10",
    ...              "2026-11-20 08:00:20", "2026-11-20 08:00:30"],
    ...     "lon": [121.500, 121.500, 121.501, 121.600, 121.502], "lat": 31.24}))
    >>> kept, rejected = clean(fx)   # a repeated time and a 10 km jump in 10 s
    >>> len(kept), rejected[["row", "reason"]].values.tolist()
    (3, [[1, 'duplicate time'], [3, 'impossible jump']])
    """
    n = len(fixes)
    jump = np.zeros(n, dtype=bool)  # dropped as an impossible jump (else, if dropped, a duplicate time)
    same = np.zeros(n, dtype=bool)
    same[1:] = (fixes.vehicle[1:] == fixes.vehicle[:-1]) & (fixes.t[1:] == fixes.t[:-1])
    alive = ~same
    vmax = max_speed_kmh / 3.6

    def impossible(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        out = np.empty(len(i), dtype=bool)
        for lo in range(0, len(i), _BLOCK):  # a block at a time: a city's temporaries were ~0.4 GB at once
            a, b = i[lo:lo + _BLOCK], j[lo:lo + _BLOCK]
            d = np.hypot(fixes.x[b] - fixes.x[a], fixes.y[b] - fixes.y[a])
            dt = (fixes.t[b] - fixes.t[a]).astype("float64")
            out[lo:lo + _BLOCK] = (d > min_jump_m) & (d > vmax * np.maximum(dt, 1.0))
        return out

    # only vehicles with an impossible segment need the sweeps (usually none or a few)
    idx = np.flatnonzero(alive)
    cont = fixes.vehicle[idx[1:]] == fixes.vehicle[idx[:-1]]
    bad0 = cont & impossible(idx[:-1], idx[1:])
    focus = np.isin(fixes.vehicle, np.unique(fixes.vehicle[idx[:-1][bad0]]))
    # shortest bursts first, so a burst's neighbours are good fixes when it is judged
    sweeps = [b for _ in range(passes) for b in range(1, max_burst + 1)] + [0]
    for burst in sweeps if bad0.any() else []:
        idx = np.flatnonzero(alive & focus)
        if len(idx) < 2:
            break
        veh = fixes.vehicle[idx]
        cont = veh[1:] == veh[:-1]
        bad_seg = cont & impossible(idx[:-1], idx[1:])
        if not bad_seg.any():
            break
        if burst:
            b = np.flatnonzero(bad_seg)  # segment k joins idx[k] and idx[k + 1]
            a0, a1 = b[:-1], b[1:]
            ok = (a1 - a0 == burst) & (veh[a0] == veh[a1 + 1])
            ok[ok] = ~impossible(idx[a0[ok]], idx[a1[ok] + 1])
            start = a0[ok] + 1
            pos = (start[:, None] + np.arange(burst)[None, :]).ravel()
        else:  # the first or last fix of a vehicle
            first = np.r_[True, ~cont]
            last = np.r_[~cont, True]
            next_ok = np.r_[~bad_seg[1:], True, True][: len(idx)]
            prev_ok = np.r_[True, True, ~bad_seg[:-1]][: len(idx)]
            pos = np.flatnonzero((first & ~last & np.r_[bad_seg, False] & next_ok)
                                 | (last & ~first & np.r_[False, bad_seg] & prev_ok))
        alive[idx[pos]] = False
        jump[idx[pos]] = True
    rej = np.flatnonzero(~alive)
    rej = rej[np.argsort(fixes.row[rej], kind="stable")]
    dup = ~jump[rej]
    rejected = pd.DataFrame({
        "row": fixes.row[rej],
        "vehicle_id": fixes.vehicle_ids[fixes.vehicle[rej]],
        "time": fixes.times(rej),
        "reason_code": pd.array(np.where(dup, "duplicate_time", "speed_outlier"), dtype="string"),
        "field": pd.array(np.where(dup, "time", "lon,lat"), dtype="string"),
        "reason": np.where(dup, "duplicate time", "impossible jump").astype(str),
    })
    # nothing dropped (the usual night): the fixes themselves, not a second copy of every column
    return (fixes if alive.all() else fixes.take(alive)), rejected
