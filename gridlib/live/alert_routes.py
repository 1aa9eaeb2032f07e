"""The alert endpoints of the live service: ``GET /v1/alerts?since=`` and the SSE stream ``GET /v1/alerts/stream``.

(No ``from __future__ import annotations`` here: FastAPI reads the endpoints' ``Request`` annotation.)
"""

import asyncio
import json
import threading
from typing import Any

import pandas as pd
from fastapi import Request
from fastapi.responses import JSONResponse, StreamingResponse

from gridlib.live.alerts import AlertBook

__all__ = ["add_alert_routes"]


def _parse_since(since: str | None) -> tuple[int | None, str | None]:
    if since is None or since == "":
        return 0, None
    if since.strip().isdigit():
        return int(since), None
    try:
        t = pd.Timestamp(since)
    except ValueError:
        return None, None
    if t.tzinfo is not None:
        t = t.tz_convert("Asia/Shanghai").tz_localize(None)
    return 0, t.isoformat(timespec="milliseconds")


def add_alert_routes(app: Any, book: AlertBook, *, stopping: threading.Event | None = None) -> None:
    """Add ``GET /v1/alerts`` and ``GET /v1/alerts/stream`` over *book*, and alert lines to ``/metrics``.

    >>> from fastapi import FastAPI
    >>> app = FastAPI()
    >>> add_alert_routes(app, AlertBook())
    >>> sorted(r.path for r in app.routes if r.path.startswith("/v1/alerts"))
    ['/v1/alerts', '/v1/alerts/stream']
    """
    stopping = stopping or threading.Event()
    app.state.alerts, app.state.alerts_stopping = book, stopping

    @app.get("/v1/alerts", description=(
        "Truck alerts with an event since `since` (an event `seq`, or an ISO time, naive = China time), one per "
        "alert in its current state (status open, closed or withdrawn; an open alert's end is its vehicle's last "
        "fix so far), with `seq` to pass as the next `since`."))
    def alerts(since: str | None = None, status: str | None = None) -> JSONResponse:
        seq, after = _parse_since(since)
        if seq is None:
            return JSONResponse({"reason_code": "unparseable_time", "field": "since",
                                 "reason": f"since {since!r} is neither an event seq nor a time"}, status_code=422)
        changed = {e["alert_id"] for e in book.since(seq) if after is None or e["emitted_at"] >= after}
        rows = []
        for aid in changed:      # the alert now (an open one's end is its vehicle's last fix) with its latest event
            last = book.last_event[aid]
            rows.append({**book.alerts[aid], "seq": last["seq"], "event": last["event"],
                         "emitted_at": last["emitted_at"]})
        rows = [e for e in rows if status is None or e["status"] == status]
        return JSONResponse({"seq": book.seq, "alerts": sorted(rows, key=lambda e: e["seq"])})

    @app.get("/v1/alerts/stream", description=(
        "Server-Sent Events: one `alert` event per alert change (data: the alert row with `event` opened, "
        "updated, closed, reopened or withdrawn; id: its seq). `Last-Event-ID` or `since` (a seq) replays "
        "what was missed first."))
    async def stream(request: Request, since: int | None = None) -> StreamingResponse:
        header = request.headers.get("last-event-id", "")
        start = int(header) if header.isdigit() else (since if since is not None else book.seq)
        queue = book.listen()

        async def events():
            sent = start
            try:
                for e in book.since(start):
                    sent = e["seq"]
                    yield f"id: {e['seq']}\nevent: alert\ndata: {json.dumps(e, ensure_ascii=False)}\n\n"
                yield ": connected\n\n"
                idle = 0.0
                while not stopping.is_set():
                    try:
                        e = await asyncio.wait_for(queue.get(), 0.5)
                    except TimeoutError:
                        idle += 0.5
                        if await request.is_disconnected():
                            break
                        if idle >= 15:
                            idle = 0.0
                            yield ": keep-alive\n\n"
                        continue
                    if e["seq"] > sent:
                        sent = e["seq"]
                        yield f"id: {e['seq']}\nevent: alert\ndata: {json.dumps(e, ensure_ascii=False)}\n\n"
            finally:
                book.unlisten(queue)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    extra = getattr(app.state, "metric_lines", None)
    if extra is not None:
        extra.append(lambda: ["# TYPE gridlib_alerts_open gauge", f"gridlib_alerts_open {book.open_count()}",
                              "# TYPE gridlib_alert_events_total counter",
                              *[f'gridlib_alert_events_total{{event="{k}"}} {v}' for k, v in sorted(book.counts.items())]])
