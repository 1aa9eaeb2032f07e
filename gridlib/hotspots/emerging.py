"""Emerging hot spots: space-time cube, space-time Gi*, Mann–Kendall trend and the categories of
ArcGIS's Emerging Hot Spot Analysis.

**Cube.** Cases are counted per location and time bin: ``n_bins`` bins of width ``bin`` ending
at ``end`` (default: just after the latest case); empty bins are zeros.

**Space-time Gi\\*.** The neighbours of location *i* at bin *t* are *i* and its spatial neighbours,
at bin *t* and at the ``time_window`` previous bins (binary weights). Gi* is computed over all
``n × T`` values of the cube (global mean and standard deviation), analytical two-sided p, then
Benjamini–Hochberg over the whole cube (``fdr=True``). A bin is a *significant hot spot* when
``q ≤ alpha`` (default 0.10, 90 % confidence as ArcGIS) and ``z > 0``; cold when ``z < 0``.

**Trend.** The Mann–Kendall test of each location's Gi* z-score series (tie-corrected
variance, continuity correction), two-sided, vectorised over all locations; a trend is
significant at ``p ≤ alpha``. (With ``count_trend=True`` the same test of the raw counts is
returned as ``count_trend_*``.)

**Categories** (checked in this order; *final* is the last bin, *share* is the fraction of bins
that are significant hot; cold categories mirror them with hot and cold swapped):

==================  =========================================================================
``persistent_hot``  final hot, share ≥ 90 %, no significant trend in z
``intensifying_hot`` final hot, share ≥ 90 %, significant increasing trend in z
``diminishing_hot`` final hot, share ≥ 90 %, significant decreasing trend in z
``historical_hot``  final not hot, share ≥ 90 %
``new_hot``         final hot and never hot before
``consecutive_hot`` a single uninterrupted run of ≥ 2 hot bins ending at the final bin, never hot
                    before the run, share < 90 %
``oscillating_hot`` final hot, share < 90 %, and some earlier bin a significant cold spot
``sporadic_hot``    final hot, share < 90 %, hot on and off, never a cold spot
``no_pattern``      none of the above, hot or cold
==================  =========================================================================

Where ArcGIS's wording leaves an overlap these rules decide it: the 90 % categories come first;
*new* before *consecutive*; *consecutive* wins over *oscillating*; a location that fits a hot
category with a final hot bin and also a ``historical_cold`` (or the reverse) takes the
category about its final bin.

>>> import numpy as np, scipy.sparse as sp
>>> w = sp.csr_matrix((6, 6))          # no spatial neighbours: each series stands alone
>>> cube = np.zeros((6, 12)); cube[0] = 5; cube[1, -1] = 12
>>> res = emerging_cube(cube, w, time_window=0, fdr=False)
>>> res["category"].tolist()[:2]
['persistent_hot', 'new_hot']
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import ndtr

from gridlib.errors import InputError
from gridlib.hotspots._fdr import bh_into
from gridlib.hotspots.aggregate import zone_positions
from gridlib.hotspots.gistar import fdr_bh
from gridlib.hotspots.weights import Weights, build_weights
from gridlib.types import TimeLike

__all__ = ["EMERGING_CATEGORIES", "space_time_cube", "space_time_gistar", "mann_kendall", "categorize",
           "emerging_cube", "emerging"]

log = logging.getLogger(__name__)

#: Locations (rows of the cube) computed at a time by :func:`space_time_gistar` and :func:`mann_kendall`.
_ROWS = 65_536

_KINDS = ("new", "consecutive", "intensifying", "persistent", "diminishing", "sporadic", "oscillating",
          "historical")
#: All categories, hot then cold, then ``no_pattern``.
EMERGING_CATEGORIES = (*(f"{k}_hot" for k in _KINDS), *(f"{k}_cold" for k in _KINDS), "no_pattern")


def space_time_cube(
    cases: pd.DataFrame,
    zones: gpd.GeoDataFrame,
    *,
    by: str = "grid_code",
    time_column: str = "reported_at",
    bin: str = "7D",
    n_bins: int = 12,
    end: TimeLike | None = None,
) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """Count cases per zone (rows, ``zones`` order) and time bin (columns, oldest first).

    Returns the ``n × n_bins`` int64 cube and the bins' start times. Cases outside the window
    or outside every zone are not counted.

    >>> import geopandas as gpd; from shapely.geometry import box
    >>> z = gpd.GeoDataFrame({"grid_code": ["A", "B"]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs=4550)
    >>> c = pd.DataFrame({"grid_code": ["A", "A", "B"],
    ...                   "reported_at": pd.to_datetime(["2026-01-01", "2026-01-09", "2026-01-09"])})
    >>> cube, starts = space_time_cube(c, z, bin="7D", n_bins=2)
    >>> cube.tolist(), str(starts[0])
    ([[1, 1], [0, 1]], '2025-12-26 00:00:00.000001')
    """
    if n_bins < 1:
        raise InputError(f"n_bins must be >= 1, got {n_bins}")
    if time_column not in cases.columns:
        raise InputError(f"cases have no time column {time_column!r}")
    try:
        width = pd.Timedelta(pd.tseries.frequencies.to_offset(bin))
    except (ValueError, TypeError) as exc:
        raise InputError(f"bad bin width {bin!r}: use e.g. '7D', '1W', '24h'") from exc
    times = pd.to_datetime(cases[time_column])
    stop = pd.Timestamp(end) if end is not None else times.max() + pd.Timedelta(microseconds=1)
    if pd.isna(stop):
        raise InputError("no case has a time")
    start = stop - n_bins * width
    pos = zone_positions(cases, zones, by)
    t = ((times - start) / width).to_numpy(dtype=float)
    ok = (pos >= 0) & np.isfinite(t) & (t >= 0) & (t < n_bins)
    flat = pos[ok] * n_bins + np.floor(t[ok]).astype(np.int64)
    cube = np.bincount(flat, minlength=len(zones) * n_bins).reshape(len(zones), n_bins)
    starts = pd.date_range(start, periods=n_bins, freq=width)
    return cube.astype(np.int64, copy=False), starts


def space_time_gistar(cube: np.ndarray, w: sp.csr_matrix, *, time_window: int = 1) -> np.ndarray:
    """Space-time Gi* z-scores (``n × T``) with binary weights over space and time (see module doc).

    >>> cube = np.array([[0, 0, 9], [0, 0, 8], [0, 1, 0.0]])
    >>> w = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0.0]]))
    >>> space_time_gistar(cube, w, time_window=0).round(2)[:, -1].tolist()
    [2.81, 2.81, -0.57]
    """
    x = np.asarray(cube, dtype=float)
    n, t = x.shape
    if time_window < 0:
        raise InputError(f"time_window must be >= 0, got {time_window}")
    b = sp.csr_matrix(w, dtype=float, copy=True)
    b.data[:] = 1.0
    steps = np.minimum(np.arange(t), time_window) + 1.0  # bins in the window (fewer at the start)
    total = float(n * t)
    mean, sd = x.mean(), x.std()
    z = np.empty((n, t))
    # every value below is one location's (row's) own: computed a block of rows at a time, the same numbers
    # without a dozen n x T temporaries at once (a city's 736k grids x 12 weeks: 70 MB each)
    for lo in range(0, n, _ROWS):
        hi = min(lo + _ROWS, n)
        spatial = b[lo:hi] @ x + x[lo:hi]  # neighbours and self, per bin
        card = np.diff(b.indptr[lo:hi + 1]) + 1.0
        csum = np.cumsum(spatial, axis=1)
        lag = csum.copy()
        lag[:, time_window + 1:] -= csum[:, : t - time_window - 1]
        w_sum = card[:, None] * steps[None, :]
        denom = sd * np.sqrt(np.maximum((total * w_sum - w_sum**2) / (total - 1), 0.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            z[lo:hi] = np.where(denom > 0, (lag - mean * w_sum) / denom, 0.0)
    return z


def mann_kendall(series: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised two-sided Mann–Kendall test of each row; returns ``(S, z, p)``.

    Tie-corrected variance ``[T(T−1)(2T+5) − Σ t(t−1)(2t+5)] / 18`` and continuity correction;
    rows that are constant get ``z = 0``, ``p = 1``.

    >>> s, z, p = mann_kendall(np.array([[1, 2, 3, 4, 5, 6.0], [3, 3, 3, 3, 3, 3.0]]))
    >>> s.tolist(), z.round(3).tolist(), p.round(4).tolist()
    ([15.0, 0.0], [2.631, 0.0], [0.0085, 1.0])
    """
    x = np.asarray(series, dtype=float)
    n_rows, t = x.shape
    s = np.zeros(n_rows)
    ties = np.empty(n_rows)
    for lo in range(0, n_rows, _ROWS):  # each row's own numbers, a block of rows at a time (less memory)
        xb = x[lo:lo + _ROWS]
        m = len(xb)
        for k in range(t - 1):  # T loops over whole columns, not over locations
            later, here = xb[:, k + 1:], xb[:, k: k + 1]
            s[lo:lo + m] += np.count_nonzero(later > here, axis=1) - np.count_nonzero(later < here, axis=1)
        ordered = np.sort(xb, axis=1)
        new_group = np.ones((m, t), dtype=bool)
        new_group[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
        group = np.cumsum(new_group, axis=1) - 1 + (np.arange(m) * t)[:, None]
        sizes = np.bincount(group.ravel(), minlength=m * t).reshape(m, t).astype(float)
        ties[lo:lo + m] = (sizes * (sizes - 1) * (2 * sizes + 5)).sum(axis=1)
    var = (t * (t - 1) * (2 * t + 5) - ties) / 18.0
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(var > 0, (s - np.sign(s)) / np.sqrt(var), 0.0)
    p = 2.0 * ndtr(-np.abs(z))
    return s, z, p


def _pattern(sig: np.ndarray, other: np.ndarray, trend: np.ndarray) -> np.ndarray:
    """Category stem (``new`` … ``historical``, or ``""``) from significant-bin flags ``sig``
    (this polarity), ``other`` (opposite polarity) and the trend sign (+1/−1/0, signed so that
    +1 means intensifying for this polarity)."""
    n, t = sig.shape
    final = sig[:, -1]
    count = sig.sum(axis=1)
    share = count / t
    # Length of the run of significant bins that ends at the final bin.
    not_sig = ~sig
    last_gap = np.where(not_sig.any(axis=1), t - 1 - np.argmax(not_sig[:, ::-1], axis=1), -1)
    run = t - 1 - last_gap
    earlier_other = (other & ~np.eye(1, t, t - 1, dtype=bool)).any(axis=1)
    out = np.full(n, "", dtype=object)
    mostly = share >= 0.9
    out[final & mostly & (trend == 0)] = "persistent"
    out[final & mostly & (trend > 0)] = "intensifying"
    out[final & mostly & (trend < 0)] = "diminishing"
    out[~final & mostly] = "historical"
    few = final & ~mostly
    out[few & (count == 1)] = "new"
    out[few & (count > 1) & (run >= 2) & (run == count)] = "consecutive"
    rest = few & (out == "")
    out[rest & earlier_other] = "oscillating"
    out[rest & ~earlier_other] = "sporadic"
    return out


def categorize(z: np.ndarray, q: np.ndarray, trend_z: np.ndarray, trend_p: np.ndarray,
               *, alpha: float = 0.10) -> np.ndarray:
    """Emerging-hotspot category of each row of the ``n × T`` Gi* z and q arrays (module doc).

    >>> z = np.array([[0, 0, 0, 0, 0, 3.0], [3, 3, 3, 3, 3, 3.0]])
    >>> q = np.where(np.abs(z) > 2, 0.001, 0.9)
    >>> categorize(z, q, np.array([0.0, 0.0]), np.array([1.0, 1.0])).tolist()
    ['new_hot', 'persistent_hot']
    """
    significant = q <= alpha
    hot = significant & (z > 0)
    cold = significant & (z < 0)
    up = (trend_p <= alpha) & (trend_z > 0)
    down = (trend_p <= alpha) & (trend_z < 0)
    trend = up.astype(int) - down.astype(int)
    hot_stem = _pattern(hot, cold, trend)
    cold_stem = _pattern(cold, hot, -trend)
    out = np.full(len(z), "no_pattern", dtype=object)
    has_cold = cold_stem != ""
    out[has_cold] = np.char.add(cold_stem[has_cold].astype(str), "_cold")
    has_hot = hot_stem != ""
    # A pattern about the final bin wins over a historical one of the other polarity.
    use_hot = has_hot & ~((hot_stem == "historical") & has_cold)
    out[use_hot] = np.char.add(hot_stem[use_hot].astype(str), "_hot")
    return out


def emerging_cube(
    cube: np.ndarray,
    w: sp.csr_matrix,
    *,
    time_window: int = 1,
    alpha: float = 0.10,
    fdr: bool = True,
    count_trend: bool = False,
) -> pd.DataFrame:
    """Emerging-hotspot results for a ready ``n × T`` cube and spatial weights (rows aligned).

    Returns one row per location: ``category``, ``trend_z``, ``trend_p`` (Mann–Kendall of the
    Gi* z series), ``n_hot_bins``, ``n_cold_bins``, ``final_z``, ``final_q``, ``total``, and with
    ``count_trend=True`` also ``count_trend_z``, ``count_trend_p`` (Mann–Kendall of the counts).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> w = sp.csr_matrix((6, 6))            # no neighbours: each series stands alone
    >>> cube = np.zeros((6, 12)); cube[0] = 5; cube[1, -1] = 12
    >>> res = emerging_cube(cube, w, time_window=0, fdr=False)
    >>> res["category"].astype(str).tolist()[:3], res["total"].tolist()[:2]
    (['persistent_hot', 'new_hot', 'no_pattern'], [60, 12])
    """
    cube = np.asarray(cube, dtype=float)
    if cube.ndim != 2 or cube.shape[1] < 2:
        raise InputError(f"the cube must be locations × at least 2 time bins, got shape {cube.shape}")
    if w.shape != (cube.shape[0], cube.shape[0]):
        raise InputError(f"weights are {w.shape} but the cube has {cube.shape[0]} locations")
    z = space_time_gistar(cube, w, time_window=time_window)
    p = 2.0 * ndtr(-np.abs(z))
    # the q-values take the place of the p-values (n x T: a city's 70 MB, not held beside them); the cube's p have
    # no nan (z of a constant cube is 0)
    if fdr and not np.isnan(p).any():
        q = bh_into(p.ravel(), p.ravel()).reshape(p.shape)
    else:
        q = fdr_bh(p.ravel()).reshape(p.shape) if fdr else p
    del p
    _, tz, tp = mann_kendall(z)
    category = categorize(z, q, tz, tp, alpha=alpha)
    # the columns taken from z and q, which are then freed (n x T each: a city's 70 MB) before the frame is made
    sig = q <= alpha
    final_q = q[:, -1].copy()
    del q
    n_hot, n_cold, final_z = (sig & (z > 0)).sum(axis=1), (sig & (z < 0)).sum(axis=1), z[:, -1].copy()
    del z, sig
    out = pd.DataFrame({
        "category": pd.Categorical(category, categories=list(EMERGING_CATEGORIES)),
        "trend_z": tz, "trend_p": tp, "n_hot_bins": n_hot, "n_cold_bins": n_cold,
        "final_z": final_z, "final_q": final_q, "total": cube.sum(axis=1).astype(np.int64),
    })
    if count_trend:
        _, out["count_trend_z"], out["count_trend_p"] = mann_kendall(cube)
    return out


def emerging(
    cases: pd.DataFrame,
    zones: gpd.GeoDataFrame,
    *,
    time_column: str = "reported_at",
    bin: str = "7D",
    n_bins: int = 12,
    end: TimeLike | None = None,
    by: str = "grid_code",
    weights: str | Weights | sp.spmatrix = "queen",
    time_window: int = 1,
    alpha: float = 0.10,
    fdr: bool = True,
    count_trend: bool = False,
) -> gpd.GeoDataFrame:
    """Emerging hot and cold spots of cases over ``zones``: ``zones`` plus a ``category`` each.

    See the module docstring for the cube, the statistics and the category rules.

    >>> import geopandas as gpd; from shapely.geometry import box
    >>> zones = gpd.GeoDataFrame({"grid_code": [f"G{i}" for i in range(9)]},
    ...     geometry=[box(i, j, i + 1, j + 1) for j in range(3) for i in range(3)], crs=4550)
    >>> cases = pd.DataFrame({"grid_code": ["G0"] * 5,
    ...     "reported_at": pd.date_range("2026-01-01", periods=5, freq="7D")})
    >>> out = emerging(cases, zones, bin="7D", n_bins=5)
    >>> out["category"].astype(str).tolist()[0]
    'no_pattern'
    """
    cube, starts = space_time_cube(cases, zones, by=by, time_column=time_column, bin=bin, n_bins=n_bins, end=end)
    cube = cube.astype(float)  # as emerging_cube reads it: the counts are not held beside it (a city's: 70 MB)
    w = build_weights(zones, weights)
    result = emerging_cube(cube, w.sparse, time_window=time_window, alpha=alpha, fdr=fdr, count_trend=count_trend)
    out = zones.copy()
    for col in result.columns:
        out[col] = result[col].to_numpy()
    out.attrs["bins"] = [str(s) for s in starts]
    return out
