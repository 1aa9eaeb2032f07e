"""The GeoPackage writer converts a large layer to Arrow a slice at a time: the file is the one written whole."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely import box

from gridlib.nightly import outputs

DATE = "2026-11-21T00:00:00.000Z"


def _layers(n: int = 23) -> dict[str, pd.DataFrame]:
    i = np.arange(n)
    grids = gpd.GeoDataFrame({
        "grid_code": [f"G{k:04d}" for k in i],
        "street_name": ["街道" + "甲乙丙"[k % 3] for k in i],
        "late": [None] * 7 + [f"v{k}" for k in i[7:]],           # nothing in the first slices
        "n": i.astype("int64"),
        "share": i / 7.0,
        "flag": i % 2 == 0,
        "nothing": [None] * n,
        "at": pd.date_range("2026-11-20", periods=n, freq="h"),
        "utc": pd.date_range("2026-11-20", periods=n, freq="h", tz="UTC"),
    }, geometry=[box(k, 0, k + 1, 1) for k in i], crs=4550)
    hot = grids[["grid_code", "geometry"]].iloc[::-1].assign(z=i[::-1] / 3.0)
    cases = pd.DataFrame({"case_id": [f"C{k}" for k in i], "n": i})
    return {"grid_responsibility": grids, "hotspots": hot, "plain": cases}


def _write(path, rows: int, monkeypatch) -> bytes:
    monkeypatch.setattr(outputs, "_SLICE_ROWS", rows)
    outputs.write_gpkg_layers(path, _layers(), current_date=DATE,
                              shared_geometry={"hotspots": ("grid_responsibility", "grid_code")})
    return path.read_bytes()


@pytest.mark.parametrize("rows", [1, 5, 22])
def test_a_layer_written_in_slices_is_the_file_written_whole(tmp_path, monkeypatch, rows):
    whole = _write(tmp_path / "whole.gpkg", 10**9, monkeypatch)
    assert _write(tmp_path / "sliced.gpkg", rows, monkeypatch) == whole


def test_the_sliced_layer_reads_back_as_written(tmp_path, monkeypatch):
    path = tmp_path / "sliced.gpkg"
    _write(path, 4, monkeypatch)
    back = gpd.read_file(path, layer="grid_responsibility")
    grids = _layers()["grid_responsibility"]
    assert back["late"].tolist() == grids["late"].tolist()
    assert back["n"].tolist() == grids["n"].tolist() and back["flag"].tolist() == grids["flag"].tolist()
    assert bool(back.geometry.geom_equals_exact(grids.geometry, 0).all())
