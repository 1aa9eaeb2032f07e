"""Demo trucks (sites, permits, fixes, planted events) and assets (components, cameras)."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import gridlib as gl

M = 4550


@pytest.fixture(scope="module")
def night(demo_dir: Path) -> dict:
    truth = json.loads((demo_dir / "truth.json").read_text(encoding="utf-8"))
    fixes = pd.read_parquet(demo_dir / "fixes.parquet")
    pts = gpd.GeoSeries.from_xy(fixes["lon"], fixes["lat"], crs=4326).to_crs(M)
    fixes["x"], fixes["y"] = pts.x.to_numpy(), pts.y.to_numpy()
    return {
        "truth": truth, "fixes": fixes,
        "permits": gpd.read_file(demo_dir / "permits.geojson").to_crs(M),
        "sites": gpd.read_file(demo_dir / "sites.geojson").to_crs(M),
    }


def _events(night: dict, kind: str) -> list[dict]:
    return [e for e in night["truth"]["truck_events"] if e["type"] == kind]


def test_permits_and_sites_are_read_cleanly_by_the_truck_readers(demo_dir: Path) -> None:
    permits, bad_p = gl.trucks.route.read_permits(demo_dir / "permits.geojson")
    sites, bad_s = gl.trucks.route.read_sites(demo_dir / "sites.geojson")
    assert bad_p.empty and bad_s.empty
    assert set(sites["kind"]) == {"construction", "disposal"}
    assert (permits["hours"] == "22:00-06:00").all()
    assert permits["origin_site"].isin(sites.loc[sites["kind"] == "construction", "site_id"]).all()
    assert permits["destination_site"].isin(sites.loc[sites["kind"] == "disposal", "site_id"]).all()


def test_routes_are_paths_on_the_real_roads_between_their_sites(night: dict) -> None:
    roads = gl.datasets.demo_roads().to_crs(M)
    vertices = shapely.multipoints(shapely.get_coordinates(roads.geometry.values))
    sites = night["sites"].set_index("site_id").geometry
    for _, p in night["permits"].iterrows():
        xy = shapely.get_coordinates(p.geometry)
        assert shapely.distance(shapely.points(xy), vertices).max() < 1.0  # every vertex is a road vertex
        assert sites[p["origin_site"]].contains(shapely.Point(xy[0]))
        assert sites[p["destination_site"]].contains(shapely.Point(xy[-1]))
        assert p.geometry.length > 500


def test_fixes_sampling_noise_and_duplicates(night: dict) -> None:
    fx = night["fixes"]
    assert list(fx.columns[:5]) == ["vehicle_id", "time", "lon", "lat", "speed_kmh"]
    assert fx["time"].min() >= pd.Timestamp("2026-11-20 22:00") and fx["time"].max() < pd.Timestamp("2026-11-21 06:00")
    dt = fx.groupby("vehicle_id")["time"].diff().dt.total_seconds().dropna()
    dt = dt[dt > 0]
    assert dt.quantile(0.5) >= 9 and dt.quantile(0.5) <= 31 and dt.min() >= 8
    assert fx.duplicated(["vehicle_id", "time", "lon", "lat"]).sum() == 10
    # noise: on-route vehicles stay close to their route (|N(0, 8 m)| across the line)
    special = {e["vehicle_id"] for e in night["truth"]["truck_events"]}
    routes = night["permits"].set_index("vehicle_id").geometry
    normal = fx[~fx["vehicle_id"].isin(special)]
    off = shapely.distance(shapely.points(normal[["x", "y"]].to_numpy()), routes.loc[normal["vehicle_id"]].to_numpy())
    assert 3.0 < np.median(off) < 9.0 and np.quantile(off, 0.999) < 45.0


def test_planted_deviations_leave_the_corridor_and_nothing_else_does(night: dict) -> None:
    fx, routes = night["fixes"], night["permits"].set_index("vehicle_id").geometry
    devs = _events(night, "deviation")
    assert len(devs) >= 3
    for e in devs:
        mine = fx[fx["vehicle_id"] == e["vehicle_id"]]
        dist = shapely.distance(shapely.points(mine[["x", "y"]].to_numpy()), routes[e["vehicle_id"]])
        during = mine["time"].between(pd.Timestamp(e["start"]), pd.Timestamp(e["end"])).to_numpy()
        assert during.sum() >= 3
        assert dist[during].min() > e["corridor_m"] - 30 and dist[during].max() > 150
        assert (dist[~during] < e["corridor_m"] + 30).mean() > 0.99
        assert (pd.Timestamp(e["end"]) - pd.Timestamp(e["start"])).total_seconds() >= 60


def test_stops_silence_and_the_vehicle_without_permit(night: dict) -> None:
    fx, sites = night["fixes"], night["sites"]
    stops = _events(night, "unpermitted_stop")
    assert len(stops) == 3
    for e in stops:
        where = gpd.GeoSeries.from_xy([e["lon"]], [e["lat"]], crs=4326).to_crs(M).iloc[0]
        mine = fx[(fx["vehicle_id"] == e["vehicle_id"]) & fx["time"].between(pd.Timestamp(e["start"]),
                                                                             pd.Timestamp(e["end"]))]
        assert (pd.Timestamp(e["end"]) - pd.Timestamp(e["start"])).total_seconds() >= 540
        assert shapely.distance(shapely.points(mine[["x", "y"]].to_numpy()), where).max() < 40
        assert not sites.buffer(30).contains(where).any()
    (silence,) = _events(night, "gps_silence")
    mine = fx[fx["vehicle_id"] == silence["vehicle_id"]].set_index("time")
    start, end = pd.Timestamp(silence["start"]), pd.Timestamp(silence["end"])
    assert not ((mine.index > start) & (mine.index < end)).any()
    assert (end - start).total_seconds() >= 300
    assert np.hypot(*(mine.loc[end, ["x", "y"]].to_numpy() - mine.loc[start, ["x", "y"]].to_numpy())) > 300
    (nope,) = _events(night, "no_permit")
    assert nope["vehicle_id"] in set(fx["vehicle_id"])
    assert nope["vehicle_id"] not in set(night["permits"]["vehicle_id"])


def test_components_have_standard_ids_matching_their_place(demo_dir: Path) -> None:
    comps = gpd.read_file(demo_dir / "components.geojson")
    assert len(comps) > 3000 and comps["component_id"].is_unique
    ids = comps["component_id"]
    assert ids.str.fullmatch(r"\d{17}").all()
    assert (ids.str[6:11] == comps["class_code"]).all() and (ids.str[:6] == comps["district_code"]).all()
    valid = gl.codes.check_codes(ids, kind="component")
    assert valid["valid"].all(), valid.loc[~valid["valid"], "reason"].head().tolist()
    districts = gl.datasets.demo_admin("district")
    joined = gpd.sjoin(comps, districts[["code", "geometry"]], predicate="intersects")
    assert (joined["district_code"] == joined["code"]).all()
    assert {"01037", "03005", "01001", "01004"} <= set(comps["class_code"])
    assert comps["owner_unit"].str.len().gt(0).all() and comps["maintainer_unit"].str.len().gt(0).all()


def test_cameras_at_signals_look_along_the_road(demo_dir: Path) -> None:
    cams = gpd.read_file(demo_dir / "cameras.geojson")
    assert cams["camera_id"].is_unique and (cams["site"] == "traffic_signal").sum() >= 70
    assert cams["heading"].between(0, 360, inclusive="left").all()
    assert ((cams["type"] == "dome") == (cams["fov"] == 360)).all()
    assert cams.loc[cams["type"] == "fixed", "fov"].between(40, 120).all()
    assert cams["range_m"].between(20, 200).all() and cams["height_m"].between(2, 12).all()
    # a fixed camera's line of sight runs along a road next to it (at a junction: either road)
    roads = gl.datasets.demo_roads()
    drivable = roads["kind"].isin(["major_road", "minor_road"]) & ~roads["is_tunnel"].astype("boolean").fillna(False)
    major = roads[drivable].explode().to_crs(M).geometry.values
    fixed = cams[cams["type"] == "fixed"].to_crs(M)
    cam_i, line_i = shapely.STRtree(major).query(fixed.geometry.values, predicate="dwithin", distance=30.0)
    lines, pts = major[line_i], fixed.geometry.values[cam_i]
    d = shapely.line_locate_point(lines, pts)
    a = shapely.get_coordinates(shapely.line_interpolate_point(lines, np.maximum(d - 5, 0)))
    b = shapely.get_coordinates(shapely.line_interpolate_point(lines, d + 5))
    road = np.arctan2(b[:, 0] - a[:, 0], b[:, 1] - a[:, 1])  # grid bearing from north
    look = np.radians(fixed["heading"].to_numpy()[cam_i])
    # headings are true bearings (grid north differs by under 1° here), sampled 10 m either side on curves
    aligned = pd.Series(np.abs(np.sin(look - road)) < np.sin(np.radians(10))).groupby(cam_i).any()
    assert len(aligned) == len(fixed) and aligned.all()


def test_truck_check_finds_every_planted_event_and_nothing_else(demo_dir: Path, night: dict) -> None:
    """End to end with gl.trucks.check: truth.json is the answer key of the demo night."""
    fixes = pd.read_parquet(demo_dir / "fixes.parquet")
    found = gl.trucks.check(fixes, gpd.read_file(demo_dir / "permits.geojson"),
                            gpd.read_file(demo_dir / "sites.geojson"), roads=gl.datasets.demo_roads()).violations
    planted = [e for e in night["truth"]["truck_events"] if e["type"] != "duplicate_fix"]
    matched = 0
    for e in planted:
        same = found[(found["type"] == e["type"]) & (found["vehicle_id"] == e["vehicle_id"])
                     & (found["start"] <= pd.Timestamp(e["end"])) & (found["end"] >= pd.Timestamp(e["start"]))]
        assert len(same) == 1, e
        matched += 1
    assert matched == len(found)  # no false alarms on the clean trucks
