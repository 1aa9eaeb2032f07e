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


def test_grid_validate_is_check_coverage() -> None:
    g = gpd.GeoDataFrame({"grid_code": ["410105001003001", "410105001003001"]}, crs=4547,
                         geometry=[box(0, 0, 100, 100), box(90, 0, 190, 100)])
    with pytest.warns(DeprecationWarning, match="check_coverage"):
        old = gl.grid.validate(g)
    new = gl.grid.check_coverage(g)
    assert old.rule.tolist() == new.rule.tolist() == ["code_duplicate", "overlap", "coverage_edge", "coverage_edge"]
    pd.testing.assert_frame_equal(old, new)
    assert "validate" not in gl.grid.__all__


def test_codes_validate_is_check_codes() -> None:
    values = pd.Series(["410105001003007", "41010500100300X", "４１０１０５-001-003-007", None])
    with pytest.warns(DeprecationWarning, match="check_codes"):
        old = gl.codes.validate(values)
    _same(old, gl.codes.check_codes(values))
    assert "validate" not in gl.codes.__all__
    ok, bad = gl.codes.validate_codes(values)
    assert len(ok) + len(bad) == len(values)
    assert ok.to_dict() == {0: "410105001003007", 2: "410105001003007"}
    assert bad["reason_code"].tolist() == ["malformed_code", "missing_value"]
    assert bad["code"].tolist()[0] == "41010500100300X" and set(bad["field"]) == {"code"}


def test_cases_validate_is_flag_problems_and_validate_log() -> None:
    from gridlib.cases.log import normalise, read_log
    from gridlib.cases.validate import flag_problems

    raw = pd.DataFrame({"case_id": ["a", "a", "b", "c"], "class_code": ["06012"] * 4, "kind": ["event"] * 4,
                        "reported_at": ["2026-10-08 09:00"] * 4, "disposed_at": [None, None, None, "2026-10-08 08:00"],
                        "closed_at": [None, None, "2026-10-09", None]})
    with pytest.warns(DeprecationWarning, match="validate_log"):
        old = gl.cases.validate(*normalise(raw))
    _same(old, flag_problems(*normalise(raw)))
    assert "validate" not in gl.cases.__all__
    log = read_log(raw, validate=False)[0]
    ok, bad = gl.cases.validate_log(log)
    assert ok.case_id.tolist() == ["a"] and len(ok) + len(bad) == len(log)
    assert bad["reason_code"].tolist() == ["duplicate_id", "inconsistent_record", "time_order"]
    # the same verdict as read_log's own checks
    assert sorted(read_log(raw)[1]["reason_code"]) == sorted(bad["reason_code"])


def test_map_functions_return_the_figure_and_old_unpacking_warns(tmp_path) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure
    from shapely import Point

    from gridlib.coverage.maps import reachability_map

    reach = gpd.GeoDataFrame({"time_min": [3.0, 12.0], "nearest_base": ["b", "b"]},
                             geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs=4547)
    bases = gpd.GeoDataFrame({"base_id": ["b"]}, geometry=[Point(10, 10)], crs=4547)
    fig = reachability_map(reach, bases, path=tmp_path / "r.png")
    assert isinstance(fig, Figure) and (tmp_path / "r.png").stat().st_size > 10_000
    with pytest.warns(DeprecationWarning, match=r"\(fig, ax\)"):
        f, ax = reachability_map(reach, bases)
    assert isinstance(f, Figure) and ax is f.axes[0]
    plt.close(f)

    cells = gpd.GeoDataFrame({"n": [0, 1, 0, 1, 9, 8, 0, 7, 9]}, crs=4547,
                             geometry=[box(100 * i, 100 * j, 100 * i + 100, 100 * j + 100)
                                       for j in range(3) for i in range(3)])
    result = gl.hotspots.gistar(cells, "n", permutations=0)
    with pytest.warns(DeprecationWarning, match="hotspot_layer"):
        png, layer = gl.hotspots.hotspot_map(result, tmp_path / "h.png", label_column=None)
    assert png == tmp_path / "h.png" and png.stat().st_size > 10_000
    assert layer.data == gl.hotspots.hotspot_layer(result).data
    with pytest.warns(DeprecationWarning, match="path="):
        fig = gl.hotspots.hotspot_map(result, png_path=tmp_path / "old.png", label_column=None)
    assert (tmp_path / "old.png").read_bytes() == png.read_bytes()
    plt.close("all")
