"""Old public names renamed for one vocabulary (issue 15 item 6) still work for one release.

Each alias warns with a DeprecationWarning naming its replacement and gives the same result as
the new name; none is in an ``__all__`` (docs/api.md lists only the new names).
"""

from __future__ import annotations

import importlib

import geopandas as gpd
import pandas as pd
import pytest
from shapely import box

import gridlib as gl


def _grids() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"BGID": ["410105001003001", "410105001003002"]}, crs=4547,
                            geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)])


def _same(old: object, new: object) -> None:
    if isinstance(new, tuple):
        assert isinstance(old, tuple) and len(old) == len(new)
        for a, b in zip(old, new, strict=True):
            _same(a, b)
    elif isinstance(new, pd.DataFrame | pd.Series):
        pd.testing.assert_frame_equal(pd.DataFrame(old), pd.DataFrame(new))
    elif hasattr(new, "frame"):  # a Rejects builder
        assert list(old.codes) == list(new.codes)
    else:
        assert old == new


def test_read_grids_is_open_grids(tmp_path) -> None:
    path = tmp_path / "g.geojson"
    _grids().to_file(path)
    with pytest.warns(DeprecationWarning, match="open_grids"):
        old = gl.grid.read_grids(path)
    _same(old, gl.grid.open_grids(path))
    assert "read_grids" not in gl.grid.__all__ and "open_grids" in gl.grid.__all__


def test_read_table_is_open_table() -> None:
    frame = pd.DataFrame({"a": [1, 2]})
    with pytest.warns(DeprecationWarning, match="open_table"):
        old = gl.io.read_table(frame)
    _same(old, gl.io.open_table(frame))
    assert "read_table" not in gl.io.__all__


def test_read_grid_attributes_is_open_grid_attributes(tmp_path) -> None:
    from gridlib.maps import tiles

    path = tiles.write_grid_attributes(pd.DataFrame({"grid_code": ["B", "A"], "n": [2, 1]}), tmp_path / "a.bin",
                                       ["n"], binary=True)
    with pytest.warns(DeprecationWarning, match="open_grid_attributes"):
        old = tiles.read_grid_attributes(path)
    _same(old, tiles.open_grid_attributes(path))
    assert "read_grid_attributes" not in tiles.__all__


def test_read_editions_is_edition_table(tmp_path) -> None:
    from gridlib.grid import model

    store = gl.store.open(tmp_path / "g.gpkg")
    gl.GridSet.from_gdf(gl.grid.open_grids(_grids()), edition={"valid_from": "2026-01-01"}).to_store(store)
    with pytest.warns(DeprecationWarning, match="editions"):
        old = model.read_editions(store)
    _same(old, model.edition_table(store))
    _same(old, gl.grid.editions(store))


def test_read_values_is_map_values() -> None:
    log = importlib.import_module("gridlib.cases.log")
    frame = pd.DataFrame({"kind": ["事件", "部件", "event"], "urgency": ["紧急", "一般", None]})
    with pytest.warns(DeprecationWarning, match="map_values"):
        old = log.read_values(frame)
    _same(old, log.map_values(frame))
