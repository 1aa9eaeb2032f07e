"""Default QGIS styles, field titles and class domains in a GeoPackage, written without QGIS.

From the one legend spec (:mod:`gridlib.maps.legend`) this writes, with :mod:`sqlite3`:

- ``layer_styles``: one default style per layer, QML (QGIS's style XML) and SLD — the table QGIS
  reads when it opens a GeoPackage layer (``useAsDefault = 1``);
- ``gpkg_data_columns``: a Chinese title and a description per field (GeoPackage schema extension,
  registered in ``gpkg_extensions``); QGIS gets the same titles as field aliases from the QML;
- ``gpkg_data_column_constraints``: the class values (hotspot classes, case lights) as ``enum``
  constraints, which GDAL reads as coded field domains;
- ``gpkgext_relations`` (OGC GeoPackage Related Tables Extension, 18-000): grid → cases and grid →
  violations as ``features`` relations through mapping tables of feature ids, which GDAL (≥ 3.6)
  reports as relationships and QGIS ≥ 3.28 finds with "Discover relations" (QGIS 3.22 only reads
  relations from project files);
- the layer order in ``gpkg_contents`` is unchanged; QGIS's layer order comes from
  :data:`gridlib.maps.legend.LAYER_ORDER` via the ``description`` column (``"01 ..."``).

Everything is deterministic: ``update_time`` is the run date passed in.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from gridlib.maps.legend import FIELD_TITLES, LAYER_ORDER, LAYERS, Klass, LayerStyle

__all__ = ["style_gpkg", "relate_gpkg", "RELATIONS", "layer_qml", "layer_sld"]


def _rgba(color: str, opacity: float = 1.0) -> str:
    h = color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"{r},{g},{b},{round(255 * opacity)}"


def _symbol(style: LayerStyle, name: str, color: str) -> str:
    """One QGIS symbol (fill, line or marker) of *color*, as QML."""
    opts: dict[str, str]
    if style.geometry == "fill":
        cls = "SimpleFill"
        opts = {"color": _rgba(color, style.opacity), "outline_color": _rgba(style.stroke),
                "outline_width": f"{style.width_mm:g}", "outline_width_unit": "MM", "style": "solid",
                "outline_style": "solid", "joinstyle": "bevel"}
    elif style.geometry == "line":
        cls = "SimpleLine"
        opts = {"line_color": _rgba(color, style.opacity), "line_width": f"{style.width_mm:g}",
                "line_width_unit": "MM", "line_style": "solid", "capstyle": "round", "joinstyle": "round"}
    else:
        cls = "SimpleMarker"
        opts = {"name": "circle", "color": _rgba(color, style.opacity), "outline_color": _rgba(style.stroke),
                "outline_width": "0.2", "outline_width_unit": "MM", "size": "2.2", "size_unit": "MM",
                "outline_style": "solid"}
    options = "".join(f'<Option name={quoteattr(k)} type="QString" value={quoteattr(v)}/>' for k, v in opts.items())
    props = "".join(f"<prop k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in opts.items())
    return (f'<symbol type="{style.geometry}" name={quoteattr(name)} alpha="1" clip_to_extent="1" force_rhr="0">'
            f'<layer class="{cls}" pass="0" enabled="1" locked="0"><Option type="Map">{options}</Option>{props}'
            "</layer></symbol>")


def _renderer(style: LayerStyle) -> str:
    if style.kind == "categorized":
        cats = "".join(f'<category render="true" symbol="{i}" value={quoteattr(k.value)} label={quoteattr(k.label)}/>'
                       for i, k in enumerate(style.classes))
        syms = "".join(_symbol(style, str(i), k.color) for i, k in enumerate(style.classes))
        return (f'<renderer-v2 type="categorizedSymbol" attr={quoteattr(style.field)} symbollevels="0" '
                f'enableorderby="0" forceraster="0"><categories>{cats}</categories><symbols>{syms}</symbols>'
                "</renderer-v2>")
    if style.kind == "graduated":
        ranges = "".join(f'<range render="true" symbol="{i}" lower="{lo:.6f}" upper="{hi:.6f}" '
                         f'label={quoteattr(_range_label(lo, hi))}/>' for i, (lo, hi, _) in enumerate(style.ranges))
        syms = "".join(_symbol(style, str(i), c) for i, (_, _, c) in enumerate(style.ranges))
        return (f'<renderer-v2 type="graduatedSymbol" attr={quoteattr(style.field)} graduatedMethod="GraduatedColor" '
                f'symbollevels="0" enableorderby="0" forceraster="0"><ranges>{ranges}</ranges>'
                f"<symbols>{syms}</symbols></renderer-v2>")
    return (f'<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" forceraster="0">'
            f"<symbols>{_symbol(style, '0', style.color)}</symbols></renderer-v2>")


def _range_label(lo: float, hi: float) -> str:
    return f"≥ {lo:g}" if hi >= 1e8 else f"{lo:g} – {hi:g}"


def layer_qml(layer: str, fields: list[str]) -> str:
    """The QML (QGIS layer style XML) of *layer*: its renderer from the legend spec and field aliases.

    >>> qml = layer_qml("assigned_cases", ["case_id", "light"])
    >>> 'attr="light"' in qml, '<alias field="light" index="1" name="灯色"/>' in qml
    (True, True)
    """
    style = LAYERS.get(layer, LayerStyle(layer, None))
    aliases = "".join(f"<alias field={quoteattr(f)} index=\"{i}\" name={quoteattr(FIELD_TITLES[f][0])}/>"
                      for i, f in enumerate(fields) if f in FIELD_TITLES)
    renderer = _renderer(style) if style.geometry else ""
    return ("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
            f'<qgis version="3.22.16-Białowieża" styleCategories="Symbology|Fields">{renderer}'
            f"<aliases>{aliases}</aliases></qgis>\n")


def _sld_symbolizer(style: LayerStyle, color: str) -> str:
    if style.geometry == "fill":
        return (f'<se:PolygonSymbolizer><se:Fill><se:SvgParameter name="fill">{color}</se:SvgParameter>'
                f'<se:SvgParameter name="fill-opacity">{style.opacity:g}</se:SvgParameter></se:Fill>'
                f'<se:Stroke><se:SvgParameter name="stroke">{style.stroke}</se:SvgParameter>'
                f'<se:SvgParameter name="stroke-width">{style.width_mm * 3.78:.2f}</se:SvgParameter></se:Stroke>'
                "</se:PolygonSymbolizer>")
    if style.geometry == "line":
        return (f'<se:LineSymbolizer><se:Stroke><se:SvgParameter name="stroke">{color}</se:SvgParameter>'
                f'<se:SvgParameter name="stroke-width">{style.width_mm * 3.78:.2f}</se:SvgParameter></se:Stroke>'
                "</se:LineSymbolizer>")
    return (f"<se:PointSymbolizer><se:Graphic><se:Mark><se:WellKnownName>circle</se:WellKnownName>"
            f'<se:Fill><se:SvgParameter name="fill">{color}</se:SvgParameter></se:Fill>'
            f'<se:Stroke><se:SvgParameter name="stroke">{style.stroke}</se:SvgParameter></se:Stroke></se:Mark>'
            "<se:Size>8</se:Size></se:Graphic></se:PointSymbolizer>")


def layer_sld(layer: str) -> str:
    """The SLD 1.1 style of *layer* (one rule per class), or ``""`` for a table without geometry.

    >>> sld = layer_sld("hotspots")
    >>> "<ogc:Literal>hot_99</ogc:Literal>" in sld and "#c6242b" in sld
    True
    """
    style = LAYERS.get(layer, LayerStyle(layer, None))
    if not style.geometry:
        return ""
    if style.kind == "categorized":
        rules = [(k.label, f"<ogc:Filter><ogc:PropertyIsEqualTo><ogc:PropertyName>{escape(style.field)}"
                  f"</ogc:PropertyName><ogc:Literal>{escape(k.value)}</ogc:Literal></ogc:PropertyIsEqualTo>"
                  "</ogc:Filter>", k.color) for k in style.classes]
    elif style.kind == "graduated":
        rules = [(_range_label(lo, hi), "<ogc:Filter><ogc:And><ogc:PropertyIsGreaterThanOrEqualTo>"
                  f"<ogc:PropertyName>{style.field}</ogc:PropertyName><ogc:Literal>{lo:g}</ogc:Literal>"
                  "</ogc:PropertyIsGreaterThanOrEqualTo><ogc:PropertyIsLessThan>"
                  f"<ogc:PropertyName>{style.field}</ogc:PropertyName><ogc:Literal>{hi:g}</ogc:Literal>"
                  "</ogc:PropertyIsLessThan></ogc:And></ogc:Filter>", c) for lo, hi, c in style.ranges]
    else:
        rules = [(style.title, "", style.color)]
    body = "".join(f"<se:Rule><se:Name>{escape(name)}</se:Name>{flt}{_sld_symbolizer(style, c)}</se:Rule>"
                   for name, flt, c in rules)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<StyledLayerDescriptor xmlns="http://www.opengis.net/sld" version="1.1.0" '
            'xmlns:ogc="http://www.opengis.net/ogc" xmlns:se="http://www.opengis.net/se" '
            'xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:schemaLocation="http://www.opengis.net/sld http://schemas.opengis.net/sld/1.1.0/'
            'StyledLayerDescriptor.xsd"><NamedLayer>'
            f"<se:Name>{escape(layer)}</se:Name><UserStyle><se:Name>{escape(style.title)}</se:Name>"
            f"<se:FeatureTypeStyle>{body}</se:FeatureTypeStyle></UserStyle></NamedLayer>"
            "</StyledLayerDescriptor>\n")


_LAYER_STYLES_DDL = """CREATE TABLE IF NOT EXISTS layer_styles (
 id INTEGER PRIMARY KEY AUTOINCREMENT, f_table_catalog TEXT(256), f_table_schema TEXT(256),
 f_table_name TEXT(256), f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT, styleSLD TEXT,
 useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30), update_time DATETIME)"""
_DATA_COLUMNS_DDL = """CREATE TABLE IF NOT EXISTS gpkg_data_columns (
 table_name TEXT NOT NULL, column_name TEXT NOT NULL, name TEXT, title TEXT, description TEXT,
 mime_type TEXT, constraint_name TEXT, CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name),
 CONSTRAINT gdc_tn UNIQUE (table_name, name))"""
_CONSTRAINTS_DDL = """CREATE TABLE IF NOT EXISTS gpkg_data_column_constraints (
 constraint_name TEXT NOT NULL, constraint_type TEXT NOT NULL, value TEXT, min NUMERIC, min_is_inclusive BOOLEAN,
 max NUMERIC, max_is_inclusive BOOLEAN, description TEXT,
 CONSTRAINT gdcc_ntv UNIQUE (constraint_name, constraint_type, value))"""
_EXT_DDL = """CREATE TABLE IF NOT EXISTS gpkg_extensions (table_name TEXT, column_name TEXT,
 extension_name TEXT NOT NULL, definition TEXT NOT NULL, scope TEXT NOT NULL,
 CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name))"""
_SCHEMA_EXT = "http://www.geopackage.org/spec121/#extension_schema"
_RTE_EXT = "http://docs.ogc.org/is/18-000/18-000.html"
_RELATIONS_DDL = """CREATE TABLE IF NOT EXISTS gpkgext_relations (
 id INTEGER PRIMARY KEY AUTOINCREMENT, base_table_name TEXT NOT NULL, base_primary_column TEXT NOT NULL DEFAULT 'id',
 related_table_name TEXT NOT NULL, related_primary_column TEXT NOT NULL DEFAULT 'id', relation_name TEXT NOT NULL,
 mapping_table_name TEXT NOT NULL UNIQUE)"""

#: (base layer, related layer, key column both share): each grid and the cases / violations in it
RELATIONS: tuple[tuple[str, str, str], ...] = (
    ("grid_responsibility", "assigned_cases", "grid_code"),
    ("grid_responsibility", "violations", "grid_code"),
)


def style_gpkg(path: Path, *, update_time: str) -> None:
    """Add default styles, field titles and class domains for every layer of the GeoPackage *path*.

    Layers without a spec in :data:`gridlib.maps.legend.LAYERS` get titles only. *update_time*
    (ISO 8601) is written as the styles' ``update_time`` so reruns are byte-identical.

    >>> import tempfile, geopandas as gpd, sqlite3
    >>> from shapely import Point
    >>> p = Path(tempfile.mkdtemp()) / "m.gpkg"
    >>> gpd.GeoDataFrame({"light": ["red"]}, geometry=[Point(0, 0)], crs=4550).to_file(p, layer="assigned_cases")
    >>> style_gpkg(p, update_time="2026-11-20T00:00:00.000Z")
    >>> con = sqlite3.connect(p)
    >>> con.execute("select f_table_name, useAsDefault from layer_styles").fetchall()
    [('assigned_cases', 1)]
    >>> con.execute("select title from gpkg_data_columns where column_name='light'").fetchone()[0]
    '灯色'
    >>> con.close()
    """
    con = sqlite3.connect(path)
    try:
        with con:
            tables = con.execute("SELECT c.table_name, g.column_name FROM gpkg_contents c LEFT JOIN "
                                 "gpkg_geometry_columns g ON g.table_name = c.table_name "
                                 "WHERE c.data_type IN ('features', 'attributes') AND c.table_name != 'layer_styles' "
                                 "ORDER BY c.table_name").fetchall()
            for ddl in (_LAYER_STYLES_DDL, _DATA_COLUMNS_DDL, _CONSTRAINTS_DDL, _EXT_DDL):
                con.execute(ddl)
            # registered as an attribute table, as QGIS does: QGIS finds the styles through GDAL's layers
            con.execute("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, "
                        "last_change) VALUES ('layer_styles', 'attributes', 'layer_styles', '', ?)", (update_time,))
            for table in ("gpkg_data_columns", "gpkg_data_column_constraints"):
                con.execute("INSERT OR IGNORE INTO gpkg_extensions VALUES (?, NULL, 'gpkg_schema', ?, 'read-write')",
                            (table, _SCHEMA_EXT))
            domains: dict[str, tuple[Klass, ...]] = {}
            order = {name: i for i, name in enumerate(LAYER_ORDER)}
            for table, geom in sorted(tables, key=lambda t: (order.get(t[0], len(order)), t[0])):
                fields = [row[1] for row in con.execute(f'PRAGMA table_info("{table}")')
                          if row[1] not in ("fid", geom)]
                style = LAYERS.get(table)
                for f in fields:
                    if f not in FIELD_TITLES:
                        continue
                    constraint = style.domain if style is not None and style.domain and f == style.field else None
                    if constraint:
                        domains[constraint] = style.classes
                    con.execute("INSERT OR REPLACE INTO gpkg_data_columns VALUES (?, ?, ?, ?, ?, NULL, ?)",
                                (table, f, f, *FIELD_TITLES[f], constraint))
                if style is None or geom is None:
                    continue
                con.execute("INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
                            "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, owner, "
                            "ui, update_time) VALUES ('', '', ?, ?, ?, ?, ?, 1, ?, '', NULL, ?)",
                            (table, geom, style.title, layer_qml(table, fields), layer_sld(table),
                             f"{order.get(table, 99):02d} gridlib legend spec (gridlib.maps.legend)", update_time))
            for name, classes in sorted(domains.items()):
                con.executemany("INSERT OR IGNORE INTO gpkg_data_column_constraints VALUES (?, 'enum', ?, NULL, "
                                "NULL, NULL, NULL, ?)", [(name, k.value, k.label) for k in classes])
    finally:
        con.close()


def relate_gpkg(path: Path, *, update_time: str, relations: tuple[tuple[str, str, str], ...] = RELATIONS) -> list[str]:
    """Write *relations* of the GeoPackage *path* as Related Tables Extension mapping tables.

    Each ``(base, related, key)`` becomes a mapping table ``<base>_<related>`` of
    ``(base_id, related_id)`` feature-id pairs whose *key* values are equal, registered in
    ``gpkgext_relations`` as a ``features`` relation. Relations whose layers or key are missing are
    skipped. Returns the mapping tables written.

    >>> import tempfile, geopandas as gpd, sqlite3
    >>> from shapely import Point, box
    >>> p = Path(tempfile.mkdtemp()) / "m.gpkg"
    >>> gpd.GeoDataFrame({"grid_code": ["G1", "G2"]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)],
    ...                  crs=4550).to_file(p, layer="grid_responsibility")
    >>> gpd.GeoDataFrame({"grid_code": ["G2", "G2", None]}, geometry=[Point(1.5, .5)] * 3,
    ...                  crs=4550).to_file(p, layer="assigned_cases")
    >>> relate_gpkg(p, update_time="2026-11-20T00:00:00.000Z")
    ['grid_responsibility_assigned_cases']
    >>> sqlite3.connect(p).execute("select * from grid_responsibility_assigned_cases").fetchall()
    [(2, 1), (2, 2)]
    """
    con = sqlite3.connect(path)
    written = []
    try:
        with con:
            tables = {r[0] for r in con.execute("SELECT table_name FROM gpkg_contents")}
            for base, related, key in relations:
                if not {base, related} <= tables or not all(
                        key in {c[1] for c in con.execute(f'PRAGMA table_info("{t}")')} for t in (base, related)):
                    continue
                if not written:
                    con.execute(_RELATIONS_DDL)
                    con.execute(_EXT_DDL)
                    con.execute("INSERT OR IGNORE INTO gpkg_extensions VALUES ('gpkgext_relations', NULL, "
                                "'gpkg_related_tables', ?, 'read-write')", (_RTE_EXT,))
                mapping = f"{base}_{related}"
                con.execute(f'CREATE TABLE "{mapping}" (base_id INTEGER NOT NULL, related_id INTEGER NOT NULL)')
                # the set join in SQLite: one statement, however many grids and cases
                con.execute(f'INSERT INTO "{mapping}" SELECT b.fid, r.fid FROM "{base}" b JOIN "{related}" r '
                            f'ON r."{key}" = b."{key}" ORDER BY b.fid, r.fid')
                con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change) "
                            "VALUES (?, 'attributes', ?, ?, ?)",
                            (mapping, mapping, f"{base} → {related} ({key})", update_time))
                con.execute("INSERT INTO gpkg_extensions VALUES (?, NULL, 'gpkg_related_tables', ?, 'read-write')",
                            (mapping, _RTE_EXT))
                con.execute("INSERT INTO gpkgext_relations (base_table_name, base_primary_column, related_table_name, "
                            "related_primary_column, relation_name, mapping_table_name) "
                            "VALUES (?, 'fid', ?, 'fid', 'features', ?)", (base, related, mapping))
                written.append(mapping)
    finally:
        con.close()
    return written
