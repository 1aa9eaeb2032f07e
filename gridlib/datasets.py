"""The real data bundled with gridlib (``data/``) and the demo area.

The demo area is **Shanghai Lujiazui / the Bund** (上海 陆家嘴 / 外滩): real OpenStreetMap
roads, buildings with heights, POIs (77 traffic signals), the Huangpu river, district
boundary lines and land use. Zhengzhou district polygons and official code tables are
the city-scale set. Each folder of ``data/`` has a ``SOURCE.md`` with origin, licence,
fields and CRS. Everything from OpenStreetMap is ODbL: show :data:`OSM_ATTRIBUTION`
on any map or product made from it.

Every reader returns a fresh (Geo)DataFrame; GeoDataFrames carry a CRS (WGS84).
Codes (admin codes, street codes) are read as text so leading zeros survive.

>>> from gridlib import datasets
>>> roads = datasets.demo_roads()
>>> len(roads), roads.crs.to_epsg()
(1094, 4326)
>>> datasets.zhengzhou_codes("township").query("township_code == '410171560'").township_name.item()
'郑州经济技术开发区明湖街道'
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Literal

import geopandas as gpd
import pandas as pd

from gridlib.errors import InputError

__all__ = [
    "OSM_ATTRIBUTION",
    "DEMO_BBOX",
    "DISTRICT_CODES",
    "data_dir",
    "shared_data_dir",
    "demo_roads",
    "demo_buildings",
    "demo_water",
    "demo_pois",
    "demo_landuse",
    "demo_boundaries",
    "demo_places",
    "demo_transit",
    "demo_street_codes",
    "demo_admin",
    "demo_grids",
    "zhengzhou_districts",
    "zhengzhou_city",
    "zhengzhou_codes",
    "helsinki_roads",
    "helsinki_buildings",
    "helsinki_cameras",
]

OSM_ATTRIBUTION = "© OpenStreetMap contributors (ODbL)"

#: The demo study area (lon_min, lat_min, lon_max, lat_max): the extent of the demo roads.
DEMO_BBOX = (121.481323, 31.226894, 121.519775, 31.250378)

#: GB/T 2260 codes of the four districts that meet in the demo area.
DISTRICT_CODES = {"黄浦区": "310101", "虹口区": "310109", "杨浦区": "310110", "浦东新区": "310115"}

_ENV = "GRIDLIB_DATA"
_ADMIN_LEVELS = {"district": "districts", "street": "streets", "community": "communities"}


def data_dir() -> Path:
    """Return the folder of the bundled data.

    ``$GRIDLIB_DATA`` overrides the default, which is the ``data/`` folder of the
    gridlib checkout.

    >>> (data_dir() / "roads" / "SOURCE.md").is_file()
    True
    """
    env = os.environ.get(_ENV)
    if env:
        return Path(env).expanduser().resolve()
    return Path(__file__).resolve().parent.parent / "data"


def shared_data_dir() -> Path | None:
    """Return the team's shared raw-data folder (``../shared/data`` next to the checkout), or None.

    It holds data not bundled with gridlib (GeoLife GPS traces, NYC 311 samples); tests
    that need it skip when this returns None.

    >>> shared_data_dir() is None or shared_data_dir().is_dir()
    True
    """
    path = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    return path if path.is_dir() else None


def _path(*parts: str) -> Path:
    path = data_dir().joinpath(*parts)
    if not path.exists():
        raise InputError(
            f"bundled data file {path} is missing; check the gridlib checkout"
            f" (or ${_ENV}, which points the data folder elsewhere)"
        )
    return path


def _read(*parts: str, **kwargs) -> gpd.GeoDataFrame:
    path = _path(*parts)
    with warnings.catch_warnings():
        # Tilezen files repeat a feature id when one OSM way appears as two kinds.
        warnings.filterwarnings("ignore", message="Several features with id", category=RuntimeWarning)
        gdf = gpd.read_file(path, engine="pyogrio", **kwargs)
    if gdf.crs is None:  # GeoJSON is WGS84 by definition
        gdf = gdf.set_crs(4326)
    return gdf


def _polygons(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gdf[gdf.geom_type.isin(["Polygon", "MultiPolygon"])].reset_index(drop=True)


def demo_roads() -> gpd.GeoDataFrame:
    """Roads of the demo area (OSM via Tilezen): 1,094 lines, WGS84.

    ``kind`` is major_road / minor_road / path / rail / ferry and ``kind_detail`` the OSM
    highway value (primary, secondary, …); see ``data/roads/SOURCE.md``.

    >>> demo_roads().kind.value_counts()["major_road"]
    np.int64(313)
    """
    return _read("roads", "shanghai_lujiazui_roads_osm_tilezen.geojson")


def demo_buildings() -> gpd.GeoDataFrame:
    """Building footprints of the demo area (1,450 polygons, 696 with ``height`` in metres).

    >>> b = demo_buildings()
    >>> int(b.height.notna().sum()), round(float(b.height.max()))
    (696, 632)
    """
    return _read("buildings", "shanghai_lujiazui_buildings_osm_tilezen.geojson")


def demo_water(*, polygons: bool = False) -> gpd.GeoDataFrame:
    """Water of the demo area: the Huangpu river, Suzhou Creek, a canal, pools, fountains.

    The file mixes polygons with their outlines as lines and a few label points;
    ``polygons=True`` keeps only the (Multi)Polygons.

    >>> w = demo_water(polygons=True)
    >>> sorted(w.name.dropna().unique())
    ['苏州河', '黄浦江']
    """
    gdf = _read("context", "shanghai_lujiazui_water_osm_tilezen.geojson")
    return _polygons(gdf) if polygons else gdf


def demo_pois(kind: str | list[str] | None = None) -> gpd.GeoDataFrame:
    """Points of interest of the demo area (493 points), optionally only some ``kind``\\ s.

    >>> len(demo_pois("traffic_signals")), len(demo_pois(["restaurant", "cafe"]))
    (77, 59)
    """
    gdf = _read("cameras", "shanghai_lujiazui_pois_osm_tilezen.geojson")
    if kind is None:
        return gdf
    kinds = [kind] if isinstance(kind, str) else list(kind)
    unknown = sorted(set(kinds) - set(gdf["kind"].dropna()))
    if unknown:
        raise InputError(f"no POI of kind {unknown} in the demo area; known kinds: {sorted(gdf['kind'].dropna().unique())}")
    return gdf[gdf["kind"].isin(kinds)].reset_index(drop=True)


def demo_landuse(*, polygons: bool = False) -> gpd.GeoDataFrame:
    """Land use of the demo area (parks, residential, commercial, piers, walls, …; 234 features).

    ``polygons=True`` keeps only the (Multi)Polygons (walls and fences are lines).

    >>> len(demo_landuse(polygons=True))
    175
    """
    gdf = _read("context", "shanghai_lujiazui_landuse_osm_tilezen.geojson")
    return _polygons(gdf) if polygons else gdf


def demo_boundaries() -> gpd.GeoDataFrame:
    """The real district boundary lines crossing the demo area, with ``name:left``/``name:right``.

    >>> sorted(demo_boundaries()["name:right"])
    ['浦东新区', '浦东新区', '黄浦区']
    """
    return _read("context", "shanghai_lujiazui_boundaries_osm_tilezen.geojson")


def demo_places() -> gpd.GeoDataFrame:
    """Neighbourhood and locality points of the demo area (6).

    >>> len(demo_places())
    6
    """
    return _read("context", "shanghai_lujiazui_places_osm_tilezen.geojson")


def demo_transit() -> gpd.GeoDataFrame:
    """Rail, metro and ferry lines and platforms of the demo area (18 features).

    >>> len(demo_transit())
    18
    """
    return _read("context", "shanghai_lujiazui_transit_osm_tilezen.geojson")


def demo_street_codes() -> pd.DataFrame:
    """Official 2023 street/town codes (街道/镇) of 黄浦, 虹口, 杨浦 and 浦东 (72 rows, no geometry).

    >>> demo_street_codes().set_index("code").loc["310115005", "name"]
    '陆家嘴街道'
    """
    return pd.read_csv(_path("context", "shanghai_street_codes_2023.csv"), dtype=str)


def demo_admin(level: Literal["district", "street", "community"] = "district") -> gpd.GeoDataFrame:
    """Admin polygons of the demo area from ``data/admin/lujiazui_admin.gpkg``.

    ``level="district"`` gives the real districts (clipped to the study box);
    ``"street"`` and ``"community"`` give *derived* polygons (``derived`` is True) with
    real street codes and made-up community sequence numbers. Columns: ``code``,
    ``name``, ``parent_code``, ``derived``, ``note``, geometry (WGS84).

    >>> sorted(demo_admin("district").code)
    ['310101', '310109', '310110', '310115']
    """
    if level not in _ADMIN_LEVELS:
        raise InputError(f"unknown admin level {level!r}; expected one of {sorted(_ADMIN_LEVELS)}")
    path = data_dir() / "admin" / "lujiazui_admin.gpkg"
    if not path.exists():
        raise InputError(f"{path} is missing; rebuild it with `python pipelines/make_demo_admin.py`")
    return gpd.read_file(path, layer=_ADMIN_LEVELS[level], engine="pyogrio")


def demo_grids(edition: str = "2026") -> gpd.GeoDataFrame:
    """Unit grids of the demo area (built by ``pipelines/make_demo_grids.py``), in EPSG:4550.

    Edition ``"2026"`` (the default) is ``data/grids/lujiazui_grids.gpkg``; any other
    edition ``E`` is ``data/grids/lujiazui_grids_E.gpkg`` — ``"edited"`` is the planner's
    redraw used to show import, diff and crosswalk. Layer ``grids`` in each. Raises
    :class:`~gridlib.errors.InputError` naming the editions there when one is absent.

    >>> g = demo_grids()
    >>> g.crs.to_epsg(), g["grid_code"].str.len().unique().tolist()
    (4550, [15])
    >>> demo_grids("1999")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gridlib.errors.InputError: no demo grid edition '1999' ...
    """
    folder = data_dir() / "grids"
    name = "lujiazui_grids.gpkg" if edition == "2026" else f"lujiazui_grids_{edition}.gpkg"
    path = folder / name
    if not path.exists():
        found = sorted(p.name for p in folder.glob("lujiazui_grids*.gpkg") if ".report" not in p.name)
        editions = ["2026" if f == "lujiazui_grids.gpkg" else f[len("lujiazui_grids_"):-len(".gpkg")] for f in found]
        raise InputError(
            f"no demo grid edition {edition!r} ({path} is missing); editions there: {editions}"
            + ("" if editions else " — the demo grids have not been built (see data/grids/SOURCE.md)")
        )
    return gpd.read_file(path, layer="grids", engine="pyogrio")


def _scheme_file(stem: str, crs: str) -> tuple[str, str]:
    key = crs.strip().lower().replace("-", "").replace("_", "")
    if key in ("wgs84", "epsg:4326", "4326"):
        return f"{stem}_wgs84.geojson", "wgs84"
    if key == "gcj02":
        return f"{stem}_gcj02.geojson", "gcj02"
    raise InputError(f"unknown crs {crs!r} for Zhengzhou polygons; expected 'wgs84' or 'gcj02'")


def zhengzhou_districts(crs: Literal["wgs84", "gcj02"] = "wgs84") -> gpd.GeoDataFrame:
    """The 12 district/county polygons of Zhengzhou (郑州市).

    ``crs="wgs84"`` (default) gives true WGS84 for use with OSM and GPS data;
    ``crs="gcj02"`` gives the coordinates as published (AMap, GCJ-02). The GeoDataFrame's
    CRS is EPSG:4326 in both cases (GCJ-02 has no EPSG code); ``attrs["coordinate_scheme"]``
    says which one the numbers are in.

    >>> d = zhengzhou_districts()
    >>> len(d), d.crs.to_epsg(), d.set_index("adcode").loc["410108", "name"]
    (12, 4326, '惠济区')
    """
    name, scheme = _scheme_file("zhengzhou_districts", crs)
    gdf = _read("admin", name)
    gdf.attrs["coordinate_scheme"] = scheme
    return gdf


def zhengzhou_city(crs: Literal["wgs84", "gcj02"] = "wgs84") -> gpd.GeoDataFrame:
    """The outline of Zhengzhou city (郑州市 410100); ``crs`` as in :func:`zhengzhou_districts`.

    >>> zhengzhou_city().adcode.item()
    '410100'
    """
    name, scheme = _scheme_file("zhengzhou_city", crs)
    gdf = _read("admin", name)
    gdf.attrs["coordinate_scheme"] = scheme
    return gdf


def zhengzhou_codes(level: Literal["county", "township"] = "township") -> pd.DataFrame:
    """Official 2023 statistical codes of Zhengzhou: 15 county-level units or 208 townships.

    >>> len(zhengzhou_codes("county")), len(zhengzhou_codes("township"))
    (15, 208)
    """
    files = {"county": "zhengzhou_county_codes_2023.csv", "township": "zhengzhou_township_codes_2023.csv"}
    if level not in files:
        raise InputError(f"unknown code level {level!r}; expected 'county' or 'township'")
    return pd.read_csv(_path("admin", files[level]), dtype=str)


def helsinki_roads() -> gpd.GeoDataFrame:
    """Central Helsinki OSM roads (2,577 lines with ordered ``node_ids`` for graph building).

    >>> len(helsinki_roads())
    2577
    """
    return _read("roads", "helsinki_roads_osm.geojson")


def helsinki_buildings() -> gpd.GeoDataFrame:
    """Central Helsinki OSM building footprints (572 polygons).

    >>> len(helsinki_buildings())
    572
    """
    return _read("buildings", "helsinki_buildings_osm.geojson")


def helsinki_cameras() -> gpd.GeoDataFrame:
    """Real OSM surveillance cameras of central Helsinki (221 points, no headings).

    >>> len(helsinki_cameras())
    221
    """
    return _read("cameras", "helsinki_surveillance_cameras_osm.geojson")
