"""The live operations page of ``gridlib serve``: ``GET /`` and the read-only endpoints it draws from.

:func:`add_page_routes` adds to the live app (:func:`gridlib.live.app.create_app`):

- ``GET /``: one HTML page (deck.gl, offline like the nightly web map: the same ``PAGE_HEAD`` style
  and the deck.gl bundle of the ``pydeck`` wheel, served by the app itself — no CDN, no basemap
  tiles). It draws the grids of the edition the service loaded, coloured by responsible unit,
  polls ``/v1/vehicles`` every second (vehicles move), opens the alert stream
  ``/v1/alerts/stream`` (alerts appear as markers and in a list; needs the truck monitor, else the
  page says so) and polls ``/v1/intake?since=`` (intake cases appear as they are taken in).
  Its state is ``window.gridlibLive`` (for tests and automation).
- ``GET /static/deck.js``: the deck.gl bundle (:func:`gridlib.maps.deck.bundle_js`).
- ``GET /v1/grids.geojson``: the grids (WGS84, simplified to about 1 m, coordinates to 1e-6°) with
  their street, community and responsible unit and team — never a person or phone.
- ``GET /v1/intake?since=N``: the cases taken in by this service from the *N*-th on (0 first), each
  as its intake row (class, kind, source, urgency, WGS84 position, grid, street, responsible unit,
  reported time) and its latest stage; ``next`` is the *since* of the next call. No reporter data
  is kept by intake, and none is sent.

All are GET and need no token: the page works from the same origin as the service.

>>> import os, tempfile, geopandas as gpd
>>> from shapely import box
>>> import gridlib as gl
>>> from gridlib.live.app import create_app
>>> from gridlib.live.gateway import FixStore
>>> store = gl.store.open(os.path.join(tempfile.mkdtemp(), "grids.gpkg"))
>>> parents = gpd.GeoDataFrame({"code": ["410105001003"], "name": ["demo"]},
...                            geometry=[box(500000, 3850000, 500300, 3850200)], crs=4547)
>>> _ = gl.grid.import_edition(gl.grid.build(parents), store, effective_date="2026-01-01")
>>> app = create_app(store, FixStore(os.path.join(tempfile.mkdtemp(), "fixes.sqlite")), at="2026-06-01")
>>> sorted(r.path for r in app.routes if r.path in ("/", "/static/deck.js", "/v1/grids.geojson"))
['/', '/static/deck.js', '/v1/grids.geojson']
>>> grids = grids_geojson(app.state.ctx)
>>> grids["type"], len(grids["features"]) > 0, "person" in grids["features"][0]["properties"]
('FeatureCollection', True, False)
"""

from __future__ import annotations

import functools
import html
import json
from typing import Any

import numpy as np
import shapely
from fastapi.responses import HTMLResponse, JSONResponse, Response

from gridlib.cases.model import EVENT_STAGES
from gridlib.maps.deck import (
    BACKGROUND,
    FIT_VIEW_JS,
    FONT_STACK,
    PAGE_HEAD,
    bundle_js,
    rgba,
    script_safe,
)
from gridlib.maps.legend import GRID_EDGE_COLOR, VIOLATION_TYPE_COLORS, VIOLATION_TYPE_LABELS

__all__ = ["add_page_routes", "grids_geojson", "cases_since", "CASE_KEYS"]

#: What ``GET /v1/intake`` sends of an intake case (no reporter, person or phone: intake keeps none).
CASE_KEYS = ("case_id", "class_code", "kind", "source", "urgency", "lon", "lat", "grid_code", "street_code",
             "responsible_unit", "responsible_team")
#: Pale fills for the responsible units (ColorBrewer Pastel1 + Set3), repeated when there are more units.
_UNIT_FILLS = ("#fbb4ae", "#b3cde3", "#ccebc5", "#decbe4", "#fed9a6", "#ffffcc", "#e5d8bd", "#fddaec",
               "#8dd3c7", "#bebada", "#80b1d3", "#fdb462", "#b3de69", "#fccde5", "#d9d9d9", "#bc80bd")
_DIGITS = 6
#: Chinese names of the case stages (``reported`` → ``上报``), from the pairs of ``EVENT_STAGES``.
_STAGE_LABELS = {en: zh for en, (col, _) in EVENT_STAGES.items() if en.isascii()
                 for zh, (col2, _) in EVENT_STAGES.items() if not zh.isascii() and col2 == col}


def grids_geojson(ctx: dict[str, Any], tolerance_m: float = 1.0) -> dict[str, Any]:
    """The grids of the live context as a WGS84 GeoJSON FeatureCollection with their responsibility.

    Parameters
    ----------
    ctx : dict
        The context of :func:`gridlib.live.app.load_context` (``gridset``, ``responsibility``).
    tolerance_m : float
        Simplification tolerance in the grids' metric CRS (topology kept per polygon).

    Returns
    -------
    dict
        ``FeatureCollection``; each feature's properties: ``grid_code``, ``street_name``,
        ``community_name``, ``unit``, ``team`` (responsible, the lookup ``gl.assign`` uses) and
        ``fill`` (``[r, g, b, a]``, one colour per unit); ``bbox`` of the whole.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> import gridlib as gl
    >>> parents = gpd.GeoDataFrame({"code": ["410105001003"], "name": ["demo"]},
    ...                            geometry=[box(500000, 3850000, 500300, 3850200)], crs=4547)
    >>> gridset = gl.grid.GridSet(gl.grid.build(parents))
    >>> out = grids_geojson({"gridset": gridset, "responsibility": None})
    >>> out["features"][0]["geometry"]["type"], out["features"][0]["properties"]["unit"]
    ('Polygon', '')
    """
    from gridlib.assignment import responsible

    grids = ctx["gridset"].grids
    who = responsible(grids[["grid_code", "community_code", "street_code"]], ctx.get("responsibility"))
    geoms = shapely.simplify(grids.geometry.to_numpy(), tolerance_m, preserve_topology=True)
    wgs = grids.set_geometry(geoms, crs=grids.crs).to_crs(4326).geometry.to_numpy()
    wgs = shapely.set_precision(wgs, 10.0 ** -_DIGITS)
    units = sorted(set(who["unit"]) - {""})
    fills = {u: rgba(_UNIT_FILLS[i % len(_UNIT_FILLS)], 0.55) for i, u in enumerate(units)}
    fills[""] = rgba("#eeeeee", 0.55)
    features = []
    names = {c: grids[c].astype(object).where(grids[c].notna(), None).to_numpy() if c in grids else
             np.full(len(grids), None) for c in ("street_name", "community_name")}
    for i, geom in enumerate(wgs):
        if geom is None or geom.is_empty:
            continue
        unit = str(who["unit"].iat[i])
        features.append({"type": "Feature", "geometry": json.loads(shapely.to_geojson(geom)), "properties": {
            "grid_code": str(grids["grid_code"].iat[i]), "street_name": names["street_name"][i],
            "community_name": names["community_name"][i], "unit": unit, "team": str(who["team"].iat[i]),
            "fill": fills[unit]}})
    bounds = shapely.total_bounds(wgs) if len(wgs) else np.full(4, np.nan)
    bbox = [round(float(v), _DIGITS) for v in bounds] if np.isfinite(bounds).all() else None
    return {"type": "FeatureCollection", "bbox": bbox, "features": features}


def cases_since(caselog: Any, since: int = 0) -> dict[str, Any]:
    """The intake cases of *caselog* (a :class:`~gridlib.live.caselog.CaseLog`) from the *since*-th on.

    Returns ``{"next": n, "cases": [...]}``: each case its :data:`CASE_KEYS`, ``reported_at`` and
    ``stage`` (its latest event); pass ``next`` as the following *since*.

    >>> import os, tempfile
    >>> import gridlib as gl
    >>> from gridlib.live.caselog import CaseLog, reported_row
    >>> log = CaseLog(gl.store.open(os.path.join(tempfile.mkdtemp(), "s.gpkg")))
    >>> log.append([reported_row({"case_id": "K1", "class_code": "06012", "lon": 121.5, "lat": 31.2},
    ...                          "2026-11-20T09:00:00")])
    >>> out = cases_since(log)
    >>> out["next"], out["cases"][0]["case_id"], out["cases"][0]["stage"], cases_since(log, 1)["cases"]
    (1, 'K1', 'reported', [])
    """
    ids = list(caselog.events)        # insertion order: the order the cases were taken in
    out = []
    for cid in ids[max(since, 0):]:
        events = caselog.events[cid]
        first = events[0]
        out.append({**{k: first.get(k) for k in CASE_KEYS}, "reported_at": first.get("time"),
                    "stage": events[-1].get("stage")})
    return {"next": len(ids), "cases": out}


def add_page_routes(app: Any) -> None:
    """Add ``GET /``, ``/static/deck.js``, ``/v1/grids.geojson`` and ``GET /v1/intake`` to the live *app*.

    *app* is the app of :func:`gridlib.live.app.create_app` (its ``state.ctx`` and ``state.caselog``).
    The alert stream is added later by :func:`gridlib.live.monitor.attach_monitor`; the page finds it
    at run time.

    >>> from fastapi import FastAPI
    >>> app = FastAPI()
    >>> add_page_routes(app)
    >>> sorted(r.path for r in app.routes if r.path.startswith("/v1/"))
    ['/v1/grids.geojson', '/v1/intake']
    """

    @functools.cache
    def grids_data() -> dict[str, Any]:
        return grids_geojson(app.state.ctx)

    @functools.cache
    def grids_body() -> bytes:
        return json.dumps(grids_data(), ensure_ascii=False, separators=(",", ":")).encode()

    @functools.cache
    def deck_body() -> bytes:
        return bundle_js().encode()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        bbox = grids_data()["bbox"]
        return HTMLResponse(live_page_html(tuple(bbox) if bbox else None))

    @app.get("/static/deck.js", include_in_schema=False)
    def deck_js() -> Response:
        return Response(deck_body(), media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "max-age=3600"})

    @app.get("/v1/grids.geojson", description=(
        "The grids of the edition the service loaded, WGS84, simplified to about 1 m, with street, community and "
        "responsible unit and team (no person or phone), as GeoJSON."))
    def grids() -> Response:
        return Response(grids_body(), media_type="application/geo+json")

    @app.get("/v1/intake", description=(
        "The cases taken in by this service from the `since`-th on (0: all), in intake order: class, kind, "
        "source, urgency, WGS84 lon/lat, grid, street, responsible unit/team, reported_at and latest stage; "
        "`next` is the `since` of the next call. No personal data."))
    def cases(since: int = 0) -> JSONResponse:
        return JSONResponse(cases_since(app.state.caselog, since))


_CSS = """#gl-side {{ position: absolute; top: 10px; right: 12px; bottom: 22px; width: 300px; z-index: 5;
  display: flex; flex-direction: column; gap: 8px; font-size: 13px; }}
#gl-side section {{ background: rgba(255,255,255,0.94); border-radius: 4px; box-shadow: 0 1px 3px rgba(0,0,0,0.25);
  padding: 6px 10px; overflow-y: auto; min-height: 0; }}
#gl-side h3 {{ margin: 0 0 4px 0; font-size: 14px; }}
#gl-alerts {{ flex: 3; }} #gl-cases {{ flex: 2; }}
#gl-side ul {{ list-style: none; margin: 0; padding: 0; }}
#gl-side li {{ padding: 3px 0; border-bottom: 1px solid #eee; }}
#gl-side li .t {{ color: #666; font-size: 12px; }}
#gl-side li.closed {{ color: #888; }}
#gl-side .dot {{ display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 5px; }}
#gl-status {{ position: absolute; top: 56px; left: 12px; z-index: 5; padding: 4px 10px; font-size: 13px;
  background: rgba(255,255,255,0.92); border-radius: 4px; box-shadow: 0 1px 3px rgba(0,0,0,0.25); }}
#gl-status.bad {{ background: #fff3cd; }}
#gl-legend {{ right: auto; left: 12px; bottom: 22px; }}
"""

_PAGE = PAGE_HEAD + _CSS + """.deck-tooltip {{ font-family: {fonts} !important; }}
</style>
<script src="/static/deck.js"></script>
</head>
<body>
<div id="deck-container"></div>
<div id="gl-title">{title}</div>
<div id="gl-status">连接中…</div>
<div id="gl-side">
<section id="gl-alerts"><h3>渣土车告警 <span id="gl-alert-count">0</span></h3><ul></ul></section>
<section id="gl-cases"><h3>新受理案件 <span id="gl-case-count">0</span></h3><ul></ul></section>
</div>
<div id="gl-legend">{legend}</div>
<div id="gl-attr">gridlib · 网格与责任单位 · 车辆、告警、案件实时更新</div>
<script>
const CFG = {config_json};
{fit_js}
{script}
</script>
</body>
</html>
"""

# The page logic. Layers enter as JSON (the bundle's createDeck converts them; its classes are not globals),
# live data by cloning the layers with new data.
_SCRIPT = r"""
const state = {vehicles: [], alerts: new Map(), cases: [], caseNext: 0, stream: 'connecting', seq: 0,
               grids: null, updates: 0, errors: []};
window.gridlibLive = state;
const esc = s => String(s == null ? '' : s).replace(/[&<>"']/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;',
  '"': '&quot;', "'": '&#39;'}[c]));
const typeColor = t => CFG.typeColors[t] || [227, 26, 28, 255];
const typeLabel = t => CFG.typeLabels[t] || t;
const stageLabel = s => CFG.stageLabels[s] || s;
const box = document.getElementById('deck-container');
const layerJson = [
  {'@@type': 'GeoJsonLayer', id: 'grids', data: CFG.gridsUrl, filled: true, stroked: true,
   getFillColor: '@@=properties.fill', getLineColor: CFG.gridEdge, lineWidthUnits: 'pixels', getLineWidth: 0.6,
   pickable: true, autoHighlight: true},
  {'@@type': 'ScatterplotLayer', id: 'cases', data: [], getPosition: '@@=[lon, lat]', radiusUnits: 'pixels',
   getRadius: 6, getFillColor: [27, 120, 55, 235], stroked: true, getLineColor: [255, 255, 255, 255],
   lineWidthMinPixels: 1.5, pickable: true},
  {'@@type': 'ScatterplotLayer', id: 'alerts', data: [], getPosition: '@@=[lon, lat]', radiusUnits: 'pixels',
   getRadius: 11, filled: false, stroked: true, getLineColor: '@@=color', lineWidthUnits: 'pixels',
   getLineWidth: 3, pickable: true},
  {'@@type': 'ScatterplotLayer', id: 'vehicles', data: [], getPosition: '@@=[lon, lat]', radiusUnits: 'pixels',
   getRadius: 6, getFillColor: '@@=color', stroked: true, getLineColor: [30, 30, 30, 255],
   lineWidthMinPixels: 1.5, pickable: true},
];
// framed on the grids in the part of the window the side panel leaves free (the panel is on the right)
function startView() {
  if (!CFG.bounds || box.clientWidth <= 0) return {longitude: 0, latitude: 0, zoom: 1, pitch: 0, bearing: 0};
  const side = document.getElementById('gl-side'), right = box.clientWidth > 700 ? side.offsetWidth + 24 : 0;
  const v = gridlibFitView(CFG.bounds, box.clientWidth - right, box.clientHeight);
  v.longitude += (right / 2) * 360 / (512 * Math.pow(2, v.zoom));
  return v;
}
const view = startView();
window.gridlibDeck = createDeck({container: box, jsonInput: {initialViewState: view, layers: layerJson,
  views: [{'@@type': 'MapView', controller: true}]}, tooltip: false, customLibraries: null, configuration: null});
function tooltip({layer, object}) {
  if (!object || !layer) return null;
  let h;
  if (layer.id === 'grids') {
    const p = object.properties;
    h = `<b>网格 ${esc(p.grid_code)}</b><br>${esc(p.street_name)} ${esc(p.community_name)}<br>责任单位：${esc(p.unit || '—')}`
      + (p.team ? `<br>责任队伍：${esc(p.team)}` : '');
  } else if (layer.id === 'vehicles') {
    h = `<b>${object.kind === 'team' ? '执法队 ' : ''}${esc(object.vehicle_id)}</b><br>${esc(object.time)}<br>${object.speed_kmh == null ? '' : esc(object.speed_kmh) + ' km/h'}`
      + (object.alert ? `<br>告警：${esc(typeLabel(object.alert))}` : '');
  } else if (layer.id === 'alerts') {
    h = `<b>${esc(typeLabel(object.type))}</b> ${esc(object.vehicle_id)}<br>${esc(object.start)} – ${esc(object.end)}`
      + `<br>${esc(object.street_name)} 网格 ${esc(object.grid_code)}<br>责任单位：${esc(object.responsible_unit)}`;
  } else if (layer.id === 'cases') {
    h = `<b>案件 ${esc(object.case_id)}</b> ${esc(object.class_code)}<br>${esc(object.reported_at)} · ${esc(stageLabel(object.stage))}`
      + `<br>网格 ${esc(object.grid_code)}<br>责任单位：${esc(object.responsible_unit)}`;
  }
  return h ? {html: h, style: {fontFamily: CFG.fonts, fontSize: '13px', backgroundColor: 'rgba(30,30,30,0.88)',
                                color: 'white', padding: '6px 8px'}} : null;
}
window.gridlibDeck.setProps({getTooltip: tooltip, onError: e => { state.errors.push(String(e && e.message || e)); }});
function openAlerts() { return [...state.alerts.values()].filter(a => a.status === 'open'); }
function redraw() {
  const d = window.gridlibDeck;
  if (!d.props.layers.length || typeof d.props.layers[0].clone !== 'function') { setTimeout(redraw, 100); return; }
  const open = openAlerts(), byVehicle = new Map(open.map(a => [a.vehicle_id, a.type]));
  const vehicles = state.vehicles.filter(v => v.lon != null && v.lat != null).map(v => Object.assign({}, v,
    {alert: byVehicle.get(v.vehicle_id) || null,
     color: byVehicle.has(v.vehicle_id) ? typeColor(byVehicle.get(v.vehicle_id))
       : v.kind === 'team' ? [33, 102, 172, 255] : [255, 193, 7, 255]}));
  const alerts = open.filter(a => a.lon != null).map(a => Object.assign({}, a, {color: typeColor(a.type)}));
  const data = {vehicles, alerts, cases: state.cases.filter(c => c.lon != null)};
  d.setProps({layers: d.props.layers.map(l => data[l.id] ? l.clone({data: data[l.id]}) : l)});
  state.updates += 1;
  const list = [...state.alerts.values()].sort((a, b) => b.seq - a.seq).slice(0, 200);
  document.querySelector('#gl-alerts ul').innerHTML = list.map(a => `<li class="${esc(a.status)}" data-alert="${esc(a.alert_id)}">`
    + `<span class="dot" style="background:rgba(${typeColor(a.type).slice(0, 3).join(',')},1)"></span>`
    + `<b>${esc(typeLabel(a.type))}</b> ${esc(a.vehicle_id)} ${a.status === 'open' ? '' : '（' + (a.status === 'closed' ? '已结束' : '已撤销') + '）'}`
    + `<div class="t">${esc(a.start)} · ${esc(a.street_name || '')} ${esc(a.responsible_unit || '')}</div></li>`).join('');
  document.getElementById('gl-alert-count').textContent = `${open.length} 进行中 / ${state.alerts.size}`;
  document.querySelector('#gl-cases ul').innerHTML = state.cases.slice(-100).reverse().map(c => `<li data-case="${esc(c.case_id)}">`
    + `<b>${esc(c.case_id)}</b> ${esc(c.class_code)} · ${esc(stageLabel(c.stage))}<div class="t">${esc(c.reported_at)} · `
    + `网格 ${esc(c.grid_code || '—')} ${esc(c.responsible_unit || '')}</div></li>`).join('');
  document.getElementById('gl-case-count').textContent = String(state.cases.length);
  const status = document.getElementById('gl-status');
  const streamText = {open: '告警流已连接', connecting: '告警流连接中…', missing: '本服务未开启渣土车监控（无告警流）',
                      lost: '告警流中断，正在重连…'}[state.stream];
  status.textContent = `车辆 ${vehicles.length} · ${streamText}`;
  status.className = state.stream === 'open' ? '' : 'bad';
}
function takeAlert(a) {
  state.alerts.set(a.alert_id, a);
  state.seq = Math.max(state.seq, a.seq || 0);
}
async function pollVehicles() {
  try {
    const r = await fetch('/v1/vehicles', {cache: 'no-store'});
    if (r.ok) { state.vehicles = await r.json(); redraw(); }
  } catch (e) { state.errors.push('vehicles: ' + e); }
  setTimeout(pollVehicles, CFG.pollMs);
}
async function pollCases() {
  try {
    const r = await fetch('/v1/intake?since=' + state.caseNext, {cache: 'no-store'});
    if (r.ok) {
      const body = await r.json();
      if (body.cases.length) { state.cases.push(...body.cases); redraw(); }
      state.caseNext = body.next;
    }
  } catch (e) { state.errors.push('cases: ' + e); }
  setTimeout(pollCases, CFG.pollMs);
}
async function startAlerts() {
  let r;
  try { r = await fetch('/v1/alerts', {cache: 'no-store'}); } catch (e) { r = null; }
  if (!r || r.status === 404) { state.stream = 'missing'; redraw(); return; }
  const body = await r.json();
  body.alerts.forEach(takeAlert);
  state.seq = Math.max(state.seq, body.seq || 0);
  const source = new EventSource('/v1/alerts/stream?since=' + state.seq);   // reconnects send Last-Event-ID
  source.onopen = () => { state.stream = 'open'; redraw(); };
  source.onerror = () => { state.stream = 'lost'; redraw(); };
  source.addEventListener('alert', ev => { takeAlert(JSON.parse(ev.data)); redraw(); });
  redraw();
}
pollVehicles();
pollCases();
startAlerts();
"""


@functools.cache
def live_page_html(bounds: tuple[float, float, float, float] | None = None, title: str = "城市管理实时运行图") -> str:
    """The HTML of ``GET /``, opening framed on lon/lat *bounds* (the deck.gl bundle is ``/static/deck.js``).

    >>> page = live_page_html()
    >>> '<script src="/static/deck.js">' in page and "EventSource" in page
    True
    """
    legend = "".join(
        f'<div><span class="sw" style="background:{c};border-radius:50%"></span>{html.escape(label)}</div>'
        for label, c in (("车辆（正常）", "#ffc107"), ("执法队", "#2166ac"), ("新受理案件", "#1b7837")))
    legend += "".join(
        f'<div><span class="sw" style="background:{VIOLATION_TYPE_COLORS[t]};border-radius:50%"></span>'
        f"{html.escape(VIOLATION_TYPE_LABELS[t])}</div>" for t in VIOLATION_TYPE_COLORS)
    legend += '<div><span class="sw" style="background:#b3cde3"></span>网格（按责任单位着色）</div>'
    config = {"gridsUrl": "/v1/grids.geojson", "pollMs": 1000, "fonts": FONT_STACK.replace("'", ""),
              "gridEdge": rgba(GRID_EDGE_COLOR), "bounds": list(bounds) if bounds else None,
              "typeColors": {t: rgba(c) for t, c in VIOLATION_TYPE_COLORS.items()},
              "typeLabels": VIOLATION_TYPE_LABELS, "stageLabels": _STAGE_LABELS}
    return _PAGE.format(title=html.escape(title), background=BACKGROUND, fonts=FONT_STACK, legend=legend,
                        config_json=script_safe(json.dumps(config, ensure_ascii=False)), fit_js=FIT_VIEW_JS,
                        script=_SCRIPT)
