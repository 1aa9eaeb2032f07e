"""Exit codes a scheduler can trust, per command (docs/cli.md): 0 done, 1 refused, 2 bad input or usage,
3 strict warnings (tests/nightly/test_freshness.py), 70 internal error."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from shapely import box

from gridlib.cli import ExitCode, command_paths, main

ROOT = Path(__file__).resolve().parents[1]
GRIDS = ROOT / "data" / "grids" / "lujiazui_grids.gpkg"
PASSWORD = "S3cr3t pw@x"
BAD_URL = "postgresql://gridlib:S3cr3t pw@x@127.0.0.1:1/gridlib"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Small real inputs: a table that is not a grid file, two overlapping grids, a codes file with a bad code."""
    d = tmp_path_factory.mktemp("inputs")
    table = d / "table.csv"
    table.write_text("grid_code,b\n310115005002040,2\n", encoding="utf-8")
    overlapping = d / "overlapping.gpkg"
    gpd.GeoDataFrame({"grid_code": ["310115005002040", "310115005002041"]}, crs=4326,
                     geometry=[box(121.500, 31.230, 121.501, 31.231), box(121.5005, 31.230, 121.5015, 31.231)],
                     ).to_file(overlapping, layer="grids")
    codes = d / "codes.csv"
    codes.write_text("code\n310115005002040\n31011500500204X\n", encoding="utf-8")
    return {"dir": d, "table": table, "overlapping": overlapping, "codes": codes,
            "missing": d / "missing.geojson", "missing_store": d / "no_store.gpkg"}


#: For every command, an invocation with bad input (a missing file, a table given as a grid file, a wrong
#: option value); {name} is a path from the `files` fixture.
BAD_INPUT = {
    "demo-data": ["demo-data", "--out", "{dir}/demo", "--end-date", "21/11/2026"],
    "db init": ["db", "init", BAD_URL],
    "db layers": ["db", "layers", "{table}"],
    "codes show": ["codes", "show", "123"],
    "codes search": ["codes", "search", "井盖", "--edition", "nope"],
    "codes gaps": ["codes", "gaps", "--edition", "nope"],
    "codes validate": ["codes", "validate", "{missing}", "--column", "code"],
    "codes translate": ["codes", "translate", "--file", "{missing}", "--column", "code"],
    "grid build": ["grid", "build", "{missing}", "--out", "{dir}/built.gpkg"],
    # exited 1 (like "validation found errors") with "TypeError: validate() takes a GridSet…"
    "grid validate": ["grid", "validate", "{table}", "--code-field", "grid_code"],
    "grid diff": ["grid", "diff", "{table}", "{table}", "--code-field", "grid_code"],
    # an AttributeError ('DataFrame' object has no attribute 'crs')
    "grid import": ["grid", "import", "{table}", "--store", "{dir}/import.gpkg", "--effective-date", "2026-01-01",
                    "--code-field", "grid_code"],
    # said "no grid edition yet" and exited 0
    "grid editions": ["grid", "editions", "--store", "{missing_store}"],
    "assign": ["assign", "{table}", "--store", "{missing_store}", "--out", "{dir}/assigned.gpkg"],
    "cases kpis": ["cases", "kpis", "{missing}"],
    "cases overdue": ["cases", "overdue", "{missing}"],
    "cases fifteen": ["cases", "fifteen", "{missing}"],
    "trucks check": ["trucks", "check", "--fixes", "{table}", "--permits", "{table}", "--out", "{dir}/t.gpkg",
                     "--date", "21/11/2026"],
    "trucks simulate-terminals": ["trucks", "simulate-terminals", "--protocol", "2015"],
    "hotspots": ["hotspots", "{missing}", "--out", "{dir}/hot", "--store", "{missing_store}"],
    "coverage cameras": ["coverage", "cameras", "-c", "{missing}", "-r", "{missing}", "-o", "{dir}/c.gpkg"],
    "coverage place": ["coverage", "place", "-r", "{missing}", "-o", "{dir}/c.gpkg"],
    "coverage reach": ["coverage", "reach", "-r", "{missing}", "-t", "{missing}", "-g", "{missing}",
                       "-o", "{dir}/c.gpkg"],
    # a Python "ValueError: Invalid isoformat string" before
    "nightly": ["nightly", "--store", "{missing_store}", "--date", "21/11/2026", "--out", "{dir}/products"],
    "serve": ["serve", "--store", "{missing_store}", "--jt808-auth", "maybe"],
    # a table without the terminal and vehicle_id columns
    "terminals import": ["terminals", "import", "{table}", "--fixes", "{dir}/live.sqlite"],
    "terminals list": ["terminals", "list", "--fixes", "{dir}/no_live.sqlite"],
}


def _args(template: list[str], files: dict[str, Path]) -> list[str]:
    return [a.format(**{k: str(v) for k, v in files.items()}) for a in template]


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(("INFO ", "WARNING "))]
    assert len(lines) == 1, lines
    return lines[0]


def test_every_command_has_an_exit_code_test():
    assert sorted(BAD_INPUT) == command_paths()


@pytest.mark.parametrize("command", sorted(BAD_INPUT))
def test_bad_input_exits_2_with_one_line(command, files, capsys):
    assert main(["--quiet", *_args(BAD_INPUT[command], files)]) == ExitCode.BAD_INPUT == 2
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("gridlib: error: ") and "Traceback" not in line
    assert PASSWORD not in line and "S3cr3t" not in line


def test_specific_messages(files, capsys):
    main(_args(["nightly", "--store", "{missing_store}", "--date", "2026-11-21", "--out", "{dir}/p"], files))
    assert _one_error_line(capsys.readouterr().err) == f"gridlib: error: --store {files['missing_store']}: no such file"
    main(_args(BAD_INPUT["nightly"], files))
    assert "'21/11/2026': expected a day as YYYY-MM-DD" in capsys.readouterr().err
    main(_args(BAD_INPUT["grid validate"], files))
    assert "has no geometry column" in capsys.readouterr().err


@pytest.mark.parametrize("command", [
    ["grid", "validate", "{overlapping}"],
    ["grid", "import", "{overlapping}", "--store", "{dir}/refused.gpkg", "--effective-date", "2026-01-01"],
    ["codes", "validate", "{codes}", "--column", "code", "--report", "{dir}/invalid.csv"],
], ids=["grid validate", "grid import", "codes validate"])
def test_validation_errors_exit_1(command, files):
    assert main(["--quiet", *_args(command, files)]) == ExitCode.REFUSED == 1


@pytest.mark.parametrize("command", [
    ["codes", "show", "06012"],
    ["codes", "search", "井盖"],
    ["db", "layers", str(GRIDS)],
    ["grid", "validate", str(GRIDS)],  # warnings only
])
def test_done_exits_0(command):
    assert main(["--quiet", *command]) == ExitCode.DONE == 0


def test_internal_error_is_70_one_masked_line(monkeypatch, capsys):
    """A gridlib bug: not 1 (refused) or 2 (bad input); one line, the password masked; --debug re-raises."""
    import gridlib.store

    def buggy_open(url, **kwargs):
        raise TypeError(f"unexpected None while opening {url}\n(second line)")

    monkeypatch.setattr(gridlib.store, "open", buggy_open)
    assert main(["db", "layers", BAD_URL]) == ExitCode.INTERNAL == 70
    line = _one_error_line(capsys.readouterr().err)
    assert line.startswith("gridlib: internal error: TypeError: unexpected None while opening postgresql://gridlib:***@")
    assert line.endswith("(run with --debug for the traceback)")
    assert "S3cr3t" not in line and "pw@x" not in line
    with pytest.raises(TypeError):
        main(["--debug", "db", "layers", BAD_URL])
    assert main(["db", "layers", BAD_URL]) == 70  # --debug does not stick to the next call


def test_interrupted_is_130(monkeypatch):
    import gridlib.codes

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gridlib.codes, "search", interrupted)
    assert main(["codes", "search", "井盖"]) == ExitCode.INTERRUPTED == 130


def test_exit_codes_are_documented():
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for code in ExitCode:
        assert f"| {int(code)} |" in text, code
