"""Synthetic city assets over the real demo roads: components, cameras, team bases,
responsibility, 包路段 road sections and 门前五包 frontage zones."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
import shapely.ops
from shapely.strtree import STRtree

from gridlib.demo._area import (
    METRIC_EPSG,
    Area,
    positions_along,
    regular_along,
    sample_on_lines,
    stable_order,
)

__all__ = ["components", "cameras", "team_bases", "responsibility", "road_sections", "frontage_zones"]

_GEOD = pyproj.Geod(ellps="WGS84")
_TO_LONLAT = pyproj.Transformer.from_crs(METRIC_EPSG, 4326, always_xy=True)
#: manhole-cover classes (GB/T 47678.5-2026) and their share among the covers
COVER_CLASSES = {"01001": 0.15, "01002": 0.20, "01003": 0.20, "01004": 0.20, "01005": 0.08, "01007": 0.10,
                 "01011": 0.07}
CLASS_NAMES = {"01001": "供水井盖", "01002": "污水井盖", "01003": "雨水井盖", "01004": "雨水箅子",
               "01005": "电力井盖", "01007": "通信井盖", "01011": "燃气井盖", "01037": "路灯", "03005": "垃圾箱"}
#: class → (owner, maintainer) unit suffixes; the district name is put in front
UNITS = {
    "01001": ("供水管理所", "供水管网养护站"), "01002": ("排水管理所", "排水设施养护站"),
    "01003": ("排水管理所", "排水设施养护站"), "01004": ("排水管理所", "排水设施养护站"),
    "01005": ("供电公司", "电力设施维护班"), "01007": ("通信管线办公室", "通信管线维护班"),
    "01011": ("燃气管理所", "燃气管网抢修站"), "01037": ("城市照明管理所", "路灯养护队"),
    "03005": ("绿化和市容管理局", "环卫作业公司"),
}
_SURNAMES = np.array(list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾"))


def fake_people(rng: np.random.Generator, n: int, start: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Obviously synthetic names ("王某0001") and phone numbers ("100-0000-0001", not a real prefix)."""
    seq = np.arange(start, start + n)
    names = np.char.add(np.char.add(rng.choice(_SURNAMES, n), "某"), np.char.zfill(seq.astype(str), 4))
    phones = np.char.add("100-0000-", np.char.zfill(seq.astype(str), 4))
    return names.astype(object), phones.astype(object)


def _district_names(area: Area) -> dict[str, str]:
    return dict(zip(area.districts["code"], area.districts["name"], strict=True))


def components(area: Area, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """Manhole covers in the carriageway, street lamps and litter bins along the kerbs.

    Ids are 2026-style 17 digits: district code + 5-digit class + 6-digit sequence,
    numbered north→south, west→east within (district, class).

    Examples
    --------
    >>> import numpy as np
    >>> from gridlib.demo._area import load_area
    >>> area = load_area()   # the real Lujiazui-area layers bundled in data/
    >>> comp = components(area, np.random.default_rng(0))
    >>> len(comp) > 1000, comp.crs.to_epsg(), comp["class_code"].value_counts().index[0]
    (True, 4550, '01037')
    """
    lines = area.roads.geometry.values
    major = (area.roads["kind"] == "major_road").to_numpy()
    parts = []
    # lamps every 35 m on major roads, alternating sides 12 m off the centre line
    idx, d = regular_along(lines[major], 35.0, 10.0)
    side = np.where(np.arange(len(idx)) % 2 == 0, 12.0, -12.0)
    x, y, _ = positions_along(lines[major], idx, d, side)
    parts.append(("01037", x, y))
    # bins every 90 m on all drivable roads, 7 m off the centre line
    idx, d = regular_along(lines, 90.0, 25.0)
    x, y, _ = positions_along(lines, idx, d, rng.choice([-7.0, 7.0], len(idx)))
    parts.append(("03005", x, y))
    # covers: about one per 30 m of major road and per 60 m of minor road, near the centre line
    weights = np.where(major, 2.0, 1.0)
    n_covers = int(shapely.length(lines).sum() * 0.025)
    idx, d = sample_on_lines(lines, n_covers, rng, weights)
    x, y, _ = positions_along(lines, idx, d, rng.normal(0.0, 3.0, n_covers))
    cls = rng.choice(list(COVER_CLASSES), n_covers, p=np.array(list(COVER_CLASSES.values())))
    for code in COVER_CLASSES:
        parts.append((code, x[cls == code], y[cls == code]))

    frames = []
    for code, px, py in parts:
        keep = area.on_land(px, py)
        frames.append(pd.DataFrame({"class_code": code, "x": px[keep], "y": py[keep]}))
    comp = pd.concat(frames, ignore_index=True)
    comp["district_code"] = area.code_at("districts", comp["x"].to_numpy(), comp["y"].to_numpy())
    comp = comp[comp["district_code"] != ""]
    comp = comp.iloc[stable_order(comp["x"].to_numpy(), comp["y"].to_numpy(), band_m=50.0)]
    seq = comp.groupby(["district_code", "class_code"]).cumcount() + 1
    comp["component_id"] = comp["district_code"] + comp["class_code"] + seq.map("{:06d}".format)
    dname = comp["district_code"].map(_district_names(area))
    comp["name_zh"] = comp["class_code"].map(CLASS_NAMES)
    comp["owner_unit"] = dname + comp["class_code"].map(lambda c: UNITS[c][0])
    comp["maintainer_unit"] = dname + comp["class_code"].map(lambda c: UNITS[c][1])
    comp["state"] = rng.choice(["完好", "破损", "丢失"], len(comp), p=[0.96, 0.035, 0.005])
    comp["installed"] = (pd.Timestamp("2005-01-01") + pd.to_timedelta(rng.integers(0, 7000, len(comp)), "D")
                         ).strftime("%Y-%m-%d")
    comp = comp.sort_values("component_id").reset_index(drop=True)
    cols = ["component_id", "class_code", "name_zh", "district_code", "owner_unit", "maintainer_unit", "state",
            "installed"]
    return gpd.GeoDataFrame(comp[cols], geometry=gpd.points_from_xy(comp["x"], comp["y"]), crs=METRIC_EPSG)


def _heading_along_road(area: Area, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Compass heading (° from true north) along the nearest road, either way (a major one if within 30 m)."""
    points = shapely.points(x, y)
    major, every = area.major.geometry.values, area.roads.geometry.values
    line = every[STRtree(every).query_nearest(points, all_matches=False)[1]]
    pt, idx = STRtree(major).query_nearest(points, all_matches=False, max_distance=30.0)
    line[pt] = major[idx]
    d = shapely.line_locate_point(line, shapely.points(x, y))
    a = shapely.get_coordinates(shapely.line_interpolate_point(line, np.maximum(d - 10.0, 0.0)))
    b = shapely.get_coordinates(shapely.line_interpolate_point(line, d + 10.0))
    lon1, lat1 = _TO_LONLAT.transform(a[:, 0], a[:, 1])
    lon2, lat2 = _TO_LONLAT.transform(b[:, 0], b[:, 1])
    azimuth, _, _ = _GEOD.inv(lon1, lat1, lon2, lat2)
    flip = rng.random(len(x)) < 0.5
    return np.round((azimuth + np.where(flip, 180.0, 0.0)) % 360.0, 1)


def cameras(area: Area, rng: np.random.Generator, n_extra: int = 50) -> gpd.GeoDataFrame:
    """Cameras at the 77 real traffic signals and at other plausible sites.

    Other sites: subway entrances, bus/ferry stations, the main attractions and
    points every few hundred metres along major roads. Fixed cameras look along the
    nearest major road (60–90° field of view); domes see all round (360°).

    Examples
    --------
    >>> import numpy as np
    >>> from gridlib.demo._area import load_area
    >>> area = load_area()   # the real Lujiazui-area layers bundled in data/
    >>> cams = cameras(area, np.random.default_rng(0), n_extra=0)   # only those at the 77 signals
    >>> len(cams), bool(cams[["heading", "fov", "range_m"]].notna().all().all())
    (77, True)
    """
    pois = area.pois
    signals = pois[pois["kind"] == "traffic_signals"]
    busy = pois[pois["kind"].isin(["subway_entrance", "bus_station", "ferry_terminal", "station", "attraction",
                                   "mall", "viewpoint"])]
    n_busy = min(len(busy), n_extra // 2)
    busy = busy.iloc[np.sort(rng.choice(len(busy), n_busy, replace=False))]
    idx, d = sample_on_lines(area.major.geometry.values, n_extra - n_busy, rng)
    rx, ry, _ = positions_along(area.major.geometry.values, idx, d, rng.choice([-10.0, 10.0], len(idx)))
    x = np.concatenate([signals.geometry.x.to_numpy(), busy.geometry.x.to_numpy(), rx])
    y = np.concatenate([signals.geometry.y.to_numpy(), busy.geometry.y.to_numpy(), ry])
    site = np.array(["traffic_signal"] * len(signals) + ["poi:" + k for k in busy["kind"]] + ["road"] * len(rx),
                    dtype=object)
    keep = area.on_land(x, y)
    x, y, site = x[keep], y[keep], site[keep]
    n = len(x)
    dome = rng.random(n) < np.where(site == "traffic_signal", 0.25, 0.4)
    # away from the roads (plazas, promenades, parks) a dome that sees all round is the sensible kind
    roads = area.roads.geometry.values
    far = shapely.distance(shapely.points(x, y), roads[STRtree(roads).query_nearest(shapely.points(x, y),
                                                                                   all_matches=False)[1]]) > 30.0
    dome |= far
    district = area.code_at("districts", x, y)
    order = stable_order(x, y)
    frame = pd.DataFrame({
        "district_code": district, "site": site, "type": np.where(dome, "dome", "fixed"),
        "heading": _heading_along_road(area, x, y, rng),
        "fov": np.where(dome, 360.0, rng.choice([60.0, 70.0, 80.0, 90.0], n)),
        "range_m": np.round(np.where(dome, rng.uniform(40, 80, n), rng.uniform(60, 150, n)), 0),
        "height_m": np.round(np.where(dome, rng.uniform(3.5, 6.0, n), rng.uniform(5.0, 8.0, n)), 1),
        "x": x, "y": y,
    }).iloc[order].reset_index(drop=True)
    frame.insert(0, "camera_id", [f"CAM{d}{i:04d}" for i, d in enumerate(frame["district_code"], start=1)])
    return gpd.GeoDataFrame(frame.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(frame["x"], frame["y"]),
                            crs=METRIC_EPSG)


def team_bases(area: Area) -> gpd.GeoDataFrame:
    """城管中队 bases: one per street with land, plus one per further four communities, on a road.

    Examples
    --------
    >>> import numpy as np
    >>> from gridlib.demo._area import load_area
    >>> area = load_area()   # the real Lujiazui-area layers bundled in data/
    >>> bases = team_bases(area)
    >>> bases[["base_id", "name"]].head(2).values.tolist()
    [['B31010100201', '南京东路城管中队'], ['B31010101301', '外滩城管中队']]
    """
    rows = []
    roads = area.roads.geometry.values
    tree = STRtree(roads)
    for code, name, geom in zip(area.streets["code"], area.streets["name"], area.streets.geometry, strict=True):
        land = shapely.difference(geom, area.river)
        if shapely.area(land) < 20_000:  # a street that is only river here (大桥街道's corner)
            continue
        mine = area.communities[area.communities["parent_code"] == code]
        n = 1 + len(mine) // 4
        anchors = [shapely.point_on_surface(land)]
        if n > 1:
            pieces = [shapely.difference(g, area.river) for g in mine.geometry]
            anchors += [shapely.point_on_surface(p) for p in sorted(pieces, key=shapely.area, reverse=True)[1:n]]
        for k, anchor in enumerate(anchors, start=1):
            road = roads[tree.query_nearest(anchor)[0]]
            point = shapely.line_interpolate_point(road, shapely.line_locate_point(road, anchor))
            label = name.removesuffix("街道")
            rows.append({"base_id": f"B{code}{k:02d}", "name": f"{label}城管中队" + (f"第{k}分队" if k > 1 else ""),
                         "street_code": code, "geometry": point})
    return gpd.GeoDataFrame(rows, crs=METRIC_EPSG)


def responsibility(area: Area, rng: np.random.Generator) -> pd.DataFrame:
    """Who answers for each street and community (定人、定岗、定责): unit, team, person, phone.

    Examples
    --------
    >>> import numpy as np
    >>> from gridlib.demo._area import load_area
    >>> area = load_area()   # the real Lujiazui-area layers bundled in data/
    >>> resp = responsibility(area, np.random.default_rng(0))
    >>> resp[["level", "code", "unit"]].head(2).values.tolist()
    [['street', '310101002', '南京东路街道办事处'], ['street', '310101013', '外滩街道办事处']]
    """
    streets = area.streets.sort_values("code")
    comms = area.communities.sort_values("code")
    s_name = streets["name"].to_numpy(dtype=object)
    c_name = comms["name"].to_numpy(dtype=object)
    frame = pd.DataFrame({
        "level": ["street"] * len(streets) + ["community"] * len(comms),
        "code": np.concatenate([streets["code"].to_numpy(dtype=object), comms["code"].to_numpy(dtype=object)]),
        "name": np.concatenate([s_name, c_name]),
        "unit": np.concatenate([s_name + "办事处", c_name + "居民委员会"]),
        "team": np.concatenate([np.char.add(np.char.replace(s_name.astype(str), "街道", ""), "城管中队"),
                                np.char.add(c_name.astype(str), "网格工作站")]).astype(object),
    })
    frame["person"], frame["phone"] = fake_people(rng, len(frame))
    return frame


WIDTH_M = {"trunk": 40.0, "primary": 30.0, "secondary": 22.0, "tertiary": 15.0}


def road_sections(area: Area, rng: np.random.Generator, max_m: float = 800.0) -> gpd.GeoDataFrame:
    """包路段: the named major roads cut into sections of at most *max_m*, each with a unit.

    Examples
    --------
    >>> import numpy as np
    >>> from gridlib.demo._area import load_area
    >>> area = load_area()   # the real Lujiazui-area layers bundled in data/
    >>> sections = road_sections(area, np.random.default_rng(0))
    >>> bool(sections.to_crs(4550).length.max() <= 800.5), sections.columns.tolist()[:4]
    (True, ['section_id', 'name', 'street_code', 'unit'])
    """
    major = area.major[area.major["name"].notna()]
    rows = []
    for name, group in major.groupby("name", sort=True):
        merged = shapely.line_merge(shapely.union_all(group.geometry.values))
        detail = group["kind_detail"].str.removesuffix("_link").mode().iloc[0]
        for line in sorted(shapely.get_parts(merged), key=lambda g: (-g.length, g.wkb)):
            n = int(np.ceil(line.length / max_m))
            for k in range(n):
                piece = shapely.ops.substring(line, k * line.length / n, (k + 1) * line.length / n)
                if piece.length >= 30.0:
                    rows.append({"name": name, "kind_detail": detail, "geometry": piece})
    sec = gpd.GeoDataFrame(rows, crs=METRIC_EPSG)
    mid = shapely.get_coordinates(shapely.line_interpolate_point(sec.geometry.values, 0.5, normalized=True))
    sec["street_code"] = area.code_at("streets", mid[:, 0], mid[:, 1])
    sec = sec[sec["street_code"] != ""].iloc[stable_order(*mid[sec["street_code"] != ""].T)]
    street_name = dict(zip(area.streets["code"], area.streets["name"], strict=True))
    group_no = rng.integers(1, 4, len(sec))
    sec["unit"] = [f"{street_name[s].removesuffix('街道')}道路保洁{g}组" for s, g in zip(sec["street_code"], group_no,
                                                                                   strict=True)]
    base = sec["kind_detail"].map(WIDTH_M).fillna(15.0).to_numpy()
    sec["width_m"] = np.round(base * rng.uniform(0.85, 1.15, len(sec)), 1)
    sec.insert(0, "section_id", [f"RS{i:04d}" for i in range(1, len(sec) + 1)])
    return sec[["section_id", "name", "street_code", "unit", "width_m", "geometry"]].reset_index(drop=True)


_SHOP_KINDS = ("restaurant", "fast_food", "cafe", "bar", "pub", "bakery", "ice_cream", "supermarket", "convenience",
               "mall", "hotel", "bank", "pharmacy", "clothes", "jewelry", "shop", "books", "gift", "electronics",
               "mobile_phone", "computer")


def frontage_zones(area: Area, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """门前五包 zones: the strip between each shop or restaurant and the kerb of its road.

    Examples
    --------
    >>> import numpy as np
    >>> from gridlib.demo._area import load_area
    >>> area = load_area()   # the real Lujiazui-area layers bundled in data/
    >>> zones = frontage_zones(area, np.random.default_rng(0))
    >>> len(zones) > 50, zones.geom_type.unique().tolist(), zones.columns.tolist()[:3]
    (True, ['Polygon'], ['zone_id', 'unit', 'kind'])
    """
    shops = area.pois[area.pois["kind"].isin(_SHOP_KINDS)].reset_index(drop=True)
    pts = shops.geometry.values
    lines = area.roads.geometry.values
    pt, idx = STRtree(lines).query_nearest(pts, all_matches=False, max_distance=60.0)
    shops, line = shops.iloc[pt].reset_index(drop=True), lines[idx]
    pts = shops.geometry.values
    d = shapely.line_locate_point(line, pts)
    half = rng.uniform(10.0, 20.0, len(shops))
    zones = []
    for g, dd, h, p in zip(line, d, half, pts, strict=True):
        piece = shapely.ops.substring(g, max(dd - h, 0.0), min(dd + h, g.length))
        depth = max(float(shapely.distance(p, g)), 6.0)
        a, b = shapely.get_coordinates(piece)[[0, -1]]
        q = shapely.get_coordinates(p)[0]
        left = (b[0] - a[0]) * (q[1] - a[1]) - (b[1] - a[1]) * (q[0] - a[0]) >= 0
        zones.append(shapely.buffer(piece, depth if left else -depth, single_sided=True))
    zones = shapely.difference(np.array(zones), area.river)
    keep = ~shapely.is_empty(zones) & (shapely.area(zones) > 20.0)
    shops, zones = shops[keep].reset_index(drop=True), zones[keep]
    cx, cy = shapely.get_coordinates(shapely.centroid(zones)).T
    order = stable_order(cx, cy)
    shops, zones = shops.iloc[order].reset_index(drop=True), zones[order]
    name = shops["name"].fillna("").astype(str)
    fallback = "商户（" + shops["kind"].astype(str) + "）"
    frame = pd.DataFrame({
        "zone_id": [f"FZ{i:04d}" for i in range(1, len(shops) + 1)],
        "unit": np.where(name != "", name, fallback), "kind": shops["kind"].to_numpy(),
        "street_code": area.code_at("streets", cx[order], cy[order]),
    })
    return gpd.GeoDataFrame(frame, geometry=zones, crs=METRIC_EPSG)
