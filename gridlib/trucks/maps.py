"""Maps of a truck check: a static PNG per vehicle-day and pydeck layers for the web map.

>>> import pandas as pd, geopandas as gpd
>>> from shapely.geometry import LineString
>>> from gridlib.trucks import check
>>> permits = gpd.GeoDataFrame({"permit_id": ["P1"], "vehicle_id": ["V1"], "company": ["K"],
...     "valid_from": ["2026-11-20"], "valid_to": ["2026-11-20"]},
...     geometry=[LineString([(121.48, 31.24), (121.52, 31.24)])], crs=4326)
>>> fixes = pd.DataFrame({"vehicle_id": "V1", "time": pd.date_range("2026-11-20 08:00", periods=60, freq="20s"),
...     "lon": [121.48 + i * 0.0006 for i in range(60)], "lat": 31.24})
>>> fig = vehicle_day_map(check(fixes, permits), "V1")
>>> fig.axes[0].get_title().splitlines()
['渣土车 V1 · 2026-11-20', 'K · 违规：无违规']
>>> import matplotlib.pyplot as plt; plt.close(fig)
"""

from __future__ import annotations

import os
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from gridlib.crs import WGS84
from gridlib.errors import InputError
from gridlib.maps.legend import VIOLATION_TYPE_COLORS, VIOLATION_TYPE_LABELS
from gridlib.maps.static import (
    add_attribution,
    add_north_arrow,
    add_scale_bar,
    new_map,
    project,
    save_png,
)
from gridlib.trucks.violations import CheckResult
from gridlib.types import TimeLike

__all__ = ["vehicle_day_map", "deck_layers", "TYPE_COLORS"]

#: colours and labels per violation type, from the one legend spec (:mod:`gridlib.maps.legend`)
TYPE_COLORS = VIOLATION_TYPE_COLORS
TYPE_LABELS = VIOLATION_TYPE_LABELS


def vehicle_day_map(
    result: CheckResult,
    vehicle_id: str,
    date: TimeLike | None = None,
    *,
    path: str | os.PathLike[str] | None = None,
    attribution: str = "© OpenStreetMap contributors",
) -> Figure:
    """Draw one vehicle's day: permit corridor, track, deviations highlighted, stops.

    Parameters
    ----------
    result : CheckResult
        From :func:`gridlib.trucks.check`.
    vehicle_id : str
    date : date-like, optional
        The local day; default the first day the vehicle has fixes.
    path : path, optional
        Write the PNG there (atomically, reproducibly) and close the figure.
    attribution : str
        Source line in the corner (the road data's licence, for example).

    Returns
    -------
    matplotlib.figure.Figure

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
    >>> import os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "V1.png")
    >>> fig = vehicle_day_map(r, "V1", path=out)
    >>> os.path.getsize(out) > 10_000
    True
    """
    fx = result.fixes
    ids = fx.vehicle_ids
    code = np.searchsorted(ids, vehicle_id)
    if code >= len(ids) or ids[code] != vehicle_id:
        raise InputError(f"vehicle {vehicle_id!r} has no fixes in this result")
    mine = fx.vehicle == code
    days = fx.t[mine] // 86400
    day = int(days.min()) if date is None else int(np.datetime64(pd.Timestamp(date).date(), "D").astype(np.int64))
    sel = np.flatnonzero(mine & (fx.t // 86400 == day))
    if len(sel) == 0:
        raise InputError(f"vehicle {vehicle_id!r} has no fixes on {np.datetime64(day, 'D')}")
    day_text = str(np.datetime64(day, "D"))
    t0, t1 = np.datetime64(day, "D"), np.datetime64(day + 1, "D")
    track = gpd.GeoDataFrame(geometry=[shapely.LineString(np.column_stack([fx.lon[sel], fx.lat[sel]]))
                                       if len(sel) > 1 else shapely.Point(fx.lon[sel[0]], fx.lat[sel[0]])], crs=WGS84)
    permits = result.permits[result.permits["vehicle_id"] == vehicle_id]
    pidx = np.unique(result.per_fix["permit"][sel])
    pidx = pidx[pidx >= 0]
    active = result.permits.iloc[pidx] if len(pidx) else permits.iloc[:0]
    v = result.violations
    v = v[(v["vehicle_id"] == vehicle_id) & (v["start"] < t1) & (v["end"] >= t0)]
    stops = result.stops
    stops = stops[(stops["vehicle_id"] == vehicle_id) & (stops["start"] < t1) & (stops["end"] >= t0)]
    extent = pd.concat([track.geometry, active.geometry, v.geometry], ignore_index=True)
    fig, ax = new_map(gpd.GeoDataFrame(geometry=extent, crs=WGS84), title=f"渣土车 {vehicle_id} · {day_text}",
                      figsize=(9.0, 9.0), margin=0.08)
    handles = []
    if len(active):
        am = project(ax, active)
        corr = am.geometry.buffer(am["corridor_m"].to_numpy(), cap_style="flat")
        gpd.GeoSeries(corr, crs=am.crs).plot(ax=ax, color="#a6d96a", alpha=0.35, linewidth=0, zorder=1)
        am.plot(ax=ax, color="#1a9641", linewidth=1.2, linestyle="--", zorder=2)
        handles += [Patch(facecolor="#a6d96a", alpha=0.5, label="核准路线走廊"),
                    Line2D([], [], color="#1a9641", linestyle="--", label="核准路线")]
    if result.sites is not None and len(result.sites):
        # only the sites of this vehicle's day: its permit's origin and destination, and where it stopped
        own = set(active["origin_site"].dropna()) | set(active["destination_site"].dropna()) | set(
            stops["site_id"].dropna())
        sm = project(ax, result.sites[result.sites["site_id"].isin(own)])
        sm.plot(ax=ax, facecolor="none", edgecolor="#4d4d4d", linewidth=0.8, zorder=3)
        handles.append(Patch(facecolor="none", edgecolor="#4d4d4d", label="工地 / 消纳场"))
    project(ax, track).plot(ax=ax, color="#2b83ba", linewidth=0.9, zorder=4)
    handles.append(Line2D([], [], color="#2b83ba", label="GPS 轨迹"))
    lines = v[v.geometry.geom_type == "LineString"]
    for kind, grp in lines.groupby("type", sort=True):
        # whole-shift violations (no permit, out of hours) stay thin so the track still reads
        width = 1.6 if kind in ("no_permit", "outside_hours") else 3.0
        project(ax, grp).plot(ax=ax, color=TYPE_COLORS.get(kind, "#d7191c"), linewidth=width, zorder=5)
        handles.append(Line2D([], [], color=TYPE_COLORS.get(kind, "#d7191c"), linewidth=width,
                              label=TYPE_LABELS.get(kind, kind)))
    if len(stops):
        sp = project(ax, stops)
        bad = ~stops["approved"].to_numpy(dtype=bool)
        sp[~bad].plot(ax=ax, color="#ffffbf", edgecolor="#555555", markersize=40, zorder=6)
        if bad.any():
            sp[bad].plot(ax=ax, color="#000000", marker="X", markersize=90, zorder=7)
        handles.append(Line2D([], [], marker="o", color="w", markerfacecolor="#ffffbf", markeredgecolor="#555555",
                              markersize=8, label="停留（核准地点）"))
        if bad.any():
            handles.append(Line2D([], [], marker="X", color="w", markerfacecolor="#000000", markersize=9,
                                  label="停留（非核准地点）"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=4, fontsize=8, frameon=False)
    counts = v["type"].value_counts().sort_index()
    summary = "  ".join(f"{TYPE_LABELS.get(k, k)} {n}" for k, n in counts.items()) or "无违规"
    company = active["company"].iloc[0] if len(active) else "无有效许可"
    ax.set_title(f"渣土车 {vehicle_id} · {day_text}\n{company} · 违规：{summary}", fontsize=13, pad=10)
    add_scale_bar(ax)
    add_north_arrow(ax)
    add_attribution(ax, attribution)
    if path is not None:
        save_png(fig, path)
    return fig


def deck_layers(result: CheckResult) -> list[Any]:
    """pydeck layers for the web map: permitted routes, violations (coloured by type) and stops.

    A truck without any permit: its drive is a ``no_permit`` line.

    >>> import pandas as pd, geopandas as gpd
    >>> from gridlib.trucks import check
    >>> no_permits = gpd.GeoDataFrame({"permit_id": [], "vehicle_id": [], "valid_from": [], "valid_to": []},
    ...                               geometry=[], crs=4326)
    >>> drive = pd.DataFrame({"vehicle_id": "W9", "lat": 31.235, "lon": [121.49 + 0.001 * i for i in range(12)],
    ...                       "time": pd.date_range("2026-11-20 09:00", periods=12, freq="15s")})
    >>> [layer.id for layer in deck_layers(check(drive, no_permits))]
    ['truck_routes', 'truck_violations']
    """
    from gridlib.maps.deck import line_layer, point_layer

    layers = [line_layer(result.permits[["permit_id", "vehicle_id", "company", "geometry"]], color="#1a9641",
                         width_px=2, id="truck_routes", columns=["permit_id", "vehicle_id", "company"])]
    v = result.violations
    cols = ["violation_id", "vehicle_id", "company", "type", "detail"]
    lines = v[v.geometry.geom_type == "LineString"]
    if len(lines):
        layers.append(line_layer(lines[cols + ["geometry"]], color="type", colors=TYPE_COLORS, width_px=4,
                                 id="truck_violations", columns=cols))
    pts = v[v.geometry.geom_type == "Point"]
    if len(pts):
        layers.append(point_layer(pts[cols + ["geometry"]], color="type", colors=TYPE_COLORS, radius_px=6,
                                  id="truck_stops", columns=cols))
    return layers
