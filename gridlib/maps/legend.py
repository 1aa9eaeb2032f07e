"""One legend spec for every product map: classes, labels and colours.

The PNG maps (:mod:`gridlib.hotspots.maps`, :mod:`gridlib.nightly.maps`), the
nightly web map and the QGIS styles written into ``responsibility_map.gpkg``
(:mod:`gridlib.nightly.gpkg_styles`) all read their colours from here, so the
three stay identical.

>>> HOTSPOT_COLORS["hot_99"], LIGHT_COLORS["red"]
('#c6242b', '#d01c8b')
>>> [c.value for c in LAYERS["assigned_cases"].classes]
['red', 'yellow', 'green']
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Klass", "LayerStyle", "HOTSPOT_CLASS_COLORS", "HOTSPOT_CLASS_LABELS", "HOTSPOT_COLORS",
           "HOTSPOT_LABELS", "LIGHT_COLORS", "LIGHT_LABELS", "OVERDUE_RAMP", "BLIND_SPOT_COLOR",
           "VIEWSHED_COLOR", "VIOLATION_COLOR", "VIOLATION_TYPE_COLORS", "VIOLATION_TYPE_LABELS",
           "GRID_EDGE_COLOR", "LAYERS", "LAYER_ORDER", "FIELD_TITLES"]

#: Gi* class colours (ArcGIS-like diverging red–blue) and Chinese labels.
HOTSPOT_CLASS_COLORS = {
    "hot_99": "#c6242b", "hot_95": "#ea6f4a", "hot_90": "#f9b88a", "not_significant": "#f1f0ea",
    "cold_90": "#b9d3e6", "cold_95": "#6ea6cd", "cold_99": "#2b6aa8", "island": "#bdbdbd",
    "water_excluded": "#c9d6df",
}
HOTSPOT_CLASS_LABELS = {
    "hot_99": "热点 99% 置信", "hot_95": "热点 95% 置信", "hot_90": "热点 90% 置信", "not_significant": "不显著",
    "cold_90": "冷点 90% 置信", "cold_95": "冷点 95% 置信", "cold_99": "冷点 99% 置信", "island": "无相邻单元",
    "water_excluded": "水域 (不参与分析)",
}
#: the nightly scheme (the same classes, water excluded included)
HOTSPOT_COLORS = dict(HOTSPOT_CLASS_COLORS)
HOTSPOT_LABELS = dict(HOTSPOT_CLASS_LABELS)
#: case lights (supervision stage against its time limit)
# overdue cases are magenta, not the red of the 99 % hot spots they are drawn on
LIGHT_COLORS = {"green": "#1a9641", "yellow": "#fdae61", "red": "#d01c8b"}
LIGHT_LABELS = {"red": "超期", "yellow": "临期 (80–100%)", "green": "正常"}
#: graduated colours for overdue cases per grid: ColorBrewer RdPu from its 3rd class
OVERDUE_RAMP = ("#fa9fb5", "#f768a1", "#dd3497", "#ae017e", "#7a0177", "#49006a")
BLIND_SPOT_COLOR = "#6a3d9a"
VIEWSHED_COLOR = "#3182bd"
VIOLATION_COLOR = "#e31a1c"
#: muck-truck violation types (gridlib.trucks), one colour each
VIOLATION_TYPE_COLORS = {
    "deviation": "#d7191c", "no_permit": "#7b3294", "outside_hours": "#fdae61", "unpermitted_stop": "#8c510a",
    "restricted_zone": "#c51b7d", "speeding": "#2c7bb6", "gps_silence": "#636363",
}
VIOLATION_TYPE_LABELS = {
    "deviation": "偏离路线", "no_permit": "无证运输", "outside_hours": "超时段运输", "unpermitted_stop": "疑似偷倒（违规停留）",
    "restricted_zone": "驶入禁行区", "speeding": "超速", "gps_silence": "定位中断",
}
GRID_EDGE_COLOR = "#bbbbbb"
#: travel time classes (minutes) to the nearest team base, green → red
REACH_RANGES = ((0.0, 5.0, "#1a9641"), (5.0, 10.0, "#a6d96a"), (10.0, 15.0, "#fdae61"), (15.0, 1e9, "#d7191c"))


@dataclass(frozen=True)
class Klass:
    """One class of a categorized layer: the field value, its Chinese label and fill/stroke colour.

    >>> LAYERS["assigned_cases"].classes[0]
    Klass(value='red', label='超期', color='#d01c8b')
    """

    value: str
    label: str
    color: str


@dataclass(frozen=True)
class LayerStyle:
    """How one GeoPackage layer is drawn and titled.

    ``kind`` is ``"categorized"`` (``field`` + ``classes``), ``"graduated"`` (``field`` + ``ranges``
    of ``(lower, upper, colour)``) or ``"single"`` (``color``); ``geometry`` is ``"fill"``,
    ``"line"`` or ``"marker"`` (or ``None`` for a table).

    >>> style = LAYERS["hotspots"]
    >>> style.kind, style.field, style.geometry
    ('categorized', 'hotspot_class', 'fill')
    """

    title: str
    geometry: str | None
    kind: str = "single"
    field: str | None = None
    classes: tuple[Klass, ...] = ()
    ranges: tuple[tuple[float, float, str], ...] = ()
    color: str = "#888888"
    stroke: str = GRID_EDGE_COLOR
    width_mm: float = 0.26
    opacity: float = 1.0
    domain: str | None = None  # a name for the field domain of ``field``'s class values


def _classes(colors: dict[str, str], labels: dict[str, str], order: tuple[str, ...] | None = None) -> tuple[Klass, ...]:
    return tuple(Klass(k, labels[k], colors[k]) for k in (order or tuple(colors)))


LAYERS: dict[str, LayerStyle] = {
    "grid_responsibility": LayerStyle("网格责任 (热点)", "fill", "categorized", "hotspot_class",
                                      _classes(HOTSPOT_COLORS, HOTSPOT_LABELS), stroke=GRID_EDGE_COLOR,
                                      width_mm=0.1, domain="hotspot_class"),
    "hotspots": LayerStyle("热点分析 (Gi*)", "fill", "categorized", "hotspot_class",
                           _classes(HOTSPOT_CLASS_COLORS, HOTSPOT_CLASS_LABELS), width_mm=0.1,
                           domain="hotspot_class"),
    "assigned_cases": LayerStyle("案件 (灯色)", "marker", "categorized", "light",
                                 _classes(LIGHT_COLORS, LIGHT_LABELS, ("red", "yellow", "green")),
                                 stroke="#ffffff", domain="case_light"),
    "violations": LayerStyle("渣土车违规", "marker", "categorized", "type",
                             _classes(VIOLATION_TYPE_COLORS, VIOLATION_TYPE_LABELS), stroke="#ffffff",
                             domain="violation_type"),
    "violation_tracks": LayerStyle("渣土车违规轨迹", "line", "categorized", "type",
                                   _classes(VIOLATION_TYPE_COLORS, VIOLATION_TYPE_LABELS), width_mm=0.8,
                                   domain="violation_type"),
    "blind_spots": LayerStyle("摄像头盲区道路", "line", color=BLIND_SPOT_COLOR, width_mm=0.6),
    "camera_viewsheds": LayerStyle("摄像头视域", "fill", color=VIEWSHED_COLOR, stroke=VIEWSHED_COLOR,
                                   opacity=0.25),
    "reachability": LayerStyle("可达性 (到最近班组)", "fill", "graduated", "travel_min", ranges=REACH_RANGES,
                               width_mm=0.1),
    "rejects": LayerStyle("拒收记录", None),
}
#: QGIS layer order, top to bottom: points over lines over polygons, tables last
LAYER_ORDER = ("assigned_cases", "violations", "violation_tracks", "blind_spots", "camera_viewsheds", "hotspots", "reachability",
               "grid_responsibility", "rejects")

#: field → (Chinese title, description); shared by every layer that has the field
FIELD_TITLES: dict[str, tuple[str, str]] = {
    "grid_code": ("网格编码", "单元网格编码 (自西向东、自北向南编号)"),
    "community_code": ("社区编码", "所属社区编码"), "community_name": ("社区", "所属社区名称"),
    "street_code": ("街道编码", "所属街道编码"), "street_name": ("街道", "所属街道名称"),
    "district_code": ("区编码", "所属区编码"), "district_name": ("区", "所属区名称"),
    "area_m2": ("面积 (m²)", "网格面积, 平方米 (投影坐标系)"),
    "responsible_unit": ("责任单位", "负责处置的单位"), "team": ("班组", "负责的作业班组"),
    "person": ("网格员", "负责的网格员"),
    "new_cases": ("当日新增案件", "运行日当天新立案件数"), "open_cases": ("在办案件", "尚未结案的案件数"),
    "overdue_cases": ("超期案件", "超过处置时限的在办案件数"), "cases_30d": ("近30天案件", "近30天立案数"),
    "hotspot_class": ("热点类别", "Getis-Ord Gi* 热点/冷点类别及置信度"), "hotspot_z": ("Gi* Z 值", "Gi* 标准化统计量"),
    "emerging_category": ("时空热点模式", "新兴热点分析的模式类别"),
    "road_length_m": ("道路长度 (m)", "网格内道路总长, 米"),
    "camera_road_share": ("摄像头覆盖率", "摄像头视域覆盖的道路长度占比 (0–1)"),
    "blind_road_m": ("盲区道路 (m)", "未被摄像头覆盖的道路长度, 米"),
    "nearest_base": ("最近班组驻点", "路网上最近的班组驻点"),
    "travel_min": ("到达时间 (分钟)", "从最近驻点出发的路网行驶时间, 分钟"),
    "reachable_10min": ("10分钟可达", "10分钟内可从驻点到达"),
    "case_id": ("案件编号", "案件唯一编号"), "class_code": ("案件类别码", "部件/事件分类代码"),
    "kind": ("类型", "类型"), "source": ("来源", "案件来源"), "urgency": ("紧急程度", "紧急程度"),
    "reported_at": ("上报时间", "案件上报时间"), "status": ("状态", "案件状态"), "stage": ("处置阶段", "当前处置阶段"),
    "light": ("灯色", "红灯超期, 黄灯临期 (80–100%), 绿灯正常"),
    "responsibility_basis": ("定责依据", "确定责任网格的依据"),
    "distance_to_boundary_m": ("距网格边界 (m)", "案件点到网格边界的距离, 米"),
    "near_boundary": ("靠近边界", "案件点靠近网格边界, 定责需复核"),
    "blind_id": ("盲区编号", "盲区道路编号"), "rank": ("优先级排名", "按案件密度和道路等级排序的优先级"),
    "priority": ("优先级得分", "优先级得分"), "case_density": ("案件密度", "每公里案件数"),
    "kind_detail": ("类型细分", "道路类型细分"), "name": ("名称", "道路名称"), "length_m": ("长度 (m)", "长度, 米"),
    "class_weight": ("道路等级权重", "道路等级权重"),
    "camera_id": ("摄像头编号", "摄像头编号"), "type": ("类型", "类型"), "heading": ("朝向 (°)", "摄像头朝向, 度"),
    "fov": ("视场角 (°)", "水平视场角, 度"), "range_m": ("视距 (m)", "有效视距, 米"),
    "count": ("案件数", "分析窗口内的案件数"), "z": ("Z 值", "Gi* 标准化统计量"), "p": ("P 值", "正态近似 P 值"),
    "p_sim": ("模拟 P 值", "置换检验 P 值"), "q": ("FDR 校正", "FDR 校正后的显著性"),
    "violation_id": ("违规编号", "违规记录编号"), "vehicle_id": ("车辆编号", "渣土车编号"),
    "permit_id": ("准运证编号", "处置核准 (准运证) 编号"), "company": ("运输公司", "运输公司"),
    "start": ("开始时间", "违规开始时间"), "end": ("结束时间", "违规结束时间"),
    "duration_s": ("持续时间 (秒)", "违规持续时间, 秒"),
    "step": ("步骤", "拒收发生的处理步骤"), "record_id": ("记录编号", "被拒收的记录编号"),
    "reason": ("拒收原因", "拒收原因"), "reason_code": ("原因代码", "拒收原因代码"), "field": ("字段", "出错的字段"),
}
