"""Editions in a store: atomic import, refusal with a report, time travel, locks — GeoPackage and PostGIS."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import gridlib as gl
from gridlib.errors import LockError, ValidationError
from gridlib.grid.edition import CROSSWALK_LAYER, IMPORT_LOCK

GRIDS = gl.datasets.data_dir() / "grids"


@pytest.fixture(scope="module")
def first() -> gpd.GeoDataFrame:
    return gpd.read_file(GRIDS / "lujiazui_grids.gpkg")


@pytest.fixture(scope="module")
def edited() -> gpd.GeoDataFrame:
    return gpd.read_file(GRIDS / "lujiazui_grids_edited.gpkg")


@pytest.fixture
def gpkg_store(tmp_path):
    return gl.store.open(tmp_path / "store.gpkg")


@pytest.fixture(scope="module")
def _base_file(tmp_path_factory, first) -> Path:
    path = tmp_path_factory.mktemp("base") / "store.gpkg"
    gl.grid.import_edition(first, gl.store.open(path), effective_date="2026-01-01")
    return path


@pytest.fixture
def base_store(tmp_path, _base_file):
    """A GeoPackage store holding edition E0001 (the bundled grids) from 2026-01-01."""
    path = tmp_path / "store.gpkg"
    shutil.copyfile(_base_file, path)
    return gl.store.open(path)


def _snapshot(store) -> dict:
    """Everything in a store, for before/after comparison."""
    out = {}
    for name in store.layers():
        frame = store.read_layer(name)
        if isinstance(frame, gpd.GeoDataFrame):
            wkb = shapely.to_wkb(frame.geometry.values)
            frame = pd.DataFrame(frame.drop(columns=frame.geometry.name)).assign(wkb=wkb)
        out[name] = frame.sort_values(list(frame.columns[:3])).reset_index(drop=True)
    return out


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        pd.testing.assert_frame_equal(a[k], b[k])


def _two_editions(store, first, edited, tmp_path: Path):
    gl.grid.import_edition(first, store, effective_date="2026-01-01", source_name="lujiazui_grids.gpkg")
    path = tmp_path / "edited.gpkg"
    edited.to_file(path, layer="grids")
    return gl.grid.import_edition(path, store, effective_date="2026-07-01", note="planner redraw")


def _roundtrip(store, first, edited, tmp_path):
    res = _two_editions(store, first, edited, tmp_path)
    assert res.edition_id == "E0002" and res.previous == "E0001"
    assert res.summary == {"unchanged": 963, "split": 4, "recoded": 3, "merged": 3}
    table = gl.grid.editions(store)
    assert table[["edition_id", "valid_from", "valid_to", "current"]].values.tolist() == [
        ["E0001", "2026-01-01", "2026-07-01", 0], ["E0002", "2026-07-01", "", 1]]
    old = gl.GridSet.from_store(store, at="2026-03-15")
    new = gl.GridSet.from_store(store, at="2027-01-01")
    assert old.edition["edition_id"] == "E0001" and len(old) == len(first)
    assert new.edition["edition_id"] == "E0002" and len(new) == len(edited)
    assert sorted(old.grids["grid_code"]) == sorted(first["grid_code"])
    assert gl.GridSet.from_store(store).edition["edition_id"] == "E0002"
    assert set(old.parents) == {"district", "street", "community"}
    with pytest.raises(gl.StoreError, match="no grid edition was valid"):
        gl.GridSet.from_store(store, at="2025-12-31")
    stored = store.read_layer("grid_changes")
    assert stored["change"].value_counts().to_dict() == res.summary
    cw = store.read_layer(CROSSWALK_LAYER)
    np.testing.assert_allclose(cw.groupby("old_code")["weight"].sum(), 1.0, atol=1e-9)


def test_gpkg_import_two_editions_and_read_any_time(gpkg_store, first, edited, tmp_path):
    _roundtrip(gpkg_store, first, edited, tmp_path)


@pytest.mark.postgis
def test_postgis_import_two_editions_and_read_any_time(pg_store, first, edited, tmp_path):
    _roundtrip(pg_store, first, edited, tmp_path)


def _bad_inputs(first: gpd.GeoDataFrame, tmp_path: Path) -> dict[str, tuple[Path, dict, str]]:
    """Planners' broken files: path, import options, the error rule expected."""
    out = {}
    half = first[first["district_code"] != "310115"]
    out["half"] = (half, {}, "gap")
    moved = first.copy()
    moved["geometry"] = moved.geometry.translate(20_000, 0)
    out["wrong_district"] = (moved, {}, "outside_parents")
    dup = pd.concat([first, first.iloc[:5]], ignore_index=True)
    out["duplicated"] = (gpd.GeoDataFrame(dup, crs=first.crs), {}, "code_duplicate")
    bow = first.copy()
    x0, y0, x1, y1 = bow.geometry.iloc[10].bounds
    geoms = bow.geometry.values.copy()
    geoms[10] = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    out["self_intersecting"] = (bow.set_geometry(gpd.GeoSeries(geoms, crs=first.crs)), {}, "geometry_invalid")
    # a GCJ-02 shapefile without .prj: refused (no CRS) unless crs="gcj02" is declared
    wgs = first.to_crs(4326)
    coords = shapely.get_coordinates(wgs.geometry.values)
    gx, gy = gl.crs.wgs84_to_gcj02(coords[:, 0], coords[:, 1])
    gcj = wgs.set_geometry(shapely.set_coordinates(wgs.geometry.values.copy(), np.column_stack([gx, gy])))
    shp = tmp_path / "gcj" / "grids.shp"
    shp.parent.mkdir()
    gcj[["grid_code", "geometry"]].to_file(shp)
    shp.with_suffix(".prj").unlink()
    out["no_prj"] = (shp, {}, "crs_missing")
    return out


@pytest.mark.parametrize("case", ["half", "wrong_district", "duplicated", "self_intersecting", "no_prj"])
def test_bad_files_are_refused_with_a_report_and_change_nothing(base_store, first, tmp_path, case):
    data, options, rule = _bad_inputs(first, tmp_path)[case]
    if isinstance(data, gpd.GeoDataFrame):
        path = tmp_path / f"{case}.gpkg"
        data.to_file(path, layer="grids")
    else:
        path = data
    before = hashlib.sha256(base_store.path.read_bytes()).hexdigest()
    with pytest.raises(ValidationError) as err:
        gl.grid.import_edition(path, base_store, effective_date="2026-07-01", **options)
    assert rule in set(err.value.report["rule"])
    assert hashlib.sha256(base_store.path.read_bytes()).hexdigest() == before
    report = path.with_name(f"{path.stem}.report.gpkg")
    assert report.exists() and report.with_suffix(".txt").read_text().count(rule) >= 1


def test_gcj02_file_is_taken_in_when_declared(base_store, first, tmp_path):
    shp, _, _ = _bad_inputs(first, tmp_path)["no_prj"]
    res = gl.grid.import_edition(shp, base_store, effective_date="2026-07-01", crs="gcj02")
    assert res.summary == {"unchanged": len(first)}


def test_numeric_code_field_is_converted_with_a_warning(gpkg_store, first, tmp_path):
    g = first[["grid_code", "geometry"]].assign(grid_code=first["grid_code"].astype("float64"))
    path = tmp_path / "numeric.gpkg"
    g.to_file(path, layer="grids")
    res = gl.grid.import_edition(path, gpkg_store, effective_date="2026-01-01")
    assert "code_numeric" in set(res.report["rule"])
    assert sorted(gl.GridSet.from_store(gpkg_store).grids["grid_code"]) == sorted(first["grid_code"])


def _kill_before_crosswalk(store, monkeypatch):
    real = store.write_layer

    def dying(name, frame, mode="replace"):
        if name == CROSSWALK_LAYER:
            raise KeyboardInterrupt("killed between steps")
        return real(name, frame, mode)

    monkeypatch.setattr(store, "write_layer", dying)


@pytest.mark.parametrize("kind", ["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_import_killed_between_steps_changes_nothing(kind, request, first, edited, tmp_path, monkeypatch):
    store = request.getfixturevalue("gpkg_store" if kind == "gpkg" else "pg_store")
    gl.grid.import_edition(first, store, effective_date="2026-01-01")
    before = _snapshot(store)
    _kill_before_crosswalk(store, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        gl.grid.import_edition(edited, store, effective_date="2026-07-01")
    monkeypatch.undo()
    _assert_same(before, _snapshot(store))
    assert gl.grid.editions(store)["edition_id"].tolist() == ["E0001"]


def test_concurrent_gpkg_import_fails_cleanly(base_store, first, edited):
    other = gl.store.open(base_store.path)
    before = _snapshot(base_store)
    with other.lock(IMPORT_LOCK), pytest.raises(LockError):
        gl.grid.import_edition(edited, base_store, effective_date="2026-07-01")
    _assert_same(before, _snapshot(base_store))
    gl.grid.import_edition(edited, base_store, effective_date="2026-07-01")  # the lock is free again


def test_a_failed_import_leaves_no_lock_file(base_store, first, edited):
    """Review: a failed grid import left <store>.grid_import.lock beside the store (a successful one too)."""
    lock_file = base_store.path.with_name(f"{base_store.path.name}.{IMPORT_LOCK}.lock")
    lonlat_as_4550 = edited.to_crs(4326).set_crs(4550, allow_override=True)
    with pytest.raises(gl.CRSError):
        gl.grid.import_edition(lonlat_as_4550, base_store, effective_date="2026-07-01")
    assert not lock_file.exists()
    with pytest.raises(gl.InputError, match="must be after"):
        gl.grid.import_edition(edited, base_store, effective_date="2025-06-01")
    assert not lock_file.exists()
    # refused while another holds it: the holder's file stays until the holder lets go
    other = gl.store.open(base_store.path)
    with other.lock(IMPORT_LOCK):
        with pytest.raises(LockError):
            gl.grid.import_edition(edited, base_store, effective_date="2026-07-01")
        assert lock_file.exists()
    assert not lock_file.exists()
    gl.grid.import_edition(edited, base_store, effective_date="2026-07-01")
    assert not lock_file.exists()
    # what a killed holder leaves (the file, unlocked) is taken and removed by the next import
    lock_file.write_text("")
    gl.grid.import_edition(first, base_store, effective_date="2026-09-01")
    assert not lock_file.exists()
    assert sorted(p.name for p in base_store.path.parent.iterdir() if p.name.endswith(".lock")) == []


@pytest.mark.postgis
def test_concurrent_postgis_import_fails_cleanly(pg_store, postgis_url, first, edited):
    gl.grid.import_edition(first, pg_store, effective_date="2026-01-01")
    other = gl.store.open(postgis_url, schema=pg_store.schema)
    try:
        with other.lock(IMPORT_LOCK), pytest.raises(LockError):
            gl.grid.import_edition(edited, pg_store, effective_date="2026-07-01")
    finally:
        other.close()
    assert gl.grid.editions(pg_store)["edition_id"].tolist() == ["E0001"]


def test_effective_date_must_move_forward(base_store, first, edited):
    with pytest.raises(gl.InputError, match="must be after"):
        gl.grid.import_edition(edited, base_store, effective_date="2025-06-01")


KILL_SCRIPT = """
import os, signal, sys
import geopandas as gpd
import gridlib as gl
from gridlib.grid.edition import CROSSWALK_LAYER
store = gl.store.open(sys.argv[1])
real = store.write_layer
def write_layer(name, frame, mode="replace"):
    if name == CROSSWALK_LAYER:
        os.kill(os.getpid(), signal.SIGKILL)  # the process dies inside the transaction
    return real(name, frame, mode)
store.write_layer = write_layer
gl.grid.import_edition(sys.argv[2], store, effective_date="2026-07-01")
"""


def test_gpkg_import_killed_by_sigkill_leaves_the_store_as_it_was(base_store, tmp_path):
    import subprocess
    import sys

    before = hashlib.sha256(base_store.path.read_bytes()).hexdigest()
    proc = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(base_store.path),
                           str(GRIDS / "lujiazui_grids_edited.gpkg")], capture_output=True, timeout=300)
    assert proc.returncode == -9
    assert hashlib.sha256(base_store.path.read_bytes()).hexdigest() == before
    assert gl.grid.editions(base_store)["edition_id"].tolist() == ["E0001"]
    # the lock died with the process: the next import goes through
    res = gl.grid.import_edition(GRIDS / "lujiazui_grids_edited.gpkg", base_store, effective_date="2026-07-01")
    assert res.edition_id == "E0002"
