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


def clean(
    fixes: Fixes,
    *,
    max_speed_kmh: float = 150.0,
    min_jump_m: float = 100.0,
    passes: int = 3,
) -> tuple[Fixes, pd.DataFrame]:
    """Drop duplicate-time fixes and impossible jumps.

    Parameters
    ----------
    fixes : Fixes
        Sorted fixes from :func:`~gridlib.trucks.fixes.read_fixes`.
    max_speed_kmh : float
        A fix reached from both neighbours faster than this (and more than
        ``min_jump_m`` away from them) is a jump: a spike of one or a few fixes.
    min_jump_m : float
        Ignore implied speeds over shorter distances (1-second jitter).
    passes : int
        Spike passes; each removes the worst isolated fixes, so bursts of up to
        ``passes`` consecutive bad fixes go. The first and last fix of a vehicle
        are dropped only when their one segment is impossible and the rest is not.

    Returns
    -------
    kept : Fixes
    rejected : pandas.DataFrame
        ``row`` (input position), ``vehicle_id``, ``time`` and ``reason``
        (``duplicate time`` or ``impossible jump``).
    """
    n = len(fixes)
    reason = np.full(n, None, dtype=object)
    same = np.zeros(n, dtype=bool)
    same[1:] = (fixes.vehicle[1:] == fixes.vehicle[:-1]) & (fixes.t[1:] == fixes.t[:-1])
    reason[same] = "duplicate time"
    alive = ~same
    vmax = max_speed_kmh / 3.6
    for p in range(passes + 1):
        idx = np.flatnonzero(alive)
        if len(idx) < 2:
            break
        veh = fixes.vehicle[idx]
        cont = veh[1:] == veh[:-1]
        d = np.hypot(np.diff(fixes.x[idx]), np.diff(fixes.y[idx]))
        dt = np.diff(fixes.t[idx]).astype("float64")
        bad_seg = cont & (d > min_jump_m) & (d > vmax * np.maximum(dt, 1.0))
        if not bad_seg.any():
            break
        endpoints = p == passes  # the last pass looks at first/last fixes
        bad_in = np.r_[endpoints, bad_seg]
        bad_out = np.r_[bad_seg, endpoints]
        first = np.r_[True, ~cont]
        last = np.r_[~cont, True]
        bad_in = np.where(first, endpoints, bad_in)
        bad_out = np.where(last, endpoints, bad_out)
        if endpoints:
            # an endpoint goes only when its neighbour's other segment is fine
            nxt_ok = np.r_[~bad_seg[1:], True, True][: len(idx)]
            prv_ok = np.r_[True, True, ~bad_seg[:-1]][: len(idx)]
            spike = (first & bad_out & ~last & nxt_ok) | (last & bad_in & ~first & prv_ok) | (bad_in & bad_out & ~first & ~last)
        else:
            spike = bad_in & bad_out
        if not spike.any():
            continue
        drop = idx[spike]
        alive[drop] = False
        reason[drop] = "impossible jump"
    rej = np.flatnonzero(~alive)
    rej = rej[np.argsort(fixes.row[rej], kind="stable")]
    rejected = pd.DataFrame({
        "row": fixes.row[rej],
        "vehicle_id": fixes.vehicle_ids[fixes.vehicle[rej]],
        "time": fixes.times(rej),
        "reason": reason[rej].astype(str),
    })
    return fixes.take(alive), rejected
