"""What the live service's case intake and lookups stand on: the store's layers read once, the checks of a case
body, and its assignment through the prepared ``gl.assign`` (:class:`~gridlib.assignment.PreparedAssign`).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import geopandas as gpd
import pandas as pd

from gridlib.cases.model import KINDS, SOURCES, URGENCIES
from gridlib.live.caselog import parse_time
from gridlib.live.dispatch import Dispatcher
from gridlib.store.base import Store
from gridlib.types import TimeLike

__all__ = ["CASE_FIELDS", "load_context", "assign_cases", "case_reject", "check_point", "check_case"]

CASE_FIELDS = ("case_id", "lon", "lat", "crs", "class_code", "kind", "component_id", "reported_at", "source",
               "urgency")
#: Up to this many grids, every grid's levels and responsibility are worked out at start-up.
_WARM_GRIDS = 200_000


def load_context(store: Store, at: TimeLike | None = None) -> dict[str, Any]:
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


def case_reject(code: str, reason: str, field: str | None = None, case_id: Any = None) -> dict[str, Any]:
    """The JSON answer of a refused case (or lookup): ``case_id``, ``reason_code``, ``field``, ``reason``.

    >>> case_reject("missing_id", "case_id is missing", "case_id")["reason_code"]
    'missing_id'
    """
    return {"case_id": case_id, "reason_code": code, "field": field, "reason": reason}


def check_point(body: Any) -> dict[str, Any] | None:
    """The reject of a body that is not a JSON object with a ``case_id`` and finite in-range ``lon``/``lat`` and
    only :data:`CASE_FIELDS`, or None.

    >>> check_point({"case_id": "K1", "lon": 121.5, "lat": 95})["reason_code"]
    'coordinate_out_of_range'
    """
    if not isinstance(body, dict):
        return case_reject("inconsistent_record", "a case is a JSON object")
    cid = body.get("case_id")
    if cid is None or str(cid).strip() == "":
        return case_reject("missing_id", "case_id is missing", "case_id")
    for name, limit in (("lon", 180), ("lat", 90)):
        v = body.get(name)
        if v is None:
            return case_reject("missing_coordinate", f"{name} is missing", name, cid)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            return case_reject("non_numeric_coordinate", f"{name} {v!r} is not a finite number", name, cid)
        if abs(v) > limit:
            return case_reject("coordinate_out_of_range", f"{name} {v} is outside [-{limit}, {limit}]", name, cid)
    unknown = set(body) - set(CASE_FIELDS)
    if unknown:
        return case_reject("extra_fields", f"unknown fields {sorted(unknown)}", sorted(unknown)[0], cid)
    return None


def check_case(body: Any) -> tuple[dict[str, Any] | None, pd.Timestamp | None]:
    """The reject for a case body that cannot be taken in (and stored in the case log), or None; and its
    ``reported_at`` read (None when it has none).

    >>> check_case({"case_id": "K1", "lon": 121.5, "lat": 31.2, "class_code": 6012})[0]["reason_code"]
    'malformed_code'
    >>> check_case({"case_id": "K1", "lon": 121.5, "lat": 31.2, "class_code": "06012",
    ...             "reported_at": "2026-11-20 09:00"})
    (None, Timestamp('2026-11-20 09:00:00'))
    """
    problem = check_point(body)
    return (problem, None) if problem else _check_fields(body)


def _check_fields(body: dict[str, Any]) -> tuple[dict[str, Any] | None, pd.Timestamp | None]:
    cid = body["case_id"]
    if not isinstance(cid, str | int) or isinstance(cid, bool):
        return case_reject("inconsistent_record", f"case_id {cid!r} is not a string", "case_id"), None
    code = body.get("class_code")
    if code is None or code == "":
        return case_reject("missing_value", "class_code is missing (the case log needs the case's class)", "class_code",
                       cid), None
    if not isinstance(code, str):
        return case_reject("malformed_code", f"class_code {code!r} is not a string (keep leading zeros: \"06012\")",
                       "class_code", cid), None
    for name, allowed in (("kind", KINDS), ("source", SOURCES), ("urgency", URGENCIES)):
        value = body.get(name)
        if value is not None and value not in allowed:
            return case_reject("unknown_value", f"unknown {name} {value!r} ({' | '.join(allowed)})", name, cid), None
    for name in ("crs", "component_id"):
        value = body.get(name)
        if value is not None and not isinstance(value, str | int):
            return case_reject("unknown_value", f"{name} {value!r} is not a string", name, cid), None
    if body.get("reported_at") is not None:
        t, problem = parse_time(body["reported_at"], "reported_at", cid)
        return problem, t
    return None, None


def assign_cases(ctx: dict[str, Any], cases: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """Assign checked case dicts (all with the same ``crs``) as ``gl.assign`` does; ``(assigned, rejects)``.

    Through the context's :class:`~gridlib.assignment.PreparedAssign` (identical answers; a case
    it cannot vouch for goes to ``gl.assign`` itself). A case without ``kind`` is an event. Each assigned
    dict carries the point in the grids' metric CRS as ``_x``, ``_y`` and ``_crs`` (for dispatch).

    >>> import os, tempfile, geopandas as gpd
    >>> from shapely import box
    >>> import gridlib as gl
    >>> store = gl.store.open(os.path.join(tempfile.mkdtemp(), "grids.gpkg"))
    >>> parents = gpd.GeoDataFrame({"code": ["410105001003"], "name": ["demo"]},
    ...                            geometry=[box(500000, 3850000, 500300, 3850200)], crs=4547)
    >>> _ = gl.grid.import_edition(gl.grid.build(parents), store, effective_date="2026-01-01")
    >>> done, bad = assign_cases(load_context(store, "2026-06-01"), [{"case_id": "K1", "lon": 114.0005, "lat": 34.7788},
    ...                                                              {"case_id": "K2", "lon": 114.5, "lat": 34.78}])
    >>> [d["grid_code"] for d in done], [b["reason_code"] for b in bad]
    (['410105001003004'], ['no_grid'])
    """
    import gridlib as gl

    crs = cases[0].get("crs") or "EPSG:4326"
    records = [{**{k: v for k, v in c.items() if k != "crs"}, "kind": "event" if c.get("kind") is None else c["kind"]}
               for c in cases]
    try:
        done, bad = ctx["assigner"].records(records, crs=crs)
    except gl.errors.GridlibError as exc:
        return [], [case_reject("unknown_value", str(exc), "crs", c.get("case_id")) for c in cases]
    out = [{**{k: v for k, v in d.items() if k not in ("x", "y", "crs")}, "_x": d["x"], "_y": d["y"], "_crs": d["crs"]}
           for d in done]
    return out, [case_reject(r["reason_code"], r["reason"], r["field"], r["case_id"]) for r in bad]


