"""Contiguity weights take their adjacency from the grid package (gridlib.grid.topology) and give
the same neighbours as the vertex-key builder they replaced (kept here as the reference)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import scipy.sparse as sp
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

import gridlib as gl
from gridlib.grid.topology import adjacency
from gridlib.hotspots import weights as wmod


def _reference(gdf: gpd.GeoDataFrame, rule: str, precision: float = 0.001) -> sp.csr_matrix:
    """hotspots.weights.contiguity as it was at d6b4dfa (vertex keys and one sparse product)."""
    geoms = wmod._metric(gdf).to_numpy()
    n = len(geoms)
    rings, ring_owner = shapely.get_rings(shapely.get_parts(geoms), return_index=True)
    part_owner = shapely.get_parts(geoms, return_index=True)[1]
    ring_owner = part_owner[ring_owner]
    coords, ring_idx = shapely.get_coordinates(rings, return_index=True)
    keys = np.round(coords / precision).astype(np.int64)
    keys -= keys.min(axis=0)
    span = keys.max(axis=0) + 1
    _, vertex = np.unique(keys[:, 0] * span[1] + keys[:, 1], return_inverse=True)
    vertex = vertex.ravel()
    owner = ring_owner[ring_idx]
    if rule == "queen":
        items, item_owner = vertex, owner
    else:
        same_ring = ring_idx[1:] == ring_idx[:-1]
        a, b = vertex[:-1][same_ring], vertex[1:][same_ring]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        _, items = np.unique(lo.astype(np.int64) * (int(vertex.max()) + 1) + hi, return_inverse=True)
        item_owner = owner[:-1][same_ring]
    incidence = sp.csr_matrix((np.ones(len(items)), (item_owner, items)), shape=(n, int(items.max()) + 1))
    shared = (incidence @ incidence.T).tocoo()
    keep = shared.row != shared.col
    m = sp.csr_matrix((np.ones(int(keep.sum())), (shared.row[keep], shared.col[keep])), shape=(n, n))
    m.data[:] = 1.0
    return m


def _same(ours: wmod.Weights, ref: sp.csr_matrix) -> bool:
    return (ours.sparse.astype(bool).astype(int) - ref.astype(bool).astype(int)).nnz == 0


def _lattice(nx: int, ny: int, jitter: np.ndarray, drop: np.ndarray, noise: float) -> gpd.GeoDataFrame:
    """Quads on a jittered nx × ny lattice (neighbours share their corner vertices), some cells dropped,
    every cell's copy of its corners moved by up to ``noise`` metres (float noise between neighbours)."""
    xs, ys = np.meshgrid(np.arange(nx + 1) * 50.0, np.arange(ny + 1) * 50.0, indexing="ij")
    px = 500_000.0 + xs + jitter[: xs.size].reshape(xs.shape)
    py = 3_400_000.0 + ys + jitter[xs.size: 2 * xs.size].reshape(xs.shape)
    rng = np.random.default_rng(int(abs(jitter[0]) * 1e6) % 2**32)
    cells = []
    for i in range(nx):
        for j in range(ny):
            if drop[(i * ny + j) % len(drop)]:
                continue
            corners = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)]
            pts = [(px[a, b] + rng.uniform(-noise, noise), py[a, b] + rng.uniform(-noise, noise)) for a, b in corners]
            cells.append(shapely.Polygon(pts))
    return gpd.GeoDataFrame({"grid_code": [f"g{k}" for k in range(len(cells))]}, geometry=cells, crs=4547)


@pytest.mark.parametrize("rule", ["queen", "rook"])
def test_demo_grids_same_neighbours_as_before(rule):
    grids = gl.datasets.demo_grids()
    ours = wmod.contiguity(grids, rule)
    assert _same(ours, _reference(grids, rule))
    # the grid index's Topology gives the same weights (its segments are the grids' own)
    assert _same(wmod.contiguity(grids, rule, topology=gl.GridIndex(grids)), _reference(grids, rule))
    assert ours.sparse.nnz > 4 * len(grids)


@settings(max_examples=25, deadline=None)
@given(nx=st.integers(1, 7), ny=st.integers(1, 7),
       jitter=st.lists(st.floats(-20, 20), min_size=128, max_size=128).map(np.array),
       drop=st.lists(st.booleans(), min_size=1, max_size=10).map(np.array),
       noise=st.sampled_from([0.0, 1e-7, 1e-4]), rule=st.sampled_from(["queen", "rook"]))
def test_random_lattice_same_neighbours_as_before(nx, ny, jitter, drop, noise, rule):
    cells = _lattice(nx, ny, jitter, drop, noise)
    if len(cells) == 0 or not shapely.is_valid(cells.geometry.values).all():
        return
    ours = wmod.contiguity(cells, rule)
    assert _same(ours, _reference(cells, rule))
    assert _same(wmod.contiguity(cells, rule, topology=gl.grid.topology(cells)), _reference(cells, rule))


def test_lattice_neighbour_counts_and_exact_vertices():
    cells = _lattice(3, 3, np.zeros(128), np.array([False]), 0.0)
    assert wmod.contiguity(cells, "queen").cardinalities.tolist() == [3, 5, 3, 5, 8, 5, 3, 5, 3]
    assert wmod.contiguity(cells, "rook").cardinalities.tolist() == [2, 3, 2, 3, 4, 3, 2, 3, 2]
    # corners 0.4 mm apart: one vertex at the default millimetre, two with exact coordinates
    a, b = shapely.box(0, 0, 1, 1), shapely.box(1.0004, 1.0004, 2, 2)
    assert [p.tolist() for p in adjacency([a, b], "queen")] == [[0], [1]]
    assert [p.tolist() for p in adjacency([a, b], "queen", precision=None)] == [[], []]


def test_topology_of_other_rows_is_refused():
    cells = _lattice(2, 2, np.zeros(128), np.array([False]), 0.0)
    with pytest.raises(gl.InputError, match="topology has 2 grids"):
        wmod.contiguity(cells, topology=gl.grid.topology(cells.iloc[:2]))
