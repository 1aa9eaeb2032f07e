"""Static map helpers: CJK font, metric CRS, labels without overlap, reproducible PNG."""

from __future__ import annotations

import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.image import imread
from shapely.geometry import box

from gridlib.errors import InputError
from gridlib.maps import static


@pytest.fixture
def streets() -> gpd.GeoDataFrame:
    x0, y0 = 357000.0, 3458000.0
    return gpd.GeoDataFrame(
        {"name_zh": ["陆家嘴街道", "潍坊新村街道", "洋泾街道", "花木街道"]},
        geometry=[box(x0 + dx, y0 + dy, x0 + dx + 2000, y0 + dy + 1500)
                  for dx, dy in [(0, 0), (2000, 0), (0, 1500), (2000, 1500)]],
        crs="EPSG:4550",
    )


def _draw(streets: gpd.GeoDataFrame, path):
    fig, ax = static.new_map(streets.to_crs(4326), title="测试")
    streets.plot(ax=ax, column=np.arange(len(streets)), cmap="Reds")
    static.add_outlines(ax, streets, label_column="name_zh")
    static.add_scale_bar(ax)
    static.add_north_arrow(ax)
    static.add_attribution(ax, "数据: 测试")
    static.add_legend(ax, {"热点": "#b2182b", "不显著": "#eeeeee"}, title="图例")
    return static.save_png(fig, path)


def test_cjk_font_is_found_and_has_chinese_glyphs():
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    family = static.setup_cjk_font()
    assert family == "Noto Sans CJK SC"  # Debian fonts-noto-cjk is part of the environment
    font = FT2Font(font_manager.findfont(family, fallback_to_default=False))
    assert font.get_char_index(ord("街")) != 0


def test_map_is_drawn_in_the_metric_crs_of_the_data(streets):
    fig, ax = static.new_map(streets.to_crs(4326))
    assert static.map_crs(ax).to_epsg() == 4550
    assert static.project(ax, streets.to_crs(4326)).crs.to_epsg() == 4550
    x0, x1 = ax.get_xlim()
    assert 4000 < x1 - x0 < 4500  # metres, with a small margin
    plt.close(fig)


def test_png_is_byte_identical_for_the_same_map(streets, tmp_path):
    a = _draw(streets, tmp_path / "a.png")
    b = _draw(streets, tmp_path / "b.png")
    assert a.read_bytes() == b.read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write leaves no temporary file
    image = imread(a)
    assert image.shape[0] > 800 and image.shape[1] > 800


def test_maps_measure_each_text_once_and_draw_the_same_bytes(streets, tmp_path, monkeypatch):
    from matplotlib.backends.backend_agg import RendererAgg

    monkeypatch.setattr(static, "_TEXT_EXTENTS", {})
    measure = RendererAgg.get_text_width_height_descent
    measured: list[str] = []
    monkeypatch.setattr(RendererAgg, "get_text_width_height_descent",
                        lambda self, s, prop, ismath: measured.append(s) or measure(self, s, prop, ismath))
    first = _draw(streets, tmp_path / "a.png").read_bytes()
    assert measured.count("测试") == 1  # the title: measured by the first size's renderer only
    _draw(streets, tmp_path / "b.png")
    assert measured.count("测试") == 1 and measured.count("陆家嘴街道") == 1  # and not again for the next map
    monkeypatch.setattr(static, "_measuring_renderer", lambda get_renderer: get_renderer())  # matplotlib's own
    assert _draw(streets, tmp_path / "c.png").read_bytes() == first
    assert measured.count("测试") == 3  # matplotlib measures it for each of the map's two renderers


def test_png_has_no_software_metadata(streets, tmp_path):
    data = _draw(streets, tmp_path / "m.png").read_bytes()
    assert b"matplotlib" not in data.lower()


def test_overlapping_labels_are_dropped():
    # 100 tiny squares in a 1 km map: their labels cannot all fit, so only non-overlapping ones stay.
    cells = [box(i * 100, j * 100, i * 100 + 100, j * 100 + 100) for i in range(10) for j in range(10)]
    gdf = gpd.GeoDataFrame({"name_zh": [f"社区{i}" for i in range(100)]}, geometry=cells, crs="EPSG:4550")
    fig, ax = static.new_map(gdf, figsize=(4, 4))
    n = static.add_outlines(ax, gdf, label_column="name_zh", fontsize=9)
    assert 0 < n < 100
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    assert len(boxes) == n
    assert not any(boxes[i].overlaps(boxes[j]) for i in range(n) for j in range(i + 1, n))
    plt.close(fig)


def test_scale_bar_length_is_round():
    assert static._nice_length(4321) == 2000
    assert static._nice_length(999) == 500
    assert static._nice_length(120) == 100
    assert static._format_length(2000) == "2 km" and static._format_length(500) == "500 m"


def test_bad_inputs_are_clear(streets):
    with pytest.raises(InputError, match="no CRS"):
        static.new_map(gpd.GeoDataFrame(geometry=[box(0, 0, 1, 1)]))
    with pytest.raises(InputError, match="empty"):
        static.new_map(streets.iloc[:0])
    fig, ax = static.new_map(streets)
    with pytest.raises(InputError, match="label column"):
        static.add_outlines(ax, streets, label_column="nope")
    plt.close(fig)
    fig, plain = plt.subplots()
    with pytest.raises(InputError, match="not made by"):
        static.map_crs(plain)
    plt.close(fig)
