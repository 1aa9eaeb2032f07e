"""Truck alerts of a case type become intake cases at once, in the case-event log (issue 17, item 4).

On the demo store (the fixture and fix feed of test_live_monitor): 沪D58067 leaves its route
(deviation) and 沪D93466 stops outside the sites (unpermitted_stop) before 22:20. The service's
own wiring (create_app + attach_monitor) takes the alerts' cases in through the intake path.
"""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

pytest.importorskip("fastapi")

from test_live_monitor import EARLY, _pairs, demo  # noqa: E402, F401  (the module's demo-store fixture)

import gridlib as gl  # noqa: E402
from gridlib.live.alert_cases import CASE_PREFIX  # noqa: E402
from gridlib.live.app import create_app  # noqa: E402
from gridlib.live.gateway import FixStore  # noqa: E402
from gridlib.live.monitor import attach_monitor  # noqa: E402
from gridlib.trucks.credit import load_deductions  # noqa: E402


def _feed(layers) -> pd.DataFrame:
    fx = layers["truck_fixes"]
    fed = fx[fx["vehicle_id"].isin(EARLY[:2]) & (pd.to_datetime(fx["time"]) < pd.Timestamp("2026-11-20 22:20"))]
    return fed.sort_values("time", kind="stable")


def _run(store_path, fixes_path, fed: pd.DataFrame | None, deductions=None):
    """One service life: the app over the store, the monitor attached (replaying the stored fixes), *fed* added."""
    store = gl.store.open(str(store_path))
    fixes = FixStore(fixes_path)
    app = create_app(store, fixes, at="2026-11-20")
    monitor = attach_monitor(app, store, fixes, interval_s=3600, deductions=deductions)
    try:
        if fed is not None:
            fixes.add(_pairs(fed))
    finally:
        monitor.stop()              # the last tick checks every stored fix
        fixes.close()
    return store, app, monitor


def _reported(store) -> pd.DataFrame:
    events = store.read_layer("case_events")
    return events[events["case_id"].str.startswith(CASE_PREFIX)]


def test_case_alerts_become_assigned_dispatched_cases_once(demo, tmp_path):  # noqa: F811
    work, _, layers = demo
    shutil.copy(work / "store.gpkg", tmp_path / "store.gpkg")
    fed = _feed(layers)
    store, app, monitor = _run(tmp_path / "store.gpkg", tmp_path / "fixes.sqlite", fed)
    opened = {a["alert_id"]: a for a in monitor.book.alerts.values()}
    assert {a["type"] for a in opened.values()} >= {"deviation", "unpermitted_stop"}
    rows = _reported(store)
    assert sorted(rows["case_id"]) == sorted(CASE_PREFIX + a for a in opened)     # every alert, once
    assert set(rows["stage"]) == {"reported"} and (rows["source"] == "truck_monitoring").all()

    # the case log as the nightly reads it: the cases, at the alerts' places, as gl.assign places them
    cases, rejects = gl.cases.read_event_log(store.read_layer("case_events"))
    assert len(rejects) == 0
    cases = cases.set_index("case_id").loc[sorted(rows["case_id"])]
    classes = load_deductions().set_index("type")
    ctx = app.state.ctx
    for cid, case in cases.iterrows():
        alert = opened[cid.removeprefix(CASE_PREFIX)]
        assert alert["case_id"] == cid                              # the alert record names its case
        assert (case["lon"], case["lat"]) == (alert["lon"], alert["lat"])
        assert case["class_code"] == classes.loc[alert["type"], "class_code"]
        # reported when the alert opened: the episode's end then (the fix completing its evidence)
        assert pd.Timestamp(alert["start"]) <= pd.Timestamp(case["reported_at"]) <= pd.Timestamp(alert["end"])
        one = pd.DataFrame({"case_id": [cid], "lon": [alert["lon"]], "lat": [alert["lat"]], "kind": ["event"],
                            "class_code": [case["class_code"]]})
        want, _ = gl.assign(one, ctx["gridset"], components=ctx["components"], zones=ctx["frontage_zones"],
                            roads=ctx["road_sections"], responsibility=ctx["responsibility"])
        row = rows[rows["case_id"] == cid].iloc[0]
        for col in ("grid_code", "street_code", "responsible_unit"):
            assert row[col] == want[col].iloc[0] and row[col] is not None, (cid, col)
        # the alert names the unit its case got (it used to be placed by grids and responsibility alone)
        assert ((row["grid_code"], row["street_code"], row["responsible_unit"], row["responsible_team"])
                == (alert["grid_code"], alert["street_code"], alert["responsible_unit"], alert["responsible_team"]))
    # stored alert records carry the case id too
    stored = store.read_layer("alerts")
    assert set(stored.loc[stored["event"] == "opened", "case_id"]) == set(rows["case_id"])

    # each got the intake's dispatch suggestion and step deadlines (the answer of POST /v1/cases)
    answers = app.state.alert_cases.answers
    assert sorted(answers) == sorted(rows["case_id"])
    for a in answers.values():
        assert a["dispatch"]["teams"] and {"dispatch", "arrive"} <= set(a["dispatch"]["due"])
        assert pd.Timestamp(a["dispatch"]["due"]["arrive"]) > pd.Timestamp(a["reported_at"])

    # a restart replays the stored fixes (and the same fixes arrive again): no second case
    n_events = len(store.read_layer("alerts"))
    store, app, monitor = _run(tmp_path / "store.gpkg", tmp_path / "fixes.sqlite", fed)
    assert len(store.read_layer("alerts")) == n_events
    assert sorted(_reported(store)["case_id"]) == sorted(rows["case_id"])
    assert app.state.alert_cases.counts["taken"] == 0


def test_alert_types_that_are_not_cases_create_none(demo, tmp_path):  # noqa: F811
    work, _, layers = demo
    shutil.copy(work / "store.gpkg", tmp_path / "store.gpkg")
    table = load_deductions()
    table.loc[table["type"] == "unpermitted_stop", "class_code"] = ""      # a stop is not a case in this city
    store, _, monitor = _run(tmp_path / "store.gpkg", tmp_path / "fixes.sqlite", _feed(layers), deductions=table)
    stops = [a for a in monitor.book.alerts.values() if a["type"] == "unpermitted_stop"]
    assert stops and all(a["case_id"] is None for a in stops)
    rows = _reported(store)
    assert len(rows) and not rows["case_id"].str.contains("unpermitted_stop").any()
    assert rows["class_code"].eq("08005").all()


def test_the_nightly_files_no_second_case_for_a_violation_taken_in_live(demo, tmp_path):  # noqa: F811
    """A violation the live service already filed (its alert carries a case id) is not filed again by the
    night's truck check: each violation is one case in the products, the live one where there is one."""
    import geopandas as gpd

    from gridlib.nightly import NightlyOptions, run_nightly

    work, _, layers = demo
    shutil.copy(work / "store.gpkg", tmp_path / "store.gpkg")
    store, _, monitor = _run(tmp_path / "store.gpkg", tmp_path / "fixes.sqlite", _feed(layers))
    live_ids = {a["case_id"] for a in monitor.book.alerts.values() if a.get("case_id")}
    assert live_ids
    manifest = run_nightly(store, "2026-11-21", tmp_path / "out", options=NightlyOptions(permutations=99))
    cases = gpd.read_file(tmp_path / "out" / "2026-11-21" / "responsibility_map.gpkg", layer="assigned_cases")
    truck = cases[cases["source"] == "truck_monitoring"]
    assert live_ids <= set(truck["case_id"])
    # every violation of the night is one case: the live one where an alert filed it, else the night's own
    violations = next(s for s in manifest["steps"] if s["name"] == "truck compliance")["rows_out"]
    assert len(truck) == violations
    step = next(s for s in manifest["steps"] if s["name"] == "violations to cases")
    assert step["notes"]["taken_in_live"] == len(live_ids)
    assert step["rows_in"] == violations - len(live_ids) and step["rejected"] == 0
