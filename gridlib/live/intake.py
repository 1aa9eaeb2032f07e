"""Case intake of the live service: ``POST /v1/cases`` (and ``:batch``), case events, and a case's events.

:class:`CaseIntake` checks case bodies (:func:`gridlib.live.context.check_case`), assigns them as ``gl.assign``
does (:func:`gridlib.live.context.assign_cases`), adds the dispatch block
(:class:`~gridlib.live.dispatch.Dispatcher`) and stores each case's ``reported`` row in the case log
(:class:`~gridlib.live.caselog.CaseLog`) before it answers. Requests that arrive while a group is being
assigned go together into the next group, assigned in one call in the intake thread; the rows of a group are
committed in one transaction in the case-log thread while the next group is assigned (group commit, pipelined).
A case whose rows are being written counts as taken (a copy is a ``duplicate_id``); each request is answered
only once its rows are committed.

(No ``from __future__ import annotations`` here: FastAPI reads the endpoints' ``Request`` annotation.)
"""

import asyncio
import json
import logging
import queue
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import orjson
import pandas as pd
import pyproj
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from gridlib.errors import LockError
from gridlib.live.caselog import CaseLog, now_china, reported_row
from gridlib.live.context import assign_cases, case_reject, check_case

__all__ = ["CaseIntake", "add_intake_routes", "bearer_refusal", "read_json"]

MAX_BATCH = 1000
#: Event columns shown with a case's events when set (the team, and an automatic arrival's evidence).
_EVIDENCE = ("team_id", "stamped_by", "fix_time", "distance_m")
_STOP = object()  # put in a worker thread's queue: the thread ends (:meth:`CaseIntake.close`)
_BUSY = {"reason": "the store is locked by another writer (a nightly run or an import); nothing was stored, "
                   "retry in a few seconds"}

Outcome = tuple[str, dict[str, Any], dict[str, Any] | None]
#: Where orjson's output may differ from ``json.dumps``': a float below 1e-4 (``0.00001`` and ``1e-7`` for
#: Python's ``1e-05`` and ``1e-07``); such an answer (or one containing this text) is rendered by json instead.
_FLOAT_FORMS = (b"e-", b"0.0000")


class _CaseResponse(JSONResponse):
    """Starlette's :class:`~fastapi.responses.JSONResponse`, byte for byte, rendered by orjson (a case answer with its
    dispatch block: ~0.07 ms less CPU on the event loop than ``json.dumps``). Content orjson would write
    differently (a float below 1e-4) or cannot (an integer beyond 64 bits, a key that is not a string) is
    rendered by ``json`` as before.

    >>> _CaseResponse({"case_id": "K1", "minutes": 1.5, "tiny": 1e-05, "name": "陆家嘴"}).body.decode()
    '{"case_id":"K1","minutes":1.5,"tiny":1e-05,"name":"陆家嘴"}'
    """

    def render(self, content: Any) -> bytes:
        try:
            out = orjson.dumps(content)
        except TypeError:       # orjson.JSONEncodeError
            return super().render(content)
        if _FLOAT_FORMS[0] in out or _FLOAT_FORMS[1] in out:
            return super().render(content)
        return out


def bearer_refusal(request: Request, token: str | None) -> JSONResponse | None:
    """The 401 answer when *token* is set and the request does not carry it as its bearer token, else None.

    >>> from starlette.requests import Request
    >>> req = Request({"type": "http", "headers": [(b"authorization", b"Bearer s3cret")]})
    >>> bearer_refusal(req, "s3cret") is None, bearer_refusal(req, "other").status_code
    (True, 401)
    """
    if token and request.headers.get("authorization") != f"Bearer {token}":
        return JSONResponse({"reason": "this endpoint needs the bearer token"}, status_code=401)
    return None


async def read_json(request: Request, limit: int = 1_000_000) -> tuple[Any, JSONResponse | None]:
    """The request's JSON body, or the 413 (over *limit* bytes) / 422 (not JSON) answer: ``(body, None)`` or
    ``(None, answer)``.

    >>> import asyncio
    >>> from starlette.requests import Request
    >>> async def receive():
    ...     return {"type": "http.request", "body": b'{"a": 1}', "more_body": False}
    >>> asyncio.run(read_json(Request({"type": "http", "headers": []}, receive)))
    ({'a': 1}, None)
    """
    raw = await request.body()
    if len(raw) > limit:
        return None, JSONResponse(case_reject("inconsistent_record", f"body larger than {limit:,} bytes"),
                                  status_code=413)
    try:
        return json.loads(raw), None
    except ValueError as exc:
        return None, JSONResponse(case_reject("inconsistent_record", f"body is not JSON: {exc}"), status_code=422)



def _stop(*queues: queue.SimpleQueue) -> None:
    """End the worker threads that take their jobs from *queues*."""
    for q in queues:
        q.put(_STOP)


def _work(ref: "weakref.ReferenceType[CaseIntake]", jobs: queue.SimpleQueue, step: str) -> None:
    """A worker thread of an intake: ``step`` (a method name) for each job taken from *jobs*, until the step says
    stop or the intake is gone. A bug in a step is logged and the thread goes on (its requests got their 500)."""
    while True:
        job = jobs.get()
        me = ref()
        if me is None:
            return
        try:
            if not getattr(me, step)(job):
                return
        except BaseException:  # noqa: BLE001 - the thread must outlive a bug, or every later request waits for good
            logging.getLogger(__name__).exception("case intake: %s failed", step)
        job = me = None     # nothing of the intake held while waiting (a call's job holds its bound method)


class CaseIntake:
    """Takes case bodies in: check, assign, dispatch and a durable ``reported`` row per case, in request groups.

    Parameters
    ----------
    ctx : dict
        The service's context (:func:`gridlib.live.context.load_context`).
    caselog : CaseLog
        Where the cases' events are stored.

    Examples
    --------
    >>> import asyncio, os, tempfile, geopandas as gpd
    >>> from shapely import box
    >>> import gridlib as gl
    >>> from gridlib.live.context import load_context
    >>> store = gl.store.open(os.path.join(tempfile.mkdtemp(), "grids.gpkg"))
    >>> parents = gpd.GeoDataFrame({"code": ["410105001003"], "name": ["demo"]},
    ...                            geometry=[box(500000, 3850000, 500300, 3850200)], crs=4547)
    >>> _ = gl.grid.import_edition(gl.grid.build(parents), store, effective_date="2026-01-01")
    >>> intake = CaseIntake(load_context(store, "2026-06-01"), CaseLog(store))
    >>> lon, lat = gl.crs.transform_xy(4547, 4326, [500100.0], [3850100.0])
    >>> done, bad = asyncio.run(intake.take_in([{"case_id": "K1", "lon": float(lon[0]), "lat": float(lat[0]),
    ...                                          "class_code": "06012"}, {"case_id": "K1"}]))
    >>> [d["grid_code"] for d in done], [b["reason_code"] for b in bad], "K1" in intake.caselog
    (['410105001003004'], ['missing_coordinate'], True)
    >>> intake.close()
    """

    def __init__(self, ctx: dict[str, Any], caselog: CaseLog) -> None:
        self.ctx, self.caselog = ctx, caselog
        self._to_wgs84: dict[int, tuple[pyproj.CRS, pyproj.Transformer]] = {}
        # one thread for all case work, not the shared pool: PROJ transformers are per thread (a new thread builds
        # them again: ~5 % of an intake request's time). It takes its jobs from a queue: a request's case bodies
        # (with the future it waits on) or a call (:meth:`in_worker`); the bodies queued while it assigned the
        # last group are the next group
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        # the durable writes run in their own thread, in order: while one group's rows are committed (an fsync,
        # often the longest part), the next group is assigned; the cases of a group being written count as taken
        # (inflight) and each request is answered only once its rows are committed. The intake thread hands a
        # group's rows straight to it, and it answers the requests on their event loop (no hop through the loop
        # between the two threads, no executor futures)
        self._commits: queue.SimpleQueue = queue.SimpleQueue()
        self._inflight: set[str] = set()
        # the threads hold the intake only weakly, between jobs: an intake nobody keeps ends them as close() does
        me = weakref.ref(self)
        self._threads = [threading.Thread(target=_work, args=(me, q, step), name=name, daemon=True)
                         for q, step, name in ((self._jobs, "_intake_pass", "intake"),
                                               (self._commits, "_writer_pass", "caselog"))]
        for thread in self._threads:
            thread.start()
        weakref.finalize(self, _stop, self._jobs, self._commits)
        # warmed before the service starts (not in the background): no thread of this process is inside PROJ
        # when the caller goes on, e.g. to fork (a child forked while a thread holds PROJ's database mutex
        # deadlocks in pyproj's after-fork clean-up: seen with a nightly run forking beside a new app)
        warm: Future = Future()
        self._jobs.put((self._warm, (), warm))
        try:
            warm.result()
        except Exception:  # noqa: BLE001 - only a warm-up (as before, when it ran in the background): not fatal
            logging.getLogger(__name__).warning("case intake warm-up failed", exc_info=True)

    def _warm(self) -> None:
        """One case through :meth:`take` in the intake thread now, nothing stored: the thread's PROJ transformers
        (PROJ builds them per thread: ~0.2 s of CPU) are ready before the first request."""
        grids = self.ctx["gridset"].grids
        if len(grids) and grids.crs is not None:
            at = grids.geometry.iloc[:1].representative_point().to_crs(4326).iloc[0]
            self.take([{"case_id": "warm-up", "lon": at.x, "lat": at.y, "class_code": "06012"}])

    def _answers(self, bodies: list[dict[str, Any]], dones: list[dict[str, Any]], times: list[pd.Timestamp | None]
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
        blocks = self.ctx["dispatcher"].dispatch_many(
            x, y, crs, [(t, b.get("class_code"), b.get("urgency"), b.get("source"))
                        for t, b in zip(reported, bodies, strict=True)])
        hit = self._to_wgs84.get(id(crs))     # by identity: hashing a pyproj CRS writes its WKT (~0.1 ms)
        if hit is None or hit[0] is not crs:
            hit = self._to_wgs84[id(crs)] = (crs, pyproj.Transformer.from_crs(crs, 4326, always_xy=True))
        lons, lats = hit[1].transform(x, y)
        out = []
        for k, (body, done) in enumerate(zip(bodies, dones, strict=True)):
            done["reported_at"] = reported[k].isoformat()
            done["dispatch"] = blocks[k]
            row = reported_row({**body, **done, "lon": round(float(lons[k]), 7), "lat": round(float(lats[k]), 7)},
                               done["reported_at"])
            out.append((done, row))
        return out

    async def in_worker(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` in the intake thread."""
        done: Future = Future()
        self._jobs.put((fn, args, done))
        return await asyncio.wrap_future(done)

    async def off_loop(self, work: Callable[[], JSONResponse]) -> JSONResponse:
        """Run case work in the intake thread, one job at a time (the thread's): the event loop (OsmAnd, the JT/T
        808 gateway) is not held up by an assignment or a durable write."""
        return await self.in_worker(work)

    def store_rows(self, rows: list[dict[str, Any]]) -> JSONResponse | None:
        """Append *rows* to the case log in one transaction: None, or the 503 when the store is locked."""
        try:
            self.caselog.append(rows)
        except LockError:
            return JSONResponse(_BUSY, status_code=503, headers={"Retry-After": "5"})
        return None

    def take(self, items: list[Any]) -> list[Outcome]:
        """Check, deduplicate and assign case bodies: per body ``("ok", answer, case-log row)`` or
        ``("reject", reject, None)``, in input order (nothing stored)."""
        out: list[Any] = [None] * len(items)
        good, seen = [], set()
        for k, item in enumerate(items):
            problem, reported = check_case(item)
            if problem is None:
                item = {**item, "case_id": str(item["case_id"]).strip()}
                cid = item["case_id"]
                if cid in self.caselog or cid in seen or cid in self._inflight:
                    problem = case_reject("duplicate_id", f"case {cid} was already taken in", "case_id", cid)
            if problem:
                out[k] = ("reject", problem, None)
                continue
            seen.add(item["case_id"])
            good.append((k, item, reported))
        at = {c["case_id"]: (k, c, t) for k, c, t in good}
        for crs in sorted({str(c.get("crs") or "EPSG:4326") for _, c, _ in good}):
            done, bad = assign_cases(self.ctx, [c for _, c, _ in good if str(c.get("crs") or "EPSG:4326") == crs])
            where = [at[str(d["case_id"])] for d in done]
            for (k, _, _), (answer, row) in zip(where, self._answers([body for _, body, _ in where], done,
                                                                     [t for _, _, t in where]), strict=True):
                out[k] = ("ok", answer, row)
            for r in bad:
                out[at[str(r["case_id"])][0]] = ("reject", r, None)
        return out

    def _take_group(self, groups: list[list[Any]]) -> tuple[list[list[Outcome]], list[dict[str, Any]]]:
        """The case bodies of several requests in one assignment (in the intake thread): per request its
        outcomes (:meth:`take`'s), and the ``reported`` rows of all, whose cases now count as taken."""
        outcomes = self.take([item for g in groups for item in g])
        rows = [row for kind, _, row in outcomes if kind == "ok"]
        self._inflight.update(str(r["case_id"]) for r in rows)
        per: list[list[Outcome]] = []
        for g in groups:
            per.append(outcomes[:len(g)])
            outcomes = outcomes[len(g):]
        return per, rows

    def _commit(self, rows: list[dict[str, Any]]) -> JSONResponse | None:
        """Store *rows* in one transaction (in the writer thread): None, or the 503 when the store is locked."""
        try:
            return self.store_rows(rows)
        finally:       # stored (now in the case log) or not (free to be sent again)
            self._inflight.difference_update(str(r["case_id"]) for r in rows)

    @staticmethod
    def _answer(mine: list[Outcome], busy: JSONResponse | None) -> tuple[list[dict], list[dict]] | JSONResponse:
        """One request's result: ``(answers, rejects)``, or the 503 when it had cases and the store was locked."""
        if busy is not None and any(kind == "ok" for kind, _, _ in mine):
            return JSONResponse(_BUSY, status_code=503, headers={"Retry-After": "5"})
        return [a for kind, a, _ in mine if kind == "ok"], [a for kind, a, _ in mine if kind == "reject"]

    @classmethod
    def _settle(cls, group: list[tuple[list[Any], asyncio.Future]], per: list[Any], busy: Any) -> None:
        """Answer the requests of a group: each its outcomes (or the exception of a failed assignment or write)."""
        for (_, future), mine in zip(group, per, strict=True):
            if not future.done():
                if isinstance(busy, Exception):
                    future.set_exception(busy)
                elif isinstance(mine, Exception):
                    future.set_exception(mine)
                else:
                    future.set_result(cls._answer(mine, busy))

    def close(self, timeout_s: float = 30.0) -> None:
        """End the intake's two threads once the requests queued before are answered (their rows committed).
        Closing again does nothing; requests after it wait for nothing (call it when the service stops). The
        class's example ends with it."""
        self._jobs.put(_STOP)
        for thread in self._threads:
            thread.join(timeout_s)

    def _intake_pass(self, job: Any) -> bool:
        """One pass of the intake thread from *job*: each call in turn, and the case bodies of all requests queued
        meanwhile as one group (:meth:`_assign`), assigned before a call that comes after them. False at the end
        (:data:`_STOP`): the rows assigned so far go to the writer, which then ends too."""
        group: list[tuple[list[Any], asyncio.Future]] = []
        while True:
            if job is _STOP or (len(job) == 3 and group):
                if group:
                    self._assign(group)
                    group = []
                if job is _STOP:
                    self._commits.put(_STOP)
                    return False
            if len(job) == 2:
                group.append(job)
            else:
                fn, args, done = job
                if done.set_running_or_notify_cancel():
                    try:
                        done.set_result(fn(*args))
                    except BaseException as exc:  # noqa: BLE001 - handed to the caller, whatever it is
                        done.set_exception(exc)
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                if group:
                    self._assign(group)
                return True

    def _assign(self, group: list[tuple[list[Any], asyncio.Future]]) -> None:
        """Assign a group (in the intake thread) and hand its rows to the writer thread; a group without rows
        (all rejected) is answered at once."""
        try:
            per, rows = self._take_group([items for items, _ in group])
        except Exception as exc:  # noqa: BLE001 - a bug: every request of the group gets the 500
            per, rows = [exc] * len(group), []
        if rows:
            self._commits.put((rows, group, per))
        else:
            self._post(group, per, None)

    def _writer_pass(self, first: Any) -> bool:
        """One pass of the writer thread: every group's rows waiting (those that came while the last commit ran)
        in one transaction, then the groups' requests are answered. False at the end (:data:`_STOP`)."""
        batch, more = [], first is not _STOP
        if more:
            batch.append(first)
            while True:
                try:
                    job = self._commits.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    more = False
                    break
                batch.append(job)
        if batch:
            try:
                result: Any = self._commit([r for rows, _, _ in batch for r in rows])
            except Exception as exc:  # noqa: BLE001 - a bug in the write: every request of these groups gets the 500
                result = exc
            for _, group, per in batch:
                self._post(group, per, result)
        return more

    def _post(self, group: list[tuple[list[Any], asyncio.Future]], per: list[Any], busy: Any) -> None:
        """Answer a group's requests (:meth:`_settle`) on their event loop, from a worker thread."""
        loops = {future.get_loop() for _, future in group}
        for loop in loops:
            mine = [(g, p) for g, p in zip(group, per, strict=True) if g[1].get_loop() is loop] if len(loops) > 1 \
                else list(zip(group, per, strict=True))
            try:
                loop.call_soon_threadsafe(self._settle, [g for g, _ in mine], [p for _, p in mine], busy)
            except RuntimeError:        # the loop is closed: nobody waits for these
                pass

    async def take_in(self, items: list[Any]) -> tuple[list[dict], list[dict]] | JSONResponse:
        """Queue the case bodies of one request; requests that arrive while a group is being assigned
        go together into the next group, and the rows of groups that are assigned while a commit runs go into the
        next commit: one transaction for all, so the write's cost is shared. ``(answers, rejects)``, or the 503
        when the store was locked (nothing stored). A request that goes away does not stop its group."""
        future = asyncio.get_running_loop().create_future()
        self._jobs.put((items, future))
        return await future


def add_intake_routes(app: FastAPI, intake: CaseIntake, *, token: str | None = None) -> None:
    """Add ``POST /v1/cases``, ``POST /v1/cases:batch``, ``POST /v1/cases/{case_id}/events`` (these need *token*
    when one is set) and ``GET /v1/cases/{case_id}`` over *intake*.

    >>> import os, tempfile, geopandas as gpd
    >>> from shapely import box
    >>> import gridlib as gl
    >>> from gridlib.live.context import load_context
    >>> store = gl.store.open(os.path.join(tempfile.mkdtemp(), "grids.gpkg"))
    >>> parents = gpd.GeoDataFrame({"code": ["410105001003"], "name": ["demo"]},
    ...                            geometry=[box(500000, 3850000, 500300, 3850200)], crs=4547)
    >>> _ = gl.grid.import_edition(gl.grid.build(parents), store, effective_date="2026-01-01")
    >>> app = FastAPI()
    >>> add_intake_routes(app, CaseIntake(load_context(store, "2026-06-01"), CaseLog(store)))
    >>> sorted(r.path for r in app.routes if r.path.startswith("/v1/cases"))
    ['/v1/cases', '/v1/cases/{case_id}', '/v1/cases/{case_id}/events', '/v1/cases:batch']
    """
    caselog = intake.caselog

    async def intake_body(request: Request, batch: bool) -> tuple[Any, JSONResponse | None]:
        """The preamble of the intake endpoints: the token, then the JSON body (for a batch: a list of at most
        ``MAX_BATCH``); ``(body, None)`` or ``(None, the error response)``."""
        if (r := bearer_refusal(request, token)) is not None:
            return None, r
        body, error = await read_json(request)
        if error is None and batch and (not isinstance(body, list) or len(body) > MAX_BATCH):
            error = JSONResponse(case_reject("inconsistent_record", f"a batch is a JSON list of at most {MAX_BATCH} "
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
        result = await intake.take_in([body])
        if isinstance(result, JSONResponse):
            return result
        answers, rejects = result
        if rejects:
            return _CaseResponse(rejects[0], status_code=409 if rejects[0]["reason_code"] == "duplicate_id" else 422)
        return _CaseResponse(answers[0])

    fast = getattr(app, "fast_routes", None)      # the live app answers these before its middleware stack

    @app.post("/v1/cases:batch", description=(
        f"Take in up to {MAX_BATCH} cases (a JSON list of /v1/cases bodies). Per-case outcome: the good cases "
        "are assigned, answered under `assigned` and stored together in one transaction; each bad case is "
        "listed under `rejects` (reason_code, field, reason) and not stored; a repeated case_id is a "
        "duplicate_id reject. If the store is locked (503) none is stored."))
    async def cases(request: Request) -> JSONResponse:
        body, error = await intake_body(request, batch=True)
        if error is not None:
            return error
        result = await intake.take_in(body)
        if isinstance(result, JSONResponse):
            return result
        return _CaseResponse({"assigned": result[0], "rejects": result[1]})

    if fast is not None:
        fast[("POST", "/v1/cases")], fast[("POST", "/v1/cases:batch")] = case, cases

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
        if (r := bearer_refusal(request, token)) is not None:
            return r
        if case_id not in caselog:
            return JSONResponse(case_reject("unknown_value", f"no case {case_id!r} was taken in by this service "
                                            "(POST /v1/cases first)", "case_id", case_id), status_code=404)
        body, error = await read_json(request)
        if error:
            return error

        def work() -> JSONResponse:
            row, problem = caselog.check_event(case_id, body)
            if problem:
                return JSONResponse(problem, status_code=422)
            return intake.store_rows([row]) or JSONResponse({k: row[k] for k in ("case_id", "stage", "time", "hours")})

        return await intake.off_loop(work)

    @app.get("/v1/cases/{case_id}", description="A live case's events, in the order they were taken in.")
    def case_events(case_id: str) -> JSONResponse:
        if case_id not in caselog:
            return JSONResponse(case_reject("unknown_value", f"no case {case_id!r} was taken in by this service",
                                            "case_id", case_id), status_code=404)
        events = caselog.events[case_id]
        return JSONResponse({"case_id": case_id, "attributes": {k: v for k, v in events[0].items() if k not in
                                                                ("stage", "time", "hours", "received_at")},
                             "events": [{k: e[k] for k in ("stage", "time", "hours")}
                                        | {k: e[k] for k in _EVIDENCE if e.get(k) is not None} for e in events]})


