"""Emerging hot spots: cube, space-time Gi*, Mann–Kendall, and every category from constructed series."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hotspot_grids import square_grid

from gridlib.errors import InputError
from gridlib.hotspots import (
    EMERGING_CATEGORIES,
    categorize,
    contiguity,
    emerging,
    emerging_cube,
    gi_z,
    mann_kendall,
    space_time_cube,
    space_time_gistar,
)

H, C, NS = "H", "C", "."  # significant hot, significant cold, not significant

# (series of 10 bins, Mann–Kendall trend of z: +1 up, -1 down, 0 none) -> category
SERIES = {
    "new_hot": (".........H", 0),
    "consecutive_hot": (".......HHH", 0),
    "intensifying_hot": ("HHHHHHHHHH", 1),
    "persistent_hot": ("HHHHHHHHHH", 0),
    "diminishing_hot": ("HHHHHHHHHH", -1),
    "sporadic_hot": ("H.H..H...H", 0),
    "oscillating_hot": ("C.H......H", 0),
    "historical_hot": ("HHHHHHHHH.", 0),
    "no_pattern": ("H.........", 0),
}
for name, (text, trend) in list(SERIES.items()):
    if name.endswith("_hot"):
        swapped = text.translate(str.maketrans("HC", "CH"))
        SERIES[name.replace("_hot", "_cold")] = (swapped, -trend)


def _arrays(text: str) -> tuple[np.ndarray, np.ndarray]:
    z = np.array([{H: 3.0, C: -3.0, NS: 0.2}[c] for c in text])
    q = np.array([{H: 0.001, C: 0.001, NS: 0.8}[c] for c in text])
    return z, q


def test_every_category_from_a_constructed_series():
    names = list(SERIES)
    z, q = map(np.vstack, zip(*(_arrays(SERIES[n][0]) for n in names), strict=True))
    trend = np.array([SERIES[n][1] for n in names], dtype=float)
    trend_z = trend * 3.0
    trend_p = np.where(trend != 0, 0.001, 0.8)
    got = categorize(z, q, trend_z, trend_p).tolist()
    assert dict(zip(names, got, strict=True)) == {n: n for n in names}
    assert set(EMERGING_CATEGORIES) == set(names)


def test_category_edge_rules():
    def one(text, trend=0):
        z, q = _arrays(text)
        return categorize(z[None], q[None], np.array([3.0 * trend]), np.array([0.001 if trend else 0.8]))[0]

    assert one("HH........") == "no_pattern"  # hot long ago only
    assert one("..HH.....H") == "sporadic_hot"  # a run at the end of length 1 after earlier hot bins
    assert one("..HH....HH") == "sporadic_hot"  # final run, but hot before it: not consecutive
    assert one("C......HHH") == "consecutive_hot"  # consecutive wins over oscillating
    assert one("C........H") == "new_hot"
    assert one("HHHHHHHHH.", trend=1) == "historical_hot"
    assert one("CHHHHHHHHH", trend=1) == "intensifying_hot"  # 9 of 10 = 90 %


def test_mann_kendall_matches_brute_force_with_ties():
    rng = np.random.default_rng(4)
    x = rng.integers(0, 4, size=(50, 12)).astype(float)  # many ties
    s, z, p = mann_kendall(x)
    for row, s_row, z_row in zip(x, s, z, strict=True):
        t = len(row)
        s_ref = sum(np.sign(row[j] - row[i]) for i, j in itertools.combinations(range(t), 2))
        _, counts = np.unique(row, return_counts=True)
        var = (t * (t - 1) * (2 * t + 5) - sum(c * (c - 1) * (2 * c + 5) for c in counts)) / 18
        z_ref = 0.0 if s_ref == 0 or var == 0 else (s_ref - np.sign(s_ref)) / np.sqrt(var)
        assert s_row == s_ref
        assert z_row == pytest.approx(z_ref)
    assert ((p >= 0) & (p <= 1)).all()


@pytest.mark.parametrize("window", [0, 1, 2])
def test_space_time_gistar_equals_gi_star_on_the_space_time_graph(window):
    grid = square_grid(4, 3)
    w = contiguity(grid).sparse
    cube = np.random.default_rng(window).poisson(2.0, size=(len(grid), 6)).astype(float)
    n, t = cube.shape
    # Explicit space-time graph: (i, t) ~ (j, s) when j is i or its neighbour and t-window <= s <= t.
    near = (w + sp.identity(n)).toarray() > 0
    rows, cols = [], []
    for i, ti, j, sj in itertools.product(range(n), range(t), range(n), range(t)):
        if near[i, j] and ti - window <= sj <= ti and (i, ti) != (j, sj):
            rows.append(i * t + ti)
            cols.append(j * t + sj)
    big = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n * t, n * t))
    ref = gi_z(cube.ravel(), big).reshape(n, t)
    got = space_time_gistar(cube, w, time_window=window)
    ok = ~np.isnan(ref)
    assert np.max(np.abs(got[ok] - ref[ok])) < 1e-8


def test_cube_bins_zeros_and_window():
    grid = square_grid(2, 1)
    cases = pd.DataFrame({
        "grid_code": ["G00000", "G00000", "G00001", "G00001", "nowhere"],
        "reported_at": pd.to_datetime(["2026-01-01 00:00", "2026-01-08 00:00", "2026-01-14 23:00", "2025-06-01 00:00", "2026-01-10 00:00"]),
    })
    cube, starts = space_time_cube(cases, grid, bin="7D", n_bins=2, end="2026-01-15")
    assert cube.tolist() == [[1, 1], [0, 1]]
    assert [str(s) for s in starts] == ["2026-01-01 00:00:00", "2026-01-08 00:00:00"]
    with pytest.raises(InputError, match="bin width"):
        space_time_cube(cases, grid, bin="weekly")


def test_emerging_end_to_end_finds_new_and_persistent_hot_spots():
    grid = square_grid(12, 12)
    codes = grid["grid_code"].to_numpy()
    rng = np.random.default_rng(0)
    weeks = pd.date_range("2026-01-05", periods=12, freq="7D")
    rows = []
    for k, week in enumerate(weeks):
        rows += [(c, week + pd.Timedelta(hours=int(h))) for c, h in
                 zip(rng.choice(codes, 40), rng.integers(0, 160, 40), strict=True)]  # background
        rows += [(codes[i], week + pd.Timedelta(hours=10)) for i in (0, 1, 12, 13) for _ in range(8)]
        if k == 11:
            rows += [(codes[i], week + pd.Timedelta(hours=10)) for i in (130, 131, 142, 143) for _ in range(25)]
    cases = pd.DataFrame(rows, columns=["grid_code", "reported_at"])
    out = emerging(cases, grid, bin="7D", n_bins=12, end=weeks[-1] + pd.Timedelta(days=7))
    cats = out["category"].astype(str)
    assert set(cats.iloc[[0, 1, 12, 13]]) <= {"persistent_hot", "intensifying_hot", "diminishing_hot"}
    assert (cats.iloc[[130, 131, 142, 143]] == "new_hot").all()
    assert (cats == "no_pattern").mean() > 0.7
    assert out.attrs["bins"][0].startswith("2026-01-05")
    assert {"trend_z", "trend_p", "n_hot_bins", "final_z", "total"} <= set(out.columns)


def test_emerging_cube_validates_shapes():
    with pytest.raises(InputError, match="time bins"):
        emerging_cube(np.zeros((3, 1)), sp.csr_matrix((3, 3)))
    with pytest.raises(InputError, match="locations"):
        emerging_cube(np.zeros((3, 4)), sp.csr_matrix((2, 2)))
