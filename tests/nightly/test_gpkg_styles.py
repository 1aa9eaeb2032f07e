"""The QGIS styles, field titles and class domains written into responsibility_map.gpkg.

The QGIS test runs Debian's QGIS (``apt-get install python3-qgis``) with ``/usr/bin/python3`` in
offscreen mode; it is skipped with a message where that is not installed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely import LineString, Point, box

import gridlib as gl
from gridlib.maps import legend
from gridlib.nightly import maps as nightly_maps
from gridlib.nightly.gpkg_styles import layer_qml, layer_sld, relate_gpkg, style_gpkg
from gridlib.nightly.outputs import write_gpkg_layers

CRS = 4550
QGIS_PYTHON = "/usr/bin/python3"


def _layers() -> dict[str, pd.DataFrame]:
    classes = list(legend.HOTSPOT_COLORS)
    cells = [box(x * 100, y * 100, x * 100 + 100, y * 100 + 100) for y in range(3) for x in range(3)]
    codes = [f"G{i:03d}" for i in range(9)]
    grids = gpd.GeoDataFrame({"grid_code": codes, "hotspot_class": classes, "open_cases": np.arange(9),
                              "overdue_cases": np.arange(9) % 3}, geometry=cells, crs=CRS)
    cases = gpd.GeoDataFrame({"case_id": ["C1", "C2", "C3"], "light": ["red", "yellow", "green"],
                              "grid_code": ["G000", "G004", "G008"]},
                             geometry=[Point(50, 50), Point(150, 150), Point(250, 250)], crs=CRS)
    violations = gpd.GeoDataFrame({"violation_id": ["V1", "V2"], "type": ["deviation", "unpermitted_stop"],
                                   "grid_code": ["G004", "G004"]}, geometry=[Point(150, 150), Point(120, 160)], crs=CRS)
    tracks = gpd.GeoDataFrame({"violation_id": ["V1"], "type": ["deviation"]},
                              geometry=[LineString([(10, 10), (290, 290)])], crs=CRS)
    reach = gpd.GeoDataFrame({"grid_code": codes, "travel_min": np.linspace(0, 20, 9)}, geometry=cells, crs=CRS)
    return {"grid_responsibility": grids, "hotspots": grids[["grid_code", "hotspot_class", "geometry"]],
            "assigned_cases": cases, "violations": violations, "violation_tracks": tracks, "reachability": reach,
            "blind_spots": gpd.GeoDataFrame({"name": ["某路"], "rank": [1]}, geometry=[LineString([(0, 150), (300, 150)])],
                                            crs=CRS),
            "camera_viewsheds": gpd.GeoDataFrame({"camera_id": ["K1"]}, geometry=[Point(150, 150).buffer(80)], crs=CRS),
            "rejects": pd.DataFrame({"step": ["cases"], "record_id": ["X"], "reason": ["no geometry"]})}


def _write(path: Path) -> Path:
    write_gpkg_layers(path, _layers(), current_date="2026-11-20T00:00:00.000Z")
    style_gpkg(path, update_time="2026-11-20T00:00:00.000Z")
    relate_gpkg(path, update_time="2026-11-20T00:00:00.000Z")
    return path


@pytest.fixture(scope="module")
def gpkg(tmp_path_factory) -> Path:
    return _write(tmp_path_factory.mktemp("styles") / "responsibility_map.gpkg")


def test_every_spatial_layer_has_one_default_style_from_the_legend(gpkg):
    con = sqlite3.connect(gpkg)
    rows = con.execute("SELECT f_table_name, f_geometry_column, useAsDefault, styleQML, styleSLD, update_time "
                       "FROM layer_styles ORDER BY f_table_name").fetchall()
    con.close()
    assert [r[0] for r in rows] == sorted(set(_layers()) - {"rejects"})
    for name, geom, default, qml, sld, when in rows:
        assert (geom, default, when) == ("geom", 1, "2026-11-20T00:00:00.000Z")
        root = ET.fromstring(qml.split("\n", 1)[1])
        assert root.tag == "qgis" and root.find("renderer-v2") is not None, name
        ET.fromstring(sld.split("\n", 1)[1])  # well-formed
    by_name = {r[0]: r for r in rows}
    # the same colours as the PNG maps' (gridlib.nightly.maps reads the same spec)
    qml = by_name["grid_responsibility"][3]
    for cls, color in nightly_maps.HOTSPOT_COLORS.items():
        r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
        assert f'value="{cls}"' in qml and f"{r},{g},{b},255" in qml
        assert color in by_name["grid_responsibility"][4]
    assert 'attr="light"' in by_name["assigned_cases"][3]
    for light, color in nightly_maps.LIGHT_COLORS.items():
        assert f"<ogc:Literal>{light}</ogc:Literal>" in by_name["assigned_cases"][4] and color in by_name["assigned_cases"][4]


def test_field_titles_and_class_domains(gpkg):
    con = sqlite3.connect(gpkg)
    titles = dict(((t, c), (title, d, k)) for t, c, title, d, k in con.execute(
        "SELECT table_name, column_name, title, description, constraint_name FROM gpkg_data_columns"))
    ext = con.execute("SELECT table_name, extension_name FROM gpkg_extensions WHERE extension_name='gpkg_schema' "
                      "ORDER BY table_name").fetchall()
    enums = con.execute("SELECT constraint_name, value, description FROM gpkg_data_column_constraints "
                        "WHERE constraint_type='enum' ORDER BY constraint_name, value").fetchall()
    con.close()
    assert titles[("grid_responsibility", "grid_code")][0] == "网格编码"
    assert titles[("assigned_cases", "light")] == ("灯色", "红灯超期, 黄灯临期 (80–100%), 绿灯正常", "case_light")
    assert titles[("rejects", "reason")][0] == "拒收原因"  # tables get titles too
    assert ext == [("gpkg_data_column_constraints", "gpkg_schema"), ("gpkg_data_columns", "gpkg_schema")]
    assert ("case_light", "red", "超期") in enums
    assert {v for n, v, _ in enums if n == "hotspot_class"} == set(legend.HOTSPOT_COLORS)
    # GDAL reads them as coded field domains (pyogrio only reports the field's domain name via ogrinfo)
    if shutil.which("ogrinfo"):
        out = subprocess.run(["ogrinfo", "-ro", "-so", str(gpkg), "assigned_cases"], capture_output=True, text=True)
        assert "domain name=case_light" in out.stdout


def test_layers_still_read_and_reruns_are_byte_identical(gpkg, tmp_path):
    again = _write(tmp_path / "responsibility_map.gpkg")
    assert hashlib.sha256(again.read_bytes()).hexdigest() == hashlib.sha256(gpkg.read_bytes()).hexdigest()
    back = gpd.read_file(gpkg, layer="assigned_cases")
    assert back["light"].tolist() == ["red", "yellow", "green"]


def test_grid_relations_pair_each_grid_with_its_cases_and_violations(gpkg):
    """Related Tables Extension: one mapping row per (grid, case) and (grid, violation) with equal grid_code."""
    con = sqlite3.connect(gpkg)
    try:
        rels = con.execute("SELECT base_table_name, related_table_name, relation_name, mapping_table_name "
                           "FROM gpkgext_relations ORDER BY id").fetchall()
        assert rels == [("grid_responsibility", "assigned_cases", "features", "grid_responsibility_assigned_cases"),
                        ("grid_responsibility", "violations", "features", "grid_responsibility_violations")]
        for _, related, _, mapping in rels:
            pairs = con.execute(f'SELECT b.grid_code, r.grid_code FROM "{mapping}" m JOIN grid_responsibility b '
                                f'ON b.fid = m.base_id JOIN "{related}" r ON r.fid = m.related_id').fetchall()
            with_grid = con.execute(f'SELECT count(*) FROM "{related}" WHERE grid_code IS NOT NULL').fetchone()[0]
            assert len(pairs) == with_grid > 0 and all(a == b for a, b in pairs), mapping
        assert con.execute("SELECT count(*) FROM gpkg_extensions WHERE extension_name = 'gpkg_related_tables'"
                           ).fetchone()[0] == 3
    finally:
        con.close()


def test_qml_and_sld_of_a_table_or_unknown_layer():
    assert layer_sld("rejects") == ""
    assert "<renderer-v2" not in layer_qml("rejects", ["reason"])
    assert '<alias field="reason" index="0" name="拒收原因"/>' in layer_qml("rejects", ["reason"])


def test_a_planners_gpkg_with_its_own_styles_imports(tmp_path):
    """A planner's grid file carries whatever styles QGIS (or gridlib) put in it: it still imports."""
    grids = gl.grid.build(gpd.GeoDataFrame({"code": ["410105001003"], "name": ["demo"]},
                                           geometry=[box(0, 0, 300, 200)], crs="EPSG:4547"))
    path = tmp_path / "planner.gpkg"
    grids.to_file(path, layer="grids")
    # as QGIS saves a style: a layer_styles table registered as an attribute table, a foreign QML
    styles = pd.DataFrame({"f_table_catalog": [""], "f_table_schema": [""], "f_table_name": ["grids"],
                           "f_geometry_column": ["geom"], "styleName": ["规划师样式"],
                           "styleQML": ["<qgis><renderer-v2 type='singleSymbol'/></qgis>"], "styleSLD": [""],
                           "useAsDefault": [True], "description": ["x"], "owner": [""], "ui": [None],
                           "update_time": ["2026-01-01T00:00:00"]})
    import pyogrio
    pyogrio.write_dataframe(styles, path, layer="layer_styles", driver="GPKG")
    style_gpkg(path, update_time="2026-01-01T00:00:00.000Z")  # and gridlib's own titles/domains tables
    store = gl.store.open(tmp_path / "store.gpkg")
    res = gl.grid.import_edition(path, store, effective_date="2026-01-01")
    assert res.summary == {"added": len(grids)}


_QGIS_SCRIPT = textwrap.dedent("""
    import faulthandler, json, os, sys
    faulthandler.enable()
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from qgis.core import (QgsApplication, QgsVectorLayer, QgsMapSettings, QgsMapRendererParallelJob)
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor
    app = QgsApplication([], False)
    app.initQgis()
    path, out_dir = sys.argv[1], sys.argv[2]
    report = {}
    for name in json.loads(sys.argv[3]):
        layer = QgsVectorLayer(f"{path}|layername={name}", name, "ogr")
        assert layer.isValid(), name
        msg, ok = layer.loadDefaultStyle()
        fields = layer.fields()
        aliases = {fields.at(i).name(): layer.attributeAlias(i) for i in range(fields.count())}
        renderer = layer.renderer()
        settings = QgsMapSettings()
        settings.setLayers([layer])
        settings.setExtent(layer.extent().buffered(10))
        settings.setOutputSize(QSize(300, 300))
        settings.setBackgroundColor(QColor(255, 255, 255))
        job = QgsMapRendererParallelJob(settings)
        job.start()
        job.waitForFinished()
        image = job.renderedImage()
        png = os.path.join(out_dir, name + ".png")
        image.save(png)
        colours = set()
        for x in range(0, 300, 3):
            for y in range(0, 300, 3):
                colours.add(image.pixel(x, y))
        report[name] = {"ok": ok, "msg": msg, "renderer": renderer.type() if renderer else None,
                        "aliases": aliases, "colours": len(colours), "png": png,
                        "categories": [c.value() for c in getattr(renderer, "categories", lambda: [])()]}
    from osgeo import gdal  # QGIS >= 3.28 discovers GeoPackage relations through GDAL's relationships
    ds = gdal.OpenEx(path)
    report["_relationships"] = sorted(
        (r.GetLeftTableName(), r.GetRightTableName(), r.GetMappingTableName())
        for r in (ds.GetRelationship(n) for n in (ds.GetRelationshipNames() or [])))
    print(json.dumps(report), flush=True)
    os._exit(0)  # QGIS 3.22 can crash in exitQgis() offscreen; everything is written
""")


def _qgis_available() -> bool:
    if not Path(QGIS_PYTHON).exists():
        return False
    return subprocess.run([QGIS_PYTHON, "-c", "import qgis.core"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _qgis_available(), reason="Debian's QGIS is not installed: `apt-get install -y "
                    "--no-install-recommends python3-qgis` (about 170 packages), then run with /usr/bin/python3 present")
def test_qgis_loads_default_styles_and_aliases_and_renders(gpkg, tmp_path):
    names = sorted(set(_layers()) - {"rejects"})
    run = subprocess.run([QGIS_PYTHON, "-c", _QGIS_SCRIPT, str(gpkg), str(tmp_path), json.dumps(names)],
                         capture_output=True, text=True, timeout=300, env={"QT_QPA_PLATFORM": "offscreen",
                                                                           "HOME": str(tmp_path)})
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    expected = {"grid_responsibility": "categorizedSymbol", "hotspots": "categorizedSymbol",
                "assigned_cases": "categorizedSymbol", "reachability": "graduatedSymbol",
                "violations": "categorizedSymbol", "violation_tracks": "categorizedSymbol",
                "blind_spots": "singleSymbol", "camera_viewsheds": "singleSymbol"}
    for name in names:
        got = report[name]
        assert got["ok"], (name, got["msg"])
        assert got["renderer"] == expected[name], name
        assert got["colours"] >= 2, f"{name}: rendered PNG is blank"  # background plus the layer's colours
    assert report["grid_responsibility"]["aliases"]["grid_code"] == "网格编码"
    assert report["assigned_cases"]["aliases"]["light"] == "灯色"
    assert report["assigned_cases"]["categories"] == ["red", "yellow", "green"]
    assert report["grid_responsibility"]["colours"] >= len(legend.HOTSPOT_COLORS)
    assert report["_relationships"] == [
        ["grid_responsibility", "assigned_cases", "grid_responsibility_assigned_cases"],
        ["grid_responsibility", "violations", "grid_responsibility_violations"]]
    shutil.copy(report["grid_responsibility"]["png"], Path("/tmp") / "qgis_grid_responsibility.png")
