"""Maps of the nightly run: district overview and one PNG per street, the web map, the summary page."""

from __future__ import annotations

import datetime as dt
import gc
import html
import logging
import multiprocessing as mp
import os
import re
import shutil
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import matplotlib.patheffects as path_effects
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shapely

from gridlib.codes.catalogue import EDITIONS, catalogue
from gridlib.datasets import OSM_ATTRIBUTION
from gridlib.maps import deck
from gridlib.maps import legend as lg
from gridlib.maps import static as smap
from gridlib.maps.tiled import Overlay, deck_script, tiled_page
from gridlib.maps.tiles import build_grid_tiles, write_grid_attributes
from gridlib.nightly.forks import fork_safe, release_free_memory
from gridlib.nightly.model import NightlyResults
from gridlib.nightly.outputs import TILE_CACHE, edition_cache_build, frame_digest

log = logging.getLogger(__name__)

__all__ = ["kpi_summary_html", "street_outlines", "HOTSPOT_COLORS", "HOTSPOT_LABELS", "LIGHT_COLORS"]

# the hotspot module's scheme, plus the grids the nightly run leaves out as water
# (all colours come from the one legend spec, gridlib.maps.legend (lg), which also styles the GeoPackage)
HOTSPOT_COLORS = lg.HOTSPOT_COLORS
HOTSPOT_LABELS = lg.HOTSPOT_LABELS
LIGHT_COLORS = lg.LIGHT_COLORS
ATTRIBUTION = f"底图数据 {OSM_ATTRIBUTION}; 案件、车辆、摄像头为合成演示数据 (synthetic demo data)"


_PRIORITY_BLIND_SPOTS = 40  # the overview shows the most urgent blind spots; the web map shows all
# Above this many grids (a city rather than a district) maps draw and ship only the grids that carry
# information — significant hot/cold spots and grids with open cases — over the street outlines:
# 750,000 polygons cannot be read on one picture and made an 8 GB web page.
_MAX_DRAWN_GRIDS = 50_000
_LIGHT_LABELS = lg.LIGHT_LABELS
# A map draws open cases as one dot each up to this many dots; above it (a city overview, a street with a
# large backlog) the dots bury each other and the map under them, so the map shades each grid by its number
# of overdue cases instead. (The city run drew 12,389 overdue dots on the overview.)
_MAX_CASE_DOTS = 500
# graduated colours for overdue cases per grid: ColorBrewer RdPu from its 3rd class, apart from the
# red–blue hot/cold spot scheme underneath; at most this many classes
_OVERDUE_RAMP = lg.OVERDUE_RAMP
# A shaded area must be at least this many pixels across on the PNG to be seen: at city scale a 100 m grid
# is under one pixel, so the counts are summed to communities (or streets) instead.
_MIN_CELL_PX = 6.0
_LEVEL_ZH = {"grid": "网格", "community": "社区", "street": "街道"}
# a white rim, so small marks (sub-pixel hot-spot grids, blind-spot roads) stand out from any shading
_HALO = [path_effects.Stroke(linewidth=2.5, foreground="white"), path_effects.Normal()]


def _dissolve(grids: gpd.GeoDataFrame, level: str) -> gpd.GeoDataFrame:
    """Grids dissolved to one polygon per ``<level>_code`` with its ``<level>_name`` (the code when absent)."""
    code, name = f"{level}_code", f"{level}_name"
    cols = [code] + ([name] if name in grids.columns else [])
    # what ``grids.dissolve(by=cols, as_index=False, method="coverage")`` gives (groups sorted by their keys, rows
    # with a missing key left out, each group's polygons in row order), without its per-group pandas aggregation:
    # a street map dissolved its communities in 0.06 s, two thirds of it pandas. The grids are an exact coverage,
    # so the fast coverage union is exact.
    group = grids.groupby(cols, sort=True, dropna=True).ngroup().to_numpy(dtype="float64", na_value=np.nan)
    rows = np.flatnonzero(~np.isnan(group))
    rows = rows[np.argsort(group[rows], kind="stable")]
    bounds = np.flatnonzero(np.diff(group[rows], prepend=-1.0, append=np.inf))
    geoms = np.asarray(grids.geometry.values)[rows]
    out = gpd.GeoDataFrame(
        grids[cols].iloc[rows[bounds[:-1]]].reset_index(drop=True),
        geometry=[shapely.coverage_union_all(geoms[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)],
        crs=grids.crs)
    if name not in out.columns:
        out[name] = out[code]
    return out.sort_values(code).reset_index(drop=True)


def street_outlines(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One polygon per street of *grids*, with ``street_code`` and ``street_name`` (the streets' maps and labels).

    A step of its own: benchmarks/bench_nightly.py times it by this name.

    >>> import geopandas as gpd; from shapely import box
    >>> g = gpd.GeoDataFrame({"street_code": ["S1", "S1", "S2"], "street_name": ["甲", "甲", "乙"]},
    ...                      geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 0, 3, 1)], crs=4547)
    >>> out = street_outlines(g)
    >>> out["street_code"].tolist(), out.area.tolist()
    (['S1', 'S2'], [2.0, 1.0])
    """
    return _dissolve(grids, "street")


def _informative(grid_map: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """All grids for a district; for a city only those with a significant class or open cases."""
    if len(grid_map) <= _MAX_DRAWN_GRIDS:
        return grid_map
    quiet = grid_map["hotspot_class"].fillna("not_significant").eq("not_significant")
    if "open_cases" in grid_map.columns:
        quiet &= grid_map["open_cases"].fillna(0).eq(0)
    return grid_map[~quiet]


def _hotspot_fill(ax, grid_map: gpd.GeoDataFrame) -> list[tuple[str, str]]:
    grid_map = _informative(grid_map)
    classes = grid_map["hotspot_class"].fillna("not_significant")
    colors = classes.map(HOTSPOT_COLORS).fillna("#f7f7f7")
    smap.fill_polygons(ax, grid_map, color=colors.to_numpy(), edgecolor="#bbbbbb", linewidth=0.2, zorder=1)
    present = [c for c in HOTSPOT_COLORS if (classes == c).any()]
    return [(HOTSPOT_LABELS[c], HOTSPOT_COLORS[c]) for c in present]


def _significant_spots(ax, grid_map: gpd.GeoDataFrame, *, outline: bool) -> list[tuple[str, str]]:
    """The significant hot/cold spot grids above a shading of overdue counts, white-rimmed: their clusters'
    outlines (grids big enough to see) or filled (grids under a pixel, so they show as small marks)."""
    grid_map = _informative(grid_map)
    classes = grid_map["hotspot_class"].fillna("not_significant")
    spots = grid_map[classes.str.startswith(("hot_", "cold_")).to_numpy()]
    if not len(spots):
        return []
    if outline:
        rings = spots[["hotspot_class", spots.geometry.name]].dissolve(by="hotspot_class", as_index=False,
                                                                      method="coverage")
        smap.project(ax, rings).boundary.plot(ax=ax, color=rings["hotspot_class"].map(HOTSPOT_COLORS).to_numpy(),
                                              linewidth=1.6, zorder=3, path_effects=_HALO)
    else:
        colors = spots["hotspot_class"].map(HOTSPOT_COLORS).to_numpy()
        smap.fill_polygons(ax, spots, color=colors, edgecolor=colors, linewidth=1.0, zorder=3, path_effects=_HALO)
    present = [c for c in HOTSPOT_COLORS if (spots["hotspot_class"] == c).any()]
    return [(HOTSPOT_LABELS[c], HOTSPOT_COLORS[c]) for c in present]


def _open_points(ax, cases: gpd.GeoDataFrame, *, on_shading: bool = False) -> list[tuple[str, str]]:
    """Open cases as dots by traffic light; larger and dark-rimmed *on_shading* (the overdue counts)."""
    if "light" not in cases.columns:
        return []
    legend = []
    for light in ("green", "yellow", "red"):
        part = cases[cases["light"] == light]
        if len(part):
            size = 18 if on_shading else 9 if light == "red" else 5
            smap.project(ax, part).plot(ax=ax, color=LIGHT_COLORS[light], markersize=size, zorder=6,
                                        edgecolor="#333333" if on_shading else "white",
                                        linewidth=0.6 if on_shading else 0.3)
            legend.append((f"在办案件: {_LIGHT_LABELS[light]}", LIGHT_COLORS[light]))
    return legend


def _count_classes(max_count: int, n_classes: int = len(_OVERDUE_RAMP)) -> list[tuple[int, int]]:
    """Count classes ``(low, high)`` covering 1..*max_count*: 1, 2, 3–5, 6–10, 11–20, ... (1-2-5 steps), the last
    ending at *max_count*, thinned to at most *n_classes*.

    >>> _count_classes(1), _count_classes(4)
    ([(1, 1)], [(1, 1), (2, 2), (3, 4)])
    >>> _count_classes(13)
    [(1, 1), (2, 2), (3, 5), (6, 10), (11, 13)]
    >>> _count_classes(300)
    [(1, 1), (2, 5), (6, 20), (21, 100), (101, 300)]
    """
    uppers, step = [], 1
    while step < max_count:
        uppers += [b for b in (step, 2 * step, 5 * step) if b < max_count]
        step *= 10
    uppers.append(max_count)
    while len(uppers) > n_classes:
        uppers = uppers[:-1:2] + [uppers[-1]]
    lows = [1] + [u + 1 for u in uppers[:-1]]
    return list(zip(lows, uppers, strict=True))


def _count_level(ax, grid_map: gpd.GeoDataFrame) -> str:
    """The finest of grid, community, street whose typical area is at least ``_MIN_CELL_PX`` pixels across."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    box = ax.get_window_extent()
    metres_per_px = max((x1 - x0) / box.width, (y1 - y0) / box.height)  # equal aspect: the larger one rules
    area = smap.project(ax, grid_map.geometry).area  # in the map CRS, like the limits
    for level in ("grid", "community", "street"):
        key = f"{level}_code"
        if key not in grid_map.columns:
            continue
        typical = area.groupby(grid_map[key].to_numpy()).sum().median() if level != "grid" else area.median()
        if np.sqrt(typical) >= _MIN_CELL_PX * metres_per_px:
            return level
    return "street" if "street_code" in grid_map.columns else "grid"


def _overdue_areas(grid_map: gpd.GeoDataFrame, level: str,
                   dissolved: Mapping[str, gpd.GeoDataFrame] | None = None) -> gpd.GeoDataFrame:
    """The *level* areas (grid, community or street; ``<level>_code``, geometry) of *grid_map* with at least one
    overdue open case, and that number in ``overdue_cases``, sorted by code. ``dissolved[level]``, when given, is
    ``_dissolve(grid_map, level)`` (a street map has its communities' outlines already): its rows are taken
    instead of dissolving the same grids again."""
    key = f"{level}_code"
    counts = grid_map["overdue_cases"].fillna(0).astype("int64")
    if level == "grid":
        areas = grid_map.loc[counts > 0, [key, grid_map.geometry.name]].assign(overdue_cases=counts[counts > 0])
        return areas.sort_values(key).reset_index(drop=True)
    per_area = counts.groupby(grid_map[key].to_numpy()).sum()
    hit = per_area.index[per_area.to_numpy() > 0]
    if dissolved is not None and level in dissolved:
        areas = dissolved[level]
        areas = areas[areas[key].isin(hit).to_numpy()].reset_index(drop=True)
    else:
        areas = _dissolve(grid_map[grid_map[key].isin(hit)], level)
    return areas.assign(overdue_cases=per_area.reindex(areas[key].to_numpy()).to_numpy())


def _overdue_counts(ax, grid_map: gpd.GeoDataFrame, level: str,
                    dissolved: Mapping[str, gpd.GeoDataFrame] | None = None) -> list[tuple[str, str]]:
    """Shade the *level* areas of *grid_map* by their number of overdue open cases, a graduated colour;
    return the legend. *dissolved*: as for :func:`_overdue_areas`."""
    if "overdue_cases" not in grid_map.columns:
        return []
    areas = _overdue_areas(grid_map, level, dissolved)
    if not len(areas):
        return []
    counts = areas["overdue_cases"].to_numpy()
    classes = _count_classes(int(counts.max()))
    # fewer classes than colours: spread them over the whole ramp, light to dark (one class: a middle tone)
    pick = np.round(np.linspace(0, len(_OVERDUE_RAMP) - 1, len(classes))).astype(int) if len(classes) > 1 else [2]
    ramp = np.array(_OVERDUE_RAMP)[pick]
    which = np.searchsorted([high for _, high in classes], counts)
    edge = "none" if level == "grid" else "#ffffff"
    smap.fill_polygons(ax, areas, color=ramp[which], edgecolor=edge, linewidth=0.3, zorder=2)
    unit = _LEVEL_ZH[level]
    return [(f"超期案件 {low} 件/{unit}" if low == high else f"超期案件 {low}–{high} 件/{unit}", str(ramp[i]))
            for i, (low, high) in enumerate(classes) if (which == i).any()]


def _grids_and_cases(ax, grid_map: gpd.GeoDataFrame, cases: gpd.GeoDataFrame,
                     dissolved: Mapping[str, gpd.GeoDataFrame] | None = None) -> list[tuple[str, str]]:
    """The grids by hot/cold spot class and the open *cases* on them; return the legend. *dissolved*: as for
    :func:`_overdue_areas`.

    Up to ``_MAX_CASE_DOTS`` cases are dots coloured by traffic light. Above it the dots would bury each
    other and the map, so the overdue cases are counted per grid (per community or street when grids are too
    small to see) in a graduated colour, the significant hot/cold spots are drawn again above that shading,
    and only the few 临期 cases stay dots.
    """
    if "light" in cases.columns:
        cases = cases[cases["light"].notna()]
    if "light" not in cases.columns or len(cases) <= _MAX_CASE_DOTS:
        return _hotspot_fill(ax, grid_map) + _open_points(ax, cases)
    level = _count_level(ax, grid_map)
    counts = _overdue_counts(ax, grid_map, level, dissolved)
    if level == "grid":  # the hot/cold spot fill stays underneath, and their outlines show above the counts
        _significant_spots(ax, grid_map, outline=True)
        legend = _hotspot_fill(ax, grid_map) + counts
    else:  # coarser areas hide the grid fill: the significant grids are drawn above them
        legend = _significant_spots(ax, grid_map, outline=False) + counts + [("无超期案件", "#ffffff")]
    due_soon = cases[cases["light"] == "yellow"]
    return legend + (_open_points(ax, due_soon, on_shading=True) if len(due_soon) <= _MAX_CASE_DOTS else [])


def _finish(fig, ax, legend: list[tuple[str, str]], path: Path) -> None:
    smap.add_scale_bar(ax)
    smap.add_north_arrow(ax)
    smap.add_attribution(ax, ATTRIBUTION)
    if legend:
        smap.add_legend(ax, legend, title="图例", loc="outside")
    smap.save_png(fig, path)


def _overview(path: Path, layers: dict[str, Any], streets: gpd.GeoDataFrame, date: dt.date) -> None:
    grid_map = layers["grid_responsibility"]
    fig, ax = smap.new_map(grid_map, title=f"责任网格总览 · 近30日案件热点 · {date.isoformat()}")
    open_cases = layers["assigned_cases"]
    if "light" in open_cases.columns:  # the district picture shows the overdue cases only
        open_cases = open_cases[open_cases["light"] == "red"]
    legend = _grids_and_cases(ax, grid_map, open_cases)
    blind = layers.get("blind_spots")
    if blind is not None and len(blind):
        top = blind[blind["rank"] <= _PRIORITY_BLIND_SPOTS]
        smap.project(ax, top).plot(ax=ax, color=lg.BLIND_SPOT_COLOR, linewidth=2.2, zorder=4, path_effects=_HALO)
        legend.append((f"优先盲区道路 (前{_PRIORITY_BLIND_SPOTS})", lg.BLIND_SPOT_COLOR))
    smap.add_outlines(ax, streets, label_column="street_name", linewidth=1.6, fontsize=11)
    _finish(fig, ax, legend, path)


# each frame's rows per street, found once per frame by the process drawing the street maps (png_maps clears it):
# comparing a city's 756k street codes again for each of 43 streets cost more than the union of its communities
_STREET_ROWS: dict[int, tuple[pd.DataFrame, dict[Any, np.ndarray]]] = {}


def _street_rows(frame: pd.DataFrame, code: Any) -> pd.DataFrame:
    """The rows of *frame* whose ``street_code`` is *code*, in order: ``frame[frame["street_code"] == code]``."""
    if id(frame) not in _STREET_ROWS:  # the frame is kept with its positions, so its id is not reused meanwhile
        _STREET_ROWS[id(frame)] = (frame, frame.groupby("street_code", sort=False, dropna=True).indices)
    rows = _STREET_ROWS[id(frame)][1].get(code)
    return frame.iloc[rows if rows is not None else np.empty(0, dtype=np.int64)]


def _street_map(path: Path, layers: dict[str, Any], grids: gpd.GeoDataFrame, street: pd.Series,
                date: dt.date) -> None:
    grid_map = layers["grid_responsibility"]
    mine = _street_rows(grid_map, street["street_code"])
    fig, ax = smap.new_map(mine, title=f"{street['street_name']} ({street['street_code']}) 责任网格 · {date.isoformat()}")
    cases = layers["assigned_cases"]
    # the grid map's rows are the grids' (same geometries, codes and names): their communities are dissolved once,
    # for the outlines and for the overdue counts per community
    comms = _dissolve(_street_rows(grids, street["street_code"]), "community")
    legend = _grids_and_cases(ax, mine, _street_rows(cases, street["street_code"]), {"community": comms})
    smap.add_outlines(ax, comms, label_column="community_name", linewidth=1.0, fontsize=8, color="#444444")
    smap.add_outlines(ax, gpd.GeoDataFrame(geometry=[street.geometry], crs=grids.crs), linewidth=2.0)
    _finish(fig, ax, legend, path)


def _fmt(values: pd.Series, kind: str) -> pd.Series:
    """Format a column for a tooltip; missing values become "—" (never undefined/NaN/null)."""
    missing = values.isna()
    if kind == "pct":
        out = (pd.to_numeric(values, errors="coerce") * 100).round(0).map("{:.0f}%".format)
    elif kind == "min":
        out = pd.to_numeric(values, errors="coerce").round(1).map("{:g} 分钟".format)
    elif kind == "m":
        out = pd.to_numeric(values, errors="coerce").round(0).map("{:.0f} 米".format)
    elif kind == "bool":
        out = values.map(lambda v: "是" if bool(v) else "否")
    elif kind == "int":
        out = pd.to_numeric(values, errors="coerce").map("{:.0f}".format)
    elif kind == "time":
        out = pd.to_datetime(values, errors="coerce").dt.strftime("%Y-%m-%d %H:%M")
    else:
        out = values.astype(str)
    out = out.astype(object)
    out[missing.to_numpy() | out.isin(["nan", "NaN", "None", "<NA>", "NaT"]).to_numpy()] = "—"
    return out.map(html.escape)


def _tips(frame: pd.DataFrame, title: tuple[str, str], fields: list[tuple[str, str, str]]) -> pd.Series:
    """One HTML tooltip per row: ``<b>title</b>`` then ``label: value`` lines for the columns present."""
    label, column = title
    tip = f"<b>{html.escape(label)} </b>" + _fmt(frame[column], "text") if column in frame.columns else pd.Series(
        f"<b>{html.escape(label)}</b>", index=frame.index)
    for name, col, kind in fields:
        if col in frame.columns:
            tip = tip + f"<br>{html.escape(name)}: " + _fmt(frame[col], kind)
    return tip.astype(str)


def _class_labels(cases: pd.DataFrame) -> pd.Series:
    """Each case's class code with its catalogue name beside it (``06012 道路不洁``), by kind and edition."""
    names = pd.concat([catalogue(e)[["kind", "class_code", "name_zh"]] for e in EDITIONS], ignore_index=True)
    names = names.drop_duplicates(["kind", "class_code"])
    keys = pd.DataFrame({"kind": cases["kind"].astype(str).to_numpy() if "kind" in cases.columns else "event",
                         "class_code": cases["class_code"].astype(str).to_numpy()})
    found = keys.merge(names, on=["kind", "class_code"], how="left")["name_zh"].fillna("").astype(str)
    return pd.Series((keys["class_code"] + " " + found).str.strip().to_numpy(), index=cases.index)


# the tooltip lines of the small layers, the same on both web maps
_VIOLATION_FIELDS = [("车辆", "vehicle_id", "text"), ("公司", "company", "text"), ("开始", "start", "time"),
                     ("结束", "end", "time"), ("案件", "case_id", "text"), ("网格", "grid_code", "text")]
_CASE_FIELDS = [("类别", "class_label", "text"), ("状态", "light_label", "text"), ("上报时间", "reported_at", "time"),
                ("网格", "grid_code", "text"), ("街道", "street_name", "text"), ("责任单位", "responsible_unit", "text")]
_BLIND_FIELDS = [("长度", "length_m", "m"), ("优先级排名", "rank", "int")]


def _violation_layers(layers: dict[str, Any]) -> list[Any]:
    """Violation tracks as lines and the violations without a track (stops) as points, by type."""
    v = layers.get("violations")
    if v is None or not len(v):
        return []
    v = v.copy()
    v["type_label"] = v["type"].map(lg.VIOLATION_TYPE_LABELS).fillna(v["type"])
    v["_tip"] = _tips(v, ("渣土车违规", "type_label"), _VIOLATION_FIELDS)
    tracks = layers.get("violation_tracks")
    out = []
    has_track = pd.Series(False, index=v.index)
    if tracks is not None and len(tracks):
        tracks = tracks[["violation_id", tracks.geometry.name]].merge(
            v[["violation_id", "type", "_tip"]], on="violation_id", how="left")
        out.append(deck.line_layer(tracks, color="type", colors=lg.VIOLATION_TYPE_COLORS, width_px=3,
                                   id="truck_violations", columns=["_tip"]))
        has_track = v["violation_id"].isin(tracks["violation_id"])
    if (~has_track).any():
        out.append(deck.point_layer(v[~has_track.to_numpy()], color="type", colors=lg.VIOLATION_TYPE_COLORS,
                                    radius_px=6, id="truck_stops", columns=["_tip"]))
    return out


def _grid_fields(grid_map: pd.DataFrame, results: NightlyResults) -> list[tuple[str, str, str]]:
    """The grid tooltip's lines (label, column, kind) of both web maps; ``class`` is the hotspot class."""
    fields = [("街道", "street_name", "text"), ("社区", "community_name", "text"),
              ("责任单位", "responsible_unit", "text"), ("责任人", "person", "text"), ("执法队", "team", "text"),
              ("在办案件", "open_cases", "int"), ("超期案件", "overdue_cases", "int"),
              ("近30日案件", "cases_30d", "int"), ("热点", "hotspot_class", "class"),
              ("摄像头道路覆盖", "camera_road_share", "pct")]
    minutes, reach = results.options.reach_minutes, results.options.reach_column
    if reach in grid_map.columns:
        fields.append((f"{minutes:g}分钟可达", reach, "bool"))
    return fields


def _edition_tiles(grids: gpd.GeoDataFrame, edition: dict[str, Any], cache: Path,
                   grids_digest: str | None = None) -> Path:
    """The grid edition's tile archives in ``cache/<edition>-<digest>/``, built only when missing.

    The geometry changes with the edition only, so the tiles (tens of seconds for a city) are built once and
    reused every night; the folder appears by one atomic rename, so a killed build leaves no half archive.
    *grids_digest* is the grids' :func:`frame_digest` when the run has it already (a city's: 1.7 s to work out).
    """
    if grids_digest is None:
        grids_digest = frame_digest(grids)
    digest = grids_digest[:16]
    name = re.sub(r"[^0-9A-Za-z_.-]", "_", str(edition.get("edition_id") or "edition"))
    folder = cache / f"{name}-{digest}"
    if not folder.is_dir():
        with edition_cache_build(cache, folder.name) as tmp:
            build_grid_tiles(grids, tmp)
    return folder


def _tiled_overlays(layers: dict[str, Any], results: NightlyResults) -> list[Overlay]:
    """The self-contained map's small layers for the tiled page: open cases, blind-spot roads (off at first),
    truck violation tracks and stops, team bases; with the same tooltips and legend rows."""
    out = []
    blind = layers.get("blind_spots")
    if blind is not None and len(blind):
        out.append(Overlay("blind_spots", "摄像头盲区道路", blind, ("摄像头盲区道路", "name"), _BLIND_FIELDS,
                           color=lg.BLIND_SPOT_COLOR, size=3, visible=False,
                           legend={"摄像头盲区道路 (默认隐藏)": lg.BLIND_SPOT_COLOR}))
    v = layers.get("violations")
    if v is not None and len(v):
        v = v.assign(type_label=v["type"].map(lg.VIOLATION_TYPE_LABELS).fillna(v["type"]))
        tracks = layers.get("violation_tracks")
        tracks = tracks if tracks is not None else v.iloc[:0]
        tracks = tracks[["violation_id", tracks.geometry.name]].merge(
            pd.DataFrame(v.drop(columns=v.geometry.name)), on="violation_id", how="left")
        shown = set(v["type"])
        legend = {f"渣土车: {label}": lg.VIOLATION_TYPE_COLORS[k] for k, label in lg.VIOLATION_TYPE_LABELS.items()
                  if k in shown}
        style = dict(title=("渣土车违规", "type_label"), fields=_VIOLATION_FIELDS, color="#888888",
                     color_column="type", colors=lg.VIOLATION_TYPE_COLORS)
        if len(tracks):
            out.append(Overlay("truck_violations", "渣土车违规轨迹", tracks, size=3, legend=legend, **style))
        stops = v[~v["violation_id"].isin(tracks["violation_id"]).to_numpy()]
        if len(stops):
            out.append(Overlay("truck_stops", "渣土车违规停留", stops, size=6, legend={} if len(tracks) else legend,
                               **style))
    cases = layers["assigned_cases"]
    if "light" in cases.columns and cases["light"].notna().any():
        open_cases = cases[cases["light"].notna()]
        open_cases = open_cases.assign(light_label=open_cases["light"].map(_LIGHT_LABELS),
                                       class_label=_class_labels(open_cases))
        out.append(Overlay("open_cases", "在办案件", open_cases, ("案件", "case_id"), _CASE_FIELDS, color="#888888",
                           color_column="light", colors=LIGHT_COLORS, size=4,
                           legend={f"在办: {_LIGHT_LABELS[k]}": c for k, c in LIGHT_COLORS.items()}))
    bases = results.inputs.team_bases
    if bases is not None and len(bases):
        out.append(Overlay("team_bases", "执法队驻点", bases, ("执法队驻点", "name"), [("编号", "base_id", "text")],
                           color="#000000", size=7))
    return out


def _tiled_web_map(folder: Path, layers: dict[str, Any], results: NightlyResults, date: dt.date,
                   cache: Path | None) -> None:
    """The city web map: every grid from the edition's vector tiles (linked from ``cache``, built once per
    edition) and tonight's per-grid attributes, joined by grid code in the browser (gridlib.maps.tiled)."""
    grids = results.gridset.grids
    folder.mkdir()
    source = (_edition_tiles(grids, results.gridset.edition, cache, results.grids_digest) if cache is not None
              else None)
    if source is None:
        build_grid_tiles(grids, folder)
    else:
        # and the deck.gl bundle, written once beside the edition's tiles (named by its content)
        for archive in [*sorted(source.glob("*.pmtiles")), deck_script(source)]:
            try:
                os.link(archive, folder / archive.name)  # no copy: the products keep the edition's bytes
            except OSError:
                shutil.copyfile(archive, folder / archive.name)
    grid_map = layers["grid_responsibility"]
    fields = [f for f in _grid_fields(grid_map, results) if f[1] in grid_map.columns]
    texts = [c for _, c, kind in fields if kind in ("text", "class")]
    write_grid_attributes(grid_map, folder / "grid_attributes.bin", [c for _, c, _ in fields], dictionary=texts,
                          compress=True, binary=True)
    tiled_page(folder, attributes="grid_attributes.bin", title=f"责任网格地图 · {date.isoformat()}", fields=fields,
               attribution=ATTRIBUTION, overlays=_tiled_overlays(layers, results))


def _web_map(path: Path, layers: dict[str, Any], streets: gpd.GeoDataFrame, results: NightlyResults,
             date: dt.date) -> None:
    grid_map = _informative(layers["grid_responsibility"]).copy()
    grid_map["hotspot_label"] = grid_map["hotspot_class"].map(HOTSPOT_LABELS).fillna("不显著")
    grid_fields = [(label, "hotspot_label" if kind == "class" else col, "text" if kind == "class" else kind)
                   for label, col, kind in _grid_fields(grid_map, results)]
    grid_map["_tip"] = _tips(grid_map, ("网格", "grid_code"), grid_fields)
    web_layers = [
        deck.polygon_layer(grid_map, fill_color="hotspot_class", colors=HOTSPOT_COLORS, opacity=0.55,
                           id="grids", line_color="#999999", line_width_px=0.5, columns=["_tip"]),
    ]
    roads = results.inputs.roads
    if roads is not None and len(roads):
        web_layers.append(deck.line_layer(roads[[roads.geometry.name]], color="#9e9e9e", width_px=1, id="roads",
                                          pickable=False, columns=[]))
    if "blind_spots" in layers and len(layers["blind_spots"]):
        blind = layers["blind_spots"].copy()
        blind["_tip"] = _tips(blind, ("摄像头盲区道路", "name"), _BLIND_FIELDS)
        web_layers.append(deck.line_layer(blind, color=lg.BLIND_SPOT_COLOR, width_px=3, id="blind_spots", columns=["_tip"]))
    if "camera_viewsheds" in layers and len(layers["camera_viewsheds"]):
        views = layers["camera_viewsheds"].copy()
        views["_tip"] = _tips(views, ("摄像头视域", "camera_id"), [])
        web_layers.append(deck.polygon_layer(views, fill_color=lg.VIEWSHED_COLOR, opacity=0.25,
                                             id="camera_viewsheds", line_width_px=0.3, columns=["_tip"]))
    web_layers += _violation_layers(layers)
    cases = layers["assigned_cases"]
    if "light" in cases.columns:
        open_cases = cases[cases["light"].notna()].copy()
        if len(open_cases):
            open_cases["light_label"] = open_cases["light"].map(_LIGHT_LABELS)
            open_cases["class_label"] = _class_labels(open_cases)
            open_cases["_tip"] = _tips(open_cases, ("案件", "case_id"), _CASE_FIELDS)
            web_layers.append(deck.point_layer(open_cases, color="light", colors=LIGHT_COLORS, radius_px=4,
                                               id="open_cases", columns=["_tip"]))
    bases = results.inputs.team_bases
    if bases is not None and len(bases):
        bases = bases.copy()
        bases["_tip"] = _tips(bases, ("执法队驻点", "name"), [("编号", "base_id", "text")])
        web_layers.append(deck.point_layer(bases, color="#000000", radius_px=7, id="team_bases", columns=["_tip"]))
    web_layers.append(deck.line_layer(streets, color="#222222", width_px=2.5, id="streets", pickable=False,
                                      columns=[]))
    shown_ids = {x.id for x in web_layers}
    legend = {HOTSPOT_LABELS[k]: v for k, v in HOTSPOT_COLORS.items()}
    # a store without cameras has neither layer: no legend rows for them and nothing to hide
    if "blind_spots" in shown_ids:
        legend["摄像头盲区道路 (默认隐藏)"] = lg.BLIND_SPOT_COLOR
    if "camera_viewsheds" in shown_ids:
        legend["摄像头视域"] = lg.VIEWSHED_COLOR
    if len(layers.get("violations", [])):
        shown = set(layers["violations"]["type"])
        legend.update({f"渣土车: {label}": lg.VIOLATION_TYPE_COLORS[k]
                       for k, label in lg.VIOLATION_TYPE_LABELS.items() if k in shown})
    legend.update({f"在办: {_LIGHT_LABELS[k]}": v for k, v in LIGHT_COLORS.items()})
    if bases is not None and len(bases):
        legend["执法队驻点"] = "#000000"
    names = {"grids": "网格 (热点)", "roads": "道路", "blind_spots": "摄像头盲区道路", "camera_viewsheds": "摄像头视域",
             "truck_violations": "渣土车违规轨迹", "truck_stops": "渣土车违规停留", "open_cases": "在办案件", "team_bases": "执法队驻点", "streets": "街道边界"}
    deck.to_html(web_layers, path, f"责任网格地图 · {date.isoformat()}", tooltip="{_tip}", legend=legend,
                 attribution=ATTRIBUTION, layer_names={k: v for k, v in names.items() if k in shown_ids},
                 hidden=sorted({"blind_spots"} & shown_ids))


def map_processes(n_maps: int) -> int:
    """How many processes draw the PNG maps while the products step writes the rest: ``0`` draws them in this
    process. Two where this platform forks, this process may have children (it is not a daemon) and two CPUs are
    free for it (``GRIDLIB_NIGHTLY_PROCESSES`` sets the number; ``0`` turns it off), never more than there are maps.

    >>> import os
    >>> os.environ["GRIDLIB_NIGHTLY_PROCESSES"] = "0"
    >>> map_processes(44)
    0
    >>> del os.environ["GRIDLIB_NIGHTLY_PROCESSES"]
    """
    wanted = os.environ.get("GRIDLIB_NIGHTLY_PROCESSES")
    if wanted is not None:
        n = int(wanted)
    else:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        n = 2 if cpus >= 2 else 0
    if "fork" not in mp.get_all_start_methods() or mp.current_process().daemon:  # a daemon may have no children
        n = 0
    return max(0, min(n, n_maps))


# what forked map processes draw from: set before they are forked, inherited (never pickled), cleared after
_TO_DRAW: dict[str, Any] = {}

#: The columns of ``grid_responsibility`` the PNG maps read (besides the geometry).
_DRAWN_GRID_COLUMNS = ("grid_code", "community_code", "community_name", "street_code", "street_name",
                       "district_code", "district_name", "hotspot_class", "open_cases", "overdue_cases")


def _for_drawing(layers: dict[str, Any]) -> dict[str, Any]:
    """The layers as the PNG maps read them: the grid map with only the columns they draw from, and only the open
    cases (the maps draw no other), with their street, light and point. Each street's map selects its rows from
    these (a city's 736k grids x 24 columns and 300k cases x 30 columns were taken again for each of 43 streets);
    the rows and their order are those of the full layers, so the pictures are the same."""
    out = dict(layers)
    grid_map = layers["grid_responsibility"]
    out["grid_responsibility"] = grid_map[[c for c in grid_map.columns
                                           if c in _DRAWN_GRID_COLUMNS or c == grid_map.geometry.name]]
    cases = layers["assigned_cases"]
    if "light" in cases.columns:
        keep = [c for c in cases.columns if c in ("street_code", "light") or c == cases.geometry.name]
        out["assigned_cases"] = cases.loc[cases["light"].notna().to_numpy(), keep]
    return out


def _draw(job: int) -> None:
    """Draw one PNG: ``-1`` the overview, ``i`` the street in row *i* of the streets frame."""
    s = _TO_DRAW
    if job < 0:
        _overview(s["maps"] / "overview.png", s["layers"], s["streets"], s["date"])
    else:
        street = s["streets"].iloc[job]
        _street_map(s["maps"] / f"street_{street['street_code']}.png", s["layers"], s["grids"], street, s["date"])
    plt.close("all")


def _draw_forked(job: int) -> None:
    """:func:`_draw` in a map process, which then gives back what the map freed (its figure's cycles, then the
    free memory: :func:`~gridlib.nightly.forks.release_free_memory`), so that its memory stays that of one map,
    not of all it drew. Its collections are cheap: the objects it inherited are frozen (fork_safe)."""
    _draw(job)
    gc.collect()
    release_free_memory()


@contextmanager
def png_maps(work: Path, layers: dict[str, pd.DataFrame], grids: gpd.GeoDataFrame, streets: gpd.GeoDataFrame,
             date: dt.date) -> Iterator[None]:
    """Draw ``maps/overview.png`` and one ``maps/street_<code>.png`` per street while the body runs.

    Above one street the maps are drawn by :func:`map_processes` forked processes (largest streets first), which
    inherit the layers without a copy, so the products step's other writers (GeoPackage, tables, web map) use the
    other core meanwhile; each PNG's bytes do not depend on where it was drawn. Otherwise, when another thread
    lives (:func:`~gridlib.nightly.forks.fork_safe`) or when the processes cannot start, they are drawn here after
    the body. An error in any map is raised here.
    """
    maps_dir = work / "maps"
    maps_dir.mkdir()
    sizes = grids["street_code"].value_counts() if "street_code" in grids.columns else pd.Series(dtype="int64")
    size = sizes.reindex(streets["street_code"].to_numpy()).fillna(0).to_numpy()
    jobs = [-1, *np.argsort(-size, kind="stable").tolist()]
    _TO_DRAW.update(maps=maps_dir, layers=_for_drawing(layers), grids=grids, streets=streets, date=date)
    try:
        n = map_processes(len(jobs)) if len(streets) > 1 else 0
        pool, futures = None, []
        if n:
            with fork_safe("nightly PNG maps") as safe:
                try:
                    if safe:
                        pool = ProcessPoolExecutor(n, mp_context=mp.get_context("fork"))
                        futures = [pool.submit(_draw_forked, job) for job in jobs]  # the processes fork at the first one
                except OSError as exc:  # no memory or processes left to fork: draw them here
                    log.warning("PNG maps drawn in this process: could not start %d map processes (%s)", n, exc)
                    if pool is not None:
                        pool.shutdown(wait=True, cancel_futures=True)
                    pool, futures = None, []
        try:
            yield
            if futures:
                # what the body freed is given back while the maps are drawn: its allocations went into pages this
                # process shares with the map processes (and the GeoPackage writer), each one a private copy now
                release_free_memory()
            for f in futures:
                f.result()
        except BaseException:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            raise
        if pool is None:
            for job in jobs:
                _draw(job)
        else:
            pool.shutdown(wait=True)
    finally:
        _TO_DRAW.clear()
        _STREET_ROWS.clear()


def write_maps(work: Path, layers: dict[str, pd.DataFrame], results: NightlyResults, *, date: dt.date,
               streets: gpd.GeoDataFrame | None = None, pngs: bool = True) -> None:
    """Write ``maps/overview.png``, ``maps/street_<code>.png``, ``webmap.html`` and ``index.html``.

    Above ``_MAX_DRAWN_GRIDS`` grids (a city) the web map is the folder ``webmap/`` instead: the edition's
    vector tiles, tonight's per-grid attributes and a small page joining them (:func:`_tiled_web_map`).
    With ``pngs=False`` the PNG maps are left to the caller (:func:`png_maps`, given the same *streets*).
    """
    grids = results.gridset.grids
    # a city's web map is tiled (webmap/index.html, served over HTTP); a district's is one self-contained page
    tiled = len(grids) > _MAX_DRAWN_GRIDS
    web = ("交互式网页地图 (需 HTTP 服务: python -m gridlib.maps.serve)", "webmap/index.html") if tiled else (
        "交互式网页地图 (web map)", "webmap.html")
    links = [web, ("总览图 (overview)", "maps/overview.png")]
    if streets is None:
        streets = street_outlines(grids)
    if pngs:
        with png_maps(work, layers, grids, streets, date):
            pass
    for code, name in zip(streets["street_code"], streets["street_name"], strict=True):
        links.append((f"{name} ({code})", f"maps/street_{code}.png"))
    if tiled:
        # products are written in out_dir/.runs/<run> (nightly.outputs.atomic_products_dir): the edition's tiles
        # are kept beside the runs, in out_dir/.runs/tiles, and reused while the edition is unchanged
        cache = work.parent / TILE_CACHE if work.parent.name == ".runs" else None
        _tiled_web_map(work / "webmap", layers, results, date, cache)
    else:
        _web_map(work / "webmap.html", layers, streets, results, date)
    street_mtd = results.tables["kpi_street_month_to_date"]
    names = dict(zip(streets["street_code"].astype(str), streets["street_name"].astype(str), strict=True))
    counts = {
        "网格数": len(grids),
        "当日新案件": int((layers["assigned_cases"]["reported_at"] >= pd.Timestamp(date)).sum()),
        "在办案件": int(layers["assigned_cases"].get("light", pd.Series(dtype=object)).notna().sum()),
        "拒收记录": len(layers["rejects"]),
        "渣土车违规": len(layers.get("violations", [])),
    }
    (work / "index.html").write_text(kpi_summary_html(street_mtd, names, links, date, counts), encoding="utf-8")


def kpi_summary_html(street_mtd: pd.DataFrame, street_names: dict[str, str], maps: list[tuple[str, str]],
                     date: dt.date, manifest_counts: Mapping[str, object]) -> str:
    """The KPI summary page linking the maps (self-contained HTML, no scripts).

    Examples
    --------
    >>> import datetime as dt, pandas as pd
    >>> mtd = pd.DataFrame({"street_code": ["310115004"], "filed": [120], "disposed": [110], "closed": [100],
    ...     "due_closure": [0], "disposal_rate": [0.9167], "closure_rate": [float("nan")]})
    >>> page = kpi_summary_html(mtd, {"310115004": "陆家嘴街道"}, [("总览", "maps/overview.png")],
    ...                         dt.date(2026, 11, 20), {"在办案件": 7})
    >>> "陆家嘴街道" in page, "91.67%" in page, '<a href="maps/overview.png">总览</a>' in page, "<script" in page
    (True, True, True, False)
    """
    rate_cols = [("disposal_rate", "处置率"), ("ontime_disposal_rate", "按期处置率"), ("closure_rate", "结案率"),
                 ("ontime_closure_rate", "按期结案率"), ("rework_rate", "返工率")]
    count_cols = [("filed", "立案数"), ("disposed", "处置数"), ("closed", "结案数"), ("due_closure", "应结案数")]
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label in count_cols + rate_cols)
    rows = []
    for _, row in street_mtd.iterrows():
        code = str(row.get("street_code", ""))
        cells = [f"<td>{html.escape(street_names.get(code, code))}<br><small>{html.escape(code)}</small></td>"]
        cells += [f"<td class=n>{int(row[c]) if pd.notna(row.get(c)) else '–'}</td>" for c, _ in count_cols]
        cells += [f"<td class=n>{row[c] * 100:.2f}%</td>" if pd.notna(row.get(c)) else "<td class=n>–</td>"
                  for c, _ in rate_cols]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    links = "".join(f'<li><a href="{html.escape(href)}">{html.escape(label)}</a></li>' for label, href in maps)
    facts = "".join(f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>" for k, v in manifest_counts.items())
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>责任网格日报 {date.isoformat()}</title>
<style>body{{font-family:'Noto Sans CJK SC','Noto Sans SC','Microsoft YaHei',sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px}}th{{background:#f0f0f0}}
td.n{{text-align:right}}small{{color:#777}}</style></head><body>
<h1>数字化城市管理 责任网格日报 · {date.isoformat()}</h1>
<h2>地图</h2><ul>{links}</ul>
<h2>本月累计指标（按街道）</h2>
<table><thead><tr><th>街道</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>
<h2>本次运行</h2><ul>{facts}</ul>
<p><small>{html.escape(ATTRIBUTION)}. 比率为空表示分母为 0。详见 manifest.json。</small></p>
</body></html>
"""
