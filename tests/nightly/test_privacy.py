"""Issue 18 item 3: personal data planted in every input field never reaches a product nor the log.

Phone numbers, ID numbers and Chinese names are planted in every field of every layer the nightly
reads (cases, responsibility, components, frontage zones, road sections, truck fixes / permits /
sites, cameras, team bases, roads, buildings, water, and the grid edition's names). Then the real
nightly (``pipelines/nightly.py``) runs on that store, and every byte of every product file — and
every text column of every table of the GeoPackage — and the nightly log are searched for them.

Each planted value is unique, so a finding names the field it came from. A value may appear in a
product only where the product publishes that field by design (:data:`BY_DESIGN`: a record's own id,
the responsible unit / team / person, a grid's or road's name, a company's name …) — and then only in
the product columns listed there. Everything else (status, urgency, times, counts, coordinates,
free text, numbers …) must appear nowhere; the full reasons quoting the values go to the
operator's unpublished rejects file only.
"""

from __future__ import annotations

import itertools
import os
import re
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

import gridlib as gl
from gridlib.live.alerts import ALERT_COLUMNS
from gridlib.nightly import INPUT_LAYERS, load_demo_store
from gridlib.nightly.pipeline import private_rejects_path

pytestmark = pytest.mark.slow  # ~40 s: a demo store, the real nightly, every product byte

DATE = "2026-11-20"
ROOT = Path(__file__).resolve().parents[2]

#: input field -> the product columns that publish it verbatim by design (anything else must not show it)
BY_DESIGN: dict[tuple[str, str], set[str]] = {
    ("cases", "case_id"): {"case_id", "record_id"},
    ("grids", "community_name"): {"community_name"},
    ("grids", "street_name"): {"street_name"},
    ("grids", "district_name"): {"district_name"},
    # the edition's grid area (computed from the geometry when it is built) is published as it is stored
    ("grids", "area_m2"): {"area_m2"},
    ("grid_parents", "name"): {"community_name", "street_name", "district_name"},
    ("responsibility", "unit"): {"responsible_unit"},
    ("responsibility", "team"): {"team"},
    ("responsibility", "person"): {"person"},
    ("components", "owner_unit"): {"responsible_unit"},
    ("components", "maintainer_unit"): {"responsible_unit"},
    ("frontage_zones", "unit"): {"responsible_unit"},
    ("road_sections", "unit"): {"responsible_unit"},
    ("truck_fixes", "vehicle_id"): {"vehicle_id", "record_id"},
    ("truck_permits", "vehicle_id"): {"vehicle_id"},
    ("truck_permits", "permit_id"): {"permit_id"},
    ("truck_permits", "company"): {"company"},
    ("cameras", "camera_id"): {"camera_id"},
    ("cameras", "type"): {"type"},
    ("team_bases", "base_id"): {"nearest_base"},
    ("team_bases", "name"): {"nearest_base"},
    ("roads", "name"): {"name"},
    ("roads", "kind"): {"kind"},
    ("roads", "kind_detail"): {"kind_detail"},
}

#: Grid codes and the edition's bookkeeping are not planted: a grid edition with a malformed code is
#: refused as a whole by its import (tests/grid), and the nightly never reads the bookkeeping columns.
NOT_PLANTED = {("grids", "grid_code"), ("grids", "community_code"), ("grids", "street_code"),
               ("grids", "district_code"), ("grids", "edition_id"), ("grid_parents", "edition_id"),
               ("grid_parents", "code"), ("grid_parents", "level")}

#: every planted value, and anything that looks like one (a value found that we did not plant is a leak too)
PATTERN = re.compile(r"1395555\d{4}|ID3101011990\d{6}|司马秘名[甲乙丙丁戊己庚辛壬癸]*|上官秘者")
_STEMS = "甲乙丙丁戊己庚辛壬癸"


def _name(n: int) -> str:
    digits = []
    while True:
        n, d = divmod(n, 10)
        digits.append(_STEMS[d])
        if not n:
            return "司马秘名" + "".join(reversed(digits))


class Planter:
    """Hands out unique personal-looking values and remembers which field each went into."""

    def __init__(self) -> None:
        self.origin: dict[str, tuple[str, str]] = {}
        self._n = itertools.count(10)

    def values(self, layer: str, field: str) -> list[str]:
        n = next(self._n)
        out = [f"1395555{n:04d}", f"ID3101011990{n:04d}55", _name(n)]
        for v in out:
            self.origin[v] = (layer, field)
        return out

    def plant(self, frame: pd.DataFrame, layer: str) -> pd.DataFrame:
        frame = frame.copy()
        geometry = frame.geometry.name if hasattr(frame, "geometry") and "geometry" in frame else None
        fields = [c for c in frame.columns if c != geometry and (layer, c) not in NOT_PLANTED]
        for k, column in enumerate(fields):
            phone, id_number, name = self.values(layer, column)
            rows = [(3 * k + j) % len(frame) for j in range(3)]
            series = frame[column]
            if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
                # a typed number column holds the phone number as a number (what a GeoPackage would)
                frame[column] = series.astype("float64")
                frame.loc[frame.index[rows[0]], column] = float(phone)
                self.origin.pop(id_number), self.origin.pop(name)
                continue
            if pd.api.types.is_bool_dtype(series):
                self.origin.pop(phone), self.origin.pop(id_number), self.origin.pop(name)
                continue
            if pd.api.types.is_datetime64_any_dtype(series):
                series = series.dt.strftime("%Y-%m-%d %H:%M:%S")  # a text time column, as from a CSV
            series = series.astype(object)
            for row, value in zip(rows, (phone, id_number, name), strict=True):
                series.iloc[row] = value
            frame[column] = series
        return frame


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("privacy")
    gl.demo.generate(work / "demo", seed=2, n_cases=300, n_trucks=9, n_extra_cameras=0)
    store_path = work / "store.gpkg"
    store = gl.store.open(store_path)
    load_demo_store(store, work / "demo")
    planter = Planter()
    # the literal values of the issue, in the case log's coded and counted fields
    cases = store.read_layer("cases")
    for row, (field, value) in enumerate([("status", "司马秘名"), ("urgency", "13955550004"),
                                           ("extension_hours", "ID310101199002025555"),
                                           ("rework_count", "13955550001"), ("source", "13955550009"),
                                           ("reported_at", "上官秘者13955550006")]):
        cases.loc[cases.index[-1 - row], field] = value
        for part in PATTERN.findall(value):
            planter.origin[part] = ("cases", field)
    store.write_layer("cases", planter.plant(cases, "cases"))
    # the live service's alert log (the night reads it to file no violation twice): two events of one alert
    alerts = pd.DataFrame([{c: None for c in ALERT_COLUMNS} for _ in range(2)])
    alerts[["seq", "event", "status"]] = [[1, "opened", "open"], [2, "closed", "closed"]]
    alerts[["alert_id", "vehicle_id", "permit_id", "company", "type", "night", "start", "end", "case_id"]] = [
        "沪D00001-deviation-20261120T230000", "沪D00001", "P1", "某运输公司", "deviation", "2026-11-20",
        "2026-11-20T23:00:00", "2026-11-20T23:10:00", "TM-沪D00001-deviation-20261120T230000"]
    alerts[["seq", "duration_s", "lon", "lat"]] = [[1.0, 300.0, 121.5, 31.24], [2.0, 600.0, 121.5, 31.24]]
    store.write_layer("alerts", alerts)
    layers = [name for name in INPUT_LAYERS if name != "cases"] + ["grids", "grid_parents"]
    for layer in layers:
        store.write_layer(layer, planter.plant(store.read_layer(layer), layer))
    # every layer of the store is planted but the editions' bookkeeping (ids, dates, counts)
    assert set(store.layers()) - {"cases", *layers} == {"grid_editions"}
    out = work / "out"
    # what a kill -9 of an earlier run (and of a store writer) leaves: the run must remove it and say so
    (out / ".runs" / "2026-11-19.k1ll3d" / "maps").mkdir(parents=True)
    (out / ".runs" / "2026-11-19.k1ll3d" / "maps" / "overview.png").write_bytes(b"\x89PNG" * 1000)
    (work / ".store.gpkg.k1ll3d.tmp.gpkg").write_bytes(store_path.read_bytes()[:5000])
    proc = subprocess.run([sys.executable, str(ROOT / "pipelines" / "nightly.py"), "--store", str(store_path),
                           "--date", DATE, "--out", str(out), "--permutations", "99"],
                          capture_output=True, text=True, timeout=900, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])})
    return planter, out, proc


def _origins(text: str, planter: Planter) -> set[str]:
    return set(PATTERN.findall(text))


def _gpkg_text(path: Path) -> dict[tuple[str, str], str]:
    """Every value of every column of every table (as text), by (table, column)."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")]
        out = {}
        for table in tables:
            columns = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
            for column in columns:
                values = con.execute(f'SELECT "{column}" FROM "{table}"').fetchall()
                out[(table, column)] = "\n".join(
                    v[0].decode("utf-8", "replace") if isinstance(v[0], bytes) else repr(v[0]) if isinstance(v[0], float)
                    else str(v[0]) for v in values)
        return out
    finally:
        con.close()


def test_the_night_completes(planted_run):
    planter, out, proc = planted_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (out / DATE / "responsibility_map.gpkg").exists()
    assert len(planter.origin) > 450  # every field of 16 layers, 3 values in each text field


def test_planted_values_reach_no_product_except_published_fields(planted_run):
    planter, out, proc = planted_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    products = out / DATE
    files = sorted(p for p in products.rglob("*") if p.is_file())
    assert {"responsibility_map.gpkg", "manifest.json", "webmap.html", "index.html"} <= {p.name for p in files}
    leaks = []
    allowed_anywhere = {v for v, origin in planter.origin.items() if origin in BY_DESIGN}
    for path in files:
        data = path.read_bytes()
        for text in (data.decode("latin-1"), data.decode("utf-8", "replace")):  # every byte, and as UTF-8
            leaks += [(path.name, v, planter.origin.get(v)) for v in _origins(text, planter) - allowed_anywhere]
    # every text column of every table of the GeoPackage: a by-design value only in its own columns
    for (table, column), text in _gpkg_text(products / "responsibility_map.gpkg").items():
        for v in _origins(text, planter):
            origin = planter.origin.get(v)
            if column not in BY_DESIGN.get(origin, set()) and table not in ("layer_styles", "rtree"):
                leaks.append((f"responsibility_map.gpkg:{table}.{column}", v, origin))
    # the KPI tables likewise, column by column
    for path in sorted((products / "kpi").glob("*.csv")):
        for column, values in pd.read_csv(path, dtype=str).items():
            for v in _origins("\n".join(values.dropna()), planter):
                if column not in BY_DESIGN.get(planter.origin.get(v), set()):
                    leaks.append((f"kpi/{path.name}:{column}", v, planter.origin.get(v)))
    assert sorted(set(leaks), key=str) == []
    # the search sees what is there: by-design values (case ids, grid names …) are found in these files
    for name in ("responsibility_map.gpkg", "webmap.html", "index.html"):
        assert _origins((products / name).read_bytes().decode("utf-8", "replace"), planter) & allowed_anywhere, name


def test_no_planted_value_in_the_log_or_the_console(planted_run):
    planter, out, proc = planted_run
    log = (out / "nightly.log").read_text(encoding="utf-8")
    assert "nightly run for" in log
    for name, text in (("nightly.log", log), ("stdout", proc.stdout), ("stderr", proc.stderr)):
        found = sorted((v, planter.origin.get(v)) for v in _origins(text, planter))
        assert found == [], f"planted values in {name}"


def test_the_run_removed_what_killed_runs_left_and_logged_it(planted_run):
    planter, out, proc = planted_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (out / ".runs" / "2026-11-19.k1ll3d").exists()
    assert not list(out.parent.glob("*.tmp.gpkg"))
    log = (out / "nightly.log").read_text(encoding="utf-8")
    assert ".runs/2026-11-19.k1ll3d (4000 bytes)" in log
    assert ".store.gpkg.k1ll3d.tmp.gpkg (5000 bytes)" in log
    assert [p.name for p in (out / ".runs").iterdir()] == [(out / DATE).resolve().name]


def test_full_reasons_are_kept_for_the_operator_unpublished(planted_run):
    planter, out, proc = planted_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    private = private_rejects_path(out, DATE)
    assert private.exists()
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(private.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((out / ".private").stat().st_mode) == 0o700
    # beside the products, not inside, and no link points into it
    assert not private.resolve().is_relative_to((out / DATE).resolve())
    assert all(not p.resolve().is_relative_to((out / ".private").resolve()) for p in out.iterdir() if p.is_symlink())
    full = pd.read_csv(private, dtype=str)
    published = gl.store.open(out / DATE / "responsibility_map.gpkg").read_layer("rejects")
    assert list(full.columns) == ["step", "record_id", "field", "reason_code", "reason"]
    # the same rejects, row for row; only the reason differs (the full text vs the code's meaning)
    key = ["step", "record_id", "field", "reason_code"]
    norm = lambda f: f[key].astype("string").fillna("").sort_values(key).reset_index(drop=True)  # noqa: E731
    pd.testing.assert_frame_equal(norm(full), norm(published), check_dtype=False)
    # the operator sees the values (the examples among them)
    text = full.to_csv()
    for value in ("司马秘名", "13955550004", "ID310101199002025555", "13955550001", "13955550009"):
        assert value in text, value
    reasons = full.set_index("record_id")["reason"]
    assert reasons.str.contains("13955550004", regex=False).any()


def test_source_and_rework_count_values_are_rejected_not_published(planted_run):
    planter, out, proc = planted_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    gpkg = gl.store.open(out / DATE / "responsibility_map.gpkg")
    cases = gpkg.read_layer("assigned_cases")
    assert not cases["source"].astype(str).str.contains("1395555|ID3101|司马", regex=True).any()
    rejects = gpkg.read_layer("rejects")
    fields = set(rejects.loc[rejects["reason_code"].isin(["unknown_value", "bad_number"]), "field"])
    assert {"source", "rework_count", "urgency", "status", "extension_hours"} <= fields
    assert np.all(rejects["reason"].isin(list(gl.rejects.CODES.values())))


def test_a_phone_number_as_camera_range_is_a_reject():
    """It was published as camera_viewsheds.range_m (a 13 955 550 085 m 'range' was accepted)."""
    from shapely import Point

    cams = gpd.GeoDataFrame({"camera_id": ["a", "b"], "heading": [0.0, 0.0], "fov": [90.0, 90.0],
                             "range_m": [80.0, 13955550085.0]}, geometry=[Point(0, 0), Point(5, 5)], crs=4547)
    ok, bad = gl.coverage.validate_cameras(cams)
    assert ok["camera_id"].tolist() == ["a"]
    assert bad[["camera_id", "reason_code", "field"]].values.tolist() == [["b", "bad_number", "range_m"]]
