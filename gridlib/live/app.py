"""The live HTTP service (FastAPI): case intake with ``gl.assign`` and dispatch, case events, grid lookup, fixes.

``create_app(store)`` loads the grid edition valid today, responsibility, components, frontage
zones, road sections, roads and team bases from a gridlib store once, and builds the
:class:`~gridlib.live.dispatch.Dispatcher` (one Dijkstra per team base, at start-up).
``POST /v1/cases`` then answers with the same columns ``gl.assign`` gives for the case, plus
``dispatch`` (teams by network travel time, arrival check, due time of each step), and
stores the case as its ``reported`` event in the store's ``case_events`` layer
(:mod:`gridlib.live.caselog`); ``POST /v1/cases/{case_id}/events`` appends its later stages
there, where :func:`gridlib.cases.read_event_log` and the nightly run read them. Fixes
(OsmAnd here, JT/T 808 in :mod:`gridlib.live.gateway`) go to the same
:class:`~gridlib.live.gateway.FixStore`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import geopandas as gpd
import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from gridlib.cases.model import KINDS, SOURCES, URGENCIES
from gridlib.errors import LockError
from gridlib.live import osmand
from gridlib.live.caselog import CaseLog, now_china, parse_time, reported_row
from gridlib.live.dispatch import Dispatcher
from gridlib.live.fix import FixRejected
from gridlib.live.gateway import FixStore, Jt808Gateway
from gridlib.live.page import add_page_routes
from gridlib.live.terminal_routes import add_terminal_routes

__all__ = ["create_app", "load_context", "CASE_FIELDS"]

CASE_FIELDS = ("case_id", "lon", "lat", "crs", "class_code", "kind", "component_id", "reported_at", "source",
               "urgency")
_MAX_BATCH = 1000
#: Event columns shown with a case's events when set (the team, and an automatic arrival's evidence).
_EVIDENCE = ("team_id", "stamped_by", "fix_time", "distance_m")
#: Up to this many grids, every grid's levels and responsibility are worked out at start-up.
_WARM_GRIDS = 200_000
_BUSY = {"reason": "the store is locked by another writer (a nightly run or an import); nothing was stored, "
                   "retry in a few seconds"}


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
    for name in ("responsibility", "components", "frontage_zones", "road_sections", "team_bases", "roads"):
        ctx[name] = store.read_layer(name) if name in available else None
    from gridlib.assignment import PreparedAssign, index_for, metric_crs_of_grids

    metric = metric_crs_of_grids(gridset.grids)
    for name in ("components", "frontage_zones", "road_sections"):
        # projected once here, so a request does not reproject the layers gl.assign matches against
        if isinstance(ctx[name], gpd.GeoDataFrame) and ctx[name].crs is not None:
            ctx[name] = gl.crs.to_crs(ctx[name], metric).reset_index(drop=True)
    ctx["index"] = index_for(gridset)
    # everything of gl.assign that does not depend on the case, once (PreparedAssign: same answers)
    ctx["assigner"] = PreparedAssign(gridset, components=ctx["components"], zones=ctx["frontage_zones"],
                                     roads=ctx["road_sections"], responsibility=ctx["responsibility"],
                                     index=ctx["index"])
    if len(gridset.grids) <= _WARM_GRIDS:
        ctx["assigner"].warm()
    ctx["dispatcher"] = Dispatcher(ctx["roads"], ctx["team_bases"])
    return ctx


def _reject(code: str, reason: str, field: str | None = None, case_id: Any = None) -> dict[str, Any]:
    return {"case_id": case_id, "reason_code": code, "field": field, "reason": reason}


def _check_point(body: Any) -> dict[str, Any] | None:
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


def _check_case(body: Any) -> tuple[dict[str, Any] | None, pd.Timestamp | None]:
    """The reject for a case body that cannot be taken in (and stored in the case log), or None; and its
    ``reported_at`` read (None when it has none)."""
    problem = _check_point(body)
    return (problem, None) if problem else _check_fields(body)


def _check_fields(body: dict[str, Any]) -> tuple[dict[str, Any] | None, pd.Timestamp | None]:
    cid = body["case_id"]
    if not isinstance(cid, str | int) or isinstance(cid, bool):
        return _reject("inconsistent_record", f"case_id {cid!r} is not a string", "case_id"), None
    code = body.get("class_code")
    if code is None or code == "":
        return _reject("missing_value", "class_code is missing (the case log needs the case's class)", "class_code",
                       cid), None
    if not isinstance(code, str):
        return _reject("malformed_code", f"class_code {code!r} is not a string (keep leading zeros: \"06012\")",
                       "class_code", cid), None
    for name, allowed in (("kind", KINDS), ("source", SOURCES), ("urgency", URGENCIES)):
        value = body.get(name)
        if value is not None and value not in allowed:
            return _reject("unknown_value", f"unknown {name} {value!r} ({' | '.join(allowed)})", name, cid), None
    for name in ("crs", "component_id"):
        value = body.get(name)
        if value is not None and not isinstance(value, str | int):
            return _reject("unknown_value", f"{name} {value!r} is not a string", name, cid), None
    if body.get("reported_at") is not None:
        t, problem = parse_time(body["reported_at"], "reported_at", cid)
        return problem, t
    return None, None


def assign_cases(ctx: dict[str, Any], cases: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """Assign checked case dicts (all with the same ``crs``) as ``gl.assign`` does; ``(assigned, rejects)``.

    Through the context's :class:`~gridlib.assignment.PreparedAssign` (identical answers; a case
    it cannot vouch for goes to ``gl.assign`` itself). A case without ``kind`` is an event.
    """
    import gridlib as gl

    crs = cases[0].get("crs") or "EPSG:4326"
    records = [{**{k: v for k, v in c.items() if k != "crs"}, "kind": "event" if c.get("kind") is None else c["kind"]}
               for c in cases]
    try:
        done, bad = ctx["assigner"].records(records, crs=crs)
    except gl.errors.GridlibError as exc:
        return [], [_reject("unknown_value", str(exc), "crs", c.get("case_id")) for c in cases]
    out = [{**{k: v for k, v in d.items() if k not in ("x", "y", "crs")}, "_x": d["x"], "_y": d["y"], "_crs": d["crs"]}
           for d in done]
    return out, [_reject(r["reason_code"], r["reason"], r["field"], r["case_id"]) for r in bad]


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
    >>> sorted(r.path for r in app.routes if r.path.startswith("/v1/cases"))
    ['/v1/cases', '/v1/cases/{case_id}', '/v1/cases/{case_id}/events', '/v1/cases:batch']
    """
    ctx = load_context(store, at)
    app = FastAPI(title="gridlib live", version="1")
    stats = {"requests": Counter(), "fixes_in": Counter(), "rejected": Counter(), "lag_s": 0.0,
             "started": time.time()}
    app.state.ctx, app.state.stats = ctx, stats
    app.state.metric_lines = []     # callables adding /metrics lines (gridlib.live.alerts)

    app.add_middleware(_CountRequests, counter=stats["requests"])

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
        problem = _check_point({"case_id": "lookup", "lon": lon, "lat": lat})
        if problem:
            return JSONResponse(problem, status_code=422)
        done, bad = assign_cases(ctx, [{"case_id": "lookup", "lon": lon, "lat": lat}])
        if bad:
            return JSONResponse(bad[0], status_code=404)
        keys = ("grid_code", "community_code", "community_name", "street_code", "street_name", "district_code",
                "district_name")
        return JSONResponse({k: done[0][k] for k in keys})

    caselog = CaseLog(store)
    app.state.caselog = caselog
    to_wgs84: dict[Any, Any] = {}

    def answers(bodies: list[dict[str, Any]], dones: list[dict[str, Any]], times: list[pd.Timestamp | None]
                ) -> list[tuple[dict, dict]]:
        """The case answers (assignment + dispatch) of assigned cases of one CRS and their ``reported`` rows
        for the case log (*times*: their ``reported_at`` read, None: now); the dispatch blocks of all in one go
        (:meth:`Dispatcher.dispatch_many`)."""
        if not dones:
            return []
        crs = dones[0]["_crs"]
        x, y = [d.pop("_x") for d in dones], [d.pop("_y") for d in dones]
        for d in dones:
            d.pop("_crs")
        now = now_china()
        reported = [now if t is None else t for t in times]
        blocks = ctx["dispatcher"].dispatch_many(x, y, crs, [(t, b.get("class_code"), b.get("urgency"), b.get("source"))
                                                             for t, b in zip(reported, bodies, strict=True)])
        hit = to_wgs84.get(id(crs))     # by identity: hashing a pyproj CRS writes its WKT (~0.1 ms)
        if hit is None or hit[0] is not crs:
            import pyproj

            hit = to_wgs84[id(crs)] = (crs, pyproj.Transformer.from_crs(crs, 4326, always_xy=True))
        lons, lats = hit[1].transform(x, y)
        out = []
        for k, (body, done) in enumerate(zip(bodies, dones, strict=True)):
            done["reported_at"] = reported[k].isoformat()
            done["dispatch"] = blocks[k]
            row = reported_row({**body, **done, "lon": round(float(lons[k]), 7), "lat": round(float(lats[k]), 7)},
                               done["reported_at"])
            out.append((done, row))
        return out

    intake = asyncio.Lock()
    # one thread for all case work, not the shared pool: PROJ transformers are per thread (a new thread builds
    # them again: ~5 % of an intake request's time) and the case log's connection stays with one thread
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intake")

    async def in_worker(fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(worker, fn, *args)

    async def off_loop(work: Any) -> JSONResponse:
        """Run case work in the intake thread, one request at a time: the event loop (OsmAnd, the JT/T 808
        gateway) is not held up by an assignment or a durable write, and the case log sees one writer."""
        async with intake:
            return await in_worker(work)

    def store_rows(rows: list[dict[str, Any]]) -> JSONResponse | None:
        try:
            caselog.append(rows)
        except LockError:
            return JSONResponse(_BUSY, status_code=503, headers={"Retry-After": "5"})
        return None

    def take(items: list[Any]) -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
        """Check, deduplicate and assign case bodies: per body ``("ok", answer, case-log row)`` or
        ``("reject", reject, None)``, in input order."""
        out: list[Any] = [None] * len(items)
        good, seen = [], set()
        for k, item in enumerate(items):
            problem, reported = _check_case(item)
            if problem is None:
                item = {**item, "case_id": str(item["case_id"]).strip()}
                if item["case_id"] in caselog or item["case_id"] in seen or item["case_id"] in inflight:
                    problem = _reject("duplicate_id", f"case {item['case_id']} was already taken in", "case_id",
                                      item["case_id"])
            if problem:
                out[k] = ("reject", problem, None)
                continue
            seen.add(item["case_id"])
            good.append((k, item, reported))
        at = {c["case_id"]: (k, c, t) for k, c, t in good}
        for crs in sorted({str(c.get("crs") or "EPSG:4326") for _, c, _ in good}):
            done, bad = assign_cases(ctx, [c for _, c, _ in good if str(c.get("crs") or "EPSG:4326") == crs])
            where = [at[str(d["case_id"])] for d in done]
            for (k, _, _), (answer, row) in zip(where, answers([body for _, body, _ in where], done,
                                                               [t for _, _, t in where]), strict=True):
                out[k] = ("ok", answer, row)
            for r in bad:
                out[at[str(r["case_id"])][0]] = ("reject", r, None)
        return out

    app.state.take_cases = take     # the intake path, for cases the service raises itself (alert_cases)

    pending: list[tuple[list[Any], asyncio.Future]] = []
    # the durable writes run in their own thread, in order: while one group's rows are committed (an fsync, often
    # the longest part), the next group is assigned; the cases of a group being written count as taken (inflight)
    # and each request is answered only once its rows are committed
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="caselog")
    inflight: set[str] = set()
    commits: list[tuple[list[dict[str, Any]], asyncio.Future]] = []
    writing = asyncio.Lock()

    def take_group(groups: list[list[Any]]) -> tuple[list[list[Any]], list[dict[str, Any]]]:
        """The case bodies of several requests in one assignment (in the intake thread): per request its
        outcomes (:func:`take`'s), and the ``reported`` rows of all, whose cases now count as taken."""
        outcomes = take([item for g in groups for item in g])
        rows = [row for kind, _, row in outcomes if kind == "ok"]
        inflight.update(str(r["case_id"]) for r in rows)
        per: list[list[Any]] = []
        for g in groups:
            per.append(outcomes[:len(g)])
            outcomes = outcomes[len(g):]
        return per, rows

    def commit(rows: list[dict[str, Any]]) -> JSONResponse | None:
        """Store *rows* in one transaction (in the writer thread): None, or the 503 when the store is locked."""
        try:
            return store_rows(rows)
        finally:       # stored (now in the case log) or not (free to be sent again)
            inflight.difference_update(str(r["case_id"]) for r in rows)

    async def flush() -> None:
        """Commit every group's rows waiting (those that came while the last commit ran) in one transaction."""
        async with writing:
            batch = commits[:]
            commits.clear()
            if not batch:
                return
            try:
                result: Any = await asyncio.get_running_loop().run_in_executor(
                    writer, commit, [r for rows, _ in batch for r in rows])
            except Exception as exc:  # a bug: every request of these groups gets the 500
                result = exc
            for _, future in batch:
                if not future.done():
                    (future.set_exception if isinstance(result, Exception) else future.set_result)(result)

    def answer(mine: list[Any], busy: JSONResponse | None) -> tuple[list[dict], list[dict]] | JSONResponse:
        """One request's result: ``(answers, rejects)``, or the 503 when it had cases and the store was locked."""
        if busy is not None and any(kind == "ok" for kind, _, _ in mine):
            return JSONResponse(_BUSY, status_code=503, headers={"Retry-After": "5"})
        return [a for kind, a, _ in mine if kind == "ok"], [a for kind, a, _ in mine if kind == "reject"]

    async def drain() -> None:
        """Take in every request waiting (those that came while the last group was assigned) as one group, and
        answer them once its rows are committed (group commit)."""
        async with intake:
            group = pending[:]
            pending.clear()
            if not group:
                return
            written = asyncio.get_running_loop().create_future()
            try:
                per, rows = await in_worker(take_group, [items for items, _ in group])
                commits.append((rows, written))     # in assignment order: the writer keeps it
            except Exception as exc:  # a bug: every request of the group gets the 500
                per, rows = [exc] * len(group), []
        if rows:
            await asyncio.shield(flush())
            try:
                busy = await written
            except Exception as exc:  # noqa: BLE001 - a bug in the write: the group's requests get the 500
                per, busy = [exc] * len(group), None
        else:
            busy = None
        for (_, future), mine in zip(group, per, strict=True):
            if not future.done():
                if isinstance(mine, Exception):
                    future.set_exception(mine)
                else:
                    future.set_result(answer(mine, busy))

    async def take_in(items: list[Any]) -> tuple[list[dict], list[dict]] | JSONResponse:
        """Queue the case bodies of one request; requests that arrive while a group is being assigned and
        written go together into the next group: one transaction for all, so the write's cost is shared."""
        future = asyncio.get_running_loop().create_future()
        pending.append((items, future))
        await asyncio.shield(drain())     # a request that goes away does not stop its group
        return await future

    async def intake_body(request: Request, batch: bool) -> tuple[Any, JSONResponse | None]:
        """The preamble of the intake endpoints: the token, then the JSON body (for a batch: a list of at most
        ``_MAX_BATCH``); ``(body, None)`` or ``(None, the error response)``."""
        if (r := refused(request)) is not None:
            return None, r
        body, error = await json_body(request)
        if error is None and batch and (not isinstance(body, list) or len(body) > _MAX_BATCH):
            error = JSONResponse(_reject("inconsistent_record", f"a batch is a JSON list of at most {_MAX_BATCH} "
                                         "cases"), status_code=422)
        return (None, error) if error is not None else (body, None)

    @app.post("/v1/cases", description=(
        "Take in one case: JSON object with case_id, lon, lat, class_code (+ crs: EPSG code, 'gcj02' or 'bd09'; "
        "kind, component_id, reported_at, source, urgency). Answers with the grid, community, street, district, "
        "responsible unit/team and basis `gl.assign` gives, plus `dispatch`: the team bases ordered by network "
        "travel time (minutes), whether the first arrives within the arrival limit, and the due time of each "
        "step (verify for public reports, file, dispatch, arrive, video, dispose, close) from the case-limits "
        "table on the work calendar. The case is stored as its `reported` event in the store's `case_events` "
        "layer. Bad input: 422 with reason_code and reason; a case_id already taken in: 409; store locked by "
        "another writer: 503 (nothing stored)."))
    async def case(request: Request) -> JSONResponse:
        body, error = await intake_body(request, batch=False)
        if error is not None:
            return error
        result = await take_in([body])
        if isinstance(result, JSONResponse):
            return result
        answers, rejects = result
        if rejects:
            return JSONResponse(rejects[0], status_code=409 if rejects[0]["reason_code"] == "duplicate_id" else 422)
        return JSONResponse(answers[0])

    @app.post("/v1/cases:batch", description=(
        f"Take in up to {_MAX_BATCH} cases (a JSON list of /v1/cases bodies). Per-case outcome: the good cases "
        "are assigned, answered under `assigned` and stored together in one transaction; each bad case is "
        "listed under `rejects` (reason_code, field, reason) and not stored; a repeated case_id is a "
        "duplicate_id reject. If the store is locked (503) none is stored."))
    async def cases(request: Request) -> JSONResponse:
        body, error = await intake_body(request, batch=True)
        if error is not None:
            return error
        result = await take_in(body)
        if isinstance(result, JSONResponse):
            return result
        return JSONResponse({"assigned": result[0], "rejects": result[1]})

    @app.post("/v1/cases/{case_id}/events", description=(
        "Append a workflow stage to a case taken in by this service: JSON {stage, time[, hours][, team_id]} "
        "(team_id: the base_id of the team dispatched or arrived; on dispatched and arrived only). Stages are "
        "those of gl.cases.read_event_log (verified, filed, dispatched, arrived, video, disposed, feedback, "
        "checked, closed, cancelled, not_filed, returned, rework, extension (with hours), parked; or their "
        "Chinese names); time is ISO 8601 (naive = China time) or epoch seconds. Unknown case: 404. Unknown "
        "stage, bad time, a time before the case's latest event or in the future, an event after the case "
        "ended, or anything read_event_log would reject the case for: 422 with reason_code and reason, "
        "nothing stored."))
    async def case_event(case_id: str, request: Request) -> JSONResponse:
        if (r := refused(request)) is not None:
            return r
        if case_id not in caselog:
            return JSONResponse(_reject("unknown_value", f"no case {case_id!r} was taken in by this service "
                                        "(POST /v1/cases first)", "case_id", case_id), status_code=404)
        body, error = await json_body(request)
        if error:
            return error
        def work() -> JSONResponse:
            row, problem = caselog.check_event(case_id, body)
            if problem:
                return JSONResponse(problem, status_code=422)
            return store_rows([row]) or JSONResponse({k: row[k] for k in ("case_id", "stage", "time", "hours")})

        return await off_loop(work)

    @app.get("/v1/cases/{case_id}", description="A live case's events, in the order they were taken in.")
    def case_events(case_id: str) -> JSONResponse:
        if case_id not in caselog:
            return JSONResponse(_reject("unknown_value", f"no case {case_id!r} was taken in by this service",
                                        "case_id", case_id), status_code=404)
        events = caselog.events[case_id]
        return JSONResponse({"case_id": case_id, "attributes": {k: v for k, v in events[0].items() if k not in
                                                                ("stage", "time", "hours", "received_at")},
                             "events": [{k: e[k] for k in ("stage", "time", "hours")}
                                        | {k: e[k] for k in _EVIDENCE if e.get(k) is not None} for e in events]})

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
        stats["lag_s"] = (dt.datetime.now(dt.UTC) - fix.time).total_seconds()
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
        lines += ["# TYPE gridlib_fix_lag_seconds gauge", f"gridlib_fix_lag_seconds {stats['lag_s']:.3f}",
                  "# TYPE gridlib_start_time_seconds gauge", f"gridlib_start_time_seconds {stats['started']:.0f}"]
        for more in app.state.metric_lines:
            lines += more()
        return "\n".join(lines) + "\n"

    add_page_routes(app)      # GET /: the live operations page (gridlib.live.page)
    bases = ctx["team_bases"]
    add_terminal_routes(app, fixes, token=token,       # devices registered while serving (gridlib.live.registry)
                        team_ids=None if bases is None else set(bases["base_id"].astype(str)))
    return app
