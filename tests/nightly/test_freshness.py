"""A stale night does not report success: freshness warnings in the manifest and on stderr, --strict exits 3."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest

import gridlib as gl
import gridlib.nightly.pipeline as pipeline
from gridlib.errors import FreshnessError
from gridlib.nightly import NightlyOptions, load_demo_store, run_nightly

FAST = NightlyOptions(permutations=99)
STALE = ["no_new_cases", "stale_cases", "no_truck_fixes", "stale_truck_fixes"]


@pytest.fixture(scope="module")
def small_store(tmp_path_factory) -> Path:
    """A small demo store: cases up to 2026-11-21, one truck night 2026-11-20 22:00 – 11-21 06:00."""
    work = tmp_path_factory.mktemp("fresh")
    gl.demo.generate(work / "demo", seed=1, n_cases=300, n_trucks=3, n_extra_cameras=0)
    path = work / "store.gpkg"
    load_demo_store(gl.store.open(path), work / "demo")
    return path


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gridlib.cli", "--quiet", *args], capture_output=True, text=True,
                          timeout=600)


def _spy_results(monkeypatch) -> list:
    seen: list = []
    real = pipeline.write_products

    def spy(work, results, **kwargs):
        seen.append(results)
        return real(work, results, **kwargs)

    monkeypatch.setattr(pipeline, "write_products", spy)
    return seen


def test_stale_night_warns_and_strict_publishes_nothing(small_store, tmp_path):
    """`gridlib nightly --date 2030-01-01` exited 0 and published products from 0 new cases and 0 fixes."""
    out = tmp_path / "products"
    run = _cli("nightly", "--store", str(small_store), "--date", "2030-01-01", "--out", str(out),
               "--permutations", "99")
    assert run.returncode == 0, run.stderr
    manifest = json.loads((out / "2030-01-01" / "manifest.json").read_text(encoding="utf-8"))
    assert [w["code"] for w in manifest["warnings"]] == STALE
    for w in manifest["warnings"]:
        assert w["message"] in run.stderr
    assert "no cases reported on 2030-01-01" in run.stderr
    assert "4 freshness warning(s)" in run.stdout

    before = {p.name: p.read_bytes() for p in (out / "2030-01-01").iterdir() if p.is_file()}
    target = (out / "2030-01-01").resolve()
    strict = _cli("nightly", "--store", str(small_store), "--date", "2030-01-01", "--out", str(out),
                  "--permutations", "99", "--strict")
    assert strict.returncode == 3, strict.stderr
    errors = [line for line in strict.stderr.splitlines() if line.startswith("gridlib:")]
    assert len(errors) == 1 and errors[0].startswith("gridlib: error: 4 freshness warning(s)")
    assert "nothing published" in errors[0]
    # the previous products stay, untouched
    assert (out / "2030-01-01").resolve() == target
    assert {p.name: p.read_bytes() for p in (out / "2030-01-01").iterdir() if p.is_file()} == before

    # --max-age-days: with a long enough horizon only the "nothing on that day" warnings remain
    with pytest.raises(FreshnessError) as info:
        run_nightly(gl.store.open(small_store), "2030-01-01", tmp_path / "lib",
                    options=NightlyOptions(permutations=99, strict=True, max_input_age_days=3650))
    assert [w["code"] for w in info.value.warnings] == ["no_new_cases", "no_truck_fixes"]
    assert not (tmp_path / "lib" / "2030-01-01").exists()


def test_fresh_night_has_no_warnings(small_store, tmp_path, monkeypatch):
    seen = _spy_results(monkeypatch)
    manifest = run_nightly(gl.store.open(small_store), "2026-11-21", tmp_path, options=FAST)
    assert manifest["warnings"] == []
    assert seen[0].warnings == []


def test_empty_cases_layer_is_a_warning_not_a_crash(small_store, tmp_path, monkeypatch):
    """An empty `cases` layer crashed the night (TypeError in cases/validate.py); now the night completes."""
    path = tmp_path / "store.gpkg"
    shutil.copy(small_store, path)
    store = gl.store.open(path)
    store.write_layer("cases", store.read_layer("cases").iloc[:0])
    seen = _spy_results(monkeypatch)
    manifest = run_nightly(store, "2026-11-21", tmp_path / "out", options=FAST)
    assert [w["code"] for w in manifest["warnings"]] == ["no_cases"]
    assert [w["code"] for w in seen[0].warnings] == ["no_cases"]
    assert (tmp_path / "out" / "2026-11-21" / "responsibility_map.gpkg").is_file()
    assert manifest["steps"][1]["rows_in"] == 0
    with pytest.raises(FreshnessError, match="the store's cases layer is empty"):
        run_nightly(store, "2026-11-21", tmp_path / "strict", options=NightlyOptions(permutations=99, strict=True))


def test_one_bad_value_per_row_is_a_reject_and_the_night_goes_on(small_store, tmp_path):
    """Issue 18 item 1, through the whole night: each value that used to abort it, planted in one row of
    the store's cases layer, makes that row a reject with its code; a ``+08`` time among naive ones is read."""
    path = tmp_path / "store.gpkg"
    shutil.copy(small_store, path)
    store = gl.store.open(path)
    cases = store.read_layer("cases")
    cases = cases.assign(**{c: cases[c].astype(object) for c in ("extension_hours", "closed_at", "reported_at")})
    planted = {0: ("extension_hours", "inf", "bad_number"), 1: ("closed_at", "0001-01-01 00:00:00", "time_out_of_range"),
               2: ("closed_at", "9999-01-01 00:00:00", "time_out_of_range")}
    for row, (field, value, _) in planted.items():
        cases.loc[cases.index[row], field] = value
    offset_id = cases["case_id"].iloc[3]
    naive = str(cases["reported_at"].iloc[3])[:19]
    cases.loc[cases.index[3], "reported_at"] = naive + "+08"
    store.write_layer("cases", cases)
    manifest = run_nightly(store, "2026-11-21", tmp_path / "out", options=FAST)
    gpkg = tmp_path / "out" / "2026-11-21" / "responsibility_map.gpkg"
    rejects = gpd.read_file(gpkg, layer="rejects")
    for row, (field, _, code) in planted.items():
        hit = rejects[rejects["record_id"] == cases["case_id"].iloc[row]]
        assert (hit["reason_code"] == code).any() and (hit["field"] == field).any(), (row, hit)
    assigned = gpd.read_file(gpkg, layer="assigned_cases")
    assert offset_id in set(assigned["case_id"]) and offset_id not in set(rejects["record_id"])
    assert manifest["steps"][1]["rows_in"] == len(cases)
