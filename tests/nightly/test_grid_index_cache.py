"""The nightly run keeps the grid edition's GridIndex in OUT/.gridindex between nights (issue 19): built
and saved on the first night, read on the next ones, never read for other grids."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import shapely

import gridlib as gl
from gridlib.index import GridIndex
from gridlib.nightly import NightlyOptions, load_demo_store, run_nightly
from gridlib.nightly.outputs import INDEX_CACHE, clean_orphans, frame_digest
from gridlib.nightly.pipeline import _grid_index, index_cache_path

DATE = "2026-11-21"
FAST = NightlyOptions(permutations=99)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "manifest.json"}


def _assign_notes(manifest: dict) -> dict:
    return next(s for s in manifest["steps"] if s["name"] == "assign cases")["notes"]


@pytest.fixture(scope="module")
def two_nights(tmp_path_factory, demo_dir):
    store_path = tmp_path_factory.mktemp("store") / "store.gpkg"
    load_demo_store(gl.store.open(store_path), demo_dir)
    out = tmp_path_factory.mktemp("products")
    first = run_nightly(gl.store.open(store_path), DATE, out, options=FAST)
    first_files = _files(out / DATE)
    saved = sorted((out / INDEX_CACHE).rglob("*.npz"))
    stamp = saved[0].stat().st_mtime_ns if saved else None
    second = run_nightly(gl.store.open(store_path), DATE, out, options=FAST)
    return out, first, first_files, saved, stamp, second


def test_the_first_night_saves_the_index_and_the_next_reads_it(two_nights):
    out, first, first_files, saved, stamp, second = two_nights
    assert _assign_notes(first)["grid_index"] == "built and saved"
    assert _assign_notes(second)["grid_index"] == "loaded"
    assert len(saved) == 1 and saved[0].parent.name.startswith(first["grid_edition"]["edition_id"] + "-")
    assert saved[0].stat().st_mtime_ns == stamp  # read, not written again
    # the products of the night that read the index are those of the night that built it, byte for byte
    assert _files(out / DATE) == first_files


def test_the_index_cache_survives_the_cleaning_of_killed_runs_and_a_killed_build_is_removed(two_nights):
    out, _, _, saved, _, _ = two_nights
    killed = out / INDEX_CACHE / ".build-E0001-0123.x1y2"  # a build whose process died (no lock held)
    killed.mkdir()
    (killed / "grids.npz").write_bytes(b"x" * 10)
    assert clean_orphans(out) == [(f"{INDEX_CACHE}/{killed.name}", 10)]
    assert saved[0].is_file() and clean_orphans(out) == []



def test_other_grids_get_another_file_and_a_mismatched_file_is_rebuilt(tmp_path, caplog):
    grids = gl.datasets.demo_grids()
    grids = grids.to_crs(gl.crs.metric_crs_for(grids)) if not grids.crs.is_projected else grids
    one = gl.GridSet.from_gdf(grids)
    edition = {"edition_id": "E0001"}
    path = index_cache_path(tmp_path, one.grids, edition, frame_digest(one.grids))
    notes: dict = {}
    built = _grid_index(one, path, notes)
    assert notes["grid_index"] == "built and saved" and path.is_file()
    loaded = _grid_index(one, path, notes)
    assert notes["grid_index"] == "loaded"
    x0, y0, x1, y1 = one.grids.total_bounds
    rng = np.random.default_rng(0)
    x, y = rng.uniform(x0, x1, 5000), rng.uniform(y0, y1, 5000)
    assert np.array_equal(loaded.lookup(x, y), built.lookup(x, y))
    assert np.array_equal(loaded.topology.partner, built.topology.partner)
    # grids that differ in one polygon are other grids: another file
    moved = one.grids.copy()
    moved.loc[0, "geometry"] = shapely.affinity.scale(moved.geometry.iloc[0], 0.5, 0.5)
    two = gl.GridSet.from_gdf(moved)
    other = index_cache_path(tmp_path, two.grids, edition, frame_digest(two.grids))
    assert other != path
    # a file at the path that is not these grids' index (damaged, or copied there) is never used: rebuilt
    fewer = gl.GridSet.from_gdf(one.grids.iloc[1:].reset_index(drop=True))
    GridIndex(fewer.grids).save(path)
    with caplog.at_level(logging.WARNING, logger="gridlib.nightly.pipeline"):
        again = _grid_index(one, path, notes)
    assert notes["grid_index"] == "built and saved" and "built again" in caplog.text
    assert np.array_equal(again.lookup(x, y), built.lookup(x, y))
    assert _grid_index(one, path, notes) is not None and notes["grid_index"] == "loaded"
    path.write_bytes(b"not an index")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gridlib.nightly.pipeline"):
        _grid_index(one, path, notes)
    assert notes["grid_index"] == "built and saved" and "could not be read" in caplog.text


def test_grids_in_degrees_are_left_to_assign(tmp_path):
    gs = gl.GridSet(gl.datasets.demo_grids().to_crs(4326))  # as given (from_gdf would project them)
    notes: dict = {}
    assert _grid_index(gs, index_cache_path(tmp_path, gs.grids, {}, frame_digest(gs.grids)), notes) is None
    assert notes == {}
