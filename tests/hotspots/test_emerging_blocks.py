"""Emerging hot spots computed a block of locations at a time (memory, issue 19) give the very same numbers."""

from __future__ import annotations

import importlib

import numpy as np
import scipy.sparse as sp

em = importlib.import_module("gridlib.hotspots.emerging")  # the module (the package exports its function)


def test_blocks_of_rows_give_the_same_bits(monkeypatch):
    rng = np.random.default_rng(7)
    n, t = 1_000, 12
    cube = rng.poisson(rng.gamma(0.5, 2.0, size=(n, 1)), size=(n, t)).astype(float)
    a = sp.random(n, n, density=0.006, random_state=3, format="csr")
    w = ((a + a.T) > 0).astype(float).tocsr()
    whole = em.emerging_cube(cube, w, count_trend=True)
    z_whole = em.space_time_gistar(cube, w)
    monkeypatch.setattr(em, "_ROWS", 37)  # blocks that do not divide the rows
    blocks = em.emerging_cube(cube, w, count_trend=True)
    assert np.array_equal(em.space_time_gistar(cube, w), z_whole)
    assert blocks.equals(whole)
    assert whole["category"].astype(str).nunique() > 3  # a cube with patterns to tell apart
