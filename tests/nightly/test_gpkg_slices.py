"""The GeoPackage writer converts a layer to Arrow one record batch at a time: the file is the one written whole."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from shapely import box

from gridlib.nightly import outputs

DATE = "2026-11-21T00:00:00.000Z"


def _chunked(values: list, sizes: list[int]) -> pd.Series:
    """Text backed by Arrow in chunks of *sizes* rows, as a layer read from a store comes."""
    ends = np.cumsum(sizes)
    chunks = [pa.array(values[end - size:end], type=pa.string()) for size, end in zip(sizes, ends, strict=True)]
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(chunks, type=pa.string())))


def _layers(n: int = 23) -> dict[str, pd.DataFrame]:
    i = np.arange(n)
    grids = gpd.GeoDataFrame({
        "grid_code": _chunked([f"G{k:04d}" for k in i], [10, 10, 3]),
        "street_name": _chunked(["街道" + "甲乙丙"[k % 3] for k in i], [4, 19]),
        "late": [None] * 7 + [f"v{k}" for k in i[7:]],           # nothing in the first batches
        "n": i.astype("int64"),
        "share": i / 7.0,
        "flag": i % 2 == 0,
        "nothing": [None] * n,
        "at": pd.date_range("2026-11-20", periods=n, freq="h"),
        "utc": pd.date_range("2026-11-20", periods=n, freq="h", tz="UTC"),
    }, geometry=[box(k, 0, k + 1, 1) for k in i], crs=4550)
    hot = grids[["grid_code", "geometry"]].iloc[::-1].assign(z=i[::-1] / 3.0)
    cases = pd.DataFrame({"case_id": _chunked([f"C{k}" for k in i], [5, 18]), "n": i})
    return {"grid_responsibility": grids, "hotspots": hot, "plain": cases}


def _write(path, monkeypatch, whole: bool) -> bytes:
    if whole:
        monkeypatch.setattr(outputs, "_slices", lambda frame: [(0, len(frame))])
    outputs.write_gpkg_layers(path, _layers(), current_date=DATE,
                              shared_geometry={"hotspots": ("grid_responsibility", "grid_code")})
    monkeypatch.undo()
    return path.read_bytes()


def test_the_batches_are_those_of_the_whole_table():
    grids = _layers()["grid_responsibility"]
    table = pa.Table.from_pandas(pd.DataFrame(grids.drop(columns="geometry")), preserve_index=False)
    lengths = [b.num_rows for b in table.to_batches()]
    assert [end - start for start, end in outputs._slices(grids)] == lengths == [4, 6, 10, 3]


def test_a_layer_written_in_batches_is_the_file_written_whole(tmp_path, monkeypatch):
    whole = _write(tmp_path / "whole.gpkg", monkeypatch, whole=True)
    assert _write(tmp_path / "sliced.gpkg", monkeypatch, whole=False) == whole


def test_the_sliced_layer_reads_back_as_written(tmp_path, monkeypatch):
    path = tmp_path / "sliced.gpkg"
    _write(path, monkeypatch, whole=False)
    back = gpd.read_file(path, layer="grid_responsibility")
    grids = _layers()["grid_responsibility"]
    assert back["late"].tolist() == grids["late"].tolist()
    assert back["street_name"].tolist() == grids["street_name"].tolist()
    assert back["n"].tolist() == grids["n"].tolist() and back["flag"].tolist() == grids["flag"].tolist()
    assert bool(back.geometry.geom_equals_exact(grids.geometry, 0).all())


@pytest.mark.parametrize("name", ["grid_responsibility", "plain"])
def test_a_frame_of_one_batch_is_given_to_pyogrio_whole(name):
    frame = _layers()[name]
    numpy_only = frame.assign(**{c: frame[c].astype(object) for c in frame.columns
                                 if isinstance(frame[c].dtype, pd.StringDtype)})
    assert outputs._slices(numpy_only) == [(0, len(frame))]


def _odd_layers() -> dict[str, gpd.GeoDataFrame]:
    """Layers whose type the first batch alone does not tell (the review's findings)."""
    from shapely import from_wkt

    n = 20
    codes = _chunked([f"G{k:04d}" for k in range(n)], [10, 10])
    polygons = [box(k, 0, k + 1, 1) for k in range(n - 1)]
    return {
        "ints_then_floats": gpd.GeoDataFrame({"c": codes, "v": [1] * 15 + [2.5] * 5},
                                             geometry=[*polygons, box(19, 0, 20, 1)], crs=4550),
        "empty_multipolygon": gpd.GeoDataFrame({"c": codes}, geometry=[*polygons, from_wkt("MULTIPOLYGON EMPTY")],
                                               crs=4550),
        "empty_collection": gpd.GeoDataFrame({"c": codes},
                                             geometry=[*polygons, from_wkt("GEOMETRYCOLLECTION EMPTY")], crs=4550),
    }


@pytest.mark.parametrize("name", ["ints_then_floats", "empty_multipolygon", "empty_collection"])
def test_a_layer_the_first_batch_does_not_type_is_the_file_written_whole(name, tmp_path, monkeypatch):
    layers = {name: _odd_layers()[name]}
    assert len(outputs._slices(layers[name])) == 2
    outputs.write_gpkg_layers(tmp_path / "sliced.gpkg", layers, current_date=DATE)
    monkeypatch.setattr(outputs, "_slices", lambda frame: [(0, len(frame))])
    outputs.write_gpkg_layers(tmp_path / "whole.gpkg", layers, current_date=DATE)
    assert (tmp_path / "sliced.gpkg").read_bytes() == (tmp_path / "whole.gpkg").read_bytes()
