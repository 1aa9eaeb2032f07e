"""Synthetic urban-management cases (案件) over the real demo area, in the case-log schema.

Classes come from the GB/T 47678.5-2026 directory; locations cluster along roads, around
real restaurants, markets and sights, at construction sites and at the component a
component case is about, plus a few planted hotspots (one persistent, one emerging,
one fading). Times follow weekly and daily rhythms and the 国庆 holiday; each stage of
the closed loop gets a realistic delay (Minghu's 15 minutes mostly met), some cases
run overdue, are returned or reworked, and those not finished when the log is extracted
(right after its last report) are open. About 1 % of the rows are planted bad records, listed in the truth.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gridlib.demo._area import (
    Area,
    fmt_times,
    nearest_names,
    positions_along,
    sample_on_lines,
    to_lonlat,
)
from gridlib.demo.assets import fake_people
from gridlib.errors import InputError

__all__ = ["CLASSES", "HOTSPOTS", "generate_cases"]

# class code, kind, weight, where (road | food | busy | site | component), hour profile, urgent share,
# median disposal hours, Chinese name
CLASSES: list[tuple[str, str, float, str, str, float, float, str]] = [
    ("06012", "event", 12.0, "road", "day", 0.02, 1.5, "道路不洁"),
    ("06010", "event", 9.0, "food", "day", 0.03, 2.0, "暴露垃圾"),
    ("09006", "event", 10.0, "food", "evening", 0.05, 1.0, "占道经营"),
    ("09005", "event", 8.0, "food", "day", 0.02, 1.5, "店外经营"),
    ("07001", "event", 9.0, "busy", "day", 0.01, 3.0, "非法小广告"),
    ("06029", "event", 3.0, "food", "evening", 0.30, 1.0, "露天烧烤"),
    ("09009", "event", 7.0, "road", "day", 0.05, 1.0, "机动车乱停放"),
    ("09010", "event", 5.0, "busy", "day", 0.02, 2.0, "非机动车乱停放"),
    ("06042", "event", 3.0, "food", "day", 0.05, 2.0, "垃圾站（箱）满溢"),
    ("06036", "event", 3.0, "road", "day", 0.02, 4.0, "乱堆杂物"),
    ("08004", "event", 2.0, "site", "day", 0.10, 3.0, "工地扬尘"),
    ("06014", "event", 3.0, "site", "night", 0.15, 1.5, "道路遗撒（洒）"),
    ("08002", "event", 1.0, "site", "day", 0.05, 6.0, "施工占道"),
    ("01001", "component", 1.0, "component", "allday", 0.25, 8.0, "供水井盖异常"),
    ("01002", "component", 1.5, "component", "allday", 0.25, 8.0, "污水井盖异常"),
    ("01003", "component", 1.5, "component", "allday", 0.25, 8.0, "雨水井盖异常"),
    ("01004", "component", 2.0, "component", "allday", 0.15, 8.0, "雨水箅子异常"),
    ("01005", "component", 0.8, "component", "allday", 0.25, 8.0, "电力井盖异常"),
    ("01007", "component", 1.0, "component", "allday", 0.20, 8.0, "通信井盖异常"),
    ("01011", "component", 0.5, "component", "allday", 0.40, 4.0, "燃气井盖异常"),
    ("01037", "component", 4.0, "component", "evening", 0.05, 14.0, "路灯异常"),
    ("03005", "component", 3.0, "component", "day", 0.02, 6.0, "垃圾箱异常"),
]

#: Planted case clusters: name, POI kind/centre rule, classes, σ (m), share of those classes, active days
#: (first, last) counted back from the end date (None = the whole period).
HOTSPOTS = [
    {"name": "persistent: street trading and flyposting round the restaurant cluster", "anchor": "food_dense",
     "classes": ["09006", "09005", "07001", "06010"], "sigma_m": 70.0, "share": 0.25, "days": None},
    {"name": "emerging: evening barbecue and street trading (last 30 days)", "anchor": "residential",
     "classes": ["06029", "09006"], "sigma_m": 60.0, "share": 0.35, "days": (30, 0)},
    {"name": "fading: spillage and dust round a construction site (ended 60 days ago)", "anchor": "site",
     "classes": ["06014", "08004"], "sigma_m": 80.0, "share": 0.40, "days": (120, 60)},
]

_PROFILES = {
    "day": np.array([1, 0.5, 0.3, 0.3, 0.4, 1, 3, 6, 9, 10, 10, 9, 7, 8, 10, 10, 9, 8, 6, 4, 3, 2, 1.5, 1.2]),
    "evening": np.array([4, 3, 1.5, 0.7, 0.3, 0.3, 0.5, 1, 2, 3, 4, 5, 6, 5, 4, 4, 5, 7, 10, 12, 12, 11, 9, 6]),
    "night": np.array([8, 8, 7, 6, 5, 4, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 5, 7, 8]),
    "allday": np.array([2, 1.5, 1, 1, 1, 1.5, 3, 5, 6, 6, 6, 6, 5, 5, 6, 6, 6, 6, 6, 5, 4, 3, 3, 2.5]),
}
_FOOD = ("restaurant", "fast_food", "cafe", "bar", "pub", "bakery", "ice_cream", "supermarket", "convenience", "mall")
_BUSY = ("attraction", "subway_entrance", "bus_stop", "ferry_terminal", "station", "viewpoint", "mall", "hotel")
_WEEKEND = {"09006": 1.4, "09005": 1.3, "06029": 1.5, "06010": 1.2, "08004": 0.5, "08002": 0.4, "06014": 0.6}
_HOLIDAY = ("10-01", "10-07")  # 国庆: more litter and trading round the sights
_BAD_KINDS = {"missing_coordinates": 25, "swapped_coordinates": 20, "far_outside": 20, "duplicate_id": 15,
              "unknown_class": 10, "unparseable_time": 10}

STAGES = ("reported_at", "verified_at", "filed_at", "dispatched_at", "arrived_at", "video_at", "disposed_at",
          "feedback_at", "checked_at", "closed_at")
COLUMNS = ["case_id", "class_code", "kind", "reported_at", "source", "urgency", *STAGES[1:], "cancelled_at",
           "not_filed_at", "status", "rework_count", "return_count", "extension_hours", "parked", "component_id",
           "lon", "lat", "description", "reporter_name", "reporter_phone"]


def _anchor(area: Area, rule: str, sites: gpd.GeoDataFrame, rng: np.random.Generator) -> np.ndarray:
    pois = area.pois
    if rule == "food_dense":
        food = pois[pois["kind"].isin(_FOOD)]
        xy = shapely.get_coordinates(food.geometry.values)
        near = (np.hypot(*(xy[:, None, :] - xy[None, :, :]).T) < 250.0).sum(axis=0)
        return xy[int(np.argmax(near))]
    if rule == "residential":
        land = shapely.difference(area.communities.geometry.values, area.river)
        big = np.flatnonzero(shapely.area(land) > 150_000.0)
        return shapely.get_coordinates(shapely.point_on_surface(land[rng.choice(big)]))[0]
    construction = sites[sites["kind"] == "construction"]
    return shapely.get_coordinates(construction.geometry.iloc[0].centroid)[0]


def _days(n: int, code: str, day0: pd.Timestamp, days: int, rng: np.random.Generator,
          window: tuple[int, int] | None = None) -> np.ndarray:
    dates = pd.date_range(day0, periods=days, freq="D")
    w = np.ones(days)
    w[dates.day_of_week >= 5] *= _WEEKEND.get(code, 1.0)
    md = dates.strftime("%m-%d")
    w[(md >= _HOLIDAY[0]) & (md <= _HOLIDAY[1])] *= 1.5
    w *= 1.0 + 0.1 * np.sin(np.arange(days) / days * 2 * np.pi)  # a slow seasonal swell
    if window is not None:
        # active from `first` to `last` days before the end date, clipped to the covered period
        first, last = window
        lo, hi = max(days - first, 0), max(days - last, 0) if last else days
        if hi <= lo:
            raise InputError(f"days={days} is too short for a planted hot spot active from {first} to {last} days "
                             f"before the end date; use days > {last}")
        w[:lo] = 0.0
        w[hi:] = 0.0
    return rng.choice(days, n, p=w / w.sum())


def generate_cases(area: Area, components: gpd.GeoDataFrame, sites: gpd.GeoDataFrame, rng: np.random.Generator,
                   *, n_cases: int, days: int, end_date: str, bad_share: float = 0.01
                   ) -> tuple[pd.DataFrame, list[dict], list[dict]]:
    """Return (cases as written, bad-record truth, hotspot truth).

    Examples
    --------
    >>> import numpy as np
    >>> from gridlib.demo._area import load_area
    >>> area = load_area()   # the real Lujiazui-area layers bundled in data/
    >>> from gridlib.demo.assets import components
    >>> from gridlib.demo.trucks import night
    >>> comp = components(area, np.random.default_rng(0))
    >>> sites = night(area, np.random.default_rng(0), date="2026-11-20", n_trucks=9).sites
    >>> cases, bad, hot = generate_cases(area, comp, sites, np.random.default_rng(0),
    ...                                  n_cases=200, days=120, end_date="2026-11-21")
    >>> cases["reported_at"].min()[:10], cases["reported_at"].max()[:10]
    ('2026-07-25', '2026-11-21')
    >>> sorted(bad[0]), sorted(hot[0])[:3]   # the truth: spoilt rows and planted hotspots
    (['case_id', 'problem'], ['anchor', 'classes', 'days'])
    """
    end = pd.Timestamp(end_date) + pd.Timedelta(days=1)  # the period ends at midnight after the last day
    day0 = end - pd.Timedelta(days=days)
    weights = np.array([c[2] for c in CLASSES])
    counts = rng.multinomial(n_cases, weights / weights.sum())

    hot_xy = [_anchor(area, h["anchor"], sites, rng) for h in HOTSPOTS]
    frames = []
    for (code, kind, _, where, profile, urgent, dispose_h, name), n in zip(CLASSES, counts, strict=True):
        # planted hotspots take a share of their classes
        hot_of = np.full(n, -1)
        for h, spot in enumerate(HOTSPOTS):
            if code in spot["classes"]:
                hot_of[(hot_of < 0) & (rng.random(n) < spot["share"])] = h
        day = _days(n, code, day0, days, rng)
        for h, spot in enumerate(HOTSPOTS):
            if spot["days"] is not None and (hot_of == h).any():
                day[hot_of == h] = _days(int((hot_of == h).sum()), code, day0, days, rng, spot["days"])
        hour = rng.choice(24, n, p=_PROFILES[profile] / _PROFILES[profile].sum())
        reported = (day0 + pd.to_timedelta(day, "D") + pd.to_timedelta(hour, "h")
                    + pd.to_timedelta(rng.integers(0, 3600, n), "s"))
        x, y, comp_id = _locate(area, where, code, n, components, sites, rng)
        for h in np.unique(hot_of[hot_of >= 0]):
            m = hot_of == h
            cx, cy = hot_xy[h]
            x[m] = cx + rng.normal(0, HOTSPOTS[h]["sigma_m"], m.sum())
            y[m] = cy + rng.normal(0, HOTSPOTS[h]["sigma_m"], m.sum())
        frames.append(pd.DataFrame({
            "class_code": code, "kind": kind, "reported_at": reported, "x": x, "y": y, "component_id": comp_id,
            "urgency": np.where(rng.random(n) < urgent, "urgent", "normal"), "dispose_h": dispose_h,
            "name_zh": name, "hot": hot_of,
        }))
    cases = pd.concat(frames, ignore_index=True)
    # the river is no place for a case: move those points onto a road
    wet = ~area.on_land(cases["x"].to_numpy(), cases["y"].to_numpy())
    if wet.any():
        idx, d = sample_on_lines(area.roads.geometry.values, int(wet.sum()), rng)
        rx, ry, _ = positions_along(area.roads.geometry.values, idx, d, rng.normal(0, 5.0, int(wet.sum())))
        cases.loc[wet, "x"], cases.loc[wet, "y"] = rx, ry
    cases = cases.sort_values(["reported_at", "class_code", "x"], kind="stable").reset_index(drop=True)
    # the log is extracted right after its last report: later stages have not happened yet
    _workflow(cases, rng, cases["reported_at"].max().floor("s"))
    lon, lat = to_lonlat(cases["x"].to_numpy(), cases["y"].to_numpy())
    cases["lon"], cases["lat"] = lon, lat
    road = nearest_names(area, cases["x"].to_numpy(), cases["y"].to_numpy())
    cases["description"] = np.where(road != "", road + "附近", "") + cases["name_zh"].to_numpy(dtype=object)
    hotline = cases["source"].isin(["hotline_12345", "hotline_12319"]).to_numpy()
    cases["reporter_name"], cases["reporter_phone"] = "", ""
    names, phones = fake_people(rng, int(hotline.sum()))
    cases.loc[hotline, "reporter_name"] = names
    cases.loc[hotline, "reporter_phone"] = phones
    date = cases["reported_at"].dt.strftime("%Y%m%d")
    cases["case_id"] = "LJZ" + date + (cases.groupby(date).cumcount() + 1).map("{:04d}".format)
    hot_truth = []
    for h, spot in enumerate(HOTSPOTS):
        hlon, hlat = to_lonlat(np.array([hot_xy[h][0]]), np.array([hot_xy[h][1]]))
        hot_truth.append({**spot, "lon": float(hlon[0]), "lat": float(hlat[0]),
                          "n_cases": int((cases["hot"] == h).sum())})
    out = pd.DataFrame({c: cases[c] for c in COLUMNS if c in cases})
    for c in [*STAGES, "cancelled_at", "not_filed_at"]:
        out[c] = fmt_times(cases[c])
    out["extension_hours"] = cases["extension_hours"].map("{:g}".format)
    out["parked"] = np.where(cases["parked"], "true", "false")
    out, bad = _plant_bad(out[COLUMNS], rng, bad_share)
    return out, bad, hot_truth


def _locate(area: Area, where: str, code: str, n: int, components: gpd.GeoDataFrame, sites: gpd.GeoDataFrame,
            rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    comp_id = np.full(n, "", dtype=object)
    lines = area.roads.geometry.values
    if where == "component":
        mine = components[components["class_code"] == code]
        pick = rng.integers(0, len(mine), n)
        xy = shapely.get_coordinates(mine.geometry.values[pick])
        comp_id = mine["component_id"].to_numpy(dtype=object)[pick]
        return xy[:, 0] + rng.normal(0, 3.0, n), xy[:, 1] + rng.normal(0, 3.0, n), comp_id
    # every class has some cases anywhere along the roads; the rest cluster at its kind of place
    on_road = rng.random(n) < (1.0 if where == "road" else 0.35)
    major = (area.roads["kind"] == "major_road").to_numpy()
    idx, d = sample_on_lines(lines, n, rng, np.where(major, 2.0, 1.0))
    x, y, _ = positions_along(lines, idx, d, rng.normal(0, 6.0, n))
    rest = ~on_road
    if where in ("food", "busy"):
        pois = area.pois[area.pois["kind"].isin(_FOOD if where == "food" else _BUSY)]
        xy = shapely.get_coordinates(pois.geometry.values)[rng.integers(0, len(pois), rest.sum())]
        x[rest], y[rest] = xy[:, 0] + rng.normal(0, 25, rest.sum()), xy[:, 1] + rng.normal(0, 25, rest.sum())
    elif where == "site":
        construction = sites[sites["kind"] == "construction"]
        xy = shapely.get_coordinates(construction.geometry.centroid.values)[rng.integers(0, len(construction),
                                                                                         rest.sum())]
        x[rest], y[rest] = xy[:, 0] + rng.normal(0, 90, rest.sum()), xy[:, 1] + rng.normal(0, 90, rest.sum())
    return x, y, comp_id


def _lognormal(rng: np.random.Generator, median: float, sigma: float, n: int) -> np.ndarray:
    return median * np.exp(rng.normal(0.0, sigma, n))


def _late(rng: np.random.Generator, base: np.ndarray, share: float, low: float, high: float) -> np.ndarray:
    """Replace a *share* of *base* by uniform values in [low, high) (the steps that miss their limit)."""
    late = rng.random(len(base)) < share
    return np.where(late, rng.uniform(low, high, len(base)), base)


def _workflow(cases: pd.DataFrame, rng: np.random.Generator, extract: pd.Timestamp) -> None:
    """Sources and the stage time stamps of the closed loop; stages after *extract* have not happened yet."""
    n = len(cases)
    hour = cases["reported_at"].dt.hour.to_numpy()
    code = cases["class_code"].to_numpy()
    patrol = (hour >= 7) & (hour < 20)
    src = np.where(patrol & (rng.random(n) < 0.68), "supervisor", "")
    camera_ok = np.isin(code, ["09006", "09005", "09009", "06029", "06014", "06012"])
    rest = src == ""
    draw = rng.choice(["hotline_12345", "hotline_12319", "camera", "leader", "media"], n,
                      p=[0.45, 0.17, 0.30, 0.05, 0.03])
    draw = np.where((draw == "camera") & ~camera_ok, "hotline_12345", draw)
    src = np.where(rest, draw, src)
    src = np.where((code == "06014") & (rng.random(n) < 0.3), "truck_monitoring", src)
    cases["source"] = src
    urgent = (cases["urgency"] == "urgent").to_numpy()
    public = np.isin(src, ["hotline_12345", "hotline_12319", "media"])
    minute = pd.Timedelta(minutes=1)

    t = {"reported_at": cases["reported_at"].to_numpy()}
    # public reports are verified (核实) before filing: mostly by phone or camera within minutes,
    # a fifth on site by a supervisor
    on_site = rng.random(n) < 0.2
    verify = np.where(on_site, _late(rng, _lognormal(rng, 25.0, 0.5, n), 0.1, 60, 240), _lognormal(rng, 1.2, 0.5, n))
    verify = np.where(public, verify, np.nan)
    t["verified_at"] = t["reported_at"] + np.nan_to_num(verify) * minute
    start = t["verified_at"]
    t["filed_at"] = start + _late(rng, _lognormal(rng, 1.8, 0.45, n), 0.06, 5, 40) * minute
    returned = rng.random(n) < 0.04
    dispatch = _late(rng, _lognormal(rng, 0.4, 0.4, n), 0.06, 1, 15) + returned * rng.uniform(10, 90, n)
    t["dispatched_at"] = t["filed_at"] + dispatch * minute
    travel = _late(rng, _lognormal(rng, 5.5, 0.3, n), 0.08, 10, 45) * np.where(urgent, 0.8, 1.0)
    t["arrived_at"] = t["dispatched_at"] + travel * minute
    t["video_at"] = t["arrived_at"] + _late(rng, _lognormal(rng, 1.4, 0.4, n), 0.05, 3, 12) * minute
    dispose_h = cases["dispose_h"].to_numpy() * np.where(urgent, 0.4, 1.0) * np.exp(rng.normal(0, 0.6, n))
    overdue = rng.random(n) < 0.08
    dispose_h = np.where(overdue, dispose_h * rng.uniform(4, 15, n), dispose_h)
    # stuck cases wait days to weeks (an owner to repair, a permit to clear): overdue, recent ones still open
    stuck = rng.random(n) < 0.05
    dispose_h = np.where(stuck, rng.uniform(48, 1440, n), dispose_h)
    extension = np.where(rng.random(n) < 0.02, rng.choice([24.0, 48.0], n), 0.0)
    rework = np.where(rng.random(n) < 0.05, rng.choice([1, 1, 1, 2], n), 0)
    dispose_h = dispose_h + extension * rng.uniform(0.3, 0.9, n) + rework * rng.uniform(2, 24, n)
    t["disposed_at"] = t["video_at"] + dispose_h * 60 * minute
    t["feedback_at"] = t["disposed_at"] + rng.uniform(3, 30, n) * minute
    t["checked_at"] = t["feedback_at"] + _late(rng, _lognormal(rng, 25.0, 0.5, n), 0.10, 60, 240) * minute
    t["closed_at"] = t["checked_at"] + rng.uniform(1, 20, n) * minute
    for col in STAGES:
        cases[col] = pd.to_datetime(t[col]).astype("datetime64[s]")
    cases.loc[~public, "verified_at"] = pd.NaT

    # 不立案 / 作废 end the loop early; 挂账 (parked) cases stop before disposal
    not_filed = rng.random(n) < np.where(public, 0.06, 0.02)
    cancelled = ~not_filed & (rng.random(n) < 0.01)
    parked = ~not_filed & ~cancelled & (rng.random(n) < 0.02)
    anchor = cases["verified_at"].fillna(cases["reported_at"])
    cases["not_filed_at"] = (anchor + pd.to_timedelta(rng.uniform(2, 20, n), "m")).where(not_filed)
    cases["cancelled_at"] = (anchor + pd.to_timedelta(rng.uniform(2, 60, n), "m")).where(cancelled)
    cases.loc[not_filed | cancelled, list(STAGES[2:])] = pd.NaT
    cases.loc[parked, list(STAGES[6:])] = pd.NaT
    for col in [*STAGES, "not_filed_at", "cancelled_at"]:
        cases[col] = cases[col].astype("datetime64[s]").dt.floor("s")
        cases[col] = cases[col].where(cases[col] <= extract)
    # a stage after a missing one has not happened either (the loop is strictly ordered)
    for a, b in zip(STAGES[2:-1], STAGES[3:], strict=True):
        cases.loc[cases[a].isna(), b] = pd.NaT
    cases["parked"] = parked
    cases["return_count"] = np.where(cases["dispatched_at"].notna(), returned.astype(int), 0)
    cases["rework_count"] = np.where(cases["checked_at"].notna(), rework, 0)
    cases["extension_hours"] = np.where(cases["disposed_at"].notna() | parked, extension, 0.0)
    status = pd.Series("reported", index=cases.index, dtype=object)
    for col, value in (("filed_at", "filed"), ("dispatched_at", "disposing"), ("disposed_at", "checking"),
                       ("closed_at", "closed"), ("not_filed_at", "not_filed"), ("cancelled_at", "cancelled")):
        status = status.mask(cases[col].notna(), value)
    cases["status"] = status


def _plant_bad(cases: pd.DataFrame, rng: np.random.Generator, share: float) -> tuple[pd.DataFrame, list[dict]]:
    """Spoil about *share* of the rows in the ways real feeds go wrong; return them as truth."""
    n_bad = int(round(len(cases) * share))
    kinds = rng.choice(list(_BAD_KINDS), n_bad, p=np.array(list(_BAD_KINDS.values())) / sum(_BAD_KINDS.values()))
    rows = np.sort(rng.choice(len(cases), n_bad, replace=False))
    out = cases.copy()
    truth, extra = [], []
    for row, kind in zip(rows, kinds, strict=True):
        cid = out.at[row, "case_id"]
        if kind == "missing_coordinates":
            out.loc[row, ["lon", "lat"]] = np.nan
        elif kind == "swapped_coordinates":
            out.loc[row, ["lon", "lat"]] = [out.at[row, "lat"], out.at[row, "lon"]]
        elif kind == "far_outside":
            out.loc[row, ["lon", "lat"]] = [116.397128, 39.916527] if rng.random() < 0.5 else [0.0, 0.0]
        elif kind == "duplicate_id":
            dup = out.loc[[row]].copy()
            dup["description"] = dup["description"] + "（重复上报）"
            extra.append(dup)
        elif kind == "unknown_class":
            out.at[row, "class_code"] = str(rng.choice(["06099", "99001", "0612", "6012X"]))
        else:
            out.at[row, "reported_at"] = str(rng.choice(["2026-13-45T25:61:00", "昨天下午", "N/A", "20261032"]))
        truth.append({"case_id": cid, "problem": kind})
    if extra:
        out = pd.concat([out, *extra]).sort_index(kind="stable").reset_index(drop=True)
    return out, truth
