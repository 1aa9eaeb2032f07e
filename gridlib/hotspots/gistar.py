"""Getis–Ord Gi* (and Gi) local statistics with permutation inference and FDR.

Definitions (Getis & Ord 1992; Ord & Getis 1995), for values ``x`` over ``n`` locations and
weights ``w_ij``:

* **Gi\\*** includes the location itself (``w_ii = 1`` before any row standardisation)::

      z_i = (Σ_j w_ij x_j − x̄ W_i) / (s · sqrt((n S1_i − W_i²) / (n − 1)))

  with ``x̄`` and ``s`` (population standard deviation) over all ``n`` values,
  ``W_i = Σ_j w_ij``, ``S1_i = Σ_j w_ij²``. This is the z-score ArcGIS reports, and it equals
  ``esda.G_Local(y, w, star=True, transform="B").Zs``. It does not change when a row of weights is
  scaled, so row-standardised weights give the same z. (esda 2.9 with its default
  ``transform="R"`` and ``star=True`` returns z-scores with a standard deviation of about 0.33 on
  pure noise — nothing is ever significant; gridlib does not reproduce that.)
* **Gi** excludes the location: the sums run over ``j ≠ i`` and ``x̄``, ``s`` over the ``n − 1``
  other values, with ``n − 1`` in place of ``n``.

Inference:

* ``p`` — analytical, **two-sided**: ``2 · (1 − Φ(|z|))``. (esda's ``p_norm`` is one-sided.)
* ``p_sim`` — conditional permutation, esda's definition: the value at ``i`` is held fixed and
  its neighbours' values are drawn without replacement from the other ``n − 1`` values;
  ``p_sim = (min(#{sim ≥ obs}, #{sim ≤ obs}) + 1) / (permutations + 1)`` — a *folded* pseudo
  p-value, one-sided in the direction of the observed statistic (at most 0.5). As in esda, one
  set of random draws is shared by all locations (each location maps it onto the ``n − 1``
  values other than its own), which makes the whole computation a few matrix products.
* ``q`` — Benjamini–Hochberg adjusted p-values over the non-island locations of the
  **two-sided** p used for the classes: with ``inference="permutation"`` (the default when
  permutations are run) ``min(1, 2 · p_sim)``, with ``inference="analytical"`` ``p``. With
  ``fdr=False``, ``q`` is that p unadjusted.

  Why permutations by default: case counts are sparse, and the normal approximation calls the
  nine cells around a single case in a quiet area a 99 % hot spot; the conditional permutation
  does not. Its resolution is limited: the smallest two-sided p is ``2 / (permutations + 1)``,
  so with 999 permutations and FDR nothing passes on a layer of 20,000 cells. The default
  ``permutations="auto"`` therefore grows with the layer (:func:`auto_permutations`);
  ``inference="analytical"`` gives ArcGIS's exact behaviour.
* ``hotspot_class`` — as ArcGIS: ``hot_99`` / ``hot_95`` / ``hot_90`` when ``q ≤ 0.01 / 0.05 /
  0.10`` and ``z > 0``, ``cold_*`` alike for ``z < 0``, else ``not_significant``; locations
  without neighbours are ``island`` (their Gi* would only restate their own value).
  ``significant`` is ``q ≤ alpha``.

>>> import geopandas as gpd, numpy as np
>>> from shapely.geometry import box
>>> cells = gpd.GeoDataFrame({"n": [0, 0, 0, 0, 9, 8, 0, 7, 9.0]},
...     geometry=[box(i, j, i + 1, j + 1) for j in range(3) for i in range(3)], crs="EPSG:4550")
>>> out = gistar(cells, "n", permutations=99)
>>> out["z"].round(2).tolist()
[-0.87, -0.81, 0.36, -0.97, 0.0, 1.77, 0.2, 1.77, 2.8]
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.special import ndtr

from gridlib.errors import InputError
from gridlib.hotspots._fdr import bh_into
from gridlib.hotspots.weights import Weights, build_weights
from gridlib.water import MAX_WATER_SHARE, is_water

__all__ = ["gistar", "gi_z", "permutation_p", "fdr_bh", "classify", "auto_permutations", "distinct_draws",
           "parse_permutations",
           "HOTSPOT_CLASSES"]

log = logging.getLogger(__name__)

#: Classes in legend order, hot to cold.
HOTSPOT_CLASSES = ("hot_99", "hot_95", "hot_90", "not_significant", "cold_90", "cold_95", "cold_99", "island",
                   "water_excluded")
_LEVELS = ((0.01, "99"), (0.05, "95"), (0.10, "90"))
_CHUNK_VALUES = 8_000_000  # simulated statistics held at once per chunk (~64 MB of float64)
#: ``permutations="auto"``: a planted cluster of this many locations must be able to pass FDR.
AUTO_CLUSTER = 10
_AUTO_STEPS = (99_999, 999_999)


def gi_z(x: np.ndarray, w: sp.csr_matrix, *, star: bool = True) -> np.ndarray:
    """Return Gi* (``star=True``) or Gi z-scores for values ``x`` and weights ``w`` (no diagonal).

    For Gi* the self weight is 1 in binary terms: pass binary ``w``; for any other weights the
    self weight is the row's largest weight. Rows without neighbours give ``nan``; a constant
    ``x`` gives zeros.

    >>> import scipy.sparse as sp
    >>> w = sp.csr_matrix(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=float))
    >>> gi_z(np.array([1.0, 2.0, 6.0]), w).round(4).tolist()
    [-1.3887, 0.0, 0.9258]
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    if n < 3:
        raise InputError(f"Gi* needs at least 3 locations, got {n}")
    w = sp.csr_matrix(w)
    card = np.diff(w.indptr)
    w_sum = np.asarray(w.sum(axis=1)).ravel()
    w_sq = np.asarray(w.multiply(w).sum(axis=1)).ravel()
    lag = w @ x
    if star:
        self_w = np.where(card > 0, np.asarray(w.max(axis=1).todense()).ravel(), 0.0)
        self_w = np.where(w_sum == card, 1.0, self_w)  # binary rows: w_ii = 1
        lag = lag + self_w * x
        w_sum = w_sum + self_w
        w_sq = w_sq + self_w**2
        mean = np.full(n, x.mean())
        sd = np.full(n, x.std())
        m = float(n)
    else:
        total, total_sq = x.sum(), (x**2).sum()
        mean = (total - x) / (n - 1)
        sd = np.sqrt(np.maximum((total_sq - x**2) / (n - 1) - mean**2, 0.0))
        m = float(n - 1)
    var_part = (m * w_sq - w_sum**2) / (m - 1)
    denom = sd * np.sqrt(np.maximum(var_part, 0.0))
    num = lag - mean * w_sum
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(denom > 0, num / denom, 0.0)
    z[card == 0] = np.nan
    return z


def _padded(w: sp.csr_matrix, width: int) -> np.ndarray:
    """Neighbour weights of each row left-aligned in an ``n × width`` array (zeros after)."""
    card = np.diff(w.indptr)
    out = np.zeros((w.shape[0], width))
    slot = np.arange(len(w.indices)) - np.repeat(w.indptr[:-1], card)
    out[np.repeat(np.arange(w.shape[0]), card), slot] = w.data
    return out


_DRAW_BLOCK_ROWS = 65_536  # rows of draws made, and checked for repeats, at once


def distinct_draws(population: int, k: int, rows: int, *, seed: int = 0,
                   dtype: type[np.integer] = np.int64) -> np.ndarray:
    """``rows`` independent draws of ``k`` distinct integers from ``0 .. population-1``.

    Each row is uniform over ordered k-tuples without repeats (as ``rng.choice(population, k,
    replace=False)``), drawn for all rows at once: rows are drawn with replacement and the
    few rows holding a repeat are drawn again (rejection keeps the distribution exact).
    ``dtype`` is the integer type of the result (``np.int32`` takes half the memory); the draws
    are the same whatever it is.

    >>> d = distinct_draws(10, 4, 1000, seed=1)
    >>> d.shape, bool((np.sort(d, axis=1)[:, 1:] != np.sort(d, axis=1)[:, :-1]).all())
    ((1000, 4), True)
    >>> bool((distinct_draws(10, 4, 1000, seed=1, dtype=np.int32) == d).all())
    True
    """
    if k > population:
        raise InputError(f"cannot draw {k} distinct values from {population}")
    if population - 1 > np.iinfo(dtype).max:
        raise InputError(f"cannot draw from {population} values into {np.dtype(dtype).name}")
    rng = np.random.default_rng(seed)
    out = np.empty((rows, k), dtype=dtype)
    # drawn a block of rows at a time, the generator's stream does not depend on the blocks: a city's 999,999 x 16
    # int64 draws at once were 128 MB beside the int32 result
    for start in range(0, rows, _DRAW_BLOCK_ROWS):
        out[start:start + _DRAW_BLOCK_ROWS] = rng.integers(0, population, size=(min(_DRAW_BLOCK_ROWS, rows - start), k))
    redo = np.arange(rows)
    while len(redo):
        repeats = np.zeros(len(redo), bool)
        # rows checked a block at a time: a city's million rows at once were two more copies of the draws (~320 MB
        # at 20 neighbours), the night's memory peak; the same rows are drawn again, so the same draws come out
        for start in range(0, len(redo) if k > 1 else 0, _DRAW_BLOCK_ROWS):
            block = out[redo[start:start + _DRAW_BLOCK_ROWS]]
            block.sort(axis=1)
            repeats[start:start + len(block)] = (block[:, 1:] == block[:, :-1]).any(axis=1)
        redo = redo[repeats]
        if len(redo):
            out[redo] = rng.integers(0, population, size=(len(redo), k))
    return out


def permutation_p(
    x: np.ndarray,
    w: sp.csr_matrix,
    *,
    permutations: int = 999,
    seed: int = 0,
) -> np.ndarray:
    """Folded conditional-permutation pseudo p-values of the local sum ``Σ_{j≠i} w_ij x_j``.

    Gi and Gi* (and their row-standardised forms) order the simulations exactly as this local
    sum does, because the value at ``i`` and the global total are fixed under conditional
    permutation; so these p-values serve all of them. See the module docstring for the
    definition. Islands get ``nan``.

    >>> import scipy.sparse as sp
    >>> chain = sp.diags([np.ones(19), np.ones(19)], [-1, 1], format="csr")   # 20 cells in a row
    >>> x = np.r_[np.zeros(10), np.arange(10.0) * 10]
    >>> p = permutation_p(x, chain, permutations=999)
    >>> bool(p[-2] < 0.01), bool(p[3] > 0.05)
    (True, True)
    """
    x = np.asarray(x, dtype=float)
    n = len(x)
    w = sp.csr_matrix(w)
    card = np.diff(w.indptr)
    kmax = max(int(card.max()) if len(card) else 0, 1)
    if kmax > n - 1:
        raise InputError(f"a location has {kmax} neighbours but only {n - 1} other locations exist")
    if n >= 2**31 or permutations >= 2**31:
        raise InputError(f"{n} locations x {permutations} permutations: too many for conditional permutation")
    # One set of draws for all locations: row p holds kmax distinct positions in 0..n-2.
    draws = distinct_draws(n - 1, kmax, permutations, seed=seed, dtype=np.int32)
    observed = w @ x
    first = np.zeros(n)
    first[card > 0] = w.data[w.indptr[:-1][card > 0]]
    if np.array_equal(w.data, np.repeat(first, card)):  # each row's weights one constant (binary, row-standardised)
        larger, smaller = _counts_constant_rows(observed, first, card, x, draws, _self_hits(draws, w, x))
    else:
        hit_perm, hit_cell, delta = _sorted_hits(_self_hits(draws, w, x))
        sims_values = x[draws]  # permutations × kmax, valid for every i not among the draws
        del draws
        larger, smaller = _counts_general(observed, w, sims_values, hit_cell, hit_perm, delta)
    folded = np.minimum(larger, smaller)
    p_sim = (folded + 1.0) / (permutations + 1.0)
    p_sim[card == 0] = np.nan
    return p_sim


_HIT_BLOCK_VALUES = 250_000  # draws examined at once for self-hits (~20 MB of temporaries)


def _self_hits(draws: np.ndarray, w: sp.csr_matrix,
               x: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The (permutation, location, change) triples where a permutation's draws include the location itself, a block
    of permutations at a time, in the order of the permutations.

    For location ``i`` the draws index the ``n - 1`` values other than ``x_i``: position ``i`` stands for
    ``x[n-1]``, so the shared simulated sum of permutation ``p`` is off by ``w · (x[n-1] - x[i])`` for ``i``
    when ``i`` is among its draws (``w``: the weight in the draw's slot of ``i``'s row, 0 past its neighbours).
    Only non-zero changes are kept (with many equal values, e.g. zero counts, most are zero). A city's
    999,999 permutations' candidate pairs at once took over a gigabyte.
    """
    n, kmax = len(x), draws.shape[1]
    card = np.diff(w.indptr)
    rows = max(1, _HIT_BLOCK_VALUES // max(kmax, 1))
    for start in range(0, len(draws), rows):
        block = draws[start:start + rows]
        p, slot = np.nonzero(block < n - 1)
        cell = block[p, slot]
        inside = slot < card[cell]
        weight = np.zeros(len(cell))
        weight[inside] = w.data[w.indptr[cell[inside]] + slot[inside]]
        d = weight * (x[n - 1] - x[cell])
        nz = d != 0
        yield (p[nz] + start).astype(np.int32), cell[nz].astype(np.int32), d[nz]


def _sorted_hits(hits: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]]
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The blocks of :func:`_self_hits` as three arrays (permutation, location, change) sorted by location
    (stable); each block list is emptied as it is joined, so its blocks are freed as soon as they are copied."""
    perms, cells, deltas = [], [], []
    for p, cell, d in hits:
        perms.append(p)
        cells.append(cell)
        deltas.append(d)
    hit_cell = np.concatenate(cells) if cells else np.empty(0, np.int32)
    cells.clear()
    order = np.argsort(hit_cell, kind="stable")
    hit_cell = hit_cell[order]
    hit_perm = np.concatenate(perms) if perms else np.empty(0, np.int32)
    perms.clear()
    hit_perm = hit_perm[order]
    delta = np.concatenate(deltas) if deltas else np.empty(0)
    deltas.clear()
    return hit_perm, hit_cell, delta[order]


def _tolerance(obs: np.ndarray) -> np.ndarray:
    # Ties (e.g. many zero counts) must stay ties despite float rounding in the sums.
    return 1e-9 * (np.abs(obs) + 1.0)


def _counts_constant_rows(
    observed: np.ndarray, row_w: np.ndarray, card: np.ndarray, x: np.ndarray, draws: np.ndarray,
    hits: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    """Counts of simulations ≥ / ≤ the observed lag when each row's weights are one constant
    (binary or row-standardised): a location's simulations are then the shared sums of the values of
    its first ``k`` *draws*, so one sorted array per cardinality answers every location by binary
    search; the few (location, permutation) pairs whose draws hit the location itself (*hits*, blocks of
    :func:`_self_hits`) are corrected one by one."""
    n, perms = len(observed), draws.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        obs = np.where(card > 0, observed / np.where(row_w == 0, 1.0, row_w), 0.0)
    tol = _tolerance(obs)
    larger = np.zeros(n, dtype=np.int64)
    smaller = np.zeros(n, dtype=np.int64)
    ks = np.unique(card[card > 0])
    # the sums of the first k draws one k at a time, added in the order a cumulative sum along the draws adds them
    # (all k at once: a city's 999,999 x 16 float64, 128 MB)
    running = np.zeros(perms)
    for k in range(1, int(ks[-1]) + 1 if len(ks) else 1):
        running += x[draws[:, k - 1]]
        if k not in ks:
            continue
        cells = np.flatnonzero(card == k)
        ordered = np.sort(running)
        larger[cells] = perms - np.searchsorted(ordered, obs[cells] - tol[cells], side="left")
        smaller[cells] = np.searchsorted(ordered, obs[cells] + tol[cells], side="right")
        del ordered
    del running
    # the self-hit corrections a block at a time as they are found, never all held (a city's ~8 M with their
    # sorting were the night's memory peak); counts are integers, so the sums depend neither on blocks nor order
    for perm, cell, delta in hits:
        unit = delta / row_w[cell]
        k = card[cell]
        # the hit's permutation's sum of its first k draws, added as above, one draw at a time (a hits x max-k
        # block of sums grew with the square of the neighbour count: k-nearest weights of k=200, 0.7 GB)
        old = np.zeros(len(k))
        for j in range(int(k.max()) if len(k) else 0):
            more = j < k
            old[more] += x[draws[perm[more], j]]
        new = old + unit
        lo, hi = obs[cell] - tol[cell], obs[cell] + tol[cell]
        np.add.at(larger, cell, (new >= lo).astype(np.int64) - (old >= lo))
        np.add.at(smaller, cell, (new <= hi).astype(np.int64) - (old <= hi))
    return larger, smaller


def _counts_general(
    observed: np.ndarray, w: sp.csr_matrix, sims_values: np.ndarray,
    hit_cell: np.ndarray, hit_perm: np.ndarray, delta: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Counts for arbitrary weights: simulated lags as chunked matrix products."""
    n, perms = len(observed), sims_values.shape[0]
    larger = np.empty(n, dtype=np.int64)
    smaller = np.empty(n, dtype=np.int64)
    chunk = max(1, _CHUNK_VALUES // max(perms, 1))
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        # the chunk's rows only (all n x kmax at once: a city's 94 MB)
        sims = _padded(w[start:stop], sims_values.shape[1]) @ sims_values.T  # chunk × permutations
        lo, hi = np.searchsorted(hit_cell, [start, stop])
        if hi > lo:
            np.add.at(sims, (hit_cell[lo:hi] - start, hit_perm[lo:hi]), delta[lo:hi])
        obs = observed[start:stop, None]
        tol = _tolerance(obs)
        larger[start:stop] = (sims >= obs - tol).sum(axis=1)
        smaller[start:stop] = (sims <= obs + tol).sum(axis=1)
    return larger, smaller


def fdr_bh(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values); ``nan`` stays ``nan`` and is not counted.

    >>> fdr_bh(np.array([0.01, 0.04, 0.03, 0.2])).round(4).tolist()
    [0.04, 0.0533, 0.0533, 0.2]
    """
    p = np.asarray(p, dtype=float)
    ok = ~np.isnan(p)
    whole = bool(ok.all())
    vals = p.ravel() if whole else p[ok]
    m = len(vals)
    if m == 0:
        return np.full_like(p, np.nan)
    adjusted = bh_into(vals, np.empty(m))
    del vals
    if whole:
        return adjusted.reshape(p.shape)
    q = np.full_like(p, np.nan)
    q[ok] = adjusted
    return q


def classify(z: np.ndarray, q: np.ndarray) -> np.ndarray:
    """ArcGIS-style confidence classes from z and (adjusted) two-sided p; ``nan`` z → ``island``.

    >>> classify(np.array([3.0, -2.0, 1.0, np.nan]), np.array([0.001, 0.03, 0.5, np.nan])).tolist()
    ['hot_99', 'cold_95', 'not_significant', 'island']
    """
    z = np.asarray(z, dtype=float)
    q = np.asarray(q, dtype=float)
    out = np.full(len(z), "not_significant", dtype=object)
    for level, name in reversed(_LEVELS):  # widest first, narrower levels overwrite
        sig = q <= level
        out[sig & (z > 0)] = f"hot_{name}"
        out[sig & (z < 0)] = f"cold_{name}"
    out[np.isnan(z)] = "island"
    return out


def auto_permutations(n_locations: int, *, cluster: int = AUTO_CLUSTER, level: float = 0.05) -> int:
    """Permutations enough for a cluster of ``cluster`` locations to pass FDR at ``level``.

    The smallest two-sided permutation p is ``2 / (P + 1)``; Benjamini–Hochberg over ``m``
    locations lets the ``k`` smallest p pass at level ``a`` when they are at most ``a · k / m``.
    So ``P + 1 ≥ 2 m / (a · k)``: the smallest of 99,999 / 999,999 permutations that satisfies it
    (99,999 at least; 999,999 at most, where larger layers need larger clusters to show — logged).

    >>> auto_permutations(1_000), auto_permutations(20_000), auto_permutations(750_000)
    (99999, 99999, 999999)
    """
    need = 2.0 * max(int(n_locations), 1) / (level * cluster)
    for perms in _AUTO_STEPS:
        if perms + 1 >= need:
            return perms
    log.info("%d locations: %d permutations resolve clusters of %d or more locations at FDR %.2f",
             n_locations, _AUTO_STEPS[-1], int(np.ceil(2.0 * n_locations / (level * (_AUTO_STEPS[-1] + 1)))), level)
    return _AUTO_STEPS[-1]


def parse_permutations(text: str | int) -> int | str:
    """A ``--permutations`` option's value: ``"auto"`` or a whole number >= 0.

    >>> parse_permutations("auto"), parse_permutations("999")
    ('auto', 999)
    """
    if isinstance(text, int) or text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"permutations must be a whole number or 'auto', got {text!r}") from None
    if value < 0:
        raise InputError(f"permutations must be >= 0, got {value}")
    return value


def gistar(
    gdf: gpd.GeoDataFrame,
    column: str,
    *,
    weights: str | Weights | sp.spmatrix = "queen",
    permutations: int | str = "auto",
    seed: int = 0,
    fdr: bool = True,
    alpha: float = 0.05,
    star: bool = True,
    inference: str | None = None,
    water: gpd.GeoDataFrame | None = None,
    max_water_share: float = MAX_WATER_SHARE,
) -> gpd.GeoDataFrame:
    """Local Getis–Ord Gi* hot/cold spots of ``column``.

    Parameters
    ----------
    gdf
        Locations (grid cells, communities, streets, H3 cells) with the value column; zero
        counts must be present as zeros.
    column
        Numeric column (counts or rates).
    weights
        ``"queen"`` (default), ``"rook"``, ``"knn:K"``, ``"distance:METRES"``, ``"h3:K"``,
        a :class:`~gridlib.hotspots.weights.Weights` or a sparse matrix (rows in ``gdf`` order;
        its non-zeros are the neighbours). Gi* uses them as binary weights with the location
        itself included; row standardisation would not change z or ``p_sim``. For weighted
        (e.g. distance-decay) statistics use :func:`gi_z` and :func:`permutation_p` directly.
    permutations
        Conditional permutations for ``p_sim`` (0 for analytical inference only). ``"auto"``
        (default) chooses them from the layer's size with :func:`auto_permutations`, so that a
        cluster of 10 locations can pass the FDR correction at 5 % (99,999 up to 25,000
        locations, 999,999 above).
    seed
        Seed of the ``numpy.random.default_rng`` used for permutations.
    fdr
        Benjamini–Hochberg correction of the p-values behind the classes (on by default).
    alpha
        Level for the ``significant`` flag.
    star
        ``True`` for Gi* (includes the location itself), ``False`` for Gi.
    inference
        Which p-value drives ``q`` and the classes: ``"permutation"`` (default when
        ``permutations > 0``) or ``"analytical"`` (default otherwise).
    water, max_water_share
        A water layer (polygons): locations more than ``max_water_share`` under water take no
        part — neither as locations nor as neighbours — and come back as ``water_excluded``
        with missing statistics (:mod:`gridlib.water`, the rule every analysis shares).

    Returns
    -------
    GeoDataFrame
        The input plus ``z``, ``p``, ``p_sim`` (when permutations > 0), ``q``,
        ``hotspot_class``, ``significant`` and ``n_neighbours``. ``attrs["gistar"]`` says how it
        was made (as esda's results carry their inference): ``column``, ``star``, ``weights``
        (kind), ``inference``, ``permutations``, ``seed``, ``fdr``, ``alpha``, ``n_locations``,
        ``n_islands`` and ``min_p`` (the smallest p the inference can give).

    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> cells = gpd.GeoDataFrame({"n": [0, 1, 0, 1, 9, 8, 0, 7, 9]},
    ...     geometry=[box(i, j, i + 1, j + 1) for j in range(3) for i in range(3)], crs="EPSG:4550")
    >>> gistar(cells, "n", permutations=0)["hotspot_class"].tolist()[-1]
    'hot_95'
    """
    if column not in gdf.columns:
        raise InputError(f"column {column!r} not in the layer (columns: {list(gdf.columns)})")
    wet = is_water(gdf, water, max_water_share)
    if wet.any():
        land = gistar(gdf[~wet], column, weights=weights, permutations=permutations, seed=seed, fdr=fdr,
                      alpha=alpha, star=star, inference=inference)
        out = pd.concat([land, gdf[wet].assign(hotspot_class="water_excluded", significant=False, n_neighbours=0)])
        out = out.loc[gdf.index]
        out["hotspot_class"] = pd.Categorical(out["hotspot_class"].astype(str), categories=list(HOTSPOT_CLASSES))
        out.attrs["gistar"] = {**land.attrs["gistar"], "n_water_excluded": int(wet.sum()),
                               "max_water_share": max_water_share}
        return out
    values = pd.to_numeric(gdf[column], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values))
    if len(bad):
        raise InputError(
            f"column {column!r} has {len(bad)} missing or non-numeric values (first at row "
            f"{gdf.index[bad[0]]!r}); empty cells must be 0, not missing"
        )
    w: Weights = build_weights(gdf, weights)
    if isinstance(permutations, str):
        if permutations != "auto":
            raise InputError(f"permutations must be a number or 'auto', got {permutations!r}")
        permutations = auto_permutations(len(gdf) - len(w.islands))
    if permutations < 0:
        raise InputError(f"permutations must be >= 0, got {permutations}")
    binary = w.sparse
    z = gi_z(values, binary, star=star)
    p = 2.0 * ndtr(-np.abs(z))
    out = gdf.copy()
    out["z"] = z
    out["p"] = p
    if values.std() == 0:
        log.warning("column %r is constant: no hot or cold spots can exist", column)
    inference = inference or ("permutation" if permutations > 0 else "analytical")
    if inference not in ("permutation", "analytical"):
        raise InputError(f"inference must be 'permutation' or 'analytical', got {inference!r}")
    if inference == "permutation" and permutations == 0:
        raise InputError("permutation inference needs permutations > 0")
    p_two = p
    if permutations > 0:
        p_sim = permutation_p(values, binary, permutations=permutations, seed=seed)
        out["p_sim"] = p_sim
        if inference == "permutation":
            p_two = np.minimum(1.0, 2.0 * p_sim)
    q = fdr_bh(p_two) if fdr else p_two
    out["q"] = q
    out["hotspot_class"] = pd.Categorical(classify(z, q), categories=list(HOTSPOT_CLASSES))
    out["significant"] = np.nan_to_num(q, nan=1.0) <= alpha
    out["n_neighbours"] = w.cardinalities
    out.attrs["gistar"] = {
        "column": column, "star": star, "weights": w.kind, "inference": inference,
        "permutations": int(permutations), "seed": seed, "fdr": fdr, "alpha": alpha,
        "n_locations": len(gdf), "n_islands": len(w.islands),
        "min_p": 2.0 / (permutations + 1) if inference == "permutation" else 0.0,
    }
    if len(w.islands):
        log.warning("%d locations have no neighbour under %s weights; classed 'island'", len(w.islands), w.kind)
    return out
