"""Issue 16.3/16.6/16.9 (readers): Chinese headers, column mapping, .xlsx, BOM products, wrong CRS, 3D grids.

Each test uses the exact inputs a first-week user had: a Chinese case export, a text-stored
Excel sheet, lon/lat grids declared as EPSG:4550, a 3D grid layer.
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString

import gridlib as gl
from gridlib.errors import CRSError, GridlibError

CHINESE_LOG = (
    "案件编号,事部件编码,类别,上报时间,处置时间,结案时间,经度,纬度,问题描述\n"
    "LJZ0001,06012,事件,2026-11-20 09:00:00,2026-11-20 14:00:00,2026-11-20 15:00:00,121.5,31.24,垃圾满溢\n"
    "LJZ0002,0101,部件,2026-11-20 10:00:00,,,121.51,31.23,井盖破损\n"
)


# ---------------------------------------------------------------- 16.3 Chinese headers, column mapping


def test_read_log_recognises_chinese_headers(tmp_path):
    path = tmp_path / "案件.csv"
    path.write_bytes(CHINESE_LOG.encode("gb18030"))
    log, bad = gl.cases.read_log(path)
    assert bad.empty, bad["reason"].tolist()
    assert log["case_id"].tolist() == ["LJZ0001", "LJZ0002"]
    assert log["class_code"].tolist() == ["06012", "0101"]
    assert log["kind"].tolist() == ["event", "component"]
    assert log["closed_at"].iloc[0] == pd.Timestamp("2026-11-20 15:00")
    assert log["lon"].tolist() == [121.5, 121.51]
    assert log["description"].tolist() == ["垃圾满溢", "井盖破损"]


def test_read_points_recognises_chinese_headers(tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text(CHINESE_LOG, encoding="utf-8")
    ok, bad = gl.io.read_points(path, id="case_id", time="reported_at")
    assert bad.empty
    assert ok["case_id"].tolist() == ["LJZ0001", "LJZ0002"]
    assert ok.geometry.x.tolist() == [121.5, 121.51]
    assert ok["reported_at"].iloc[1] == pd.Timestamp("2026-11-20 10:00")


def test_explicit_columns_win_over_aliases(tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text("编号,经度,纬度,X坐标,Y坐标\nA1,0,0,121.5,31.24\n", encoding="utf-8")
    ok, bad = gl.io.read_points(path, id="case_id", columns={"编号": "case_id", "X坐标": "lon", "Y坐标": "lat"})
    assert bad.empty and ok.geometry.x.tolist() == [121.5]
    assert "经度" in ok.columns  # the alias column is left as it is when the mapping names another
    log, bad = gl.cases.read_log(pd.DataFrame({"单号": ["A1"], "事部件编码": ["06012"], "类别": ["event"],
                                               "上报时间": ["2026-11-20 09:00"]}), columns={"单号": "case_id"})
    assert log["case_id"].tolist() == ["A1"] and bad.empty


def test_two_columns_for_one_name_is_one_error_naming_both():
    df = pd.DataFrame({"经度": ["121.5"], "lng": ["121.5"], "纬度": ["31.24"]})
    with pytest.raises(GridlibError) as err:
        gl.io.read_points(df)
    text = str(err.value)
    assert "\n" not in text and "'经度'" in text and "'lng'" in text and "'lon'" in text
    with pytest.raises(GridlibError, match="'a'.*'b'"):
        gl.io.read_points(pd.DataFrame({"a": [1], "b": [2], "lat": [3]}), columns={"a": "lon", "b": "lon"})
    with pytest.raises(GridlibError, match="'missing'"):
        gl.io.read_points(pd.DataFrame({"lon": [1], "lat": [3]}), columns={"missing": "lon"})


def test_read_fixes_and_event_log_recognise_chinese_headers():
    fixes = pd.DataFrame({"车牌号": ["沪A12345", "沪A12345"], "定位时间": ["2026-11-20 22:00:00", "2026-11-20 22:00:10"],
                          "经度": ["121.5", "121.5005"], "纬度": ["31.24", "31.24"], "速度": ["30", "31"]})
    fx, bad = gl.trucks.read_fixes(fixes)
    assert bad.empty and fx.vehicle_ids.tolist() == ["沪A12345"] and fx.speed.tolist() == [30.0, 31.0]
    events = pd.DataFrame({"案件编号": ["a"] * 4, "环节": ["上报", "立案", "处置", "结案"],  # noqa: RUF001
                           "操作时间": ["2026-10-08 09:00", "2026-10-08 09:04", "2026-10-08 12:00", "2026-10-08 15:00"],
                           "事部件编码": ["06012", None, None, None], "类别": ["事件", None, None, None]})
    log, bad = gl.cases.read_event_log(events)
    assert bad.empty, bad["reason"].tolist()
    assert log["case_id"].tolist() == ["a"] and log["kind"].tolist() == ["event"]
    assert log["closed_at"].iloc[0] == pd.Timestamp("2026-10-08 15:00")


def test_read_permits_recognises_chinese_headers():
    p = gpd.GeoDataFrame({"准运证号": ["P1"], "车牌号": ["沪A12345"], "运输单位": ["某公司"],
                          "有效期起": ["2026-11-01"], "有效期止": ["2026-11-30"], "运输时段": ["22:00-06:00"]},
                         geometry=[LineString([(121.49, 31.23), (121.51, 31.24)])], crs=4326)
    ok, bad = gl.trucks.read_permits(p)
    assert bad.empty and ok["permit_id"].tolist() == ["P1"] and ok["vehicle_id"].tolist() == ["沪A12345"]
    assert ok["company"].tolist() == ["某公司"]


def _permit_workbook(path):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "说明"
    ws = wb.create_sheet("准运证")
    ws.append(["2026年11月渣土准运证"])  # a title row above the header
    ws.append(["准运证号", "车牌号", "运输单位", "有效期起", "有效期止", "运输时段", "审批路线"])
    import datetime as dt

    ws.append(["P1", "沪A12345", "某公司", dt.datetime(2026, 11, 1), "2026-11-30", "22:00-06:00",
               "LINESTRING (121.49 31.23, 121.51 31.24)"])
    ws.append(["P2", "沪B54321", "某公司", "2026-11-01", "2026-11-30", "", "LINESTRIN (121.49 31.23"])
    ws.append(["P3", "沪C00001", "某公司", "2026-11-01", "2026-11-30", "", ""])
    wb.save(path)
    return path


def test_read_permits_reads_xlsx_like_the_other_readers(tmp_path):
    """Issue 16.3: permits come as Excel too; the route is WKT text in a column of the sheet."""
    path = _permit_workbook(tmp_path / "permits.xlsx")
    ok, bad = gl.trucks.read_permits(path, sheet="准运证", header_row=2, columns={"审批路线": "route_wkt"})
    assert ok["permit_id"].tolist() == ["P1"] and ok["vehicle_id"].tolist() == ["沪A12345"]
    assert ok.crs.to_epsg() == 4326 and ok.geometry.iloc[0].equals(LineString([(121.49, 31.23), (121.51, 31.24)]))
    assert ok["valid_from"].iloc[0] == pd.Timestamp("2026-11-01") and ok["hours_start_s"].iloc[0] == 22 * 3600
    assert bad["permit_id"].tolist() == ["P2", "P3"]  # nothing lost
    assert bad["reason_code"].tolist() == ["invalid_geometry", "no_route"]
    assert "LINESTRIN (121.49 31.23" in bad["reason"].iloc[0]
    # the same sheet saved as CSV reads the same
    table = gl.io.open_table(path, sheet="准运证", header_row=2)
    table.to_csv(tmp_path / "permits.csv", index=False)
    ok_csv, bad_csv = gl.trucks.read_permits(tmp_path / "permits.csv", columns={"审批路线": "wkt"})
    assert ok_csv["permit_id"].tolist() == ["P1"] and bad_csv["permit_id"].tolist() == ["P2", "P3"]
    with pytest.raises(gl.InputError, match="WKT in one of the columns"):
        gl.trucks.read_permits(path, sheet="准运证", header_row=2)
    with pytest.raises(CRSError, match="look like longitude/latitude"):
        gl.trucks.read_permits(path, sheet="准运证", header_row=2, columns={"审批路线": "wkt"}, crs=4550)


def test_alias_table_is_documented():
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "conventions.md").read_text(encoding="utf-8")
    for alias, name in gl.io.COLUMN_ALIASES.items():
        assert f"`{alias}`" in text and f"`{name}`" in text, alias


def _cli_grids(tmp_path):
    x0, y0 = 500_000.0, 3_850_000.0
    g = gpd.GeoDataFrame({"grid_code": ["410105001001001", "410105001001002"], "street_name": ["东风路街道"] * 2},
                         geometry=[shapely.box(x0, y0, x0 + 100, y0 + 100), shapely.box(x0 + 100, y0, x0 + 200, y0 + 100)],
                         crs=4547)
    gs = gl.GridSet.from_gdf(g, edition={"edition_id": "e2026", "valid_from": "2026-01-01"})
    store = gl.store.open(tmp_path / "city.gpkg")
    gs.to_store(store)
    store.close()
    return gs.grids.geometry.centroid.to_crs(4326)


def test_cli_assign_takes_x_y_and_chinese_headers(tmp_path, capsys):
    from gridlib.cli import main

    centre = _cli_grids(tmp_path)
    pd.DataFrame({"案件编号": ["a", "b"], "事部件编码": ["06012"] * 2, "类别": ["事件"] * 2,
                  "GPS_X": centre.x.to_numpy(), "GPS_Y": centre.y.to_numpy()}).to_csv(tmp_path / "c.csv", index=False)
    code = main(["assign", str(tmp_path / "c.csv"), "--store", str(tmp_path / "city.gpkg"),
                 "--out", str(tmp_path / "out.gpkg"), "--x", "GPS_X", "--y", "GPS_Y"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "2 cases in, 2 assigned, 0 rejected" in printed.out
    code = main(["assign", str(tmp_path / "c.csv"), "--store", str(tmp_path / "city.gpkg"),
                 "--out", str(tmp_path / "out2.gpkg"), "--columns", "GPS_X=lon,GPS_Y=lat"])
    assert code == 0 and "2 cases in, 2 assigned" in capsys.readouterr().out


# ---------------------------------------------------------------- 16.3 .xlsx


def _workbook(path):
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "说明"
    wb.active["A1"] = "本表为 2026 年 11 月案件导出"
    ws = wb.create_sheet("案件")
    ws.append(["2026年11月案件清单"])  # a title row above the header
    ws.append(["案件编号", "事部件编码", "类别", "上报时间", "经度", "纬度"])
    # numbers and times stored as text, as Excel exports often do
    ws.append(["LJZ0001", "06012", "事件", "2026-11-20 09:00:00", "121.5", "31.24"])
    ws.append(["LJZ0002", "0101", "部件", "2026-11-20 10:00:00", "121.51", "31.23"])
    typed = wb.create_sheet("typed")
    typed.append(["case_id", "class_code", "kind", "reported_at", "lon", "lat"])
    import datetime as dt

    typed.append([1001, "06012", "event", dt.datetime(2026, 11, 20, 9, 0), 121.5, 31.24])
    wb.save(path)
    return path


def test_xlsx_with_sheet_and_header_row(tmp_path):
    path = _workbook(tmp_path / "cases.xlsx")
    ok, bad = gl.io.read_points(path, sheet="案件", header_row=2, id="case_id", time="reported_at")
    assert bad.empty
    assert ok["case_id"].tolist() == ["LJZ0001", "LJZ0002"] and ok.geometry.y.tolist() == [31.24, 31.23]
    log, bad = gl.cases.read_log(path, sheet="案件", header_row=2)
    assert bad.empty and log["class_code"].tolist() == ["06012", "0101"]
    assert log["kind"].tolist() == ["event", "component"]
    typed = gl.io.open_table(path, sheet="typed")
    assert typed.loc[0, "case_id"] == "1001" and typed.loc[0, "reported_at"] == "2026-11-20 09:00:00"
    ok, _ = gl.io.read_points(path, sheet="typed", id="case_id", time="reported_at")
    assert ok["reported_at"].iloc[0] == pd.Timestamp("2026-11-20 09:00")
    with pytest.raises(gl.InputError, match="no sheet 'nope'.*说明"):
        gl.io.open_table(path, sheet="nope")


# ---------------------------------------------------------------- 16.3 CSV products for Excel


def test_csv_products_have_a_bom_and_names_beside_codes(tmp_path):
    frame = pd.DataFrame({"street_code": ["310115005"], "community_code": ["310115005002"], "cases": [3]})
    names = pd.DataFrame({"street_code": ["310115005"], "street_name": ["陆家嘴街道"],
                          "community_code": ["310115005002"], "community_name": ["梅园一村"]})
    path = gl.io.write_csv(gl.io.with_names(frame, names), tmp_path / "kpi.csv")
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig").splitlines() == [
        "street_code,street_name,community_code,community_name,cases", "310115005,陆家嘴街道,310115005002,梅园一村,3"]
    assert list(gl.io.open_table(path).columns)[0] == "street_code"


# ---------------------------------------------------------------- 16.6 a wrong CRS is named once


@pytest.fixture(scope="module")
def demo_grids():
    return gl.datasets.demo_grids()  # the demo grids, EPSG:4550


def test_read_layer_names_lon_lat_declared_as_projected(demo_grids):
    lonlat_as_4550 = demo_grids.to_crs(4326).set_crs(4550, allow_override=True)
    with pytest.raises(CRSError, match="look like longitude/latitude but the file says EPSG:4550"):
        gl.io.read_layer(lonlat_as_4550)
    with pytest.raises(CRSError, match="look like metres but the file says EPSG:4326"):
        gl.io.read_layer(demo_grids.set_crs(4326, allow_override=True))
    ok, bad = gl.io.read_layer(demo_grids)
    assert len(ok) == len(demo_grids) and bad.empty


@pytest.mark.parametrize("declared, says", [("lonlat_as_4550", "longitude/latitude but the file says EPSG:4550"),
                                            ("metres_as_4326", "metres but the file says EPSG:4326")])
def test_grid_validate_and_import_name_the_wrong_crs_once(demo_grids, tmp_path, capsys, declared, says):
    from gridlib.cli import main

    if declared == "lonlat_as_4550":
        wrong = demo_grids.to_crs(4326).set_crs(4550, allow_override=True)
    else:
        wrong = demo_grids.set_crs(4326, allow_override=True)
    path = tmp_path / "grids.gpkg"
    wrong.to_file(path, layer="grids", engine="pyogrio")
    code = main(["grid", "validate", str(path)])
    err = capsys.readouterr().err
    assert code != 0 and err.count(says) == 1 and "--crs" in err
    store = tmp_path / "store.gpkg"
    code = main(["grid", "import", str(path), "--store", str(store), "--effective-date", "2026-01-01"])
    printed = capsys.readouterr()
    assert code != 0 and printed.err.count(says) == 1
    assert "invalid polygon" not in printed.out + printed.err
    with gl.store.open(store) as st:
        assert gl.grid.editions(st).empty


# ---------------------------------------------------------------- 16.9 3D grids


def test_3d_grids_are_imported_2d_without_a_pyogrio_warning(demo_grids, tmp_path, capfd):
    import warnings

    from gridlib.cli import main

    flat, raised = tmp_path / "flat.gpkg", tmp_path / "raised.gpkg"
    demo_grids.to_file(flat, layer="grids", engine="pyogrio")
    g3 = demo_grids.copy()
    g3["geometry"] = shapely.force_3d(g3.geometry.values, 5.0)
    g3.to_file(raised, layer="grids", engine="pyogrio")
    store = tmp_path / "store.gpkg"
    assert main(["grid", "import", str(flat), "--store", str(store), "--effective-date", "2026-01-01"]) == 0
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(["grid", "import", str(raised), "--store", str(store), "--effective-date", "2026-07-01"])
    out = capfd.readouterr()
    assert code == 0, out.err
    assert not [w for w in caught if "Z=2" in str(w.message)] and "Z=2" not in out.err + out.out
    assert f"dropped the Z coordinate of {len(demo_grids)} grids (grids are 2D)" in out.err  # the CLI shows the log note
    with gl.store.open(store) as st:
        assert not st.read_layer("grids").has_z.any()
    grids = gl.grid.open_grids(raised)
    assert not grids.has_z.any() and len(grids) == len(demo_grids)


def test_cli_kpis_csv_has_a_bom_and_the_street_name_beside_the_code(tmp_path):
    from cases.case_fixtures import hand_raw

    from gridlib.cli import main

    raw = hand_raw()
    raw["street_name"] = raw["street_code"].map({"S1": "陆家嘴街道", "S2": "潍坊新村街道"})
    raw.to_csv(tmp_path / "cases.csv", index=False)
    out = tmp_path / "kpis.csv"
    assert main(["cases", "kpis", str(tmp_path / "cases.csv"), "--by", "street", "--period", "2026-11",
                 "--at", "2026-11-30 23:59", "-o", str(out)]) == 0
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")
    k = gl.io.open_table(out)
    assert list(k.columns)[:2] == ["street_code", "street_name"] and "陆家嘴街道" in k["street_name"].tolist()
