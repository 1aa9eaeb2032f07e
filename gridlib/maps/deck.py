"""Interactive web maps with pydeck, written as one self-contained HTML file.

The page needs no network at view time: the deck.gl bundle that the ``pydeck`` wheel ships
(``pydeck/nbextension/static/index.js``, the ``@deck.gl/jupyter-widget`` build) is inlined, and no
basemap tiles are requested — the layers themselves (grid, streets, roads) are the map.
Coordinates are written in WGS84 (EPSG:4326) rounded to 1e-7° (about 1 cm).

>>> import geopandas as gpd, tempfile, pathlib
>>> from shapely.geometry import box
>>> g = gpd.GeoDataFrame({"name_zh": ["陆家嘴"], "n": [3]},
...     geometry=[box(121.49, 31.22, 121.51, 31.24)], crs="EPSG:4326")
>>> layer = polygon_layer(g, fill_color="#d7301f")
>>> out = to_html([layer], pathlib.Path(tempfile.mkdtemp()) / "m.html", "示例",
...               tooltip="{name_zh}: {n} 件")
>>> "<script src=" in out.read_text(encoding="utf-8")
False
"""

from __future__ import annotations

import html
import json
import math
import os
import tempfile
import weakref
from collections.abc import Hashable, Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pydeck as pdk
import shapely
from matplotlib.colors import to_rgba

from gridlib.errors import InputError

__all__ = ["rgba", "polygon_layer", "line_layer", "point_layer", "to_html", "deck_bundle_path"]

Color = Sequence[int] | str
_BOUNDS: weakref.WeakKeyDictionary[pdk.Layer, tuple[float, float, float, float]] = (
    weakref.WeakKeyDictionary()
)
_DIGITS = 7
FONT_STACK = "'Noto Sans CJK SC','Noto Sans SC','Source Han Sans SC','PingFang SC','Microsoft YaHei',sans-serif"


def deck_bundle_path() -> Path:
    """Return the deck.gl JavaScript bundle shipped inside the installed ``pydeck`` package.

    >>> deck_bundle_path().name
    'index.js'
    """
    path = Path(pdk.__file__).parent / "nbextension" / "static" / "index.js"
    if not path.is_file() or path.stat().st_size < 100_000:
        raise InputError(
            f"the deck.gl bundle is missing from the pydeck installation ({path}); "
            "reinstall pydeck from its wheel, which ships it"
        )
    return path


def rgba(color: Color, alpha: float | None = None) -> list[int]:
    """Return ``color`` (name, ``#hex`` or 3/4 ints 0–255) as ``[r, g, b, a]`` ints.

    >>> rgba("#ff0000", 0.5)
    [255, 0, 0, 128]
    >>> rgba([10, 20, 30])
    [10, 20, 30, 255]
    """
    if isinstance(color, str):
        r, g, b, a = to_rgba(color)
        out = [round(r * 255), round(g * 255), round(b * 255), round(a * 255)]
    else:
        values = [int(v) for v in color]
        if len(values) not in (3, 4) or not all(0 <= v <= 255 for v in values):
            raise InputError(f"colour {color!r} is not 3 or 4 integers in 0..255")
        out = values + [255] * (4 - len(values))
    if alpha is not None:
        out[3] = round(float(alpha) * 255)
    return out


def _json_value(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else round(float(value), 6)
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (pd.Timestamp, datetime, date)):
        return value.isoformat()
    if isinstance(value, (int, str)):
        return value
    return str(value)


def _properties(gdf: gpd.GeoDataFrame, columns: Sequence[str] | None) -> list[dict[str, Any]]:
    names = [c for c in (gdf.columns if columns is None else columns) if c != gdf.geometry.name]
    missing = [c for c in names if c not in gdf.columns]
    if missing:
        raise InputError(f"columns {missing} not in the layer")
    table = gdf[names]
    return [{k: _json_value(v) for k, v in zip(names, row, strict=True)} for row in table.itertuples(index=False)]


def _colors(gdf: gpd.GeoDataFrame, spec: Color, colors: Mapping[Hashable, Color] | None, default: Color,
            alpha: float | None) -> list[list[int]]:
    """Per-row colours: a fixed colour, or a column of colours / of categories mapped by ``colors``."""
    if isinstance(spec, str) and spec in gdf.columns:
        values = gdf[spec].tolist()
        if colors is not None:
            lut = {k: rgba(c, alpha) for k, c in colors.items()}
            fallback = rgba(default, alpha)
            return [lut.get(v, fallback) for v in values]
        return [rgba(v, alpha) for v in values]
    fixed = rgba(spec, alpha)
    return [fixed] * len(gdf)


def _wgs84(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputError("expected a GeoDataFrame")
    if gdf.crs is None:
        raise InputError("layer has no CRS: set one before mapping it")
    out = gdf if gdf.crs.to_epsg() == 4326 else gdf.to_crs(4326)
    keep = ~(out.geometry.isna() | out.geometry.is_empty)
    return out[keep.to_numpy()]


def _register(layer: pdk.Layer, gdf: gpd.GeoDataFrame) -> pdk.Layer:
    if len(gdf):
        minx, miny, maxx, maxy = (float(v) for v in gdf.total_bounds)
        _BOUNDS[layer] = (minx, miny, maxx, maxy)
    return layer


def _rings(coords: np.ndarray) -> list[list[float]]:
    return np.round(coords[:, :2], _DIGITS).tolist()


def polygon_layer(
    gdf: gpd.GeoDataFrame,
    *,
    fill_color: Color = "#3182bd",
    colors: Mapping[Hashable, Color] | None = None,
    line_color: Color = "#333333",
    line_width_px: float = 1.0,
    opacity: float = 0.75,
    columns: Sequence[str] | None = None,
    id: str | None = None,
    pickable: bool = True,
) -> pdk.Layer:
    """Return a deck.gl ``PolygonLayer`` of the polygons in ``gdf`` (reprojected to WGS84).

    Parameters
    ----------
    fill_color
        A colour, or the name of a column holding colours, or of a category column when
        ``colors`` maps its values to colours (unmapped values get light grey).
    columns
        Attribute columns carried into the page for tooltips (default: all).

    Multi-polygons become one record per part; holes are kept.

    >>> import geopandas as gpd; from shapely.geometry import box
    >>> g = gpd.GeoDataFrame({"cls": ["hot_99", "x"]},
    ...     geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs="EPSG:4326")
    >>> layer = polygon_layer(g, fill_color="cls", colors={"hot_99": "#b2182b"})
    >>> [row["_fill"] for row in layer.data]
    [[178, 24, 43, 255], [238, 238, 238, 255]]
    """
    src = _wgs84(gdf)
    kinds = src.geom_type
    if not kinds.isin(["Polygon", "MultiPolygon"]).all():
        raise InputError(f"polygon_layer needs polygons, got {sorted(set(kinds) - {'Polygon', 'MultiPolygon'})}")
    props = _properties(src, columns)
    fills = _colors(src, fill_color, colors, "#eeeeee", None)
    parts, index = shapely.get_parts(src.geometry.to_numpy(), return_index=True)
    data = []
    for part, i in zip(parts, index, strict=True):
        rings = [_rings(shapely.get_coordinates(part.exterior))]
        rings += [_rings(shapely.get_coordinates(h)) for h in part.interiors]
        data.append({**props[i], "polygon": rings, "_fill": fills[i]})
    layer = pdk.Layer(
        "PolygonLayer", data, id=id or "polygons", get_polygon="polygon", get_fill_color="_fill",
        get_line_color=rgba(line_color), line_width_units=pdk.types.String("pixels"), get_line_width=line_width_px,
        line_width_min_pixels=0.5, stroked=True, filled=True, opacity=opacity, pickable=pickable,
        auto_highlight=pickable,
    )
    return _register(layer, src)


def line_layer(
    gdf: gpd.GeoDataFrame,
    *,
    color: Color = "#444444",
    colors: Mapping[Hashable, Color] | None = None,
    width_px: float = 2.0,
    columns: Sequence[str] | None = None,
    id: str | None = None,
    pickable: bool = True,
) -> pdk.Layer:
    """Return a deck.gl ``PathLayer`` of lines (or polygon outlines) in ``gdf``.

    ``color`` works like ``fill_color`` of :func:`polygon_layer`.

    >>> import geopandas as gpd; from shapely.geometry import LineString
    >>> g = gpd.GeoDataFrame({"name_zh": ["世纪大道"]},
    ...     geometry=[LineString([(121.5, 31.23), (121.52, 31.22)])], crs="EPSG:4326")
    >>> line_layer(g).data[0]["path"]
    [[121.5, 31.23], [121.52, 31.22]]
    """
    src = _wgs84(gdf)
    geoms = src.geometry.to_numpy()
    is_area = np.isin(shapely.get_type_id(geoms), (3, 6))  # polygons → their boundaries
    geoms = np.where(is_area, shapely.boundary(geoms), geoms)
    props = _properties(src, columns)
    strokes = _colors(src, color, colors, "#888888", None)
    parts, index = shapely.get_parts(geoms, return_index=True)
    parts_2, index_2 = shapely.get_parts(parts, return_index=True)  # MultiLineString boundaries
    data = []
    for part, j in zip(parts_2, index_2, strict=True):
        i = index[j]
        if shapely.get_type_id(part) not in (1, 2):
            raise InputError(f"line_layer needs lines or polygons, got {part.geom_type} in row {i}")
        data.append({**props[i], "path": _rings(shapely.get_coordinates(part)), "_color": strokes[i]})
    layer = pdk.Layer(
        "PathLayer", data, id=id or "lines", get_path="path", get_color="_color",
        width_units=pdk.types.String("pixels"), get_width=width_px, width_min_pixels=1, pickable=pickable,
        auto_highlight=pickable, cap_rounded=True, joint_rounded=True,
    )
    return _register(layer, src)


def point_layer(
    gdf: gpd.GeoDataFrame,
    *,
    color: Color = "#e6550d",
    colors: Mapping[Hashable, Color] | None = None,
    radius_px: float = 4.0,
    columns: Sequence[str] | None = None,
    id: str | None = None,
    pickable: bool = True,
) -> pdk.Layer:
    """Return a deck.gl ``ScatterplotLayer`` of the points in ``gdf``.

    >>> import geopandas as gpd; from shapely.geometry import Point
    >>> g = gpd.GeoDataFrame({"case_id": ["A1"]}, geometry=[Point(121.5, 31.23)], crs="EPSG:4326")
    >>> point_layer(g).data[0]["position"]
    [121.5, 31.23]
    """
    src = _wgs84(gdf)
    if not src.geom_type.isin(["Point"]).all():
        raise InputError("point_layer needs Point geometries (explode multipoints first)")
    props = _properties(src, columns)
    fills = _colors(src, color, colors, "#888888", None)
    xy = np.round(shapely.get_coordinates(src.geometry.to_numpy()), _DIGITS).tolist()
    data = [{**p, "position": pos, "_fill": f} for p, pos, f in zip(props, xy, fills, strict=True)]
    layer = pdk.Layer(
        "ScatterplotLayer", data, id=id or "points", get_position="position", get_fill_color="_fill",
        radius_units=pdk.types.String("pixels"), get_radius=radius_px, stroked=True, get_line_color=[255, 255, 255, 200],
        line_width_min_pixels=0.5, pickable=pickable, auto_highlight=pickable,
    )
    return _register(layer, src)


def _data_bounds(layers: Iterable[pdk.Layer]) -> list[float] | None:
    """Union of the layers' lon/lat bounds (rounded like the coordinates), or None when none is known."""
    boxes = [_BOUNDS[layer] for layer in layers if layer in _BOUNDS]
    if not boxes:
        return None
    arr = np.array(boxes)
    union = (arr[:, 0].min(), arr[:, 1].min(), arr[:, 2].max(), arr[:, 3].max())
    return [round(float(v), _DIGITS) for v in union]


def _view_state(bounds: Sequence[float] | None, width: int = 1000, height: int = 650) -> pdk.ViewState:
    if bounds is None:
        return pdk.ViewState(longitude=0.0, latitude=0.0, zoom=1)
    return pdk.ViewState(**fit_bounds(bounds, width, height))


def fit_bounds(bounds: Sequence[float], width: int = 1000, height: int = 650) -> dict[str, float]:
    """deck.gl view state (longitude, latitude, zoom, pitch, bearing) framing lon/lat ``bounds``.

    >>> fit_bounds((121.49, 31.22, 121.51, 31.24))["zoom"]
    14.0
    """
    minx, miny, maxx, maxy = (float(v) for v in bounds)

    def merc(lat: float) -> float:
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    # deck.gl's web-mercator zoom 0 shows the world in 512 pixels.
    dx = max(maxx - minx, 1e-6)
    dy = max(merc(maxy) - merc(miny), 1e-8)
    zoom_x = math.log2(width * 360.0 / (512.0 * dx))
    zoom_y = math.log2(height * 2 * math.pi / (512.0 * dy))
    lat_c = math.degrees(2 * math.atan(math.exp((merc(maxy) + merc(miny)) / 2)) - math.pi / 2)
    return {"longitude": round((minx + maxx) / 2, 6), "latitude": round(lat_c, 6),
            "zoom": round(min(zoom_x, zoom_y, 20.0) - 0.25, 2), "pitch": 0, "bearing": 0}


# The browser's twin of fit_bounds (same formula and margin), run at page open with the window's size.
FIT_VIEW_JS = """function gridlibFitView(b, width, height) {
  const merc = lat => Math.log(Math.tan(Math.PI / 4 + lat * Math.PI / 360));
  const dx = Math.max(b[2] - b[0], 1e-6), dy = Math.max(merc(b[3]) - merc(b[1]), 1e-8);
  const zoomX = Math.log2(width * 360 / (512 * dx)), zoomY = Math.log2(height * 2 * Math.PI / (512 * dy));
  const lat = (2 * Math.atan(Math.exp((merc(b[3]) + merc(b[1])) / 2)) - Math.PI / 2) * 180 / Math.PI;
  return {longitude: (b[0] + b[2]) / 2, latitude: lat, zoom: Math.min(zoomX, zoomY, 20) - 0.25, pitch: 0, bearing: 0};
}"""


#: The style both web pages share (this single-file map and :mod:`gridlib.maps.tiled`'s page): full-window
#: deck, title, legend, layer switches and attribution. A ``str.format`` template (``{background}``,
#: ``{fonts}``; literal braces doubled) that each page's template takes in whole.
PAGE_CSS = """html, body {{ margin: 0; padding: 0; height: 100%; overflow: hidden; background: {background};
  font-family: {fonts}; }}
#deck-container {{ position: absolute; inset: 0; }}
#gl-title {{ position: absolute; top: 10px; left: 12px; z-index: 5; padding: 6px 10px;
  background: rgba(255,255,255,0.9); border-radius: 4px; font-size: 18px; font-weight: 600;
  box-shadow: 0 1px 3px rgba(0,0,0,0.25); }}
#gl-legend {{ position: absolute; bottom: 18px; right: 12px; z-index: 5; padding: 6px 10px;
  background: rgba(255,255,255,0.92); border-radius: 4px; font-size: 13px;
  box-shadow: 0 1px 3px rgba(0,0,0,0.25); }}
#gl-legend .sw {{ display: inline-block; width: 14px; height: 14px; margin-right: 6px;
  vertical-align: -2px; border: 1px solid #666; }}
#gl-legend .sw.line {{ height: 4px; vertical-align: 3px; border: none; }}
#gl-legend .sw.point {{ width: 10px; height: 10px; margin: 0 8px 0 2px; border-radius: 50%; }}
#gl-attr {{ position: absolute; bottom: 2px; left: 6px; z-index: 5; font-size: 11px; color: #444; }}
#gl-layers {{ position: absolute; top: 56px; left: 12px; z-index: 5; padding: 6px 10px;
  background: rgba(255,255,255,0.92); border-radius: 4px; font-size: 13px;
  box-shadow: 0 1px 3px rgba(0,0,0,0.25); }}
#gl-layers label {{ display: block; cursor: pointer; white-space: nowrap; }}
"""
#: The pages' background (the land colour under the layers).
BACKGROUND = "#f2f1ec"
#: The start of both pages up to their own style rules (the ``<style>`` element is left open).
PAGE_HEAD = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="generator" content="gridlib">
<title>{title}</title>
<style>
""" + PAGE_CSS


_PAGE = PAGE_HEAD + """.deck-tooltip {{ font-family: {fonts} !important; }}
</style>
<script>{bundle}</script>
</head>
<body>
<div id="deck-container"></div>
<div id="gl-title">{title}</div>
{legend}
{toggles}
<div id="gl-attr">{attribution}</div>
<script>
const jsonInput = {deck_json};
const tooltip = {tooltip_json};
const dataBounds = {bounds_json};
{fit_js}
// Open framed on the data at this window's size (the written view was fitted to 1000 x 650).
if (dataBounds) {{
  const box = document.getElementById('deck-container');
  if (box.clientWidth > 0 && box.clientHeight > 0) {{
    jsonInput.initialViewState = gridlibFitView(dataBounds, box.clientWidth, box.clientHeight);
  }}
}}
// The deck instance is kept on window for automation (tests wait for its layers to load).
window.gridlibDeck = createDeck({{container: document.getElementById('deck-container'), jsonInput, tooltip,
  customLibraries: null, configuration: null}});
// Layer switches: re-render the same JSON with the unticked layers marked invisible.
document.querySelectorAll('#gl-layers input').forEach(box => box.addEventListener('change', () => {{
  const hidden = new Set([...document.querySelectorAll('#gl-layers input')].filter(b => !b.checked)
    .map(b => b.dataset.layer));
  const layers = jsonInput.layers.map(l => Object.assign({{}}, l, {{visible: !hidden.has(l.id)}}));
  updateDeck(Object.assign({{}}, jsonInput, {{layers}}), window.gridlibDeck);
}}));
</script>
</body>
</html>
"""


def script_safe(text: str) -> str:
    """Make ``text`` safe inside an inline ``<script>`` element (no ``</`` or ``<!--``).

    >>> "</" in script_safe("a</script>b")
    False
    """
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def bundle_js() -> str:
    """The deck.gl bundle's text, ready to inline (source-map reference dropped, script-safe).

    >>> "sourceMappingURL" in bundle_js()
    False
    """
    # Drop the source-map reference: the map file is not inlined and must not be requested.
    text = deck_bundle_path().read_text(encoding="utf-8")
    return script_safe(text.replace("//# sourceMappingURL=index.js.map", ""))


def to_html(
    layers: pdk.Layer | Sequence[pdk.Layer],
    path: str | os.PathLike[str],
    title: str,
    *,
    tooltip: str | Mapping[str, Any] | None = None,
    legend: Mapping[str, Color | tuple[Color, str]] | None = None,
    attribution: str = "",
    view_state: pdk.ViewState | None = None,
    background: str = BACKGROUND,
    layer_names: Mapping[str, str] | None = None,
    hidden: Iterable[str] = (),
) -> Path:
    """Write ``layers`` as a self-contained interactive HTML map; return the path.

    Parameters
    ----------
    layers
        Layers from :func:`polygon_layer`, :func:`line_layer`, :func:`point_layer` (or any
        ``pydeck.Layer``), bottom first.
    title
        Shown on the page and as its ``<title>``.
    hidden
        Ids of layers drawn switched off at first (their box in the layer list unticked).
    tooltip
        An HTML template with ``{column}`` placeholders, e.g. ``"<b>{name_zh}</b><br>案件 {n}"``,
        or a deck.gl tooltip dict; ``None`` for no tooltip.
    legend
        Optional ``label → colour`` (or ``label → (colour, shape)``, see :func:`legend_rows`) entries drawn
        in the lower right.
    view_state
        Default: framed on the union of the layers' bounds at the browser window's size when
        the page opens (the JSON written in the page holds the same framing for 1000 × 650).
    layer_names
        ``layer id → label``: a panel of switches to show and hide these layers (top first).

    The file is written atomically; the same inputs give the same bytes.

    >>> import geopandas as gpd, tempfile, pathlib; from shapely.geometry import Point
    >>> g = gpd.GeoDataFrame({"case_id": ["A1"]}, geometry=[Point(121.5, 31.23)], crs="EPSG:4326")
    >>> p = to_html(point_layer(g), pathlib.Path(tempfile.mkdtemp()) / "p.html", "案件")
    >>> p.stat().st_size > 1_000_000   # the inlined deck.gl bundle
    True
    >>> p = to_html(point_layer(g, id="cases"), p, "案件", layer_names={"cases": "案件"})
    >>> 'data-layer="cases"' in p.read_text(encoding="utf-8")
    True
    """
    layer_list = [layers] if isinstance(layers, pdk.Layer) else list(layers)
    if not layer_list:
        raise InputError("to_html needs at least one layer")
    hidden_ids = set(hidden)
    unknown_hidden = sorted(hidden_ids - {layer.id for layer in layer_list})
    if unknown_hidden:
        raise InputError(f"hidden names layers that are not on the map: {unknown_hidden}")
    for layer in layer_list:
        if layer.id in hidden_ids:
            layer.visible = False
    # Without a given view the page frames the data at the window's size when it opens; the
    # written view (fitted to 1000 x 650) is what non-browser readers of the JSON see.
    fit = _data_bounds(layer_list) if view_state is None else None
    deck = pdk.Deck(layers=layer_list, initial_view_state=view_state or _view_state(fit),
                    map_style=None, map_provider=None, tooltip=False)
    deck_json = json.dumps(json.loads(deck.to_json()), sort_keys=True, separators=(",", ":"))
    if tooltip is None:
        tooltip_obj: Any = False
    elif isinstance(tooltip, str):
        tooltip_obj = {"html": tooltip, "style": {"fontFamily": FONT_STACK.replace("'", ""),
                                                  "fontSize": "13px", "backgroundColor": "rgba(30,30,30,0.88)",
                                                  "color": "white", "padding": "6px 8px"}}
    else:
        tooltip_obj = dict(tooltip)
    legend_html = f'<div id="gl-legend">{legend_rows(legend)}</div>' if legend else ""
    toggles_html = ""
    if layer_names:
        ids = {layer.id for layer in layer_list}
        unknown = sorted(set(layer_names) - ids)
        if unknown:
            raise InputError(f"layer_names names layers that are not on the map: {unknown}")
        boxes = "".join(
            f'<label><input type="checkbox"{"" if layer.id in hidden_ids else " checked"} data-layer="{html.escape(layer.id)}"> '
            f"{html.escape(layer_names[layer.id])}</label>"
            for layer in reversed(layer_list) if layer.id in layer_names
        )
        toggles_html = f'<div id="gl-layers">{boxes}</div>'
    page = _PAGE.format(
        title=html.escape(title), background=background, fonts=FONT_STACK,
        bundle=bundle_js(), toggles=toggles_html,
        legend=legend_html, attribution=html.escape(attribution),
        deck_json=script_safe(deck_json),
        tooltip_json=script_safe(json.dumps(tooltip_obj, sort_keys=True, ensure_ascii=False)),
        bounds_json=json.dumps(fit), fit_js=FIT_VIEW_JS,
    )
    return write_text_atomic(Path(path), page)


def legend_rows(entries: Mapping[str, Color | tuple[Color, str]]) -> str:
    """The rows of a page legend (``#gl-legend``): ``label → colour`` or ``label → (colour, shape)``.

    ``shape`` is ``"fill"`` (a square, the default), ``"line"`` (a bar) or ``"point"`` (a dot). Both web
    pages (:func:`to_html` and :func:`gridlib.maps.tiled.tiled_page`) build their legends here.

    >>> legend_rows({"热点 99%": "#c6242b", "盲区道路": ("#6a3d9a", "line")})
    '<div><span class="sw" style="background:rgba(198,36,43,1.000)"></span>热点 99%</div><div><span class="sw line" style="background:rgba(106,61,154,1.000)"></span>盲区道路</div>'
    """
    rows = []
    for label, spec in entries.items():
        color, shape = spec if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], str) else (spec, "fill")
        if shape not in ("fill", "line", "point"):
            raise InputError(f"legend shape {shape!r} of {label!r} is not fill, line or point")
        r, g, b, a = rgba(color)
        cls = "sw" if shape == "fill" else f"sw {shape}"
        rows.append(f'<div><span class="{cls}" style="background:rgba({r},{g},{b},{a / 255:.3f})"></span>'
                    f"{html.escape(str(label))}</div>")
    return "".join(rows)


def write_text_atomic(target: Path, text: str) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` newlines) to ``target`` through a temporary file and a rename.

    >>> import tempfile, pathlib
    >>> write_text_atomic(pathlib.Path(tempfile.mkdtemp()) / "a.html", "<p>地图</p>").read_text(encoding="utf-8")
    '<p>地图</p>'
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
