"""Hostile layer/column names and filters: both stores keep the same contract (issues 16.9, 18.5, 18.8)."""

from __future__ import annotations

import math

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point

import gridlib.store
from gridlib.errors import StoreError

# names PostgreSQL keeps exactly: %, quotes, unicode, spaces, exactly 63 bytes
GOOD_LAYERS = ["kpi_rates", "完成率%", "share_%", "100%", 'q"uo\'te', "a b;drop", "L" * 63, "网" * 21]
GOOD_COLUMNS = ["结案率(%)", "share_%", "100%", 'c"ol', "it's", "%s", "%(x)s", "C" * 63]


@pytest.fixture(params=["gpkg", "postgis"])
def store(request, tmp_path):
    if request.param == "gpkg":
        yield gridlib.store.open(tmp_path / "s.gpkg")
    else:
        yield request.getfixturevalue("pg_store")


def _frame(tag: int) -> gpd.GeoDataFrame:
    data = {c: [float(tag), float(tag + i)] for i, c in enumerate(GOOD_COLUMNS)}
    return gpd.GeoDataFrame(data, geometry=[Point(tag, 0), Point(tag, 1)], crs=4547)


def test_hostile_names_round_trip(store):
    for i, layer in enumerate(GOOD_LAYERS):
        store.write_layer(layer, _frame(i))
    assert store.layers() == sorted(GOOD_LAYERS)
    for i, layer in enumerate(GOOD_LAYERS):
        got = store.read_layer(layer)
        assert list(got.columns[:-1]) == GOOD_COLUMNS, layer
        assert got["结案率(%)"].tolist() == [float(i)] * 2
        assert store.read_layer(layer, where={"结案率(%)": float(i), "share_%": [float(i + 1)]},
                                columns=["100%", "%(x)s"])["100%"].tolist() == [float(i + 2)]
    store.drop_layer("完成率%")
    assert "完成率%" not in store.layers()


def test_long_and_truncation_equal_names_are_refused(store):
    base = "N" * 70
    with pytest.raises(StoreError, match="76 bytes"):
        store.write_layer(base + "_alpha", _frame(1))
    assert store.layers() == []
    # two layers sharing their first 50 characters (the old GiST index name) both work
    store.write_layer("P" * 50 + "_one", _frame(1))
    store.write_layer("P" * 50 + "_two", _frame(2))
    assert store.read_layer("P" * 50 + "_one")["结案率(%)"].tolist() == [1.0, 1.0]
    with pytest.raises(StoreError, match="column name 'CCC.*64 bytes"):
        store.write_layer("cols", pd.DataFrame({"C" * 63 + "a": [1], "C" * 63 + "b": [2]}))
    with pytest.raises(StoreError, match="64 bytes"):  # 21 three-byte characters + 1
        store.write_layer("网" * 21 + "x", pd.DataFrame({"n": [1]}))


@pytest.mark.parametrize("bad", ["", "a\0b", None])
def test_empty_or_nul_names_are_refused(store, bad):
    with pytest.raises(StoreError, match="layer name"):
        store.write_layer(bad, pd.DataFrame({"n": [1]}))
    with pytest.raises(StoreError, match="column name"):
        store.write_layer("t", pd.DataFrame({bad: [1]}))
    assert "t" not in store.layers()


def test_bad_filters_fail_alike(store):
    store.write_layer("t", pd.DataFrame({"n": [1.0, 2.0], "s": ["a", "b"]}))
    with pytest.raises(StoreError, match=r"no column\(s\) \['typo'\]"):
        store.read_layer("t", where={"typo": "x"})
    with pytest.raises(StoreError, match=r"no column\(s\) \['nope'\]"):
        store.read_layer("t", columns=["nope"])
    for value in (math.inf, -math.inf, [1.0, math.inf]):
        with pytest.raises(StoreError, match="non-finite"):
            store.read_layer("t", where={"n": value})
    with pytest.raises(StoreError, match="NUL"):
        store.read_layer("t", where={"n\0x": 1})
    assert store.read_layer("t", where={"n": 2.0})["s"].tolist() == ["b"]
