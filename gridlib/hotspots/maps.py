"""One call from hotspot results to a static PNG map and a pydeck layer for the web map.

>>> import geopandas as gpd, tempfile, pathlib
>>> from shapely.geometry import box
>>> from gridlib.hotspots import gistar
>>> cells = gpd.GeoDataFrame({"grid_code": [f"G{i}" for i in range(25)], "count": [0] * 20 + [9] * 5},
...     geometry=[box(357000 + 100 * (i % 5), 3458000 + 100 * (i // 5), 357100 + 100 * (i % 5),
...                   3458100 + 100 * (i // 5)) for i in range(25)], crs="EPSG:4550")
>>> res = gistar(cells, "count", permutations=99)
>>> png, layer = hotspot_map(res, pathlib.Path(tempfile.mkdtemp()) / "hot.png", title="热点")
>>> png.suffix, type(layer).__name__
('.png', 'Layer')
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pydeck as pdk

from gridlib.errors import InputError
from gridlib.maps import deck, static
from gridlib.maps.legend import HOTSPOT_CLASS_COLORS, HOTSPOT_CLASS_LABELS

__all__ = ["CLASS_COLORS", "CLASS_LABELS", "CATEGORY_COLORS", "CATEGORY_LABELS", "hotspot_map", "legend_for",
           "tooltip_html"]

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
    png_path: str | Path | None = None,
    *,
    column: str | None = None,
    title: str = "案件热点分析",
    outlines: gpd.GeoDataFrame | None = None,
    label_column: str | None = "name_zh",
    attribution: str | None = None,
    id: str = "hotspots",
) -> tuple[Path | None, pdk.Layer]:
    """Draw ``gistar()`` or ``emerging()`` results: a static PNG (when ``png_path`` is given)
    and a pydeck polygon layer with Chinese tooltips (``label_zh``).

    Parameters
    ----------
    column
        ``hotspot_class`` (Gi*) or ``category`` (emerging); default: whichever is present.
    outlines
        District/street/community polygons drawn on top and labelled with ``label_column``.

    Returns
    -------
    (png path or None, pydeck.Layer)

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
    >>> png, layer = hotspot_map(result, os.path.join(tempfile.mkdtemp(), "hot.png"), label_column=None)
    >>> png.name, os.path.getsize(png) > 10_000, type(layer).__name__
    ('hot.png', True, 'Layer')
    """
    column, colors, labels = _scheme(result, column)
    if attribution is None:
        method = "时空 Gi* + Mann–Kendall 趋势" if column == "category" else "Getis–Ord Gi*"
        attribution = f"gridlib · {method}（FDR 校正）"
    classes = result[column].astype(str)
    unknown = sorted(set(classes) - set(colors))
    if unknown:
        raise InputError(f"unknown classes in {column!r}: {unknown}")
    png = None
    if png_path is not None:
        fig, ax = static.new_map(result, title=title)
        layer = static.project(ax, result)
        fill = classes.map(colors).to_numpy()
        edge = "white" if len(result) <= 20_000 else "none"
        layer.plot(ax=ax, color=fill, edgecolor=edge, linewidth=0.15, zorder=2)
        if outlines is not None:
            static.add_outlines(ax, outlines,
                                label_column=label_column if label_column in outlines.columns else None)
        static.add_legend(ax, legend_for(result, column), title="图例", loc="outside")
        static.add_scale_bar(ax)
        static.add_north_arrow(ax)
        static.add_attribution(ax, attribution)
        png = static.save_png(fig, png_path)
    shown = result.copy()
    shown["label_zh"] = classes.map(labels).to_numpy()
    keep = [c for c in ("grid_code", "h3", "code", "name_zh", "count", "rate", "z", "p_sim", "q", "trend_z",
                        "total", column, "label_zh") if c in shown.columns]
    for col in ("z", "q", "p_sim", "trend_z", "rate"):
        if col in shown.columns:
            shown[col] = pd.to_numeric(shown[col]).round(3)
    layer = deck.polygon_layer(shown, fill_color=column, colors=colors, columns=keep, id=id,
                               line_width_px=0.3, opacity=0.8)
    return png, layer


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
