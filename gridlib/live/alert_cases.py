"""Truck alerts become cases at once: the nightly's violation → case mapping, applied as each alert opens.

When the :class:`~gridlib.live.alerts.AlertBook` opens an alert whose type is a case
(:func:`gridlib.trucks.cases.case_classes`, the deduction table's ``class_code``: the mapping the
nightly run's :func:`~gridlib.trucks.cases.violations_to_cases` uses), :class:`AlertCases` takes
it in through the case intake of ``POST /v1/cases`` (the ``take`` of
:func:`gridlib.live.app.create_app`: the same ``gl.assign`` call, dispatch and step due times)
and appends its ``reported`` event to the same ``case_events`` log, so it has a grid, street,
responsible unit, dispatch suggestion and step deadlines like any intake case.

The case body: ``case_id = "TM-" + alert_id`` (deterministic, so a restarted service that replays
its fixes never takes a case in twice: the intake refuses a case id the log already holds),
``lon``/``lat`` = the alert's position (the first fix of its episode), the type's ``class_code``
and ``urgency``, ``kind="event"``, ``source="truck_monitoring"`` and ``reported_at`` = the
episode's end when the alert opened (the fix that completed its evidence). The alert's record
carries the ``case_id``. An alert later withdrawn (its evidence was an impossible jump) gets its
case ``cancelled``. Nothing personal is sent: plate, type, place and times only.

>>> cases = AlertCases(take=lambda items: [], caselog=None)
>>> cases.case_id_for({"alert_id": "沪D1-deviation-20261120T221000", "type": "deviation"})
'TM-沪D1-deviation-20261120T221000'
>>> AlertCases(lambda items: [], None, deductions=_without("deviation")).case_id_for(
...     {"alert_id": "x", "type": "deviation"}) is None
True
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from gridlib.errors import LockError
from gridlib.live.caselog import now_china
from gridlib.trucks.cases import case_classes
from gridlib.trucks.credit import load_deductions

__all__ = ["AlertCases", "CASE_PREFIX"]

log = logging.getLogger(__name__)

#: Prefix of the id of the case an alert becomes (then the alert id).
CASE_PREFIX = "TM-"
_RETRIES = 5


def _without(kind: str) -> pd.DataFrame:
    """The bundled deduction table with *kind* not a case (for the examples)."""
    t = load_deductions()
    t.loc[t["type"] == kind, "class_code"] = None
    return t


class AlertCases:
    """Turns opened alerts of case types into intake cases (and withdrawn ones into cancelled cases).

    Parameters
    ----------
    take : callable
        ``take(case_bodies) -> [("ok", answer, case-log row) or ("reject", reject, None), ...]``: the
        intake's check, assignment and dispatch (``app.state.take_cases``).
    caselog : CaseLog
        The live case-event log the rows are appended to (``app.state.caselog``).
    deductions : DataFrame or path, optional
        The violation → case mapping (the bundled deduction table by default).

    Attributes
    ----------
    answers : dict
        Case id → the intake's answer for the cases taken in by this process (assignment and ``dispatch``:
        teams by travel time, arrival check, due time of each step).
    rejects : list of dict
        Alerts whose case the intake refused (e.g. a position outside every grid), with reason code.
    counts : collections.Counter
        ``taken``, ``cancelled``, ``rejected`` and ``retried`` (the store was locked).

    Examples
    --------
    >>> AlertCases(lambda items: [], None).classes.loc["unpermitted_stop", "class_code"]
    '06011'
    """

    def __init__(self, take: Callable[[list[dict[str, Any]]], list[tuple[str, dict, dict | None]]], caselog: Any, *,
                 deductions: pd.DataFrame | str | None = None) -> None:
        self.take, self.caselog = take, caselog
        self.classes = case_classes(deductions)
        self.pending: dict[str, dict[str, Any]] = {}     # case id → body waiting for the store
        self.cancel: dict[str, str] = {}                  # case id → time, cancellations waiting
        self.rejects: list[dict[str, Any]] = []
        self.answers: dict[str, dict[str, Any]] = {}     # case id → the intake answer (assignment, dispatch)
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def case_id_for(self, alert: dict[str, Any]) -> str | None:
        """The id of the case *alert* becomes, or None when its type is not a case."""
        return CASE_PREFIX + str(alert["alert_id"]) if alert.get("type") in self.classes.index else None

    def body(self, alert: dict[str, Any]) -> dict[str, Any]:
        """The intake body (``POST /v1/cases``) of the case an alert becomes."""
        kind = self.classes.loc[alert["type"]]
        return {"case_id": alert["case_id"], "lon": float(alert["lon"]), "lat": float(alert["lat"]),
                "class_code": str(kind["class_code"]), "urgency": str(kind["urgency"]), "kind": "event",
                "source": "truck_monitoring", "reported_at": str(alert["end"])}

    def on_events(self, events: Iterable[dict[str, Any]]) -> None:
        """Take in the cases of opened alerts and cancel those of withdrawn ones (an ``AlertBook.on_stored`` hook)."""
        with self._lock:
            for e in events:
                cid = e.get("case_id")
                if not cid:
                    continue
                if e["event"] == "opened" and cid not in self.caselog and e.get("lon") is not None:
                    self.pending[cid] = self.body(e)
                elif e["event"] == "withdrawn":
                    self.pending.pop(cid, None)
                    self.cancel[cid] = now_china().isoformat()
            self._flush()

    def catch_up(self, alerts: Iterable[dict[str, Any]]) -> None:
        """At start-up: take in the cases of stored alerts whose case is not in the log yet (the service
        stopped between storing an alert and its case), so none is lost."""
        self.on_events({**a, "event": "withdrawn" if a["status"] == "withdrawn" else "opened"}
                       for a in alerts if a.get("case_id") and (a["case_id"] not in self.caselog
                                                                or a["status"] == "withdrawn"))

    def _flush(self) -> None:
        for attempt in range(_RETRIES):
            try:
                self._flush_once()
                return
            except LockError:          # another writer (an intake request, a nightly run): try again shortly
                self.counts["retried"] += 1
                time.sleep(0.02 * (attempt + 1))
        log.warning("alert cases: store locked; %d cases and %d cancellations wait for the next alert",
                    len(self.pending), len(self.cancel))

    def _flush_once(self) -> None:
        if self.pending:
            outcomes = self.take(list(self.pending.values()))
            self.caselog.append([row for kind, _, row in outcomes if kind == "ok"])
            answers = [a for kind, a, _ in outcomes if kind == "ok"]
            rejects = [a for kind, a, _ in outcomes if kind == "reject"]
            for a in answers:
                self.pending.pop(str(a["case_id"]), None)
                self.answers[str(a["case_id"])] = a
            self.counts["taken"] += len(answers)
            for r in rejects:
                self.pending.pop(str(r["case_id"]), None)
                if r["reason_code"] != "duplicate_id":     # already taken in (a replay): nothing to do
                    self.rejects.append(r)
                    self.counts["rejected"] += 1
                    log.warning("alert case %s refused: %s (%s)", r["case_id"], r["reason"], r["reason_code"])
        for cid, at in list(self.cancel.items()):
            ended = cid not in self.caselog or any(e["stage"] in ("cancelled", "closed", "not_filed")
                                                   for e in self.caselog.events[cid])
            if not ended:
                row, problem = self.caselog.check_event(cid, {"stage": "cancelled", "time": at})
                if problem:
                    log.warning("alert case %s: cannot cancel: %s", cid, problem["reason"])
                else:
                    self.caselog.append([row])
                    self.counts["cancelled"] += 1
            del self.cancel[cid]
