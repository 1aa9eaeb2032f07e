"""`gridlib grid …` commands end to end on small files."""

from __future__ import annotations

import geopandas as gpd
from shapely import box

import gridlib as gl
from gridlib.cli import main


def test_build_validate_import_diff_editions(tmp_path, capsys):
    parents = gpd.GeoDataFrame({"code": ["410105001001", "410105001002"], "name": ["甲", "乙"]},
                               geometry=[box(0, 0, 400, 300), box(400, 0, 700, 300)], crs="EPSG:4547")
    parents.to_file(tmp_path / "parents.gpkg")
    out = tmp_path / "grids.gpkg"
    assert main(["grid", "build", str(tmp_path / "parents.gpkg"), "-o", str(out)]) == 0
    assert "21 grids" in capsys.readouterr().out
    assert main(["grid", "validate", str(out), "--parents", str(tmp_path / "parents.gpkg")]) == 0
    assert "0 errors" in capsys.readouterr().out

    store = str(tmp_path / "store.gpkg")
    assert main(["grid", "import", str(out), "--store", store, "--effective-date", "2026-01-01",
                 "--parents", str(tmp_path / "parents.gpkg")]) == 0
    assert "imported edition E0001" in capsys.readouterr().out

    grids = gpd.read_file(out)
    half = grids[grids["community_code"] == "410105001001"]
    half.to_file(tmp_path / "half.gpkg")
    assert main(["grid", "validate", str(tmp_path / "half.gpkg"), "--parents", str(tmp_path / "parents.gpkg")]) == 1
    assert "gap" in capsys.readouterr().out
    code = main(["grid", "import", str(tmp_path / "half.gpkg"), "--store", store, "--effective-date", "2026-07-01"])
    assert code == 1
    assert (tmp_path / "half.report.txt").exists()
    assert len(gl.grid.editions(gl.store.open(store))) == 1

    recoded = grids.copy()
    recoded.loc[0, "grid_code"] = "410105001001099"
    recoded.to_file(tmp_path / "recoded.gpkg")
    assert main(["grid", "diff", str(out), str(tmp_path / "recoded.gpkg"), "-o", str(tmp_path / "d.gpkg")]) == 0
    assert "recoded" in capsys.readouterr().out
    assert main(["grid", "import", str(tmp_path / "recoded.gpkg"), "--store", store,
                 "--effective-date", "2026-07-01"]) == 0
    capsys.readouterr()
    assert main(["grid", "editions", "--store", store]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("  E0001  2026-01-01 – 2026-07-01") and lines[1].startswith("* E0002")


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["grid", "validate", str(tmp_path / "missing.gpkg")]) == 2
    assert "no such file" in capsys.readouterr().err
