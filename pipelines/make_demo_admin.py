"""Build the demo area's admin hierarchy: ``data/admin/lujiazui_admin.gpkg``.

Layers ``districts`` (real), ``streets`` and ``communities`` (derived), each with
``code``, ``name``, ``parent_code``, ``derived``, ``note`` and a WGS84 geometry.

- Districts: the study-area box (the extent of the demo roads) polygonised with the
  real OSM district boundary lines. Faces are named by a length-weighted vote of the
  ``name:left``/``name:right`` tags of the lines around them: Tilezen merged the
  pieces of Hongkou's boundary into one line whose right-hand tag (浦东新区) is wrong
  along Suzhou Creek (黄浦区) and on the short Hongkou/Yangpu piece (杨浦区); the vote
  settles both, and every face must end with a distinct district or the build fails.
- Blocks: faces of the major roads (tunnels excluded; line ends extended 15 m to close
  tile-edge gaps), district lines and the box, minus the river; slivers (medians,
  link-road islands) merge into the neighbour they share most boundary with. River
  water goes to the nearest land block of its district (Voronoi cells of bank points),
  so blocks tile the district.
- Streets: each block goes to the nearest anchor of the real 街道 chosen for its
  district (anchors placed by hand in the part of the area each street covers), so
  street edges run along major roads and the river. Codes and names are the official
  NBS 2023 ones; the polygons are approximate, not official.
- Communities: adjacent blocks of one street grouped to about 0.2–0.8 km², numbered
  west→east, north→south within the street: code = street code + 3-digit sequence.

Run ``python pipelines/make_demo_admin.py [--out PATH] [--png PATH]``; the output is
byte-identical from run to run (fixed GeoPackage timestamp, sorted rows).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from shapely.strtree import STRtree

from gridlib import datasets
from gridlib.errors import ValidationError

METRIC_EPSG = 4550  # CGCS2000 / 3-degree Gauss-Kruger CM 120E: gl.crs.metric_crs_for(demo area)
SHANGHAI_CODE = "310100"
EXTEND_M = 15.0  # close tile-edge gaps between road pieces
DANGLE_REACH_M = 300.0
GRID_M = 0.01  # every overlay snaps to this grid, so shared edges coincide exactly
TUNNEL_APPROACH_M = 300.0
SLIVER_AREA_M2 = 4_000.0
SLIVER_WIDTH_M = 12.0  # mean width = 2·area/perimeter; dual-carriageway medians are narrower
BANK_POINT_SPACING_M = 10.0
COMMUNITY_MIN_M2, COMMUNITY_TARGET_M2, COMMUNITY_MAX_M2 = 200_000.0, 400_000.0, 800_000.0
ROW_BAND_M = 600.0  # north→south rows for numbering
DERIVED_NOTE = "derived: approximate, not an official boundary"
FIXED_TIMESTAMP = "2026-01-01T00:00:00Z"

# Street anchors (lon, lat): each block joins the street with the nearest anchor in its district.
STREET_ANCHORS: dict[str, list[tuple[float, float]]] = {
    # 黄浦区: the Bund north of 延安东路; a strip west of 四川中路; 豫园 (城隍庙) and 小东门 (十六铺) south.
    "310101013": [(121.4875, 31.2420), (121.4880, 31.2375), (121.4870, 31.2450), (121.4905, 31.2400)],  # 外滩
    "310101002": [(121.4800, 31.2410), (121.4800, 31.2380)],  # 南京东路街道
    "310101018": [(121.4880, 31.2285), (121.4835, 31.2300)],  # 豫园街道
    "310101017": [(121.4925, 31.2335), (121.4950, 31.2300), (121.4975, 31.2275)],  # 小东门街道
    # 虹口区: the riverside south of 海宁路 is 北外滩街道.
    "310109018": [(121.4900, 31.2480)],
    # 杨浦区: its westernmost riverside street, east of 大连路.
    "310110018": [(121.5160, 31.2500)],
    # 浦东新区: the peninsula inside 浦东南路 is 陆家嘴; east of it 洋泾 (north of 世纪大道) and 潍坊新村 (south).
    "310115005": [(121.5000, 31.2400), (121.5040, 31.2300), (121.4990, 31.2460), (121.5080, 31.2360)],  # 陆家嘴
    "310115013": [(121.5150, 31.2440), (121.5185, 31.2385)],  # 洋泾街道
    "310115004": [(121.5160, 31.2300), (121.5110, 31.2320)],  # 潍坊新村街道
}


def _extend_ends(lines: np.ndarray, dist: float) -> list[shapely.LineString]:
    """Prolong both ends of every line by *dist* along its end segments."""
    out = []
    for line in shapely.get_parts(lines):
        xy = shapely.get_coordinates(line)
        if len(xy) < 2:
            continue
        start, end = xy[0] - xy[1], xy[-1] - xy[-2]
        start = xy[0] + start / max(np.hypot(*start), 1e-9) * dist
        end = xy[-1] + end / max(np.hypot(*end), 1e-9) * dist
        out.append(shapely.linestrings(np.vstack([start, xy, end])))
    return out


def _extend_dangles(lines: list[shapely.LineString], stops: list, reach: float) -> list[shapely.LineString]:
    """Prolong every dangling line end straight ahead until it meets another line (≤ *reach*).

    Roads that dive into a river tunnel, or stop short of the bank, then still cut the
    blocks they lead into (延安东路 across the Bund promenade, for example).
    """
    lines = list(lines)
    tree = STRtree(lines)
    targets = STRtree(lines + list(stops))
    out = list(lines)
    for k, line in enumerate(lines):
        xy = shapely.get_coordinates(line)
        for end, prev in ((xy[0], xy[1]), (xy[-1], xy[-2])):
            point = shapely.Point(end)
            if any(j != k for j in tree.query(point, predicate="dwithin", distance=1.0)):
                continue
            step = end - prev
            ray = shapely.LineString([end, end + step / max(np.hypot(*step), 1e-9) * reach])
            hits = [shapely.intersection(ray, targets.geometries[j])
                    for j in targets.query(ray, predicate="intersects") if j != k]
            dists = [shapely.line_locate_point(ray, p) for h in hits for p in shapely.get_parts(
                shapely.extract_unique_points(h))]
            dists = [d for d in dists if d > 0.5]
            if dists:
                out.append(shapely.LineString([end, shapely.line_interpolate_point(ray, min(dists)).coords[0]]))
    return out


def _faces(lines: list, box: shapely.Polygon) -> np.ndarray:
    noded = shapely.union_all(lines, grid_size=GRID_M)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    faces = faces[shapely.within(shapely.point_on_surface(faces), box)]  # not the specks outside
    # polygonize's order depends on the noding; sort by a stable key (representative point).
    rep = shapely.get_coordinates(shapely.point_on_surface(faces))
    return faces[np.lexsort((rep[:, 0], -rep[:, 1]))]


def _side_votes(faces: np.ndarray, lines: gpd.GeoDataFrame, offset: float = 5.0) -> list[dict[str, float]]:
    """Length-weighted votes of the boundary lines' left/right names for every face."""
    votes: list[dict[str, float]] = [{} for _ in faces]
    tree = STRtree(faces)
    for line, left, right in zip(lines.geometry, lines["name:left"], lines["name:right"], strict=True):
        xy = shapely.get_coordinates(line)
        for a, b in zip(xy[:-1], xy[1:], strict=True):
            seg = b - a
            length = float(np.hypot(*seg))
            if length == 0:
                continue
            mid = (a + b) / 2
            normal = np.array([-seg[1], seg[0]]) / length  # points to the left
            for name, point in ((left, mid + normal * offset), (right, mid - normal * offset)):
                hit = tree.query(shapely.Point(point), predicate="within")
                if len(hit):
                    votes[hit[0]][name] = votes[hit[0]].get(name, 0.0) + length
    return votes


def build_districts(box: shapely.Polygon, boundaries: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Polygonise the study box with the district lines; name each face by vote."""
    faces = _faces([box.boundary, *_extend_ends(boundaries.geometry.values, EXTEND_M)], box)
    faces = faces[shapely.area(faces) > 1.0]
    names = []
    for face, vote in zip(faces, _side_votes(faces, boundaries), strict=True):
        if not vote:
            raise ValidationError(f"district face at {shapely.point_on_surface(face).wkt} touches no boundary line")
        names.append(max(sorted(vote), key=vote.get))
    if len(set(names)) != len(names):
        raise ValidationError(f"district faces got duplicate names {names}; the boundary lines changed?")
    codes = [datasets.DISTRICT_CODES[n] for n in names]
    return gpd.GeoDataFrame({"code": codes, "name": names}, geometry=list(faces), crs=METRIC_EPSG)


def _polygons(geoms: Any) -> np.ndarray:
    """The non-empty Polygon parts of *geoms* (overlays on a grid can leave collapsed lines)."""
    parts = shapely.get_parts(shapely.get_parts(geoms))
    return parts[(shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)]


def _union(geoms: Any) -> shapely.Geometry:
    """Union on the grid, keeping only the polygonal result (a Polygon or MultiPolygon)."""
    parts = _polygons(shapely.union_all(_polygons(geoms), grid_size=GRID_M))
    return parts[0] if len(parts) == 1 else shapely.multipolygons(parts)


def _shared_length(a: shapely.Geometry, b: shapely.Geometry) -> float:
    return float(shapely.length(shapely.intersection(shapely.boundary(a), shapely.boundary(b))))


def _merge_slivers(geoms: list[shapely.Geometry]) -> list[shapely.Geometry]:
    """Merge slivers into the neighbour with the longest shared boundary (smallest first)."""
    geoms = list(geoms)
    while True:
        area = shapely.area(geoms)
        width = 2 * area / np.maximum(shapely.length(geoms), 1e-9)
        small = np.flatnonzero((area < SLIVER_AREA_M2) | (width < SLIVER_WIDTH_M))
        if len(small) == 0 or len(geoms) == 1:
            return geoms
        i = int(small[np.argmin(area[small])])
        others = np.array([j for j in range(len(geoms)) if j != i])
        shared = np.array([_shared_length(geoms[i], geoms[j]) for j in others])
        if shared.max() > 0:
            j = int(others[np.argmax(shared)])
        else:  # an island in the river (a pier head): join the nearest block; the water links them
            j = int(others[np.argmin(shapely.distance(geoms[i], [geoms[k] for k in others]))])
        geoms[j] = _union([geoms[j], geoms[i]])
        del geoms[i]


def _split_water(land: list[shapely.Geometry], water: shapely.Geometry) -> list[shapely.Geometry]:
    """Give every part of *water* to the land block with the nearest bank point."""
    if shapely.is_empty(water) or not land:
        return land
    near_water = shapely.buffer(water, 1.0)
    points, labels = [], []
    for k, block in enumerate(land):
        ring = shapely.segmentize(shapely.boundary(block), BANK_POINT_SPACING_M)
        xy = shapely.get_coordinates(ring)
        xy = xy[shapely.contains_xy(near_water, xy[:, 0], xy[:, 1])]
        points.append(xy)
        labels.append(np.full(len(xy), k))
    xy, label = np.vstack(points), np.concatenate(labels)
    if len(xy) == 0:
        return land
    _, first = np.unique(np.round(xy, 3), axis=0, return_index=True)
    first = np.sort(first)
    xy, label = xy[first], label[first]
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=shapely.envelope(water), ordered=True)
    )
    out = list(land)
    for k in np.unique(label):
        share = shapely.intersection(shapely.union_all(cells[label == k], grid_size=GRID_M), water, grid_size=GRID_M)
        out[k] = _union([out[k], share])
    return out


def _gaps(district: shapely.Geometry, pieces: list) -> list[shapely.Geometry]:
    """Slivers of the district that no piece covers (residue of snapping overlays to the grid)."""
    covered = shapely.union_all(pieces, grid_size=GRID_M)
    return list(_polygons(shapely.difference(district, covered, grid_size=GRID_M)))


def _absorb_fragments(blocks: list[shapely.Geometry]) -> list[shapely.Geometry]:
    """Make every block one piece: detached parts go to the block they share most edge with.

    Voronoi shares of the river can leave a block a sliver of water cut off from its
    land; giving it to the neighbour that encloses it keeps blocks (and so streets and
    communities) contiguous without leaving a gap.
    """
    main, loose = [], []
    for k, block in enumerate(blocks):
        parts = sorted(_polygons(block), key=lambda p: -shapely.area(p))
        main.append(parts[0])
        loose += [(k, p) for p in parts[1:]]
    gifts: dict[int, list] = {}
    for k, part in loose:
        shared = [(_shared_length(part, m), -j) for j, m in enumerate(main)]
        best = max(range(len(main)), key=lambda j: shared[j])
        gifts.setdefault(best if shared[best][0] > 0 else k, []).append(part)
    return [_union([m, *gifts.get(j, [])]) for j, m in enumerate(main)]


def _river_tunnel_approaches(tunnels: gpd.GeoDataFrame, districts: gpd.GeoDataFrame,
                             river: shapely.Geometry) -> list[shapely.Geometry]:
    """The land ends of the tunnels under the Huangpu, as cut lines across the riverside.

    No surface road crosses the riverside promenades; the cross-river tunnels'
    approaches (named tunnels that pass under a district boundary, which runs in the
    river) mark where the city itself divides them.
    """
    edges = shapely.union_all(shapely.boundary(districts.geometry.values))
    named = tunnels[tunnels["name"].notna()]
    crossing = named.loc[named.intersects(edges), "name"].unique()
    pieces = named[named["name"].isin(crossing)].geometry.values
    near_bank = shapely.difference(shapely.buffer(river, TUNNEL_APPROACH_M), river)
    return [g for g in shapely.get_parts(shapely.intersection(pieces, near_bank)) if not g.is_empty]


def build_blocks(districts: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, river: shapely.Geometry,
                 box: shapely.Polygon) -> gpd.GeoDataFrame:
    """Blocks of major roads inside each district, with the river shared out among them."""
    major = roads[roads["kind"] == "major_road"]
    tunnel = major["is_tunnel"].astype("boolean").fillna(False).to_numpy()
    road_lines = _extend_ends(major.geometry.values[~tunnel], EXTEND_M)
    road_lines += _river_tunnel_approaches(major[tunnel], districts, river)
    stops = [shapely.boundary(river), *shapely.boundary(districts.geometry.values), box.boundary]
    road_lines = _extend_dangles(road_lines, stops, DANGLE_REACH_M)
    rows = []
    for code, district in zip(districts["code"], districts.geometry, strict=True):
        faces = _faces([shapely.boundary(district), *road_lines], box)
        faces = faces[shapely.within(shapely.point_on_surface(faces), district)]
        water = shapely.intersection(river, district, grid_size=GRID_M)
        land = list(_polygons(shapely.difference(faces, water, grid_size=GRID_M)))
        if land:
            land = _merge_slivers(land)
            pieces = _split_water(land, water)
            blocks = _absorb_fragments(pieces + _gaps(district, pieces))
        else:  # a district corner that is all river
            blocks = [district]
        rows += [(code, shapely.make_valid(b)) for b in blocks]
    return gpd.GeoDataFrame({"district_code": [r[0] for r in rows]}, geometry=[r[1] for r in rows],
                            crs=METRIC_EPSG)


def assign_streets(blocks: gpd.GeoDataFrame, street_codes: pd.DataFrame) -> pd.Series:
    """The street code of every block: the nearest anchor among its district's streets."""
    names = street_codes.set_index("code")["name"]
    unknown = sorted(set(STREET_ANCHORS) - set(names.index))
    if unknown:
        raise ValidationError(f"street anchors use codes {unknown} missing from the official table")
    anchor_codes = [c for c, pts in STREET_ANCHORS.items() for _ in pts]
    lonlat = np.array([p for pts in STREET_ANCHORS.values() for p in pts])
    anchors = gpd.GeoSeries.from_xy(lonlat[:, 0], lonlat[:, 1], crs=4326).to_crs(METRIC_EPSG)
    anchor_codes = np.array(anchor_codes)
    rep = blocks.geometry.representative_point()
    out = []
    for district, point in zip(blocks["district_code"], rep, strict=True):
        mine = np.flatnonzero(np.char.startswith(anchor_codes.astype(str), district))
        if len(mine) == 0:
            raise ValidationError(f"no street anchors for district {district}")
        dist = shapely.distance(point, anchors.values[mine])
        out.append(anchor_codes[mine[int(np.argmin(dist))]])
    return pd.Series(out, index=blocks.index, name="street_code")


def _group_blocks(geoms: list[shapely.Geometry]) -> list[list[int]]:
    """Group adjacent blocks of one street to about COMMUNITY_TARGET_M2 each."""
    n = len(geoms)
    area = shapely.area(geoms)
    rep = shapely.get_coordinates(shapely.point_on_surface(geoms))
    order = np.lexsort((rep[:, 0], -rep[:, 1]))  # north-west first
    tree = STRtree(geoms)
    adj = {i: {int(j): _shared_length(geoms[i], geoms[j])
               for j in tree.query(geoms[i], predicate="intersects") if j != i} for i in range(n)}
    adj = {i: {j: s for j, s in nb.items() if s > 1.0} for i, nb in adj.items()}
    group = -np.ones(n, dtype=int)
    groups: list[list[int]] = []
    for seed in order:
        if group[seed] >= 0:
            continue
        members, total = [int(seed)], float(area[seed])
        group[seed] = len(groups)
        while total < COMMUNITY_TARGET_M2:
            cand = {j: s for i in members for j, s in adj[i].items() if group[j] < 0}
            cand = {j: s for j, s in cand.items() if total + area[j] <= COMMUNITY_MAX_M2}
            if not cand:
                break
            best = max(sorted(cand), key=lambda j: (cand[j], -j))
            members.append(best)
            group[best] = len(groups)
            total += float(area[best])
        groups.append(members)
    # Fold groups below the minimum into the adjacent group that stays smallest.
    while True:
        totals = np.array([area[g].sum() for g in groups])
        small = [k for k in np.argsort(totals, kind="stable") if totals[k] < COMMUNITY_MIN_M2 and len(groups) > 1]
        if not small:
            return groups
        k = int(small[0])
        neighbours = sorted({int(group[j]) for i in groups[k] for j in adj[i]} - {k})
        if not neighbours:
            return groups
        target = min(neighbours, key=lambda g: (totals[g], g))
        groups[target] += groups[k]
        for i in groups[k]:
            group[i] = target
        del groups[k]
        group = np.array([next(gi for gi, g in enumerate(groups) if i in g) for i in range(n)])


def _number(geoms: list[shapely.Geometry], top: float) -> np.ndarray:
    """Order of polygons west→east within north→south rows (CJ/T 349 5.7, DB11 5.4)."""
    rep = shapely.get_coordinates(shapely.point_on_surface(geoms))
    row = np.floor((top - rep[:, 1]) / ROW_BAND_M)
    return np.lexsort((rep[:, 0], row))


def _drop_specks(geom: shapely.Geometry) -> shapely.Geometry:
    """Remove the zero-area fragments that unions of Voronoi cells and blocks leave behind."""
    parts = [p for p in shapely.get_parts(shapely.make_valid(geom)) if shapely.area(p) >= 1.0]
    return _union(parts)


def _check_tiling(geoms: np.ndarray, box: shapely.Polygon, tol_m2: float = 10.0) -> None:
    """Fail unless *geoms* cover *box* without gaps or overlaps (to *tol_m2*)."""
    total = float(shapely.area(geoms).sum())
    union = float(shapely.area(shapely.union_all(geoms)))
    if abs(total - union) > tol_m2 or abs(union - box.area) > tol_m2:
        raise ValidationError(
            f"communities do not tile the study box: sum {total:.0f} m², union {union:.0f} m², box {box.area:.0f} m²"
        )


def clean_coverage(geoms: Any) -> np.ndarray:
    """Make polygons an exact coverage: slivers between them (gaps up to 1 m wide) and overlaps
    go to the neighbour sharing the longest border, shared edges become vertex for vertex equal.

    The grouped blocks leave ~1 m² of slivers and overlaps along community edges otherwise,
    which every grid build has to repair (and the grid validation reports as slivers).
    """
    g = shapely.set_precision(np.asarray(geoms, dtype=object), GRID_M)
    out = shapely.coverage_clean(g, gap_width=1.0, snapping_distance=GRID_M)
    out = shapely.set_precision(out, GRID_M)
    if not shapely.coverage_is_valid(out):
        raise ValidationError("communities are not an exact coverage after cleaning")
    return out


def _dissolve(gdf: gpd.GeoDataFrame, by: str) -> gpd.GeoDataFrame:
    """Dissolve a clean coverage by *by* with the exact coverage union (no new slivers)."""
    keys = sorted(gdf[by].unique())
    geoms = [shapely.coverage_union_all(gdf.geometry.values[(gdf[by] == k).to_numpy()]) for k in keys]
    return gpd.GeoDataFrame({by: keys}, geometry=geoms, crs=gdf.crs)


def build(roads: gpd.GeoDataFrame, boundaries: gpd.GeoDataFrame, water: gpd.GeoDataFrame,
          street_codes: pd.DataFrame) -> dict[str, gpd.GeoDataFrame]:
    """Build the three layers (WGS84) from the demo area's real layers (any CRS)."""
    x0, y0, x1, y1 = datasets.DEMO_BBOX
    box = gpd.GeoSeries([shapely.segmentize(shapely.box(x0, y0, x1, y1), 1e-4)], crs=4326)
    box = shapely.set_precision(box.to_crs(METRIC_EPSG).iloc[0], GRID_M)
    roads, boundaries, water = (g.to_crs(METRIC_EPSG) for g in (roads, boundaries, water))
    river = water[water["name"].isin(["黄浦江", "苏州河"]) & water.geom_type.isin(["Polygon", "MultiPolygon"])]
    river = shapely.intersection(shapely.union_all(shapely.make_valid(river.geometry.values), grid_size=GRID_M), box,
                                 grid_size=GRID_M)

    districts = build_districts(box, boundaries)
    blocks = build_blocks(districts, roads, river, box)
    blocks["street_code"] = assign_streets(blocks, street_codes)
    names = street_codes.set_index("code")["name"]
    top = box.bounds[3]

    community_rows = []
    for street in sorted(blocks["street_code"].unique()):
        mine = blocks[blocks["street_code"] == street].geometry.tolist()
        polys = [_union([mine[i] for i in g]) for g in _group_blocks(mine)]
        short = names[street].removesuffix("街道")
        for seq, k in enumerate(_number(polys, top), start=1):
            community_rows.append({
                "code": f"{street}{seq:03d}", "name": f"{short}第{seq}社区", "parent_code": street,
                "derived": True, "note": DERIVED_NOTE + "; blocks of major roads grouped to 0.2-0.8 km2",
                "geometry": polys[k],
            })
    communities = gpd.GeoDataFrame(community_rows, crs=METRIC_EPSG)
    communities["geometry"] = clean_coverage([_drop_specks(g) for g in communities.geometry])
    _check_tiling(communities.geometry.values, box)
    streets = _dissolve(communities, "parent_code")
    streets = streets.rename(columns={"parent_code": "code"})
    streets["name"] = streets["code"].map(names)
    streets["parent_code"] = streets["code"].str[:6]
    streets["derived"] = True
    streets["note"] = DERIVED_NOTE + "; real NBS 2023 code and name placed where the street plausibly lies"
    district_names = {v: k for k, v in datasets.DISTRICT_CODES.items()}
    dist = _dissolve(streets, "parent_code")
    dist = dist.rename(columns={"parent_code": "code"})
    dist["name"] = dist["code"].map(district_names)
    dist["parent_code"] = SHANGHAI_CODE
    dist["derived"] = False
    dist["note"] = ("real: polygonised from OSM district boundary lines; outer edge is the study-area box, "
                    "not the district outline")
    columns = ["code", "name", "parent_code", "derived", "note", "geometry"]
    out = {}
    for layer, gdf in (("districts", dist), ("streets", streets), ("communities", communities)):
        gdf = gdf[columns].sort_values("code").reset_index(drop=True).to_crs(4326)
        # projecting can make a ring touch itself; repair in the output CRS, keep polygons only
        fixed = shapely.make_valid(gdf.geometry.values, method="structure", keep_collapsed=False)
        gdf["geometry"] = shapely.normalize(fixed)
        bad = ~shapely.is_valid(gdf.geometry.values) | ~gdf.geom_type.isin(["Polygon", "MultiPolygon"])
        if bad.any():
            raise ValidationError(f"{layer}: invalid output geometry for codes {gdf.loc[bad, 'code'].tolist()}")
        out[layer] = gdf
    return out


def write(layers: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    """Write the layers to one GeoPackage, byte-identical for identical input."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.gpkg")
    tmp.unlink(missing_ok=True)
    os.environ["OGR_CURRENT_DATE"] = FIXED_TIMESTAMP  # GPKG last_change timestamps
    try:
        for layer, gdf in layers.items():
            pyogrio.write_dataframe(gdf, tmp, layer=layer, driver="GPKG", append=tmp.exists(),
                                    promote_to_multi=True)
    finally:
        os.environ.pop("OGR_CURRENT_DATE", None)
    tmp.replace(path)


def plot(layers: dict[str, gpd.GeoDataFrame], path: Path) -> None:
    """Draw the hierarchy to a PNG for a visual check."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["font.family"] = ["Noto Sans CJK JP", "DejaVu Sans"]
    fig, ax = plt.subplots(figsize=(14, 10))
    context = [datasets.demo_water(polygons=True), datasets.demo_roads()]
    water, roads = (g.to_crs(METRIC_EPSG) for g in context)
    streets, communities, districts = (layers[k].to_crs(METRIC_EPSG) for k in ("streets", "communities", "districts"))
    streets.plot(ax=ax, column="code", cmap="Pastel1", edgecolor="none")
    water.plot(ax=ax, color="#9ecae1", alpha=0.6, edgecolor="none")
    roads[roads["kind"] == "major_road"].plot(ax=ax, color="white", linewidth=0.8)
    communities.boundary.plot(ax=ax, color="grey", linewidth=0.6)
    streets.boundary.plot(ax=ax, color="black", linewidth=1.2)
    districts.boundary.plot(ax=ax, color="red", linewidth=2.2)
    for gdf, size, weight in ((communities, 7, "normal"), (streets, 11, "bold")):
        for _, row in gdf.iterrows():
            p = row.geometry.representative_point()
            label = f"{row['name']}\n{row['code']}"
            ax.annotate(label, (p.x, p.y), ha="center", fontsize=size, weight=weight,
                        color="black" if weight == "bold" else "dimgray")
    ax.set_title("Demo admin hierarchy (districts real; streets and communities derived)\n"
                 + datasets.OSM_ATTRIBUTION, fontsize=10)
    ax.set_axis_off()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=datasets.data_dir() / "admin" / "lujiazui_admin.gpkg")
    parser.add_argument("--png", type=Path, default=None, help="also draw the result to this PNG")
    args = parser.parse_args(argv)
    layers = build(datasets.demo_roads(), datasets.demo_boundaries(), datasets.demo_water(),
                   datasets.demo_street_codes())
    write(layers, args.out)
    if args.png:
        plot(layers, args.png)
    for name, gdf in layers.items():
        print(f"{name}: {len(gdf)} -> {args.out}")


if __name__ == "__main__":
    main()
