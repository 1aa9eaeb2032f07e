"""The live HTTP service (FastAPI): case intake with ``gl.assign``, grid lookup, OsmAnd fixes, metrics.

``create_app(store)`` loads the grid edition valid today, responsibility, components, frontage
zones and road sections from a gridlib store once; ``POST /v1/cases`` then answers with the same
columns ``gl.assign`` gives for the case. Fixes (OsmAnd here, JT/T 808 in
:mod:`gridlib.live.gateway`) go to the same :class:`~gridlib.live.gateway.FixStore`.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections import Counter
from typing import Any

import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from gridlib.live import osmand
from gridlib.live.fix import FixRejected
from gridlib.live.gateway import FixStore, Jt808Gateway

__all__ = ["create_app", "load_context", "CASE_FIELDS"]

CASE_FIELDS = ("case_id", "lon", "lat", "crs", "class_code", "kind", "component_id", "reported_at", "source")
_MAX_BATCH = 1000


def load_context(store: Any, at: Any = None) -> dict[str, Any]:
    """The layers case intake needs, read once: grid edition valid *at* (default today) and the rest.

    >>> import os, tempfile, geopandas as gpd
    >>> from shapely import box
    >>> import gridlib as gl
    >>> store = gl.store.open(os.path.join(tempfile.mkdtemp(), "grids.gpkg"))
    >>> parents = gpd.GeoDataFrame({"code": ["410105001003"], "name": ["demo"]},
    ...                            geometry=[box(500000, 3850000, 500300, 3850200)], crs=4547)
    >>> _ = gl.grid.import_edition(gl.grid.build(parents), store, effective_date="2026-01-01")
    >>> ctx = load_context(store, "2026-06-01")
    >>> len(ctx["gridset"].grids) > 0, ctx["responsibility"] is None
    (True, True)
    """
    import gridlib as gl

    gridset = gl.grid.GridSet.from_store(store, at=pd.Timestamp(at or dt.date.today()))
    available = set(store.layers())
    ctx = {"gridset": gridset}
    for name in ("responsibility", "components", "frontage_zones", "road_sections", "team_bases"):
        ctx[name] = store.read_layer(name) if name in available else None
    from gridlib.assignment import index_for

    ctx["index"] = index_for(gridset)
    return ctx


def _reject(code: str, reason: str, field: str | None = None, case_id: Any = None) -> dict[str, Any]:
    return {"case_id": case_id, "reason_code": code, "field": field, "reason": reason}


def _check_case(body: Any) -> dict[str, Any] | None:
    if not isinstance(body, dict):
        return _reject("inconsistent_record", "a case is a JSON object")
    cid = body.get("case_id")
    if cid is None or str(cid).strip() == "":
        return _reject("missing_id", "case_id is missing", "case_id")
    for name, limit in (("lon", 180), ("lat", 90)):
        v = body.get(name)
        if v is None:
            return _reject("missing_coordinate", f"{name} is missing", name, cid)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            return _reject("non_numeric_coordinate", f"{name} {v!r} is not a finite number", name, cid)
        if abs(v) > limit:
            return _reject("coordinate_out_of_range", f"{name} {v} is outside [-{limit}, {limit}]", name, cid)
    unknown = set(body) - set(CASE_FIELDS)
    if unknown:
        return _reject("extra_fields", f"unknown fields {sorted(unknown)}", sorted(unknown)[0], cid)
    return None


def _clean(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def assign_cases(ctx: dict[str, Any], cases: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """Assign checked case dicts (all with the same ``crs``) with ``gl.assign``; ``(assigned, rejects)``."""
    import gridlib as gl
    from gridlib.assignment import OUTPUT_COLUMNS

    crs = cases[0].get("crs") or "EPSG:4326"
    frame = pd.DataFrame([{k: v for k, v in c.items() if k != "crs"} for c in cases])
    if "kind" not in frame:
        frame["kind"] = "event"
    frame["kind"] = frame["kind"].fillna("event")
    try:
        done, rejects = gl.assign(frame, ctx["gridset"], components=ctx["components"], zones=ctx["frontage_zones"],
                                  roads=ctx["road_sections"], responsibility=ctx["responsibility"], crs=crs,
                                  index=ctx["index"])
    except gl.errors.GridlibError as exc:
        return [], [_reject("unknown_value", str(exc), "crs", c.get("case_id")) for c in cases]
    out = [{"case_id": _clean(r["case_id"]), **{c: _clean(r[c]) for c in OUTPUT_COLUMNS}}
           for _, r in done.iterrows()]
    bad = []
    for _, r in rejects.iterrows():
        code = r.get("reason_code")
        if not isinstance(code, str):
            code = "no_grid" if "outside" in str(r.get("reason", "")) else "inconsistent_record"
        field = r.get("field")
        bad.append(_reject(code, str(r.get("reason")), field if isinstance(field, str) else None, _clean(r["case_id"])))
    return out, bad


def create_app(store: Any, fixes: FixStore, *, token: str | None = None, gateway: Jt808Gateway | None = None,
               at: Any = None) -> FastAPI:
    """The ASGI app over a gridlib *store* and a :class:`FixStore`; *token* guards write endpoints.

    >>> import os, tempfile, geopandas as gpd
    >>> from shapely import box
    >>> import gridlib as gl
    >>> store = gl.store.open(os.path.join(tempfile.mkdtemp(), "grids.gpkg"))
    >>> parents = gpd.GeoDataFrame({"code": ["410105001003"], "name": ["demo"]},
    ...                            geometry=[box(500000, 3850000, 500300, 3850200)], crs=4547)
    >>> _ = gl.grid.import_edition(gl.grid.build(parents), store, effective_date="2026-01-01")
    >>> app = create_app(store, FixStore(os.path.join(tempfile.mkdtemp(), "fixes.sqlite")), at="2026-06-01")
    >>> sorted(r.path for r in app.routes if r.path.startswith("/v1/"))[:3]
    ['/v1/cases', '/v1/cases:batch', '/v1/grids/at']
    """
    ctx = load_context(store, at)
    app = FastAPI(title="gridlib live", version="1")
    stats = {"requests": Counter(), "fixes_in": Counter(), "rejected": Counter(), "lag_s": 0.0,
             "started": time.time()}
    app.state.ctx, app.state.stats = ctx, stats

    @app.middleware("http")
    async def count(request: Request, call_next):
        response = await call_next(request)
        stats["requests"][(request.url.path, response.status_code)] += 1
        return response

    def refused(request: Request) -> JSONResponse | None:
        if token and request.headers.get("authorization") != f"Bearer {token}":
            return JSONResponse({"reason": "this endpoint needs the bearer token"}, status_code=401)
        return None

    async def json_body(request: Request) -> tuple[Any, JSONResponse | None]:
        raw = await request.body()
        if len(raw) > 1_000_000:
            return None, JSONResponse(_reject("inconsistent_record", "body larger than 1 MB"), status_code=413)
        try:
            import json

            return json.loads(raw), None
        except ValueError as exc:
            return None, JSONResponse(_reject("inconsistent_record", f"body is not JSON: {exc}"), status_code=422)

    @app.get("/v1/health")
    def health() -> dict[str, Any]:
        e = ctx["gridset"].edition
        return {"status": "ok", "grid_edition": str(e.get("edition_id")), "grids": len(ctx["gridset"].grids)}

    @app.get("/v1/grids/at")
    def grid_at(lon: float, lat: float) -> JSONResponse:
        problem = _check_case({"case_id": "lookup", "lon": lon, "lat": lat})
        if problem:
            return JSONResponse(problem, status_code=422)
        done, bad = assign_cases(ctx, [{"case_id": "lookup", "lon": lon, "lat": lat}])
        if bad:
            return JSONResponse(bad[0], status_code=404)
        keys = ("grid_code", "community_code", "community_name", "street_code", "street_name", "district_code",
                "district_name")
        return JSONResponse({k: done[0][k] for k in keys})

    @app.post("/v1/cases")
    async def case(request: Request) -> JSONResponse:
        if (r := refused(request)) is not None:
            return r
        body, error = await json_body(request)
        if error:
            return error
        problem = _check_case(body)
        if problem:
            return JSONResponse(problem, status_code=422)
        done, bad = assign_cases(ctx, [body])
        return JSONResponse(done[0]) if done else JSONResponse(bad[0], status_code=422)

    @app.post("/v1/cases:batch")
    async def cases(request: Request) -> JSONResponse:
        if (r := refused(request)) is not None:
            return r
        body, error = await json_body(request)
        if error:
            return error
        if not isinstance(body, list) or len(body) > _MAX_BATCH:
            return JSONResponse(_reject("inconsistent_record", f"a batch is a JSON list of at most {_MAX_BATCH} cases"),
                                status_code=422)
        rejects, good = [], []
        for item in body:
            problem = _check_case(item)
            (rejects.append(problem) if problem else good.append(item))
        assigned = []
        for crs in sorted({str(c.get("crs") or "EPSG:4326") for c in good}):
            done, bad = assign_cases(ctx, [c for c in good if str(c.get("crs") or "EPSG:4326") == crs])
            assigned += done
            rejects += bad
        return JSONResponse({"assigned": assigned, "rejects": rejects})

    async def osmand_fix(request: Request) -> JSONResponse:
        params = dict(request.query_params)
        if request.method == "POST" and not params:
            params = {k: str(v) for k, v in (await request.form()).items()}
        try:
            fix = osmand.parse(params)
        except FixRejected as exc:
            stats["rejected"][exc.reason_code] += 1
            return JSONResponse(exc.as_dict(), status_code=400)
        row = fixes.terminal(fix.device_id)
        fixes.add([(fix, row["vehicle_id"] if row else fix.device_id)])
        stats["fixes_in"]["osmand"] += 1
        stats["lag_s"] = (dt.datetime.now(dt.UTC) - fix.time).total_seconds()
        return JSONResponse({"stored": True})

    app.get("/v1/osmand", operation_id="osmand_get")(osmand_fix)
    app.post("/v1/osmand", operation_id="osmand_post")(osmand_fix)

    @app.get("/v1/vehicles")
    def vehicles() -> list[dict[str, Any]]:
        return fixes.last_positions()

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> str:
        lines = ["# TYPE gridlib_requests_total counter"]
        lines += [f'gridlib_requests_total{{path="{p}",status="{s}"}} {n}' for (p, s), n in
                  sorted(stats["requests"].items())]
        fixes_in = dict(stats["fixes_in"])
        rejected = Counter(stats["rejected"])
        if gateway is not None:
            fixes_in["jt808"] = gateway.counters["fixes_in"]
            rejected.update(gateway.rejected)
        lines.append("# TYPE gridlib_fixes_in_total counter")
        lines += [f'gridlib_fixes_in_total{{source="{k}"}} {v}' for k, v in sorted(fixes_in.items())]
        lines.append("# TYPE gridlib_fixes_rejected_total counter")
        lines += [f'gridlib_fixes_rejected_total{{reason_code="{k}"}} {v}' for k, v in sorted(rejected.items())]
        if gateway is not None:
            lines.append("# TYPE gridlib_jt808_frames_dropped_total counter")
            lines += [f'gridlib_jt808_frames_dropped_total{{reason="{k}"}} {v}' for k, v in sorted(gateway.drops.items())]
        lines += ["# TYPE gridlib_fix_lag_seconds gauge", f"gridlib_fix_lag_seconds {stats['lag_s']:.3f}",
                  "# TYPE gridlib_start_time_seconds gauge", f"gridlib_start_time_seconds {stats['started']:.0f}"]
        return "\n".join(lines) + "\n"

    return app
