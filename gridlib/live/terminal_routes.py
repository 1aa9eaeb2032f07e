"""Registering devices with the running service: ``PUT /v1/terminals/{terminal}`` and ``GET /v1/terminals``.

A JT/T 808 terminal registers itself (0x0100 carries its plate); an OsmAnd phone, a terminal that must be read
as GCJ-02, and every enforcement team's device (``kind="team"``, :mod:`gridlib.live.teams`) is registered by
the operator, here over HTTP while the service runs, or before it starts with ``gridlib terminals import``
(:func:`gridlib.live.registry.import_terminals`). Both go to the same ``terminals`` table of the
:class:`~gridlib.live.gateway.FixStore`, with the same checks (:func:`gridlib.live.registry.check_terminal`).

(No ``from __future__ import annotations`` here: FastAPI reads the endpoints' ``Request`` annotation.)
"""

import json
from collections.abc import Collection

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from gridlib.live.gateway import FixStore
from gridlib.live.intake import bearer_refusal
from gridlib.live.registry import check_terminal

__all__ = ["add_terminal_routes"]

_MAX_BODY = 10_000      # bytes: a registration is a few fields


def _refusal(terminal: str, reason: str, status: int = 422) -> JSONResponse:
    return JSONResponse({"terminal": terminal, "reason_code": "inconsistent_record", "field": None,
                         "reason": reason}, status_code=status)


def add_terminal_routes(app: FastAPI, fixes: FixStore, *, token: str | None = None,
                        team_ids: Collection[str] | None = None) -> None:
    """Add ``PUT /v1/terminals/{terminal}`` (needs *token* when one is set) and ``GET /v1/terminals``.

    A registration takes effect at once: the device's next fix is the vehicle's (or the team's). The answer
    of ``PUT`` carries the auth code a JT/T 808 terminal must send in its authentication (0x0102);
    ``GET`` lists the devices without their auth codes.

    >>> import os, tempfile
    >>> app = FastAPI()
    >>> add_terminal_routes(app, FixStore(os.path.join(tempfile.mkdtemp(), "f.sqlite")))
    >>> sorted(r.path for r in app.routes if r.path.startswith("/v1/terminals"))
    ['/v1/terminals', '/v1/terminals/{terminal}']
    """
    @app.put("/v1/terminals/{terminal}", description=(
        "Register a device: `vehicle_id` (a truck's plate, or a team's `base_id`), `kind` (`truck` or `team`, "
        "default truck), `gcj02` (its coordinates are GCJ-02). Answers the row with the terminal's `auth_code`."))
    async def register(terminal: str, request: Request) -> JSONResponse:
        if (refused := bearer_refusal(request, token)) is not None:
            return refused
        raw = await request.body()
        if len(raw) > _MAX_BODY:
            return _refusal(terminal, f"body larger than {_MAX_BODY:,} bytes", 413)
        try:
            body = json.loads(raw)
        except ValueError as exc:
            return _refusal(terminal, f"body is not JSON: {exc}")
        if not isinstance(body, dict):
            return _refusal(terminal, "a registration is a JSON object")
        problem = check_terminal(terminal, body, team_ids)
        if problem:
            return JSONResponse(problem, status_code=422)
        auth = fixes.register(terminal, body["vehicle_id"], gcj02=bool(body.get("gcj02", False)),
                              kind=body.get("kind", "truck"))
        row = fixes.terminal(terminal) or {}
        return JSONResponse({"terminal": terminal, **row, "auth_code": auth})

    @app.get("/v1/terminals", description="The registered devices (terminal, vehicle_id, kind, gcj02, "
             "registered_at), without their auth codes.")
    def terminals() -> JSONResponse:
        return JSONResponse({"terminals": [{k: v for k, v in row.items() if k != "auth_code"}
                                           for row in fixes.terminals()]})
