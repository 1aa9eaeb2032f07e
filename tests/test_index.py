"""GridIndex: exactness against the brute-force covers + smallest-code reference."""

from __future__ import annotations

import json
import pickle
import threading
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridlib.errors import CRSError, InputError, ValidationError
from gridlib.grid.topology import Topology, topology
from gridlib.index import GridIndex


def reference(geoms, codes, x, y):
    """Brute force: every polygon that covers the point; the smallest code wins."""
    out = np.full(len(x), -1)
    pts = shapely.points(x, y)
    for i, p in enumerate(pts):
        hits = [j for j, g in enumerate(geoms) if shapely.covers(g, p)]
        if hits:
            out[i] = min(hits, key=lambda j: codes[j])
    return out


def frame(geoms, codes=None, crs=4547):
    codes = codes if codes is not None else [f"g{i:03d}" for i in range(len(geoms))]
    return gpd.GeoDataFrame({"grid_code": codes}, geometry=list(geoms), crs=crs)


@st.composite
def tilings(draw):
    """Integer rectangles from guillotine cuts, some dropped (gaps), one maybe holed."""
    w, h = draw(st.integers(2, 12)), draw(st.integers(2, 12))
    rects, todo = [], [(0, 0, w, h)]
    while todo:
        x0, y0, x1, y1 = todo.pop()
        can_x, can_y = x1 - x0 >= 2, y1 - y0 >= 2
        if (can_x or can_y) and len(rects) + len(todo) < 14 and draw(st.booleans()):
            if can_x and (not can_y or draw(st.booleans())):
                c = draw(st.integers(x0 + 1, x1 - 1))
                todo += [(x0, y0, c, y1), (c, y0, x1, y1)]
            else:
                c = draw(st.integers(y0 + 1, y1 - 1))
                todo += [(x0, y0, x1, c), (x0, c, x1, y1)]
        else:
            rects.append((x0, y0, x1, y1))
    geoms = [shapely.box(*r) for r in rects]
    keep = draw(st.lists(st.booleans(), min_size=len(geoms), max_size=len(geoms)))
    if not any(keep):
        keep[0] = True
    geoms = [g for g, k in zip(geoms, keep, strict=True) if k]
    big = [i for i, r in enumerate(geoms) if shapely.area(r) >= 9 and min(
        r.bounds[2] - r.bounds[0], r.bounds[3] - r.bounds[1]) >= 3]
    if big and draw(st.booleans()):
        i = draw(st.sampled_from(big))
        x0, y0, x1, y1 = (int(v) for v in geoms[i].bounds)
        hole = shapely.box(x0 + 1, y0 + 1, x1 - 1, y1 - 1)
        geoms[i] = shapely.Polygon(geoms[i].exterior.coords, [hole.exterior.coords])
        if draw(st.booleans()):
            geoms.append(hole)  # an island grid filling the hole
    # offset to realistic projected coordinates; integers stay exact in float64
    ox, oy = draw(st.sampled_from([(0, 0), (500_000, 3_800_000)]))
    geoms = [shapely.affinity.translate(g, ox, oy) for g in geoms]
    codes = draw(st.permutations([f"c{i:02d}" for i in range(len(geoms))]))
    return geoms, list(codes), (ox, oy, w, h)


def draw_points(data, extent, n_floats):
    """30 integer and half-integer points (they hit vertices and edges exactly; a margin reaches
    outside) and ``n_floats`` arbitrary ones."""
    ox, oy, w, h = extent
    xs = data.draw(st.lists(st.integers(-2, 2 * w + 2), min_size=30, max_size=30))
    ys = data.draw(st.lists(st.integers(-2, 2 * h + 2), min_size=30, max_size=30))
    fx = data.draw(st.lists(st.floats(-1, w + 1, allow_nan=False), min_size=n_floats, max_size=n_floats))
    fy = data.draw(st.lists(st.floats(-1, h + 1, allow_nan=False), min_size=n_floats, max_size=n_floats))
    return np.array([v / 2 for v in xs] + fx, dtype=float) + ox, np.array([v / 2 for v in ys] + fy, dtype=float) + oy


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tilings(), st.sampled_from([None, 0.25, 0.5, 1.0, 0.7, 3.0]), st.data())
def test_exact_on_edges_vertices_holes_and_outside(tiling, pixel_size, data):
    geoms, codes, (ox, oy, w, h) = tiling
    index = GridIndex(frame(geoms, codes), pixel_size=pixel_size)
    x, y = draw_points(data, (ox, oy, w, h), 10)
    expected = reference(geoms, codes, x, y)
    assert index.lookup(x, y).tolist() == expected.tolist()
    assert [index.lookup_one(a, b) for a, b in zip(x, y, strict=True)] == expected.tolist()


def test_points_on_edges_of_random_polygons():
    """Voronoi cells (non-axis-aligned edges); points planted on edges and at vertices."""
    rng = np.random.default_rng(7)
    seeds = shapely.multipoints(rng.uniform(0, 1000, (300, 2)) + [500_000, 3_800_000])
    box = shapely.box(500_000, 3_800_000, 501_000, 3_801_000)
    geoms = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=box)), box)
    codes = [f"{c:04d}" for c in rng.permutation(len(geoms))]
    coords = shapely.get_coordinates(shapely.boundary(geoms))
    t = rng.uniform(0, 1, len(coords) - 1)[:, None]
    on_edge = coords[:-1] + t * (coords[1:] - coords[:-1])
    pts = np.vstack([coords, on_edge, rng.uniform(-50, 1050, (2000, 2)) + [500_000, 3_800_000]])
    index = GridIndex(frame(geoms, codes))
    tree = shapely.STRtree(geoms)
    got = index.lookup(pts[:, 0], pts[:, 1])
    pt, poly = tree.query(shapely.points(pts), predicate="intersects")
    expected = np.full(len(pts), -1)
    for p, g in sorted(zip(pt.tolist(), poly.tolist(), strict=True), key=lambda pg: (pg[0], codes[pg[1]]),
                       reverse=True):
        expected[p] = g
    assert (got == expected).all()
    assert (got >= 0).sum() > len(coords)


def test_shared_edge_goes_to_smallest_code_not_first_row():
    g = frame([shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)], ["z", "a"])
    index = GridIndex(g)
    assert index.codes([10.0, 10.0, 5.0], [5.0, 10.0, 5.0]).tolist() == ["a", "a", "z"]
    # Python's string order is by code point (UTF-16 order would put the emoji first)
    g = frame([shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)], ["\U0001F600", "\uff21"])
    assert GridIndex(g).codes([10.0], [5.0]).tolist() == [min("\U0001F600", "\uff21")] == ["\uff21"]


def test_nan_inf_and_far_points_are_outside():
    index = GridIndex(frame([shapely.box(0, 0, 10, 10)]))
    assert index.lookup([np.nan, np.inf, 1e300, 5.0], [5.0, 5.0, 5.0, np.nan]).tolist() == [-1, -1, -1, -1]
    assert index.lookup_one(float("nan"), 1.0) == -1
    assert index.codes([], []).tolist() == []


def test_multipolygon_grid():
    mp = shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(5, 5, 6, 6)])
    index = GridIndex(frame([mp, shapely.box(1, 0, 2, 1)]), pixel_size=0.3)
    assert index.lookup([0.5, 5.5, 3.0, 1.0], [0.5, 5.5, 3.0, 0.5]).tolist() == [0, 0, -1, 0]


def test_refuses_overlaps_invalid_duplicates_and_degrees():
    with pytest.raises(ValidationError, match="gridlib grid validate"):
        GridIndex(frame([shapely.box(0, 0, 10, 10), shapely.box(5, 5, 15, 15)]))
    with pytest.raises(ValidationError, match="overlap"):  # one grid inside another
        GridIndex(frame([shapely.box(0, 0, 10, 10), shapely.box(2, 2, 3, 3)]))
    bowtie = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    with pytest.raises(ValidationError, match="invalid"):
        GridIndex(frame([bowtie]))
    with pytest.raises(ValidationError, match="duplicate"):
        GridIndex(frame([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)], ["a", "a"]))
    with pytest.raises(CRSError, match="metric"):
        GridIndex(frame([shapely.box(113, 34, 113.001, 34.001)], crs=4326))
    with pytest.raises(InputError, match="no column"):
        GridIndex(frame([shapely.box(0, 0, 1, 1)]), code_column="code")
    with pytest.raises(ValidationError, match="polygons"):
        GridIndex(frame([shapely.Point(0, 0)]))


@st.composite
def layers_with_extras(draw):
    """A tiling plus extra grids that may overlap, touch, fill a gap, copy or reverse a grid."""
    geoms, codes, (ox, oy, w, h) = draw(tilings())
    for k in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["box", "box", "copy", "reversed", "shrunk"]))
        if kind == "box":
            x0, y0 = draw(st.integers(-1, w)), draw(st.integers(-1, h))
            extra = shapely.box(x0 + ox, y0 + oy, x0 + ox + draw(st.integers(1, 3)), y0 + oy + draw(st.integers(1, 3)))
        else:
            g = geoms[draw(st.integers(0, len(geoms) - 1))]
            extra = {"copy": g, "reversed": shapely.reverse(g),
                     "shrunk": shapely.buffer(g, -0.25, join_style="mitre")}[kind]
        if extra.is_empty or not extra.is_valid:
            continue
        geoms.append(extra)
        codes.append(draw(st.sampled_from(["a", "z"])) + f"x{k}")
    return geoms, codes, (ox, oy, w, h)


def overlapping_pairs(geoms):
    return [(i, j) for i in range(len(geoms)) for j in range(i + 1, len(geoms))
            if shapely.relate_pattern(geoms[i], geoms[j], "T********")]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers_with_extras(), st.sampled_from([None, 0.25, 0.7]), st.data())
def test_overlap_check_and_tie_rule_on_overlapping_grids(layer, pixel_size, data):
    """The overlap check refuses exactly the layers GEOS finds overlapping; with the check off,
    points in two or more grids still go to the smallest code."""
    geoms, codes, (ox, oy, w, h) = layer
    overlaps = overlapping_pairs(geoms)
    if overlaps:
        with pytest.raises(ValidationError, match=f"{len(overlaps)} pairs of grids overlap"):
            GridIndex(frame(geoms, codes), pixel_size=pixel_size)
    else:
        GridIndex(frame(geoms, codes), pixel_size=pixel_size)
    index = GridIndex(frame(geoms, codes), pixel_size=pixel_size, check_overlaps=False)
    x, y = draw_points(data, (ox, oy, w, h), 20)
    assert index.lookup(x, y).tolist() == reference(geoms, codes, x, y).tolist()


def test_overlap_check_finds_slivers_copies_and_nested_grids_in_a_city():
    """Voronoi cells (shared edges matched exactly) with one defect each time; a clean layer passes."""
    rng = np.random.default_rng(11)
    seeds = shapely.multipoints(rng.uniform(0, 2000, (500, 2)) + [500_000, 3_800_000])
    box = shapely.box(500_000, 3_800_000, 502_000, 3_802_000)
    geoms = list(shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=box)), box))
    GridIndex(frame(geoms))
    for defect in ([geoms[3]], [shapely.buffer(geoms[5], -3)], [shapely.reverse(geoms[9])],
                   [shapely.buffer(geoms[11], 1e-6)]):
        with pytest.raises(ValidationError, match="overlap"):
            GridIndex(frame(geoms + defect))
    # one shared vertex moved by 1 cm in one grid only: a sliver overlap one way, a gap the other
    others = np.array(geoms[:7] + geoms[8:])
    overlapped = []
    for shift in (0.01, -0.01):
        coords = shapely.get_coordinates(geoms[7])
        coords[[0, -1]] += shift
        moved = shapely.Polygon(coords)
        overlapped.append(int(shapely.relate_pattern(moved, others, "T********").sum()))
        if overlapped[-1]:
            with pytest.raises(ValidationError, match=f"{overlapped[-1]} pairs of grids overlap"):
                GridIndex(frame(geoms[:7] + [moved] + geoms[8:]))
        else:
            GridIndex(frame(geoms[:7] + [moved] + geoms[8:]))
    assert any(overlapped)


@pytest.mark.parametrize("d", [1e-7, 1e-6, 1e-4])
@pytest.mark.parametrize("swap_xy", [False, True])
def test_nearly_axis_parallel_edge_ending_on_another_grid(d, swap_xy):
    """A shared edge off horizontal (or vertical) by ``d`` m ends on grid c's side; the pixels
    along its line inside c must still answer c (a slope-scaled margin once marked them)."""
    a = shapely.Polygon([(0, 0), (10, 0), (10, 10 + d), (0, 10)])
    b = shapely.Polygon([(0, 10), (10, 10 + d), (10, 20), (0, 20)])
    geoms = [a, b, shapely.box(10, 0, 30, 20)]
    t = np.linspace(10, 30, 401)[1:-1]
    x, y = t, np.full_like(t, 10 + d / 2)
    if swap_xy:
        geoms = [shapely.orient_polygons(shapely.affinity.affine_transform(g, [0, 1, 1, 0, 0, 0])) for g in geoms]
        x, y = y, x
    geoms = [shapely.affinity.translate(g, 500_000, 3_800_000) for g in geoms]
    index = GridIndex(frame(geoms, ["a", "b", "c"]), pixel_size=1.0)
    x, y = x + 500_000, y + 3_800_000
    assert index.lookup(x, y).tolist() == reference(geoms, ["a", "b", "c"], x, y).tolist()


def test_needle_thin_grids_orientation_decided_by_geos():
    """Triangles so thin that the shoelace sum cannot tell their orientation in floating point."""
    geoms = [shapely.Polygon([(0, 0), (1, 1), (2, 2 + 1e-15)]), shapely.Polygon([(0, 1), (2, 3 + 1e-15), (1, 2)]),
             shapely.box(2, 0, 3, 1)]
    index = GridIndex(frame(geoms, ["b", "a", "c"]), pixel_size=0.1)
    coords = shapely.get_coordinates(geoms)
    pts = np.vstack([coords, (coords[:-1] + coords[1:]) / 2, [[1.0, 1.0000000001], [2.5, 0.5], [1.5, 0.2]]])
    assert index.lookup(pts[:, 0], pts[:, 1]).tolist() == reference(geoms, ["b", "a", "c"], pts[:, 0], pts[:, 1]).tolist()


def test_accepts_a_gridset_like_object():
    gridset = SimpleNamespace(grids=frame([shapely.box(0, 0, 10, 10)], ["x"]))
    assert GridIndex(gridset).code_one(1.0, 1.0) == "x"


@pytest.fixture(scope="module")
def voronoi_index():
    rng = np.random.default_rng(3)
    seeds = shapely.multipoints(rng.uniform(0, 2000, (400, 2)))
    box = shapely.box(0, 0, 2000, 2000)
    geoms = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=box)), box)
    return GridIndex(frame(geoms)), rng.uniform(-100, 2100, (20_000, 2))


def test_save_load_and_pickle_give_identical_answers(voronoi_index, tmp_path):
    index, pts = voronoi_index
    expected = index.lookup(pts[:, 0], pts[:, 1])
    loaded = GridIndex.load(index.save(tmp_path / "idx.npz"))
    assert (loaded.lookup(pts[:, 0], pts[:, 1]) == expected).all()
    assert (loaded.grid_codes == index.grid_codes).all()
    assert (pickle.loads(pickle.dumps(index)).lookup(pts[:, 0], pts[:, 1]) == expected).all()
    (tmp_path / "bad.npz").write_bytes(b"not an index")
    with pytest.raises(Exception):  # noqa: B017 - numpy raises its own error for a non-npz file
        GridIndex.load(tmp_path / "bad.npz")


def test_concurrent_readers_agree(voronoi_index):
    index, pts = voronoi_index
    expected = index.lookup(pts[:, 0], pts[:, 1])
    results, errors = {}, []

    def work(k):
        try:
            if k % 2:
                results[k] = index.lookup(pts[:, 0], pts[:, 1])
            else:
                results[k] = np.array([index.lookup_one(a, b) for a, b in pts[:3000]])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k, got in results.items():
        assert (got == expected[: len(got)]).all(), k


def test_lookup_rejects_mismatched_lengths(voronoi_index):
    with pytest.raises(InputError, match="differ"):
        voronoi_index[0].lookup([1.0, 2.0], [1.0])


def test_bundled_demo_grids_exact_at_every_vertex_and_edge():
    """The real Lujiazui demo grids (road-aware, irregular): every vertex, points on edges, random points."""
    from gridlib.datasets import demo_grids

    grids = demo_grids()
    index = GridIndex(grids)
    geoms = grids.geometry.values
    codes = grids["grid_code"].astype(str).to_numpy()
    rng = np.random.default_rng(2)
    coords = shapely.get_coordinates(shapely.boundary(geoms))
    t = rng.uniform(0, 1, len(coords) - 1)[:, None]
    minx, miny, maxx, maxy = grids.total_bounds
    pts = np.vstack([coords, coords[:-1] + t * (coords[1:] - coords[:-1]),
                     np.c_[rng.uniform(minx - 100, maxx + 100, 20_000), rng.uniform(miny - 100, maxy + 100, 20_000)]])
    pt, poly = shapely.STRtree(geoms).query(shapely.points(pts), predicate="intersects")
    order = np.lexsort((codes[poly], pt))
    pt, poly = pt[order], poly[order]
    first = np.r_[True, pt[1:] != pt[:-1]]
    expected = np.full(len(pts), -1)
    expected[pt[first]] = poly[first]
    assert (index.lookup(pts[:, 0], pts[:, 1]) == expected).all()
    multi = np.bincount(pt, minlength=len(pts)) > 1
    assert multi.sum() > 1000  # the shared-vertex/edge points really were ties


def _tie_rule_reference(geoms, codes, pts):
    pt, poly = shapely.STRtree(geoms).query(shapely.points(pts), predicate="intersects")
    order = np.lexsort((np.asarray(codes)[poly], pt))
    pt, poly = pt[order], poly[order]
    first = np.r_[True, pt[1:] != pt[:-1]]
    expected = np.full(len(pts), -1)
    expected[pt[first]] = poly[first]
    return expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.sampled_from([None, 2.0, 7.0]),
       st.sampled_from([0.0, 1e-12, 1e-9, 1e-6, 1e-3, 0.5]))
def test_one_segment_pixels_decide_by_the_side_of_their_segment(seed, pixel_size, offset):
    """Points just off (or exactly on) Voronoi edges, coverage edges and gaps, mostly in pixels one
    segment crosses: the orientation test there (or the exact test it defers to within rounding)
    answers as GEOS with the tie rule, in lookup and lookup_one."""
    rng = np.random.default_rng(seed)
    seeds = shapely.multipoints(rng.uniform(0, 1000, (60, 2)) + [500_000, 3_800_000])
    box = shapely.box(500_000, 3_800_000, 501_000, 3_801_000)
    geoms = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=box)), box)
    geoms = geoms[rng.uniform(size=len(geoms)) > 0.15]  # gaps: edges with no grid on one side
    codes = [f"{c:03d}" for c in rng.permutation(len(geoms))]
    index = GridIndex(frame(geoms, codes), pixel_size=pixel_size)
    coords = shapely.get_coordinates(shapely.boundary(geoms))
    a, b = coords[:-1], coords[1:]
    keep = np.hypot(*(b - a).T) > 1.0  # consecutive coordinates of one ring (the jumps between rings are long too)
    a, b = a[keep], b[keep]
    t = rng.uniform(0.05, 0.95, (len(a), 1))
    normal = (b - a)[:, ::-1] * [-1, 1] / np.hypot(*(b - a).T)[:, None]
    side = rng.choice([-1.0, 1.0], (len(a), 1))
    pts = a + t * (b - a) + side * offset * normal
    got = index.lookup(pts[:, 0], pts[:, 1])
    assert got.tolist() == _tie_rule_reference(geoms, codes, pts).tolist()
    assert [index.lookup_one(x, y) for x, y in pts[:300]] == got[:300].tolist()
    k = -2 - index._values(pts[:, 0], pts[:, 1]).astype(np.int64)
    assert ((k >= 0) & (k < index._split)).mean() > 0.5  # most took the one-segment test


def test_index_file_without_one_segment_pixels_still_loads(voronoi_index, tmp_path):
    """A file written before one-segment pixels existed (every boundary pixel a candidate list)."""
    index, pts = voronoi_index
    expected = index.lookup(pts[:, 0], pts[:, 1])
    old = GridIndex.__new__(GridIndex)
    old.__dict__.update(index.__dict__)
    pix = np.flatnonzero(index._raster.ravel() <= -2)
    k = -2 - index._raster.ravel()[pix].astype(np.int64)
    lists = [[int(index._rank[p]) for p in sorted({index._sleft[s], index._sright[s]} - {-1},
                                                   key=lambda p: index._rank[p])] if s < index._split
             else index._bcand[index._bstart[s - index._split]:index._bstart[s - index._split + 1]].tolist()
             for s in k.tolist()]
    old._bstart = np.concatenate([[0], np.cumsum([len(c) for c in lists])])
    old._bcand = np.array([r for c in lists for r in c], dtype=np.int32)
    old._raster = index._raster.copy()
    old._raster.ravel()[pix] = -2 - np.arange(len(pix), dtype=np.int32)
    old._split, old._sleft, old._sright = 0, None, None
    path = old.save(tmp_path / "old.npz")
    with np.load(path) as z:  # as the old writer: no segment codes, no per-segment sides
        arrays = {name: z[name] for name in z.files}
    meta = json.loads(str(arrays["meta"]))
    del meta["segment_codes"], meta["boundary_pixels"]
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)
    loaded = GridIndex.load(path)
    assert loaded._split == 0 and loaded._sleft is None
    assert (loaded.lookup(pts[:, 0], pts[:, 1]) == expected).all()
    assert [loaded.lookup_one(x, y) for x, y in pts[:500]] == expected[:500].tolist()


@pytest.mark.parametrize("mmap", [False, True])
def test_saved_topology_is_the_computed_one(voronoi_index, tmp_path, mmap):
    """A saved index holds its topology: loaded with it, the arrays equal those computed from the polygons, and a
    file written before the topology was saved still loads, computing it."""
    index, pts = voronoi_index
    path = index.save(tmp_path / "idx.npz")
    computed = topology(index._geoms)
    loaded = GridIndex.load(path, index._geoms, mmap=mmap, with_topology=True)
    for name in Topology.__dataclass_fields__:
        assert np.array_equal(getattr(loaded.topology, name), getattr(computed, name)), name
        assert getattr(loaded.topology, name).dtype == getattr(computed, name).dtype, name
    assert (loaded.lookup(pts[:, 0], pts[:, 1]) == index.lookup(pts[:, 0], pts[:, 1])).all()
    with np.load(path) as z:  # a topology of another version: computed again, not read
        arrays = {name: z[name] for name in z.files}
    meta = json.loads(str(arrays["meta"]))
    arrays["meta"] = np.array(json.dumps({**meta, "topology": meta["topology"] + 1}))
    arrays["topology_partner"] = np.full_like(arrays["topology_partner"], -1)
    np.savez(path, **arrays)
    other = GridIndex.load(path, index._geoms, mmap=mmap, with_topology=True)
    assert np.array_equal(other.topology.partner, computed.partner)
    with np.load(path) as z:  # as the writer before the topology: none of its arrays
        np.savez(path, **{name: z[name] for name in z.files if not name.startswith("topology_")})
    old = GridIndex.load(path, index._geoms, mmap=mmap, with_topology=True)
    assert np.array_equal(old.topology.partner, computed.partner)
    assert (old.lookup(pts[:, 0], pts[:, 1]) == index.lookup(pts[:, 0], pts[:, 1])).all()
