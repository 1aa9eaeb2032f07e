"""The synthetic case log: schema, codes, places, rhythms, workflow and the planted bad records."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

import gridlib as gl
from gridlib.demo.cases import COLUMNS, HOTSPOTS


@pytest.fixture(scope="module")
def raw(demo_dir: Path) -> pd.DataFrame:
    return pd.read_csv(demo_dir / "cases.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def truth(demo_dir: Path) -> dict:
    return json.loads((demo_dir / "truth.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def good(raw: pd.DataFrame, truth: dict) -> pd.DataFrame:
    bad = {b["case_id"] for b in truth["bad_cases"]}
    frame = raw[~raw["case_id"].isin(bad)].copy()
    for col in COLUMNS:
        if col.endswith("_at"):
            frame[col] = pd.to_datetime(frame[col].replace("", None))
    frame["lon"], frame["lat"] = frame["lon"].astype(float), frame["lat"].astype(float)
    return frame


def test_schema_volume_and_ids(raw: pd.DataFrame, truth: dict) -> None:
    assert list(raw.columns) == COLUMNS
    n_dup = sum(b["problem"] == "duplicate_id" for b in truth["bad_cases"])
    assert len(raw) == 15_000 + n_dup
    assert raw["case_id"].duplicated().sum() == n_dup
    assert raw["case_id"].str.fullmatch(r"LJZ2026\d{8}").all()


def test_class_codes_are_valid_2026_codes_with_the_right_kind(good: pd.DataFrame) -> None:
    cat = gl.codes.catalogue()
    events = set(cat.loc[cat["kind"] == "event", "class_code"])
    assert good["class_code"].isin(events).all()
    component_class = good["class_code"].str[:2].isin(["01", "02", "03", "04", "05"])
    assert (good["kind"] == np.where(component_class, "component", "event")).all()
    assert good["class_code"].nunique() >= 20
    assert good["class_code"].value_counts(normalize=True).max() < 0.2


def test_component_cases_point_at_components_of_their_class(good: pd.DataFrame, demo_dir: Path) -> None:
    comps = gl.io.read_layer(demo_dir / "components.geojson")[0].set_index("component_id")
    mine = good[good["kind"] == "component"]
    assert (mine["component_id"] != "").all() and (good.loc[good["kind"] == "event", "component_id"] == "").all()
    assert mine["component_id"].isin(comps.index).all()
    assert (comps.loc[mine["component_id"], "class_code"].to_numpy() == mine["class_code"].to_numpy()).all()
    # reported within a few metres of the component
    pts = gl.io.read_points(mine[["case_id", "lon", "lat"]])[0].to_crs(4550)
    where = comps.loc[mine["component_id"]].to_crs(4550).geometry.to_numpy()
    assert np.quantile(shapely.distance(pts.geometry.to_numpy(), where), 0.99) < 15.0


def test_cases_are_on_land_inside_the_area_and_cluster(good: pd.DataFrame, truth: dict) -> None:
    x0, y0, x1, y1 = gl.datasets.DEMO_BBOX
    assert good["lon"].between(x0, x1).all() and good["lat"].between(y0, y1).all()
    water = gl.datasets.demo_water(polygons=True)
    river = water[water["name"].isin(["黄浦江", "苏州河"])].geometry.union_all()
    assert not shapely.contains_xy(river, good["lon"], good["lat"]).any()
    # every planted hotspot holds far more cases of its classes within 150 m than an average spot
    pts = gl.io.read_points(good[["case_id", "lon", "lat", "class_code"]])[0].to_crs(4550)
    area_m2 = 9.5e6
    for spot in truth["case_hotspots"]:
        mine = pts[pts["class_code"].isin(spot["classes"])]
        centre = gl.io.read_points(pd.DataFrame({"lon": [spot["lon"]], "lat": [spot["lat"]]}))[0].to_crs(4550)
        near = (mine.distance(centre.geometry.iloc[0]) < 150).sum()
        assert near > 5 * len(mine) * (np.pi * 150**2 / area_m2), spot["name"]


def test_emerging_and_fading_hotspots_follow_their_windows(good: pd.DataFrame, truth: dict) -> None:
    end = pd.Timestamp(truth["end_date"]) + pd.Timedelta(days=1)
    pts = gl.io.read_points(good[["case_id", "lon", "lat", "class_code", "reported_at"]])[0].to_crs(4550)
    for spot, cfg in zip(truth["case_hotspots"], HOTSPOTS, strict=True):
        if cfg["days"] is None:
            continue
        first, last = cfg["days"]
        centre = gl.io.read_points(pd.DataFrame({"lon": [spot["lon"]], "lat": [spot["lat"]]}))[0].to_crs(4550)
        near = pts[(pts.distance(centre.geometry.iloc[0]) < 100) & pts["class_code"].isin(cfg["classes"])]
        age = (end - near["reported_at"]).dt.days
        inside = age.between(last, first - 1)
        assert inside.mean() > 0.8, (cfg["name"], inside.mean())


def test_daily_and_weekly_rhythms(good: pd.DataFrame) -> None:
    hour = good["reported_at"].dt.hour
    assert (hour.between(8, 17)).mean() > 0.5
    bbq = good[good["class_code"] == "06029"]["reported_at"].dt.hour
    assert (bbq >= 17).mean() > 0.5
    trade = good[good["class_code"] == "09006"]["reported_at"]
    per_day = trade.dt.normalize().value_counts()
    weekend = per_day[per_day.index.day_of_week >= 5].mean()
    weekday = per_day[per_day.index.day_of_week < 5].mean()
    assert weekend > 1.15 * weekday


def test_sources_and_personal_fields(good: pd.DataFrame) -> None:
    share = good["source"].value_counts(normalize=True)
    assert set(share.index) <= set(gl.cases.log.SOURCES)
    assert 0.4 < share["supervisor"] < 0.7 and share["hotline_12345"] > 0.1 and share["camera"] > 0.03
    hotline = good["source"].isin(["hotline_12345", "hotline_12319"])
    assert (good.loc[hotline, "reporter_phone"].str.fullmatch(r"100-0000-\d{4}")).all()
    assert (good.loc[~hotline, ["reporter_name", "reporter_phone"]] == "").all().all()


def test_workflow_order_minghu_and_open_cases(good: pd.DataFrame, demo_dir: Path) -> None:
    log, rejects = gl.cases.log.read_log(demo_dir / "cases.csv")
    assert not rejects["reason"].str.contains("out of order").any()
    per_case, summary = gl.cases.fifteen.fifteen_minute(log)
    rate = summary.set_index("step")["compliance_rate"]
    for step in ("file", "dispatch", "arrive", "video"):
        assert 0.75 < rate[step] < 0.97, (step, rate[step])  # most comply, some do not
    status = good["status"].value_counts()
    assert status["closed"] / len(good) > 0.85
    assert status.reindex(["filed", "disposing", "checking"]).fillna(0).sum() > 20  # still open at the extract
    assert status["not_filed"] > 0 and status["cancelled"] > 0
    assert (good["rework_count"].astype(int) > 0).mean() > 0.02
    assert (good["return_count"].astype(int) > 0).mean() > 0.02
    assert (good["extension_hours"].astype(float) > 0).sum() > 0 and (good["parked"] == "true").sum() > 0
    extract = pd.Timestamp("2026-11-22")
    assert (good[[c for c in COLUMNS if c.endswith("_at")]].max() < extract).all()


def test_planted_bad_records_are_rejected_for_their_reason(raw: pd.DataFrame, truth: dict) -> None:
    bad = pd.DataFrame(truth["bad_cases"])
    assert 0.008 < len(bad) / 15_000 < 0.012
    assert set(bad["problem"]) == {"missing_coordinates", "swapped_coordinates", "far_outside", "duplicate_id",
                                   "unknown_class", "unparseable_time"}
    area = gl.datasets.demo_admin("district")
    accepted, rejects = gl.io.read_points(raw, id="case_id", time="reported_at", area=area)
    assert len(accepted) + len(rejects) == len(raw)
    expect = {"missing_coordinates": "missing", "swapped_coordinates": "swapped", "far_outside": "outside",
              "duplicate_id": "duplicate", "unparseable_time": "unparseable"}
    for problem, word in expect.items():
        ids = set(bad.loc[bad["problem"] == problem, "case_id"])
        hit = rejects[rejects["case_id"].isin(ids) & rejects["reason"].str.contains(word)]
        assert set(hit["case_id"]) == ids, problem
    planted = set(bad.loc[bad["problem"] != "unknown_class", "case_id"])
    assert set(rejects["case_id"]) == planted  # nothing else is rejected
    unknown = bad.loc[bad["problem"] == "unknown_class", "case_id"]
    codes = raw.loc[raw["case_id"].isin(unknown), "class_code"]
    assert not codes.isin(gl.codes.catalogue()["class_code"]).any()


def test_short_periods_generate_or_say_why(tmp_path):
    import gridlib as gl

    gl.demo.generate(tmp_path / "ninety", seed=0, days=90, n_cases=1_000)
    with pytest.raises(gl.InputError, match="too short"):
        gl.demo.generate(tmp_path / "thirty", seed=0, days=30, n_cases=500)
