"""Violations → case-log records, so truck violations flow into assignment, hotspots and indicators.

Each violation becomes one **event** case (``source="truck_monitoring"``, status ``reported``)
located at the point that best shows it, coded with the GB/T 47678.5-2026 class directory
(../shared/STANDARDS.md §2.6) through the deduction table's ``class_code`` column:

====================  =====  ==========================================================================
type                  class  why
====================  =====  ==========================================================================
unpermitted_stop      06011  积存垃圾渣土 — a long stop outside approved sites is suspected dumping; the
                             case sends an inspector to find (or rule out) dumped muck at that spot.
deviation             08005  施工废弃料 — the directory has no "route" class; 施工管理类 08005 is the class
no_permit                    for construction waste handled against the rules, which is what transport
outside_hours                off route, without permit, out of hours, into a restricted zone or with the
restricted_zone              tracker silenced is (不按规定线路/时间运输 under the 建筑垃圾 rules).
gps_silence                  08011 (渣土运输车辆未安装密闭装置) is kept for the sealing check, which GPS cannot see.
speeding              08005  same reasoning; speeding alone is a traffic-police matter, reported so the
                             city-management side sees repeat offenders.
====================  =====  ==========================================================================

Change the mapping by passing another deduction table; a type whose ``class_code`` is left empty
there is not a case (:func:`case_classes`): its violations become no case, here and live
(:mod:`gridlib.live.alert_cases`).

>>> import pandas as pd, geopandas as gpd
>>> from shapely.geometry import LineString, Point
>>> v = gpd.GeoDataFrame({"violation_id": ["V1-deviation-20261120T080000", "V1-unpermitted_stop-20261120T090000"],
...     "vehicle_id": ["V1", "V1"], "company": ["K", "K"], "type": ["deviation", "unpermitted_stop"],
...     "start": pd.to_datetime(["2026-11-20 08:00", "2026-11-20 09:00"]),
...     "end": pd.to_datetime(["2026-11-20 08:05", "2026-11-20 09:20"]), "detail": ["", ""]},
...     geometry=[LineString([(121.49, 31.23), (121.50, 31.23)]), Point(121.5, 31.24)], crs=4326)
>>> c = violations_to_cases(v)
>>> c[["case_id", "class_code", "kind", "source", "urgency"]].values.tolist()
[['310115TM20261120000001', '08005', 'event', 'truck_monitoring', 'normal'], ['310115TM20261120000002', '06011', 'event', 'truck_monitoring', 'urgent']]
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridlib.crs import WGS84, metric_crs_for
from gridlib.errors import InputError
from gridlib.trucks.credit import load_deductions

__all__ = ["violations_to_cases", "violation_points", "case_classes", "taken_in_live", "CASE_COLUMNS"]

CASE_COLUMNS = [
    "case_id", "class_code", "kind", "reported_at", "source", "urgency", "verified_at", "filed_at",
    "dispatched_at", "arrived_at", "video_at", "disposed_at", "feedback_at", "checked_at", "closed_at",
    "cancelled_at", "not_filed_at", "status", "rework_count", "return_count", "extension_hours", "parked",
    "component_id", "lon", "lat", "description", "violation_id", "vehicle_id", "company",
]


def violation_points(violations: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """Where each violation is placed: a track at its midpoint along the track (measured in metres),
    a point as it is; in the frame's own CRS.

    The case a violation becomes and the published ``violations`` point layer both use this.

    >>> from shapely import LineString, Point
    >>> v = gpd.GeoDataFrame(geometry=[LineString([(0, 0), (10, 0)]), Point(3, 4)], crs=4550)
    >>> [p.wkt for p in violation_points(v)]
    ['POINT (5 0)', 'POINT (3 4)']
    """
    geoms = violations.geometry
    metric = geoms if geoms.crs is None or geoms.crs.is_projected else geoms.to_crs(metric_crs_for(violations))
    pts = metric.to_numpy().copy()
    kind = shapely.get_type_id(pts)
    lines = (kind == 1) | (kind == 5)
    if lines.any():
        pts[lines] = shapely.line_interpolate_point(pts[lines], 0.5, normalized=True)
    other = ~lines & (kind != 0)
    if other.any():
        pts[other] = shapely.point_on_surface(pts[other])
    out = gpd.GeoSeries(pts, index=geoms.index, crs=metric.crs)
    return out if out.crs == geoms.crs else out.to_crs(geoms.crs)


def case_classes(deductions: pd.DataFrame | str | None = None) -> pd.DataFrame:
    """The violation → case mapping: the types that become cases, with their ``class_code`` and ``urgency``.

    Read from the deduction table (the bundled one by default); a type with an empty ``class_code``
    is not a case. Both the nightly run (:func:`violations_to_cases`) and the live service use it.

    >>> t = load_deductions()
    >>> t.loc[t["type"] == "speeding", "class_code"] = None
    >>> classes = case_classes(t)
    >>> "speeding" in classes.index, classes.loc["unpermitted_stop"].tolist()
    (False, ['06011', 'urgent'])
    """
    table = load_deductions(deductions).set_index("type")
    if "class_code" not in table.columns:
        raise InputError("deduction table: a class_code column is needed to code cases")
    code = table["class_code"].astype("string").str.strip()
    urgency = table["urgency"] if "urgency" in table.columns else pd.Series("normal", index=table.index)
    out = pd.DataFrame({"class_code": code.astype(object), "urgency": urgency.fillna("normal").astype(object)})
    return out[code.notna().to_numpy() & (code != "").fillna(False).to_numpy()]


def _detail_zh(row: object) -> str:
    """A short Chinese account of one violation (one call per violation, not per fix)."""
    def get(name: str) -> object:
        value = getattr(row, name, None)
        return None if value is None or (isinstance(value, float) and np.isnan(value)) else value

    minutes = int(get("duration_s") or 0) // 60
    kind = get("type")
    if kind == "deviation":
        text = f"偏离核准路线行驶 {get('off_route_m') or 0:.0f} 米，最远偏离 {get('max_distance_m') or 0:.0f} 米，历时 {minutes} 分钟"
        return text + (f"，途经 {get('roads')}" if get("roads") else "")
    if kind == "unpermitted_stop":
        site = get("site_id")
        return f"在{'非核准工地 ' + str(site) if site else '核准地点以外'}停留 {minutes} 分钟"
    if kind == "restricted_zone":
        return f"驶入禁行区域 {get('zone_id') or ''}，历时 {minutes} 分钟"
    if kind == "gps_silence":
        return f"行驶中定位中断 {minutes} 分钟"
    return f"历时 {minutes} 分钟"


def violations_to_cases(
    violations: gpd.GeoDataFrame, *, county: str = "310115", deductions: pd.DataFrame | str | None = None
) -> pd.DataFrame:
    """Turn violations into case-log rows (``docs/conventions.md``, "Time and the case log").

    Parameters
    ----------
    violations : geopandas.GeoDataFrame
        From :func:`gridlib.trucks.check` (``violation_id``, ``vehicle_id``, ``company``, ``type``,
        ``start``, ``end``, geometry; ``detail`` optional).
    county : str
        6-digit GB/T 2260 county code, the prefix of the case ids (``310115`` = 浦东新区).
    deductions : DataFrame or path, optional
        Table with ``type`` → ``class_code`` and ``urgency`` (the bundled one by default).

    Returns
    -------
    pandas.DataFrame
        ``case_id`` = county + ``TM`` + date + 6-digit sequence (per day, in time order),
        ``class_code``, ``kind="event"``, ``reported_at`` = the violation's end (when it became
        known), ``source="truck_monitoring"``, ``status="reported"``, WGS84 ``lon``/``lat``,
        a Chinese ``description``, unused stages NaT, counts 0, plus ``violation_id``,
        ``vehicle_id`` and ``company`` for the drill-down.

    Examples
    --------
    >>> import pandas as pd, geopandas as gpd
    >>> from shapely.geometry import LineString
    >>> from gridlib.trucks import check
    >>> permits = gpd.GeoDataFrame({"permit_id": ["P1"], "vehicle_id": ["V1"], "company": ["K"],
    ...     "valid_from": ["2026-11-20"], "valid_to": ["2026-11-20"], "hours": ["22:00-06:00"]},
    ...     geometry=[LineString([(121.48, 31.24), (121.52, 31.24)])], crs=4326)
    >>> fixes = pd.DataFrame({"vehicle_id": "V1",
    ...     "time": pd.date_range("2026-11-20 21:50", periods=60, freq="20s").astype(str),
    ...     "lon": [121.48 + i * 0.0006 for i in range(60)], "lat": 31.24})
    >>> r = check(fixes, permits)
    >>> cases = violations_to_cases(r.violations)
    >>> cases[["case_id", "class_code", "reported_at", "source"]].astype(str).values.tolist()
    [['310115TM20261120000001', '08005', '2026-11-20 21:59:40', 'truck_monitoring']]
    """
    if not (isinstance(county, str) and len(county) == 6 and county.isdigit()):
        raise InputError(f"county must be a 6-digit GB/T 2260 code, got {county!r}")
    table = load_deductions(deductions).set_index("type")
    classes = case_classes(table.reset_index())
    v = violations.to_crs(WGS84) if violations.crs is not None else violations
    unknown = sorted(set(v["type"]) - set(table.index))
    if unknown:
        raise InputError(f"no class code for violation types {unknown}; add them to the deduction table")
    v = v[v["type"].isin(classes.index)]       # types without a class code are not cases
    if len(v) == 0:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in CASE_COLUMNS})
    v = v.sort_values(["end", "vehicle_id", "type"], kind="stable").reset_index(drop=True)
    reported = pd.to_datetime(v["end"]).astype("datetime64[s]")
    day = reported.dt.strftime("%Y%m%d")
    seq = v.groupby(day, sort=False).cumcount() + 1
    pts = violation_points(v).to_numpy()
    names = table["name_zh"] if "name_zh" in table.columns else pd.Series(dict.fromkeys(table.index, ""))
    urg = table["urgency"] if "urgency" in table.columns else pd.Series(dict.fromkeys(table.index, "normal"))
    detail = pd.Series([_detail_zh(row) for row in v.itertuples(index=False)], index=v.index, dtype=object)
    desc = ("渣土车 " + v["vehicle_id"].astype(str) + "（" + v["company"].fillna("未知单位").astype(str) + "）"
            + v["type"].map(names).astype(str) + "：" + detail)
    nat = pd.Series(pd.NaT, index=v.index, dtype="datetime64[s]")
    out = pd.DataFrame({
        "case_id": county + "TM" + day + seq.map("{:06d}".format),
        "class_code": v["type"].map(table["class_code"]).astype(str).to_numpy(),
        "kind": "event",
        "reported_at": reported,
        "source": "truck_monitoring",
        "urgency": v["type"].map(urg).fillna("normal").to_numpy(),
        **{c: nat for c in CASE_COLUMNS[6:17]},
        "status": "reported",
        "rework_count": 0, "return_count": 0, "extension_hours": 0.0, "parked": False,
        "component_id": "",
        "lon": np.round(shapely.get_x(pts).astype(float), 7), "lat": np.round(shapely.get_y(pts).astype(float), 7),
        "description": desc.to_numpy(),
        "violation_id": v["violation_id"].to_numpy(), "vehicle_id": v["vehicle_id"].to_numpy(),
        "company": v["company"].to_numpy(),
    })
    return out[CASE_COLUMNS]


def taken_in_live(violations: pd.DataFrame, alerts: pd.DataFrame | None) -> np.ndarray:
    """Which *violations* the live service already took in as cases (its ``alerts`` log), so the
    nightly does not file them a second time.

    A violation is taken in when an alert of the same vehicle and type, whose latest event carries a
    ``case_id`` and is not ``withdrawn``, overlaps it in time. Overlap rather than identity: an
    alert's start and end follow the fixes as they arrive, the night's check sees them all.

    Parameters
    ----------
    violations : DataFrame
        ``vehicle_id``, ``type``, ``start``, ``end`` (as :func:`gridlib.trucks.check` gives them).
    alerts : DataFrame or None
        The store's ``alerts`` layer (one row per alert event, :mod:`gridlib.live.alerts`).

    Returns
    -------
    numpy.ndarray of bool, one per violation.

    >>> v = pd.DataFrame({"vehicle_id": ["V1", "V1", "V2"], "type": ["deviation"] * 3,
    ...                   "start": pd.to_datetime(["2026-11-20 08:00", "2026-11-20 10:00", "2026-11-20 08:00"]),
    ...                   "end": pd.to_datetime(["2026-11-20 08:10", "2026-11-20 10:05", "2026-11-20 08:10"])})
    >>> a = pd.DataFrame({"seq": [1, 2], "alert_id": ["a1", "a1"], "vehicle_id": ["V1", "V1"],
    ...                   "type": ["deviation"] * 2, "status": ["open", "closed"], "case_id": ["TM-a1"] * 2,
    ...                   "start": ["2026-11-20T08:00:30", "2026-11-20T08:00:30"],
    ...                   "end": ["2026-11-20T08:03:00", "2026-11-20T08:09:00"]})
    >>> taken_in_live(v, a).tolist()
    [True, False, False]
    """
    out = np.zeros(len(violations), dtype=bool)
    need = {"alert_id", "vehicle_id", "type", "status", "case_id", "start", "end"}
    if alerts is None or not len(alerts) or not len(violations) or not need <= set(alerts.columns):
        return out
    order = alerts.sort_values("seq", kind="stable") if "seq" in alerts.columns else alerts
    latest = order.drop_duplicates("alert_id", keep="last")
    latest = latest[latest["case_id"].notna() & (latest["status"] != "withdrawn")]
    left = pd.DataFrame({"row": np.arange(len(violations)), "vehicle_id": violations["vehicle_id"].astype(str).to_numpy(),
                         "type": violations["type"].astype(str).to_numpy(),
                         "v_start": pd.to_datetime(violations["start"]).to_numpy(),
                         "v_end": pd.to_datetime(violations["end"]).to_numpy()})
    right = pd.DataFrame({"vehicle_id": latest["vehicle_id"].astype(str).to_numpy(),
                          "type": latest["type"].astype(str).to_numpy(),
                          "a_start": pd.to_datetime(latest["start"], errors="coerce").to_numpy(),
                          "a_end": pd.to_datetime(latest["end"], errors="coerce").to_numpy()})
    pairs = left.merge(right, on=["vehicle_id", "type"])
    overlap = (pairs["a_start"] <= pairs["v_end"]) & (pairs["a_end"] >= pairs["v_start"])
    out[pairs.loc[overlap, "row"].to_numpy()] = True
    return out
