"""Atomic writes keep a file's mode and give new files the umask's mode (issue 16 item 2)."""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point

import gridlib.store
from gridlib.cli import main
from gridlib.io import atomic_path, write_csv, write_gpkg
from gridlib.nightly.outputs import atomic_products_dir


@contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _points() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"n": [1]}, geometry=[Point(500000, 3400000)], crs=4547)


def test_new_files_and_folders_get_the_umask_mode(tmp_path):
    with umask(0o022):
        write_gpkg(_points(), tmp_path / "multi.gpkg", "a")
        write_gpkg(_points(), tmp_path / "multi.gpkg", "b")  # copy_existing=True path
        write_csv(pd.DataFrame({"n": [1]}), tmp_path / "x.csv")
        with atomic_products_dir(tmp_path / "products", "2026-11-20") as work:
            (work / "a.txt").write_text("x")
        store = gridlib.store.open(tmp_path / "s.gpkg")
        store.write_layer("t", pd.DataFrame({"n": [1]}))
    assert mode(tmp_path / "multi.gpkg") == 0o644
    assert mode(tmp_path / "x.csv") == 0o644
    assert mode(tmp_path / "s.gpkg") == 0o644
    assert mode((tmp_path / "products" / "2026-11-20").resolve()) == 0o755
    with umask(0o002), atomic_path(tmp_path / "y.txt") as tmp:
        tmp.write_text("y")
    assert mode(tmp_path / "y.txt") == 0o664


def test_existing_modes_are_kept(tmp_path):
    target = tmp_path / "shared.gpkg"
    write_gpkg(_points(), target, "a")
    os.chmod(target, 0o664)
    with umask(0o077):  # even a strict umask does not change an existing file
        write_gpkg(_points(), target, "b")
        gridlib.store.open(target).write_layer("t", pd.DataFrame({"n": [1]}))
    assert mode(target) == 0o664


@pytest.mark.parametrize("shared_mode", [0o664, 0o640])
def test_grid_import_keeps_a_shared_store_mode(tmp_path, shared_mode):
    import gridlib as gl

    store_path = tmp_path / "store.gpkg"
    gridlib.store.open(store_path).write_layer("keep", pd.DataFrame({"n": [1]}))
    os.chmod(store_path, shared_mode)
    grids = tmp_path / "grids.gpkg"
    write_gpkg(gl.datasets.demo_grids().head(40), grids, "grids")
    with umask(0o022):
        code = main(["grid", "import", str(grids), "--store", str(store_path), "--effective-date", "2026-01-01"])
    assert code == 0 and "grid_editions" in gridlib.store.open(store_path).layers()
    assert mode(store_path) == shared_mode
