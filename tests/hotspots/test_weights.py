"""Weights: contiguity from shared vertices/edges agrees with libpysal; other builders."""

from __future__ import annotations

import warnings

import geopandas as gpd
import h3
import numpy as np
import pytest
from hotspot_grids import hex_grid, square_grid
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from gridlib.errors import InputError
from gridlib.hotspots import weights as wmod


def _libpysal(gdf: gpd.GeoDataFrame, rule: str):
    from libpysal.weights import Queen, Rook

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cls = Queen if rule == "queen" else Rook
        return cls.from_dataframe(gdf, use_index=False, silence_warnings=True).sparse.tocsr()


def _same(a, b) -> bool:
    return (abs(a.astype(bool).astype(int) - b.astype(bool).astype(int))).nnz == 0


def _brute(gdf: gpd.GeoDataFrame, rule: str):
    """Reference adjacency from geometry predicates with a 1e-6 m tolerance (slow, small inputs)."""
    import scipy.sparse as sp
    import shapely

    geoms = gdf.geometry.to_numpy()
    n = len(geoms)
    rows, cols = [], []
    for i in range(n):
        for j in range(n):
            if i == j or not shapely.dwithin(geoms[i], geoms[j], 1e-6):
                continue
            shared = shapely.intersection(geoms[i].boundary.buffer(1e-6), geoms[j].boundary)
            if rule == "queen" or shared.length > 1e-3:
                rows.append(i)
                cols.append(j)
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))


@pytest.mark.parametrize("rule", ["queen", "rook"])
def test_square_coverage_matches_libpysal(rule):
    grid = square_grid(12, 9)
    ours = wmod.contiguity(grid, rule)
    assert _same(ours.sparse, _libpysal(grid, rule))
    assert (ours.sparse != ours.sparse.T).nnz == 0
    assert ours.sparse.diagonal().sum() == 0


@pytest.mark.parametrize("rule", ["queen", "rook"])
def test_hex_coverage_matches_geometry(rule):
    # Hexagon vertices computed from different centres differ by ~1e-10 m: libpysal's exact
    # vertex matching misses some of those neighbours, the millimetre snapping does not.
    grid = hex_grid(8, 7)
    ours = wmod.contiguity(grid, rule)
    assert _same(ours.sparse, _brute(grid, rule))
    interior = ours.cardinalities[[9, 10, 17, 18]]
    assert interior.tolist() == [6, 6, 6, 6]  # hexagons: queen == rook


@settings(max_examples=15, deadline=None)
@given(st.lists(st.booleans(), min_size=48, max_size=48), st.sampled_from(["queen", "rook"]))
def test_grid_with_holes_matches_libpysal(keep, rule):
    grid = square_grid(8, 6)
    sub = grid[np.array(keep)].reset_index(drop=True)
    if len(sub) < 2:
        return
    ours = wmod.contiguity(sub, rule)
    assert _same(ours.sparse, _libpysal(sub, rule))
    assert set(ours.islands) == {i for i in range(len(sub)) if ours.sparse[i].nnz == 0}


def test_islands_reported_and_multipolygons(caplog):
    from shapely.geometry import MultiPolygon

    g = gpd.GeoSeries([MultiPolygon([box(0, 0, 1, 1), box(10, 10, 11, 11)]), box(1, 0, 2, 1),
                       box(11, 10, 12, 11), box(50, 50, 51, 51)], crs=4550)
    with caplog.at_level("WARNING"):
        w = wmod.contiguity(g, "rook")
    assert w.cardinalities.tolist() == [2, 1, 1, 0]
    assert w.islands.tolist() == [3]
    assert "island" in caplog.text


def test_geographic_input_is_projected_and_precision_joins_nearly_equal_vertices():
    a = box(0, 0, 1, 1)
    b = box(1.0004, 0, 2, 1)  # 0.4 mm gap
    assert wmod.contiguity(gpd.GeoSeries([a, b], crs=4550)).cardinalities.tolist() == [1, 1]
    assert wmod.contiguity(gpd.GeoSeries([a, b], crs=4550), precision=1e-5).cardinalities.tolist() == [0, 0]
    grid = square_grid(3, 3).to_crs(4326)
    assert wmod.contiguity(grid, "queen").cardinalities.tolist() == [3, 5, 3, 5, 8, 5, 3, 5, 3]


def test_knn_and_distance_band_match_libpysal():
    from libpysal.weights import KNN, DistanceBand

    rng = np.random.default_rng(3)
    pts = gpd.GeoSeries([Point(x, y) for x, y in rng.uniform(0, 1000, (60, 2))], crs=4550)
    xy = np.c_[pts.x, pts.y]
    assert _same(wmod.knn(pts, 5).sparse, KNN.from_array(xy, k=5).sparse.tocsr())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = DistanceBand.from_array(xy, threshold=150, binary=True, silence_warnings=True).sparse.tocsr()
    assert _same(wmod.distance_band(pts, 150).sparse, ref)


def test_h3_kring_only_links_present_cells():
    centre = h3.latlng_to_cell(31.23, 121.5, 10)
    cells = sorted(h3.grid_disk(centre, 2))
    w = wmod.h3_kring(cells, 1)
    i = cells.index(centre)
    assert w.cardinalities[i] == 6
    assert sorted(w.cardinalities.tolist()).count(3) == 6  # outer corners see 3 present cells
    assert wmod.h3_kring(cells, 2).cardinalities[i] == 18


def test_transforms_and_build_weights_errors():
    grid = square_grid(3, 3)
    w = wmod.build_weights(grid, "rook")
    r = w.matrix("R")
    assert np.allclose(np.asarray(r.sum(axis=1)).ravel(), 1.0)
    star = w.matrix("B", self_weight=True)
    assert star.diagonal().tolist() == [1.0] * 9
    for bad in ("queeen", "knn:x", "distance:-5", "h3:1"):
        with pytest.raises(InputError):
            wmod.build_weights(grid, bad)
    with pytest.raises(InputError, match="rows"):
        wmod.build_weights(square_grid(2, 2), w)
    with pytest.raises(InputError, match="polygons"):
        wmod.contiguity(gpd.GeoSeries([Point(0, 0)], crs=4550))


def test_real_lujiazui_grids_match_geometry_and_libpysal():
    """The bundled unit grids: queen equals 'within 1 mm' exactly; libpysal's exact-vertex
    matching agrees on rook and misses a few queen corners that differ by float noise."""
    import shapely

    import gridlib as gl

    grids = gl.datasets.demo_grids()
    queen = wmod.contiguity(grids, "queen").sparse
    geoms = grids.geometry.to_numpy()
    a, b = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=0.001)
    keep = a != b
    import scipy.sparse as sp

    truth = sp.csr_matrix((np.ones(int(keep.sum())), (a[keep], b[keep])), shape=queen.shape)
    assert _same(queen, truth)
    assert _same(wmod.contiguity(grids, "rook").sparse, _libpysal(grids, "rook"))
    ref_queen = _libpysal(grids, "queen")
    missing = (queen.astype(bool).astype(int) - ref_queen.astype(bool).astype(int)).nnz
    assert missing <= 0.002 * queen.nnz
