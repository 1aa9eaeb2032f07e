"""Seeded, labelled-synthetic demo data over the real Shanghai Lujiazui demo area.

:func:`generate` writes every layer later features and the README's main job use:
urban-management cases, the component inventory, cameras, team bases, responsibility
tables, 包路段 road sections, 门前五包 frontage zones, and one night of muck trucks
(sites, permits with real shortest-path routes, GPS fixes) with ``truth.json`` naming
every planted event and bad record. The geometry underneath is real OpenStreetMap data
(© OpenStreetMap contributors, ODbL); everything placed on it is synthetic and says so
(``README.txt``, GeoJSON ``description``, Parquet metadata). Same seed → identical bytes.

>>> import tempfile, gridlib as gl
>>> paths = gl.demo.generate(tempfile.mkdtemp(), seed=1, n_cases=300, n_trucks=9)
>>> sorted(paths)[:4]
['cameras', 'cases', 'components', 'fixes']
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gridlib.demo import assets
from gridlib.demo._area import (
    SYNTHETIC_NOTE,
    load_area,
    out_dir,
    write_csv,
    write_geojson,
    write_json,
    write_parquet,
    write_text,
)
from gridlib.demo.cases import generate_cases
from gridlib.demo.trucks import night
from gridlib.errors import InputError
from gridlib.progress import step

__all__ = ["generate", "FILES"]

#: layer name → file name in the output folder
FILES = {
    "cases": "cases.csv", "components": "components.geojson", "cameras": "cameras.geojson",
    "team_bases": "team_bases.geojson", "responsibility": "responsibility.csv",
    "road_sections": "road_sections.geojson", "frontage_zones": "frontage_zones.geojson",
    "sites": "sites.geojson", "permits": "permits.geojson", "fixes": "fixes.parquet", "truth": "truth.json",
    "readme": "README.txt",
}
_STREAMS = ("trucks", "components", "cases", "cameras", "responsibility", "sections", "zones")


def generate(
    out: str | os.PathLike[str],
    *,
    seed: int = 0,
    days: int = 120,
    end_date: str = "2026-11-21",
    n_cases: int = 15_000,
    n_trucks: int = 20,
    n_extra_cameras: int = 50,
    bad_share: float = 0.01,
) -> dict[str, Path]:
    """Generate the demo data set into folder *out*; return ``{layer: path}``.

    Parameters
    ----------
    out : path
        Output folder (created). Existing files of the same names are replaced atomically.
    seed : int
        Seed of every random choice: the same seed gives byte-identical files.
    days, end_date : int, str
        The cases cover the *days* days up to and including *end_date*; the log is
        extracted right after its last report, so recent cases are still open. The truck night
        starts at 22:00 on the day before *end_date*.
    n_cases : int
        Number of valid cases (about ``bad_share`` more rows are spoilt or duplicated).
    n_trucks : int
        Trucks in the night (at least 1). With 9 or more, each planted event (up to four
        deviations, three stops, one truck without a permit, one GPS silence) has its own
        vehicle; a smaller fleet gets them in turn while trucks last.
    n_extra_cameras : int
        Cameras besides the 77 at traffic signals.
    bad_share : float
        Share of case rows made bad on purpose (missing/swapped/far coordinates,
        duplicate ids, unknown classes, unparseable times).

    Returns
    -------
    dict of str to Path
        ``cases``, ``components``, ``cameras``, ``team_bases``, ``responsibility``,
        ``road_sections``, ``frontage_zones``, ``sites``, ``permits``, ``fixes``,
        ``truth``, ``readme``.

    Examples
    --------
    >>> import tempfile
    >>> import pandas as pd
    >>> paths = generate(tempfile.mkdtemp(), seed=1, n_cases=100, n_trucks=9, n_extra_cameras=0)
    >>> sorted(paths)
    ['cameras', 'cases', 'components', 'fixes', 'frontage_zones', 'permits', 'readme', 'responsibility', 'road_sections', 'sites', 'team_bases', 'truth']
    >>> cases = pd.read_csv(paths["cases"], dtype=str)
    >>> len(cases) >= 100, cases["reported_at"].max() <= "2026-11-21T23:59:59"
    (True, True)
    """
    if days < 1 or n_cases < 1:
        raise InputError(f"days={days}, n_cases={n_cases}: both must be positive")
    try:
        np.datetime64(end_date, "D")
    except ValueError as exc:
        raise InputError(f"end_date={end_date!r} is not a date (YYYY-MM-DD)") from exc
    folder = out_dir(out)
    streams = dict(zip(_STREAMS, (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(_STREAMS))),
                       strict=True))
    truck_date = (np.datetime64(end_date) - np.timedelta64(1, "D")).astype(str)
    state: dict = {}
    with step("demo data: reading the real demo area"):
        area = load_area()
    with step(f"demo data: one truck night ({n_trucks} trucks)"):
        state["night"] = night(area, streams["trucks"], date=truck_date, n_trucks=n_trucks)
    with step("demo data: component inventory"):
        state["components"] = assets.components(area, streams["components"])
    with step(f"demo data: {n_cases:,} cases over {days} days"):
        state["cases"] = generate_cases(area, state["components"], state["night"].sites, streams["cases"],
                                        n_cases=n_cases, days=days, end_date=end_date, bad_share=bad_share)
    with step("demo data: cameras, team bases, responsibility, road sections, frontage zones"):
        state["cameras"] = assets.cameras(area, streams["cameras"], n_extra=n_extra_cameras)
        state["team_bases"] = assets.team_bases(area)
        state["responsibility"] = assets.responsibility(area, streams["responsibility"])
        state["road_sections"] = assets.road_sections(area, streams["sections"])
        state["frontage_zones"] = assets.frontage_zones(area, streams["zones"])
    with step(f"demo data: writing {len(FILES)} files to {folder}"):
        paths = _write(folder, state, seed=seed, end_date=end_date, days=days)
    return paths


def _write(folder: Path, state: dict, *, seed: int, end_date: str, days: int) -> dict[str, Path]:
    cases, bad, hotspots = state["cases"]
    nt = state["night"]
    path = {k: folder / v for k, v in FILES.items()}
    write_csv(cases, path["cases"])
    write_csv(state["responsibility"], path["responsibility"])
    for layer in ("components", "cameras", "team_bases", "road_sections", "frontage_zones"):
        write_geojson(state[layer], path[layer])
    write_geojson(nt.sites, path["sites"])
    write_geojson(nt.permits, path["permits"])
    write_parquet(nt.fixes, path["fixes"], {"seed": seed, "crs": "EPSG:4326", "time": "naive China Standard Time"})
    write_json({
        "synthetic": True, "seed": seed, "end_date": end_date, "days": days,
        "bad_cases": bad, "truck_events": nt.events, "case_hotspots": hotspots,
        "counts": {"cases": len(cases), "fixes": len(nt.fixes), "sites": len(nt.sites), "permits": len(nt.permits),
                   **{k: len(state[k]) for k in ("components", "cameras", "team_bases", "responsibility",
                                                 "road_sections", "frontage_zones")}},
    }, path["truth"])
    write_text(_README.format(note=SYNTHETIC_NOTE, seed=seed, end_date=end_date, days=days), path["readme"])
    return path


_README = """gridlib demo data — {note}

Seed {seed}; cases over the {days} days up to {end_date}; one truck night before {end_date}.
Rebuild: gridlib demo-data --out <dir> --seed {seed}   (same seed -> identical files)

Everything here is SYNTHETIC (made up by a seeded generator) and must not be read as real
cases, people, vehicles or companies. Names such as "王某0001" and phone numbers "100-0000-0001"
are fake on purpose. The roads, buildings, POIs, river and district boundaries underneath are
real OpenStreetMap data: (c) OpenStreetMap contributors, ODbL 1.0
(https://www.openstreetmap.org/copyright). Street and community polygons are derived
approximations with real NBS 2023 street codes.

Coordinates: WGS84 (EPSG:4326) lon/lat. Times: naive China Standard Time (UTC+8), ISO 8601.

cases.csv              urban-management cases in the gridlib case-log schema (docs/conventions.md),
                       about 1 % bad rows on purpose (see truth.json "bad_cases")
components.geojson     component inventory (manhole covers, street lamps, litter bins), 17-digit ids
cameras.geojson        cameras at the traffic signals and other sites, heading/fov/range/height
team_bases.geojson     城管中队 bases
responsibility.csv     street- and community-level responsible unit, team, person, phone
road_sections.geojson  包路段 sections of the major roads with unit and width_m
frontage_zones.geojson 门前五包 zones in front of shops and restaurants
sites.geojson          construction and disposal sites (muck trucks)
permits.geojson        transport permits with the approved route
fixes.parquet          GPS fixes of one night (vehicle_id, time, lon, lat, speed_kmh)
truth.json             the planted truck events, bad case records and case hotspots
"""
