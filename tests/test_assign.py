"""gl.assign: responsibility rules, editions, conservation and bad input."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import gridlib as gl
from gridlib.assignment import BASES, assign, load_rules
from gridlib.errors import InputError

STREET_A, STREET_B = "410105001", "410105002"


@pytest.fixture(scope="module")
def grids():
    """Four 100 m grids in two streets, projected (EPSG:4547, Zhengzhou)."""
    x0, y0 = 500_000.0, 3_850_000.0
    codes = [f"{STREET_A}001001", f"{STREET_A}001002", f"{STREET_B}001001", f"{STREET_B}001002"]
    geoms = [shapely.box(x0 + 100 * i, y0, x0 + 100 * (i + 1), y0 + 100) for i in range(4)]
    g = gpd.GeoDataFrame({"grid_code": codes, "street_name": ["东风路街道"] * 2 + ["南阳路街道"] * 2},
                         geometry=geoms, crs=4547)
    return gl.GridSet.from_gdf(g, edition={"edition_id": "e2026", "valid_from": "2026-01-01"})


def pt(gs, dx, dy):
    return shapely.Point(500_000 + dx, 3_850_000 + dy)


def cases_frame(rows, crs=4547):
    df = pd.DataFrame(rows, columns=["case_id", "class_code", "kind", "component_id", "geometry"])
    return gpd.GeoDataFrame(df, geometry="geometry", crs=crs)


def test_levels_distance_and_near_boundary(grids):
    cases = cases_frame([
        ("c1", "06012", "event", None, pt(grids, 50, 50)),
        ("c2", "06012", "event", None, pt(grids, 195, 50)),   # 5 m from the street boundary
        ("c3", "06012", "event", None, pt(grids, 200, 50)),   # on it: smallest code wins
    ])
    done, rejects = assign(cases, grids)
    assert rejects.empty
    assert done["grid_code"].tolist() == [f"{STREET_A}001001", f"{STREET_A}001002", f"{STREET_A}001002"]
    assert done["street_code"].tolist() == [STREET_A] * 3
    assert done["community_code"].iloc[0] == f"{STREET_A}001"
    assert done["district_code"].iloc[0] == "410105"
    assert done["distance_to_boundary_m"].tolist() == [50.0, 5.0, 0.0]
    assert done["near_boundary"].tolist() == [False, True, True]
    assert done["near_street_boundary"].tolist() == [False, True, True]
    assert done["responsible_unit"].tolist() == ["东风路街道"] * 3
    assert set(done["responsibility_basis"]) == {"territory_fallback"}
    assert done.crs.to_epsg() == 4547


def test_rule_precedence_per_class(grids):
    comp_id = "41010501001000045"  # 2026 id: class 01001 (供水井盖)
    components = gpd.GeoDataFrame(
        {"component_id": [comp_id, "41010501001000046"], "owner_unit": ["水务集团", ""],
         "maintainer_unit": ["水务养护", "养护公司"]},
        geometry=[pt(grids, 20, 20), pt(grids, 60, 60)], crs=4547)
    zones = gpd.GeoDataFrame({"zone_id": ["z1"], "unit": ["门前商户"]},
                             geometry=[shapely.box(500_000, 3_850_000, 500_040, 3_850_040)], crs=4547)
    roads = gpd.GeoDataFrame({"section_id": ["r1"], "unit": ["保洁一中队"], "width_m": [20.0]},
                             geometry=[shapely.LineString([(500_000, 3_850_090), (500_400, 3_850_090)])], crs=4547)
    resp = pd.DataFrame({"level": ["street", "community", "grid"],
                         "code": [STREET_A, f"{STREET_B}001", f"{STREET_A}001002"],
                         "unit": ["东风路城管中队", "南阳社区", "网格一组"], "team": ["", "", "一组"]})
    cases = cases_frame([
        ("by_id", "01001", "component", comp_id, pt(grids, 30, 30)),         # owner, even inside a zone
        ("nearest", "01001", "component", None, pt(grids, 55, 55)),          # nearest same class: no owner
        ("ev_zone", "06012", "event", comp_id, pt(grids, 30, 30)),           # territory first: the zone
        ("ev_road", "06012", "event", None, pt(grids, 250, 95)),             # within 10 m of the road
        ("ev_grid", "06012", "event", None, pt(grids, 150, 50)),             # grid-level team
        ("ev_comm", "06012", "event", None, pt(grids, 250, 50)),             # community-level unit
        ("ev_street", "06012", "event", None, pt(grids, 60, 70)),            # street-level unit
        ("comp_none", "01001", "component", None, pt(grids, 350, 50)),       # no component: territory
        ("fault_ev", "01001", "event", comp_id, pt(grids, 30, 30)),          # 01xxx 事项 follow owner first
    ])
    done, rejects = assign(cases, grids, components=components, zones=zones, roads=roads,
                           responsibility=resp, component_radius_m=30)
    assert rejects.empty
    got = dict(zip(done["case_id"], zip(done["responsible_unit"], done["responsibility_basis"], strict=True),
                   strict=True))
    assert got == {
        "by_id": ("水务集团", "component_owner"),
        "nearest": ("养护公司", "component_maintainer"),
        "ev_zone": ("门前商户", "frontage_zone"),
        "ev_road": ("保洁一中队", "road_section"),
        "ev_grid": ("网格一组", "grid_team"),
        "ev_comm": ("南阳社区", "grid_team"),
        "ev_street": ("东风路城管中队", "grid_team"),
        "comp_none": ("南阳社区", "grid_team"),
        "fault_ev": ("水务集团", "component_owner"),
    }
    assert done.set_index("case_id").loc["ev_grid", "responsible_team"] == "一组"
    assert set(done["responsibility_basis"]) <= set(BASES)
    # a city overrides a class without code: street sweeping (06012) becomes owner first
    override = pd.concat([load_rules(), pd.DataFrame(
        {"kind": ["event"], "prefix": ["06012"], "rule": ["owner_first"]})], ignore_index=True)
    done2, _ = assign(cases, grids, components=components, zones=zones, roads=roads, responsibility=resp,
                      rules=override)
    assert done2.set_index("case_id").loc["ev_zone", "responsibility_basis"] == "component_owner"
    assert done2.set_index("case_id").loc["ev_road", "responsibility_basis"] == "road_section"


def test_rules_follow_the_edition_of_each_code(grids):
    """A CJ/T 214-2007 event 0102 is territory first (2007 table), not owner first (the 2026 rule for 事项 01xxx)."""
    comp_id = "41010501001000045"
    components = gpd.GeoDataFrame({"component_id": [comp_id], "owner_unit": ["水务集团"], "maintainer_unit": [""]},
                                  geometry=[pt(grids, 20, 20)], crs=4547)
    zones = gpd.GeoDataFrame({"zone_id": ["z1"], "unit": ["门前商户"]},
                             geometry=[shapely.box(500_000, 3_850_000, 500_040, 3_850_040)], crs=4547)
    cases = cases_frame([
        ("ev2007", "0102", "event", comp_id, pt(grids, 30, 30)),
        ("ev2026", "01002", "event", comp_id, pt(grids, 30, 30)),
    ])
    done, rejects = assign(cases, grids, components=components, zones=zones, check_classes=False)
    assert rejects.empty
    got = done.set_index("case_id")[["responsibility_rule", "responsibility_basis"]].to_dict("index")
    assert got["ev2007"] == {"responsibility_rule": "territory_first", "responsibility_basis": "frontage_zone"}
    assert got["ev2026"] == {"responsibility_rule": "owner_first", "responsibility_basis": "component_owner"}
    rules = gl.codes.responsibility_rules("cjt214-2007").set_index(["class_code", "kind"])["rule"]
    assert gl.codes.rule_of(["0102"], ["event"])[0] == "territory_first" != gl.codes.rule_of(["01002"], ["event"])[0]
    assert (gl.codes.rule_of(rules.index.get_level_values(0), rules.index.get_level_values(1)) == rules.to_numpy()).all()
    # a caller's table with an edition column is read the same way
    done2, _ = assign(cases, grids, components=components, zones=zones, check_classes=False, rules=load_rules())
    assert done2["responsibility_rule"].tolist() == ["territory_first", "owner_first"]


def test_rules_from_toml_and_errors(tmp_path):
    p = tmp_path / "rules.toml"
    p.write_text('[[rule]]\nkind = "event"\nclass_code = "06012"\nrule = "owner_first"\n', encoding="utf-8")
    assert load_rules(p).values.tolist() == [["event", "06012", "owner_first"]]
    with pytest.raises(InputError, match="not owner_first"):
        load_rules(pd.DataFrame({"kind": ["event"], "major_code": ["*"], "rule": ["whoever"]}))
    with pytest.raises(InputError, match="not found"):
        load_rules(tmp_path / "nope.csv")


def test_conservation_and_reasons(grids):
    wgs = grids.grids.geometry.centroid.to_crs(4326)
    lon, lat = float(wgs.x.iloc[0]), float(wgs.y.iloc[0])
    df = pd.DataFrame({
        "case_id": ["ok", "dup", "dup", "nan", "swap", "far", "badclass", "nokind", None],
        "class_code": ["06012", "06012", "06012", "06012", "06012", "06012", "99999", "06012", "06012"],
        "kind": ["event", "event", "event", "event", "event", "event", "event", "", "event"],
        "lon": [lon, lon, lon, np.nan, lat, 116.4, lon, lon, lon],
        "lat": [lat, lat, lat, lat, lon, 39.9, lat, lat, lat],
    }, index=[10, 11, 12, 13, 14, 15, 16, 17, 18])
    done, rejects = assign(df, grids)
    assert len(done) + len(rejects) == len(df)
    assert sorted(done.index.tolist() + rejects.index.tolist()) == df.index.tolist()
    assert done.index.tolist() == [10, 11, 17]
    assert done.loc[17, "responsibility_rule"] == "territory_first"  # kind filled from the catalogue
    reasons = rejects["reason"].tolist()
    assert reasons[0].startswith("duplicate id")
    assert "missing coordinate" in reasons[1] or "non-numeric" in reasons[1]
    assert reasons[2] == "probably swapped lon/lat"
    assert reasons[3] == "outside grid coverage"
    assert reasons[4] == "unknown class code 99999"
    assert reasons[5] == "missing id"
    # the rejects carry the rows as given
    assert rejects.loc[16, "lon"] == lon and rejects.loc[16, "class_code"] == "99999"


def test_gcj02_input_is_converted(grids):
    wgs = grids.grids.geometry.centroid.to_crs(4326)
    glon, glat = gl.crs.wgs84_to_gcj02(wgs.x.to_numpy(), wgs.y.to_numpy())
    df = pd.DataFrame({"case_id": ["a", "b", "c", "d"], "kind": ["event"] * 4, "lon": glon, "lat": glat})
    done, rejects = assign(df, grids, crs="gcj02")
    assert rejects.empty and done["grid_code"].tolist() == grids.grids["grid_code"].tolist()
    wrong, _ = assign(df, grids)  # undeclared GCJ-02 lands ~500 m off: outside these small grids
    assert len(wrong) < 4


def test_editions_by_report_time(grids):
    old = grids.grids.copy()
    old["grid_code"] = [f"{STREET_A}001001"] * 2 + [f"{STREET_B}001001"] * 2
    old = old.dissolve("grid_code", as_index=False)
    e2020 = gl.GridSet.from_gdf(old, edition={"edition_id": "e2020", "valid_from": "2020-01-01",
                                              "valid_to": "2026-01-01"})
    df = cases_frame([
        ("before", "06012", "event", None, pt(grids, 150, 50)),
        ("after", "06012", "event", None, pt(grids, 150, 50)),
        ("ancient", "06012", "event", None, pt(grids, 150, 50)),
    ])
    df["reported_at"] = ["2025-12-31 23:59:59", "2026-01-01 00:00:00", "2019-05-01 08:00:00"]
    done, rejects = assign(df, [e2020, grids], when="reported_at")
    assert done["grid_code"].tolist() == [f"{STREET_A}001001", f"{STREET_A}001002"]
    assert done["edition_id"].tolist() == ["e2020", "e2026"]
    assert done["grid_code_current"].tolist() == [f"{STREET_A}001002"] * 2
    assert rejects["reason"].tolist() == ["no grid edition valid at 2019-05-01 08:00:00"]
    with pytest.raises(InputError, match="when="):
        assign(df, [e2020, grids])


def test_rejects_non_frame_input(grids):
    with pytest.raises(InputError, match="DataFrame"):
        assign([(1, 2)], grids)


def test_random_conservation(grids):
    rng = np.random.default_rng(5)
    n = 3000
    df = cases_frame([(f"k{i}", "06012", "event", None, None) for i in range(n)])
    df["geometry"] = shapely.points(500_000 + rng.uniform(-50, 450, n), 3_850_000 + rng.uniform(-50, 150, n))
    df = df.set_geometry("geometry")
    done, rejects = assign(df, grids)
    assert len(done) + len(rejects) == n
    assert set(rejects["reason"]) == {"outside grid coverage"}
    ref = [next((c for c, g in sorted(zip(grids.grids.grid_code, grids.grids.geometry, strict=True))
                 if shapely.covers(g, p)), None) for p in df.geometry]
    got = dict(zip(done.index, done["grid_code"], strict=True))
    assert [got.get(i) for i in df.index] == ref


@pytest.mark.postgis
def test_in_database_assignment_matches_in_memory(pg_store, postgis_url):
    """PostGIS ST_Covers + the smallest-code tie rule = GridIndex, with planted edge/vertex points."""
    from gridlib.assignment import assign_in_db
    from gridlib.store import init_db

    init_db(postgis_url)  # applies sql/100_assign.sql if the session cluster predates it
    rng = np.random.default_rng(11)
    seeds = shapely.multipoints(rng.uniform(0, 1000, (120, 2)) + [500_000, 3_850_000])
    box = shapely.box(500_000, 3_850_000, 501_000, 3_851_000)
    cells = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=box)), box)
    # integer-coordinate squares next to the Voronoi block make exactly representable shared edges
    squares = [shapely.box(501_000 + 10 * i, 3_850_000, 501_010 + 10 * i, 3_850_010) for i in range(5)]
    geoms = np.concatenate([cells, squares])
    codes = [f"410105001{c:06d}" for c in rng.permutation(len(geoms))]
    grids = gpd.GeoDataFrame({"grid_code": codes}, geometry=geoms, crs=4547)
    vertices = shapely.get_coordinates(shapely.boundary(geoms))
    planted = np.vstack([vertices[::3], [[501_010, 3_850_005], [501_020, 3_850_010], [501_050, 3_850_000]],
                         rng.uniform(-20, 1070, (800, 2)) + [500_000, 3_850_000]])
    cases = gpd.GeoDataFrame({"case_id": [f"c{i:05d}" for i in range(len(planted))], "kind": "event"},
                             geometry=shapely.points(planted), crs=4547)
    pg_store.write_layer("grids", grids)
    pg_store.write_layer("cases", cases)
    in_db = assign_in_db(pg_store, "cases", "grids")
    done, rejects = assign(cases, grids)
    memory = dict(zip(done["case_id"], done["grid_code"], strict=True))
    assert len(in_db) == len(cases)
    assert [memory.get(c) for c in in_db["case_id"]] == in_db["grid_code"].tolist()
    assert set(rejects["reason"]) == {"outside grid coverage"}
    d = dict(zip(done["case_id"], done["distance_to_boundary_m"], strict=True))
    inside = in_db["grid_code"].notna()
    assert np.allclose([d[c] for c in in_db["case_id"][inside]],
                       in_db["distance_to_boundary_m"][inside].astype(float), atol=1e-3)


def test_dask_local_cluster_gives_identical_results(grids):
    dask_geopandas = pytest.importorskip("dask_geopandas")
    distributed = pytest.importorskip("distributed")
    import dask

    rng = np.random.default_rng(9)
    n = 2000
    wgs = gpd.GeoSeries(shapely.points(500_000 + rng.uniform(-30, 430, n), 3_850_000 + rng.uniform(-30, 130, n)),
                        crs=4547).to_crs(4326)
    df = pd.DataFrame({"case_id": [f"d{i:05d}" for i in range(n)], "class_code": "06012", "kind": "event",
                       "lon": wgs.x.to_numpy(), "lat": wgs.y.to_numpy()})
    df.loc[5, "lon"] = np.nan
    df.loc[7, "case_id"] = "d00006"  # duplicate id inside one partition
    resp = pd.DataFrame({"level": ["street"], "code": [STREET_A], "unit": ["东风路城管中队"]})
    expected, expected_rejects = assign(df, grids, responsibility=resp)
    gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df.lon, df.lat), crs=4326)
    with distributed.LocalCluster(n_workers=2, processes=False, threads_per_worker=1,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster):
        for frame in (dask_geopandas.from_geopandas(gdf.drop(columns="geometry"), npartitions=4),
                      dask_geopandas.from_geopandas(gdf, npartitions=3)):
            done, rejects = gl.assign(frame, grids, responsibility=resp)
            done, rejects = dask.compute(done, rejects)
            cols = ["case_id", "grid_code", "street_code", "responsible_unit", "responsibility_basis",
                    "distance_to_boundary_m", "near_boundary"]
            pd.testing.assert_frame_equal(done[cols].sort_index(), expected[cols].sort_index(),
                                          check_dtype=False)
            assert done.crs.to_epsg() == 4547
            assert rejects.sort_index()["reason"].tolist() == expected_rejects["reason"].tolist()
            assert rejects.sort_index()["reason_code"].tolist() == expected_rejects["reason_code"].tolist()
            assert "reason_code" not in done.columns and "field" in rejects.columns
            assert len(done) + len(rejects) == n


def test_cli_assign_writes_both_layers_and_counts(grids, tmp_path, capsys):
    from gridlib.cli import main

    store = gl.store.open(tmp_path / "city.gpkg")
    grids.to_store(store)
    store.close()
    centre = grids.grids.geometry.centroid.to_crs(4326)
    glon, glat = gl.crs.wgs84_to_gcj02(centre.x.to_numpy(), centre.y.to_numpy())
    df = pd.DataFrame({"case_id": ["a", "b", "c", "d", "e"], "class_code": ["06012"] * 4 + ["99999"],
                       "kind": ["event"] * 5, "lon": [*glon, 120.0], "lat": [*glat, 30.0]})
    df.to_csv(tmp_path / "cases.csv", index=False)
    out = tmp_path / "out.gpkg"
    code = main(["assign", str(tmp_path / "cases.csv"), "--store", str(tmp_path / "city.gpkg"),
                 "--out", str(out), "--crs", "gcj02"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "5 cases in, 4 assigned, 1 rejected" in printed.out
    assert "1  unknown_code: a code is not in the catalogue" in printed.out  # summarised by reason_code (issue 16 item 7)
    done = gpd.read_file(out, layer="assigned")
    assert sorted(done["grid_code"]) == sorted(grids.grids["grid_code"])
    assert gpd.read_file(out, layer="rejects")["reason"].tolist() == ["unknown class code 99999"]


@pytest.mark.postgis
def test_in_database_matches_in_memory_on_bundled_demo_grids(pg_store, postgis_url):
    from gridlib.assignment import assign_in_db
    from gridlib.datasets import demo_grids
    from gridlib.store import init_db

    init_db(postgis_url)
    grids = demo_grids()
    rng = np.random.default_rng(4)
    vertices = shapely.get_coordinates(shapely.boundary(grids.geometry.values))
    minx, miny, maxx, maxy = grids.total_bounds
    pts = np.vstack([vertices[rng.choice(len(vertices), 1500, replace=False)],
                     np.c_[rng.uniform(minx - 50, maxx + 50, 1500), rng.uniform(miny - 50, maxy + 50, 1500)]])
    cases = gpd.GeoDataFrame({"case_id": [f"c{i:05d}" for i in range(len(pts))]},
                             geometry=shapely.points(pts), crs=grids.crs)
    pg_store.write_layer("grids", grids)
    pg_store.write_layer("cases", cases)
    in_db = assign_in_db(pg_store, "cases", "grids")
    done, _ = assign(cases, grids)
    memory = dict(zip(done["case_id"], done["grid_code"], strict=True))
    assert [memory.get(c) for c in in_db["case_id"]] == in_db["grid_code"].tolist()
    assert in_db["grid_code"].notna().sum() > 1500


@pytest.mark.postgis
def test_cli_assign_in_db(grids, postgis_url, tmp_path, capsys):
    from gridlib.cli import main
    from gridlib.store import init_db

    init_db(postgis_url)
    store = gl.store.open(postgis_url)  # the CLI uses the default schema
    if {"grids", "cases"} & set(store.layers()):
        pytest.skip("the default schema already holds grids/cases layers")
    store.write_layer("grids", grids.grids)
    try:
        centre = grids.grids.geometry.centroid.to_crs(4326)
        df = pd.DataFrame({"case_id": ["a", "b", "c", "d", "e"], "lon": [*centre.x, 120.0],
                           "lat": [*centre.y, 30.0]})
        df.to_csv(tmp_path / "cases.csv", index=False)
        code = main(["assign", str(tmp_path / "cases.csv"), "--store", postgis_url,
                     "--out", str(tmp_path / "out.gpkg"), "--in-db"])
        printed = capsys.readouterr()
        assert code == 0, printed.err
        assert "5 cases in, 4 assigned, 1 rejected" in printed.out
        assert "1  no_grid: the location is in no unit grid" in printed.out  # by reason_code (issue 16 item 7)
        rejected = gpd.read_file(tmp_path / "out.gpkg", layer="rejects")
        assert rejected[["case_id", "reason_code", "field"]].values.tolist() == [["e", "no_grid", "lon,lat"]]
        done = gpd.read_file(tmp_path / "out.gpkg", layer="assigned")
        assert sorted(done["grid_code"]) == sorted(grids.grids["grid_code"])
    finally:
        for layer in ("grids", "cases"):
            store.drop_layer(layer, missing_ok=True)
        store.close()


def test_undeclared_gcj02_is_detected(grids):
    rng = np.random.default_rng(8)
    pts = gpd.GeoSeries(shapely.points(500_000 + rng.uniform(0, 400, 200), 3_850_000 + rng.uniform(0, 100, 200)),
                        crs=4547).to_crs(4326)
    glon, glat = gl.crs.wgs84_to_gcj02(pts.x.to_numpy(), pts.y.to_numpy())
    df = pd.DataFrame({"case_id": [f"g{i}" for i in range(200)], "kind": "event", "lon": glon, "lat": glat})
    with pytest.warns(UserWarning, match="crs='gcj02'"):
        assign(df, grids)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        done, _ = assign(df, grids, crs="gcj02")  # declared: converted, no warning
        assert len(done) == 200
        honest = df.assign(lon=pts.x.to_numpy(), lat=pts.y.to_numpy())
        assert len(assign(honest, grids)[0]) == 200  # true WGS84: no warning


def test_grids_in_wgs84_are_indexed_once_in_their_metric_crs(grids):
    wgs = grids.grids.to_crs(4326)
    df = cases_frame([("w1", "06012", "event", None, pt(grids, 50, 50))])
    done, _ = assign(df, wgs)
    assert done["grid_code"].tolist() == [f"{STREET_A}001001"] and done.crs.to_epsg() == 4547
    from gridlib.assignment import index_for

    assert index_for(wgs, done.crs) is index_for(wgs, done.crs)


def test_near_boundary_flags_equal_brute_force():
    """The shared-edge shortcut gives exactly 'another grid / street within d' (Voronoi + T-junctions)."""
    rng = np.random.default_rng(12)
    seeds = shapely.multipoints(rng.uniform(0, 1000, (150, 2)) + [500_000, 3_850_000])
    box = shapely.box(500_000, 3_850_000, 501_000, 3_851_000)
    cells = list(shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=box)), box))
    # T-junctions: one wide square beside two half squares
    cells += [shapely.box(501_000, 3_850_000, 501_100, 3_850_100), shapely.box(501_100, 3_850_000, 501_150, 3_850_050),
              shapely.box(501_100, 3_850_050, 501_150, 3_850_100)]
    codes = [f"41010500{1 + (i % 3)}001{i:03d}" for i in range(len(cells))]
    grids = gpd.GeoDataFrame({"grid_code": codes}, geometry=cells, crs=4547)
    pts = np.c_[rng.uniform(-10, 1160, 4000), rng.uniform(-10, 1010, 4000)] + [500_000, 3_850_000]
    cases = gpd.GeoDataFrame({"case_id": [f"n{i}" for i in range(len(pts))]}, geometry=shapely.points(pts), crs=4547)
    for d in (5.0, 20.0, 60.0):
        done, _ = assign(cases, grids, near_boundary_m=d)
        own = grids.set_index("grid_code").geometry
        geoms = grids.geometry.values
        pt, other = shapely.STRtree(geoms).query(done.geometry.values, predicate="dwithin", distance=d)
        own_code = done["grid_code"].to_numpy()[pt]
        other_code = grids["grid_code"].to_numpy()[other]
        near = np.zeros(len(done), dtype=bool)
        near[pt[other_code != own_code]] = True
        street = np.zeros(len(done), dtype=bool)
        street[pt[np.array([a[:9] != b[:9] for a, b in zip(own_code, other_code, strict=True)], dtype=bool)]] = True
        assert (done["near_boundary"].to_numpy() == near).all(), d
        assert (done["near_street_boundary"].to_numpy() == street).all(), d
        assert len(own) == len(grids)


def test_assign_and_the_nightly_map_name_the_same_team(grids):
    """One lookup: a grid row with an empty unit does not count, in assign and in the nightly's grid map alike."""
    from gridlib.nightly.products import _responsible

    resp = pd.DataFrame({"level": ["street", "grid", "community"],
                         "code": [STREET_A, f"{STREET_A}001001", f"{STREET_B}001"],
                         "unit": ["东风路城管中队", "", "南阳社区"], "team": ["一中队", "空单位的组", ""]})
    cases = cases_frame([(f"c{i}", "06012", "event", None, pt(grids, 50 + 100 * i, 50)) for i in range(4)])
    done, _ = assign(cases, grids, responsibility=resp)
    g = grids.grids.assign(community_code=grids.grids["grid_code"].str[:12], street_code=grids.grids["grid_code"].str[:9])
    published = _responsible(g, resp).set_index("grid_code")
    by_grid = done.set_index("grid_code")
    for code in g["grid_code"]:
        unit, team = published.loc[code, ["responsible_unit", "team"]].fillna("")
        assert (unit, team) == (by_grid.loc[code, "responsible_unit"], by_grid.loc[code, "responsible_team"])
    assert published.loc[f"{STREET_A}001001", "team"] == "一中队"   # not the empty-unit row's team


def test_rejects_carry_codes_of_the_shared_model(grids):
    """Every reject has a reason_code from gridlib.rejects.CODES, a field and a reason; a defect that
    io.read_points also finds gets read_points' code, and the nightly needs no text matching."""
    wgs = grids.grids.geometry.centroid.to_crs(4326)
    lon, lat = float(wgs.x.iloc[0]), float(wgs.y.iloc[0])
    df = pd.DataFrame({
        "case_id": ["ok", "nan", "swap", "far", "badclass", "badkind", "dup", "dup"],
        "class_code": ["06012", "06012", "06012", "06012", "99999", "06012", "06012", "06012"],
        "kind": ["event", "event", "event", "event", "event", "thing", "event", "event"],
        "lon": [lon, np.nan, lat, 116.4, lon, lon, lon, lon],
        "lat": [lat, lat, lon, 39.9, lat, lat, lat, lat],
    })
    done, rejects = assign(df, grids)
    assert done["case_id"].tolist() == ["ok", "dup"]
    got = rejects.set_index("case_id")
    assert got.loc["nan", "reason_code"] == "missing_coordinate"
    assert got.loc["swap", "reason_code"] == "swapped_lon_lat"
    assert (got.loc["far", "reason_code"], got.loc["far", "field"]) == ("no_grid", "lon,lat")
    assert (got.loc["badclass", "reason_code"], got.loc["badclass", "field"]) == ("unknown_code", "class_code")
    assert got.loc["badclass", "reason"] == "unknown class code 99999"
    assert (got.loc["badkind", "reason_code"], got.loc["badkind", "field"]) == ("unknown_value", "kind")
    assert got.loc["dup", "reason_code"] == "duplicate_id"
    assert set(rejects["reason_code"]) <= set(gl.rejects.CODES)
    assert rejects["reason"].notna().all()
    # the same defect, the same code: what read_points says about these rows
    _, read = gl.io.read_points(df, id="case_id")
    mine = rejects.set_index("case_id")["reason_code"]
    for case_id, code in zip(read["case_id"], read["reason_code"], strict=True):
        assert mine[case_id] == code
    # the nightly counts assign's rejects by code, as they come
    assert gl.rejects.counts(rejects) == {"duplicate_id": 1, "missing_coordinate": 1, "no_grid": 1,
                                          "swapped_lon_lat": 1, "unknown_code": 1, "unknown_value": 1}
    from gridlib.nightly import pipeline

    assert not hasattr(pipeline, "_ASSIGN_CODES")
    assert pipeline.with_codes(rejects)["reason_code"].tolist() == rejects["reason_code"].tolist()


def test_no_edition_valid_is_no_grid_on_the_time_field(grids):
    df = cases_frame([("ancient", "06012", "event", None, pt(grids, 150, 50)),
                      ("now", "06012", "event", None, pt(grids, 150, 50))])
    df["reported_at"] = ["2019-05-01 08:00:00", "2026-05-01 08:00:00"]
    done, rejects = assign(df, grids, when="reported_at")
    assert done["case_id"].tolist() == ["now"]
    assert rejects[["reason_code", "field", "reason"]].values.tolist() == [
        ["no_grid", "reported_at", "no grid edition valid at 2019-05-01 08:00:00"]]


def test_road_near_a_case_but_none_within_its_half_width(grids):
    """Regression (fixed in 1b44a1d): a road section close enough to be a candidate of the
    search (within the widest section's half width) but farther than its own half width from
    every case made ``_roads_within`` index an empty array (IndexError)."""
    roads = gpd.GeoDataFrame(
        {"section_id": ["narrow", "wide"], "unit": ["窄路养护", "宽路养护"], "width_m": [4.0, 60.0]},
        geometry=[shapely.LineString([(500_000, 3_850_060), (500_100, 3_850_060)]),     # 10 m from the case
                  shapely.LineString([(500_300, 3_850_090), (500_400, 3_850_090)])],    # far from it
        crs=4547)
    case = cases_frame([("c1", "06012", "event", None, pt(grids, 50, 50))])
    done, rejects = assign(case, grids, roads=roads)
    assert rejects.empty
    assert done["responsibility_basis"].tolist() == ["territory_fallback"]
    assert done["responsible_unit"].tolist() == ["东风路街道"]
    # and a case within the narrow road's half width still goes to it
    on_road = cases_frame([("c2", "06012", "event", None, pt(grids, 50, 61))])
    done, _ = assign(on_road, grids, roads=roads)
    assert done[["responsible_unit", "responsibility_basis"]].values.tolist() == [["窄路养护", "road_section"]]


def test_the_steps_of_assign_each_do_one_thing(grids):
    """check → locate → responsibility → assemble, each callable on its own."""
    from gridlib import assignment as a

    df = cases_frame([("in", "06012", "event", None, pt(grids, 150, 50)),
                      ("out", "06012", "event", None, pt(grids, 900, 50)),
                      ("bad", "99999", "event", None, pt(grids, 50, 50))])
    g = a._check_grids(grids, None, None)
    checked = a._check(df, g, crs="EPSG:4326", id="case_id", when=None, check_classes=True, roads=None)
    assert len(checked.points) == 3 and checked.late.codes.tolist() == [None, None, "unknown_code"]
    located = a._locate(checked, g, near_boundary_m=20.0)
    assert checked.late.codes.tolist() == [None, "no_grid", "unknown_code"]
    assert located.keep.tolist() == [0] and located.distance.tolist() == [50.0]
    team = pd.DataFrame({"level": ["grid"], "code": [f"{STREET_A}001002"], "unit": ["二组"], "team": ["张三组"]})
    resp = a._responsibility(checked, located, g, rules=None, components=None, zones=None, roads=None,
                             responsibility=team, component_radius_m=30.0)
    values, codes = resp.columns["responsible_team"]
    assert values[codes].tolist() == ["张三组"]
    done, rejects = a._assemble(checked, located, resp, g)
    assert done["responsible_unit"].tolist() == ["二组"] and rejects["case_id"].tolist() == ["out", "bad"]


def test_assign_leaves_the_callers_frame_alone() -> None:
    """assign takes the cases' columns without copies where it can (read_points, the output frame, the CRS object
    swapped on its own points): the caller's frame, its values and its geometry array's CRS stay as they were,
    also after the output is written to."""
    grids = gl.datasets.demo_grids()
    x0, y0 = grids.geometry.values[0].representative_point().coords[0]
    cases = gpd.GeoDataFrame({"case_id": pd.array(["a", "b"], dtype="str"), "kind": ["event", "event"]},
                             geometry=shapely.points([(x0, y0), (x0 + 1e6, y0)]), crs=grids.crs.to_wkt())
    before, crs = cases.copy(deep=True), cases.geometry.array.crs
    done, rejects = assign(cases, grids)
    assert done["case_id"].tolist() == ["a"] and rejects["case_id"].tolist() == ["b"]
    assert done.crs.equals(grids.crs)
    done.loc[done.index[0], "case_id"] = "changed"
    pd.testing.assert_frame_equal(cases, before)
    assert cases.geometry.array.crs is crs
