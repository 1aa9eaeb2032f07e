"""Synthetic city-scale inputs for ``bench_nightly.py``.

Zhengzhou has no bundled roads, buildings or cameras, so besides the real district polygons
(``gl.datasets.zhengzhou_districts``) every layer is synthetic and seeded:

- grids: ``gl.grid.build`` over the districts at 10,000 m² (cached as Parquet in ``benchmarks/results/``);
- roads: a street lattice, 400 m apart in the 2 km-aligned central box around the city centre and
  2 km apart elsewhere, cut at every crossing (so the network is routable), clipped to the city;
- cameras: at lattice crossings, drawn with a weight falling off from the centre, heading along a road;
- buildings: in every central block that holds a camera, a 4 × 4 array of 40 × 25 m footprints set back
  30 m from the roads (≈ 64 buildings/km², a mid-rise residential block);
- cases: rows of the generated demo log (``gl.demo.generate``) used as templates, so the workflow
  timestamps and class codes are real ones: the new cases of the date copy the demo's last-day cases,
  the history copies the demo's earlier days; each copy gets a new id and a grid location drawn with a
  centre-heavy weight plus a few hot clusters;
- trucks: ``gl.trucks.simulate.simulate_fleet`` on the lattice's arterials, night shifts 22:00–06:00;
- responsibility: one row per street and per community; team bases: one per street.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

import gridlib as gl

RESULTS = Path(__file__).resolve().parent / "results"
QUICK_DISTRICTS = ("410108",)  # 惠济区, ~23k grids
CENTRE = (113.6254, 34.7466)  # 二七广场, WGS84


@dataclass
class Scale:
    """How big the synthetic night is."""

    quick: bool
    new_cases: int
    history_per_day: int
    history_days: int
    fixes: int
    cameras: int
    trucks_interval_s: int = 10

    @property
    def trucks(self) -> int:
        # a night shift 22:00-06:00 gives 8 h / interval fixes per truck
        return max(9, round(self.fixes / (8 * 3600 / self.trucks_interval_s)))


FULL = Scale(quick=False, new_cases=50_000, history_per_day=3_000, history_days=83, fixes=10_000_000, cameras=5_000)
QUICK = Scale(quick=True, new_cases=2_000, history_per_day=120, history_days=83, fixes=400_000, cameras=200)


def city_grids(quick: bool) -> tuple[gpd.GeoDataFrame, float]:
    """The ~10,000 m² grids over Zhengzhou (or one district); built once, then read from the cache.

    Returns the grids and the seconds spent building them (0 when read from the cache).
    """
    path = RESULTS / ("nightly_grids_quick.parquet" if quick else "nightly_grids_city.parquet")
    if path.exists():
        return gpd.read_parquet(path), 0.0
    t0 = time.perf_counter()
    grids = gl.grid.build(districts(quick), target_area=10_000)
    seconds = time.perf_counter() - t0
    RESULTS.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    grids.to_parquet(tmp)
    tmp.replace(path)
    return grids, seconds


def districts(quick: bool) -> gpd.GeoDataFrame:
    d = gl.datasets.zhengzhou_districts().rename(columns={"adcode": "code"})[["code", "name", "geometry"]]
    return d[d["code"].isin(QUICK_DISTRICTS)] if quick else d


def centre_xy(outline: shapely.Geometry, metric, quick: bool) -> tuple[float, float]:
    """The city centre in *metric*; for the one-district variant, the district's own centre."""
    if quick:
        p = outline.representative_point()
        return p.x, p.y
    x, y = np.asarray(gpd.GeoSeries(shapely.points([CENTRE]), crs=4326).to_crs(metric).get_coordinates())[0]
    return float(x), float(y)


def roads(outline: shapely.Geometry, metric, quick: bool, centre: tuple[float, float]) -> gpd.GeoDataFrame:
    """Lattice street segments (metric CRS), 400 m in the central box, 2 km outside it."""
    x0, y0, x1, y1 = outline.bounds
    cx, cy = centre
    half = 4_000.0 if quick else 14_000.0
    box = (np.floor((cx - half) / 2000) * 2000, np.floor((cy - half) / 2000) * 2000,
           np.ceil((cx + half) / 2000) * 2000, np.ceil((cy + half) / 2000) * 2000)
    segs = []
    for spacing, (bx0, by0, bx1, by1), inside in ((400.0, box, True),
                                                  (2000.0, (np.floor(x0 / 2000) * 2000, np.floor(y0 / 2000) * 2000,
                                                            x1 + 2000, y1 + 2000), False)):
        xs = np.arange(bx0, bx1 + 1, spacing)
        ys = np.arange(by0, by1 + 1, spacing)
        gx, gy = np.meshgrid(xs[:-1], ys)  # horizontal pieces
        h = np.c_[gx.ravel(), gy.ravel(), gx.ravel() + spacing, gy.ravel()]
        gx, gy = np.meshgrid(xs, ys[:-1])  # vertical pieces
        v = np.c_[gx.ravel(), gy.ravel(), gx.ravel(), gy.ravel() + spacing]
        s = np.r_[h, v]
        mx, my = (s[:, 0] + s[:, 2]) / 2, (s[:, 1] + s[:, 3]) / 2
        in_box = (mx > box[0]) & (mx < box[2]) & (my > box[1]) & (my < box[3])
        segs.append(s[in_box] if inside else s[~in_box])
    s = np.concatenate(segs)
    lines = shapely.linestrings(np.stack([s[:, :2], s[:, 2:]], axis=1))
    shapely.prepare(outline)
    keep = shapely.intersects(outline, shapely.points((s[:, 0] + s[:, 2]) / 2, (s[:, 1] + s[:, 3]) / 2))
    lines, s = lines[keep], s[keep]
    # arterials every 2 km, the rest minor streets
    on2k = np.where(s[:, 1] == s[:, 3], s[:, 1] % 2000 == 0, s[:, 0] % 2000 == 0)
    return gpd.GeoDataFrame({"road_id": [f"R{i:06d}" for i in range(len(lines))],
                             "kind": np.where(on2k, "major_road", "minor_road")},
                            geometry=lines, crs=metric)


def centre_weight(x: np.ndarray, y: np.ndarray, centre: tuple[float, float], sigma_m: float) -> np.ndarray:
    cx, cy = centre
    return np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma_m**2)) + 0.02


def cameras_and_buildings(road_lines: gpd.GeoDataFrame, n: int, rng: np.random.Generator,
                          centre: tuple[float, float], sigma_m: float) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    minor = road_lines[road_lines["kind"] == "minor_road"]
    xy = np.unique(np.round(shapely.get_coordinates(minor.geometry.values)), axis=0)
    w = centre_weight(xy[:, 0], xy[:, 1], centre, sigma_m)
    pick = rng.choice(len(xy), size=min(n, len(xy)), replace=False, p=w / w.sum())
    cx, cy = xy[pick, 0] + rng.normal(0, 3, len(pick)), xy[pick, 1] + rng.normal(0, 3, len(pick))
    heading = (rng.integers(0, 4, len(pick)) * 90 + rng.normal(0, 5, len(pick))) % 360
    fixed = rng.random(len(pick)) < 0.85
    cams = gpd.GeoDataFrame({
        "camera_id": [f"CAM4101{i:06d}" for i in range(len(pick))],
        "site": np.where(fixed, "traffic_signal", "street"),
        "type": np.where(fixed, "fixed", "ptz"),
        "heading": np.round(heading, 1),
        "fov": np.where(fixed, 70.0, 360.0),
        "range_m": np.round(rng.uniform(80, 150, len(pick)), 0),
        "height_m": np.round(rng.uniform(5, 9, len(pick)), 1),
    }, geometry=shapely.points(cx, cy), crs=road_lines.crs)
    # the four 400 m blocks around each camera's crossing get buildings
    bx = np.r_[xy[pick, 0], xy[pick, 0] - 400, xy[pick, 0], xy[pick, 0] - 400]
    by = np.r_[xy[pick, 1], xy[pick, 1], xy[pick, 1] - 400, xy[pick, 1] - 400]
    blocks = np.unique(np.c_[bx, by], axis=0)
    ox, oy = np.meshgrid(30 + np.arange(4) * 90.0, 30 + np.arange(4) * 90.0)
    x = (blocks[:, :1] + ox.ravel()[None, :]).ravel()
    y = (blocks[:, 1:] + oy.ravel()[None, :]).ravel()
    x += rng.uniform(0, 20, len(x))
    y += rng.uniform(0, 40, len(y))
    b = gpd.GeoDataFrame({"building_id": [f"B{i:07d}" for i in range(len(x))],
                          "height_m": np.round(rng.uniform(12, 60, len(x)), 1)},
                         geometry=shapely.box(x, y, x + 40, y + 25), crs=road_lines.crs)
    return cams, b


def case_templates(date: str, cache: Path) -> pd.DataFrame:
    """The demo case log (valid rows) ending on *date*, generated once into *cache*."""
    path = cache / "cases.csv"
    if not path.exists():
        gl.demo.generate(cache, n_cases=20_000, end_date=date, n_trucks=9, bad_share=0.0)
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def cases(grids: gpd.GeoDataFrame, templates: pd.DataFrame, scale: Scale, date: str,
          rng: np.random.Generator, centre: tuple[float, float], sigma_m: float) -> pd.DataFrame:
    """New cases of *date* plus the history, as text rows of the case-log schema (WGS84 lon/lat)."""
    day = pd.Timestamp(date)
    reported = pd.to_datetime(templates["reported_at"])
    today = np.flatnonzero(reported >= day)
    earlier = np.flatnonzero((reported < day) & (reported >= day - pd.Timedelta(days=scale.history_days)))
    n_hist = scale.history_per_day * scale.history_days
    rows = np.r_[rng.choice(today, scale.new_cases), rng.choice(earlier, n_hist)]
    out = templates.iloc[rows].reset_index(drop=True)
    out["case_id"] = [f"ZZ{i:09d}" for i in range(len(out))]
    out["component_id"] = pd.NA
    out.loc[out["kind"] == "component", "kind"] = "event"  # no component inventory in the city store
    # locations: centre-heavy, plus 20 hot clusters with a tenth of the cases
    pts = grids.geometry.representative_point()
    gx, gy = pts.x.to_numpy(), pts.y.to_numpy()
    w = centre_weight(gx, gy, centre, sigma_m)
    g = rng.choice(len(grids), len(out), p=w / w.sum())
    hot = rng.choice(len(grids), 20, p=w / w.sum())
    in_hot = rng.random(len(out)) < 0.1
    g[in_hot] = hot[rng.integers(0, 20, in_hot.sum())]
    x = gx[g] + rng.normal(0, 15, len(out)) * ~in_hot + rng.normal(0, 120, len(out)) * in_hot
    y = gy[g] + rng.normal(0, 15, len(out)) * ~in_hot + rng.normal(0, 120, len(out)) * in_hot
    lonlat = gpd.GeoSeries(shapely.points(x, y), crs=grids.crs).to_crs(4326)
    out["lon"] = np.round(lonlat.x.to_numpy(), 6).astype(str)
    out["lat"] = np.round(lonlat.y.to_numpy(), 6).astype(str)
    return out


def responsibility(grids: gpd.GeoDataFrame) -> pd.DataFrame:
    streets = grids.drop_duplicates("street_code")[["street_code", "street_name"]]
    comms = grids.drop_duplicates("community_code")[["community_code", "community_name"]]
    parts = []
    for level, codes, names in (("street", streets["street_code"], streets["street_name"]),
                                ("community", comms["community_code"], comms["community_name"])):
        n = len(codes)
        parts.append(pd.DataFrame({
            "level": level, "code": codes.to_numpy(), "name": names.to_numpy(),
            "unit": (names + ("办事处" if level == "street" else "居委会")).to_numpy(),
            "team": (names + "城管中队").to_numpy(),
            "person": [f"张某{i:05d}" for i in range(n)],
            "phone": [f"100-{i // 10000:04d}-{i % 10000:04d}" for i in range(n)],
        }))
    return pd.concat(parts, ignore_index=True)


def team_bases(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One base per street at the grid nearest the street's mean grid centroid."""
    c = grids.geometry.centroid
    frame = pd.DataFrame({"street_code": grids["street_code"].to_numpy(), "street_name": grids["street_name"].to_numpy(),
                          "x": c.x.to_numpy(), "y": c.y.to_numpy()})
    mean = frame.groupby("street_code")[["x", "y"]].transform("mean")
    d = (frame["x"] - mean["x"]) ** 2 + (frame["y"] - mean["y"]) ** 2
    first = frame.loc[d.groupby(frame["street_code"]).idxmin()]
    return gpd.GeoDataFrame({"base_id": "B" + first["street_code"].to_numpy(),
                             "name": (first["street_name"] + "城管中队").to_numpy(),
                             "street_code": first["street_code"].to_numpy()},
                            geometry=shapely.points(first["x"].to_numpy(), first["y"].to_numpy()), crs=grids.crs)
