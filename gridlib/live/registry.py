"""The devices the live service knows: the checks of a registration and a fleet list imported in one go.

A device is a row of the :class:`~gridlib.live.gateway.FixStore`'s ``terminals`` table: its terminal number
(a JT/T 808 terminal's phone number, or an OsmAnd ``id``), the vehicle it is on (a truck's plate) or the team
it belongs to (``kind="team"``: a ``base_id`` of the store's ``team_bases``), and whether it reports GCJ-02
coordinates. Operators register devices over HTTP while the service runs (:mod:`gridlib.live.terminal_routes`)
or import a fleet list before it starts (``gridlib terminals import``, :func:`import_terminals`); both use
:func:`check_terminal`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pandas as pd

from gridlib.errors import InputError
from gridlib.live.gateway import KINDS, FixStore
from gridlib.rejects import Rejects

__all__ = ["check_terminal", "import_terminals"]

_FIELDS = ("vehicle_id", "kind", "gcj02")
_TRUE, _FALSE = {"1", "true", "yes", "y", "是"}, {"", "0", "false", "no", "n", "否"}


def check_terminal(terminal: str, body: Any, team_ids: Collection[str] | None) -> dict[str, Any] | None:
    """The reject (``reason_code``, ``field``, ``reason``) of a device registration, or None when it can be taken.

    *body* has ``vehicle_id`` (the plate, or a team's ``base_id``), optional ``kind`` (``truck`` or
    ``team``) and ``gcj02`` (bool: the device reports GCJ-02 coordinates). A team must be one of
    *team_ids* (the store's ``team_bases``) when they are known.

    >>> check_terminal("13800138000", {"vehicle_id": "沪D12345"}, None) is None
    True
    >>> check_terminal("phone-1", {"vehicle_id": "B9", "kind": "team"}, {"B1"})["reason_code"]
    'unknown_code'
    """
    def reject(code: str, field: str, reason: str) -> dict[str, Any]:
        return {"terminal": terminal, "reason_code": code, "field": field, "reason": reason}

    if not terminal.strip() or len(terminal) > 40:
        return reject("missing_id" if not terminal.strip() else "inconsistent_record", "terminal",
                      f"terminal {terminal!r} is empty or longer than 40 characters")
    if not isinstance(body, dict):
        return reject("inconsistent_record", "body", "a registration is a JSON object")
    unknown = sorted(set(body) - set(_FIELDS))
    if unknown:
        return reject("extra_fields", unknown[0], f"unknown fields {unknown} (allowed: {', '.join(_FIELDS)})")
    vehicle = body.get("vehicle_id")
    if not isinstance(vehicle, str) or not vehicle.strip():
        return reject("missing_value", "vehicle_id", f"vehicle_id {vehicle!r} is missing or not a string")
    kind = body.get("kind", "truck")
    if kind not in KINDS:
        return reject("unknown_value", "kind", f"unknown kind {kind!r} ({' | '.join(KINDS)})")
    if not isinstance(body.get("gcj02", False), bool):
        return reject("unknown_value", "gcj02", f"gcj02 {body['gcj02']!r} is not true or false")
    if kind == "team" and team_ids is not None and vehicle not in team_ids:
        return reject("unknown_code", "vehicle_id",
                      f"team {vehicle!r} is not a base_id of the store's team_bases")
    return None


def import_terminals(table: pd.DataFrame, fixes: FixStore, *,
                     team_ids: Collection[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Register a fleet list (``terminal``, ``vehicle_id``, optional ``kind`` and ``gcj02``) all at once or not at all.

    Every row is checked with :func:`check_terminal` (``gcj02`` as text: 1/0, true/false, yes/no, 是/否)
    and a terminal listed twice is a ``duplicate_id`` (the first is kept). When any row is rejected nothing
    is registered; otherwise all rows are registered in one transaction, replacing earlier rows of the same
    terminals.

    Parameters
    ----------
    table : DataFrame
        The fleet list, values as text (read it with ``dtype=str``: terminal numbers keep their leading zeros).
    fixes : FixStore
        Where the service keeps its devices and fixes.
    team_ids : collection of str, optional
        The store's team ``base_id``; when given, a team device must name one of them.

    Returns
    -------
    accepted : DataFrame
        The rows that pass the checks (``terminal``, ``vehicle_id``, ``kind``, ``gcj02``), registered only when
        no row was rejected; ``len(accepted) + len(rejects) == len(table)``.
    rejects : DataFrame
        The rejected rows as given, with ``reason_code``, ``field`` and ``reason``.

    Examples
    --------
    >>> import os, tempfile
    >>> fixes = FixStore(os.path.join(tempfile.mkdtemp(), "f.sqlite"))
    >>> fleet = pd.DataFrame({"terminal": ["013800138000", "phone-1"], "vehicle_id": ["沪D1", "B1"],
    ...                       "kind": ["truck", "team"], "gcj02": ["0", "是"]})
    >>> ok, bad = import_terminals(fleet, fixes, team_ids={"B1"})
    >>> len(ok), len(bad), fixes.terminal("phone-1")["gcj02"], fixes.terminal("013800138000")["kind"]
    (2, 0, True, 'truck')
    >>> ok, bad = import_terminals(fleet.assign(vehicle_id=["沪D1", "B9"]), fixes, team_ids={"B1"})
    >>> len(ok), bad["reason_code"].tolist(), fixes.terminal("phone-1")["vehicle_id"]   # nothing registered
    (1, ['unknown_code'], 'B1')
    """
    if "terminal" not in table.columns or "vehicle_id" not in table.columns:
        raise InputError(f"a fleet list needs the columns terminal and vehicle_id; it has {list(table.columns)}")
    text = table.astype(object).where(table.notna(), None)
    rejects = Rejects(table.index)
    rows: list[tuple[str, str, str, bool]] = []
    seen: set[str] = set()
    for i, rec in enumerate(text.to_dict("records")):
        terminal = "" if rec["terminal"] is None else str(rec["terminal"]).strip()
        body: dict[str, Any] = {"vehicle_id": None if rec["vehicle_id"] is None else str(rec["vehicle_id"]).strip()}
        if rec.get("kind") is not None:
            body["kind"] = str(rec["kind"]).strip()
        flag = "" if rec.get("gcj02") is None else str(rec["gcj02"]).strip().lower()
        body["gcj02"] = True if flag in _TRUE else False if flag in _FALSE else flag
        problem = check_terminal(terminal, body, team_ids)
        if problem is None and terminal in seen:
            problem = {"reason_code": "duplicate_id", "field": "terminal",
                       "reason": f"terminal {terminal} is listed again (row {i + 1})"}
        if problem is not None:
            rejects.add(pd.RangeIndex(len(table)) == i, problem["reason_code"], problem["reason"],
                        field=problem["field"])
            continue
        seen.add(terminal)
        rows.append((terminal, body["vehicle_id"], body.get("kind", "truck"), body["gcj02"]))
    accepted = pd.DataFrame(rows, columns=["terminal", "vehicle_id", "kind", "gcj02"])
    bad = rejects.frame(table)
    if len(bad) == 0:
        fixes.register_rows(rows)
    return accepted, bad
