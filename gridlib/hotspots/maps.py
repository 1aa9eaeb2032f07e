"""One call from hotspot results to a static PNG map and a pydeck layer for the web map.

>>> import geopandas as gpd, tempfile, pathlib
>>> from shapely.geometry import box
>>> from gridlib.hotspots import gistar
>>> cells = gpd.GeoDataFrame({"grid_code": [f"G{i}" for i in range(25)], "count": [0] * 20 + [9] * 5},
...     geometry=[box(357000 + 100 * (i % 5), 3458000 + 100 * (i // 5), 357100 + 100 * (i % 5),
...                   3458100 + 100 * (i // 5)) for i in range(25)], crs="EPSG:4550")
>>> res = gistar(cells, "count", permutations=99)
>>> png = pathlib.Path(tempfile.mkdtemp()) / "hot.png"
>>> fig = hotspot_map(res, png, title="热点")
>>> png.exists(), type(hotspot_layer(res)).__name__
(True, 'Layer')
"""

from __future__ import annotations

import os
import warnings

import geopandas as gpd
import pandas as pd
import pydeck as pdk
from matplotlib.figure import Figure

from gridlib.errors import InputError
from gridlib.maps import deck, static
from gridlib.maps.legend import HOTSPOT_CLASS_COLORS, HOTSPOT_CLASS_LABELS

__all__ = ["CLASS_COLORS", "CLASS_LABELS", "CATEGORY_COLORS", "CATEGORY_LABELS", "hotspot_layer", "hotspot_map",
           "legend_for", "tooltip_html"]

#: Gi* class colours (ArcGIS-like diverging red–blue) and Chinese labels, from the one legend spec.
CLASS_COLORS = HOTSPOT_CLASS_COLORS
CLASS_LABELS = HOTSPOT_CLASS_LABELS
_KIND_ZH = {"new": "新增", "consecutive": "连续", "intensifying": "加剧", "persistent": "持续",
            "diminishing": "减弱", "sporadic": "零星", "oscillating": "振荡", "historical": "历史"}
_ORDER = ("intensifying", "persistent", "new", "consecutive", "diminishing", "oscillating", "sporadic",
          "historical")
# Chronic patterns in deep red/blue, the new ones in bright contrasting hues, fading ones pale.
_HOT = ("#67000d", "#cb181d", "#ffb000", "#fd8d3c", "#fc9272", "#8c510a", "#e7298a", "#d9b3b3")
_COLD = ("#08306b", "#2171b5", "#00c5ff", "#6baed6", "#9ecae1", "#35978f", "#807dba", "#b3c0d6")
#: Emerging-hotspot category colours and Chinese labels.
CATEGORY_COLORS = {
    **{f"{k}_hot": c for k, c in zip(_ORDER, _HOT, strict=True)},
    **{f"{k}_cold": c for k, c in zip(_ORDER, _COLD, strict=True)},
    "no_pattern": "#f1f0ea",
}
CATEGORY_LABELS = {
    **{f"{k}_hot": f"{_KIND_ZH[k]}热点" for k in _ORDER},
    **{f"{k}_cold": f"{_KIND_ZH[k]}冷点" for k in _ORDER},
    "no_pattern": "无显著模式",
}


def _scheme(result: gpd.GeoDataFrame, column: str | None) -> tuple[str, dict[str, str], dict[str, str]]:
    if column is None:
        column = "category" if "category" in result.columns else "hotspot_class"
    if column not in result.columns:
        raise InputError(f"result has no {column!r} column: pass gistar() or emerging() output")
    if column == "category":
        return column, CATEGORY_COLORS, CATEGORY_LABELS
    return column, CLASS_COLORS, CLASS_LABELS


def legend_for(result: gpd.GeoDataFrame, column: str | None = None) -> dict[str, str]:
    """``Chinese label → colour`` for the classes present in ``result``, in legend order.

    >>> import geopandas as gpd
    >>> legend_for(gpd.GeoDataFrame({"hotspot_class": ["hot_99", "not_significant"]}))
    {'热点 99% 置信': '#c6242b', '不显著': '#f1f0ea'}
    """
    column, colors, labels = _scheme(result, column)
    present = set(result[column].astype(str))
    return {labels[k]: colors[k] for k in colors if k in present}


def hotspot_map(
    result: gpd.GeoDataFrame,
    path: str | os.PathLike[str] | None = None,
    *,
    column: str | None = None,
    title: str = "案件热点分析",
    outlines: gpd.GeoDataFrame | None = None,
    label_column: str | None = "name_zh",
    attribution: str | None = None,
    id: str = "hotspots",
    png_path: str | os.PathLike[str] | None = None,
) -> Figure:
    """Draw ``gistar()`` or ``emerging()`` results as a static map; return the Figure.

    With *path* the PNG is also written there (:func:`gridlib.maps.save_png`, which closes the
    figure). The interactive layer is :func:`hotspot_layer`. (0.x returned ``(png path or None,
    pydeck layer)``: unpacking the Figure that way still works for one release and warns;
    ``png_path=`` is the deprecated name of *path*.)

    Parameters
    ----------
    column
        ``hotspot_class`` (Gi*) or ``category`` (emerging); default: whichever is present.
    outlines
        District/street/community polygons drawn on top and labelled with ``label_column``.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import os, tempfile
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> from gridlib.hotspots import gistar
    >>> cells = gpd.GeoDataFrame({"n": [0, 1, 0, 1, 9, 8, 0, 7, 9]}, crs=4326,
    ...     geometry=[box(121.5 + i / 1e3, 31.23 + j / 1e3, 121.501 + i / 1e3, 31.231 + j / 1e3)
    ...               for j in range(3) for i in range(3)])
    >>> result = gistar(cells, "n", permutations=0)
    >>> png = os.path.join(tempfile.mkdtemp(), "hot.png")
    >>> fig = hotspot_map(result, png, label_column=None)
    >>> os.path.getsize(png) > 10_000, type(fig).__name__
    (True, 'MapFigure')
    """
    if png_path is not None:
        warnings.warn("hotspot_map(png_path=...) is deprecated; use path=", DeprecationWarning, stacklevel=2)
        path = png_path if path is None else path
    column, colors, labels = _scheme(result, column)
    if attribution is None:
        method = "时空 Gi* + Mann–Kendall 趋势" if column == "category" else "Getis–Ord Gi*"
        attribution = f"gridlib · {method}（FDR 校正）"
    classes = result[column].astype(str)
    _check_classes(classes, colors, column)
    fig, ax = static.new_map(result, title=title)
    fill = classes.map(colors).to_numpy()
    edge = "white" if len(result) <= 20_000 else "none"
    static.fill_polygons(ax, result, color=fill, edgecolor=edge, linewidth=0.15, zorder=2)
    if outlines is not None:
        static.add_outlines(ax, outlines,
                            label_column=label_column if label_column in outlines.columns else None)
    static.add_legend(ax, legend_for(result, column), title="图例", loc="outside")
    static.add_scale_bar(ax)
    static.add_north_arrow(ax)
    static.add_attribution(ax, attribution)
    png = static.save_png(fig, path) if path is not None else None
    return static.legacy_unpacking(
        fig, lambda: (png, hotspot_layer(result, column=column, id=id)),
        "gl.hotspots.hotspot_map returns the Figure now; unpacking it as (png, layer) is deprecated "
        "(the layer is gl.hotspots.hotspot_layer(result))")


def _check_classes(classes: pd.Series, colors: dict[str, str], column: str) -> None:
    unknown = sorted(set(classes) - set(colors))
    if unknown:
        raise InputError(f"unknown classes in {column!r}: {unknown}")


def hotspot_layer(result: gpd.GeoDataFrame, *, column: str | None = None, id: str = "hotspots") -> pdk.Layer:
    """The pydeck polygon layer of ``gistar()`` or ``emerging()`` results, with Chinese tooltips (``label_zh``).

    For :func:`gridlib.maps.to_html` (with :func:`tooltip_html` and :func:`legend_for`).

    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> from gridlib.hotspots import gistar
    >>> cells = gpd.GeoDataFrame({"n": [0, 1, 0, 1, 9, 8, 0, 7, 9]}, crs=4326,
    ...     geometry=[box(121.5 + i / 1e3, 31.23 + j / 1e3, 121.501 + i / 1e3, 31.231 + j / 1e3)
    ...               for j in range(3) for i in range(3)])
    >>> type(hotspot_layer(gistar(cells, "n", permutations=0))).__name__
    'Layer'
    """
    column, colors, labels = _scheme(result, column)
    classes = result[column].astype(str)
    _check_classes(classes, colors, column)
    shown = result.copy()
    shown["label_zh"] = classes.map(labels).to_numpy()
    keep = [c for c in ("grid_code", "h3", "code", "name_zh", "count", "rate", "z", "p_sim", "q", "trend_z",
                        "total", column, "label_zh") if c in shown.columns]
    for col in ("z", "q", "p_sim", "trend_z", "rate"):
        if col in shown.columns:
            shown[col] = pd.to_numeric(shown[col]).round(3)
    return deck.polygon_layer(shown, fill_color=column, colors=colors, columns=keep, id=id,
                              line_width_px=0.3, opacity=0.8)


def tooltip_html(result: gpd.GeoDataFrame) -> str:
    """A Chinese tooltip template for :func:`gridlib.maps.to_html` matching the layer's columns.

    >>> import geopandas as gpd
    >>> tooltip_html(gpd.GeoDataFrame({"grid_code": ["G"], "count": [1], "z": [0.1]}))
    '<b>{label_zh}</b><br/>网格 {grid_code}<br/>案件数 {count}<br/>Gi* z {z}'
    """
    parts = ["<b>{label_zh}</b>"]
    names = {"grid_code": "网格", "h3": "H3", "code": "编码", "name_zh": "名称", "count": "案件数",
             "rate": "率", "z": "Gi* z", "q": "q (FDR)", "total": "案件总数", "trend_z": "趋势 z"}
    parts += [f"{label} {{{col}}}" for col, label in names.items() if col in result.columns]
    return "<br/>".join(parts)
