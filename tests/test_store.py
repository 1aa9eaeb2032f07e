import multiprocessing as mp

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

import gridlib as gl
from gridlib.errors import LockError, StoreError


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def store(request, tmp_path):
    if request.param == "gpkg":
        yield gl.store.open(tmp_path / "store.gpkg")
    else:
        yield request.getfixturevalue("pg_store")


def _layer(n: int, seed: int = 0) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    return gpd.GeoDataFrame(
        {
            "grid_code": [f"310115005{i % 1000:03d}{i % 997:03d}" for i in range(n)],
            "area_m2": rng.uniform(5_000, 20_000, n),
            "cases": rng.integers(0, 50, n),
            "overdue": rng.random(n) > 0.8,
            "reported_at": pd.Timestamp("2026-11-01") + pd.to_timedelta(rng.integers(0, 86_400, n), unit="s"),
            "name": np.where(rng.random(n) > 0.95, None, "陆家嘴 'quote' \"dq\" tab\there"),
        },
        geometry=gpd.points_from_xy(rng.uniform(0, 5000, n), rng.uniform(0, 5000, n)),
        crs=4550,
    )


def _same(a, b):
    a, b = a.reset_index(drop=True), b.reset_index(drop=True)
    assert list(a.columns) == list(b.columns)
    for column in a.columns:
        if column == "geometry":
            assert a.geometry.geom_equals_exact(b.geometry, tolerance=1e-9).all()
        elif pd.api.types.is_datetime64_any_dtype(a[column]):
            assert (pd.to_datetime(a[column]) == pd.to_datetime(b[column])).all()
        elif pd.api.types.is_float_dtype(a[column]):
            np.testing.assert_array_equal(a[column].to_numpy(), b[column].to_numpy())
        else:
            assert a[column].isna().tolist() == b[column].isna().tolist()
            assert a[column].dropna().astype(str).tolist() == b[column].dropna().astype(str).tolist()


@pytest.mark.slow
def test_round_trip_100k(store):
    layer = _layer(100_000)
    store.write_layer("grids", layer)
    back = store.read_layer("grids")
    assert len(back) == 100_000
    assert back.crs.to_epsg() == 4550
    _same(layer, back)


def test_modes_where_bbox_columns(store):
    layer = _layer(200)
    store.write_layer("g", layer)
    with pytest.raises(StoreError, match="already exists"):
        store.write_layer("g", layer, mode="create")
    store.write_layer("g", layer.iloc[:10], mode="append")
    assert len(store.read_layer("g")) == 210
    store.write_layer("g", layer.iloc[:5], mode="replace")
    assert len(store.read_layer("g")) == 5
    code = layer["grid_code"].iloc[3]
    assert store.read_layer("g", where={"grid_code": code})["grid_code"].tolist() == [code]
    two = store.read_layer("g", where={"grid_code": list(layer["grid_code"].iloc[:2])})
    assert len(two) == 2
    assert len(store.read_layer("g", where={"name": None})) == layer.iloc[:5]["name"].isna().sum()
    inside = store.read_layer("g", bbox=(0, 0, 2500, 2500))
    xs, ys = layer.iloc[:5].geometry.x, layer.iloc[:5].geometry.y
    assert len(inside) == int(((xs <= 2500) & (ys <= 2500)).sum())
    with pytest.raises(StoreError, match="mapping"):
        store.read_layer("g", where="cases > 1")
    with pytest.raises(StoreError, match="no layer"):
        store.read_layer("nope")


def test_failed_transaction_leaves_nothing(store):
    store.write_layer("keep", _layer(20))
    before = store.read_layer("keep")
    with pytest.raises(RuntimeError, match="boom"):
        with store.transaction():
            store.write_layer("new_layer", _layer(30))
            store.write_layer("keep", _layer(5, seed=9), mode="replace")
            store.drop_layer("keep")
            raise RuntimeError("boom")
    assert store.layers() == ["keep"]
    _same(before, store.read_layer("keep"))


def test_successful_transaction_commits_all(store):
    with store.transaction():
        store.write_layer("a", _layer(3))
        store.write_layer("b", pd.DataFrame({"street_code": ["310115005"], "rate": [0.9]}))
    assert store.layers() == ["a", "b"]
    table = store.read_layer("b")
    assert not isinstance(table, gpd.GeoDataFrame)
    assert table["street_code"].tolist() == ["310115005"]


@pytest.mark.parametrize("name", ['odd "name"', "it's", "责任网格", "Mixed Case; DROP TABLE x"])
def test_identifiers_with_quotes_and_unicode(store, name):
    frame = gpd.GeoDataFrame({'col "q"': [1], "社区": ["陆家嘴"]}, geometry=[box(0, 0, 1, 1)], crs=4550)
    store.write_layer(name, frame)
    assert name in store.layers()
    back = store.read_layer(name, where={"社区": "陆家嘴"})
    assert back['col "q"'].tolist() == [1]
    store.drop_layer(name)
    assert name not in store.layers()


def test_drop_and_refuse_without_crs(store):
    with pytest.raises(StoreError, match="without a CRS"):
        store.write_layer("x", gpd.GeoDataFrame(geometry=[Point(0, 0)]))
    with pytest.raises(StoreError):
        store.drop_layer("x")
    store.drop_layer("x", missing_ok=True)
    assert store.layers() == []


def _hold_gpkg_lock(path, ready, release):
    store = gl.store.open(path)
    with store.lock("import"):
        ready.set()
        release.wait(10)


def test_gpkg_lock_is_exclusive_across_processes(tmp_path):
    path = tmp_path / "locked.gpkg"
    ctx = mp.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_gpkg_lock, args=(str(path), ready, release))
    proc.start()
    try:
        assert ready.wait(30)
        with pytest.raises(LockError, match="another process"):
            with gl.store.open(path).lock("import"):
                pass
    finally:
        release.set()
        proc.join(10)
    with gl.store.open(path).lock("import"):
        pass


@pytest.mark.postgis
def test_postgis_lock_is_exclusive(postgis_url):
    a, b = gl.store.open(postgis_url), gl.store.open(postgis_url)
    try:
        with a.lock("import"):
            with pytest.raises(LockError):
                with b.lock("import"):
                    pass
        with b.lock("import"):
            pass
    finally:
        a.close()
        b.close()


@pytest.mark.postgis
def test_postgis_needs_init_and_masks_password(postgis_url):
    import psycopg

    with psycopg.connect(postgis_url, autocommit=True) as con:
        con.execute("DROP DATABASE IF EXISTS fresh")
        con.execute("CREATE DATABASE fresh")
    fresh = postgis_url.rsplit("/", 1)[0] + "/fresh"
    with pytest.raises(StoreError, match="gridlib db init"):
        gl.store.open(fresh)
    assert gl.store.init_db(fresh) == ["001_init.sql"] or gl.store.init_db(fresh) == []
    assert gl.store.init_db(fresh) == []
    secret = postgis_url.replace("postgres@", "postgres:hunter2@").rsplit(":", 1)[0] + ":1/none"
    with pytest.raises(StoreError) as info:
        gl.store.open(secret)
    assert "hunter2" not in str(info.value) and "***" in str(info.value)


def test_open_unknown_url():
    with pytest.raises(StoreError, match="unknown store"):
        gl.store.open("mysql://x")


def test_gpkg_read_layer_batches_as_one_read(tmp_path):
    """Batches of rows are the whole read's rows in its order, gaps in the fids (deleted rows) included."""
    import sqlite3

    store = gl.store.open(tmp_path / "s.gpkg")
    n = 2_500
    store.write_layer("fixes", pd.DataFrame({"vehicle_id": [f"V{i % 7}" for i in range(n)],
                                             "time": pd.date_range("2026-11-20", periods=n, freq="10s"),
                                             "lon": np.arange(n) * 0.001}))
    with sqlite3.connect(tmp_path / "s.gpkg") as con:
        con.execute("DELETE FROM fixes WHERE fid % 3 = 0 OR fid BETWEEN 1000 AND 1700")
    con.close()
    whole = store.read_layer("fixes")
    parts = list(store.read_layer_batches("fixes", rows=400))
    assert len(parts) > 1
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole)


def test_gpkg_read_layer_batches_read_to_the_end_whatever_the_stored_count(tmp_path):
    """Sparse fids take the skipping path: it reads to a short batch, not to a stale feature count (review)."""
    import sqlite3

    store = gl.store.open(tmp_path / "s.gpkg")
    store.write_layer("a", pd.DataFrame({"n": np.arange(20)}))
    with sqlite3.connect(tmp_path / "s.gpkg") as con:
        con.execute("UPDATE a SET fid = fid * 1000")          # sparse: fid ranges would be mostly empty
        con.execute("UPDATE gpkg_ogr_contents SET feature_count = 5 WHERE table_name = 'a'")
    con.close()
    parts = list(store.read_layer_batches("a", rows=4))
    assert pd.concat(parts, ignore_index=True)["n"].tolist() == list(range(20))


def test_gpkg_read_layer_batches_refuse_a_file_written_meanwhile(tmp_path):
    """A layer rewritten between two batches would mix old and new rows: the reader is told (review)."""
    store = gl.store.open(tmp_path / "s.gpkg")
    store.write_layer("a", pd.DataFrame({"n": np.arange(10)}))
    batches = store.read_layer_batches("a", rows=5)
    assert next(batches)["n"].tolist() == [0, 1, 2, 3, 4]
    store.write_layer("a", pd.DataFrame({"n": np.arange(100, 110)}), mode="replace")
    with pytest.raises(gl.errors.StoreError, match="written while its layer 'a' was read in batches"):
        next(batches)
