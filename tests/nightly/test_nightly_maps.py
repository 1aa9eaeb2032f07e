"""Open cases on the nightly maps: dots up to a few hundred, overdue counts per grid/community/street above."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
import pytest
import shapely
from matplotlib.collections import PathCollection
from PIL import Image

from gridlib.maps import static as smap
from gridlib.nightly import maps

CRS = "EPSG:4547"  # CGCS2000 3° GK CM 114E (Zhengzhou)
X0, Y0 = 460_000.0, 3_850_000.0


def _lattice(n: int = 20, side: float = 100.0, per_community: int = 5, per_street: int = 10) -> gpd.GeoDataFrame:
    """n×n square grids; communities of per_community², streets of per_street² grids."""
    i, j = np.divmod(np.arange(n * n), n)
    comm = (i // per_community) * (n // per_community + 1) + j // per_community
    street = (i // per_street) * (n // per_street + 1) + j // per_street
    return gpd.GeoDataFrame({
        "grid_code": [f"G{k:05d}" for k in range(n * n)],
        "community_code": [f"C{c:03d}" for c in comm], "community_name": [f"社区{c}" for c in comm],
        "street_code": [f"S{s:02d}" for s in street], "street_name": [f"街道{s}" for s in street],
        "hotspot_class": np.where((i < 3) & (j < 3), "hot_95", "not_significant"),
    }, geometry=shapely.box(X0 + j * side, Y0 + i * side, X0 + (j + 1) * side, Y0 + (i + 1) * side), crs=CRS)


def _cases(grids: gpd.GeoDataFrame, lights: dict[str, int], seed: int = 0) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Open cases at random grids (a third of them in the hot corner), and the grids with their counts."""
    rng = np.random.default_rng(seed)
    light = np.concatenate([[k] * v for k, v in lights.items()]) if lights else np.array([], dtype=object)
    corner = np.flatnonzero(grids["hotspot_class"].eq("hot_95").to_numpy())
    at = np.where(rng.random(len(light)) < 1 / 3, rng.choice(corner, len(light)), rng.integers(0, len(grids), len(light)))
    cases = gpd.GeoDataFrame({
        "case_id": [f"A{k:05d}" for k in range(len(light))], "light": light,
        "grid_code": grids["grid_code"].to_numpy()[at], "street_code": grids["street_code"].to_numpy()[at],
    }, geometry=grids.geometry.centroid.to_numpy()[at], crs=CRS)
    red = cases[cases["light"] == "red"]
    counted = grids.assign(open_cases=grids["grid_code"].map(cases.groupby("grid_code").size()).fillna(0).astype(int),
                           overdue_cases=grids["grid_code"].map(red.groupby("grid_code").size()).fillna(0).astype(int))
    return counted, cases


def _dots(ax) -> int:
    """Points drawn on the map (geopandas draws points as one PathCollection per call)."""
    return sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize(("n_red", "mode"), [(30, "dots"), (maps._MAX_CASE_DOTS, "dots"),
                                             (maps._MAX_CASE_DOTS + 1, "counts"), (2000, "counts")])
def test_dots_up_to_the_threshold_then_overdue_counts_per_grid(n_red: int, mode: str) -> None:
    grids, cases = _cases(_lattice(), {"red": n_red})
    fig, ax = smap.new_map(grids)
    legend = dict(maps._grids_and_cases(ax, grids, cases))
    if mode == "dots":
        assert _dots(ax) == n_red and "在办案件: 超期" in legend
        assert not any(label.startswith("超期案件") for label in legend)
    else:
        assert _dots(ax) == 0 and "在办案件: 超期" not in legend
        shaded = [label for label in legend if label.startswith("超期案件")]
        assert shaded and all(label.endswith("件/网格") for label in shaded)
        assert shaded[0] == "超期案件 1 件/网格" or shaded[0].startswith("超期案件 1–")
        assert "热点 95% 置信" in legend  # the hot spot stays on the map (fill below, outline above the counts)


def test_a_street_map_over_the_threshold_keeps_its_few_due_soon_cases_as_dots() -> None:
    grids, cases = _cases(_lattice(), {"green": 300, "yellow": 7, "red": 400})
    fig, ax = smap.new_map(grids)
    legend = dict(maps._grids_and_cases(ax, grids, cases))
    assert _dots(ax) == 7
    assert "在办案件: 临期 (80–100%)" in legend and "在办案件: 正常" not in legend


@pytest.mark.parametrize(("frame_m", "level"), [(None, "grid"), (50_000, "community"), (2_000_000, "street")])
def test_the_counting_area_is_the_finest_one_big_enough_to_see(frame_m: float | None, level: str) -> None:
    grids, _ = _cases(_lattice(), {"red": 10})
    frame = grids if frame_m is None else gpd.GeoDataFrame(geometry=[shapely.box(X0, Y0, X0 + frame_m, Y0 + frame_m)],
                                                           crs=CRS)
    fig, ax = smap.new_map(frame)
    assert maps._count_level(ax, grids) == level


@pytest.mark.parametrize("level", ["grid", "community", "street"])
def test_overdue_areas_add_up_to_the_overdue_cases(level: str) -> None:
    grids, cases = _cases(_lattice(), {"red": 700, "green": 100})
    areas = maps._overdue_areas(grids, level)
    assert areas["overdue_cases"].sum() == (cases["light"] == "red").sum() == grids["overdue_cases"].sum()
    assert (areas["overdue_cases"] > 0).all() and areas[f"{level}_code"].is_unique
    per = grids.groupby(f"{level}_code")[["overdue_cases"]].sum()
    assert (per.loc[areas[f"{level}_code"], "overdue_cases"].to_numpy() == areas["overdue_cases"].to_numpy()).all()
    # each area is exactly the union of its grids
    assert np.allclose(areas.area.to_numpy(), grids.area.groupby(grids[f"{level}_code"]).sum()
                       .loc[areas[f"{level}_code"]].to_numpy())


def test_overdue_areas_are_taken_from_the_areas_already_dissolved(monkeypatch) -> None:
    grids, _ = _cases(_lattice(), {"red": 8, "green": 100})
    fresh = maps._overdue_areas(grids, "community")
    comms = maps._dissolve(grids, "community")  # a street map's community outlines
    monkeypatch.setattr(maps, "_dissolve", lambda *args: pytest.fail("the communities were dissolved again"))
    reused = maps._overdue_areas(grids, "community", {"community": comms})
    assert len(reused) < len(comms)  # only the communities with overdue cases
    assert reused.drop(columns="geometry").equals(fresh.drop(columns="geometry"))
    assert shapely.equals_exact(reused.geometry.values, fresh.geometry.values, tolerance=0).all()


def test_city_scale_shades_communities_and_still_marks_the_hot_spots() -> None:
    grids, cases = _cases(_lattice(), {"red": 900})
    fig, ax = smap.new_map(gpd.GeoDataFrame(geometry=[shapely.box(X0, Y0, X0 + 50_000, Y0 + 50_000)], crs=CRS))
    legend = dict(maps._grids_and_cases(ax, grids, cases))
    assert _dots(ax) == 0
    assert any(label.endswith("件/社区") for label in legend) and "无超期案件" in legend
    assert "热点 95% 置信" in legend and "不显著" not in legend  # the grid fill is hidden: not in the legend


def test_overview_png_in_both_modes(tmp_path) -> None:
    for n_red, name in ((40, "dots.png"), (1200, "counts.png")):
        grids, cases = _cases(_lattice(), {"red": n_red, "green": 20})
        layers = {"grid_responsibility": grids, "assigned_cases": cases}
        maps._overview(tmp_path / name, layers, maps._dissolve(grids, "street"), dt.date(2026, 11, 21))
        with Image.open(tmp_path / name) as im:
            assert im.format == "PNG" and min(im.size) > 500
