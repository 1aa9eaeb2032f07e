import pandas as pd
import pytest
from typer.testing import CliRunner

from gridlib.cli import app, main

runner = CliRunner()


def test_show_class_grid_component_and_matter():
    r = runner.invoke(app, ["codes", "show", "06012"])
    assert r.exit_code == 0 and "道路不洁" in r.output and "dirty road" in r.output
    r = runner.invoke(app, ["codes", "show", "410105001003007"])
    assert r.exit_code == 0 and "金水区" in r.output and "街道" in r.output and "410105001003" in r.output
    r = runner.invoke(app, ["codes", "show", "41010501004000045"])
    assert r.exit_code == 0 and "雨水箅子" in r.output and "000045" in r.output
    r = runner.invoke(app, ["codes", "show", "41010506012"])
    assert r.exit_code == 0 and "道路不洁" in r.output


def test_show_bad_code_is_one_line_exit_2(capsys):
    assert main(["codes", "show", "01016"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "gap" in err[0]
    assert main(["codes", "show", "123"]) == 2


def test_search():
    r = runner.invoke(app, ["codes", "search", "井盖", "--kind", "component"])
    assert r.exit_code == 0 and "01001" in r.output and "供水井盖" in r.output
    r = runner.invoke(app, ["codes", "search", "manhole", "--edition", "all"])
    assert "cjt214-2007" in r.output and "gbt47678-2026" in r.output
    r = runner.invoke(app, ["codes", "search", "zzzz"])
    assert r.exit_code == 0 and "nothing found" in r.output


@pytest.fixture
def codes_csv(tmp_path):
    path = tmp_path / "grids.csv"
    path.write_text("id,code\n1,410105001003007\n2,41010500100300X\n3,４１０１０５００１００３００８\n4,\n", encoding="utf-8")
    return path


def test_validate_writes_a_report_and_exits_1(codes_csv, tmp_path):
    report = tmp_path / "bad.csv"
    r = runner.invoke(app, ["codes", "validate", str(codes_csv), "--column", "code", "--report", str(report)])
    assert r.exit_code == 1
    assert "4 rows, 2 valid (1 after repair), 2 invalid" in r.output
    lines = report.read_text(encoding="utf-8-sig").splitlines()  # CSV reports carry a BOM (issue 16.3)
    assert lines[0] == "row,id,code,reason"
    assert lines[1] == "3,2,41010500100300X,non-digit 'X' at position 15"
    assert lines[2] == "5,4,,empty"
    assert "1 × non-digit 'X' at position 15" in r.output and "1 × empty" in r.output


def test_validate_output_keeps_every_row_with_the_normalised_code(codes_csv, tmp_path):
    full = tmp_path / "all.csv"
    r = runner.invoke(app, ["codes", "validate", str(codes_csv), "-c", "code", "-o", str(full),
                            "-r", str(tmp_path / "bad.csv")])
    assert r.exit_code == 1
    rows = pd.read_csv(full, dtype=str, keep_default_na=False)
    assert list(rows.columns) == ["id", "code", "code_normalized", "valid", "reason", "warning"]
    assert rows.code_normalized.tolist() == ["410105001003007", "", "410105001003008", ""]
    assert rows.warning.iloc[2] == "full-width or compatibility characters converted"


def test_validate_clean_file_exits_0(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text("cls\n06012\n01001\n", encoding="utf-8")
    r = runner.invoke(app, ["codes", "validate", str(path), "--column", "cls", "--kind", "class"])
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "ok.invalid.csv").exists()


def test_validate_missing_column_is_exit_2(codes_csv, capsys):
    assert main(["codes", "validate", str(codes_csv), "--column", "nope"]) == 2
    assert "no column 'nope'" in capsys.readouterr().err


def test_validate_exit_code_through_main(codes_csv):
    assert main(["codes", "validate", str(codes_csv), "--column", "code"]) == 1


def test_translate_codes_and_file(tmp_path):
    r = runner.invoke(app, ["codes", "translate", "0101", "0117"])
    assert r.exit_code == 0 and "01001" in r.output and "split" in r.output
    path = tmp_path / "old.csv"
    path.write_text("case,cls\nA,0104\nB,0509\n", encoding="utf-8")
    out = tmp_path / "new.csv"
    r = runner.invoke(app, ["codes", "translate", "--file", str(path), "--column", "cls", "--kind", "event",
                            "--output", str(out)])
    assert r.exit_code == 0 and "same 1" in r.output and "unmapped 1" in r.output
    text = out.read_text(encoding="utf-8-sig").splitlines()  # CSV outputs carry a BOM (issue 16.3)
    assert text[0] == "case,cls,to_code,to_name_zh,relation,candidates,reason"
    assert text[1].startswith("A,0104,06012,道路不洁,same")


def test_validate_with_city_extensions_and_street_list(tmp_path):
    import gridlib as gl

    ext = tmp_path / "ext.csv"
    ext.write_text("class_code,kind,name_zh\n21001,event,共享电单车乱停\n", encoding="utf-8")
    streets = tmp_path / "streets.csv"
    streets.write_text("code,name\n410108001,新城街道\n", encoding="utf-8")
    data = tmp_path / "m.csv"
    data.write_text("m\n41010821001\n", encoding="utf-8")
    try:
        r = runner.invoke(app, ["codes", "validate", str(data), "-c", "m", "-k", "matter", "--extensions", str(ext)])
        assert r.exit_code == 0, r.output
        r = runner.invoke(app, ["codes", "search", "电单车", "--extensions", str(ext)])
        assert "21001" in r.output
    finally:
        gl.codes.clear_extensions()
    grids = tmp_path / "g.csv"
    grids.write_text("g\n410108001003007\n410108002003007\n", encoding="utf-8")
    r = runner.invoke(app, ["codes", "validate", str(grids), "-c", "g", "--streets", str(streets),
                            "-r", str(tmp_path / "bad.csv")])
    assert r.exit_code == 1 and "street 410108002 not in the given street list" in r.output


def test_gaps_lists_gaps_and_doubtful_classes():
    r = runner.invoke(app, ["codes", "gaps"])
    assert r.exit_code == 0
    assert "gbt47678-2026: 10 gap codes: 01016, 05001, 05004" in r.output
    assert "conflict      event     0304 施工占道" in r.output and "cjt214-2007: 0 gap codes" in r.output
