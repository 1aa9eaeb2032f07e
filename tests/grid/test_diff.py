"""gl.grid.diff and crosswalk on the two bundled demo editions and on constructed cases."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely import box

import gridlib as gl

CRS = "EPSG:4547"


@pytest.fixture(scope="module")
def editions() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    folder = gl.datasets.data_dir() / "grids"
    return gpd.read_file(folder / "lujiazui_grids.gpkg"), gpd.read_file(folder / "lujiazui_grids_edited.gpkg")


def test_bundled_editions_diff_is_exactly_the_planned_edits(editions):
    old, new = editions
    changes = gl.grid.diff(old, new)
    assert changes["change"].value_counts().to_dict() == {"unchanged": 963, "split": 4, "recoded": 3, "merged": 3}
    split = changes[changes["change"] == "split"]
    assert split["new_codes"].str.count(";").eq(1).all()
    np.testing.assert_allclose(split["old_area_m2"], split["new_area_m2"], rtol=1e-9)
    merged = changes[changes["change"] == "merged"]
    assert all(n in o.split(";") for o, n in zip(merged["old_codes"], merged["new_codes"], strict=True))
    # every old grid appears exactly once as an old code
    olds = ";".join(changes["old_codes"]).split(";")
    assert sorted(olds) == sorted(old["grid_code"])


def test_crosswalk_weights_carry_counts_without_loss(editions):
    old, new = editions
    cw = gl.grid.crosswalk(old, new)
    sums = cw.groupby("old_code")["weight"].sum()
    np.testing.assert_allclose(sums.to_numpy(), 1.0, atol=1e-9)
    assert set(sums.index) == set(old["grid_code"])
    counts = dict(zip(old["grid_code"], np.random.default_rng(0).integers(0, 50, len(old)), strict=True))
    carried = (cw["old_code"].map(counts) * cw["weight"]).groupby(cw["new_code"]).sum()
    assert carried.sum() == pytest.approx(sum(counts.values()))
    unchanged = cw[cw["old_code"] == cw["new_code"]]
    assert (unchanged["weight"] == 1.0).sum() >= 963


def test_added_removed_reshaped_and_redrawn():
    old = gpd.GeoDataFrame({"grid_code": ["A", "B", "C", "D", "E", "X"]},
                           geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100), box(200, 0, 300, 100),
                                     box(300, 0, 400, 100), box(400, 0, 500, 100), box(0, 500, 100, 600)],
                           crs=CRS)
    new = gpd.GeoDataFrame({"grid_code": ["A", "B", "CD1", "CD2", "E", "Y"]},
                           geometry=[box(0, 0, 100, 100), box(100, 0, 200, 110), box(200, 0, 330, 100),
                                     box(330, 0, 400, 100), box(400, 0, 500, 100), box(0, 900, 100, 1000)],
                           crs=CRS)
    changes = gl.grid.diff(old, new).set_index("change")
    assert changes.loc["reshaped", "old_codes"] == "B"
    assert changes.loc["reshaped", "hausdorff_m"] == pytest.approx(10.0)
    assert changes.loc["reshaped", "area_change_m2"] == pytest.approx(1_000.0)
    assert changes.loc["added", "new_codes"] == "Y"
    assert changes.loc["removed", "old_codes"] == "X"
    redrawn = gl.grid.diff(old, new)
    assert set(redrawn.loc[redrawn["change"] == "redrawn", "new_codes"]) == {"CD1", "CD2"}
