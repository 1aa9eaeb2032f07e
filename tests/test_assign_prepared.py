"""PreparedAssign (the live intake's assignment) gives exactly what gl.assign gives, case by case and in batches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import gridlib as gl
from gridlib.assignment import PreparedAssign
from gridlib.live.demo import demo_store


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    store = demo_store(tmp_path_factory.mktemp("prepared"), n_cases=300)
    grids = gl.grid.GridSet.from_store(store, at=pd.Timestamp("2026-11-20"))
    layers = {k: store.read_layer(k) for k in ("responsibility", "components", "frontage_zones", "road_sections")}
    prepared = PreparedAssign(grids, components=layers["components"], zones=layers["frontage_zones"],
                              roads=layers["road_sections"], responsibility=layers["responsibility"]).warm()

    def number(v):
        try:
            return float(v)
        except (TypeError, ValueError):
            return v

    raw = pd.DataFrame(store.read_layer("cases")).to_dict("records")
    # as a client sends them: numbers where the text is one, None where missing (the planted bad rows stay bad)
    cases = [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()} for r in raw]
    cases = [{**c, "lon": number(c["lon"]), "lat": number(c["lat"])} for c in cases]
    return prepared, cases, layers


def _reference(prepared, cases, crs="EPSG:4326"):
    """gl.assign itself on the cases, as records (input order)."""
    done, bad = prepared._assign(list(cases), crs, "case_id")
    return [done[k] for k in sorted(done)], [bad[k] for k in sorted(bad)]


def test_demo_cases_one_by_one_and_in_batches_equal_gl_assign(demo):
    prepared, cases, _ = demo
    assert len(prepared._fast(cases, "EPSG:4326", "case_id")[0]) >= 0.9 * len(cases)   # the fast path is taken
    want_done, want_bad = _reference(prepared, cases)
    assert len(want_done) >= 250 and want_bad    # the demo's planted bad rows are rejected
    assert prepared.records(cases) == (want_done, want_bad)
    for size in (1, 7):
        got_done, got_bad = [], []
        for start in range(0, len(cases), size):
            done, bad = prepared.records(cases[start:start + size])
            got_done += done
            got_bad += bad
        assert got_done == want_done and got_bad == want_bad
    bases = {d["responsibility_basis"] for d in want_done}
    assert {"grid_team", "frontage_zone"} <= bases and len(bases) >= 3


@pytest.mark.filterwarnings("ignore:the coordinates look like undeclared GCJ-02")  # the reference, 20+ cases at few points
def test_bad_and_unusual_cases_get_gl_assigns_answer(demo):
    prepared, cases, layers = demo
    good = [c for c in cases if isinstance(c["lon"], float) and c["class_code"]][:12]
    comp = layers["components"].to_crs(4326).iloc[3]
    g = dict(good[0], component_id=None)
    batch = [
        {**g, "case_id": "dup"}, {**good[1], "case_id": "dup"},             # both clean, the second repeats
        {**good[2], "case_id": "nul"}, {**good[3], "case_id": "nul\x00"},   # the same id once NULs are dropped
        {**g, "case_id": "  "}, {**g, "case_id": 7}, {**g, "case_id": None},
        {**g, "case_id": "nolon", "lon": None}, {**g, "case_id": "textlon", "lon": "east"},
        {**g, "case_id": "far", "lon": 500.0}, {**g, "case_id": "swap", "lon": g["lat"], "lat": g["lon"]},
        {**g, "case_id": "null_island", "lon": 0.0, "lat": 0.0}, {**g, "case_id": "bool", "lon": True},
        {**g, "case_id": "unknown_class", "class_code": "99999"}, {**g, "case_id": "kind", "kind": "thing"},
        {**g, "case_id": "no_kind", "kind": None}, {**g, "case_id": "no_class", "class_code": None},
        {**g, "case_id": "spaces", "class_code": " 06036 ", "kind": " event "},
        {**g, "case_id": "component", "kind": "component", "class_code": str(comp.get("class_code", "")),
         "component_id": str(comp["component_id"]), "lon": float(comp.geometry.x), "lat": float(comp.geometry.y)},
        {**g, "case_id": "int_component", "component_id": 12},
        *[{**c, "case_id": f"ok{k}"} for k, c in enumerate(good[4:])],
    ]
    want = _reference(prepared, batch)
    assert prepared.records(batch) == want
    for case in batch:
        assert prepared.records([case]) == _reference(prepared, [case])
    codes = {r["case_id"]: r["reason_code"] for r in want[1]}
    assert sorted(r["case_id"] for r in prepared._fast(batch, "EPSG:4326", "case_id")[1].values()) == [
        "kind", "null_island", "unknown_class"]   # clean records refused without gl.assign
    assert codes["dup"] == "duplicate_id" and codes["far"] == "coordinate_out_of_range"
    assert codes["null_island"] == "no_grid" and codes["unknown_class"] == "unknown_code"
    # GCJ-02 input: converted the same way
    gcj = []
    for c in good:
        lon, lat = gl.crs.wgs84_to_gcj02(c["lon"], c["lat"])
        gcj.append({**c, "lon": float(lon), "lat": float(lat)})
    assert prepared.records(gcj, crs="gcj02") == _reference(prepared, gcj, "gcj02")
    assert len(prepared._fast(gcj, "gcj02", "case_id")[0]) == len(gcj)


def test_a_whole_input_check_judges_the_whole_batch(demo):
    prepared, cases, _ = demo
    good = [c for c in cases if isinstance(c["lon"], float) and c["class_code"]][:1]
    metres = [{**good[0], "case_id": f"m{k}", "lon": 500000.0 + k, "lat": 3450000.0} for k in range(3)]
    # alone the metre coordinates are refused as a whole (CRSError); beside a good case each is a reject
    with pytest.raises(gl.errors.CRSError):
        gl.assign(pd.DataFrame(metres), prepared.gridset)
    with pytest.raises(gl.errors.CRSError):
        prepared.records(metres)
    assert prepared.records(good + metres) == _reference(prepared, good + metres)


def test_the_grid_pairs_kept_for_near_boundary_cases_do_not_grow_with_the_cases_taken():
    # a live service asks for the same grids' neighbours case after case: the pairs are found once and kept as one
    # pair of arrays (a list that grew by an entry per case made every later case concatenate all of them)
    import shapely

    from gridlib.assignment import _grid_pairs, _Reach

    def pairs(found):
        return sorted(zip(*(a.tolist() for a in found), strict=True))

    geoms = np.array([shapely.box(x, 0, x + 100, 100) for x in range(0, 500, 100)], dtype=object)
    tree, reach = shapely.STRtree(geoms), _Reach.empty(len(geoms))
    for _ in range(4):
        assert pairs(_grid_pairs(tree, geoms, np.array([2, 0]), 20.0, reach)) == [(0, 1), (0, 3), (1, 1)]
    assert pairs(_grid_pairs(tree, geoms, np.array([4, 2]), 20.0, reach)) == [(0, 3), (1, 1), (1, 3)]
    assert len(reach.pairs) == 2 and pairs(reach.pairs) == [(0, 1), (2, 1), (2, 3), (4, 3)]
    # the same pairs as without the kept ones
    assert pairs(_grid_pairs(tree, geoms, np.array([4, 2]), 20.0)) == [(0, 3), (1, 1), (1, 3)]


def test_points_on_and_near_grid_boundaries_one_by_one_equal_gl_assign(demo):
    # the one-case path (plain Python over the own grid's segments and the layers, PreparedAssign._few) against
    # gl.assign itself, where its decisions are closest: on vertices and edges, a few metres either side, at
    # T-junctions and on the coverage's outer edge, with classes of either rule and components by id
    import shapely

    prepared, cases, layers = demo
    rng = np.random.default_rng(7)
    grids = prepared.gridset.grids.to_crs(4326)
    rings = shapely.get_coordinates(shapely.boundary(grids.geometry.values[rng.choice(len(grids), 200)]))
    n = 1200
    k = rng.choice(len(rings) - 1, n)
    along = rng.choice([0.0, 0.0, 0.5, 0.3], (n, 1))          # vertices (corners, T-junctions), on edges
    offsets = rng.choice([0.0, 1e-6, 2e-5, 1e-4, 1.8e-4], (n, 2)) * rng.choice([-1, 1], (n, 2))   # 0 m to ~20 m off
    pts = rings[k] + along * (rings[k + 1] - rings[k]) + offsets
    comp = layers["components"]
    ids = comp["component_id"].astype(str).tolist()
    probe = [{"case_id": f"n{k}", "lon": float(x), "lat": float(y),
              "class_code": ["06012", "01001", "02001", "06036"][k % 4],
              **({"kind": "component", "component_id": ids[k % len(ids)]} if k % 9 == 0 else {})}
             for k, (x, y) in enumerate(pts)]
    assert len(prepared._fast(probe, "EPSG:4326", "case_id")[0]) >= 0.8 * len(probe)
    want = _reference(prepared, probe)
    got_done, got_bad = [], []
    for c in probe:
        done, bad = prepared.records([c])
        got_done += done
        got_bad += bad
    assert (got_done, got_bad) == want
    assert sum(d["near_boundary"] for d in want[0]) >= 500 and sum(d["near_street_boundary"] for d in want[0]) >= 50
