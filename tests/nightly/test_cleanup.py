"""Killed runs leave nothing behind for good (issue 18 item 8): the next run removes their run folders,
temporary links and the store's temporary copies, says so in the log, and never touches the published
products or the folder of a run still going on."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd

import gridlib as gl
from gridlib.nightly.outputs import (
    atomic_products_dir,
    clean_orphans,
    clean_store_temps,
    edition_cache_build,
)

#: A run that fills its folder with 1 MiB, says where it is, then waits to be killed (or released).
RUN = """
import sys, time, pathlib
from gridlib.nightly.outputs import atomic_products_dir
out, date, release = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
with atomic_products_dir(out, date) as work:
    (work / "maps.png").write_bytes(b"x" * (1 << 20))
    print(work, flush=True)
    while not release.exists():
        time.sleep(0.05)
"""

#: A writer of a GeoPackage store, inside its transaction (working on the .tmp.gpkg copy), waiting.
WRITER = """
import sys, time, pathlib
import pandas as pd
import gridlib as gl
store, release = gl.store.open(sys.argv[1]), pathlib.Path(sys.argv[2])
with store.transaction():
    store.write_layer("more", pd.DataFrame({"n": range(1000)}))
    print("in transaction", flush=True)
    while not release.exists():
        time.sleep(0.05)
"""


def _start(script: str, *args: object) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-c", script, *map(str, args)], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    assert line, f"the helper process died (exit {proc.wait()})"
    return proc, line


def _kill9(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)


def _published(out: Path, date: str, text: str) -> None:
    with atomic_products_dir(out, date) as work:
        (work / "who.txt").write_text(text)


def test_next_run_removes_killed_runs_folders_but_not_live_ones_nor_products(tmp_path, caplog):
    out = tmp_path / "products"
    _published(out, "2026-11-20", "published 20th")
    _published(out, "2026-11-21", "published 21st")
    # a run still going on, and three runs of the 21st started beside it and killed by kill -9 while writing
    # (all started before any is killed: each run cleans what earlier killed runs left)
    live, live_work = _start(RUN, out, "2026-11-22", tmp_path / "release")
    started = [_start(RUN, out, "2026-11-21", tmp_path / "never") for _ in range(3)]
    for proc, _ in started:
        _kill9(proc)
    killed = [Path(work) for _, work in started]
    # a kill between making the temporary link and renaming it leaves the link too
    os.symlink(os.path.relpath(killed[0], out), out / f".{killed[0].name}.link")
    try:
        assert all(p.is_dir() for p in killed)
        with caplog.at_level(logging.INFO, logger="gridlib"):
            _published(out, "2026-11-21", "published again")  # the next run
        for p in killed:
            assert not p.exists(), f"{p} (left by a killed run) survived the next run"
        assert not list(out.glob(".*.link"))
        assert Path(live_work).is_dir() and (Path(live_work) / "maps.png").stat().st_size == 1 << 20
        assert (out / "2026-11-20" / "who.txt").read_text() == "published 20th"
        assert (out / "2026-11-21" / "who.txt").read_text() == "published again"
        message = next(r.getMessage() for r in caplog.records if "orphan" in r.getMessage())
        assert f"removed 4 orphan(s) left by killed runs in {out}, {3 * (1 << 20)} bytes" in message
        for p in killed:
            assert f".runs/{p.name} ({1 << 20} bytes)" in message
    finally:
        (tmp_path / "release").touch()
        assert live.wait(30) == 0
    # the live run published normally, and nothing else is left in .runs
    assert (out / "2026-11-22").resolve() == Path(live_work).resolve()
    folders = sorted(p.name for p in (out / ".runs").iterdir())
    assert folders == sorted((out / d).resolve().name for d in ("2026-11-20", "2026-11-21", "2026-11-22"))
    assert clean_orphans(out) == []  # nothing more to clean


def test_clean_orphans_alone_leaves_a_live_run_and_the_published_folders(tmp_path):
    out = tmp_path / "products"
    _published(out, "2026-11-20", "a")
    live, live_work = _start(RUN, out, "2026-11-21", tmp_path / "release")
    try:
        assert clean_orphans(out) == []
        assert Path(live_work).is_dir()
    finally:
        (tmp_path / "release").touch()
        live.wait(30)
    assert (out / "2026-11-20" / "who.txt").read_text() == "a"


def test_store_temporary_copies_of_killed_writers_are_removed_live_ones_kept(tmp_path, caplog):
    path = tmp_path / "store.gpkg"
    store = gl.store.open(path)
    store.write_layer("cases", pd.DataFrame({"case_id": ["c1"]}))
    proc, _ = _start(WRITER, path, tmp_path / "never")
    _kill9(proc)
    orphans = list(tmp_path.glob(".store.gpkg.*.tmp.gpkg"))
    assert len(orphans) == 1
    size = orphans[0].stat().st_size
    # while another writer is live, its copy is in use: nothing is removed
    live, _ = _start(WRITER, path, tmp_path / "release")
    try:
        assert len(list(tmp_path.glob(".store.gpkg.*.tmp.gpkg"))) == 2
        assert clean_store_temps(store) == []
        assert len(list(tmp_path.glob(".store.gpkg.*.tmp.gpkg"))) == 2
    finally:
        (tmp_path / "release").touch()
        assert live.wait(60) == 0
    with caplog.at_level(logging.INFO, logger="gridlib"):
        removed = clean_store_temps(store)
    assert removed == [(orphans[0].name, size)]
    assert not list(tmp_path.glob("*.tmp.gpkg"))
    assert f"{size} bytes" in caplog.text and orphans[0].name in caplog.text
    assert sorted(store.layers()) == ["cases", "more"]  # the store itself intact (the live writer committed)


#: A tile build for the edition cache that writes its archive, says where it is, then waits to be killed.
BUILD = """
import sys, time, pathlib
from gridlib.nightly.outputs import edition_cache_build
cache, release = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
with edition_cache_build(cache, "E2-abc") as tmp:
    (tmp / "grids.pmtiles").write_bytes(b"x" * 1000)
    print(tmp, flush=True)
    while not release.exists():
        time.sleep(0.05)
"""


def test_the_edition_tile_cache_outlives_cleanup_and_killed_builds_do_not(tmp_path):
    """The edition's tiles in .runs/tiles are no run's folder: the next run keeps them (the CI failure of
    stop 21 was the cleaner removing them, so every night rebuilt the city's tiles)."""
    out = tmp_path / "products"
    _published(out, "2026-11-20", "a")
    cache = out / ".runs" / "tiles"
    with edition_cache_build(cache, "E1-abc") as tmp:
        (tmp / "grids.pmtiles").write_bytes(b"tiles")
    killed, killed_tmp = _start(BUILD, cache, tmp_path / "never")
    _kill9(killed)
    live, live_tmp = _start(BUILD, cache, tmp_path / "release")
    try:
        removed = clean_orphans(out)
        assert removed == [(f".runs/tiles/{Path(killed_tmp).name}", 1000)]
        assert (cache / "E1-abc" / "grids.pmtiles").read_bytes() == b"tiles"
        assert Path(live_tmp).is_dir()  # a build still going on is left alone
    finally:
        (tmp_path / "release").touch()
        assert live.wait(30) == 0
    assert sorted(p.name for p in cache.iterdir()) == ["E1-abc", "E2-abc"]
    _published(out, "2026-11-21", "b")
    assert sorted(p.name for p in cache.iterdir()) == ["E1-abc", "E2-abc"]
