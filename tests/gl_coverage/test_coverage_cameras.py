"""Camera validation: every record accepted or rejected with its reason; presets; reading files."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely import LineString, Point

from gridlib.coverage import read_cameras, validate_cameras
from gridlib.errors import InputError


def test_each_rule_rejects_with_a_reason_and_nothing_is_lost():
    cams = gpd.GeoDataFrame({
        "camera_id": ["ok", "fov0", "fov400", "r0", "nohead", "dup", "dup", None, "line", "empty", "neg_h", "dome"],
        "heading": [370.0, 0, 0, 0, None, 0, 0, 0, 0, 0, 0, None],
        "fov": [90, 0, 400, 90, 90, 90, 90, 90, 90, 90, 90, 360],
        "range_m": [50, 50, 50, 0, 50, 50, 50, 50, 50, 50, 50, 50],
        "height_m": [6, None, None, None, None, None, None, None, None, None, -1, None],
    }, geometry=[Point(0, 0)] * 8 + [LineString([(0, 0), (1, 1)]), None, Point(0, 0), Point(1, 1)], crs=4547)
    ok, bad = validate_cameras(cams)
    assert len(ok) + len(bad) == len(cams)
    assert ok.camera_id.tolist() == ["ok", "dup", "dome"]
    assert ok.heading.tolist() == [10.0, 0.0, 0.0]
    assert dict(zip(bad.camera_id.fillna("<none>"), bad.reason, strict=True)) == {
        "fov0": "fov 0 not in (0, 360]",
        "fov400": "fov 400 not in (0, 360]",
        "r0": "range_m 0 must be > 0",
        "nohead": "missing heading for a fixed camera (fov 90 < 360)",
        "dup": "duplicate camera_id dup",
        "<none>": "missing camera_id",
        "line": "geometry is not a point",
        "empty": "missing or empty geometry",
        "neg_h": "height_m -1 is negative",
    }


def test_type_presets_fill_blanks_but_not_given_values():
    cams = gpd.GeoDataFrame({"camera_id": [1, 2, 3], "type": ["PTZ", "bullet", "unknown"],
                             "fov": [None, 45, None], "heading": [None, 10, 0]},
                            geometry=[Point(0, 0)] * 3, crs=4547)
    ok, bad = validate_cameras(cams)
    assert ok[["fov", "range_m"]].values.tolist() == [[360.0, 150.0], [45.0, 80.0]]
    assert bad.reason.tolist() == ["missing fov (and no preset for this type)"]


def test_missing_crs_or_id_column_is_an_error():
    with pytest.raises(InputError, match="CRS"):
        validate_cameras(gpd.GeoDataFrame({"camera_id": [1]}, geometry=[Point(0, 0)]))
    with pytest.raises(InputError, match="camera_id"):
        validate_cameras(gpd.GeoDataFrame({"id": [1]}, geometry=[Point(0, 0)], crs=4547))


def test_read_real_helsinki_cameras_as_domes(tmp_path):
    import gridlib as gl

    src = gl.datasets.helsinki_cameras()
    path = tmp_path / "cams.geojson"
    src.assign(camera_id=src["osm_id"].astype(str))[["camera_id", "geometry"]].to_file(path)
    ok, bad = read_cameras(path, defaults={"type": "dome"})
    assert len(ok) + len(bad) == len(src) == 221
    assert len(bad) == 0 and (ok.fov == 360).all() and np.isfinite(ok.heading).all()
