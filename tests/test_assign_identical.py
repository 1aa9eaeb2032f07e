"""gl.assign's full output on a few thousand demo cases: unchanged by speed work, and right.

Two checks on the same cases (uniform over the demo grids, plus grid vertices, edge midpoints
and points a few metres off the edges, where the boundary flags change):

* a digest of the whole output (both frames: columns, dtypes, index, values, geometry), taken
  from the code before the bulk path was rewritten for speed;
* a straightforward reference computation with shapely of what the fast path derives from the
  grid topology: the distance to the grid's boundary (``shapely.distance``), ``near_boundary``
  (another grid within ``near_boundary_m``: ``shapely.dwithin``) and ``near_street_boundary``
  (a grid of another street within it).
"""

from __future__ import annotations

import hashlib

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import gridlib as gl
from gridlib.datasets import demo_grids

#: sha256 of :func:`_canonical` of ``assign(_cases(), demo_grids())`` before the speed work.
DIGEST = "12991c8e48a8cb68d45be3366ae22ba34f2c5ff7486e1198a03b2b8516a9a837"


def _cases(n: int = 3000, seed: int = 7) -> gpd.GeoDataFrame:
    grids = demo_grids()
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = grids.total_bounds
    xy = [np.column_stack([rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)])]
    coords = shapely.get_coordinates(shapely.boundary(grids.geometry.values))
    pick = coords[rng.integers(0, len(coords), 400)]
    xy.append(pick)                                                        # vertices
    i = rng.integers(0, len(coords) - 1, 400)
    xy.append((coords[i] + coords[i + 1]) / 2)                             # mostly edge midpoints
    # near an edge: a vertex moved by up to 30 m, so the 20 m flags flip both ways
    xy.append(pick + rng.uniform(-30, 30, pick.shape))
    xy = np.concatenate(xy)
    cat = gl.codes.catalogue("gbt47678-2026")
    k = rng.integers(0, len(cat), len(xy))
    return gpd.GeoDataFrame({
        "case_id": np.char.add("c", np.arange(len(xy)).astype(str)),
        "class_code": cat["class_code"].to_numpy()[k],
        "kind": cat["kind"].to_numpy()[k],
    }, geometry=shapely.points(xy), crs=grids.crs)


def _canonical(done: pd.DataFrame, rejects: pd.DataFrame) -> bytes:
    parts = []
    for frame in (done, rejects):
        parts.append(repr([(c, str(t)) for c, t in frame.dtypes.items()]).encode())
        parts.append(repr(frame.index.tolist()).encode())
        plain = pd.DataFrame(frame).copy()
        for col in plain.columns:
            if isinstance(plain[col].dtype, gpd.array.GeometryDtype):
                plain[col] = shapely.to_wkb(np.asarray(plain[col].array), hex=True)
        parts.append(plain.to_csv(float_format=repr).encode())
    if isinstance(done, gpd.GeoDataFrame):
        parts.append(done.crs.to_wkt().encode())
    return b"\n".join(parts)


@pytest.fixture(scope="module")
def result():
    grids = demo_grids()
    return grids, _cases(), gl.assign(_cases(), grids)


def test_output_identical_to_before(result):
    _, _, (done, rejects) = result
    assert len(done) > 3000 and len(rejects) > 0
    assert hashlib.sha256(_canonical(done, rejects)).hexdigest() == DIGEST


def test_boundary_columns_match_shapely(result):
    grids, cases, (done, _) = result
    d = 20.0
    geoms = grids.geometry.values
    own = pd.Index(grids["grid_code"]).get_indexer(done["grid_code"])
    pts = np.asarray(done.geometry.array)
    dist = shapely.distance(pts, shapely.boundary(geoms[own]))
    assert np.array_equal(done["distance_to_boundary_m"].to_numpy(), np.round(dist, 3))
    pt, other = shapely.STRtree(geoms).query(pts, predicate="dwithin", distance=d)
    keep = other != own[pt]
    pt, other = pt[keep], other[keep]
    street = grids["street_code"].to_numpy()
    near = np.zeros(len(pts), dtype=bool)
    near[pt] = True
    near_street = np.zeros(len(pts), dtype=bool)
    near_street[pt[street[other] != street[own[pt]]]] = True
    assert near.any() and (~near).any() and near_street.any()
    assert np.array_equal(done["near_boundary"].to_numpy(), near)
    assert np.array_equal(done["near_street_boundary"].to_numpy(), near_street)
