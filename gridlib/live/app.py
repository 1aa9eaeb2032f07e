"""The live HTTP service (FastAPI): case intake with ``gl.assign`` and dispatch, case events, grid lookup, fixes.

``create_app(store)`` loads the grid edition valid today, responsibility, components, frontage
zones, road sections, roads and team bases from a gridlib store once
(:func:`gridlib.live.context.load_context`), and builds the
:class:`~gridlib.live.dispatch.Dispatcher` (one Dijkstra per team base, at start-up).
``POST /v1/cases`` then answers with the same columns ``gl.assign`` gives for the case, plus
``dispatch`` (teams by network travel time, arrival check, due time of each step), and
stores the case as its ``reported`` event in the store's ``case_events`` layer
(:mod:`gridlib.live.intake`, :mod:`gridlib.live.caselog`); ``POST /v1/cases/{case_id}/events`` appends its
later stages there, where :func:`gridlib.cases.read_event_log` and the nightly run read them. Fixes
(OsmAnd here, JT/T 808 in :mod:`gridlib.live.gateway`) go to the same
:class:`~gridlib.live.gateway.FixStore`; devices are registered in :mod:`gridlib.live.terminal_routes`.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from gridlib.live import osmand
from gridlib.live.caselog import CaseLog
from gridlib.live.context import CASE_FIELDS, assign_cases, check_point, load_context
from gridlib.live.fix import FixRejected
from gridlib.live.gateway import FixStore, Jt808Gateway
from gridlib.live.intake import CaseIntake, add_intake_routes
from gridlib.live.page import add_page_routes
from gridlib.live.terminal_routes import add_terminal_routes
from gridlib.store.base import Store
from gridlib.types import TimeLike

# load_context, assign_cases and CASE_FIELDS live in gridlib.live.context; kept importable from here
__all__ = ["create_app", "load_context", "assign_cases", "CASE_FIELDS"]


class _CountRequests:
    """Counts HTTP answers by ``(path, status)`` for ``/metrics``: a plain ASGI middleware (Starlette's
    ``BaseHTTPMiddleware`` runs each request through task groups and memory streams: ~0.5 ms of CPU a request)."""

    def __init__(self, app: Any, counter: Counter) -> None:
        self.app, self.counter = app, counter

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def counted(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.counter[(scope["path"], message["status"])] += 1
            await send(message)

        await self.app(scope, receive, counted)


class _LiveApp(FastAPI):
    """FastAPI, with the case intake's endpoints (``fast_routes``: ``(method, path)`` → endpoint) answered before
    its middleware and router: the same endpoint function and answer, counted for ``/metrics`` and a failure
    answered 500 as the router's stack does. The stack (exception, body-limit, telemetry, exit-stack middleware,
    route matching: ~0.3 ms of CPU a request) would be most of an intake request's cost on the event loop; the
    routes stay declared on the app (OpenAPI, ``app.routes``)."""

    def __init__(self, *args: Any, counter: Counter, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fast_routes: dict[tuple[str, str], Any] = {}
        self._counter = counter

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        endpoint = self.fast_routes.get((scope.get("method"), scope.get("path"))) \
            if scope["type"] == "http" and not scope.get("root_path") and not self.root_path else None
        if endpoint is None:
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        started = False

        async def counted(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                self._counter[(scope["path"], message["status"])] += 1
            await send(message)

        try:
            response = await endpoint(Request(scope, receive))
            await response(scope, receive, counted)
        except Exception:
            if not started:       # as Starlette's ServerErrorMiddleware: a 500, and the error to the server's log
                await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, counted)
            raise


def create_app(store: Store, fixes: FixStore, *, token: str | None = None, gateway: Jt808Gateway | None = None,
               at: TimeLike | None = None) -> FastAPI:
    """The ASGI app over a gridlib *store* and a :class:`FixStore`; *token* guards write endpoints.

    >>> import os, tempfile, geopandas as gpd
    >>> from shapely import box
    >>> import gridlib as gl
    >>> store = gl.store.open(os.path.join(tempfile.mkdtemp(), "grids.gpkg"))
    >>> parents = gpd.GeoDataFrame({"code": ["410105001003"], "name": ["demo"]},
    ...                            geometry=[box(500000, 3850000, 500300, 3850200)], crs=4547)
    >>> _ = gl.grid.import_edition(gl.grid.build(parents), store, effective_date="2026-01-01")
    >>> app = create_app(store, FixStore(os.path.join(tempfile.mkdtemp(), "fixes.sqlite")), at="2026-06-01")
    >>> sorted(r.path for r in app.routes if r.path.startswith("/v1/cases"))
    ['/v1/cases', '/v1/cases/{case_id}', '/v1/cases/{case_id}/events', '/v1/cases:batch']
    """
    ctx = load_context(store, at)
    stats = {"requests": Counter(), "fixes_in": Counter(), "rejected": Counter(), "started": time.time()}
    app = _LiveApp(title="gridlib live", version="1", counter=stats["requests"])
    app.state.ctx, app.state.stats = ctx, stats
    app.state.metric_lines = []     # callables adding /metrics lines (gridlib.live.alerts)

    app.add_middleware(_CountRequests, counter=stats["requests"])

    @app.get("/v1/health")
    def health() -> dict[str, Any]:
        e = ctx["gridset"].edition
        return {"status": "ok", "grid_edition": str(e.get("edition_id")), "grids": len(ctx["gridset"].grids)}

    @app.get("/v1/grids/at")
    def grid_at(lon: float, lat: float) -> JSONResponse:
        problem = check_point({"case_id": "lookup", "lon": lon, "lat": lat})
        if problem:
            return JSONResponse(problem, status_code=422)
        done, bad = assign_cases(ctx, [{"case_id": "lookup", "lon": lon, "lat": lat}])
        if bad:
            return JSONResponse(bad[0], status_code=404)
        keys = ("grid_code", "community_code", "community_name", "street_code", "street_name", "district_code",
                "district_name")
        return JSONResponse({k: done[0][k] for k in keys})

    intake = CaseIntake(ctx, CaseLog(store))
    app.state.intake, app.state.caselog = intake, intake.caselog
    app.state.take_cases = intake.take     # the intake path, for cases the service raises itself (alert_cases)
    add_intake_routes(app, intake, token=token)

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
        await fixes.add_async([(fix, row["vehicle_id"] if row else fix.device_id)])  # group commit
        stats["fixes_in"]["osmand"] += 1
        return JSONResponse({"stored": True})

    app.get("/v1/osmand", operation_id="osmand_get")(osmand_fix)
    app.post("/v1/osmand", operation_id="osmand_post")(osmand_fix)

    @app.get("/v1/vehicles", description="Each device's latest fix; `kind` is `team` for an enforcement "
             "team's device (registered as a team), else `truck`.")
    def vehicles() -> list[dict[str, Any]]:
        out = fixes.last_positions()
        for v in out:
            v["kind"] = fixes.kind(v["device_id"]) or "truck"     # the cached row, not a copy of it
        return out

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
        lines += ["# TYPE gridlib_fix_lag_seconds gauge", f"gridlib_fix_lag_seconds {fixes.lag_s:.3f}",
                  "# TYPE gridlib_start_time_seconds gauge", f"gridlib_start_time_seconds {stats['started']:.0f}"]
        for more in app.state.metric_lines:
            lines += more()
        return "\n".join(lines) + "\n"

    add_page_routes(app)      # GET /: the live operations page (gridlib.live.page)
    bases = ctx["team_bases"]
    add_terminal_routes(app, fixes, token=token,       # devices registered while serving (gridlib.live.registry)
                        team_ids=None if bases is None else set(bases["base_id"].astype(str)))
    return app
