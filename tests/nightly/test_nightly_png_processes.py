"""The nightly PNG maps drawn in forked processes are the bytes drawn in the run's own process; an error in one
map reaches the run; a map is drawn once (geopandas' idle redraw after each layer is a no-op on map canvases)."""

from __future__ import annotations

import datetime as dt
import hashlib
import multiprocessing as mp
from pathlib import Path

import geopandas as gpd
import matplotlib.pyplot as plt
import pytest
from test_nightly_maps import _cases, _lattice

from gridlib.maps import static as smap
from gridlib.nightly import maps

DATE = dt.date(2026, 11, 21)


def _layers() -> tuple[dict, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    grids, cases = _cases(_lattice(), {"red": 30, "yellow": 5, "green": 20})
    return {"grid_responsibility": grids, "assigned_cases": cases}, grids, maps.street_outlines(grids)


def _draw(work: Path, processes: str, monkeypatch) -> dict[str, str]:
    layers, grids, streets = _layers()
    monkeypatch.setenv("GRIDLIB_NIGHTLY_PROCESSES", processes)
    work.mkdir()
    with maps.png_maps(work, layers, grids, streets, DATE):
        pass
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((work / "maps").iterdir())}


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="this platform cannot fork")
def test_forked_maps_are_the_bytes_of_in_process_maps(tmp_path, monkeypatch):
    here = _draw(tmp_path / "here", "0", monkeypatch)
    forked = _draw(tmp_path / "forked", "2", monkeypatch)
    _, _, streets = _layers()
    assert sorted(here) == ["overview.png", *sorted(f"street_{c}.png" for c in streets["street_code"])]
    assert forked == here


def test_an_error_in_a_forked_map_reaches_the_run(tmp_path, monkeypatch):
    layers, grids, streets = _layers()
    del layers["assigned_cases"]  # every map reads it
    monkeypatch.setenv("GRIDLIB_NIGHTLY_PROCESSES", "2")
    with pytest.raises(KeyError, match="assigned_cases"), maps.png_maps(tmp_path, layers, grids, streets, DATE):
        pass
    assert maps._TO_DRAW == {}


def test_a_map_is_drawn_once_however_many_layers(monkeypatch):
    grids, _ = _cases(_lattice(), {})
    fig, ax = smap.new_map(grids)
    draws = []
    monkeypatch.setattr(fig.canvas, "draw", lambda *a, **k: draws.append(1))
    for _ in range(3):
        grids.plot(ax=ax)  # geopandas ends each plot with canvas.draw_idle()
    plt.close(fig)
    assert draws == []


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="this platform cannot fork")
def test_maps_are_drawn_here_while_another_thread_lives(tmp_path, monkeypatch, caplog):
    """A thread alive (it might hold a lock a forked process would need for good): no map process is forked."""
    import os
    import threading

    here = _draw(tmp_path / "here", "0", monkeypatch)
    forks, fork = [], os.fork
    monkeypatch.setattr(os, "fork", lambda: forks.append(1) or fork())
    done = threading.Event()
    other = threading.Thread(target=done.wait, name="another-thread", daemon=True)
    other.start()
    try:
        drawn = _draw(tmp_path / "forked", "2", monkeypatch)
    finally:
        done.set()
        other.join()
    assert forks == [] and drawn == here
    assert "PNG maps computed in this process, not forked" in caplog.text and "another-thread" in caplog.text
