"""Grid edition vector tiles: every grid present from zoom 11, right codes, deterministic archives."""

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gridlib.errors import InputError
from gridlib.maps.tiles import build_grid_tiles, grid_codes_per_zoom, write_grid_attributes


def _lattice(n: int) -> gpd.GeoDataFrame:
    """n×n 100 m squares in Shanghai (UTM 51N), 40×40 per community, 100×100 per street."""
    xs, ys = (a.ravel() for a in np.meshgrid(np.arange(n), np.arange(n)))
    x0, y0 = 350_000, 3_460_000
    return gpd.GeoDataFrame(
        {"grid_code": [f"G{i:06d}" for i in range(n * n)],
         "community_code": [f"C{a // 40:02d}{b // 40:02d}" for a, b in zip(xs, ys, strict=True)],
         "street_code": [f"S{a // 100}{b // 100}" for a, b in zip(xs, ys, strict=True)]},
        geometry=shapely.box(x0 + xs * 100, y0 + ys * 100, x0 + xs * 100 + 100, y0 + ys * 100 + 100),
        crs=32651)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    grids = _lattice(317)  # 100,489 grids: a z11 tile holds ~28,000, beyond GDAL's default 500 KB cap
    out = build_grid_tiles(grids, tmp_path_factory.mktemp("tiles"))
    return grids, out


def test_every_grid_at_zoom_11_clients_overzoom_beyond(big):
    grids, out = big
    assert grid_codes_per_zoom(out["grids"], [11]) == {11: len(grids)}


def test_grid_codes_are_the_input_codes_and_sit_on_their_grid(big):
    grids, out = big
    import pyogrio
    back = pyogrio.read_dataframe(out["grids"], layer="grids", ZOOM_LEVEL=11)
    assert set(back["grid_code"]) == set(grids["grid_code"])
    # each tile piece's representative point falls in the grid of the same code (within tile rounding)
    sample = back.drop_duplicates("grid_code").sample(500, random_state=0).to_crs(32651)
    ref = grids.set_index("grid_code").loc[sample["grid_code"]]
    dist = shapely.distance(sample.geometry.representative_point().to_numpy(), ref.geometry.to_numpy())
    assert dist.max() < 15  # z11 tile pixel at extent 4096 ~ 4 m


def test_dissolved_layers_below_zoom_11(big):
    grids, out = big
    n_comm = grids["community_code"].nunique()
    assert grid_codes_per_zoom(out["communities"], [6, 10], layer="communities") == {6: n_comm, 10: n_comm}
    assert grid_codes_per_zoom(out["streets"], [10], layer="streets") == {10: grids["street_code"].nunique()}


def test_rerun_is_byte_identical(tmp_path):
    grids = _lattice(60)
    a = build_grid_tiles(grids, tmp_path / "a")
    b = build_grid_tiles(grids.sample(frac=1, random_state=1), tmp_path / "b")
    for name in a:
        assert a[name].read_bytes() == b[name].read_bytes(), name
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["communities.pmtiles", "grids.pmtiles",
                                                                  "streets.pmtiles"]


def test_bad_codes_are_named(tmp_path):
    grids = _lattice(3)
    grids.loc[4, "grid_code"] = grids.loc[3, "grid_code"]
    with pytest.raises(InputError, match="G000003"):
        build_grid_tiles(grids, tmp_path)


def test_attributes_keyed_by_code(tmp_path):
    t = pd.DataFrame({"grid_code": ["G2", "G1"], "open_cases": [3, 0], "hotspot_class": ["hot_99", None],
                      "share": [np.nan, 0.5]})
    doc = json.loads(write_grid_attributes(t, tmp_path / "a.json", ["open_cases", "hotspot_class", "share"])
                     .read_text(encoding="utf-8"))
    assert doc == {"grid_code": ["G1", "G2"], "columns": {"open_cases": [0, 3], "hotspot_class": [None, "hot_99"],
                                                          "share": [0.5, None]}}
    with pytest.raises(InputError, match="person"):
        write_grid_attributes(t, tmp_path / "b.json", ["person"])


def test_range_server_serves_byte_ranges(tmp_path):
    import threading
    import urllib.error
    import urllib.request

    from gridlib.maps.serve import make_server

    data = bytes(range(256)) * 40
    (tmp_path / "x.pmtiles").write_bytes(data)
    server = make_server(tmp_path, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/x.pmtiles"

    def get(rng=None):
        req = urllib.request.Request(url, headers={"Range": rng} if rng else {})
        with urllib.request.urlopen(req) as r:
            return r.status, r.read(), r.headers.get("Content-Range")
    try:
        assert get("bytes=100-199") == (206, data[100:200], f"bytes 100-199/{len(data)}")
        assert get("bytes=-10") == (206, data[-10:], f"bytes {len(data) - 10}-{len(data) - 1}/{len(data)}")
        assert get("bytes=10000-") == (206, data[10000:], f"bytes 10000-{len(data) - 1}/{len(data)}")
        assert get() == (200, data, None)
        with pytest.raises(urllib.error.HTTPError, match="416"):
            get(f"bytes={len(data)}-")
    finally:
        server.shutdown()
        server.server_close()
