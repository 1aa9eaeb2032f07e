"""Credit points, violations → cases, CLI and maps."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import gridlib as gl
from gridlib.cli import app, main
from gridlib.errors import InputError
from gridlib.trucks.maps import deck_layers, vehicle_day_map
from gridlib.trucks.simulate import simulate_fleet

from .conftest import L_ROUTE, drive, l_sites, permit_frame


@pytest.fixture(scope="module")
def fleet(roads):
    return simulate_fleet(roads, 25, seed=8, hours=("08:00", "11:00"), deviation_share=0.5, dumping_share=0.3,
                          silence_share=0.2, no_permit_share=0.1, n_routes=20)


@pytest.fixture(scope="module")
def result(fleet):
    return gl.trucks.check(fleet.fixes, fleet.permits, fleet.sites)


def test_credit_totals_follow_the_table(result):
    table = gl.trucks.load_deductions().set_index("type")["points"]
    v = result.violations
    veh = result.credit.vehicles.set_index("vehicle_id")
    for vid, grp in v.groupby("vehicle_id"):
        assert veh.loc[vid, "points"] == grp["type"].map(table).sum()
        assert sorted(veh.loc[vid, "violation_ids"].split(",")) == sorted(grp["violation_id"])
    assert result.credit.companies["points"].sum() == veh["points"].sum()
    assert result.credit.vehicles["points"].is_monotonic_decreasing


def test_custom_deduction_table_and_bad_table():
    v = pd.DataFrame({"violation_id": ["a"], "vehicle_id": ["V"], "company": ["K"], "type": ["speeding"]})
    table = pd.DataFrame({"type": ["speeding"], "points": [10]})
    assert gl.trucks.credit(v, table).vehicles["points"].tolist() == [10]
    with pytest.raises(InputError, match="unknown violation types"):
        gl.trucks.credit(v, pd.DataFrame({"type": ["parking"], "points": [1]}))


def test_violations_become_valid_coded_cases(result):
    from gridlib.cases.log import read_log
    from gridlib.codes import lookup

    cases = gl.trucks.violations_to_cases(result.violations, county="310115")
    assert len(cases) == len(result.violations) > 0
    assert cases["case_id"].is_unique and cases["case_id"].str.match(r"^310115TM\d{8}\d{6}$").all()
    for code in cases["class_code"].unique():
        assert lookup(code, kind="event")["name_zh"] in ("施工废弃料", "积存垃圾渣土")
    log, rejects = read_log(cases)
    assert len(rejects) == 0 and len(log) == len(cases)
    assert (log["source"] == "truck_monitoring").all() and (log["status"] == "reported").all()
    # located on the violation: inside the simulated area, dumping cases at the stop
    assert cases["lon"].between(121.47, 121.53).all() and cases["lat"].between(31.22, 31.26).all()
    dump = cases[cases["class_code"] == "06011"]
    assert (dump["urgency"] == "urgent").all()
    # deterministic
    again = gl.trucks.violations_to_cases(result.violations, county="310115")
    pd.testing.assert_frame_equal(cases, again)
    with pytest.raises(InputError, match="6-digit"):
        gl.trucks.violations_to_cases(result.violations, county="3101")


def test_result_is_deterministic(fleet, result):
    again = gl.trucks.check(fleet.fixes, fleet.permits, fleet.sites)
    pd.testing.assert_frame_equal(pd.DataFrame(result.violations), pd.DataFrame(again.violations))


def test_cli_check_writes_layers_and_prints_counts(tmp_path, fleet):
    fleet.fixes.to_parquet(tmp_path / "fixes.parquet")
    fleet.permits.to_file(tmp_path / "permits.geojson")
    fleet.sites.to_file(tmp_path / "sites.geojson")
    out = tmp_path / "out.gpkg"
    r = CliRunner().invoke(app, ["trucks", "check", "--fixes", str(tmp_path / "fixes.parquet"), "--permits",
                                 str(tmp_path / "permits.geojson"), "--sites", str(tmp_path / "sites.geojson"),
                                 "--date", "2026-11-20", "--out", str(out), "--maps", "1",
                                 "--set", "min_duration_s=90"])
    assert r.exit_code == 0, r.output
    assert "violations:" in r.output and "deviation" in r.output and "unpermitted_stop" in r.output
    layers = set(gpd.list_layers(out)["name"])
    assert {"violations", "cases", "credit_vehicles", "credit_companies", "trips", "stops", "rejects"} <= layers
    v = gpd.read_file(out, layer="violations")
    assert len(v) > 0 and v.crs.to_epsg() == 4326
    assert len(list((tmp_path / "out_maps").glob("*.png"))) == 1
    assert main(["trucks", "check", "--fixes", str(tmp_path / "fixes.parquet"), "--permits",
                 str(tmp_path / "permits.geojson"), "--out", str(out), "--set", "nonsense=1"]) == 2


def test_cli_check_matches_deviations_to_roads(tmp_path, fleet, roads):
    fleet.fixes.to_parquet(tmp_path / "fixes.parquet")
    fleet.permits.to_file(tmp_path / "permits.geojson")
    roads.to_file(tmp_path / "roads.geojson")
    args = ["trucks", "check", "--fixes", str(tmp_path / "fixes.parquet"), "--permits", str(tmp_path / "permits.geojson"),
            "--out", str(tmp_path / "out"), "--match-roads"]
    assert main(args) == 2  # no --roads to match to
    r = CliRunner().invoke(app, [*args, "--roads", str(tmp_path / "roads.geojson")])
    assert r.exit_code == 0, r.output
    v = gpd.read_file(tmp_path / "out" / "violations.geojson")
    dev = v[v["type"] == "deviation"]
    assert len(dev) > 0 and dev["roads_matched"].notna().all()
    assert v.loc[v["type"] != "deviation", "roads_matched"].isna().all()


def test_vehicle_day_map_is_reproducible(tmp_path, result):
    vid = result.credit.vehicles["vehicle_id"].iloc[0]
    a = tmp_path / "a.png"
    b = tmp_path / "b.png"
    vehicle_day_map(result, vid, path=a)
    vehicle_day_map(result, vid, path=b)
    assert a.read_bytes() == b.read_bytes() and a.stat().st_size > 20_000
    with pytest.raises(InputError, match="no fixes"):
        vehicle_day_map(result, "nobody")


def test_deck_layers(result):
    ids = [layer.id for layer in deck_layers(result)]
    assert ids[0] == "truck_routes" and "truck_violations" in ids and "truck_stops" in ids


def test_unknown_threshold_is_an_error():
    fixes, _, _ = drive(L_ROUTE, "2026-11-20T09:00:00")
    with pytest.raises(InputError, match="unknown thresholds"), pytest.warns(DeprecationWarning):
        gl.trucks.check(fixes, permit_frame([{"permit_id": "P1", "vehicle_id": "V1"}], [L_ROUTE]), l_sites(),
                        corridor=20)
    with pytest.raises(InputError, match="unknown thresholds"):
        gl.trucks.Thresholds.from_mapping({"corridor": 20})
    with pytest.raises(TypeError):
        gl.trucks.Thresholds(corridor=20)
    with pytest.raises(InputError, match="finite number"):
        gl.trucks.Thresholds(gap_s=float("inf"))
    assert np.isfinite(gl.trucks.THRESHOLDS["min_length_m"])


def test_keyword_thresholds_still_work_but_warn():
    fixes, _, _ = drive(L_ROUTE, "2026-11-20T09:00:00")
    permits = permit_frame([{"permit_id": "P1", "vehicle_id": "V1"}], [L_ROUTE])
    with pytest.warns(DeprecationWarning, match="Thresholds"):
        old = gl.trucks.check(fixes, permits, l_sites(), min_length_m=0, min_duration_s=0)
    new = gl.trucks.check(fixes, permits, l_sites(), thresholds=gl.trucks.Thresholds(min_length_m=0, min_duration_s=0))
    pd.testing.assert_frame_equal(old.violations.drop(columns="geometry"), new.violations.drop(columns="geometry"))


def test_demo_night_matches_its_truth(demo_dir):
    """The colleague-built demo night (gl.demo) is found exactly: every planted event, nothing else."""
    import json

    truth = pd.DataFrame(json.loads((demo_dir / "truth.json").read_text())["truck_events"])
    dup = truth[truth["type"] == "duplicate_fix"]
    truth = truth[truth["type"] != "duplicate_fix"]
    r = gl.trucks.check(str(demo_dir / "fixes.parquet"), str(demo_dir / "permits.geojson"), str(demo_dir / "sites.geojson"),
                        roads=gl.datasets.demo_roads())
    assert (r.rejects["reason"] == "duplicate time").sum() == int(dup["count"].sum())
    found = r.violations.sort_values(["vehicle_id", "type"]).reset_index(drop=True)
    truth = truth.sort_values(["vehicle_id", "type"]).reset_index(drop=True)
    assert found[["vehicle_id", "type"]].values.tolist() == truth[["vehicle_id", "type"]].values.tolist()
    # start within one fix (the demo samples every 10-30 s)
    lag = (found["start"] - pd.to_datetime(truth["start"])).abs()
    assert (lag <= pd.Timedelta(seconds=30)).all(), lag
    dev = found["type"] == "deviation"
    assert (found.loc[dev, "roads"].str.len() > 0).all()


@pytest.mark.parametrize("workers", [1, 2])
def test_vehicle_chunks_and_threads_give_the_same_answer(fleet, result, workers):
    small = gl.trucks.check(fleet.fixes, fleet.permits, fleet.sites, chunk_fixes=5_000, workers=workers)
    pd.testing.assert_frame_equal(pd.DataFrame(small.violations), pd.DataFrame(result.violations))
    pd.testing.assert_frame_equal(pd.DataFrame(small.stops), pd.DataFrame(result.stops))
    pd.testing.assert_frame_equal(pd.DataFrame(small.trips), pd.DataFrame(result.trips))
    for key, arr in result.per_fix.items():  # bit for bit, route distances included
        np.testing.assert_array_equal(small.per_fix[key], arr)



@pytest.mark.parametrize("shuffled", [False, True])
def test_vehicle_groups_without_details_give_the_same_answer(fleet, shuffled):
    """Without details the fixes are read and cleaned a group of vehicles at a time: violations, rejects (a missing
    id, a missing time, a duplicate time, a jump) and credit are those of the whole read at once."""
    fixes = fleet.fixes.copy()
    fixes.loc[3, "vehicle_id"] = None
    fixes.loc[40, "time"] = pd.NaT
    fixes.loc[101, "time"] = fixes.loc[100, "time"]
    fixes.loc[205, "lon"] += 0.5
    if shuffled:  # groups are then rows picked, not slices
        fixes = fixes.sample(frac=1, random_state=1)
    whole = gl.trucks.check(fixes, fleet.permits, fleet.sites, details=False)
    grouped = gl.trucks.check(fixes, fleet.permits, fleet.sites, details=False, chunk_fixes=500)
    assert len(fixes) > 4 * 500 * 3
    pd.testing.assert_frame_equal(pd.DataFrame(grouped.violations), pd.DataFrame(whole.violations))
    pd.testing.assert_frame_equal(grouped.rejects, whole.rejects)
    assert set(whole.rejects["reason_code"]) >= {"missing_id", "missing_time", "duplicate_time", "speed_outlier"}
    pd.testing.assert_frame_equal(grouped.credit.vehicles, whole.credit.vehicles)
    pd.testing.assert_frame_equal(grouped.credit.companies, whole.credit.companies)
    np.testing.assert_array_equal(grouped.fixes.vehicle_ids, whole.fixes.vehicle_ids)

def test_empty_fixes(fleet):
    empty = fleet.fixes.iloc[:0]
    r = gl.trucks.check(empty, fleet.permits, fleet.sites)
    assert r.violations.empty and r.trips.empty and r.stops.empty and len(r.rejects) == 0
    assert len(gl.trucks.violations_to_cases(r.violations)) == 0 and r.credit.vehicles.empty


def test_parts_of_whole_vehicles_give_the_answer_of_the_joined_table(fleet):
    """Fixes given as an iterator of parts (whole vehicles each; checked a part at a time without details) give the
    violations, rejects (indexed by the parts' labels) and credit of the joined table; a vehicle in two parts is
    refused."""
    fixes = fleet.fixes.sort_values("vehicle_id", kind="stable").reset_index(drop=True)
    fixes.index = fixes.index * 10 + 7  # labels that are not positions
    fixes.loc[37, "vehicle_id"] = None
    fixes.loc[407, "time"] = pd.NaT
    fixes.loc[1017, "time"] = fixes.loc[1007, "time"]
    fixes.loc[2057, "lon"] += 0.5
    whole = gl.trucks.check(fixes, fleet.permits, fleet.sites, details=False)
    ids = fixes["vehicle_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    cuts = [0, *starts[np.searchsorted(starts, [1500, 3000, 4500])].tolist(), len(fixes)]
    parts = [fixes.iloc[a:b] for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    assert len(parts) == 4 and all(len(p) for p in parts)
    grouped = gl.trucks.check(iter(parts), fleet.permits, fleet.sites, details=False, chunk_fixes=500)
    pd.testing.assert_frame_equal(pd.DataFrame(grouped.violations), pd.DataFrame(whole.violations))
    pd.testing.assert_frame_equal(grouped.rejects, whole.rejects)
    assert set(whole.rejects["reason_code"]) >= {"missing_id", "missing_time", "duplicate_time", "speed_outlier"}
    pd.testing.assert_frame_equal(grouped.credit.vehicles, whole.credit.vehicles)
    joined = gl.trucks.check(iter(parts), fleet.permits, fleet.sites)  # with details: the parts joined first
    pd.testing.assert_frame_equal(pd.DataFrame(joined.violations), pd.DataFrame(whole.violations))
    split = starts[np.searchsorted(starts, 1500)] - 5  # inside a vehicle's fixes
    with pytest.raises(InputError, match="two parts"):
        gl.trucks.check(iter([fixes.iloc[:split], fixes.iloc[split:]]), fleet.permits, fleet.sites, details=False)
