"""Static maps with matplotlib: CJK labels, scale bar, north arrow, deterministic PNG.

Every map is drawn in a metric CRS (``gridlib.crs.metric_crs_for`` of the extent), so the
scale bar is true and areas look right. Layers in another CRS are reprojected with
:func:`project`. :func:`save_png` writes atomically and byte-for-byte reproducibly.

>>> import geopandas as gpd
>>> from shapely.geometry import box
>>> zones = gpd.GeoDataFrame({"name_zh": ["陆家嘴", "花木"]},
...     geometry=[box(121.49, 31.22, 121.51, 31.24), box(121.52, 31.20, 121.55, 31.23)],
...     crs="EPSG:4326")
>>> fig, ax = new_map(zones, title="示例")
>>> map_crs(ax).to_epsg()
4550
>>> add_outlines(ax, zones, label_column="name_zh")
2
>>> add_scale_bar(ax) > 0
True
>>> import matplotlib.pyplot as plt; plt.close(fig)
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import warnings
import weakref
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")  # gridlib draws files, never windows (also in headless CI)

import matplotlib.patheffects as path_effects  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pyproj  # noqa: E402
import shapely  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.backends.backend_agg import RendererAgg  # noqa: E402
from matplotlib.collections import PatchCollection  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyArrow, Patch, PathPatch, Rectangle  # noqa: E402
from matplotlib.path import Path as MplPath  # noqa: E402

from gridlib.crs import metric_crs_for  # noqa: E402
from gridlib.errors import InputError  # noqa: E402
from gridlib.types import CRSLike  # noqa: E402

__all__ = [
    "CJK_FONT_FAMILIES",
    "setup_cjk_font",
    "new_map",
    "map_crs",
    "project",
    "add_scale_bar",
    "add_north_arrow",
    "add_attribution",
    "add_outlines",
    "fill_polygons",
    "add_legend",
    "save_png",
]

log = logging.getLogger(__name__)

#: A matplotlib colour: a name or ``#rrggbb`` text, or an RGB(A) tuple of floats in [0, 1].
MplColor = str | tuple[float, ...]

#: Preferred fonts with Chinese glyphs, best first (Debian ``fonts-noto-cjk`` provides the first).
CJK_FONT_FAMILIES: tuple[str, ...] = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
)
_FONT_DIRS = ("/usr/share/fonts/opentype/noto", "/usr/share/fonts/truetype/noto")
_DPI = 150
_AX_CRS: weakref.WeakKeyDictionary[Axes, pyproj.CRS] = weakref.WeakKeyDictionary()
_cjk_family: str | None = None


def setup_cjk_font() -> str | None:
    """Make matplotlib draw Chinese text with a CJK font; return the family used.

    The first installed family of :data:`CJK_FONT_FAMILIES` is put at the front of
    ``font.sans-serif``. If none is installed a warning says so (Chinese labels would show as
    boxes) and ``None`` is returned. Repeated calls are cheap.

    >>> setup_cjk_font() in CJK_FONT_FAMILIES + (None,)
    True
    """
    global _cjk_family
    if _cjk_family is not None:
        return _cjk_family
    installed = {f.name for f in font_manager.fontManager.ttflist}
    if not any(name in installed for name in CJK_FONT_FAMILIES):
        # A font installed after matplotlib built its cache: register the files directly.
        for folder in _FONT_DIRS:
            for path in sorted(Path(folder).glob("NotoSansCJK-*.tt[cf]")) if Path(folder).is_dir() else []:
                try:
                    font_manager.fontManager.addfont(str(path))
                except (OSError, RuntimeError):  # unreadable font file: try the next one
                    continue
        installed = {f.name for f in font_manager.fontManager.ttflist}
    family = next((name for name in CJK_FONT_FAMILIES if name in installed), None)
    if family is None:
        warnings.warn(
            "no CJK font found (install Debian's fonts-noto-cjk): Chinese map labels will not render",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    current = [f for f in matplotlib.rcParams["font.sans-serif"] if f != family]
    matplotlib.rcParams["font.sans-serif"] = [family, *current]
    matplotlib.rcParams["font.family"] = "sans-serif"
    matplotlib.rcParams["axes.unicode_minus"] = False  # the CJK fonts lack U+2212
    _cjk_family = family
    return family


def map_crs(ax: Axes) -> pyproj.CRS:
    """Return the metric CRS a map made by :func:`new_map` is drawn in.

    >>> import geopandas as gpd; from shapely.geometry import Point
    >>> pts = gpd.GeoDataFrame(geometry=[Point(113.6, 34.8)], crs="EPSG:4326")
    >>> fig, ax = new_map(pts)
    >>> map_crs(ax).to_epsg()
    4547
    >>> plt.close(fig)
    """
    try:
        return _AX_CRS[ax]
    except KeyError:
        raise InputError("these axes were not made by gridlib.maps.new_map: their CRS is unknown") from None


def project(ax: Axes, gdf: gpd.GeoDataFrame | gpd.GeoSeries) -> gpd.GeoDataFrame | gpd.GeoSeries:
    """Return ``gdf`` in the CRS of the map ``ax`` (a no-op when it already is).

    >>> import geopandas as gpd; from shapely.geometry import Point
    >>> pts = gpd.GeoDataFrame(geometry=[Point(113.6, 34.8)], crs="EPSG:4326")
    >>> fig, ax = new_map(pts)
    >>> project(ax, pts).crs.to_epsg()
    4547
    >>> plt.close(fig)
    """
    if gdf.crs is None:
        raise InputError("layer has no CRS: set one (e.g. gdf.set_crs('EPSG:4326')) before mapping it")
    crs = map_crs(ax)
    return gdf if gdf.crs == crs else gdf.to_crs(crs)


def _no_idle_draw(*args: Any, **kwargs: Any) -> None:
    """A map canvas's ``draw_idle``: nothing to do until the map is saved or displayed."""


# what a text's extent depends on besides its string, font properties and dpi: the fonts a family resolves to
_FONT_SETTINGS = tuple(k for k in matplotlib.rcParams if k.startswith("font.")) + (
    "text.hinting", "text.hinting_factor", "text.kerning_factor")
_TEXT_EXTENTS: dict[tuple[Any, ...], tuple[float, float, float]] = {}
_MAX_TEXT_EXTENTS = 4096


def _text_extent(renderer: RendererAgg, s: str, prop: font_manager.FontProperties,
                 ismath: bool | str) -> tuple[float, float, float]:
    """``renderer.get_text_width_height_descent``, remembered for the process: matplotlib remembers extents per
    renderer only, and each map makes two (its first size, then the cropped one), so every label, legend entry
    and title was laid out again by FreeType for each map (0.2-1.2 ms each with the CJK font; 331 layouts, 59
    distinct, for the demo night's 10 maps). An Agg extent depends on none of the renderer's state but its dpi."""
    if ismath is not False:  # mathtext and TeX: as matplotlib measures them
        return RendererAgg.get_text_width_height_descent(renderer, s, prop, ismath)
    key = (s, hash(prop), renderer.dpi, len(font_manager.fontManager.ttflist),
           *(str(matplotlib.rcParams[k]) for k in _FONT_SETTINGS))
    extent = _TEXT_EXTENTS.get(key)
    if extent is None:
        if len(_TEXT_EXTENTS) >= _MAX_TEXT_EXTENTS:
            _TEXT_EXTENTS.clear()
        extent = _TEXT_EXTENTS[key] = RendererAgg.get_text_width_height_descent(renderer, s, prop, ismath)
    return extent


def _measuring_renderer(get_renderer: Callable[[], Any]) -> Any:
    """A map canvas's ``get_renderer``: its Agg renderers measure text through :func:`_text_extent`."""
    renderer = get_renderer()
    if type(renderer) is RendererAgg and "get_text_width_height_descent" not in vars(renderer):
        renderer.get_text_width_height_descent = partial(_text_extent, renderer)
    return renderer


def new_map(
    gdf_extent: gpd.GeoDataFrame | gpd.GeoSeries,
    title: str | None = None,
    *,
    crs: CRSLike | None = None,
    figsize: tuple[float, float] = (10.0, 10.0),
    margin: float = 0.04,
) -> tuple[Figure, Axes]:
    """Start a map framing ``gdf_extent``, drawn in a metric CRS.

    Parameters
    ----------
    gdf_extent
        Layer whose bounds the map shows (any CRS).
    title
        Map title (Chinese welcome).
    crs
        Map CRS; default ``gridlib.crs.metric_crs_for(gdf_extent)``.
    figsize
        Figure size in inches (at 150 dpi when saved by :func:`save_png`).
    margin
        Blank border around the extent as a fraction of its larger side.

    Returns
    -------
    (fig, ax)
        Axes with equal aspect, no ticks, white background.

    >>> import geopandas as gpd; from shapely.geometry import box
    >>> g = gpd.GeoDataFrame(geometry=[box(121.49, 31.22, 121.51, 31.24)], crs="EPSG:4326")
    >>> fig, ax = new_map(g, title="陆家嘴")
    >>> ax.get_title()
    '陆家嘴'
    >>> plt.close(fig)
    """
    if gdf_extent.crs is None:
        raise InputError("the extent layer has no CRS")
    if len(gdf_extent) == 0:
        raise InputError("the extent layer is empty: nothing to frame")
    setup_cjk_font()
    target = pyproj.CRS.from_user_input(crs) if crs is not None else metric_crs_for(gdf_extent)
    extent = gdf_extent if gdf_extent.crs == target else gdf_extent.to_crs(target)
    minx, miny, maxx, maxy = extent.total_bounds
    if not np.all(np.isfinite([minx, miny, maxx, maxy])):
        raise InputError("the extent layer has no finite bounds (empty geometries?)")
    pad = margin * max(maxx - minx, maxy - miny, 1.0)
    fig, ax = plt.subplots(figsize=figsize, dpi=_DPI)
    # geopandas' plot() ends with canvas.draw_idle(), which on a file canvas (Agg) draws the whole figure
    # at once: a map of n layers was drawn n times before save_png drew it once more. Maps are drawn by
    # savefig (and by Jupyter's display), so the idle draw is a no-op on their canvas.
    fig.canvas.draw_idle = _no_idle_draw
    fig.canvas.get_renderer = partial(_measuring_renderer, fig.canvas.get_renderer)
    ax.set_xlim(minx - pad, maxx + pad)
    ax.set_ylim(miny - pad, maxy + pad)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor("#888888")
        spine.set_linewidth(0.6)
    if title:
        ax.set_title(title, fontsize=15, pad=10)
    _AX_CRS[ax] = target
    return fig, ax


def _nice_length(max_m: float) -> float:
    """Largest 1/2/5 × 10^k metres not above ``max_m``."""
    exp = math.floor(math.log10(max_m))
    for factor in (5, 2, 1):
        if factor * 10**exp <= max_m:
            return float(factor * 10**exp)
    return float(10**exp)


def _format_length(metres: float) -> str:
    if metres >= 1000:
        km = metres / 1000
        return f"{km:g} km"
    return f"{metres:g} m"


def add_scale_bar(ax: Axes, *, length_m: float | None = None, segments: int = 4) -> float:
    """Draw a black-and-white scale bar in the lower left; return its length in metres.

    The default length is a round 1/2/5 × 10ⁿ metres not above 1/4.5 of the map width.

    >>> import geopandas as gpd; from shapely.geometry import box
    >>> g = gpd.GeoDataFrame(geometry=[box(121.49, 31.22, 121.51, 31.24)], crs="EPSG:4326")
    >>> fig, ax = new_map(g)
    >>> add_scale_bar(ax)
    200.0
    >>> plt.close(fig)
    """
    crs = map_crs(ax)
    if not crs.is_projected:
        raise InputError(f"a scale bar needs a projected map CRS, not {crs.name}")
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    width, height = x1 - x0, y1 - y0
    length = float(length_m) if length_m else _nice_length(width / 4.5)
    if length <= 0:
        raise InputError(f"scale bar length must be positive, got {length_m}")
    left, bottom = x0 + 0.04 * width, y0 + 0.04 * height
    bar_h = 0.012 * height
    step_m = length / segments
    for i in range(segments):
        ax.add_patch(
            Rectangle(
                (left + i * step_m, bottom), step_m, bar_h,
                facecolor="black" if i % 2 == 0 else "white", edgecolor="black", linewidth=0.8, zorder=20,
            )
        )
    halo = [path_effects.withStroke(linewidth=3, foreground="white")]
    for pos, text in ((0.0, "0"), (length, _format_length(length))):
        ax.text(left + pos, bottom + bar_h * 1.6, text, ha="center", va="bottom", fontsize=8,
                zorder=21, path_effects=halo)
    return length


def add_north_arrow(ax: Axes, *, label: str = "N") -> None:
    """Draw a north arrow in the upper right (grid north of the map CRS).

    In a Gauss–Krüger zone grid north differs from true north by under 1.5° for data
    within the zone, which is invisible at map scale.

    >>> import geopandas as gpd; from shapely.geometry import box
    >>> g = gpd.GeoDataFrame(geometry=[box(121.49, 31.22, 121.51, 31.24)], crs="EPSG:4326")
    >>> fig, ax = new_map(g)
    >>> add_north_arrow(ax)
    >>> plt.close(fig)
    """
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    w, h = x1 - x0, y1 - y0
    size = 0.07 * min(w, h)
    cx, top = x1 - 0.06 * w, y1 - 0.05 * h
    ax.add_patch(
        FancyArrow(cx, top - size, 0, size * 0.75, width=size * 0.12, head_width=size * 0.4,
                   head_length=size * 0.4, length_includes_head=False, facecolor="black",
                   edgecolor="white", linewidth=0.8, zorder=20)
    )
    ax.text(cx, top - size * 1.05, label, ha="center", va="top", fontsize=11, fontweight="bold", zorder=21,
            path_effects=[path_effects.withStroke(linewidth=3, foreground="white")])


def add_attribution(ax: Axes, text: str) -> None:
    """Write a small attribution/source line in the lower right corner of the map.

    >>> import geopandas as gpd; from shapely.geometry import box
    >>> g = gpd.GeoDataFrame(geometry=[box(121.49, 31.22, 121.51, 31.24)], crs="EPSG:4326")
    >>> fig, ax = new_map(g)
    >>> add_attribution(ax, "数据: gridlib 演示数据")
    >>> plt.close(fig)
    """
    ax.text(0.995, 0.005, text, transform=ax.transAxes, ha="right", va="bottom", fontsize=7,
            color="#333333", zorder=30,
            bbox={"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 2})


def add_outlines(
    ax: Axes,
    gdf: gpd.GeoDataFrame | gpd.GeoSeries,
    label_column: str | None = None,
    *,
    color: str = "#222222",
    linewidth: float = 1.2,
    fontsize: float = 9.0,
    zorder: float = 10,
) -> int:
    """Draw polygon (or line) outlines, optionally labelled; return the number of labels drawn.

    Labels go at each feature's representative point (inside the polygon), larger features
    first; a label that would overlap one already placed, or fall outside the map, is left out,
    so dense layers never turn into clutter. Labels have a white halo for legibility.

    >>> import geopandas as gpd; from shapely.geometry import box
    >>> g = gpd.GeoDataFrame({"name_zh": ["甲", "乙"]},
    ...     geometry=[box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000)], crs="EPSG:4550")
    >>> fig, ax = new_map(g)
    >>> add_outlines(ax, g, label_column="name_zh")
    2
    >>> plt.close(fig)
    """
    layer = project(ax, gdf)
    geoms = layer.geometry if isinstance(layer, gpd.GeoDataFrame) else layer
    keep = ~(geoms.is_empty | geoms.isna())
    geoms = geoms[keep]
    if len(geoms) == 0:
        return 0
    is_area = geoms.geom_type.isin(["Polygon", "MultiPolygon"])
    lines = geoms.boundary.where(is_area, geoms)
    gpd.GeoSeries(lines, crs=geoms.crs).plot(ax=ax, color=color, linewidth=linewidth, zorder=zorder)
    if label_column is None:
        return 0
    if not isinstance(layer, gpd.GeoDataFrame) or label_column not in layer.columns:
        raise InputError(f"label column {label_column!r} not in the outline layer")
    labels = layer.loc[geoms.index, label_column]
    points = geoms.representative_point()
    order = np.argsort(-geoms.area.to_numpy(), kind="stable")
    renderer = ax.figure.canvas.get_renderer()
    ax_box = ax.get_window_extent(renderer)
    placed: list[Any] = []
    halo = [path_effects.withStroke(linewidth=2.5, foreground="white")]
    for i in order:
        text = labels.iloc[i]
        if text is None or (isinstance(text, float) and math.isnan(text)) or str(text) == "":
            continue
        pt = points.iloc[i]
        artist = ax.text(pt.x, pt.y, str(text), ha="center", va="center", fontsize=fontsize,
                         color=color, zorder=zorder + 1, path_effects=halo, clip_on=True)
        bbox = artist.get_window_extent(renderer).expanded(1.08, 1.15)
        inside = (bbox.x0 >= ax_box.x0 and bbox.x1 <= ax_box.x1 and bbox.y0 >= ax_box.y0
                  and bbox.y1 <= ax_box.y1)
        if not inside or any(bbox.overlaps(other) for other in placed):
            artist.remove()
            continue
        placed.append(bbox)
    return len(placed)


def _rgba_rows(color: MplColor | Sequence[MplColor] | np.ndarray, n: int) -> np.ndarray:
    """*color* (one, or one per row) as an ``n x 4`` RGBA array; ``"none"`` is transparent."""
    if isinstance(color, str) or (isinstance(color, tuple) and len(color) in (3, 4)
                                  and all(isinstance(v, (int, float)) for v in color)):
        return np.tile(to_rgba(color), (n, 1))
    values = np.asarray(color, dtype=object) if not isinstance(color, np.ndarray) else color
    if values.ndim == 1 and len(values) and all(isinstance(c, str) for c in set(values.tolist())):
        # colour names: each distinct one converted once (a city street's 48,000 grids have a handful)
        names, which = np.unique(values.astype(str), return_inverse=True)
        rows = np.array([to_rgba(c) for c in names])[which.ravel()]
    else:
        rows = np.array([to_rgba(c) for c in color]) if len(color) else np.empty((0, 4))
    if len(rows) != n:
        raise InputError(f"{len(rows)} colours for {n} polygons")
    return rows


def fill_polygons(
    ax: Axes,
    gdf: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    color: MplColor | Sequence[MplColor] | np.ndarray,
    edgecolor: MplColor | Sequence[MplColor] | np.ndarray = "none",
    linewidth: float = 0.0,
    zorder: float = 1.0,
    path_effects: Sequence[path_effects.AbstractPathEffect] | None = None,
) -> PatchCollection | None:
    """Fill the (multi)polygons of *gdf* on the map, one colour each; return the collection drawn.

    What ``gdf.plot(ax=ax, color=..., edgecolor=...)`` draws, as one compound path per distinct (fill, edge)
    pair built from shapely's coordinate arrays: geopandas makes one matplotlib patch per polygon, which
    cost a city street's 48,000 grids 17 s of CPU before drawing started (this takes well under one).
    Rings are oriented (exteriors counter-clockwise) so holes stay empty under matplotlib's non-zero fill.
    Empty and missing geometries are skipped; ``None`` when nothing is left.

    Parameters
    ----------
    ax
        A map from :func:`new_map` (*gdf* is projected to its CRS).
    gdf
        Polygons or multipolygons.
    color, edgecolor
        One colour for all, or one per row.
    linewidth, zorder, path_effects
        As for matplotlib collections.

    Examples
    --------
    >>> import geopandas as gpd; from shapely.geometry import box
    >>> g = gpd.GeoDataFrame(geometry=[box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000)], crs="EPSG:4550")
    >>> fig, ax = new_map(g)
    >>> len(fill_polygons(ax, g, color=["#ff0000", "#0000ff"]).get_paths())   # one compound path per colour
    2
    >>> plt.close(fig)
    """
    layer = project(ax, gdf)
    geoms = np.asarray(layer.geometry.values if isinstance(layer, gpd.GeoDataFrame) else layer.values)
    n = len(geoms)
    rgba = np.hstack([_rgba_rows(color, n), _rgba_rows(edgecolor, n)])
    keep = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not keep.any():
        return None
    # the distinct (fill, edge) rows, sorted as np.unique(axis=0) sorts them: grouped by their bytes first (a
    # lexicographic sort of n structured rows took a city street half of this function's time)
    kept = np.ascontiguousarray(rgba[keep])
    _, first, by_bytes = np.unique(kept.view(np.dtype((np.void, kept.itemsize * kept.shape[1]))).ravel(),
                                   return_index=True, return_inverse=True)
    styles, sorted_of = np.unique(kept[first], axis=0, return_inverse=True)
    style_of = sorted_of.ravel()[by_bytes.ravel()]
    parts, part_owner = shapely.get_parts(geoms[keep], return_index=True)
    rings, ring_part = shapely.get_rings(shapely.orient_polygons(parts), return_index=True)
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    codes = np.full(len(xy), MplPath.LINETO, dtype=MplPath.code_type)
    starts = np.flatnonzero(np.r_[True, ring_of[1:] != ring_of[:-1]])
    codes[starts] = MplPath.MOVETO
    codes[np.r_[starts[1:], len(xy)] - 1] = MplPath.CLOSEPOLY
    style = style_of.ravel()[part_owner[ring_part[ring_of]]]
    order = np.argsort(style, kind="stable")
    bounds = np.searchsorted(style[order], np.arange(len(styles) + 1))
    patches = [PathPatch(MplPath(xy[order[a:b]], codes[order[a:b]]))
               for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    collection = PatchCollection(patches, facecolors=styles[:, :4], edgecolors=styles[:, 4:], linewidths=linewidth,
                                 zorder=zorder, path_effects=path_effects)
    ax.add_collection(collection, autolim=False)
    return collection


def add_legend(
    ax: Axes,
    colors: Mapping[str, MplColor] | Sequence[tuple[str, MplColor]],
    *,
    title: str | None = None,
    loc: str = "lower right",
) -> None:
    """Add a legend of filled patches, one per ``label → colour`` entry, in the given order.

    ``loc`` is a matplotlib legend location, or ``"outside"`` for beside the map on the right.

    >>> import geopandas as gpd; from shapely.geometry import box
    >>> g = gpd.GeoDataFrame(geometry=[box(0, 0, 1000, 1000)], crs="EPSG:4550")
    >>> fig, ax = new_map(g)
    >>> add_legend(ax, {"热点 99%": "#b2182b", "不显著": "#eeeeee"}, title="Gi*")
    >>> plt.close(fig)
    """
    items = list(colors.items()) if isinstance(colors, Mapping) else list(colors)
    handles = [Patch(facecolor=c, edgecolor="#666666", linewidth=0.5, label=label) for label, c in items]
    placement: dict[str, Any] = {"loc": loc, "borderaxespad": 1.8}
    if loc == "outside":  # beside the map, so it never hides data
        placement = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "borderaxespad": 0.0}
    legend = ax.legend(handles=handles, title=title, fontsize=8, title_fontsize=9,
                       frameon=True, framealpha=0.9, **placement)
    legend.set_zorder(40)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _tight_bbox(fig: Figure, dpi: int) -> Any:
    """What ``savefig(bbox_inches="tight", pad_inches=0.15)`` crops a figure to, without the whole draw savefig
    makes first to find it (a city street map: a fifth of its CPU, most of it the haloed labels' glyph paths);
    ``"tight"`` (savefig's own) for a figure with a layout engine, whose layout that draw computes."""
    if fig.get_layout_engine() is not None:
        return "tight"
    with matplotlib.rc_context({"figure.dpi": dpi}):
        fig.set_dpi(dpi)
        renderer = fig.canvas.get_renderer()
        return fig.get_tightbbox(renderer).padded(0.15)


def save_png(fig: Figure, path: str | os.PathLike[str], *, dpi: int = _DPI, close: bool = True) -> Path:
    """Write ``fig`` as a PNG atomically and reproducibly; return the path.

    The same figure gives the same bytes: fixed dpi, no software/creation-time metadata,
    and the file is written to a temporary sibling then renamed, so readers never see a
    half-written map. The figure is closed afterwards unless ``close=False``.

    >>> import tempfile, pathlib, geopandas as gpd; from shapely.geometry import box
    >>> g = gpd.GeoDataFrame(geometry=[box(0, 0, 1000, 1000)], crs="EPSG:4550")
    >>> fig, ax = new_map(g)
    >>> out = save_png(fig, pathlib.Path(tempfile.mkdtemp()) / "m.png")
    >>> out.read_bytes()[:4] == b"\\x89PNG"
    True
    """
    for ax in fig.axes:
        if ax in _AX_CRS:  # geopandas labels the axes "Easting [metre]": maps need no axis labels
            ax.set_xlabel("")
            ax.set_ylabel("")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format="png", dpi=dpi, metadata={"Software": None}, facecolor="white",
                        bbox_inches=_tight_bbox(fig, dpi), pad_inches=0.15)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        if close:
            plt.close(fig)
    return target


class MapFigure(Figure):
    """The Figure a ``*_map`` function returns, still unpackable into its 0.x return pair (deprecated).

    0.x map functions returned ``(fig, ax)`` or ``(png path, pydeck layer)``; every ``*_map`` now
    returns the Figure (docs/conventions.md "One vocabulary"). Unpacking it the old way still works
    for one release and warns.

    >>> import warnings, geopandas as gpd; from shapely.geometry import box
    >>> fig, ax = new_map(gpd.GeoDataFrame(geometry=[box(0, 0, 1000, 1000)], crs="EPSG:4550"))
    >>> fig = legacy_unpacking(fig, (fig, ax), "unpacking is deprecated")
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     f, a = fig
    >>> f is fig and a is fig.axes[0]
    True
    >>> plt.close(fig)
    """

    _legacy: tuple[Any, ...] | Callable[[], tuple[Any, ...]] = ()
    _legacy_message = ""

    def __iter__(self) -> Any:
        warnings.warn(self._legacy_message, DeprecationWarning, stacklevel=2)
        pair = self._legacy
        return iter(pair() if callable(pair) else pair)


def legacy_unpacking(fig: Figure, pair: tuple[Any, ...] | Callable[[], tuple[Any, ...]], message: str) -> MapFigure:
    """Let *fig* be unpacked into *pair* (warning *message*): the 0.x return shape of a map function.

    *pair* may be a function giving the pair, called only when the figure is unpacked.

    >>> import warnings, geopandas as gpd; from shapely.geometry import box
    >>> fig, ax = new_map(gpd.GeoDataFrame(geometry=[box(0, 0, 1000, 1000)], crs="EPSG:4550"))
    >>> type(legacy_unpacking(fig, (fig, ax), "old")).__name__
    'MapFigure'
    >>> plt.close(fig)
    """
    fig.__class__ = MapFigure
    fig._legacy = pair  # type: ignore[attr-defined]
    fig._legacy_message = message  # type: ignore[attr-defined]
    return fig  # type: ignore[return-value]
