"""Coverage and reachability maps: static PNG (matplotlib) and pydeck layers.

>>> import geopandas as gpd
>>> from shapely import LineString, Point, box
>>> from gridlib.coverage import road_coverage, viewsheds
>>> cams = gpd.GeoDataFrame({"camera_id": ["a"], "heading": [90.0], "fov": [90.0], "range_m": [60.0]},
...                         geometry=[Point(121.50, 31.24)], crs=4326)
>>> vs = viewsheds(cams)
>>> roads = gpd.GeoDataFrame({"highway": ["primary"]}, crs=4326,
...                          geometry=[LineString([(121.499, 31.24), (121.502, 31.24)])])
>>> fig = coverage_map(road_coverage(vs, roads), vs, cams)
>>> import matplotlib.pyplot as plt; plt.close(fig)
"""

from __future__ import annotations

import os

import geopandas as gpd
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from gridlib.coverage.roads import road_weights
from gridlib.maps import deck, static

__all__ = ["coverage_map", "reachability_map", "coverage_layers", "reachability_layers", "COLORS",
           "COVERAGE_LEGEND", "reach_legend"]

COLORS = {
    "k1": "#41ab5d", "k2": "#00441b", "blind": "#e31a1c", "ignored": "#bdbdbd", "viewshed": "#6baed6",
    "building": "#d9d9d9", "camera": "#08306b", "priority": "#7a0177", "base": "#000000",
    "proposed": "#fd8d3c",
}
OSM = "© OpenStreetMap contributors (ODbL)"
#: legend of :func:`coverage_layers` for :func:`gridlib.maps.to_html`
COVERAGE_LEGEND = {
    "道路 ≥2 台可见 seen by ≥2": COLORS["k2"], "道路 1 台可见 seen by 1": COLORS["k1"],
    "盲区道路 blind road": COLORS["blind"], "优先盲区 priority blind spot": COLORS["priority"],
    "摄像头视域 viewshed": COLORS["viewshed"], "摄像头 camera": COLORS["camera"],
}
#: minutes → colour bins for the reachability map (last bin: beyond the limit)
_TIME_BINS = [(2, "#006837"), (4, "#31a354"), (6, "#78c679"), (8, "#c2e699"), (10, "#ffffcc")]


def _time_colors(t: np.ndarray, minutes: float) -> np.ndarray:
    colors = np.full(len(t), "#de2d26", dtype=object)  # beyond the limit (or unreachable)
    for upper, c in reversed(_TIME_BINS):
        colors[t <= min(upper, minutes)] = c
    return colors


def _road_class(pieces: gpd.GeoDataFrame) -> pd.Series:
    w = road_weights(pieces)
    k = pieces["k"].to_numpy()
    return pd.Series(np.where(w <= 0, "ignored", np.where(k >= 2, "k2", np.where(k == 1, "k1", "blind"))),
                     index=pieces.index)


def coverage_map(
    pieces: gpd.GeoDataFrame,
    viewsheds: gpd.GeoDataFrame | None = None,
    cameras: gpd.GeoDataFrame | None = None,
    *,
    priority: gpd.GeoDataFrame | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    grids: gpd.GeoDataFrame | None = None,
    proposed: gpd.GeoDataFrame | None = None,
    proposed_viewsheds: gpd.GeoDataFrame | None = None,
    top: int = 10,
    title: str = "摄像头覆盖与盲区 Camera coverage and blind spots",
    attribution: str = OSM,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Camera sectors, road pieces by coverage (k), blind spots and the top priority blind spots.

    *grids* with a ``blind`` column (from :func:`gridlib.coverage.grid_coverage`) are tinted
    where blind; *proposed* cameras (from :func:`gridlib.coverage.place`, with ``rank``) are
    drawn as numbered stars with their viewsheds in orange. Returns the Figure (its axes are
    ``fig.axes[0]``); with *path* the PNG is also written there (:func:`gridlib.maps.save_png`,
    which closes the figure). Unpacking it as the 0.x ``(fig, ax)`` still works and warns.

    Examples
    --------
    >>> import os, tempfile, geopandas as gpd
    >>> from shapely import LineString, Point
    >>> from gridlib.coverage import road_coverage, viewsheds
    >>> from gridlib.maps import save_png
    >>> cams = gpd.GeoDataFrame({"camera_id": ["c1"], "heading": [90.0], "fov": [60.0], "range_m": [80.0]},
    ...                         geometry=[Point(121.50, 31.24)], crs=4326).to_crs(4550)
    >>> road = gpd.GeoDataFrame({"name": ["r"]}, geometry=[LineString([(121.499, 31.24), (121.503, 31.24)])],
    ...                         crs=4326).to_crs(4550)
    >>> vs = viewsheds(cams)
    >>> pieces = road_coverage(vs, road)            # blind, seen once, blind
    >>> pieces["k"].tolist(), pieces["length_m"].round().tolist()
    ([0, 1, 0], [95.0, 80.0, 206.0])
    >>> png = os.path.join(tempfile.mkdtemp(), "coverage.png")
    >>> fig = coverage_map(pieces, vs, cams, path=png)
    >>> os.path.getsize(png) > 10_000, len(fig.axes) >= 1
    (True, True)
    """
    fig, ax = static.new_map(pieces, title=title, figsize=(11, 10))
    if grids is not None and len(grids):
        g = static.project(ax, grids)
        g.boundary.plot(ax=ax, color="#9e9ac8", linewidth=0.3, zorder=1)
        if "blind" in g.columns and g["blind"].any():
            g[g["blind"].astype(bool)].plot(ax=ax, facecolor="#fee0d2", edgecolor="none", alpha=0.5, zorder=0.5)
    if buildings is not None and len(buildings):
        static.project(ax, buildings).plot(ax=ax, color=COLORS["building"], linewidth=0, zorder=2)
    if viewsheds is not None and len(viewsheds):
        v = static.project(ax, viewsheds)
        v = v[~v.geometry.is_empty]
        v.plot(ax=ax, facecolor=COLORS["viewshed"], edgecolor="#2171b5", alpha=0.45, linewidth=0.4, zorder=3)
    p = static.project(ax, pieces)
    cls = _road_class(p)
    widths = {"ignored": 0.5, "blind": 1.3, "k1": 1.6, "k2": 2.0}
    for name in ("ignored", "blind", "k1", "k2"):
        part = p[cls == name]
        if len(part):
            part.plot(ax=ax, color=COLORS[name], linewidth=widths[name], zorder=4)
    if priority is not None and len(priority):
        pr = static.project(ax, priority).sort_values("rank").head(top)
        pr.plot(ax=ax, color=COLORS["priority"], linewidth=4.0, zorder=5)
        mid = pr.geometry.interpolate(0.5, normalized=True)
        gap = 0.025 * (ax.get_xlim()[1] - ax.get_xlim()[0])
        placed: list = []
        for r, pt in zip(pr["rank"], mid, strict=True):  # at most `top` labels; skip ones that would overlap
            if any(pt.distance(q) < gap for q in placed):
                continue
            placed.append(pt)
            ax.annotate(str(r), (pt.x, pt.y), fontsize=8, color="white", ha="center", va="center", zorder=7,
                        bbox={"boxstyle": "circle,pad=0.2", "facecolor": COLORS["priority"], "edgecolor": "none"})
    if cameras is not None and len(cameras):
        c = static.project(ax, cameras)
        ax.scatter(c.geometry.x, c.geometry.y, s=9, color=COLORS["camera"], zorder=6, linewidths=0)
    if proposed_viewsheds is not None and len(proposed_viewsheds):
        static.project(ax, proposed_viewsheds).plot(ax=ax, facecolor=COLORS["proposed"], edgecolor=COLORS["proposed"],
                                                    alpha=0.35, linewidth=0.5, zorder=3.5)
    if proposed is not None and len(proposed):
        pp = static.project(ax, proposed)
        ax.scatter(pp.geometry.x, pp.geometry.y, marker="*", s=130, color=COLORS["proposed"], edgecolors="black",
                   linewidths=0.6, zorder=8)
        if "rank" in pp.columns:
            for r, pt in zip(pp["rank"], pp.geometry, strict=True):  # at most the placement budget
                ax.annotate(str(r), (pt.x, pt.y), xytext=(5, 5), textcoords="offset points", fontsize=8, zorder=9,
                            color="#7f2704")
    share = pieces.loc[cls != "ignored", "length_m"]
    seen = pieces.loc[cls.isin(["k1", "k2"]), "length_m"].sum() / max(share.sum(), 1e-9)
    legend = {
        "道路 ≥2 台可见 seen by ≥2": COLORS["k2"],
        "道路 1 台可见 seen by 1": COLORS["k1"],
        "盲区道路 blind road": COLORS["blind"],
        "摄像头视域 viewshed": COLORS["viewshed"],
    }
    if priority is not None and len(priority):
        legend[f"优先盲区 priority blind (top {min(top, len(priority))})"] = COLORS["priority"]
    if grids is not None and "blind" in grids.columns:
        legend["盲区网格 blind grid"] = "#fee0d2"
    if proposed is not None and len(proposed):
        legend[f"建议新增 proposed cameras ({len(proposed)})"] = COLORS["proposed"]
    static.add_legend(ax, legend, title=f"道路覆盖率 road seen {seen:.0%}")
    static.add_scale_bar(ax)
    static.add_north_arrow(ax)
    static.add_attribution(ax, attribution)
    return _finish(fig, ax, path, "coverage_map")


def reachability_map(
    reach: gpd.GeoDataFrame,
    bases: gpd.GeoDataFrame,
    *,
    roads: gpd.GeoDataFrame | None = None,
    isochrones: gpd.GeoDataFrame | None = None,
    minutes: float = 10.0,
    title: str = "10 分钟到达 Response reachability",
    attribution: str = OSM,
    path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Grids coloured by network time from the nearest base; outside *minutes* in red.

    *reach* is :func:`gridlib.network.reachability` output. Returns the Figure; with *path* the PNG
    is also written there (as :func:`coverage_map`; the 0.x ``(fig, ax)`` unpacking warns).

    >>> import geopandas as gpd
    >>> from shapely import Point, box
    >>> r = gpd.GeoDataFrame({"time_min": [3.0, 12.0], "nearest_base": ["b", "b"]},
    ...                      geometry=[box(0, 0, 100, 100), box(100, 0, 200, 100)], crs=4547)
    >>> b = gpd.GeoDataFrame({"base_id": ["b"]}, geometry=[Point(10, 10)], crs=4547)
    >>> fig = reachability_map(r, b)
    >>> import matplotlib.pyplot as plt; plt.close(fig)
    """
    fig, ax = static.new_map(reach, title=title, figsize=(11, 10))
    g = static.project(ax, reach)
    t = g["time_min"].to_numpy(float)
    colors = _time_colors(t, minutes)
    g.plot(ax=ax, color=list(colors), edgecolor="white", linewidth=0.2, zorder=1)
    if roads is not None and len(roads):
        static.project(ax, roads).plot(ax=ax, color="#636363", linewidth=0.4, zorder=2)
    if isochrones is not None and len(isochrones):
        iso = static.project(ax, isochrones)
        iso.boundary.plot(ax=ax, color="#08519c", linewidth=0.8, linestyle="--", zorder=3)
    b = static.project(ax, bases)
    ax.scatter(b.geometry.x, b.geometry.y, marker="*", s=160, color="#ffd700", edgecolors="black", linewidths=0.8,
               zorder=5)
    label = "base_id" if "base_id" in b.columns else None
    if label:
        for name, pt in zip(b[label], b.geometry, strict=True):  # a handful of bases
            ax.annotate(str(name), (pt.x, pt.y), xytext=(6, 6), textcoords="offset points", fontsize=8, zorder=6)
    n_out = int((t > minutes).sum())
    legend = {f"≤ {upper:g} 分钟 min": c for upper, c in _TIME_BINS if upper <= minutes}
    legend[f"> {minutes:g} 分钟 response blind ({n_out})"] = "#de2d26"
    static.add_legend(ax, legend, title="最近队伍路网时间 time from nearest base")
    static.add_scale_bar(ax)
    static.add_north_arrow(ax)
    static.add_attribution(ax, attribution)
    return _finish(fig, ax, path, "reachability_map")


def _finish(fig: Figure, ax: Axes, path: str | os.PathLike[str] | None, name: str) -> Figure:
    """Write the PNG when asked; the Figure, still unpackable as the 0.x ``(fig, ax)`` (deprecated)."""
    if path is not None:
        static.save_png(fig, path)
    return static.legacy_unpacking(fig, (fig, ax), f"gl.coverage.maps.{name} returns the Figure now; "
                                   "unpacking it as (fig, ax) is deprecated (ax is fig.axes[0])")


def coverage_layers(pieces: gpd.GeoDataFrame, viewsheds: gpd.GeoDataFrame | None = None,
                    cameras: gpd.GeoDataFrame | None = None, priority: gpd.GeoDataFrame | None = None, *,
                    top: int = 20) -> list:
    """pydeck layers (bottom first) for :func:`gridlib.maps.to_html`: viewsheds, roads by k, the *top*
    priority blind spots, cameras.

    >>> import geopandas as gpd
    >>> from shapely import LineString
    >>> p = gpd.GeoDataFrame({"k": [0, 2], "length_m": [1.0, 1.0]}, crs=4547,
    ...                      geometry=[LineString([(0, 0), (1, 0)]), LineString([(1, 0), (2, 0)])])
    >>> [layer.id for layer in coverage_layers(p)]
    ['roads']
    """
    layers = []
    if viewsheds is not None and len(viewsheds):
        v = viewsheds[~viewsheds.geometry.is_empty]
        layers.append(deck.polygon_layer(v[["camera_id", "geometry"]], fill_color=COLORS["viewshed"], opacity=0.3,
                                         line_color=COLORS["viewshed"], id="viewsheds", pickable=False))
    cols = [c for c in ("name", "highway", "kind_detail", "k", "length_m") if c in pieces.columns]
    p = pieces[cols + ["geometry"]].assign(cls=_road_class(pieces).to_numpy(), length_m=pieces["length_m"].round(1))
    layers.append(deck.line_layer(p, color="cls", colors={k: COLORS[k] for k in ("k1", "k2", "blind", "ignored")},
                                  id="roads", width_px=3))
    if priority is not None and len(priority):
        pr = priority.sort_values("rank").head(top)[["rank", "length_m", "case_density", "priority", "geometry"]]
        pr = pr.round(2)
        layers.append(deck.line_layer(pr, color=COLORS["priority"], width_px=7, id="priority"))
    if cameras is not None and len(cameras):
        cols = [c for c in ("camera_id", "type", "fov", "range_m") if c in cameras.columns]
        layers.append(deck.point_layer(cameras[cols + ["geometry"]], color=COLORS["camera"], id="cameras"))
    return layers


def reach_legend(minutes: float = 10.0) -> dict[str, str]:
    """Legend entries (label → colour) of the reachability maps.

    >>> list(reach_legend(5))
    ['≤ 2 分钟 min', '≤ 4 分钟 min', '> 5 分钟 response blind']
    """
    legend = {f"≤ {upper:g} 分钟 min": c for upper, c in _TIME_BINS if upper <= minutes}
    legend[f"> {minutes:g} 分钟 response blind"] = "#de2d26"
    return legend


def reachability_layers(reach: gpd.GeoDataFrame, bases: gpd.GeoDataFrame, *, minutes: float = 10.0) -> list:
    """pydeck layers: grids coloured by time from the nearest base, and the bases.

    >>> import geopandas as gpd
    >>> from shapely import Point, box
    >>> r = gpd.GeoDataFrame({"time_min": [3.0], "nearest_base": ["b"]}, geometry=[box(0, 0, 9, 9)], crs=4547)
    >>> b = gpd.GeoDataFrame({"base_id": ["b"]}, geometry=[Point(1, 1)], crs=4547)
    >>> [layer.id for layer in reachability_layers(r, b)]
    ['reach', 'bases']
    """
    t = reach["time_min"].to_numpy(float)
    color = _time_colors(t, minutes)
    cols = [c for c in ("grid_code", "code", "nearest_base", "time_min") if c in reach.columns]
    g = reach[cols + ["geometry"]].assign(_c=list(color), time_min=np.round(t, 1))
    return [deck.polygon_layer(g, fill_color="_c", columns=cols, id="reach", opacity=0.6),
            deck.point_layer(bases, color="#ffd700", id="bases")]
