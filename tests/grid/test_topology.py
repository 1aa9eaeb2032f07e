"""gridlib.grid.topology: segments, shared edges and distances agree with shapely."""

from __future__ import annotations

import numpy as np
import shapely

from gridlib.datasets import demo_grids
from gridlib.grid.topology import point_segment_distance, topology
from gridlib.index import GridIndex


def _shapes() -> np.ndarray:
    """Boxes sharing edges, a T-junction, a polygon with a hole, a multipolygon, a repeated vertex."""
    holed = shapely.Polygon([(30, 0), (50, 0), (50, 20), (30, 20)], [[(35, 5), (45, 5), (45, 15), (35, 15)]])
    multi = shapely.MultiPolygon([shapely.box(60, 0, 70, 10), shapely.box(75, 0, 85, 10)])
    repeated = shapely.Polygon([(0, 20), (10, 20), (10, 20), (10, 30), (0, 30)])
    return np.array([shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10), shapely.box(0, 10, 20, 20),
                     holed, multi, repeated], dtype=object)


def test_boundary_distance_is_shapely_bit_for_bit():
    geoms = _shapes()
    rng = np.random.default_rng(3)
    grid = rng.integers(0, len(geoms), 20_000)
    x, y = rng.uniform(-5, 90, len(grid)), rng.uniform(-5, 35, len(grid))
    # vertices and edge midpoints exactly, where ties between segments are exact
    coords = shapely.get_coordinates(geoms)
    x[:len(coords)], y[:len(coords)] = coords[:, 0], coords[:, 1]
    dist, _, _ = topology(geoms).boundary_distance(x, y, grid)
    assert np.array_equal(dist, shapely.distance(shapely.points(x, y), shapely.boundary(geoms[grid])))


def test_point_segment_distance_matches_geos():
    rng = np.random.default_rng(5)
    p, a, b = (rng.uniform(3.4e6, 3.4e6 + 200, (5000, 2)) for _ in range(3))
    b[:50] = a[:50]  # zero-length segments
    ours = point_segment_distance(p[:, 0], p[:, 1], a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    lines = shapely.linestrings(np.stack([a, b], axis=1))
    assert np.array_equal(ours, shapely.distance(shapely.points(p), lines))


def test_shared_edges_and_neighbours_within_reach():
    t = topology(_shapes())
    a, b = t.shared_edges()
    # 0|1 share x=10; the long top edge of 2 meets 0 and 1 in a T-junction: shared by neither
    assert list(zip(a.tolist(), b.tolist(), strict=True)) == [(0, 1)]
    assert t.coverage_edge.tolist() == [True] * 6
    _, pt, other = t.boundary_distance([9.0, 5.0], [5.0, 5.0], [0, 0], reach=2.0)
    assert pt.tolist() == [0] and other.tolist() == [1]


def test_demo_shared_edges_are_rook_neighbours():
    grids = demo_grids()
    geoms = np.asarray(grids.geometry.array)
    t = GridIndex(grids).topology
    a, b = t.shared_edges()
    assert len(a) > len(grids)  # a real coverage: most grids share edges with several neighbours
    line = shapely.intersection(geoms[a], geoms[b])
    assert (shapely.length(line) > 0).all()  # every pair shares a stretch of boundary, not a point
    # partners are mutual: the grid across is the segment's own grid seen from the other side
    s = np.flatnonzero(t.partner >= 0)
    assert np.isin(t.seg_grid[s], t.seg_grid[t.partner >= 0]).all()
    assert (t.partner[s] != t.seg_grid[s]).all()


def test_a_few_points_take_the_flat_pass_with_the_same_answers():
    """The live intake asks for one point at a time: the flat pass gives the bulk pass's distances and pairs."""
    import gridlib as gl

    g = gl.datasets.demo_grids()
    t = topology(g.geometry.values)
    rng = np.random.default_rng(0)
    minx, miny, maxx, maxy = g.total_bounds
    x, y = rng.uniform(minx, maxx, 1500), rng.uniform(miny, maxy, 1500)
    point, grid = shapely.STRtree(g.geometry.values).query(shapely.points(x, y), predicate="within")
    x, y = x[point], y[point]
    for reach in (None, 30.0):
        bulk = t.boundary_distance(x, y, grid, reach)
        dist, pairs = np.empty(len(x)), set()
        for s in range(0, len(x), 5):
            d, p, o = t.boundary_distance(x[s:s + 5], y[s:s + 5], grid[s:s + 5], reach)
            dist[s:s + 5] = d
            pairs |= set(zip((p + s).tolist(), o.tolist(), strict=True))
        assert np.array_equal(dist, bulk[0])
        assert np.array_equal(dist, shapely.distance(shapely.points(x, y), shapely.boundary(g.geometry.values[grid])))
        assert pairs == set(zip(bulk[1].tolist(), bulk[2].tolist(), strict=True))


def test_bulk_distances_and_pairs_exact_at_projected_coordinates():
    """The bulk pass works in float32 relative to each grid's corner: at projected coordinates (millions of
    metres), on vertices, on edge midpoints, a hair off them and at exactly ``reach`` from a shared edge, its
    distances are shapely's bit for bit and its pairs those of GEOS' formula over every shared edge."""
    g = demo_grids()
    geoms = np.asarray(g.geometry.array)
    t = topology(geoms)
    rng = np.random.default_rng(11)
    seg = rng.integers(0, len(t.ax), 4000)
    f = rng.uniform(0, 1, len(seg))
    nudge = rng.choice([0.0, 1e-9, -1e-9, 1e-7, 1e-4], len(seg))
    x = np.concatenate([t.ax[seg] + nudge, t.ax[seg] + f * (t.bx[seg] - t.ax[seg]), t.ax[seg] + 0.5 * (t.bx[seg] - t.ax[seg])])
    y = np.concatenate([t.ay[seg] - nudge, t.ay[seg] + f * (t.by[seg] - t.ay[seg]) + nudge, t.ay[seg] + 0.5 * (t.by[seg] - t.ay[seg])])
    grid = np.tile(t.seg_grid[seg], 3)
    # exactly `reach` from a segment, along its normal (up to rounding: both sides of the threshold occur)
    reach = 7.0
    dx, dy = t.bx[seg] - t.ax[seg], t.by[seg] - t.ay[seg]
    norm = np.hypot(dx, dy)
    ok = norm > 0
    mx, my = t.ax[seg] + f * dx, t.ay[seg] + f * dy
    x = np.concatenate([x, (mx - dy / np.where(ok, norm, 1) * reach * t.side[seg])[ok]])
    y = np.concatenate([y, (my + dx / np.where(ok, norm, 1) * reach * t.side[seg])[ok]])
    grid = np.concatenate([grid, t.seg_grid[seg][ok]])
    dist, pt, other = t.boundary_distance(x, y, grid, reach=reach)
    assert np.array_equal(dist, shapely.distance(shapely.points(x, y), shapely.boundary(geoms[grid])))
    # every (point, shared segment of its grid) by GEOS' formula
    start, count = t.seg_off[grid], t.seg_off[grid + 1] - t.seg_off[grid]
    owner = np.repeat(np.arange(len(x)), count)
    s = np.repeat(start - (np.cumsum(count) - count), count) + np.arange(int(count.sum()))
    near = point_segment_distance(x[owner], y[owner], t.ax[s], t.ay[s], t.bx[s], t.by[s]) <= reach
    keep = near & (t.partner[s] >= 0)
    want = set(zip(owner[keep].tolist(), t.partner[s[keep]].tolist(), strict=True))
    assert set(zip(pt.tolist(), other.tolist(), strict=True)) == want
    assert 0 < len({p for p, _ in want}) < len(x)


def _points_in(g, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = g.total_bounds
    x, y = rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)
    point, grid = shapely.STRtree(g.geometry.values).query(shapely.points(x, y), predicate="within")
    return x[point], y[point], grid


def test_segment_pairs_in_small_blocks_give_the_same_answers(monkeypatch):
    """segment_pairs and its readers work in blocks of a bounded number of pairs: a tiny budget (a block per
    point or two) gives what the default (one block here) gives."""
    import importlib

    from gridlib.assignment import _boundary_near

    topo_module = importlib.import_module("gridlib.grid.topology")   # gridlib.grid.topology is also the function

    g = demo_grids()
    t = topology(g.geometry.values)
    x, y, grid = _points_in(g, 400)
    whole = t.segment_pairs(x, y, grid)
    assert len(list(t.segment_pair_blocks(x, y, grid))) == 1
    assert len(list(t.segment_pair_blocks(x, y, grid, 7))) == len(x)     # every grid has more than 7 segments
    for small, default in zip(t.segment_pairs(x, y, grid, 7), whole, strict=True):
        assert np.array_equal(small, default)
    few = [t.boundary_distance(x[:20], y[:20], grid[:20], reach) for reach in (None, 30.0)]
    near = _boundary_near(t, x, y, (grid + 1) % len(g), 25.0)
    monkeypatch.setattr(topo_module, "_MAX_PAIRS", 40)
    assert len(list(t.segment_pair_blocks(x[:20], y[:20], grid[:20]))) > 5
    for reach, expected in zip((None, 30.0), few, strict=True):
        for got, want in zip(t.boundary_distance(x[:20], y[:20], grid[:20], reach), expected, strict=True):
            assert np.array_equal(got, want)
    assert np.array_equal(_boundary_near(t, x, y, (grid + 1) % len(g), 25.0), near)
    assert set(near.tolist()) >= {0, 1}                  # points near the other grid and points not


def test_points_beside_a_grid_of_many_vertices_take_bounded_memory():
    """A river's outline has tens of thousands of vertices: every point beside it pairs with all of them. The
    pairs are taken in blocks, so the memory does not grow with the points (all at once: 145 MB here, in blocks: 25 MB)."""
    import tracemalloc

    from gridlib.assignment import _boundary_near

    river = shapely.Point(0, 0).buffer(1000.0, quad_segs=12_500)     # 50,000 segments
    t = topology([river, shapely.box(1000, -50, 1100, 50)])
    assert t.seg_off[1] == 50_000
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-500, 500, 40), rng.uniform(-500, 500, 40)     # 40 x 50,000 = 2M pairs
    grid = np.zeros(40, dtype=np.int64)
    tracemalloc.start()
    try:
        dist, _, _ = t.boundary_distance(x[:32], y[:32], grid[:32], reach=30.0)   # the flat pass (few points)
        near = _boundary_near(t, x, y, grid, 700.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.array_equal(dist, shapely.distance(shapely.points(x[:32], y[:32]), river.boundary))
    assert np.array_equal(near != 0, shapely.distance(shapely.points(x, y), river.boundary) <= 700.0 + 1e-6)
    assert peak < 64e6, f"peak {peak / 1e6:.0f} MB"
