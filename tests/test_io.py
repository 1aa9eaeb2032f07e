import os
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, Polygon, box

import gridlib as gl
from gridlib.errors import CRSError, InputError
from gridlib.io import read_layer, read_points

STUDY = box(121.48, 31.22, 121.53, 31.26)


def _conserved(frame, ok, bad):
    assert len(ok) + len(bad) == len(frame)
    assert sorted([*ok.index, *bad.index]) == sorted(frame.index)


def test_every_reject_reason_for_points():
    df = pd.DataFrame({
        "case_id": ["ok", "nolon", "text", "range", "swap", "outside", "ok", "ok2", "badtime", None],
        "lon": ["121.50", "", "abc", "500", "31.24", "121.0", "121.51", "121.49", "121.5", "121.5"],
        "lat": ["31.24", "31.24", "31.2", "31.2", "121.50", "31.0", "31.23", "31.25", "31.24", "31.24"],
        "reported_at": ["2026-11-01 08:00", "", "", "", "", "", "2026-11-01 09:00", "", "yesterday", ""],
    })
    ok, bad = read_points(df, id="case_id", time="reported_at", area=STUDY)
    _conserved(df, ok, bad)
    reasons = dict(zip(bad.index, bad["reason"], strict=True))
    assert reasons[1] == "missing coordinate"
    assert reasons[2] == "non-numeric coordinate"
    assert reasons[3].startswith("coordinate out of range (lon=500")
    assert reasons[4] == "probably swapped lon/lat"
    assert reasons[5] == "outside the study area"
    assert reasons[6] == "duplicate id ok"
    assert reasons[8] == "unparseable reported_at 'yesterday'"
    assert reasons[9] == "missing id"
    # a time column given with time= is required (issue 16.9): the empty time of "ok2" is a reject
    assert reasons[7] == "missing reported_at"
    codes = dict(zip(bad.index, bad["reason_code"], strict=True))
    assert codes == {1: "missing_coordinate", 2: "non_numeric_coordinate", 3: "coordinate_out_of_range",
                     4: "swapped_lon_lat", 5: "outside_study_area", 6: "duplicate_id", 7: "missing_time",
                     8: "unparseable_time", 9: "missing_id"}
    assert ok["case_id"].tolist() == ["ok"]
    assert pd.api.types.is_datetime64_any_dtype(ok["reported_at"])
    assert ok.crs.to_epsg() == 4326
    # rejects keep the original values as read
    assert bad.loc[4, "lon"] == "31.24"


def test_swapped_inside_area_detected_even_when_in_range():
    df = pd.DataFrame({"lon": [31.24], "lat": [121.5]})
    _, bad = read_points(df, area=STUDY)
    assert bad["reason"].tolist() == ["probably swapped lon/lat"]


def test_gcj02_input_is_converted():
    glon, glat = gl.crs.wgs84_to_gcj02(121.5, 31.24)
    df = pd.DataFrame({"lon": [glon], "lat": [glat]})
    ok, _ = read_points(df, crs="gcj02")
    assert abs(ok.geometry.x.iloc[0] - 121.5) < 1e-8 and abs(ok.geometry.y.iloc[0] - 31.24) < 1e-8
    assert abs(ok["lon"].iloc[0] - 121.5) < 1e-8


def test_bd09_input_is_converted():
    blon, blat = gl.crs.wgs84_to_bd09(121.5, 31.24)
    ok, _ = read_points(pd.DataFrame({"x": [blon], "y": [blat]}), x="x", y="y", crs="bd09")
    assert abs(ok.geometry.x.iloc[0] - 121.5) < 1e-7


def test_projected_input_and_to_crs():
    df = pd.DataFrame({"e": [463396.0], "n": [3852478.0]})
    ok, bad = read_points(df, x="e", y="n", crs=4547, to_crs=4326)
    assert len(bad) == 0
    assert abs(ok.geometry.x.iloc[0] - 113.6) < 1e-6


def test_geometry_source_with_empty_and_non_point(tmp_path):
    gdf = gpd.GeoDataFrame({"id": [1, 2, 3, 4]},
                           geometry=[Point(121.5, 31.24), Point(), box(0, 0, 1, 1), None], crs=4326)
    path = tmp_path / "pts.gpkg"
    gdf.to_file(path)
    ok, bad = read_points(path)
    _conserved(gdf, ok, bad)
    assert ok["id"].tolist() == [1]
    assert set(bad["reason"]) == {"empty geometry", "not a point", "missing geometry"}
    assert set(bad["reason_code"]) == {"empty_geometry", "wrong_geometry_type", "missing_geometry"}


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".geojson", ".gpkg", ".shp"])
def test_all_formats_read(tmp_path, suffix):
    df = pd.DataFrame({"case_id": ["a", "b"], "lon": [121.5, 121.51], "lat": [31.24, 31.25]})
    path = tmp_path / f"cases{suffix}"
    if suffix == ".csv":
        df.to_csv(path, index=False)
    elif suffix == ".parquet":
        df.to_parquet(path)
    else:
        gpd.GeoDataFrame(df[["case_id"]], geometry=gpd.points_from_xy(df.lon, df.lat), crs=4326).to_file(path)
    ok, bad = read_points(path, id="case_id")
    assert len(ok) == 2 and len(bad) == 0
    assert sorted(ok["case_id"]) == ["a", "b"]


def test_csv_keeps_leading_zeros(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("code,lon,lat\n06012,121.5,31.24\n")
    ok, _ = read_points(path)
    assert ok["code"].iloc[0] == "06012"


def test_missing_columns_and_files_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="no coordinate columns"):
        read_points(pd.DataFrame({"a": [1]}))
    with pytest.raises(InputError, match="no such file"):
        read_points(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="id column"):
        read_points(pd.DataFrame({"lon": [1.0], "lat": [1.0]}), id="case_id")


def test_read_layer_rejects_and_crs(tmp_path):
    bowtie = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    gdf = gpd.GeoDataFrame({"code": ["a", "b", "c", "b"]},
                           geometry=[box(0, 0, 1, 1), bowtie, Polygon(), box(2, 2, 3, 3)], crs=4547)
    ok, bad = read_layer(gdf, id="code")
    _conserved(gdf, ok, bad)
    assert ok["code"].tolist() == ["a"]
    assert bad["reason"].tolist()[0].startswith("invalid geometry: Self-intersection")
    assert bad["reason"].tolist()[1:] == ["empty geometry", "duplicate id b"]
    assert "geometry_wkt" in bad.columns
    # a shapefile without .prj
    path = tmp_path / "noprj.shp"
    gdf.iloc[:1].to_file(path)
    path.with_suffix(".prj").unlink()
    with pytest.raises(CRSError, match="no CRS"):
        read_layer(path)
    ok, _ = read_layer(path, crs=4547)
    assert ok.crs.to_epsg() == 4547


def test_read_layer_gcj02_converts_every_vertex():
    lon, lat = gl.crs.wgs84_to_gcj02(np.array([121.5, 121.51, 121.51]), np.array([31.24, 31.24, 31.25]))
    tri = Polygon(list(zip(lon, lat, strict=True)))
    ok, _ = read_layer(gpd.GeoDataFrame(geometry=[tri]), crs="gcj02")
    xs, ys = ok.geometry.iloc[0].exterior.xy
    assert abs(xs[0] - 121.5) < 1e-8 and abs(ys[2] - 31.25) < 1e-8
    assert ok.crs.to_epsg() == 4326


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".parquet", ".csv"])
def test_writers_round_trip(tmp_path, suffix):
    gdf = gpd.GeoDataFrame({"name": ["陆家嘴"], "n": [1]}, geometry=[Point(121.5, 31.24)], crs=4326)
    path = gl.io.write_any(gdf, tmp_path / f"out{suffix}", layer="pts")
    assert path.exists()
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp" + suffix)]
    if suffix != ".csv":
        back = gpd.read_file(path) if suffix != ".parquet" else gpd.read_parquet(path)
        assert back["name"].iloc[0] == "陆家嘴"
    else:
        assert "POINT (121.5 31.24)" in path.read_text()


def test_writer_refuses_no_crs(tmp_path):
    with pytest.raises(CRSError):
        gl.io.write_gpkg(gpd.GeoDataFrame(geometry=[Point(0, 0)]), tmp_path / "x.gpkg", "x")


def test_atomic_write_survives_a_crash(tmp_path):
    target = tmp_path / "layer.geojson"
    gdf = gpd.GeoDataFrame({"v": [1]}, geometry=[Point(121.5, 31.24)], crs=4326)
    gl.io.write_geojson(gdf, target)
    before = target.read_bytes()
    # A process that dies while writing must leave the previous file intact.
    script = f"""
import os, gridlib.io as gio
with gio.atomic_path({str(target)!r}) as tmp:
    open(tmp, "w").write("half")
    os._exit(9)
"""
    proc = subprocess.run([sys.executable, "-c", script])
    assert proc.returncode == 9
    assert target.read_bytes() == before
    with pytest.raises(RuntimeError):
        with gl.io.atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert target.read_bytes() == before


def test_geojson_bytes_are_deterministic(tmp_path):
    gdf = gpd.GeoDataFrame({"n": [1]}, geometry=[Point(121.5, 31.24)], crs=4326)
    a = gl.io.write_geojson(gdf, tmp_path / "a" / "x.geojson").read_bytes()
    b = gl.io.write_geojson(gdf, tmp_path / "b" / "x.geojson").read_bytes()
    assert a == b and b'"name": "x"' in a


def test_read_table_is_a_deprecated_alias_of_open_table():
    """``read_*`` readers return (accepted, rejects); the one that rejects nothing is ``open_table`` now."""
    frame = pd.DataFrame({"a": [1, 2]})
    with pytest.warns(DeprecationWarning, match="open_table"):
        old = gl.io.read_table(frame)
    assert old.equals(gl.io.open_table(frame))


@pytest.mark.parametrize("seed", range(4))
def test_repeated_ids_equal_pandas_duplicated(seed):
    """Duplicate ids (keep the first; missing ids never repeat) as pandas says, through the packed-bytes check
    (texts up to 8 and up to 16 bytes, multi-byte characters, NULs, a sliced array) and the sort beyond it."""
    from gridlib.io import _repeated

    rng = np.random.default_rng(seed)
    alphabet = list("ab\x00é中1")
    for _ in range(200):
        vals = ["".join(rng.choice(alphabet, int(rng.integers(0, 12 + 4 * seed)))) for _ in range(int(rng.integers(2, 60)))]
        ids = pd.Series([None if rng.random() < 0.1 else v for v in vals], dtype="string").iloc[int(rng.integers(0, 2)):]
        want = ids.duplicated(keep="first").to_numpy() & ids.notna().to_numpy()
        assert _repeated(ids).tolist() == want.tolist()
