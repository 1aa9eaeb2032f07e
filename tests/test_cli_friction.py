"""CLI friction of the first week (issue 16 item 7), each with the input that showed it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import gridlib as gl
from gridlib.cli import command_paths, main

GRIDS = Path(__file__).resolve().parents[1] / "data" / "grids" / "lujiazui_grids.gpkg"

CASES = ("case_id,class_code,kind,reported_at,lon,lat\n"
         "C1,06012,event,2026-01-05 09:00:00,121.5005,31.2405\n"
         "C2,06012,event,2026-11-20 09:00:00,121.5010,31.2410\n")


@pytest.fixture(scope="module")
def grid_store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("friction") / "city.gpkg"
    store = gl.store.open(path)
    gl.GridSet.from_gdf(gl.datasets.demo_grids(), edition={"valid_from": "2026-01-01"}).to_store(store)
    store.close()
    return path


def test_assign_summarises_rejects_by_code(grid_store, tmp_path, capsys):
    """`gridlib assign` printed one line per duplicate id ("1  duplicate id C1" …)."""
    centre = gl.datasets.demo_grids().geometry.centroid.to_crs(4326).head(3)
    ids = ["C1", "C2", "C3", "C1", "C2", "C3", "C1"]
    frame = pd.DataFrame({"case_id": ids, "class_code": "06012", "kind": "event",
                          "lon": [*centre.x, *centre.x, centre.x.iloc[0]],
                          "lat": [*centre.y, *centre.y, centre.y.iloc[0]]})
    frame.to_csv(tmp_path / "cases.csv", index=False)
    assert main(["--quiet", "assign", str(tmp_path / "cases.csv"), "--store", str(grid_store),
                 "--out", str(tmp_path / "out.gpkg")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "7 cases in, 3 assigned, 4 rejected"
    assert out[1:] == ["         4  duplicate_id: the id repeats an earlier record's (the first is kept)"]


def test_report_without_suffix_is_a_geopackage(tmp_path, capsys):
    """`--report val_report` wrote a GeoPackage named val_report, and pyogrio warned about '.tmp'."""
    assert main(["grid", "validate", str(GRIDS), "--report", str(tmp_path / "val_report")]) == 0
    captured = capsys.readouterr()
    assert (tmp_path / "val_report.gpkg").is_file() and (tmp_path / "val_report.txt").is_file()
    assert not (tmp_path / "val_report").exists()
    assert "val_report.gpkg" in captured.out
    assert "filename extension" not in captured.err and "ogr_write(" not in captured.err
    assert main(["grid", "validate", str(GRIDS), "--report", str(tmp_path / "report.shp")]) == 2
    assert "give a path ending in .gpkg" in capsys.readouterr().err


def test_flags_show_no_value_in_help(capsys):
    """Boolean flags showed `<bool>` in --help as if they took a value."""
    for command in command_paths():
        assert main([*command.split(), "--help"]) == 0
        text = capsys.readouterr().out
        assert "Usage:" in text and "<bool>" not in text, command
    assert main(["nightly", "--help"]) == 0
    assert "--strict" in capsys.readouterr().out


def test_kpis_by_street_on_unassigned_cases(tmp_path, capsys):
    (tmp_path / "cases.csv").write_text(CASES, encoding="utf-8")
    assert main(["cases", "kpis", str(tmp_path / "cases.csv"), "--by", "street"]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("gridlib")]
    assert len(err) == 1 and "run `gridlib assign` first" in err[0] and "have [" not in err[0]


def test_overdue_share_is_readable(tmp_path, capsys):
    """`cases overdue` showed '135065.56 %' used for a case months late."""
    (tmp_path / "cases.csv").write_text(CASES, encoding="utf-8")
    assert main(["cases", "overdue", str(tmp_path / "cases.csv"), "--at", "2026-11-21 18:00", "--all"]) == 0
    out = capsys.readouterr().out
    assert "≥ 1000 %" in out and "7,688.9" in out  # the share capped, the hours overdue in full
    assert not [w for w in out.split() if w.replace(".", "").isdigit() and "." in w and float(w) > 1000]


def test_db_layers_shows_rows_geometry_and_crs(grid_store, capsys):
    assert main(["db", "layers", str(grid_store)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["layer", "rows", "geometry", "crs"]
    grids = next(line.split() for line in lines if line.startswith("grids "))
    assert grids[1] == f"{len(gl.datasets.demo_grids()):,}" and grids[2] == "Polygon" and grids[3].startswith("EPSG:")
    assert lines[-1].endswith(f"layer(s) in {grid_store}")
    assert main(["db", "layers", str(grid_store), "--names"]) == 0
    assert "grids" in capsys.readouterr().out.split()


def test_fifteen_has_a_period(tmp_path, capsys):
    """`cases fifteen` had no --period: every case of the log was counted."""
    rows = ["case_id,class_code,kind,reported_at,filed_at,dispatched_at,arrived_at,video_at,lon,lat"]
    for i, day in enumerate(["2026-10-30", "2026-11-02", "2026-11-03"]):
        rows.append(f"C{i},06012,event,{day} 09:00:00,{day} 09:02:00,{day} 09:02:30,{day} 09:09:00,"
                    f"{day} 09:11:00,121.5005,31.2405")
    (tmp_path / "cases.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    assert main(["cases", "fifteen", str(tmp_path / "cases.csv"), "--period", "2026-11",
                 "--out", str(tmp_path / "s.csv")]) == 0
    assert "2026-11 (2 cases)" in capsys.readouterr().out
    assert set(pd.read_csv(tmp_path / "s.csv")["n"]) == {2}  # every step counts the 2 November cases
    assert main(["cases", "fifteen", str(tmp_path / "cases.csv"), "--period", "W"]) == 2


def test_assign_validates_a_case_log_like_the_nightly(grid_store, tmp_path, capsys):
    """CLI `assign` accepted reported_at '昨天下午' that the nightly's case-log validation rejects."""
    centre = gl.datasets.demo_grids().geometry.centroid.to_crs(4326).head(3)
    frame = pd.DataFrame({"case_id": ["C1", "C2", "C3"], "class_code": "06012", "kind": "event",
                          "reported_at": ["2026-11-20 09:00:00", "昨天下午", "2026-11-20 10:00:00"],
                          "lon": centre.x.to_numpy(), "lat": centre.y.to_numpy()})
    frame.to_csv(tmp_path / "cases.csv", index=False)
    out = tmp_path / "out.gpkg"
    assert main(["--quiet", "assign", str(tmp_path / "cases.csv"), "--store", str(grid_store), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["3 cases in, 2 assigned, 1 rejected", "         1  unparseable_time: a time cannot be read"]
    import geopandas as gpd

    assert sorted(gpd.read_file(out, layer="assigned")["case_id"]) == ["C1", "C3"]
    assert gpd.read_file(out, layer="rejects")["case_id"].tolist() == ["C2"]


def test_a_multi_layer_file_names_its_layers_instead_of_a_pyogrio_warning(tmp_path, capsys, recwarn):
    """A user's GeoPackage with grids and roads gave pyogrio's "More than one layer found" and its first layer."""
    grids = gl.datasets.demo_grids().head(50)
    mixed = tmp_path / "planner.gpkg"
    grids.to_file(mixed, layer="roads_copy")
    grids.to_file(mixed, layer="grids")
    assert main(["grid", "validate", str(mixed)]) == 2
    err = capsys.readouterr().err
    assert "has 2 layers (roads_copy, grids)" in err and "FILE:LAYER" in err
    assert main(["grid", "validate", f"{mixed}:grids"]) in (0, 1)
    assert "More than one layer" not in capsys.readouterr().err
    with pytest.raises(gl.errors.InputError, match="has 2 layers"):
        gl.io.read_layer(mixed)
    accepted, rejects = gl.io.read_layer(mixed, layer="grids")
    assert len(accepted) == 50 and rejects.empty


def test_a_style_table_beside_one_layer_is_not_a_second_layer(tmp_path, recwarn):
    """A planner's grid file saved from QGIS carries ``layer_styles``; it still reads as its one layer."""
    import sqlite3

    path = tmp_path / "styled.gpkg"
    gl.datasets.demo_grids().head(20).to_file(path, layer="grids")
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE layer_styles (id INTEGER PRIMARY KEY, f_table_name TEXT, styleQML TEXT)")
        db.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier) "
                   "VALUES ('layer_styles', 'attributes', 'layer_styles')")
    assert len(gl.grid.open_grids(path)) == 20
    assert not [w for w in recwarn if "More than one layer" in str(w.message)]
