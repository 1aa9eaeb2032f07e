"""gl.assign's fast paths give what the general ones give.

The level codes and names of the grids hit are taken in Arrow when the grids' text columns are
Arrow-backed (pandas' ``str``); other columns (object, numbers, gaps) go through Python strings.
Both must produce the same frames, including grids without level columns (codes cut from the grid
code), without names and with missing names.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import gridlib as gl
from gridlib.datasets import demo_grids


def _cases(grids: gpd.GeoDataFrame, n: int = 1500, seed: int = 3) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = grids.total_bounds
    cat = gl.codes.catalogue("gbt47678-2026")
    k = rng.integers(0, len(cat), n)
    return gpd.GeoDataFrame({
        "case_id": np.char.add("c", np.arange(n).astype(str)),
        "class_code": cat["class_code"].to_numpy()[k],
        "kind": cat["kind"].to_numpy()[k],
    }, geometry=shapely.points(rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)), crs=grids.crs)


def _as_objects(grids: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The same grids with every text column as Python objects (the general path)."""
    out = grids.copy()
    for col in out.columns:
        if col != out.geometry.name and pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].astype(object)
    return out


@pytest.mark.parametrize("variant", ["all", "codes_only", "grid_code_only", "missing_names"])
def test_arrow_levels_equal_python_levels(variant):
    grids = demo_grids()
    if variant == "codes_only":
        grids = grids.drop(columns=[c for c in grids.columns if c.endswith("_name")])
    elif variant == "grid_code_only":
        grids = grids[["grid_code", "geometry"]]
    elif variant == "missing_names":
        grids = grids.copy()
        grids.loc[grids.index[::3], "street_name"] = None
        grids.loc[grids.index[::5], "community_name"] = None
    assert pd.api.types.is_string_dtype(grids["grid_code"]) and grids["grid_code"].dtype != object
    cases = _cases(grids)
    fast, fast_rejects = gl.assign(cases, grids)
    slow, slow_rejects = gl.assign(cases, _as_objects(grids))
    assert len(fast) > 1000
    pd.testing.assert_frame_equal(fast, slow)
    pd.testing.assert_frame_equal(fast_rejects, slow_rejects)
    if variant == "missing_names":  # the street fallback names the street code where its name is missing
        blank = fast["street_name"] == ""
        assert blank.any()
        assert (fast.loc[blank, "responsible_unit"] == "street " + fast.loc[blank, "street_code"]).all()
