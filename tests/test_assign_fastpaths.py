"""gl.assign's fast paths give what the general ones give.

The level codes and names of the grids hit are taken in Arrow when the grids' text columns are
Arrow-backed (pandas' ``str``); other columns (object, numbers, gaps) go through Python strings.
Both must produce the same frames, including grids without level columns (codes cut from the grid
code), without names and with missing names.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import gridlib as gl
from gridlib.datasets import demo_grids


def _cases(grids: gpd.GeoDataFrame, n: int = 1500, seed: int = 3) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = grids.total_bounds
    cat = gl.codes.catalogue("gbt47678-2026")
    k = rng.integers(0, len(cat), n)
    return gpd.GeoDataFrame({
        "case_id": np.char.add("c", np.arange(n).astype(str)),
        "class_code": cat["class_code"].to_numpy()[k],
        "kind": cat["kind"].to_numpy()[k],
    }, geometry=shapely.points(rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)), crs=grids.crs)


def _as_objects(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The same grids with every text column as Python objects (the general path)."""
    out = grids.copy()
    for col in out.columns:
        if col != out.geometry.name and pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].astype(object)
    return out


@pytest.mark.parametrize("variant", ["all", "codes_only", "grid_code_only", "missing_names"])
def test_arrow_levels_equal_python_levels(variant):
    grids = demo_grids()
    if variant == "codes_only":
        grids = grids.drop(columns=[c for c in grids.columns if c.endswith("_name")])
    elif variant == "grid_code_only":
        grids = grids[["grid_code", "geometry"]]
    elif variant == "missing_names":
        grids = grids.copy()
        grids.loc[grids.index[::3], "street_name"] = None
        grids.loc[grids.index[::5], "community_name"] = None
    assert pd.api.types.is_string_dtype(grids["grid_code"]) and grids["grid_code"].dtype != object
    cases = _cases(grids)
    fast, fast_rejects = gl.assign(cases, grids)
    slow, slow_rejects = gl.assign(cases, _as_objects(grids))
    assert len(fast) > 1000
    pd.testing.assert_frame_equal(fast, slow)
    pd.testing.assert_frame_equal(fast_rejects, slow_rejects)
    if variant == "missing_names":  # the street fallback names the street code where its name is missing
        blank = fast["street_name"] == ""
        assert blank.any()
        assert (fast.loc[blank, "responsible_unit"] == "street " + fast.loc[blank, "street_code"]).all()


def _near_by_geos(cases: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, done: gpd.GeoDataFrame, d: float) -> np.ndarray:
    """``near_boundary`` by brute force: GEOS ``dwithin`` of each assigned case and every other grid."""
    own = grids.set_index("grid_code").index.get_indexer(done["grid_code"])
    pt, g = shapely.STRtree(grids.geometry.values).query(done.geometry.values, predicate="dwithin", distance=d)
    near = np.zeros(len(done), dtype=bool)
    near[pt[g != own[pt]]] = True
    return near


@pytest.mark.parametrize("d", [21.0, np.nextafter(21.0, 0.0), 5.0])
def test_near_boundary_across_a_gap_is_geos_dwithin(d):
    """Another grid across a gap (no shared edge): the grid's boundary segments decide, GEOS within rounding of
    the distance (21 m exactly from the far grid's edge: within at 21, not at the float below it)."""
    grids = gpd.GeoDataFrame({"grid_code": ["410105001003001", "410105001003002", "410105001004001"]},
                             geometry=[shapely.box(0, 0, 10, 10), shapely.box(30, 0, 40, 10),
                                       shapely.box(40, 0, 50, 10)], crs=4547)
    cases = gpd.GeoDataFrame({"case_id": ["a", "b", "c", "d"], "kind": ["event"] * 4},
                             geometry=shapely.points([(9, 5), (9, 9.5), (5, 5), (38.0, 5.0)]), crs=4547)
    done, _ = gl.assign(cases, grids, near_boundary_m=d)
    assert done["near_boundary"].tolist() == _near_by_geos(cases, grids, done, d).tolist()
    assert done["near_boundary"].iloc[0] == (d == 21.0)


def test_near_boundary_inside_an_overlapping_grid():
    """Grids that overlap (an index built with check_overlaps=False): a case near its grid's edge and deep inside
    another grid is near that one, as GEOS ``dwithin`` says, though no boundary segment of it is within reach."""
    grids = gpd.GeoDataFrame({"grid_code": ["410105001003001", "410105001003002"]},
                             geometry=[shapely.box(1000, 0, 1100, 100), shapely.box(950, -50, 1150, 150)], crs=4547)
    cases = gpd.GeoDataFrame({"case_id": ["a"], "kind": ["event"]}, geometry=[shapely.Point(1098, 50)], crs=4547)
    index = gl.GridIndex(grids, check_overlaps=False)
    done, _ = gl.assign(cases, grids, index=index, near_boundary_m=5.0)
    assert done["grid_code"].tolist() == ["410105001003001"]
    assert done["near_boundary"].tolist() == [True]


@pytest.mark.parametrize("seed", range(6))
def test_street_edge_equals_the_tree_query(seed):
    """_street_edge with its cell filter (many grids) says what a tree query of every grid's grown box says: boxes
    of random sizes (a few huge), touching exactly or not, a few streets, distances 0 to beyond a grid."""
    from gridlib.assignment import _street_edge

    rng = np.random.default_rng(seed)
    n = 600
    x, y = rng.integers(0, 40, n) * 10.0, rng.integers(0, 40, n) * 10.0
    w, h = rng.choice([10.0, 10.0, 20.0, 0.5], n), rng.choice([10.0, 10.0, 30.0, 0.0], n)
    w[:3] = 5000.0 if seed % 2 else 10.0
    geoms = shapely.box(x, y, x + w, y + h)
    street = rng.integers(0, 1 + seed, n)
    street[x > 200] = 5
    tree = shapely.STRtree(geoms)
    for d in (0.0, 1e-9, 4.0, 10.0, 150.0):
        b = shapely.bounds(geoms)
        a, o = tree.query(shapely.box(b[:, 0] - d, b[:, 1] - d, b[:, 2] + d, b[:, 3] + d))
        want = np.zeros(n, dtype=bool)
        want[a[street[a] != street[o]]] = True
        for grids in (np.arange(n), np.sort(rng.choice(n, 400, replace=False))):
            assert _street_edge(tree, geoms, street, grids, d).tolist() == want[grids].tolist()
