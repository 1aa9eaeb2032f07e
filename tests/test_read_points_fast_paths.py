"""read_points' shortcuts for clean input (all points, Arrow text ids) give the answers of the full checks.

The shortcuts (gridlib/io.py): every geometry a point with a coordinate → ``get_x``/``get_y`` without the
missing/empty/type passes; text ids → NUL, blank and personal-number checks only on the rows that can
match (read from the Arrow buffers). Each case below mixes one row the shortcut must send to the full
check among ordinary ones.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

import gridlib as gl


def _frame(ids: list, geoms: list | None = None) -> gpd.GeoDataFrame:
    n = len(ids)
    geoms = geoms if geoms is not None else list(shapely.points(np.arange(n) + 500000.0, np.full(n, 3850000.0)))
    return gpd.GeoDataFrame({"case_id": pd.array(ids, dtype="str")}, geometry=geoms, crs=4547)


def _codes(frame: gpd.GeoDataFrame) -> dict:
    ok, bad = gl.io.read_points(frame, id="case_id")
    assert len(ok) + len(bad) == len(frame)
    return dict(zip(bad.index.tolist(), bad["reason_code"].tolist(), strict=True))


def test_blank_ids_that_do_not_look_blank_to_a_byte_check() -> None:
    # ideographic space (U+3000) and a tab: blank after strip; a leading space before text: not blank
    assert _codes(_frame(["a1", "\u3000", "\t", " b2", None, "c3"])) == {
        1: "missing_id", 2: "missing_id", 4: "missing_id"}


def test_personal_numbers_among_short_ids_and_nul_bytes() -> None:
    codes = _codes(_frame(["a1", "13955550004", " 13955550004 ", "a\x00b", "xy", "11010519491231002X",
                           "LJZ202610160050"]))
    assert codes == {1: "personal_data_id", 2: "personal_data_id", 5: "personal_data_id"}
    ok, _ = gl.io.read_points(_frame(["a\x00b", "c"]), id="case_id")
    assert ok["case_id"].tolist() == ["ab", "c"]  # NUL bytes dropped, as before


def test_an_empty_or_missing_point_among_points_goes_to_the_full_check() -> None:
    pts = list(shapely.points([[500000.0, 3850000.0], [500001.0, 3850000.0]]))
    assert _codes(_frame(["a", "b", "c"], [pts[0], shapely.Point(), pts[1]])) == {1: "empty_geometry"}
    assert _codes(_frame(["a", "b", "c"], [pts[0], None, pts[1]])) == {1: "missing_geometry"}
    z = shapely.points([[500000.0, 3850000.0, 7.0]])[0]
    ok, bad = gl.io.read_points(_frame(["a", "b"], [pts[0], z]), id="case_id")
    assert len(bad) == 0 and not shapely.has_z(ok.geometry.values).any()  # rebuilt as 2D points, as before


def test_accepted_frame_shares_no_writable_state_with_the_input() -> None:
    """read_points builds its GeoDataFrame without copying the columns (copy=False): writing to what it returns,
    or to its geometry array's CRS (as gl.assign does), leaves the caller's frame as it was."""
    frame = gl.io.load_table(_frame(["a1", "b2", "c3"]), wanted=["case_id"])
    before, crs = frame.copy(deep=True), frame.geometry.array.crs
    ok, bad = gl.io.read_points(frame, id="case_id", crs="EPSG:4547")
    assert len(ok) == 3 and not len(bad)
    ok.loc[0, "case_id"] = "changed"
    ok.geometry.array.crs = "EPSG:4326"
    pd.testing.assert_frame_equal(frame, before)
    assert frame.geometry.array.crs is crs
