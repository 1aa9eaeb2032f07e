"""A small web page that draws a grid edition's vector tiles (PMTiles) with every grid, for a whole city.

:func:`gridlib.maps.tiles.build_grid_tiles` writes the edition's geometry once (``communities``,
``streets`` dissolved at zooms 0–10, every grid from zoom 11) and
:func:`gridlib.maps.tiles.write_grid_attributes` the nightly per-grid attributes keyed by grid code.
:func:`tiled_page` writes, beside them, one small HTML page (the vendored ``pmtiles`` reader inlined, see
``gridlib/maps/vendor/pmtiles``) and, once, the deck.gl bundle of the ``pydeck`` wheel as a file named by its
content (:func:`deck_script`, 4.3 MB, shared by every night and edition), that

- reads the archives with HTTP range requests (no tile server: any static server that honours
  ``Range`` works, e.g. ``python -m gridlib.maps.serve FOLDER``), draws them with deck.gl's
  ``MVTLayer`` (communities and streets below zoom 11, every grid from zoom 11, over-zoomed beyond);
- fetches the attribute file and joins it to the tiles in the browser by ``grid_code``: grid colours
  by class (the legend spec's colours, :mod:`gridlib.maps.legend`) and tooltips with the same lines as
  the nightly self-contained web map (网格, 街道, 社区, 责任单位, 热点, …; missing values as "—");
- has a layer switch, a legend, and says plainly what to do when opened from disk (``file://``
  cannot make range requests).

The page needs no network beyond the server of its folder. For automation it sets
``window.gridlibDeck`` (the deck) and ``window.gridlibReady`` (ms since navigation when the first frame
with loaded tiles and attributes was drawn). A URL hash ``#zoom/lat/lon`` sets the initial view.

>>> import geopandas as gpd, shapely, tempfile, pathlib, pandas as pd
>>> from gridlib.maps.tiles import build_grid_tiles, write_grid_attributes
>>> g = gpd.GeoDataFrame({"grid_code": ["A1", "A2"], "street_code": ["S1", "S1"]},
...     geometry=[shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100)], crs=32651)
>>> d = pathlib.Path(tempfile.mkdtemp()); _ = build_grid_tiles(g, d)
>>> _ = write_grid_attributes(pd.DataFrame({"grid_code": ["A1", "A2"], "hotspot_class": ["hot_99", None]}),
...                           d / "grid_attributes.json", ["hotspot_class"])
>>> page = tiled_page(d, title="责任网格")
>>> page.name, page.stat().st_size < 5_000_000
('index.html', True)
"""

from __future__ import annotations

import gzip
import hashlib
import html
import json
import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridlib.errors import InputError
from gridlib.maps import legend as lg
from gridlib.maps.deck import (
    BACKGROUND,
    FIT_VIEW_JS,
    FONT_STACK,
    PAGE_HEAD,
    deck_bundle_path,
    fit_bounds,
    legend_rows,
    rgba,
    script_safe,
    write_text_atomic,
)

__all__ = ["GRID_FIELDS", "Overlay", "deck_script", "pmtiles_header", "tiled_page"]

_VENDOR = Path(__file__).parent / "vendor" / "pmtiles"
_LAYERS = ("communities", "grids", "streets")  # bottom first
_LAYER_NAMES = {"grids": "网格 (热点)", "communities": "社区", "streets": "街道边界"}
#: the grid tooltip's lines (label, attribute column, kind), as on the nightly web map; absent columns are skipped
GRID_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("街道", "street_name", "text"), ("社区", "community_name", "text"), ("责任单位", "responsible_unit", "text"),
    ("责任人", "person", "text"), ("执法队", "team", "text"), ("在办案件", "open_cases", "int"),
    ("超期案件", "overdue_cases", "int"), ("近30日案件", "cases_30d", "int"), ("热点", "hotspot_class", "class"),
    ("摄像头道路覆盖", "camera_road_share", "pct"),
)
_KINDS = {"text", "int", "pct", "bool", "min", "m", "class", "time"}
_HEADER = struct.Struct("<7sB11Q6B4iB2i")  # PMTiles v3 header: 127 bytes


def pmtiles_header(path: str | os.PathLike) -> dict[str, Any]:
    """Read the zoom range, bounds and centre from a PMTiles (v3) archive's 127-byte header.

    >>> import geopandas as gpd, shapely, tempfile, pathlib
    >>> from gridlib.maps.tiles import build_grid_tiles
    >>> g = gpd.GeoDataFrame({"grid_code": ["A1"]}, geometry=[shapely.box(0, 0, 100, 100)], crs=32651)
    >>> h = pmtiles_header(build_grid_tiles(g, pathlib.Path(tempfile.mkdtemp()))["grids"])
    >>> h["min_zoom"], h["max_zoom"], [round(v, 3) for v in h["bounds"]]
    (11, 11, [118.511, 0.0, 118.512, 0.001])
    """
    with open(path, "rb") as fh:
        raw = fh.read(_HEADER.size)
    if len(raw) < _HEADER.size or raw[:7] != b"PMTiles" or raw[7] != 3:
        raise InputError(f"{path} is not a PMTiles version 3 archive")
    f = _HEADER.unpack(raw)
    min_zoom, max_zoom, lon0, lat0, lon1, lat1, c_zoom, c_lon, c_lat = f[17:26]
    return {"min_zoom": min_zoom, "max_zoom": max_zoom,
            "bounds": [lon0 / 1e7, lat0 / 1e7, lon1 / 1e7, lat1 / 1e7],
            "center": [c_lon / 1e7, c_lat / 1e7, c_zoom]}


@dataclass(frozen=True, eq=False)
class Overlay:
    """A small layer drawn above the tiles (cases, blind-spot roads, truck violations, team bases).

    Its features ride in ``overlays.json`` beside the page (gzipped, columnar: coordinates and the tooltip's
    columns only), drawn as dots (points) or lines (lines, polygon outlines).

    Parameters
    ----------
    id, name : str
        The layer's id and its label in the layer switch.
    frame : GeoDataFrame
        The features (any CRS; drawn in WGS84). Multi-part features keep one tooltip.
    title : (label, column)
        The tooltip's heading: ``label`` then the row's ``column`` value (``label`` alone when the column is
        absent).
    fields : sequence of (label, column, kind)
        The tooltip's lines, as :data:`GRID_FIELDS` (``time`` shows date and minute); absent columns are skipped.
    color, color_column, colors
        A fixed colour, or ``colors[value of color_column]`` (``color`` for other values).
    legend : mapping
        ``label → colour`` rows this layer adds to the page's legend (default: ``name → color``).
    size : float
        Dot radius or line width, in pixels.
    visible : bool
        Drawn when the page opens (else its switch is unticked).

    >>> import geopandas as gpd, shapely
    >>> o = Overlay("team_bases", "执法队驻点", gpd.GeoDataFrame({"name": ["一队"]},
    ...     geometry=[shapely.Point(121.5, 31.2)], crs=4326), title=("执法队驻点", "name"))
    >>> o.kind, o.legend_entries()
    ('point', {'执法队驻点': ('#444444', 'point')})
    """

    id: str
    name: str
    frame: gpd.GeoDataFrame
    title: tuple[str, str]
    fields: Sequence[tuple[str, str, str]] = ()
    color: str = "#444444"
    color_column: str | None = None
    colors: Mapping[str, str] = field(default_factory=dict)
    legend: Mapping[str, str] | None = None
    size: float = 4.0
    visible: bool = True

    @property
    def kind(self) -> str:
        """``point`` or ``line``, from the frame's geometry types."""
        types = set(shapely.get_type_id(self.frame.geometry.dropna().to_numpy()).tolist())
        if types <= {0, 4}:
            return "point"
        if types <= {1, 2, 3, 5, 6}:
            return "line"
        raise InputError(f"overlay {self.id!r} mixes points with lines or areas; give them as two overlays")

    def legend_entries(self) -> dict[str, tuple[str, str]]:
        """The legend rows: ``label → (colour, shape)``."""
        entries = self.legend if self.legend is not None else {self.name: self.color}
        return {label: (color, self.kind) for label, color in entries.items()}


def _column_json(s: pd.Series, kind: str) -> Any:
    """A column of an overlay as JSON: numbers as a list, text dictionary-encoded, times as minutes."""
    if kind == "time":
        s = pd.to_datetime(s, errors="coerce").dt.strftime("%Y-%m-%d %H:%M")
    if kind in ("int", "pct", "min", "m") or (kind == "text" and pd.api.types.is_numeric_dtype(s)):
        v = pd.to_numeric(s, errors="coerce").round(4).astype(float)
        return [None if x != x else (int(x) if x.is_integer() else x) for x in v.tolist()]
    if kind == "bool":
        return [None if pd.isna(x) else bool(x) for x in s.astype(object)]
    present = s.notna().to_numpy()
    text = s.astype(str).where(present)
    values = sorted(text[present].unique())
    codes = pd.Categorical(text, categories=values).codes
    return {"values": values, "codes": [None if k < 0 else int(k) for k in codes.tolist()]}


def _overlay_json(o: Overlay) -> dict[str, Any]:
    """One overlay's features: flat lon/lat (1e-6°), line starts, the row of each part, tooltip columns."""
    g = o.frame
    if g.crs is None:
        raise InputError(f"overlay {o.id!r} has no CRS")
    g = g[g.geometry.notna() & ~g.geometry.is_empty]
    g = g if g.crs.to_epsg() == 4326 else g.to_crs(4326)
    geoms = g.geometry.to_numpy()
    kind = o.kind
    if kind == "line":
        geoms = np.where(np.isin(shapely.get_type_id(geoms), (3, 6)), shapely.boundary(geoms), geoms)
    parts, rows = shapely.get_parts(geoms, return_index=True)
    if kind == "line":  # a polygon's boundary may itself be multi-part
        parts, sub = shapely.get_parts(parts, return_index=True)
        rows = rows[sub]
    coords, owner = shapely.get_coordinates(parts, return_index=True)
    out: dict[str, Any] = {"kind": kind, "rows": rows.tolist(),
                           "xy": np.round(coords * 1e6).astype(np.int64).ravel().tolist()}
    if kind == "line":
        out["starts"] = np.searchsorted(owner, np.arange(len(parts) + 1)).tolist()
    table = pd.DataFrame(g.drop(columns=g.geometry.name)).reset_index(drop=True)
    columns = {}
    for _, column, kind_ in [("", o.title[1], "text"), *o.fields]:
        if column in table.columns and column not in columns:
            columns[column] = _column_json(table[column], kind_)
    if o.color_column is not None and o.color_column in table.columns and o.color_column not in columns:
        columns[o.color_column] = _column_json(table[o.color_column], "text")
    out["columns"] = columns
    return out


def _overlay_layer(o: Overlay) -> dict[str, Any]:
    common = {"id": o.id, "data": [], "pickable": True, "autoHighlight": True, "highlightColor": [255, 255, 0, 160],
              "visible": o.visible}
    if o.kind == "point":
        return {"@@type": "ScatterplotLayer", **common, "getPosition": "@@=p", "getFillColor": "@@=c",
                "radiusUnits": "pixels", "getRadius": o.size, "stroked": True, "getLineColor": [255, 255, 255, 220],
                "lineWidthUnits": "pixels", "getLineWidth": 1}
    return {"@@type": "PathLayer", **common, "getPath": "@@=path", "getColor": "@@=c", "widthUnits": "pixels",
            "getWidth": o.size, "widthMinPixels": 1, "capRounded": True, "jointRounded": True}


def _write_overlays(folder: Path, name: str, overlays: Sequence[Overlay]) -> None:
    doc = {o.id: _overlay_json(o) for o in overlays}
    data = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    tmp = folder / f".tmp-{name}"
    tmp.write_bytes(gzip.compress(data, compresslevel=6, mtime=0))
    os.replace(tmp, folder / name)


def _layer_json(name: str, header: dict[str, Any], grid_minzoom: int) -> dict[str, Any]:
    common = {"@@type": "MVTLayer", "id": name, "data": f"{name}/{{z}}/{{x}}/{{y}}",
              "fetch": {"@@function": "gridlibTileFetch", "archive": name},
              "minZoom": header["min_zoom"], "maxZoom": header["max_zoom"], "binary": True,
              "uniqueIdProperty": {"grids": "grid_code", "communities":
                                                                     "community_code"}.get(name, "street_code")}
    if name == "grids":
        return {**common, "pickable": True, "autoHighlight": True, "highlightColor": [255, 255, 0, 120],
                "filled": True, "stroked": False, "opacity": 0.8,  # outlines: see the page script
                "getFillColor": {"@@function": "gridlibGridFill"}, "getLineColor": rgba("#999999"),
                "lineWidthUnits": "pixels", "getLineWidth": 0.5, "lineWidthMinPixels": 0.5}
    if name == "communities":
        return {**common, "pickable": True, "autoHighlight": True, "highlightColor": [255, 255, 0, 90],
                "filled": True, "stroked": True, "getFillColor": rgba("#f1f0ea", 0.7),
                "getLineColor": rgba("#777777"), "lineWidthUnits": "pixels", "getLineWidth": 1,
                "visibleMaxZoom": grid_minzoom}
    return {**common, "pickable": False, "filled": False, "stroked": True, "getLineColor": rgba("#222222"),
            "lineWidthUnits": "pixels", "getLineWidth": 2.5}


def tiled_page(
    folder: str | os.PathLike,
    *,
    attributes: str = "grid_attributes.json",
    title: str = "责任网格地图",
    fields: Sequence[tuple[str, str, str]] = GRID_FIELDS,
    color_column: str = "hotspot_class",
    colors: Mapping[str, str] = lg.HOTSPOT_COLORS,
    class_labels: Mapping[str, str] = lg.HOTSPOT_LABELS,
    legend: Mapping[str, str] | None = None,
    attribution: str = "",
    name: str = "index.html",
    outline_zoom: float = 14,
    overlays: Sequence[Overlay] = (),
) -> Path:
    """Write ``folder/name``: a web map of the archives in ``folder`` joined to its attribute file.

    Parameters
    ----------
    folder : path-like
        Holds ``grids.pmtiles`` (required) and, when present, ``communities.pmtiles`` and
        ``streets.pmtiles`` (:func:`gridlib.maps.tiles.build_grid_tiles`).
    attributes : str
        The per-grid attribute file (:func:`gridlib.maps.tiles.write_grid_attributes`), a URL relative
        to the page; it may be gzip-compressed (detected from its first bytes).
    fields : sequence of (label, column, kind)
        Tooltip lines after the grid code; ``kind`` is ``text``, ``int``, ``pct`` (share 0–1),
        ``bool``, ``min`` (minutes), ``m`` (metres) or ``class`` (a value of ``color_column``, shown
        by its label). Columns missing from the attribute file are skipped in the browser.
    color_column, colors, class_labels
        Grids are filled by ``colors[value of color_column]`` (light grey for other values).
    legend : mapping, optional
        ``label → colour``; default: ``class_labels`` with ``colors``.
    outline_zoom : float
        Grid outlines are drawn from this zoom on (they cost more than the fills of a whole z11 tile), and only
        after the first frame with data, which they would slow down threefold on a software-rendered WebGL.
    overlays : sequence of Overlay
        Small layers drawn above the tiles, written to ``folder/overlays.json`` (gzipped), each with its
        switch, tooltip and legend rows.

    Returns
    -------
    Path
        The page, written atomically; the same inputs give the same bytes.

    >>> tiled_page("/nonexistent")
    Traceback (most recent call last):
    gridlib.errors.InputError: no grids.pmtiles in /nonexistent: build the edition's tiles first (gridlib.maps.tiles.build_grid_tiles)
    """
    folder = Path(folder)
    if not (folder / "grids.pmtiles").is_file():
        raise InputError(f"no grids.pmtiles in {folder}: build the edition's tiles first "
                         "(gridlib.maps.tiles.build_grid_tiles)")
    bad = [kind for _, _, kind in [*fields, *(f for o in overlays for f in o.fields)] if kind not in _KINDS]
    if bad:
        raise InputError(f"unknown tooltip field kinds {bad}; use {sorted(_KINDS)}")
    headers = {n: pmtiles_header(folder / f"{n}.pmtiles") for n in _LAYERS if (folder / f"{n}.pmtiles").is_file()}
    grid_minzoom = headers["grids"]["min_zoom"]
    layers = [_layer_json(n, h, grid_minzoom) for n, h in headers.items()] + [_overlay_layer(o) for o in overlays]
    ids = [o.id for o in overlays]
    if len(set(ids)) != len(ids) or set(ids) & set(_LAYERS):
        raise InputError(f"overlay ids must be unique and not {list(_LAYERS)}: {ids}")
    if overlays:
        _write_overlays(folder, "overlays.json", overlays)
    config = {
        "archives": {n: f"{n}.pmtiles" for n in headers}, "attributes": attributes,
        "fields": [list(f) for f in fields], "colorColumn": color_column,
        "colors": {k: rgba(v) for k, v in colors.items()}, "classLabels": dict(class_labels),
        "defaultColor": rgba("#eeeeee"), "gridMinZoom": grid_minzoom, "bounds": headers["grids"]["bounds"],
        "outlineZoom": outline_zoom,
        "overlays": {o.id: {"title": list(o.title), "fields": [list(f) for f in o.fields], "color": rgba(o.color),
                            "colorColumn": o.color_column, "colors": {k: rgba(v) for k, v in o.colors.items()}}
                     for o in overlays},
        "overlayFile": "overlays.json" if overlays else None,
        "levels": {"communities": ["社区", "community_code", "community_name"],
                   "streets": ["街道", "street_code", "street_name"]},
    }
    deck_json = {"initialViewState": fit_bounds(headers["grids"]["bounds"]), "layers": layers,
                 "views": [{"@@type": "MapView", "controller": True}]}
    entries = legend if legend is not None else {class_labels.get(k, k): v for k, v in colors.items()}
    for o in overlays:
        entries = {**entries, **o.legend_entries()}
    rows = legend_rows(entries)
    switches = [(n, _LAYER_NAMES[n], True) for n in headers] + [(o.id, o.name, o.visible) for o in overlays]
    boxes = "".join(f'<label><input type="checkbox"{" checked" if on else ""} data-layer="{html.escape(n)}"> '
                    f"{html.escape(label)}</label>" for n, label, on in reversed(switches))
    page = _PAGE.format(
        title=html.escape(title), fonts=FONT_STACK, background=BACKGROUND, bundle=html.escape(deck_script(folder).name), pmtiles=_pmtiles_js(),
        legend=rows, toggles=boxes, attribution=html.escape(attribution),
        deck_json=script_safe(json.dumps(deck_json, sort_keys=True, separators=(",", ":"))),
        config_json=script_safe(json.dumps(config, sort_keys=True, ensure_ascii=False, separators=(",", ":"))),
        script=_SCRIPT, early=_EARLY, fit_js=FIT_VIEW_JS,
    )
    return write_text_atomic(folder / name, page)


def deck_script(folder: str | os.PathLike) -> Path:
    """Write the deck.gl bundle (of the ``pydeck`` wheel, 4.3 MB) into ``folder`` once, named by its content.

    The bundle does not change with the night nor with the grid edition, so :func:`tiled_page` refers to it
    as ``<script src="deck-<digest>.js">`` instead of inlining it: a nightly writes it once beside the
    edition's tiles and links it into each night's folder (:mod:`gridlib.nightly.maps`), and a browser caches
    it across nights. Already there with this name and size: left as is. Written atomically.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> p = deck_script(d)
    >>> p.name.startswith("deck-") and p.suffix == ".js", deck_script(d) == p, p.stat().st_size > 1_000_000
    (True, True, True)
    """
    data = deck_bundle_path().read_bytes().replace(b"//# sourceMappingURL=index.js.map", b"")
    target = Path(folder) / f"deck-{hashlib.sha256(data).hexdigest()[:12]}.js"
    if target.is_file() and target.stat().st_size == len(data):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".tmp-{target.name}.{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _pmtiles_js() -> str:
    text = (_VENDOR / "pmtiles.js").read_text(encoding="utf-8")
    return script_safe(text.replace("//# sourceMappingURL=pmtiles.js.map", ""))


# The page logic. deck.gl's classes are not globals of the pydeck bundle, so the layers are JSON (converted
# by the bundle's createDeck) and the page's own code enters as JSON-converter functions: the tile fetch
# (bytes from the PMTiles archive, parsed by the layer's own MVT loader) and the grid fill accessor.
# Runs before the 4 MB deck.gl bundle is parsed (seconds on a busy machine): the archives' headers and
# the attribute file download meanwhile.
_EARLY = r"""
const CFG = gridlibConfig;
window.gridlibTimes = {start: performance.now()};
const archives = {};
for (const [name, url] of Object.entries(CFG.archives)) archives[name] = new pmtiles.PMTiles(new URL(url, location.href).href);
const early = {attributes: null};
if (location.protocol !== 'file:') {
  for (const a of Object.values(archives)) a.getHeader().catch(() => null);
  early.attributes = fetch(new URL(CFG.attributes, location.href).href).then(r => {
    if (!r.ok) throw new Error(CFG.attributes + ': HTTP ' + r.status);
    return r.arrayBuffer();
  });
  early.attributes.catch(() => null);
  if (CFG.overlayFile) {
    early.overlays = fetch(new URL(CFG.overlayFile, location.href).href).then(r => {
      if (!r.ok) throw new Error(CFG.overlayFile + ': HTTP ' + r.status);
      return r.arrayBuffer();
    });
    early.overlays.catch(() => null);
  }
}
"""

_SCRIPT = r"""
const state = {lookup: null, columns: {}, error: null, stroked: false, overlays: {}};
window.gridlibTimes.script = performance.now();
window.gridlibReady = null;
const status = document.getElementById('gl-status');
function say(text) { status.textContent = text; status.style.display = text ? 'block' : 'none'; }
// Mapbox Vector Tile decoding. The MVT loader inside the pydeck bundle only parses in a web worker fetched
// from a CDN, so the tiles are decoded here (spec 2.1: https://github.com/mapbox/vector-tile-spec) into
// GeoJSON features in the tile's local coordinates (0..1, y down), which is what MVTLayer expects.
function pbfFields(buf, pos, end, onField) {
  let view = null;  // only for fixed-width numbers (none in gridlib's tiles): not one per feature and value
  function varint() {
    let val = 0, mul = 1, b;
    do { b = buf[pos++]; val += (b & 0x7f) * mul; mul *= 128; } while (b & 0x80);
    return val;
  }
  while (pos < end) {
    const key = varint(), field = Math.floor(key / 8), wire = key & 7;
    if (wire === 0) onField(field, varint());
    else if (wire === 2) { const len = varint(); onField(field, null, pos, pos + len); pos += len; }
    else if (wire === 1 || wire === 5) {
      view = view || new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      onField(field, wire === 1 ? view.getFloat64(pos, true) : view.getFloat32(pos, true));
      pos += wire === 1 ? 8 : 4;
    }
    else throw new Error('MVT: unsupported wire type ' + wire);
  }
}
function packed(buf, start, end) {
  const out = [];
  let pos = start;
  while (pos < end) {
    let val = 0, mul = 1, b;
    do { b = buf[pos++]; val += (b & 0x7f) * mul; mul *= 128; } while (b & 0x80);
    out.push(val);
  }
  return out;
}
const utf8 = new TextDecoder();
// a tile's short ASCII strings (its 30,000 grid codes) without TextDecoder, which costs more than the copy
function text(buf, s, e) {
  if (e - s <= 32) {
    let ascii = true;
    for (let i = s; i < e && ascii; i++) ascii = buf[i] < 128;
    if (ascii) return String.fromCharCode.apply(null, buf.subarray(s, e));
  }
  return utf8.decode(buf.subarray(s, e));
}
function zigzag(n) { return n % 2 ? -(n + 1) / 2 : n / 2; }
// Appends one polygon feature's rings to the flat arrays (tile-local 0..1 coordinates, y down, each ring
// closed), with no array per vertex: a ring whose winding is the first ring's starts a new polygon, the others
// are its holes (MVT spec 4.3.4.4); rings of zero area are dropped. Returns whether any ring was kept.
function addPolygon(cmds, extent, id, pos, vfid, polygonStarts, ringStarts) {
  let x = 0, y = 0, ring = -1, outerSign = 0, started = false;
  for (let i = 0; i < cmds.length;) {
    const op = cmds[i] & 7, count = cmds[i] >> 3;
    i++;
    if (op === 7) {
      if (ring < 0) continue;
      pos.push(pos[ring], pos[ring + 1]); vfid.push(id);
      let a = 0;
      for (let k = ring, j = pos.length - 2; k < pos.length; j = k, k += 2) a += (pos[j] - pos[k]) * (pos[k + 1] + pos[j + 1]);
      if (a === 0) { pos.length = ring; vfid.length = ring / 2; ring = -1; continue; }
      if (!outerSign) outerSign = Math.sign(a);
      if (started && Math.sign(a) === outerSign) polygonStarts.push(ring / 2);
      started = true;
      ringStarts.push(pos.length / 2);
      ring = -1;
      continue;
    }
    for (let k = 0; k < count; k++, i += 2) {
      x += zigzag(cmds[i]); y += zigzag(cmds[i + 1]);
      if (op === 1) {
        if (ring >= 0) { pos.length = ring; vfid.length = ring / 2; }  // an unclosed ring: not a polygon ring
        ring = pos.length;
      }
      pos.push(x / extent, y / extent); vfid.push(id);
    }
  }
  if (ring >= 0) { pos.length = ring; vfid.length = ring / 2; }
  if (started) polygonStarts.push(pos.length / 2);
  return started;
}
// The tile as deck.gl's binary feature collection (flat typed arrays, no object per feature): the
// layers here are polygons (grids, dissolved communities and streets); a ring whose winding is the
// first ring's starts a new polygon, the others are its holes (MVT spec 4.3.4.4).
function decodeTile(bytes) {
  const pos = [], vfid = [], polygonStarts = [0], ringStarts = [0], properties = [];
  pbfFields(bytes, 0, bytes.length, (f, v, s, e) => {
    if (f !== 3) return;
    const keys = [], values = [], raw = [];
    let extent = 4096;
    pbfFields(bytes, s, e, (lf, lv, ls, le) => {
      if (lf === 3) keys.push(text(bytes, ls, le));
      else if (lf === 4) {
        let val = null;
        pbfFields(bytes, ls, le, (vf, vv, vs, ve) => {
          val = vf === 1 ? text(bytes, vs, ve) : vf === 6 ? zigzag(vv) : vf === 7 ? Boolean(vv) : vv;
        });
        values.push(val);
      } else if (lf === 5) extent = lv;
      else if (lf === 2) raw.push([ls, le]);
    });
    for (const [fs, fe] of raw) {
      let type = 0, tags = [], cmds = [];
      pbfFields(bytes, fs, fe, (ff, fv, gs, ge) => {
        if (ff === 3) type = fv; else if (ff === 2) tags = packed(bytes, gs, ge); else if (ff === 4) cmds = packed(bytes, gs, ge);
      });
      if (type !== 3) throw new Error('this map draws polygon tiles; found geometry type ' + type);
      const props = {};
      for (let i = 0; i + 1 < tags.length; i += 2) props[keys[tags[i]]] = values[tags[i + 1]];
      const id = properties.length;
      properties.push(props);
      addPolygon(cmds, extent, id, pos, vfid, polygonStarts, ringStarts);
    }
  });
  const ids = Uint32Array.from(vfid);
  const none = () => ({positions: {value: new Float32Array(0), size: 2}, featureIds: {value: new Uint32Array(0), size: 1},
                       globalFeatureIds: {value: new Uint32Array(0), size: 1}, numericProps: {}, properties: [], fields: []});
  return {
    shape: 'binary-feature-collection',
    points: {type: 'Point', ...none()},
    lines: {type: 'LineString', ...none(), pathIndices: {value: new Uint32Array([0]), size: 1}},
    polygons: {type: 'Polygon', positions: {value: Float32Array.from(pos), size: 2},  // k/4096: exact in float32
               polygonIndices: {value: Uint32Array.from(polygonStarts), size: 1},
               primitivePolygonIndices: {value: Uint32Array.from(ringStarts), size: 1},
               featureIds: {value: ids, size: 1}, globalFeatureIds: {value: ids, size: 1},
               numericProps: {}, properties, fields: []},
  };
}
// Each grid of a decoded tile gets its attribute row (_i) and fill colour (_c) once, when the tile arrives
// (its fetch waits for the attribute file): the fill accessor only reads _c, and no pass over the loaded
// tiles is needed when the attributes come in.
function joinGrids(tile) {
  const colorOf = state.columns[CFG.colorColumn];
  let i;  // a tile's grids come in code order, mostly consecutive rows: the previous row + 1 is tried first
  for (const p of tile.polygons.properties) {
    i = state.lookup ? state.lookup(p.grid_code, i === undefined ? undefined : i + 1) : undefined;
    p._i = i;
    p._c = (i !== undefined && colorOf && CFG.colors[colorOf(i)]) || CFG.defaultColor;
  }
  return tile;
}
// Tiles fetched together are handed to deck.gl together: each finished fetch waits for the others in flight, so
// the tiles of a view arrive in one frame instead of one frame per tile (every frame draws every loaded tile: on
// a software-rendered WebGL the z11 view of a city drew ~8 frames of up to 300,000 grids before the last tile).
// A tile waits at most BATCH_WAIT ms for the others (a stalled request holds back no other tile for longer).
const batch = {pending: 0, waiting: []}, BATCH_WAIT = 2000;
async function inBatch(work) {
  batch.pending++;
  let result, error = null;
  try { result = await work(); } catch (e) { error = e; }
  if (--batch.pending > 0) await new Promise(resolve => { batch.waiting.push(resolve); setTimeout(resolve, BATCH_WAIT); });
  else batch.waiting.splice(0).forEach(resolve => resolve());
  if (error) throw error;
  return result;
}
const fetchers = {};
function gridlibTileFetch({archive}) {
  if (!fetchers[archive]) fetchers[archive] = (url, opts) => inBatch(async () => {
    const [z, x, y] = url.split('/').slice(-3).map(Number);
    const tile = await archives[archive].getZxy(z, x, y, opts && opts.signal);
    if (archive === 'grids') await attributesReady;
    const t0 = performance.now();
    let out = tile && tile.data ? decodeTile(new Uint8Array(tile.data)) : null;
    if (out && archive === 'grids') out = joinGrids(out);
    const times = window.gridlibTimes;
    times.decode = (times.decode || 0) + performance.now() - t0;
    times[archive] = times[archive] || performance.now();
    return out;
  });
  return fetchers[archive];
}
let fill = null;
function gridlibGridFill() {
  if (!fill) fill = f => f.properties._c || CFG.defaultColor;
  return fill;
}
function esc(v) { return String(v).replace(/[&<>"']/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c])); }
function fmt(v, kind) {
  if (v === null || v === undefined || v === '' || (typeof v === 'number' && !isFinite(v))) return '—';
  switch (kind) {
    case 'int': return Number(v).toFixed(0);
    case 'pct': return (Number(v) * 100).toFixed(0) + '%';
    case 'min': return (Math.round(Number(v) * 10) / 10) + ' 分钟';
    case 'm': return Number(v).toFixed(0) + ' 米';
    case 'bool': return v ? '是' : '否';
    case 'class': return CFG.classLabels[v] || String(v);
    default: return String(v);
  }
}
function tooltip(info) {
  if (!info.picked || !info.object || !info.layer) return null;
  const p = info.object.properties || {};
  const id = info.layer.id.split('-')[0];
  let html;
  if (id === 'grids') {
    html = '<b>网格 ' + esc(p.grid_code) + '</b>';
    const i = p._i !== undefined ? p._i : state.lookup ? state.lookup(p.grid_code) : undefined;
    for (const [label, column, kind] of CFG.fields) {
      const col = state.columns[column];
      if (!col) continue;
      html += '<br>' + esc(label) + ': ' + esc(fmt(i === undefined ? null : col(i), kind));
    }
    if (i === undefined) html += '<br>' + (state.lookup ? '(属性文件中无此网格)' : '(属性加载中…)');
  } else if (CFG.overlays[id] && state.overlays[id] && info.object) {
    const o = CFG.overlays[id], cols = state.overlays[id].columns, row = info.object.i;
    const head = cols[o.title[1]];
    html = '<b>' + esc(o.title[0]) + (head ? ' ' + esc(fmt(head(row), 'text')) : '') + '</b>';
    for (const [label, column, kind] of o.fields) {
      if (cols[column]) html += '<br>' + esc(label) + ': ' + esc(fmt(cols[column](row), kind));
    }
  } else if (CFG.levels[id]) {
    const [label, code, name] = CFG.levels[id];
    html = '<b>' + esc(label) + ' ' + esc(fmt(p[name] ?? p[code], 'text')) + '</b><br>编码: ' + esc(fmt(p[code], 'text'));
  } else return null;
  return {html, style: {fontFamily: FONTS, fontSize: '13px', backgroundColor: 'rgba(30,30,30,0.88)', color: 'white', padding: '6px 8px'}};
}
// The attribute file: the binary columnar form (gridlib.maps.tiles.write_grid_attributes(binary=True)): typed
// arrays over the file's bytes, nothing parsed per grid, a grid's row found by binary search in the sorted
// codes; or the JSON form (a Map from grid code to row). Either may be gzipped.
const TYPED = {uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array, int32: Int32Array, float32: Float32Array};
function binaryAttributes(buf) {
  const bytes = new Uint8Array(buf), size = new DataView(buf).getUint32(8, true);
  const head = JSON.parse(utf8.decode(bytes.subarray(12, 12 + size)));
  const base = 12 + size, n = head.n, g = head.grid_code;
  let w = g.width, blob, offs = null;
  if (g.prefix !== undefined) {  // front-coded: rebuilt once into one sorted blob with offsets
    const prefix = new Uint8Array(buf, base + g.prefix, n), more = new Uint16Array(buf, base + g.suffix_len, n);
    const suffix = new Uint8Array(buf, base + g.suffix);
    blob = new Uint8Array(g.total); offs = new Uint32Array(n + 1);
    for (let k = 0, at = 0, o = 0; k < n; k++) {
      const from = k ? offs[k - 1] : 0;
      for (let j = 0; j < prefix[k]; j++) blob[o + j] = blob[from + j];
      o += prefix[k];
      for (let j = 0; j < more[k]; j++) blob[o++] = suffix[at++];
      offs[k + 1] = o;
    }
    w = 0;
  } else {
    blob = new Uint8Array(buf, base + g.bytes);
    offs = w ? null : new Uint32Array(buf, base + g.offsets, n + 1);
  }
  const enc = new TextEncoder();
  const start = k => offs ? offs[k] : k * w, end = k => offs ? offs[k + 1] : (k + 1) * w;
  // compares the code in row k with the key (a string of ASCII characters, or its UTF-8 bytes): <0, 0, >0
  function compare(k, key, ascii) {
    const a = start(k), len = end(k) - a, m = key.length;
    for (let j = 0; j < len && j < m; j++) {
      const c = blob[a + j] - (ascii ? key.charCodeAt(j) : key[j]);
      if (c) return c;
    }
    return len - m;
  }
  // the row of a grid code (undefined when absent); `hint`, a row to try first
  function lookup(code, hint) {
    let key = String(code), ascii = true;
    for (let j = 0; j < key.length && ascii; j++) ascii = key.charCodeAt(j) < 128;
    if (!ascii) key = enc.encode(key);
    if (hint !== undefined && hint < n && !compare(hint, key, ascii)) return hint;
    let lo = 0, hi = n - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1, c = compare(mid, key, ascii);
      if (!c) return mid;
      if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return undefined;
  }
  const columns = {};
  for (const [name, col] of Object.entries(head.columns)) {
    const arr = new TYPED[col.type](buf, base + col.offset, n), nul = col.null;
    if (col.values) columns[name] = i => arr[i] === nul ? null : col.values[arr[i]];
    else if (col.bool) columns[name] = i => arr[i] === nul ? null : arr[i] === 1;
    else if (col.type === 'float32') columns[name] = i => Math.round(arr[i] * 1e4) / 1e4;  // NaN: missing
    else if (col.scale) columns[name] = i => arr[i] === nul ? null : arr[i] / col.scale;
    else columns[name] = i => arr[i] === nul ? null : arr[i];
  }
  return {lookup, columns};
}
// a JSON column is an array of values, or dictionary-encoded: {"values": [...], "codes": [index or null, ...]}
function jsonColumns(doc) {
  const columns = {};
  for (const [name, col] of Object.entries(doc || {})) {
    columns[name] = Array.isArray(col) ? (i => col[i]) : (i => col.codes[i] === null ? null : col.values[col.codes[i]]);
  }
  return columns;
}
function jsonAttributes(doc) {
  const index = new Map();
  doc.grid_code.forEach((c, i) => index.set(c, i));
  return {lookup: c => index.get(c), columns: jsonColumns(doc.columns)};
}
async function gunzip(buf) {
  const bytes = new Uint8Array(buf);
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return buf;
  return new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'))).arrayBuffer();
}
// the small layers above the tiles (overlays.json): dots {p, c, i} and lines {path, c, i}, i = the feature's row
async function loadOverlays() {
  const doc = JSON.parse(utf8.decode(new Uint8Array(await gunzip(await early.overlays))));
  for (const [id, o] of Object.entries(doc)) {
    const cfg = CFG.overlays[id], columns = jsonColumns(o.columns), byClass = columns[cfg.colorColumn];
    const color = i => (byClass && cfg.colors[byClass(i)]) || cfg.color;
    const xy = o.xy, data = [];
    if (o.kind === 'point') {
      for (let k = 0; k < o.rows.length; k++) data.push({p: [xy[2 * k] / 1e6, xy[2 * k + 1] / 1e6], c: color(o.rows[k]), i: o.rows[k]});
    } else {
      for (let k = 0; k + 1 < o.starts.length; k++) {
        const path = [];
        for (let v = o.starts[k]; v < o.starts[k + 1]; v++) path.push([xy[2 * v] / 1e6, xy[2 * v + 1] / 1e6]);
        data.push({path, c: color(o.rows[k]), i: o.rows[k]});
      }
    }
    state.overlays[id] = {data, columns};
  }
  window.gridlibTimes.overlays = performance.now();
}
async function loadAttributes() {
  let buf = await early.attributes;
  const times = window.gridlibTimes;
  times.attributesFetched = performance.now();
  buf = await gunzip(buf);
  const bytes = new Uint8Array(buf);
  const binary = bytes.length >= 12 && utf8.decode(bytes.subarray(0, 8)) === 'GLATTR1\n';
  const attrs = binary ? binaryAttributes(buf) : jsonAttributes(JSON.parse(utf8.decode(bytes)));
  state.columns = attrs.columns;
  state.lookup = attrs.lookup;
  times.attributes = performance.now();
}
// resolved when the attributes are in or have failed (then the grids are drawn grey and the status says why)
const attributesReady = location.protocol === 'file:' ? Promise.resolve() : loadAttributes().catch(e => {
  state.error = String(e.message || e);
  say('网格属性加载失败 (' + state.error + ')：网格以灰色显示。');
});
// Grid outlines are drawn from CFG.outlineZoom only: a z11 tile holds ~30,000 grids and their outlines
// cost several times the fills (measured in headless Chromium: first render 11 s with, 5 s without).
function refresh(hidden) {
  const d = window.gridlibDeck;
  d.setProps({layers: d.props.layers.map(l => l.clone(Object.assign({visible: !hidden.has(l.id)},
    l.id === 'grids' ? {stroked: state.stroked} : {}, state.overlays[l.id] ? {data: state.overlays[l.id].data} : {})))});
}
function hiddenLayers() {
  return new Set([...document.querySelectorAll('#gl-layers input')].filter(b => !b.checked).map(b => b.dataset.layer));
}
// the opening view: #zoom/lat/lon when given, else the grids' bounds framed at this window's size
// (gridlibFitView, shared with the self-contained map; the JSON holds the framing for 1000 x 650)
function openingView(view) {
  const m = location.hash.match(/^#(\d+(?:\.\d+)?)\/(-?\d+(?:\.\d+)?)\/(-?\d+(?:\.\d+)?)$/);
  if (m) return Object.assign({}, view, {zoom: +m[1], latitude: +m[2], longitude: +m[3]});
  const box = document.getElementById('deck-container');
  return box.clientWidth > 0 && box.clientHeight > 0 ? gridlibFitView(CFG.bounds, box.clientWidth, box.clientHeight) : view;
}
if (location.protocol === 'file:') {
  say('此地图的瓦片需通过 HTTP 服务按字节范围读取，不能直接从磁盘打开。请在该文件夹运行 ' +
      '"python -m gridlib.maps.serve ' + decodeURIComponent(location.pathname.replace(/\/[^/]*$/, '')) + '"，然后打开 http://127.0.0.1:8000/ (或用任何支持 Range 请求的静态服务器)。' +
      ' This map must be served over HTTP with range requests: run python -m gridlib.maps.serve on its folder.');
  document.getElementById('gl-status').classList.add('error');
} else {
  say('正在加载…');
}
deckJson.initialViewState = openingView(deckJson.initialViewState);
if (location.protocol === 'file:') deckJson.layers = [];
// Grid outlines come after the first frame with data: on a software-rendered WebGL (headless Chromium, no GPU)
// the outlines of a z11 tile's 30,000 grids made that frame 3 times slower (benchmarks/bench_citypage.py)
state.stroked = false;
deckJson.layers.forEach(l => { if (l.id === 'grids') l.stroked = false; });
function outline(zoom) {
  const stroked = window.gridlibReady !== null && zoom >= CFG.outlineZoom;
  if (stroked !== state.stroked) { state.stroked = stroked; refresh(hiddenLayers()); }
}
const hint = document.getElementById('gl-hint');
hint.style.display = deckJson.initialViewState.zoom >= CFG.gridMinZoom ? 'none' : 'block';
window.gridlibDeck = createDeck({container: document.getElementById('deck-container'), jsonInput: deckJson,
  tooltip: false, customLibraries: null, configuration: {functions: {gridlibTileFetch, gridlibGridFill}}});
window.gridlibDeck.setProps({
  getTooltip: tooltip,
  onError: (e) => { state.error = String(e && e.message || e); say('加载失败: ' + state.error); },
  onViewStateChange: ({viewState}) => {
    hint.style.display = viewState.zoom >= CFG.gridMinZoom ? 'none' : 'block';
    outline(viewState.zoom);
  },
  onAfterRender: () => {
    const times = window.gridlibTimes;
    times.frames = (times.frames || 0) + 1;
    if (state.stroked && !times.outlined && window.gridlibDeck.props.layers.find(l => l.id === 'grids').isLoaded) {
      times.outlined = performance.now();  // the first frame with the grid outlines
    }
    checkReady();
  },
});
// ready: the attributes are joined and every visible tile of the layer in view is loaded (grids from their
// zoom, else the first dissolved layer); checked after each frame and, as loads may end between frames, on a timer
function checkReady() {
  if (window.gridlibReady !== null || !state.lookup) return;
  const d = window.gridlibDeck;
  const zoom = d.viewManager && d.getViewports()[0] ? d.getViewports()[0].zoom : 0;
  const want = zoom >= CFG.gridMinZoom - 0.5 && CFG.archives.grids ? 'grids' : Object.keys(CFG.archives)[0];
  const top = d.props.layers.find(l => l.id === want);
  if (top && top.isLoaded) {
    window.gridlibReady = performance.now();
    say('');
    clearInterval(readyTimer);
    outline(zoom);
  }
}
const readyTimer = location.protocol === 'file:' ? null : setInterval(checkReady, 50);
if (early.overlays) {
  loadOverlays().then(() => refresh(hiddenLayers())).catch(e => say('图层加载失败 (' + String(e.message || e) + ')'));
}
document.querySelectorAll('#gl-layers input').forEach(b => b.addEventListener('change', () => refresh(hiddenLayers())));
"""

_PAGE = PAGE_HEAD + """#gl-status {{ position: absolute; top: 10px; left: 50%; transform: translateX(-50%); z-index: 6; max-width: 70%;
  padding: 8px 12px; background: rgba(255,255,255,0.95); border-radius: 4px; font-size: 14px;
  box-shadow: 0 1px 3px rgba(0,0,0,0.3); }}
#gl-status.error {{ background: #fff3cd; border: 1px solid #d39e00; }}
#gl-hint {{ position: absolute; bottom: 18px; left: 12px; z-index: 5; font-size: 12px; color: #555; }}
</style>
<script>{pmtiles}</script>
<script>
const gridlibConfig = {config_json};
{early}
</script>
<script src="{bundle}"></script>
</head>
<body>
<div id="deck-container"></div>
<div id="gl-title">{title}</div>
<div id="gl-status"></div>
<div id="gl-layers">{toggles}</div>
<div id="gl-legend">{legend}</div>
<div id="gl-hint">放大到 11 级以上显示每个网格</div>
<div id="gl-attr">{attribution}</div>
<script>
const deckJson = {deck_json};
const FONTS = "{fonts}";
{fit_js}
{script}
</script>
</body>
</html>
"""
